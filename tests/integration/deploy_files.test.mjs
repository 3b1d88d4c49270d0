// The deployment files: Dockerfile, .dockerignore, deploy/compose.yaml (with deploy/compose/:
// Shepherd's config, nginx, Prometheus, Grafana provisioning) and deploy/kubernetes/. Every port,
// path, flag and file they name is checked against what the binary really serves and accepts:
//
//   - each config file they mount is validated with `shepherd config validate` (the variables it
//     names as env:NAME set to dummy values) and then served by a live `shepherd serve`, adapted
//     to loopback only: listeners on 127.0.0.1:0, providers at the mock upstream, absolute state
//     paths in a temp folder; PostgreSQL and Redis are real throwaway servers on loopback;
//   - probe, health-check and scrape paths are fetched from that live server on the port the
//     file names, which must be one of the config's listen ports;
//   - container ports must equal the config's listen ports;
//   - subcommands and flags of CMD / args / command must appear in `shepherd <sub> --help`;
//   - the runtime image's packages must hold every shared library the binary links (ldd, dpkg);
//   - nginx.conf is run by a real nginx (when installed) in front of two live instances.
//
// The checks return lists of problems; the last describe block edits copies of the files (a wrong
// probe path, port, flag, scrape path...) and requires each edit to be reported, so that the
// checks are known to fail when the files are wrong.
//
// The container image itself is built and run only on request (podman, debian:12 and
// debian:12-slim images present locally): SHEPHERD_CONTAINER_TEST=runtime builds the runtime
// stage around $SHEPHERD_BIN and runs it; `configure` builds the build stage up to
// `cmake --preset release`; `full` builds the Dockerfile as it is (compiling Shepherd) and runs
// that image. Comma-separate to combine; SHEPHERD_PODMAN_FLAGS adds global podman flags (e.g.
// "--runtime runc").
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  BIN,
  REPO_ROOT,
  bearer,
  chatBody,
  cleanup,
  closedPort,
  makeTempDir,
  metricValue,
  parseMetrics,
  pollUntil,
  readSSE,
  request,
  runCli,
  startMock,
  startShepherd,
  tryRequest,
} from '../support/harness.mjs';
import { parseYaml, parseYamlDocuments } from '../support/yaml.mjs';

const FILES = {
  dockerfile: 'Dockerfile',
  dockerignore: '.dockerignore',
  compose: 'deploy/compose.yaml',
  kubernetes: 'deploy/kubernetes',
};
// Packages of tools/deps.sh that only the tests, the sanitizer and fuzz builds, the benchmarks
// and the formatter need: the image's build stage leaves them out.
const TEST_ONLY_PACKAGES = [
  'clang', 'clang-format', 'libclang-rt-14-dev', 'libfuzzer-14-dev', 'openssl', 'postgresql',
  'googletest', 'libgtest-dev', 'libgmock-dev', 'redis-server', 'prometheus', 'nginx-light',
  'systemd', 'file', 'dpkg-dev', 'chromium',
];
const SANITIZER_RUNTIME = /^lib(asan|ubsan|lsan|tsan|hwasan)\.so/;
const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;
const SECRET_NAME = /KEY|SECRET|PASSWORD|TOKEN/i;

const readText = (root, rel) => fs.readFileSync(path.join(root, rel), 'utf8');

// ---------------------------------------------------------------------------------------------
// Small readers: durations, sizes, quantities, host:port, the Dockerfile, nginx.conf.

/** Seconds of a Shepherd duration (`30s`, `250ms`, `2m`, `1h`, bare seconds). */
function seconds(d) {
  if (typeof d === 'number') return d;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(d).trim());
  assert.ok(m, `a duration: ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, undefined: 1 }[m[2]];
}

/** Bytes of a Shepherd size (`4MiB`, `512KiB`, bare bytes) or an nginx size (`4m`, `512k`). */
function bytes(s) {
  const m = /^(\d+)\s*(KiB|MiB|GiB|k|K|m|M|g|G)?$/.exec(String(s).trim());
  assert.ok(m, `a size: ${s}`);
  const unit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2, g: 1024 ** 3, G: 1024 ** 3 };
  return Number(m[1]) * (m[2] ? unit[m[2]] : 1);
}

/** A Kubernetes CPU quantity in cores, a memory quantity in bytes. */
const cores = (q) => (String(q).endsWith('m') ? Number(String(q).slice(0, -1)) / 1000 : Number(q));
function memoryBytes(q) {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  assert.ok(m, `a memory quantity: ${q}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? unit[m[2]] : 1);
}

/** {host, port} of `host:port` or `[v6]:port`. */
function hostPort(s) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(String(s));
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

/** Logical lines of a Dockerfile (continuations joined, comments dropped) as stages. */
function parseDockerfile(text) {
  const logical = [];
  let buf = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (buf === '' && line === '')) continue;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((buf + line).trim());
    buf = '';
  }
  if (buf) logical.push(buf.trim());
  const stages = [];
  for (const line of logical) {
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instruction = { cmd: m[1].toUpperCase(), args: m[2].trim() };
    if (instruction.args.startsWith('[')) {
      try {
        instruction.json = JSON.parse(instruction.args);
      } catch {
        // shell form after all
      }
    }
    if (instruction.cmd === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      stages.push({ from: f[1], name: f[2] ?? null, instructions: [] });
    } else if (stages.length) {
      stages.at(-1).instructions.push(instruction);
    }
  }
  return stages;
}

const instructions = (stage, cmd) => stage.instructions.filter((i) => i.cmd === cmd);

/** The package names of every `apt-get install` in a RUN line. */
function aptInstalls(run) {
  const out = [];
  for (const part of run.split(/&&|;/)) {
    const m = /apt-get\s+install\s+(.*)$/.exec(part.trim());
    if (m) out.push(...m[1].split(/\s+/).filter((t) => t && !t.startsWith('-')));
  }
  return out;
}

/** An nginx config as nested blocks: {directives: [{name, args, block?}]}. */
function parseNginx(text) {
  const tokens = [];
  const re = /#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};#"']+)/g;
  for (const m of text.matchAll(re)) {
    if (m[0].startsWith('#')) continue;
    tokens.push(m[3] ? { punct: m[3] } : { word: m[1] ?? m[2] ?? m[4] });
  }
  let i = 0;
  const block = () => {
    const directives = [];
    while (i < tokens.length) {
      if (tokens[i].punct === '}') {
        i += 1;
        return directives;
      }
      const words = [];
      while (i < tokens.length && !tokens[i].punct) words.push(tokens[i++].word);
      const p = tokens[i++]?.punct;
      const d = { name: words[0], args: words.slice(1) };
      if (p === '{') d.block = block();
      directives.push(d);
    }
    return directives;
  };
  return block();
}

const nginxFind = (dirs, name) => dirs.filter((d) => d.name === name);

// ---------------------------------------------------------------------------------------------
// The binary: help texts, config validation, libraries.

const helpCache = new Map();
async function help(args) {
  const key = args.join(' ');
  if (!helpCache.has(key)) {
    const r = await runCli([...args, '--help']);
    helpCache.set(key, r.code === 0 ? r.stdout : null);
  }
  return helpCache.get(key);
}

/** Subcommands listed by `shepherd --help`. */
async function subcommands() {
  const text = (await help([])) ?? '';
  const section = text.split(/^Subcommands:\s*$/m)[1] ?? '';
  return new Set([...section.matchAll(/^\s{2}(\S+)\s/gm)].map((m) => m[1]));
}

/**
 * Checks an argv given to the binary (CMD, args, command): its subcommand exists and each of its
 * flags appears in `shepherd <sub> --help`. Returns {problems, config: the --config value}.
 */
async function checkArgv(argv, where) {
  const problems = [];
  if (!Array.isArray(argv) || argv.length === 0) return { problems: [`${where}: no argument list`], config: null };
  const [sub, ...rest] = argv;
  if (!(await subcommands()).has(sub)) problems.push(`${where}: "${sub}" is not a subcommand of shepherd (shepherd --help)`);
  const text = (await help([sub])) ?? '';
  const flags = new Set([...text.matchAll(/(?:^|[\s,])(--?[A-Za-z][\w-]*)/g)].map((m) => m[1]));
  let config = null;
  for (let k = 0; k < rest.length; k += 1) {
    const arg = rest[k];
    if (!arg.startsWith('-')) continue;
    const flag = arg.split('=')[0];
    if (!flags.has(flag)) problems.push(`${where}: flag ${flag} is not accepted by \`shepherd ${sub}\` (its --help lists ${[...flags].join(' ')})`);
    if (flag === '--config' || flag === '-c') config = arg.includes('=') ? arg.split('=').slice(1).join('=') : rest[k + 1];
  }
  return { problems, config };
}

/** Every env:NAME a config names. */
function envRefs(value, out = new Set()) {
  if (typeof value === 'string') {
    const m = ENV_REF.exec(value);
    if (m) out.add(m[1]);
  } else if (Array.isArray(value)) {
    for (const v of value) envRefs(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) envRefs(v, out);
  }
  return out;
}

/** Secrets written in a config instead of referenced (docs/config.md: never in the file). */
function literalSecrets(config, where) {
  const problems = [];
  const isRef = (v) => typeof v === 'string' && /^(env|file):/.test(v);
  const visit = (v, at) => {
    if (Array.isArray(v)) v.forEach((x, k) => visit(x, `${at}[${k}]`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        const p = at ? `${at}.${k}` : k;
        if (['api_key', 'master_key', 'secret', 'metrics_token'].includes(k) && x != null && !isRef(x)) problems.push(`${where}: ${p} is written in the file, not referenced (env:NAME)`);
        else if (k === 'api_keys' && Array.isArray(x)) x.forEach((y, n) => !isRef(y) && problems.push(`${where}: ${p}[${n}] is written in the file, not referenced`));
        else visit(x, p);
      }
    }
  };
  visit(config, '');
  for (const [name, url] of [['storage.url', config?.storage?.url], ['redis.url', config?.redis?.url]]) {
    if (typeof url === 'string' && /:\/\/[^/@]*:[^/@]*@/.test(url)) problems.push(`${where}: ${name} carries a password in the file`);
  }
  return problems;
}

/** Dummy values for the variables a config names; the store and Redis variables get `urls`. */
function dummyEnv(config, urls = {}) {
  const env = {};
  for (const name of envRefs(config)) env[name] = `dummy-value-for-${name.toLowerCase()}`;
  const db = ENV_REF.exec(config?.storage?.url ?? '');
  if (db) env[db[1]] = urls.database ?? 'postgres://shepherd:dummy@127.0.0.1:5432/shepherd';
  const redis = ENV_REF.exec(config?.redis?.url ?? '');
  if (redis) env[redis[1]] = urls.redis ?? 'redis://127.0.0.1:6379/0';
  return env;
}

/**
 * `shepherd config validate` on the file as written and on this reader's JSON rendering of it:
 * both must pass and say the same (so that what the live server runs is what the file says).
 */
async function validateConfig(file, config, env, where) {
  const problems = [];
  const r = await runCli(['config', 'validate', file], { env });
  if (r.code !== 0) {
    problems.push(`${where}: shepherd config validate ${path.basename(file)} failed: ${(r.stdout + r.stderr).trim()}`);
    return problems;
  }
  const dir = makeTempDir('shepherd-deploy-json-');
  const json = path.join(dir, 'as-read.yaml');
  fs.writeFileSync(json, JSON.stringify(config));
  const again = await runCli(['config', 'validate', json], { env });
  const summary = (s) => s.trim().replace(/^.*?: valid/, 'valid');
  if (again.code !== 0 || summary(again.stdout) !== summary(r.stdout)) {
    problems.push(`${where}: the test's YAML reader reads the config differently from Shepherd: ${summary(r.stdout)} vs ${(again.stdout + again.stderr).trim()}`);
  }
  return problems;
}

/** The ports a config listens on: {port → 'server' | 'controller' | 'worker'}. */
function listeners(config) {
  const out = new Map();
  out.set(hostPort(config?.server?.listen ?? '127.0.0.1:8000')?.port, 'server');
  const fc = config?.fastchat ?? {};
  if ('controller' in fc) out.set(hostPort(fc.controller?.listen ?? '127.0.0.1:21001')?.port, 'controller');
  if ('worker' in fc) out.set(hostPort(fc.worker?.listen ?? '127.0.0.1:21002')?.port, 'worker');
  return out;
}

/** The files a config writes at run time: the SQLite store and the audit spool. */
function writtenPaths(config, configPath) {
  const out = [];
  const dir = path.posix.dirname(configPath);
  const url = config?.storage?.url ?? 'sqlite://shepherd.db';
  let sqlite = null;
  if (typeof url === 'string' && url.startsWith('sqlite://')) {
    sqlite = path.posix.resolve(dir, url.slice('sqlite://'.length));
    out.push({ what: 'storage.url', file: sqlite });
  }
  if (config?.audit?.spool) out.push({ what: 'audit.spool', file: path.posix.resolve(dir, config.audit.spool) });
  else out.push({ what: 'the audit spool (default)', file: sqlite ? `${sqlite}.audit-spool` : path.posix.join(dir, 'shepherd.audit-spool') });
  return out;
}

/** The config adapted to run here: loopback listeners, providers at the mock, state in `dir`. */
function adaptForLoopback(config, mock, dir) {
  const c = structuredClone(config);
  c.server = { ...(c.server ?? {}), listen: '127.0.0.1:0' };
  if (c.fastchat && 'controller' in c.fastchat) c.fastchat.controller = { ...(c.fastchat.controller ?? {}), listen: '127.0.0.1:0' };
  if (c.fastchat && 'worker' in c.fastchat) {
    c.fastchat.worker = { ...(c.fastchat.worker ?? {}), listen: '127.0.0.1:0' };
    delete c.fastchat.worker.address;
  }
  for (const p of Object.values(c.providers ?? {})) {
    const kind = p.kind ?? 'openai';
    p.base_url = { openai: mock.baseURL, anthropic: mock.url, gemini: `${mock.url}/v1beta` }[kind] ?? p.base_url;
  }
  const url = c.storage?.url;
  if (typeof url === 'string' && url.startsWith('sqlite:///')) c.storage.url = `sqlite://${path.join(dir, path.basename(url))}`;
  if (c.audit?.spool && path.isAbsolute(c.audit.spool)) c.audit.spool = path.join(dir, path.basename(c.audit.spool));
  return c;
}

/**
 * Starts `shepherd serve` with the adapted config; resolves {url, ports: {server, controller,
 * worker} (live ports), pid, stop}.
 */
async function serveLive(config, mock, env) {
  const dir = makeTempDir('shepherd-deploy-live-');
  const shepherd = await startShepherd(adaptForLoopback(config, mock, dir), { env, dir });
  const roles = new Set(listeners(config).values());
  const ports = { server: shepherd.port };
  for (const role of ['controller', 'worker']) {
    if (!roles.has(role)) continue;
    const re = new RegExp(`^${role} listening on https?://[^:]+:(\\d+)`, 'm');
    const out = await pollUntil(() => shepherd.proc.stdout, (s) => re.test(s), { timeoutMs: 10000, what: `${role} listening line` });
    ports[role] = Number(re.exec(out)[1]);
  }
  return { ...shepherd, ports, pid: shepherd.child.pid, urlOf: (role) => `http://127.0.0.1:${ports[role]}` };
}

/** GETs `urlPath` on the live listener serving `port` of `config`; problems when not 200. */
async function probe(live, config, port, urlPath, where, { expectBody } = {}) {
  const role = listeners(config).get(Number(port));
  if (!role) return [`${where}: port ${port} is not a port the config listens on (${[...listeners(config).keys()].join(', ')})`];
  if (!live?.ports[role]) return [`${where}: no live ${role} to probe`];
  const r = await tryRequest(`${live.urlOf(role)}${urlPath}`);
  if (r.status !== 200) return [`${where}: GET ${urlPath} on the ${role} port answered ${r.status} ${r.error?.message ?? r.text?.slice(0, 200) ?? ''}`];
  if (expectBody && !expectBody.test(r.text)) return [`${where}: GET ${urlPath} answered 200 without ${expectBody}`];
  return [];
}

let libraryFacts;
/** The packages of the libraries the binary links: {needed: Set (direct), all: Set (ldd)}. */
function binaryPackages() {
  if (libraryFacts) return libraryFacts;
  const ldd = execFileSync('ldd', [BIN], { encoding: 'utf8' });
  const resolved = new Map();
  for (const m of ldd.matchAll(/^\s*(\S+)\s+=>\s+(\/\S+)/gm)) if (!SANITIZER_RUNTIME.test(m[1])) resolved.set(m[1], m[2]);
  const readelf = execFileSync('readelf', ['-d', BIN], { encoding: 'utf8' });
  const allNeeded = [...readelf.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const sanitized = allNeeded.some((n) => SANITIZER_RUNTIME.test(n));
  const needed = allNeeded.filter((n) => !SANITIZER_RUNTIME.test(n));
  // dpkg knows each file by the path its package installed, before or after /usr merging.
  const candidates = (p) => {
    const real = fs.realpathSync(p);
    const out = new Set();
    for (const q of [p, real]) {
      out.add(q);
      if (q.startsWith('/usr/lib/')) out.add(q.slice(4));
      if (q.startsWith('/lib/')) out.add(`/usr${q}`);
    }
    return [...out];
  };
  const all = [...resolved.values()].flatMap(candidates);
  const r = spawnSync('dpkg', ['-S', ...all], { encoding: 'utf8' });
  const owner = new Map();
  for (const line of r.stdout.split('\n')) {
    const m = /^(.+?): (\/\S+)$/.exec(line);
    if (m) owner.set(m[2], m[1].split(',')[0].trim().replace(/:.*$/, ''));
  }
  const ownerOf = (soname) => {
    const p = resolved.get(soname);
    if (!p) return null;
    for (const c of candidates(p)) if (owner.has(c)) return owner.get(c);
    return null;
  };
  libraryFacts = {
    sanitized,
    needed: new Map(needed.map((n) => [n, ownerOf(n)])),
    all: new Map([...resolved.keys()].map((n) => [n, ownerOf(n)])),
  };
  return libraryFacts;
}

/** The packages `pkgs` depend on (Depends, Pre-Depends), transitively, as installed here. */
function dependencyClosure(pkgs) {
  const seen = new Set(pkgs);
  let frontier = [...pkgs];
  for (let round = 0; round < 50 && frontier.length; round += 1) {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Package}\t${Depends}, ${Pre-Depends}\n', ...frontier], { encoding: 'utf8' });
    frontier = [];
    for (const line of r.stdout.split('\n')) {
      const deps = line.split('\t')[1] ?? '';
      for (const alt of deps.split(/[,|]/)) {
        const name = alt.trim().split(/[\s(:]/)[0];
        if (name && !seen.has(name)) {
          seen.add(name);
          frontier.push(name);
        }
      }
    }
  }
  return seen;
}

/** Whether `rel` (a COPY source) is left out by .dockerignore's patterns. */
function dockerIgnored(patterns, rel) {
  const norm = rel === '.' ? '' : rel.replace(/^\.\//, '').replace(/\/$/, '');
  if (norm === '') return false;
  return patterns.some((p) => {
    const q = p.replace(/^\//, '').replace(/\/$/, '').replace(/^\*\*\//, '');
    return norm === q || norm.startsWith(`${q}/`) || norm.split('/').includes(q);
  });
}

// ---------------------------------------------------------------------------------------------
// The checks. Each takes the folder holding the deployment files (the repository, or a copy of
// its files in the last block) and the live servers, and returns a list of problems.

/** Dockerfile and .dockerignore. */
async function checkDockerfile(root, live) {
  const problems = [];
  const p = (cond, message) => {
    if (!cond) problems.push(`Dockerfile: expected ${message}`);
    return cond;
  };
  const stages = parseDockerfile(readText(root, FILES.dockerfile));
  const build = stages.find((s) => s.name === 'build');
  const runtime = stages.at(-1);
  if (!p(build && build.from === 'debian:12', 'a build stage `FROM debian:12 AS build`')) return problems;
  p(runtime !== build && runtime.from === 'debian:12-slim', `the last stage is FROM debian:12-slim (is ${runtime.from})`);

  // Build stage: tools/deps.sh's packages less the test-only ones, and the release preset.
  const deps = /packages=\(([\s\S]*?)\)/.exec(readText(REPO_ROOT, 'tools/deps.sh'))[1].split(/\s+/).filter(Boolean);
  const buildPkgs = instructions(build, 'RUN').flatMap((r) => aptInstalls(r.args));
  for (const pkg of buildPkgs) p(deps.includes(pkg), `every package the build stage installs is in tools/deps.sh (${pkg} is not)`);
  for (const pkg of deps) {
    if (TEST_ONLY_PACKAGES.includes(pkg)) p(!buildPkgs.includes(pkg), `the build stage leaves out test-only ${pkg}`);
    else p(buildPkgs.includes(pkg), `the build stage installs ${pkg} (tools/deps.sh installs it to build)`);
  }
  const buildRun = instructions(build, 'RUN').map((r) => r.args).join(' && ');
  p(/cmake --preset release(\s|&|$)/.test(buildRun), 'build stage runs `cmake --preset release`');
  p(/cmake --build --preset release --target shepherd\b/.test(buildRun), 'build stage runs `cmake --build --preset release --target shepherd`');
  const presets = JSON.parse(readText(REPO_ROOT, 'CMakePresets.json'));
  const release = presets.configurePresets.find((x) => x.name === 'release');
  p(release && presets.buildPresets.some((x) => x.name === 'release' && x.configurePreset === 'release'), 'CMakePresets.json has configure and build presets named release');
  p(/add_executable\(shepherd\s/.test(readText(REPO_ROOT, 'src/CMakeLists.txt')), 'the target shepherd is defined in src/CMakeLists.txt');
  const workdir = instructions(build, 'WORKDIR').at(-1)?.args ?? '/';
  const built = path.posix.join(workdir, release?.binaryDir ?? '?', 'src', 'shepherd');

  // .dockerignore and what COPY takes from the context.
  const ignore = fs.existsSync(path.join(root, FILES.dockerignore))
    ? readText(root, FILES.dockerignore).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    : [];
  for (const must of ['build', 'node_modules', '.git']) p(dockerIgnored(ignore, must), `.dockerignore leaves out ${must}/`);
  for (const stage of stages) {
    for (const copy of instructions(stage, 'COPY')) {
      if (/--from=/.test(copy.args)) continue;
      const srcs = copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const src of srcs) {
        p(fs.existsSync(path.join(root, src)), `COPY ${src} exists in the build context`);
        p(!dockerIgnored(ignore, src), `.dockerignore keeps ${src}, which COPY takes`);
      }
    }
  }

  // Runtime stage: the binary, its libraries, the user, the config, ports, health check, argv.
  const fromBuild = instructions(runtime, 'COPY').find((c) => /--from=build\b/.test(c.args));
  const [copiedFrom, copiedTo] = fromBuild ? fromBuild.args.replace(/--from=\S+\s+/, '').split(/\s+/) : [];
  p(copiedFrom === built, `the runtime stage copies the built binary ${built} (copies ${copiedFrom})`);
  const entrypoint = instructions(runtime, 'ENTRYPOINT').at(-1)?.json;
  p(Array.isArray(entrypoint) && entrypoint.length === 1 && entrypoint[0] === copiedTo, `ENTRYPOINT ["${copiedTo}"] (is ${JSON.stringify(entrypoint)})`);

  const runtimePkgs = instructions(runtime, 'RUN').flatMap((r) => aptInstalls(r.args));
  p(runtimePkgs.includes('ca-certificates'), 'the runtime stage installs ca-certificates (HTTPS upstreams are verified)');
  // The image ships the release build: a sanitizer build links other libraries (its own
  // runtime, and Boost libraries the release build inlines), so its list says nothing of the
  // image's; the run of the suite on the dev build checks it.
  const libs = binaryPackages();
  if (!libs.sanitized) {
    for (const [soname, pkg] of libs.needed) {
      if (p(pkg, `a Debian package owns ${soname} here (dpkg -S)`)) p(runtimePkgs.includes(pkg), `the runtime stage installs ${pkg} (the binary links ${soname})`);
    }
    const closure = dependencyClosure(runtimePkgs);
    for (const [soname, pkg] of libs.all) if (pkg) p(closure.has(pkg), `${soname} (${pkg}) comes with the runtime packages or their dependencies`);
  }

  const user = instructions(runtime, 'USER').at(-1)?.args ?? '';
  const uid = user.split(':')[0];
  p(/^\d+$/.test(uid) && Number(uid) === 10001, `USER is the numeric uid 10001 (is "${user}")`);
  const runtimeRun = instructions(runtime, 'RUN').map((r) => r.args).join(' && ');
  p(/useradd\b[^&]*--uid 10001\b[^&]*\bshepherd\b/.test(runtimeRun), 'a user shepherd with uid 10001 is created');
  p(/install -d -o shepherd -g shepherd [^&]*\/var\/lib\/shepherd\b/.test(runtimeRun), '/var/lib/shepherd is created owned by shepherd');

  const cmd = instructions(runtime, 'CMD').at(-1)?.json;
  const argv = await checkArgv(cmd, 'Dockerfile CMD');
  problems.push(...argv.problems);
  const configCopy = instructions(runtime, 'COPY').find((c) => !/--from=/.test(c.args) && c.args.split(/\s+/).at(-1) === argv.config);
  if (!p(configCopy, `CMD's --config ${argv.config} is a file the runtime stage copies in`)) return problems;
  const configSource = configCopy.args.split(/\s+/)[0];
  const config = parseYaml(readText(root, configSource), configSource);
  problems.push(...literalSecrets(config, configSource));
  problems.push(...(await validateConfig(path.join(root, configSource), config, dummyEnv(config), configSource)));
  for (const w of writtenPaths(config, argv.config)) p(w.file.startsWith('/var/lib/shepherd/'), `${configSource}: ${w.what} (${w.file}) is under /var/lib/shepherd, the folder the user may write`);

  const exposed = new Set(instructions(runtime, 'EXPOSE').flatMap((e) => e.args.split(/\s+/)).map((x) => Number(x.split('/')[0])));
  const ports = new Set(listeners(config).keys());
  p(exposed.size === ports.size && [...exposed].every((x) => ports.has(x)), `EXPOSE ${[...exposed].join(' ')} equals the config's listen ports ${[...ports].join(' ')}`);

  const hc = instructions(runtime, 'HEALTHCHECK').at(-1);
  if (p(hc, 'a HEALTHCHECK')) {
    const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(hc.args);
    const hcArgv = m ? JSON.parse(m[1]) : null;
    if (p(hcArgv, 'HEALTHCHECK CMD is in exec form')) {
      const program = path.posix.basename(hcArgv[0]);
      p(hcArgv[0] === copiedTo || runtimePkgs.includes(program), `HEALTHCHECK's program ${hcArgv[0]} is installed in the runtime stage`);
      const url = hcArgv.find((a) => /^https?:\/\//.test(a));
      if (p(url, 'HEALTHCHECK names a URL')) {
        const u = new URL(url);
        p(['127.0.0.1', 'localhost'].includes(u.hostname), `HEALTHCHECK calls the container itself (${u.hostname})`);
        problems.push(...(await probe(live?.image, config, u.port || 80, u.pathname, 'Dockerfile HEALTHCHECK')));
      }
    }
  }
  return problems;
}

/** deploy/compose.yaml and what it mounts. */
async function checkCompose(root, live) {
  const problems = [];
  const p = (cond, message) => {
    if (!cond) problems.push(`compose: expected ${message}`);
    return cond;
  };
  const base = path.join(root, path.dirname(FILES.compose));
  const compose = parseYaml(readText(root, FILES.compose), FILES.compose);
  const services = compose.services ?? {};
  const binds = (svc) =>
    (svc.volumes ?? [])
      .map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target, v.read_only ? 'ro' : 'rw']))
      .filter(([src]) => src.startsWith('.') || src.startsWith('/'))
      .map(([src, target, mode]) => ({ src, target, ro: mode === 'ro', file: path.resolve(base, src) }));
  for (const [name, svc] of Object.entries(services)) for (const b of binds(svc)) p(fs.existsSync(b.file), `${name}'s bind mount ${b.src} exists`);

  const shepherds = Object.entries(services).filter(([, s]) => s.build || /(^|\/)shepherd(:|$)/.test(s.image ?? ''));
  p(shepherds.length === 2, `two Shepherd services (found ${shepherds.map(([n]) => n).join(', ')})`);
  if (!shepherds.length) return problems;
  const images = new Set(shepherds.map(([, s]) => s.image));
  p(images.size === 1, `the Shepherd services run one image (${[...images].join(', ')})`);
  for (const [name, svc] of shepherds) {
    if (!svc.build) continue;
    const ctx = path.resolve(base, svc.build.context ?? svc.build);
    p(path.relative(root, ctx) === '' && fs.existsSync(path.join(ctx, svc.build.dockerfile ?? 'Dockerfile')), `${name} builds the repository's Dockerfile (context ${svc.build.context})`);
  }

  let config = null;
  let configPath = null;
  const byService = new Map();
  for (const [name, svc] of shepherds) {
    const argv = await checkArgv(svc.command, `${name} command`);
    problems.push(...argv.problems);
    const mount = binds(svc).find((b) => b.target === argv.config);
    if (!p(mount, `${name}: --config ${argv.config} is a mounted file`)) continue;
    if (configPath && configPath !== mount.file) p(false, `${name} mounts the same config as the other instance (mounts ${mount.src})`);
    configPath = mount.file;
    config ??= parseYaml(fs.readFileSync(mount.file, 'utf8'), mount.src);
    byService.set(name, svc);
  }
  if (!config) return problems;
  const rel = path.relative(root, configPath);
  problems.push(...literalSecrets(config, rel));

  // Environment: every env:NAME is set; secrets come from the environment, never literally.
  const envOf = (svc) => (Array.isArray(svc.environment) ? Object.fromEntries(svc.environment.map((e) => e.split(/=(.*)/s).slice(0, 2))) : svc.environment ?? {});
  const interpolation = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[?-][^}]*)?\}$/;
  for (const [name, svc] of Object.entries(services)) {
    for (const [k, v] of Object.entries(envOf(svc))) {
      if (SECRET_NAME.test(k)) p(interpolation.test(String(v)), `${name}: ${k} comes from the environment (\${${k}}), not the file`);
      const pw = /:\/\/[^/@:]*:([^@]*)@/.exec(String(v));
      if (pw) p(/^\$\{[^}]+\}$/.test(pw[1]), `${name}: ${k} takes its password from the environment`);
    }
  }
  for (const [name, svc] of byService) {
    const env = envOf(svc);
    for (const ref of envRefs(config)) p(ref in env, `${name} sets ${ref}, which the config names as env:${ref}`);
  }
  const [firstName, firstSvc] = [...byService][0];
  const firstEnv = envOf(firstSvc);
  const dbVar = ENV_REF.exec(config.storage?.url ?? '')?.[1];
  if (p(dbVar, `${rel}: storage.url is a reference to the PostgreSQL URL`)) {
    const u = new URL(String(firstEnv[dbVar]).replace(/\$\{[^}]*\}/g, 'x'));
    const pg = services[u.hostname];
    p(/^postgres(ql)?:/.test(u.protocol) && /^postgres:15(\.|$|-)/.test(pg?.image ?? ''), `${firstName}: ${dbVar} points at a postgres:15 service (${u.hostname})`);
    p(Number(u.port || 5432) === 5432, `${firstName}: ${dbVar} uses PostgreSQL's port 5432`);
    p(u.username === envOf(pg ?? {}).POSTGRES_USER && u.pathname.slice(1) === envOf(pg ?? {}).POSTGRES_DB, `${firstName}: ${dbVar}'s user and database are the postgres service's`);
  }
  const redisVar = ENV_REF.exec(config.redis?.url ?? '')?.[1];
  const redisUrl = redisVar ? firstEnv[redisVar] : config.redis?.url;
  if (p(redisUrl, `${rel}: redis.url is set`)) {
    const u = new URL(String(redisUrl).replace(/\$\{[^}]*\}/g, 'x'));
    p(u.protocol === 'redis:' && /^redis:7(\.|$|-)/.test(services[u.hostname]?.image ?? '') && Number(u.port || 6379) === 6379, `${firstName}: Redis URL points at a redis:7 service on 6379 (${redisUrl})`);
  }
  problems.push(...(await validateConfig(configPath, config, dummyEnv(config), rel)));

  // Ports, writable state, shutdown.
  const ports = listeners(config);
  const serverPort = [...ports].find(([, r]) => r === 'server')[0];
  const drain = seconds(config.server?.timeouts?.drain ?? '30s');
  for (const [name, svc] of byService) {
    const declared = [...(svc.expose ?? []), ...(svc.ports ?? []).map((x) => String(x).split(':').at(-1))].map((x) => Number(String(x).split('/')[0]));
    p(declared.includes(serverPort), `${name}: port ${serverPort} (server.listen) is exposed`);
    for (const port of declared) p(ports.has(port), `${name}: exposed port ${port} is a port the config listens on`);
    p(seconds(svc.stop_grace_period ?? '10s') > drain, `${name}: stop_grace_period ${svc.stop_grace_period ?? '10s (default)'} is longer than server.timeouts.drain ${drain}s`);
    const volumeTargets = (svc.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source, v.target])).filter(([src]) => !(src.startsWith('.') || src.startsWith('/'))).map(([, t]) => t);
    for (const w of writtenPaths(config, argvConfigPath(svc))) p(volumeTargets.some((t) => w.file.startsWith(`${t}/`)), `${name}: ${w.what} (${w.file}) is in a volume of its own`);
    for (const dep of ['postgres', 'redis']) p(svc.depends_on && dep in (Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : svc.depends_on), `${name} depends on ${dep}`);
  }

  // nginx in front: both instances on the listen port, streams unbuffered.
  const nginx = Object.entries(services).find(([, s]) => /^nginx(:|$)/.test(s.image ?? ''));
  if (p(nginx, 'an nginx service')) {
    const [nname, nsvc] = nginx;
    const conf = binds(nsvc).find((b) => b.target.startsWith('/etc/nginx/'));
    if (p(conf, `${nname} mounts its config`) && fs.existsSync(conf.file)) {
      p(conf.target.startsWith('/etc/nginx/conf.d/') && conf.target.endsWith('.conf'), `${nname}: ${conf.src} is mounted in /etc/nginx/conf.d/, the http context (mounted at ${conf.target})`);
      const dirs = parseNginx(fs.readFileSync(conf.file, 'utf8'));
      const upstreams = nginxFind(dirs, 'upstream');
      const servers = nginxFind(dirs, 'server');
      const upstreamServers = upstreams.flatMap((u) => nginxFind(u.block, 'server').map((s) => hostPort(s.args[0])));
      for (const [name] of byService) p(upstreamServers.some((s) => s?.host === name && s.port === serverPort), `${conf.src}: upstream has ${name}:${serverPort}`);
      for (const s of upstreamServers) p(s && byService.has(s.host) && s.port === serverPort, `${conf.src}: upstream server ${s?.host}:${s?.port} is a Shepherd service on its listen port ${serverPort}`);
      const locations = servers.flatMap((s) => nginxFind(s.block, 'location'));
      const proxying = locations.filter((l) => nginxFind(l.block, 'proxy_pass').length);
      p(proxying.length > 0, `${conf.src}: a location proxies to Shepherd`);
      for (const l of proxying) {
        const target = nginxFind(l.block, 'proxy_pass')[0].args[0];
        p(upstreams.some((u) => target === `http://${u.args[0]}`), `${conf.src}: location ${l.args.join(' ')} proxies to the upstream (proxies to ${target})`);
        p(nginxFind(l.block, 'proxy_buffering')[0]?.args[0] === 'off', `${conf.src}: location ${l.args.join(' ')} has proxy_buffering off (streams)`);
        p(nginxFind(l.block, 'proxy_http_version')[0]?.args[0] === '1.1', `${conf.src}: location ${l.args.join(' ')} speaks HTTP/1.1 upstream (keep-alive)`);
      }
      const limit = servers.flatMap((s) => nginxFind(s.block, 'client_max_body_size')).at(0)?.args[0] ?? '1m';
      const maxBody = config.server?.limits?.max_body ?? '4MiB';
      p(bytes(limit) >= bytes(maxBody), `${conf.src}: client_max_body_size ${limit} is at least server.limits.max_body ${maxBody}`);
      const listen = servers.flatMap((s) => nginxFind(s.block, 'listen')).map((l) => Number(hostPort(l.args[0])?.port ?? l.args[0]));
      const published = (nsvc.ports ?? []).map((x) => Number(String(x).split(':').at(-1)));
      p(published.length && published.every((x) => listen.includes(x)), `${nname}: published ports ${published.join(', ')} are ports nginx listens on (${listen.join(', ')})`);
    }
  }

  // Prometheus: scrapes each instance's metrics path on its listen port, loads the rules.
  const prom = Object.entries(services).find(([, s]) => /(^|\/)prometheus(:|$)/.test(s.image ?? ''));
  if (p(prom, 'a Prometheus service')) {
    const [pname, psvc] = prom;
    const flags = (psvc.command ?? []).map(String);
    const promHelp = spawnSync('prometheus', ['--help'], { encoding: 'utf8' });
    if (promHelp.error?.code !== 'ENOENT') {
      const known = new Set([...`${promHelp.stdout}${promHelp.stderr}`.matchAll(/--([a-z][\w.-]*)/g)].map((m) => m[1]));
      for (const f of flags) if (f.startsWith('--')) p(known.has(f.slice(2).split('=')[0]), `${pname}: ${f.split('=')[0]} is a flag of prometheus (prometheus --help)`);
    }
    const configFile = (flags.find((f) => f.startsWith('--config.file=')) ?? '--config.file=/etc/prometheus/prometheus.yml').split('=')[1];
    const mount = binds(psvc).find((b) => b.target === configFile);
    if (p(mount && fs.existsSync(mount.file), `${pname}: --config.file ${configFile} is a mounted file`)) {
      const pc = parseYaml(fs.readFileSync(mount.file, 'utf8'), mount.src);
      const rules = (pc.rule_files ?? []).map((r) => ({ r, m: binds(psvc).find((b) => b.target === r) }));
      p(rules.length > 0, `${mount.src}: loads rule files`);
      for (const { r, m } of rules) p(m && fs.existsSync(m.file), `${mount.src}: rule file ${r} is mounted from the repository`);
      p(rules.some(({ m }) => m && path.relative(root, m.file) === 'deploy/prometheus/shepherd-rules.yml'), `${mount.src}: loads deploy/prometheus/shepherd-rules.yml`);
      // promtool on a copy whose rule paths are the mounted files' sources.
      const copy = path.join(makeTempDir('shepherd-deploy-prom-'), 'prometheus.yml');
      fs.writeFileSync(copy, JSON.stringify({ ...pc, rule_files: rules.map(({ r, m }) => m?.file ?? r) }));
      const promtool = spawnSync('promtool', ['check', 'config', copy], { encoding: 'utf8', timeout: 60000 });
      p(promtool.status === 0, `${mount.src}: promtool check config passes: ${promtool.error?.message ?? ''}${promtool.stdout}${promtool.stderr}`);
      const jobs = (pc.scrape_configs ?? []).filter((j) => (j.static_configs ?? []).some((sc) => (sc.targets ?? []).some((t) => byService.has(hostPort(t)?.host))));
      if (p(jobs.length === 1, `${mount.src}: one scrape job targets the Shepherd services`)) {
        const job = jobs[0];
        const targets = job.static_configs.flatMap((sc) => sc.targets ?? []).map(hostPort);
        for (const [name] of byService) p(targets.some((t) => t.host === name), `${mount.src}: scrapes ${name}`);
        p((job.scheme ?? 'http') === (config.server?.tls ? 'https' : 'http'), `${mount.src}: scheme ${job.scheme} matches the listener`);
        const metricsPath = job.metrics_path ?? '/metrics';
        for (const t of targets) {
          const liveOne = live?.compose?.[t.host];
          problems.push(...(await probe(liveOne, config, t.port, metricsPath, `${mount.src} target ${t.host}:${t.port}`, { expectBody: /^shepherd_build_info\{/m })));
        }
      }
    }
  }

  // Grafana: provisioned datasource at Prometheus, dashboard provider at the mounted dashboard.
  const grafana = Object.entries(services).find(([, s]) => /(^|\/)grafana(:|$)/.test(s.image ?? ''));
  if (p(grafana, 'a Grafana service')) {
    const [gname, gsvc] = grafana;
    const mounts = binds(gsvc);
    const dsMount = mounts.find((b) => b.target.startsWith('/etc/grafana/provisioning/datasources/'));
    const dbMount = mounts.find((b) => b.target.startsWith('/etc/grafana/provisioning/dashboards/'));
    const dashboard = mounts.find((b) => path.relative(root, b.file) === 'deploy/grafana/shepherd.json');
    p(dsMount && dbMount && dashboard, `${gname} mounts a datasource, a dashboard provider and deploy/grafana/shepherd.json`);
    p(mounts.every((b) => path.relative(root, b.file).startsWith('deploy/')), `${gname} mounts only files under deploy/`);
    if (dsMount && dashboard && fs.existsSync(dsMount.file)) {
      const ds = parseYaml(fs.readFileSync(dsMount.file, 'utf8'), dsMount.src).datasources ?? [];
      const dash = JSON.parse(fs.readFileSync(dashboard.file, 'utf8'));
      const wanted = (dash.templating?.list ?? []).find((v) => v.type === 'datasource')?.query;
      const source = ds.find((d) => d.type === wanted);
      if (p(source, `${dsMount.src}: a ${wanted} datasource (the dashboard's datasource variable)`)) {
        const u = new URL(source.url);
        const promPorts = prom ? (prom[1].ports ?? []).map((x) => Number(String(x).split(':').at(-1))) : [];
        p(prom && u.hostname === prom[0] && Number(u.port) === 9090 && (promPorts.length === 0 || promPorts.includes(9090)), `${dsMount.src}: datasource URL ${source.url} is the Prometheus service on 9090`);
      }
    }
    if (dbMount && dashboard && fs.existsSync(dbMount.file)) {
      const providers = parseYaml(fs.readFileSync(dbMount.file, 'utf8'), dbMount.src).providers ?? [];
      p(providers.some((pr) => pr.type === 'file' && pr.options?.path === path.posix.dirname(dashboard.target)), `${dbMount.src}: a file provider at ${path.posix.dirname(dashboard.target)}, where the dashboard is mounted`);
    }
  }
  return problems;

  function argvConfigPath(svc) {
    const a = svc.command ?? [];
    const k = a.indexOf('--config');
    return k >= 0 ? a[k + 1] : '/etc/shepherd/shepherd.yaml';
  }
}

/** deploy/kubernetes/. */
async function checkKubernetes(root, live, { dockerUid = 10001 } = {}) {
  const problems = [];
  const p = (cond, message) => {
    if (!cond) problems.push(`kubernetes: expected ${message}`);
    return cond;
  };
  const dir = path.join(root, FILES.kubernetes);
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const objects = [];
  for (const f of files) for (const doc of parseYamlDocuments(fs.readFileSync(path.join(dir, f), 'utf8'), f)) objects.push({ file: f, ...doc });
  const find = (kind, name) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));

  const kustomization = find('Kustomization');
  if (p(kustomization, 'a kustomization.yaml')) {
    const listed = new Set(kustomization.resources ?? []);
    for (const r of listed) p(fs.existsSync(path.join(dir, r)), `kustomization's ${r} exists`);
    for (const o of objects) {
      if (o.kind === 'Kustomization') continue;
      if (o.kind === 'Secret') p(!listed.has(o.file), `kustomization leaves out ${o.file}, a Secret with placeholder values`);
      else p(listed.has(o.file), `kustomization lists ${o.file}`);
    }
  }

  const deployment = find('Deployment', 'shepherd');
  if (!p(deployment, 'a Deployment named shepherd')) return problems;
  p(deployment.spec?.replicas === 2, `2 replicas (${deployment.spec?.replicas})`);
  const pod = deployment.spec.template;
  const podLabels = pod.metadata?.labels ?? {};
  const matches = (selector) => selector && Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  p(matches(deployment.spec.selector?.matchLabels), 'the Deployment selects its own pods');
  const container = pod.spec.containers?.[0];
  if (!p(container, 'a container')) return problems;
  p(!container.command || (container.command.length === 1 && container.command[0] === '/usr/bin/shepherd'), `the container keeps the image's entrypoint (command ${JSON.stringify(container.command)})`);
  const argv = await checkArgv(container.args, 'Deployment args');
  problems.push(...argv.problems);

  // The config: the ConfigMap item mounted at --config.
  const mount = (container.volumeMounts ?? []).find((m) => argv.config?.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
  const volume = mount && (pod.spec.volumes ?? []).find((v) => v.name === mount.name);
  const itemPath = mount && argv.config.slice(mount.mountPath.replace(/\/$/, '').length + 1);
  const item = volume?.configMap && ((volume.configMap.items ?? []).find((i) => i.path === itemPath) ?? (volume.configMap.items ? null : { key: itemPath, path: itemPath }));
  const configMap = item && find('ConfigMap', volume.configMap.name);
  if (!p(configMap?.data?.[item.key], `--config ${argv.config} is a ConfigMap key mounted by the Deployment`)) return problems;
  const where = `${configMap.file} ${item.key}`;
  const config = parseYaml(configMap.data[item.key], where);
  const configFile = path.join(makeTempDir('shepherd-deploy-cm-'), item.path);
  fs.writeFileSync(configFile, configMap.data[item.key]);
  problems.push(...literalSecrets(config, where));
  problems.push(...(await validateConfig(configFile, config, dummyEnv(config), where)));

  // Ports and probes.
  const ports = listeners(config);
  const containerPorts = (container.ports ?? []).map((x) => x.containerPort);
  p(containerPorts.length === ports.size && containerPorts.every((x) => ports.has(x)), `container ports ${containerPorts.join(', ')} equal the config's listen ports ${[...ports.keys()].join(', ')}`);
  const portNumber = (port) => (typeof port === 'number' ? port : (container.ports ?? []).find((x) => x.name === port)?.containerPort);
  for (const [kind, expectPath] of [['readinessProbe', '/health/ready'], ['livenessProbe', '/health']]) {
    const pr = container[kind]?.httpGet;
    if (!p(pr, `${kind} is an httpGet`)) continue;
    p(pr.path === expectPath, `${kind} GETs ${expectPath} (GETs ${pr.path})`);
    const number = portNumber(pr.port);
    if (p(number, `${kind} port ${pr.port} is a container port`)) problems.push(...(await probe(live?.kubernetes, config, number, pr.path, `kubernetes ${kind}`)));
  }

  // Shutdown: the preStop pause and the drain fit in the grace period.
  const preStop = container.lifecycle?.preStop;
  const pause = preStop?.sleep?.seconds ?? (preStop?.exec?.command?.[0] === 'sleep' ? Number(preStop.exec.command[1]) : NaN);
  p(pause > 0, `a preStop pause (exec sleep N, or sleep.seconds) before SIGTERM (${JSON.stringify(preStop)})`);
  const drain = seconds(config.server?.timeouts?.drain ?? '30s');
  const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
  p(grace > pause + drain, `terminationGracePeriodSeconds ${grace} exceeds the preStop pause ${pause}s plus server.timeouts.drain ${drain}s`);

  // Security: non-root (the image's uid), read-only root, no privilege escalation.
  const podSec = pod.spec.securityContext ?? {};
  const sec = { ...podSec, ...(container.securityContext ?? {}) };
  p(sec.runAsNonRoot === true, 'runAsNonRoot: true');
  p(container.securityContext?.readOnlyRootFilesystem === true, 'readOnlyRootFilesystem: true');
  p(container.securityContext?.allowPrivilegeEscalation === false, 'allowPrivilegeEscalation: false');
  if (sec.runAsUser !== undefined) p(sec.runAsUser === dockerUid, `runAsUser ${sec.runAsUser} is the image's user ${dockerUid}`);
  const writable = (container.volumeMounts ?? []).filter((m) => !m.readOnly && !(pod.spec.volumes ?? []).some((v) => v.name === m.name && (v.configMap || v.secret)));
  for (const w of writtenPaths(config, argv.config)) p(writable.some((m) => w.file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`)), `${where}: ${w.what} (${w.file}) is on a writable mount, not the read-only root or a read-only mount`);

  // Secrets: every env:NAME comes from the container's env; secrets by secretKeyRef only.
  const env = new Map((container.env ?? []).map((e) => [e.name, e]));
  const secrets = objects.filter((o) => o.kind === 'Secret');
  for (const name of envRefs(config)) {
    const e = env.get(name);
    if (!p(e, `the container sets ${name}, which the config names as env:${name}`)) continue;
    const ref = e.valueFrom?.secretKeyRef;
    const secretish = SECRET_NAME.test(name) || [config.storage?.url, config.redis?.url].includes(`env:${name}`);
    if (secretish) p(ref && e.value === undefined, `${name} comes from a Secret (secretKeyRef), not a literal value`);
    if (ref) {
      const s = secrets.find((x) => x.metadata?.name === ref.name);
      p(s && ref.key in { ...(s.stringData ?? {}), ...(s.data ?? {}) }, `secretKeyRef ${ref.name}/${ref.key} is in the example Secret`);
    }
  }
  for (const s of secrets) for (const [k, v] of Object.entries(s.stringData ?? {})) p(/REPLACE_ME/.test(v), `${s.file}: ${k} is a marked placeholder (REPLACE_ME)`);
  p(!secrets.some((s) => s.data), 'the example Secret has no base64 data values');

  // Resources: sized, the event loops fit the CPU limit, idle memory fits the request.
  const res = container.resources ?? {};
  p(res.requests?.cpu && res.requests?.memory && res.limits?.memory, 'resources: requests.cpu, requests.memory and limits.memory');
  if (config.server?.threads && res.limits?.cpu) p(config.server.threads <= cores(res.limits.cpu), `server.threads ${config.server.threads} fit limits.cpu ${res.limits.cpu}`);
  if (res.requests?.memory && res.limits?.memory) p(memoryBytes(res.requests.memory) <= memoryBytes(res.limits.memory), 'requests.memory ≤ limits.memory');
  if (live?.kubernetes && res.requests?.memory && !live.sanitized) {
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${live.kubernetes.pid}/status`, 'utf8'))?.[1]) * 1024;
    p(rss < memoryBytes(res.requests.memory), `idle resident memory ${(rss / 2 ** 20).toFixed(1)} MiB is within requests.memory ${res.requests.memory}`);
  }

  // Scraping: the annotations name a port and path that serve the metrics.
  const ann = pod.metadata?.annotations ?? {};
  if (ann['prometheus.io/scrape'] === 'true') {
    problems.push(...(await probe(live?.kubernetes, config, Number(ann['prometheus.io/port']), ann['prometheus.io/path'] ?? '/metrics', 'kubernetes prometheus.io annotations', { expectBody: /^shepherd_build_info\{/m })));
  }

  // Service, PodDisruptionBudget, HorizontalPodAutoscaler.
  const service = find('Service', 'shepherd');
  if (p(service, 'a Service named shepherd')) {
    p(matches(service.spec?.selector), "the Service selects the Deployment's pods");
    for (const sp of service.spec?.ports ?? []) p(ports.has(portNumber(sp.targetPort ?? sp.port)), `Service port ${sp.port} targets a listen port of the config (targets ${sp.targetPort})`);
  }
  const pdb = find('PodDisruptionBudget');
  if (p(pdb && pdb.apiVersion === 'policy/v1', 'a policy/v1 PodDisruptionBudget')) {
    p(matches(pdb.spec?.selector?.matchLabels), "the PodDisruptionBudget selects the Deployment's pods");
    p(pdb.spec?.minAvailable !== undefined && pdb.spec.minAvailable < deployment.spec.replicas, `minAvailable ${pdb.spec?.minAvailable} leaves room for a voluntary disruption of ${deployment.spec.replicas} replicas`);
  }
  const hpa = find('HorizontalPodAutoscaler');
  if (p(hpa && hpa.apiVersion === 'autoscaling/v2', 'an autoscaling/v2 HorizontalPodAutoscaler')) {
    const t = hpa.spec?.scaleTargetRef ?? {};
    p(t.kind === 'Deployment' && t.name === 'shepherd' && t.apiVersion === 'apps/v1', 'the HorizontalPodAutoscaler scales the Deployment');
    p((hpa.spec?.metrics ?? []).some((m) => m.type === 'Resource' && m.resource?.name === 'cpu'), 'the HorizontalPodAutoscaler scales on CPU');
    p(hpa.spec?.minReplicas >= deployment.spec.replicas && hpa.spec.maxReplicas > hpa.spec.minReplicas, `minReplicas ${hpa.spec?.minReplicas} ≥ the Deployment's replicas, below maxReplicas`);
    p(!pdb || hpa.spec.minReplicas > pdb.spec.minAvailable, 'minReplicas exceeds the PodDisruptionBudget minAvailable');
    p(res.requests?.cpu, 'CPU utilisation needs requests.cpu');
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Live servers: the mock upstream, PostgreSQL and Redis on loopback, and Shepherd started from
// each deployment's config.

function throwaway(script, dir) {
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

const live = { sanitized: false, compose: {} };
let mock;
let redis;
let postgres;
const urls = {};

/** The config a Dockerfile / compose / kubernetes file hands Shepherd (as the checks find it). */
function imageConfig() {
  const runtime = parseDockerfile(readText(REPO_ROOT, FILES.dockerfile)).at(-1);
  const copy = instructions(runtime, 'COPY').find((c) => !/--from=/.test(c.args) && /shepherd\.yaml$/.test(c.args));
  return parseYaml(readText(REPO_ROOT, copy.args.split(/\s+/)[0]));
}
function composeConfig() {
  const compose = parseYaml(readText(REPO_ROOT, FILES.compose));
  const svc = compose.services['shepherd-1'];
  const k = svc.command.indexOf('--config');
  const mount = svc.volumes.map((v) => v.split(':')).find(([, t]) => t === svc.command[k + 1]);
  return { config: parseYaml(fs.readFileSync(path.resolve(REPO_ROOT, 'deploy', mount[0]), 'utf8')), services: Object.keys(compose.services).filter((n) => compose.services[n].build) };
}
function kubernetesConfig() {
  const cm = parseYaml(readText(REPO_ROOT, `${FILES.kubernetes}/configmap.yaml`));
  return parseYaml(cm.data['shepherd.yaml']);
}

before(async () => {
  live.sanitized = /lib(asan|ubsan)\.so/.test(execFileSync('ldd', [BIN], { encoding: 'utf8' }));
  mock = await startMock();
  redis = throwaway('redis.sh', path.join(makeTempDir('shepherd-redis-'), 'r'));
  // As root the server runs as the postgres user, which must be able to reach its folder.
  const pgParent = makeTempDir('shepherd-pg-');
  fs.chmodSync(pgParent, 0o755);
  postgres = throwaway('postgres.sh', path.join(pgParent, 'pg'));
  urls.redis = redis.start();
  urls.database = postgres.start();

  const image = imageConfig();
  live.image = await serveLive(image, mock, dummyEnv(image, urls));
  const { config: composed, services } = composeConfig();
  for (const name of services) live.compose[name] = await serveLive(composed, mock, dummyEnv(composed, urls));
  const kube = kubernetesConfig();
  live.kubernetes = await serveLive(kube, mock, dummyEnv(kube, urls));
}, { timeout: 180000 });

after(async () => {
  redis?.stop();
  postgres?.stop();
  await cleanup();
});

// ---------------------------------------------------------------------------------------------

describe('the YAML reader reads the deployment files as YAML does', () => {
  test('block and flow collections, scalars, block scalars, documents', () => {
    const docs = parseYamlDocuments([
      '# comment',
      'a: 1',
      'b: "x # not a comment"   # a comment',
      "c: 'it''s'",
      'd: [1, "two", {e: f, g: [h]}]',
      'i:',
      '  - j: 0.0.0.0:8000',
      '    k: null',
      '  - l',
      'm: |',
      '  line one',
      '    indented',
      '',
      'n: >-',
      '  folded',
      '  text',
      '---',
      '- x: ${VAR:?set VAR}',
    ].join('\n'));
    assert.deepEqual(docs, [
      { a: 1, b: 'x # not a comment', c: "it's", d: [1, 'two', { e: 'f', g: ['h'] }], i: [{ j: '0.0.0.0:8000', k: null }, 'l'], m: 'line one\n  indented\n', n: 'folded text' },
      [{ x: '${VAR:?set VAR}' }],
    ]);
  });
  test('what it does not read is an error, not a misreading', () => {
    for (const text of ['a: &anchor 1\n', 'a: *alias\n', '<<: {a: 1}\n', 'a: [1,\n  2]\n', 'a: b\n  c\n', 'a: x: y\n']) {
      assert.throws(() => parseYamlDocuments(text), /yaml:\d+:/, JSON.stringify(text));
    }
  });
});

describe('deployment files against the binary', { timeout: 240000 }, () => {
  test('the live servers serve each deployment config, adapted to loopback', async () => {
    for (const [name, one] of [['image', live.image], ...Object.entries(live.compose), ['kubernetes', live.kubernetes]]) {
      const ready = await pollUntil(() => tryRequest(`${one.url}/health/ready`), (r) => r.status === 200, { timeoutMs: 10000, what: `${name} ready` });
      assert.equal(ready.status, 200, name);
    }
    // The image's FastChat controller lists the models its worker registered.
    const listed = await pollUntil(
      () => request(`${live.image.urlOf('controller')}/list_models`, { method: 'POST', body: {} }),
      (r) => r.status === 200 && r.json().models?.length === Object.keys(imageConfig().models).length,
      { timeoutMs: 10000, what: 'the worker registered with the controller' },
    );
    assert.deepEqual(listed.json().models.sort(), Object.keys(imageConfig().models).sort());
  });

  test('Dockerfile and .dockerignore', async () => {
    assert.deepEqual(await checkDockerfile(REPO_ROOT, live), []);
  });

  test('deploy/compose.yaml, its Shepherd config, nginx, Prometheus and Grafana', async () => {
    assert.deepEqual(await checkCompose(REPO_ROOT, live), []);
  });

  test('deploy/kubernetes', async () => {
    const uid = Number(instructions(parseDockerfile(readText(REPO_ROOT, FILES.dockerfile)).at(-1), 'USER').at(-1).args.split(':')[0]);
    assert.deepEqual(await checkKubernetes(REPO_ROOT, live, { dockerUid: uid }), []);
  });

  test('the compose nginx.conf in front of the two live compose instances', async (t) => {
    const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((b) => fs.existsSync(b));
    if (!nginxBin) {
      t.skip('nginx is not installed (Debian nginx-light; tools/deps.sh --bench installs it): its config was checked statically');
      return;
    }
    const dir = makeTempDir('shepherd-deploy-nginx-');
    const port = await closedPort();
    const { services } = composeConfig();
    let conf = fs.readFileSync(path.join(REPO_ROOT, 'deploy/compose/nginx.conf'), 'utf8');
    for (const name of services) {
      const re = new RegExp(`server\\s+${name}:\\d+`, 'g');
      assert.match(conf, re, `nginx.conf names ${name}`);
      conf = conf.replace(re, `server 127.0.0.1:${live.compose[name].port}`);
    }
    assert.match(conf, /listen\s+\d+;/);
    conf = conf.replace(/listen\s+\d+;/, `listen 127.0.0.1:${port};`);
    fs.writeFileSync(path.join(dir, 'shepherd.conf'), conf);
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'nginx.conf'), [
      'daemon off;',
      'master_process off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `  ${d === 'body' ? 'client_body' : d}_temp_path ${dir}/${d};`),
      `  include ${dir}/shepherd.conf;`,
      '}',
      '',
    ].join('\n'));
    const check = spawnSync(nginxBin, ['-t', '-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], { encoding: 'utf8', timeout: 20000 });
    assert.equal(check.status, 0, `nginx -t: ${check.stdout}${check.stderr}`);
    const nginx = spawn(nginxBin, ['-p', dir, '-e', `${dir}/error.log`, '-c', `${dir}/nginx.conf`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      const health = await pollUntil(() => tryRequest(`${base}/health`), (r) => r.status === 200, { timeoutMs: 10000, what: 'nginx up' });
      assert.equal(health.status, 200);
      assert.equal((await request(`${base}/metrics`)).status, 404, 'metrics stay off the public port');

      const key = dummyEnv(composeConfig().config, urls)[ENV_REF.exec(composeConfig().config.server.api_keys[0])[1]];
      const before = await Promise.all(services.map((n) => request(`${live.compose[n].url}/metrics`).then((r) => metricValue(parseMetrics(r.text), 'shepherd_requests_total') ?? 0)));
      for (let i = 0; i < 6; i += 1) {
        const r = await request(`${base}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1', { max_tokens: 8 }), headers: bearer(key) });
        assert.equal(r.status, 200, r.text);
      }
      const afterCounts = await Promise.all(services.map((n) => request(`${live.compose[n].url}/metrics`).then((r) => metricValue(parseMetrics(r.text), 'shepherd_requests_total') ?? 0)));
      services.forEach((n, k) => assert.ok(afterCounts[k] > before[k], `nginx sent requests to ${n}: ${before[k]} → ${afterCounts[k]}`));

      const stream = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(key) },
        body: JSON.stringify(chatBody('gpt-4.1', { stream: true, max_tokens: 8 })),
      });
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
      const sse = await readSSE(stream);
      assert.equal(sse.error, null);
      assert.ok(sse.done, 'the stream ends with [DONE] through nginx');
      assert.ok(sse.content.length > 0, 'content arrived through nginx');
    } finally {
      nginx.kill('SIGTERM');
      await exited;
    }
  });
});

// The checks are tested once, against the dev build: under a sanitizer build the same edits
// would only repeat them, slower.
const SANITIZED_BIN = /lib(asan|ubsan)\.so/.test(spawnSync('ldd', [BIN], { encoding: 'utf8' }).stdout ?? '');

describe('the checks find wrong deployment files', {
  timeout: 240000,
  skip: SANITIZED_BIN ? 'the checks are tested against the dev build' : false,
}, () => {
  // Each edit is made to a copy of the files; the named check must report it.
  const EDITS = [
    { what: 'a readiness probe path Shepherd does not serve', file: 'deploy/kubernetes/deployment.yaml', from: 'path: /health/ready', to: 'path: /healthz', check: 'kubernetes', expect: /GETs \/health\/ready|\/healthz.*404/ },
    { what: 'a liveness probe path Shepherd does not serve', file: 'deploy/kubernetes/deployment.yaml', from: 'httpGet: {path: /health, port: http}', to: 'httpGet: {path: /livez, port: http}', check: 'kubernetes', expect: /\/livez.*404/ },
    { what: 'a container port that is not the listen port', file: 'deploy/kubernetes/deployment.yaml', from: 'containerPort: 8000', to: 'containerPort: 8080', check: 'kubernetes', expect: /container ports 8080/ },
    { what: 'an args flag serve does not accept', file: 'deploy/kubernetes/deployment.yaml', from: 'args: ["serve", "--config",', to: 'args: ["serve", "--configuration",', check: 'kubernetes', expect: /--configuration is not accepted/ },
    { what: 'a config key Shepherd refuses', file: 'deploy/kubernetes/configmap.yaml', from: 'drain: 30s}', to: 'drian: 30s}', check: 'kubernetes', expect: /config validate.*drian/ },
    { what: 'a grace period shorter than the drain', file: 'deploy/kubernetes/deployment.yaml', from: 'terminationGracePeriodSeconds: 45', to: 'terminationGracePeriodSeconds: 30', check: 'kubernetes', expect: /terminationGracePeriodSeconds 30/ },
    { what: 'a scrape annotation path Shepherd does not serve', file: 'deploy/kubernetes/deployment.yaml', from: 'prometheus.io/path: /metrics', to: 'prometheus.io/path: /prometheus', check: 'kubernetes', expect: /\/prometheus.*404/ },
    { what: 'a secret written as a literal value', file: 'deploy/kubernetes/deployment.yaml', from: 'valueFrom: {secretKeyRef: {name: shepherd-secrets, key: OPENAI_API_KEY}}', to: 'value: sk-literal', check: 'kubernetes', expect: /OPENAI_API_KEY comes from a Secret/ },
    { what: 'a CMD flag serve does not accept', file: 'Dockerfile', from: 'CMD ["serve", "--config",', to: 'CMD ["serve", "--conf",', check: 'docker', expect: /--conf is not accepted/ },
    { what: 'a subcommand that does not exist', file: 'Dockerfile', from: 'CMD ["serve",', to: 'CMD ["server",', check: 'docker', expect: /"server" is not a subcommand/ },
    { what: 'an exposed port the config does not listen on', file: 'Dockerfile', from: 'EXPOSE 8000 21001 21002', to: 'EXPOSE 8080 21001 21002', check: 'docker', expect: /EXPOSE 8080/ },
    { what: 'a health check path Shepherd does not serve', file: 'Dockerfile', from: '127.0.0.1:8000/health"', to: '127.0.0.1:8000/healthz"', check: 'docker', expect: /HEALTHCHECK: GET \/healthz.*404/ },
    { what: 'a health check port nothing listens on', file: 'Dockerfile', from: '127.0.0.1:8000/health"', to: '127.0.0.1:9000/health"', check: 'docker', expect: /port 9000 is not a port the config listens on/ },
    { what: 'a runtime library left out', file: 'Dockerfile', from: ' libpq5 ', to: ' ', check: 'docker', expect: /installs libpq5 \(the binary links/, libraries: true },
    { what: 'a test-only package in the build stage', file: 'Dockerfile', from: 'libhiredis-dev nodejs npm \\', to: 'libhiredis-dev nodejs npm googletest \\', check: 'docker', expect: /leaves out test-only googletest/ },
    { what: 'a state folder the user cannot write', file: 'deploy/docker/shepherd.yaml', from: 'sqlite:///var/lib/shepherd/shepherd.db', to: 'sqlite:///etc/shepherd/shepherd.db', check: 'docker', expect: /storage\.url \(\/etc\/shepherd\/shepherd\.db\) is under \/var\/lib\/shepherd/ },
    { what: 'a Prometheus metrics path Shepherd does not serve', file: 'deploy/compose/prometheus.yml', from: 'metrics_path: /metrics', to: 'metrics_path: /stats/metrics', check: 'compose', expect: /\/stats\/metrics.*404/ },
    { what: 'a Prometheus target on the wrong port', file: 'deploy/compose/prometheus.yml', from: '"shepherd-2:8000"', to: '"shepherd-2:9000"', check: 'compose', expect: /port 9000 is not a port the config listens on/ },
    { what: 'a rule file Prometheus does not get', file: 'deploy/compose/prometheus.yml', from: '/etc/prometheus/rules/shepherd-rules.yml', to: '/etc/prometheus/rules/other.yml', check: 'compose', expect: /rule file \/etc\/prometheus\/rules\/other.yml is mounted from/ },
    { what: 'buffered streams in nginx', file: 'deploy/compose/nginx.conf', from: 'proxy_buffering off;', to: 'proxy_buffering on;', check: 'compose', expect: /proxy_buffering off/ },
    { what: 'an nginx upstream on the wrong port', file: 'deploy/compose/nginx.conf', from: 'server shepherd-2:8000', to: 'server shepherd-2:8080', check: 'compose', expect: /upstream server shepherd-2:8080 is a Shepherd service/ },
    { what: 'a variable the config needs and compose does not set', file: 'deploy/compose.yaml', from: '      GEMINI_API_KEY: ${GEMINI_API_KEY:?set GEMINI_API_KEY in deploy/.env}\n      SHEPHERD_DATABASE_URL', to: '      SHEPHERD_DATABASE_URL', check: 'compose', expect: /sets GEMINI_API_KEY, which the config names/ },
    { what: 'a literal secret in compose', file: 'deploy/compose.yaml', from: 'OPENAI_API_KEY: ${OPENAI_API_KEY:?set OPENAI_API_KEY in deploy/.env}', to: 'OPENAI_API_KEY: sk-literal', check: 'compose', expect: /OPENAI_API_KEY comes from the environment/ },
    { what: 'a config mount path that is not --config', file: 'deploy/compose.yaml', from: '- ./compose/shepherd.yaml:/etc/shepherd/shepherd.yaml:ro\n      - shepherd-2-state', to: '- ./compose/shepherd.yaml:/etc/shepherd/config.yaml:ro\n      - shepherd-2-state', check: 'compose', expect: /shepherd-2: --config \/etc\/shepherd\/shepherd.yaml is a mounted file/ },
    { what: 'a grace period shorter than the drain in compose', file: 'deploy/compose.yaml', from: 'stop_grace_period: 40s', to: 'stop_grace_period: 20s', check: 'compose', expect: /stop_grace_period 20s/ },
  ];
  const CHECKS = { docker: checkDockerfile, compose: checkCompose, kubernetes: checkKubernetes };
  let copy;

  before(() => {
    copy = makeTempDir('shepherd-deploy-copy-');
    for (const rel of [FILES.dockerfile, FILES.dockerignore, 'deploy']) fs.cpSync(path.join(REPO_ROOT, rel), path.join(copy, rel), { recursive: true });
  });

  test('the unedited copy passes every check', async () => {
    for (const [name, check] of Object.entries(CHECKS)) assert.deepEqual(await check(copy, live), [], name);
  });

  for (const edit of EDITS) {
    // A sanitizer build's libraries are not the image's (binaryPackages()): not checked with it.
    const skip = edit.libraries && binaryPackages().sanitized && 'the libraries of a sanitizer build are not checked';
    test(`${edit.check}: ${edit.what}`, { skip }, async () => {
      const file = path.join(copy, edit.file);
      const original = fs.readFileSync(file, 'utf8');
      assert.ok(original.includes(edit.from), `${edit.file} still contains ${JSON.stringify(edit.from)} (update this edit)`);
      fs.writeFileSync(file, original.replace(edit.from, edit.to));
      try {
        const problems = await CHECKS[edit.check](copy, live);
        assert.ok(problems.some((x) => edit.expect.test(x)), `expected a problem matching ${edit.expect}; got:\n${problems.join('\n') || '(none)'}`);
      } finally {
        fs.writeFileSync(file, original);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The container image itself (opt-in: podman and local debian:12 / debian:12-slim images).

const containerModes = new Set((process.env.SHEPHERD_CONTAINER_TEST ?? '').split(',').map((s) => s.trim()).filter(Boolean));

describe('the container image (podman)', { skip: containerModes.size === 0 && 'set SHEPHERD_CONTAINER_TEST=runtime[,configure][,full] to build and run the image with podman', timeout: 3600000 }, () => {
  const podmanFlags = (process.env.SHEPHERD_PODMAN_FLAGS ?? '').split(/\s+/).filter(Boolean);
  // Explicit limits: podman's defaults (e.g. 1048576 open files) may exceed what the host allows.
  const limits = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];
  const podman = (args, { timeout = 600000, input } = {}) => {
    const r = spawnSync('podman', [...podmanFlags, ...args], { encoding: 'utf8', timeout, input, maxBuffer: 64 * 2 ** 20 });
    if (r.error?.code === 'ENOENT') assert.fail('podman is not installed (apt-get install podman)');
    return r;
  };
  const ok = (r, what) => {
    assert.equal(r.status, 0, `${what}: exit ${r.status}\n${(r.stdout ?? '').slice(-4000)}\n${(r.stderr ?? '').slice(-4000)}`);
    return r.stdout.trim();
  };
  const containers = [];
  const tag = `localhost/shepherd-deploy-test:${process.pid}`;

  before(() => {
    for (const base of ['debian:12', 'debian:12-slim']) {
      const r = podman(['image', 'exists', base]);
      assert.equal(r.status, 0, `podman has no local ${base} image (no registry here: debootstrap bookworm, then podman import, tagged ${base})`);
    }
  });
  after(() => {
    for (const c of containers) podman(['rm', '-f', '-t', '0', c]);
    podman(['rmi', '-f', tag, `${tag}-configure`]);
  });

  /** Runs the image like the Deployment does (read-only root, writable state) and checks it. */
  async function runImage(image) {
    const config = imageConfig();
    const env = dummyEnv(config);
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // The config inside the image validates, and the binary starts with the image's libraries.
    ok(podman(['run', '--rm', ...limits, ...envArgs, image, 'config', 'validate', '/etc/shepherd/shepherd.yaml']), 'config validate in the image');
    const ports = [...listeners(config).keys()];
    const publish = ports.flatMap((p) => ['-p', `127.0.0.1::${p}`]);
    const id = ok(podman(['run', '-d', ...limits, ...envArgs, ...publish, '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
      '--tmpfs', '/var/lib/shepherd:rw,mode=0750,U', image]), 'podman run').split('\n').at(-1);
    containers.push(id);
    const hostPort = (p) => Number(ok(podman(['port', id, `${p}/tcp`]), 'podman port').split('\n')[0].split(':').at(-1));
    const url = `http://127.0.0.1:${hostPort(ports[0])}`;
    const health = await pollUntil(() => tryRequest(`${url}/health`), (r) => r.status === 200, { timeoutMs: 30000, what: 'the container answers /health' });
    assert.equal(health.status, 200);
    assert.equal((await request(`${url}/health/ready`)).status, 200);
    for (const [port, role] of listeners(config)) {
      if (role === 'controller') assert.equal((await request(`http://127.0.0.1:${hostPort(port)}/list_models`, { method: 'POST', body: {} })).status, 200);
      if (role === 'worker') assert.equal((await request(`http://127.0.0.1:${hostPort(port)}/worker_get_status`, { method: 'POST', body: {} })).status, 200);
    }
    ok(podman(['healthcheck', 'run', id]), 'the image HEALTHCHECK');
    assert.equal(ok(podman(['exec', id, 'id', '-u']), 'id -u'), '10001');
    ok(podman(['exec', id, 'sleep', '0']), "the Deployment's preStop command exists in the image");
    assert.match(ok(podman(['exec', id, 'ls', '/var/lib/shepherd']), 'ls state'), /shepherd\.db/);
    ok(podman(['stop', '-t', '40', id]), 'podman stop');
    assert.equal(ok(podman(['inspect', id, '--format', '{{.State.ExitCode}}']), 'inspect'), '0', 'SIGTERM drains and exits 0');
  }

  test('runtime stage around $SHEPHERD_BIN: builds, runs read-only as uid 10001, health check passes', { skip: !containerModes.has('runtime') }, async () => {
    const ctx = makeTempDir('shepherd-deploy-image-');
    const stages = readText(REPO_ROOT, FILES.dockerfile).split(/^(?=FROM )/m);
    const runtime = stages.at(-1);
    const copyLine = /^COPY --from=build (\S+) (\S+)$/m.exec(runtime);
    assert.ok(copyLine, 'the runtime stage copies the binary from the build stage');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), runtime.replace(copyLine[0], `COPY shepherd-binary ${copyLine[2]}`));
    fs.copyFileSync(BIN, path.join(ctx, 'shepherd-binary'));
    for (const m of runtime.matchAll(/^COPY (?!--from)(\S+) \S+$/gm)) fs.cpSync(path.join(REPO_ROOT, m[1]), path.join(ctx, m[1]), { recursive: true });
    ok(podman(['build', '--format', 'docker', '--pull=never', '--network', 'host', ...limits, '-t', tag, ctx]), 'podman build (runtime stage)');
    await runImage(tag);
  });

  test('build stage: its packages configure the release preset', { skip: !containerModes.has('configure') }, () => {
    const text = readText(REPO_ROOT, FILES.dockerfile);
    const build = text.split(/^(?=FROM debian:12-slim)/m)[0];
    const step = 'RUN cmake --preset release && cmake --build --preset release --target shepherd';
    assert.ok(build.includes(step));
    const file = path.join(makeTempDir('shepherd-deploy-configure-'), 'Dockerfile');
    fs.writeFileSync(file, build.replace(step, 'RUN cmake --preset release'));
    const out = ok(podman(['build', '--pull=never', '--network', 'host', ...limits, '-f', file, '-t', `${tag}-configure`, REPO_ROOT], { timeout: 1800000 }), 'podman build (build stage, configure only)');
    assert.match(out, /Build files have been written to: \/src\/build\/release/);
  });

  test('the Dockerfile as it is: builds Shepherd and runs', { skip: !containerModes.has('full') }, async () => {
    ok(podman(['build', '--format', 'docker', '--pull=never', '--network', 'host', ...limits, '-t', tag, REPO_ROOT], { timeout: 3600000 }), 'podman build');
    await runImage(tag);
  });
});
