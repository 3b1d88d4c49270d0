// `shepherd mock-upstream` in its other API shapes: Anthropic Messages, Gemini, and the OpenAI
// legacy completions and embeddings. The contract is src/mock/mock_upstream.hpp.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { chatBody, cleanup, mockContent, readSSE, request, sseEvents, startMock } from '../support/harness.mjs';

const AV = { 'anthropic-version': '2023-06-01' };

/** The mock's embedding of `text` (mock_upstream.hpp): the bytes of its FNV-1a 64 hash, as (b - 128) / 128. */
function mockEmbedding(text) {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const values = [];
  for (let k = 0n; k < 8n; k++) values.push((Number((h >> (8n * k)) & 0xffn) - 128) / 128);
  return values;
}

/** Reads an SSE body into [{event, data, json}] (event: the `event:` field or null) and the raw text. */
async function readEvents(res) {
  const raw = { text: '' };
  const events = [];
  for await (const ev of sseEvents(res, raw)) events.push({ event: ev.fields.event ?? null, data: ev.data, json: ev.json });
  return { events, raw: raw.text };
}

function post(url, body, headers = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

const userTurn = (content) => ({ role: 'user', content });

function messagesBody({ content = 'Say hello to the gateway', max_tokens = 100, ...extra } = {}) {
  return { model: 'claude-x', max_tokens, messages: [userTurn(content)], ...extra };
}

function geminiBody({ text = 'Say hello to the gateway', ...extra } = {}) {
  return { contents: [{ role: 'user', parts: [{ text }] }], ...extra };
}

/** Asserts Anthropic's error shape with `type`; returns the message. */
function anthropicError(r, status, type) {
  assert.equal(r.status, status, r.text);
  const body = r.json();
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, type);
  assert.equal(typeof body.error.message, 'string');
  return body.error.message;
}

/** Asserts Google's error shape; returns the message. */
function geminiError(r, status, statusName) {
  assert.equal(r.status, status, r.text);
  const { error } = r.json();
  assert.equal(error.code, status);
  assert.equal(error.status, statusName);
  assert.equal(typeof error.message, 'string');
  return error.message;
}

const LONG = 'What is the weather in Paris today and tomorrow morning, please?';
const TOOLS_OPENAI = [
  { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } },
  { type: 'function', function: { name: 'other', parameters: { type: 'object' } } },
];
const TOOLS_ANTHROPIC = [
  { name: 'lookup', input_schema: { type: 'object' } },
  { name: 'other', input_schema: { type: 'object' } },
];
const TOOLS_GEMINI = [{ functionDeclarations: [{ name: 'lookup' }, { name: 'other' }] }];

describe('mock-upstream dialects', { timeout: 60000 }, () => {
  let mock;
  before(async () => {
    mock = await startMock({ models: ['alpha', 'beta'] });
  });
  after(cleanup);

  const messages = (body, headers = AV) => request(`${mock.url}/v1/messages`, { method: 'POST', body, headers });
  const streamMessages = (body, headers = {}) => post(`${mock.url}/v1/messages`, { ...body, stream: true }, { ...AV, ...headers });
  const gemini = (method, body, headers = {}, model = 'gemini-x') =>
    request(`${mock.url}/v1beta/models/${model}:${method}`, { method: 'POST', body, headers });
  const streamGemini = (body, headers = {}) => post(`${mock.url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse`, body, headers);

  // --- Anthropic ------------------------------------------------------------------------------

  describe('Anthropic', () => {
    test('POST /v1/messages answers a message with honest usage', async () => {
      const r = await messages({ ...messagesBody({ content: 'say hello to me' }), system: 'You are terse' });
      assert.equal(r.status, 200, r.text);
      const m = r.json();
      assert.match(m.id, /^msg_mock_\d+$/);
      assert.equal(m.type, 'message');
      assert.equal(m.role, 'assistant');
      assert.equal(m.model, 'claude-x');
      assert.deepEqual(m.content, [{ type: 'text', text: mockContent(8) }]);
      assert.equal(m.stop_reason, 'end_turn');
      assert.equal(m.stop_sequence, null);
      assert.deepEqual(m.usage, { input_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 8 });
    });

    test('max_tokens caps the answer with stop_reason max_tokens', async () => {
      const m = (await messages(messagesBody({ max_tokens: 3 }))).json();
      assert.equal(m.content[0].text, mockContent(3));
      assert.equal(m.stop_reason, 'max_tokens');
      assert.equal(m.usage.output_tokens, 3);
    });

    test('missing anthropic-version, max_tokens or messages, and bad JSON, get Anthropic 400s', async () => {
      assert.match(anthropicError(await messages(messagesBody(), {}), 400, 'invalid_request_error'), /anthropic-version/);
      const { max_tokens: _unused, ...noMax } = messagesBody();
      assert.match(anthropicError(await messages(noMax), 400, 'invalid_request_error'), /max_tokens/);
      assert.match(anthropicError(await messages({ model: 'm', max_tokens: 5 }), 400, 'invalid_request_error'), /messages/);
      anthropicError(await messages('{"model":'), 400, 'invalid_request_error');
      anthropicError(await request(`${mock.url}/v1/messages/batches`, { method: 'POST', body: {}, headers: AV }), 404, 'not_found_error');
      anthropicError(await request(`${mock.url}/v1/messages`, { headers: AV }), 405, 'invalid_request_error');
    });

    test('stream: the named events in order, one text_delta per token', async () => {
      const res = await streamMessages(messagesBody());
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      const { events } = await readEvents(res);
      const names = events.map((e) => e.event);
      assert.deepEqual(names, [
        'message_start',
        'content_block_start',
        'ping',
        ...Array(8).fill('content_block_delta'),
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
      for (const e of events) assert.equal(e.json.type, e.event, 'data.type names the event');
      const start = events[0].json.message;
      assert.match(start.id, /^msg_mock_\d+$/);
      assert.deepEqual(start.content, []);
      assert.equal(start.usage.input_tokens, 5);
      assert.deepEqual(events[1].json.content_block, { type: 'text', text: '' });
      const deltas = events.filter((e) => e.event === 'content_block_delta').map((e) => e.json.delta);
      assert.ok(deltas.every((d) => d.type === 'text_delta'));
      assert.equal(deltas.map((d) => d.text).join(''), mockContent(8));
      const delta = events.at(-2).json;
      assert.deepEqual(delta.delta, { stop_reason: 'end_turn', stop_sequence: null });
      assert.deepEqual(delta.usage, { output_tokens: 8 });
    });

    test('tools: a tool_use block for the first tool with the user text cut to 40 bytes', async () => {
      const m = (await messages(messagesBody({ content: LONG, tools: TOOLS_ANTHROPIC }))).json();
      assert.equal(m.stop_reason, 'tool_use');
      assert.equal(m.content.length, 1);
      const [block] = m.content;
      assert.equal(block.type, 'tool_use');
      assert.match(block.id, /^toolu_mock_\d+$/);
      assert.equal(block.name, 'lookup');
      assert.deepEqual(block.input, { query: LONG.slice(0, 40) });
      assert.equal(m.usage.output_tokens, 3);

      const named = (await messages(messagesBody({ tools: TOOLS_ANTHROPIC, tool_choice: { type: 'tool', name: 'other' } }))).json();
      assert.equal(named.content[0].name, 'other');
      const none = (await messages(messagesBody({ tools: TOOLS_ANTHROPIC, tool_choice: { type: 'none' } }))).json();
      assert.equal(none.content[0].type, 'text');

      // After the tool result the answer is text.
      const followUp = {
        ...messagesBody({ tools: TOOLS_ANTHROPIC }),
        messages: [
          userTurn('weather?'),
          { role: 'assistant', content: [block] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.id, content: 'sunny' }] },
        ],
      };
      const text = (await messages(followUp)).json();
      assert.equal(text.stop_reason, 'end_turn');
      assert.equal(text.content[0].text, mockContent(8));
    });

    test('tools streamed: content_block_start tool_use, then input_json_delta pieces', async () => {
      const { events } = await readEvents(await streamMessages(messagesBody({ content: 'héllo "quoted"', tools: TOOLS_ANTHROPIC })));
      const start = events.find((e) => e.event === 'content_block_start').json.content_block;
      assert.equal(start.type, 'tool_use');
      assert.match(start.id, /^toolu_mock_\d+$/);
      assert.equal(start.name, 'lookup');
      assert.deepEqual(start.input, {});
      const pieces = events.filter((e) => e.event === 'content_block_delta').map((e) => e.json.delta);
      assert.equal(pieces.length, 3);
      assert.ok(pieces.every((d) => d.type === 'input_json_delta'));
      assert.deepEqual(JSON.parse(pieces.map((d) => d.partial_json).join('')), { query: 'héllo "quoted"' });
      const delta = events.find((e) => e.event === 'message_delta').json;
      assert.equal(delta.delta.stop_reason, 'tool_use');
      assert.equal(delta.usage.output_tokens, 3);
    });

    test('thinking: a signed thinking block first, counted as output', async () => {
      const body = messagesBody({ thinking: { type: 'enabled', budget_tokens: 1024 } });
      const m = (await messages(body)).json();
      assert.equal(m.content.length, 2);
      assert.equal(m.content[0].type, 'thinking');
      assert.equal(m.content[0].thinking, 'Thinking about the question.');
      assert.match(m.content[0].signature, /^mock-signature-\d+$/);
      assert.deepEqual(m.content[1], { type: 'text', text: mockContent(8) });
      assert.equal(m.usage.output_tokens, 12);

      const { events } = await readEvents(await streamMessages(body));
      const blocks = events.filter((e) => e.event.startsWith('content_block')).map((e) => [e.event, e.json.index, e.json.delta?.type ?? e.json.content_block?.type]);
      assert.deepEqual(blocks.slice(0, 6), [
        ['content_block_start', 0, 'thinking'],
        ['content_block_delta', 0, 'thinking_delta'],
        ['content_block_delta', 0, 'signature_delta'],
        ['content_block_stop', 0, undefined],
        ['content_block_start', 1, 'text'],
        ['content_block_delta', 1, 'text_delta'],
      ]);
      assert.equal(events.find((e) => e.json.delta?.type === 'thinking_delta').json.delta.thinking, 'Thinking about the question.');
      assert.match(events.find((e) => e.json.delta?.type === 'signature_delta').json.delta.signature, /^mock-signature-\d+$/);
      assert.equal(events.find((e) => e.event === 'message_delta').json.usage.output_tokens, 12);
    });

    test('POST /v1/messages/count_tokens counts system and messages', async () => {
      const r = await request(`${mock.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: AV,
        body: { model: 'claude-x', system: [{ type: 'text', text: 'be brief' }], messages: [userTurn('one two three')] },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { input_tokens: 5 });
      anthropicError(await request(`${mock.url}/v1/messages/count_tokens`, { method: 'POST', body: { model: 'm', messages: [] } }), 400, 'invalid_request_error');
    });

    test('GET /v1/models with anthropic-version lists models in Anthropic\'s shape', async () => {
      const list = (await request(`${mock.url}/v1/models`, { headers: AV })).json();
      assert.deepEqual(list.data.map((m) => [m.type, m.id, m.display_name]), [
        ['model', 'alpha', 'alpha'],
        ['model', 'beta', 'beta'],
      ]);
      assert.ok(list.data.every((m) => !Number.isNaN(Date.parse(m.created_at))));
      assert.equal(list.has_more, false);
      assert.equal(list.first_id, 'alpha');
      assert.equal(list.last_id, 'beta');
      assert.equal((await request(`${mock.url}/v1/models`)).json().object, 'list', 'without the header: OpenAI');
      assert.equal((await request(`${mock.url}/v1/models/beta`, { headers: AV })).json().type, 'model');
      anthropicError(await request(`${mock.url}/v1/models/nope`, { headers: AV }), 404, 'not_found_error');
    });

    test('status= faults answer Anthropic errors with the status\'s type', async () => {
      const cases = [
        [400, 'invalid_request_error'],
        [401, 'authentication_error'],
        [403, 'permission_error'],
        [404, 'not_found_error'],
        [429, 'rate_limit_error'],
        [500, 'api_error'],
        [529, 'overloaded_error'],
      ];
      for (const [status, type] of cases) {
        const r = await messages(messagesBody(), { ...AV, 'x-mock-fault': `status=${status},retry-after=3` });
        assert.match(anthropicError(r, status, type), new RegExp(`mock fault: status ${status}`));
        assert.equal(r.headers['retry-after'], '3');
      }
    });

    test('error-event-after, cut-after and malformed-after in a stream', async () => {
      const errored = await readEvents(await streamMessages(messagesBody(), { 'x-mock-fault': 'error-event-after=2' }));
      const names = errored.events.map((e) => e.event);
      assert.equal(names.filter((n) => n === 'content_block_delta').length, 2);
      assert.equal(names.at(-1), 'error');
      assert.deepEqual(errored.events.at(-1).json, { type: 'error', error: { type: 'overloaded_error', message: 'mock fault: error event' } });
      assert.ok(!names.includes('message_stop'));

      const cut = await readEvents(await streamMessages(messagesBody(), { 'x-mock-fault': 'cut-after=3' }));
      assert.deepEqual(cut.events.map((e) => e.event), ['message_start', 'content_block_start', 'ping', ...Array(3).fill('content_block_delta')]);

      const cutAtEnd = await readEvents(await streamMessages(messagesBody(), { 'x-mock-fault': 'cut-after=99' }));
      assert.equal(cutAtEnd.events.at(-1).event, 'content_block_delta', 'no closing events');

      const malformed = await readEvents(await streamMessages(messagesBody(), { 'x-mock-fault': 'malformed-after=1' }));
      const broken = malformed.events.filter((e) => e.json === undefined);
      assert.equal(broken.length, 1);
      assert.equal(broken[0].event, 'content_block_delta');
      assert.equal(malformed.events.at(-1).event, 'message_stop', 'the stream goes on');
    });

    test('ratelimit= sends anthropic-ratelimit-* headers with an RFC 3339 reset', async () => {
      const before = Date.now();
      const r = await messages(messagesBody(), { ...AV, 'x-mock-fault': 'ratelimit=7/90s' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['anthropic-ratelimit-requests-limit'], '100');
      assert.equal(r.headers['anthropic-ratelimit-requests-remaining'], '7');
      const reset = r.headers['anthropic-ratelimit-requests-reset'];
      assert.match(reset, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const at = Date.parse(reset);
      assert.ok(at >= before + 89000 && at <= Date.now() + 92000, `${reset} is about 90 s from now`);
      for (const name of Object.keys(r.headers)) assert.doesNotMatch(name, /^x-ratelimit-/);

      const limited = await messages(messagesBody(), { ...AV, 'x-mock-fault': 'status=429,ratelimit=0/1s' });
      anthropicError(limited, 429, 'rate_limit_error');
      assert.equal(limited.headers['anthropic-ratelimit-requests-remaining'], '0');

      const streamed = await streamMessages(messagesBody(), { 'x-mock-fault': 'ratelimit=2/2026-01-01T00:00:00Z' });
      assert.equal(streamed.headers.get('anthropic-ratelimit-requests-reset'), '2026-01-01T00:00:00Z', 'not a duration: verbatim');
      await readEvents(streamed);
    });

    test('no-usage cannot remove Anthropic\'s usage', async () => {
      const m = (await messages(messagesBody(), { ...AV, 'x-mock-fault': 'no-usage' })).json();
      assert.equal(m.usage.output_tokens, 8);
    });

    test('/mock/last-request records the Anthropic request', async () => {
      const body = messagesBody({ content: 'record me' });
      await messages(body, { ...AV, 'x-api-key': 'sk-ant-test' });
      const last = await mock.lastRequest();
      assert.equal(last.target, '/v1/messages');
      assert.equal(last.headers['x-api-key'], 'sk-ant-test');
      assert.equal(last.headers['anthropic-version'], '2023-06-01');
      assert.deepEqual(JSON.parse(last.body), body);
    });
  });

  // --- Gemini ---------------------------------------------------------------------------------

  describe('Gemini', () => {
    test('generateContent answers one candidate with usageMetadata', async () => {
      const r = await gemini('generateContent', { ...geminiBody({ text: 'say hello to me' }), systemInstruction: { parts: [{ text: 'be terse' }] } });
      assert.equal(r.status, 200, r.text);
      const a = r.json();
      assert.equal(a.candidates.length, 1);
      const [c] = a.candidates;
      assert.deepEqual(c.content, { parts: [{ text: mockContent(8) }], role: 'model' });
      assert.equal(c.finishReason, 'STOP');
      assert.equal(c.index, 0);
      assert.deepEqual(a.usageMetadata, { promptTokenCount: 6, candidatesTokenCount: 8, totalTokenCount: 14 });
      assert.equal(a.modelVersion, 'gemini-x');
      assert.equal(typeof a.responseId, 'string');
    });

    test('maxOutputTokens caps with MAX_TOKENS; the v1 path works too', async () => {
      const a = (await gemini('generateContent', geminiBody({ generationConfig: { maxOutputTokens: 2 } }))).json();
      assert.equal(a.candidates[0].content.parts[0].text, mockContent(2));
      assert.equal(a.candidates[0].finishReason, 'MAX_TOKENS');
      const v1 = await request(`${mock.url}/v1/models/gemini-y:generateContent`, { method: 'POST', body: geminiBody() });
      assert.equal(v1.json().modelVersion, 'gemini-y');
    });

    test('streamGenerateContent?alt=sse: one data event per token, the last with finishReason and usage, no [DONE]', async () => {
      const res = await streamGemini(geminiBody());
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      const { events } = await readEvents(res);
      assert.ok(events.every((e) => e.event === null && e.json !== undefined), 'data-only JSON events');
      assert.equal(events.length, 9);
      const texts = events.map((e) => e.json.candidates[0].content.parts[0].text);
      assert.equal(texts.join(''), mockContent(8));
      assert.ok(events.slice(0, -1).every((e) => e.json.candidates[0].finishReason === undefined && e.json.usageMetadata === undefined));
      const last = events.at(-1).json;
      assert.equal(last.candidates[0].finishReason, 'STOP');
      assert.deepEqual(last.usageMetadata, { promptTokenCount: 5, candidatesTokenCount: 8, totalTokenCount: 13 });
      assert.equal(last.modelVersion, 'gemini-x');

      geminiError(await gemini('streamGenerateContent', geminiBody()), 400, 'INVALID_ARGUMENT');
    });

    test('tools: one functionCall part; NONE, a functionResponse and allowedFunctionNames are honoured', async () => {
      const a = (await gemini('generateContent', geminiBody({ text: LONG, tools: TOOLS_GEMINI }))).json();
      assert.deepEqual(a.candidates[0].content.parts, [{ functionCall: { name: 'lookup', args: { query: LONG.slice(0, 40) } } }]);
      assert.equal(a.candidates[0].finishReason, 'STOP');
      assert.equal(a.usageMetadata.candidatesTokenCount, 3);

      const none = (await gemini('generateContent', geminiBody({ tools: TOOLS_GEMINI, toolConfig: { functionCallingConfig: { mode: 'NONE' } } }))).json();
      assert.equal(none.candidates[0].content.parts[0].text, mockContent(8));
      const named = (await gemini('generateContent', geminiBody({ tools: TOOLS_GEMINI, toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['other'] } } }))).json();
      assert.equal(named.candidates[0].content.parts[0].functionCall.name, 'other');

      const followUp = {
        tools: TOOLS_GEMINI,
        contents: [
          { role: 'user', parts: [{ text: 'weather?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { query: 'weather?' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { result: 'sunny' } } }] },
        ],
      };
      assert.equal((await gemini('generateContent', followUp)).json().candidates[0].content.parts[0].text, mockContent(8));

      const { events } = await readEvents(await streamGemini(geminiBody({ text: 'weather?', tools: TOOLS_GEMINI })));
      assert.equal(events.length, 2);
      assert.deepEqual(events[0].json.candidates[0].content.parts, [{ functionCall: { name: 'lookup', args: { query: 'weather?' } } }]);
      assert.equal(events[1].json.candidates[0].finishReason, 'STOP');
    });

    test('thinking: a thought part first, thoughtsTokenCount, and a thoughtSignature on a function call', async () => {
      const thinking = { generationConfig: { thinkingConfig: { includeThoughts: true } } };
      const a = (await gemini('generateContent', geminiBody(thinking))).json();
      assert.deepEqual(a.candidates[0].content.parts, [{ text: 'Thinking about the question.', thought: true }, { text: mockContent(8) }]);
      assert.deepEqual(a.usageMetadata, { promptTokenCount: 5, candidatesTokenCount: 8, totalTokenCount: 17, thoughtsTokenCount: 4 });

      const call = (await gemini('generateContent', geminiBody({ ...thinking, tools: TOOLS_GEMINI }))).json();
      const parts = call.candidates[0].content.parts;
      assert.equal(parts[0].thought, true);
      assert.equal(parts[1].functionCall.name, 'lookup');
      assert.equal(parts[1].thoughtSignature, 'bW9jay1zaWduYXR1cmU=');

      const { events } = await readEvents(await streamGemini(geminiBody(thinking)));
      assert.deepEqual(events[0].json.candidates[0].content.parts, [{ text: 'Thinking about the question.', thought: true }]);
      assert.equal(events.length, 10);
      assert.equal(events.at(-1).json.usageMetadata.thoughtsTokenCount, 4);
    });

    test('countTokens answers totalTokens, from contents or a generateContentRequest', async () => {
      assert.deepEqual((await gemini('countTokens', geminiBody({ text: 'one two three' }))).json(), { totalTokens: 3 });
      const wrapped = await gemini('countTokens', { generateContentRequest: { model: 'models/gemini-x', ...geminiBody({ text: 'a b' }) } });
      assert.deepEqual(wrapped.json(), { totalTokens: 2 });
      geminiError(await gemini('countTokens', {}), 400, 'INVALID_ARGUMENT');
    });

    test('batchEmbedContents and embedContent: deterministic vectors, the same as OpenAI\'s', async () => {
      const r = await gemini('batchEmbedContents', {
        requests: ['hello', 'world'].map((text) => ({ model: 'models/embed', content: { parts: [{ text }] } })),
      }, {}, 'embed');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { embeddings: [{ values: mockEmbedding('hello') }, { values: mockEmbedding('world') }] });
      const one = await gemini('embedContent', { content: { parts: [{ text: 'hel' }, { text: 'lo' }] } }, {}, 'embed');
      assert.deepEqual(one.json(), { embedding: { values: mockEmbedding('hello') } });
      const openai = await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'e', input: 'hello' } });
      assert.deepEqual(openai.json().data[0].embedding, mockEmbedding('hello'));
      geminiError(await gemini('batchEmbedContents', { requests: [] }, {}, 'embed'), 400, 'INVALID_ARGUMENT');
    });

    test('GET /v1beta/models lists models/<id>; one model or NOT_FOUND', async () => {
      const list = (await request(`${mock.url}/v1beta/models`)).json();
      assert.deepEqual(list.models.map((m) => m.name), ['models/alpha', 'models/beta']);
      assert.ok(list.models[0].supportedGenerationMethods.includes('generateContent'));
      assert.equal((await request(`${mock.url}/v1beta/models/beta`)).json().name, 'models/beta');
      geminiError(await request(`${mock.url}/v1beta/models/nope`), 404, 'NOT_FOUND');
      geminiError(await gemini('frobnicate', geminiBody()), 404, 'NOT_FOUND');
    });

    test('invalid requests and status= faults answer Google errors', async () => {
      geminiError(await gemini('generateContent', { contents: [] }), 400, 'INVALID_ARGUMENT');
      geminiError(await gemini('generateContent', '{"contents":'), 400, 'INVALID_ARGUMENT');
      const cases = [
        [400, 'INVALID_ARGUMENT'],
        [401, 'UNAUTHENTICATED'],
        [403, 'PERMISSION_DENIED'],
        [404, 'NOT_FOUND'],
        [429, 'RESOURCE_EXHAUSTED'],
        [500, 'INTERNAL'],
        [503, 'UNAVAILABLE'],
      ];
      for (const [status, name] of cases) {
        const r = await gemini('generateContent', geminiBody(), { 'x-mock-fault': `status=${status}` });
        assert.match(geminiError(r, status, name), new RegExp(`mock fault: status ${status}`));
      }
      geminiError(await gemini('batchEmbedContents', { requests: [{ content: { parts: [{ text: 'x' }] } }] }, { 'x-mock-fault': 'status=503' }), 503, 'UNAVAILABLE');
    });

    test('error-event-after sends a data event with the error and ends the body; cut-after ends before finishReason', async () => {
      const errored = await readSSE(await streamGemini(geminiBody(), { 'x-mock-fault': 'error-event-after=2' }));
      assert.equal(errored.error, null, 'the body ends cleanly');
      assert.equal(errored.chunks.length, 3);
      assert.deepEqual(errored.chunks.at(-1), { error: { code: 503, message: 'mock fault: error event', status: 'UNAVAILABLE' } });
      assert.equal(errored.done, false);

      for (const n of [3, 8, 50]) {
        const cut = await readSSE(await streamGemini(geminiBody(), { 'x-mock-fault': `cut-after=${n}` }));
        assert.equal(cut.chunks.length, Math.min(n, 8), `cut-after=${n}`);
        assert.ok(cut.chunks.every((c) => c.candidates[0].finishReason === undefined), 'no finishReason chunk');
      }

      const malformed = await readSSE(await streamGemini(geminiBody(), { 'x-mock-fault': 'malformed-after=4' }));
      assert.equal(malformed.invalid.length, 1);
      assert.equal(malformed.chunks.at(-1).candidates[0].finishReason, 'STOP', 'the stream goes on');
    });

    test('no-usage omits usageMetadata; ratelimit adds no headers', async () => {
      const a = await gemini('generateContent', geminiBody(), { 'x-mock-fault': 'no-usage,ratelimit=3/2s' });
      assert.equal(a.status, 200);
      assert.equal(a.json().usageMetadata, undefined);
      for (const name of Object.keys(a.headers)) assert.doesNotMatch(name, /ratelimit/);
      const s = await readSSE(await streamGemini(geminiBody(), { 'x-mock-fault': 'no-usage' }));
      assert.ok(s.chunks.every((c) => c.usageMetadata === undefined));
      assert.equal(s.chunks.at(-1).candidates[0].finishReason, 'STOP');
    });

    test('/mock/last-request records the Gemini request with its target and key', async () => {
      await post(`${mock.url}/v1beta/models/gemini-x:streamGenerateContent?alt=sse`, geminiBody({ text: 'record me' }), { 'x-goog-api-key': 'g-key' }).then((r) => r.text());
      const last = await mock.lastRequest();
      assert.equal(last.target, '/v1beta/models/gemini-x:streamGenerateContent?alt=sse');
      assert.equal(last.headers['x-goog-api-key'], 'g-key');
      assert.equal(JSON.parse(last.body).contents[0].parts[0].text, 'record me');
    });
  });

  // --- OpenAI additions -----------------------------------------------------------------------

  describe('OpenAI', () => {
    const completions = (body, headers = {}) => request(`${mock.url}/v1/completions`, { method: 'POST', body, headers });

    test('POST /v1/completions answers a text_completion', async () => {
      const r = await completions({ model: 'davinci-x', prompt: 'say hello to me', max_tokens: 5 });
      assert.equal(r.status, 200, r.text);
      const a = r.json();
      assert.match(a.id, /^cmpl-mock-\d+$/);
      assert.equal(a.object, 'text_completion');
      assert.equal(typeof a.created, 'number');
      assert.equal(a.model, 'davinci-x');
      assert.deepEqual(a.choices, [{ text: mockContent(5), index: 0, logprobs: null, finish_reason: 'length' }]);
      assert.deepEqual(a.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
      assert.equal((await completions({ model: 'm', prompt: [[1, 2, 3], 'a b'] })).json().usage.prompt_tokens, 5);
      assert.equal((await completions({ model: 'm', prompt: { no: 1 } })).status, 400);
    });

    test('legacy completions stream: text chunks, the finish chunk, usage when asked, [DONE]', async () => {
      const res = await post(`${mock.url}/v1/completions`, { model: 'm', prompt: 'hi', stream: true, stream_options: { include_usage: true } });
      const sse = await readSSE(res);
      assert.equal(sse.done, true);
      assert.equal(sse.chunks.length, 10);
      assert.ok(sse.chunks.every((c) => c.object === 'text_completion'));
      assert.equal(sse.chunks.slice(0, 8).map((c) => c.choices[0].text).join(''), mockContent(8));
      assert.deepEqual(sse.chunks[8].choices, [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }]);
      assert.deepEqual(sse.chunks[9].choices, []);
      assert.deepEqual(sse.chunks[9].usage, { prompt_tokens: 1, completion_tokens: 8, total_tokens: 9 });

      const cut = await readSSE(await post(`${mock.url}/v1/completions`, { model: 'm', prompt: 'hi', stream: true }, { 'x-mock-fault': 'cut-after=2' }));
      assert.equal(cut.chunks.length, 2);
      assert.equal(cut.done, false);
    });

    test('POST /v1/embeddings: one vector per input, float or base64, token arrays', async () => {
      const r = await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'emb', input: ['hello world', [1, 2]] } });
      assert.equal(r.status, 200, r.text);
      const a = r.json();
      assert.equal(a.object, 'list');
      assert.equal(a.model, 'emb');
      assert.deepEqual(a.data, [
        { object: 'embedding', index: 0, embedding: mockEmbedding('hello world') },
        { object: 'embedding', index: 1, embedding: mockEmbedding('1 2') },
      ]);
      assert.deepEqual(a.usage, { prompt_tokens: 4, total_tokens: 4 });

      const b64 = (await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'emb', input: 'hello', encoding_format: 'base64' } })).json();
      const bytes = Buffer.from(b64.data[0].embedding, 'base64');
      const floats = Array.from({ length: 8 }, (_, i) => bytes.readFloatLE(4 * i));
      assert.deepEqual(floats, mockEmbedding('hello'));

      assert.equal((await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'emb' } })).status, 400);
      const failed = await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'emb', input: 'x' }, headers: { 'x-mock-fault': 'status=500,ratelimit=1/1s' } });
      assert.equal(failed.status, 500);
      assert.equal(failed.json().error.type, 'server_error');
      assert.equal(failed.headers['x-ratelimit-remaining-requests'], '1');
    });

    test('chat tools: a tool call for a user turn, text after a tool result or with tool_choice none', async () => {
      const chat = (extra) => request(`${mock.url}/v1/chat/completions`, { method: 'POST', body: chatBody('m', { content: LONG, extra }) });
      const a = (await chat({ tools: TOOLS_OPENAI })).json();
      const choice = a.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.content, null);
      assert.equal(choice.message.tool_calls.length, 1);
      const [call] = choice.message.tool_calls;
      assert.match(call.id, /^call_mock_\d+$/);
      assert.equal(call.type, 'function');
      assert.equal(call.function.name, 'lookup');
      assert.deepEqual(JSON.parse(call.function.arguments), { query: LONG.slice(0, 40) });
      assert.equal(a.usage.completion_tokens, 3);

      const named = (await chat({ tools: TOOLS_OPENAI, tool_choice: { type: 'function', function: { name: 'other' } } })).json();
      assert.equal(named.choices[0].message.tool_calls[0].function.name, 'other');
      assert.equal((await chat({ tools: TOOLS_OPENAI, tool_choice: 'none' })).json().choices[0].message.content, mockContent(8));

      const followUp = {
        model: 'm',
        tools: TOOLS_OPENAI,
        messages: [userTurn('weather?'), { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
      };
      const text = (await request(`${mock.url}/v1/chat/completions`, { method: 'POST', body: followUp })).json();
      assert.equal(text.choices[0].finish_reason, 'stop');
      assert.equal(text.choices[0].message.content, mockContent(8));

      // 40 bytes would split the 'é' (bytes 40-41): the query backs off to 39 bytes.
      const utf8 = `${'a'.repeat(39)}é and more`;
      const cut = (await request(`${mock.url}/v1/chat/completions`, { method: 'POST', body: chatBody('m', { content: utf8, extra: { tools: TOOLS_OPENAI } }) })).json();
      assert.equal(JSON.parse(cut.choices[0].message.tool_calls[0].function.arguments).query, 'a'.repeat(39));
    });

    test('chat tools streamed: the id and name first, then the arguments in 3 pieces', async () => {
      const res = await post(`${mock.url}/v1/chat/completions`, chatBody('m', { stream: true, content: 'find "this"', extra: { tools: TOOLS_OPENAI } }));
      const sse = await readSSE(res);
      assert.equal(sse.done, true);
      const head = sse.chunks[0].choices[0].delta;
      assert.equal(head.role, 'assistant');
      assert.equal(head.tool_calls[0].index, 0);
      assert.match(head.tool_calls[0].id, /^call_mock_\d+$/);
      assert.equal(head.tool_calls[0].function.name, 'lookup');
      const pieces = sse.chunks.slice(1, -1).map((c) => c.choices[0].delta.tool_calls[0].function.arguments);
      assert.equal(pieces.length, 3);
      assert.deepEqual(JSON.parse(pieces.join('')), { query: 'find "this"' });
      assert.equal(sse.chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    });

    test('stream faults and status= in chat and legacy completions', async () => {
      for (const path of ['/v1/chat/completions', '/v1/completions']) {
        const body = path === '/v1/completions' ? { model: 'm', prompt: 'hi', stream: true } : chatBody('m', { stream: true });
        const errored = await readSSE(await post(`${mock.url}${path}`, body, { 'x-mock-fault': 'error-event-after=2' }));
        assert.equal(errored.done, false, path);
        assert.equal(errored.chunks.at(-1).error.type, 'server_error', path);
        assert.equal(errored.chunks.at(-1).error.message, 'mock fault: error event', path);

        const cut = await readSSE(await post(`${mock.url}${path}`, body, { 'x-mock-fault': 'cut-after=99' }));
        assert.equal(cut.done, false, path);
        assert.ok(cut.chunks.every((c) => c.choices[0].finish_reason === null), `${path}: no finish chunk`);

        const limited = await request(`${mock.url}${path}`, { method: 'POST', body: { ...body, stream: false }, headers: { 'x-mock-fault': 'status=429,ratelimit=0/3s' } });
        assert.equal(limited.status, 429, path);
        assert.equal(limited.json().error.type, 'requests', path);
        assert.equal(limited.headers['x-ratelimit-reset-requests'], '3s', path);
      }
    });

    test('/mock/stats counts embeddings and token counts; last-request records them', async () => {
      await mock.reset();
      await request(`${mock.url}/v1/embeddings`, { method: 'POST', body: { model: 'e', input: 'x' } });
      await gemini('batchEmbedContents', { requests: [{ content: { parts: [{ text: 'x' }] } }] });
      await gemini('countTokens', geminiBody());
      await request(`${mock.url}/v1/messages/count_tokens`, { method: 'POST', headers: AV, body: { model: 'm', messages: [userTurn('x')] } });
      await request(`${mock.url}/v1beta/models`);
      const s = await mock.stats();
      assert.equal(s.embeddings_requests, 2);
      assert.equal(s.count_tokens_requests, 2);
      assert.equal(s.chat_requests, 0);
      assert.equal(s.models_requests, 1);
      assert.equal((await mock.lastRequest()).target, '/v1/messages/count_tokens', 'model lists are not recorded');
    });
  });
});
