// Three instances sharing one PostgreSQL store and one Redis: per-key limits and budgets hold
// across them, a key revoked on one is refused by the others within a second, and every
// instance's audit records land in the shared store. Real servers, started on loopback.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  REPO_ROOT,
  bearer,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  makeTempDir,
  metricValue,
  openaiProvider,
  parseMetrics,
  pollUntil,
  request,
  sseEvents,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const MASTER = 'master-key-for-scale-out-tests';
const SECRET = 'hmac-secret-for-scale-out-tests-0123';

function service(script, dir) {
  return {
    start: () => execFileSync(path.join(REPO_ROOT, 'tools', script), ['start', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 }).trim(),
    stop: () => {
      try {
        execFileSync(path.join(REPO_ROOT, 'tools', script), ['stop', dir], { stdio: 'ignore', timeout: 60000 });
      } catch {
        // already stopped
      }
    },
  };
}

describe('three instances with PostgreSQL and Redis', { timeout: 240000 }, () => {
  let redis, postgres, redisUrl, dbUrl, mock, config;
  const env = { MASTER_KEY: MASTER, KEY_SECRET: SECRET };
  const instances = [];
  const admin = (i, method, p, body) => request(`${instances[i].url}${p}`, { method, body, headers: bearer(MASTER) });
  const chat = (i, key, model = 'gpt-4.1') =>
    request(`${instances[i].url}/v1/chat/completions`, { method: 'POST', body: chatBody(model, { max_tokens: 16 }), headers: bearer(key) });

  before(async () => {
    redis = service('redis.sh', path.join(makeTempDir('shepherd-redis-'), 'r'));
    // As root the server runs as the postgres user, which must be able to reach its folder.
    const pgParent = makeTempDir('shepherd-pg-');
    fs.chmodSync(pgParent, 0o755);
    postgres = service('postgres.sh', path.join(pgParent, 'pg'));
    redisUrl = redis.start();
    dbUrl = postgres.start();
    mock = await startMock();
    config = {
      ...gatewayConfig({
        server: { master_key: 'env:MASTER_KEY', threads: 2 },
        providers: { relay: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'relay', price: { input: 100, output: 100 } }] } },
      }),
      storage: { url: 'env:DB_URL' },
      keys: { secret: 'env:KEY_SECRET', refresh: '200ms' },
      redis: { url: redisUrl, timeout: '200ms' },
      audit: { flush_interval: '100ms' },
    };
    env.DB_URL = dbUrl;
    for (let i = 0; i < 3; i++) instances.push(await startShepherd(config, { env }));
  });
  after(async () => {
    // The servers first: cleanup() removes the folders their stop scripts read.
    redis?.stop();
    postgres?.stop();
    await cleanup();
  });

  const secrets = [];
  const create = async (body) => {
    const r = await admin(0, 'POST', '/admin/keys', body);
    assert.equal(r.status, 201, r.text);
    const key = r.json();
    secrets.push(key.secret);
    // Every instance sees the new key within its refresh interval.
    for (let i = 1; i < 3; i++) {
      await pollUntil(async () => (await request(`${instances[i].url}/v1/usage`, { headers: bearer(key.secret) })).status === 200, Boolean, {
        timeoutMs: 2000,
        what: `key on instance ${i}`,
      });
    }
    return key;
  };

  test('rpm is shared: admitted requests per window stay within the limit across instances', async () => {
    const key = await create({ name: 'shared rpm', rpm: 30 });
    // Start well inside a minute window so that few windows are involved.
    const intoMinute = () => (Date.now() / 1000) % 60;
    if (intoMinute() > 45) await new Promise((r) => setTimeout(r, (61 - intoMinute()) * 1000));
    const results = await Promise.all(
      Array.from({ length: 90 }, async (_, n) => {
        const r = await chat(n % 3, key.secret);
        return { status: r.status, minute: Math.floor(Date.now() / 60000) };
      }),
    );
    assert.ok(results.every((r) => r.status === 200 || r.status === 429), JSON.stringify(results.map((r) => r.status)));
    const perWindow = {};
    for (const r of results.filter((x) => x.status === 200)) perWindow[r.minute] = (perWindow[r.minute] ?? 0) + 1;
    for (const [minute, admitted] of Object.entries(perWindow)) {
      assert.ok(admitted <= 30 * 1.02, `window ${minute}: ${admitted} admitted, limit 30`);
    }
    assert.ok(Object.values(perWindow).reduce((a, b) => a + b, 0) >= 30, 'the limit was reached, not undercut');
  });

  test('a budget is shared: concurrent requests on three instances overspend by at most one', async () => {
    const key = await create({ name: 'shared budget', budget: { usd: 0.02, period: 'day' } });
    const results = await Promise.all(Array.from({ length: 60 }, (_, n) => chat(n % 3, key.secret)));
    const ok = results.filter((r) => r.status === 200);
    const spent = ok.reduce((s, r) => s + Number(r.headers['x-shepherd-cost']), 0);
    const one = Math.max(...ok.map((r) => Number(r.headers['x-shepherd-cost'])));
    assert.ok(ok.length >= 1);
    assert.ok(spent <= 0.02 + one, `spent ${spent} of 0.02 (one request ${one})`);
    const refused = results.find((r) => r.status === 429);
    assert.equal(refused.json().error.code, 'insufficient_quota');
  });

  test('a key revoked on one instance is refused by the others within a second', async () => {
    const key = await create({ name: 'revoked everywhere' });
    for (let i = 0; i < 3; i++) assert.equal((await chat(i, key.secret)).status, 200);
    const revoked = await admin(0, 'DELETE', `/admin/keys/${key.id}`);
    assert.equal(revoked.status, 200);
    const started = Date.now();
    for (let i = 1; i < 3; i++) {
      await pollUntil(async () => (await chat(i, key.secret)).status === 401, Boolean, { timeoutMs: 1000, what: `revocation on ${i}` });
    }
    assert.ok(Date.now() - started <= 1000, `${Date.now() - started} ms`);
  });

  test('every instance writes its audit records to the shared store', async () => {
    const key = await create({ name: 'audited' });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await chat(i, key.secret)).headers['x-request-id']);
    await pollUntil(
      async () => {
        const r = await admin(2, 'GET', `/admin/requests?key=${key.id}`);
        return r.json().data.length === 3 ? r.json().data : null;
      },
      Boolean,
      { timeoutMs: 3000, what: 'three audit records' },
    );
    const data = (await admin(1, 'GET', `/admin/requests?key=${key.id}`)).json().data;
    assert.deepEqual(data.map((r) => r.request_id).sort(), [...ids].sort());
  });

  test('the PostgreSQL store holds no secret: not the keys, the master key or the HMAC secret', async () => {
    const dump = execFileSync('/usr/lib/postgresql/15/bin/pg_dump', ['--data-only', dbUrl], { encoding: 'latin1', maxBuffer: 1 << 28 });
    assert.match(dump, /audit_requests/);
    assert.ok(secrets.length >= 4);
    for (const value of [...secrets, MASTER, SECRET]) assert.ok(!dump.includes(value), 'a secret is in the store');
  });

  test('a request cut at the drain timeout gives its parallel slot back before the instance exits', async () => {
    const key = await create({ name: 'drained', max_parallel: 1 });
    // A fourth instance whose upstream streams for 10 s, with a drain timeout well inside that.
    const slow = await startMock({ chunkDelayMs: 200, chunks: 50 });
    const fourth = await startShepherd(
      {
        ...config,
        server: { ...config.server, timeouts: { drain: '300ms' } },
        providers: { relay: openaiProvider(slow) },
      },
      { env },
    );
    await pollUntil(async () => (await request(`${fourth.url}/v1/usage`, { headers: bearer(key.secret) })).status === 200, Boolean, {
      timeoutMs: 2000,
      what: 'the key on the fourth instance',
    });
    const stream = await fetchChat(fourth.url, chatBody('gpt-4.1', { stream: true }), { key: key.secret });
    assert.equal(stream.status, 200);
    const events = sseEvents(stream);
    await withTimeout(events.next(), 5000, 'a first event');
    // The stream holds the key's one slot, on every instance.
    assert.equal((await chat(0, key.secret)).status, 429);
    fourth.child.kill('SIGTERM');
    let done = false;
    try {
      for await (const ev of events) if (ev.data === '[DONE]') done = true;
    } catch {
      // the connection closed under the read
    }
    assert.ok(!done, 'the stream was cut at the drain timeout');
    const { code } = await fourth.waitExit(15000);
    assert.equal(code, 0, fourth.stderr);
    // Settled before the exit: the slot is free now, not when the instance's heartbeat lapses
    // (10 s later).
    assert.equal((await chat(0, key.secret)).status, 200);
  });

  test('with Redis down, instances keep serving at their share and say so', async () => {
    const key = await create({ name: 'degraded', rpm: 600 });
    redis.stop();
    const statuses = [];
    for (let n = 0; n < 6; n++) statuses.push((await chat(n % 3, key.secret)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
    const samples = parseMetrics((await request(`${instances[0].url}/metrics`)).text);
    assert.equal(metricValue(samples, 'shepherd_redis_degraded'), 1);
    assert.ok(metricValue(samples, 'shepherd_redis_failures_total') >= 1);
  });
});
