// Shared by the server's integration tests: start the real televisitd on loopback with a fresh data
// directory, talk to its API over HTTPS and to its signaling over WSS, trusting only its own certificate.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

// The sanitizer build for tests; benchmarks pass the release build in TV_BIN.
export const BIN = process.env.TV_BIN || 'build/native/televisitd';
export const PASSWORD = 'Correct-Horse-Battery-9';

export const randomPort = () => 20000 + Math.floor(Math.random() * 40000);

function listening(port) {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// Waits up to 5 s for a TCP listener on loopback; true when it answers.
// 15 s: a Python server (aiosmtpd) takes seconds to start on a loaded 2-core machine.
export async function untilListening(port) {
  for (let i = 0; i < 150; i++) {
    if (await listening(port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function startServer({ args = [], dataDir = mkdtempSync(join(tmpdir(), 'tvd-')), port, env = process.env } = {}) {
  port ??= randomPort();
  const proc = spawn(BIN, ['--port', String(port), '--data-dir', dataDir, '--pwhash-mem-mib', '19', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`televisitd did not start: ${out}`)), 15000);
    const check = () => { if (out.includes('listening on')) { clearTimeout(timer); resolve(); } };
    proc.stdout.on('data', check);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`televisitd exited ${code}: ${out}`)); });
  });
  const server = {
    proc, port, dataDir, ca: readFileSync(join(dataDir, 'tls-cert.pem')),
    log: () => out,
    stop: () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); }),
    kill: () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGKILL'); }),
    remove: () => rmSync(dataDir, { recursive: true, force: true }),
  };
  proc.removeAllListeners('exit');
  return server;
}

// One API call. cookie: the session token; the answer's Set-Cookie token comes back as .cookie.
// servername: the TLS name checked against the certificate (undefined: the address itself, so the IP SAN).
// agent: a keep-alive https.Agent for many calls (the benchmark's setup).
// page: send the header the pages' fetch sends (web/app/api.mjs), as they do; headers: more of them.
export const PAGE_HEADERS = { 'x-auth-token': 'same-origin' };
export function api(server, method, path, body, { cookie, origin, contentType = 'application/json', raw, servername = 'localhost', agent,
  page = true, headers: more = {} } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...(page ? PAGE_HEADERS : {}), ...more };
    if (body !== undefined || raw !== undefined) headers['content-type'] = contentType;
    if (cookie) headers.cookie = `__Host-tv_session=${cookie}`;
    if (origin) headers.origin = origin;
    const req = request({ host: '127.0.0.1', port: server.port, path, method, ca: server.ca, headers,
      servername, agent }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        const set = res.headers['set-cookie']?.[0] ?? '';
        const m = /__Host-tv_session=([A-Za-z0-9_-]{43})/.exec(set);
        let json = null;
        try { json = JSON.parse(text); } catch { /* CSV and the like */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json, cookie: m?.[1], setCookie: set });
      });
    });
    req.on('error', reject);
    req.setTimeout(15000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.end(raw ?? (body === undefined ? undefined : JSON.stringify(body)));
  });
}

// An active account made with `televisitd user add` (the password on standard input).
export function userAdd(server, email, password = PASSWORD) {
  const r = spawnSync(BIN, ['user', 'add', email, '--data-dir', server.dataDir, '--pwhash-mem-mib', '19'],
    { input: `${password}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`user add: ${r.stderr}`);
}

// An active clinician, signed in: returns its session token.
export async function clinician(server, email) {
  userAdd(server, email);
  const login = await api(server, 'POST', '/api/login', { email, password: PASSWORD });
  if (login.status !== 200) throw new Error(`login: ${login.text}`);
  return login.cookie;
}

// A real SMTP server on loopback (Debian's aiosmtpd): output() is every message it received.
export async function smtpServer(port = randomPort()) {
  const proc = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  if (!(await untilListening(port))) { proc.kill(); throw new Error('aiosmtpd did not start'); }
  return { port, proc, output: () => out };
}

// A signaling client: every received message is kept; next() waits for the first unread one matching.
export function connect(server, { cookie, origin, protocol = 'televisit.v1' } = {}) {
  const headers = {};
  if (cookie) headers.cookie = `__Host-tv_session=${cookie}`;
  if (origin) headers.origin = origin;
  const ws = new WebSocket(`wss://127.0.0.1:${server.port}/ws`, protocol, { ca: server.ca, servername: 'localhost', headers });
  const inbox = [];
  const waiters = [];
  const client = {
    ws, inbox,
    opened: new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }),
    closed: new Promise((resolve) => ws.once('close', (code) => resolve(code))),
    send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    next(pred, timeout = 5000) {
      const match = typeof pred === 'string' ? (m) => m.type === pred : pred;
      const i = inbox.findIndex(match);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const w = { match, resolve, timer: setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`no ${typeof pred === 'string' ? pred : 'matching message'} in ${timeout} ms; inbox: ${JSON.stringify(inbox).slice(0, 500)}`));
        }, timeout) };
        waiters.push(w);
      });
    },
    // Nothing matching has arrived by the time a ping sent now is answered: the server handles a
    // connection's frames in order, so whatever it was going to send ahead of the pong is here.
    async none(pred) {
      const ts = Math.floor(Math.random() * 1e9);
      ws.send(JSON.stringify({ type: 'ping', ts }));
      await client.next((m) => m.type === 'pong' && m.ts === ts);
      const match = typeof pred === 'string' ? (m) => m.type === pred : pred;
      return !inbox.some(match);
    },
    close: () => ws.close(),
  };
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    const w = waiters.find((x) => x.match(m));
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(m);
    } else {
      inbox.push(m);
    }
  });
  ws.on('error', () => {});
  return client;
}

export function sqlite(server, sql) {
  const r = spawnSync('sqlite3', [join(server.dataDir, 'televisit.db'), sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

export function auditVerify(server) {
  return spawnSync(BIN, ['audit', 'verify', '--data-dir', server.dataDir], { encoding: 'utf8' });
}

export async function waitFor(fn, ms = 10000) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  return null;
}

// A visit of the clinician with this session: its id and invite token.
export async function visit(server, cookie, label = 'x') {
  const r = await api(server, 'POST', '/api/visits', { label }, { cookie });
  if (r.status !== 201) throw new Error(`visit: ${r.text}`);
  return { id: r.json.id, token: r.json.link.split('/v/')[1] };
}

export async function patient(server, token, name = 'Alice') {
  const p = connect(server);
  await p.opened;
  p.send({ type: 'join', role: 'patient', invite: token, name });
  return { p, joined: await p.next('joined') };
}

export async function doctor(server, cookie, visitId) {
  const c = connect(server, { cookie });
  await c.opened;
  c.send({ type: 'join', role: 'clinician', visit: visitId });
  return { c, joined: await c.next('joined') };
}

// A new visit with its clinician connected and a patient admitted.
export async function admittedPair(server, cookie) {
  const v = await visit(server, cookie);
  const { c, joined: cj } = await doctor(server, cookie, v.id);
  const { p, joined } = await patient(server, v.token);
  c.send({ type: 'admit', participant: joined.you });
  await p.next('admitted');
  return { v, c, p, cj, joined };
}
