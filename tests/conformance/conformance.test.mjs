// Conformance: every client dialect (OpenAI chat, Anthropic Messages, OpenAI Responses) in front of
// every provider kind (openai, anthropic, gemini), one parameterised test per pair and behaviour:
// text, system prompt, multi-turn, the whole translated request against a golden upstream body,
// tools (streamed and not, with the tool result sent back), images, stop reasons, usage and
// metering, upstream errors and error events, routing headers, retries, and a fallback across
// dialects; then thinking, legacy completions, embeddings, count_tokens and the model list.
//
// One Shepherd in front of mock-upstream processes that each serve all three dialects by path:
// "ok" answers normally, the others carry one fault each (client headers are not forwarded, so a
// fault needs its own process). Every provider of a mock gets its own provider name and
// deployment, so /stats and cool-down state never mix pairs. What the client must get is written
// in tests/fixtures/conformance from the providers' API references.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  anthropicProvider,
  cleanup,
  gatewayConfig,
  geminiProvider,
  lastRequestBody,
  metricValue,
  mockContent,
  openaiProvider,
  parseMetrics,
  pollUntil,
  request,
  routeOf,
  shepherdStats,
  startMock,
  startShepherd,
} from '../support/harness.mjs';
import {
  INGRESS,
  UPSTREAM,
  assertMatches,
  assertTranscript,
  fixture,
  normaliseUpstream,
  readEvents,
  upstreamTarget,
} from './helpers.mjs';

const KEY = 'sk-conformance-client';
const UPSTREAM_KEY = 'upstream-conformance-secret';
const KINDS = ['openai', 'anthropic', 'gemini'];
const INGRESSES = ['openai-chat', 'anthropic-messages', 'openai-responses'];
const PROVIDER = { openai: openaiProvider, anthropic: anthropicProvider, gemini: geminiProvider };
const FAULTS = {
  slow: { chunks: 4, chunkDelayMs: 50 },
  s429: { fault: 'status=429' },
  s500: { fault: 'status=500' },
  s400: { fault: 'status=400' },
  s504: { fault: 'status=504' },
  evt: { fault: 'error-event-after=2' },
  ff: { fault: 'fail-first=1,status=500' },
};
const T = { timeout: 15000 };

// A 1×1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const TOOLS = [
  { name: 'lookup', description: 'Look something up', parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } },
  { name: 'other', description: 'Another tool', parameters: { type: 'object', properties: {} } },
];
const ASK = 'weather in Paris';
const user = (text, extra = {}) => ({ role: 'user', text, ...extra });
const words = (...texts) => texts.join(' ').split(/\s+/).filter(Boolean).length;

describe('conformance: every client dialect × every provider kind', { timeout: 120000 }, () => {
  let shepherd;
  const mocks = {};

  before(async () => {
    const names = ['ok', ...Object.keys(FAULTS)];
    await Promise.all(names.map(async (n) => {
      mocks[n] = await startMock(n === 'ok' ? {} : FAULTS[n]);
    }));
    const providers = {};
    const models = {};
    for (const n of names) {
      for (const k of KINDS) {
        providers[`${n}-${k}`] = PROVIDER[k](mocks[n], { api_key: 'env:UPSTREAM_KEY' });
        const client = n === 'ok' ? `to-${k}` : `${n}-${k}`;
        models[client] = { deployments: [{ id: `dep-${client}`, provider: `${n}-${k}`, model: UPSTREAM[k].model }] };
      }
    }
    // One model per pair for metering, so that each /stats route counts one pair only.
    for (const i of INGRESSES) {
      for (const k of KINDS) models[`u-${i}-${k}`] = { deployments: [{ id: `dep-u-${i}-${k}`, provider: `ok-${k}`, model: UPSTREAM[k].model }] };
    }
    // A gpt-4.1 request falling back to a Claude deployment.
    models['gpt-4.1'] = { fallbacks: ['claude-sonnet-4.5'], deployments: [{ id: 'gpt-dead', provider: 's500-openai', model: 'gpt-4.1' }] };
    models['claude-sonnet-4.5'] = { deployments: [{ id: 'claude-ok', provider: 'ok-anthropic', model: 'claude-sonnet-4-5' }] };
    const config = gatewayConfig({ server: { api_keys: ['env:SHEPHERD_API_KEY'] }, providers, models });
    // Retries are cheap and never refused here; faults must not cool deployments down mid-suite.
    config.routing = { max_attempts: 2, backoff: { base: '1ms', max: '2ms' }, retry_budget: { ratio: 10, burst: 1000 }, cooldown: { failures: 64 } };
    shepherd = await startShepherd(config, { env: { SHEPHERD_API_KEY: KEY, UPSTREAM_KEY } });
  });
  after(cleanup);

  // ---- plumbing ---------------------------------------------------------------------------------

  const send = (ing, body, { key = KEY, headers = {} } = {}) =>
    request(`${shepherd.url}${INGRESS[ing].path}`, { method: 'POST', body, headers: { ...INGRESS[ing].headers(key), ...headers } });

  async function sendStream(ing, body, { key = KEY } = {}) {
    const res = await fetch(`${shepherd.url}${INGRESS[ing].path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...INGRESS[ing].headers(key) },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) return { res, text: await res.text() };
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = await readEvents(res);
    return { res, events, s: INGRESS[ing].streamed(events) };
  }

  /** A non-streamed exchange that must succeed: the answer's neutral view (and the raw body). */
  async function ask(ing, req, what) {
    const r = await send(ing, INGRESS[ing].request(req));
    assert.equal(r.status, 200, `${what}: ${r.text}`);
    const body = r.json();
    return { r, body, a: INGRESS[ing].answer(body) };
  }

  async function askStream(ing, req, what) {
    const out = await sendStream(ing, INGRESS[ing].request({ ...req, stream: true }));
    assert.equal(out.res.status, 200, `${what}: ${out.text}`);
    assert.equal(out.s.error, null, `${what}: no error event: ${JSON.stringify(out.s.error)}`);
    assert.equal(out.s.done, true, `${what}: the stream ended with its closing event`);
    return out;
  }

  /** What Shepherd last sent to a mock: {target, headers, body (parsed)}. */
  async function upstream(mock = mocks.ok) {
    const rec = await mock.lastRequest();
    return { target: rec.target, headers: rec.headers, body: lastRequestBody(rec) };
  }

  const header = (r, name) => (r.headers instanceof Headers ? r.headers.get(name) : r.headers[name]) ?? undefined;

  function assertRouted(r, deployment, attempts) {
    assert.equal(header(r, 'x-shepherd-deployment'), deployment, 'X-Shepherd-Deployment');
    assert.equal(header(r, 'x-shepherd-attempts'), String(attempts), 'X-Shepherd-Attempts');
  }

  function assertToolCall(call, what) {
    assert.ok(call, `${what}: a tool call`);
    assert.equal(call.name, 'lookup', `${what}: the first declared tool`);
    assert.equal(typeof call.id, 'string');
    assert.ok(call.id.length > 0, `${what}: the call has an id`);
    let args;
    assert.doesNotThrow(() => {
      args = JSON.parse(call.arguments);
    }, `${what}: arguments are JSON: ${call.arguments}`);
    assert.deepEqual(args, { query: ASK }, what);
  }

  function assertToolResultUpstream(kind, body, call, content, what) {
    const got = UPSTREAM[kind].toolResult(body);
    assert.ok(got, `${what}: a tool result reached upstream: ${JSON.stringify(body)}`);
    if (kind === 'gemini') {
      // Gemini matches a function response to its call by name.
      assert.equal(got.name, 'lookup', what);
      assert.ok(JSON.stringify(got.content).includes(content), `${what}: ${JSON.stringify(got.content)}`);
    } else {
      assert.equal(got.id, call.id, `${what}: the result names the call's id`);
      assert.equal(got.content, content, what);
    }
  }

  // ---- every pair -------------------------------------------------------------------------------

  for (const ing of INGRESSES) {
    for (const kind of KINDS) {
      const pair = `${ing} → ${kind}`;
      const model = `to-${kind}`;
      const U = UPSTREAM[kind];

      test(`${pair}: text`, T, async () => {
        const { r, body, a } = await ask(ing, { model, turns: [user('Say hello to the gateway')] }, pair);
        assertMatches(body, fixture(`answer_${ing}_text.json`), { model });
        assert.equal(a.text, mockContent(8));
        assert.equal(a.stop, 'end');
        assert.equal(a.model, model, "the client's model name");
        assertRouted(r, `dep-${model}`, 1);
        const up = await upstream();
        assert.equal(up.target, upstreamTarget(kind, false));
        if (kind !== 'gemini') assert.equal(up.body.model, U.model, "the deployment's upstream model id");
        assert.equal(U.credential(up.headers), U.credentialOf(UPSTREAM_KEY), 'the provider key, in the provider header');
        assert.ok(!JSON.stringify(up.headers).includes(KEY), "the client's key never goes upstream");
        if (kind === 'anthropic') assert.ok(up.headers['anthropic-version'], 'anthropic-version sent upstream');
      });

      test(`${pair}: text streamed`, T, async () => {
        const { res, s } = await askStream(ing, { model, turns: [user('Say hello to the gateway')], includeUsage: ing === 'openai-chat' ? true : undefined }, pair);
        assertTranscript(s.labels, fixture(`stream_${ing}_text.json`), pair);
        assert.equal(s.text, mockContent(8));
        assert.equal(s.stop, 'end');
        assert.equal(s.model, model);
        assertRouted(res, `dep-${model}`, 1);
        assert.equal((await upstream()).target, upstreamTarget(kind, true));
      });

      test(`${pair}: a stream is translated event by event as it arrives`, T, async () => {
        // The slow mock sends 4 tokens 50 ms apart: a gateway that buffered the stream would
        // deliver them together.
        const { events, s } = await askStream(ing, { model: `slow-${kind}`, turns: [user('Say hello')] }, pair);
        assert.equal(s.text, mockContent(4));
        const text = events.filter((e) => {
          const j = e.json;
          return (typeof j?.choices?.[0]?.delta?.content === 'string' && j.choices[0].delta.content !== '') ||
            j?.delta?.type === 'text_delta' || j?.type === 'response.output_text.delta';
        });
        assert.equal(text.length, 4, 'one client event per upstream token');
        const spread = text.at(-1).at - text[0].at;
        assert.ok(spread >= 60, `the first token arrived ${spread.toFixed(0)} ms before the last (expected ≥ 60)`);
      });

      test(`${pair}: system prompt goes where the upstream wants it`, T, async () => {
        await ask(ing, { model, system: 'You are terse.', turns: [user('Hi there')] }, pair);
        const { body } = await upstream();
        assert.equal(U.system(body), 'You are terse.');
        if (kind === 'openai') assert.deepEqual(body.messages[0], { role: 'system', content: 'You are terse.' });
        if (kind === 'anthropic') assert.ok(body.messages.every((m) => m.role !== 'system'), 'no system turn');
        if (kind === 'gemini') assert.ok(body.contents.every((c) => c.role !== 'system'), 'no system turn');
      });

      test(`${pair}: multi-turn arrives in order with the upstream's role names`, T, async () => {
        const turns = [user('first question here'), { role: 'assistant', text: 'first answer' }, user('second question')];
        const { a } = await ask(ing, { model, system: 'be kind', turns }, pair);
        assert.equal(a.usage.prompt, words('be kind', 'first question here', 'first answer', 'second question'));
        const { body } = await upstream();
        const assistant = kind === 'gemini' ? 'model' : 'assistant';
        assert.deepEqual(U.turns(body), [
          { role: 'user', text: 'first question here' },
          { role: assistant, text: 'first answer' },
          { role: 'user', text: 'second question' },
        ]);
      });

      test(`${pair}: a whole conversation reaches upstream as the golden body`, T, async () => {
        const req = { ...fixture(`request_${ing}.json`), model };
        const r = await send(ing, req);
        assert.equal(r.status, 200, r.text);
        const up = await upstream();
        assert.equal(up.target, upstreamTarget(kind, false));
        assert.deepEqual(normaliseUpstream(kind, up.body), normaliseUpstream(kind, fixture(`upstream_${kind}.json`)));
      });

      test(`${pair}: tools, then the tool result`, T, async () => {
        const { body, a } = await ask(ing, { model, turns: [user(ASK)], tools: TOOLS }, pair);
        assertMatches(body, fixture(`answer_${ing}_tool.json`), { model });
        assertToolCall(a.toolCalls[0], pair);
        assert.equal(a.toolCalls.length, 1);
        assert.equal(a.stop, 'tool');
        assert.deepEqual(U.toolNames((await upstream()).body), ['lookup', 'other'], 'declared tools reach upstream');

        const call = a.toolCalls[0];
        const turns = [user(ASK), INGRESS[ing].assistantTurn(body), INGRESS[ing].toolResultTurn(call, 'sunny and warm')];
        const second = await ask(ing, { model, turns, tools: TOOLS }, `${pair} (tool result)`);
        assert.equal(second.a.text, mockContent(8), 'after a tool result the answer is text');
        assert.equal(second.a.stop, 'end');
        assertToolResultUpstream(kind, (await upstream()).body, call, 'sunny and warm', pair);
      });

      test(`${pair}: tools streamed, arguments as deltas, then the tool result`, T, async () => {
        const { s } = await askStream(ing, { model, turns: [user(ASK)], tools: TOOLS, includeUsage: ing === 'openai-chat' ? true : undefined }, pair);
        assertTranscript(s.labels, fixture(`stream_${ing}_tool.json`), pair);
        assert.equal(s.toolCalls.length, 1);
        assertToolCall(s.toolCalls[0], pair);
        assert.equal(s.stop, 'tool');
        // OpenAI and Anthropic stream arguments in three pieces; Gemini sends a call whole.
        if (kind === 'gemini') assert.ok(s.argDeltas >= 1);
        else assert.ok(s.argDeltas > 1, `arguments arrived in ${s.argDeltas} deltas`);

        const call = s.toolCalls[0];
        const turns = [user(ASK), INGRESS[ing].assistantFromStream(s), INGRESS[ing].toolResultTurn(call, 'sunny and warm')];
        const second = await askStream(ing, { model, turns, tools: TOOLS }, `${pair} (tool result)`);
        assert.equal(second.s.text, mockContent(8));
        assert.equal(second.s.stop, 'end');
        assertToolResultUpstream(kind, (await upstream()).body, call, 'sunny and warm', pair);
      });

      test(`${pair}: non-ASCII and escaped characters survive in streamed tool arguments`, T, async () => {
        // The mock echoes the question (≤ 40 bytes) as the argument, sent in escaped pieces.
        const question = 'Météo "à" Paris ☀️ 東京\n\\ ok';
        const { s } = await askStream(ing, { model, turns: [user(question)], tools: TOOLS }, pair);
        assert.equal(s.toolCalls.length, 1);
        assert.deepEqual(JSON.parse(s.toolCalls[0].arguments), { query: question });
        const { a } = await ask(ing, { model, turns: [user(question)], tools: TOOLS }, pair);
        assert.deepEqual(JSON.parse(a.toolCalls[0].arguments), { query: question });
      });

      test(`${pair}: tool choice — a named tool is called, "none" forbids tools`, T, async () => {
        const named = {
          'openai-chat': { type: 'function', function: { name: 'other' } },
          'anthropic-messages': { type: 'tool', name: 'other' },
          'openai-responses': { type: 'function', name: 'other' },
        }[ing];
        const none = ing === 'anthropic-messages' ? { type: 'none' } : 'none';
        const forced = await ask(ing, { model, turns: [user(ASK)], tools: TOOLS, extra: { tool_choice: named } }, pair);
        assert.equal(forced.a.toolCalls.length, 1);
        assert.equal(forced.a.toolCalls[0].name, 'other', 'the named tool, not the first declared');
        const quiet = await ask(ing, { model, turns: [user(ASK)], tools: TOOLS, extra: { tool_choice: none } }, pair);
        assert.equal(quiet.a.toolCalls.length, 0);
        assert.equal(quiet.a.text, mockContent(8));
      });

      test(`${pair}: a base64 image reaches upstream in its shape`, T, async () => {
        const { a } = await ask(ing, { model, turns: [user('What is in this picture?', { image: { data: PNG, mediaType: 'image/png' } })] }, pair);
        assert.equal(a.text, mockContent(8));
        const image = U.image((await upstream()).body);
        if (kind === 'openai') assert.deepEqual(image, { url: `data:image/png;base64,${PNG}` });
        else assert.deepEqual(image, { data: PNG, mediaType: 'image/png' });
      });

      test(`${pair}: an image URL`, T, async () => {
        const url = 'https://example.com/cat.png';
        const req = INGRESS[ing].request({ model, turns: [user('What is in this picture?', { image: { url } })] });
        const r = await send(ing, req);
        if (kind === 'gemini') {
          // Gemini takes inline data only and Shepherd never fetches URLs.
          INGRESS[ing].assertError(r, 400, pair);
          assert.match(r.text, /dep-to-gemini/, 'the error names the deployment');
          // The message says what to change; no path of the common form poses as the client's.
          assert.match(r.text, /data URL/);
        } else {
          assert.equal(r.status, 200, r.text);
          assert.deepEqual(U.image((await upstream()).body), { url });
        }
      });

      test(`${pair}: stop reason for a small output cap`, T, async () => {
        const req = { model, turns: [user('Tell me a long story')], maxTokens: 3 };
        const { body, a } = await ask(ing, req, pair);
        assert.equal(a.text, mockContent(3));
        assert.equal(a.stop, 'length');
        if (ing === 'openai-chat') assert.equal(body.choices[0].finish_reason, 'length');
        if (ing === 'anthropic-messages') assert.equal(body.stop_reason, 'max_tokens');
        if (ing === 'openai-responses') {
          assert.equal(body.status, 'incomplete');
          assert.deepEqual(body.incomplete_details, { reason: 'max_output_tokens' });
        }
        const { s } = await askStream(ing, req, pair);
        assert.equal(s.text, mockContent(3));
        assert.equal(s.stop, 'length');
        if (ing === 'openai-responses') assert.equal(s.labels.at(-1), 'response.incomplete');
      });

      test(`${pair}: usage in the client's shape, and metered the same`, T, async () => {
        const m = `u-${ing}-${kind}`;
        const before = routeOf(await shepherdStats(shepherd), m, `ok-${kind}`);
        const b0 = { requests: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, ...before };

        const { a } = await ask(ing, { model: m, system: 'be brief', turns: [user('count these five words now')] }, pair);
        assert.deepEqual([a.usage.prompt, a.usage.completion], [7, 8], 'the mock counts 7 prompt words and sends 8 tokens');
        if (a.usage.total !== undefined) assert.equal(a.usage.total, 15);
        const streamed = await askStream(ing, { model: m, turns: [user('three more words')], includeUsage: ing === 'openai-chat' ? true : undefined }, pair);
        assert.deepEqual(streamed.s.usage && [streamed.s.usage.prompt, streamed.s.usage.completion], [3, 8], 'usage at the end of the stream');
        let requests = 2;
        let prompt = 10;
        if (ing === 'openai-chat') {
          // Without stream_options.include_usage an OpenAI client gets no usage chunk, yet the
          // request is metered.
          const quiet = await askStream(ing, { model: m, turns: [user('two words')] }, pair);
          assert.equal(quiet.s.usage, null, 'no usage chunk unless asked');
          assert.ok(!quiet.s.labels.includes('usage'));
          requests += 1;
          prompt += 2;
        }
        const completion = 8 * requests;
        const route = await pollUntil(
          async () => routeOf(await shepherdStats(shepherd), m, `ok-${kind}`),
          (x) => x && x.requests - b0.requests >= requests && x.total_tokens - b0.total_tokens >= prompt + completion,
          { what: `/stats to count the ${m} requests` },
        );
        assert.equal(route.requests - b0.requests, requests);
        assert.equal(route.prompt_tokens - b0.prompt_tokens, prompt);
        assert.equal(route.completion_tokens - b0.completion_tokens, completion);
        const metrics = parseMetrics((await request(`${shepherd.url}/metrics`)).text);
        assert.equal(metricValue(metrics, 'shepherd_tokens_total', { model: m, kind: 'prompt' }), route.prompt_tokens);
        assert.equal(metricValue(metrics, 'shepherd_tokens_total', { model: m, kind: 'completion' }), route.completion_tokens);
      });

      for (const [fault, status] of [['s429', 429], ['s500', 500], ['s400', 400], ['s504', 504]]) {
        test(`${pair}: upstream ${status} in the client's error shape`, T, async () => {
          const req = INGRESS[ing].request({ model: `${fault}-${kind}`, turns: [user('Hi')] });
          INGRESS[ing].assertError(await send(ing, req), status, pair);
          // Before the first byte a stream fails with a status too.
          const out = await sendStream(ing, { ...req, stream: true });
          INGRESS[ing].assertError({ status: out.res.status, text: out.text, json: () => JSON.parse(out.text) }, status, `${pair} (stream)`);
        });
      }

      test(`${pair}: an error event mid-stream ends the client's stream with its error event`, T, async () => {
        const out = await sendStream(ing, INGRESS[ing].request({ model: `evt-${kind}`, turns: [user('Hi')], stream: true }));
        assert.equal(out.res.status, 200, 'the stream was committed');
        assert.equal(out.s.text, mockContent(2), 'the tokens before the error were delivered');
        INGRESS[ing].assertStreamError(out.events, out.s, pair);
      });

      test(`${pair}: a retry after an upstream 500 works across the translation`, T, async () => {
        await mocks.ff.reset();
        const { r, a } = await ask(ing, { model: `ff-${kind}`, turns: [user('Hi')] }, pair);
        assert.equal(a.text, mockContent(8));
        assertRouted(r, `dep-ff-${kind}`, 2);
        assert.equal((await mocks.ff.stats()).chat_requests, 2);
        await mocks.ff.reset();
        const { res, s } = await askStream(ing, { model: `ff-${kind}`, turns: [user('Hi')] }, pair);
        assert.equal(s.text, mockContent(8));
        assertRouted(res, `dep-ff-${kind}`, 2);
      });
    }
  }

  // ---- per client dialect -------------------------------------------------------------------------

  for (const ing of INGRESSES) {
    test(`${ing}: unknown model → 404 in the client's shape`, T, async () => {
      const r = await send(ing, INGRESS[ing].request({ model: 'no-such-model', turns: [user('Hi')] }));
      INGRESS[ing].assertError(r, 404, ing);
      assert.match(r.text, /no-such-model/);
    });

    test(`${ing}: missing or wrong key → 401 in the client's shape`, T, async () => {
      const body = INGRESS[ing].request({ model: 'to-openai', turns: [user('Hi')] });
      INGRESS[ing].assertError(await send(ing, body, { key: null }), 401, `${ing} (missing)`);
      INGRESS[ing].assertError(await send(ing, body, { key: 'sk-wrong' }), 401, `${ing} (wrong)`);
      if (ing === 'anthropic-messages') {
        // Anthropic clients may send the key as a bearer token too.
        const r = await request(`${shepherd.url}/v1/messages`, { method: 'POST', body, headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': '2023-06-01' } });
        assert.equal(r.status, 200, r.text);
      }
    });

    test(`${ing}: a gpt-4.1 request falls back to a Claude deployment`, T, async () => {
      const { r, a } = await ask(ing, { model: 'gpt-4.1', turns: [user('Hi')] }, ing);
      assert.equal(a.text, mockContent(8));
      assertRouted(r, 'claude-ok', 2);
      assert.equal(header(r, 'x-shepherd-model'), 'claude-sonnet-4.5');
      assert.equal(a.model, 'claude-sonnet-4.5', "the fallback's name");
      const up = await upstream();
      assert.equal(up.target, '/v1/messages');
      assert.equal(up.body.model, 'claude-sonnet-4-5');
      const { res, s } = await askStream(ing, { model: 'gpt-4.1', turns: [user('Hi')] }, ing);
      assert.equal(s.text, mockContent(8));
      assertRouted(res, 'claude-ok', 2);
    });
  }

  // ---- thinking ---------------------------------------------------------------------------------

  test('anthropic-messages → openai: thinking enabled is answered with text', T, async () => {
    const { a } = await ask('anthropic-messages', {
      model: 'to-openai', maxTokens: 4096, turns: [user('Think it over')], extra: { thinking: { type: 'enabled', budget_tokens: 2048 } },
    }, 'thinking');
    assert.equal(a.text, mockContent(8));
    const { body } = await upstream();
    assert.ok(!('thinking' in body), 'OpenAI has no thinking field');
    assert.ok(['low', 'medium', 'high'].includes(body.reasoning_effort), `reasoning_effort ${body.reasoning_effort}`);
  });

  test('openai-chat → anthropic: reasoning_effort brings reasoning_content and signed thinking_blocks, which go back upstream', T, async () => {
    const req = { model: 'to-anthropic', turns: [user('Think it over')], extra: { reasoning_effort: 'low' } };
    const { body, a } = await ask('openai-chat', req, 'thinking');
    assert.equal(a.text, mockContent(8));
    const message = body.choices[0].message;
    assert.equal(message.reasoning_content, 'Thinking about the question.');
    assert.equal(message.thinking_blocks.length, 1);
    const [block] = message.thinking_blocks;
    assert.equal(block.type, 'thinking');
    assert.match(block.signature, /^mock-signature-\d+$/);
    assert.ok((await upstream()).body.thinking, 'thinking asked upstream');

    await ask('openai-chat', { ...req, turns: [...req.turns, { raw: message }, user('And then?')] }, 'thinking, next turn');
    const sent = (await upstream()).body.messages[1];
    assert.equal(sent.role, 'assistant');
    assert.deepEqual(sent.content[0], { type: 'thinking', thinking: 'Thinking about the question.', signature: block.signature });

    // Streamed: the reasoning and the signature arrive as deltas.
    const { s, events } = await askStream('openai-chat', req, 'thinking streamed');
    assert.equal(s.text, mockContent(8));
    assert.ok(s.labels.includes('reasoning'));
    const signatures = events.flatMap((e) => e.json?.choices?.[0]?.delta?.thinking_blocks ?? []).map((b) => b.signature).filter(Boolean);
    assert.equal(signatures.length, 1, 'one signed thinking block');
    assert.match(signatures[0], /^mock-signature-\d+$/);
  });

  test('openai-responses → anthropic: a reasoning item carries the signature back upstream', T, async () => {
    const req = { model: 'to-anthropic', turns: [user('Think it over')], extra: { reasoning: { effort: 'low' } } };
    const { body, a } = await ask('openai-responses', req, 'reasoning');
    assert.equal(a.text, mockContent(8));
    const reasoning = body.output.find((o) => o.type === 'reasoning');
    assert.ok(reasoning, `a reasoning item: ${JSON.stringify(body.output)}`);
    await ask('openai-responses', { ...req, turns: [...req.turns, { raw: body.output }, user('And then?')] }, 'reasoning, next turn');
    const sent = (await upstream()).body.messages[1];
    assert.equal(sent.role, 'assistant');
    assert.equal(sent.content[0].type, 'thinking');
    assert.match(sent.content[0].signature, /^mock-signature-\d+$/);
    assert.equal(sent.content[0].signature, reasoning.encrypted_content);
  });

  for (const ing of INGRESSES) {
    test(`${ing} → gemini: a thought signature rides in the tool call id and goes back on the functionCall`, T, async () => {
      const thinking = {
        'openai-chat': { reasoning_effort: 'low' },
        'anthropic-messages': { thinking: { type: 'enabled', budget_tokens: 1024 } },
        'openai-responses': { reasoning: { effort: 'low' } },
      }[ing];
      const req = { model: 'to-gemini', turns: [user(ASK)], tools: TOOLS, maxTokens: ing === 'anthropic-messages' ? 4096 : undefined, extra: thinking };
      const { body, a } = await ask(ing, req, ing);
      assertToolCall(a.toolCalls[0], ing);
      const first = await upstream();
      assert.equal(first.body.generationConfig?.thinkingConfig?.includeThoughts, true, 'thoughts asked upstream');
      const call = a.toolCalls[0];
      await ask(ing, { ...req, turns: [...req.turns, INGRESS[ing].assistantTurn(body), INGRESS[ing].toolResultTurn(call, 'sunny')] }, `${ing}, tool result`);
      const { body: sent } = await upstream();
      const model = sent.contents.find((c) => c.role === 'model');
      const part = model?.parts.find((p) => p.functionCall);
      assert.ok(part, `the call went back: ${JSON.stringify(sent.contents)}`);
      assert.equal(part.thoughtSignature ?? part.thought_signature, 'bW9jay1zaWduYXR1cmU=');
      assert.equal(part.functionCall.name, 'lookup');
    });
  }

  // ---- completions, embeddings, count_tokens, models ------------------------------------------

  const post = (path, body, headers = { authorization: `Bearer ${KEY}` }) => request(`${shepherd.url}${path}`, { method: 'POST', body, headers });

  test('/v1/completions through an openai-kind provider, streamed and not', T, async () => {
    const r = await post('/v1/completions', { model: 'to-openai', prompt: 'Say it twice', max_tokens: 4 });
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.object, 'text_completion');
    assert.equal(body.model, 'to-openai');
    assert.equal(body.choices[0].text, mockContent(4));
    assert.equal(body.choices[0].finish_reason, 'length');
    assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const up = await upstream();
    assert.equal(up.target, '/v1/completions');
    assert.equal(up.body.model, 'gpt-4.1');

    const res = await fetch(`${shepherd.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ model: 'to-openai', prompt: 'Say it twice', stream: true, stream_options: { include_usage: true } }),
    });
    assert.equal(res.status, 200);
    const events = await readEvents(res);
    assert.equal(events.at(-1).data, '[DONE]');
    const chunks = events.filter((e) => e.json);
    assert.ok(chunks.every((c) => c.json.object === 'text_completion' && c.json.model === 'to-openai'));
    assert.equal(chunks.map((c) => c.json.choices[0]?.text ?? '').join(''), mockContent(8));
    assert.deepEqual(chunks.at(-1).json.usage, { prompt_tokens: 3, completion_tokens: 8, total_tokens: 11 });
  });

  test('/v1/embeddings through openai and gemini kinds give the same vectors', T, async () => {
    const input = ['hello world', 'the gateway'];
    const viaOpenAI = await post('/v1/embeddings', { model: 'to-openai', input });
    assert.equal(viaOpenAI.status, 200, viaOpenAI.text);
    assert.equal((await upstream()).target, '/v1/embeddings');
    const viaGemini = await post('/v1/embeddings', { model: 'to-gemini', input });
    assert.equal(viaGemini.status, 200, viaGemini.text);
    const up = await upstream();
    assert.equal(up.target, `/v1beta/models/${UPSTREAM.gemini.model}:batchEmbedContents`);
    assert.deepEqual(up.body.requests.map((q) => q.content.parts[0].text), input);
    const a = viaOpenAI.json();
    const b = viaGemini.json();
    for (const body of [a, b]) {
      assert.equal(body.object, 'list');
      assert.equal(body.data.length, 2);
      body.data.forEach((d, i) => {
        assert.equal(d.object, 'embedding');
        assert.equal(d.index, i);
        assert.equal(d.embedding.length, 8);
      });
    }
    assert.equal(a.model, 'to-openai');
    assert.equal(b.model, 'to-gemini');
    assert.deepEqual(b.data.map((d) => d.embedding), a.data.map((d) => d.embedding), 'the mock derives vectors from the text');
  });

  test('/v1/embeddings to an anthropic-kind model → 400 naming the deployment', T, async () => {
    const r = await post('/v1/embeddings', { model: 'to-anthropic', input: 'hello' });
    INGRESS['openai-chat'].assertError(r, 400, 'embeddings');
    assert.match(r.json().error.message, /dep-to-anthropic/);
  });

  test('/v1/messages/count_tokens answers {input_tokens} for an Anthropic body', T, async () => {
    for (const kind of KINDS) {
      const r = await post('/v1/messages/count_tokens', {
        model: `to-${kind}`, system: 'be brief', messages: [{ role: 'user', content: 'count these words please' }],
      }, { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' });
      assert.equal(r.status, 200, r.text);
      const body = r.json();
      assert.deepEqual(Object.keys(body), ['input_tokens']);
      assert.ok(Number.isInteger(body.input_tokens) && body.input_tokens > 0, r.text);
    }
    const r = await post('/v1/messages/count_tokens', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' });
    INGRESS['anthropic-messages'].assertError(r, 404, 'count_tokens');
  });

  test("GET /v1/models with anthropic-version answers Anthropic's list shape", T, async () => {
    const r = await request(`${shepherd.url}/v1/models`, { headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.has_more, false);
    assert.ok(body.data.length > 0);
    for (const m of body.data) {
      assert.equal(m.type, 'model');
      for (const k of ['id', 'display_name', 'created_at']) assert.equal(typeof m[k], 'string', `${k}: ${JSON.stringify(m)}`);
      assert.ok(!Number.isNaN(Date.parse(m.created_at)), 'created_at is an RFC 3339 time');
    }
    assert.equal(body.first_id, body.data[0].id);
    assert.equal(body.last_id, body.data.at(-1).id);
    assert.ok(body.data.some((m) => m.id === 'to-gemini'));
    const openai = await request(`${shepherd.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(openai.json().object, 'list', 'without anthropic-version: the OpenAI shape');
    const denied = await request(`${shepherd.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } });
    INGRESS['anthropic-messages'].assertError(denied, 401, 'models without a key');
  });

  // ---- Responses specifics ------------------------------------------------------------------------

  test('openai-responses: previous_response_id → 400 (Shepherd is stateless)', T, async () => {
    const r = await send('openai-responses', { model: 'to-openai', input: 'Hi', previous_response_id: 'resp_123' });
    INGRESS['openai-responses'].assertError(r, 400, 'previous_response_id');
    assert.equal(r.json().error.param, 'previous_response_id');
  });

  test('openai-responses → gemini: an image URL error names no path the Responses request lacks', T, async () => {
    // The provider's encoder sees the common form, whose turns need not match the client's
    // items: the message says what to change, and no chat-completions path is invented.
    const req = INGRESS['openai-responses'].request({ model: 'to-gemini', turns: [user('What is in this picture?', { image: { url: 'https://example.com/cat.png' } })] });
    const r = await send('openai-responses', req);
    INGRESS['openai-responses'].assertError(r, 400, 'image URL');
    assert.ok(!String(r.json().error.param ?? '').startsWith('messages'), r.text);
    assert.match(r.json().error.message, /data URL/);
  });

  test('openai-responses: the response object repeats the request settings', T, async () => {
    const tools = [{ type: 'function', name: 'lookup', parameters: TOOLS[0].parameters }];
    const req = { model: 'to-anthropic', instructions: 'be brief', input: 'Hi', max_output_tokens: 50, temperature: 0.5, tools, tool_choice: 'none' };
    const r = await send('openai-responses', req);
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.instructions, 'be brief');
    assert.equal(body.max_output_tokens, 50);
    assert.equal(body.temperature, 0.5);
    assert.equal(body.tool_choice, 'none');
    assert.equal(body.tools.length, 1);
    assert.equal(body.tools[0].name, 'lookup');
  });
});
