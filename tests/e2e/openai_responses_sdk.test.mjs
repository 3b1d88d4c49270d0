// End to end with the official OpenAI SDK's Responses API (client.responses) as the client, against
// Shepherd in front of the mock upstream speaking each provider dialect; and chat completions with
// tools, streamed through Anthropic-kind and Gemini-kind deployments.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import {
  anthropicProvider,
  cleanup,
  gatewayConfig,
  geminiProvider,
  lastRequestBody,
  mockContent,
  openaiProvider,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const KEY = 'sk-e2e-responses-sdk';
const KINDS = ['openai', 'anthropic', 'gemini'];
const PROVIDER = { openai: openaiProvider, anthropic: anthropicProvider, gemini: geminiProvider };
const T = { timeout: 15000 };

const QUESTION = 'What is the weather in Paris?';
const parameters = { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] };
const responseTools = [{ type: 'function', name: 'get_weather', description: 'Get the weather', parameters, strict: false }];
const chatTools = [{ type: 'function', function: { name: 'get_weather', description: 'Get the weather', parameters } }];

/** The system prompt as each upstream dialect carries it. */
function upstreamSystem(kind, body) {
  if (kind === 'openai') return body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.content).join('\n\n');
  if (kind === 'anthropic') return typeof body.system === 'string' ? body.system : body.system.map((b) => b.text).join('\n\n');
  return body.systemInstruction.parts.map((p) => p.text).join('\n\n');
}

/**
 * The text of a response's message items. The SDK adds `output_text` to what responses.create
 * returns, but (in 5.23) not to stream.finalResponse() unless the request asks for parsing.
 */
const outputText = (response) =>
  response.output
    .filter((o) => o.type === 'message')
    .flatMap((o) => o.content)
    .filter((c) => c.type === 'output_text')
    .map((c) => c.text)
    .join('');

describe('OpenAI SDK Responses API through Shepherd', { timeout: 60000 }, () => {
  let client;
  let mock;

  before(async () => {
    mock = await startMock();
    const providers = {};
    const models = {};
    for (const k of KINDS) {
      providers[k] = PROVIDER[k](mock);
      models[`via-${k}`] = { deployments: [{ provider: k, model: `upstream-${k}` }] };
    }
    const shepherd = await startShepherd(
      gatewayConfig({ server: { api_keys: ['env:SHEPHERD_API_KEY'] }, providers, models }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
    client = new OpenAI({ baseURL: `${shepherd.url}/v1`, apiKey: KEY, maxRetries: 0, timeout: 10000 });
  });
  after(cleanup);

  const lastBody = async () => lastRequestBody(await mock.lastRequest());

  test('previous_response_id → BadRequestError (Shepherd keeps no state)', T, async () => {
    await assert.rejects(
      client.responses.create({ model: 'via-openai', input: 'Hi', previous_response_id: 'resp_abc123' }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 400);
        assert.equal(err.param, 'previous_response_id');
        return true;
      },
    );
  });

  for (const kind of KINDS) {
    const model = `via-${kind}`;

    test(`${kind}: responses.create with instructions → output_text`, T, async () => {
      const response = await client.responses.create({ model, instructions: 'You are terse.', input: 'Say hello to the gateway' });
      assert.equal(response.object, 'response');
      assert.equal(response.status, 'completed');
      assert.equal(response.model, model);
      assert.equal(response.output_text, mockContent(8));
      assert.equal(response.usage.input_tokens, 8, 'the mock counts 3 + 5 words');
      assert.equal(response.usage.output_tokens, 8);
      assert.equal(response.usage.total_tokens, 16);
      assert.equal(upstreamSystem(kind, await lastBody()), 'You are terse.', 'instructions became the system prompt');
    });

    test(`${kind}: multi-turn input items`, T, async () => {
      const response = await client.responses.create({
        model,
        input: [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: [{ type: 'input_text', text: 'second question' }] },
        ],
      });
      assert.equal(response.output_text, mockContent(8));
      assert.equal(response.usage.input_tokens, 6);
      const sent = JSON.stringify(await lastBody());
      const order = ['first question', 'first answer', 'second question'].map((t) => sent.indexOf(t));
      assert.ok(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1])), `turns in order upstream: ${sent}`);
    });

    test(`${kind}: max_output_tokens small → status incomplete`, T, async () => {
      const response = await client.responses.create({ model, input: 'Tell me a story', max_output_tokens: 3 });
      assert.equal(response.status, 'incomplete');
      assert.equal(response.incomplete_details?.reason, 'max_output_tokens');
      assert.equal(response.output_text, mockContent(3));
    });

    test(`${kind}: function tools, then function_call_output`, T, async () => {
      const first = await client.responses.create({ model, input: QUESTION, tools: responseTools });
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call, JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.arguments), { query: QUESTION });
      assert.equal(typeof call.call_id, 'string');
      assert.equal(first.output_text, '');

      const second = await client.responses.create({
        model,
        tools: responseTools,
        input: [{ role: 'user', content: QUESTION }, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: 'Sunny, 22°C' }],
      });
      assert.equal(second.status, 'completed');
      assert.equal(second.output_text, mockContent(8));
      const sent = JSON.stringify(await lastBody());
      assert.ok(sent.includes('Sunny, 22°C'), `the tool output went upstream: ${sent}`);
    });

    test(`${kind}: stream: true yields response.created … response.completed`, T, async () => {
      const stream = await client.responses.create({ model, input: 'Say hello', stream: true });
      const types = [];
      let text = '';
      let completed;
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
        if (event.type === 'response.completed') completed = event.response;
      }
      assert.equal(types[0], 'response.created');
      assert.equal(types.at(-1), 'response.completed');
      assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 8);
      assert.equal(text, mockContent(8));
      assert.equal(completed.model, model);
      assert.equal(completed.usage.output_tokens, 8);
    });

    test(`${kind}: responses.stream() → finalResponse()`, T, async () => {
      const stream = client.responses.stream({ model, input: 'Say hello' });
      const deltas = [];
      stream.on('response.output_text.delta', (e) => deltas.push(e.delta));
      const response = await stream.finalResponse();
      assert.equal(response.status, 'completed');
      assert.equal(outputText(response), mockContent(8));
      assert.equal(deltas.join(''), mockContent(8));
      assert.equal(response.usage.input_tokens, 2);
    });

    test(`${kind}: a function call streamed, then its output streamed`, T, async () => {
      const stream = client.responses.stream({ model, input: QUESTION, tools: responseTools });
      const pieces = [];
      stream.on('response.function_call_arguments.delta', (e) => pieces.push(e.delta));
      const first = await stream.finalResponse();
      const call = first.output.find((o) => o.type === 'function_call');
      assert.ok(call, JSON.stringify(first.output));
      assert.deepEqual(JSON.parse(call.arguments), { query: QUESTION });
      assert.ok(kind === 'gemini' ? pieces.length >= 1 : pieces.length > 1, `arguments arrived in ${pieces.length} deltas`);
      assert.equal(pieces.join(''), call.arguments);

      const second = await client.responses
        .stream({ model, tools: responseTools, input: [{ role: 'user', content: QUESTION }, ...first.output, { type: 'function_call_output', call_id: call.call_id, output: 'Sunny' }] })
        .finalResponse();
      assert.equal(outputText(second), mockContent(8));
    });
  }

  for (const kind of ['anthropic', 'gemini']) {
    const model = `via-${kind}`;

    test(`chat.completions with tools streamed through a ${kind}-kind model, then the tool result`, T, async () => {
      const messages = [{ role: 'user', content: QUESTION }];
      const stream = client.chat.completions.stream({ model, messages, tools: chatTools, stream_options: { include_usage: true } });
      const pieces = [];
      stream.on('tool_calls.function.arguments.delta', (e) => pieces.push(e.arguments_delta));
      const completion = await stream.finalChatCompletion();
      const choice = completion.choices[0];
      assert.equal(choice.finish_reason, 'tool_calls');
      assert.equal(choice.message.tool_calls.length, 1);
      const [call] = choice.message.tool_calls;
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { query: QUESTION });
      assert.ok(kind === 'gemini' ? pieces.length >= 1 : pieces.length > 1, `arguments arrived in ${pieces.length} deltas`);
      assert.equal(completion.usage?.completion_tokens, 3, 'usage at the end of the stream');

      messages.push(choice.message, { role: 'tool', tool_call_id: call.id, content: 'Sunny, 22°C' });
      const chunks = await client.chat.completions.create({ model, messages, tools: chatTools, stream: true });
      let text = '';
      let finish;
      for await (const chunk of chunks) {
        assert.equal(chunk.model, model);
        text += chunk.choices[0]?.delta?.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(text, mockContent(8));
      assert.equal(finish, 'stop');
      const sent = JSON.stringify(await lastBody());
      assert.ok(sent.includes('Sunny, 22°C'), `the tool result went upstream: ${sent}`);
    });
  }
});
