// The admin API (auth, deployments, drain/enable, config reload/rollback, SIGHUP), atomic reloads
// under load, drained state across reloads, and active health checks. Every describe starts its own
// Shepherd (and mocks) so that state changed by one group cannot leak into another.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  closedPort,
  contentChunks,
  fetchChat,
  gatewayConfig,
  openaiProvider,
  pollUntil,
  readSSE,
  request,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const KEY = 'sk-admin-client-key';
const MASTER = 'sk-admin-master-key-0123';
const UPSTREAM_SECRET = 'sk-upstream-SECRET-9f3a7c1e5d';
const ENV = { ADMIN_TEST_KEY: KEY, ADMIN_TEST_MASTER: MASTER, SOMEKEY: UPSTREAM_SECRET };
const SERVER = { api_keys: ['env:ADMIN_TEST_KEY'], master_key: 'env:ADMIN_TEST_MASTER' };
const M = bearer(MASTER);

after(cleanup);

// ---- helpers

const admin = (shepherd, method, path, headers = M) => request(`${shepherd.url}${path}`, { method, headers });
const chat = (shepherd, model, opts) =>
  request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody(model, opts), headers: bearer(KEY) });
const deployments = async (shepherd) => {
  const r = await admin(shepherd, 'GET', '/admin/deployments');
  assert.equal(r.status, 200, `/admin/deployments: ${r.status} ${r.text}`);
  return r.json().deployments;
};
const deployment = async (shepherd, id) => (await deployments(shepherd)).find((d) => d.id === id);
const enc = (id) => encodeURIComponent(id);
const drain = (shepherd, id) => admin(shepherd, 'POST', `/admin/deployments/${enc(id)}/drain`);
const enable = (shepherd, id) => admin(shepherd, 'POST', `/admin/deployments/${enc(id)}/enable`);
const reload = (shepherd) => admin(shepherd, 'POST', '/admin/config/reload');
const rollback = (shepherd) => admin(shepherd, 'POST', '/admin/config/rollback');
const configInfo = async (shepherd) => {
  const r = await admin(shepherd, 'GET', '/admin/config');
  assert.equal(r.status, 200, `/admin/config: ${r.status} ${r.text}`);
  return r.json();
};
const modelIds = async (shepherd) => {
  const r = await request(`${shepherd.url}/v1/models`, { headers: bearer(KEY) });
  assert.equal(r.status, 200, `/v1/models: ${r.status} ${r.text}`);
  return r.json().data.map((m) => m.id);
};
/** Rewrites the running Shepherd's config file (YAML accepts the JSON text). */
const rewrite = (shepherd, config) =>
  fs.writeFileSync(shepherd.configPath, typeof config === 'string' ? config : `${JSON.stringify(config, null, 2)}\n`);

/** Runs `count` tasks with at most `concurrency` at once; resolves the results in order. */
async function pool(count, concurrency, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

// ---------------------------------------------------------------------------------------------

describe('admin API: authentication, routes and methods', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  let noMaster;
  const ID = 'authm@p1';

  before(async () => {
    mock = await startMock();
    const providers = { p1: openaiProvider(mock) };
    const models = { authm: { deployments: [{ provider: 'p1' }] } };
    [shepherd, noMaster] = await Promise.all([
      startShepherd(gatewayConfig({ server: SERVER, providers, models }), { env: ENV }),
      startShepherd(gatewayConfig({ server: { api_keys: ['env:ADMIN_TEST_KEY'] }, providers, models }), { env: ENV }),
    ]);
  });

  const ROUTES = [
    ['GET', '/admin/deployments'],
    ['POST', `/admin/deployments/${enc(ID)}/drain`],
    ['POST', `/admin/deployments/${enc(ID)}/enable`],
    ['POST', '/admin/config/reload'],
    ['POST', '/admin/config/rollback'],
    ['GET', '/admin/config'],
  ];

  test('no Authorization → 401 on every admin route', async () => {
    for (const [method, path] of ROUTES) {
      const r = await admin(shepherd, method, path, {});
      assert.equal(r.status, 401, `${method} ${path}: ${r.text}`);
      assertErrorShape(r.json(), `${method} ${path}`);
    }
  });

  test('a client API key (not the master key) → 401 on every admin route', async () => {
    // The client key itself is valid for the API.
    assert.equal((await chat(shepherd, 'authm')).status, 200);
    for (const [method, path] of ROUTES) {
      const r = await admin(shepherd, method, path, bearer(KEY));
      assert.equal(r.status, 401, `${method} ${path}: ${r.text}`);
      assertErrorShape(r.json(), `${method} ${path}`);
    }
  });

  test('a wrong bearer token, or the master key without "Bearer", → 401', async () => {
    for (const headers of [bearer(`${MASTER}x`), bearer(MASTER.slice(0, -1)), { authorization: MASTER }, bearer('')]) {
      const r = await admin(shepherd, 'GET', '/admin/deployments', headers);
      assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.text}`);
    }
  });

  test('the master key → neither 401 nor 403 on every admin route', async () => {
    for (const [method, path] of ROUTES) {
      const r = await admin(shepherd, method, path);
      assert.ok(![401, 403].includes(r.status), `${method} ${path}: ${r.status} ${r.text}`);
      assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${r.text}`);
    }
    // The enable (last drain/enable call above) left the deployment serving.
    assert.equal((await chat(shepherd, 'authm')).status, 200);
  });

  test('no master_key configured → 403 on every admin route (with or without a key)', async () => {
    for (const [method, path] of ROUTES) {
      for (const headers of [{}, M, bearer(KEY)]) {
        const r = await admin(noMaster, method, path, headers);
        assert.equal(r.status, 403, `${method} ${path} ${JSON.stringify(headers)}: ${r.text}`);
        assertErrorShape(r.json(), `${method} ${path}`);
      }
    }
    // ... and the client API keeps working there.
    assert.equal((await chat(noMaster, 'authm')).status, 200);
  });

  test('unknown admin routes → 404 with the master key', async () => {
    for (const [method, path] of [
      ['GET', '/admin/x'],
      ['POST', '/admin/x'],
      ['GET', '/admin/'],
      ['GET', '/admin/config/x'],
      ['POST', `/admin/deployments/${enc(ID)}/restart`],
    ]) {
      const r = await admin(shepherd, method, path);
      assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
      assertErrorShape(r.json(), `${method} ${path}`);
    }
  });

  test('wrong methods → 405 with Allow', async () => {
    for (const [method, path, allow] of [
      ['POST', '/admin/deployments', 'GET'],
      ['DELETE', '/admin/deployments', 'GET'],
      ['GET', `/admin/deployments/${enc(ID)}/drain`, 'POST'],
      ['GET', `/admin/deployments/${enc(ID)}/enable`, 'POST'],
      ['GET', '/admin/config/reload', 'POST'],
      ['GET', '/admin/config/rollback', 'POST'],
      ['POST', '/admin/config', 'GET'],
      ['PUT', '/admin/config', 'GET'],
    ]) {
      const r = await admin(shepherd, method, path);
      assert.equal(r.status, 405, `${method} ${path}: ${r.text}`);
      assert.ok(r.headers.allow, `${method} ${path}: no Allow header`);
      assert.ok(r.headers.allow.split(/\s*,\s*/).includes(allow), `${method} ${path}: Allow ${r.headers.allow}`);
      assertErrorShape(r.json(), `${method} ${path}`);
    }
    // A 405 changed nothing: the deployment was not drained by the GET.
    assert.equal((await deployment(shepherd, ID)).state, 'available');
  });
});

// ---------------------------------------------------------------------------------------------

describe('GET /admin/deployments: fields, values, no secrets', { timeout: 60000 }, () => {
  let mockA;
  let mockB;
  let shepherd;

  before(async () => {
    [mockA, mockB] = await Promise.all([startMock(), startMock()]);
    shepherd = await startShepherd(
      gatewayConfig({
        server: SERVER,
        providers: {
          pa: openaiProvider(mockA, { api_key: 'env:SOMEKEY' }),
          pb: openaiProvider(mockB, { api_key: 'env:SOMEKEY' }),
        },
        models: {
          plain: { deployments: [{ provider: 'pa' }] },
          twice: { deployments: [{ provider: 'pa' }, { provider: 'pa' }] },
          full: {
            strategy: 'weighted',
            deployments: [
              {
                id: 'full-sg', provider: 'pb', model: 'upstream-full', weight: 2, region: 'sg',
                max_context: 8000, rpm: 600, tpm: 100000, price: { input: 1.5, output: 2.5 },
              },
            ],
          },
        },
      }),
      { env: ENV },
    );
  });

  test('ids, defaults and initial values', async () => {
    const list = await deployments(shepherd);
    assert.deepEqual(list.map((d) => d.id).sort(), ['full-sg', 'plain@pa', 'twice@pa-1', 'twice@pa-2']);
    for (const d of list) {
      assert.equal(d.state, 'available', `${d.id}.state`);
      assert.equal(d.breaker, 'closed', `${d.id}.breaker`);
      assert.equal(d.in_flight, 0, `${d.id}.in_flight`);
      assert.equal(d.requests, 0, `${d.id}.requests`);
      assert.equal(d.failures, 0, `${d.id}.failures`);
      assert.equal(d.auth_failures, 0, `${d.id}.auth_failures`);
      assert.equal(d.breaker_opened, 0, `${d.id}.breaker_opened`);
      assert.equal(typeof d.error_rate, 'number', `${d.id}.error_rate`);
      assert.equal(typeof d.health_check_ok, 'boolean', `${d.id}.health_check_ok`);
      assert.equal(typeof d.weight, 'number', `${d.id}.weight`);
      assert.equal(typeof d.price?.input, 'number', `${d.id}.price.input`);
      assert.equal(typeof d.price?.output, 'number', `${d.id}.price.output`);
      assert.equal(typeof d.latency_ms, 'object', `${d.id}.latency_ms`);
      for (const k of ['first_byte_mean', 'first_byte_p95', 'total_mean', 'total_p95']) assert.ok(k in d.latency_ms, `${d.id}.latency_ms.${k}`);
      assert.equal(d.retry_in_seconds, undefined, `${d.id}.retry_in_seconds`);
    }
    const plain = list.find((d) => d.id === 'plain@pa');
    assert.equal(plain.model, 'plain');
    assert.equal(plain.provider, 'pa');
    assert.equal(plain.upstream_model, 'plain');
    assert.equal(plain.weight, 1);
    assert.equal(plain.strategy, 'round-robin');
    assert.equal(plain.region, undefined);
    assert.equal(plain.max_context, undefined);
    assert.equal(plain.rpm, undefined);
    assert.equal(plain.tpm, undefined);
    const full = list.find((d) => d.id === 'full-sg');
    assert.equal(full.model, 'full');
    assert.equal(full.provider, 'pb');
    assert.equal(full.upstream_model, 'upstream-full');
    assert.equal(full.weight, 2);
    assert.equal(full.region, 'sg');
    assert.equal(full.max_context, 8000);
    assert.equal(full.rpm, 600);
    assert.equal(full.tpm, 100000);
    assert.deepEqual(full.price, { input: 1.5, output: 2.5 });
    assert.equal(full.strategy, 'weighted');
  });

  test('counters and latency after requests; the answer names the deployment', async () => {
    const r = await chat(shepherd, 'plain');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-shepherd-deployment'], 'plain@pa');
    assert.equal(r.headers['x-shepherd-attempts'], '1');
    const rf = await chat(shepherd, 'full');
    assert.equal(rf.status, 200, rf.text);
    assert.equal(rf.headers['x-shepherd-deployment'], 'full-sg');
    assert.equal(rf.json().model, 'full', 'the answer carries the client-facing model name');
    // round-robin over twice@pa-1 and twice@pa-2: 4 requests, 2 each
    const served = [];
    for (let i = 0; i < 4; i += 1) {
      const t = await chat(shepherd, 'twice');
      assert.equal(t.status, 200, t.text);
      served.push(t.headers['x-shepherd-deployment']);
    }
    assert.deepEqual(served.filter((s) => s === 'twice@pa-1').length, 2, `served: ${served}`);
    assert.deepEqual(served.filter((s) => s === 'twice@pa-2').length, 2, `served: ${served}`);

    const list = await pollUntil(() => deployments(shepherd), (l) => l.find((d) => d.id === 'plain@pa')?.requests === 1, {
      what: 'plain@pa requests = 1',
    });
    const byId = Object.fromEntries(list.map((d) => [d.id, d]));
    assert.equal(byId['full-sg'].requests, 1);
    assert.equal(byId['twice@pa-1'].requests, 2);
    assert.equal(byId['twice@pa-2'].requests, 2);
    for (const id of ['plain@pa', 'full-sg', 'twice@pa-1', 'twice@pa-2']) {
      const d = byId[id];
      assert.equal(d.failures, 0, `${id}.failures`);
      assert.equal(d.in_flight, 0, `${id}.in_flight`);
      for (const k of ['first_byte_mean', 'first_byte_p95', 'total_mean', 'total_p95']) {
        assert.equal(typeof d.latency_ms[k], 'number', `${id}.latency_ms.${k}: ${JSON.stringify(d.latency_ms)}`);
        assert.ok(d.latency_ms[k] >= 0 && d.latency_ms[k] < 10000, `${id}.latency_ms.${k} = ${d.latency_ms[k]}`);
      }
    }
    // the upstream really received the provider key (so the leak checks below mean something)
    const last = await mockA.lastRequest();
    assert.equal(last.headers.authorization, `Bearer ${UPSTREAM_SECRET}`);
  });

  test('no provider key or base_url in /admin/deployments, /admin/config, /metrics, /stats or the logs', async () => {
    // an error too, so that error paths get logged
    const bad = await chat(shepherd, 'no-such-model');
    assert.equal(bad.status, 404);
    const texts = {
      '/admin/deployments': (await admin(shepherd, 'GET', '/admin/deployments')).text,
      '/admin/config': (await admin(shepherd, 'GET', '/admin/config')).text,
      '/metrics': (await request(`${shepherd.url}/metrics`)).text,
      '/stats': (await request(`${shepherd.url}/stats`)).text,
    };
    texts.stdout = shepherd.proc.stdout;
    texts.stderr = shepherd.stderr;
    assert.match(texts['/metrics'], /shepherd_deployment_available/);
    for (const [where, text] of Object.entries(texts)) {
      assert.ok(!text.includes(UPSTREAM_SECRET), `the provider key appears in ${where}`);
      assert.ok(!text.includes(UPSTREAM_SECRET.slice(3, 20)), `part of the provider key appears in ${where}`);
    }
    for (const where of ['/admin/deployments', '/admin/config']) {
      for (const m of [mockA, mockB]) {
        assert.ok(!texts[where].includes(m.url), `a provider base_url appears in ${where}`);
        assert.ok(!texts[where].includes(`:${m.port}`), `a provider port appears in ${where}`);
      }
      assert.ok(!/base_url|api_key/.test(texts[where]), `${where} names base_url/api_key`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('drain and enable', { timeout: 60000 }, () => {
  let mockA;
  let mockB;
  let shepherd;
  const A = 'duo@pa';
  const B = 'duo@pb';

  before(async () => {
    [mockA, mockB] = await Promise.all([startMock(), startMock()]);
    shepherd = await startShepherd(
      gatewayConfig({
        server: SERVER,
        providers: { pa: openaiProvider(mockA), pb: openaiProvider(mockB) },
        models: { duo: { deployments: [{ provider: 'pa' }, { provider: 'pb' }] } },
      }),
      { env: ENV },
    );
  });

  const serveN = async (n) => {
    const served = [];
    for (let i = 0; i < n; i += 1) {
      const r = await chat(shepherd, 'duo');
      assert.equal(r.status, 200, r.text);
      served.push(r.headers['x-shepherd-deployment']);
    }
    return served;
  };

  test('both serve before any drain', async () => {
    const served = await serveN(6);
    assert.ok(served.includes(A) && served.includes(B), `served: ${served}`);
  });

  test('drain one (percent-encoded id) → all traffic to the other; its mock gets nothing', async () => {
    const r = await admin(shepherd, 'POST', `/admin/deployments/duo%40pa/drain`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { id: A, state: 'drained' });
    assert.equal((await deployment(shepherd, A)).state, 'drained');
    assert.equal((await deployment(shepherd, B)).state, 'available');
    await Promise.all([mockA.reset(), mockB.reset()]);
    const served = await serveN(10);
    assert.deepEqual([...new Set(served)], [B], `served: ${served}`);
    assert.equal((await mockA.stats()).chat_requests, 0);
    assert.equal((await mockB.stats()).chat_requests, 10);
    // one deployment left: still ready
    const ready = await request(`${shepherd.url}/health/ready`);
    assert.equal(ready.status, 200, ready.text);
    const metrics = (await request(`${shepherd.url}/metrics`)).text;
    assert.match(metrics, /shepherd_deployment_available\{deployment="duo@pa",model="duo",provider="pa"\} 0\b/);
    assert.match(metrics, /shepherd_deployment_available\{deployment="duo@pb",model="duo",provider="pb"\} 1\b/);
  });

  test('enable (unencoded id) → traffic returns', async () => {
    const r = await enable(shepherd, A);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { id: A, state: 'available' });
    await Promise.all([mockA.reset(), mockB.reset()]);
    const served = await serveN(10);
    assert.ok(served.includes(A) && served.includes(B), `served: ${served}`);
    assert.ok((await mockA.stats()).chat_requests >= 3, 'the enabled mock gets requests again');
  });

  test('drain both → 503 unavailable; /health/ready degraded; enable → serving again', async () => {
    for (const id of [A, B]) {
      const r = await drain(shepherd, id);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json().state, 'drained');
    }
    await Promise.all([mockA.reset(), mockB.reset()]);
    const r = await chat(shepherd, 'duo');
    assert.equal(r.status, 503, r.text);
    assert.equal(assertErrorShape(r.json(), 'all drained').code, 'unavailable');
    assert.equal(r.headers['x-shepherd-deployment'], undefined);
    const stream = await fetchChat(shepherd.url, chatBody('duo', { stream: true }), { key: KEY });
    assert.equal(stream.status, 503);
    assert.equal(assertErrorShape(await stream.json(), 'stream all drained').code, 'unavailable');
    assert.equal((await mockA.stats()).chat_requests + (await mockB.stats()).chat_requests, 0);
    const ready = await request(`${shepherd.url}/health/ready`);
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json().status, 'degraded');
    assert.ok(ready.json().unavailable_models.includes('duo'), ready.text);
    // draining twice is harmless
    assert.equal((await drain(shepherd, A)).status, 200);
    for (const id of [A, B]) assert.equal((await enable(shepherd, id)).status, 200);
    assert.equal((await request(`${shepherd.url}/health/ready`)).status, 200);
    assert.equal((await chat(shepherd, 'duo')).status, 200);
  });

  test('unknown id → 404 (drain and enable)', async () => {
    for (const path of ['/admin/deployments/nope/drain', '/admin/deployments/nope/enable', '/admin/deployments/duo%40pc/drain', '/admin/deployments/duo/drain']) {
      const r = await admin(shepherd, 'POST', path);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      assertErrorShape(r.json(), path);
    }
    assert.equal((await deployment(shepherd, A)).state, 'available');
  });
});

// ---------------------------------------------------------------------------------------------

describe('config reload and rollback', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  let v1;
  let v2;

  before(async () => {
    mock = await startMock();
    v1 = gatewayConfig({
      server: SERVER,
      providers: { p1: openaiProvider(mock) },
      models: { base: { deployments: [{ provider: 'p1' }] } },
    });
    v2 = { ...v1, models: { ...v1.models, added: { deployments: [{ provider: 'p1' }] } } };
    shepherd = await startShepherd(v1, { env: ENV });
  });

  test('version 1 at start; the added model does not exist yet', async () => {
    const info = await configInfo(shepherd);
    assert.equal(info.version, 1);
    assert.equal(info.versions.length, 1);
    assert.equal(info.versions[0].version, 1);
    assert.equal(info.versions[0].current, true);
    const r = await chat(shepherd, 'added');
    assert.equal(r.status, 404, r.text);
    assert.equal(assertErrorShape(r.json(), 'added before reload').code, 'model_not_found');
  });

  test('rewrite the file, POST reload → 200 version 2; the new model works', async () => {
    rewrite(shepherd, v2);
    const r = await reload(shepherd);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().version, 2);
    assert.equal(r.json().status, 'applied');
    const c = await chat(shepherd, 'added');
    assert.equal(c.status, 200, c.text);
    assert.equal(c.headers['x-shepherd-deployment'], 'added@p1');
    assert.equal((await chat(shepherd, 'base')).status, 200);
    assert.deepEqual((await modelIds(shepherd)).sort(), ['added', 'base']);
    assert.ok((await deployments(shepherd)).some((d) => d.id === 'added@p1'));
  });

  test('GET /admin/config lists versions 1 and 2, 2 current', async () => {
    const info = await configInfo(shepherd);
    assert.equal(info.version, 2);
    assert.deepEqual(info.versions.map((v) => v.version), [1, 2]);
    assert.deepEqual(info.versions.map((v) => v.current), [false, true]);
    for (const v of info.versions) {
      assert.equal(typeof v.source, 'string', 'source');
      assert.ok(v.source.length > 0, 'source');
      assert.ok(v.applied_at !== undefined && v.applied_at !== null, 'applied_at');
    }
  });

  for (const [what, text, re] of [
    ['an unknown key', () => ({ ...v2, models: { ...v2.models, third: { deployments: [{ provider: 'p1', bogus_field: 1 }] } } }), /bogus_field/],
    ['an unknown top-level key', () => ({ ...v2, frobnicate: true }), /frobnicate/],
    ['YAML garbage', () => 'models: [unclosed\n  : : {\n', /yaml|line \d/i],
    ['an unknown provider', () => ({ ...v2, models: { ...v2.models, third: { deployments: [{ provider: 'ghost' }] } } }), /ghost/],
  ]) {
    test(`invalid file (${what}) → 400 naming the problem; the old config keeps serving`, async () => {
      rewrite(shepherd, text());
      const r = await reload(shepherd);
      assert.equal(r.status, 400, r.text);
      assert.match(assertErrorShape(r.json(), what).message, re);
      const info = await configInfo(shepherd);
      assert.equal(info.version, 2, 'version unchanged');
      assert.equal(info.versions.length, 2, 'no version recorded');
      assert.equal((await chat(shepherd, 'added')).status, 200);
      assert.equal((await chat(shepherd, 'base')).status, 200);
      assert.equal((await chat(shepherd, 'third')).status, 404);
    });
  }

  test('rollback → the previous config (added → 404 again), as version 3', async () => {
    const r = await rollback(shepherd);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().version, 3);
    const c = await chat(shepherd, 'added');
    assert.equal(c.status, 404, c.text);
    assert.equal(assertErrorShape(c.json(), 'added after rollback').code, 'model_not_found');
    assert.equal((await chat(shepherd, 'base')).status, 200);
    assert.deepEqual(await modelIds(shepherd), ['base']);
    const info = await configInfo(shepherd);
    assert.equal(info.version, 3);
    assert.deepEqual(info.versions.filter((v) => v.current).map((v) => v.version), [3]);
  });

  test('rollback again → 409 (nothing before version 1); nothing changes', async () => {
    const r = await rollback(shepherd);
    assert.equal(r.status, 409, r.text);
    assertErrorShape(r.json(), 'rollback 409');
    assert.equal((await configInfo(shepherd)).version, 3);
    assert.equal((await chat(shepherd, 'base')).status, 200);
  });

  test('a valid file again → reload applies it as the next version', async () => {
    rewrite(shepherd, v2);
    const r = await reload(shepherd);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().version, 4);
    assert.equal((await chat(shepherd, 'added')).status, 200);
  });

  test('the history keeps the last 64 versions; a rollback still steps back', async () => {
    for (let i = 0; i < 70; i++) {
      rewrite(shepherd, i % 2 ? v2 : v1);
      assert.equal((await reload(shepherd)).status, 200);
    }
    const info = (await admin(shepherd, 'GET', '/admin/config')).json();
    assert.equal(info.versions.length, 64);
    assert.equal(info.versions.at(-1).version, 74);
    assert.equal(info.versions[0].version, 11);
    assert.equal(info.versions.filter((v) => v.current).length, 1);
    // Version 74 is v2 (i = 69); rolling back applies v1 again.
    const back = await rollback(shepherd);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json().version, 75);
    assert.equal(assertErrorShape((await chat(shepherd, 'added')).json(), 'after rollback').code, 'model_not_found');
  });
});

// ---------------------------------------------------------------------------------------------

describe('SIGHUP reloads the config file', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  let v1;

  before(async () => {
    mock = await startMock();
    v1 = gatewayConfig({
      server: SERVER,
      providers: { p1: openaiProvider(mock) },
      models: { base: { deployments: [{ provider: 'p1' }] } },
    });
    shepherd = await startShepherd(v1, { env: ENV });
  });

  test('rewrite + SIGHUP → the new model appears in /v1/models and serves', async () => {
    assert.deepEqual(await modelIds(shepherd), ['base']);
    rewrite(shepherd, { ...v1, models: { ...v1.models, hup: { deployments: [{ provider: 'p1' }] } } });
    assert.ok(shepherd.child.kill('SIGHUP'), 'SIGHUP sent');
    await pollUntil(() => modelIds(shepherd), (ids) => ids.includes('hup'), { timeoutMs: 5000, what: "'hup' in /v1/models" });
    const r = await chat(shepherd, 'hup');
    assert.equal(r.status, 200, r.text);
    assert.ok(shepherd.alive, 'shepherd survives SIGHUP');
    assert.equal((await configInfo(shepherd)).version, 2);
  });

  test('SIGHUP with an invalid file keeps the running config (and the process)', async () => {
    rewrite(shepherd, 'server: {listen: [oops\n');
    assert.ok(shepherd.child.kill('SIGHUP'));
    await pollUntil(() => shepherd.stderr, (s) => /reload refused/i.test(s), { timeoutMs: 5000, what: 'the refused reload to be logged' });
    assert.ok(shepherd.alive, 'shepherd survives an invalid SIGHUP reload');
    assert.equal((await configInfo(shepherd)).version, 2);
    assert.equal((await chat(shepherd, 'hup')).status, 200);
  });
});

// ---------------------------------------------------------------------------------------------

describe('atomic reload under load', { timeout: 90000 }, () => {
  let slowMock;
  let mock1;
  let mock2;
  let shepherd;
  let withSlow;
  let withoutSlow;
  let cfgX;
  let cfgY;

  before(async () => {
    [slowMock, mock1, mock2] = await Promise.all([
      startMock({ chunkDelayMs: 100, chunks: 10 }),
      startMock({ firstTokenDelayMs: 3 }),
      startMock({ firstTokenDelayMs: 3 }),
    ]);
    const providers = { slow: openaiProvider(slowMock), m1: openaiProvider(mock1), m2: openaiProvider(mock2) };
    withSlow = gatewayConfig({
      server: SERVER,
      providers,
      models: { slowA: { deployments: [{ provider: 'slow' }] }, steady: { deployments: [{ provider: 'm1' }] } },
    });
    withoutSlow = { ...withSlow, models: { steady: withSlow.models.steady } };
    // X and Y both serve `steady`, from different deployments and strategies.
    cfgX = { ...withSlow, models: { steady: { deployments: [{ provider: 'm1' }] } } };
    cfgY = { ...withSlow, models: { steady: { strategy: 'least-busy', deployments: [{ provider: 'm1' }, { provider: 'm2', id: 'steady-y2' }] } } };
    shepherd = await startShepherd(withSlow, { env: ENV });
  });

  test('a stream started before a reload that removes its model completes with [DONE]', async () => {
    const started = Date.now();
    const res = await fetchChat(shepherd.url, chatBody('slowA', { stream: true }), { key: KEY });
    assert.equal(res.status, 200);
    const reading = withTimeout(readSSE(res), 15000, 'the end of the slow stream');
    // The stream is in flight (headers came; 10 chunks take ≥ 900 ms).
    await pollUntil(() => slowMock.stats(), (s) => s.streams_started >= 1, { what: 'the slow stream to start upstream' });
    rewrite(shepherd, withoutSlow);
    const r = await reload(shepherd);
    const reloadedAt = Date.now();
    assert.equal(r.status, 200, r.text);
    // New requests for the removed model → 404 while the old stream is still running.
    const fresh = await chat(shepherd, 'slowA');
    assert.equal(fresh.status, 404, fresh.text);
    assert.equal(assertErrorShape(fresh.json(), 'removed model').code, 'model_not_found');
    assert.equal((await slowMock.stats()).streams_completed, 0, 'the stream was still in flight during the reload');
    const sse = await reading;
    const ended = Date.now();
    assert.equal(sse.error, null, `stream broke: ${sse.error}`);
    assert.equal(sse.errors.length, 0, `error events: ${JSON.stringify(sse.errors)}`);
    assert.ok(sse.done, `no [DONE]; raw tail: ${sse.raw.slice(-300)}`);
    assert.equal(contentChunks(sse).length, 10);
    assert.ok(reloadedAt < ended, 'the reload finished before the stream');
    assert.ok(ended - started >= 800, `the stream took ${ended - started} ms`);
    assert.equal((await slowMock.stats()).streams_completed, 1);
    assert.equal((await chat(shepherd, 'steady')).status, 200);
  });

  test('200 requests at concurrency 16 during 5 reloads between two valid configs: all 200', async () => {
    rewrite(shepherd, cfgX);
    assert.equal((await reload(shepherd)).status, 200);
    const versionBefore = (await configInfo(shepherd)).version;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const N = 200;
    let done = 0;
    const statuses = [];
    const servedBy = new Set();
    const deadline = Date.now() + 60000;
    const load = pool(N, 16, async (i) => {
      if (Date.now() > deadline) return { status: 'skipped (deadline)' };
      const r = await request(`${shepherd.url}/v1/chat/completions`, {
        method: 'POST', body: chatBody('steady', { content: `request ${i}` }), headers: bearer(KEY), agent,
      }).catch((e) => ({ status: `transport error: ${e.message}` }));
      done += 1;
      statuses[i] = r.status;
      if (r.status === 200) servedBy.add(r.headers['x-shepherd-deployment']);
      else statuses[i] = `${r.status} ${r.text ?? ''}`;
      return r.status;
    });
    const versions = [];
    const reloads = (async () => {
      for (let k = 1; k <= 5; k += 1) {
        // reload k once k×25 requests have finished, so every reload is sent while requests run
        // (and has 75 requests' time or more to take effect before the load ends)
        await pollUntil(() => done, (d) => d >= k * 25, { timeoutMs: 30000, intervalMs: 2, what: `${k * 25} requests done` });
        rewrite(shepherd, k % 2 === 1 ? cfgY : cfgX);
        const sentAt = done;
        const r = await reload(shepherd);
        assert.equal(r.status, 200, `reload ${k}: ${r.text}`);
        versions.push([r.json().version, sentAt]);
      }
    })();
    try {
      await Promise.all([load, reloads]);
    } finally {
      agent.destroy();
    }
    const bad = statuses.map((s, i) => [i, s]).filter(([, s]) => s !== 200);
    console.log(`reload under load: ${N} requests, reloads sent at (version, requests done) ${JSON.stringify(versions)}, served by ${[...servedBy]}`);
    assert.equal(statuses.length, N);
    assert.deepEqual(bad, [], `non-200 answers during reloads: ${JSON.stringify(bad.slice(0, 20))}`);
    assert.deepEqual(versions.map(([v]) => v), [1, 2, 3, 4, 5].map((k) => versionBefore + k));
    assert.ok(versions.every(([, d]) => d < N), `every reload was sent while requests were running: ${JSON.stringify(versions)}`);
    assert.ok(servedBy.has('steady-y2'), `config Y's deployment served some: ${[...servedBy]}`);
    assert.equal((await configInfo(shepherd)).version, versionBefore + 5);
  });
});

// ---------------------------------------------------------------------------------------------

describe('drained state survives a reload that keeps the deployment id', { timeout: 60000 }, () => {
  let mockA;
  let mockB;
  let shepherd;
  let v1;

  before(async () => {
    [mockA, mockB] = await Promise.all([startMock(), startMock()]);
    v1 = gatewayConfig({
      server: SERVER,
      providers: { pa: openaiProvider(mockA), pb: openaiProvider(mockB) },
      models: { keep: { deployments: [{ provider: 'pa' }, { provider: 'pb' }] } },
    });
    shepherd = await startShepherd(v1, { env: ENV });
  });

  test('drain keep@pa, reload with an added model → keep@pa still drained and gets nothing', async () => {
    assert.equal((await drain(shepherd, 'keep@pa')).status, 200);
    rewrite(shepherd, { ...v1, models: { ...v1.models, other: { deployments: [{ provider: 'pb' }] } } });
    const r = await reload(shepherd);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().version, 2);
    const list = await deployments(shepherd);
    assert.equal(list.find((d) => d.id === 'keep@pa').state, 'drained');
    assert.equal(list.find((d) => d.id === 'keep@pb').state, 'available');
    assert.equal(list.find((d) => d.id === 'other@pb').state, 'available');
    await mockA.reset();
    for (let i = 0; i < 6; i += 1) {
      const c = await chat(shepherd, 'keep');
      assert.equal(c.status, 200, c.text);
      assert.equal(c.headers['x-shepherd-deployment'], 'keep@pb');
    }
    assert.equal((await mockA.stats()).chat_requests, 0);
  });

  test('after a rollback too; enable then works', async () => {
    const r = await rollback(shepherd);
    assert.equal(r.status, 200, r.text);
    assert.equal((await deployment(shepherd, 'keep@pa')).state, 'drained');
    assert.equal((await enable(shepherd, 'keep@pa')).status, 200);
    await mockA.reset();
    for (let i = 0; i < 6; i += 1) assert.equal((await chat(shepherd, 'keep')).status, 200);
    assert.ok((await mockA.stats()).chat_requests >= 1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('active health checks', { timeout: 60000 }, () => {
  let hcMock;
  let shepherd;
  let connectShepherd;

  before(async () => {
    hcMock = await startMock();
    const dead = await closedPort();
    [shepherd, connectShepherd] = await Promise.all([
      // server.readiness all_models: 503 once a model has no available deployment.
      startShepherd(
        gatewayConfig({
          server: { ...SERVER, readiness: 'all_models' },
          providers: { hc: openaiProvider(hcMock, { api_key: 'env:SOMEKEY', health_check: { kind: 'models', interval: '200ms', timeout: '1s' } }) },
          models: { hcm: { deployments: [{ provider: 'hc' }] } },
        }),
        { env: ENV },
      ),
      startShepherd(
        gatewayConfig({
          server: { ...SERVER, readiness: 'all_models' },
          providers: {
            down: openaiProvider(`http://127.0.0.1:${dead}/v1`, { health_check: { kind: 'connect', interval: '200ms', timeout: '1s' } }),
          },
          models: { conm: { deployments: [{ provider: 'down' }] } },
        }),
        { env: ENV },
      ),
    ]);
  });

  test('kind models: the mock sees GET /models every interval; the deployment stays available', async () => {
    const s = await pollUntil(() => hcMock.stats(), (st) => st.models_requests >= 2, { timeoutMs: 5000, what: 'models_requests >= 2' });
    assert.equal(s.chat_requests, 0);
    const d = await deployment(shepherd, 'hcm@hc');
    assert.equal(d.state, 'available');
    assert.equal(d.health_check_ok, true);
    assert.equal((await request(`${shepherd.url}/health/ready`)).status, 200);
  });

  test('the checked mock stops → unhealthy and /health/ready 503 without any chat request', async () => {
    await hcMock.stop();
    const d = await pollUntil(() => deployment(shepherd, 'hcm@hc'), (x) => x?.state === 'unhealthy', {
      timeoutMs: 5000, what: 'hcm@hc unhealthy',
    });
    assert.equal(d.health_check_ok, false);
    assert.equal(d.requests, 0);
    const ready = await pollUntil(() => request(`${shepherd.url}/health/ready`), (r) => r.status === 503, { timeoutMs: 3000, what: '/health/ready 503' });
    assert.match(ready.json().reason, /hcm/);
    const r = await chat(shepherd, 'hcm');
    assert.equal(r.status, 503, r.text);
    assert.equal(assertErrorShape(r.json(), 'unhealthy').code, 'unavailable');
    assert.ok(!shepherd.stderr.includes(UPSTREAM_SECRET), 'the key is not logged by failing health checks');
  });

  test('kind connect to a closed port → unhealthy without any chat request', async () => {
    const d = await pollUntil(() => deployment(connectShepherd, 'conm@down'), (x) => x?.state === 'unhealthy', {
      timeoutMs: 5000, what: 'conm@down unhealthy',
    });
    assert.equal(d.health_check_ok, false);
    assert.equal(d.requests, 0);
    assert.equal((await request(`${connectShepherd.url}/health/ready`)).status, 503);
  });
});
