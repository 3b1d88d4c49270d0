// Upgrades without a dropped request (SIGUSR2): the running process hands its listening sockets
// to a new one started from the same binary path, and drains. Under continuous load (32
// connections, streamed and not), five upgrades in a row, one onto a replaced binary file and
// one onto a changed config: no request fails, no connection is reset, every stream is whole.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BIN,
  chatBody,
  cleanup,
  gatewayConfig,
  makeTempDir,
  openaiProvider,
  pollUntil,
  request,
  startMock,
  startShepherd,
  writeConfig,
} from '../support/harness.mjs';

const CHUNKS = 12;
const CONNECTIONS = 32;

// Whether `pid` still runs (a zombie, waiting for its parent to reap it, has ended).
function running(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

// One client connection's loop: kept-alive requests, streamed and not, until `state.stop`.
async function client(index, url, state) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  agent.on('free', (socket) => socket.on('error', () => {}));
  for (let i = 0; !state.stop; i++) {
    const stream = (index + i) % 2 === 0;
    try {
      const r = await request(`${url}/v1/chat/completions`, {
        method: 'POST',
        agent,
        body: chatBody('m1', { stream }),
        timeoutMs: 20000,
      });
      if (r.status !== 200) {
        state.failures.push(`status ${r.status}: ${r.text.slice(0, 200)}`);
        continue;
      }
      if (stream) {
        const chunks = r.text.split('\n\n').filter((e) => e.startsWith('data: '));
        const done = chunks.at(-1) === 'data: [DONE]';
        const content = chunks.filter((e) => e.includes('"content":"') && !e.includes('"content":""'));
        const finish = chunks.some((e) => e.includes('"finish_reason":"stop"'));
        if (!done || content.length !== CHUNKS || !finish) {
          state.failures.push(`incomplete stream: ${content.length} chunks, done ${done}`);
          continue;
        }
        state.streams++;
      } else if (r.json().choices?.[0]?.finish_reason !== 'stop') {
        state.failures.push(`unfinished answer: ${r.text.slice(0, 200)}`);
        continue;
      }
      state.completed++;
    } catch (error) {
      state.failures.push(`${error.code ?? ''} ${error.message}`);
    }
  }
  agent.destroy();
}

describe('upgrades under load (SIGUSR2)', () => {
  let mock;
  let dir;
  let pidFile;
  let bin;

  before(async () => {
    mock = await startMock(['--chunks', String(CHUNKS), '--chunk-delay-ms', '15']);
    dir = makeTempDir();
    pidFile = path.join(dir, 'shepherd.pid');
    // A copy of the binary, so that the test can replace the file as a package upgrade does.
    bin = path.join(dir, 'shepherd');
    fs.copyFileSync(BIN, bin);
    fs.chmodSync(bin, 0o755);
  });
  after(async () => {
    // After the first upgrade the process serving is no child of this test: stop it by its pid.
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
    if (pid && running(pid)) {
      process.kill(pid, 'SIGTERM');
      await pollUntil(() => !running(pid), Boolean, { timeoutMs: 15000, what: 'the last process to stop' });
    }
    await cleanup();
  });

  test('five upgrades in a row: zero failed requests, every stream complete', async () => {
    const config = (models) =>
      gatewayConfig({
        server: { threads: 2, timeouts: { drain: '20s', drain_idle: '1s' } },
        providers: { mock: openaiProvider(mock) },
        models: Object.fromEntries(models.map((m) => [m, { deployments: [{ provider: 'mock', model: 'gpt-4.1' }] }])),
      });
    const first = await startShepherd(config(['m1']), { dir, bin, args: ['--pid-file', pidFile] });
    const url = first.url;
    const state = { stop: false, failures: [], completed: 0, streams: 0 };
    const clients = Array.from({ length: CONNECTIONS }, (_, i) => client(i, url, state));
    const seen = [];
    try {
      await pollUntil(() => state.completed >= 100, Boolean, { timeoutMs: 20000, what: 'load to run' });
      let pid = await pollUntil(() => Number(fs.readFileSync(pidFile, 'utf8')), Boolean, { what: 'the pid file' });
      for (let round = 1; round <= 5; round++) {
        if (round === 3) {
          // A new binary file at the same path (written beside, then renamed over, as dpkg does).
          fs.copyFileSync(BIN, `${bin}.new`);
          fs.chmodSync(`${bin}.new`, 0o755);
          fs.renameSync(`${bin}.new`, bin);
        }
        if (round === 4) writeConfig(dir, config(['m1', 'm2']));
        const before = state.completed;
        process.kill(pid, 'SIGUSR2');
        const next = await pollUntil(
          () => {
            const p = Number(fs.readFileSync(pidFile, 'utf8'));
            return p !== pid ? p : 0;
          },
          Boolean,
          { timeoutMs: 20000, what: `the new process of upgrade ${round}` },
        );
        await pollUntil(() => !running(pid), Boolean, { timeoutMs: 25000, what: `process ${pid} to drain and exit` });
        // The new process serves the load on its own now.
        await pollUntil(() => state.completed >= before + 50, Boolean, { timeoutMs: 20000, what: 'load after the upgrade' });
        seen.push(next);
        pid = next;
      }
      const models = await request(`${url}/v1/models`);
      assert.deepEqual(
        models.json().data.map((m) => m.id).sort(),
        ['m1', 'm2'],
        'the upgrade in round 4 read the changed config',
      );
    } finally {
      state.stop = true;
      await Promise.all(clients);
    }
    assert.equal(new Set(seen).size, 5, `five new processes: ${seen}`);
    assert.deepEqual(state.failures, [], `${state.failures.length} failed of ${state.completed + state.failures.length}`);
    assert.ok(state.streams >= 100, `streams completed: ${state.streams}`);
  });
});

describe('an upgrade that fails', () => {
  after(cleanup);

  test('a new process that cannot start leaves the old one serving', async () => {
    const mock = await startMock();
    const dir = makeTempDir();
    const pidFile = path.join(dir, 'shepherd.pid');
    const config = gatewayConfig({
      providers: { mock: openaiProvider(mock) },
      models: { m1: { deployments: [{ provider: 'mock', model: 'gpt-4.1' }] } },
    });
    const shepherd = await startShepherd(config, { dir, args: ['--pid-file', pidFile] });
    const pid = await pollUntil(() => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8')), Boolean, {
      what: 'the pid file',
    });
    assert.equal(pid, shepherd.child.pid);
    writeConfig(dir, 'server: {listen: 127.0.0.1:0, unknown_setting: 1}\n');
    process.kill(pid, 'SIGUSR2');
    await pollUntil(() => shepherd.stderr.includes('upgrade failed'), Boolean, { timeoutMs: 10000, what: 'the failure' });
    assert.match(shepherd.stderr, /upgrade failed: process \d+ exited with code 2 before it served/);
    assert.ok(shepherd.alive);
    assert.equal(Number(fs.readFileSync(pidFile, 'utf8')), pid);
    const r = await request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('m1') });
    assert.equal(r.status, 200);
    // Stopped normally, it removes its pid file.
    await shepherd.stop();
    assert.equal(fs.existsSync(pidFile), false);
  });
});

describe('what an upgrade hands over besides the sockets', () => {
  let successor = 0;
  after(async () => {
    // Not a child of this test: stopped by its pid, whatever the test's outcome.
    if (successor && running(successor)) {
      process.kill(successor, 'SIGTERM');
      await pollUntil(() => !running(successor), Boolean, { timeoutMs: 15000, what: 'the new process to stop' });
    }
    await cleanup();
  });

  test('a deployment drained through the admin API stays drained in the new process', async () => {
    const mock = await startMock();
    const dir = makeTempDir();
    const pidFile = path.join(dir, 'shepherd.pid');
    const master = 'upgrade-master-key';
    const config = gatewayConfig({
      server: { master_key: 'env:UPGRADE_MASTER' },
      providers: { a: openaiProvider(mock), b: openaiProvider(mock) },
      models: { m1: { deployments: [{ id: 'one', provider: 'a', model: 'gpt-4.1' }, { id: 'two', provider: 'b', model: 'gpt-4.1' }] } },
    });
    const shepherd = await startShepherd(config, { dir, env: { UPGRADE_MASTER: master }, args: ['--pid-file', pidFile] });
    const admin = (method, p) => request(`${shepherd.url}${p}`, { method, headers: { authorization: `Bearer ${master}` } });
    const states = async () =>
      Object.fromEntries((await admin('GET', '/admin/deployments')).json().deployments.map((d) => [d.id, d.state]));
    assert.equal((await admin('POST', '/admin/deployments/two/drain')).status, 200);
    assert.deepEqual(await states(), { one: 'available', two: 'drained' });
    const pid = await pollUntil(() => fs.existsSync(pidFile) && Number(fs.readFileSync(pidFile, 'utf8')), Boolean, {
      what: 'the pid file',
    });
    assert.equal(pid, shepherd.child.pid);
    process.kill(pid, 'SIGUSR2');
    successor = await pollUntil(
      () => {
        const p = Number(fs.readFileSync(pidFile, 'utf8'));
        return p !== pid ? p : 0;
      },
      Boolean,
      { timeoutMs: 15000, what: 'the new process' },
    );
    await pollUntil(() => !running(pid), Boolean, { timeoutMs: 15000, what: 'the old process to exit' });
    // The new process answers now, and still has "two" out of rotation.
    assert.deepEqual(await states(), { one: 'available', two: 'drained' });
    await pollUntil(() => shepherd.stderr.includes('stay drained: two'), Boolean, { what: 'the log line' });
  });
});
