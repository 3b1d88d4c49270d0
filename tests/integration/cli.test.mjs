// `shepherd check` and `shepherd config validate`, and serve refusing a bad config.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  cleanup,
  gatewayConfig,
  makeTempDir,
  openaiProvider,
  runCli,
  startMock,
  startShepherd,
  writeConfig,
} from '../support/harness.mjs';

const KEY = 'sk-cli-test';
const env = { SHEPHERD_API_KEY: KEY, UPSTREAM_KEY: 'sk-upstream' };

const VALID_YAML = `server:
  listen: 127.0.0.1:0
  threads: 1
  api_keys: [env:SHEPHERD_API_KEY]
  cors: {origins: ["https://app.example.com"], credentials: true}
  limits: {max_body: 64KiB, max_headers: 8KiB, max_json_depth: 64}
  timeouts: {request: 30s, keepalive: 60s, drain: 5s}
providers:
  mock:
    kind: openai
    base_url: http://127.0.0.1:9/v1
    api_key: env:UPSTREAM_KEY
    pool: {max_idle: 20, max_connections: 100}
    timeouts: {connect: 5s, first_byte: 30s, idle: 60s, total: 120s}
    tls: {verify: true}
models:
  gpt-4.1:
    deployments:
      - {provider: mock, model: upstream-id, price: {input: 8.0, output: 8.0}}
  claude-x:
    deployments:
      - {provider: mock}
`;

describe('shepherd config validate', { timeout: 30000 }, () => {
  let dir;
  before(() => {
    dir = makeTempDir();
  });
  after(cleanup);

  test('a valid file → exit 0', async () => {
    const file = writeConfig(dir, VALID_YAML, 'valid.yaml');
    const r = await runCli(['config', 'validate', file], { env });
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  });

  test('the example price table (examples/prices.yaml) is a valid config', async () => {
    const file = new URL('../../examples/prices.yaml', import.meta.url).pathname;
    const r = await runCli(['config', 'validate', file], { env: { ...env, RELAY_API_KEY: 'x' } });
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /4 models: gpt-4.1, claude-sonnet-4.5, gemini-2.5-flash, deepseek-v3.2/);
  });

  test('a misspelt nested key → exit 1 naming the key path', async () => {
    const file = writeConfig(dir, VALID_YAML.replace('connect: 5s', 'conect: 5s'), 'typo.yaml');
    const r = await runCli(['config', 'validate', file], { env });
    assert.equal(r.code, 1, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stderr, /providers\.mock\.timeouts\.conect/);
  });

  test('an unknown top-level key → exit 1 naming it', async () => {
    const file = writeConfig(dir, `${VALID_YAML}loging: {level: debug}\n`, 'top.yaml');
    const r = await runCli(['config', 'validate', file], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /loging/);
  });

  test('a deployment naming an unknown provider → exit 1 naming the path', async () => {
    const file = writeConfig(dir, VALID_YAML.replace('{provider: mock}', '{provider: nope}'), 'provider.yaml');
    const r = await runCli(['config', 'validate', file], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /models\.claude-x\.deployments\[0\]\.provider/);
  });

  test('serve with an invalid config exits non-zero and names the key path', async () => {
    const file = writeConfig(dir, VALID_YAML.replace('max_body: 64KiB', 'max_bdy: 64KiB'), 'serve-bad.yaml');
    const r = await runCli(['serve', '--config', file], { env, timeoutMs: 10000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /server\.limits\.max_bdy/);
  });
});

describe('shepherd check', { timeout: 60000 }, () => {
  let mock;
  let failing;
  let good;
  let bad;

  before(async () => {
    [mock, failing] = await Promise.all([startMock(), startMock({ fault: 'status=500' })]);
    const server = { api_keys: ['env:SHEPHERD_API_KEY'] };
    [good, bad] = await Promise.all([
      startShepherd(gatewayConfig({
        server,
        providers: { mock: openaiProvider(mock) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock', model: 'up-1' }] }, 'claude-x': { deployments: [{ provider: 'mock' }] } },
      }), { env }),
      startShepherd(gatewayConfig({
        server,
        providers: { mock: openaiProvider(mock), broken: openaiProvider(failing) },
        models: { 'gpt-4.1': { deployments: [{ provider: 'mock' }] }, broken: { deployments: [{ provider: 'broken' }] } },
      }), { env }),
    ]);
  });
  after(cleanup);

  test('all models answer → exit 0 and "2/2 models answered"', async () => {
    await mock.reset();
    const r = await runCli(['check', '--url', good.url, '--key', KEY]);
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /2\/2 models answered/);
    // Progress as it goes, then the summary table.
    assert.match(r.stdout, /^\[1\/2\] \S+ \.\.\. ok in [\d.]+ ms$/m);
    assert.match(r.stdout, /^\[2\/2\] \S+ \.\.\. ok in [\d.]+ ms$/m);
    assert.match(r.stdout, /^model\s+result\s+latency ms\s+prompt\s+output\s+note\n-+\n/m);
    assert.equal((await mock.stats()).chat_requests, 2, 'one chat request per model');
  });

  test('a model whose upstream fails → non-zero exit', async () => {
    const r = await runCli(['check', '--url', bad.url, '--key', KEY]);
    assert.notEqual(r.code, 0, `stdout:\n${r.stdout}`);
    assert.match(r.stdout, /1\/2 models answered/);
    assert.match(r.stdout, /\.\.\. FAILED in [\d.]+ ms: HTTP \d+/);
  });

  test('a wrong key → non-zero exit', async () => {
    const r = await runCli(['check', '--url', good.url, '--key', 'sk-wrong']);
    assert.notEqual(r.code, 0, `stdout:\n${r.stdout}`);
  });
});
