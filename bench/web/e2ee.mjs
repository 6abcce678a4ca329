// Per-frame encrypt + decrypt time in the browser, same frames for both:
// (a) televisit: the media worker's own per-frame code (e2ee-media.mjs: FrameCrypto, on the module
//     the worker picks for this browser, with SIMD if it has it): copy into wasm, SFrame
//     ChaCha20-Poly1305 with the codec prefix as metadata, copy out to a new ArrayBuffer; then the
//     reverse, synchronous;
// (b) the reference the open implementations use: await crypto.subtle.encrypt / decrypt with
//     AES-GCM per frame (a fresh IV per frame, the clear codec bytes as additional data).
// Also timed, for browsers without wasm SIMD: (a) on the scalar module the worker falls back to.
import { FrameCrypto, loadMediaModule } from '/e2ee-media.mjs';

const SIZES = [100, 1000, 10000, 100000];
const SUITE_CHACHA = 0xf001;
const OPUS = 1;

function bytes(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  b[0] = 0x78;                        // an Opus TOC byte: one byte stays clear
  return b;
}

// Two call objects that agreed keys, as two browsers would.
function pairOfCalls(m) {
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

// One frame sent by one call and received by the other, through the worker's FrameCrypto. The input
// is an ArrayBuffer, as an encoded frame's data is; so is the output.
function wasmPath(m) {
  const { a, b } = pairOfCalls(m);
  const frames = new FrameCrypto(m);
  return (data) => {
    const sent = frames.encrypt(a, OPUS, data);
    if (sent === null) throw new Error('encrypt refused');
    const back = frames.decrypt(b, OPUS, sent);
    if (back === null) throw new Error('decrypt refused');
    return back;
  };
}

const picked = await loadMediaModule();            // what the worker loads in this browser
const wasmFrame = wasmPath(picked.module);
const fallbackFrame = picked.simd ? wasmPath((await loadMediaModule({ simd: false })).module) : null;

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
const results = { isolated: self.crossOriginIsolated, rounds: ROUNDS, simd: picked.simd, sizes: [] };
const rounds = SIZES.map(() => []);
for (let round = 0; round < ROUNDS; round++) for (const [i, size] of SIZES.entries()) {
  const frame = bytes(size, size & 0xff);
  // Each must give the frame back, or the benchmark measures nothing.
  const same = (x) => x.length === size && x.every((v, j) => v === frame[j]);
  if (!same(new Uint8Array(wasmFrame(frame.slice().buffer))) || !same(await webcryptoFrame(frame)) ||
      (fallbackFrame && !same(new Uint8Array(fallbackFrame(frame.slice().buffer))))) {
    throw new Error(`round trip failed at ${size}`);
  }
  const samples = size >= 100000 ? 60 : 200;
  const batch = size >= 100000 ? 1 : size >= 10000 ? 4 : 20;
  const data = frame.slice().buffer;   // never changed: both directions write into new buffers
  const wasm = await measure(async (f) => wasmFrame(f), data, samples, batch);
  const webcrypto = await measure(webcryptoFrame, frame, samples, batch);
  const fallback = fallbackFrame ? await measure(async (f) => fallbackFrame(f), data, samples, batch) : null;
  rounds[i].push({ wasm, webcrypto, fallback, ratio: webcrypto.median / wasm.median });
}
const mid = (xs) => percentile(xs, 0.5);
for (const [i, size] of SIZES.entries()) {
  const r = rounds[i];
  const pick = (side, k) => mid(r.map((x) => x[side][k]));
  const wasm = { median: pick('wasm', 'median'), p99: pick('wasm', 'p99') };
  const webcrypto = { median: pick('webcrypto', 'median'), p99: pick('webcrypto', 'p99') };
  const fallback = fallbackFrame ? { median: pick('fallback', 'median'), p99: pick('fallback', 'p99') } : null;
  const ratios = r.map((x) => x.ratio);
  results.sizes.push({ size, wasm, webcrypto, fallback, ratio: webcrypto.median / wasm.median,
    ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios) });
}
document.getElementById('status').textContent = 'done';
window.__televisitBench = results;
