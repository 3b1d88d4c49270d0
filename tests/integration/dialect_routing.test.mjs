// Routing across dialects: a deployment whose provider cannot express a request is skipped (not
// judged, not retried) and the next deployment or fallback of another kind serves it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  bearer,
  cleanup,
  gatewayConfig,
  geminiProvider,
  openaiProvider,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const KEY = 'sk-dialect-routing';
const imageUrlRequest = (model) => ({
  model,
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
      ],
    },
  ],
});

describe('routing across dialects', { timeout: 60000 }, () => {
  let mock;
  let shepherd;
  const post = (body) =>
    request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body, headers: bearer(KEY) });

  before(async () => {
    mock = await startMock();
    shepherd = await startShepherd(
      gatewayConfig({
        server: { api_keys: ['env:SHEPHERD_API_KEY'] },
        providers: { gem: geminiProvider(mock), oai: openaiProvider(mock) },
        models: {
          // Gemini first: it cannot take an image URL, so the OpenAI deployment serves.
          both: {
            strategy: 'cheapest',
            deployments: [
              { id: 'both-gemini', provider: 'gem', price: { input: 1, output: 1 } },
              { id: 'both-openai', provider: 'oai', price: { input: 2, output: 2 } },
            ],
          },
          'gemini-only': { deployments: [{ id: 'only-gemini', provider: 'gem' }] },
          'with-fallback': { fallbacks: ['openai-model'], deployments: [{ id: 'fb-gemini', provider: 'gem' }] },
          'openai-model': { deployments: [{ id: 'fb-openai', provider: 'oai' }] },
        },
      }),
      { env: { SHEPHERD_API_KEY: KEY } },
    );
  });
  after(cleanup);

  test('a deployment that cannot express the request is skipped for the next one', async () => {
    const r = await post(imageUrlRequest('both'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-shepherd-deployment'], 'both-openai');
    assert.equal(r.headers['x-shepherd-attempts'], '2');
  });

  test('a fallback model of another kind serves what the first cannot', async () => {
    const r = await post(imageUrlRequest('with-fallback'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-shepherd-deployment'], 'fb-openai');
    // Answers name the model that served them, as for every fallback.
    assert.equal(r.json().model, 'openai-model');
    assert.equal(r.headers['x-shepherd-model'], 'openai-model');
  });

  test('with nothing left the 400 names the deployment, at once and without a retry', async () => {
    const started = Date.now();
    const r = await post(imageUrlRequest('gemini-only'));
    assert.equal(r.status, 400, r.text);
    assert.match(r.json().error.message, /only-gemini/);
    assert.match(r.json().error.message, /data URL/);
    assert.equal(r.headers['x-shepherd-attempts'], '1');
    // No backoff was waited (a retry would wait at least the backoff base).
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    // The deployment was not judged by it: it still serves a plain request.
    const ok = await post({ model: 'gemini-only', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(ok.status, 200, ok.text);
  });
});
