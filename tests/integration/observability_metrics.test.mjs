// The /metrics series beyond the per-route counters, against a live gateway: time to first token,
// per-key series (key ids only, never secrets), budget use, upstream connections, config reloads
// and the build; and /stats numbers as people write them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  metricValue,
  openaiProvider,
  parseMetrics,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const MASTER = 'master-key-for-metrics-tests';
const SECRET = 'hmac-secret-for-metrics-tests-0123456789';
const PRICE = { input: 100, output: 100 };

describe('metrics for operators', { timeout: 60000 }, () => {
  let shepherd;
  let mock;
  const admin = (method, p, body) => request(`${shepherd.url}${p}`, { method, body, headers: bearer(MASTER) });
  const chat = (key, extra = {}) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1', { max_tokens: 16, ...extra }), headers: bearer(key) });
  const metrics = async () => {
    const r = await request(`${shepherd.url}/metrics`);
    assert.equal(r.status, 200);
    return { text: r.text, samples: parseMetrics(r.text) };
  };

  before(async () => {
    mock = await startMock(['--first-token-delay-ms', '30']);
    shepherd = await startShepherd(
      {
        ...gatewayConfig({
          server: { master_key: 'env:MASTER_KEY', threads: 2 },
          providers: { mock: openaiProvider(mock) },
          models: { 'gpt-4.1': { deployments: [{ provider: 'mock', price: PRICE }] } },
        }),
        keys: { secret: 'env:KEY_SECRET', refresh: '200ms' },
      },
      { env: { MASTER_KEY: MASTER, KEY_SECRET: SECRET } },
    );
  });
  after(cleanup);

  test('per-key series carry the key id, count requests, tokens and cost, and show budget use', async () => {
    const created = await admin('POST', '/admin/keys', { name: 'metrics team', budget: { usd: 1, period: 'month' } });
    assert.equal(created.status, 201, created.text);
    const key = created.json();
    for (let i = 0; i < 3; ++i) {
      const r = await chat(key.secret);
      assert.equal(r.status, 200, r.text);
    }
    const streamed = await chat(key.secret, { stream: true });
    assert.equal(streamed.status, 200);
    const { text, samples } = await metrics();
    assert.ok(!text.includes(key.secret), 'a key secret never reaches /metrics');
    assert.equal(metricValue(samples, 'shepherd_key_requests_total', { key: key.id }), 4);
    assert.equal(metricValue(samples, 'shepherd_key_errors_total', { key: key.id }), 0);
    const tokens = metricValue(samples, 'shepherd_key_tokens_total', { key: key.id });
    assert.ok(tokens > 0, `tokens ${tokens}`);
    const cost = metricValue(samples, 'shepherd_key_cost_usd_total', { key: key.id });
    assert.ok(Math.abs(cost - (tokens * 100) / 1e6) < 1e-9, `cost ${cost} for ${tokens} tokens at $100/1M`);
    // The budget is $1 and each request costs cents: the ratio is the spend so far over $1.
    const used = metricValue(samples, 'shepherd_key_budget_used_ratio', { key: key.id });
    assert.ok(used > 0 && Math.abs(used - cost) < 1e-6, `budget used ${used}, spent ${cost}`);
  });

  test('time to first token is observed per route and is no longer than the whole request', async () => {
    const before = parseMetrics((await request(`${shepherd.url}/metrics`)).text);
    const labels = { model: 'gpt-4.1', provider: 'mock' };
    const count0 = metricValue(before, 'shepherd_time_to_first_token_seconds_count', labels) ?? 0;
    const sum0 = metricValue(before, 'shepherd_time_to_first_token_seconds_sum', labels) ?? 0;
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('gpt-4.1', { stream: true }),
      headers: bearer((await admin('POST', '/admin/keys', { name: 'ttft' })).json().secret),
    });
    assert.equal(r.status, 200);
    const { samples } = await metrics();
    assert.equal(metricValue(samples, 'shepherd_time_to_first_token_seconds_count', labels), count0 + 1);
    const ttft = metricValue(samples, 'shepherd_time_to_first_token_seconds_sum', labels);
    const total = metricValue(samples, 'shepherd_request_duration_seconds_sum', labels);
    assert.ok(ttft - sum0 >= 0.029, `the mock waits 30 ms before its first token: ${ttft - sum0} s`);
    assert.ok(ttft <= total, `first token ${ttft} s within the requests' ${total} s`);
  });

  test('upstream connections, reloads and the build are reported', async () => {
    const { samples } = await metrics();
    const open = metricValue(samples, 'shepherd_upstream_connections', { provider: 'mock', state: 'open' });
    const idle = metricValue(samples, 'shepherd_upstream_connections', { provider: 'mock', state: 'idle' });
    assert.ok(open >= 1 && idle >= 1 && idle <= open, `open ${open}, idle ${idle} after the requests`);
    const applied0 = metricValue(samples, 'shepherd_config_reloads_total', { outcome: 'applied' });
    const reload = await admin('POST', '/admin/config/reload');
    assert.equal(reload.status, 200, reload.text);
    const after = (await metrics()).samples;
    assert.equal(metricValue(after, 'shepherd_config_reloads_total', { outcome: 'applied' }), applied0 + 1);
    assert.equal(metricValue(after, 'shepherd_config_reloads_total', { outcome: 'refused' }), 0);
    const build = after.find((s) => s.name === 'shepherd_build_info');
    assert.ok(build && build.value === 1 && /^\d+\.\d+\.\d+$/.test(build.labels.version), JSON.stringify(build));
  });

  test('/stats writes numbers as people do: 1 and 0.25, never 1E0', async () => {
    const r = await request(`${shepherd.url}/stats`);
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.text, /\dE[+-]?\d/);
    const stats = r.json();
    assert.equal(stats.totals.success_rate, 1);
    assert.match(r.text, /"success_rate":1[,}]/);
    assert.ok(Number.isFinite(stats.uptime_seconds));
    assert.ok(String(stats.uptime_seconds).replace(/^\d+\.?/, '').length <= 2, `uptime rounded: ${stats.uptime_seconds}`);
  });
});
