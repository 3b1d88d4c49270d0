// The chat page in a browser: a streamed answer grows on the page and ends with its tokens, cost
// and latency; Stop aborts a slow stream (up to the upstream); Regenerate, Export and Clear.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';

import { cleanup, lastRequestBody, openaiProvider, pollUntil, startMock } from '../support/harness.mjs';
import { POLL_WAIT_MS, TEST_TIMEOUT_MS, UI_WAIT_MS, launchBrowser, openPage, screenshot, signIn, startGateway } from './support.mjs';

// Plain words, then a code block: a prefix of it renders as a prefix of the final text, so every
// partial text seen must be one.
const CONTENT =
  'The gateway streams this answer word by word, so the page grows while it arrives.\n\n' +
  '```python\nprint("hello from the mock upstream")\n```';
const QUESTION = 'How does a streamed answer look?';
const PRICE = { input: 2, output: 8 }; // USD per 1M tokens
const words = (s) => s.split(/\s+/).filter(Boolean).length; // the mock's token count
const normal = (s) => s.replace(/\s+/g, ' ').trim();

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await cleanup();
});

/**
 * Starts watching the last assistant message: resolves with every distinct text its answer
 * showed, in order, once it is no longer busy (bounded by timeoutMs).
 */
function recordAnswer(page, timeoutMs = UI_WAIT_MS) {
  return page.evaluate(
    (ms) =>
      new Promise((resolve, reject) => {
        const transcript = document.querySelector('[data-testid="chat-transcript"]');
        const seen = [];
        const observer = new MutationObserver(() => {
          const messages = transcript.querySelectorAll('[data-testid="chat-message-assistant"]');
          const last = messages[messages.length - 1];
          if (!last) return;
          const text = last.querySelector('[data-testid="chat-answer"]').textContent;
          if (seen[seen.length - 1] !== text) seen.push(text);
          if (last.getAttribute('aria-busy') === 'false') {
            observer.disconnect();
            clearTimeout(timer);
            resolve(seen);
          }
        });
        const timer = setTimeout(() => {
          observer.disconnect();
          reject(new Error(`the answer did not finish within ${ms} ms; seen: ${JSON.stringify(seen)}`));
        }, ms);
        observer.observe(transcript, { subtree: true, childList: true, characterData: true, attributes: true });
      }),
    timeoutMs,
  );
}

test('chat: a streamed answer grows, shows its cost, and can be stopped, regenerated, exported and cleared', { timeout: TEST_TIMEOUT_MS }, async () => {
  const fast = await startMock(['--content', CONTENT, '--chunk-delay-ms', '40']);
  // One word a second: Stop always comes before the end.
  const slow = await startMock(['--content', CONTENT, '--chunk-delay-ms', '1000']);
  const gateway = await startGateway({
    providers: { fast: openaiProvider(fast), slow: openaiProvider(slow) },
    models: {
      'gpt-4.1': { deployments: [{ provider: 'fast', price: PRICE }] },
      'slow-model': { deployments: [{ provider: 'slow', price: PRICE }] },
    },
  });
  const key = await gateway.createKey({ name: 'playground', budget: { usd: 5, period: 'month' } });
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, key.secret);
  const model = page.getByTestId('chat-model');
  await page.waitForFunction(() => document.querySelector('[data-testid="chat-model"]')?.options.length === 2);
  assert.deepEqual(await model.locator('option').allTextContents(), ['gpt-4.1', 'slow-model']);

  // 1. The answer arrives word by word.
  await model.selectOption('gpt-4.1');
  let texts = recordAnswer(page);
  await page.getByTestId('chat-input').fill(QUESTION);
  await page.getByTestId('chat-send').click();
  texts = await texts;
  const answer = page.getByTestId('chat-message-assistant');
  const final = normal(await answer.getByTestId('chat-answer').textContent());
  assert.equal(final, normal(CONTENT.replace(/```\w*/g, '')));
  const partials = [...new Set(texts.map(normal))].filter((t) => t && t !== final);
  assert.ok(partials.length >= 2, `at least two partial texts before the final one: ${JSON.stringify(texts)}`);
  for (const p of partials) assert.ok(final.startsWith(p), `partial text ${JSON.stringify(p)} is a prefix of the answer`);
  assert.equal(await answer.locator('pre code.language-python').count(), 1, 'the code block is rendered as code');

  // Tokens, cost and latency under it, as the gateway counted them.
  const meta = await answer.getByTestId('chat-meta').textContent();
  const m = /^(\d+) prompt \+ (\d+) completion tokens · \$([\d.]+) · first token [\d.]+ [µm]?s · total [\d.]+ [µm]?s · gpt-4\.1@fast$/.exec(meta);
  assert.ok(m, `meta line: ${meta}`);
  assert.equal(Number(m[1]), words(QUESTION));
  assert.equal(Number(m[2]), words(CONTENT));
  const cost = (words(QUESTION) * PRICE.input + words(CONTENT) * PRICE.output) / 1e6;
  assert.ok(Math.abs(Number(m[3]) - cost) <= cost * 1e-3, `cost ${m[3]} ≈ ${cost}`);
  // The key's own budget, read again after the answer (GET /v1/usage).
  await page.getByTestId('chat-usage').filter({ hasText: /\$0\.\d+ of its \$5\.00 budget spent/ }).waitFor({ timeout: UI_WAIT_MS });

  // 2. Regenerate asks again with the same conversation and replaces the answer.
  const asked = (await fast.stats()).chat_requests;
  texts = recordAnswer(page);
  await page.getByTestId('chat-regenerate').click();
  await texts;
  assert.equal((await fast.stats()).chat_requests, asked + 1);
  assert.deepEqual(lastRequestBody(await fast.lastRequest()).messages, [{ role: 'user', content: QUESTION }]);
  assert.equal(await page.getByTestId('chat-message-assistant').count(), 1);
  assert.equal(await page.getByTestId('chat-message-user').count(), 1);

  // 3. Export JSON: a download holding the conversation and what the answer cost.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('chat-export-json').click()]);
  assert.match(download.suggestedFilename(), /^chat-.*\.json$/);
  const doc = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.equal(doc.model, 'gpt-4.1');
  assert.deepEqual(
    doc.messages.map((x) => [x.role, x.content]),
    [['user', QUESTION], ['assistant', CONTENT]],
  );
  assert.equal(doc.messages[1].deployment, 'gpt-4.1@fast');
  assert.equal(doc.messages[1].usage.completion_tokens, words(CONTENT));
  assert.match(doc.messages[1].request_id, /^req_/);

  // 4. Stop: the slow answer ends where it was, and the gateway lets go of the upstream.
  await model.selectOption('slow-model');
  await page.getByTestId('chat-input').fill('Take your time.');
  await page.getByTestId('chat-send').click();
  const slowAnswer = page.getByTestId('chat-message-assistant').last();
  await slowAnswer.getByTestId('chat-answer').filter({ hasText: /\S/ }).waitFor({ timeout: UI_WAIT_MS });
  assert.equal(await slowAnswer.getAttribute('aria-busy'), 'true');
  await page.getByTestId('chat-stop').click();
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="chat-message-assistant"]')].pop()?.getAttribute('aria-busy') === 'false',
    null,
    { timeout: UI_WAIT_MS },
  );
  assert.match(await slowAnswer.getByTestId('chat-meta').textContent(), /· stopped$/);
  const cut = normal(await slowAnswer.getByTestId('chat-answer').textContent());
  assert.ok(cut.length > 0 && cut.length < final.length && final.startsWith(cut), `stopped text: ${cut}`);
  await pollUntil(() => slow.stats(), (s) => s.client_disconnects === 1 && s.streams_completed === 0, {
    timeoutMs: UI_WAIT_MS,
    what: 'the slow upstream to see the stream cancelled',
  });
  await screenshot(page, 'chat.png');

  // 5. Clear empties the transcript; nothing is left to export.
  await page.getByTestId('chat-clear').click();
  assert.equal(await page.getByTestId('chat-transcript').locator('article').count(), 0);
  assert.ok(await page.getByTestId('chat-export-json').isDisabled());
  assertClean();
});

test('chat: the model picker follows a config reload without a page reload', { timeout: TEST_TIMEOUT_MS }, async () => {
  const mock = await startMock();
  const deployments = [{ provider: 'mock' }];
  const gateway = await startGateway({
    providers: { mock: openaiProvider(mock) },
    models: { alpha: { deployments }, beta: { deployments } },
  });
  const key = await gateway.createKey({ name: 'reload watcher' });
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, key.secret);
  const options = () => page.getByTestId('chat-model').locator('option').allTextContents();
  await pollUntil(options, (o) => o.length === 2, { timeoutMs: UI_WAIT_MS, what: 'the model list' });
  assert.deepEqual(await options(), ['alpha', 'beta']);
  await page.getByTestId('chat-model').selectOption('beta');
  assert.ok(await page.getByTestId('chat-model-gone').isHidden());
  await page.evaluate(() => {
    window.__samePage = true; // gone if the page were loaded again
  });

  // beta goes, gamma comes.
  gateway.rewrite({ ...gateway.config, models: { alpha: { deployments }, gamma: { deployments } } });
  const r = await gateway.admin('POST', '/admin/config/reload');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().status, 'applied');

  // The page asks for the list every 5 s; the chosen model stays chosen, flagged.
  await pollUntil(options, (o) => o.includes('gamma'), { timeoutMs: POLL_WAIT_MS, what: 'gamma in the picker' });
  assert.deepEqual(await options(), ['alpha', 'gamma', 'beta (no longer listed)']);
  assert.equal(await page.getByTestId('chat-model').inputValue(), 'beta');
  assert.match(await page.getByTestId('chat-model-gone').textContent(), /^beta is no longer listed by the gateway/);
  assert.equal(await page.evaluate(() => window.__samePage), true);
  await screenshot(page, 'chat-model-reload.png');

  // The new model answers.
  await page.getByTestId('chat-model').selectOption('gamma');
  assert.ok(await page.getByTestId('chat-model-gone').isHidden());
  await page.getByTestId('chat-input').fill('Are you new here?');
  await page.getByTestId('chat-send').click();
  const answer = page.getByTestId('chat-message-assistant');
  await page.locator('[data-testid="chat-message-assistant"][aria-busy="false"]').waitFor({ timeout: UI_WAIT_MS });
  assert.match(await answer.getByTestId('chat-meta').textContent(), /gamma@mock/);
  assert.ok(await answer.getByTestId('chat-error').isHidden());
  assertClean();
});

test('chat: markup and javascript: links in an answer are inert', { timeout: TEST_TIMEOUT_MS }, async () => {
  const content =
    'Here is **bold** and <img src=x onerror="window.__xss=1"> and [click](javascript:window.__xss=2) and ' +
    '<a href="javascript:window.__xss=3">raw</a> and <script>window.__xss=4</script>\n\n```python\nprint(1)\n```';
  const mock = await startMock(['--content', content]);
  const gateway = await startGateway({
    providers: { mock: openaiProvider(mock) },
    models: { 'gpt-4.1': { deployments: [{ provider: 'mock' }] } },
  });
  const key = await gateway.createKey({ name: 'xss' });
  const { page, assertClean } = await openPage(browser);
  await signIn(page, gateway.uiUrl, key.secret);
  await page.waitForFunction(() => document.querySelector('[data-testid="chat-model"]')?.value === 'gpt-4.1');
  await page.getByTestId('chat-input').fill('Show me some markup.');
  await page.getByTestId('chat-send').click();
  await page.locator('[data-testid="chat-message-assistant"][aria-busy="false"]').waitFor({ timeout: UI_WAIT_MS });
  const answer = page.getByTestId('chat-answer');

  // Markdown is rendered...
  assert.equal(await answer.locator('strong').textContent(), 'bold');
  assert.equal(await answer.locator('pre code').textContent(), 'print(1)\n');
  // ...raw HTML is shown as text, and nothing ran.
  const text = await answer.textContent();
  assert.ok(text.includes('<img src=x onerror="window.__xss=1">'), text);
  assert.ok(text.includes('<script>window.__xss=4</script>'), text);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator('img[onerror], [onerror], script:not([src])').count(), 0);
  assert.equal(await answer.locator('img, script').count(), 0);
  // No link anywhere on the page leads to javascript:.
  const hrefs = await page.locator('a[href]').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
  assert.ok(hrefs.length > 0, 'the page has links (navigation)');
  assert.deepEqual(hrefs.filter((h) => /^\s*javascript:/i.test(h)), []);
  assert.ok(text.includes('click'), 'the link text stays');
  // Clicking what is left of the link runs nothing either.
  await answer.getByText('click', { exact: true }).click();
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assertClean(); // no CSP violation either: the markup was never parsed as HTML
});
