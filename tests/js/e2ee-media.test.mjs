// The media worker's per-frame path (js-glue/e2ee-media.mjs) over the node twins of both media module
// builds: frames sealed by one build open in the other (a browser with wasm SIMD calls one without),
// the shared region grows with the frames, refused frames give null, and the build choice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { FrameCrypto, wasmSimdSupported } from '../../js-glue/e2ee-media.mjs';

const require = createRequire(import.meta.url);
const twin = (name) => require(fileURLToPath(new URL(`../../build/wasm/${name}.node.cjs`, import.meta.url)))();

const SUITE = 0xf001;
const OPUS = 1;
const VP8 = 2;

async function build(name) {
  const m = await twin(name);
  assert.equal(m._tv_init(), 0);
  return m;
}

const simd = await build('televisit-media-simd');
const scalar = await build('televisit-media');

// Two worker call objects, in two modules, that agree keys as two browsers would (commit, reveal).
function agree(mc, mp) {
  const c = mc._tv_worker_call_new(1, SUITE);
  const p = mp._tv_worker_call_new(0, SUITE);
  const put = (m, bytes) => { const ptr = m._malloc(bytes.length || 1); m.HEAPU8.set(bytes, ptr); return ptr; };
  const get = (m, ptr, n) => m.HEAPU8.slice(ptr, ptr + n);
  const text = (m, s) => { const b = new TextEncoder().encode(s); return [put(m, b), b.length]; };
  const [vc, vn] = text(mc, 'v_js');
  const [vp] = text(mp, 'v_js');
  const [fc1, fn1] = text(mc, 'sha-256 AA');
  const [fc2, fn2] = text(mc, 'sha-256 BB');
  const [fp1] = text(mp, 'sha-256 BB');
  const [fp2] = text(mp, 'sha-256 AA');
  const out = mc._malloc(32);
  assert.equal(mc._tv_worker_call_commitment(c, vc, vn, out), 0);
  const commitment = put(mp, get(mc, out, 32));
  assert.equal(mp._tv_worker_call_accept_commitment(p, commitment, 0), 0);
  const pk = mp._malloc(32);
  assert.equal(mp._tv_worker_call_public_key(p, pk), 0);
  const sasC = mc._malloc(4);
  assert.equal(mc._tv_worker_call_derive(c, put(mc, get(mp, pk, 32)), 0, vc, vn, fc1, fn1, fc2, fn2, sasC), 0);
  assert.equal(mc._tv_worker_call_public_key(c, out), 0);
  const sasP = mp._malloc(4);
  assert.equal(mp._tv_worker_call_derive(p, put(mp, get(mc, out, 32)), 0, vp, vn, fp1, fn2, fp2, fn1, sasP), 0);
  assert.equal(mc.HEAPU32[sasC >> 2], mp.HEAPU32[sasP >> 2]);
  return { c, p };
}

test('the two builds are what they say: libsodium reports SIMD in one only', () => {
  assert.equal(simd._tv_worker_simd(), 1);
  assert.equal(scalar._tv_worker_simd(), 0);
});

for (const [from, to, label] of [[simd, scalar, 'SIMD to scalar'], [scalar, simd, 'scalar to SIMD']]) {
  test(`frames from 1 byte to 100 KB go ${label}, both kinds, and come back intact`, () => {
    const { c, p } = agree(from, to);
    const tx = new FrameCrypto(from);
    const rx = new FrameCrypto(to);
    const sizes = [1, 2, 3, 10, 11, 63, 64, 100, 255, 256, 257, 300, 1000, 4097, 10000, 100000];
    for (const codec of [OPUS, VP8]) {
      for (const size of sizes) {
        const frame = new Uint8Array(size);
        for (let i = 0; i < size; i++) frame[i] = (i * 131 + size) & 0xff;
        if (codec === VP8) frame[0] |= size % 2;   // key frames (10 clear bytes) and delta frames (3)
        const sent = tx.encrypt(c, codec, frame.buffer);
        if (codec === VP8 && size < ((frame[0] & 1) ? 3 : 10)) {
          assert.equal(sent, null, `a ${size}-byte VP8 frame is shorter than its clear prefix`);
          continue;
        }
        assert.ok(sent instanceof ArrayBuffer);
        assert.ok(sent.byteLength > size);
        const back = rx.decrypt(p, codec, sent);
        assert.ok(back instanceof ArrayBuffer, `${size} bytes, codec ${codec}`);
        assert.deepEqual(new Uint8Array(back), frame);
      }
    }
    assert.ok(tx.frameMax >= 100000 && rx.frameMax >= 100000);
  });
}

test('a tampered frame gives null (dropped, counted in C), and wipe() zeroes and frees the region', () => {
  const { c, p } = agree(simd, scalar);
  const tx = new FrameCrypto(simd);
  const rx = new FrameCrypto(scalar);
  const sent = new Uint8Array(tx.encrypt(c, OPUS, new Uint8Array(300).fill(7)));
  sent[sent.length - 1] ^= 1;
  assert.equal(rx.decrypt(p, OPUS, sent), null);
  const stats = scalar._malloc(8 * 11);
  scalar._tv_worker_stats(p, OPUS, stats);
  assert.equal(scalar.HEAPF64[(stats >> 3) + 2], 1);   // fail_auth
  const { inPtr, outPtr } = rx;
  rx.wipe();
  assert.equal(rx.frameMax, 0);
  // Zeroed, then freed: malloc keeps its free-list words in the first bytes of a free chunk.
  const region = scalar.HEAPU8.subarray(inPtr + 32, outPtr + (outPtr - inPtr));
  assert.ok(region.every((x) => x === 0));
  assert.deepEqual([rx.inPtr, rx.outPtr, rx.lenPtr], [0, 0, 0]);
});

test('an empty first frame and a frame after wipe() get a region of their own, never address 0', () => {
  const { c, p } = agree(simd, scalar);
  const tx = new FrameCrypto(simd);
  const rx = new FrameCrypto(scalar);
  const empty = tx.encrypt(c, OPUS, new Uint8Array(0));
  assert.ok(tx.base > 0 && tx.inPtr > 0);
  const back = rx.decrypt(p, OPUS, empty);
  assert.ok(rx.base > 0);
  assert.equal(back === null ? 0 : back.byteLength, 0);
  rx.wipe();
  const again = new Uint8Array(rx.decrypt(p, OPUS, tx.encrypt(c, OPUS, new Uint8Array(50).fill(9))));
  assert.ok(rx.base > 0);
  assert.deepEqual([...again], new Array(50).fill(9));
});

test('the build is chosen by validating a SIMD probe module; any failure means the scalar build', () => {
  assert.equal(wasmSimdSupported(), true);   // node 20 has wasm SIMD
  let probe = null;
  assert.equal(wasmSimdSupported((bytes) => { probe = bytes; return false; }), false);
  assert.equal(wasmSimdSupported(() => { throw new Error('no WebAssembly'); }), false);
  // A real module (returning a v128 from v128.const), which this engine accepts.
  assert.equal(WebAssembly.validate(probe), true);
  assert.ok(probe.includes(0x7b) && probe.includes(0xfd));
});
