// SIGTERM: stop taking work, finish open streams, exit 0.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  mockContent,
  openaiProvider,
  pollUntil,
  readSSE,
  sseEvents,
  startMock,
  startShepherd,
  tryRequest,
  withTimeout,
} from '../support/harness.mjs';

describe('graceful shutdown', { timeout: 60000 }, () => {
  let mock;
  let shepherd;

  before(async () => {
    mock = await startMock({ chunkDelayMs: 50, chunks: 40 });
    shepherd = await startShepherd(gatewayConfig({
      server: { timeouts: { drain: '5s' } },
      providers: { mock: openaiProvider(mock) },
      models: { drain: { deployments: [{ provider: 'mock' }] } },
    }));
  });
  after(cleanup);

  test('SIGTERM during a stream: readiness goes, the stream completes with [DONE], exit 0', async () => {
    const res = await fetchChat(shepherd.url, chatBody('drain', { stream: true }));
    assert.equal(res.status, 200);
    const events = sseEvents(res);
    // Read up to the first content chunk so the stream is under way.
    let first;
    for (;;) {
      const next = await withTimeout(events.next(), 5000, 'a stream event');
      assert.equal(next.done, false, 'stream ended before its first content chunk');
      if (next.value.json?.choices?.[0]?.delta?.content) {
        first = next.value;
        break;
      }
    }
    const sigtermAt = Date.now();
    shepherd.child.kill('SIGTERM');

    // Readiness: 503 or connection refused, soon after the signal (new connections each time).
    const ready = await pollUntil(() => tryRequest(`${shepherd.url}/health/ready`, { timeoutMs: 2000 }),
      (r) => r.status === 503 || r.code === 'ECONNREFUSED', { timeoutMs: 1500, what: '/health/ready 503 or refused after SIGTERM' });
    assert.ok(ready.status === 503 || ready.code === 'ECONNREFUSED');

    // The open stream runs to its end.
    const rest = await withTimeout(readSSE(restOf(events)), 10000, 'the rest of the stream');
    assert.equal(rest.error, null, `stream broke: ${rest.error}`);
    assert.equal(first.json.choices[0].delta.content + rest.content, mockContent(40));
    assert.equal(rest.done, true, 'the stream ends with [DONE]');

    const { code, signal } = await shepherd.waitExit(8000);
    assert.equal(signal, null);
    assert.equal(code, 0, `stderr:\n${shepherd.stderr.slice(-2000)}`);
    assert.ok(Date.now() - sigtermAt < 8000);
  });
});

// Re-frames already-parsed events as SSE text so readSSE can collect them.
async function* restOf(events) {
  for await (const ev of events) yield `data: ${ev.data}\n\n`;
}
