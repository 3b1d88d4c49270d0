// Upstream failures: status pass-through, credentials, redirects, unreachable, timeouts, resets,
// broken streams, big chunks. Client headers are not forwarded upstream, so each fault has its
// own mock started with --fault and its own provider/model in one Shepherd.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  closedPort,
  contentChunks,
  fetchChat,
  gatewayConfig,
  mockContent,
  openaiProvider,
  pollUntil,
  readSSE,
  request,
  routeOf,
  shepherdStats,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const KEY = 'sk-faults-test';
const BIG = 2000000;

// model/provider name → mock options and provider extras
const FAULTS = {
  s429: { mock: { fault: 'status=429,retry-after=7' } },
  s500: { mock: { fault: 'status=500' } },
  s400: { mock: { fault: 'status=400' } },
  s401: { mock: { fault: 'status=401' } },
  redirect: { mock: { fault: 'redirect' } },
  slowheaders: { mock: { fault: 'slow-headers=3000' }, provider: { timeouts: { first_byte: '500ms' } } },
  stall: { mock: { fault: 'stall-after=2' }, provider: { timeouts: { idle: '500ms' } } },
  reset: { mock: { fault: 'reset' } },
  resetafter: { mock: { fault: 'reset-after=2' } },
  cut: { mock: { fault: 'cut-after=3' } },
  malformed: { mock: { fault: 'malformed-after=2' } },
  errevent: { mock: { fault: 'error-event-after=2' } },
  nousage: { mock: { fault: 'no-usage' } },
  big: { mock: { fault: `big-chunk=${BIG}` } },
};

describe('upstream faults', { timeout: 90000 }, () => {
  const mocks = {};
  let shepherd;

  before(async () => {
    const names = Object.keys(FAULTS);
    const started = await Promise.all(names.map((n) => startMock(FAULTS[n].mock)));
    names.forEach((n, i) => {
      mocks[n] = started[i];
    });
    const providers = {};
    const models = {};
    for (const n of names) {
      providers[n] = openaiProvider(mocks[n], FAULTS[n].provider ?? {});
      models[n] = { deployments: [{ provider: n }] };
    }
    providers.dead = openaiProvider(`http://127.0.0.1:${await closedPort()}/v1`, { timeouts: { connect: '2s' } });
    models.dead = { deployments: [{ provider: 'dead' }] };
    shepherd = await startShepherd(
      gatewayConfig({ server: { api_keys: ['env:SHEPHERD_API_KEY'] }, providers, models }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
  });
  after(cleanup);

  const post = (model, opts) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody(model, opts), headers: bearer(KEY) });
  const stream = async (model, opts = {}) => {
    const res = await fetchChat(shepherd.url, chatBody(model, { stream: true, ...opts }), { key: KEY });
    return { res, sse: res.status === 200 ? await withTimeout(readSSE(res), 10000, `the end of the ${model} stream`) : null, text: res.status === 200 ? null : await res.text() };
  };

  test('upstream 429 with retry-after=7 → 429 with retry-after: 7', async () => {
    const r = await post('s429');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.headers['retry-after'], '7');
    assertErrorShape(r.json(), '429');
  });

  test('upstream 429 on a stream request → 429 (not a 200 stream)', async () => {
    const { res, text } = await stream('s429');
    assert.equal(res.status, 429, text);
    assert.equal(res.headers.get('retry-after'), '7');
    assertErrorShape(JSON.parse(text), 'stream 429');
  });

  test('upstream 500 → 500, counted as an error of the route', async () => {
    const r = await post('s500');
    assert.equal(r.status, 500, r.text);
    assertErrorShape(r.json(), '500');
    await pollUntil(async () => routeOf(await shepherdStats(shepherd), 's500'), (route) => route && route.errors >= 1, {
      what: '/stats route s500 errors >= 1',
    });
  });

  test("upstream 400 → 400 including the upstream's message", async () => {
    const r = await post('s400');
    assert.equal(r.status, 400, r.text);
    assert.match(assertErrorShape(r.json(), '400').message, /mock fault: status 400/);
  });

  test("upstream 401 → 502 saying Shepherd's credentials were rejected, without the upstream's text", async () => {
    const r = await post('s401');
    assert.equal(r.status, 502, r.text);
    const e = assertErrorShape(r.json(), '401 → 502');
    assert.match(e.message, /credential|api[ _-]?key/i);
    assert.ok(!r.text.includes('mock fault'), `upstream text leaked: ${r.text}`);
  });

  test('upstream redirect → 502, not followed', async () => {
    const r = await post('redirect');
    assert.equal(r.status, 502, r.text);
    assertErrorShape(r.json(), 'redirect');
    assert.equal((await mocks.redirect.stats()).chat_requests, 1);
  });

  test('upstream unreachable (closed port) → 502', async () => {
    const started = Date.now();
    const r = await post('dead');
    assert.equal(r.status, 502, r.text);
    assertErrorShape(r.json(), 'unreachable');
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  });

  test('upstream headers slower than first_byte (500ms) → 504 within 0.5–2 s', async () => {
    const started = Date.now();
    const r = await post('slowheaders');
    const elapsed = Date.now() - started;
    assert.equal(r.status, 504, r.text);
    assertErrorShape(r.json(), '504');
    assert.ok(elapsed >= 450 && elapsed <= 2000, `504 after ${elapsed} ms`);
  });

  test('after a first_byte timeout the upstream request is abandoned (mock sees the disconnect)', async () => {
    await pollUntil(() => mocks.slowheaders.stats(), (s) => s.client_disconnects >= 1, {
      timeoutMs: 1500, what: 'the slow mock to see Shepherd close the timed-out request',
    });
  });

  test('stream stalls after 2 chunks, idle 500ms → 200, the chunks, an error event, no [DONE]', async () => {
    const started = Date.now();
    const { res, sse } = await stream('stall');
    const elapsed = Date.now() - started;
    assert.equal(res.status, 200);
    assert.equal(contentChunks(sse).length, 2, `content chunks: ${JSON.stringify(sse.events)}`);
    assert.equal(sse.content, mockContent(2));
    assert.equal(sse.errors.length, 1, `error events: ${JSON.stringify(sse.events)}`);
    assertErrorShape(sse.errors[0], 'stall error event');
    assert.equal(sse.events.at(-1), sse.events.find((e) => e.includes('"error"')), 'the error event is the last event');
    assert.equal(sse.done, false);
    assert.equal(sse.error, null, `the body should end cleanly after the error event, got: ${sse.error}`);
    assert.ok(elapsed >= 450 && elapsed <= 3000, `stream ended after ${elapsed} ms`);
  });

  test('upstream reset → 502', async () => {
    const r = await post('reset');
    assert.equal(r.status, 502, r.text);
    assertErrorShape(r.json(), 'reset');
    const s = await stream('reset');
    assert.equal(s.res.status, 502, 'reset on a stream request, before any byte');
  });

  test('upstream reset mid-stream → the chunks, an error event, no [DONE]', async () => {
    const { res, sse } = await stream('resetafter');
    assert.equal(res.status, 200);
    assert.equal(sse.content, mockContent(2));
    assert.equal(sse.errors.length, 1, `events: ${JSON.stringify(sse.events)}`);
    assert.equal(sse.done, false);
    assert.equal(sse.error, null, `the body should end cleanly after the error event, got: ${sse.error}`);
  });

  test('stream cut after 3 chunks (clean end, no finish) → error event, no [DONE]', async () => {
    const { res, sse } = await stream('cut');
    assert.equal(res.status, 200);
    assert.equal(sse.content, mockContent(3));
    assert.equal(sse.errors.length, 1, `events: ${JSON.stringify(sse.events)}`);
    assertErrorShape(sse.errors[0], 'cut error event');
    assert.equal(sse.done, false);
    assert.equal(sse.error, null, `the body should end cleanly after the error event, got: ${sse.error}`);
  });

  test('malformed upstream event after 2 chunks → error event; the garbage is not relayed', async () => {
    const { res, sse } = await stream('malformed');
    assert.equal(res.status, 200);
    assert.ok(sse.content.startsWith(mockContent(2)), `content: ${sse.content}`);
    assert.equal(sse.errors.length, 1, `events: ${JSON.stringify(sse.events)}`);
    assertErrorShape(sse.errors[0], 'malformed error event');
    assert.ok(!sse.raw.includes('broken'), 'the malformed event must not be forwarded');
    assert.equal(sse.invalid.length, 0, `non-JSON events relayed: ${sse.invalid}`);
  });

  test("upstream error event after 2 chunks → forwarded, no [DONE]", async () => {
    const { res, sse } = await stream('errevent');
    assert.equal(res.status, 200);
    assert.equal(sse.content, mockContent(2));
    assert.equal(sse.errors.length, 1, `events: ${JSON.stringify(sse.events)}`);
    assert.match(sse.errors[0].error.message, /mock fault: error event/);
    assert.equal(sse.done, false);
    assert.equal(sse.error, null, `the body should end cleanly after the error event, got: ${sse.error}`);
  });

  test('upstream without usage: stream still completes (no usage chunk), non-stream answers', async () => {
    const { res, sse } = await stream('nousage', { includeUsage: true });
    assert.equal(res.status, 200);
    assert.equal(sse.done, true);
    assert.equal(sse.content, mockContent(8));
    assert.equal(sse.errors.length, 0);
    assert.ok(sse.chunks.every((c) => c.choices.length > 0), 'no usage-only chunk');
    const r = await post('nousage');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, mockContent(8));
  });

  test('a 2 MB chunk is delivered intact (stream and non-stream)', async () => {
    const expected = 'x'.repeat(BIG) + mockContent(8).slice('Hello'.length);
    const { res, sse } = await stream('big', { includeUsage: true });
    assert.equal(res.status, 200);
    assert.equal(sse.done, true);
    assert.equal(sse.errors.length, 0);
    assert.equal(sse.content.length, expected.length);
    assert.ok(sse.content === expected, 'streamed content equals the upstream content');
    assert.equal(sse.usage?.completion_tokens, 8);
    const r = await post('big');
    assert.equal(r.status, 200);
    const content = r.json().choices[0].message.content;
    assert.equal(content.length, expected.length);
    assert.ok(content === expected, 'non-stream content equals the upstream content');
  });

  test('after all the faults Shepherd is alive and healthy', async () => {
    assert.equal(shepherd.alive, true, `stderr:\n${shepherd.stderr.slice(-2000)}`);
    const r = await request(`${shepherd.url}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { status: 'ok' });
    const s = await shepherdStats(shepherd);
    assert.ok(s.totals.errors >= 10, `totals.errors ${s.totals.errors}`);
  });
});
