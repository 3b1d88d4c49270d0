// Prometheus' text exposition format (version 0.0.4) read in the browser, and what the dashboard
// derives from two successive scrapes: counter rates and histogram quantiles over the interval
// between them, computed as PromQL's rate() and histogram_quantile() would.

// One sample: {name, labels: {k: v}, value}. Comments, TYPE and HELP lines are skipped; a line
// that does not parse is skipped too (the dashboard shows what it can).
export function parsePrometheus(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const s = parseLine(line);
    if (s) samples.push(s);
  }
  return samples;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseLine(line) {
  const m = NAME.exec(line);
  if (!m) return null;
  const name = m[0];
  let i = name.length;
  const labels = {};
  if (line[i] === '{') {
    i = parseLabels(line, i + 1, labels);
    if (i < 0) return null;
  }
  const fields = line.slice(i).trim().split(/\s+/); // value, then an optional timestamp
  const value = parseValue(fields[0]);
  return Number.isNaN(value) && fields[0] !== 'NaN' ? null : { name, labels, value };
}

// Reads `k="v",...}` from line[i]; returns the index after '}', or -1.
function parseLabels(line, i, labels) {
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return i + 1;
    const eq = line.indexOf('=', i);
    if (eq < 0 || line[eq + 1] !== '"') return -1;
    const key = line.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        j++;
        value += line[j] === 'n' ? '\n' : line[j];
      } else {
        value += line[j];
      }
    }
    if (j >= line.length) return -1;
    labels[key] = value;
    i = j + 1;
  }
}

function parseValue(text) {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return text === undefined ? NaN : Number(text);
}

// A scrape indexed for lookups: series key -> value, with the samples kept for iteration.
export class Scrape {
  constructor(text, time) {
    this.time = time; // seconds, when it was taken
    this.samples = parsePrometheus(text);
    this.values = new Map(this.samples.map((s) => [seriesKey(s.name, s.labels), s.value]));
  }
}

export function seriesKey(name, labels) {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${parts.join(',')}}`;
}

// How much a counter grew between the scrapes; a counter that went down was reset (the process
// restarted), and everything it counted since is new, as rate() treats it.
function increase(prev, cur, s) {
  const before = prev.values.get(seriesKey(s.name, s.labels));
  if (before === undefined || s.value < before) return s.value;
  return s.value - before;
}

// The per-second rate of counter `name` between two scrapes, summed per group:
// Map(group -> rate). `groupOf(labels)` names a sample's group, or null to leave it out.
export function rates(prev, cur, name, groupOf) {
  const dt = cur.time - prev.time;
  const out = new Map();
  if (!(dt > 0)) return out;
  for (const s of cur.samples) {
    if (s.name !== name) continue;
    const g = groupOf(s.labels);
    if (g === null) continue;
    out.set(g, (out.get(g) ?? 0) + increase(prev, cur, s) / dt);
  }
  return out;
}

// The q-quantile (0..1) of histogram `name` (its `name_bucket` series) over the interval between
// two scrapes, per group: Map(group -> value, or null when the group saw no observations).
export function quantiles(prev, cur, name, q, groupOf) {
  const buckets = new Map(); // group -> Map(le -> increase)
  for (const s of cur.samples) {
    if (s.name !== `${name}_bucket`) continue;
    const g = groupOf(s.labels);
    if (g === null) continue;
    const le = parseValue(s.labels.le);
    if (Number.isNaN(le)) continue;
    if (!buckets.has(g)) buckets.set(g, new Map());
    const byLe = buckets.get(g);
    byLe.set(le, (byLe.get(le) ?? 0) + increase(prev, cur, s));
  }
  const out = new Map();
  for (const [g, byLe] of buckets) {
    const sorted = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
    out.set(g, histogramQuantile(q, sorted));
  }
  return out;
}

// PromQL's histogram_quantile over cumulative buckets [{le, count}] sorted by le, the last +Inf:
// linear interpolation inside the bucket the rank falls in, the lower bound of the first bucket
// being 0; a rank in the +Inf bucket answers the highest finite bound. Null without observations.
export function histogramQuantile(q, buckets) {
  if (buckets.length < 2 || buckets[buckets.length - 1].le !== Infinity) return null;
  // Counts from separately scraped series can be out of order by a little: make them monotonic.
  const counts = [];
  for (const b of buckets) counts.push(Math.max(b.count, counts.length ? counts[counts.length - 1] : 0));
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  if (q <= 0) return buckets[0].le > 0 ? 0 : buckets[0].le;
  if (q >= 1) return buckets[buckets.length - 2].le;
  const rank = q * total;
  const i = counts.findIndex((c) => c >= rank);
  if (i === buckets.length - 1) return buckets[buckets.length - 2].le;
  if (i === 0 && buckets[0].le <= 0) return buckets[0].le;
  const start = i === 0 ? 0 : buckets[i - 1].le;
  const below = i === 0 ? 0 : counts[i - 1];
  const inBucket = counts[i] - below;
  return start + (buckets[i].le - start) * ((rank - below) / inBucket);
}
