// Requests Shepherd refuses itself, in the OpenAI error shape, without contacting the upstream.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  openaiProvider,
  pollUntil,
  request,
  shepherdStats,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const KEY = 'sk-errors-test';

describe('request errors', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  let refusedBefore;

  before(async () => {
    mock = await startMock();
    shepherd = await startShepherd(
      gatewayConfig({
        server: {
          api_keys: ['env:SHEPHERD_API_KEY'],
          limits: { max_body: '64KiB', max_headers: '8KiB', max_json_depth: 64 },
        },
        providers: { mock: openaiProvider(mock) },
        models: {
          'gpt-4.1': { deployments: [{ provider: 'mock' }] },
          'claude-x': { deployments: [{ provider: 'mock' }] },
        },
      }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
    refusedBefore = (await shepherdStats(shepherd)).totals.refused_before_routing;
  });
  after(cleanup);

  const post = (body, headers = {}) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body, headers: { ...bearer(KEY), ...headers } });

  const expectError = (r, status, context, { requestId = true } = {}) => {
    assert.equal(r.status, status, `${context}: ${r.status} ${r.text}`);
    const e = assertErrorShape(r.json(), context);
    if (requestId) assert.ok(r.headers['x-request-id'], `${context}: x-request-id header missing`);
    return e;
  };
  const big = () => chatBody('gpt-4.1', { content: 'word '.repeat(20000) });
  const bigHeaders = { 'x-filler': 'a'.repeat(10000) };

  test('malformed JSON → 400', async () => {
    expectError(await post('{"model": "gpt-4.1", "messages": ['), 400, 'truncated JSON');
    expectError(await post('not json at all'), 400, 'not JSON');
  });

  test('missing model → 400 with param "model"', async () => {
    const e = expectError(await post({ messages: [{ role: 'user', content: 'hi' }] }), 400, 'missing model');
    assert.equal(e.param, 'model');
  });

  test('missing messages → 400 with param "messages"', async () => {
    const e = expectError(await post({ model: 'gpt-4.1' }), 400, 'missing messages');
    assert.equal(e.param, 'messages');
  });

  test('stream: "yes" → 400', async () => {
    expectError(await post(chatBody('gpt-4.1', { stream: 'yes' })), 400, 'stream as a string');
  });

  test('unknown model → 404 model_not_found listing the configured names', async () => {
    const e = expectError(await post(chatBody('gpt-9-ultra')), 404, 'unknown model');
    assert.equal(e.code, 'model_not_found');
    assert.match(e.message, /gpt-4\.1/);
    assert.match(e.message, /claude-x/);
  });

  test('body over limits.max_body (64KiB) → 413', async () => {
    expectError(await post(big()), 413, '100 KB body', { requestId: false });
  });

  test('a body just under limits.max_body is accepted', async () => {
    const body = chatBody('gpt-4.1', { content: 'word '.repeat(12000) });
    assert.ok(JSON.stringify(body).length < 64 * 1024);
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
  });

  test('headers over limits.max_headers (8KiB) → 431', async () => {
    const r = await post(chatBody('gpt-4.1'), bigHeaders);
    assert.equal(r.status, 431, r.text);
  });

  test('413 and 431 answers carry x-request-id too', async () => {
    const r413 = await post(big());
    assert.equal(r413.status, 413);
    const r431 = await post(chatBody('gpt-4.1'), bigHeaders);
    assert.equal(r431.status, 431);
    assert.ok(r413.headers['x-request-id'], `413 without x-request-id; headers: ${JSON.stringify(r413.headers)}`);
    assert.ok(r431.headers['x-request-id'], `431 without x-request-id; headers: ${JSON.stringify(r431.headers)}`);
  });

  test('JSON nested deeper than limits.max_json_depth (64) → 400', async () => {
    const deep = `{"model":"gpt-4.1","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(200)}${']'.repeat(200)}}`;
    expectError(await post(deep), 400, 'depth 200');
  });

  test('unknown path → 404', async () => {
    const r = await request(`${shepherd.url}/v1/nothing-here`, { headers: bearer(KEY) });
    expectError(r, 404, 'GET /v1/nothing-here');
  });

  test('GET /v1/chat/completions → 405', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { headers: bearer(KEY) });
    expectError(r, 405, 'GET on the chat endpoint');
  });

  test('a request that is not HTTP gets 400 or a closed connection, and the server lives on', async () => {
    const sock = net.connect(shepherd.port, '127.0.0.1');
    let answer = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      answer += d;
    });
    sock.on('error', () => {});
    const closed = new Promise((resolve) => sock.once('close', resolve));
    sock.write('THIS IS NOT HTTP\r\n\r\n');
    await withTimeout(closed, 5000, 'the server to close the connection');
    assert.ok(answer === '' || /^HTTP\/1\.[01] 400 /.test(answer), `answer: ${JSON.stringify(answer.slice(0, 200))}`);
    assert.equal((await request(`${shepherd.url}/health`)).status, 200);
  });

  test('none of the refused requests reached the upstream; refused_before_routing counts them', async () => {
    const s = await mock.stats();
    assert.equal(s.chat_requests, 1, 'only the accepted just-under-the-limit request reached the mock');
    await pollUntil(() => shepherdStats(shepherd), (st) => st.totals.refused_before_routing - refusedBefore >= 5, {
      what: 'refused_before_routing to count the refused chat requests',
    });
  });
});
