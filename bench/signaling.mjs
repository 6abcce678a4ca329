// npm run bench:signaling: WSS clients in pairs exchanging messages through televisitd and, in the
// same run, through a reference relay written with Node's `ws` (bench/ref-relay.mjs). Reports the
// connections held, server memory per connection, relay latency p50/p99 at a fixed 2,000 messages/s,
// and saturated throughput with the server's CPU time per relayed message. The load generator is one
// node process on the same 2 cores, so saturated throughput is partly the client's limit (its CPU
// use in the saturated phase is the last column); the server's CPU per message is the figure that
// compares the servers themselves.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { api, clinician, randomPort, startServer } from '../tests/server/lib.mjs';

const N = Number(process.env.TV_BENCH_CONNS ?? 10000);
const PAIRS = Math.floor(N / 2);
const RATE = Number(process.env.TV_BENCH_RATE ?? 2000);
const RATE_SECONDS = 10;
const SAT_SECONDS = 5;
const SAT_PAIRS = Math.min(PAIRS, 500);
const WINDOW = 8;
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;   // utime + stime
};
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];

function waitFor(proc, text, what) {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 20000);
    proc.stdout.on('data', (d) => { out += d; if (out.includes(text)) { clearTimeout(t); resolve(); } });
    proc.stderr.on('data', (d) => { out += d; });
  });
}

async function pool(count, concurrency, fn) {
  let i = 0;
  const workers = Array.from({ length: concurrency }, async () => { while (i < count) await fn(i++); });
  await Promise.all(workers);
}

// A bench client, the same for both servers: WebSocket (RFC 6455) by hand over node's HTTPS upgrade,
// because the load generator shares the 2 cores with the server and ws spent more per message than
// the rest of the client (a stream, events and buffers per frame). It sends text frames masked with a
// zero key (so the text goes as it is; the key protects browsers and proxies, RFC 6455 section 10.3,
// and each server still unmasks), and all the frames a turn of node's event loop gives a connection
// (the replies to one read's messages, say) in one write, one TLS record; it reads the servers'
// frames without checking their UTF-8. Counts and timestamps go by a sequence number inside the
// candidate string (onMessage).
const unsent = new Set();
function sendAll() {
  for (const c of unsent) c.flush();
  unsent.clear();
}

// Both servers get the one TLS 1.3 suite the client offers, so neither is measured on a cheaper
// cipher (left to themselves, televisitd picks AES-128-GCM and node AES-256-GCM). What was
// negotiated is collected per run and printed.
const CIPHER = 'TLS_AES_128_GCM_SHA256';
let ciphersSeen = new Set();

function client(url, ca, headers, onMessage) {
  const u = new URL(url);
  const waiters = [];
  const out = [];
  let socket = null;
  let rx = null;        /* the start of a frame not all here yet */
  let parts = null;     /* a fragmented message's payloads so far */
  const deliver = (s) => {
    if (onMessage(s)) return;
    const w = waiters.findIndex((x) => s.includes(`"type":"${x.type}"`));
    if (w >= 0) waiters.splice(w, 1)[0].resolve(JSON.parse(s));
  };
  const frame = (b0, payload) => {
    const op = b0 & 0x0f;
    if (op === 0x8) socket.end();
    else if (op === 0x9) socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | payload.length, 0, 0, 0, 0]), payload]));
    else if (op === 0x1 || op === 0x0) {
      if (!(b0 & 0x80) || parts) (parts ??= []).push(Buffer.from(payload));
      if (!(b0 & 0x80)) return;
      if (parts) { deliver(Buffer.concat(parts).toString()); parts = null; } else deliver(payload.toString());
    }
  };
  const onData = (chunk) => {
    const b = rx ? Buffer.concat([rx, chunk]) : chunk;
    let i = 0;
    while (b.length - i >= 2) {
      let len = b[i + 1] & 0x7f;
      let at = i + 2;
      if (len === 126) {
        if (b.length - i < 4) break;
        len = b.readUInt16BE(i + 2);
        at += 2;
      } else if (len === 127) {
        if (b.length - i < 10) break;
        len = Number(b.readBigUInt64BE(i + 2));
        at += 8;
      }
      if (b.length < at + len) break;
      frame(b[i], b.subarray(at, at + len));
      i = at + len;
    }
    rx = i < b.length ? Buffer.from(b.subarray(i)) : null;
  };
  const c = {
    readyState: 0,
    send(text) {
      if (out.length === 0) {
        if (unsent.size === 0) process.nextTick(sendAll);
        unsent.add(c);
      }
      out.push(text);
    },
    flush() {
      const lens = out.map((t) => Buffer.byteLength(t));
      const buf = Buffer.allocUnsafe(lens.reduce((n, l) => n + l + (l < 126 ? 6 : l < 65536 ? 8 : 14), 0));
      let o = 0;
      out.forEach((t, k) => {
        const l = lens[k];
        buf[o++] = 0x81;   /* FIN, text */
        if (l < 126) buf[o++] = 0x80 | l;
        else if (l < 65536) { buf[o++] = 0x80 | 126; o = buf.writeUInt16BE(l, o); }
        else { buf[o++] = 0x80 | 127; o = buf.writeBigUInt64BE(BigInt(l), o); }
        o = buf.writeUInt32BE(0, o);   /* the masking key */
        o += buf.write(t, o);
      });
      out.length = 0;
      if (c.readyState === 1) socket.write(buf);
    },
    terminate() {
      c.readyState = 3;
      socket?.destroy();
    },
  };
  const open = new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path: u.pathname, ca, servername: 'localhost', agent: false, ciphers: CIPHER,
      headers: {
        ...headers, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'), 'sec-websocket-protocol': 'televisit.v1',
      },
    });
    req.on('upgrade', (res, s, head) => {
      socket = s;
      ciphersSeen.add(`${s.getProtocol?.()} ${s.getCipher?.()?.standardName}`);
      s.setNoDelay(true);
      s.on('data', onData);
      s.on('close', () => { c.readyState = 3; });
      s.on('error', () => {});
      c.readyState = 1;
      if (head.length) onData(head);
      resolve();
    });
    req.on('response', (res) => reject(new Error(`no WebSocket upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  return {
    ws: c,
    open,
    next: (type) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${type}`)), 30000);
      waiters.push({ type, resolve: (m) => { clearTimeout(t); resolve(m); } });
    }),
  };
}

function ice(seq) {
  return `{"type":"ice","candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host s=${seq}","sdpMid":"0","sdpMLineIndex":0}}`;
}

// Shared by both targets: the measurement, given pairs [a, b] of open, joined, paired clients.
function makeCounter() {
  const sent = new Map();
  const lat = [];
  let received = 0;
  let onReceive = null;
  return {
    sent, lat,
    get received() { return received; },
    set onReceive(f) { onReceive = f; },
    handle(s, pairIndex, side) {
      const i = s.indexOf('s=');
      if (i < 0 || !s.startsWith('{"type":"ice"')) return false;
      const seq = Number(s.slice(i + 2, s.indexOf('"', i)));
      const t0 = sent.get(seq);
      if (t0 !== undefined) { lat.push(performance.now() - t0); sent.delete(seq); }
      received++;
      if (onReceive) onReceive(pairIndex, side);
      return true;
    },
  };
}

// rss0: the server's memory before the connections were opened. Closes the connections when done.
async function measure(name, pid, pairs, counter, rss0) {
  await sleep(1000);
  const kbPerConn = (rssKb(pid) - rss0) / (pairs.length * 2);
  const held = pairs.reduce((n, [a, b]) => n + (a.ws.readyState === 1) + (b.ws.readyState === 1), 0);
  // fixed rate
  let seq = 0;
  const start = performance.now();
  const end = start + RATE_SECONDS * 1000;
  for (let now = start; now < end; now = performance.now()) {
    // paced by the clock, not by timer ticks (which run late): catch up to RATE x elapsed
    const due = Math.floor(((now - start) / 1000) * RATE);
    while (seq < due) {
      const [a, b] = pairs[Math.floor(Math.random() * pairs.length)];
      const from = seq % 2 ? a : b;
      counter.sent.set(seq, performance.now());
      from.ws.send(ice(seq++));
    }
    await sleep(10);
  }
  const rate = seq / ((performance.now() - start) / 1000);   /* what was really sent: timers run late */
  await sleep(1000);
  const lost = counter.sent.size;
  const lat = counter.lat.slice().sort((x, y) => x - y);
  // saturation: SAT_PAIRS pairs, each keeping WINDOW messages in flight
  const before = counter.received;
  counter.onReceive = (i, side) => {
    if (i < SAT_PAIRS) (side === 'a' ? pairs[i][1] : pairs[i][0]).ws.send(ice(-1));
  };
  const cpu0 = cpuSeconds(pid);
  const client0 = process.cpuUsage();   /* the load generator, all its threads */
  const t0 = performance.now();
  for (let i = 0; i < SAT_PAIRS; i++) for (let w = 0; w < WINDOW; w++) pairs[i][w % 2].ws.send(ice(-1));
  await sleep(SAT_SECONDS * 1000);
  const delivered = counter.received - before;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const client = process.cpuUsage(client0);
  counter.onReceive = null;
  for (const [a, b] of pairs) { a.ws.terminate(); b.ws.terminate(); }
  return {
    name, held, lost, rate, kbPerConn,
    p50: pct(lat, 0.5), p99: pct(lat, 0.99), samples: lat.length,
    throughput: delivered / seconds, cpuPerMsgUs: (cpu / delivered) * 1e6, cpuShare: cpu / seconds,
    clientShare: (client.user + client.system) / 1e6 / seconds,
  };
}

// televisitd through the server tests' helpers (tests/server/lib.mjs); the script sets TV_BIN to the
// Release build. Its per-connection limits are raised as far as they go, for the setup's sign-ins and
// visits (auth) and for the saturated phase, where each connection sends more messages a second than
// the 50 a client may (beyond, televisitd drops them with rate_limited: each drop lost a message in
// flight, until at 200 connections none was left); the reference has no such limit. televisitd still
// counts every message against the limit.
async function benchTelevisitd() {
  const webRoot = mkdtempSync(join(tmpdir(), 'tv-bench-web-'));   /* the bench serves no page */
  const server = await startServer({ args: ['--auth-per-minute', '100000', '--msg-per-second', '100000', '--web-root', webRoot] });
  const { proc, port, ca } = server;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const cookie = await clinician(server, 'bench@example.org');
  process.stdout.write(`televisitd: creating ${PAIRS} visits...\n`);
  const visits = [];
  await pool(PAIRS, 4, async (i) => {
    const r = await api(server, 'POST', '/api/visits', {}, { cookie, agent });
    visits[i] = { id: r.json.id, token: r.json.link.split('/v/')[1] };
  });
  const rss0 = rssKb(proc.pid);
  const counter = makeCounter();
  const pairs = new Array(PAIRS);
  const url = `wss://127.0.0.1:${port}/ws`;
  process.stdout.write(`televisitd: opening ${PAIRS * 2} connections...\n`);
  await pool(PAIRS, 64, async (i) => {
    const a = client(url, ca, { cookie: `__Host-tv_session=${cookie}` }, (s) => counter.handle(s, i, 'a'));
    await a.open;
    a.ws.send(JSON.stringify({ type: 'join', role: 'clinician', visit: visits[i].id }));
    await a.next('joined');
    const b = client(url, ca, {}, (s) => counter.handle(s, i, 'b'));
    await b.open;
    const waiting = a.next('waiting_room');
    b.ws.send(JSON.stringify({ type: 'join', role: 'patient', invite: visits[i].token, name: 'Bench' }));
    const joined = await b.next('joined');
    await waiting;
    const admitted = b.next('admitted');
    a.ws.send(JSON.stringify({ type: 'admit', participant: joined.you }));
    await admitted;
    pairs[i] = [a, b];
  });
  const r = await measure('televisitd (C, libwebsockets+libev)', proc.pid, pairs, counter, rss0);
  agent.destroy();
  await server.stop();
  rmSync(webRoot, { recursive: true, force: true });
  return { r, server };
}

async function benchReference(certDir) {
  const port = randomPort();
  const proc = spawn('node', ['bench/ref-relay.mjs', join(certDir, 'tls-cert.pem'), join(certDir, 'tls-key.pem'), String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitFor(proc, 'listening', 'reference relay');
  const ca = readFileSync(join(certDir, 'tls-cert.pem'));
  const rss0 = rssKb(proc.pid);
  const counter = makeCounter();
  const pairs = new Array(PAIRS);
  const url = `wss://127.0.0.1:${port}/ws`;
  process.stdout.write(`reference: opening ${PAIRS * 2} connections...\n`);
  await pool(PAIRS, 64, async (i) => {
    const a = client(url, ca, {}, (s) => counter.handle(s, i, 'a'));
    const b = client(url, ca, {}, (s) => counter.handle(s, i, 'b'));
    await Promise.all([a.open, b.open]);
    a.ws.send(JSON.stringify({ type: 'join', room: `r${i}` }));
    await a.next('joined');
    b.ws.send(JSON.stringify({ type: 'join', room: `r${i}` }));
    await b.next('joined');
    pairs[i] = [a, b];
  });
  const r = await measure('reference (Node ws)', proc.pid, pairs, counter, rss0);
  proc.kill('SIGTERM');
  return r;
}

const { r: ours, server } = await benchTelevisitd();
const oursTls = [...ciphersSeen].join(', ');
ciphersSeen = new Set();
const ref = await benchReference(server.dataDir);   // the same certificate
const refTls = [...ciphersSeen].join(', ');
server.remove();

const f = (x, d = 1) => x.toFixed(d);
console.log(`\nbench:signaling: ${PAIRS * 2} WSS connections in ${PAIRS} pairs; ${RATE} msg/s for ${RATE_SECONDS} s; then ${SAT_PAIRS} pairs x ${WINDOW} in flight for ${SAT_SECONDS} s\n`);
console.log('server                               held   KiB/conn  sent msg/s  p50 ms  p99 ms  lost  msg/s (saturated)  server CPU us/msg  CPU used  client CPU');
for (const r of [ours, ref]) {
  console.log(`${r.name.padEnd(35)} ${String(r.held).padStart(6)} ${f(r.kbPerConn).padStart(9)} ${f(r.rate, 0).padStart(11)} ${f(r.p50, 2).padStart(7)} ${f(r.p99, 2).padStart(7)} ${String(r.lost).padStart(5)} ${f(r.throughput, 0).padStart(18)} ${f(r.cpuPerMsgUs).padStart(18)} ${f(r.cpuShare * 100, 0).padStart(8)}% ${f(r.clientShare * 100, 0).padStart(10)}%`);
}
console.log(`\nTLS negotiated: televisitd ${oursTls}; reference ${refTls}`);
console.log(`\nratios (televisitd / reference): saturated throughput ${f(ours.throughput / ref.throughput, 2)}x, ` +
  `server CPU per message ${f(ref.cpuPerMsgUs / ours.cpuPerMsgUs, 2)}x less, memory per connection ${f(ref.kbPerConn / ours.kbPerConn, 2)}x less`);
console.log(`targets: ${N} connections held: ${ours.held === PAIRS * 2 ? 'met' : 'NOT met'}; p99 < 5 ms at ${RATE} msg/s: ${ours.p99 < 5 && ours.rate >= RATE * 0.95 ? 'met' : 'NOT met'} (sent ${f(ours.rate, 0)}/s); ` +
  `2x the reference's throughput: ${ours.throughput / ref.throughput >= 2 ? 'met' : 'NOT met'} (per server CPU: ${ref.cpuPerMsgUs / ours.cpuPerMsgUs >= 2 ? 'met' : 'NOT met'})`);
