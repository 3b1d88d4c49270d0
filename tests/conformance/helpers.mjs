// The conformance suite's view of the dialects: how each client dialect (ingress) writes a
// request and reads an answer or a stream, and how each provider kind's request is read back from
// the mock's /mock/last-request. The tests speak in a neutral form ({text, toolCalls, stop,
// usage}) so that one parameterised test covers every ingress × upstream pair.
//
// Shapes follow the public API references (tests/fixtures/conformance/README.md lists them).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { inspect } from 'node:util';

import { anthropicHeaders, assertErrorShape, bearer, sseEvents, withTimeout } from '../support/harness.mjs';

const FIXTURES = new URL('../fixtures/conformance/', import.meta.url);

/** A fixture of tests/fixtures/conformance, parsed. */
export function fixture(name) {
  return JSON.parse(fs.readFileSync(new URL(name, FIXTURES), 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Patterns and transcripts (the fixture formats, see the fixtures' README).

/**
 * Asserts that `actual` matches `pattern`: objects may carry more fields, arrays match in length,
 * "<string>", "<integer>" and "<model>" are placeholders, {"$json": v} a string parsing to v.
 */
export function assertMatches(actual, pattern, { model, where = '$', whole = actual } = {}) {
  const fail = (what) =>
    assert.fail(`${where}: ${what}\nactual: ${inspect(actual, { depth: 6 })}\nin: ${JSON.stringify(whole).slice(0, 3000)}`);
  if (pattern === '<string>') {
    if (typeof actual !== 'string' || actual.length === 0) fail('expected a non-empty string');
    return;
  }
  if (pattern === '<integer>') {
    if (!Number.isInteger(actual)) fail('expected an integer');
    return;
  }
  if (pattern === '<model>') {
    if (actual !== model) fail(`expected the client's model ${model}`);
    return;
  }
  if (pattern && typeof pattern === 'object' && !Array.isArray(pattern) && '$json' in pattern) {
    if (typeof actual !== 'string') fail('expected a JSON text');
    let parsed;
    try {
      parsed = JSON.parse(actual);
    } catch {
      fail('expected valid JSON text');
    }
    assert.deepEqual(parsed, pattern.$json, `${where}: JSON text`);
    return;
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) fail('expected an array');
    if (actual.length !== pattern.length) fail(`expected ${pattern.length} elements`);
    pattern.forEach((p, i) => assertMatches(actual[i], p, { model, where: `${where}[${i}]`, whole }));
    return;
  }
  if (pattern && typeof pattern === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) fail('expected an object');
    for (const [k, p] of Object.entries(pattern)) {
      if (!(k in actual)) fail(`missing field "${k}"`);
      assertMatches(actual[k], p, { model, where: `${where}.${k}`, whole });
    }
    return;
  }
  if (actual !== pattern) fail(`expected ${JSON.stringify(pattern)}`);
}

/** Asserts that `labels` follow a transcript fixture ({events: ["a", "b+", ...], ignore}). */
export function assertTranscript(labels, transcript, what = 'stream') {
  const seen = labels.filter((l) => !transcript.ignore.includes(l));
  const detail = `${what}: events ${JSON.stringify(seen)} vs transcript ${JSON.stringify(transcript.events)}`;
  let i = 0;
  for (const step of transcript.events) {
    const many = step.endsWith('+');
    const name = many ? step.slice(0, -1) : step;
    assert.equal(seen[i], name, detail);
    i += 1;
    while (many && seen[i] === name) i += 1;
  }
  assert.equal(i, seen.length, `${detail}: trailing events`);
}

// ---------------------------------------------------------------------------------------------
// Streams.

/** Reads a fetch Response's SSE body (bounded): [{event, data, json, at}] (at: ms since start). */
export async function readEvents(res, timeoutMs = 10000) {
  const started = performance.now();
  const events = [];
  const read = (async () => {
    for await (const ev of sseEvents(res)) {
      events.push({ event: ev.fields.event ?? null, data: ev.data, json: ev.json, at: performance.now() - started });
    }
  })();
  await withTimeout(read, timeoutMs, 'the end of the stream');
  return events;
}

/** Labels of an OpenAI chat stream chunk: what its delta carries (transcripts use them). */
export function openaiChunkLabels(ev) {
  if (ev.data === '[DONE]') return ['[DONE]'];
  const c = ev.json;
  if (!c) return ['invalid'];
  if (c.error) return ['error'];
  const labels = [];
  const choice = c.choices?.[0];
  const d = choice?.delta ?? {};
  if (d.role) labels.push('role');
  if (typeof d.reasoning_content === 'string' && d.reasoning_content !== '') labels.push('reasoning');
  if (Array.isArray(d.thinking_blocks)) labels.push('thinking_blocks');
  if (typeof d.content === 'string' && d.content !== '') labels.push('content');
  for (const t of d.tool_calls ?? []) {
    if (t.id) labels.push('tool_call');
    if (t.function?.arguments) labels.push('tool_arguments');
  }
  if (choice?.finish_reason) labels.push('finish');
  if (Array.isArray(c.choices) && c.choices.length === 0 && c.usage) labels.push('usage');
  return labels;
}

// ---------------------------------------------------------------------------------------------
// Client dialects.

const STOP = {
  'openai-chat': { stop: 'end', length: 'length', tool_calls: 'tool' },
  'anthropic-messages': { end_turn: 'end', max_tokens: 'length', tool_use: 'tool', stop_sequence: 'end' },
};

// Anthropic's error types by status (https://docs.anthropic.com/en/api/errors).
const ANTHROPIC_ERROR_TYPES = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const textOfOpenAIContent = (content) =>
  typeof content === 'string' ? content : (content ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');

/**
 * A neutral request: {model, system, turns, tools, stream, includeUsage, maxTokens, extra}.
 * turns: {role: 'user' | 'assistant', text, image: {data, mediaType} | {url}} or {raw: a message
 * (an array of items for Responses) in the dialect, spliced as is}. tools: [{name, description,
 * parameters}].
 */
export const INGRESS = {
  'openai-chat': {
    name: 'openai-chat',
    path: '/v1/chat/completions',
    headers: (key) => (key ? bearer(key) : {}),
    request({ model, system, turns, tools, stream, includeUsage, maxTokens, extra = {} }) {
      const messages = [];
      if (system !== undefined) messages.push({ role: 'system', content: system });
      for (const t of turns) {
        if (t.raw) {
          messages.push(...[].concat(t.raw));
          continue;
        }
        if (t.image) {
          const url = t.image.url ?? `data:${t.image.mediaType};base64,${t.image.data}`;
          messages.push({ role: t.role, content: [{ type: 'text', text: t.text }, { type: 'image_url', image_url: { url } }] });
        } else {
          messages.push({ role: t.role, content: t.text });
        }
      }
      const body = { model, messages };
      if (tools) body.tools = tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } }));
      if (maxTokens !== undefined) body.max_tokens = maxTokens;
      if (stream) body.stream = true;
      if (includeUsage !== undefined) body.stream_options = { include_usage: includeUsage };
      return { ...body, ...extra };
    },
    /** The neutral view of a non-streamed answer. */
    answer(body) {
      assert.equal(body.object, 'chat.completion', JSON.stringify(body));
      assert.equal(typeof body.id, 'string');
      assert.ok(Number.isInteger(body.created), 'created is an integer');
      assert.equal(body.choices.length, 1);
      const { message, finish_reason: finish } = body.choices[0];
      assert.equal(message.role, 'assistant');
      const toolCalls = (message.tool_calls ?? []).map((c) => {
        assert.equal(c.type, 'function');
        return { id: c.id, name: c.function.name, arguments: c.function.arguments };
      });
      return {
        model: body.model,
        text: message.content ?? '',
        toolCalls,
        stop: STOP['openai-chat'][finish] ?? finish,
        usage: body.usage && { prompt: body.usage.prompt_tokens, completion: body.usage.completion_tokens, total: body.usage.total_tokens },
        message,
      };
    },
    /** The neutral view of a stream; checks the framing as it goes. */
    streamed(events) {
      const out = { model: undefined, text: '', toolCalls: [], argDeltas: 0, stop: undefined, usage: null, error: null, done: false, labels: [] };
      for (const ev of events) {
        out.labels.push(...openaiChunkLabels(ev));
        if (ev.data === '[DONE]') {
          out.done = true;
          continue;
        }
        const c = ev.json;
        assert.ok(c, `a JSON chunk: ${ev.data}`);
        if (c.error) {
          out.error = c.error;
          continue;
        }
        assert.equal(c.object, 'chat.completion.chunk');
        out.model ??= c.model;
        assert.equal(c.model, out.model, 'every chunk names the same model');
        if (c.usage) out.usage = { prompt: c.usage.prompt_tokens, completion: c.usage.completion_tokens, total: c.usage.total_tokens };
        const choice = c.choices?.[0];
        if (!choice) continue;
        const d = choice.delta ?? {};
        if (typeof d.content === 'string') out.text += d.content;
        for (const t of d.tool_calls ?? []) {
          const call = (out.toolCalls[t.index] ??= { id: undefined, name: undefined, arguments: '' });
          if (t.id) call.id = t.id;
          if (t.function?.name) call.name = t.function.name;
          if (t.function?.arguments) {
            call.arguments += t.function.arguments;
            out.argDeltas += 1;
          }
        }
        if (choice.finish_reason) out.stop = STOP['openai-chat'][choice.finish_reason] ?? choice.finish_reason;
      }
      return out;
    },
    /** The turn that sends an answer's assistant message back. */
    assistantTurn: (body) => ({ raw: body.choices[0].message }),
    /** The same from a streamed answer (its neutral view). */
    assistantFromStream: (s) => ({
      raw: {
        role: 'assistant',
        content: s.text || null,
        ...(s.toolCalls.length
          ? { tool_calls: s.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }
          : {}),
      },
    }),
    toolResultTurn: (call, content) => ({ raw: { role: 'tool', tool_call_id: call.id, content } }),
    assertError(r, status, context) {
      assert.equal(r.status, status, `${context}: ${r.text}`);
      assertErrorShape(r.json(), context);
    },
    /** Asserts that a stream ended with this dialect's error event and nothing after it. */
    assertStreamError(events, s, context) {
      assert.ok(s.error, `${context}: an error chunk`);
      assert.equal(typeof s.error.message, 'string');
      assert.ok('type' in s.error, `${context}: error.type`);
      assert.ok(events.at(-1).json?.error, `${context}: the error chunk comes last`);
      assert.equal(s.done, false, `${context}: no [DONE] after an error`);
    },
  },

  'anthropic-messages': {
    name: 'anthropic-messages',
    path: '/v1/messages',
    headers: (key) => anthropicHeaders(key),
    request({ model, system, turns, tools, stream, maxTokens = 1024, extra = {} }) {
      const messages = [];
      for (const t of turns) {
        if (t.raw) {
          messages.push(...[].concat(t.raw));
          continue;
        }
        if (t.image) {
          const source = t.image.url ? { type: 'url', url: t.image.url } : { type: 'base64', media_type: t.image.mediaType, data: t.image.data };
          messages.push({ role: t.role, content: [{ type: 'image', source }, { type: 'text', text: t.text }] });
        } else {
          messages.push({ role: t.role, content: t.text });
        }
      }
      const body = { model, max_tokens: maxTokens, messages };
      if (system !== undefined) body.system = system;
      if (tools) body.tools = tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters }));
      if (stream) body.stream = true;
      return { ...body, ...extra };
    },
    answer(body) {
      assert.equal(body.type, 'message', JSON.stringify(body));
      assert.equal(body.role, 'assistant');
      assert.equal(typeof body.id, 'string');
      assert.ok(Array.isArray(body.content), 'content blocks');
      assert.ok('stop_sequence' in body, 'stop_sequence present');
      const text = body.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      const toolCalls = body.content
        .filter((b) => b.type === 'tool_use')
        .map((b) => {
          assert.equal(typeof b.input, 'object', 'tool_use input is an object');
          return { id: b.id, name: b.name, arguments: JSON.stringify(b.input) };
        });
      const u = body.usage;
      assert.ok(Number.isInteger(u?.input_tokens) && Number.isInteger(u?.output_tokens), `usage: ${JSON.stringify(u)}`);
      return {
        model: body.model,
        text,
        toolCalls,
        stop: STOP['anthropic-messages'][body.stop_reason] ?? body.stop_reason,
        usage: { prompt: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), completion: u.output_tokens },
        content: body.content,
      };
    },
    streamed(events) {
      const out = { model: undefined, text: '', toolCalls: [], argDeltas: 0, stop: undefined, usage: null, error: null, done: false, labels: [], blocks: [] };
      let input = 0;
      let output = 0;
      for (const ev of events) {
        const j = ev.json;
        assert.ok(j, `a JSON event: ${ev.data}`);
        assert.equal(ev.event, j.type, 'the event name repeats the data type');
        out.labels.push(j.type);
        switch (j.type) {
          case 'message_start':
            out.model = j.message.model;
            assert.equal(j.message.role, 'assistant');
            assert.deepEqual(j.message.content, []);
            input = j.message.usage.input_tokens + (j.message.usage.cache_read_input_tokens ?? 0) + (j.message.usage.cache_creation_input_tokens ?? 0);
            output = j.message.usage.output_tokens;
            break;
          case 'content_block_start':
            out.blocks[j.index] = { ...j.content_block, json: '' };
            if (j.content_block.type === 'tool_use') out.toolCalls.push({ index: j.index, id: j.content_block.id, name: j.content_block.name, arguments: '' });
            break;
          case 'content_block_delta': {
            const block = out.blocks[j.index];
            assert.ok(block, `a delta for a started block ${j.index}`);
            if (j.delta.type === 'text_delta') {
              out.text += j.delta.text;
              block.text += j.delta.text;
            } else if (j.delta.type === 'input_json_delta') {
              out.toolCalls.find((c) => c.index === j.index).arguments += j.delta.partial_json;
              out.argDeltas += 1;
            } else if (j.delta.type === 'thinking_delta') {
              block.thinking += j.delta.thinking;
            } else if (j.delta.type === 'signature_delta') {
              block.signature = j.delta.signature;
            }
            break;
          }
          case 'message_delta':
            out.stop = STOP['anthropic-messages'][j.delta.stop_reason] ?? j.delta.stop_reason;
            // message_delta's usage is cumulative; input_tokens when the provider reports it late.
            if (Number.isInteger(j.usage.input_tokens)) {
              input = j.usage.input_tokens + (j.usage.cache_read_input_tokens ?? 0) + (j.usage.cache_creation_input_tokens ?? 0);
            }
            output = j.usage.output_tokens;
            out.usage = { prompt: input, completion: output };
            break;
          case 'message_stop':
            out.done = true;
            break;
          case 'error':
            out.error = j.error;
            break;
          default:
        }
      }
      for (const c of out.toolCalls) {
        // An empty tool input streams no delta: the block's start input then holds it.
        if (c.arguments === '') c.arguments = '{}';
      }
      return out;
    },
    assistantTurn: (body) => ({ raw: { role: 'assistant', content: body.content } }),
    assistantFromStream: (s) => ({
      raw: {
        role: 'assistant',
        content: [
          ...(s.text ? [{ type: 'text', text: s.text }] : []),
          ...s.toolCalls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: JSON.parse(c.arguments) })),
        ],
      },
    }),
    toolResultTurn: (call, content) => ({ raw: { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content }] } }),
    assertError(r, status, context) {
      assert.equal(r.status, status, `${context}: ${r.text}`);
      const body = r.json();
      assert.equal(body.type, 'error', `${context}: ${r.text}`);
      assert.equal(typeof body.error?.message, 'string', `${context}: ${r.text}`);
      if (ANTHROPIC_ERROR_TYPES[status]) assert.equal(body.error.type, ANTHROPIC_ERROR_TYPES[status], `${context}: ${r.text}`);
      else assert.equal(typeof body.error.type, 'string');
    },
    assertStreamError(events, s, context) {
      assert.ok(s.error, `${context}: an error event`);
      assert.equal(events.at(-1).event, 'error', `${context}: the error event comes last`);
      assert.equal(typeof s.error.type, 'string');
      assert.equal(typeof s.error.message, 'string');
      assert.equal(s.done, false, `${context}: no message_stop after an error`);
    },
  },

  'openai-responses': {
    name: 'openai-responses',
    path: '/v1/responses',
    headers: (key) => (key ? bearer(key) : {}),
    request({ model, system, turns, tools, stream, maxTokens, extra = {} }) {
      const input = [];
      for (const t of turns) {
        if (t.raw) {
          input.push(...[].concat(t.raw));
          continue;
        }
        if (t.role === 'assistant') {
          input.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: t.text }] });
          continue;
        }
        const content = [{ type: 'input_text', text: t.text }];
        if (t.image) content.push({ type: 'input_image', image_url: t.image.url ?? `data:${t.image.mediaType};base64,${t.image.data}` });
        input.push({ type: 'message', role: t.role, content });
      }
      const body = { model, input };
      if (system !== undefined) body.instructions = system;
      if (tools) body.tools = tools.map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.parameters }));
      if (maxTokens !== undefined) body.max_output_tokens = maxTokens;
      if (stream) body.stream = true;
      return { ...body, ...extra };
    },
    answer(body) {
      assert.equal(body.object, 'response', JSON.stringify(body));
      assert.ok(body.id.startsWith('resp_'), `id ${body.id}`);
      assert.ok(Array.isArray(body.output));
      // What the SDKs' output_text is: every output_text part of every message item.
      const text = body.output
        .filter((o) => o.type === 'message')
        .flatMap((o) => o.content)
        .filter((c) => c.type === 'output_text')
        .map((c) => c.text)
        .join('');
      const toolCalls = body.output
        .filter((o) => o.type === 'function_call')
        .map((o) => ({ id: o.call_id, name: o.name, arguments: o.arguments }));
      let stop;
      if (body.status === 'incomplete') stop = body.incomplete_details?.reason === 'max_output_tokens' ? 'length' : body.incomplete_details?.reason;
      else if (body.status === 'completed') stop = toolCalls.length ? 'tool' : 'end';
      else stop = body.status;
      return {
        model: body.model,
        text,
        toolCalls,
        stop,
        usage: body.usage && { prompt: body.usage.input_tokens, completion: body.usage.output_tokens, total: body.usage.total_tokens },
        output: body.output,
        response: body,
      };
    },
    streamed(events) {
      const out = { model: undefined, text: '', toolCalls: [], argDeltas: 0, stop: undefined, usage: null, error: null, done: false, labels: [], final: null };
      let seq = -1;
      const calls = new Map();
      for (const ev of events) {
        const j = ev.json;
        assert.ok(j, `a JSON event: ${ev.data}`);
        assert.equal(ev.event, j.type, 'the event name repeats the data type');
        out.labels.push(j.type);
        assert.equal(j.sequence_number, seq + 1, `sequence numbers count up: ${ev.data}`);
        seq = j.sequence_number;
        switch (j.type) {
          case 'response.created':
            out.model = j.response.model;
            assert.equal(j.response.status, 'in_progress');
            break;
          case 'response.output_item.added':
            if (j.item.type === 'function_call') {
              const call = { id: j.item.call_id, name: j.item.name, arguments: '' };
              calls.set(j.item.id, call);
              out.toolCalls.push(call);
            }
            break;
          case 'response.output_text.delta':
            out.text += j.delta;
            break;
          case 'response.function_call_arguments.delta':
            calls.get(j.item_id).arguments += j.delta;
            out.argDeltas += 1;
            break;
          case 'response.completed':
          case 'response.incomplete':
          case 'response.failed': {
            out.done = true;
            out.final = j.response;
            const a = INGRESS['openai-responses'].answer(j.response);
            out.stop = a.stop;
            out.usage = a.usage;
            break;
          }
          case 'error':
            out.error = j;
            break;
          default:
        }
      }
      return out;
    },
    /** The items that send an answer back: its output items as they are. */
    assistantTurn: (body) => ({ raw: body.output }),
    assistantFromStream: (s) => ({ raw: s.final.output }),
    toolResultTurn: (call, content) => ({ raw: { type: 'function_call_output', call_id: call.id, output: content } }),
    assertError(r, status, context) {
      assert.equal(r.status, status, `${context}: ${r.text}`);
      assertErrorShape(r.json(), context);
    },
    assertStreamError(events, s, context) {
      assert.ok(s.error, `${context}: an error event`);
      // https://platform.openai.com/docs/api-reference/responses-streaming/error
      for (const k of ['code', 'message', 'param', 'sequence_number']) assert.ok(k in s.error, `${context}: error event has ${k}`);
      assert.equal(events.at(-1).event, 'error', `${context}: the error event comes last`);
      assert.equal(s.done, false, `${context}: no response.completed after an error`);
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Provider kinds: reading what Shepherd sent upstream (a /mock/last-request record).

const textOfAnthropic = (content) =>
  typeof content === 'string' ? content : (content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');

export const UPSTREAM = {
  openai: {
    name: 'openai',
    /** The upstream model id of the conformance deployments. */
    model: 'gpt-4.1',
    system: (b) => b.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textOfOpenAIContent(m.content)).join('\n\n'),
    turns: (b) => b.messages.filter((m) => m.role !== 'system' && m.role !== 'developer').map((m) => ({ role: m.role, text: textOfOpenAIContent(m.content) })),
    toolNames: (b) => (b.tools ?? []).map((t) => {
      assert.equal(t.type, 'function');
      return t.function.name;
    }),
    toolResult(b) {
      const m = b.messages.find((x) => x.role === 'tool');
      return m && { id: m.tool_call_id, content: textOfOpenAIContent(m.content) };
    },
    image(b) {
      for (const m of b.messages) {
        for (const p of Array.isArray(m.content) ? m.content : []) if (p.type === 'image_url') return { url: p.image_url.url };
      }
      return undefined;
    },
    /** The credential header the provider key travels in. */
    credential: (headers) => headers.authorization,
    credentialOf: (key) => `Bearer ${key}`,
  },
  anthropic: {
    name: 'anthropic',
    model: 'claude-sonnet-4-5',
    system: (b) => (typeof b.system === 'string' ? b.system : (b.system ?? []).map((x) => x.text).join('\n\n')),
    turns: (b) => b.messages.map((m) => ({ role: m.role, text: textOfAnthropic(m.content) })),
    toolNames: (b) => (b.tools ?? []).map((t) => {
      assert.ok(t.input_schema, `tool ${t.name} has input_schema`);
      return t.name;
    }),
    toolResult(b) {
      for (const m of b.messages) {
        for (const x of Array.isArray(m.content) ? m.content : []) {
          if (x.type === 'tool_result') {
            assert.equal(m.role, 'user', 'tool results travel in user turns');
            return { id: x.tool_use_id, content: textOfAnthropic(x.content) };
          }
        }
      }
      return undefined;
    },
    image(b) {
      for (const m of b.messages) {
        for (const x of Array.isArray(m.content) ? m.content : []) {
          if (x.type === 'image') return x.source.type === 'url' ? { url: x.source.url } : { data: x.source.data, mediaType: x.source.media_type };
        }
      }
      return undefined;
    },
    credential: (headers) => headers['x-api-key'],
    credentialOf: (key) => key,
  },
  gemini: {
    name: 'gemini',
    model: 'gemini-2.5-flash',
    system: (b) => (b.systemInstruction?.parts ?? []).map((p) => p.text).join('\n\n'),
    turns: (b) => b.contents.map((c) => ({ role: c.role, text: c.parts.filter((p) => typeof p.text === 'string' && !p.thought).map((p) => p.text).join('') })),
    toolNames: (b) => (b.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name)),
    toolResult(b) {
      for (const c of b.contents) {
        for (const p of c.parts) {
          if (p.functionResponse) {
            assert.equal(c.role, 'user', 'function responses travel in user turns');
            return { id: p.functionResponse.id, name: p.functionResponse.name, content: p.functionResponse.response };
          }
        }
      }
      return undefined;
    },
    image(b) {
      for (const c of b.contents) {
        for (const p of c.parts) {
          if (p.inlineData) return { data: p.inlineData.data, mediaType: p.inlineData.mimeType };
          if (p.fileData) return { url: p.fileData.fileUri };
        }
      }
      return undefined;
    },
    credential: (headers) => headers['x-goog-api-key'],
    credentialOf: (key) => key,
  },
};

/** The target a request of `kind` must reach for a chat (stream or not). */
export function upstreamTarget(kind, stream) {
  if (kind === 'openai') return '/v1/chat/completions';
  if (kind === 'anthropic') return '/v1/messages';
  return `/v1beta/models/${UPSTREAM.gemini.model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`;
}

// ---------------------------------------------------------------------------------------------
// Normalising the spellings the references declare equal, before comparing whole bodies.

const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

function camelKeys(v, underSchema = false) {
  if (Array.isArray(v)) return v.map((x) => camelKeys(x, underSchema));
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    // Field names inside a JSON Schema, function arguments or a function response are the
    // caller's, not the API's.
    const key = underSchema ? k : camel(k);
    const opaque = underSchema || ['parametersJsonSchema', 'parameters', 'args', 'response', 'responseJsonSchema', 'responseSchema'].includes(key);
    out[key] = camelKeys(x, opaque);
  }
  return out;
}

/** One text part ≡ a plain string (both OpenAI and Anthropic accept either). */
function oneTextPart(content, textType) {
  if (Array.isArray(content) && content.length === 1 && content[0].type === textType && Object.keys(content[0]).length === 2) return content[0].text;
  return content;
}

export function normaliseUpstream(kind, body) {
  const b = structuredClone(body);
  if (kind === 'openai') {
    for (const m of b.messages ?? []) m.content = oneTextPart(m.content, 'text');
    return b;
  }
  if (kind === 'anthropic') {
    b.system = oneTextPart(b.system, 'text');
    for (const m of b.messages ?? []) {
      m.content = oneTextPart(m.content, 'text');
      for (const x of Array.isArray(m.content) ? m.content : []) {
        if (x.type === 'tool_result') x.content = oneTextPart(x.content, 'text');
      }
    }
    return b;
  }
  return camelKeys(b);
}
