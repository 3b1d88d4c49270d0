// HTTPS upstreams: a private CA via tls.ca_file, the system store, host-name verification, SNI.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  makeCertificates,
  makeTempDir,
  mockContent,
  readSSE,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

describe('TLS upstream', { timeout: 60000 }, () => {
  let certs;
  let mock;
  let wrongNameMock;
  let shepherd;

  before(async () => {
    const dir = makeTempDir('shepherd-tls-');
    certs = makeCertificates(dir, {
      server: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' },
      wrong: { cn: 'wrong.example', san: 'DNS:wrong.example' },
    });
    [mock, wrongNameMock] = await Promise.all([
      startMock({ tlsCert: certs.server.cert, tlsKey: certs.server.key }, { ca: certs.caPem }),
      startMock({ tlsCert: certs.wrong.cert, tlsKey: certs.wrong.key }, { ca: certs.caPem }),
    ]);
    assert.match(mock.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const https = (host, port, tls) => ({ kind: 'openai', base_url: `https://${host}:${port}/v1`, ...(tls ? { tls } : {}) });
    shepherd = await startShepherd(gatewayConfig({
      providers: {
        withca: https('127.0.0.1', mock.port, { verify: true, ca_file: certs.ca }),
        systemstore: https('127.0.0.1', mock.port),
        byname: https('localhost', mock.port, { ca_file: certs.ca }),
        wrongname: https('127.0.0.1', wrongNameMock.port, { ca_file: certs.ca }),
        noverify: https('127.0.0.1', mock.port, { verify: false }),
      },
      models: {
        'tls-ca': { deployments: [{ provider: 'withca' }] },
        'tls-system': { deployments: [{ provider: 'systemstore' }] },
        'tls-name': { deployments: [{ provider: 'byname' }] },
        'tls-wrong-name': { deployments: [{ provider: 'wrongname' }] },
        'tls-noverify': { deployments: [{ provider: 'noverify' }] },
      },
    }));
  });
  after(cleanup);

  const post = (model) => request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody(model) });

  test('the mock serves HTTPS with the test CA', async () => {
    const r = await request(`${mock.url}/v1/models`, { ca: certs.caPem });
    assert.equal(r.status, 200);
    await assert.rejects(request(`${mock.url}/v1/models`), /self[- ]signed|unable to (get|verify)|certificate/i);
  });

  test('https://127.0.0.1 with tls.ca_file → 200', async () => {
    const r = await post('tls-ca');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, mockContent(8));
    assert.equal(r.json().model, 'tls-ca');
  });

  test('streaming over TLS works', async () => {
    const res = await fetchChat(shepherd.url, chatBody('tls-ca', { stream: true }));
    assert.equal(res.status, 200);
    const sse = await readSSE(res);
    assert.equal(sse.done, true);
    assert.equal(sse.content, mockContent(8));
  });

  test('https://localhost with tls.ca_file → 200 (host name verification and SNI)', async () => {
    const r = await post('tls-name');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().model, 'tls-name');
  });

  test('system store only (private CA unknown) → 502 saying the provider could not be reached', async () => {
    const before = (await mock.stats()).chat_requests;
    const r = await post('tls-system');
    assert.equal(r.status, 502, r.text);
    const e = assertErrorShape(r.json(), 'untrusted certificate');
    assert.match(e.message, /reach/i);
    assert.equal((await mock.stats()).chat_requests, before, 'no request may be sent over an unverified connection');
  });

  test('certificate for another host name → 502, nothing sent', async () => {
    const r = await post('tls-wrong-name');
    assert.equal(r.status, 502, r.text);
    assertErrorShape(r.json(), 'wrong host name');
    const s = await request(`${wrongNameMock.url}/mock/stats`, { ca: certs.caPem, checkServerIdentity: () => undefined });
    assert.equal(s.json().chat_requests, 0, 'no request may be sent to a host with the wrong certificate');
  });

  test('tls.verify: false accepts the unknown CA', async () => {
    const r = await post('tls-noverify');
    assert.equal(r.status, 200, r.text);
  });
});
