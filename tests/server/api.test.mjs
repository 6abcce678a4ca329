// The JSON API through televisitd's real HTTPS front: bodies too large or without a length, wrong
// content types, other origins, malformed JSON, forged cookies; the server answers each with a JSON 4xx
// and keeps serving. Unknown and known e-mails take about as long to refuse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { PASSWORD, api, clinician, sqlite, startServer } from './lib.mjs';

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
