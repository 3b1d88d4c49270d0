// Shared helpers for the browser tests of the web UI: a gateway with a master key and virtual
// keys, a headless Chromium driven by playwright-core, and a watch on each page that fails a test
// on page errors, unexpected console errors and Content-Security-Policy violations.
//
// The browser is Debian's chromium (tools/deps.sh installs it); playwright-core downloads nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';

import {
  REPO_ROOT,
  bearer,
  gatewayConfig,
  pollUntil,
  request,
  startShepherd,
  writeConfig,
} from '../support/harness.mjs';

export const MASTER = 'sk-browser-master-key-0123';
const KEY_SECRET = 'hmac-secret-for-browser-tests-0123456789';
const ENV = { BROWSER_TEST_MASTER: MASTER, BROWSER_TEST_KEY_SECRET: KEY_SECRET };

export const CHROMIUM = process.env.SHEPHERD_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(REPO_ROOT, process.env.SHEPHERD_SCREENSHOTS ?? 'build/screenshots');
const VIEWPORT = { width: 1280, height: 800 };

// Bounds of every wait on the page: the UI polls the gateway every 2 s (dashboard) and 5 s
// (the chat's model list), so a condition that needs a poll gets more than one period.
export const UI_WAIT_MS = 5000;
export const POLL_WAIT_MS = 15000;
// Any one Playwright action or wait, and a whole test.
const ACTION_TIMEOUT_MS = 10000;
export const TEST_TIMEOUT_MS = 60000;

// ---------------------------------------------------------------------------------------------
// The gateway.

/**
 * Starts `shepherd serve` with a master key, virtual keys and the given providers and models.
 * `server` adds to the server section (e.g. ui_listen). Resolves with the harness's Shepherd plus:
 *   config        the config object written (change it and call rewrite() for a reload)
 *   uiUrl         the UI listener's URL when server.ui_listen was given, else the API port's /ui/
 *   admin(method, path, body)   an admin API call with the master key
 *   createKey(body)             a virtual key through the admin API: {id, secret, ...}
 *   rewrite(config)             writes the config file again (the running gateway keeps its own)
 */
export async function startGateway({ providers, models, server = {} }) {
  const config = {
    ...gatewayConfig({ server: { master_key: 'env:BROWSER_TEST_MASTER', ...server }, providers, models }),
    keys: { secret: 'env:BROWSER_TEST_KEY_SECRET' },
  };
  const shepherd = await startShepherd(config, { env: ENV });
  let uiUrl = `${shepherd.url}/ui/`;
  if (server.ui_listen && server.ui_listen !== 'off') {
    // `shepherd serve` prints the UI listener's URL on the line after the API's.
    const line = await pollUntil(
      () => /^ui listening on (https?:\/\/\S+)$/m.exec(shepherd.proc.stdout),
      Boolean,
      { timeoutMs: UI_WAIT_MS, what: 'the "ui listening on" line' },
    );
    uiUrl = `${line[1]}/`;
  }
  const admin = (method, p, body) => request(`${shepherd.url}${p}`, { method, body, headers: bearer(MASTER) });
  return {
    ...shepherd,
    config,
    uiUrl,
    admin,
    async createKey(body) {
      const r = await admin('POST', '/admin/keys', body);
      assert.equal(r.status, 201, `POST /admin/keys: ${r.text}`);
      return r.json();
    },
    rewrite(next) {
      writeConfig(path.dirname(shepherd.configPath), next);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser.

/** Launches headless Chromium. */
export function launchBrowser() {
  // No sandbox flags needed here: playwright-core passes --no-sandbox itself unless told
  // chromiumSandbox: true, which is what lets Chromium start as root in containers.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 30000 });
}

// The identify() probes of the UI (ui/src/api.js) ask /admin/deployments and /v1/models whether
// the key opens them, and a 401 is the expected "no" of one of them; Chromium logs each failed
// fetch as a console error naming the resource.
const PROBES = new Set(['/admin/deployments', '/v1/models']);

function expectedProbeFailure(message) {
  if (!message.text().startsWith('Failed to load resource: the server responded with a status of 401')) return false;
  const url = message.location()?.url;
  return Boolean(url) && PROBES.has(new URL(url).pathname);
}

/**
 * A new browser context (its own sessionStorage) and page, watched:
 *   problems       page errors and console errors other than the probes' 401s
 *   csp            Content-Security-Policy violations ({directive, blocked, sample})
 *   requests       URLs of every request the page made
 *   assertClean({cspViolations})   fails on any problem, and on CSP violations unless expected
 */
export async function openPage(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT, acceptDownloads: true });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  const page = await context.newPage();
  const watch = { context, page, problems: [], csp: [], requests: [] };
  page.on('pageerror', (e) => watch.problems.push(`page error: ${e.stack ?? e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || expectedProbeFailure(m)) return;
    watch.problems.push(`console error: ${m.text()} (${m.location()?.url ?? 'no location'})`);
  });
  page.on('request', (r) => watch.requests.push(r.url()));
  // The violation event, besides Chromium's console line: it names the directive.
  await context.exposeBinding('__shepherdCspViolation', (_source, v) => watch.csp.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__shepherdCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample }),
    );
  });
  watch.assertClean = ({ cspViolations = 0 } = {}) => {
    const csp = watch.problems.filter((p) => p.includes('Content Security Policy'));
    const other = watch.problems.filter((p) => !p.includes('Content Security Policy'));
    assert.deepEqual(other, [], 'page errors or unexpected console errors');
    assert.equal(watch.csp.length, cspViolations, `CSP violations: ${JSON.stringify(watch.csp)} ${csp.join('\n')}`);
    assert.equal(csp.length, cspViolations, `CSP console lines: ${csp.join('\n')}`);
  };
  return watch;
}

/** Opens the UI at `url` and signs in with `key`; resolves once the app's pages are shown. */
export async function signIn(page, url, key) {
  await page.goto(url);
  await page.getByTestId('signin-key').fill(key);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('nav-chat').waitFor({ timeout: UI_WAIT_MS });
}

/** Goes to one of the app's pages by its navigation link and waits for it. */
export async function showPage(page, name) {
  await page.getByTestId(`nav-${name}`).click();
  await page.getByTestId(`page-${name}`).waitFor({ timeout: UI_WAIT_MS });
}

/** Saves a full-page screenshot as SCREENSHOTS/name. */
export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  // From the top: the sticky top bar would otherwise be drawn where the page was scrolled to.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });
}
