// FastChat's processes for tests: Shepherd's controller started for real, and a fake FastChat
// model worker (an HTTP server answering as FastChat 0.2.36's base_model_worker does, from
// docs/fastchat-protocol.md §2) whose status and stream the test sets.
import http from 'node:http';

import { request, spawnServer } from './harness.mjs';

export const CONTROLLER_READY = /^controller listening on (https?):\/\/([^:]+):(\d+)/;

/** `shepherd controller` on an ephemeral port; resolves { url, proc, call(path, body) }. */
export async function startController(args = [], { env } = {}) {
  const port = args.includes('--port') ? [] : ['--port', '0'];
  const proc = await spawnServer(['controller', ...port, ...args], { env, readyRe: CONTROLLER_READY, name: 'controller' });
  const url = `${proc.match[1]}://127.0.0.1:${proc.match[3]}`;
  const call = (path, body, method = 'POST') =>
    request(`${url}${path}`, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { url, proc, call };
}

/** A NUL-framed chunk, as FastChat's worker frames them. */
export const frame = (obj) => `${JSON.stringify(obj)}\0`;

/**
 * A fake FastChat worker. `status`: {model_names, speed, queue_length}; `chunks`: the frames its
 * /worker_generate_stream sends (each written separately). Counts the calls per path.
 */
export async function startFakeWorker({ status, chunks = [], conv, dieAfter, pauseAfter } = {}) {
  const calls = {};
  const bodies = [];
  // conv: the {"conv": ...} answer of /worker_get_conv_template (404 without one); dieAfter: the
  // stream's connection is destroyed after that many chunks, as when a worker process dies.
  // pauseAfter: the stream waits after that many chunks until worker.resume() is called.
  let resume;
  const paused = new Promise((r) => (resume = r));
  const worker = { status: { speed: 1, queue_length: 0, ...status }, chunks, calls, bodies, conv, dieAfter, resume };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      calls[req.url] = (calls[req.url] ?? 0) + 1;
      bodies.push({ path: req.url, body });
      if (req.url === '/worker_get_status') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(worker.status));
      } else if (req.url === '/worker_get_conv_template' && worker.conv) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ conv: worker.conv }));
      } else if (req.url === '/worker_generate') {
        // The last chunk alone, FastAPI style.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(JSON.parse(worker.chunks.at(-1).replace(/\0$/, ''))));
      } else if (req.url === '/worker_generate_stream') {
        res.writeHead(200);
        for (const [i, c] of worker.chunks.entries()) {
          if (pauseAfter !== undefined && i === pauseAfter) await paused;
          if (worker.dieAfter !== undefined && i >= worker.dieAfter) {
            await new Promise((r) => setTimeout(r, 20));
            res.socket.destroy();
            return;
          }
          res.write(c);
          await new Promise((r) => setImmediate(r));
        }
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  worker.url = `http://127.0.0.1:${server.address().port}`;
  worker.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(r);
    });
  return worker;
}

export const WORKER_READY = /^worker listening on (https?):\/\/([^:]+):(\d+) as (\S+)/;

/**
 * `shepherd worker` on an ephemeral port with `args` (flags). Resolves { url, address, proc,
 * call(path, body) }: `url` is where it listens, `address` what it registers as.
 */
export async function startWorker(args = [], { env } = {}) {
  const proc = await spawnServer(['worker', '--port', '0', ...args], { env, readyRe: WORKER_READY, name: 'worker' });
  const url = `${proc.match[1]}://127.0.0.1:${proc.match[3]}`;
  return { url, address: proc.match[4], proc, call: caller(url) };
}

/** POSTs JSON (or a string as it is) to `base` + path. */
export const caller = (base) => (path, body, method = 'POST') =>
  request(`${base}${path}`, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** The frames of a NUL-framed body: [parsed chunks], and whether the body ended with a NUL. */
export function frames(text) {
  const pieces = text.split('\0');
  return { chunks: pieces.filter(Boolean).map((p) => JSON.parse(p)), raw: pieces.filter(Boolean), terminated: text.endsWith('\0') };
}

/**
 * A fake FastChat controller: records every body it receives (by path, as raw text) and answers
 * as FastChat's controller does; `exist` decides its heartbeat answer.
 */
export async function startFakeController({ exist = true } = {}) {
  const seen = [];
  const controller = { seen, exist };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ path: req.url, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/receive_heart_beat' ? JSON.stringify({ exist: controller.exist }) : 'null');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  controller.url = `http://127.0.0.1:${server.address().port}`;
  controller.bodies = (path) => seen.filter((s) => s.path === path).map((s) => s.body);
  controller.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(r);
    });
  return controller;
}
