// The audit log's views, master key only: recent requests (GET /admin/requests with filters)
// and spend by model and by key with the savings against list prices (GET /admin/spend).
import { api, withQuery } from './api.js';
import { badge } from './deployments.js';
import { field, h, notice, replaceTable, table } from './dom.js';
import * as fmt from './format.js';

// Key id -> name, from GET /admin/keys, fetched at most every 30 s (empty when keys are off).
let names = { at: 0, promise: null };
function keyNames() {
  if (!names.promise || Date.now() - names.at > 30000) {
    names = {
      at: Date.now(),
      promise: api('/admin/keys')
        .then((answer) => new Map((answer.data ?? []).map((k) => [k.id, k.name])))
        .catch(() => new Map()),
    };
  }
  return names.promise;
}

function keyLabel(id, name) {
  if (!id) return h('span', { class: 'muted' }, '–');
  return name ? h('span', { title: id }, name) : h('span', { class: 'mono' }, id);
}

const message = (e) => e.describe?.() ?? e.message;

export function createRequestsPanel() {
  const input = (id, attrs = {}) => h('input', { id, testid: id, ...attrs });
  const since = input('req-since', { type: 'datetime-local' });
  const until = input('req-until', { type: 'datetime-local' });
  const model = input('req-model', { type: 'text', placeholder: 'any' });
  const key = input('req-key', { type: 'text', placeholder: 'key id', class: 'mono' });
  const status = input('req-status', { type: 'number', min: 100, max: 599, placeholder: 'any' });
  const limit = input('req-limit', { type: 'number', min: 1, max: 10000, value: '25' });
  const state = h('div', { class: 'panel-status' });
  const body = h('div', {});
  let query = { limit: 25 };
  let shown = ''; // the rows last rendered: the table is rebuilt only when they change

  const form = h(
    'form',
    {
      class: 'filters',
      testid: 'req-filters',
      onsubmit: (e) => {
        e.preventDefault();
        query = {
          since: fmt.localInputToIso(since.value),
          until: fmt.localInputToIso(until.value),
          model: model.value.trim(),
          key: key.value.trim(),
          status: status.value.trim(),
          limit: limit.value.trim(),
        };
        refresh();
      },
    },
    field('Since', since),
    field('Until', until),
    field('Model', model),
    field('Key', key),
    field('Status', status),
    field('Limit', limit),
    h('div', { class: 'field' }, h('span', { class: 'label-gap' }), h('button', { type: 'submit', testid: 'req-apply' }, 'Apply')),
  );
  const el = h(
    'section',
    { class: 'panel', testid: 'requests', 'aria-labelledby': 'requests-title' },
    h('h2', { id: 'requests-title' }, 'Recent requests'),
    form,
    state,
    body,
  );

  async function refresh() {
    let rows;
    try {
      const [answer, byId] = await Promise.all([api(withQuery('/admin/requests', query)), keyNames()]);
      rows = answer.data ?? [];
      for (const r of rows) r.key_name = byId.get(r.key_id);
    } catch (e) {
      state.replaceChildren(notice('error', `Requests: ${message(e)}`, 'requests-error'));
      return;
    }
    state.replaceChildren();
    const json = JSON.stringify(rows);
    if (json === shown) return;
    shown = json;
    replaceTable(
      body,
      table(REQUEST_COLUMNS, rows, {
        testid: 'requests-table',
        scroll: true,
        rowProps: (r) => ({ testid: 'request-row', 'data-id': r.request_id }),
        empty: 'No requests match.',
      }),
    );
  }

  return { el, refresh };
}

const REQUEST_COLUMNS = [
  { title: 'Time', value: (r) => fmt.time(r.time) },
  { title: 'Request id', value: (r) => h('span', { class: 'mono small' }, r.request_id) },
  { title: 'Key', value: (r) => keyLabel(r.key_id, r.key_name) },
  { title: 'Model', value: (r) => r.model || h('span', { class: 'muted' }, '–') },
  { title: 'Deployment', value: (r) => h('span', { class: 'mono' }, r.deployment || '–') },
  { title: 'Status', value: (r) => badge(String(r.status), r.status < 400 ? 'ok' : r.status < 500 ? 'warn' : 'bad') },
  { title: 'Attempts', class: 'num', value: (r) => fmt.int(r.attempts) },
  {
    title: 'Tokens in / out',
    class: 'num',
    value: (r) => `${fmt.int(r.prompt_tokens)} / ${fmt.int(r.completion_tokens)}${r.usage_estimated ? ' (est.)' : ''}`,
  },
  { title: 'Cost', class: 'num', value: (r) => fmt.usd(r.cost_usd) },
  { title: 'First byte', class: 'num', value: (r) => (r.ttft_us ? fmt.seconds(r.ttft_us / 1e6) : '–') },
  { title: 'Latency', class: 'num', value: (r) => fmt.seconds(r.latency_us / 1e6) },
  { title: 'Stream', value: (r) => (r.streamed ? 'yes' : 'no') },
  { title: 'Error', value: (r) => r.error_class || '' },
];

const WINDOWS = [
  ['1', 'Last 24 hours'],
  ['7', 'Last 7 days'],
  ['30', 'Last 30 days'],
];

export function createSpendPanel() {
  const windowSelect = h(
    'select',
    { id: 'spend-window', testid: 'spend-window', onchange: () => refresh() },
    WINDOWS.map(([days, text]) => h('option', { value: days, selected: days === '30' }, text)),
  );
  const state = h('div', { class: 'panel-status' });
  const byModel = h('div', { testid: 'spend-by-model' });
  const byKey = h('div', { testid: 'spend-by-key' });
  const projection = h('p', { class: 'projection', testid: 'spend-projection' });
  const el = h(
    'section',
    { class: 'panel', testid: 'spend', 'aria-labelledby': 'spend-title' },
    h('h2', { id: 'spend-title' }, 'Spend and savings'),
    h('div', { class: 'filters' }, field('Window', windowSelect)),
    state,
    projection,
    h('h3', {}, 'By model'),
    byModel,
    h('h3', {}, 'By key'),
    byKey,
  );

  async function refresh() {
    const since = new Date(Date.now() - Number(windowSelect.value) * 86400000).toISOString();
    let models, keys;
    try {
      let byId;
      [models, keys, byId] = await Promise.all([
        api(withQuery('/admin/spend', { by: 'model', since })),
        api(withQuery('/admin/spend', { by: 'key', since })),
        keyNames(),
      ]);
      for (const g of keys.groups ?? []) g.name = byId.get(g.group);
    } catch (e) {
      state.replaceChildren(notice('error', `Spend: ${message(e)}`, 'spend-error'));
      return;
    }
    state.replaceChildren();
    replaceTable(byModel, spendTable(models, (g) => g.group || '(no model)', 'spend-model-table'));
    replaceTable(byKey, spendTable(keys, (g) => keyLabel(g.group, g.name), 'spend-key-table'));
    const p = models.monthly_projection;
    projection.textContent = p
      ? `Projected over 30 days at this rate: ${fmt.usd(p.cost_usd)} (${fmt.usd(p.list_cost_usd)} at list prices, ` +
        `saving ${fmt.usd(p.savings_usd)}).`
      : '';
  }

  return { el, refresh };
}

// One spend report as the ROI table, with its total as the last row.
function spendTable(report, label, testid) {
  const groups = report.groups ?? [];
  const rows = groups.map((g) => ({ ...g, label: label(g) }));
  if (groups.length && report.total) {
    const t = report.total;
    rows.push({ ...t, label: h('strong', {}, 'Total'), p99_latency_ms: t.max_group_p99_latency_ms, total: true });
  }
  const columns = [
    { title: 'Group', value: (g) => g.label },
    { title: 'Requests', class: 'num', value: (g) => fmt.int(g.requests) },
    { title: 'Error rate', class: 'num', value: (g) => fmt.percent(g.error_rate) },
    { title: 'Tokens in / out', class: 'num', value: (g) => `${fmt.int(g.prompt_tokens)} / ${fmt.int(g.completion_tokens)}` },
    { title: 'Cost', class: 'num', value: (g) => fmt.usd(g.cost_usd) },
    { title: 'At list prices', class: 'num', value: (g) => fmt.usd(g.list_cost_usd) },
    { title: 'Savings', class: 'num', value: (g) => fmt.usd(g.savings_usd) },
    { title: 'Savings %', class: 'num', value: (g) => fmt.percent(g.savings_ratio) },
    { title: 'Avg latency', class: 'num', value: (g) => fmt.millis(g.avg_latency_ms) },
    { title: 'p99 latency', class: 'num', value: (g) => (g.total ? `≤ ${fmt.millis(g.p99_latency_ms)}` : fmt.millis(g.p99_latency_ms)) },
  ];
  return table(columns, rows, {
    testid,
    rowProps: (g) => (g.total ? { class: 'total', testid: 'spend-total' } : { testid: 'spend-row' }),
    empty: 'No requests in this window.',
  });
}
