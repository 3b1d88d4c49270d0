// A client that goes away cancels the upstream request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  openaiProvider,
  pollUntil,
  request,
  routeOf,
  shepherdStats,
  sseEvents,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const KEY = 'sk-cancel-test';

describe('client disconnect cancels the upstream request', { timeout: 60000 }, () => {
  let streamMock;
  let slowMock;
  let shepherd;

  before(async () => {
    [streamMock, slowMock] = await Promise.all([
      startMock({ chunkDelayMs: 200, chunks: 100 }),
      startMock({ firstTokenDelayMs: 5000 }),
    ]);
    shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:SHEPHERD_API_KEY'] },
        providers: { streaming: openaiProvider(streamMock), slow: openaiProvider(slowMock) },
        models: {
          'cancel-stream': { deployments: [{ provider: 'streaming' }] },
          'cancel-wait': { deployments: [{ provider: 'slow' }] },
        },
      }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
  });
  after(cleanup);

  test('streaming: aborting after the first event → mock client_disconnects within 1 s', async () => {
    const ac = new AbortController();
    const res = await fetchChat(shepherd.url, chatBody('cancel-stream', { stream: true }), { key: KEY, signal: ac.signal });
    assert.equal(res.status, 200);
    const events = sseEvents(res);
    const first = await withTimeout(events.next(), 5000, 'the first stream event');
    assert.equal(first.done, false);
    assert.ok(first.value.json?.choices, `first event: ${first.value.data}`);
    ac.abort();
    await events.return?.().catch(() => {});
    const s = await pollUntil(() => streamMock.stats(), (st) => st.client_disconnects >= 1, {
      timeoutMs: 1000, what: 'the streaming mock to see the disconnect',
    });
    assert.equal(s.streams_completed, 0, 'the upstream stream must not run to the end');
  });

  test('streaming: the route counts the client disconnect', async () => {
    await pollUntil(async () => routeOf(await shepherdStats(shepherd), 'cancel-stream'), (r) => r && r.client_disconnects >= 1, {
      what: '/stats route cancel-stream client_disconnects >= 1',
    });
  });

  test('non-streaming: closing the socket while waiting → mock client_disconnects within 1 s', async () => {
    const body = JSON.stringify(chatBody('cancel-wait'));
    const sock = net.connect(shepherd.port, '127.0.0.1');
    let answered = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => {
      answered += d;
    });
    sock.on('error', () => {});
    await withTimeout(new Promise((resolve) => sock.once('connect', resolve)), 3000, 'connect');
    sock.write(
      'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${KEY}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await pollUntil(() => slowMock.stats(), (s) => s.chat_requests >= 1, { what: 'the request to reach the mock' });
    sock.destroy();
    assert.equal(answered, '', 'no answer before the 5 s first-token delay');
    const s = await pollUntil(() => slowMock.stats(), (st) => st.client_disconnects >= 1, {
      timeoutMs: 1000, what: 'the slow mock to see the disconnect',
    });
    assert.equal(s.chat_requests, 1);
    await pollUntil(async () => routeOf(await shepherdStats(shepherd), 'cancel-wait'), (r) => r && r.client_disconnects >= 1, {
      what: '/stats route cancel-wait client_disconnects >= 1',
    });
  });

  test('Shepherd is healthy after the cancellations', async () => {
    assert.equal(shepherd.alive, true);
    const r = await request(`${shepherd.url}/health`);
    assert.equal(r.status, 200);
    const models = await request(`${shepherd.url}/v1/models`, { headers: bearer(KEY) });
    assert.equal(models.status, 200);
  });
});
