// End to end with the official OpenAI SDK against Shepherd in front of the mock upstream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import OpenAI from 'openai';

import { cleanup, gatewayConfig, mockContent, openaiProvider, startMock, startShepherd, wordCount } from '../support/harness.mjs';

const KEY = 'sk-e2e-sdk-key';
const MODELS = ['gpt-4.1', 'claude-sonnet-4.5', 'rate-limited'];
const messages = [
  { role: 'system', content: 'You are a helpful assistant' },
  { role: 'user', content: 'Say hello' },
];
const PROMPT_TOKENS = wordCount({ messages }); // the mock counts words: 7

describe('OpenAI SDK through Shepherd', { timeout: 60000 }, () => {
  let client;

  before(async () => {
    const [mock, limited] = await Promise.all([startMock(), startMock({ fault: 'status=429,retry-after=7' })]);
    const shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:SHEPHERD_API_KEY'] },
        providers: { mock: openaiProvider(mock), limited: openaiProvider(limited) },
        models: {
          'gpt-4.1': { deployments: [{ provider: 'mock', model: 'upstream-gpt-4.1' }] },
          'claude-sonnet-4.5': { deployments: [{ provider: 'mock' }] },
          'rate-limited': { deployments: [{ provider: 'limited' }] },
        },
      }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
    client = new OpenAI({ baseURL: `${shepherd.url}/v1`, apiKey: KEY, maxRetries: 0, timeout: 15000 });
  });
  after(cleanup);

  test('models.list() returns the configured ids', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), [...MODELS].sort());
  });

  test('chat.completions.create (non-stream): content, usage, client model name', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4.1', messages });
    assert.equal(completion.model, 'gpt-4.1');
    const content = completion.choices[0].message.content;
    assert.equal(typeof content, 'string');
    assert.ok(content.length > 0);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.ok(completion.usage, 'usage present');
    assert.equal(completion.usage.prompt_tokens, PROMPT_TOKENS);
    assert.ok(completion.usage.completion_tokens > 0);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  });

  test('stream: true — the deltas concatenate to the non-stream content', async () => {
    const nonStream = await client.chat.completions.create({ model: 'gpt-4.1', messages });
    const nonStreamContent = nonStream.choices[0].message.content;
    assert.ok(nonStreamContent);
    const stream = await client.chat.completions.create({ model: 'gpt-4.1', messages, stream: true });
    let content = '';
    let chunks = 0;
    let finish = null;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.model, 'gpt-4.1');
      assert.equal(chunk.usage ?? null, null, 'no usage unless asked');
      const choice = chunk.choices[0];
      if (choice?.delta?.content) content += choice.delta.content;
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    assert.ok(chunks > 1);
    assert.equal(content, nonStreamContent);
    assert.equal(content, mockContent(8), "the mock's deterministic content");
    assert.equal(finish, 'stop');
  });

  test('stream_options.include_usage yields a final chunk with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-sonnet-4.5', messages, stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage, 'the final chunk carries usage');
    assert.equal(last.usage.prompt_tokens, PROMPT_TOKENS);
    assert.ok(last.usage.completion_tokens > 0);
    assert.equal(last.model, 'claude-sonnet-4.5');
  });

  test('unknown model → NotFoundError (404)', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err?.message}`);
        assert.equal(err.status, 404);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
  });

  test('wrong key → AuthenticationError (401)', async () => {
    const wrong = new OpenAI({ baseURL: client.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 401);
      return true;
    });
    await assert.rejects(wrong.chat.completions.create({ model: 'gpt-4.1', messages }), OpenAI.AuthenticationError);
  });

  test('upstream 429 → RateLimitError (maxRetries: 0)', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'rate-limited', messages }), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.status, 429);
      assert.equal(err.headers?.get?.('retry-after') ?? err.headers?.['retry-after'], '7');
      return true;
    });
  });
});
