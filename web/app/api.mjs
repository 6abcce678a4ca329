// The JSON API (docs/api.md) from the pages: same-origin, cookies included, JSON in and out.
// A refusal becomes an ApiError carrying the server's stable code, which the pages translate.
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || (status === 0 ? 'network' : 'http_error');
    this.body = body || {};
  }
}

// Sent with every request: the proof that a script of this origin made it. No link, form or other
// site's page can send it (another origin would need a CORS preflight, which the server never grants),
// so the server asks for it where a cross-site request would do harm: the downloads. The name is one
// the server's HTTP/2 parser keeps; the value is no secret.
const PAGE_HEADERS = { 'x-auth-token': 'same-origin' };

// background: the page asks by itself (a poll, a check after a lost connection), not because the user
// did something. Such a request does not keep the session alive, or a console left open never times out.
async function request(method, path, body, { background = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { ...PAGE_HEADERS }, cache: 'no-store' };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  const url = background ? `${path}${path.includes('?') ? '&' : '?'}background=1` : path;
  try {
    return await fetch(url, init);
  } catch {
    throw new ApiError(0, null);
  }
}

export async function api(method, path, body, options) {
  const res = await request(method, path, body, options);
  let text;
  try {
    text = await res.text();
  } catch {
    throw new ApiError(0, null);   // the connection broke during the body
  }
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data ?? {};
}

// A download (the export, the audit log) as the server sent it, to hand to saveBlob.
export async function apiBlob(path) {
  const res = await request('GET', path);
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  try {
    return await res.blob();
  } catch {
    throw new ApiError(0, null);
  }
}
