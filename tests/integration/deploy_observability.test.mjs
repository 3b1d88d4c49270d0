// The deployment observability files: deploy/prometheus/shepherd-rules.yml (checked and unit
// tested with promtool), its tests (every alert fires in one case and stays quiet in another),
// and deploy/grafana/shepherd.json (valid JSON, valid PromQL). Every metric family the dashboard
// and the rules use must be exported by a real `shepherd serve` on /metrics.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  REPO_ROOT,
  bearer,
  chatBody,
  cleanup,
  fetchChat,
  gatewayConfig,
  makeTempDir,
  openaiProvider,
  readSSE,
  request,
  startMock,
  startShepherd,
} from '../support/harness.mjs';

const RULES = 'deploy/prometheus/shepherd-rules.yml';
const RULES_TEST = 'deploy/prometheus/shepherd-rules.test.yml';
const DASHBOARD = 'deploy/grafana/shepherd.json';

// The alerts the rules file must define.
const ALERTS = [
  'ShepherdHighLatencyP99',
  'ShepherdHighErrorRate',
  'ShepherdDeploymentDown',
  'ShepherdDeploymentCoolingDown',
  'ShepherdUpstreamAuthFailures',
  'ShepherdBudgetNearlySpent',
  'ShepherdAuditDrops',
  'ShepherdAuditSpooling',
];

const METRIC_RE = /\bshepherd_[a-z0-9_]+/g;

const read = (rel) => fs.readFileSync(path.join(REPO_ROOT, rel), 'utf8');

/** Runs promtool (bounded); fails, never skips, when it is not installed. */
function promtool(args) {
  const r = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60000 });
  if (r.error?.code === 'ENOENT') {
    assert.fail("promtool is not on PATH: run tools/deps.sh (it installs Debian's prometheus package, which has promtool)");
  }
  if (r.error) throw r.error;
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `promtool ${args.join(' ')} exited with ${r.status} (signal ${r.signal}):\n${output}`);
  return output;
}

/**
 * The values of `key:` in a block-style YAML file: inline scalars (plain or quoted) and block
 * scalars (| or >, with their indented lines joined by newlines). promtool does the full parse;
 * this reads the expressions back out of files kept in that plain style.
 */
function yamlValues(text, key) {
  const lines = text.split('\n');
  const values = [];
  for (let i = 0; i < lines.length; i += 1) {
    const m = /^(\s*(?:- )?)([A-Za-z_][A-Za-z0-9_]*):(?:\s+(.*))?$/.exec(lines[i]);
    if (!m || m[2] !== key) continue;
    const indent = m[1].length;
    const inline = (m[3] ?? '').trim();
    if (/^[|>][-+]?$/.test(inline)) {
      const block = [];
      for (let j = i + 1; j < lines.length; j += 1) {
        const line = lines[j];
        if (line.trim() === '') {
          block.push('');
          continue;
        }
        if (line.length - line.trimStart().length <= indent) break;
        block.push(line.trim());
      }
      values.push(block.join('\n').trim());
    } else {
      values.push(inline.replace(/^(['"])(.*)\1$/, '$2'));
    }
  }
  return values;
}

/** The rules of the rules file: [{alert, text}], text being the rule's lines. */
function alertRules(text) {
  return text
    .split(/^(?=[ \t]*- alert:)/m)
    .slice(1)
    .map((chunk) => ({ alert: /- alert:\s*(\S+)/.exec(chunk)[1], text: chunk }));
}

/** Every expression the dashboard runs: its panels' targets and its query variables. */
function dashboardExpressions(dashboard) {
  const exprs = [];
  const visit = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') exprs.push({ panel: p.title, expr: t.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q) exprs.push({ panel: `variable ${v.name}`, expr: q });
  }
  return exprs;
}

/** Panels of a dashboard, rows' nested panels included. */
function allPanels(dashboard) {
  const out = [];
  const visit = (panels) => {
    for (const p of panels ?? []) {
      out.push(p);
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

/** `# TYPE name type` lines of a Prometheus text exposition, as a Map name → type. */
function metricTypes(text) {
  const types = new Map();
  for (const m of text.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)\s*$/gm)) types.set(m[1], m[2]);
  return types;
}

/**
 * The family of a series name: a histogram's _bucket, _sum and _count series belong to it. A
 * _bucket name always does; _sum and _count only when /metrics declares the shorter name a
 * histogram or summary (else they are names of their own, such as a counter).
 */
function family(name, types) {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return name;
  const base = types.get(m[1]);
  if (base === 'histogram' || base === 'summary') return m[1];
  if (m[2] === 'bucket' && !types.has(name)) return m[1];
  return name;
}

describe('alerting rules (promtool)', { timeout: 120000 }, () => {
  test('promtool check rules accepts the rules file', () => {
    const out = promtool(['check', 'rules', RULES]);
    assert.match(out, /SUCCESS/, out);
    assert.match(out, new RegExp(`SUCCESS: ${ALERTS.length} rules found`), out);
  });

  test('promtool test rules passes every case', () => {
    const out = promtool(['test', 'rules', RULES_TEST]);
    assert.match(out, /SUCCESS/, out);
    assert.doesNotMatch(out, /FAILED/, out);
  });

  test('every alert is defined in group shepherd with for, a severity, a summary and a description', () => {
    const text = read(RULES);
    assert.match(text, /^\s*- name: shepherd\s*$/m, 'the group is named shepherd');
    const rules = alertRules(text);
    assert.deepEqual(rules.map((r) => r.alert).sort(), [...ALERTS].sort());
    for (const r of rules) {
      assert.match(r.text, /^\s+for:\s*\d+[smhd]\s*$/m, `${r.alert}: for`);
      assert.match(r.text, /^\s+severity:\s*(critical|warning|info)\s*$/m, `${r.alert}: severity label`);
      assert.match(r.text, /^\s+summary:\s*\S/m, `${r.alert}: summary annotation`);
      assert.match(r.text, /^\s+description:\s*\S/m, `${r.alert}: description annotation`);
      assert.equal(yamlValues(r.text, 'expr').length, 1, `${r.alert}: one expr`);
    }
    const exprOf = Object.fromEntries(rules.map((r) => [r.alert, yamlValues(r.text, 'expr')[0]]));
    assert.match(exprOf.ShepherdHighLatencyP99, /histogram_quantile\(0\.99,[\s\S]*shepherd_request_duration_seconds_bucket\[5m\][\s\S]*> 0\.5$/);
    assert.match(exprOf.ShepherdHighErrorRate, /rate\(shepherd_request_errors_total[^[]*\[5m\]\)[\s\S]*\/[\s\S]*rate\(shepherd_requests_total[^[]*\[5m\]\)[\s\S]*> 0\.05$/);
    assert.equal(exprOf.ShepherdDeploymentDown, 'shepherd_deployment_available == 0');
    assert.equal(exprOf.ShepherdDeploymentCoolingDown, 'shepherd_deployment_breaker_open == 1');
    assert.equal(exprOf.ShepherdUpstreamAuthFailures, 'increase(shepherd_deployment_auth_failures_total[10m]) > 0');
    assert.equal(exprOf.ShepherdBudgetNearlySpent, 'shepherd_key_budget_used_ratio > 0.9');
    assert.equal(exprOf.ShepherdAuditDrops, 'increase(shepherd_audit_dropped_total[10m]) > 0');
    assert.equal(exprOf.ShepherdAuditSpooling, 'shepherd_audit_spooled > 0');
    const spooling = rules.find((r) => r.alert === 'ShepherdAuditSpooling');
    assert.match(spooling.text, /^\s+for:\s*10m\s*$/m, 'ShepherdAuditSpooling waits 10m');
  });

  test('the unit tests make every alert fire in one case and stay quiet in another', () => {
    const lines = read(RULES_TEST).split('\n');
    const fires = new Set();
    const quiet = new Set();
    for (let i = 0; i < lines.length; i += 1) {
      const m = /^\s*(?:- )?alertname:\s*(\S+)\s*$/.exec(lines[i]);
      if (!m) continue;
      let j = i + 1;
      while (j < lines.length && !/^\s*exp_alerts:/.test(lines[j])) j += 1;
      assert.ok(j < lines.length, `${m[1]} (line ${i + 1}): exp_alerts follows`);
      if (/^\s*exp_alerts:\s*\[\]\s*$/.test(lines[j])) {
        quiet.add(m[1]);
      } else {
        assert.match(lines[j + 1] ?? '', /^\s*- exp_labels:/, `${m[1]} (line ${j + 1}): an expected alert`);
        fires.add(m[1]);
      }
    }
    assert.deepEqual(ALERTS.filter((a) => !fires.has(a)), [], 'alerts never expected to fire');
    assert.deepEqual(ALERTS.filter((a) => !quiet.has(a)), [], 'alerts never expected to stay quiet');
  });
});

describe('Grafana dashboard', { timeout: 60000 }, () => {
  test('is valid JSON with a Prometheus datasource variable and model and provider variables', () => {
    const dashboard = JSON.parse(read(DASHBOARD));
    assert.equal(typeof dashboard.schemaVersion, 'number');
    assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    assert.equal(dashboard.title, 'Shepherd');
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.datasource?.type, 'datasource');
    assert.equal(vars.datasource?.query, 'prometheus');
    for (const name of ['model', 'provider']) {
      assert.equal(vars[name]?.type, 'query', `variable ${name}`);
      assert.match(vars[name].query.query, new RegExp(`^label_values\\(shepherd_[a-z_]+(\\{.*\\})?, ${name}\\)$`));
      assert.equal(vars[name].datasource.uid, '${datasource}');
    }
    const panels = allPanels(dashboard).filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 12, `${panels.length} panels`);
    const ids = new Set();
    for (const p of panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is unique`);
      ids.add(p.id);
      assert.equal(p.datasource?.uid, '${datasource}', `${p.title}: datasource`);
      assert.ok(p.targets?.length > 0, `${p.title}: has queries`);
      for (const t of p.targets) assert.equal(t.datasource?.uid, '${datasource}', `${p.title} ${t.refId}: datasource`);
    }
    const exprs = dashboardExpressions(dashboard).map((e) => e.expr).join('\n');
    for (const q of [
      /histogram_quantile\(0\.5,[\s\S]*?shepherd_request_duration_seconds_bucket/,
      /histogram_quantile\(0\.99,[\s\S]*?shepherd_request_duration_seconds_bucket/,
      /histogram_quantile\(0\.5,[\s\S]*?shepherd_time_to_first_token_seconds_bucket/,
      /histogram_quantile\(0\.99,[\s\S]*?shepherd_time_to_first_token_seconds_bucket/,
      /sum by \(kind\) \(rate\(shepherd_tokens_total/,
      /rate\(shepherd_cost_usd_total[^)]*\)\) \* 3600/,
      /shepherd_upstream_connections/,
      /shepherd_config_reloads_total/,
    ]) {
      assert.match(exprs, q);
    }
  });

  test('every dashboard query is valid PromQL (promtool, with the variables filled in)', () => {
    const dashboard = JSON.parse(read(DASHBOARD));
    const fill = (expr) =>
      expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replace(/\$\{?(model|provider)\}?/g, '.*');
    const exprs = dashboardExpressions(dashboard).filter((e) => !e.expr.startsWith('label_values('));
    assert.ok(exprs.length > 0);
    for (const e of exprs) assert.doesNotMatch(fill(e.expr), /\$/, `${e.panel}: a variable left unfilled`);
    // Recording rules are PromQL checked by `promtool check rules`; the file is JSON, which YAML reads.
    const rules = {
      groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard_query_${i}`, expr: fill(e.expr) })) }],
    };
    const file = path.join(makeTempDir('shepherd-dashboard-'), 'dashboard-queries.yml');
    fs.writeFileSync(file, `${JSON.stringify(rules, null, 2)}\n`);
    const out = promtool(['check', 'rules', file]);
    assert.match(out, new RegExp(`SUCCESS: ${exprs.length} rules found`), out);
  });
});

describe('the dashboard and the rules use only metrics Shepherd exports', { timeout: 60000 }, () => {
  const MASTER = 'master-key-for-observability-tests';
  const STATIC = 'sk-static-key-for-observability-tests';
  const SECRET = 'hmac-secret-for-observability-tests-0123456789';
  let shepherd;
  let metricsText;

  before(async () => {
    const mock = await startMock();
    shepherd = await startShepherd(
      {
        ...gatewayConfig({
          server: { api_keys: ['env:STATIC_KEY'], master_key: 'env:MASTER_KEY' },
          providers: { mock: openaiProvider(mock) },
          models: { 'gpt-4.1': { deployments: [{ provider: 'mock', price: { input: 2, output: 8 } }] } },
        }),
        keys: { secret: 'env:KEY_SECRET' },
      },
      { env: { STATIC_KEY: STATIC, MASTER_KEY: MASTER, KEY_SECRET: SECRET } },
    );
    // A virtual key with a budget, so that the per-key series have something to show.
    const created = await request(`${shepherd.url}/admin/keys`, {
      method: 'POST',
      headers: bearer(MASTER),
      body: { name: 'observability', budget: { usd: 10, period: 'month' } },
    });
    assert.equal(created.status, 201, created.text);
    const key = created.json().secret;

    const plain = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: bearer(key),
      body: chatBody('gpt-4.1'),
    });
    assert.equal(plain.status, 200, plain.text);
    const stream = await fetchChat(shepherd.url, chatBody('gpt-4.1', { stream: true, includeUsage: true }), { key });
    assert.equal(stream.status, 200);
    const sse = await readSSE(stream);
    assert.equal(sse.error, null, `the stream broke off: ${sse.error}`);
    assert.equal(sse.done, true, 'the stream ended with [DONE]');
    const viaStatic = await request(`${shepherd.url}/v1/chat/completions`, {
      method: 'POST',
      headers: bearer(STATIC),
      body: chatBody('gpt-4.1'),
    });
    assert.equal(viaStatic.status, 200, viaStatic.text);
    // One applied reload of the unchanged file.
    const reloaded = await request(`${shepherd.url}/admin/config/reload`, { method: 'POST', headers: bearer(MASTER) });
    assert.equal(reloaded.status, 200, reloaded.text);

    const metrics = await request(`${shepherd.url}/metrics`);
    assert.equal(metrics.status, 200, metrics.text);
    metricsText = metrics.text;
  });
  after(cleanup);

  test('every metric family of the dashboard and the rules has a # TYPE line on /metrics', () => {
    const types = metricTypes(metricsText);
    assert.ok(types.get('shepherd_requests_total') === 'counter', `/metrics looks like Shepherd's:\n${metricsText.slice(0, 500)}`);

    const used = new Map(); // family → where it is used
    const histogramUses = new Set(); // families read through their _bucket series
    const note = (name, where) => {
      const fam = family(name, types);
      if (name.endsWith('_bucket') && fam !== name) histogramUses.add(fam);
      if (!used.has(fam)) used.set(fam, new Set());
      used.get(fam).add(where);
    };
    for (const e of dashboardExpressions(JSON.parse(read(DASHBOARD)))) {
      for (const [name] of e.expr.matchAll(METRIC_RE)) note(name, `${DASHBOARD} (${e.panel})`);
    }
    for (const expr of yamlValues(read(RULES), 'expr')) {
      for (const [name] of expr.matchAll(METRIC_RE)) note(name, RULES);
    }
    assert.ok(used.size >= 20, `metric families found in the files: ${[...used.keys()].join(', ')}`);

    const missing = [...used.keys()].filter((name) => !types.has(name)).sort();
    assert.deepEqual(
      missing,
      [],
      `metric families used by the dashboard or the rules but missing from Shepherd's /metrics:\n${missing
        .map((name) => `  ${name}  (used in ${[...used.get(name)].join('; ')})`)
        .join('\n')}`,
    );
    const notHistograms = [...histogramUses].filter((name) => types.get(name) !== 'histogram').sort();
    assert.deepEqual(notHistograms, [], `read through _bucket series but not histograms: ${notHistograms.join(', ')}`);
  });
});
