// `shepherd controller` against FastChat's protocol (docs/fastchat-protocol.md §1): workers register
// and send heartbeats, API servers ask for worker addresses or stream through the controller.
// The workers are fakes that answer as FastChat's base_model_worker does.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { cleanup, gatewayConfig, openaiProvider, pollUntil, request, startMock, startShepherd } from '../support/harness.mjs';
import { frame, startController, startFakeWorker } from '../support/fastchat.mjs';

const workers = [];
async function worker(options) {
  const w = await startFakeWorker(options);
  workers.push(w);
  return w;
}
const register = (c, w, extra = {}) =>
  c.call('/register_worker', { worker_name: w.url, check_heart_beat: true, worker_status: w.status, ...extra });

describe('shepherd controller', { timeout: 60000 }, () => {
  after(async () => {
    for (const w of workers) await w.close();
    await cleanup();
  });

  test('registered workers list their models and get requests for them', async () => {
    const c = await startController();
    assert.equal((await c.call('/test_connection', undefined, 'GET')).json(), 'success');
    const a = await worker({ status: { model_names: ['vicuna-7b', 'llama-3'] } });
    const b = await worker({ status: { model_names: ['llava'] } });
    const r = await register(c, a);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'null');
    await register(c, b, { multimodal: true });
    assert.deepEqual((await c.call('/list_models')).json().models.sort(), ['llama-3', 'llava', 'vicuna-7b']);
    assert.deepEqual((await c.call('/list_multimodal_models')).json(), { models: ['llava'] });
    assert.deepEqual((await c.call('/list_language_models')).json().models.sort(), ['llama-3', 'vicuna-7b']);
    assert.deepEqual((await c.call('/get_worker_address', { model: 'llava' })).json(), { address: b.url });
    assert.deepEqual((await c.call('/get_worker_address', { model: 'nobody' })).json(), { address: '' });
  });

  test('a registration without a status asks the worker, and skips one that does not answer', async () => {
    const c = await startController();
    const w = await worker({ status: { model_names: ['polled'] } });
    await c.call('/register_worker', { worker_name: w.url, check_heart_beat: true });
    assert.equal(w.calls['/worker_get_status'], 1);
    const gone = await worker({ status: { model_names: ['ghost'] } });
    await gone.close();
    const r = await c.call('/register_worker', { worker_name: gone.url, check_heart_beat: true, worker_status: null });
    assert.equal(r.status, 200);
    assert.deepEqual((await c.call('/list_models')).json(), { models: ['polled'] });
  });

  test('heartbeats: an unknown worker is told to register again', async () => {
    const c = await startController();
    const w = await worker({ status: { model_names: ['m'] } });
    assert.deepEqual((await c.call('/receive_heart_beat', { worker_name: w.url, queue_length: 0 })).json(), { exist: false });
    await register(c, w);
    assert.deepEqual((await c.call('/receive_heart_beat', { worker_name: w.url, queue_length: 2 })).json(), { exist: true });
  });

  test('a worker without heartbeats expires after the expiration, one registered without checks stays', async () => {
    const c = await startController(['--heart-beat-expiration', '1']);
    const w = await worker({ status: { model_names: ['expiring'] } });
    const manual = await worker({ status: { model_names: ['manual'] } });
    await register(c, w);
    await register(c, manual, { check_heart_beat: false });
    const registeredAt = Date.now();
    await pollUntil(async () => !(await c.call('/list_models')).json().models.includes('expiring'), Boolean, {
      timeoutMs: 4000,
      what: 'the worker to expire',
    });
    // Not before its expiration, and within a second's sweep after it.
    const elapsed = Date.now() - registeredAt;
    assert.ok(elapsed >= 1000 && elapsed < 3500, `${elapsed} ms`);
    assert.deepEqual((await c.call('/list_models')).json(), { models: ['manual'] });
  });

  test('shortest_queue: the least queue per speed, counting each request sent its way', async () => {
    const c = await startController(['--dispatch-method', 'shortest_queue']);
    const slow = await worker({ status: { model_names: ['shared'], speed: 1, queue_length: 1 } });
    const fast = await worker({ status: { model_names: ['shared'], speed: 2, queue_length: 1 } });
    await register(c, slow);
    await register(c, fast);
    const picks = [];
    for (let i = 0; i < 4; i++) picks.push((await c.call('/get_worker_address', { model: 'shared' })).json().address);
    // Scores queue/speed: fast 1/2 < slow 1/1 -> fast (now 2/2); a tie at 1 goes to the first
    // registered -> slow (now 2/1); fast 2/2 < 2 -> fast (now 3/2); fast 1.5 < 2 -> fast.
    assert.deepEqual(picks, [fast.url, slow.url, fast.url, fast.url]);
    // A heartbeat resets the optimistic count.
    await c.call('/receive_heart_beat', { worker_name: slow.url, queue_length: 0 });
    assert.equal((await c.call('/get_worker_address', { model: 'shared' })).json().address, slow.url);
  });

  test('lottery: every worker serving the model gets requests, others none', async () => {
    const c = await startController(['--dispatch-method', 'lottery']);
    const one = await worker({ status: { model_names: ['shared'], speed: 1 } });
    const three = await worker({ status: { model_names: ['shared'], speed: 3 } });
    const other = await worker({ status: { model_names: ['other'], speed: 100 } });
    for (const w of [one, three, other]) await register(c, w);
    const count = {};
    for (let i = 0; i < 200; i++) {
      const address = (await c.call('/get_worker_address', { model: 'shared' })).json().address;
      count[address] = (count[address] ?? 0) + 1;
    }
    assert.equal(count[other.url], undefined);
    assert.ok(count[one.url] > 10 && count[three.url] > count[one.url], JSON.stringify(count));
  });

  test('refresh_all_workers keeps the workers that answer and drops the others', async () => {
    const c = await startController();
    const alive = await worker({ status: { model_names: ['alive'] } });
    const dead = await worker({ status: { model_names: ['dead'] } });
    await register(c, alive);
    await register(c, dead);
    await dead.close();
    alive.status.model_names = ['alive', 'renamed'];
    assert.equal((await c.call('/refresh_all_workers')).status, 200);
    assert.deepEqual((await c.call('/list_models')).json(), { models: ['alive', 'renamed'] });
  });

  test('worker_get_status adds up the workers, for a parent controller', async () => {
    const c = await startController();
    const a = await worker({ status: { model_names: ['b-model', 'a-model'], speed: 1, queue_length: 2 } });
    const b = await worker({ status: { model_names: ['a-model'], speed: 2, queue_length: 3 } });
    await register(c, a);
    await register(c, b);
    const status = (await c.call('/worker_get_status', {})).json();
    assert.deepEqual(status, { model_names: ['a-model', 'b-model'], speed: 3, queue_length: 5 });
  });

  test('worker_generate_stream relays the worker stream byte for byte', async () => {
    const c = await startController();
    const chunks = [
      frame({ text: 'Paris', error_code: 0, usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 }, finish_reason: null }),
      frame({ text: 'Paris is nice 🗼', error_code: 0, usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 }, finish_reason: 'stop' }),
    ];
    const w = await worker({ status: { model_names: ['m'] }, chunks });
    await register(c, w);
    const body = { model: 'm', prompt: 'USER: hi ASSISTANT:', max_new_tokens: 8, echo: false };
    const r = await c.call('/worker_generate_stream', body);
    assert.equal(r.status, 200);
    assert.equal(r.text, chunks.join(''));
    assert.deepEqual(JSON.parse(w.bodies.find((b) => b.path === '/worker_generate_stream').body), body);
  });

  test('worker_generate_stream passes each chunk on as it comes, not when the worker is done', async () => {
    const c = await startController();
    const first = frame({ text: 'Par', error_code: 0, usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 }, finish_reason: null });
    const last = frame({ text: 'Paris', error_code: 0, usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 }, finish_reason: 'stop' });
    const w = await worker({ status: { model_names: ['m'] }, chunks: [first, last], pauseAfter: 1 });
    await register(c, w);
    const r = await fetch(`${c.url}/worker_generate_stream`, { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'x' }) });
    const reader = r.body.getReader();
    let got = '';
    // The worker holds its last chunk until the first has reached the client.
    while (!got.includes('\0')) {
      const { value, done } = await reader.read();
      assert.ok(!done, 'the stream ended before its first chunk');
      got += Buffer.from(value).toString();
    }
    assert.equal(got, first);
    w.resume();
    for (let part = await reader.read(); !part.done; part = await reader.read()) got += Buffer.from(part.value).toString();
    assert.equal(got, first + last);
  });

  test('worker_generate_stream for a model without a worker sends one error chunk', async () => {
    const c = await startController();
    const r = await c.call('/worker_generate_stream', { model: 'nobody', prompt: 'x' });
    assert.equal(r.status, 200);
    const frames = r.text.split('\0').filter(Boolean).map((f) => JSON.parse(f));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].error_code, 50005);
    assert.match(frames[0].text, /NETWORK ERROR/);
  });

  test('malformed bodies get 400 with a reason, and the controller goes on', async () => {
    const c = await startController();
    for (const [path, body] of [
      ['/register_worker', '{'],
      ['/register_worker', { check_heart_beat: true }],
      ['/receive_heart_beat', { worker_name: 5 }],
      ['/get_worker_address', []],
      ['/get_worker_address', 'null'],
    ]) {
      const r = await c.call(path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json().detail, 'string');
      assert.ok(r.json().detail.length > 0);
    }
    assert.equal((await c.call('/nowhere', {})).status, 404);
    assert.equal((await c.call('/test_connection', undefined, 'GET')).status, 200);
  });

  test('SIGTERM stops it', async () => {
    const c = await startController();
    c.proc.child.kill('SIGTERM');
    const { code } = await c.proc.waitExit(5000);
    assert.equal(code, 0);
  });

  test('serve runs the controller beside the gateway when the config enables it', async () => {
    const mock = await startMock();
    const shepherd = await startShepherd({
      ...gatewayConfig({
        providers: { relay: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'relay' }] } },
      }),
      fastchat: { controller: { listen: '127.0.0.1:0', dispatch: 'lottery', heart_beat_expiration: '30s' } },
    });
    const m = await pollUntil(async () => /controller listening on http:\/\/127\.0\.0\.1:(\d+) \(dispatch lottery\)/.exec(shepherd.proc.stdout), Boolean, {
      what: 'the controller line',
    });
    const url = `http://127.0.0.1:${m[1]}`;
    const w = await worker({ status: { model_names: ['vicuna-7b'] } });
    const call = (path, body) => request(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
    await call('/register_worker', { worker_name: w.url, check_heart_beat: true, worker_status: w.status });
    assert.deepEqual((await call('/list_models', {})).json(), { models: ['vicuna-7b'] });
    assert.deepEqual((await call('/get_worker_address', { model: 'vicuna-7b' })).json(), { address: w.url });
    // The gateway on its own port is unaffected.
    assert.equal((await request(`${shepherd.url}/health`)).status, 200);
  });
});
