// The gateway's happy paths: health, model list, relaying (model rewrite, upstream credentials),
// streaming (framing, usage handling), metering (/stats, /metrics), connection reuse, open mode.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  contentChunks,
  fetchChat,
  gatewayConfig,
  metricValue,
  mockContent,
  openaiProvider,
  parseMetrics,
  pollUntil,
  readSSE,
  request,
  routeOf,
  shepherdStats,
  startMock,
  startShepherd,
  wordCount,
} from '../support/harness.mjs';

const CLIENT_KEY = 'sk-shepherd-client-0123456789';
const UPSTREAM_KEY = 'sk-upstream-secret-abcdef';
const env = { SHEPHERD_API_KEY: CLIENT_KEY, UPSTREAM_KEY };

describe('gateway basics', { timeout: 90000 }, () => {
  let mock;
  let poolMock;
  let shepherd;

  before(async () => {
    [mock, poolMock] = await Promise.all([startMock(), startMock()]);
    shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:SHEPHERD_API_KEY'] },
        providers: {
          mock: openaiProvider(mock, { api_key: 'env:UPSTREAM_KEY' }),
          pooled: openaiProvider(poolMock, { api_key: 'env:UPSTREAM_KEY', pool: { max_idle: 20, max_connections: 100 } }),
        },
        models: {
          'gpt-4.1': { deployments: [{ provider: 'mock', model: 'upstream-gpt', price: { input: 8.0, output: 8.0 } }] },
          'claude-x': { deployments: [{ provider: 'mock', price: { input: 15.0, output: 15.0 } }] },
          metered: { deployments: [{ provider: 'mock', model: 'upstream-metered', price: { input: 8.0, output: 8.0 } }] },
          pooled: { deployments: [{ provider: 'pooled' }] },
          unpriced: { deployments: [{ provider: 'mock', model: 'upstream-unpriced' }] },
        },
      }),
      { env },
    );
  });
  after(cleanup);

  const post = (body, headers = bearer(CLIENT_KEY)) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body, headers });

  test('prints the listening line with its ephemeral port', () => {
    assert.match(shepherd.proc.stdout, /^shepherd listening on http:\/\/127\.0\.0\.1:\d+ \(/);
  });

  test('GET /health → 200 {"status":"ok"} without a key', async () => {
    const r = await request(`${shepherd.url}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { status: 'ok' });
  });

  test('GET /health/ready → 200 {"status":"ready"}', async () => {
    const r = await request(`${shepherd.url}/health/ready`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { status: 'ready' });
  });

  test('GET /v1/models lists the configured model names', async () => {
    const r = await request(`${shepherd.url}/v1/models`, { headers: bearer(CLIENT_KEY) });
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id).sort(), ['claude-x', 'gpt-4.1', 'metered', 'pooled', 'unpriced']);
    for (const m of body.data) {
      assert.equal(m.object, 'model');
      assert.equal(m.owned_by, 'shepherd');
      assert.equal(typeof m.created, 'number');
    }
  });

  test('chat: model rewritten upstream, answer carries the client name, provider key sent upstream', async () => {
    await mock.reset();
    const body = chatBody('gpt-4.1', { content: 'Tell me something nice please' });
    const r = await post(body);
    assert.equal(r.status, 200, r.text);
    const a = r.json();
    assert.equal(a.model, 'gpt-4.1');
    assert.equal(a.choices[0].message.content, mockContent(8));
    assert.deepEqual(a.usage, { prompt_tokens: 5, completion_tokens: 8, total_tokens: 13 });
    assert.ok(r.headers['x-request-id'], 'x-request-id header');

    const last = await mock.lastRequest();
    assert.equal(last.method, 'POST');
    assert.equal(last.target, '/v1/chat/completions');
    assert.equal(JSON.parse(last.body).model, 'upstream-gpt');
    assert.deepEqual(JSON.parse(last.body).messages, body.messages);
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.ok(!JSON.stringify(last.headers).includes(CLIENT_KEY), `client key leaked upstream: ${JSON.stringify(last.headers)}`);
  });

  test('chat: deployment without "model" uses the configured name upstream', async () => {
    const r = await post(chatBody('claude-x'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().model, 'claude-x');
    assert.equal(JSON.parse((await mock.lastRequest()).body).model, 'claude-x');
  });

  test('client headers are not forwarded upstream', async () => {
    const r = await post(chatBody('gpt-4.1'), { ...bearer(CLIENT_KEY), 'x-mock-chunks': '2', 'x-client-secret': 'do-not-forward' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, mockContent(8), 'x-mock-chunks must not reach the mock');
    assert.equal((await mock.lastRequest()).headers['x-client-secret'], undefined);
  });

  test('x-request-id on every answer, unique per request', async () => {
    const a = await post(chatBody('gpt-4.1'));
    const b = await post(chatBody('gpt-4.1'));
    const c = await request(`${shepherd.url}/health`);
    const d = await request(`${shepherd.url}/no/such/path`, { headers: bearer(CLIENT_KEY) });
    for (const r of [a, b, c, d]) assert.ok(r.headers['x-request-id'], `x-request-id on ${r.status}`);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });

  test('stream: text/event-stream, chunked, data events, [DONE]; usage asked upstream but dropped', async () => {
    await mock.reset();
    // node:http to see the raw framing headers.
    const res = await new Promise((resolve, reject) => {
      const body = JSON.stringify(chatBody('gpt-4.1', { stream: true }));
      const req = http.request(`${shepherd.url}/v1/chat/completions`, {
        method: 'POST',
        agent: false,
        headers: { ...bearer(CLIENT_KEY), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    assert.equal(res.headers['transfer-encoding'], 'chunked');
    assert.ok(res.headers['x-request-id'], 'x-request-id on a stream');
    const sse = await readSSE(res);
    assert.equal(sse.error, null);
    assert.equal(sse.trailing.trim(), '', 'nothing after the last event');
    // Every event is `data: <payload>\n\n`.
    for (const block of sse.raw.split('\n\n').filter((b) => b.trim() !== '' && !b.startsWith(':'))) {
      assert.match(block, /^data: [^\n]+$/, `event framing: ${JSON.stringify(block.slice(0, 200))}`);
    }
    assert.equal(sse.events.at(-1), '[DONE]');
    assert.equal(sse.done, true);
    assert.equal(sse.invalid.length, 0, `non-JSON events: ${sse.invalid}`);
    assert.ok(sse.chunks.every((c) => c.model === 'gpt-4.1'), 'every chunk carries the client model name');
    assert.equal(contentChunks(sse).length, 8);
    assert.equal(sse.content, mockContent(8));
    assert.ok(sse.chunks.every((c) => Array.isArray(c.choices) && c.choices.length > 0), 'no usage-only chunk');
    assert.ok(sse.chunks.every((c) => c.usage === undefined || c.usage === null), 'no usage forwarded');

    const upstreamBody = JSON.parse((await mock.lastRequest()).body);
    assert.equal(upstreamBody.model, 'upstream-gpt');
    assert.equal(upstreamBody.stream, true);
    assert.equal(upstreamBody.stream_options?.include_usage, true, `upstream body: ${JSON.stringify(upstreamBody)}`);
  });

  test('stream with include_usage: the usage chunk is forwarded before [DONE]', async () => {
    const body = chatBody('gpt-4.1', { stream: true, includeUsage: true, content: 'one two three' });
    const res = await fetchChat(shepherd.url, body, { key: CLIENT_KEY });
    assert.equal(res.status, 200);
    const sse = await readSSE(res);
    assert.equal(sse.done, true);
    assert.equal(sse.content, mockContent(8));
    const last = sse.chunks.at(-1);
    assert.deepEqual(last.choices, []);
    // The request's cost at the deployment's prices ($8 / 1M both ways) rides in the usage.
    assert.deepEqual(last.usage, { prompt_tokens: 3, completion_tokens: 8, total_tokens: 11, cost: (3 * 8 + 8 * 8) / 1e6 });
    assert.equal(last.model, 'gpt-4.1');
  });

  test('X-Shepherd-Cost: the cost of a non-streamed answer; none for an unpriced deployment', async () => {
    const priced = await post(chatBody('gpt-4.1', { content: 'Tell me something nice please' }));
    assert.equal(priced.status, 200, priced.text);
    const usage = priced.json().usage;
    assert.equal(Number(priced.headers['x-shepherd-cost']), (usage.prompt_tokens * 8 + usage.completion_tokens * 8) / 1e6);
    const unpriced = await post(chatBody('unpriced', { content: 'Tell me something nice please' }));
    assert.equal(unpriced.status, 200, unpriced.text);
    assert.equal(unpriced.headers['x-shepherd-cost'], undefined);
    // Counted as unpriced, and warned about once in the log.
    const metrics = (await request(`${shepherd.url}/metrics`)).text;
    assert.match(metrics, /shepherd_unpriced_requests_total\{model="unpriced",deployment="[^"]*",provider="mock"\} [1-9]/);
    assert.match(metrics, /shepherd_unpriced_requests_total\{model="gpt-4.1",deployment="[^"]*",provider="mock"\} 0/);
    await post(chatBody('unpriced', { content: 'again' }));
    const warnings = shepherd.stderr.split('\n').filter((l) => l.includes('has no price'));
    assert.equal(warnings.length, 1, shepherd.stderr);
  });

  test('usage is metered: /stats route tokens and cost equal the upstream usage', async () => {
    const before = routeOf(await shepherdStats(shepherd), 'metered', 'mock');
    const b0 = { requests: 0, successes: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, ...before };

    const plain = chatBody('metered', { system: 'be brief', content: 'count these five words now' });
    const r1 = await post(plain);
    assert.equal(r1.status, 200, r1.text);
    const u1 = r1.json().usage;
    // A stream whose client did not ask for usage is metered too (Shepherd asked upstream).
    const streamed = chatBody('metered', { stream: true, content: 'three more words' });
    const sse = await readSSE(await fetchChat(shepherd.url, streamed, { key: CLIENT_KEY }));
    assert.equal(sse.done, true);

    const prompt = u1.prompt_tokens + wordCount(streamed);
    const completion = u1.completion_tokens + 8;
    assert.equal(u1.prompt_tokens, wordCount(plain));

    const route = await pollUntil(
      async () => routeOf(await shepherdStats(shepherd), 'metered', 'mock'),
      (r) => r && r.requests - b0.requests >= 2 && r.total_tokens - b0.total_tokens >= prompt + completion,
      { what: 'the metered route to count both requests' },
    );
    assert.equal(route.requests - b0.requests, 2);
    assert.equal(route.successes - b0.successes, 2);
    assert.equal(route.errors - (before?.errors ?? 0), 0);
    assert.equal(route.prompt_tokens - b0.prompt_tokens, prompt);
    assert.equal(route.completion_tokens - b0.completion_tokens, completion);
    assert.equal(route.total_tokens - b0.total_tokens, prompt + completion);
    const expectedCost = (prompt * 8.0 + completion * 8.0) / 1e6;
    assert.ok(Math.abs(route.cost_usd - b0.cost_usd - expectedCost) < 1e-9, `cost_usd ${route.cost_usd} vs expected ${expectedCost}`);
    assert.equal(typeof route.avg_latency_ms, 'number');
    assert.equal(typeof route.client_disconnects, 'number');
    assert.ok(route.success_rate === 1 || route.success_rate === 100, `success_rate of an all-success route: ${route.success_rate}`);

    const stats = await shepherdStats(shepherd);
    assert.equal(typeof stats.uptime_seconds, 'number');
    for (const k of ['requests', 'errors', 'success_rate', 'avg_latency_ms', 'total_tokens', 'refused_before_routing']) {
      assert.equal(typeof stats.totals[k], 'number', `totals.${k}`);
    }
    assert.ok(stats.totals.total_tokens >= prompt + completion);
    assert.ok(stats.totals.requests >= 2);
  });

  test('/metrics: Prometheus requests, duration histogram and token counters', async () => {
    // Runs after the metering test: route "metered" has exactly 2 successful requests.
    const r = await request(`${shepherd.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain/);
    const samples = parseMetrics(r.text);
    const route = routeOf(await shepherdStats(shepherd), 'metered', 'mock');
    assert.equal(metricValue(samples, 'shepherd_requests_total', { model: 'metered', provider: 'mock', status: '200' }), 2, r.text);
    assert.equal(metricValue(samples, 'shepherd_request_duration_seconds_bucket', { model: 'metered', provider: 'mock', le: '+Inf' }), 2);
    assert.equal(metricValue(samples, 'shepherd_tokens_total', { model: 'metered', provider: 'mock', kind: 'prompt' }), route.prompt_tokens);
  });

  test('keep-alive: sequential requests share one client connection; the upstream pool stays small', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const results = [];
      for (let i = 0; i < 6; i += 1) {
        results.push(await request(`${shepherd.url}/v1/chat/completions`, {
          method: 'POST', agent, headers: bearer(CLIENT_KEY), body: chatBody('pooled'),
        }));
      }
      for (const r of results) {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json().model, 'pooled');
      }
      assert.ok(results.slice(1).every((r) => r.reusedSocket), 'the client connection was reused');
    } finally {
      agent.destroy();
    }
    const s = await poolMock.stats();
    assert.equal(s.chat_requests, 6);
    // open_connections includes this stats request's own connection.
    const upstreamConnections = s.open_connections - 1;
    assert.ok(upstreamConnections >= 1 && upstreamConnections <= 2,
      `Shepherd should keep 1-2 pooled upstream connections after 6 sequential requests, has ${upstreamConnections}`);
  });

  test('keep-alive: streams and answers alternate on one client connection, each answered and counted once', async () => {
    // A committed stream goes on in a task of its own and the connection's next request is read
    // after it: the order, the framing and the counts must not notice.
    const before = routeOf(await shepherdStats(shepherd), 'pooled', 'pooled')?.requests ?? 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const kinds = [true, true, false, true, false, false, true];
    try {
      for (const [i, stream] of kinds.entries()) {
        const r = await request(`${shepherd.url}/v1/chat/completions`, {
          method: 'POST', agent, headers: bearer(CLIENT_KEY), body: chatBody('pooled', { stream }),
        });
        assert.equal(r.status, 200, r.text);
        if (i > 0) assert.ok(r.reusedSocket, `request ${i} came on the same connection`);
        if (stream) {
          assert.match(r.headers['content-type'], /text\/event-stream/);
          assert.ok(r.text.trimEnd().endsWith('data: [DONE]'), r.text);
        } else {
          assert.equal(r.json().model, 'pooled');
        }
      }
    } finally {
      agent.destroy();
    }
    await pollUntil(
      async () => routeOf(await shepherdStats(shepherd), 'pooled', 'pooled')?.requests ?? 0,
      (n) => n - before === kinds.length,
      { what: `the route to count ${kinds.length} requests` },
    );
  });

  test('a request pipelined behind a stream is answered after the stream ends', async () => {
    const one = JSON.stringify(chatBody('pooled', { stream: true }));
    const two = JSON.stringify(chatBody('pooled'));
    const head = (body) => `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n`
      + `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const { port } = new URL(shepherd.url);
    // Both requests in one write; done once the second answer's body is complete.
    const text = await new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(head(one) + head(two)));
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        received += d;
        const second = received.indexOf('HTTP/1.1 ', received.indexOf('data: [DONE]'));
        const bodyAt = received.indexOf('\r\n\r\n', second);
        const length = /content-length: (\d+)/i.exec(received.slice(second, bodyAt));
        if (second > 0 && bodyAt > 0 && length && received.length - bodyAt - 4 >= Number(length[1])) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
      socket.on('end', () => reject(new Error(`closed early; received ${received}`)));
      socket.setTimeout(10000, () => reject(new Error(`no second answer; received ${received}`)));
    });
    const first = text.indexOf('HTTP/1.1 200');
    const second = text.indexOf('HTTP/1.1 200', first + 1);
    assert.ok(first === 0 && second > 0, `two answers in order: ${text}`);
    const stream = text.slice(0, second);
    assert.match(stream, /text\/event-stream/);
    assert.ok(stream.includes('data: [DONE]'), stream);
    assert.match(text.slice(second), /application\/json/);
    assert.ok(text.slice(second).includes('"model":"pooled"'), text.slice(second));
  });

  test('more requests in flight than pool.max_idle: upstream connections are reused, not churned', async () => {
    const churnMock = await startMock(['--first-token-delay-ms', '20']);
    const g = await startShepherd(gatewayConfig({
      server: { threads: 1 },
      providers: { churn: openaiProvider(churnMock, { pool: { max_idle: 2, max_connections: 100 } }) },
      models: { churn: { deployments: [{ provider: 'churn' }] } },
    }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      // 10 waves of 8 concurrent requests: each wave needs 8 upstream connections at once.
      for (let wave = 0; wave < 10; wave++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () =>
          request(`${g.url}/v1/chat/completions`, { method: 'POST', body: chatBody('churn'), agent })));
        for (const r of answers) assert.equal(r.status, 200, r.text);
      }
    } finally {
      agent.destroy();
    }
    const s = await churnMock.stats();
    assert.equal(s.chat_requests, 80);
    // 8 upstream connections serve every wave, plus this stats request's own connection. When
    // connections beyond max_idle were closed at release, each wave opened 6 new ones (~60).
    assert.ok(s.connections_accepted <= 8 + 1 + 2,
      `upstream connections opened for 80 requests in waves of 8: ${s.connections_accepted}`);
  });
});

describe('gateway modes', { timeout: 60000 }, () => {
  after(cleanup);

  test('no api_keys → OPEN MODE warning on stderr and requests without a key work', async () => {
    const mock = await startMock();
    const shepherd = await startShepherd(gatewayConfig({
      providers: { mock: openaiProvider(mock) },
      models: { open: { deployments: [{ provider: 'mock' }] } },
    }));
    await pollUntil(() => shepherd.stderr, (s) => s.includes('OPEN MODE'), { what: '"OPEN MODE" on stderr' });
    const models = await request(`${shepherd.url}/v1/models`);
    assert.equal(models.status, 200);
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('open') });
    assert.equal(r.status, 200, r.text);
    // A client's Authorization is not relayed, and without a provider api_key none goes upstream.
    const withAuth = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST', body: chatBody('open'), headers: bearer('sk-client-in-open-mode'),
    });
    assert.equal(withAuth.status, 200, withAuth.text);
    assert.equal((await mock.lastRequest()).headers.authorization, undefined);
  });

  test('no providers/models → /health/ready 503, /health 200', async () => {
    const shepherd = await startShepherd('server:\n  listen: 127.0.0.1:0\n  threads: 1\n');
    const ready = await request(`${shepherd.url}/health/ready`);
    assert.equal(ready.status, 503);
    const health = await request(`${shepherd.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
  });
});
