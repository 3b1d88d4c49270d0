// Routing and resilience: failover, retries, Retry-After, revoked keys, cool-down, fallbacks,
// context windows, hedging, rate limits, upstream x-ratelimit headers, strategies, deadlines,
// the commit point and readiness.
//
// Client headers are not forwarded upstream, so every fault has its own mock process (--fault)
// behind its own provider. Most scenarios share one Shepherd ("main"); the ones that need other
// `routing` settings (max_attempts, cool-down, queue, deadline) or a clean round-robin cursor or
// an all-healthy model set (hedging, readiness) get a small Shepherd of their own. Deployments
// that must be tried first use `strategy: cheapest` with the lower price, which is deterministic.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  closedPort,
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
  withTimeout,
} from '../support/harness.mjs';

const KEY = 'sk-routing-test';
const MASTER = 'mk-routing-master-test';
const ENV = { SHEPHERD_API_KEY: KEY, SHEPHERD_MASTER_KEY: MASTER };

// The HTTP-date a mock sends as Retry-After: fixed when the mock starts, so the expected
// delta-seconds are computed at request time from it.
const DATE_AHEAD_MS = 40000;

const cheap = { input: 1, output: 1 };
const dear = { input: 2, output: 2 };

async function gateway({ routing, providers, models }) {
  const config = gatewayConfig({
    server: { api_keys: ['env:SHEPHERD_API_KEY'], master_key: 'env:SHEPHERD_MASTER_KEY' },
    providers,
    models,
  });
  if (routing) config.routing = routing;
  return startShepherd(config, { env: ENV });
}

const post = (gw, model, opts = {}) =>
  request(`${gw.url}/v1/chat/completions`, { method: 'POST', body: chatBody(model, opts), headers: bearer(KEY) });

async function timed(promise) {
  const started = performance.now();
  const r = await promise;
  return { r, ms: performance.now() - started };
}

async function stream(gw, model, opts = {}) {
  const res = await fetchChat(gw.url, chatBody(model, { stream: true, ...opts }), { key: KEY });
  if (res.status !== 200) return { res, sse: null, text: await res.text() };
  return { res, sse: await withTimeout(readSSE(res), 10000, `the end of the ${model} stream`), text: null };
}

const admin = (gw, path, method = 'GET') => request(`${gw.url}${path}`, { method, headers: bearer(MASTER) });

async function deployment(gw, id) {
  const r = await admin(gw, '/admin/deployments');
  assert.equal(r.status, 200, `/admin/deployments: ${r.status} ${r.text}`);
  const d = r.json().deployments.find((x) => x.id === id);
  assert.ok(d, `deployment ${id} listed in /admin/deployments: ${r.text}`);
  return d;
}

async function metrics(gw) {
  const r = await request(`${gw.url}/metrics`);
  assert.equal(r.status, 200);
  return parseMetrics(r.text);
}

/** Polls /metrics until `name{labels}` satisfies `predicate`; returns the value. */
async function metricUntil(gw, name, labels, predicate, what) {
  const samples = await pollUntil(() => metrics(gw), (s) => predicate(metricValue(s, name, labels)), {
    timeoutMs: 3000,
    what: what ?? `${name}${JSON.stringify(labels)}`,
  });
  return metricValue(samples, name, labels);
}

const chats = async (mock) => (await mock.stats()).chat_requests;

/** The routing headers of an answer: served deployment, attempts, fallback model, hedged. */
function routing(r) {
  const h = r.headers instanceof Headers ? Object.fromEntries(r.headers) : r.headers;
  return {
    deployment: h['x-shepherd-deployment'],
    attempts: h['x-shepherd-attempts'] === undefined ? undefined : Number(h['x-shepherd-attempts']),
    model: h['x-shepherd-model'],
    hedged: h['x-shepherd-hedged'],
    all: h,
  };
}

/** No header may name a provider URL (the mocks all listen on 127.0.0.1:<port>). */
function assertNoProviderLeak(r, mocks) {
  const h = routing(r).all;
  for (const [name, value] of Object.entries(h)) {
    for (const m of mocks) {
      assert.ok(!String(value).includes(`:${m.port}`), `header ${name}: ${value} names a provider URL`);
    }
  }
}

function assertServed(r, { deployment: id, attempts, model }) {
  const h = routing(r);
  assert.equal(r.status, 200, `status ${r.status}: ${r.text}`);
  if (id !== undefined) assert.equal(h.deployment, id, `X-Shepherd-Deployment (${JSON.stringify(h.all)})`);
  if (attempts !== undefined) assert.equal(h.attempts, attempts, `X-Shepherd-Attempts (${JSON.stringify(h.all)})`);
  assert.equal(h.model, model, `X-Shepherd-Model (${JSON.stringify(h.all)})`);
  if (r.text !== undefined && r.text !== null) {
    const body = r.json();
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0].message.content, mockContent(8));
  }
}

describe('routing and resilience', { timeout: 120000 }, () => {
  const m = {}; // mocks by name
  const gw = {}; // shepherds by name
  let deadPort;
  let httpDate; // the Retry-After HTTP-date of the `date429` mock
  let httpDateMs;

  before(async () => {
    httpDateMs = Math.floor((Date.now() + DATE_AHEAD_MS) / 1000) * 1000;
    httpDate = new Date(httpDateMs).toUTCString();
    const specs = {
      ok: {},
      ok2: {},
      s500: { fault: 'status=500' },
      s400: { fault: 'status=400' },
      ra1: { fault: 'status=429,retry-after=1,fail-first=1' },
      ra60: { fault: 'status=429,retry-after=60' },
      raDate: { fault: `status=429,retry-after=${httpDate}` },
      raNone: { fault: 'status=429,fail-first=1' },
      raGarbage: { fault: 'status=429,retry-after=soon,fail-first=1' },
      ra1always: { fault: 'status=429,retry-after=1' },
      s401: { fault: 'status=401' },
      small: {},
      big: {},
      short: { maxContext: 20 }, // answers 400 context_length_exceeded above 20 prompt words
      xrl: { fault: 'ratelimit=0/3s' },
      stall: { fault: 'stall-after=2' },
      reset: { fault: 'reset' },
      slow200: { firstTokenDelayMs: 200 },
      slow1000: { firstTokenDelayMs: 1000 },
      // other Shepherds
      cdFail: { fault: 'status=500' },
      cdOk: {},
      rpm2: {},
      rpm1: {},
      slow5s: { firstTokenDelayMs: 5000 },
      hedgeSlow: { firstTokenDelayMs: 2000 },
      hedgeSlowHeaders: { fault: 'slow-headers=2000' },
      hedgeFast: {},
      ready: {},
    };
    const names = Object.keys(specs);
    const started = await Promise.all(names.map((n) => startMock(specs[n])));
    names.forEach((n, i) => {
      m[n] = started[i];
    });
    deadPort = await closedPort();
    const p = (name, extra) => openaiProvider(m[name], extra);

    const mainProviders = {
      dead: openaiProvider(`http://127.0.0.1:${deadPort}/v1`, { timeouts: { connect: '2s' } }),
      ok: p('ok'),
      s500: p('s500'),
      s400: p('s400'),
      ra1: p('ra1'),
      ra60: p('ra60'),
      raDate: p('raDate'),
      raNone: p('raNone'),
      raGarbage: p('raGarbage'),
      ra1always: p('ra1always'),
      s401: p('s401'),
      small: p('small'),
      big: p('big'),
      short: p('short'),
      xrl: p('xrl'),
      stall: p('stall', { timeouts: { idle: '500ms' } }),
      reset: p('reset'),
      slow200: p('slow200'),
      slow1000: p('slow1000'),
    };
    const mainModels = {
      failover: { deployments: [{ id: 'fo-dead', provider: 'dead' }, { id: 'fo-ok', provider: 'ok' }] },
      err5xx: {
        strategy: 'cheapest',
        deployments: [
          { id: 'e5-bad', provider: 's500', price: cheap },
          { id: 'e5-ok', provider: 'ok', price: dear },
        ],
      },
      always500: { deployments: [{ id: 'a500', provider: 's500' }] },
      bad400: {
        strategy: 'cheapest',
        deployments: [
          { id: 'b4-bad', provider: 's400', price: cheap },
          { id: 'b4-ok', provider: 'ok', price: dear },
        ],
      },
      wait429: { deployments: [{ id: 'w429', provider: 'ra1' }] },
      long429: { deployments: [{ id: 'l429', provider: 'ra60' }] },
      date429: { deployments: [{ id: 'd429', provider: 'raDate' }] },
      none429: { deployments: [{ id: 'n429', provider: 'raNone' }] },
      garbage429: { deployments: [{ id: 'g429', provider: 'raGarbage' }] },
      other429: {
        strategy: 'cheapest',
        deployments: [
          { id: 'o429-a', provider: 'ra1always', price: cheap },
          { id: 'o429-b', provider: 'ok', price: dear },
        ],
      },
      revoked: {
        strategy: 'cheapest',
        deployments: [
          { id: 'rv-a', provider: 's401', price: cheap },
          { id: 'rv-b', provider: 'ok', price: dear },
        ],
      },
      revokedonly: { deployments: [{ id: 'rvo', provider: 's401' }] },
      'fb-f': { fallbacks: ['fb-g'], deployments: [{ id: 'f-dead', provider: 'dead' }] },
      'fb-g': { deployments: [{ id: 'g-ok', provider: 'ok' }] },
      ctx: {
        deployments: [
          { id: 'ctx-small', provider: 'small', max_context: 50 },
          { id: 'ctx-big', provider: 'big', max_context: 100000 },
        ],
      },
      ctxonly: { deployments: [{ id: 'ctxo-small', provider: 'small', max_context: 50 }] },
      // max_context unknown to Shepherd: the upstream's own 400 context_length_exceeded decides.
      ctxup: {
        strategy: 'cheapest',
        deployments: [
          { id: 'cu-short', provider: 'short', price: cheap },
          { id: 'cu-big', provider: 'big', price: dear },
        ],
      },
      ctxupfb: { fallbacks: ['fb-g'], deployments: [{ id: 'cuf-short', provider: 'short' }] },
      ctxuponly: { deployments: [{ id: 'cuo-short', provider: 'short' }] },
      upstreamrl: {
        strategy: 'cheapest',
        deployments: [
          { id: 'url-a', provider: 'xrl', price: cheap },
          { id: 'url-b', provider: 'ok', price: dear },
        ],
      },
      committed: {
        strategy: 'cheapest',
        deployments: [
          { id: 'cm-a', provider: 'stall', price: cheap },
          { id: 'cm-b', provider: 'ok', price: dear },
        ],
      },
      precommit: {
        strategy: 'cheapest',
        deployments: [
          { id: 'pc-a', provider: 'reset', price: cheap },
          { id: 'pc-b', provider: 'ok', price: dear },
        ],
      },
      's-cheapest': {
        strategy: 'cheapest',
        deployments: [
          { id: 'ch-dear', provider: 'ok', price: { input: 5, output: 5 } },
          { id: 'ch-cheap', provider: 'ok', price: { input: 0.5, output: 1 } },
          { id: 'ch-mid', provider: 'ok', price: { input: 1, output: 1 } },
        ],
      },
      's-weighted': {
        strategy: 'weighted',
        deployments: [
          { id: 'wt-1', provider: 'ok', weight: 1 },
          { id: 'wt-9', provider: 'ok', weight: 9 },
        ],
      },
      's-leastbusy': {
        strategy: 'least-busy',
        deployments: [
          { id: 'lb-slow', provider: 'slow1000' },
          { id: 'lb-fast', provider: 'ok' },
        ],
      },
      's-latency': {
        strategy: 'lowest-latency',
        deployments: [
          { id: 'll-slow', provider: 'slow200' },
          { id: 'll-fast', provider: 'ok' },
        ],
      },
    };

    const shepherds = {
      main: { providers: mainProviders, models: mainModels },
      oneAttempt: {
        routing: { max_attempts: 1 },
        providers: { s500: p('s500') },
        models: { always500: { deployments: [{ id: 'a500-once', provider: 's500' }] } },
      },
      cooldown: {
        routing: { cooldown: { failures: 2, window: '10s', duration: '1s' } },
        providers: { bad: p('cdFail'), good: p('cdOk') },
        models: {
          cd: {
            strategy: 'cheapest',
            deployments: [
              { id: 'cd-a', provider: 'bad', price: cheap },
              { id: 'cd-b', provider: 'good', price: dear },
            ],
          },
        },
      },
      queue: {
        routing: { queue: { wait: '200ms' } },
        providers: { rpm2: p('rpm2'), rpm1: p('rpm1') },
        models: {
          rpm2: { deployments: [{ id: 'rpm2-only', provider: 'rpm2', rpm: 2 }] },
          rpm1x2: {
            deployments: [
              { id: 'r1-a', provider: 'rpm1', rpm: 1 },
              { id: 'r1-b', provider: 'rpm1', rpm: 1 },
            ],
          },
        },
      },
      deadline: {
        routing: { deadline: '1s' },
        providers: { slow: p('slow5s', { timeouts: { first_byte: '10s' } }) },
        models: { dl: { deployments: [{ id: 'dl-slow', provider: 'slow' }] } },
      },
      hedge: {
        routing: { strategy: 'round-robin' },
        providers: { slow: p('hedgeSlow'), slowHeaders: p('hedgeSlowHeaders'), fast: p('hedgeFast') },
        models: {
          h: { hedge: { after: '100ms' }, deployments: [{ id: 'h-slow', provider: 'slow' }, { id: 'h-fast', provider: 'fast' }] },
          hs: {
            hedge: { after: '100ms' },
            deployments: [{ id: 'hs-slow', provider: 'slowHeaders' }, { id: 'hs-fast', provider: 'fast' }],
          },
        },
      },
      ready: {
        providers: { ready: p('ready') },
        models: { rdy: { deployments: [{ id: 'rdy-1', provider: 'ready' }] } },
      },
    };
    const gwNames = Object.keys(shepherds);
    const gws = await Promise.all(gwNames.map((n) => gateway(shepherds[n])));
    gwNames.forEach((n, i) => {
      gw[n] = gws[i];
    });
  });
  after(cleanup);

  // ---- 1. Failover -----------------------------------------------------------------------

  test('1. failover: [dead, healthy] round-robin → every answer 200 from the healthy one', async () => {
    const results = [];
    for (let i = 0; i < 6; i += 1) results.push(await post(gw.main, 'failover'));
    let sum = 0;
    for (const r of results) {
      const h = routing(r);
      assert.equal(r.status, 200, r.text);
      assert.equal(h.deployment, 'fo-ok');
      assert.ok(h.attempts === 1 || h.attempts === 2, `attempts ${h.attempts}`);
      assert.equal(h.model, undefined);
      assertNoProviderLeak(r, [m.ok]);
      sum += h.attempts;
    }
    assert.ok(
      results.some((r) => routing(r).attempts === 2),
      `the dead deployment was never tried first: ${results.map((r) => routing(r).attempts)}`,
    );
    const dead = await deployment(gw.main, 'fo-dead');
    assert.ok(dead.failures >= 1, `fo-dead failures: ${JSON.stringify(dead)}`);
    assert.equal(dead.requests, dead.failures);
    assert.ok(dead.last_error, 'fo-dead has a last_error');
    const ok = await deployment(gw.main, 'fo-ok');
    assert.equal(ok.failures, 0);
    // The attempts metric is recorded on the serving route: the dead tries included.
    const attempts = await metricUntil(gw.main, 'shepherd_upstream_attempts_total', { deployment: 'fo-ok' }, (v) => v === sum);
    assert.equal(attempts, sum);
    const stats = await shepherdStats(gw.main);
    assert.equal(routeOf(stats, 'failover', 'ok').successes, 6, JSON.stringify(stats.routes));
    assert.equal(routeOf(stats, 'failover', 'dead').requests, 0, 'requests are counted where they were served');
  });

  // ---- 2. 5xx then another deployment -----------------------------------------------------

  test('2. 500 before the first byte on A, B healthy → 200 from B; A counted the attempt', async () => {
    const [a0, b0] = [await chats(m.s500), await chats(m.ok)];
    const r = await post(gw.main, 'err5xx');
    assertServed(r, { deployment: 'e5-ok', attempts: 2 });
    assert.equal((await chats(m.s500)) - a0, 1, 'A (status=500) saw exactly one attempt');
    assert.equal((await chats(m.ok)) - b0, 1, 'B served once');
    const a = await deployment(gw.main, 'e5-bad');
    assert.equal(a.failures, 1);
    assert.equal(a.state, 'available', 'one failure does not cool a deployment down');
    await metricUntil(gw.main, 'shepherd_upstream_attempts_total', { deployment: 'e5-ok' }, (v) => v === 2);
  });

  // ---- 3. max_attempts ----------------------------------------------------------------------

  test('3a. single deployment always 500 → 500 after exactly 3 upstream attempts', async () => {
    const before = await chats(m.s500);
    const r = await post(gw.main, 'always500');
    assert.equal(r.status, 500, r.text);
    assertErrorShape(r.json(), 'always 500');
    assert.equal(routing(r).attempts, 3, `headers ${JSON.stringify(r.headers)}`);
    assert.equal(routing(r).deployment, undefined, 'nothing served');
    assert.equal((await chats(m.s500)) - before, 3, 'upstream attempts');
    await metricUntil(gw.main, 'shepherd_upstream_attempts_total', { deployment: 'a500' }, (v) => v === 3);
    await pollUntil(async () => routeOf(await shepherdStats(gw.main), 'always500'), (x) => x && x.errors === 1, {
      what: '/stats always500 errors = 1',
    });
  });

  test('3b. routing.max_attempts: 1 → 500 after exactly 1 upstream attempt', async () => {
    const before = await chats(m.s500);
    const r = await post(gw.oneAttempt, 'always500');
    assert.equal(r.status, 500, r.text);
    assertErrorShape(r.json(), 'max_attempts 1');
    assert.equal(routing(r).attempts, 1);
    assert.equal((await chats(m.s500)) - before, 1, 'upstream attempts');
  });

  // ---- 4. Non-retryable 4xx -------------------------------------------------------------------

  test('4. upstream 400 → 400 passed through, 1 attempt, the healthy deployment untouched', async () => {
    const [a0, b0] = [await chats(m.s400), await chats(m.ok)];
    const r = await post(gw.main, 'bad400');
    assert.equal(r.status, 400, r.text);
    assert.match(assertErrorShape(r.json(), '400').message, /mock fault: status 400/);
    assert.equal(routing(r).attempts, 1);
    assert.equal((await chats(m.s400)) - a0, 1);
    assert.equal((await chats(m.ok)) - b0, 0, 'a 400 is the request’s fault: not retried elsewhere');
    const a = await deployment(gw.main, 'b4-bad');
    assert.equal(a.failures, 0, 'a 400 says nothing about the deployment’s health');
    assert.equal(a.state, 'available');
  });

  // ---- 5. 429 and Retry-After ----------------------------------------------------------------

  test('5a. 429 Retry-After: 1 on the only deployment → waited out, then 200 (2 attempts)', async () => {
    const before = await chats(m.ra1);
    const { r, ms } = await timed(post(gw.main, 'wait429'));
    assertServed(r, { deployment: 'w429', attempts: 2 });
    assert.ok(ms >= 900, `answered after ${ms.toFixed(0)} ms: Retry-After 1 was not waited out`);
    assert.ok(ms < 4000, `answered after ${ms.toFixed(0)} ms`);
    assert.equal((await chats(m.ra1)) - before, 2);
    const d = await deployment(gw.main, 'w429');
    assert.equal(d.requests, 2);
    assert.equal(d.failures, 1);
    assert.equal(d.state, 'available', 'the 1 s bench is over');
  });

  test('5b. 429 Retry-After: 60 → 429 at once with retry-after 60; the next one is refused without an upstream call', async () => {
    const before = await chats(m.ra60);
    const { r, ms } = await timed(post(gw.main, 'long429'));
    assert.equal(r.status, 429, r.text);
    assertErrorShape(r.json(), 'long 429');
    assert.equal(r.headers['retry-after'], '60');
    assert.equal(routing(r).attempts, 1);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.equal((await chats(m.ra60)) - before, 1);

    const { r: r2, ms: ms2 } = await timed(post(gw.main, 'long429'));
    assert.equal(r2.status, 429, r2.text);
    assertErrorShape(r2.json(), 'benched 429');
    const ra = Number(r2.headers['retry-after']);
    assert.ok(Number.isInteger(ra) && ra >= 50 && ra <= 60, `Retry-After ${r2.headers['retry-after']}`);
    assert.ok(ms2 < 1000, `took ${ms2.toFixed(0)} ms`);
    assert.ok(r2.headers['x-shepherd-attempts'] === undefined || r2.headers['x-shepherd-attempts'] === '0');
    assert.equal((await chats(m.ra60)) - before, 1, 'the benched deployment was not called');
    const d = await deployment(gw.main, 'l429');
    assert.equal(d.state, 'rate limited');
    assert.ok(d.retry_in_seconds > 50 && d.retry_in_seconds <= 60, `retry_in_seconds ${d.retry_in_seconds}`);
  });

  test('5c. 429 with an HTTP-date Retry-After → 429 with Retry-After in seconds', async () => {
    const before = await chats(m.raDate);
    const { r, ms } = await timed(post(gw.main, 'date429'));
    const expected = (httpDateMs - Date.now()) / 1000;
    assert.ok(expected > 10, `test setup: the date is only ${expected} s ahead`);
    assert.equal(r.status, 429, r.text);
    assertErrorShape(r.json(), 'date 429');
    const ra = r.headers['retry-after'];
    assert.match(ra ?? '', /^\d+$/, `Retry-After in delta-seconds (upstream sent ${httpDate}): ${ra}`);
    assert.ok(Math.abs(Number(ra) - expected) <= 2, `Retry-After ${ra}, expected about ${expected.toFixed(1)}`);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
    assert.equal((await chats(m.raDate)) - before, 1);
    const d = await deployment(gw.main, 'd429');
    assert.equal(d.state, 'rate limited');
    assert.ok(Math.abs(d.retry_in_seconds - expected) <= 2, `retry_in_seconds ${d.retry_in_seconds}`);
  });

  test('5d. 429 without Retry-After → retried with backoff → 200 after 2 attempts', async () => {
    const before = await chats(m.raNone);
    const { r, ms } = await timed(post(gw.main, 'none429'));
    assertServed(r, { deployment: 'n429', attempts: 2 });
    assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms`);
    assert.equal((await chats(m.raNone)) - before, 2);
    const d = await deployment(gw.main, 'n429');
    assert.equal(d.failures, 1, 'a 429 without Retry-After counts as a failure');
    assert.equal(d.state, 'available', 'and does not bench the deployment');
  });

  test('5e. 429 with a garbage Retry-After → retried with backoff → 200 after 2 attempts', async () => {
    const before = await chats(m.raGarbage);
    const { r, ms } = await timed(post(gw.main, 'garbage429'));
    assertServed(r, { deployment: 'g429', attempts: 2 });
    assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms`);
    assert.equal((await chats(m.raGarbage)) - before, 2);
  });

  // ---- 6. 429 with another deployment ---------------------------------------------------------

  test('6. 429 on A with B available → served by B at once (no waiting for Retry-After)', async () => {
    const before = await chats(m.ra1always);
    const { r, ms } = await timed(post(gw.main, 'other429'));
    assertServed(r, { deployment: 'o429-b', attempts: 2 });
    assert.ok(ms < 700, `took ${ms.toFixed(0)} ms: waited for A's Retry-After instead of going to B`);
    assert.equal((await chats(m.ra1always)) - before, 1);
    assert.equal((await deployment(gw.main, 'o429-a')).state, 'rate limited');
  });

  // ---- 7. Revoked key ---------------------------------------------------------------------------

  test('7a. 401 from A, B healthy → 200 from B; A unhealthy, auth failure counted', async () => {
    const before = await chats(m.s401);
    const r = await post(gw.main, 'revoked');
    assertServed(r, { deployment: 'rv-b', attempts: 2 });
    assert.ok(!r.text.includes('mock fault'), `upstream text leaked: ${r.text}`);
    assert.equal((await chats(m.s401)) - before, 1);
    const a = await deployment(gw.main, 'rv-a');
    assert.equal(a.state, 'unhealthy', JSON.stringify(a));
    assert.ok(a.auth_failures >= 1, JSON.stringify(a));
    assert.ok(a.retry_in_seconds > 60, `auth cool-down 5m: retry_in_seconds ${a.retry_in_seconds}`);
    const v = await metricUntil(gw.main, 'shepherd_deployment_auth_failures_total', { deployment: 'rv-a' }, (x) => x >= 1);
    assert.ok(v >= 1);
    const samples = await metrics(gw.main);
    assert.equal(metricValue(samples, 'shepherd_deployment_available', { deployment: 'rv-a' }), 0);
    // The next request does not try the revoked deployment again.
    const r2 = await post(gw.main, 'revoked');
    assertServed(r2, { deployment: 'rv-b', attempts: 1 });
    assert.equal((await chats(m.s401)) - before, 1);
  });

  test('7b. only deployment answers 401 → 502 naming credentials, without the upstream text', async () => {
    const before = await chats(m.s401);
    const r = await post(gw.main, 'revokedonly');
    assert.equal(r.status, 502, r.text);
    const e = assertErrorShape(r.json(), '401 → 502');
    assert.match(e.message, /credential/i);
    assert.ok(!r.text.includes('mock fault'), `upstream text leaked: ${r.text}`);
    assert.ok(routing(r).attempts >= 1, `X-Shepherd-Attempts on the error: ${JSON.stringify(r.headers)}`);
    assert.ok((await chats(m.s401)) - before >= 1);
    assertNoProviderLeak(r, [m.s401]);
    assert.ok(!r.text.includes(`:${m.s401.port}`), 'the error names the provider URL');
  });

  // ---- 8. Cool-down -------------------------------------------------------------------------------

  test('8. cool-down {failures 2, duration 1s}: out of rotation after 2 failures, one probe after ~1 s', async () => {
    const g = gw.cooldown;
    const r1 = await post(g, 'cd');
    assertServed(r1, { deployment: 'cd-b', attempts: 2 });
    const r2 = await post(g, 'cd');
    assertServed(r2, { deployment: 'cd-b', attempts: 2 });
    const opened = performance.now();
    assert.equal(await chats(m.cdFail), 2);

    const cooling = await deployment(g, 'cd-a');
    assert.equal(cooling.state, 'cooling down', JSON.stringify(cooling));
    assert.equal(cooling.breaker, 'open');
    assert.equal(cooling.breaker_opened, 1);
    assert.ok(cooling.retry_in_seconds > 0 && cooling.retry_in_seconds <= 1, `retry_in_seconds ${cooling.retry_in_seconds}`);
    for (let i = 0; i < 3; i += 1) assertServed(await post(g, 'cd'), { deployment: 'cd-b', attempts: 1 });
    assert.equal(await chats(m.cdFail), 2, 'no request reached the cooling deployment');
    const samples = await metrics(g);
    assert.equal(metricValue(samples, 'shepherd_deployment_breaker_open', { deployment: 'cd-a' }), 1);
    assert.equal(metricValue(samples, 'shepherd_deployment_available', { deployment: 'cd-a' }), 0);
    assert.equal(metricValue(samples, 'shepherd_deployment_cooldowns_total', { deployment: 'cd-a' }), 1);
    assert.ok(performance.now() - opened < 1000, 'test too slow: the cool-down may have ended meanwhile');

    const half = await pollUntil(() => deployment(g, 'cd-a'), (d) => d.breaker === 'half-open', {
      timeoutMs: 3000, intervalMs: 50, what: 'cd-a half-open',
    });
    const after = performance.now() - opened;
    assert.ok(after >= 800, `half-open after ${after.toFixed(0)} ms (duration 1s)`);
    assert.equal(half.state, 'available', 'half-open takes one probe');
    // The probe reaches the failing deployment once, fails, and B serves.
    const r3 = await post(g, 'cd');
    assertServed(r3, { deployment: 'cd-b', attempts: 2 });
    assert.equal(await chats(m.cdFail), 3, 'one probe reached A');
    const reopened = await deployment(g, 'cd-a');
    assert.equal(reopened.state, 'cooling down');
    assert.equal(reopened.breaker, 'open');
    assert.equal(reopened.breaker_opened, 2);
    assertServed(await post(g, 'cd'), { deployment: 'cd-b', attempts: 1 });
    assert.equal(await chats(m.cdFail), 3);
  });

  // ---- 9. Fallback chain --------------------------------------------------------------------------

  test('9. fallback: f (dead) → g → 200 with X-Shepherd-Model: g and model "fb-g"', async () => {
    const before = await chats(m.ok);
    const r = await post(gw.main, 'fb-f');
    assertServed(r, { deployment: 'g-ok', attempts: 2, model: 'fb-g' });
    assert.equal(r.json().model, 'fb-g');
    assert.equal((await chats(m.ok)) - before, 1);
    const sent = (await m.ok.lastRequest()).body;
    assert.equal((typeof sent === 'string' ? JSON.parse(sent) : sent).model, 'fb-g', 'the fallback deployment got its own model id');
    const v = await metricUntil(gw.main, 'shepherd_fallback_requests_total', { model: 'fb-g', deployment: 'g-ok' }, (x) => x >= 1);
    assert.equal(v, 1);
    const route = routeOf(await shepherdStats(gw.main), 'fb-g');
    assert.ok(route && route.successes >= 1, JSON.stringify(route));
  });

  // ---- 10. Context window ---------------------------------------------------------------------------

  test('10a. context window: a long message skips the small deployment', async () => {
    const [s0, b0] = [await chats(m.small), await chats(m.big)];
    const long = 'word '.repeat(400); // 2000 chars ≈ 500 tokens > 50
    for (let i = 0; i < 4; i += 1) {
      const r = await post(gw.main, 'ctx', { content: long });
      assertServed(r, { deployment: 'ctx-big', attempts: 1 });
    }
    assert.equal((await chats(m.small)) - s0, 0, 'the small deployment never saw a long request');
    assert.equal((await chats(m.big)) - b0, 4);
    assert.equal((await deployment(gw.main, 'ctx-small')).requests, 0);
    const seen = new Set();
    for (let i = 0; i < 4; i += 1) {
      const r = await post(gw.main, 'ctx', { content: 'hi' });
      assertServed(r, { attempts: 1 });
      seen.add(routing(r).deployment);
    }
    for (const d of seen) assert.ok(d === 'ctx-small' || d === 'ctx-big', d);
  });

  test('10b. context window: no deployment fits → 400 param "messages", no upstream attempt', async () => {
    const before = await chats(m.small);
    const r = await post(gw.main, 'ctxonly', { content: 'word '.repeat(400) });
    assert.equal(r.status, 400, r.text);
    const e = assertErrorShape(r.json(), 'context');
    assert.equal(e.param, 'messages');
    assert.equal(routing(r).deployment, undefined);
    assert.ok(r.headers['x-shepherd-attempts'] === undefined || r.headers['x-shepherd-attempts'] === '0');
    assert.equal((await chats(m.small)) - before, 0);
    // A short one still fits.
    assertServed(await post(gw.main, 'ctxonly', { content: 'hi' }), { deployment: 'ctxo-small', attempts: 1 });
  });

  test('10c. upstream context_length_exceeded → the next deployment, then a fallback; alone → the 400', async () => {
    const long = 'word '.repeat(60); // 60 prompt words > the mock's 20
    const [s0, b0] = [await chats(m.short), await chats(m.big)];
    const r1 = await post(gw.main, 'ctxup', { content: long });
    assertServed(r1, { deployment: 'cu-big', attempts: 2 });
    assert.equal((await chats(m.short)) - s0, 1);
    assert.equal((await chats(m.big)) - b0, 1);
    // Not the deployment's fault: it stays available with no failure counted.
    const d = await deployment(gw.main, 'cu-short');
    assert.equal(d.state, 'available');
    assert.equal(d.failures, 0);

    const r2 = await post(gw.main, 'ctxupfb', { content: long });
    assertServed(r2, { deployment: 'g-ok', attempts: 2, model: 'fb-g' });

    const s1 = await chats(m.short);
    const r3 = await post(gw.main, 'ctxuponly', { content: long });
    assert.equal(r3.status, 400, r3.text);
    assert.match(assertErrorShape(r3.json(), 'context').message, /maximum context length/);
    assert.equal(routing(r3).attempts, 1);
    assert.equal((await chats(m.short)) - s1, 1, 'the same deployment is not asked again');
    // A short request still goes to the short deployment.
    assertServed(await post(gw.main, 'ctxuponly', { content: 'hi' }), { deployment: 'cuo-short', attempts: 1 });
  });

  // ---- 11. Hedging ------------------------------------------------------------------------------------

  test('11a. hedging after 100ms: slow first → answered by fast well under 2 s, slow cancelled', async () => {
    const g = gw.hedge;
    const results = [];
    for (let i = 0; i < 2; i += 1) {
      const { r, ms } = await timed(post(g, 'h'));
      results.push({ r, ms });
      assertServed(r, { deployment: 'h-fast' });
      assert.ok(ms < 1200, `answered after ${ms.toFixed(0)} ms`);
    }
    const hedged = results.filter(({ r }) => routing(r).hedged === 'true');
    assert.ok(hedged.length >= 1, `no request was hedged: ${results.map(({ r }) => JSON.stringify(routing(r).all))}`);
    for (const { r, ms } of hedged) {
      assert.equal(routing(r).attempts, 2);
      assert.ok(ms >= 90, `hedged answer after ${ms.toFixed(0)} ms, before hedge.after`);
    }
    const slow = await pollUntil(() => m.hedgeSlow.stats(), (s) => s.client_disconnects >= hedged.length, {
      timeoutMs: 1500, what: 'the slow mock to see the losing attempt cancelled',
    });
    assert.equal(slow.chat_requests, hedged.length);
    await metricUntil(g, 'shepherd_hedged_requests_total', { model: 'h' }, (v) => v === hedged.length);
    const d = await deployment(g, 'h-slow');
    assert.equal(d.failures, 0, 'the cancelled loser is not a failure');
    assert.equal(d.state, 'available');
  });

  test('11b. hedging a stream: slow headers first → full stream from fast', async () => {
    const g = gw.hedge;
    const results = [];
    for (let i = 0; i < 2; i += 1) {
      const started = performance.now();
      const s = await stream(g, 'hs');
      const ms = performance.now() - started;
      results.push({ ...s, ms });
      assert.equal(s.res.status, 200, s.text);
      assert.equal(s.res.headers.get('x-shepherd-deployment'), 'hs-fast');
      assert.equal(s.sse.done, true);
      assert.equal(s.sse.errors.length, 0);
      assert.equal(s.sse.content, mockContent(8));
      assert.ok(ms < 1200, `stream took ${ms.toFixed(0)} ms`);
    }
    const hedged = results.filter(({ res }) => res.headers.get('x-shepherd-hedged') === 'true');
    assert.ok(hedged.length >= 1, 'no stream was hedged');
    for (const { res } of hedged) assert.equal(res.headers.get('x-shepherd-attempts'), '2');
    await pollUntil(() => m.hedgeSlowHeaders.stats(), (s) => s.client_disconnects >= hedged.length, {
      timeoutMs: 1500, what: 'the slow-headers mock to see the losing attempt cancelled',
    });
  });

  // ---- 12. Rate limits (rpm) ----------------------------------------------------------------------------

  test('12a. rpm: 2 on the only deployment → 3rd request 429 with Retry-After, mock sees 2', async () => {
    const g = gw.queue;
    assertServed(await post(g, 'rpm2'), { deployment: 'rpm2-only', attempts: 1 });
    assertServed(await post(g, 'rpm2'), { deployment: 'rpm2-only', attempts: 1 });
    const { r, ms } = await timed(post(g, 'rpm2'));
    assert.equal(r.status, 429, r.text);
    assertErrorShape(r.json(), 'rpm 429');
    const ra = Number(r.headers['retry-after']);
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 30, `Retry-After ${r.headers['retry-after']}`);
    assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms (queue.wait 200ms cannot cover a ~30 s wait)`);
    assert.equal(await chats(m.rpm2), 2);
    const d = await deployment(g, 'rpm2-only');
    assert.equal(d.requests, 2);
    assert.equal(d.failures, 0, 'Shepherd’s own limit is not a failure of the deployment');
  });

  test('12b. two deployments with rpm: 1 → 2 requests served by different deployments', async () => {
    const g = gw.queue;
    const r1 = await post(g, 'rpm1x2');
    const r2 = await post(g, 'rpm1x2');
    assertServed(r1, { attempts: 1 });
    assertServed(r2, { attempts: 1 });
    assert.deepEqual(new Set([routing(r1).deployment, routing(r2).deployment]), new Set(['r1-a', 'r1-b']));
    const r3 = await post(g, 'rpm1x2');
    assert.equal(r3.status, 429, r3.text);
    assert.ok(Number(r3.headers['retry-after']) >= 1);
    assert.equal(await chats(m.rpm1), 2);
  });

  // ---- 13. Upstream x-ratelimit headers -------------------------------------------------------------

  test('13. x-ratelimit-remaining-requests: 0, reset 3s on a 200 → traffic goes to B for ~3 s', async () => {
    const g = gw.main;
    const before = await chats(m.xrl);
    const r1 = await post(g, 'upstreamrl');
    const t0 = performance.now();
    assertServed(r1, { deployment: 'url-a', attempts: 1 });
    const a = await deployment(g, 'url-a');
    assert.equal(a.state, 'rate limited', JSON.stringify(a));
    assert.ok(a.retry_in_seconds > 2 && a.retry_in_seconds <= 3, `retry_in_seconds ${a.retry_in_seconds}`);
    let onB = 0;
    const back = await pollUntil(
      async () => {
        const r = await post(g, 'upstreamrl');
        assert.equal(r.status, 200, r.text);
        if (routing(r).deployment === 'url-b') onB += 1;
        return routing(r).deployment;
      },
      (d) => d === 'url-a',
      { timeoutMs: 6000, intervalMs: 100, what: 'A to serve again after its reset time' },
    );
    const elapsed = performance.now() - t0;
    assert.equal(back, 'url-a');
    assert.ok(elapsed >= 2700, `A served again after ${elapsed.toFixed(0)} ms (reset 3s)`);
    assert.ok(onB >= 10, `only ${onB} requests went to B meanwhile`);
    assert.equal((await chats(m.xrl)) - before, 2, 'A saw only the first request and the one after the reset');
  });

  // ---- 14. Strategies -------------------------------------------------------------------------------

  test('14a. cheapest: 10 requests all go to the lowest input+output price', async () => {
    for (let i = 0; i < 10; i += 1) assertServed(await post(gw.main, 's-cheapest'), { deployment: 'ch-cheap', attempts: 1 });
  });

  test('14b. weighted 1:9 over 200 requests → the heavier gets 75–98 %', async () => {
    const counts = { 'wt-1': 0, 'wt-9': 0 };
    for (let batch = 0; batch < 10; batch += 1) {
      const rs = await Promise.all(Array.from({ length: 20 }, () => post(gw.main, 's-weighted')));
      for (const r of rs) {
        assert.equal(r.status, 200, r.text);
        counts[routing(r).deployment] += 1;
      }
    }
    assert.equal(counts['wt-1'] + counts['wt-9'], 200, JSON.stringify(counts));
    const share = counts['wt-9'] / 200;
    assert.ok(share >= 0.75 && share <= 0.98, `weight-9 share ${share} (${JSON.stringify(counts)})`);
  });

  test('14c. least-busy: concurrent requests use both; with one in flight on slow, the next go to fast', async () => {
    const g = gw.main;
    const rs = await Promise.all(Array.from({ length: 10 }, () => post(g, 's-leastbusy')));
    const used = new Set(rs.map((r) => (assert.equal(r.status, 200, r.text), routing(r).deployment)));
    assert.deepEqual(used, new Set(['lb-slow', 'lb-fast']));
    await pollUntil(() => deployment(g, 'lb-slow'), (d) => d.in_flight === 0, { what: 'lb-slow idle' });

    // Park one request on the slow deployment (ties go in turn, so at most a few tries).
    const parked = [];
    for (let i = 0; i < 4; i += 1) {
      const p = post(g, 's-leastbusy');
      let settled = false;
      p.then(() => {
        settled = true;
      }, () => {
        settled = true;
      });
      parked.push(p);
      const slowBusy = await pollUntil(
        async () => (settled ? 'settled' : (await deployment(g, 'lb-slow')).in_flight >= 1 ? 'busy' : null),
        Boolean,
        { timeoutMs: 3000, what: 'the request to settle or to be in flight on lb-slow' },
      );
      if (slowBusy === 'busy') break;
    }
    assert.equal((await deployment(g, 'lb-slow')).in_flight, 1, 'a request is in flight on lb-slow');
    for (let i = 0; i < 6; i += 1) {
      assertServed(await post(g, 's-leastbusy'), { deployment: 'lb-fast', attempts: 1 });
    }
    assert.equal((await deployment(g, 'lb-slow')).in_flight, 1, 'the parked request was still in flight');
    for (const r of await Promise.all(parked)) assert.equal(r.status, 200, r.text);
  });

  test('14d. lowest-latency: after 20 warm-up requests ≥ 80 % of the next 50 go to the fast one', async () => {
    for (let i = 0; i < 20; i += 1) assert.equal((await post(gw.main, 's-latency')).status, 200);
    const slow = await deployment(gw.main, 'll-slow');
    const fast = await deployment(gw.main, 'll-fast');
    assert.ok(slow.latency_ms.total_mean > fast.latency_ms.total_mean, `${JSON.stringify(slow.latency_ms)} vs ${JSON.stringify(fast.latency_ms)}`);
    let onFast = 0;
    for (let i = 0; i < 50; i += 1) {
      const r = await post(gw.main, 's-latency');
      assert.equal(r.status, 200, r.text);
      if (routing(r).deployment === 'll-fast') onFast += 1;
    }
    assert.ok(onFast >= 40, `${onFast}/50 on the fast deployment`);
  });

  // ---- 15. Deadline ------------------------------------------------------------------------------------

  test('15. deadline 1s with a 5 s first byte (first_byte timeout 10s) → 504 in about 1 s', async () => {
    const { r, ms } = await timed(post(gw.deadline, 'dl'));
    assert.equal(r.status, 504, r.text);
    assertErrorShape(r.json(), 'deadline');
    assert.ok(ms >= 800 && ms <= 3000, `504 after ${ms.toFixed(0)} ms`);
    assert.equal(routing(r).attempts, 1);
    await pollUntil(() => m.slow5s.stats(), (s) => s.client_disconnects >= 1, {
      timeoutMs: 1500, what: 'the slow mock to see the abandoned attempt',
    });
    await metricUntil(gw.deadline, 'shepherd_requests_total', { model: 'dl', status: '504' }, (v) => v === 1);
    assert.equal((await deployment(gw.deadline, 'dl-slow')).failures, 1);
  });

  // ---- 16. Stream after commit -----------------------------------------------------------------------

  test('16. stream stalls after 2 chunks (committed) → error event, no [DONE], never replayed', async () => {
    const [a0, b0] = [await chats(m.stall), await chats(m.ok)];
    const { res, sse, text } = await stream(gw.main, 'committed');
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('x-shepherd-deployment'), 'cm-a');
    assert.equal(res.headers.get('x-shepherd-attempts'), '1');
    assert.equal(sse.content, mockContent(2));
    assert.equal(sse.errors.length, 1, `events: ${JSON.stringify(sse.events)}`);
    assertErrorShape(sse.errors[0], 'stall error event');
    assert.equal(sse.done, false);
    assert.equal((await chats(m.stall)) - a0, 1);
    assert.equal((await chats(m.ok)) - b0, 0, 'a committed stream is never replayed elsewhere');
    const a = await deployment(gw.main, 'cm-a');
    assert.equal(a.failures, 1, `the broken stream counts against cm-a: ${JSON.stringify(a)}`);
    assert.equal((await deployment(gw.main, 'cm-b')).requests, 0);
  });

  // ---- 17. Failure before the first event ----------------------------------------------------------------

  test('17. stream: A resets before answering, B healthy → 200 full stream from B', async () => {
    // cut-after=0 cannot model "cut before the first event": the mock sends a role chunk with the
    // headers, which is an event and commits the stream. `reset` fails before any byte instead.
    const before = await chats(m.reset);
    const { res, sse, text } = await stream(gw.main, 'precommit');
    assert.equal(res.status, 200, text);
    assert.equal(res.headers.get('x-shepherd-deployment'), 'pc-b');
    assert.equal(res.headers.get('x-shepherd-attempts'), '2');
    assert.equal(sse.done, true);
    assert.equal(sse.errors.length, 0, `events: ${JSON.stringify(sse.events)}`);
    assert.equal(sse.content, mockContent(8));
    assert.equal((await chats(m.reset)) - before, 1);
    assert.equal((await deployment(gw.main, 'pc-a')).failures, 1);
    await metricUntil(gw.main, 'shepherd_upstream_attempts_total', { deployment: 'pc-b' }, (v) => v === 2);
  });

  // ---- 18. Readiness ----------------------------------------------------------------------------------

  test('18. /health/ready: 200 "degraded" naming the model while its only deployment is drained, "ready" after enable', async () => {
    const g = gw.ready;
    let r = await request(`${g.url}/health/ready`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { status: 'ready' });

    r = await admin(g, '/admin/deployments/rdy-1/drain', 'POST');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { id: 'rdy-1', state: 'drained' });
    // The process still serves its other models: it stays in the balancer (server.readiness
    // all_models would answer 503).
    r = await request(`${g.url}/health/ready`);
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.status, 'degraded');
    assert.ok(body.unavailable_models.includes('rdy'), r.text);
    // Drained: no traffic.
    const before = await chats(m.ready);
    const c = await post(g, 'rdy');
    assert.equal(c.status, 503, c.text);
    assert.equal(assertErrorShape(c.json(), 'drained').code, 'unavailable');
    assert.equal((await chats(m.ready)) - before, 0);

    r = await admin(g, '/admin/deployments/rdy-1/enable', 'POST');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { id: 'rdy-1', state: 'available' });
    r = await request(`${g.url}/health/ready`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { status: 'ready' });
    assertServed(await post(g, 'rdy'), { deployment: 'rdy-1', attempts: 1 });
  });

  test('every Shepherd is still alive', () => {
    for (const [name, s] of Object.entries(gw)) assert.equal(s.alive, true, `${name}: ${s.stderr.slice(-2000)}`);
  });
});
