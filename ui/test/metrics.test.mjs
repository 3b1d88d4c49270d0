// The dashboard's arithmetic: Prometheus text parsing, counter rates and histogram quantiles
// (checked against what PromQL's rate() and histogram_quantile() give for the same data).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scrape, histogramQuantile, parsePrometheus, quantiles, rates } from '../src/metrics.js';

test('parses samples with labels, escapes, special values and timestamps', () => {
  const samples = parsePrometheus(
    [
      '# HELP shepherd_requests_total Requests answered.',
      '# TYPE shepherd_requests_total counter',
      'shepherd_requests_total{model="gpt-4.1",status="200"} 12',
      'shepherd_uptime_seconds 14.27 1700000000000',
      'odd{path="a\\"b\\\\c\\nd",le="+Inf"} +Inf',
      'not a sample line',
      '',
    ].join('\n'),
  );
  assert.deepEqual(samples, [
    { name: 'shepherd_requests_total', labels: { model: 'gpt-4.1', status: '200' }, value: 12 },
    { name: 'shepherd_uptime_seconds', labels: {}, value: 14.27 },
    { name: 'odd', labels: { path: 'a"b\\c\nd', le: '+Inf' }, value: Infinity },
  ]);
});

test('rates sum the series of a group and treat a counter that went down as reset', () => {
  const prev = new Scrape('c{model="a",status="200"} 10\nc{model="a",status="500"} 1\nc{model="b"} 50\n', 100);
  const cur = new Scrape('c{model="a",status="200"} 30\nc{model="a",status="500"} 5\nc{model="b"} 4\nc{model=""} 2\n', 102);
  const r = rates(prev, cur, 'c', (l) => l.model || '(refused)');
  assert.deepEqual(Object.fromEntries(r), { a: 12, b: 2, '(refused)': 1 });
});

test('histogram_quantile interpolates inside the bucket, as PromQL does', () => {
  const buckets = [
    { le: 0.1, count: 10 },
    { le: 0.5, count: 60 },
    { le: 1, count: 90 },
    { le: Infinity, count: 100 },
  ];
  assert.equal(histogramQuantile(0.5, buckets), 0.1 + 0.4 * (40 / 50)); // rank 50 in (0.1, 0.5]
  assert.equal(histogramQuantile(0.05, buckets), 0.05); // first bucket starts at 0
  assert.equal(histogramQuantile(0.99, buckets), 1); // in +Inf: the highest finite bound
  assert.equal(histogramQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }]), null);
  assert.equal(histogramQuantile(0.5, [{ le: 1, count: 3 }]), null); // no +Inf bucket
});

test('quantiles come from the increase of the buckets between scrapes', () => {
  const text = (n1, n2, inf) =>
    `h_bucket{model="m",le="0.5"} ${n1}\nh_bucket{model="m",le="1"} ${n2}\nh_bucket{model="m",le="+Inf"} ${inf}\n`;
  // Before: 100 fast observations. Since: 10 between 0.5 and 1 s only.
  const prev = new Scrape(text(100, 100, 100), 0);
  const cur = new Scrape(text(100, 110, 110), 2);
  assert.equal(quantiles(prev, cur, 'h', 0.5, (l) => l.model).get('m'), 0.75);
  const idle = quantiles(cur, cur, 'h', 0.5, (l) => l.model);
  assert.equal(idle.get('m'), null);
});
