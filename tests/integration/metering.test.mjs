// Metering when the upstream reports no usage: the tokens are estimated, the record says so,
// and the cost still reaches the client and the metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  geminiProvider,
  metricValue,
  mockContent,
  openaiProvider,
  parseMetrics,
  readSSE,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const KEY = 'sk-metering';
const PRICE = { input: 2, output: 4 };

describe('metering without upstream usage', { timeout: 60000 }, () => {
  let shepherd;
  const post = (body) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body, headers: bearer(KEY) });
  const estimated = async (model) => {
    const samples = parseMetrics((await request(`${shepherd.url}/metrics`)).text);
    return {
      requests: metricValue(samples, 'shepherd_estimated_usage_requests_total', { model }),
      prompt: metricValue(samples, 'shepherd_tokens_total', { model, kind: 'prompt' }),
      completion: metricValue(samples, 'shepherd_tokens_total', { model, kind: 'completion' }),
    };
  };

  before(async () => {
    const silent = await startMock({ fault: 'no-usage' });
    const honest = await startMock();
    shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:SHEPHERD_API_KEY'] },
        providers: { silent: openaiProvider(silent), gsilent: geminiProvider(silent), honest: openaiProvider(honest) },
        models: {
          silent: { deployments: [{ provider: 'silent', price: PRICE }] },
          'silent-stream': { deployments: [{ provider: 'silent', price: PRICE }] },
          'gemini-silent': { deployments: [{ provider: 'gsilent', model: 'gemini-2.5-flash', price: PRICE }] },
          honest: { deployments: [{ provider: 'honest', price: PRICE }] },
        },
      }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
  });
  after(cleanup);

  test('a non-streamed answer without usage is metered by estimate and priced', async () => {
    const r = await post(chatBody('silent', { content: 'Tell me something nice please' }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json().usage, undefined, 'the mock sent no usage and Shepherd adds none');
    const m = await estimated('silent');
    assert.equal(m.requests, 1);
    assert.ok(m.prompt > 0 && m.completion > 0, JSON.stringify(m));
    assert.equal(Number(r.headers['x-shepherd-cost']), (m.prompt * PRICE.input + m.completion * PRICE.output) / 1e6);
  });

  test('a stream without usage is metered by its content events', async () => {
    const res = await fetchChat(shepherd.url, chatBody('silent-stream', { stream: true }), { key: KEY });
    const sse = await readSSE(res);
    assert.equal(sse.done, true);
    const m = await estimated('silent-stream');
    assert.equal(m.requests, 1);
    assert.equal(m.completion, 8, 'one token per content chunk: the mock sent 8');
    assert.ok(m.prompt > 0);
  });

  test('a translated stream without usage is metered by the decoded text', async () => {
    const res = await fetchChat(shepherd.url, chatBody('gemini-silent', { stream: true }), { key: KEY });
    const sse = await readSSE(res);
    assert.equal(sse.content, mockContent(8));
    const m = await estimated('gemini-silent');
    assert.equal(m.requests, 1);
    assert.equal(m.completion, Math.ceil(mockContent(8).length / 4));
  });

  test('reported usage is not an estimate', async () => {
    const r = await post(chatBody('honest'));
    assert.equal(r.status, 200, r.text);
    const m = await estimated('honest');
    assert.equal(m.requests, 0);
    assert.equal(m.completion, r.json().usage.completion_tokens);
  });
});
