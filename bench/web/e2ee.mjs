// Per-frame encrypt + decrypt time in the browser, same frames for both:
// (a) televisit: the media worker's path (copy into wasm, SFrame ChaCha20-Poly1305 with the codec
//     prefix as metadata, copy out to a new ArrayBuffer; then the reverse), synchronous;
// (b) the reference the open implementations use: await crypto.subtle.encrypt / decrypt with
//     AES-GCM per frame (a fresh IV per frame, the clear codec bytes as additional data).
import createTelevisitMedia from '/televisit-media.mjs';

const SIZES = [100, 1000, 10000, 100000];
const SUITE_CHACHA = 0xf001;
const m = await createTelevisitMedia();
m._tv_init();

function bytes(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  b[0] = 0x78;                        // an Opus TOC byte: one byte stays clear
  return b;
}

// Two call objects that agreed keys, as two browsers would.
function pairOfCalls() {
  const a = m._tv_worker_call_new(1, SUITE_CHACHA);
  const b = m._tv_worker_call_new(0, SUITE_CHACHA);
  const pk = m._malloc(32);
  const str = (s) => { const p = m._malloc(s.length + 1); m.stringToUTF8(s, p, s.length + 1); return p; };
  const visit = str('v_bench');
  const fa = str('sha-256 AA');
  const fb = str('sha-256 BB');
  const sas = m._malloc(4);
  const commitment = m._malloc(32);
  // commit, then reveal, as two browsers would (see tv_worker.h)
  if (m._tv_worker_call_commitment(a, visit, 7, commitment) !== 0) throw new Error('commit');
  if (m._tv_worker_call_accept_commitment(b, commitment, 0) !== 0) throw new Error('accept');
  m._tv_worker_call_public_key(b, pk);
  if (m._tv_worker_call_derive(a, pk, 0, visit, 7, fa, 10, fb, 10, sas) !== 0) throw new Error('derive a');
  m._tv_worker_call_public_key(a, pk);
  if (m._tv_worker_call_derive(b, pk, 0, visit, 7, fb, 10, fa, 10, sas) !== 0) throw new Error('derive b');
  return { a, b };
}

const { a, b } = pairOfCalls();
const cap = 2 * 100000 + 1024;
const buf = m._malloc(cap);
const lenPtr = m._malloc(8);

// Exactly what e2ee-worker.js does for one frame in one direction.
function wasmStep(fn, call, data) {
  const inPtr = buf;
  const outPtr = buf + ((data.length + 15) & ~15);
  m.HEAPU8.set(data, inPtr);
  const rc = fn(call, 1, inPtr, data.length, outPtr, cap - (outPtr - inPtr), lenPtr);
  if (rc !== 0) throw new Error(`wasm rc ${rc}`);
  const n = m.HEAPU32[lenPtr >> 2];
  const out = new ArrayBuffer(n);
  new Uint8Array(out).set(m.HEAPU8.subarray(outPtr, outPtr + n));
  return new Uint8Array(out);
}

function wasmFrame(frame) {
  const enc = wasmStep(m._tv_worker_encrypt, a, frame);
  return wasmStep(m._tv_worker_decrypt, b, enc);
}

const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(16)), 'AES-GCM', false,
  ['encrypt', 'decrypt']);
let counter = 0;
async function webcryptoFrame(frame) {
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setUint32(8, ++counter);
  const aad = frame.subarray(0, 1);
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, frame.subarray(1));
  const out = new Uint8Array(ct.byteLength + 1 + 12);   // clear byte, ciphertext, IV trailer as sent
  out[0] = frame[0];
  out.set(new Uint8Array(ct), 1);
  out.set(iv, 1 + ct.byteLength);
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: out.subarray(out.length - 12), additionalData: out.subarray(0, 1) },
    key, out.subarray(1, out.length - 12));
  const back = new Uint8Array(pt.byteLength + 1);
  back[0] = out[0];
  back.set(new Uint8Array(pt), 1);
  return back;
}

function percentile(xs, p) {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

// Each sample times `batch` frames one after another (the timer is coarse outside isolation).
async function measure(fn, frame, samples, batch) {
  for (let i = 0; i < 30; i++) await fn(frame);          // warm up
  const times = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await fn(frame);
    times.push(((performance.now() - t0) * 1000) / batch);
  }
  return { median: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

// Several rounds, sizes interleaved, so that one slow moment of the browser (a collection, a thread
// hop) shows as one outlying round instead of the figure.
const ROUNDS = 5;
const results = { isolated: self.crossOriginIsolated, rounds: ROUNDS, sizes: [] };
const rounds = SIZES.map(() => []);
for (let round = 0; round < ROUNDS; round++) for (const [i, size] of SIZES.entries()) {
  const frame = bytes(size, size & 0xff);
  // Both must give the frame back, or the benchmark measures nothing.
  const w = wasmFrame(frame);
  const r = await webcryptoFrame(frame);
  if (w.length !== size || r.length !== size || w.some((x, i) => x !== frame[i]) || r.some((x, i) => x !== frame[i])) {
    throw new Error(`round trip failed at ${size}`);
  }
  const samples = size >= 100000 ? 60 : 200;
  const batch = size >= 100000 ? 1 : size >= 10000 ? 4 : 20;
  const wasm = await measure(async (f) => wasmFrame(f), frame, samples, batch);
  const webcrypto = await measure(webcryptoFrame, frame, samples, batch);
  rounds[i].push({ wasm, webcrypto, ratio: webcrypto.median / wasm.median });
}
const mid = (xs) => percentile(xs, 0.5);
for (const [i, size] of SIZES.entries()) {
  const r = rounds[i];
  const pick = (side, k) => mid(r.map((x) => x[side][k]));
  const wasm = { median: pick('wasm', 'median'), p99: pick('wasm', 'p99') };
  const webcrypto = { median: pick('webcrypto', 'median'), p99: pick('webcrypto', 'p99') };
  const ratios = r.map((x) => x.ratio);
  results.sizes.push({ size, wasm, webcrypto, ratio: webcrypto.median / wasm.median,
    ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios) });
}
document.getElementById('status').textContent = 'done';
window.__televisitBench = results;
