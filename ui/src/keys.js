// The Keys page (master key only): list virtual keys (GET /admin/keys), create one and show its
// secret once, edit limits and budget (PATCH), revoke (DELETE) after a confirmation.
import { api, session } from './api.js';
import { badge } from './deployments.js';
import { confirmDialog, copyText, h, notice, table } from './dom.js';
import * as fmt from './format.js';
import { createKeyForm } from './key_form.js';

const message = (e) => e.describe?.() ?? e.message;

export function createKeysPage() {
  const head = h('h1', { id: 'keys-title' }, 'Keys');
  if (!session.master) {
    const el = h(
      'section',
      { class: 'page keys', testid: 'page-keys', 'aria-labelledby': 'keys-title' },
      head,
      notice(
        'info',
        session.adminDisabled
          ? 'The admin API is disabled on this gateway (no server.master_key), so keys cannot be managed here.'
          : 'Sign in with the master key to list, create, edit and revoke keys.',
        'keys-locked',
      ),
    );
    return { el, show() {}, hide() {} };
  }

  let keys = [];
  const status = h('div', { class: 'panel-status' });
  const list = h('div', {});
  const showRevoked = h('input', { type: 'checkbox', id: 'keys-show-revoked', testid: 'keys-show-revoked', onchange: render });
  const secret = createSecretPanel();
  const form = createKeyForm({ onSubmit: save });

  const el = h(
    'section',
    { class: 'page keys', testid: 'page-keys', 'aria-labelledby': 'keys-title' },
    head,
    secret.el,
    form.el,
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'keys-list-title' },
      h(
        'div',
        { class: 'page-head' },
        h('h2', { id: 'keys-list-title' }, 'All keys'),
        h('label', { class: 'check' }, showRevoked, ' Show revoked keys'),
      ),
      status,
      list,
    ),
  );

  async function save(body, editing) {
    try {
      if (editing) {
        await api(`/admin/keys/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body });
      } else {
        const created = await api('/admin/keys', { method: 'POST', body });
        secret.show(created);
      }
    } catch (e) {
      return message(e);
    }
    await refresh();
    return '';
  }

  async function revoke(key) {
    const ok = await confirmDialog(
      `Revoke the key “${key.name}” (${key.prefix}…)? Requests with it are refused from now on; this cannot be undone.`,
      'Revoke',
    );
    if (!ok) return;
    try {
      await api(`/admin/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
    } catch (e) {
      status.replaceChildren(notice('error', `Revoking ${key.name}: ${message(e)}`, 'keys-error'));
      return;
    }
    await refresh();
  }

  async function refresh() {
    try {
      const [answer, deployments] = await Promise.all([api('/admin/keys'), api('/admin/deployments')]);
      keys = answer.data ?? [];
      form.setModels([...new Set((deployments.deployments ?? []).map((d) => d.model))]);
      // The list carries no spend: each budgeted key's current period comes from its own page.
      await Promise.all(
        keys
          .filter((k) => k.budget && !k.revoked)
          .map(async (k) => {
            const shown = await api(`/admin/keys/${encodeURIComponent(k.id)}`).catch(() => null);
            if (shown?.budget) k.budget = shown.budget;
          }),
      );
      status.replaceChildren();
    } catch (e) {
      status.replaceChildren(notice('error', `Keys: ${message(e)}`, 'keys-error'));
      keys = [];
    }
    render();
  }

  function render() {
    const shown = showRevoked.checked ? keys : keys.filter((k) => !k.revoked);
    const columns = [
      { title: 'Name', value: (k) => h('strong', {}, k.name) },
      { title: 'Id / prefix', value: (k) => h('span', { class: 'mono small' }, k.id, h('br'), `${k.prefix}…`) },
      { class: 'soft', title: 'Models', value: (k) => (k.models?.length ? k.models.join(', ') : h('span', { class: 'muted' }, 'all')) },
      { class: 'soft', title: 'Limits', value: limits },
      { class: 'soft', title: 'Budget', value: budget },
      { title: 'Expires', value: (k) => expiry(k.expires_at) },
      { class: 'soft', title: 'Owner / team', value: (k) => [k.metadata?.owner, k.metadata?.team].filter(Boolean).join(' / ') },
      { title: 'Created', value: (k) => fmt.time(k.created_at) },
      { title: 'State', value: (k) => (k.revoked ? badge('revoked', 'bad') : badge('active', 'ok')) },
      {
        title: 'Actions',
        value: (k) =>
          k.revoked
            ? ''
            : h(
                'div',
                { class: 'actions' },
                h('button', { type: 'button', class: 'small secondary', testid: 'key-edit', onclick: () => form.edit(k) }, 'Edit'),
                h('button', { type: 'button', class: 'small danger', testid: 'key-revoke', onclick: () => revoke(k) }, 'Revoke'),
              ),
      },
    ];
    list.replaceChildren(
      table(columns, shown, {
        testid: 'keys-table',
        rowProps: (k) => ({ testid: 'key-row', 'data-id': k.id, class: k.revoked ? 'revoked' : undefined }),
        empty: 'No keys yet.',
      }),
    );
  }

  return {
    el,
    show: refresh,
    hide() {},
  };
}

// "600 rpm · 200,000 tpm · 20 parallel", or "none".
function limits(k) {
  const parts = [
    [k.rpm, 'rpm'],
    [k.tpm, 'tpm'],
    [k.max_parallel, 'parallel'],
  ].filter(([v]) => v !== null && v !== undefined);
  if (!parts.length) return h('span', { class: 'muted' }, 'none');
  return parts.map(([v, unit]) => `${fmt.int(v)} ${unit}`).join(' · ');
}

function budget(k) {
  const b = k.budget;
  if (!b) return h('span', { class: 'muted' }, 'none');
  const per = b.period === 'total' ? 'in total' : `per ${b.period}`;
  if (typeof b.spent_usd !== 'number') return `${fmt.usd(b.usd)} ${per}`;
  return `${fmt.usd(b.spent_usd)} of ${fmt.usd(b.usd)} ${per} (${fmt.percent(b.spent_usd / b.usd)})`;
}

function expiry(at) {
  if (!at) return h('span', { class: 'muted' }, 'never');
  return new Date(at) < new Date() ? [fmt.time(at), ' ', badge('expired', 'bad')] : fmt.time(at);
}

// The secret of a key just created, shown this once with a copy button.
function createSecretPanel() {
  const value = h('input', { id: 'key-secret', testid: 'key-secret', type: 'text', readonly: true, class: 'mono' });
  const copied = h('span', { class: 'muted small', role: 'status', testid: 'key-secret-copied' });
  const title = h('h2', { id: 'key-secret-title' });
  const el = h(
    'section',
    { class: 'panel secret', testid: 'key-secret-panel', 'aria-labelledby': 'key-secret-title', hidden: true },
    title,
    h('p', { class: 'notice warn', role: 'alert' }, 'Copy the secret now: it will not be shown again. Shepherd keeps only its hash.'),
    h('label', { for: 'key-secret', class: 'visually-hidden' }, 'Secret'),
    h(
      'div',
      { class: 'row' },
      value,
      h(
        'button',
        {
          type: 'button',
          testid: 'key-secret-copy',
          onclick: async () => {
            const ok = await copyText(value.value);
            if (!ok) value.select();
            copied.textContent = ok ? 'Copied.' : 'Press Ctrl+C (⌘C) to copy the selected secret.';
          },
        },
        'Copy',
      ),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          testid: 'key-secret-done',
          onclick: () => {
            value.value = '';
            el.hidden = true;
          },
        },
        'Done',
      ),
    ),
    copied,
  );
  return {
    el,
    show(key) {
      title.textContent = `Key “${key.name}” created`;
      value.value = key.secret;
      copied.textContent = '';
      el.hidden = false;
      el.scrollIntoView({ block: 'start' });
      value.select();
    },
  };
}
