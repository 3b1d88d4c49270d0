// Reliability under upstream chaos: one model over a dead deployment, a flaky one and a healthy
// one must still answer ≥ 99.9 % of requests with 200 while spending few extra upstream attempts;
// and when every deployment fails, the retry budget bounds the amplification.
//
// The figures (success rate, attempts ratio, duration) are printed with console.log.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  closedPort,
  gatewayConfig,
  makeTempDir,
  metricValue,
  openaiProvider,
  parseMetrics,
  pollUntil,
  request,
  runCli,
  startMock,
  startShepherd,
  writeConfig,
} from '../support/harness.mjs';

const KEY = 'sk-chaos-test';
const ENV = { CHAOS_TEST_KEY: KEY };

after(cleanup);

/**
 * Sends `count` chat requests for `model`, `concurrency` at once over a keep-alive agent, and
 * stops issuing new ones after `budgetMs`. Resolves {results: [{status, attempts, deployment, text}],
 * sent, durationMs}.
 */
async function load(shepherd, model, { count, concurrency, budgetMs }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const results = [];
  let next = 0;
  const started = Date.now();
  const deadline = started + budgetMs;
  const worker = async () => {
    while (next < count && Date.now() < deadline) {
      const i = next++;
      try {
        const r = await request(`${shepherd.url}/v1/chat/completions`, {
          method: 'POST', body: chatBody(model, { content: `chaos ${i}` }), headers: bearer(KEY), agent, timeoutMs: 30000,
        });
        results[i] = {
          i,
          status: r.status,
          attempts: r.headers['x-shepherd-attempts'] === undefined ? undefined : Number(r.headers['x-shepherd-attempts']),
          deployment: r.headers['x-shepherd-deployment'],
          text: r.status === 200 ? undefined : r.text.slice(0, 300),
        };
      } catch (e) {
        results[i] = { i, status: 0, attempts: undefined, text: `transport error: ${e.message}` };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return { results, sent: next, durationMs: Date.now() - started };
}

const countBy = (items, key) => {
  const out = {};
  for (const it of items) out[key(it)] = (out[key(it)] ?? 0) + 1;
  return out;
};

const attemptsMetric = async (shepherd) =>
  metricValue(parseMetrics((await request(`${shepherd.url}/metrics`)).text), 'shepherd_upstream_attempts_total') ?? 0;

describe('chaos: one dead, one flaky (20 % 500), one healthy deployment', { timeout: 120000 }, () => {
  test('10 000 requests at concurrency 32: ≥ 99.9 % 200, attempts ≤ 1.2 × requests', async () => {
    const N = 10000;
    const [flaky, healthy] = await Promise.all([
      startMock(['--fault', 'status=500,fail-rate=20', '--seed', '42']),
      startMock(),
    ]);
    const deadPort = await closedPort();
    const shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:CHAOS_TEST_KEY'], threads: 2 },
        providers: {
          dead: openaiProvider(`http://127.0.0.1:${deadPort}/v1`, { timeouts: { connect: '2s' } }),
          flaky: openaiProvider(flaky),
          healthy: openaiProvider(healthy),
        },
        models: {
          chaos: {
            strategy: 'round-robin',
            deployments: [{ provider: 'dead' }, { provider: 'flaky' }, { provider: 'healthy' }],
          },
        },
      }),
      { env: ENV },
    );

    const { results, sent, durationMs } = await load(shepherd, 'chaos', { count: N, concurrency: 32, budgetMs: 90000 });
    assert.equal(sent, N, `only ${sent} of ${N} requests were sent within the time bound (${durationMs} ms)`);

    const ok = results.filter((r) => r.status === 200).length;
    const failed = results.filter((r) => r.status !== 200);
    const headerAttempts = results.reduce((sum, r) => sum + (r.attempts ?? 0), 0);
    const missingAttempts = results.filter((r) => r.status === 200 && !(r.attempts >= 1)).length;
    const [fs, hs] = await Promise.all([flaky.stats(), healthy.stats()]);
    const mockChats = fs.chat_requests + hs.chat_requests;
    const metric = await pollUntil(() => attemptsMetric(shepherd), (v) => v >= headerAttempts, {
      timeoutMs: 3000, what: `shepherd_upstream_attempts_total to reach ${headerAttempts}`,
    }).catch(() => attemptsMetric(shepherd));

    const successRate = ok / N;
    const ratio = headerAttempts / N;
    console.log(
      `chaos: ${N} requests in ${durationMs} ms (${Math.round(N / (durationMs / 1000))} req/s), ` +
        `success ${(successRate * 100).toFixed(3)} % (${ok}/${N}), ` +
        `attempts ${headerAttempts} (ratio ${ratio.toFixed(4)}), metric ${metric}, ` +
        `mock chats flaky ${fs.chat_requests} + healthy ${hs.chat_requests} = ${mockChats}, ` +
        `attempts histogram ${JSON.stringify(countBy(results, (r) => r.attempts))}, ` +
        `served by ${JSON.stringify(countBy(results.filter((r) => r.status === 200), (r) => r.deployment))}`,
    );
    if (failed.length > 0) {
      console.log(`chaos: ${failed.length} non-200 answers by status ${JSON.stringify(countBy(failed, (r) => r.status))}`);
      for (const f of failed.slice(0, 20)) console.log(`  request #${f.i}: ${f.status} attempts=${f.attempts} ${f.text}`);
    }

    assert.ok(successRate >= 0.999, `success rate ${(successRate * 100).toFixed(3)} % < 99.9 %`);
    assert.equal(missingAttempts, 0, 'every 200 carries X-Shepherd-Attempts ≥ 1');
    assert.ok(headerAttempts >= N, `attempts ${headerAttempts} < requests ${N}`);
    assert.ok(headerAttempts <= 1.2 * N, `attempts ${headerAttempts} > 1.2 × ${N}`);
    assert.ok(mockChats <= headerAttempts, `the mocks saw ${mockChats} chat requests, more than the ${headerAttempts} attempts reported`);
    // The dead deployment was tried at least once (its attempts are the difference).
    assert.ok(headerAttempts > mockChats, `no attempt went to the dead deployment (${headerAttempts} attempts, ${mockChats} at the mocks)`);
    // The flaky mock's 500s were retried: its failures are about 20 % of what it received.
    assert.ok(fs.chat_requests > 0, 'the flaky deployment got traffic');
    assert.equal(metric, headerAttempts, 'sum of shepherd_upstream_attempts_total = sum of X-Shepherd-Attempts');
  });
});

describe('chaos: every deployment answers 500 (retry amplification)', { timeout: 120000 }, () => {
  const N = 2000;
  let mocks;

  const run = async (label, routing) => {
    await Promise.all(mocks.map((m) => m.reset()));
    const config = gatewayConfig({
      server: { api_keys: ['env:CHAOS_TEST_KEY'], threads: 2 },
      providers: Object.fromEntries(mocks.map((m, i) => [`f${i}`, openaiProvider(m)])),
      models: { allfail: { deployments: mocks.map((_, i) => ({ provider: `f${i}` })) } },
    });
    if (routing) config.routing = routing;
    const sh = await startShepherd(config, { env: ENV });
    const { results, sent, durationMs } = await load(sh, 'allfail', { count: N, concurrency: 16, budgetMs: 60000 });
    const stats = await Promise.all(mocks.map((m) => m.stats()));
    const upstream = stats.reduce((s, st) => s + st.chat_requests, 0);
    const headerAttempts = results.reduce((sum, r) => sum + (r.attempts ?? 0), 0);
    const byStatus = countBy(results, (r) => r.status);
    console.log(
      `all-fail (${label}): ${sent} requests in ${durationMs} ms, statuses ${JSON.stringify(byStatus)}, ` +
        `upstream chat requests ${upstream} (${stats.map((s) => s.chat_requests).join(' + ')}), ratio ${(upstream / N).toFixed(4)}, ` +
        `X-Shepherd-Attempts sum ${headerAttempts}, bound ${1.2 * N + 10}`,
    );
    await sh.stop();
    return { results, sent, upstream, headerAttempts, byStatus };
  };

  before(async () => {
    mocks = await Promise.all([0, 1, 2].map(() => startMock({ fault: 'status=500' })));
  });

  test('default routing: 2000 requests at concurrency 16 → all 500/503, upstream ≤ 1.2 × N + 10', async () => {
    const { results, sent, upstream, byStatus } = await run('default routing', null);
    assert.equal(sent, N, 'all requests sent within the time bound');
    const other = results.filter((r) => r.status !== 500 && r.status !== 503);
    assert.deepEqual(other.slice(0, 10), [], `statuses other than 500/503: ${JSON.stringify(byStatus)}`);
    assert.ok(upstream <= 1.2 * N + 10, `upstream chat requests ${upstream} > ${1.2 * N + 10}`);
    assert.ok(upstream >= 1, 'the upstreams were tried');
  });

  test('cool-down out of the way (64 failures within 1 ms): every request reaches upstream, the budget alone bounds retries', async () => {
    // 64 failures of one deployment within 1 ms cannot happen at concurrency 16, so the breaker
    // stays closed and every request makes at least one attempt.
    const { results, sent, upstream, headerAttempts, byStatus } = await run('no cool-down', {
      cooldown: { failures: 64, window: '1ms', duration: '30s' },
    });
    assert.equal(sent, N, 'all requests sent within the time bound');
    const other = results.filter((r) => r.status !== 500);
    assert.deepEqual(other.slice(0, 10), [], `statuses other than 500: ${JSON.stringify(byStatus)}`);
    assert.ok(upstream >= N, `every request made an attempt: ${upstream} < ${N}`);
    assert.ok(upstream >= 1.1 * N, `the retry budget was used (${upstream} upstream requests for ${N})`);
    assert.ok(upstream <= 1.2 * N + 10, `upstream chat requests ${upstream} > ${1.2 * N + 10}`);
    assert.equal(headerAttempts, upstream, 'X-Shepherd-Attempts sums to what the mocks saw');
  });
});

// routing.cooldown.failures accepts 1..64: the largest threshold is honoured exactly, and a
// larger one is refused at start rather than silently lowered.
describe('chaos: the largest cool-down threshold is honoured exactly', { timeout: 60000 }, () => {
  test('failures: 64 → the breaker stays closed for 63 failures and opens at the 64th', async () => {
    const mock = await startMock({ fault: 'status=500' });
    const config = gatewayConfig({
      server: { api_keys: ['env:CHAOS_TEST_KEY'], master_key: 'env:CHAOS_MASTER' },
      providers: { f: openaiProvider(mock) },
      models: { threshold: { deployments: [{ provider: 'f' }] } },
    });
    config.routing = { max_attempts: 1, cooldown: { failures: 64, window: '5m', duration: '5m' } };
    const sh = await startShepherd(config, { env: { ...ENV, CHAOS_MASTER: 'sk-chaos-master' } });
    const state = async () => {
      const r = await request(`${sh.url}/admin/deployments`, { headers: bearer('sk-chaos-master') });
      assert.equal(r.status, 200, r.text);
      return r.json().deployments.find((d) => d.id === 'threshold@f');
    };
    const statuses = [];
    for (let i = 0; i < 63; i += 1) {
      const r = await request(`${sh.url}/v1/chat/completions`, { method: 'POST', body: chatBody('threshold'), headers: bearer(KEY) });
      statuses.push(r.status);
    }
    const after63 = await state();
    assert.deepEqual(countBy(statuses, (s) => s), { 500: 63 }, 'all 63 reached the upstream (no 503 from an early cool-down)');
    assert.equal(after63.breaker, 'closed');
    assert.equal(after63.state, 'available');
    const r64 = await request(`${sh.url}/v1/chat/completions`, { method: 'POST', body: chatBody('threshold'), headers: bearer(KEY) });
    assert.equal(r64.status, 500, r64.text);
    const after64 = await state();
    assert.equal(after64.breaker, 'open');
    assert.equal(after64.state, 'cooling down');
    const r65 = await request(`${sh.url}/v1/chat/completions`, { method: 'POST', body: chatBody('threshold'), headers: bearer(KEY) });
    assert.equal(r65.status, 503, r65.text);
    assert.equal((await mock.stats()).chat_requests, 64);
  });

  test('failures: 65 → the config is refused, naming the key', async () => {
    const dir = makeTempDir();
    const file = writeConfig(dir, { ...gatewayConfig({ providers: { f: openaiProvider('http://127.0.0.1:9/v1') }, models: { m: { deployments: [{ provider: 'f' }] } } }), routing: { cooldown: { failures: 65 } } });
    const r = await runCli(['config', 'validate', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /routing\.cooldown\.failures: must be between 1 and 64/);
  });
});
