// The deployments table (GET /admin/deployments): state, breaker, health, load and latency of
// each, with Drain and Enable (POST /admin/deployments/{id}/drain|enable). Master key only.
import { api } from './api.js';
import { h, notice, replaceTable, table } from './dom.js';
import * as fmt from './format.js';

export function createDeploymentsPanel() {
  const status = h('div', { class: 'panel-status' });
  const body = h('div', {});
  const el = h(
    'section',
    { class: 'panel', testid: 'deployments', 'aria-labelledby': 'deployments-title' },
    h('h2', { id: 'deployments-title' }, 'Deployments'),
    status,
    body,
  );
  let shown = ''; // the JSON last rendered: the table is rebuilt only when it changes

  async function refresh() {
    let list;
    try {
      list = (await api('/admin/deployments')).deployments ?? [];
    } catch (e) {
      status.replaceChildren(notice('error', `Deployments: ${e.describe?.() ?? e.message}`, 'deployments-error'));
      return;
    }
    status.replaceChildren();
    const json = JSON.stringify(list);
    if (json === shown) return;
    shown = json;
    replaceTable(body, render(list));
  }

  async function act(d, action) {
    try {
      await api(`/admin/deployments/${encodeURIComponent(d.id)}/${action}`, { method: 'POST' });
      shown = '';
      await refresh();
    } catch (e) {
      status.replaceChildren(notice('error', `${action} ${d.id}: ${e.describe?.() ?? e.message}`, 'deployments-error'));
    }
  }

  function render(list) {
    const columns = [
      {
        title: 'Deployment',
        value: (d) => [h('span', { class: 'mono' }, d.id), h('br'), h('small', { class: 'muted' }, `upstream ${d.upstream_model}`)],
      },
      {
        title: 'State',
        value: (d) => [
          badge(d.state, d.state === 'available' ? 'ok' : 'warn', 'deployment-state'),
          d.health_check_ok ? null : [' ', badge('health check failing', 'bad')],
        ],
      },
      {
        title: 'Breaker',
        value: (d) => [
          badge(d.breaker, d.breaker === 'closed' ? 'ok' : 'warn'),
          d.retry_in_seconds ? h('small', { class: 'muted' }, ` retry in ${fmt.seconds(d.retry_in_seconds)}`) : null,
        ],
      },
      { title: 'In flight', class: 'num', value: (d) => fmt.int(d.in_flight) },
      { title: 'Requests', class: 'num', value: (d) => fmt.int(d.requests) },
      { title: 'Failures', class: 'num', value: (d) => `${fmt.int(d.failures)} (${fmt.percent(d.error_rate)})` },
      { title: 'First byte mean / p95', class: 'num', value: (d) => pair(d.latency_ms?.first_byte_mean, d.latency_ms?.first_byte_p95) },
      { title: 'Total mean / p95', class: 'num', value: (d) => pair(d.latency_ms?.total_mean, d.latency_ms?.total_p95) },
      { title: 'Price in / out per 1M', class: 'num', value: (d) => `${fmt.usd(d.price?.input)} / ${fmt.usd(d.price?.output)}` },
      { title: 'Last error', class: 'wrap', value: (d) => (d.last_error ? h('small', {}, d.last_error) : '') },
      {
        title: 'Actions',
        value: (d) =>
          d.state === 'drained'
            ? h('button', { type: 'button', class: 'small', testid: 'deployment-enable', onclick: () => act(d, 'enable') }, 'Enable')
            : h('button', { type: 'button', class: 'small secondary', testid: 'deployment-drain', onclick: () => act(d, 'drain') }, 'Drain'),
      },
    ];
    return table(columns, list, {
      testid: 'deployments-table',
      rowProps: (d) => ({ testid: 'deployment-row', 'data-id': d.id }),
      empty: 'No deployments are configured.',
    });
  }

  return { el, refresh };
}

function pair(mean, p95) {
  return `${fmt.millis(mean)} / ${fmt.millis(p95)}`;
}

export function badge(text, kind, testid) {
  return h('span', { class: `badge ${kind}`, testid }, text);
}
