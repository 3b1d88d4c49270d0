// Logs: one access line per request (log.access), as JSON lines or text (log.format), carrying
// the request id the client got back; spdlog's own lines as JSON too; secrets never printed; a
// client's model name cannot forge a line; /metrics and /stats behind a key (metrics_auth).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  openaiProvider,
  pollUntil,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const MASTER = 'master-key-for-log-tests-0001';
const SECRET = 'hmac-secret-for-log-tests-0123456789';
const UPSTREAM = 'sk-upstream-secret-for-log-tests';
const METRICS = 'metrics-token-for-log-tests';
const ENV = { MASTER_KEY: MASTER, KEY_SECRET: SECRET, UPSTREAM_KEY: UPSTREAM, METRICS_TOKEN: METRICS };
const PRICE = { input: 100, output: 100 };

async function start(mock, log, server = {}) {
  return startShepherd(
    {
      ...gatewayConfig({
        server: { master_key: 'env:MASTER_KEY', ...server },
        providers: { mock: openaiProvider(mock, { api_key: 'env:UPSTREAM_KEY' }) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock', price: PRICE }] } },
      }),
      keys: { secret: 'env:KEY_SECRET', refresh: '200ms' },
      log,
    },
    { env: ENV },
  );
}

const lineWith = (shepherd, id) =>
  pollUntil(() => shepherd.stderr.split('\n').find((l) => l.includes(id)), Boolean, { timeoutMs: 5000, what: `the access line of ${id}` });

describe('access log as JSON lines', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  let key;

  before(async () => {
    mock = await startMock();
    shepherd = await start(mock, { format: 'json' });
    const created = await request(`${shepherd.url}/admin/keys`, { method: 'POST', body: { name: 'logs' }, headers: bearer(MASTER) });
    assert.equal(created.status, 201, created.text);
    key = created.json();
  });
  after(cleanup);

  test('one JSON line per request, with the id, model, deployment, key, status, attempts, latency, tokens and cost', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), headers: bearer(key.secret) });
    assert.equal(r.status, 200, r.text);
    const id = r.headers['x-request-id'];
    const line = JSON.parse(await lineWith(shepherd, id));
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(line.level, 'info');
    assert.equal(line.msg, 'request');
    assert.equal(line.request_id, id);
    assert.equal(line.key_id, key.id);
    assert.equal(line.model, 'gpt-4.1');
    assert.equal(line.deployment, 'gpt-4.1@mock');
    assert.equal(line.provider, 'mock');
    assert.equal(line.status, 200);
    assert.equal(line.attempts, 1);
    assert.equal(line.streamed, false);
    assert.equal(line.dialect, 'openai-chat');
    assert.ok(line.latency_us > 0);
    const usage = r.json().usage;
    assert.equal(line.prompt_tokens, usage.prompt_tokens);
    assert.equal(line.completion_tokens, usage.completion_tokens);
    assert.equal(line.cost_usd, Number(r.headers['x-shepherd-cost']));
    assert.equal(line.request_body, undefined);
    assert.equal(shepherd.stderr.split('\n').filter((l) => l.includes(id)).length, 1, 'one line per request');
  });

  test("a client's well-formed X-Request-Id is adopted: echoed, logged and stored beside Shepherd's", async () => {
    const mine = 'trace-4bf92f3577b34da6_a3ce929d0e0e4736';
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('gpt-4.1'),
      headers: { ...bearer(key.secret), 'x-request-id': mine },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-request-id'], mine);
    const own = r.headers['x-shepherd-request-id'];
    assert.match(own, /^req_[0-9a-f]{28}$/);
    const line = JSON.parse(await lineWith(shepherd, own));
    assert.equal(line.request_id, own);
    assert.equal(line.client_request_id, mine);
    const found = await pollUntil(
      async () => (await request(`${shepherd.url}/admin/requests?client_request_id=${mine}`, { headers: bearer(MASTER) })).json().data,
      (d) => d.length === 1,
      { what: 'the audit record by the client id' },
    );
    assert.equal(found[0].request_id, own);
    assert.equal(found[0].client_request_id, mine);
    // Ids that are not well-formed are ignored: Shepherd's own comes back, alone.
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const b = await request(`${shepherd.url}/v1/models`, { headers: { ...bearer(key.secret), 'x-request-id': bad } });
      assert.match(b.headers['x-request-id'], /^req_/, bad);
      assert.equal(b.headers['x-shepherd-request-id'], undefined);
    }
  });

  test('refused requests get their line too, with the error class', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('no-such-model'), headers: bearer(key.secret) });
    assert.equal(r.status, 404);
    const line = JSON.parse(await lineWith(shepherd, r.headers['x-request-id']));
    assert.equal(line.status, 404);
    assert.equal(line.error_class, 'model_not_found');
  });

  test("spdlog's own lines are JSON objects as well, and no line holds a secret", async () => {
    const lines = shepherd.stderr.split('\n').filter(Boolean);
    assert.ok(lines.length >= 3);
    for (const l of lines) {
      const o = JSON.parse(l);
      assert.ok(o.time && o.level && o.msg, l);
    }
    assert.ok(lines.some((l) => JSON.parse(l).msg.startsWith('configuration:')));
    for (const secret of [MASTER, SECRET, UPSTREAM, key.secret]) {
      assert.ok(!shepherd.stderr.includes(secret), 'a secret reached the log');
    }
  });
});

describe('access log as text', { timeout: 60000 }, () => {
  let mock;
  let shepherd;

  before(async () => {
    mock = await startMock();
    shepherd = await start(mock, { format: 'text', level: 'warn' }, { api_keys: ['env:MASTER_KEY'] });
  });
  after(cleanup);

  test('key=value fields after the time, level and "request"', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1', { stream: true }), headers: bearer(MASTER) });
    assert.equal(r.status, 200);
    const id = r.headers['x-request-id'];
    const line = await lineWith(shepherd, id);
    assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z info request request_id=${id} key_id=static:0 model=gpt-4.1 deployment=gpt-4.1@mock provider=mock attempts=1 status=200 `));
    assert.match(line, / streamed=true /);
    // log.level warn: the info lines of the start are not written, the access lines are.
    assert.ok(!shepherd.stderr.includes('configuration:'), shepherd.stderr);
  });

  test("a model name cannot forge a line: it is quoted and escaped", async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      body: chatBody('evil\n2026-01-01T00:00:00.000Z info request request_id=forged'),
      headers: bearer(MASTER),
    });
    assert.equal(r.status, 404);
    const line = await lineWith(shepherd, r.headers['x-request-id']);
    assert.ok(line.includes('model="evil\\n2026-01-01T00:00:00.000Z info request request_id=forged"'), line);
    assert.ok(!shepherd.stderr.split('\n').some((l) => l.startsWith('2026-01-01T00:00:00.000Z')), 'no forged line');
  });
});

describe('log.access off, and /metrics behind a token', { timeout: 60000 }, () => {
  let mock;
  let shepherd;

  before(async () => {
    mock = await startMock();
    shepherd = await start(mock, { access: false }, { metrics_token: 'env:METRICS_TOKEN' });
  });
  after(cleanup);

  test('no access lines', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), headers: bearer(MASTER) });
    assert.equal(r.status, 401);  // no static keys: only virtual ones; the master key is not one
    const id = r.headers['x-request-id'];
    // The stats count it once the request is recorded: then an access line would be there.
    await pollUntil(async () => (await request(`${shepherd.url}/stats`, { headers: bearer(METRICS) })).json().totals.refused_before_routing, (n) => n >= 1, { what: 'the request to be recorded' });
    assert.ok(!shepherd.stderr.includes(id));
  });

  test('/metrics and /stats need the metrics token or the master key', async () => {
    for (const path of ['/metrics', '/stats']) {
      const none = await request(`${shepherd.url}${path}`);
      assert.equal(none.status, 401, path);
      assert.match(none.json().error.message, /metrics_token/);
      assert.equal((await request(`${shepherd.url}${path}`, { headers: bearer('wrong') })).status, 401);
      assert.equal((await request(`${shepherd.url}${path}`, { headers: bearer(METRICS) })).status, 200, path);
      assert.equal((await request(`${shepherd.url}${path}`, { headers: bearer(MASTER) })).status, 200, path);
    }
    assert.equal((await request(`${shepherd.url}/health`)).status, 200, '/health stays open');
    const metrics = await request(`${shepherd.url}/metrics`, { headers: bearer(METRICS) });
    assert.ok(!metrics.text.includes(METRICS), 'the token is not in its own output');
  });
});
