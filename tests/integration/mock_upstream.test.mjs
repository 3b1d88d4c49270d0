// `shepherd mock-upstream`: the provider double every other test relies on.
import assert from 'node:assert/strict';
import http from 'node:http';
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
  runCli,
  startMock,
  wordCount,
} from '../support/harness.mjs';

/** Sends `n` chat requests one after another on one keep-alive connection; resolves their statuses. */
async function chatStatuses(url, n, headers = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const statuses = [];
    for (let i = 0; i < n; i++) {
      const r = await request(`${url}/v1/chat/completions`, { method: 'POST', body: chatBody('m'), headers, agent });
      statuses.push(r.status);
    }
    return statuses;
  } finally {
    agent.destroy();
  }
}

/** The statuses as a string: '.' for 200, 'x' for 500 (anything else fails). */
function failPattern(statuses) {
  return statuses
    .map((s) => {
      assert.ok(s === 200 || s === 500, `status ${s}`);
      return s === 200 ? '.' : 'x';
    })
    .join('');
}

/** Writes `text` on a fresh connection and resolves everything the mock sends until it closes. */
function rawExchange(port, text, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new assert.AssertionError({ message: `the mock did not close within ${timeoutMs} ms; got:\n${data}` }));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => {
      data += d;
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(data);
    });
  });
}

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
    for (const k of ['requests', 'chat_requests', 'models_requests', 'streams_started', 'streams_completed', 'client_disconnects', 'open_connections']) {
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

  test('fail-rate=0 never applies the fault, fail-rate=100 always does', async () => {
    assert.deepEqual(await chatStatuses(mock.url, 50, { 'x-mock-fault': 'status=500,fail-rate=0' }), Array(50).fill(200));
    assert.deepEqual(await chatStatuses(mock.url, 50, { 'x-mock-fault': 'status=500,fail-rate=100' }), Array(50).fill(500));
  });

  test('fail-rate=30 selects a seeded, reproducible ~30% of the requests', async () => {
    const args = (seed) => ['--seed', String(seed), '--fault', 'status=500,fail-rate=30'];
    const [a, b, c] = await Promise.all([startMock(args(7)), startMock(args(7)), startMock(args(8))]);
    try {
      const [seqA, seqB, seqC] = (await Promise.all([a, b, c].map((m) => chatStatuses(m.url, 400)))).map(failPattern);
      const failures = [...seqA].filter((ch) => ch === 'x').length;
      assert.ok(failures >= 60 && failures <= 180, `${failures} of 400 failed`);
      assert.equal(seqB, seqA, 'same --seed, same selections');
      assert.notEqual(seqC, seqA, 'another --seed, other selections');
      // The documented draw: the next std::mt19937_64 output X (seeded with 7) selects when X % 100 < 30.
      assert.equal(seqA.slice(0, 20), 'x...xxxx............');
      // /mock/reset re-seeds: the same selections again.
      await a.reset();
      assert.equal(failPattern(await chatStatuses(a.url, 400)), seqA);
    } finally {
      await Promise.all([a, b, c].map((m) => m.stop()));
    }
  });

  test('fail-rate with fail-first: fail-first counts only the requests fail-rate selected', async () => {
    await mock.reset();
    const selected = failPattern(await chatStatuses(mock.url, 40, { 'x-mock-fault': 'status=500,fail-rate=50' }));
    const firstThree = [...selected].flatMap((ch, i) => (ch === 'x' ? [i] : [])).slice(0, 3);
    assert.equal(firstThree.length, 3, selected);
    await mock.reset();
    const both = failPattern(await chatStatuses(mock.url, 40, { 'x-mock-fault': 'status=500,fail-rate=50,fail-first=3' }));
    const expected = [...selected].map((_, i) => (firstThree.includes(i) ? 'x' : '.')).join('');
    assert.equal(both, expected);
  });

  test('a malformed fail-rate is answered with 400 naming the item, and stops the CLI', async () => {
    for (const value of ['101', '-1', 'abc', '', '1.5', '50%']) {
      const r = await chat(chatBody('m'), { 'x-mock-fault': `status=500,fail-rate=${value}` });
      assert.equal(r.status, 400, `fail-rate=${value}`);
      assert.ok(assertErrorShape(r.json()).message.includes(`'fail-rate=${value}'`), r.text);
    }
    const cli = await runCli(['mock-upstream', '--listen', '127.0.0.1:0', '--fault', 'fail-rate=101']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /'fail-rate=101'/);
  });

  test('ratelimit=REMAINING/RESET adds the x-ratelimit-* headers to answers and errors', async () => {
    const plain = await chat(chatBody('m'));
    assert.equal(plain.status, 200);
    for (const name of Object.keys(plain.headers)) assert.doesNotMatch(name, /^x-ratelimit-/);

    const ok = await chat(chatBody('m'), { 'x-mock-fault': 'ratelimit=0/2s' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json().choices[0].message.content, mockContent(8));
    assert.equal(ok.headers['x-ratelimit-limit-requests'], '100');
    assert.equal(ok.headers['x-ratelimit-remaining-requests'], '0');
    assert.equal(ok.headers['x-ratelimit-reset-requests'], '2s');

    const limited = await chat(chatBody('m'), { 'x-mock-fault': 'status=429, retry-after=2, ratelimit=5/1m30s' });
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '2');
    assert.equal(limited.headers['x-ratelimit-limit-requests'], '100');
    assert.equal(limited.headers['x-ratelimit-remaining-requests'], '5');
    assert.equal(limited.headers['x-ratelimit-reset-requests'], '1m30s');

    const res = await fetchChat(mock.url, chatBody('m', { stream: true }), { headers: { 'x-mock-fault': 'ratelimit=42/250ms' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ratelimit-limit-requests'), '100');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '42');
    assert.equal(res.headers.get('x-ratelimit-reset-requests'), '250ms');
    assert.equal((await readSSE(res)).done, true);

    for (const value of ['', '5', '5/', '/2s', 'x/2s', '-1/2s', '1.5/2s', '5/2 s', '5 /2s']) {
      const r = await chat(chatBody('m'), { 'x-mock-fault': `ratelimit=${value}` });
      assert.equal(r.status, 400, `ratelimit=${value}`);
      assert.ok(assertErrorShape(r.json()).message.includes(`'ratelimit=${value}'`), r.text);
    }
  });

  test('ratelimit in --fault applies to the plain answer', async () => {
    const m = await startMock(['--fault', 'ratelimit=3/1s']);
    try {
      const r = await request(`${m.url}/v1/chat/completions`, { method: 'POST', body: chatBody('m') });
      assert.equal(r.status, 200);
      assert.equal(r.json().choices[0].message.content, mockContent(8));
      assert.equal(r.headers['x-ratelimit-limit-requests'], '100');
      assert.equal(r.headers['x-ratelimit-remaining-requests'], '3');
      assert.equal(r.headers['x-ratelimit-reset-requests'], '1s');
    } finally {
      await m.stop();
    }
  });

  test('models_requests counts GET /v1/models and /models; /mock/reset zeroes it', async () => {
    await mock.reset();
    assert.equal((await request(`${mock.url}/v1/models`)).status, 200);
    assert.equal((await request(`${mock.url}/v1/models?limit=1`)).status, 200);
    assert.equal((await request(`${mock.url}/models`)).status, 200);
    assert.equal((await request(`${mock.url}/v1/models/alpha`)).status, 200);
    assert.equal((await request(`${mock.url}/v1/models`, { method: 'POST', body: '{}' })).status, 405);
    const s = await mock.stats();
    assert.equal(s.models_requests, 3);
    assert.equal(s.chat_requests, 0);
    await mock.reset();
    assert.equal((await mock.stats()).models_requests, 0);
  });

  test('GET /v1/models keeps the connection alive, and honours Connection: close', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await request(`${mock.url}/v1/models`, { agent });
      const second = await request(`${mock.url}/v1/models`, { agent });
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal(second.reusedSocket, true, 'the second request reused the connection');
      assert.deepEqual(second.json(), first.json());
    } finally {
      agent.destroy();
    }

    // Two pipelined requests on one connection: the first keeps it open, the second closes it.
    const text = await rawExchange(
      mock.port,
      'GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + 'GET /models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    const responses = text.split(/(?=HTTP\/1\.1 )/);
    assert.equal(responses.length, 2, text);
    for (const r of responses) {
      assert.match(r, /^HTTP\/1\.1 200 OK\r\n/);
      const body = r.slice(r.indexOf('\r\n\r\n') + 4);
      assert.deepEqual(JSON.parse(body).data.map((m) => m.id), ['alpha', 'beta']);
    }
    assert.doesNotMatch(responses[0], /\r\nConnection: close\r\n/i);
    assert.match(responses[1], /\r\nConnection: close\r\n/i);
  });
});
