// The audit log and spend reports: one record per request keyed by its X-Request-Id, read back
// through the admin API and the CLI; SIGTERM flushes every record; spend with savings against
// list prices.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  openaiProvider,
  readSSE,
  request,
  runCli,
  startMock,
  startShepherd,
  fetchChat,
} from '../support/harness.mjs';

const MASTER = 'master-key-for-audit-tests';
const STATIC = 'sk-static-key-for-audit-tests';
const SECRET = 'hmac-secret-for-audit-tests-0123456789';
const ENV = { MASTER_KEY: MASTER, STATIC_KEY: STATIC, KEY_SECRET: SECRET };

function config(mock, extra = {}) {
  return {
    ...gatewayConfig({
      server: { api_keys: ['env:STATIC_KEY'], master_key: 'env:MASTER_KEY', threads: 2 },
      providers: { relay: openaiProvider(mock) },
      models: {
        'gpt-4.1': { deployments: [{ provider: 'relay', price: { input: 8, output: 8 }, list_price: { input: 15, output: 15 } }] },
        'deepseek-v3.2': { deployments: [{ provider: 'relay', price: { input: 0.42, output: 0.42 }, list_price: { input: 2.8, output: 2.8 } }] },
      },
    }),
    keys: { secret: 'env:KEY_SECRET' },
    ...extra,
  };
}

describe('audit log and spend', { timeout: 120000 }, () => {
  let shepherd, mock;
  const admin = (p) => request(`${shepherd.url}${p}`, { headers: bearer(MASTER) });
  const chat = (model, key = STATIC, extra = {}) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody(model, extra), headers: bearer(key) });
  // Records reach the store within the flush interval: poll the API until they are there.
  const recordsFor = async (ids) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await admin('/admin/requests?limit=1000');
      assert.equal(r.status, 200, r.text);
      const found = r.json().data.filter((x) => ids.includes(x.request_id));
      if (found.length === ids.length || Date.now() > deadline) return found;
      await new Promise((res) => setImmediate(res));
    }
  };

  before(async () => {
    mock = await startMock();
    shepherd = await startShepherd(config(mock), { env: ENV });
  });
  after(cleanup);

  test('every request has one record under its X-Request-Id, with what happened', async () => {
    const ok = await chat('gpt-4.1');
    assert.equal(ok.status, 200);
    const stream = await fetchChat(shepherd.url, chatBody('deepseek-v3.2', { stream: true }), { key: STATIC });
    const streamId = stream.headers.get('x-request-id');
    await readSSE(stream);
    const unknown = await chat('no-such-model');
    const unauthorized = await chat('gpt-4.1', 'wrong-key');
    const ids = [ok, unknown, unauthorized].map((r) => r.headers['x-request-id']).concat(streamId);
    for (const id of ids) assert.match(id, /^req_[0-9a-f]{28}$/);
    const records = await recordsFor(ids);
    assert.equal(records.length, 4, JSON.stringify(records));
    // The id starts with the arrival time, as the stores' time ranges expect.
    for (const r of records) assert.equal(parseInt(r.request_id.slice(4, 16), 16), r.time);
    const byId = Object.fromEntries(records.map((r) => [r.request_id, r]));
    const a = byId[ids[0]];
    assert.equal(a.model, 'gpt-4.1');
    assert.equal(a.key_id, 'static:0');
    assert.equal(a.status, 200);
    assert.equal(a.error_class, '');
    assert.equal(a.deployment, 'gpt-4.1@relay');
    assert.equal(a.provider, 'relay');
    assert.equal(a.attempts, 1);
    assert.equal(a.dialect, 'openai-chat');
    assert.equal(a.streamed, false);
    assert.equal(a.client_address, '127.0.0.1');
    assert.ok(a.prompt_tokens > 0 && a.completion_tokens > 0);
    assert.ok(Math.abs(a.cost_usd - Number(ok.headers['x-shepherd-cost'])) < 1e-12);
    assert.ok(a.list_cost_usd > a.cost_usd);
    assert.ok(a.latency_us > 0 && a.ttft_us > 0 && a.ttft_us <= a.latency_us);
    assert.equal(a.usage_estimated, false);
    assert.equal(a.request_body, undefined, 'bodies are off by default');
    assert.equal(byId[streamId].streamed, true);
    assert.equal(byId[ids[1]].status, 404);
    assert.equal(byId[ids[1]].error_class, 'model_not_found');
    assert.equal(byId[ids[2]].status, 401);
    assert.equal(byId[ids[2]].key_id, '');
    // Request ids sort in time order.
    assert.ok(ids[0] < ids[1] && ids[1] < ids[2]);
  });

  test('filters: model, key, status, limit, since and until', async () => {
    const deep = await admin('/admin/requests?model=deepseek-v3.2');
    assert.ok(deep.json().data.length >= 1 && deep.json().data.every((r) => r.model === 'deepseek-v3.2'));
    const s404 = await admin('/admin/requests?status=404');
    assert.ok(s404.json().data.every((r) => r.status === 404));
    const one = await admin('/admin/requests?limit=1');
    assert.equal(one.json().data.length, 1);
    const future = await admin(`/admin/requests?since=${Math.floor(Date.now() / 1000) + 3600}`);
    assert.equal(future.json().data.length, 0);
    const past = await admin('/admin/requests?until=2020-01-01');
    assert.equal(past.json().data.length, 0);
    const injected = await admin(`/admin/requests?model=${encodeURIComponent("x' OR '1'='1")}`);
    assert.equal(injected.status, 200);
    assert.equal(injected.json().data.length, 0);
    for (const q of ['limit=0', 'status=abc', 'since=yesterday']) {
      const r = await admin(`/admin/requests?${q}`);
      assert.equal(r.status, 400, q);
    }
  });

  test('a key that audits bodies gets them, with secrets redacted', async () => {
    const made = await request(`${shepherd.url}/admin/keys`, {
      method: 'POST',
      headers: bearer(MASTER),
      body: { name: 'bodies', log_bodies: true },
    });
    const key = made.json();
    const r = await chat('gpt-4.1', key.secret, { content: `my keys are ${key.secret} and ${MASTER}` });
    assert.equal(r.status, 200);
    const [rec] = await recordsFor([r.headers['x-request-id']]);
    assert.ok(rec.request_body.includes('[REDACTED]'), rec.request_body);
    assert.ok(!rec.request_body.includes(key.secret) && !rec.request_body.includes(MASTER));
    assert.ok(rec.response_body.includes('chat.completion'));
    assert.equal(rec.key_id, key.id);
    // A streamed answer is kept as the events the client got, without the HTTP framing.
    const res = await fetchChat(shepherd.url, chatBody('gpt-4.1', { stream: true, content: `again ${key.secret}` }), { key: key.secret });
    const sse = await readSSE(res);
    assert.equal(sse.done, true);
    const [streamed] = await recordsFor([res.headers.get('x-request-id')]);
    assert.match(streamed.response_body, /^data: \{/);
    assert.ok(streamed.response_body.endsWith('data: [DONE]\n\n'), JSON.stringify(streamed.response_body.slice(-40)));
    assert.ok(!streamed.response_body.includes('\r\n'));
    assert.ok(!streamed.request_body.includes(key.secret));
  });

  test('spend by model: cost, list cost and savings from the records', async () => {
    const r = await admin('/admin/spend?by=model');
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    const gpt = body.groups.find((g) => g.group === 'gpt-4.1');
    assert.ok(gpt.requests >= 2 && gpt.cost_usd > 0);
    assert.ok(Math.abs(gpt.savings_usd - (gpt.list_cost_usd - gpt.cost_usd)) < 1e-6);
    assert.ok(gpt.list_cost_usd / gpt.cost_usd > 1.8 && gpt.list_cost_usd / gpt.cost_usd < 1.9);
    assert.ok(gpt.p99_latency_ms >= gpt.avg_latency_ms * 0.5);
    assert.ok(body.monthly_projection.cost_usd > 0);
    const missing = body.groups.find((g) => g.group === 'no-such-model');
    assert.equal(missing.errors, missing.requests);
    assert.equal((await admin('/admin/spend?by=colour')).status, 400);
    const days = (await admin('/admin/spend?by=day')).json();
    assert.match(days.groups[0].group, /^\d{4}-\d{2}-\d{2}$/);
  });

  test('SIGTERM flushes every record; the CLI reads them and prints the cost table', async () => {
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await chat('gpt-4.1')).headers['x-request-id']);
    await shepherd.stop();
    const audit = await runCli(['audit', '--json', '--config', shepherd.configPath, '--limit', '1000'], { env: ENV });
    assert.equal(audit.code, 0, audit.stderr);
    const stored = new Set(JSON.parse(audit.stdout).data.map((r) => r.request_id));
    for (const id of ids) assert.ok(stored.has(id), `${id} was flushed`);
    // Without --json: an aligned table for people, newest first.
    const table = await runCli(['audit', '--config', shepherd.configPath, '--limit', '5'], { env: ENV });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^time \(UTC\)\s+request id\s+key\s+model\s+deployment\s+status\s+tries/);
    assert.match(lines[1], /^-+$/);
    assert.ok(lines[2].includes(ids.at(-1)), lines[2]);
    assert.equal(lines.at(-1), '5 requests, newest first');
    // Columns line up: the request id starts at the same place on every row.
    const at = lines[0].indexOf('request id');
    for (const row of lines.slice(2, -1)) assert.match(row.slice(at), /^req_/);
    const cost = await runCli(['cost', '--config', shepherd.configPath, '--by', 'model'], { env: ENV });
    assert.equal(cost.code, 0, cost.stderr);
    assert.match(cost.stdout, /gpt-4\.1\s+\d+/);
    assert.match(cost.stdout, /\n-+\ntotal\s+[\d,]+\s/);
    assert.match(cost.stdout, /monthly projection: cost \$/);
    const json = await runCli(['cost', '--config', shepherd.configPath, '--by', 'key', '--json'], { env: ENV });
    assert.ok(JSON.parse(json.stdout).groups.some((g) => g.group === 'static:0'));
  });
});
