// Shared helpers for the integration and e2e tests (node:test, plain ESM).
//
// Everything runs on 127.0.0.1 with ephemeral ports: every server is started with port 0 and its
// port is parsed from the first line it prints on stdout. Nothing here sleeps to synchronise:
// waits are on events (a line printed, a response, an exit) or on a condition polled with a
// bounded deadline (pollUntil).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = process.env.SHEPHERD_BIN
  ? path.resolve(process.env.SHEPHERD_BIN)
  : path.join(REPO_ROOT, 'build', 'dev', 'src', 'shepherd');

// ---------------------------------------------------------------------------------------------
// Bookkeeping: every child process and temp dir made here is cleaned up by cleanup().

const children = new Set();
const tempDirs = new Set();

process.on('exit', () => {
  // Backstop only: the tests' after() hooks stop their processes gracefully first.
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** A fresh temp dir, removed by cleanup(). */
export function makeTempDir(prefix = 'shepherd-it-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Stops every process started through this module (SIGTERM, then SIGKILL) and removes temp dirs. */
export async function cleanup() {
  await Promise.all([...children].map((child) => stopChild(child)));
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function exitPromise(child) {
  if (!child._shepherdExit) {
    child._shepherdExit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({ code: child.exitCode, signal: child.signalCode });
        return;
      }
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    child._shepherdExit.then(() => children.delete(child));
  }
  return child._shepherdExit;
}

/** Waits for `promise` at most `ms`; resolves to `fallback` when the bound passes first. */
async function within(promise, ms, fallback) {
  const ac = new AbortController();
  try {
    return await Promise.race([
      promise,
      delay(ms, fallback, { signal: ac.signal, ref: false }).catch(() => fallback),
    ]);
  } finally {
    ac.abort();
  }
}

/** Resolves with `promise`, or fails after `ms` naming `what`. */
export async function withTimeout(promise, ms, what = 'an event') {
  const r = await within(promise, ms, TIMED_OUT);
  if (r === TIMED_OUT) throw new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` });
  return r;
}
const TIMED_OUT = Symbol('timed out');

async function stopChild(child, graceMs = 5000) {
  const exited = exitPromise(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  const r = await within(exited, graceMs, 'timeout');
  if (r !== 'timeout') return r;
  child.kill('SIGKILL');
  return exited;
}

/**
 * Spawns the shepherd binary with `args` and resolves once its first stdout line matches
 * `readyRe` (rejects if the line differs, the process exits first, or readyTimeoutMs passes).
 */
export async function spawnServer(args, { env = {}, readyRe, name = 'shepherd', readyTimeoutMs = 15000, bin = BIN } = {}) {
  if (!fs.existsSync(bin)) throw new Error(`shepherd binary not found at ${bin} (build it or set SHEPHERD_BIN)`);
  const child = spawn(bin, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = exitPromise(child);
  const out = { stdout: '', stderr: '' };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    out.stderr += d;
  });
  const ready = new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    let first = true;
    rl.on('line', (line) => {
      out.stdout += `${line}\n`;
      if (!first) return;
      first = false;
      const m = readyRe.exec(line);
      if (m) resolve(m);
      else reject(new Error(`${name}: unexpected first stdout line: ${JSON.stringify(line)}`));
    });
    exited.then(({ code, signal, error }) =>
      reject(
        new Error(
          `${name} (${args.join(' ')}) ended before it was ready: code ${code}, signal ${signal}` +
            `${error ? `, ${error.message}` : ''}\nstderr:\n${out.stderr}`,
        ),
      ),
    );
  });
  let match;
  try {
    match = await within(ready, readyTimeoutMs, null);
    if (match === null) throw new Error(`${name}: not ready within ${readyTimeoutMs} ms; stderr:\n${out.stderr}`);
  } catch (e) {
    await stopChild(child, 1000);
    throw e;
  }
  return {
    child,
    match,
    exited,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop: (graceMs) => stopChild(child, graceMs),
    /** Waits for the process to exit by itself; SIGKILLs it and fails after timeoutMs. */
    async waitExit(timeoutMs = 10000) {
      const r = await within(exited, timeoutMs, 'timeout');
      if (r === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        throw new assert.AssertionError({ message: `${name} did not exit within ${timeoutMs} ms` });
      }
      return r;
    },
  };
}

/** Runs the binary to completion (bounded); resolves {code, signal, stdout, stderr}. */
export async function runCli(args, { env = {}, timeoutMs = 20000 } = {}) {
  const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = exitPromise(child);
  // Streams may deliver their last bytes after 'exit'; 'close' comes after both.
  const closed = new Promise((resolve) => child.once('close', resolve));
  let r = await within(exited, timeoutMs, 'timeout');
  if (r === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new assert.AssertionError({
      message: `shepherd ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
    });
  }
  await within(closed, 2000, null);
  if (r.error) throw r.error;
  return { code: r.code, signal: r.signal, stdout, stderr };
}

// ---------------------------------------------------------------------------------------------
// The mock upstream.

const MOCK_READY = /^mock-upstream listening on (https?):\/\/(\[[^\]]+\]|[^\s:/]+):(\d+)\s*$/;

function mockArgs(options) {
  if (Array.isArray(options)) return options.map(String);
  const args = [];
  const o = options ?? {};
  if (o.chunks !== undefined) args.push('--chunks', String(o.chunks));
  if (o.firstTokenDelayMs !== undefined) args.push('--first-token-delay-ms', String(o.firstTokenDelayMs));
  if (o.chunkDelayMs !== undefined) args.push('--chunk-delay-ms', String(o.chunkDelayMs));
  if (o.fault !== undefined) args.push('--fault', o.fault);
  if (o.models !== undefined) args.push('--models', [].concat(o.models).join(','));
  if (o.tlsCert !== undefined) args.push('--tls-cert', o.tlsCert, '--tls-key', o.tlsKey);
  if (o.threads !== undefined) args.push('--threads', String(o.threads));
  if (o.maxContext !== undefined) args.push('--max-context', String(o.maxContext));
  return args;
}

/**
 * Starts `shepherd mock-upstream --listen 127.0.0.1:0 ...args`. `args` is an argv array or
 * {chunks, firstTokenDelayMs, chunkDelayMs, fault, models, tlsCert, tlsKey}. For a TLS mock pass
 * {ca} in `opts` so that the control helpers (stats, ...) can verify it.
 */
export async function startMock(args = [], { ca, env } = {}) {
  const argv = ['mock-upstream', '--listen', '127.0.0.1:0', ...mockArgs(args)];
  const proc = await spawnServer(argv, { env, readyRe: MOCK_READY, name: 'mock-upstream' });
  const [, scheme, , portText] = proc.match;
  const port = Number(portText);
  assert.ok(port > 0, `mock port parsed from ${JSON.stringify(proc.stdout)}`);
  const url = `${scheme}://127.0.0.1:${port}`;
  // `ca`: PEM text or the path of a PEM file.
  const tls = ca ? { ca: String(ca).startsWith('-----') ? ca : fs.readFileSync(ca) } : {};
  const control = async (method, p) => {
    const r = await request(`${url}${p}`, { method, ...tls });
    assert.equal(r.status, 200, `mock ${method} ${p}: ${r.status} ${r.text}`);
    return r.json();
  };
  return {
    url,
    baseURL: `${url}/v1`,
    port,
    proc,
    get stderr() {
      return proc.stderr;
    },
    stats: () => control('GET', '/mock/stats'),
    lastRequest: () => control('GET', '/mock/last-request'),
    reset: () => control('POST', '/mock/reset'),
    stop: () => proc.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// Shepherd.

const SHEPHERD_READY = /^shepherd listening on (https?):\/\/(\[[^\]]+\]|[^\s:/]+):(\d+)\b/;

/** Writes a config (a YAML string, or an object written as JSON, which YAML accepts) to a file. */
export function writeConfig(dir, config, name = 'shepherd.yaml') {
  const file = path.join(dir, name);
  const text = typeof config === 'string' ? config : `${JSON.stringify(config, null, 2)}\n`;
  fs.writeFileSync(file, text);
  return file;
}

/**
 * A config object with test defaults: listen on an ephemeral port, one thread, no UI listener of
 * its own, and idle connections closed at once on a stop (drain_idle 0s).
 */
export function gatewayConfig({ server = {}, providers, models } = {}) {
  const config = {
    server: {
      listen: '127.0.0.1:0',
      threads: 1,
      ui_listen: 'off',
      ...server,
      timeouts: { drain_idle: '0s', ...server.timeouts },
    },
  };
  if (providers) config.providers = providers;
  if (models) config.models = models;
  return config;
}

/** An `openai` provider entry for a mock (or a base URL string). */
export function openaiProvider(mockOrUrl, extra = {}) {
  const base_url = typeof mockOrUrl === 'string' ? mockOrUrl : mockOrUrl.baseURL;
  return { kind: 'openai', base_url, ...extra };
}

/**
 * Starts `shepherd serve --config FILE` with `config` (YAML text or object). Resolves once the
 * listening line was printed: {url, port, stop(), stderr, waitExit(), child, configPath}.
 */
export async function startShepherd(config, { env = {}, dir, args = [], bin } = {}) {
  const where = dir ?? makeTempDir();
  const configPath = writeConfig(where, config);
  const proc = await spawnServer(['serve', '--config', configPath, ...args], {
    env,
    bin,
    readyRe: SHEPHERD_READY,
    name: 'shepherd serve',
  });
  const port = Number(proc.match[3]);
  assert.ok(port > 0, `shepherd port parsed from ${JSON.stringify(proc.stdout)}`);
  return {
    url: `${proc.match[1]}://127.0.0.1:${port}`,
    port,
    proc,
    child: proc.child,
    configPath,
    get stderr() {
      return proc.stderr;
    },
    get alive() {
      return proc.alive;
    },
    stop: (graceMs) => proc.stop(graceMs),
    waitExit: (timeoutMs) => proc.waitExit(timeoutMs),
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP.

/**
 * One HTTP(S) request with node:http. By default on a new connection (agent: false, which sends
 * `Connection: close`); pass an http.Agent to reuse connections. `body`: string, Buffer or a
 * value sent as JSON. Resolves {status, headers, text, json(), reusedSocket}.
 */
export function request(url, { method = 'GET', headers = {}, body, agent, timeoutMs = 15000, ...tls } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const h = { ...headers };
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(payload);
    }
    const req = mod.request(u, { method, headers: h, agent: agent ?? false, ...tls }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode,
          headers: res.headers,
          text,
          reusedSocket: req.reusedSocket,
          json() {
            try {
              return JSON.parse(text);
            } catch {
              throw new assert.AssertionError({ message: `not JSON (${res.statusCode}): ${text.slice(0, 500)}` });
            }
          },
        });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like request() but never rejects: a transport failure resolves {error, code}. */
export async function tryRequest(url, options) {
  try {
    return await request(url, options);
  } catch (error) {
    return { status: 0, error, code: error.code };
  }
}

export const bearer = (key) => ({ authorization: `Bearer ${key}` });

/** A chat request body. */
export function chatBody(model, { stream, includeUsage, content = 'Say hello to the gateway', system, max_tokens, extra } = {}) {
  const messages = [];
  if (system !== undefined) messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content });
  const body = { model, messages };
  if (stream !== undefined) body.stream = stream;
  if (includeUsage !== undefined) body.stream_options = { include_usage: includeUsage };
  if (max_tokens !== undefined) body.max_tokens = max_tokens;
  return { ...body, ...extra };
}

/** Whitespace-separated words over all message contents: the mock's prompt_tokens. */
export function wordCount(body) {
  let n = 0;
  for (const m of body.messages ?? []) {
    if (typeof m.content === 'string') n += m.content.split(/\s+/).filter(Boolean).length;
  }
  return n;
}

/** The mock's deterministic content of `n` tokens (see src/mock/mock_upstream.hpp). */
export function mockContent(n = 8) {
  const cycle = [' from', ' the', ' mock', ' upstream', '.', ' Hello'];
  let s = '';
  for (let i = 0; i < n; i += 1) s += i === 0 ? 'Hello' : cycle[(i - 1) % cycle.length];
  return s;
}

/** Asserts the OpenAI error shape {"error":{"message","type","param","code"}}; returns error. */
export function assertErrorShape(body, context = '') {
  assert.equal(typeof body, 'object', `${context}: body is an object`);
  assert.ok(body && typeof body.error === 'object' && body.error !== null, `${context}: has "error": ${inspect(body)}`);
  const e = body.error;
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in e, `${context}: error has "${k}": ${inspect(e)}`);
  assert.equal(typeof e.message, 'string', `${context}: error.message is a string`);
  assert.ok(e.message.length > 0, `${context}: error.message is not empty`);
  assert.equal(typeof e.type, 'string', `${context}: error.type is a string`);
  return e;
}

// ---------------------------------------------------------------------------------------------
// Server-sent events.

/**
 * Yields the events of an SSE body as {data, json, fields} (json: the parsed data, or undefined
 * for [DONE] / non-JSON). `source` is a fetch Response, a web ReadableStream, or a Node readable
 * (http.IncomingMessage). Transport errors propagate.
 */
export async function* sseEvents(source, raw = { text: '' }) {
  const stream = source && source.body !== undefined && typeof source.arrayBuffer === 'function' ? source.body : source;
  const decoder = new TextDecoder();
  let buf = '';
  const parseBlock = (block) => {
    const fields = {};
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') data.push(value);
      else fields[name] = value;
    }
    if (data.length === 0) return null;
    const text = data.join('\n');
    let json;
    if (text !== '[DONE]') {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { data: text, json, fields };
  };
  for await (const piece of stream) {
    const s = typeof piece === 'string' ? piece : decoder.decode(piece, { stream: true });
    raw.text += s;
    buf += s;
    if (buf.includes('\r')) buf = buf.replace(/\r\n?/g, '\n');
    let idx;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      const ev = parseBlock(block);
      if (ev) yield ev;
    }
  }
  raw.trailing = buf;
}

/**
 * Reads a whole SSE body. Resolves {events, chunks, done, afterDone, errors, content, usage,
 * error, raw, trailing}: chunks are the parsed JSON events, done whether `data: [DONE]` came,
 * errors the events carrying an "error" object, content the concatenated delta contents, usage
 * the last non-null usage, error a transport error (the body broke off) or null.
 */
export async function readSSE(source) {
  const result = { events: [], chunks: [], done: false, afterDone: [], errors: [], invalid: [], content: '', usage: null, error: null, raw: '', trailing: '' };
  const raw = { text: '' };
  try {
    for await (const ev of sseEvents(source, raw)) {
      result.events.push(ev.data);
      if (result.done) result.afterDone.push(ev.data);
      if (ev.data === '[DONE]') {
        result.done = true;
        continue;
      }
      if (ev.json === undefined) {
        result.invalid.push(ev.data);
        continue;
      }
      result.chunks.push(ev.json);
      if (ev.json && ev.json.error) result.errors.push(ev.json);
      const delta = ev.json?.choices?.[0]?.delta;
      if (delta && typeof delta.content === 'string') result.content += delta.content;
      if (ev.json?.usage) result.usage = ev.json.usage;
    }
  } catch (e) {
    result.error = e;
  }
  result.raw = raw.text;
  result.trailing = raw.trailing ?? '';
  return result;
}

/** POSTs a chat request with fetch and returns the Response (body unread). */
export function fetchChat(baseUrl, body, { key, headers = {}, signal } = {}) {
  return fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? bearer(key) : {}), ...headers },
    body: JSON.stringify(body),
    signal,
  });
}

/** Content chunks of a stream: chunks whose first choice's delta carries non-empty content. */
export const contentChunks = (sse) => sse.chunks.filter((c) => typeof c?.choices?.[0]?.delta?.content === 'string' && c.choices[0].delta.content !== '');

// ---------------------------------------------------------------------------------------------
// Polling, ports, metrics, Shepherd's /stats.

/**
 * Calls `get` every intervalMs until `predicate(value)` holds; returns that value. Fails with the
 * last value (or error) after timeoutMs.
 */
export async function pollUntil(get, predicate = Boolean, { timeoutMs = 3000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await get();
      if (predicate(last)) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${inspect(last, { depth: 4 })}` });
    }
    await delay(intervalMs);
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, noted, closed). */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Parses Prometheus text into [{name, labels, value}]. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
        labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value: v });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `labels`; undefined when none match. */
export function metricValue(samples, name, labels = {}) {
  let sum;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/** GET /stats of a Shepherd. */
export async function shepherdStats(shepherd) {
  const r = await request(`${shepherd.url}/stats`);
  assert.equal(r.status, 200, `/stats: ${r.status} ${r.text}`);
  return r.json();
}

/** The /stats route entry for model (and provider), or undefined. */
export function routeOf(stats, model, provider) {
  return (stats.routes ?? []).find((r) => r.model === model && (provider === undefined || r.provider === provider));
}

// ---------------------------------------------------------------------------------------------
// TLS material (openssl CLI).

/**
 * Makes a CA and server certificates signed by it in `dir`. `servers`: {name: {cn, san}}.
 * Returns {ca (path), caKey (path), caPem (text), [name]: {cert, key} (paths)}.
 */
export function makeCertificates(dir, servers = { server: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' } }) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const out = { ca: path.join(dir, 'ca.pem'), caKey: path.join(dir, 'ca.key'), caPem: null };
  run(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Shepherd Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  for (const [name, { cn, san }] of Object.entries(servers)) {
    const ext = path.join(dir, `${name}.ext`);
    fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
    run(['req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext]);
    out[name] = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  }
  out.caPem = fs.readFileSync(out.ca, 'utf8');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Other provider kinds and client dialects (the conformance suite and the SDK tests).

/**
 * An `anthropic` provider entry for a mock (or a URL string): base_url is the API root, to which
 * Shepherd appends /v1/messages.
 */
export function anthropicProvider(mockOrUrl, extra = {}) {
  const base_url = typeof mockOrUrl === 'string' ? mockOrUrl : mockOrUrl.url;
  return { kind: 'anthropic', base_url, ...extra };
}

/**
 * A `gemini` provider entry for a mock (or a URL string): base_url is the root plus /v1beta, to
 * which Shepherd appends /models/{model}:generateContent and the like.
 */
export function geminiProvider(mockOrUrl, extra = {}) {
  const base_url = typeof mockOrUrl === 'string' ? mockOrUrl : `${mockOrUrl.url}/v1beta`;
  return { kind: 'gemini', base_url, ...extra };
}

/** The headers an Anthropic client sends: x-api-key (when given) and anthropic-version. */
export const anthropicHeaders = (key) => ({ ...(key ? { 'x-api-key': key } : {}), 'anthropic-version': '2023-06-01' });

/** The body of the mock's /mock/last-request record, parsed (it is recorded as text). */
export function lastRequestBody(record) {
  return typeof record.body === 'string' ? JSON.parse(record.body) : record.body;
}
