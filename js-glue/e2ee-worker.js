// The media worker: end-to-end encryption of every audio and video frame with the C core (SFrame;
// televisit-media-simd.wasm, or televisit-media.wasm where wasm SIMD is missing, see e2ee-media.mjs).
// Key agreement runs here too, so the X25519 secret and the SFrame keys live only in this worker's
// wasm memory. Frames that fail to decrypt are dropped and counted, never passed to the decoder. Keys
// change by message; transforms are never replaced.
import { FrameCrypto, loadMediaModule } from './e2ee-media.mjs';

const CODEC = { audio: 1, video: 2 };        // tv_media_codec: Opus, VP8
const STAT_NAMES = ['encrypted', 'decrypted', 'failAuth', 'failReplay', 'failKid', 'failHeader',
  'failShort', 'failOther', 'sendKid', 'recvKid', 'sendDropped'];

// The module for this engine (wasm SIMD or not, e2ee-media.mjs), libsodium's random source readied.
const wasm = loadMediaModule();
let m = null;        // the module, once loaded
let simd = false;    // which build it is
let frames = null;   // FrameCrypto: the per-frame path
let call = 0;        // tv_worker call object
let role = 0;
const dropped = { audio: 0, video: 0 };      // frames dropped before the core saw them (no call yet)

async function ready() {
  if (!m) ({ module: m, simd } = await wasm);
  if (!frames) frames = new FrameCrypto(m);
}

function alloc(bytes) {
  const p = m._malloc(bytes);
  if (!p) throw new Error('out of memory');
  return p;
}

// One direction of one stream kind: the codec and the C function are fixed here, once.
function attach(readable, writable, direction, kind) {
  if (!(kind in CODEC) || (direction !== 'send' && direction !== 'recv')) return;
  const codec = CODEC[kind];
  const run = direction === 'send' ? frames.encrypt : frames.decrypt;
  readable
    .pipeThrough(new TransformStream({
      transform(frame, controller) {
        if (!call) { dropped[kind]++; return; }  // no keys yet: nothing leaves or enters in clear
        const out = run(call, codec, frame.data);
        if (out === null) return;                // dropped, and counted in C (by reason, or sendDropped)
        frame.data = out;
        controller.enqueue(frame);
      },
    }))
    .pipeTo(writable)
    .catch(() => {});                            // the stream ends when the call does
}

function withBytes(bytesList, fn) {
  const ptrs = bytesList.map((b) => {
    const p = alloc(b.length + 1);
    m.HEAPU8.set(b, p);
    return [p, b.length];
  });
  try {
    return fn(ptrs);
  } finally {
    for (const [p, n] of ptrs) { m.HEAPU8.fill(0, p, p + n); m._free(p); }
  }
}

function publicKey() {
  return withBytes([new Uint8Array(32)], ([[p]]) => {
    check(m._tv_worker_call_public_key(call, p));
    return m.HEAPU8.slice(p, p + 32);
  });
}

function check(rc) {
  if (rc !== 0) throw new Error(m.UTF8ToString(m._tv_err_name(rc)));
}

function stats() {
  const out = {};
  const p = alloc(8 * STAT_NAMES.length);
  try {
    for (const kind of Object.keys(CODEC)) {
      m._tv_worker_stats(call, CODEC[kind], p);
      const s = {};
      STAT_NAMES.forEach((name, i) => { s[name] = m.HEAPF64[(p >> 3) + i]; });
      s.droppedBeforeKeys = dropped[kind];
      out[kind] = s;
    }
  } finally {
    m._free(p);
  }
  return out;
}

const enc = new TextEncoder();

// The short authentication string as the core spells it: six digits and the same value as four emoji.
function sasForms(value) {
  return withBytes([new Uint8Array(8), new Uint8Array(4)], ([[d], [idx]]) => {
    m._tv_e2ee_sas_digits(value, d, 8);
    m._tv_e2ee_sas_symbols(value, idx);
    const symbols = [...m.HEAPU8.slice(idx, idx + 4)].map((i) => m.UTF8ToString(m._tv_e2ee_sas_symbol(i)));
    return { sas: value, digits: m.UTF8ToString(d), symbols };
  });
}

async function handle(msg) {
  await ready();
  switch (msg.type) {
    // Commit, then reveal (see tv_worker.h): the C side refuses any step out of order.
    case 'init': {                               // { role: 0 patient | 1 clinician, suite }
      if (call) m._tv_worker_call_free(call);
      call = m._tv_worker_call_new(msg.role, msg.suite);
      if (!call) throw new Error('cannot create the call');
      role = msg.role;
      return { epoch: m._tv_worker_call_epoch(call), simd };
    }
    case 'rekey':
      check(m._tv_worker_call_rekey(call));
      return { epoch: m._tv_worker_call_epoch(call) };
    case 'commit':                               // clinician: { visit }
      return withBytes([enc.encode(msg.visit), new Uint8Array(32)], ([[v, vn], [out]]) => {
        check(m._tv_worker_call_commitment(call, v, vn, out));
        return { commitment: m.HEAPU8.slice(out, out + 32), epoch: m._tv_worker_call_epoch(call) };
      });
    case 'acceptCommitment':                     // patient: { commitment, peerEpoch }
      withBytes([msg.commitment], ([[c]]) => check(m._tv_worker_call_accept_commitment(call, c, msg.peerEpoch)));
      return { publicKey: publicKey(), epoch: m._tv_worker_call_epoch(call) };
    case 'derive': {                             // { peerKey, peerEpoch, visit, localFingerprint, remoteFingerprint }
      const result = withBytes([msg.peerKey, enc.encode(msg.visit), enc.encode(msg.localFingerprint),
        enc.encode(msg.remoteFingerprint), new Uint8Array(4)], ([[pk], [v, vn], [lf, lfn], [rf, rfn], [sas]]) => {
        check(m._tv_worker_call_derive(call, pk, msg.peerEpoch, v, vn, lf, lfn, rf, rfn, sas));
        return sasForms(m.HEAPU32[sas >> 2]);
      });
      // The clinician reveals its key only now, after the patient's key has arrived.
      if (role === 1) result.publicKey = publicKey();
      return result;
    }
    case 'ratchet':
      check(m._tv_worker_ratchet(call));
      return null;
    case 'stats':
      return call ? stats() : null;
    case 'close':
      if (call) m._tv_worker_call_free(call);  // wipes every key
      call = 0;
      frames.wipe();                             // the last frames, in clear
      return null;
    case 'streams':                              // legacy createEncodedStreams
      attach(msg.readable, msg.writable, msg.direction, msg.kind);
      return null;
    default:
      throw new Error(`unknown request ${msg.type}`);
  }
}

// Requests carry an id; the answer (or the error) goes back with it.
self.onmessage = (e) => {
  const msg = e.data || {};
  handle(msg).then(
    (result) => { if (msg.id !== undefined) self.postMessage({ id: msg.id, result }); },
    (err) => { if (msg.id !== undefined) self.postMessage({ id: msg.id, error: String(err.message || err) }); },
  );
};

// RTCRtpScriptTransform: options say which way and which kind.
self.onrtctransform = (e) => {
  const { readable, writable, options } = e.transformer;
  ready().then(() => attach(readable, writable, options.direction, options.kind));
};
