// Connection limits (server.limits.max_connections, max_connections_per_client) and the
// descriptor limit: a connection over a cap gets a fast 503 with Retry-After and is closed; the
// process raises its soft RLIMIT_NOFILE to the hard limit and keeps a reserve of descriptors.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { after, describe, test } from 'node:test';

import {
  BIN,
  cleanup,
  gatewayConfig,
  makeTempDir,
  metricValue,
  parseMetrics,
  pollUntil,
  request,
  withTimeout,
  writeConfig,
  startShepherd,
} from '../support/harness.mjs';

// A raw connection from `localAddress` that has sent one request and read its answer, and stays
// open (kept alive). Resolves {socket, head} once the answer's head arrived.
function openConnection(port, { localAddress = '127.0.0.1', path = '/health' } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\r\n\r\n')) resolve({ socket, head: data });
    });
  });
}

// Sends one request on a new connection and reads until the server closes it: {text, closed}.
function exchangeUntilClose(port, { localAddress = '127.0.0.1', path = '/v1/models' } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
    socket.on('data', (d) => {
      text += d;
    });
    socket.on('end', () => resolve({ text, closed: true }));
  });
}

async function metrics(url) {
  return parseMetrics((await request(`${url}/metrics`)).text);
}

describe('connection limits', () => {
  after(cleanup);

  test('max_connections: the connection over the cap gets 503 with Retry-After and is closed', async () => {
    const shepherd = await startShepherd(gatewayConfig({ server: { threads: 2, limits: { max_connections: 4 } } }));
    // Every 503 this test sees: a connection closed by the client is given back by the server a
    // moment later, so a new one may meet the cap meanwhile; each of those counts as a refusal.
    let refusals = 0;
    // A kept-alive connection that got its 200 (retried while the place is not free yet).
    const place = () =>
      pollUntil(
        async () => {
          const c = await openConnection(shepherd.port);
          if (/^HTTP\/1\.1 200 /.test(c.head)) return c;
          refusals++;
          c.socket.destroy();
          return null;
        },
        Boolean,
        { what: 'a place' },
      );
    const scrape = () =>
      pollUntil(
        async () => {
          const r = await request(`${shepherd.url}/metrics`).catch(() => null);
          if (r?.status === 503) refusals++;
          return r?.status === 200 ? parseMetrics(r.text) : null;
        },
        Boolean,
        { what: 'a place for /metrics' },
      );
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await place());
    // The fourth place goes to the metrics request; then to a fourth kept-alive connection.
    assert.equal(metricValue(await scrape(), 'shepherd_client_connections_limit'), 4);
    open.push(await place());
    const refused = await withTimeout(exchangeUntilClose(shepherd.port), 5000, 'the refusal');
    refusals++;
    assert.match(refused.text, /^HTTP\/1\.1 503 /);
    assert.match(refused.text, /\r\nRetry-After: 1\r\n/i);
    assert.match(refused.text, /\r\nConnection: close\r\n/i);
    const body = JSON.parse(refused.text.slice(refused.text.indexOf('\r\n\r\n') + 4));
    assert.match(body.error.message, /connection limit \(4 open\); retry after 1 second/);
    // An Anthropic client gets Anthropic's error shape.
    const anthropic = await withTimeout(exchangeUntilClose(shepherd.port, { path: '/v1/messages' }), 5000, 'refusal');
    refusals++;
    assert.equal(JSON.parse(anthropic.text.slice(anthropic.text.indexOf('\r\n\r\n') + 4)).type, 'error');
    // A place comes free: the next connection is served.
    open.pop().socket.destroy();
    const m1 = await scrape();
    assert.equal(metricValue(m1, 'shepherd_connections_refused_total', { reason: 'max_connections' }), refusals);
    assert.equal(metricValue(m1, 'shepherd_connections_refused_total', { reason: 'per_client' }), 0);
    for (const c of open) c.socket.destroy();
    await shepherd.stop();
  });

  test('max_connections_per_client caps one address and not another', async () => {
    const shepherd = await startShepherd(
      gatewayConfig({ server: { limits: { max_connections_per_client: 2 } } }),
    );
    const open = [await openConnection(shepherd.port), await openConnection(shepherd.port)];
    const refused = await withTimeout(exchangeUntilClose(shepherd.port), 5000, 'the refusal');
    assert.match(refused.text, /^HTTP\/1\.1 503 /);
    assert.match(refused.text, /too many connections from your address \(server\.limits\.max_connections_per_client is 2\)/);
    // Another loopback address has places of its own.
    const other = await openConnection(shepherd.port, { localAddress: '127.0.0.2' });
    assert.match(other.head, /^HTTP\/1\.1 200 /);
    const m = parseMetrics((await request(`${shepherd.url}/metrics`, { localAddress: '127.0.0.3' })).text);
    assert.equal(metricValue(m, 'shepherd_connections_refused_total', { reason: 'per_client' }), 1);
    assert.equal(metricValue(m, 'shepherd_client_connections'), 4);
    for (const c of [...open, other]) c.socket.destroy();
    await shepherd.stop();
  });

  test('the soft descriptor limit is raised to the hard one, and a flood stays within it', async () => {
    const dir = makeTempDir();
    const configPath = writeConfig(dir, gatewayConfig({ server: { threads: 2 } }));
    // Started under a small limit: soft 200, hard 400.
    const child = spawn('bash', ['-c', `ulimit -Sn 200 && ulimit -Hn 400 && exec "$0" serve --config "$1"`, BIN, configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      const line = await withTimeout(
        new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d)))),
        15000,
        'the listening line',
      );
      const port = Number(/:(\d+) /.exec(line)[1]);
      const url = `http://127.0.0.1:${port}`;
      const limits = fs.readFileSync(`/proc/${child.pid}/limits`, 'utf8');
      assert.match(limits, /Max open files\s+400\s+400\s/);
      // 400 descriptors, 128 kept back, half of the rest for clients (each may need an upstream
      // connection): 136.
      assert.equal(metricValue(await metrics(url), 'shepherd_client_connections_limit'), 136);
      // A flood of 500 connections: those over the cap are refused or closed, and the process
      // never runs out of descriptors.
      const flood = await Promise.all(
        Array.from(
          { length: 500 },
          () =>
            new Promise((resolve) => {
              const s = net.connect({ host: '127.0.0.1', port });
              s.on('connect', () => resolve(s));
              s.on('error', () => resolve(null));
            }),
        ),
      );
      assert.ok(flood.filter(Boolean).length > 136, 'more connections than the cap were made');
      // Full: a new request is refused (or, while 64 refusals are under way, closed at once).
      const during = await withTimeout(exchangeUntilClose(port).catch(() => ({ text: '' })), 5000, 'a refusal');
      assert.ok(during.text === '' || /^HTTP\/1\.1 503 /.test(during.text), during.text);
      for (const s of flood) s?.destroy();
      const m = await pollUntil(
        async () => {
          const r = await request(`${url}/metrics`).catch(() => null);
          return r?.status === 200 ? parseMetrics(r.text) : null;
        },
        Boolean,
        { timeoutMs: 10000, what: 'metrics after the flood' },
      );
      assert.ok(metricValue(m, 'shepherd_connections_refused_total', { reason: 'max_connections' }) > 0);
      await pollUntil(async () => metricValue(await metrics(url), 'shepherd_client_connections') === 1, Boolean, {
        what: 'the flood connections to be gone',
      });
      assert.doesNotMatch(stderr, /accept failed|Too many open files/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    }
  });
});
