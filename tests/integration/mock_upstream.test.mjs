// `shepherd mock-upstream`: the provider double every other test relies on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  chatBody,
  cleanup,
  contentChunks,
  fetchChat,
  mockContent,
  pollUntil,
  readSSE,
  request,
  startMock,
  wordCount,
} from '../support/harness.mjs';

describe('mock-upstream', { timeout: 60000 }, () => {
  let mock;
  before(async () => {
    mock = await startMock({ models: ['alpha', 'beta'] });
  });
  after(cleanup);

  const chat = (body, headers = {}) => request(`${mock.url}/v1/chat/completions`, { method: 'POST', body, headers });

  test('prints its URL with the ephemeral port it bound', () => {
    assert.match(mock.proc.stdout, /^mock-upstream listening on http:\/\/127\.0\.0\.1:\d+\n/);
    assert.ok(mock.port > 0 && mock.port < 65536);
  });

  test('GET /v1/models lists --models', async () => {
    const r = await request(`${mock.url}/v1/models`);
    assert.equal(r.status, 200);
    const body = r.json();
    assert.equal(body.object, 'list');
    assert.deepEqual(body.data.map((m) => m.id), ['alpha', 'beta']);
    for (const m of body.data) assert.equal(m.object, 'model');
  });

  test('non-streaming answer: deterministic content, echoed model, honest usage', async () => {
    const body = chatBody('any-model-id', { system: 'You are terse', content: 'say hello to me' });
    const r = await chat(body);
    assert.equal(r.status, 200, r.text);
    const a = r.json();
    assert.equal(a.object, 'chat.completion');
    assert.equal(a.model, 'any-model-id');
    assert.equal(a.choices[0].message.role, 'assistant');
    assert.equal(a.choices[0].message.content, mockContent(8));
    assert.equal(a.choices[0].finish_reason, 'stop');
    assert.deepEqual(a.usage, { prompt_tokens: 7, completion_tokens: 8, total_tokens: 15 });
    assert.equal(wordCount(body), 7);
  });

  test('max_tokens caps the answer with finish_reason "length"; x-mock-chunks sets the length', async () => {
    const capped = (await chat(chatBody('m', { max_tokens: 3 }))).json();
    assert.equal(capped.choices[0].message.content, mockContent(3));
    assert.equal(capped.choices[0].finish_reason, 'length');
    assert.equal(capped.usage.completion_tokens, 3);

    const five = (await chat(chatBody('m'), { 'x-mock-chunks': '5' })).json();
    assert.equal(five.choices[0].message.content, mockContent(5));
    assert.equal(five.choices[0].finish_reason, 'stop');
    assert.equal(five.usage.completion_tokens, 5);
  });

  test('stream: role chunk, one chunk per token, finish chunk, [DONE]; no usage unless asked', async () => {
    const res = await fetchChat(mock.url, chatBody('m', { stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/event-stream/);
    const sse = await readSSE(res);
    assert.equal(sse.error, null);
    assert.equal(sse.done, true);
    assert.equal(sse.events.at(-1), '[DONE]');
    assert.deepEqual(sse.chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(contentChunks(sse).length, 8);
    assert.equal(sse.content, mockContent(8));
    assert.equal(sse.chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(sse.chunks.every((c) => c.choices.length === 1), 'no usage chunk');
    assert.equal(sse.usage, null);
  });

  test('stream with include_usage ends with a usage chunk (choices: [])', async () => {
    const body = chatBody('m', { stream: true, includeUsage: true });
    const sse = await readSSE(await fetchChat(mock.url, body));
    assert.equal(sse.done, true);
    const last = sse.chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: wordCount(body), completion_tokens: 8, total_tokens: wordCount(body) + 8 });
  });

  test('x-mock-fault status=429,retry-after=7 answers 429 with Retry-After and an OpenAI error', async () => {
    const r = await chat(chatBody('m'), { 'x-mock-fault': 'status=429,retry-after=7' });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '7');
    assert.match(assertErrorShape(r.json()).message, /mock fault: status 429/);
  });

  test('x-mock-fault cut-after=3 ends the stream after 3 content chunks without [DONE]', async () => {
    const res = await fetchChat(mock.url, chatBody('m', { stream: true }), { headers: { 'x-mock-fault': 'cut-after=3' } });
    const sse = await readSSE(res);
    assert.equal(contentChunks(sse).length, 3);
    assert.equal(sse.done, false);
  });

  test('fail-first=1 applies the fault to the first request only', async () => {
    await mock.reset();
    const h = { 'x-mock-fault': 'status=500,fail-first=1' };
    assert.equal((await chat(chatBody('m'), h)).status, 500);
    assert.equal((await chat(chatBody('m'), h)).status, 200);
  });

  test('/mock/last-request shows method, target, lowercased headers and the raw body', async () => {
    const raw = JSON.stringify(chatBody('echo-me'));
    await chat(raw, { 'X-Custom-Thing': 'Value-1', Authorization: 'Bearer abc' });
    const last = await mock.lastRequest();
    assert.equal(last.method, 'POST');
    assert.equal(last.target, '/v1/chat/completions');
    assert.equal(last.headers['x-custom-thing'], 'Value-1');
    assert.equal(last.headers.authorization, 'Bearer abc');
    assert.equal(last.body, raw);
  });

  test('/mock/stats counts and /mock/reset zeroes', async () => {
    await mock.reset();
    await chat(chatBody('m'));
    await readSSE(await fetchChat(mock.url, chatBody('m', { stream: true })));
    const s = await mock.stats();
    for (const k of ['requests', 'chat_requests', 'streams_started', 'streams_completed', 'client_disconnects', 'open_connections']) {
      assert.equal(typeof s[k], 'number', `stats.${k}`);
    }
    assert.equal(s.chat_requests, 2);
    assert.equal(s.streams_started, 1);
    assert.equal(s.streams_completed, 1);
    assert.equal(s.client_disconnects, 0);
    await mock.reset();
    const z = await mock.stats();
    assert.equal(z.chat_requests, 0);
    assert.equal(z.streams_completed, 0);
  });

  test('client_disconnects counts a client that leaves during the first-token delay', async () => {
    await mock.reset();
    const body = JSON.stringify(chatBody('m'));
    const sock = net.connect(mock.port, '127.0.0.1');
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `x-mock-first-token-delay-ms: 5000\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await pollUntil(() => mock.stats(), (s) => s.chat_requests >= 1, { what: 'the request to reach the mock' });
    sock.destroy();
    await pollUntil(() => mock.stats(), (s) => s.client_disconnects === 1, { timeoutMs: 1000, what: 'client_disconnects == 1' });
  });
});
