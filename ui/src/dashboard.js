// The live dashboard: charts derived from /metrics every 2 s (rates and latency quantiles per
// model or provider), and for the master key the deployments, recent requests and spend.
import { send, session } from './api.js';
import { TimeChart } from './charts.js';
import { createDeploymentsPanel } from './deployments.js';
import { field, h, notice } from './dom.js';
import * as fmt from './format.js';
import { Scrape, quantiles, rates } from './metrics.js';
import { createRequestsPanel, createSpendPanel } from './reports.js';

const POLL_MS = 2000;
const SPEND_EVERY = 5; // polls: the spend report reads 30 days of records
const HISTORY = 150; // scrapes kept: 5 minutes at 2 s

const rate = (unit) => (v) => `${fmt.decimal(v)}${unit}`;
const CHARTS = [
  { id: 'requests', title: 'Requests / s', format: rate('/s') },
  { id: 'errors', title: 'Errors / s', format: rate('/s') },
  { id: 'latency', title: 'Latency p50 / p99 (dashed)', format: fmt.seconds },
  { id: 'ttft', title: 'Time to first token p50 / p99 (dashed)', format: fmt.seconds },
  { id: 'tokens', title: 'Tokens / s (prompt + completion)', format: rate('/s') },
  { id: 'cost', title: 'Cost / s', format: (v) => `$${fmt.decimal(v)}/s` },
];

// Each chart's series between two scrapes, grouped by label `by`: Map(series -> value).
function pointsBetween(prev, cur, by) {
  // Requests refused before a model was chosen carry empty labels.
  const groupOf = (labels) => labels[by] || '(refused)';
  const withQuantiles = (name) => {
    const out = new Map();
    for (const [q, suffix] of [[0.5, 'p50'], [0.99, 'p99']]) {
      for (const [g, v] of quantiles(prev, cur, name, q, groupOf)) out.set(`${g} ${suffix}`, v);
    }
    return out;
  };
  return {
    requests: rates(prev, cur, 'shepherd_requests_total', groupOf),
    errors: rates(prev, cur, 'shepherd_request_errors_total', groupOf),
    latency: withQuantiles('shepherd_request_duration_seconds'),
    ttft: withQuantiles('shepherd_time_to_first_token_seconds'),
    tokens: rates(prev, cur, 'shepherd_tokens_total', (l) =>
      l.kind === 'prompt' || l.kind === 'completion' ? groupOf(l) : null,
    ),
    cost: rates(prev, cur, 'shepherd_cost_usd_total', groupOf),
  };
}

// fn, skipped while its previous call has not finished (a slow gateway must not pile up polls).
function single(fn) {
  let running = false;
  return async () => {
    if (running) return;
    running = true;
    try {
      await fn();
    } finally {
      running = false;
    }
  };
}

function sum(map) {
  let total = 0;
  for (const v of map.values()) total += v;
  return total;
}

export function createDashboardPage() {
  const by = h(
    'select',
    { id: 'dash-group-by', testid: 'dash-group-by', onchange: regroup },
    h('option', { value: 'model' }, 'model'),
    h('option', { value: 'provider' }, 'provider'),
    h('option', { value: 'deployment' }, 'deployment'),
  );
  const status = h('p', { class: 'muted small', testid: 'dash-status', role: 'status' }, 'Loading metrics…');
  const charts = new Map(CHARTS.map((c) => [c.id, new TimeChart({ ...c, testid: `chart-${c.id}` })]));
  const tiles = new Map(
    ['requests', 'errors', 'tokens', 'cost', 'in-flight'].map((id) => [id, h('strong', { testid: `tile-${id}` }, '–')]),
  );
  const tile = (id, label) => h('div', { class: 'tile' }, h('span', { class: 'muted small' }, label), tiles.get(id));

  const deployments = session.master ? createDeploymentsPanel() : null;
  const requests = session.master ? createRequestsPanel() : null;
  const spend = session.master ? createSpendPanel() : null;
  const locked = notice(
    'info',
    session.adminDisabled
      ? 'The admin API is disabled on this gateway (no server.master_key), so deployments, requests and spend are not available.'
      : 'Sign in with the master key to see deployments, recent requests and spend, and to drain or enable deployments.',
    'dash-admin-locked',
  );

  const el = h(
    'section',
    { class: 'page dashboard', testid: 'page-dashboard', 'aria-labelledby': 'dash-title' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', { id: 'dash-title' }, 'Dashboard'),
      h('div', { class: 'filters' }, field('Group by', by)),
    ),
    status,
    h(
      'div',
      { class: 'tiles' },
      tile('requests', 'Requests / s'),
      tile('errors', 'Errors / s'),
      tile('tokens', 'Tokens / s'),
      tile('cost', 'Cost / hour at this rate'),
      tile('in-flight', 'Upstream requests in flight'),
    ),
    h('div', { class: 'charts' }, [...charts.values()].map((c) => c.el)),
    session.master ? [deployments.el, requests.el, spend.el] : locked,
  );

  const scrapes = [];
  let timer = 0;
  let ticks = 0;

  function regroup() {
    for (const c of charts.values()) c.reset();
    for (let i = 1; i < scrapes.length; i++) plot(scrapes[i - 1], scrapes[i]);
  }

  function plot(prev, cur) {
    const points = pointsBetween(prev, cur, by.value);
    for (const [id, chart] of charts) chart.push(cur.time, points[id]);
    return points;
  }

  function showTiles(points, cur) {
    tiles.get('requests').textContent = fmt.decimal(sum(points.requests));
    tiles.get('errors').textContent = fmt.decimal(sum(points.errors));
    tiles.get('tokens').textContent = fmt.decimal(sum(points.tokens));
    tiles.get('cost').textContent = fmt.usd(sum(points.cost) * 3600);
    const inFlight = cur.samples.filter((s) => s.name === 'shepherd_deployment_in_flight');
    tiles.get('in-flight').textContent = fmt.int(inFlight.reduce((a, s) => a + s.value, 0));
  }

  async function pollMetrics() {
    let r;
    try {
      r = await send('/metrics');
    } catch (e) {
      status.textContent = e.message;
      return;
    }
    if (!r.ok) {
      await r.body?.cancel();
      status.textContent =
        r.status === 401 || r.status === 403
          ? `/metrics answered ${r.status}: it needs the metrics token or the master key.`
          : `/metrics answered ${r.status}.`;
      return;
    }
    const cur = new Scrape(await r.text(), Date.now() / 1000);
    const prev = scrapes[scrapes.length - 1];
    scrapes.push(cur);
    if (scrapes.length > HISTORY + 1) scrapes.shift();
    status.textContent = `Updated ${fmt.time(Date.now()).slice(11)}; every ${POLL_MS / 1000} s.`;
    if (prev) showTiles(plot(prev, cur), cur);
  }

  const polls = [single(pollMetrics), ...[deployments, requests].filter(Boolean).map((p) => single(p.refresh))];
  const pollSpend = spend ? single(spend.refresh) : () => {};

  function tick() {
    if (document.hidden) return;
    for (const poll of polls) poll();
    if (ticks++ % SPEND_EVERY === 0) pollSpend();
  }

  return {
    el,
    show() {
      ticks = 0;
      tick();
      timer = setInterval(tick, POLL_MS);
    },
    hide() {
      clearInterval(timer);
    },
    destroy() {
      clearInterval(timer);
      for (const c of charts.values()) c.destroy();
    },
  };
}
