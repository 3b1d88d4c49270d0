// A stream client that stops reading: Shepherd's write waits once the socket buffers are full, it
// stops reading the upstream meanwhile (so nothing piles up in memory: TCP paces the upstream),
// and a write that has waited server.timeouts.request ends the stream, recorded as the client
// having gone (499, counted under status "other") and the upstream connection closed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import {
  cleanup,
  gatewayConfig,
  metricValue,
  openaiProvider,
  parseMetrics,
  pollUntil,
  request,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

describe('a stream client that stops reading', () => {
  after(cleanup);

  test('is cut after the write timeout; the upstream stream is closed, not buffered', async () => {
    // 100 000 chunks: about 15 MB, more than the loopback socket buffers hold.
    const mock = await startMock(['--chunks', '100000']);
    const shepherd = await startShepherd(
      gatewayConfig({
        server: { timeouts: { request: '1s' } },
        providers: { mock: openaiProvider(mock) },
        models: { m: { deployments: [{ provider: 'mock', model: 'gpt-4.1' }] } },
      }),
    );
    const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const socket = net.connect({ host: '127.0.0.1', port: shepherd.port });
    let received = 0;
    let stopped = false;
    const headSeen = new Promise((resolve) => {
      socket.on('data', (d) => {
        received += d.length;
        if (received > 64 * 1024 && !stopped) {
          stopped = true;
          // Enough: from here on nothing is read (the kernel's buffers fill, then Shepherd's
          // write waits).
          socket.pause();
          resolve();
        }
      });
    });
    const closed = new Promise((resolve) => socket.on('close', resolve));
    socket.on('error', () => {});
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await withTimeout(headSeen, 10000, 'the first 64 KiB of the stream');

    // The cut: the client's request ends as a disconnect, and the upstream stream is abandoned
    // (closed) before the mock finished it.
    const m = await pollUntil(
      async () => {
        const r = parseMetrics((await request(`${shepherd.url}/metrics`)).text);
        return metricValue(r, 'shepherd_client_disconnects_total', { model: 'm' }) >= 1 ? r : null;
      },
      Boolean,
      { timeoutMs: 20000, intervalMs: 100, what: 'the stream to be cut' },
    );
    // Recorded among the statuses other than 2xx/4xx/5xx (499: the client went away).
    assert.equal(metricValue(m, 'shepherd_requests_total', { model: 'm', status: 'other' }), 1);
    const stats = await mock.stats();
    assert.equal(stats.streams_completed, 0, 'the upstream stream did not run to its end');
    await pollUntil(async () => (await mock.stats()).client_disconnects >= 1, Boolean, {
      what: 'the upstream connection to close',
    });
    // Shepherd closed the client's connection too: what it had sent, then the end.
    const before = received;
    socket.resume();
    await withTimeout(closed, 10000, 'the client connection to close');
    assert.ok(received > before, 'the bytes sent before the cut arrive');
  });
});
