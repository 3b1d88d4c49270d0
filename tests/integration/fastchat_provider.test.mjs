// FastChat workers as a provider of `serve` (kind: fastchat): models appear as workers register
// and go as they leave, chat requests become FastChat generate requests through the model's
// conversation template, and NUL-framed answers come back in the client's dialect, metered.
// Workers are fakes answering as FastChat 0.2.36's model worker does (docs/fastchat-protocol.md
// §2), or Shepherd's own worker in front of the mock upstream.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { cleanup, closedPort, gatewayConfig, mockContent, pollUntil, readSSE, request, runCli, shepherdStats, startMock, startShepherd } from '../support/harness.mjs';
import { frame, startController, startFakeWorker, startWorker } from '../support/fastchat.mjs';

const closers = [];
async function fakeWorker(options) {
  const w = await startFakeWorker(options);
  closers.push(w);
  return w;
}

// FastChat's vicuna_v1.1 template as its workers send it (docs/fastchat-protocol.md §3.3).
const VICUNA = {
  name: 'vicuna_v1.1',
  system_template: '{system_message}',
  system_message: "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.",
  roles: ['USER', 'ASSISTANT'],
  messages: [],
  offset: 0,
  sep_style: 2,
  sep: ' ',
  sep2: '</s>',
  stop_str: null,
  stop_token_ids: null,
};
const usage = (p, c) => ({ prompt_tokens: p, completion_tokens: c, total_tokens: p + c });
const PARIS = [
  frame({ text: 'Paris', error_code: 0, usage: usage(12, 1), finish_reason: null }),
  frame({ text: 'Paris is the', error_code: 0, usage: usage(12, 3), finish_reason: null }),
  frame({ text: 'Paris is the capital.', error_code: 0, usage: usage(12, 5), finish_reason: null }),
  frame({ text: 'Paris is the capital.', error_code: 0, usage: usage(12, 5), finish_reason: 'stop' }),
];

const gateway = (base_url, fastchat = {}) =>
  startShepherd({
    ...gatewayConfig({ providers: { gpus: { kind: 'fastchat', base_url, fastchat: { refresh: '100ms', ...fastchat } } } }),
  });
const listed = async (shepherd) => (await request(`${shepherd.url}/v1/models`)).json().data.map((m) => m.id);
const chat = (shepherd, body) => request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body });

describe('FastChat workers as a provider', { timeout: 90000 }, () => {
  after(async () => {
    for (const c of closers) await c.close();
    await cleanup();
  });

  test("a FastChat worker's models are served, its template renders the prompt, its chunks become the answer", async () => {
    const w = await fakeWorker({ status: { model_names: ['vicuna-7b'] }, chunks: PARIS, conv: VICUNA });
    const shepherd = await gateway(w.url);
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('vicuna-7b'), { what: 'the model to appear' });
    const r = await chat(shepherd, { model: 'vicuna-7b', max_tokens: 32, temperature: 0.5, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] });
    assert.equal(r.status, 200, r.text);
    const answer = r.json();
    assert.equal(answer.choices[0].message.content, 'Paris is the capital.');
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.deepEqual(answer.usage.prompt_tokens, 12);
    assert.deepEqual(answer.usage.completion_tokens, 5);
    // The request FastChat's API server would send (json.dumps, its key order), with the prompt
    // the worker's own template renders.
    const sent = w.bodies.filter((b) => b.path === '/worker_generate_stream').at(-1).body;
    assert.equal(
      sent,
      '{"model": "vicuna-7b", "prompt": "Be brief. USER: Hi ASSISTANT:", "temperature": 0.5, "logprobs": null, "top_p": 1.0, "top_k": -1, ' +
        '"presence_penalty": 0.0, "frequency_penalty": 0.0, "max_new_tokens": 32, "echo": false, "stop_token_ids": null, "stop": []}',
    );
  });

  test('target: worker asks a worker for one answer when the client wants one', async () => {
    const w = await fakeWorker({ status: { model_names: ['vicuna-7b'] }, chunks: PARIS, conv: VICUNA });
    const shepherd = await gateway(w.url, { target: 'worker' });
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('vicuna-7b'), { what: 'the model to appear' });
    const r = await chat(shepherd, { model: 'vicuna-7b', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, 'Paris is the capital.');
    assert.equal(r.json().usage.completion_tokens, 5);
    assert.equal(w.calls['/worker_generate'], 1);
    assert.equal(w.calls['/worker_generate_stream'], undefined);
    assert.equal(w.calls['/list_models'], undefined, 'a worker is listed by its status');
  });

  test('a stream gets deltas of the cumulative text and the final usage', async () => {
    const w = await fakeWorker({ status: { model_names: ['vicuna-7b'] }, chunks: PARIS, conv: VICUNA });
    const shepherd = await gateway(w.url);
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('vicuna-7b'), { what: 'the model to appear' });
    const r = await fetch(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'vicuna-7b', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Capital of France?' }] }),
    });
    const sse = await readSSE(r.body);
    assert.ok(sse.done, 'the stream ends with [DONE]');
    const deltas = sse.chunks.map((c) => c.choices?.[0]?.delta?.content).filter((t) => t);
    assert.deepEqual(deltas, ['Paris', ' is the', ' capital.']);
    assert.equal(sse.chunks.find((c) => c.choices?.[0]?.finish_reason)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(sse.chunks.at(-1).usage?.completion_tokens, 5);
  });

  test('the whole FastChat topology: gateway, controller and worker, all Shepherd, to the mock', async () => {
    const mock = await startMock({ chunks: 4 });
    const controller = await startController();
    const worker = await startWorker(['--upstream', mock.baseURL, '--model', 'relay=gpt-4.1', '--controller-address', controller.url, '--conv-template', 'vicuna_v1.1', '--heart-beat-interval', '0.2']);
    const shepherd = await gateway(controller.url);
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('relay'), { what: 'the worker model to appear' });
    const r = await chat(shepherd, { model: 'relay', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: '2+2?' }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, mockContent(4));
    assert.ok(r.json().usage.total_tokens > 0);
    assert.equal(r.headers['x-shepherd-deployment'], 'relay@gpus');
    // The turns survived the trip through FastChat's prompt: the worker read them back.
    assert.deepEqual(JSON.parse((await mock.lastRequest()).body).messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: '2+2?' },
    ]);
    // Streamed, with the usage the worker relayed from the upstream.
    const streamed = await fetch(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'relay', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    const sse = await readSSE(streamed.body);
    assert.ok(sse.done);
    assert.equal(
      sse.chunks.map((c) => c.choices?.[0]?.delta?.content ?? '').join(''),
      mockContent(4),
    );
    assert.equal(sse.chunks.at(-1).usage.completion_tokens, 4);
    // The record stage counts a stream once its upstream body has ended, which may be just after
    // the client read the last event.
    const stats = await pollUntil(() => shepherdStats(shepherd), (s) => s.totals.requests === 2, { what: 'both requests counted' });
    assert.equal(stats.totals.errors, 0);
    // shepherd check walks the whole topology: controller, worker, gateway.
    const check = await runCli(['check', '--controller', controller.url, '--worker', worker.url, '--url', shepherd.url]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^controller +ok, 1 models: relay$/m);
    assert.match(check.stdout, new RegExp(`^  relay +${worker.address}$`, 'm'));
    assert.match(check.stdout, /^worker +ok, queue 0, 1 models: relay$/m);
    assert.match(check.stdout, /^  relay +ok +[\d.]+ ms/m);
    assert.match(check.stdout, /^summary +1\/1 models answered/m);
    // Without the worker the check fails and says where.
    await worker.proc.stop();
    const broken = await runCli(['check', '--worker', worker.url]);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /^worker +connection failed/m);
  });

  test('a worker dying mid-stream: the client gets an error event, the outcome is recorded, the worker leaves the rotation', async () => {
    const controller = await startController(['--dispatch-method', 'shortest_queue']);
    const dying = await fakeWorker({ status: { model_names: ['shared'] }, chunks: PARIS, conv: VICUNA, dieAfter: 2 });
    const healthy = await fakeWorker({ status: { model_names: ['shared'] }, chunks: PARIS, conv: VICUNA });
    // Registered first: shortest_queue's tie goes to it.
    for (const w of [dying, healthy]) {
      await controller.call('/register_worker', { worker_name: w.url, check_heart_beat: true, worker_status: w.status });
    }
    const shepherd = await gateway(controller.url);
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('shared'), { what: 'the model to appear' });
    // The gateway asked for a worker address to learn the template, which counted against the
    // picked worker's queue: heartbeats level the queues again.
    for (const w of [dying, healthy]) await controller.call('/receive_heart_beat', { worker_name: w.url, queue_length: 0 });
    const r = await fetch(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'shared', stream: true, messages: [{ role: 'user', content: 'Capital of France?' }] }),
    });
    const sse = await readSSE(r.body);
    assert.ok(sse.chunks.some((c) => c.choices?.[0]?.delta?.content === 'Paris'), 'the first text arrived');
    const error = sse.chunks.find((c) => c.error);
    assert.ok(error, `an error event ends the stream: ${JSON.stringify(sse.chunks)}`);
    assert.equal(typeof error.error.message, 'string');
    assert.ok(!sse.done, 'no [DONE] after a broken stream');
    assert.equal(dying.calls['/worker_generate_stream'], 1);
    // Out of the rotation: every later request goes to the healthy worker.
    for (let i = 0; i < 4; i++) {
      const ok = await chat(shepherd, { model: 'shared', messages: [{ role: 'user', content: 'Again?' }] });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json().choices[0].message.content, 'Paris is the capital.');
    }
    assert.equal(dying.calls['/worker_generate_stream'], 1);
    assert.equal(healthy.calls['/worker_generate_stream'], 4);
    const stats = await shepherdStats(shepherd);
    assert.equal(stats.totals.requests, 5);
    assert.equal(stats.totals.errors, 1);
  });

  test('models go when their workers do, and come back when they register again', async () => {
    const controller = await startController(['--heart-beat-expiration', '1']);
    const w = await fakeWorker({ status: { model_names: ['transient'] }, chunks: PARIS, conv: VICUNA });
    const shepherd = await gateway(controller.url);
    await controller.call('/register_worker', { worker_name: w.url, check_heart_beat: true, worker_status: w.status });
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('transient'), { what: 'the model to appear' });
    // No heartbeat: the controller expires the worker, and the gateway stops serving the model.
    await pollUntil(() => listed(shepherd), (ids) => !ids.includes('transient'), { timeoutMs: 5000, what: 'the model to go' });
    const gone = await chat(shepherd, { model: 'transient', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(gone.status, 404);
    await controller.call('/register_worker', { worker_name: w.url, check_heart_beat: false, worker_status: w.status });
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('transient'), { what: 'the model to come back' });
    assert.equal((await chat(shepherd, { model: 'transient', messages: [{ role: 'user', content: 'Hi' }] })).status, 200);
  });

  test("FastChat's workers register with serve's own controller and are served on the API port", async () => {
    const w = await fakeWorker({ status: { model_names: ['llava-lite'] }, chunks: PARIS, conv: VICUNA });
    const port = await closedPort();
    const controllerUrl = `http://127.0.0.1:${port}`;
    const shepherd = await startShepherd({
      ...gatewayConfig({ providers: { local: { kind: 'fastchat', base_url: controllerUrl, fastchat: { refresh: '100ms' } } } }),
      fastchat: { controller: { listen: `127.0.0.1:${port}` } },
    });
    await request(`${controllerUrl}/register_worker`, { method: 'POST', body: { worker_name: w.url, check_heart_beat: true, worker_status: w.status } });
    await pollUntil(() => listed(shepherd), (ids) => ids.includes('llava-lite'), { what: 'the model to appear' });
    const r = await chat(shepherd, { model: 'llava-lite', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().choices[0].message.content, 'Paris is the capital.');
  });
});
