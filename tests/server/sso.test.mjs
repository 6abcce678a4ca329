// Single sign-on against a real OpenID provider (oidc-provider on loopback, tests/server/oidc-op.mjs)
// and, for the attacks a real provider will not stage, a hostile one written here that answers the
// code with forged ID tokens. televisitd is the relying party under test: discovery, PKCE, state,
// nonce, ID token checks, account links, the popup claim, the SMART EHR launch, and the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { createServer } from 'node:https';
import { readFileSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import * as OTPAuth from 'otpauth';
import { api, randomPort, sqlite, startServer, userAdd, PASSWORD, auditVerify } from './lib.mjs';
import { startProvider } from './oidc-op.mjs';

let server, op, evil;
const tvPort = randomPort();
const downPort = randomPort();   // nothing listens there
const redirectUri = `https://localhost:${tvPort}/api/sso/callback`;

// ---- a small browser: one cookie jar per host, redirects not followed, both CAs trusted ----
function jar() { return new Map(); }
function fetchIn(cookies, method, url, { body, form } = {}) {
  const u = new URL(url);
  const headers = { host: u.host };   // the provider builds its form's address from it
  const mine = cookies.get(u.host);
  if (mine?.size) headers.cookie = [...mine].map(([k, v]) => `${k}=${v}`).join('; ');
  let payload;
  if (body !== undefined) { headers['content-type'] = 'application/json'; payload = JSON.stringify(body); }
  if (form) { headers['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(form).toString(); }
  if (payload) headers['content-length'] = Buffer.byteLength(payload);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path: u.pathname + u.search, method, headers,
      ca: [server.ca, readFileSync(op.caFile)], servername: 'localhost' }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        for (const c of res.headers['set-cookie'] ?? []) {
          const [pair] = c.split(';');
          const i = pair.indexOf('=');
          if (!cookies.has(u.host)) cookies.set(u.host, new Map());
          cookies.get(u.host).set(pair.slice(0, i), pair.slice(i + 1));
        }
        let json = null;
        try { json = JSON.parse(text); } catch { /* HTML */ }
        const location = res.headers.location ? new URL(res.headers.location, url).href : null;
        resolve({ status: res.statusCode, headers: res.headers, text, json, location });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

// At the provider: follows its redirects, signs in as login on its form, and stops at the address it
// sends the browser back to televisitd with (not visited: the tests decide who visits it).
async function signInAtProvider(cookies, authUrl, login) {
  let url = authUrl;
  for (let i = 0; i < 12; i++) {
    if (url.startsWith(redirectUri)) return url;
    const r = await fetchIn(cookies, 'GET', url);
    if (r.location) { url = r.location; continue; }
    const m = /action="([^"]+)"/.exec(r.text);
    assert.ok(r.status === 200 && m, `the provider's page at ${url}: ${r.status} ${r.text.slice(0, 200)}`);
    const prompt = /name="prompt" value="(\w+)"/.exec(r.text)?.[1];
    const post = await fetchIn(cookies, 'POST', new URL(m[1], url).href,
      { form: prompt === 'login' ? { prompt, login, password: 'any' } : { prompt } });
    assert.ok(post.location, `the provider's form answered ${post.status}: ${post.text.slice(0, 300)}`);
    url = post.location;
  }
  throw new Error('the provider never sent the browser back');
}

const tv = (path) => `https://localhost:${tvPort}${path}`;
const session = (cookies) => cookies.get(`localhost:${tvPort}`)?.get('__Host-tv_session');

// extra: a link's re-authentication ({password} or {code}).
async function start(cookies, provider, mode, extra = {}) {
  const r = await fetchIn(cookies, 'POST', tv('/api/sso/start'), { body: { provider, mode, ...extra } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

function lastAudit(type) {
  return sqlite(server, `SELECT extra FROM audit WHERE type = '${type}' ORDER BY seq DESC LIMIT 1`);
}

// ---- the hostile provider: discovery and keys like a real one, then whatever ID token a test asks ----
const forge = { make: null };
async function startEvil(port) {
  const issuer = `https://localhost:${port}`;
  const published = await generateKeyPair('RS256', { extractable: true });
  const other = await generateKeyPair('RS256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] };
  const tls = { key: readFileSync(op.caFile.replace('cert.pem', 'key.pem')), cert: readFileSync(op.caFile) };
  const codes = new Set();
  const srv = createServer(tls, (req, res) => {
    const json = (o, status = 200) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(o)); };
    if (req.url === '/.well-known/openid-configuration') {
      return json({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` });
    }
    if (req.url === '/jwks') return json(evil.jwks);
    if (req.url === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', async () => {
        const p = new URLSearchParams(body);
        evil.lastCode = p.get('code');
        if (codes.has(p.get('code'))) return json({ error: 'invalid_grant' }, 400);
        codes.add(p.get('code'));
        json({ access_token: 'at', token_type: 'Bearer', id_token: await forge.make() });
      });
      return undefined;
    }
    return json({ error: 'not_found' }, 404);
  });
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  return { issuer, published, other, jwks, srv };
}

function claims(nonce, over = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: evil.issuer, aud: 'tv-evil', sub: 'mallory', nonce, iat: now, exp: now + 300,
    email: 'mallory@example.org', email_verified: true, ...over };
}
const sign = (c, key = evil.published.privateKey, header = { alg: 'RS256', kid: 'k1' }) =>
  new SignJWT(c).setProtectedHeader(header).sign(key);

// Begins a sign-in at the hostile provider and comes back with a code: what the ID token says is the test's.
async function evilCallback(make, code = `c${Math.random().toString(36).slice(2)}`) {
  const cookies = jar();
  const { url } = await start(cookies, 'evil', 'redirect');
  const q = new URL(url).searchParams;
  forge.make = () => make(q.get('nonce'));
  const r = await fetchIn(cookies, 'GET', tv(`/api/sso/callback?code=${encodeURIComponent(code)}&state=${q.get('state')}`));
  return { r, cookies };
}

before(async () => {
  const opPort = randomPort();
  op = await startProvider({
    port: opPort, redirectUri,
    accounts: {
      alice: { email: 'alice@example.org', email_verified: true },
      eve: { email: 'dr.link@example.org', email_verified: true },
      olga: { email: 'olga@example.org', email_verified: true },
      house: { email: 'house@example.org', email_verified: true, fhirUser: `https://localhost:${opPort}/fhir/Practitioner/7` },
    },
    launchContexts: {},
  });
  evil = await startEvil(randomPort());
  const file = JSON.parse(readFileSync(op.providersFile, 'utf8'));
  file.providers.push({ id: 'evil', name: 'Evil', issuer: evil.issuer, client_id: 'tv-evil', client_secret: 's', auto_provision: true });
  file.providers.push({ id: 'down', name: 'Down', issuer: `https://localhost:${downPort}`, client_id: 'x', client_secret: 's' });
  writeFileSync(op.providersFile, JSON.stringify(file));
  server = await startServer({ port: tvPort, args: ['--oidc-providers', op.providersFile, '--oidc-ca-file', op.caFile, '--auth-per-minute', '10000'] });
});

after(async () => {
  await server?.stop();
  server?.remove();
  await op?.stop();
  evil?.srv.close();
});

test('the providers are in the policy, without their secrets', async () => {
  const r = await api(server, 'GET', '/api/policy');
  assert.deepEqual(r.json.sso.map((p) => p.id), ['op-rs', 'op-es', 'ehr', 'evil', 'down']);
  assert.ok(!r.text.includes('secret'));
});

test('sign-in by SSO (RS256): PKCE and nonce sent, an account provisioned from a verified e-mail, a session, audited', async () => {
  const cookies = jar();
  const { url, handle } = await start(cookies, 'op-rs', 'redirect');
  assert.equal(handle, undefined, 'a redirect sign-in has no popup handle');
  const q = new URL(url).searchParams;
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.match(q.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(q.get('redirect_uri'), redirectUri);
  const back = await signInAtProvider(cookies, url, 'alice');
  const r = await fetchIn(cookies, 'GET', back);
  assert.equal(r.status, 303);
  assert.equal(r.location, tv('/'), 'the code leaves the address bar: the browser goes to the console');
  assert.ok(session(cookies), 'a session cookie');
  assert.match(r.headers['set-cookie'][0], /Partitioned/);
  const me = await api(server, 'GET', '/api/me', undefined, { cookie: session(cookies) });
  assert.equal(me.status, 200);
  assert.equal(me.json.email, 'alice@example.org');
  assert.deepEqual(me.json.sso, ['op-rs']);
  assert.equal(me.json.has_password, false);
  assert.match(lastAudit('sso_success'), /"method":"sso","provider":"op-rs"/);
  assert.match(lastAudit('account_created'), /op-rs/);
  // no token, code or secret in the server's log
  assert.ok(!server.log().includes(new URL(back).searchParams.get('code')));
  // the account has no password: password sign-in never works for it
  const pw = await api(server, 'POST', '/api/login', { email: 'alice@example.org', password: PASSWORD });
  assert.equal(pw.json.error, 'invalid_credentials');
  assert.equal(pw.cookie, undefined);
});

test('a replayed callback (the same code and state) is refused and audited', async () => {
  const cookies = jar();
  const { url } = await start(cookies, 'op-rs', 'redirect');
  const back = await signInAtProvider(cookies, url, 'alice');
  assert.equal((await fetchIn(cookies, 'GET', back)).location, tv('/'));
  const again = jar();
  again.set(`localhost:${tvPort}`, new Map(cookies.get(`localhost:${tvPort}`)));
  again.get(`localhost:${tvPort}`).delete('__Host-tv_session');
  const r = await fetchIn(again, 'GET', back);
  assert.equal(r.location, tv('/#sso_error=sso_state'));
  assert.equal(session(again), undefined);
  assert.match(lastAudit('sso_failure'), /"reason":"sso_state"/);
});

test('login CSRF: a callback opened in another browser than the one that began it is refused', async () => {
  const attacker = jar();
  const { url } = await start(attacker, 'op-rs', 'redirect');
  const back = await signInAtProvider(attacker, url, 'alice');
  const victim = jar();
  const r = await fetchIn(victim, 'GET', back);
  assert.equal(r.location, tv('/#sso_error=sso_browser'));
  assert.equal(session(victim), undefined);
  assert.match(lastAudit('sso_failure'), /"reason":"sso_browser"/);
});

test('ES256 ID tokens verify; an unlinked subject at a provider without provisioning is refused', async () => {
  const cookies = jar();
  const { url } = await start(cookies, 'op-es', 'redirect');
  const r = await fetchIn(cookies, 'GET', await signInAtProvider(cookies, url, 'bob'));
  assert.equal(r.location, tv('/#sso_error=not_linked'), 'the ES256 signature passed: the refusal is about the account');
  assert.match(lastAudit('sso_failure'), /"provider":"op-es","reason":"not_linked"/);
});

test('a signed-in clinician links an identity, then signs in with it; it cannot be linked to a second account', async () => {
  userAdd(server, 'dr.link@example.org');
  const login = await api(server, 'POST', '/api/login', { email: 'dr.link@example.org', password: PASSWORD });
  const cookies = jar();
  cookies.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', login.cookie]]));
  const { url } = await start(cookies, 'op-es', 'link', { password: PASSWORD });
  const r = await fetchIn(cookies, 'GET', await signInAtProvider(cookies, url, 'eve'));
  assert.equal(r.location, tv('/#sso_linked'));
  assert.match(lastAudit('sso_linked'), /op-es/);
  // now a fresh browser signs in as that clinician through the provider
  const fresh = jar();
  const s = await start(fresh, 'op-es', 'redirect');
  assert.equal((await fetchIn(fresh, 'GET', await signInAtProvider(fresh, s.url, 'eve'))).location, tv('/'));
  const me = await api(server, 'GET', '/api/me', undefined, { cookie: session(fresh) });
  assert.equal(me.json.email, 'dr.link@example.org');
  // another clinician cannot take the same identity
  userAdd(server, 'other@example.org');
  const other = await api(server, 'POST', '/api/login', { email: 'other@example.org', password: PASSWORD });
  const oc = jar();
  oc.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', other.cookie]]));
  const l = await start(oc, 'op-es', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(oc, 'GET', await signInAtProvider(oc, l.url, 'eve'))).location, tv('/#sso_error=linked_elsewhere'));
  // linking needs a session
  const anon = await fetchIn(jar(), 'POST', tv('/api/sso/start'), { body: { provider: 'op-es', mode: 'link' } });
  assert.equal(anon.status, 401);
});

test('popup sign-in (inside an EHR frame): claimed only with the frame\'s handle and the popup\'s result, once', async () => {
  const frame = jar();
  const { url, handle } = await start(frame, 'op-rs', 'popup');
  assert.match(handle, /^[A-Za-z0-9_-]{43}$/);
  const popup = jar();   // a top-level window: its cookies are not the frame's
  const r = await fetchIn(popup, 'GET', await signInAtProvider(popup, url, 'alice'));
  const m = /^https:\/\/localhost:\d+\/sso-done\.html#result=([A-Za-z0-9_-]{43})$/.exec(r.location);
  assert.ok(m, r.location);
  assert.equal(session(popup), undefined, 'the popup gets no session');
  const result = m[1];
  const wrong = await fetchIn(frame, 'POST', tv('/api/sso/finish'), { body: { handle, result: result.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } });
  assert.equal(wrong.status, 400);
  const stolen = await fetchIn(jar(), 'POST', tv('/api/sso/finish'), { body: { handle: handle.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), result } });
  assert.equal(stolen.status, 400, 'the result alone (a link sent to someone) claims nothing');
  const ok = await fetchIn(frame, 'POST', tv('/api/sso/finish'), { body: { handle, result } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.user.email, 'alice@example.org');
  assert.ok(session(frame));
  const twice = await fetchIn(jar(), 'POST', tv('/api/sso/finish'), { body: { handle, result } });
  assert.equal(twice.status, 400);
  assert.match(lastAudit('sso_failure'), /claim_refused/);
});

test('SMART EHR launch: discovered from the FHIR base, fhirUser mapped to the clinician, the visit context opened', async () => {
  // house is linked through a standalone sign-in with the EHR's provider first (by a signed-in clinician)
  userAdd(server, 'house@example.org');
  const login = await api(server, 'POST', '/api/login', { email: 'house@example.org', password: PASSWORD });
  const v = await api(server, 'POST', '/api/visits', { label: 'chart 7' }, { cookie: login.cookie });
  const lc = jar();
  lc.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', login.cookie]]));
  const l = await start(lc, 'ehr', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(lc, 'GET', await signInAtProvider(lc, l.url, 'house'))).location, tv('/#sso_linked'));
  const linked = sqlite(server, "SELECT subject FROM sso_links WHERE provider = 'ehr'");
  assert.equal(linked, `${op.fhirBase}/Practitioner/7`, 'the link is by fhirUser');
  // the EHR launches televisit with a launch handle that carries a visit
  const ehr = jar();
  op.setLaunchContext('lh-1', { patient: 'p-42', televisit_visit: v.json.id });
  const launched = await fetchIn(ehr, 'GET', tv(`/launch?iss=${encodeURIComponent(op.fhirBase)}&launch=lh-1`));
  assert.equal(launched.status, 303, launched.text);
  const q = new URL(launched.location).searchParams;
  assert.equal(new URL(launched.location).origin, op.issuer, 'to the authorization endpoint of smart-configuration');
  assert.equal(q.get('launch'), 'lh-1');
  assert.equal(q.get('aud'), op.fhirBase);
  assert.match(q.get('scope'), /\blaunch\b/);
  assert.match(q.get('scope'), /\bfhirUser\b/);
  const r = await fetchIn(ehr, 'GET', await signInAtProvider(ehr, launched.location, 'house'));
  assert.equal(r.location, tv(`/#visit=${v.json.id}`));
  const me = await api(server, 'GET', '/api/me', undefined, { cookie: session(ehr) });
  assert.equal(me.json.email, 'house@example.org');
  assert.match(lastAudit('sso_success'), /"method":"smart","provider":"ehr"/);
  // a launch from a FHIR server nobody configured goes nowhere
  const rogue = await fetchIn(jar(), 'GET', tv(`/launch?iss=${encodeURIComponent('https://evil.example/fhir')}&launch=x`));
  assert.equal(rogue.location, tv('/#sso_error=sso_unknown_ehr'));
});

test('forged ID tokens are refused, each for its reason, and audited', async () => {
  const now = Math.floor(Date.now() / 1000);
  const cases = [
    ['expired', (n) => sign(claims(n, { iat: now - 400, exp: now - 200 })), 'jwt_expired'],
    ['issued in the future', (n) => sign(claims(n, { iat: now + 600 })), 'jwt_bad_time'],
    ['wrong audience', (n) => sign(claims(n, { aud: 'someone-else' })), 'jwt_wrong_audience'],
    ['wrong issuer', (n) => sign(claims(n, { iss: op.issuer })), 'jwt_wrong_issuer'],
    ['wrong nonce', (n) => sign(claims(`${n}x`)), 'jwt_wrong_nonce'],
    ['no nonce', (n) => sign(claims(n, { nonce: undefined })), 'jwt_wrong_nonce'],
    ['signed by a key not published, with its kid', (n) => sign(claims(n), evil.other.privateKey), 'jwt_bad_signature'],
    ['tampered payload', async (n) => {
      const [h, , s] = (await sign(claims(n))).split('.');
      const p = Buffer.from(JSON.stringify(claims(n, { sub: 'admin' }))).toString('base64url');
      return `${h}.${p}.${s}`;
    }, 'jwt_bad_signature'],
    ['alg none', (n) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims(n))).toString('base64url')}.`, 'jwt_alg_unsupported'],
    ['HS256 keyed with the public key', async (n) => {
      const pub = Buffer.from(JSON.stringify(evil.jwks.keys[0]));
      return new SignJWT(claims(n)).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(pub);
    }, 'jwt_alg_unsupported'],
    ['not a JWT', () => 'garbage', 'jwt_malformed'],
  ];
  for (const [name, make, reason] of cases) {
    const { r, cookies } = await evilCallback(make);
    assert.equal(r.location, tv(`/#sso_error=${reason}`), name);
    assert.equal(session(cookies), undefined, name);
    assert.match(lastAudit('sso_failure'), new RegExp(`"provider":"evil","reason":"${reason}"`), name);
  }
  assert.equal(sqlite(server, "SELECT count(*) FROM users WHERE email = 'mallory@example.org'"), '0');
  // a genuine token from the same provider passes, so the refusals above were for what was forged
  const { r } = await evilCallback((n) => sign(claims(n)));
  assert.equal(r.location, tv('/'));
  assert.equal(auditVerify(server).status, 0);
});

test('a provider that rotates its signing key: the new kid is fetched, the token verifies', async () => {
  const next = await generateKeyPair('ES256', { extractable: true });
  evil.jwks = { keys: [...evil.jwks.keys, { ...(await exportJWK(next.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' }] };
  await new Promise((r) => setTimeout(r, 5200));   // televisitd refetches a key set at most every 5 s
  const { r } = await evilCallback((n) => sign(claims(n), next.privateKey, { alg: 'ES256', kid: 'k2' }));
  assert.equal(r.location, tv('/'));
});

test('a code the token endpoint refuses (here: used twice) is reported as sso_code_refused', async () => {
  // the hostile provider refuses codes it has seen, as a real one does; what is televisit's is the report
  const cookies = jar();
  const { url } = await start(cookies, 'evil', 'redirect');
  const q = new URL(url).searchParams;
  const first = jar();
  const s1 = await start(first, 'evil', 'redirect');
  const q1 = new URL(s1.url).searchParams;
  forge.make = () => sign(claims(q1.get('nonce')));
  assert.equal((await fetchIn(first, 'GET', tv(`/api/sso/callback?code=same-code&state=${q1.get('state')}`))).location, tv('/'));
  const r = await fetchIn(cookies, 'GET', tv(`/api/sso/callback?code=same-code&state=${q.get('state')}`));
  assert.equal(r.location, tv('/#sso_error=sso_code_refused'));
});

test('bad input to the SSO routes changes nothing', async () => {
  const flows = sqlite(server, 'SELECT count(*) FROM sso_flows');
  for (const [body, status, code] of [[{ provider: 'nope', mode: 'redirect' }, 404, 'not_found'],
    [{ provider: 'op-rs', mode: 'sideways' }, 400, 'msg_field_value'], [{ provider: 1, mode: 'popup' }, 400, 'msg_field_type'],
    [{ provider: 'op-rs' }, 400, 'msg_missing_field']]) {
    const r = await fetchIn(jar(), 'POST', tv('/api/sso/start'), { body });
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.json.error, code, JSON.stringify(body));
  }
  assert.equal(sqlite(server, 'SELECT count(*) FROM sso_flows'), flows);
  for (const path of ['/api/sso/callback', '/api/sso/callback?state=x', '/api/sso/callback?state=' + 'A'.repeat(43), '/launch', '/launch?iss=&launch=']) {
    const r = await fetchIn(jar(), 'GET', tv(path));
    assert.equal(r.status, 303, path);
    assert.match(r.location, /#sso_error=/, path);
  }
  const f = await fetchIn(jar(), 'POST', tv('/api/sso/finish'), { body: { handle: 'x', result: 'y' } });
  assert.equal(f.status, 400);
  assert.equal(f.json.error, 'token_mismatch');
});

test('an account with TOTP on still gives its code after single sign-on (redirect and popup)', async () => {
  userAdd(server, 'dr.totp@example.org');
  const login = await api(server, 'POST', '/api/login', { email: 'dr.totp@example.org', password: PASSWORD });
  const { secret } = (await api(server, 'POST', '/api/totp/enroll', { password: PASSWORD }, { cookie: login.cookie })).json;
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) }).generate();
  const { recovery_codes: rec } = (await api(server, 'POST', '/api/totp/confirm', { code }, { cookie: login.cookie })).json;
  const lc = jar();
  lc.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', login.cookie]]));
  const l = await start(lc, 'op-es', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(lc, 'GET', await signInAtProvider(lc, l.url, 'tina'))).location, tv('/#sso_linked'));
  // redirect: the browser lands on the code step with a half session
  const b = jar();
  const s1 = await start(b, 'op-es', 'redirect');
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, s1.url, 'tina'))).location, tv('/#/second'));
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: session(b) })).status, 401, 'not signed in before the code');
  assert.match(lastAudit('sso_success'), /"next":"totp"/);
  const second = await fetchIn(b, 'POST', tv('/api/login/second'), { body: { recovery_code: rec[0] } });
  assert.equal(second.status, 200, second.text);
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: session(b) })).json.email, 'dr.totp@example.org');
  // popup: the claim answers next: totp, and the half session is the frame's
  const frame = jar();
  const s2 = await start(frame, 'op-es', 'popup');
  const popup = jar();
  const back = (await fetchIn(popup, 'GET', await signInAtProvider(popup, s2.url, 'tina'))).location;
  const result = /#result=(.+)$/.exec(back)[1];
  const fin = await fetchIn(frame, 'POST', tv('/api/sso/finish'), { body: { handle: s2.handle, result } });
  assert.deepEqual(fin.json, { next: 'totp' });
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: session(frame) })).status, 401);
});

// Issue 13, point 3: a provider sign-in of an account with TOTP on gives only the half session, and
// must not start the failure count over, or every new provider session would bring five more guesses
// at the code and the block would never come.
test('codes guessed after single sign-on are counted across provider sign-ins and blocked at the fifth', async () => {
  userAdd(server, 'dr.guess@example.org');
  const login = await api(server, 'POST', '/api/login', { email: 'dr.guess@example.org', password: PASSWORD });
  const { secret } = (await api(server, 'POST', '/api/totp/enroll', { password: PASSWORD }, { cookie: login.cookie })).json;
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) });
  assert.equal((await api(server, 'POST', '/api/totp/confirm', { code: totp.generate() }, { cookie: login.cookie })).status, 200);
  const lc = jar();
  lc.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', login.cookie]]));
  const l = await start(lc, 'op-es', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(lc, 'GET', await signInAtProvider(lc, l.url, 'gus'))).location, tv('/#sso_linked'));
  const wrong = () => String((Number(totp.generate()) + 500000) % 1000000).padStart(6, '0');
  const statuses = [];
  let b;
  for (let round = 0; round < 3; round++) {
    b = jar();
    const s = await start(b, 'op-es', 'redirect');
    assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, s.url, 'gus'))).location, tv('/#/second'));
    for (let i = 0; i < 2; i++) statuses.push((await fetchIn(b, 'POST', tv('/api/login/second'), { body: { code: wrong() } })).status);
  }
  // the fifth blocks the pair and ends that half session (its sixth try is not signed in at all)
  assert.deepEqual(statuses, [401, 401, 401, 401, 423, 401]);
  // blocked: even the right code is not checked from here
  b = jar();
  const s = await start(b, 'op-es', 'redirect');
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, s.url, 'gus'))).location, tv('/#/second'));
  assert.equal((await fetchIn(b, 'POST', tv('/api/login/second'), { body: { code: totp.generate() } })).status, 423);
  assert.match(lastAudit('lockout'), /"minutes":15/);
});

test('the callback refuses an answer naming another issuer (RFC 9207), a provider error, and a flow past its ten minutes', async () => {
  const c1 = jar();
  const s1 = await start(c1, 'op-rs', 'redirect');
  const back = new URL(await signInAtProvider(c1, s1.url, 'alice'));
  back.searchParams.set('iss', evil.issuer);
  assert.equal((await fetchIn(c1, 'GET', back.href)).location, tv('/#sso_error=sso_issuer'));
  assert.equal(session(c1), undefined);
  const c2 = jar();
  const state2 = new URL((await start(c2, 'op-rs', 'redirect')).url).searchParams.get('state');
  assert.equal((await fetchIn(c2, 'GET', tv(`/api/sso/callback?error=access_denied&state=${state2}`))).location, tv('/#sso_error=sso_denied'));
  const c3 = jar();
  const state3 = new URL((await start(c3, 'evil', 'redirect')).url).searchParams.get('state');
  sqlite(server, "UPDATE sso_flows SET expires_ms = 1 WHERE status = 'pending'");
  assert.equal((await fetchIn(c3, 'GET', tv(`/api/sso/callback?code=x&state=${state3}`))).location, tv('/#sso_error=sso_expired'));
  for (const reason of ['sso_issuer', 'sso_denied', 'sso_expired'])
    assert.ok(sqlite(server, `SELECT count(*) FROM audit WHERE type = 'sso_failure' AND extra LIKE '%"reason":"${reason}"%'`) >= 1, reason);
});

test('a long code holding & and % reaches the token endpoint whole', async () => {
  const code = `a&b%25c=d+${'x'.repeat(3000)}`;
  const { r } = await evilCallback((n) => sign(claims(n)), code);
  assert.equal(r.location, tv('/'));
  assert.equal(evil.lastCode, code);
});

test('a provider that cannot be reached is tried once, then left alone for a while', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await fetchIn(jar(), 'POST', tv('/api/sso/start'), { body: { provider: 'down', mode: 'redirect' } });
    assert.equal(r.status, 502);
    assert.equal(r.json.error, 'busy');
  }
  const tries = server.log().split(`identity provider https://localhost:${downPort}/`).length - 1;
  assert.equal(tries, 1, 'one discovery attempt, not one per request');
});

// ---- re-authentication for links, unlinking (docs/api.md "Re-authentication") ----

// The mails written for `to` (no relay: DATA_DIR/mail), taken: a later call sees only newer ones.
function mailsTo(to) {
  const dir = join(server.dataDir, 'mail');
  const out = [];
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), 'utf8');
    if (!text.includes(`To: <${to}>`)) continue;
    out.push(text);
    unlinkSync(join(dir, f));
  }
  return out;
}

// A browser whose jar holds this session cookie.
function browserWith(cookie) {
  const b = jar();
  b.set(`localhost:${tvPort}`, new Map([['__Host-tv_session', cookie]]));
  return b;
}

async function signedIn(email) {
  const r = await api(server, 'POST', '/api/login', { email, password: PASSWORD });
  assert.equal(r.status, 200, r.text);
  return r.cookie;
}

test('linking needs the current password: none or a wrong one is refused (and counted); the link ends other sessions and is mailed', async () => {
  const email = 'dr.reauth@example.org';
  userAdd(server, email);
  const here = await signedIn(email);
  const elsewhere = await signedIn(email);   // another device, signed in before the link
  const b = browserWith(here);
  const none = await fetchIn(b, 'POST', tv('/api/sso/start'), { body: { provider: 'op-es', mode: 'link' } });
  assert.equal(none.status, 401);
  assert.equal(none.json.error, 'reauth_required');
  const wrong = await fetchIn(b, 'POST', tv('/api/sso/start'), { body: { provider: 'op-es', mode: 'link', password: 'Wrong-Password-1' } });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, 'invalid_credentials');
  assert.match(lastAudit('login_failure'), /"reason":"sso_link"/);
  assert.equal(sqlite(server, 'SELECT count(*) FROM sso_flows WHERE link_uid = (SELECT id FROM users WHERE email = \'dr.reauth@example.org\')'), '0',
    'no flow was started');
  // a password is for a link only
  const stray = await fetchIn(jar(), 'POST', tv('/api/sso/start'), { body: { provider: 'op-es', mode: 'redirect', password: PASSWORD } });
  assert.equal(stray.status, 400);
  mailsTo(email);
  const { url } = await start(b, 'op-es', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, url, 'rita'))).location, tv('/#sso_linked'));
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: here })).status, 200, 'the browser that linked stays signed in');
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: elsewhere })).status, 401, 'another device is signed out');
  const mails = mailsTo(email);
  assert.equal(mails.length, 1);
  assert.match(mails[0], /Sign-in with Test SSO \(ES256\) was linked/);
});

test('unlinking: re-authenticated, other sessions end, the provider no longer signs in, the owner is mailed', async () => {
  const email = 'dr.unlink@example.org';
  userAdd(server, email);
  const here = await signedIn(email);
  const b = browserWith(here);
  const { url } = await start(b, 'op-es', 'link', { password: PASSWORD });
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, url, 'ursula'))).location, tv('/#sso_linked'));
  const elsewhere = await signedIn(email);
  mailsTo(email);
  const bare = await api(server, 'POST', '/api/sso/unlink', { provider: 'op-es' }, { cookie: here });
  assert.equal(bare.status, 401);
  assert.equal(bare.json.error, 'reauth_required');
  const wrong = await api(server, 'POST', '/api/sso/unlink', { provider: 'op-es', password: 'Wrong-Password-1' }, { cookie: here });
  assert.equal(wrong.json.error, 'invalid_credentials');
  assert.match(lastAudit('login_failure'), /"reason":"sso_unlink"/);
  assert.equal((await api(server, 'POST', '/api/sso/unlink', { provider: 'op-rs', password: PASSWORD }, { cookie: here })).status, 404,
    'not linked with that one');
  const ok = await api(server, 'POST', '/api/sso/unlink', { provider: 'op-es', password: PASSWORD }, { cookie: here });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json, { status: 'unlinked' });
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: elsewhere })).status, 401, 'another device is signed out');
  const me = await api(server, 'GET', '/api/me', undefined, { cookie: here });
  assert.deepEqual(me.json.sso, []);
  assert.match(lastAudit('sso_unlinked'), /"provider":"op-es"/);
  const mails = mailsTo(email);
  assert.equal(mails.length, 1);
  assert.match(mails[0], /Sign-in with Test SSO \(ES256\) was unlinked/);
  // the identity signs nobody in any more
  const fresh = jar();
  const s = await start(fresh, 'op-es', 'redirect');
  assert.equal((await fetchIn(fresh, 'GET', await signInAtProvider(fresh, s.url, 'ursula'))).location, tv('/#sso_error=not_linked'));
  assert.equal(auditVerify(server).status, 0);
});

test('an account without a password: a fresh provider sign-in is its proof, an old one is not; its last way in cannot be unlinked', async () => {
  const b = jar();
  const s = await start(b, 'op-rs', 'redirect');
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(b, s.url, 'olga'))).location, tv('/'));
  const cookie = session(b);
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie })).json.has_password, false);
  // it signed in a moment ago with the provider: that is enough to link another identity (its work
  // one, signed in at the provider in a window of its own)
  const { url } = await start(b, 'op-es', 'link');
  assert.equal((await fetchIn(b, 'GET', await signInAtProvider(jar(), url, 'olga-work'))).location, tv('/#sso_linked'));
  assert.deepEqual((await api(server, 'GET', '/api/me', undefined, { cookie })).json.sso, ['op-es', 'op-rs']);
  // one of two may go; the last one may not
  assert.equal((await api(server, 'POST', '/api/sso/unlink', { provider: 'op-rs' }, { cookie })).status, 200);
  const last = await api(server, 'POST', '/api/sso/unlink', { provider: 'op-es' }, { cookie });
  assert.equal(last.status, 409);
  assert.equal(last.json.error, 'conflict');
  assert.match(last.json.message, /only way to sign in/);
  assert.deepEqual((await api(server, 'GET', '/api/me', undefined, { cookie })).json.sso, ['op-es']);
  // six minutes after that sign-in, the session alone no longer re-authenticates
  sqlite(server, "UPDATE sessions SET sso_ms = sso_ms - 360000 WHERE user_id = (SELECT id FROM users WHERE email = 'olga@example.org')");
  const stale = await fetchIn(b, 'POST', tv('/api/sso/start'), { body: { provider: 'op-rs', mode: 'link' } });
  assert.equal(stale.status, 401);
  assert.equal(stale.json.error, 'reauth_required');
});
