// HTTP client for the mrpt API (API.md): JSON calls, the CSRF header, uploads with progress, error decoding.

// The CSRF token lives only in this variable: never in storage, so it dies with the page.
let csrfToken = null;
let sessionLostHandler = () => {};

let expectedUser = null;

export function setCsrfToken(token) { csrfToken = token || null; }
export function onSessionLost(fn) { sessionLostHandler = fn; }
// The user this page shows. A token refresh that finds another user's
// session (someone logged in as another user in another tab) must not let
// this page carry on under the new identity.
export function setExpectedUser(id) { expectedUser = id || null; }

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// Only these codes mean "this page no longer has a session"; a 401 from a
// wrong password (invalid_credentials) must not throw the user out.
const LOST = new Set(['unauthenticated', 'session_expired']);

export class ApiError extends Error {
  constructor(status, body, header) {
    const e = (body && typeof body === 'object' && body.error) || {};
    super(e.message || (status ? `HTTP ${status}` : 'The server could not be reached.'));
    this.status = status;
    this.code = e.code || (status === 0 ? 'network' : `http_${status}`);
    this.field = e.field;
    this.line = e.line;
    this.variable = e.variable;
    const h = header || (() => null);
    this.requestId = e.request_id || h('X-Request-ID') || '';
    this.retryAfter = parseRetryAfter(h('Retry-After'));
  }
}

// Retry-After is either delta-seconds or an HTTP date (RFC 9110).
function parseRetryAfter(v) {
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, Math.round((t - Date.now()) / 1000));
}

function parseBody(text, type) {
  if (!text) return null;
  if (type && type.includes('json')) { try { return JSON.parse(text); } catch { return null; } }
  return text;
}

async function send(method, path, body, accept) {
  const headers = { Accept: accept };
  let payload;
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  if (MUTATING.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, null, null);
  }
  const text = await res.text();
  return { res, data: parseBody(text, res.headers.get('Content-Type')) };
}

async function call(method, path, body, accept, retried) {
  const { res, data } = await send(method, path, body, accept);
  if (res.ok) return data;
  const err = new ApiError(res.status, data, (n) => res.headers.get(n));
  // A refused token (another tab logged in again, say) is refreshed once; the
  // server refused the call, so repeating it cannot do anything twice.
  if (err.code === 'csrf_failed' && !retried && await refreshToken()) {
    return call(method, path, body, accept, true);
  }
  if (LOST.has(err.code)) sessionLostHandler(err);
  throw err;
}

async function refreshToken() {
  try {
    const { res, data } = await send('GET', '/api/session', undefined, 'application/json');
    if (res.ok && data && data.csrf_token) {
      if (expectedUser && data.user.id !== expectedUser) {
        sessionLostHandler({ code: 'other_user', message: '' });
        return false;
      }
      csrfToken = data.csrf_token;
      return true;
    }
  } catch { /* fall through: report the original error */ }
  return false;
}

export const get = (path) => call('GET', path, undefined, 'application/json');
export const post = (path, body) => call('POST', path, body, 'application/json');
export const del = (path, body) => call('DELETE', path, body, 'application/json');
export const getText = (path, accept = 'image/svg+xml') => call('GET', path, undefined, accept);

// The session probe at start-up: a 401 there is the normal logged-out state
// (returned as an ApiError so the page can say when it was an expiry).
export async function probeSession() {
  const { res, data } = await send('GET', '/api/session', undefined, 'application/json');
  if (res.ok) { csrfToken = data.csrf_token; return { data }; }
  if (res.status === 401) return { lost: new ApiError(res.status, data, (n) => res.headers.get(n)) };
  throw new ApiError(res.status, data, (n) => res.headers.get(n));
}

// fetch cannot report upload progress, so uploads go through XMLHttpRequest.
// onProgress(loaded, total) is called as bytes leave the browser.
export function upload(path, formData, onProgress) {
  let xhr;
  const attempt = (retried) => new Promise((resolve, reject) => {
    xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    if (csrfToken) xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onload = () => {
      const data = parseBody(xhr.responseText, xhr.getResponseHeader('Content-Type'));
      if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
      const err = new ApiError(xhr.status, data, (n) => xhr.getResponseHeader(n));
      if (err.code === 'csrf_failed' && !retried) {
        return refreshToken().then((ok) => (ok ? attempt(true).then(resolve, reject) : reject(err)));
      }
      if (LOST.has(err.code)) sessionLostHandler(err);
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError(0, null, null));
    xhr.onabort = () => { const e = new ApiError(0, null, null); e.code = 'aborted'; reject(e); };
    xhr.send(formData);
  });
  return { promise: attempt(false), abort: () => xhr && xhr.abort() };
}
