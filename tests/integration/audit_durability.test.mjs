// The audit log under process faults: `kill -9` under load loses at most the last flush interval
// and never writes a record twice; SIGTERM with open streams lets every stream finish and audits
// every request; canary secrets reach no sink (logs, metrics, error bodies, admin output, store).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  makeTempDir,
  openaiProvider,
  readSSE,
  request,
  runCli,
  sseEvents,
  startMock,
  startShepherd,
  withTimeout,
} from '../support/harness.mjs';

const FLUSH_MS = 200;
// A record is durable once its flush interval has passed and the batch is committed; the commit
// of a batch on this machine takes well under this margin.
const COMMIT_MARGIN_MS = 300;

async function auditIds(configPath, env = {}, filters = []) {
  const r = await runCli(['audit', '--json', '--config', configPath, '--limit', '10000', ...filters], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).data.map((x) => x.request_id);
}

describe('audit durability', { timeout: 180000 }, () => {
  after(cleanup);

  test('kill -9 under load: no record lost beyond the flush interval, none duplicated', async () => {
    const mock = await startMock();
    const dir = makeTempDir();
    const config = {
      ...gatewayConfig({
        server: { threads: 2 },
        providers: { mock: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock', price: { input: 8, output: 8 } }] } },
      }),
      audit: { flush_interval: `${FLUSH_MS}ms` },
    };
    // SHEPHERD_KILL_CYCLES=100 for the figure in docs/architecture.md; a few keep the run short.
    const cycles = Number(process.env.SHEPHERD_KILL_CYCLES ?? 5);
    let mustHaveTotal = 0;
    let storedTotal = 0;
    let windowStart = Date.now() - 1000;
    for (let cycle = 0; cycle < cycles; cycle++) {
      const shepherd = await startShepherd(config, { dir });
      const answered = []; // {id, at}
      let running = true;
      const worker = async () => {
        while (running) {
          try {
            const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), timeoutMs: 5000 });
            if (r.status === 200) answered.push({ id: r.headers['x-request-id'], at: Date.now() });
          } catch {
            // the process was killed under this request
          }
        }
      };
      const workers = Array.from({ length: 4 }, worker);
      // Load for a bounded time that varies from cycle to cycle, then kill the process in the
      // middle of it: before, during or after a batch's commit.
      await new Promise((r) => setTimeout(r, 400 + (cycle % 7) * 70));
      const killedAt = Date.now();
      shepherd.child.kill('SIGKILL');
      running = false;
      await Promise.all(workers);
      await shepherd.waitExit(5000);
      // The store opens after every kill (the CLI reads it, and the next cycle's server writes
      // it). This cycle's records: those that arrived after the previous kill, up to this one.
      const ids = await auditIds(path.join(dir, 'shepherd.yaml'), {}, [
        '--since',
        new Date(windowStart).toISOString(),
        '--until',
        new Date(killedAt + 1).toISOString(),
      ]);
      windowStart = killedAt + 1;
      assert.ok(ids.length < 10000, `cycle ${cycle}: ${ids.length} records, fewer than one query returns`);
      assert.equal(new Set(ids).size, ids.length, `cycle ${cycle}: no request id is stored twice`);
      const stored = new Set(ids);
      const mustHave = answered.filter((a) => a.at < killedAt - FLUSH_MS - COMMIT_MARGIN_MS);
      const lost = mustHave.filter((a) => !stored.has(a.id));
      assert.deepEqual(lost, [], `cycle ${cycle}: ${lost.length} of ${mustHave.length} records lost beyond the flush interval`);
      mustHaveTotal += mustHave.length;
      storedTotal += ids.length;
    }
    assert.ok(mustHaveTotal > 100, `enough load: ${mustHaveTotal} requests answered before the windows`);
    // Every stored record stands for a request the upstream really served (none invented).
    const { chat_requests: upstream } = await mock.stats();
    assert.ok(storedTotal <= upstream, `${storedTotal} records, ${upstream} upstream requests`);
    console.log(`kill -9: ${cycles} cycles, ${mustHaveTotal} records due, 0 lost, 0 duplicated`);
  });

  test('SIGTERM with open streams: every stream finishes and every request is audited', async () => {
    const mock = await startMock({ chunkDelayMs: 40, chunks: 20 });
    const shepherd = await startShepherd(
      gatewayConfig({
        server: { threads: 2, timeouts: { drain: '10s' } },
        providers: { mock: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock' }] } },
      }),
    );
    const streams = await Promise.all(Array.from({ length: 10 }, () => fetchChat(shepherd.url, chatBody('gpt-4.1', { stream: true }))));
    const ids = streams.map((s) => s.headers.get('x-request-id'));
    // Each stream under way (first event read) before the signal.
    const iterators = [];
    for (const s of streams) {
      assert.equal(s.status, 200);
      const events = sseEvents(s);
      await withTimeout(events.next(), 5000, 'a first event');
      iterators.push(events);
    }
    shepherd.child.kill('SIGTERM');
    for (const events of iterators) {
      let done = false;
      for await (const ev of events) if (ev.data === '[DONE]') done = true;
      assert.ok(done, 'the stream ended with [DONE]');
    }
    const { code } = await shepherd.waitExit(15000);
    assert.equal(code, 0);
    const stored = new Set(await auditIds(shepherd.configPath));
    for (const id of ids) assert.ok(stored.has(id), `${id} audited`);
  });

  test('canary secrets reach no log, metric, error body, admin answer or store', async () => {
    const canary = {
      MASTER: 'canary-master-7f3a9c1e',
      STATIC: 'canary-static-b41d2e88',
      UPSTREAM: 'canary-upstream-0c9e5d27',
      HMAC: 'canary-hmac-secret-5a61f0b3c2',
    };
    const mock = await startMock();
    const shepherd = await startShepherd(
      {
        ...gatewayConfig({
          server: { api_keys: ['env:STATIC'], master_key: 'env:MASTER', threads: 2 },
          providers: { mock: openaiProvider(mock, { api_key: 'env:UPSTREAM' }), dead: openaiProvider('http://127.0.0.1:9/v1', { api_key: 'env:UPSTREAM' }) },
          models: {
            'gpt-4.1': { deployments: [{ provider: 'mock', price: { input: 1, output: 1 } }] },
            dead: { deployments: [{ provider: 'dead' }] },
          },
        }),
        keys: { secret: 'env:HMAC' },
        audit: { bodies: true },
      },
      { env: canary },
    );
    const sinks = [];
    const keep = (r) => {
      sinks.push(r.text, JSON.stringify(r.headers));
      return r;
    };
    const created = keep(await request(`${shepherd.url}/admin/keys`, { method: 'POST', headers: bearer(canary.MASTER), body: { name: 'canary' } })).json();
    const virtualKey = created.secret;
    const talk = (key, model, content = 'hello') =>
      request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', headers: bearer(key), body: chatBody(model, { content }) });
    keep(await talk(virtualKey, 'gpt-4.1', `leak ${virtualKey} ${canary.MASTER} ${canary.UPSTREAM}`));
    keep(await talk(canary.STATIC, 'gpt-4.1'));
    keep(await talk(canary.STATIC, 'dead'));
    keep(await talk(`${canary.STATIC}x`, 'gpt-4.1'));
    keep(await talk(canary.MASTER, 'gpt-4.1'));
    for (const p of ['/admin/keys', `/admin/keys/${created.id}`, '/admin/requests?limit=100', '/admin/spend', '/admin/deployments', '/admin/config']) {
      keep(await request(`${shepherd.url}${p}`, { headers: bearer(canary.MASTER) }));
    }
    keep(await request(`${shepherd.url}/v1/usage`, { headers: bearer(virtualKey) }));
    for (const p of ['/metrics', '/stats', '/health', '/health/ready']) keep(await request(`${shepherd.url}${p}`));
    await shepherd.stop();
    const audit = await runCli(['audit', '--json', '--config', shepherd.configPath, '--limit', '100'], { env: canary });
    sinks.push(audit.stdout, audit.stderr, shepherd.stderr, shepherd.proc.stdout);
    const dir = path.dirname(shepherd.configPath);
    for (const f of fs.readdirSync(dir)) {
      if (f !== 'shepherd.yaml') sinks.push(fs.readFileSync(path.join(dir, f)).toString('latin1'));
    }
    // The upstream got its own key, and only that.
    const upstream = await mock.lastRequest();
    assert.equal(upstream.headers.authorization, `Bearer ${canary.UPSTREAM}`);
    const text = sinks.join('\n');
    for (const [name, value] of Object.entries({ ...canary, VIRTUAL: virtualKey })) {
      // The virtual key's secret was shown once, in the answer that created it: that one is not a leak.
      const haystack = name === 'VIRTUAL' ? text.replace(JSON.stringify(created), '') : text;
      assert.ok(!haystack.includes(value), `${name} found in a sink`);
    }
  });
});
