// Shepherd's web UI: sign-in, then three pages under hash routes (#/chat, #/dashboard, #/keys).
// Served at /ui/ on the API port and at / on the UI port: assets are fetched by relative URLs,
// the gateway's API by absolute paths on the same origin.
//
// Stable hooks for browser tests (data-testid unless noted):
//   frame      nav-chat, nav-dashboard, nav-keys, session-status, sign-in, sign-out, main,
//              boot-error, boot-retry (the gateway cannot be reached)
//   sign-in    page-signin, signin-form, signin-key (also #signin-key), signin-submit,
//              signin-error, signin-cancel (open mode only)
//   chat       page-chat, chat-model, chat-model-gone, chat-models-error, chat-no-api-key,
//              chat-system, chat-temperature, chat-top-p, chat-max-tokens, chat-usage,
//              chat-transcript, chat-form, chat-input, chat-send, chat-stop, chat-regenerate,
//              chat-clear, chat-export-json, chat-export-md; per message:
//              chat-message-user, chat-message-assistant (aria-busy="false" once finished)
//              holding chat-answer, chat-error, chat-meta
//   dashboard  page-dashboard, dash-group-by, dash-status, tile-requests, tile-errors,
//              tile-tokens, tile-cost, tile-in-flight, chart-requests, chart-errors,
//              chart-latency, chart-ttft, chart-tokens, chart-cost, dash-admin-locked;
//              deployments, deployments-table, deployment-row (data-id = deployment id),
//              deployment-state, deployment-drain, deployment-enable, deployments-error;
//              requests, req-filters, req-since, req-until, req-model, req-key, req-status,
//              req-limit, req-apply, requests-table, request-row (data-id = request id);
//              spend, spend-window, spend-by-model, spend-by-key, spend-model-table,
//              spend-key-table, spend-row, spend-total, spend-projection
//   keys       page-keys, keys-locked, key-form, key-name, key-models, key-model
//              (data-model = name), key-rpm, key-tpm, key-max-parallel, key-budget-usd,
//              key-budget-period, key-expires-at, key-owner, key-team, key-submit, key-cancel,
//              key-form-error, key-secret-panel, key-secret, key-secret-copy,
//              key-secret-copied, key-secret-done, keys-show-revoked, keys-table, key-row
//              (data-id = key id), key-edit, key-revoke, keys-error
//   dialogs    confirm-dialog, confirm-ok, confirm-cancel
import { identify, saveKey, session } from './api.js';
import { createChatPage } from './chat.js';
import { createDashboardPage } from './dashboard.js';
import { h, notice } from './dom.js';
import { createKeysPage } from './keys.js';

const ROUTES = ['chat', 'dashboard', 'keys'];
const TITLES = { chat: 'Chat', dashboard: 'Dashboard', keys: 'Keys' };

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const signInButton = document.getElementById('sign-in');
const signOutButton = document.getElementById('sign-out');

let pages = null; // {chat, dashboard, keys} while signed in (or in open mode)
let current = null; // the page shown

function route() {
  if (!pages) return;
  const name = /^#\/(\w+)/.exec(location.hash)?.[1];
  if (!ROUTES.includes(name)) {
    location.replace('#/chat');
    return;
  }
  current?.hide();
  current = pages[name];
  main.replaceChildren(current.el);
  document.title = `${TITLES[name]} · Shepherd`;
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  current.show();
}

function closePages() {
  current?.hide();
  for (const page of Object.values(pages ?? {})) page.destroy?.();
  current = null;
  pages = null;
}

function showSession() {
  const signedIn = Boolean(session.key);
  nav.hidden = !pages;
  signOutButton.hidden = !signedIn;
  signInButton.hidden = signedIn || !pages;
  if (session.master) who.textContent = 'Master key';
  // A virtual key's first 12 characters are its public prefix (the admin API shows them too).
  else if (signedIn) who.textContent = session.key.startsWith('sk-shep-') ? `Key ${session.key.slice(0, 12)}…` : 'API key';
  else who.textContent = session.open ? 'Open mode (no key)' : '';
}

function startApp() {
  closePages();
  pages = { chat: createChatPage(), dashboard: createDashboardPage(), keys: createKeysPage() };
  showSession();
  route();
}

// The sign-in form. `canCancel`: the gateway is open, so the app works without a key too.
function showSignIn(error = '', canCancel = false) {
  closePages();
  showSession();
  const key = h('input', {
    id: 'signin-key',
    testid: 'signin-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'sk-…',
  });
  const problem = h('p', { class: 'notice error', testid: 'signin-error', role: 'alert', hidden: !error }, error);
  const submit = h('button', { type: 'submit', testid: 'signin-submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'panel signin',
      testid: 'signin-form',
      'aria-labelledby': 'signin-title',
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        saveKey(key.value.trim());
        const refused = await identify().catch((err) => err);
        submit.disabled = false;
        if (!refused) {
          startApp();
          return;
        }
        saveKey('');
        const why = refused.describe?.() ?? refused.message;
        problem.textContent = refused.status ? `The gateway did not accept this key: ${why}` : why;
        problem.hidden = false;
        key.select();
      },
    },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h(
      'p',
      { class: 'muted' },
      'Use a virtual key (sk-…) to chat, or the master key for the dashboard and keys. ' +
        'The key stays in this browser tab only and is sent to the gateway as a Bearer token.',
    ),
    h('label', { for: 'signin-key' }, 'Key'),
    key,
    problem,
    h(
      'div',
      { class: 'actions' },
      submit,
      canCancel ? h('button', { type: 'button', class: 'secondary', testid: 'signin-cancel', onclick: boot }, 'Continue without a key') : null,
    ),
  );
  main.replaceChildren(h('section', { class: 'page', testid: 'page-signin' }, form));
  document.title = 'Sign in · Shepherd';
  key.focus();
}

// Finds out what the stored key (or no key) opens, then shows the app or the sign-in form.
async function boot() {
  let refused;
  try {
    refused = await identify();
  } catch (e) {
    main.replaceChildren(
      notice('error', e.message, 'boot-error'),
      h('button', { type: 'button', testid: 'boot-retry', onclick: boot }, 'Retry'),
    );
    return;
  }
  if (!refused) {
    startApp();
  } else if (session.key) {
    saveKey('');
    showSignIn(`The stored key is no longer accepted: ${refused.describe()}`);
  } else {
    showSignIn();
  }
}

window.addEventListener('hashchange', route);
signInButton.addEventListener('click', () => showSignIn('', session.open));
signOutButton.addEventListener('click', () => {
  saveKey('');
  closePages();
  boot();
});
boot();
