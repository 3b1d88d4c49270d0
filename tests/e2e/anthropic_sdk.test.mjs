// End to end with the official Anthropic SDK (@anthropic-ai/sdk) as the client, against Shepherd in
// front of the mock upstream speaking each provider dialect: the same Messages calls must work
// whether the deployment is of kind openai, anthropic or gemini.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import Anthropic from '@anthropic-ai/sdk';

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

const KEY = 'sk-e2e-anthropic-sdk';
const KINDS = ['openai', 'anthropic', 'gemini'];
const PROVIDER = { openai: openaiProvider, anthropic: anthropicProvider, gemini: geminiProvider };
const T = { timeout: 15000 };

const tools = [
  {
    name: 'get_weather',
    description: 'Get the current weather in a given location',
    input_schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
];
const QUESTION = 'What is the weather in Paris?';

describe('Anthropic SDK through Shepherd', { timeout: 60000 }, () => {
  let client;
  let shepherd;
  let mock;

  before(async () => {
    let limited;
    [mock, limited] = await Promise.all([startMock(), startMock({ fault: 'status=429' })]);
    const providers = {};
    const models = {};
    for (const k of KINDS) {
      providers[k] = PROVIDER[k](mock);
      providers[`limited-${k}`] = PROVIDER[k](limited);
      models[`claude-via-${k}`] = { deployments: [{ provider: k, model: `upstream-${k}` }] };
      models[`limited-${k}`] = { deployments: [{ provider: `limited-${k}` }] };
    }
    const config = gatewayConfig({ server: { api_keys: ['env:SHEPHERD_API_KEY'] }, providers, models });
    config.routing = { max_attempts: 1 };
    shepherd = await startShepherd(config, { env: { SHEPHERD_API_KEY: KEY } });
    // An explicit key and base URL: the SDK then reads no credentials or host from the environment.
    client = new Anthropic({ apiKey: KEY, baseURL: shepherd.url, maxRetries: 0, timeout: 10000 });
  });
  after(cleanup);

  const lastBody = async () => lastRequestBody(await mock.lastRequest());

  test('models.list() lists the configured models', T, async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.type, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids.sort(), ['claude-via-anthropic', 'claude-via-gemini', 'claude-via-openai', 'limited-anthropic', 'limited-gemini', 'limited-openai']);
  });

  test('unknown model → NotFoundError', T, async () => {
    await assert.rejects(
      client.messages.create({ model: 'no-such-model', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }),
      (err) => {
        assert.ok(err instanceof Anthropic.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 404);
        assert.equal(err.error?.type, 'error');
        assert.equal(err.error?.error?.type, 'not_found_error');
        return true;
      },
    );
  });

  test('wrong key → AuthenticationError', T, async () => {
    const wrong = new Anthropic({ apiKey: 'sk-wrong', baseURL: shepherd.url, maxRetries: 0, timeout: 10000 });
    await assert.rejects(
      wrong.messages.create({ model: 'claude-via-anthropic', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }),
      (err) => {
        assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 401);
        assert.equal(err.error?.error?.type, 'authentication_error');
        return true;
      },
    );
  });

  for (const kind of KINDS) {
    const model = `claude-via-${kind}`;

    test(`${kind}: messages.create answers a message`, T, async () => {
      const message = await client.messages.create({
        model,
        max_tokens: 200,
        system: 'You are terse.',
        messages: [{ role: 'user', content: 'Say hello to the gateway' }],
      });
      assert.equal(message.type, 'message');
      assert.equal(message.role, 'assistant');
      assert.equal(message.model, model);
      assert.equal(message.stop_reason, 'end_turn');
      assert.deepEqual(message.content, [{ type: 'text', text: mockContent(8) }]);
      assert.equal(message.usage.input_tokens, 8, 'the mock counts 3 + 5 words');
      assert.equal(message.usage.output_tokens, 8);
    });

    test(`${kind}: messages.stream delivers text events and a final message with usage`, T, async () => {
      const stream = client.messages.stream({
        model,
        max_tokens: 200,
        messages: [
          { role: 'user', content: 'first question' },
          { role: 'assistant', content: 'first answer' },
          { role: 'user', content: 'second question' },
        ],
      });
      const deltas = [];
      stream.on('text', (delta) => deltas.push(delta));
      const message = await stream.finalMessage();
      assert.equal(deltas.length, 8, 'one text event per token');
      assert.equal(deltas.join(''), mockContent(8));
      assert.equal(message.model, model);
      assert.equal(message.stop_reason, 'end_turn');
      assert.deepEqual(message.content, [{ type: 'text', text: mockContent(8) }]);
      assert.equal(message.usage.input_tokens, 6);
      assert.equal(message.usage.output_tokens, 8);
    });

    test(`${kind}: max_tokens small → stop_reason max_tokens`, T, async () => {
      const message = await client.messages.create({ model, max_tokens: 2, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(message.stop_reason, 'max_tokens');
      assert.equal(message.content[0].text, mockContent(2));
    });

    test(`${kind}: tool_use, then the tool_result`, T, async () => {
      const messages = [{ role: 'user', content: QUESTION }];
      const first = await client.messages.create({ model, max_tokens: 200, tools, messages });
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.ok(use, JSON.stringify(first.content));
      assert.equal(use.name, 'get_weather');
      assert.deepEqual(use.input, { query: QUESTION });
      assert.equal(typeof use.id, 'string');

      messages.push({ role: 'assistant', content: first.content });
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 22°C' }] });
      const second = await client.messages.create({ model, max_tokens: 200, tools, messages });
      assert.equal(second.stop_reason, 'end_turn');
      assert.equal(second.content[0].text, mockContent(8));
      const sent = JSON.stringify(await lastBody());
      assert.ok(sent.includes('Sunny, 22°C'), `the tool result went upstream: ${sent}`);
    });

    test(`${kind}: tool_use streamed (input as JSON deltas), then the tool_result streamed`, T, async () => {
      const messages = [{ role: 'user', content: QUESTION }];
      const stream = client.messages.stream({ model, max_tokens: 200, tools, messages });
      const pieces = [];
      stream.on('inputJson', (partial) => pieces.push(partial));
      const first = await stream.finalMessage();
      assert.equal(first.stop_reason, 'tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      assert.ok(use, JSON.stringify(first.content));
      assert.deepEqual(use.input, { query: QUESTION }, 'the SDK reassembled the input');
      // OpenAI and Anthropic upstreams stream arguments in pieces; Gemini sends a call whole.
      assert.ok(kind === 'gemini' ? pieces.length >= 1 : pieces.length > 1, `input arrived in ${pieces.length} pieces`);
      assert.deepEqual(JSON.parse(pieces.join('')), { query: QUESTION });

      messages.push({ role: 'assistant', content: first.content });
      messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 22°C' }] });
      const text = await client.messages.stream({ model, max_tokens: 200, tools, messages }).finalText();
      assert.equal(text, mockContent(8));
    });

    test(`${kind}: extended thinking, streamed`, T, async () => {
      const stream = client.messages.stream({
        model,
        max_tokens: 2048,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        messages: [{ role: 'user', content: 'Think it over' }],
      });
      let thinking = '';
      stream.on('thinking', (delta) => {
        thinking += delta;
      });
      const message = await stream.finalMessage();
      const text = message.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      assert.equal(text, mockContent(8));
      const block = message.content.find((b) => b.type === 'thinking');
      if (kind === 'openai') {
        // OpenAI chat shows no reasoning: the answer is text only.
        assert.equal(block, undefined);
        return;
      }
      assert.ok(block, JSON.stringify(message.content));
      assert.equal(message.content[0], block, 'thinking comes first');
      assert.equal(block.thinking, 'Thinking about the question.');
      assert.equal(thinking, block.thinking);
      // Anthropic signs its thinking; Gemini's thoughts carry no signature.
      if (kind === 'anthropic') assert.match(block.signature, /^mock-signature-\d+$/);
    });

    test(`${kind}: messages.countTokens`, T, async () => {
      const counted = await client.messages.countTokens({
        model,
        system: 'You are terse.',
        messages: [{ role: 'user', content: 'How many tokens is this?' }],
      });
      assert.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, JSON.stringify(counted));
    });

    test(`${kind}: upstream 429 → RateLimitError`, T, async () => {
      await assert.rejects(
        client.messages.create({ model: `limited-${kind}`, max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }),
        (err) => {
          assert.ok(err instanceof Anthropic.RateLimitError, `got ${err?.constructor?.name}: ${err?.message}`);
          assert.equal(err.status, 429);
          assert.equal(err.error?.error?.type, 'rate_limit_error');
          return true;
        },
      );
    });
  }
});
