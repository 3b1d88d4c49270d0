// The cost of a streamed answer in its final usage, in every client dialect: OpenAI chat's
// usage chunk (usage.cost), Anthropic's message_delta (usage.cost) and the Responses API's
// response.completed (response.usage.cost), passed through or translated.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  anthropicHeaders,
  anthropicProvider,
  bearer,
  cleanup,
  gatewayConfig,
  openaiProvider,
  request,
  sseEvents,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const KEY = 'sk-stream-cost';
const PRICE = { input: 3, output: 7 };
const cost = (input, output) => (input * PRICE.input + output * PRICE.output) / 1e6;

async function events(res) {
  const out = [];
  for await (const ev of sseEvents(res)) out.push({ event: ev.fields.event ?? null, json: ev.json });
  return out;
}

describe('the cost of a stream in its final usage', { timeout: 60000 }, () => {
  let shepherd;
  const stream = (path, body, headers) =>
    fetch(`${shepherd.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  before(async () => {
    const mock = await startMock();
    shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:KEY'] },
        providers: { oa: openaiProvider(mock), an: anthropicProvider(mock) },
        models: {
          'via-openai': { deployments: [{ provider: 'oa', price: PRICE }] },
          'via-anthropic': { deployments: [{ provider: 'an', model: 'claude-sonnet-4.5', price: PRICE }] },
        },
      }),
      { env: { KEY } },
    );
  });
  after(cleanup);

  for (const model of ['via-anthropic', 'via-openai']) {
    test(`Anthropic client, ${model}: message_delta carries usage.cost`, async () => {
      const res = await stream('/v1/messages', { model, max_tokens: 32, stream: true, messages: [{ role: 'user', content: 'hello there' }] }, anthropicHeaders(KEY));
      assert.equal(res.status, 200);
      const evs = await events(res);
      const start = evs.find((e) => e.event === 'message_start').json.message.usage;
      const delta = evs.find((e) => e.event === 'message_delta').json.usage;
      const input = (start.input_tokens ?? 0) || (delta.input_tokens ?? 0);
      assert.ok(delta.output_tokens > 0 && input > 0, JSON.stringify({ start, delta }));
      assert.ok(Math.abs(delta.cost - cost(input, delta.output_tokens)) < 1e-12, JSON.stringify(delta));
    });

    test(`Responses client, ${model}: response.completed carries usage.cost`, async () => {
      const res = await stream('/v1/responses', { model, stream: true, input: 'hello there' }, bearer(KEY));
      assert.equal(res.status, 200);
      const done = (await events(res)).find((e) => e.event === 'response.completed').json.response.usage;
      assert.ok(Math.abs(done.cost - cost(done.input_tokens, done.output_tokens)) < 1e-12, JSON.stringify(done));
    });

    test(`OpenAI client, ${model}: the usage chunk carries usage.cost`, async () => {
      const res = await stream('/v1/chat/completions', { model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hello there' }] }, bearer(KEY));
      assert.equal(res.status, 200);
      const usage = (await events(res)).map((e) => e.json?.usage).find(Boolean);
      assert.ok(Math.abs(usage.cost - cost(usage.prompt_tokens, usage.completion_tokens)) < 1e-12, JSON.stringify(usage));
    });
  }

  test('a non-streamed answer has no cost inside its body, only the header', async () => {
    const r = await request(`${shepherd.url}/v1/messages`, { method: 'POST', headers: anthropicHeaders(KEY), body: { model: 'via-anthropic', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(r.status, 200);
    assert.equal(r.json().usage.cost, undefined);
    assert.ok(Number(r.headers['x-shepherd-cost']) > 0);
  });
});
