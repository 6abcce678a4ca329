// The JSON API through televisitd's real HTTPS front: bodies too large or without a length, wrong
// content types, other origins, malformed JSON, forged cookies; the server answers each with a JSON 4xx
// and keeps serving. Unknown and known e-mails take about as long to refuse. The downloads of the
// account's data answer only the pages' own fetch, over HTTP/1.1 and over HTTP/2 (what browsers use).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect as http2 } from 'node:http2';
import { PAGE_HEADERS, PASSWORD, api, clinician, sqlite, startServer } from './lib.mjs';

let server;
let session;

before(async () => {
  server = await startServer();
  session = await clinician(server, 'dr@example.org');
});

after(async () => {
  if (server) await server.stop();
  server?.remove();
});

// A POST without a Content-Length (a chunked body): libwebsockets 4.1 cannot frame it, so the API
// answers 411 on the headers alone; the body is never sent here.
function chunked(path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: 'POST', ca: server.ca, servername: 'localhost',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let t = '';
      res.on('data', (d) => { t += d; });
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode, json: JSON.parse(t), headers: res.headers, text: t }); });
    });
    req.on('error', (e) => { if (!req.destroyed) reject(e); });
    req.flushHeaders();
  });
}

test('refused requests get a JSON 4xx, change nothing, and the server goes on', async () => {
  const users = sqlite(server, 'SELECT count(*) FROM users');
  const visits = sqlite(server, 'SELECT count(*) FROM visits');
  const big = `{"label":"${'x'.repeat(20000)}"}`;
  const cases = [
    [await api(server, 'POST', '/api/visits', undefined, { cookie: session, raw: big }), 413, 'too_long'],
    [await chunked('/api/register'), 411, 'length_required'],
    [await api(server, 'POST', '/api/visits', {}, { cookie: session, contentType: 'text/plain' }), 415, 'invalid_argument'],
    [await api(server, 'POST', '/api/visits', {}, { cookie: session, origin: 'https://evil.example' }), 403, 'forbidden'],
    [await api(server, 'POST', '/api/visits', undefined, { cookie: session, raw: '{"label":' }), 400, 'msg_malformed_json'],
    [await api(server, 'POST', '/api/visits', {}, { cookie: 'A'.repeat(43) }), 401, 'unauthorized'],
    [await api(server, 'GET', '/api/me', undefined, { cookie: 'not-a-token' }), 401, 'unauthorized'],
    [await api(server, 'PUT', '/api/visits', {}, { cookie: session }), 405, 'method_not_allowed'],
    [await api(server, 'GET', '/api/nothing'), 404, 'not_found'],
    [await api(server, 'POST', '/api/activate', { key: 'A'.repeat(43), password: 'Correct-Horse-Battery-9' }), 400, 'token_mismatch'],
  ];
  for (const [r, status, code] of cases) {
    assert.equal(r.status, status, r.text);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    if (code) assert.equal(r.json.error, code);
    assert.equal(r.headers['cache-control'], 'no-store');
  }
  assert.equal(sqlite(server, 'SELECT count(*) FROM users'), users);
  assert.equal(sqlite(server, 'SELECT count(*) FROM visits'), visits);
  const ok = await api(server, 'POST', '/api/login', { email: 'dr@example.org', password: PASSWORD });
  assert.equal(ok.status, 200);
  assert.match(ok.setCookie, /^__Host-tv_session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=None; Partitioned/);
  assert.equal((await api(server, 'GET', '/healthz')).status, 200);
});

test('an unknown e-mail takes about as long to refuse as a wrong password', async () => {
  const time = async (email) => {
    const t0 = process.hrtime.bigint();
    const r = await api(server, 'POST', '/api/login', { email, password: 'Wrong-Password-123' });
    assert.equal(r.status, 401);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const known = [];
  const unknown = [];
  for (let i = 0; i < 4; i++) {   // interleaved, fewer than the lockout's five
    known.push(await time('dr@example.org'));
    unknown.push(await time(`nobody${i}@example.org`));
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ratio = median(unknown) / median(known);
  // Argon2id dominates both; without the dummy hash an unknown address answers in a fraction of it
  assert.ok(ratio > 0.5 && ratio < 2, `unknown/known median ${ratio.toFixed(2)} (${median(unknown).toFixed(1)} / ${median(known).toFixed(1)} ms)`);
});

test('the strength check while typing: the server\'s zxcvbn judges, nothing is stored, and it does not spend the sign-in budget', async () => {
  const users = sqlite(server, 'SELECT count(*) FROM users');
  const weak = await api(server, 'POST', '/api/password/check', { password: 'Password123' });
  assert.equal(weak.status, 200);
  assert.deepEqual(weak.json.failed, ['strength']);
  assert.equal(weak.json.ok, false);
  assert.ok(weak.json.score < 3);
  const strong = await api(server, 'POST', '/api/password/check', { password: PASSWORD });
  assert.deepEqual(strong.json, { failed: [], ok: true, score: strong.json.score });
  assert.ok(strong.json.score >= 3);
  // more checks than the auth limit allows sign-ins in a minute: none is refused
  for (let i = 0; i < 40; i++) assert.equal((await api(server, 'POST', '/api/password/check', { password: `x${i}` })).status, 200);
  // and the address can still sign in: the checks did not spend its sign-in budget
  assert.equal((await api(server, 'POST', '/api/login', { email: 'dr@example.org', password: PASSWORD })).status, 200);
  assert.equal((await api(server, 'POST', '/api/password/check', { password: 5 })).status, 400);
  assert.equal((await api(server, 'POST', '/api/password/check', { password: 'a', extra: 1 })).status, 400);
  assert.equal(sqlite(server, 'SELECT count(*) FROM users'), users);
  assert.ok(!server.log().includes('Password123'));
});

// A link, a navigation or another site's <a href download> carries the session cookie (SameSite=None,
// for the EHR's frame) but not the header the pages' fetch sends: the account's data, decrypted, must
// not land in the downloads that way.
test('the export and the audit download need the pages\' header: without it 403, no file and nothing exported', async () => {
  const exported = () => Number(sqlite(server, "SELECT count(*) FROM audit WHERE type = 'data_exported'"));
  const before = exported();
  const navigation = { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document', 'Sec-Fetch-User': '?1' };
  for (const path of ['/api/export', '/api/audit', '/api/audit?format=csv']) {
    const refused = [
      await api(server, 'GET', path, undefined, { cookie: session, page: false, headers: navigation }),
      await api(server, 'GET', path, undefined, { cookie: session, page: false }),   // a browser without Sec-Fetch-* (old Safari)
      await api(server, 'GET', path, undefined, { cookie: session, page: false, headers: { 'x-auth-token': 'yes' } }),
      // the header, and the browser says another site asked (readable over HTTP/1.1)
      await api(server, 'GET', path, undefined, { cookie: session, headers: { 'Sec-Fetch-Site': 'cross-site' } }),
      await api(server, 'GET', path, undefined, { cookie: session, origin: 'https://evil.example' }),
    ];
    for (const r of refused) {
      assert.equal(r.status, 403, `${path}: ${r.text}`);
      assert.equal(r.json.error, 'forbidden');
      assert.equal(r.headers['content-disposition'], undefined);
      assert.match(r.headers['content-type'], /^application\/json/);
    }
  }
  assert.equal(exported(), before, 'a refused download is not audited as an export');
  const file = await api(server, 'GET', '/api/export', undefined, { cookie: session, headers: { 'Sec-Fetch-Site': 'same-origin' } });
  assert.equal(file.status, 200, file.text);
  assert.match(file.headers['content-disposition'], /televisit-my-data\.json/);
  assert.equal(file.json.account.email, 'dr@example.org');
  const csv = await api(server, 'GET', '/api/audit?format=csv', undefined, { cookie: session });
  assert.equal(csv.status, 200, csv.text);
  assert.match(csv.text, /^"seq","ts_ms"/);
  assert.equal(exported(), before + 2);
});

// Browsers speak HTTP/2 to televisitd, where libwebsockets 4.1 keeps only the headers it knows: the
// pages' header must be one of them, or the console's own downloads would be refused.
test('over HTTP/2 the pages\' header reaches the API: with it the export, without it 403', async () => {
  const client = http2(`https://127.0.0.1:${server.port}`, { ca: server.ca, servername: 'localhost' });
  client.on('error', () => {});
  const get = (path, headers) => new Promise((resolve, reject) => {
    const req = client.request({ ':method': 'GET', ':path': path, cookie: `__Host-tv_session=${session}`, ...headers });
    let text = '';
    let status = 0;
    req.on('response', (h) => { status = h[':status']; });
    req.setEncoding('utf8');
    req.on('data', (d) => { text += d; });
    req.on('end', () => resolve({ status, text }));
    req.on('error', reject);
    req.end();
  });
  try {
    const ok = await get('/api/export', PAGE_HEADERS);
    assert.equal(client.alpnProtocol, 'h2');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(JSON.parse(ok.text).account.email, 'dr@example.org');
    const refused = await get('/api/export', {});
    assert.equal(refused.status, 403, refused.text);
    assert.equal(JSON.parse(refused.text).error, 'forbidden');
  } finally {
    client.close();
  }
});
