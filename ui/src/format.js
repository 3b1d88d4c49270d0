// Numbers for people: "1.06 s", "100 %", "$0.0123", "12,345". Never exponents, never NaN:
// a value that is missing or not finite shows as an en dash.

const DASH = '–';
// The UI's words are English; its numbers follow them, whatever the browser's locale.
const LOCALE = 'en-US';

function finite(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

function number(v, options) {
  return v.toLocaleString(LOCALE, options);
}

// A count with thousands separators.
export function int(v) {
  return finite(v) ? number(Math.round(v), { maximumFractionDigits: 0 }) : DASH;
}

// A decimal with at most `digits` significant digits below 100 (rates, ratios on charts).
export function decimal(v, digits = 3) {
  if (!finite(v)) return DASH;
  if (Math.abs(v) >= 100 || v === 0) return int(v);
  return number(v, { maximumSignificantDigits: digits });
}

// US dollars: cents above a dollar, four significant digits below ($0.0123, $0.000603).
export function usd(v) {
  if (!finite(v)) return DASH;
  if (v === 0) return '$0';
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  const text =
    a >= 1
      ? number(a, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
      : number(a, { maximumSignificantDigits: 4, maximumFractionDigits: 12 });
  return `${sign}$${text}`;
}

// A ratio (0.5) as a percentage ("50 %"); one decimal below 10 %.
export function percent(ratio) {
  if (!finite(ratio)) return DASH;
  const p = ratio * 100;
  return `${number(p, { maximumFractionDigits: Math.abs(p) < 10 ? 1 : 0 })} %`;
}

// A duration in seconds: "850 µs", "312 ms", "1.06 s", "2 min 5 s", "3 h 20 min".
export function seconds(s) {
  if (!finite(s)) return DASH;
  const a = Math.abs(s);
  if (a === 0) return '0 s';
  if (a < 0.001) return `${number(s * 1e6, { maximumFractionDigits: 0 })} µs`;
  if (a < 1) return `${number(s * 1000, { maximumSignificantDigits: 3 })} ms`;
  if (a < 60) return `${number(s, { maximumSignificantDigits: 3 })} s`;
  if (a < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function millis(ms) {
  return finite(ms) ? seconds(ms / 1000) : DASH;
}

// A time (Unix ms or an ISO string) in the reader's time zone: "2026-11-30 19:33:59".
export function time(t) {
  if (t === null || t === undefined || t === '') return DASH;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
  );
}

// A value of <input type="datetime-local"> (local time) as RFC 3339 UTC, or '' when empty.
export function localInputToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// An ISO time as the value of <input type="datetime-local">.
export function isoToLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
