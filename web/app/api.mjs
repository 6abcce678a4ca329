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

export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {}, cache: 'no-store' };
  if (method !== 'GET') {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
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
