// The Debian package (cmake/packaging.cmake, packaging/): built by CPack with
// `cmake --build <dir> --target package`, unpacked with dpkg-deb into a scratch root, then
// checked there: its files and control data, its default config (validated, then served by
// the unpacked binary) and its systemd unit (systemd-analyze verify and security, offline).
//
//   SHEPHERD_PACKAGE_BUILD_DIR        the build tree (default build/dev, the one tools/test has
//                                     just built; configured with `cmake --preset dev` when it
//                                     is not yet). CPack strips the binary either way.
//   SHEPHERD_PACKAGE_BUILD_TIMEOUT    seconds the package build may take (default 1800)
//
// Needs cmake, dpkg-deb, dpkg-shlibdeps (dpkg-dev), file, readelf (binutils) and systemd-analyze
// (systemd); fails, never skips, without them.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD_DIR = path.resolve(REPO_ROOT, process.env.SHEPHERD_PACKAGE_BUILD_DIR || 'build/dev');
const DEFAULT_BUILD_DIR = path.resolve(REPO_ROOT, 'build/dev');
const BUILD_TIMEOUT_MS = Number(process.env.SHEPHERD_PACKAGE_BUILD_TIMEOUT || 1800) * 1000;

// The scratch root the package is unpacked into. The harness runs the binary SHEPHERD_BIN names,
// read when it is imported: here the one from the package.
const SCRATCH = fs.mkdtempSync(path.join(os.tmpdir(), 'shepherd-package-'));
const ROOT = path.join(SCRATCH, 'root');
const CONTROL = path.join(SCRATCH, 'control');
const inRoot = (p) => path.join(ROOT, p);
process.env.SHEPHERD_BIN = inRoot('/usr/bin/shepherd');
const { cleanup, makeTempDir, request, runCli, spawnServer } = await import('../support/harness.mjs');

const UNIT = '/lib/systemd/system/shepherd.service';
const CONFIG = '/etc/shepherd/shepherd.yaml';
const ENV_FILE = '/etc/shepherd/shepherd.env';
const STORE_URL = 'sqlite:///var/lib/shepherd/shepherd.db';
const SHEPHERD_READY = /^shepherd listening on (https?):\/\/(\[[^\]]+\]|[^\s:/]+):(\d+)\b/;

// Every regular file the package installs, with its mode (all are root's).
const FILES = {
  '/usr/bin/shepherd': '-rwxr-xr-x',
  [UNIT]: '-rw-r--r--',
  [CONFIG]: '-rw-r--r--',
  [ENV_FILE]: '-rw-------',
  '/usr/share/doc/shepherd/README.md': '-rw-r--r--',
  '/usr/share/doc/shepherd/config.md': '-rw-r--r--',
};

// Process groups of the commands running now, killed if this process exits first.
const running = new Set();
process.on('exit', () => {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Runs a command to completion in its own process group, bounded by timeoutMs (then the whole
 * group, compilers included, is killed). Resolves {code, signal, stdout, stderr, timedOut}.
 */
function run(cmd, args, { timeoutMs = 60000, cwd = REPO_ROOT, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, detached: true, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    if (input !== undefined) child.stdin.end(input);
    if (child.pid) running.add(child.pid);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child.pid);
      reject(error.code === 'ENOENT' ? new Error(`${cmd} is not on PATH (tools/deps.sh installs it)`) : error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** run() that must exit 0; returns stdout. */
async function runOk(cmd, args, options) {
  const r = await run(cmd, args, options);
  const what = `${cmd} ${args.join(' ')}`;
  assert.ok(!r.timedOut, `${what}: still running after ${options?.timeoutMs ?? 60000} ms\n${tail(r.stdout + r.stderr)}`);
  assert.equal(r.code, 0, `${what} exited with ${r.code} (signal ${r.signal}):\n${tail(r.stdout + r.stderr)}`);
  return r.stdout;
}

const tail = (text, n = 12000) => (text.length > n ? `...${text.slice(-n)}` : text);

/** The tools this test needs, each with the Debian package that has it. */
function requireTools() {
  const tools = [
    ['cmake', 'cmake'],
    ['dpkg-deb', 'dpkg'],
    ['dpkg-shlibdeps', 'dpkg-dev'], // CPack's Depends
    ['file', 'file'], // CPack finds the binaries to give dpkg-shlibdeps with it
    ['readelf', 'binutils'],
    ['systemd-analyze', 'systemd'],
  ];
  for (const [tool, pkg] of tools) {
    const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if (r.error?.code === 'ENOENT') assert.fail(`${tool} is not on PATH: install Debian's ${pkg} package (tools/deps.sh)`);
  }
}

/** The unit file's directives: Map name → [values] (a directive may repeat; sections merged). */
function unitDirectives(text) {
  const d = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `a unit line that is not a directive: ${JSON.stringify(raw)}`);
    const key = line.slice(0, eq);
    d.set(key, [...(d.get(key) ?? []), line.slice(eq + 1)]);
  }
  return d;
}

/** Seconds in a systemd time span or a Shepherd duration: 45s, 2m, 1min 30s, 90 (seconds). */
function seconds(span) {
  const units = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const m of String(span).trim().matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)) {
    const unit = m[2] || 's';
    assert.ok(unit in units, `a time unit this test knows: ${JSON.stringify(span)}`);
    total += Number(m[1]) * units[unit];
  }
  return total;
}

/** Writes `text` as shepherd.service in a temp dir, /usr/bin/shepherd moved to the scratch root. */
function unitCopy(text) {
  const file = path.join(makeTempDir('shepherd-unit-'), 'shepherd.service');
  fs.writeFileSync(file, text.replaceAll('/usr/bin/shepherd', inRoot('/usr/bin/shepherd')));
  return file;
}

/**
 * systemd-analyze verify of `text` as shepherd.service. The unit names /usr/bin/shepherd, which
 * is installed only in the scratch root: a copy with that path moved there is verified (the
 * directives, the units it orders itself after, and that every Exec path is an executable
 * file). `--root` is no substitute: it would look for sysinit.target and /bin/kill in the
 * scratch root too. An unknown directive or a value it cannot parse is only logged (exit 0),
 * so every line about the unit counts. Resolves {code, output, diagnostics: those lines}.
 */
async function verifyUnit(text) {
  const file = unitCopy(text);
  const r = await run('systemd-analyze', ['verify', file], { timeoutMs: 30000 });
  assert.ok(!r.timedOut, 'systemd-analyze verify finished');
  const output = `${r.stdout}${r.stderr}`;
  const diagnostics = output.split('\n').filter((l) => l.includes('shepherd.service'));
  return { code: r.code, output, diagnostics };
}

/** systemd-analyze security --offline of `text`: {code, exposure, output}. */
async function unitExposure(text, threshold) {
  const file = unitCopy(text);
  const r = await run('systemd-analyze', ['security', '--offline=yes', `--threshold=${threshold}`, '--no-pager', file], { timeoutMs: 30000 });
  assert.ok(!r.timedOut, 'systemd-analyze security finished');
  const output = `${r.stdout}${r.stderr}`;
  const m = /Overall exposure level for shepherd\.service: (\d+(?:\.\d+)?)/.exec(output);
  assert.ok(m, `an overall exposure level in:\n${output}`);
  return { code: r.code, exposure: Number(m[1]), output };
}

describe('the Debian package', { timeout: BUILD_TIMEOUT_MS + 300000 }, () => {
  let deb;
  let buildSeconds;

  before(async () => {
    requireTools();
    if (!fs.existsSync(path.join(BUILD_DIR, 'CMakeCache.txt'))) {
      assert.equal(BUILD_DIR, DEFAULT_BUILD_DIR, `${BUILD_DIR} is not a configured build tree`);
      await runOk('cmake', ['--preset', 'dev'], { timeoutMs: 300000 });
    }
    const started = Date.now();
    const out = await runOk('cmake', ['--build', BUILD_DIR, '--target', 'package'], { timeoutMs: BUILD_TIMEOUT_MS });
    buildSeconds = (Date.now() - started) / 1000;
    const m = /CPack: - package: (\S+\.deb) generated\./.exec(out);
    assert.ok(m, `CPack named the package it made:\n${tail(out)}`);
    deb = m[1];
    // CPack writes the package anew on every run of the target.
    assert.ok(fs.statSync(deb).mtimeMs >= started - 2000, `${deb} was written by this build`);
    await runOk('dpkg-deb', ['-x', deb, ROOT]);
    await runOk('dpkg-deb', ['-e', deb, CONTROL]);
  });

  after(async () => {
    await cleanup();
    fs.rmSync(SCRATCH, { recursive: true, force: true });
  });

  test('is named after the project and its version', (t) => {
    t.diagnostic(`cmake --build ${path.relative(REPO_ROOT, BUILD_DIR) || '.'} --target package: ${buildSeconds.toFixed(1)} s`);
    const version = /project\(shepherd VERSION (\S+)/.exec(fs.readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8'))[1];
    const arch = spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(path.basename(deb), `shepherd_${version}_${arch}.deb`);
    assert.equal(path.dirname(deb), BUILD_DIR);
  });

  test('installs the binary, the unit, the config, the secrets template and the docs, owned by root', async () => {
    const listing = await runOk('dpkg-deb', ['-c', deb]);
    const files = {};
    for (const line of listing.trim().split('\n')) {
      const m = /^(\S+)\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\.(\/\S*)$/.exec(line);
      assert.ok(m, `a dpkg-deb -c line: ${JSON.stringify(line)}`);
      const [, mode, owner, p] = m;
      assert.equal(owner, 'root/root', `${p} is owned by root`);
      if (mode.startsWith('-')) files[p] = mode;
      else assert.ok(mode.startsWith('d'), `${p} is a file or a directory (${mode})`);
    }
    assert.deepEqual(files, FILES);
    for (const p of Object.keys(FILES)) assert.ok(fs.statSync(inRoot(p)).isFile(), `${p} unpacked`);
    // Stripped: no symbol table (CPACK_STRIP_FILES).
    const sections = spawnSync('readelf', ['-S', '-W', inRoot('/usr/bin/shepherd')], { encoding: 'utf8' });
    assert.equal(sections.status, 0, sections.stderr);
    assert.doesNotMatch(sections.stdout, /\.symtab/, 'the binary is stripped');
  });

  test('control data: name, version, section, maintainer, Depends from dpkg-shlibdeps, conffiles', async () => {
    const info = await runOk('dpkg-deb', ['-I', deb]);
    for (const member of ['control', 'conffiles', 'postinst', 'prerm', 'postrm', 'md5sums']) {
      assert.match(info, new RegExp(`^\\s+\\d+ bytes,\\s+\\d+ lines\\s+\\*?\\s*${member}\\b`, 'm'), `control member ${member}:\n${info}`);
    }
    const control = await runOk('dpkg-deb', ['-I', deb, 'control']);
    const fields = {};
    for (const m of control.matchAll(/^([A-Za-z-]+): (.*)$/gm)) fields[m[1]] = m[2];
    const version = /project\(shepherd VERSION (\S+)/.exec(fs.readFileSync(path.join(REPO_ROOT, 'CMakeLists.txt'), 'utf8'))[1];
    assert.equal(fields.Package, 'shepherd');
    assert.equal(fields.Version, version);
    assert.equal(fields.Section, 'net');
    assert.match(fields.Maintainer ?? '', /^\S.* <[^@\s]+@[^>\s]+>$/);
    // A synopsis, then an extended description: lines starting with a space, none repeating the
    // synopsis or carrying a CMake list separator.
    assert.equal(fields.Description, 'LLM API gateway');
    const extended = /^Description: .*\n((?: .*\n?)+)/m.exec(control)?.[1] ?? '';
    assert.match(extended, /^ Shepherd speaks/, `extended description:\n${control}`);
    assert.doesNotMatch(extended, /^ [;]|^ LLM API gateway$/m, `extended description:\n${control}`);
    // Depends: non-empty, with what dpkg-shlibdeps found in the binary (libraries it links) and
    // adduser for postinst.
    const depends = (fields.Depends ?? '').split(',').map((d) => d.trim().split(' ')[0]);
    for (const d of ['adduser', 'libc6', 'libstdc++6', 'libssl3', 'libsqlite3-0', 'libpq5']) {
      assert.ok(depends.includes(d), `Depends names ${d}: ${fields.Depends}`);
    }
    assert.match(fields.Depends, /libc6 \(>= [\d.]+\)/, 'versioned by dpkg-shlibdeps');

    const conffiles = (await runOk('dpkg-deb', ['-I', deb, 'conffiles'])).trim().split('\n');
    assert.deepEqual(conffiles.sort(), [ENV_FILE, CONFIG].sort());
  });

  test('maintainer scripts: executable, valid sh, creating the user the unit runs as', async () => {
    for (const script of ['postinst', 'prerm', 'postrm']) {
      const file = path.join(CONTROL, script);
      assert.equal(fs.statSync(file).mode & 0o777, 0o755, `${script} is 0755`);
      const r = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `sh -n ${script}: ${r.stderr}`);
    }
    const user = unitDirectives(fs.readFileSync(inRoot(UNIT), 'utf8')).get('User')?.[0];
    assert.ok(user, 'the unit names its User');
    const postinst = fs.readFileSync(path.join(CONTROL, 'postinst'), 'utf8');
    assert.match(postinst, new RegExp(`adduser --system [^\\n]*(?:\\\\\\n[^\\n]*)*\\b${user}\\n`), `postinst creates the system user ${user}`);
  });

  test('config validate accepts the default config', async () => {
    const r = await runCli(['config', 'validate', inRoot(CONFIG)]);
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /: valid \(/);
  });

  test('serve runs the default config (store moved to a temp dir, port 0) and answers /health', async () => {
    const text = fs.readFileSync(inRoot(CONFIG), 'utf8');
    assert.equal(text.split(STORE_URL).length - 1, 1, `the default config names its store once as ${STORE_URL}`);
    const dir = makeTempDir('shepherd-package-serve-');
    const config = path.join(dir, 'shepherd.yaml');
    fs.writeFileSync(config, text.replace(STORE_URL, `sqlite://${path.join(dir, 'shepherd.db')}`));
    const server = await spawnServer(['serve', '--config', config, '--listen', '127.0.0.1:0'], {
      readyRe: SHEPHERD_READY,
      name: 'packaged shepherd serve',
    });
    const url = `http://127.0.0.1:${server.match[3]}`;
    const health = await request(`${url}/health`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json().status, 'ok');
    assert.ok(fs.existsSync(path.join(dir, 'shepherd.db')), `the store was created where the config says:\n${server.stderr}`);
    const exit = await server.stop(10000);
    assert.deepEqual([exit.code, exit.signal], [0, null], `a clean stop on SIGTERM:\n${server.stderr}`);
  });

  test('the unit: commands, user, state, secrets and sandbox directives', () => {
    const d = unitDirectives(fs.readFileSync(inRoot(UNIT), 'utf8'));
    const one = (key) => {
      const v = d.get(key);
      assert.ok(v, `${key}= is set`);
      return v.at(-1);
    };
    assert.equal(one('ExecStart'), `/usr/bin/shepherd serve --config ${CONFIG}`);
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(one('EnvironmentFile'), `-${ENV_FILE}`);
    assert.equal(one('KillSignal'), 'SIGTERM');
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(one('LimitNOFILE'), '65536');
    assert.equal(one('StateDirectory'), 'shepherd');
    assert.equal(one('WorkingDirectory'), '/var/lib/shepherd');
    assert.ok(one('User') !== 'root' || one('DynamicUser') === 'yes', 'a dedicated user');
    for (const [key, value] of Object.entries({
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      NoNewPrivileges: 'yes',
      PrivateTmp: 'yes',
      CapabilityBoundingSet: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
      SystemCallArchitectures: 'native',
      LockPersonality: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectControlGroups: 'yes',
    })) {
      assert.equal(one(key), value, key);
    }
    // What the unit names is in the package, and the store is in the state directory.
    for (const p of [one('ExecStart').split(' ')[0], CONFIG, ENV_FILE]) assert.ok(fs.existsSync(inRoot(p)), `${p} is packaged`);
    const config = fs.readFileSync(inRoot(CONFIG), 'utf8');
    assert.ok(config.includes(`url: sqlite:///var/lib/${one('StateDirectory')}/`), 'the store is in the StateDirectory');
    // systemd must wait longer than the drain before it sends SIGKILL.
    const drain = /^\s+drain:\s*(\S+)/m.exec(config)?.[1] ?? '30s';
    assert.ok(seconds(one('TimeoutStopSec')) > seconds(drain), `TimeoutStopSec=${one('TimeoutStopSec')} > drain ${drain}`);
    // systemd-analyze verify does not read [Install]: the target it is enabled into must exist.
    for (const target of one('WantedBy').split(/\s+/)) {
      assert.ok(['/lib/systemd/system', '/usr/lib/systemd/system'].some((dir) => fs.existsSync(path.join(dir, target))), `WantedBy=${target} is a unit systemd has`);
    }
    // The secrets template is explained in the config.
    assert.ok(config.includes(ENV_FILE), `the default config tells about ${ENV_FILE}`);
  });

  test('systemd-analyze verify accepts the unit', async () => {
    const text = fs.readFileSync(inRoot(UNIT), 'utf8');
    const r = await verifyUnit(text);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.diagnostics, [], r.output);
  });

  test('systemd-analyze verify reports a broken copy of the unit', async () => {
    const text = fs.readFileSync(inRoot(UNIT), 'utf8');
    const breakages = [
      ['a misspelt directive', 'ProtectSystem=strict', 'ProtectSytem=strict', /Unknown key 'ProtectSytem'/],
      ['a bad value', 'ProtectSystem=strict', 'ProtectSystem=strikt', /Failed to parse protect system value/],
      ['a missing ExecStart binary', '/usr/bin/shepherd serve', '/usr/bin/shepherd-gateway serve', /not executable|No such file/],
      ['a missing ExecReload binary', 'ExecReload=/bin/kill ', 'ExecReload=/bin/kil ', /not executable|No such file/],
      ['an unknown section', '[Service]', '[Servise]', /Servise|Unknown section/],
    ];
    for (const [what, from, to, expect] of breakages) {
      assert.ok(text.includes(from), `the unit has ${JSON.stringify(from)}`);
      const r = await verifyUnit(text.replace(from, to));
      assert.ok(r.diagnostics.length > 0, `${what}: reported\n${r.output}`);
      assert.match(r.diagnostics.join('\n'), expect, `${what}:\n${r.output}`);
    }
  });

  test('systemd-analyze security rates the sandbox (offline): exposure at most 2.0 of 10', async () => {
    const text = fs.readFileSync(inRoot(UNIT), 'utf8');
    const good = await unitExposure(text, 20);
    assert.equal(good.code, 0, good.output);
    assert.ok(good.exposure <= 2.0, `exposure ${good.exposure}`);
    // The same commands without the sandbox fail that threshold.
    const bare = text
      .split('\n')
      .filter((l) => /^(\[|Description=|Type=|User=|Group=|Exec)/.test(l))
      .join('\n');
    const weak = await unitExposure(bare, 20);
    assert.notEqual(weak.code, 0, weak.output);
    assert.ok(weak.exposure > 2.0, `exposure ${weak.exposure}`);
  });
});
