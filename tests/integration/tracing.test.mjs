// Tracing: a client's W3C traceparent is taken up and passed on to the upstream (a new span id per
// attempt), and spans go to an OTLP/HTTP receiver (a local one, started here) as OTLP JSON with
// the GenAI semantic conventions' attributes: one per request, one per upstream attempt.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  chatBody,
  cleanup,
  gatewayConfig,
  metricValue,
  openaiProvider,
  parseMetrics,
  pollUntil,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

/** An OTLP/HTTP receiver on loopback: keeps every span it is sent, with its resource. */
async function startReceiver() {
  const spans = [];
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      posts.push({ path: req.url, contentType: req.headers['content-type'] });
      const doc = JSON.parse(body);
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, spans, posts, close: () => new Promise((r) => server.close(r)) };
}

const attr = (span, key) => {
  const a = span.attributes.find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue);
};

describe('tracing', { timeout: 60000 }, () => {
  let receiver;
  let mock;
  let failing;
  let shepherd;

  before(async () => {
    receiver = await startReceiver();
    mock = await startMock();
    failing = await startMock({ fault: 'status=503' });
    shepherd = await startShepherd({
      ...gatewayConfig({
        providers: { mock: openaiProvider(mock), down: openaiProvider(failing) },
        models: {
          'gpt-4.1': { deployments: [{ provider: 'mock', price: { input: 100, output: 100 } }] },
          flaky: { deployments: [{ provider: 'down', model: 'up-model' }] },
        },
      }),
      routing: { max_attempts: 2, backoff: { base: '1ms', max: '2ms' } },
      tracing: { otlp_endpoint: receiver.url, service_name: 'gateway-under-test', interval: '100ms' },
    });
  });
  after(async () => {
    await cleanup();
    await receiver.close();
  });

  test("a client's traceparent is continued: the upstream gets the trace with the attempt's span", async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('gpt-4.1'),
      headers: { traceparent: `00-${TRACE}-${CLIENT_SPAN}-01` },
    });
    assert.equal(r.status, 200, r.text);
    const sent = (await mock.lastRequest()).headers.traceparent;
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(sent);
    assert.ok(m, `upstream traceparent ${sent}`);
    assert.equal(m[1], TRACE);
    assert.notEqual(m[2], CLIENT_SPAN, 'the upstream sees the attempt span, not the client one');

    const spans = await pollUntil(() => receiver.spans.filter((s) => s.traceId === TRACE), (s) => s.length >= 2, { timeoutMs: 5000, what: 'the spans' });
    const server = spans.find((s) => s.kind === 2);
    const client = spans.find((s) => s.kind === 3);
    assert.equal(server.parentSpanId, CLIENT_SPAN);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(client.spanId, m[2]);
    assert.equal(server.service, 'gateway-under-test');
    assert.equal(server.name, 'chat gpt-4.1');
    assert.equal(attr(server, 'gen_ai.operation.name'), 'chat');
    assert.equal(attr(server, 'gen_ai.request.model'), 'gpt-4.1');
    assert.equal(attr(server, 'gen_ai.response.model'), 'gpt-4.1');
    const usage = r.json().usage;
    assert.equal(attr(server, 'gen_ai.usage.input_tokens'), usage.prompt_tokens);
    assert.equal(attr(server, 'gen_ai.usage.output_tokens'), usage.completion_tokens);
    assert.equal(attr(server, 'http.response.status_code'), 200);
    assert.equal(attr(server, 'shepherd.request_id'), r.headers['x-request-id']);
    assert.equal(attr(client, 'gen_ai.provider.name'), 'openai');
    assert.equal(attr(client, 'server.address'), '127.0.0.1');
    assert.equal(attr(client, 'shepherd.deployment'), 'gpt-4.1@mock');
    assert.ok(BigInt(server.startTimeUnixNano) <= BigInt(client.startTimeUnixNano));
    assert.ok(BigInt(client.endTimeUnixNano) <= BigInt(server.endTimeUnixNano));
    assert.ok(receiver.posts.every((p) => p.path === '/v1/traces' && p.contentType === 'application/json'));
  });

  test('without a traceparent a request starts its own trace; failed attempts are error spans', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('flaky') });
    assert.equal(r.status, 503);
    const id = r.headers['x-request-id'];
    const server = await pollUntil(() => receiver.spans.find((s) => s.kind === 2 && attr(s, 'shepherd.request_id') === id), Boolean, { timeoutMs: 5000, what: 'the request span' });
    assert.equal(server.parentSpanId, undefined);
    assert.match(server.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(server.traceId, TRACE);
    assert.equal(server.status.code, 2);
    assert.equal(attr(server, 'error.type'), 'upstream_status');
    const attempts = await pollUntil(() => receiver.spans.filter((s) => s.kind === 3 && s.parentSpanId === server.spanId), (a) => a.length === 2, { timeoutMs: 5000, what: 'both attempt spans' });
    for (const a of attempts) {
      assert.equal(a.status.code, 2);
      assert.equal(attr(a, 'gen_ai.request.model'), 'up-model');
      assert.equal(a.name, 'chat up-model');
    }
    const metrics = parseMetrics((await request(`${shepherd.url}/metrics`)).text);
    assert.ok(metricValue(metrics, 'shepherd_trace_spans_total', { outcome: 'exported' }) >= 3);
    assert.equal(metricValue(metrics, 'shepherd_trace_spans_total', { outcome: 'dropped' }), 0);
  });

  test('an unsampled traceparent is passed on and exports nothing; a malformed one is replaced', async () => {
    const unsampledTrace = '0af7651916cd43dd8448eb211c80319c';
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('gpt-4.1'),
      headers: { traceparent: `00-${unsampledTrace}-b7ad6b7169203331-00` },
    });
    assert.equal(r.status, 200);
    assert.match((await mock.lastRequest()).headers.traceparent, new RegExp(`^00-${unsampledTrace}-[0-9a-f]{16}-00$`));
    const bad = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('gpt-4.1'),
      headers: { traceparent: 'not-a-trace' },
    });
    assert.equal(bad.status, 200);
    const sent = (await mock.lastRequest()).headers.traceparent;
    assert.match(sent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The malformed request's spans arrive; the unsampled one's never do (they would have come in
    // the same or an earlier batch).
    await pollUntil(() => receiver.spans.find((s) => attr(s, 'shepherd.request_id') === bad.headers['x-request-id']), Boolean, { timeoutMs: 5000, what: 'the spans' });
    assert.ok(!receiver.spans.some((s) => s.traceId === unsampledTrace));
  });
});
