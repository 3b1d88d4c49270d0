// Virtual keys through the admin API and the CLI: creation (secret shown once), models, rpm and
// parallel limits, budgets with reservations, revocation; every refusal in the client's dialect.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  anthropicHeaders,
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  openaiProvider,
  pollUntil,
  request,
  runCli,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const MASTER = 'master-key-for-keys-tests';
const STATIC = 'sk-static-key-for-keys-tests';
const SECRET = 'hmac-secret-for-keys-tests-0123456789';
// Prices chosen so one small request costs a few hundred micro-dollars.
const PRICE = { input: 100, output: 100 };

describe('virtual keys', { timeout: 120000 }, () => {
  let shepherd, mock, slow;
  const admin = (method, p, body) =>
    request(`${shepherd.url}${p}`, { method, body, headers: bearer(MASTER) });
  const chat = (key, model = 'gpt-4.1', extra = {}) =>
    request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody(model, { max_tokens: 16, ...extra }),
      headers: bearer(key),
    });
  const create = async (body) => {
    const r = await admin('POST', '/admin/keys', body);
    assert.equal(r.status, 201, r.text);
    return r.json();
  };

  before(async () => {
    mock = await startMock();
    slow = await startMock(['--first-token-delay-ms', '400']);
    shepherd = await startShepherd(
      {
        ...gatewayConfig({
          server: { api_keys: ['env:STATIC_KEY'], master_key: 'env:MASTER_KEY', threads: 2 },
          providers: { mock: openaiProvider(mock), slow: openaiProvider(slow) },
          models: {
            'gpt-4.1': { deployments: [{ provider: 'mock', price: PRICE, list_price: { input: 150, output: 150 } }] },
            'deepseek-v3.2': { deployments: [{ provider: 'mock', price: PRICE }] },
            slow: { deployments: [{ provider: 'slow', price: PRICE }] },
          },
        }),
        keys: { secret: 'env:KEY_SECRET', refresh: '200ms' },
      },
      { env: { STATIC_KEY: STATIC, MASTER_KEY: MASTER, KEY_SECRET: SECRET } },
    );
  });
  after(cleanup);

  test('a created key is shown once, works at once, and is stored only as a hash', async () => {
    const key = await create({ name: 'search team', models: ['gpt-4.1'], metadata: { team: 'search' } });
    assert.match(key.secret, /^sk-shep-[0-9A-Za-z]{43}$/);
    assert.equal(key.prefix, key.secret.slice(0, 12));
    assert.match(key.id, /^key_[0-9a-f]{16}$/);
    assert.deepEqual(key.metadata, { team: 'search' });
    const r = await chat(key.secret);
    assert.equal(r.status, 200, r.text);
    // Lists and shows never carry the secret or its hash.
    const list = await admin('GET', '/admin/keys');
    assert.equal(list.status, 200);
    assert.ok(list.json().data.some((k) => k.id === key.id));
    assert.ok(!list.text.includes(key.secret));
    const shown = await admin('GET', `/admin/keys/${key.id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.json().secret, undefined);
    assert.ok(!('hash' in shown.json()));
    // The store holds no secret: not in the database file nor its WAL.
    const dir = path.dirname(shepherd.configPath);
    for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('shepherd.db'))) {
      assert.ok(!fs.readFileSync(path.join(dir, f)).includes(key.secret), `${f} holds the secret`);
    }
  });

  test('static keys keep working beside virtual keys; unknown tokens are 401', async () => {
    assert.equal((await chat(STATIC)).status, 200);
    const r = await chat('sk-shep-not-a-key');
    assert.equal(r.status, 401);
    assertErrorShape(r.json());
    assert.equal(r.json().error.code, 'invalid_api_key');
  });

  test('a model outside the key\'s list is 403 naming the allowed models, in each dialect', async () => {
    const key = await create({ name: 'only gpt', models: ['gpt-4.1'] });
    const r = await chat(key.secret, 'deepseek-v3.2');
    assert.equal(r.status, 403, r.text);
    assertErrorShape(r.json());
    assert.match(r.json().error.message, /may not use the model 'deepseek-v3.2'; it may use: gpt-4\.1/);
    const a = await request(`${shepherd.url}/v1/messages`, {
      method: 'POST',
      headers: anthropicHeaders(key.secret),
      body: { model: 'deepseek-v3.2', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(a.status, 403);
    assert.equal(a.json().type, 'error');
    assert.equal(a.json().error.type, 'permission_error');
  });

  test('rpm: requests beyond the limit get 429 with a truthful Retry-After', async () => {
    const key = await create({ name: 'rpm', rpm: 3 });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await chat(key.secret)).status);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const r = await chat(key.secret);
    assert.equal(r.status, 429);
    assertErrorShape(r.json());
    assert.equal(r.json().error.code, 'rate_limit_exceeded');
    const retry = Number(r.headers['retry-after']);
    // The window ends at the next minute boundary.
    const left = 60 - (Math.floor(Date.now() / 1000) % 60);
    assert.ok(retry >= 1 && retry <= 60 && Math.abs(retry - left) <= 2, `Retry-After ${retry}, ${left} s left`);
  });

  test('max_parallel: a request beyond the parallel limit is refused while the others run', async () => {
    const key = await create({ name: 'parallel', max_parallel: 2 });
    const running = [chat(key.secret, 'slow'), chat(key.secret, 'slow')];
    // Wait until both hold their slot (the mock answers after 400 ms).
    await pollUntil(async () => (await slow.stats()).requests >= 2, Boolean, { what: 'two slow requests upstream' });
    const third = await chat(key.secret, 'slow');
    assert.equal(third.status, 429, third.text);
    assert.match(third.json().error.message, /max_parallel/);
    for (const r of await Promise.all(running)) assert.equal(r.status, 200);
    assert.equal((await chat(key.secret, 'slow')).status, 200, 'slots are released when requests end');
  });

  test('budget: spent is refused with insufficient_quota; /v1/usage shows the spend', async () => {
    const key = await create({ name: 'budget', budget: { usd: 0.01, period: 'total' } });
    let refused;
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await chat(key.secret);
      if (r.status === 429) refused = r;
      else assert.equal(r.status, 200, r.text);
    }
    assert.ok(refused, 'the budget ran out within 100 requests');
    assertErrorShape(refused.json());
    assert.equal(refused.json().error.type, 'insufficient_quota');
    assert.equal(refused.json().error.code, 'insufficient_quota');
    const usage = await request(`${shepherd.url}/v1/usage`, { headers: bearer(key.secret) });
    assert.equal(usage.status, 200, usage.text);
    const b = usage.json().budget;
    assert.equal(b.usd, 0.01);
    assert.ok(b.spent_usd > 0 && b.spent_usd <= 0.01, JSON.stringify(b));
    assert.equal(b.reserved_usd, 0);
  });

  test('budget race: 50 concurrent requests at the edge overspend by at most one request', async () => {
    // One request: ~30 prompt tokens + 16 completion at $100/M ≈ $0.0046 worst case; real cost
    // is below. A budget of a few requests, then 50 at once.
    const key = await create({ name: 'race', budget: { usd: 0.02, period: 'day' } });
    const results = await Promise.all(Array.from({ length: 50 }, () => chat(key.secret)));
    const ok = results.filter((r) => r.status === 200);
    assert.ok(ok.length >= 1, 'some requests were admitted');
    assert.ok(results.every((r) => r.status === 200 || r.status === 429));
    const spent = ok.reduce((sum, r) => sum + Number(r.headers['x-shepherd-cost']), 0);
    const one = Math.max(...ok.map((r) => Number(r.headers['x-shepherd-cost'])));
    assert.ok(spent <= 0.02 + one, `spent ${spent} of 0.02 (one request ${one})`);
    const usage = (await request(`${shepherd.url}/v1/usage`, { headers: bearer(key.secret) })).json();
    assert.ok(Math.abs(usage.budget.spent_usd - spent) < 1e-6, `${usage.budget.spent_usd} vs ${spent}`);
  });

  test('PATCH changes limits; DELETE revokes within a second', async () => {
    const key = await create({ name: 'to revoke', models: ['deepseek-v3.2'] });
    assert.equal((await chat(key.secret)).status, 403);
    const patched = await admin('PATCH', `/admin/keys/${key.id}`, { models: [] });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json().models, []);
    assert.equal((await chat(key.secret)).status, 200);
    const revoked = await admin('DELETE', `/admin/keys/${key.id}`);
    assert.equal(revoked.status, 200);
    assert.equal(revoked.json().revoked, true);
    const started = Date.now();
    await pollUntil(async () => (await chat(key.secret)).status === 401, Boolean, { timeoutMs: 1000, what: 'revocation' });
    assert.ok(Date.now() - started <= 1000);
    const r = await chat(key.secret);
    assert.match(r.json().error.message, /revoked/);
  });

  test('admin routes refuse everyone but the master key; bad bodies are 400 naming the member', async () => {
    const key = await create({ name: 'not admin' });
    for (const auth of [{}, bearer(STATIC), bearer(key.secret)]) {
      const r = await request(`${shepherd.url}/admin/keys`, { headers: auth });
      assert.equal(r.status, 401, r.text);
    }
    for (const [body, member] of [
      [{}, 'name'],
      [{ name: 'x', rpm: -1 }, 'rpm'],
      [{ name: 'x', budget: { usd: 5, period: 'year' } }, 'budget.period'],
      [{ name: 'x', colour: 'blue' }, 'colour'],
      [{ name: 'x', expires_at: 'tomorrow' }, 'expires_at'],
    ]) {
      const r = await admin('POST', '/admin/keys', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json().error.param, member);
    }
    assert.equal((await admin('GET', '/admin/keys/key_0000000000000000')).status, 404);
    assert.equal((await admin('PUT', '/admin/keys')).status, 405);
  });

  test('an expired key is refused', async () => {
    const key = await create({ name: 'expired', expires_at: '2020-01-01T00:00:00Z' });
    const r = await chat(key.secret);
    assert.equal(r.status, 401);
    assert.match(r.json().error.message, /expired/);
  });

  test('the CLI creates, lists and revokes keys in the same store, seen by the running server', async () => {
    const env = { MASTER_KEY: MASTER, STATIC_KEY: STATIC, KEY_SECRET: SECRET };
    const made = await runCli(['keys', 'create', '--config', shepherd.configPath, '--name', 'from cli', '--rpm', '100', '--models', 'gpt-4.1'], { env });
    assert.equal(made.code, 0, made.stderr);
    const key = JSON.parse(made.stdout);
    assert.equal(key.rpm, 100);
    await pollUntil(async () => (await chat(key.secret)).status === 200, Boolean, { timeoutMs: 2000, what: 'the CLI key' });
    const list = await runCli(['keys', 'list', '--config', shepherd.configPath], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.ok(JSON.parse(list.stdout).data.some((k) => k.id === key.id && !('secret' in k)));
    const revoked = await runCli(['keys', 'revoke', key.id, '--config', shepherd.configPath], { env });
    assert.equal(revoked.code, 0, revoked.stderr);
    await pollUntil(async () => (await chat(key.secret)).status === 401, Boolean, { timeoutMs: 2000, what: 'CLI revocation' });
    const bad = await runCli(['keys', 'show', 'key_nope', '--config', shepherd.configPath], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no key 'key_nope'/);
  });
});
