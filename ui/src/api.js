// Talking to the gateway: the signed-in key, JSON calls, and the gateway's errors as values.
//
// The key lives in sessionStorage only (gone when the tab closes; never in a URL or
// localStorage) and goes out as `Authorization: Bearer <key>` on same-origin calls.

const STORAGE_KEY = 'shepherd.key';

export const session = {
  key: sessionStorage.getItem(STORAGE_KEY) ?? '',
  master: false, // the key opens /admin/
  apiKey: false, // the key (or open mode) opens /v1/
  open: false, // the gateway takes /v1/ requests without a key
  adminDisabled: false, // the gateway has no master key configured
};

export function saveKey(key) {
  session.key = key;
  if (key) sessionStorage.setItem(STORAGE_KEY, key);
  else sessionStorage.removeItem(STORAGE_KEY);
}

export function authHeaders(extra = {}) {
  return session.key ? { ...extra, Authorization: `Bearer ${session.key}` } : extra;
}

// An error answer from the gateway, or a failure to reach it (status 0).
export class ApiError extends Error {
  constructor(status, message, { type = '', code = '', param = '' } = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }

  // "429 rate_limit_exceeded: ..." for people.
  describe() {
    const head = [this.status || '', this.code || this.type].filter(Boolean).join(' ');
    return head ? `${head}: ${this.message}` : this.message;
  }
}

// The gateway's error shape: {"error": {"message", "type", "code", "param"}} (OpenAI's), or
// Anthropic's {"type": "error", "error": {...}}; anything else is shown as text.
export function errorFromBody(status, text) {
  try {
    const e = JSON.parse(text)?.error;
    if (e && typeof e === 'object') {
      return new ApiError(status, e.message || 'error', { type: e.type, code: e.code ?? '', param: e.param ?? '' });
    }
  } catch {
    // not JSON
  }
  return new ApiError(status, text.trim().slice(0, 500) || `HTTP ${status}`);
}

// fetch() that turns network failures into ApiError(0, ...).
// `anonymous`: without the key.
export async function send(path, { method = 'GET', body, signal, headers = {}, anonymous = false } = {}) {
  const init = { method, signal, headers: anonymous ? { ...headers } : authHeaders(headers), cache: 'no-store' };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  try {
    return await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the gateway (${e.message})`);
  }
}

// A JSON call: resolves with the parsed body of a 2xx answer, throws ApiError otherwise.
export async function api(path, options) {
  const r = await send(path, options);
  const text = await r.text();
  if (!r.ok) throw errorFromBody(r.status, text);
  return text ? JSON.parse(text) : null;
}

// A path with a query string built from the non-empty members of `params`.
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// What the current key (or no key) opens, found by asking: /admin/deployments answers 200 to the
// master key only (401 to other keys, 403 when no master key is configured), /v1/models to API
// keys (and to anyone in open mode). Resolves with null when the key opens the admin API or the
// chat API, else with the ApiError to show (without a key: when the gateway is not open).
export async function identify() {
  const probe = async (path, options) => {
    const r = await send(path, options);
    return { ok: r.ok, status: r.status, text: await r.text() };
  };
  const [admin, models, anonymous] = await Promise.all([
    probe('/admin/deployments'),
    probe('/v1/models'),
    session.key ? probe('/v1/models', { anonymous: true }) : null,
  ]);
  session.master = admin.status === 200;
  session.adminDisabled = admin.status === 403;
  session.apiKey = models.ok;
  session.open = (anonymous ?? models).ok;
  if (session.master || session.apiKey) return null;
  if (!session.key) return new ApiError(models.status, 'this gateway needs a key');
  return errorFromBody(models.status, models.text);
}
