// `shepherd worker` against FastChat's protocol (docs/fastchat-protocol.md §2): FastChat's API
// server, web UI and controller call it as they call a model worker, and it relays to a provider
// through the gateway's pipeline. Expected bodies are written from the protocol document; the
// upstream is the mock, and the controllers are Shepherd's own and a fake that records bodies.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { cleanup, gatewayConfig, makeTempDir, mockContent, openaiProvider, pollUntil, request, startMock, startShepherd, writeConfig } from '../support/harness.mjs';
import { caller, frames, startController, startFakeController, startWorker } from '../support/fastchat.mjs';

const closers = [];
const later = (x) => {
  closers.push(x);
  return x;
};

// A ChatML prompt as FastChat's API server renders it for the worker's template.
const chatml = (system, ...turns) => {
  let p = system ? `<|im_start|>system\n${system}<|im_end|>\n` : '';
  turns.forEach((t, i) => (p += `<|im_start|>${i % 2 ? 'assistant' : 'user'}\n${t}<|im_end|>\n`));
  return `${p}<|im_start|>assistant\n`;
};
const generate = (model, extra = {}) => ({
  model,
  prompt: chatml('Be brief.', 'Hi', 'Hello!', 'What is 2+2?'),
  temperature: 0.7,
  logprobs: null,
  top_p: 1.0,
  top_k: -1,
  presence_penalty: 0.0,
  frequency_penalty: 0.0,
  max_new_tokens: 48,
  echo: false,
  stop_token_ids: null,
  stop: ['<|im_end|>'],
  ...extra,
});

async function relay(mockOptions = {}, args = []) {
  const mock = await startMock(mockOptions);
  const worker = await startWorker(['--upstream', mock.baseURL, '--model', 'gpt-4.1=gpt-4.1', '--model', 'fast=deepseek-v3.2', '--no-register', ...args]);
  return { mock, worker };
}

describe('shepherd worker', { timeout: 90000 }, () => {
  after(async () => {
    for (const c of closers) await c.close();
    await cleanup();
  });

  test('answers the status, template, details and token count routes as a FastChat worker', async () => {
    const { worker } = await relay({}, ['--limit-worker-concurrency', '3', '--context-length', '32768']);
    assert.match(worker.address, /^http:\/\/127\.0\.0\.1:\d+$/);
    const status = await worker.call('/worker_get_status', {});
    assert.equal(status.status, 200);
    assert.equal(status.text, '{"model_names":["fast","gpt-4.1"],"speed":1,"queue_length":0}');
    const conv = (await worker.call('/worker_get_conv_template', { model: 'fast' })).json().conv;
    // fschat 0.2.36 numbers CHATML 9; the API server reads these eleven fields.
    assert.deepEqual(conv, {
      name: 'chatml',
      system_template: '<|im_start|>system\n{system_message}',
      system_message: 'You are a helpful assistant.',
      roles: ['<|im_start|>user', '<|im_start|>assistant'],
      messages: [],
      offset: 0,
      sep_style: 9,
      sep: '<|im_end|>',
      sep2: null,
      stop_str: '<|im_end|>',
      stop_token_ids: null,
    });
    assert.deepEqual((await worker.call('/model_details', { model: 'gpt-4.1' })).json(), { context_length: 32768 });
    assert.deepEqual((await worker.call('/count_token', { model: 'gpt-4.1', prompt: 'twelve bytes' })).json(), { count: 3, error_code: 0 });
    assert.deepEqual((await worker.call('/count_token', { model: 'gpt-5', prompt: 'x' })).json(), { count: 0, error_code: 40301 });
    const unknown = await worker.call('/model_details', { model: 'gpt-5' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json().detail, 'Only fast&&gpt-4.1 allowed now, your model gpt-5');
    assert.equal((await worker.call('/model_details', '{')).status, 400);
    assert.equal((await worker.call('/nowhere', {})).status, 404);
    assert.equal((await worker.call('/worker_get_status', undefined, 'GET')).status, 405);
  });

  test('worker_generate_stream: NUL-framed chunks of cumulative text, then usage and the finish reason', async () => {
    // The mock's chunks 20 ms apart: each reaches the worker in a read of its own.
    const { mock, worker } = await relay({ chunks: 6, chunkDelayMs: 20 });
    const r = await worker.call('/worker_generate_stream', generate('fast'));
    assert.equal(r.status, 200);
    const { chunks, raw, terminated } = frames(r.text);
    assert.ok(terminated, 'every frame ends with a NUL');
    assert.equal(chunks.length, 7, r.text);  // one per token, then the final chunk
    // json.dumps as FastChat's worker prints it: keys in its order, ", " and ": " separators.
    for (const piece of raw) assert.match(piece, /^\{"text": ".*", "error_code": 0, "usage": \{"prompt_tokens": \d+, "completion_tokens": \d+, "total_tokens": \d+\}, "finish_reason": (null|"stop"), "logprobs": null\}$/s);
    for (let i = 1; i < chunks.length; i++) assert.ok(chunks[i].text.startsWith(chunks[i - 1].text), 'the text is cumulative');
    for (const c of chunks.slice(0, -1)) assert.equal(c.finish_reason, null);
    const last = chunks.at(-1);
    assert.equal(last.text, mockContent(6));
    assert.equal(last.finish_reason, 'stop');
    assert.equal(last.usage.completion_tokens, 6);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + 6);
    // The prompt went upstream as turns, to the mapped model, without the template's artefacts.
    const sent = JSON.parse((await mock.lastRequest()).body);
    assert.equal(sent.model, 'deepseek-v3.2');
    assert.equal(sent.stream, true);
    assert.equal(sent.max_tokens, 48);
    assert.equal(sent.temperature, 0.7);
    assert.equal(sent.stop, undefined);
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'What is 2+2?' },
    ]);
  });

  test('worker_generate answers the last chunk alone, FastAPI style', async () => {
    const { worker } = await relay({ chunks: 5 });
    const r = await worker.call('/worker_generate', generate('gpt-4.1', { stop: ['<|im_end|>', 'END'] }));
    assert.equal(r.status, 200);
    assert.match(r.text, /^\{"text":".*","error_code":0,"usage":\{"prompt_tokens":\d+,"completion_tokens":5,"total_tokens":\d+\},"finish_reason":"stop","logprobs":null\}$/);
    assert.equal(r.json().text, mockContent(5));
  });

  test('errors are error chunks with FastChat codes, NUL-terminated on the stream', async () => {
    const { worker } = await relay();
    const unknown = await worker.call('/worker_generate_stream', generate('gpt-5'));
    assert.equal(unknown.status, 200);
    const u = frames(unknown.text);
    assert.ok(u.terminated);
    assert.equal(u.chunks.length, 1);
    assert.equal(u.chunks[0].error_code, 40301);
    assert.match(u.chunks[0].text, /^\*\*NETWORK ERROR DUE TO HIGH TRAFFIC\. PLEASE REGENERATE OR REFRESH THIS PAGE\.\*\*\n\n\(Only fast&&gpt-4\.1 allowed now, your model gpt-5\)$/);
    const malformed = await worker.call('/worker_generate', '{"model": "fast"}');
    assert.equal(malformed.status, 200);
    assert.equal(malformed.json().error_code, 40302);
    assert.match(malformed.json().text, /prompt/);
    const zero = await worker.call('/worker_generate', generate('fast', { max_new_tokens: 0 }));
    assert.equal(zero.json().error_code, 40302);
  });

  test('an upstream that fails before answering, and one that breaks mid-stream', async () => {
    const down = await relay({ fault: 'status=500' });
    const before = frames((await down.worker.call('/worker_generate_stream', generate('fast'))).text);
    assert.equal(before.chunks.length, 1);
    assert.equal(before.chunks[0].error_code, 50001);
    assert.ok(before.terminated);
    const cut = await relay({ fault: 'reset-after=2', chunks: 8 });
    const mid = frames((await cut.worker.call('/worker_generate_stream', generate('fast'))).text);
    assert.ok(mid.chunks.length >= 2, JSON.stringify(mid.chunks));
    assert.equal(mid.chunks[0].error_code, 0);
    assert.equal(mid.chunks.at(-1).error_code, 50001, 'the stream ends with an error chunk');
    assert.ok(mid.terminated);
    // Both outcomes are counted as errors in the worker's statistics (the cut stream once its
    // record stage has run, which may be just after the client read the error chunk).
    await pollUntil(async () => (await request(`${cut.worker.url}/stats`)).json().totals.errors, (n) => n === 1, { what: 'the cut stream counted as an error' });
  });

  test('the concurrency limit queues requests and reports running plus waiting as queue_length', async () => {
    const { worker } = await relay({ firstTokenDelayMs: 600, chunks: 2 }, ['--limit-worker-concurrency', '1']);
    const pending = [1, 2, 3].map(() => worker.call('/worker_generate_stream', generate('fast')));
    const seen = await pollUntil(async () => (await worker.call('/worker_get_status', {})).json().queue_length, (q) => q === 3, {
      timeoutMs: 3000,
      what: 'three requests queued',
    });
    assert.equal(seen, 3);
    const metrics = (await request(`${worker.url}/metrics`)).text;
    assert.match(metrics, /^shepherd_fastchat_worker_queue_length 3$/m);
    assert.match(metrics, /^shepherd_fastchat_worker_concurrency_limit 1$/m);
    const answers = await Promise.all(pending);
    for (const a of answers) assert.equal(frames(a.text).chunks.at(-1).finish_reason, 'stop');
    assert.equal((await worker.call('/worker_get_status', {})).json().queue_length, 0);
    // Latency counts the wait for a slot: about 0.6, 1.2 and 1.8 s, not 0.6 s each.
    const stats = (await request(`${worker.url}/stats`)).json();
    assert.ok(stats.totals.avg_latency_ms > 900, `average ${stats.totals.avg_latency_ms} ms`);
  });

  test('a request that waits longer than queue_timeout for a slot gets 42903', async () => {
    const mock = await startMock({ firstTokenDelayMs: 800, chunks: 2 });
    const config = writeConfig(makeTempDir(), {
      providers: { up: openaiProvider(mock) },
      models: { fast: { deployments: [{ provider: 'up', model: 'gpt-4.1' }] } },
      fastchat: { worker: { controller: 'none', limit_concurrency: 1, queue_timeout: '200ms' } },
    });
    const worker = await startWorker(['--config', config]);
    const running = worker.call('/worker_generate', generate('fast'));
    await pollUntil(async () => (await worker.call('/worker_get_status', {})).json().queue_length, (q) => q === 1, { what: 'one request running' });
    const late = await worker.call('/worker_generate', generate('fast'));
    assert.equal(late.json().error_code, 42903, late.text);
    assert.match(late.json().text, /the worker is busy: every one of its 1 slots stayed taken/);
    assert.equal((await running).json().error_code, 0);
  });

  test('SIGTERM: the running request finishes, a waiting one is sent away with 42903, the worker exits', async () => {
    const { worker } = await relay({ firstTokenDelayMs: 400, chunks: 3 }, ['--limit-worker-concurrency', '1']);
    const running = worker.call('/worker_generate_stream', generate('fast'));
    await pollUntil(async () => (await worker.call('/worker_get_status', {})).json().queue_length, (q) => q === 1, { what: 'one request running' });
    const waiting = worker.call('/worker_generate', generate('fast'));
    await pollUntil(async () => (await worker.call('/worker_get_status', {})).json().queue_length, (q) => q === 2, { what: 'one request waiting' });
    worker.proc.child.kill('SIGTERM');
    const sentAway = await waiting;
    assert.equal(sentAway.json().error_code, 42903, sentAway.text);
    assert.match(sentAway.json().text, /the worker is stopping/);
    const done = frames((await running).text);
    assert.equal(done.chunks.at(-1).finish_reason, 'stop');
    assert.equal(done.chunks.at(-1).text, mockContent(3));
    const { code } = await worker.proc.waitExit(10000);
    assert.equal(code, 0);
  });

  test('registers with FastChat bodies, sends heartbeats with the queue length, registers again when forgotten', async () => {
    const controller = later(await startFakeController());
    const mock = await startMock();
    const dir = makeTempDir();
    const config = writeConfig(dir, {
      providers: { up: openaiProvider(mock) },
      models: { 'vicuna-7b': { deployments: [{ provider: 'up', model: 'gpt-4.1' }] } },
      fastchat: { worker: { controller: controller.url, heart_beat_interval: '100ms', conv_template: 'vicuna_v1.1' } },
    });
    const worker = await startWorker(['--config', config]);
    await pollUntil(async () => controller.bodies('/receive_heart_beat').length, (n) => n >= 2, { what: 'two heartbeats' });
    // json.dumps of base_model_worker's register_to_controller body.
    assert.equal(
      controller.bodies('/register_worker')[0],
      `{"worker_name": "${worker.address}", "check_heart_beat": true, "worker_status": {"model_names": ["vicuna-7b"], "speed": 1, "queue_length": 0}, "multimodal": false}`,
    );
    assert.equal(controller.bodies('/receive_heart_beat')[0], `{"worker_name": "${worker.address}", "queue_length": 0}`);
    controller.exist = false;
    await pollUntil(async () => controller.bodies('/register_worker').length, (n) => n >= 2, { what: 'a second registration' });
    // vicuna_v1.1's prompt (ADD_COLON_TWO) read back into turns.
    const r = await worker.call('/worker_generate', {
      model: 'vicuna-7b',
      prompt:
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions. USER: Hi ASSISTANT:",
      max_new_tokens: 16,
      echo: false,
    });
    assert.equal(r.json().error_code, 0);
    assert.deepEqual(JSON.parse((await mock.lastRequest()).body).messages, [{ role: 'user', content: 'Hi' }]);
  });

  test("Shepherd's controller and worker: registration, dispatch and the stream proxy", async () => {
    const mock = await startMock({ chunks: 4 });
    const controller = await startController(['--heart-beat-expiration', '30']);
    const worker = await startWorker(['--upstream', mock.baseURL, '--model', 'vicuna=gpt-4.1', '--controller-address', controller.url, '--heart-beat-interval', '0.2']);
    await pollUntil(async () => (await controller.call('/list_models')).json().models, (m) => m.includes('vicuna'), { what: 'the worker registered' });
    assert.deepEqual((await controller.call('/get_worker_address', { model: 'vicuna' })).json(), { address: worker.address });
    const r = await controller.call('/worker_generate_stream', generate('vicuna'));
    const f = frames(r.text);
    assert.equal(f.chunks.at(-1).text, mockContent(4));
    assert.equal(f.chunks.at(-1).finish_reason, 'stop');
    // A controller restarted on the same port forgets the worker; the next heartbeat brings it back.
    const port = new URL(controller.url).port;
    await controller.proc.stop();
    const again = await startController(['--port', port]);
    assert.deepEqual((await again.call('/list_models')).json(), { models: [] });
    await pollUntil(async () => (await again.call('/list_models')).json().models, (m) => m.includes('vicuna'), {
      timeoutMs: 10000,
      intervalMs: 200,
      what: 'the worker registered again',
    });
  });

  test('serve runs the controller and a worker beside the gateway: the whole topology in one process', async () => {
    const mock = await startMock({ chunks: 3 });
    const shepherd = await startShepherd({
      ...gatewayConfig({ providers: { relay: openaiProvider(mock) }, models: { 'gpt-4.1': { deployments: [{ provider: 'relay' }] } } }),
      fastchat: {
        controller: { listen: '127.0.0.1:0' },
        worker: { listen: '127.0.0.1:0', heart_beat_interval: '200ms' },
      },
    });
    const lines = await pollUntil(
      async () => ({
        controller: /controller listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(shepherd.proc.stdout),
        worker: /worker listening on http:\/\/127\.0\.0\.1:(\d+) as (\S+) \(registering with (\S+)\)/.exec(shepherd.proc.stdout),
      }),
      (l) => l.controller && l.worker,
      { what: 'the controller and worker lines' },
    );
    // Without a controller address of its own, the worker registers with the one beside it.
    assert.equal(lines.worker[3], `http://127.0.0.1:${lines.controller[1]}`);
    const controller = caller(`http://127.0.0.1:${lines.controller[1]}`);
    const worker = caller(`http://127.0.0.1:${lines.worker[1]}`);
    await pollUntil(async () => (await controller('/list_models')).json().models, (m) => m.includes('gpt-4.1'), { what: 'the worker registered' });
    assert.deepEqual((await controller('/get_worker_address', { model: 'gpt-4.1' })).json(), { address: lines.worker[2] });
    const f = frames((await controller('/worker_generate_stream', generate('gpt-4.1'))).text);
    assert.equal(f.chunks.at(-1).text, mockContent(3));
    assert.equal((await worker('/worker_generate', generate('gpt-4.1'))).json().text, mockContent(3));
    assert.equal((await request(`${shepherd.url}/v1/models`)).status, 200);
  });
});
