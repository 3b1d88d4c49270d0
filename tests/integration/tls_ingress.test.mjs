// HTTPS on Shepherd's own listeners: server.tls on the API port (verified by clients that trust a
// CA made here), ALPN, minimum versions, plain HTTP on a TLS port, certificates read again on a
// reload while open connections keep going; and FastChat's --ssl on the controller and the
// worker, with the gateway reaching them over HTTPS.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  makeCertificates,
  makeTempDir,
  mockContent,
  openaiProvider,
  pollUntil,
  request,
  runCli,
  startMock,
  startShepherd,
  tryRequest,
  withTimeout,
} from '../support/harness.mjs';
import { frames, startController, startWorker } from '../support/fastchat.mjs';

const MASTER = 'tls-test-master-key';

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is shown. */
function servedFingerprint(port, ca) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
        const fp = socket.getPeerCertificate().fingerprint256;
        socket.end();
        resolve(fp);
      });
      socket.on('error', reject);
    }),
    5000,
    'a TLS handshake',
  );
}

/** Opens a TLS connection with `options`; resolves {protocol, alpn, authorized} or {error}. */
function handshake(port, options) {
  return withTimeout(
    new Promise((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options }, () => {
        const r = { protocol: socket.getProtocol(), alpn: socket.alpnProtocol, authorized: socket.authorized };
        socket.end();
        resolve(r);
      });
      socket.on('error', (error) => resolve({ error }));
    }),
    5000,
    'a TLS handshake',
  );
}

const fileFingerprint = (file) => new crypto.X509Certificate(fs.readFileSync(file)).fingerprint256;

describe('HTTPS on the API listener (server.tls)', { timeout: 90000 }, () => {
  let certs;
  let dir;
  let live; // the files server.tls names; the tests overwrite them
  let mock;
  let shepherd;
  let strict; // min_version 1.3

  before(async () => {
    dir = makeTempDir('shepherd-tls-in-');
    certs = makeCertificates(dir, {
      first: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' },
      renewed: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' },
    });
    live = { cert: `${dir}/live.pem`, key: `${dir}/live.key` };
    fs.copyFileSync(certs.first.cert, live.cert);
    fs.copyFileSync(certs.first.key, live.key);
    mock = await startMock();
    const models = { 'gpt-4.1': { deployments: [{ provider: 'mock' }] } };
    [shepherd, strict] = await Promise.all([
      startShepherd(
        gatewayConfig({
          server: { tls: live, master_key: 'env:TLS_MASTER', ui_listen: '127.0.0.1:0' },
          providers: { mock: openaiProvider(mock) },
          models,
        }),
        { env: { TLS_MASTER: MASTER } },
      ),
      startShepherd(
        gatewayConfig({ server: { tls: { ...certs.first, min_version: '1.3' } }, providers: { mock: openaiProvider(mock) }, models }),
      ),
    ]);
  });
  after(cleanup);

  test('the listening line says https, and clients that trust the CA are served', async () => {
    assert.match(shepherd.proc.stdout, /^shepherd listening on https:\/\/127\.0\.0\.1:\d+ \(/);
    assert.match(shepherd.url, /^https:/);
    const models = await request(`${shepherd.url}/v1/models`, { ca: certs.caPem });
    assert.equal(models.status, 200, models.text);
    assert.equal(models.json().data[0].id, 'gpt-4.1');
    const chat = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), ca: certs.caPem });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(chat.json().choices[0].message.content, mockContent());
  });

  test('the web UI listener speaks HTTPS with the same certificate', async () => {
    const line = await pollUntil(() => /^ui listening on https:\/\/127\.0\.0\.1:(\d+)$/m.exec(shepherd.proc.stdout), Boolean, {
      what: 'the UI listening line',
    });
    const ui = `https://127.0.0.1:${line[1]}`;
    const page = await request(`${ui}/`, { ca: certs.caPem });
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.headers['content-security-policy'], /script-src 'self'/);
    // The API's routes answer there too, over the same TLS.
    assert.equal((await request(`${ui}/v1/models`, { ca: certs.caPem })).status, 200);
    const plain = await tryRequest(`http://127.0.0.1:${line[1]}/`);
    assert.equal(plain.status, 400);
    assert.equal(plain.json().error.code, 'https_required');
  });

  test('a client that does not trust the certificate is refused by its own check', async () => {
    const r = await tryRequest(`${shepherd.url}/v1/models`, {});
    assert.ok(r.error, `expected a verification failure, got ${r.status}`);
    assert.match(r.code, /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });

  test('ALPN picks http/1.1 among what the client offers; TLS 1.2 and 1.3 are both served', async () => {
    const offered = await handshake(shepherd.port, { ca: certs.caPem, ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(offered.error, undefined, String(offered.error));
    assert.equal(offered.alpn, 'http/1.1');
    assert.equal(offered.authorized, true);
    const v12 = await handshake(shepherd.port, { ca: certs.caPem, maxVersion: 'TLSv1.2' });
    assert.equal(v12.protocol, 'TLSv1.2');
    const v13 = await handshake(shepherd.port, { ca: certs.caPem });
    assert.equal(v13.protocol, 'TLSv1.3');
  });

  test('min_version 1.3 refuses a TLS 1.2 client and serves a TLS 1.3 one', async () => {
    const v12 = await handshake(strict.port, { ca: certs.caPem, maxVersion: 'TLSv1.2' });
    assert.ok(v12.error, 'a TLS 1.2 handshake must fail');
    const v13 = await handshake(strict.port, { ca: certs.caPem });
    assert.equal(v13.protocol, 'TLSv1.3');
  });

  test('keep-alive and streaming over TLS', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.caPem });
    try {
      const first = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), agent });
      assert.equal(first.status, 200, first.text);
      const stream = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1', { stream: true }), agent });
      assert.equal(stream.status, 200, stream.text);
      assert.equal(stream.reusedSocket, true, 'the second request rides the first connection');
      assert.match(stream.headers['content-type'], /text\/event-stream/);
      const text = stream.text
        .split('\n')
        .filter((l) => l.startsWith('data: {'))
        .map((l) => JSON.parse(l.slice(6)).choices?.[0]?.delta?.content ?? '')
        .join('');
      assert.equal(text, mockContent());
      assert.match(stream.text, /data: \[DONE\]\n\n$/);
    } finally {
      agent.destroy();
    }
  });

  test('plain HTTP sent to the TLS port gets a 400 that says to use https, not a hang', async () => {
    const r = await request(`http://127.0.0.1:${shepherd.port}/v1/models`, { timeoutMs: 5000 });
    assert.equal(r.status, 400);
    assert.equal(r.headers.connection, 'close');
    const body = r.json();
    assert.equal(body.error.code, 'https_required');
    assert.match(body.error.message, /https:\/\//);
  });

  test('a reload reads the certificate again: new connections get it, open ones keep going', async () => {
    assert.equal(await servedFingerprint(shepherd.port, certs.caPem), fileFingerprint(certs.first.cert));
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.caPem });
    try {
      const before = await request(`${shepherd.url}/v1/models`, { agent });
      assert.equal(before.status, 200);
      fs.copyFileSync(certs.renewed.cert, live.cert);
      fs.copyFileSync(certs.renewed.key, live.key);
      const reload = await request(`${shepherd.url}/admin/config/reload`, { method: 'POST', headers: bearer(MASTER), ca: certs.caPem });
      assert.equal(reload.status, 200, reload.text);
      assert.equal(await servedFingerprint(shepherd.port, certs.caPem), fileFingerprint(certs.renewed.cert));
      const during = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), agent });
      assert.equal(during.status, 200, during.text);
      assert.equal(during.reusedSocket, true, 'the connection opened before the reload was kept');
    } finally {
      agent.destroy();
    }
  });

  test('a reload whose certificate cannot be loaded is refused, and the one in use stays', async () => {
    const good = fs.readFileSync(live.cert);
    fs.writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    try {
      const reload = await request(`${shepherd.url}/admin/config/reload`, { method: 'POST', headers: bearer(MASTER), ca: certs.caPem });
      assert.equal(reload.status, 400, reload.text);
      assert.match(reload.json().error.message, /server\.tls\.cert: cannot load the certificate chain/);
      assert.equal(await servedFingerprint(shepherd.port, certs.caPem), fileFingerprint(certs.renewed.cert));
    } finally {
      fs.writeFileSync(live.cert, good);
    }
  });

  test('SIGHUP reads the files again too', async () => {
    fs.copyFileSync(certs.first.cert, live.cert);
    fs.copyFileSync(certs.first.key, live.key);
    shepherd.child.kill('SIGHUP');
    const want = fileFingerprint(certs.first.cert);
    await pollUntil(() => servedFingerprint(shepherd.port, certs.caPem), (fp) => fp === want, { timeoutMs: 5000, what: 'the reloaded certificate' });
  });

  test('config validate loads the certificate and key, and names the one that is wrong', async () => {
    const good = `${dir}/good.yaml`;
    fs.writeFileSync(good, `server:\n  tls: {cert: ${certs.first.cert}, key: ${certs.first.key}}\n`);
    const ok = await runCli(['config', 'validate', good]);
    assert.equal(ok.code, 0, ok.stderr);
    const mismatched = `${dir}/mismatched.yaml`;
    fs.writeFileSync(mismatched, `server:\n  tls: {cert: ${certs.first.cert}, key: ${certs.renewed.key}}\n`);
    const bad = await runCli(['config', 'validate', mismatched]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /server\.tls: the key in .* does not match the certificate/);
    const halves = `${dir}/halves.yaml`;
    fs.writeFileSync(halves, `server:\n  tls: {cert: ${certs.first.cert}}\n`);
    const half = await runCli(['config', 'validate', halves]);
    assert.equal(half.code, 1);
    assert.match(half.stderr, /server\.tls: needs both cert and key/);
  });
});

describe("FastChat's --ssl: controller and worker over HTTPS", { timeout: 90000 }, () => {
  let certs;
  let mock;
  let controller;
  let worker;
  let ca;

  before(async () => {
    const dir = makeTempDir('shepherd-tls-fc-');
    certs = makeCertificates(dir);
    ca = certs.caPem;
    mock = await startMock();
    // FastChat's variables name the files; SSL_CERT_FILE is OpenSSL's, and makes the processes
    // trust the test CA when they call each other.
    const env = { SSL_CERTFILE: certs.server.cert, SSL_KEYFILE: certs.server.key, SSL_CERT_FILE: certs.ca };
    controller = await startController(['--ssl'], { env });
    worker = await startWorker(
      ['--ssl', '--ssl-certfile', certs.server.cert, '--ssl-keyfile', certs.server.key, '--upstream', mock.baseURL,
        '--model', 'gpt-4.1=gpt-4.1', '--controller-address', controller.url, '--heart-beat-interval', '0.5'],
      { env: { SSL_CERT_FILE: certs.ca } },
    );
  });
  after(cleanup);

  const post = (url, body) => request(url, { method: 'POST', body, ca });

  test('both listen on https and the worker registers under an https address', async () => {
    assert.match(controller.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(worker.url, /^https:/);
    assert.equal(worker.address, worker.url);
    const models = await pollUntil(
      async () => (await post(`${controller.url}/list_models`)).json().models,
      (m) => m.includes('gpt-4.1'),
      { timeoutMs: 10000, what: 'the worker to register over HTTPS' },
    );
    assert.deepEqual(models, ['gpt-4.1']);
    const address = await post(`${controller.url}/get_worker_address`, { model: 'gpt-4.1' });
    assert.equal(address.json().address, worker.address);
  });

  test("the controller's stream proxy reaches the worker over HTTPS", async () => {
    const r = await post(`${controller.url}/worker_generate_stream`, {
      model: 'gpt-4.1',
      prompt: '<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n',
      temperature: 0.7,
      max_new_tokens: 64,
    });
    assert.equal(r.status, 200, r.text);
    const { chunks, terminated } = frames(r.text);
    assert.equal(terminated, true);
    assert.equal(chunks.at(-1).error_code, 0);
    assert.equal(chunks.at(-1).text, mockContent());
  });

  test('the gateway serves the workers through an HTTPS controller', async () => {
    const shepherd = await startShepherd(gatewayConfig({
      providers: { farm: { kind: 'fastchat', base_url: controller.url, tls: { ca_file: certs.ca } } },
    }));
    const ids = await pollUntil(
      async () => (await request(`${shepherd.url}/v1/models`)).json().data.map((m) => m.id),
      (m) => m.includes('gpt-4.1'),
      { timeoutMs: 10000, what: 'the discovered model' },
    );
    assert.ok(ids.includes('gpt-4.1'));
    const chat = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1') });
    assert.equal(chat.status, 200, chat.text);
    assert.equal(chat.json().choices[0].message.content, mockContent());
  });

  test('--ssl without a certificate or key is refused at start, naming what is missing', async () => {
    const env = { SSL_CERTFILE: '', SSL_KEYFILE: '' };
    const c = await runCli(['controller', '--port', '0', '--ssl'], { env });
    assert.equal(c.code, 2);
    assert.match(c.stderr, /--ssl needs --ssl-certfile FILE or SSL_CERTFILE/);
    const w = await runCli(['worker', '--port', '0', '--ssl', '--ssl-certfile', certs.server.cert, '--upstream', mock.baseURL, '--model', 'a=b', '--no-register'], { env });
    assert.equal(w.code, 2);
    assert.match(w.stderr, /--ssl needs --ssl-keyfile FILE or SSL_KEYFILE/);
  });
});
