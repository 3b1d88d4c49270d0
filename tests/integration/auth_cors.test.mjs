// API keys and CORS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  assertErrorShape,
  bearer,
  chatBody,
  cleanup,
  gatewayConfig,
  openaiProvider,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const KEY = 'sk-auth-test-key-1';
const KEY2 = 'sk-auth-test-key-2';
const ALLOWED = 'https://app.example.com';

describe('auth and CORS', { timeout: 60000 }, () => {
  let mock;
  let shepherd;

  before(async () => {
    mock = await startMock();
    shepherd = await startShepherd(
      gatewayConfig({
        server: {
          api_keys: ['env:SHEPHERD_API_KEY', 'env:SHEPHERD_API_KEY_2'],
          cors: { origins: [ALLOWED], credentials: true },
        },
        providers: { mock: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock' }] } },
      }),
      { env: { SHEPHERD_API_KEY: KEY, SHEPHERD_API_KEY_2: KEY2 } },
    );
  });
  after(cleanup);

  const models = (headers = {}) => request(`${shepherd.url}/v1/models`, { headers });
  const chat = (headers = {}) => request(`${shepherd.url}/v1/chat/completions`, { method: 'POST', body: chatBody('gpt-4.1'), headers });

  const assert401 = (r, context) => {
    assert.equal(r.status, 401, `${context}: ${r.text}`);
    const e = assertErrorShape(r.json(), context);
    assert.equal(e.code, 'invalid_api_key', context);
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer\b/, `${context}: www-authenticate`);
    assert.ok(r.headers['x-request-id'], `${context}: x-request-id`);
    return e;
  };

  test('missing key → 401 invalid_api_key mentioning "Authorization: Bearer", WWW-Authenticate: Bearer', async () => {
    const e = assert401(await models(), 'GET /v1/models without a key');
    assert.match(e.message, /Authorization: Bearer/);
    assert401(await chat(), 'POST /v1/chat/completions without a key');
  });

  test('wrong key → 401 invalid_api_key', async () => {
    assert401(await models(bearer('sk-wrong')), 'wrong key');
    assert401(await chat(bearer(`${KEY}x`)), 'key with a suffix');
    assert401(await chat(bearer(KEY.slice(0, -1))), 'key prefix');
    assert401(await chat({ authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }), 'Basic scheme');
  });

  test('refused requests never reach the upstream', async () => {
    await mock.reset();
    await chat();
    await chat(bearer('sk-wrong'));
    assert.equal((await mock.stats()).chat_requests, 0);
  });

  test('every configured key is accepted', async () => {
    assert.equal((await models(bearer(KEY))).status, 200);
    assert.equal((await models(bearer(KEY2))).status, 200);
    const r = await chat(bearer(KEY2));
    assert.equal(r.status, 200, r.text);
  });

  test('/health, /stats, /metrics need no key', async () => {
    for (const p of ['/health', '/stats', '/metrics']) {
      const r = await request(`${shepherd.url}${p}`);
      assert.equal(r.status, 200, `${p}: ${r.text}`);
    }
  });

  test('CORS: allowed origin gets allow-origin, allow-credentials and Vary: Origin', async () => {
    const r = await models({ ...bearer(KEY), origin: ALLOWED });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], ALLOWED);
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.match(r.headers.vary ?? '', /\bOrigin\b/i);
  });

  test('CORS: another origin gets no allow-origin header', async () => {
    const r = await models({ ...bearer(KEY), origin: 'https://evil.example.com' });
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  });

  test('CORS preflight from the allowed origin → 204 with allowed methods and headers (no key needed)', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    assert.equal(r.status, 204, r.text);
    assert.equal(r.headers['access-control-allow-origin'], ALLOWED);
    assert.match(r.headers['access-control-allow-methods'] ?? '', /\bPOST\b/);
    const allowHeaders = (r.headers['access-control-allow-headers'] ?? '').toLowerCase();
    assert.ok(allowHeaders.includes('authorization') || allowHeaders === '*', `allow-headers: ${allowHeaders}`);
    assert.ok(allowHeaders.includes('content-type') || allowHeaders === '*', `allow-headers: ${allowHeaders}`);
  });

  test('CORS preflight from a disallowed origin → 403', async () => {
    const r = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
  });
});
