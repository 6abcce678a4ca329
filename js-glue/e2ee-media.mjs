// The media worker's wasm module and its per-frame path, shared by e2ee-worker.js and the benchmark
// (bench/web/e2ee.mjs), so that what the benchmark times is what the worker runs.
//
// Two builds of the same module: televisit-media-simd.wasm (libsodium's SSSE3 ChaCha20 compiled to
// wasm SIMD) and televisit-media.wasm (scalar) for engines without SIMD, where the SIMD one would
// not even compile. One of them is downloaded, when the worker starts.

// The smallest module that uses a SIMD instruction: (func (result v128) (v128.const i32x4 0 0 0 0)).
const SIMD_PROBE = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,          // type: () -> v128
  0x03, 0x02, 0x01, 0x00,                            // one function of that type
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b]);   // v128.const 0

export function wasmSimdSupported(validate = (bytes) => WebAssembly.validate(bytes)) {
  try {
    return validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

// The module for this engine, with libsodium's random source readied. { module, simd }: simd says
// which build runs, as the module itself reports it.
export async function loadMediaModule({ simd = wasmSimdSupported() } = {}) {
  // One import with both names in it: scripts/sizes.mjs counts the larger of the two in the page weight.
  const { default: create } = await import(simd ? './televisit-media-simd.mjs' : './televisit-media.mjs');
  const module = await create();
  if (module._tv_init() !== 0) throw new Error('no secure random source');
  return { module, simd: module._tv_worker_simd() === 1 };
}

const OVERHEAD = 64;   // >= TV_MEDIA_OVERHEAD (17-byte SFrame header + 16-byte tag), rounded up

// Encrypts and decrypts frames through one region of wasm memory, allocated once and grown only when
// a larger frame comes: [length word | input | output]. Per frame: one copy in, the C call, one copy
// out into the new ArrayBuffer the frame must carry (the encoded frame keeps a reference to the
// buffer it is given until it is sent, so an output buffer cannot be reused).
export class FrameCrypto {
  constructor(module) {
    this.m = module;
    this.base = 0;
    this.frameMax = 0;
    this.inPtr = 0;
    this.outPtr = 0;
    this.lenPtr = 0;
    // The two C functions, looked up once.
    this.encryptFn = module._tv_worker_encrypt;
    this.decryptFn = module._tv_worker_decrypt;
    this.encrypt = (call, codec, data) => this.run(this.encryptFn, call, codec, data);
    this.decrypt = (call, codec, data) => this.run(this.decryptFn, call, codec, data);
  }

  // Room for frames of up to `len` bytes (and their overhead), with a margin so a video stream whose
  // frames grow slowly does not reallocate on every key frame.
  reserve(len) {
    if (this.base && len <= this.frameMax) return;
    const frameMax = Math.max(len + (len >> 2), 4096);
    const slot = ((frameMax + OVERHEAD + 15) & ~15);
    const base = this.m._malloc(16 + 2 * slot);
    if (!base) throw new Error('out of memory');
    this.wipe();
    this.base = base;
    this.frameMax = frameMax;
    this.lenPtr = base;
    this.inPtr = base + 16;
    this.outPtr = this.inPtr + slot;
  }

  // Returns the transformed frame as a new ArrayBuffer, or null if the core refused it (the C side
  // counts it by reason). `data`: an ArrayBuffer (an encoded frame's data) or a Uint8Array.
  run(fn, call, codec, data) {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    const len = bytes.length;
    if (!this.base || len > this.frameMax) this.reserve(len);   // an empty first frame needs room too
    const m = this.m;
    m.HEAPU8.set(bytes, this.inPtr);
    if (fn(call, codec, this.inPtr, len, this.outPtr, len + OVERHEAD, this.lenPtr) !== 0) return null;
    const heap = m.HEAPU8;                       // read again: memory may have grown during the call
    const n = m.HEAPU32[this.lenPtr >> 2];
    return heap.slice(this.outPtr, this.outPtr + n).buffer;
  }

  // Zeroes and frees the region (it held clear media).
  wipe() {
    if (!this.base) return;
    this.m.HEAPU8.fill(0, this.base, this.outPtr + (this.outPtr - this.inPtr));
    this.m._free(this.base);
    this.base = 0;
    this.frameMax = 0;
    this.inPtr = this.outPtr = this.lenPtr = 0;
  }
}
