// Who may see what, in a browser: signing in (the key kept in sessionStorage, never in a URL),
// what a key without admin rights is shown, virtual keys created and revoked on the Keys page,
// and the app served with its Content-Security-Policy on the UI listener and the API port.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { bearer, cleanup, openaiProvider, pollUntil, request, startMock } from '../support/harness.mjs';
import { MASTER, TEST_TIMEOUT_MS, UI_WAIT_MS, launchBrowser, openPage, screenshot, showPage, signIn, startGateway } from './support.mjs';

const STORAGE_KEY = 'shepherd.key'; // ui/src/api.js

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await cleanup();
});

async function startSimpleGateway(server = {}) {
  const mock = await startMock();
  return startGateway({
    providers: { mock: openaiProvider(mock) },
    models: { 'gpt-4.1': { deployments: [{ provider: 'mock' }] }, 'deepseek-v3.2': { deployments: [{ provider: 'mock' }] } },
    server,
  });
}

const storage = (page) =>
  page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage } }));

test('sign-in: a key is asked for, kept in sessionStorage only, and a key without admin rights sees no admin parts', { timeout: TEST_TIMEOUT_MS }, async () => {
  const gateway = await startSimpleGateway();
  const key = await gateway.createKey({ name: 'chat only' });
  const { page, requests, assertClean } = await openPage(browser);

  // The gateway needs a key: only the sign-in form is shown.
  await page.goto(gateway.uiUrl);
  await page.getByTestId('page-signin').waitFor({ timeout: UI_WAIT_MS });
  assert.ok(await page.getByTestId('nav-chat').isHidden());
  await screenshot(page, 'signin.png');

  // A key the gateway does not know is refused, and not kept.
  await page.getByTestId('signin-key').fill('sk-shep-not-a-key');
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('signin-error').filter({ hasText: /did not accept this key: 401/ }).waitFor({ timeout: UI_WAIT_MS });
  assert.deepEqual(await storage(page), { session: {}, local: {} });

  await page.getByTestId('signin-key').fill(key.secret);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-chat').waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await page.getByTestId('session-status').textContent(), `Key ${key.secret.slice(0, 12)}…`);
  assert.deepEqual(await storage(page), { session: { [STORAGE_KEY]: key.secret }, local: {} });

  // The key chats, but the Keys page and the dashboard's admin panels stay closed.
  assert.equal(await page.getByTestId('chat-no-api-key').count(), 0);
  await showPage(page, 'keys');
  await page.getByTestId('keys-locked').waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await page.getByTestId('key-form').count(), 0);
  await showPage(page, 'dashboard');
  await page.getByTestId('dash-admin-locked').waitFor({ timeout: UI_WAIT_MS });
  for (const panel of ['deployments', 'requests', 'spend']) assert.equal(await page.getByTestId(panel).count(), 0, panel);

  // A reload of the tab keeps the session; signing out forgets the key.
  await page.reload();
  await page.getByTestId('page-dashboard').waitFor({ timeout: UI_WAIT_MS });
  await page.getByTestId('sign-out').click();
  await page.getByTestId('page-signin').waitFor({ timeout: UI_WAIT_MS });
  assert.deepEqual(await storage(page), { session: {}, local: {} });

  // The key went out in headers only: in no URL the page loaded or showed.
  assert.ok(requests.length > 0);
  for (const url of [...requests, page.url()]) assert.ok(!url.includes(key.secret), `the key is in ${url}`);
  assertClean();
});

test('keys: a key created on the Keys page shows its secret once, works, and is refused once revoked', { timeout: TEST_TIMEOUT_MS }, async () => {
  const gateway = await startSimpleGateway();
  // One key made elsewhere, so that the table is not empty.
  await gateway.createKey({ name: 'batch jobs', rpm: 600, budget: { usd: 50, period: 'month' }, metadata: { team: 'data' } });
  const models = (secret) => request(`${gateway.url}/v1/models`, { headers: bearer(secret) });
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, MASTER);
  assert.equal(await page.getByTestId('session-status').textContent(), 'Master key');
  // The master key opens the admin API, not the chat API.
  await page.getByTestId('chat-no-api-key').waitFor({ timeout: UI_WAIT_MS });
  await showPage(page, 'keys');

  const form = page.getByTestId('key-form');
  await form.locator('[data-testid="key-model"][data-model="gpt-4.1"]').waitFor({ timeout: UI_WAIT_MS });
  await page.getByTestId('key-name').fill('playground');
  await form.locator('[data-testid="key-model"][data-model="gpt-4.1"]').check();
  await page.getByTestId('key-rpm').fill('60');
  await page.getByTestId('key-owner').fill('ana');
  await page.getByTestId('key-submit').click();

  const panel = page.getByTestId('key-secret-panel');
  await panel.waitFor({ timeout: UI_WAIT_MS });
  const secret = await page.getByTestId('key-secret').inputValue();
  assert.match(secret, /^sk-shep-\w+$/);
  const listed = await gateway.admin('GET', '/admin/keys');
  const created = listed.json().data.find((k) => k.name === 'playground');
  assert.ok(created, listed.text);
  assert.deepEqual([created.models, created.rpm, created.metadata], [['gpt-4.1'], 60, { owner: 'ana' }]);
  const row = page.locator(`[data-testid="key-row"][data-id="${created.id}"]`);
  await row.waitFor({ timeout: UI_WAIT_MS });
  await screenshot(page, 'keys.png');

  // The secret works at once.
  const ok = await models(secret);
  assert.equal(ok.status, 200, ok.text);

  // Done hides it for good: it is nowhere on the page any more, even after coming back.
  await page.getByTestId('key-secret-done').click();
  assert.ok(await panel.isHidden());
  await showPage(page, 'chat');
  await showPage(page, 'keys');
  await row.waitFor({ timeout: UI_WAIT_MS });
  assert.ok(!(await page.content()).includes(secret));
  assert.equal(await page.getByTestId('key-secret').inputValue(), '');

  // Revoking asks first: Cancel leaves the key working.
  await row.getByTestId('key-revoke').click();
  await page.getByTestId('confirm-dialog').waitFor({ timeout: UI_WAIT_MS });
  await page.getByTestId('confirm-cancel').click();
  await page.getByTestId('confirm-dialog').waitFor({ state: 'detached', timeout: UI_WAIT_MS });
  assert.equal((await models(secret)).status, 200);

  await row.getByTestId('key-revoke').click();
  await page.getByTestId('confirm-ok').click();
  await row.waitFor({ state: 'detached', timeout: UI_WAIT_MS }); // revoked keys are hidden by default
  await page.getByTestId('keys-show-revoked').check();
  assert.match(await row.textContent(), /revoked/);
  const refused = await models(secret);
  assert.equal(refused.status, 401, refused.text);
  assertClean();
});

test('serving: the app is at / on the UI listener and at /ui/ on the API port, under a CSP that holds', { timeout: TEST_TIMEOUT_MS }, async () => {
  const gateway = await startSimpleGateway({ ui_listen: '127.0.0.1:0' });
  assert.notEqual(new URL(gateway.uiUrl).port, String(gateway.port), 'the UI listener has a port of its own');
  const api = `${gateway.url}/ui/`;
  for (const url of [gateway.uiUrl, api, `${gateway.uiUrl}app.js`, `${api}app.js`]) {
    const r = await request(url);
    assert.equal(r.status, 200, `${url}: ${r.status}`);
    const csp = r.headers['content-security-policy'] ?? '';
    assert.match(csp, /(^|; )script-src 'self'(;|$)/, `${url}: CSP ${csp}`);
    assert.match(csp, /(^|; )default-src 'self'(;|$)/, `${url}: CSP ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${url}: CSP ${csp}`);
  }
  const [index, apiIndex] = await Promise.all([request(gateway.uiUrl), request(api)]);
  assert.match(index.headers['content-type'], /^text\/html/);
  assert.equal(index.text, apiIndex.text, 'the same app on both');
  assert.match(index.text, /<script src="\.\/app\.js" defer><\/script>/);

  // On the UI listener the app reaches the gateway's API on its own origin: signing in works.
  const ui = await openPage(browser);
  await signIn(ui.page, gateway.uiUrl, MASTER);
  await showPage(ui.page, 'dashboard');
  await ui.page.getByTestId('deployments-table').waitFor({ timeout: UI_WAIT_MS });
  ui.assertClean();

  // On the API port too; and the CSP is enforced: an inline script is refused and reported.
  const onApi = await openPage(browser);
  await onApi.page.goto(api);
  await onApi.page.getByTestId('page-signin').waitFor({ timeout: UI_WAIT_MS });
  await onApi.page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.append(s);
  });
  await pollUntil(() => onApi.csp.length, (n) => n > 0, { timeoutMs: UI_WAIT_MS, what: 'the CSP violation' });
  assert.equal(await onApi.page.evaluate(() => window.__inline), undefined);
  assert.match(onApi.csp[0].directive, /^script-src/);
  await pollUntil(() => onApi.problems.length, (n) => n > 0, { timeoutMs: UI_WAIT_MS, what: 'the console line' });
  onApi.assertClean({ cspViolations: 1 });
});
