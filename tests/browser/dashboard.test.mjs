// The dashboard in a browser: charts fed from /metrics show the traffic sent, and deployments are
// drained and enabled from their table.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { bearer, chatBody, cleanup, openaiProvider, pollUntil, request, startMock } from '../support/harness.mjs';
import { MASTER, POLL_WAIT_MS, TEST_TIMEOUT_MS, UI_WAIT_MS, launchBrowser, openPage, screenshot, showPage, signIn, startGateway } from './support.mjs';

const PRICE = { input: 2, output: 8 }; // USD per 1M tokens
const LIST_PRICE = { input: 3, output: 12 }; // the spend report shows the savings

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await cleanup();
});

/** The legend rows of chart `id`: [{label, value}] as uPlot shows them. */
function legend(page, id) {
  return page
    .getByTestId(`chart-${id}`)
    .locator('.u-legend .u-series')
    .evaluateAll((rows) =>
      rows.map((r) => ({ label: r.querySelector('.u-label')?.textContent ?? '', value: r.querySelector('.u-value')?.textContent ?? '' })),
    );
}

/**
 * Moves the pointer across chart `id` from left to right (the legend shows the values under the
 * cursor) and returns, per series label, every value it showed.
 */
async function sweep(page, id, steps = 24) {
  const plot = page.getByTestId(`chart-${id}`).locator('.u-over');
  await plot.scrollIntoViewIfNeeded(); // the pointer reaches only what is in the viewport
  const box = await plot.boundingBox();
  assert.ok(box, `chart ${id} has a plot area`);
  const seen = new Map();
  for (let i = 0; i <= steps; i++) {
    await page.mouse.move(box.x + (box.width * i) / steps, box.y + box.height / 2);
    for (const { label, value } of await legend(page, id)) seen.set(label, [...(seen.get(label) ?? []), value]);
  }
  return seen;
}

// The number in a legend value ("0.5/s", "$0.000123/s", "12.3 ms"); NaN for "–".
const number = (text) => Number(/[\d.]+/.exec(text.replace(/,/g, ''))?.[0] ?? NaN);

test('dashboard: the charts plot the traffic sent through the gateway', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mock = await startMock();
  const deployments = [{ provider: 'mock', price: PRICE, list_price: LIST_PRICE }];
  const gateway = await startGateway({
    providers: { mock: openaiProvider(mock) },
    models: { alpha: { deployments }, beta: { deployments } },
  });
  const key = await gateway.createKey({ name: 'traffic' });
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, MASTER);
  await showPage(page, 'dashboard');
  // The first scrape: the charts need a second one, after the traffic, to plot rates.
  await page.getByTestId('dash-status').filter({ hasText: /^Updated/ }).waitFor({ timeout: UI_WAIT_MS });

  const chat = (model, stream) =>
    request(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: bearer(key.secret),
      body: chatBody(model, { stream, includeUsage: stream ? true : undefined }),
    });
  const statuses = await Promise.all([chat('alpha', false), chat('alpha', true), chat('alpha', true), chat('beta', false)]);
  assert.deepEqual(statuses.map((r) => r.status), [200, 200, 200, 200]);
  // A request for a model that does not exist is an error before any model was chosen.
  assert.equal((await chat('no-such-model', false)).status, 404);

  // Each chart gets its series once a scrape after the traffic arrived.
  const expected = {
    requests: ['alpha', 'beta', '(refused)'],
    errors: ['(refused)'],
    latency: ['alpha p50', 'alpha p99'],
    ttft: ['alpha p50', 'alpha p99'],
    tokens: ['alpha', 'beta'],
    cost: ['alpha', 'beta'],
  };
  for (const [id, labels] of Object.entries(expected)) {
    await pollUntil(
      () => legend(page, id),
      (rows) => labels.every((l) => rows.some((r) => r.label === l)),
      { timeoutMs: POLL_WAIT_MS, what: `the series ${labels.join(', ')} on chart ${id}` },
    );
    assert.ok(await page.getByTestId(`chart-${id}`).locator('.chart-empty').isHidden(), `chart ${id} is not waiting`);
  }
  // The interval holding the traffic has a point above zero on every chart; the errors chart
  // counts only the refused request.
  const positive = (values) => values.some((v) => number(v) > 0);
  for (const [id, labels] of Object.entries(expected)) {
    const seen = await sweep(page, id);
    for (const l of labels) assert.ok(positive(seen.get(l) ?? []), `chart ${id}, ${l}: ${JSON.stringify(seen.get(l))}`);
  }
  const errors = await sweep(page, 'errors');
  assert.ok(!positive(errors.get('alpha') ?? []), `no errors for alpha: ${JSON.stringify(errors.get('alpha'))}`);

  await page.mouse.move(0, 0);
  // The recent requests table lists what was sent (master key only).
  await pollUntil(() => page.getByTestId('request-row').count(), (n) => n >= 5, {
    timeoutMs: POLL_WAIT_MS,
    what: 'five rows in the requests table',
  });
  // The spend report is read again when its window changes: the models that served show up.
  await page.getByTestId('spend-window').selectOption('1');
  await pollUntil(
    () => page.getByTestId('spend-model-table').getByTestId('spend-row').allTextContents(),
    (rows) => ['alpha', 'beta'].every((m) => rows.some((r) => r.startsWith(m))),
    { timeoutMs: UI_WAIT_MS, what: 'alpha and beta in the spend report' },
  );
  await screenshot(page, 'dashboard.png');
  assertClean();
});

test('dashboard: a deployment is drained and enabled from its table', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mock = await startMock();
  const gateway = await startGateway({
    providers: { mock: openaiProvider(mock) },
    models: { alpha: { deployments: [{ provider: 'mock', price: PRICE }] } },
  });
  const state = async () => {
    const r = await gateway.admin('GET', '/admin/deployments');
    assert.equal(r.status, 200, r.text);
    return r.json().deployments.find((d) => d.id === 'alpha@mock').state;
  };
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, MASTER);
  await showPage(page, 'dashboard');
  const row = page.locator('[data-testid="deployment-row"][data-id="alpha@mock"]');
  const shown = row.getByTestId('deployment-state');
  await shown.filter({ hasText: /^available$/ }).waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await state(), 'available');

  await row.getByTestId('deployment-drain').click();
  await shown.filter({ hasText: /^drained$/ }).waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await state(), 'drained');
  assert.equal(await row.getByTestId('deployment-drain').count(), 0, 'a drained deployment offers Enable only');

  await row.getByTestId('deployment-enable').click();
  await shown.filter({ hasText: /^available$/ }).waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await state(), 'available');
  assert.equal(await row.getByTestId('deployment-enable').count(), 0);
  assertClean();
});
