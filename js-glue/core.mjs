// The C core (WebAssembly) as JS calls it. Only marshalling lives here: strings in and out of wasm
// memory, numbers to names. Every decision (password rules, message validity, the next visit state)
// is the core's. Works with the browser ES module and with its node twin: pass the factory.

const ORIGIN = { client: 0, server: 1 };
const ALGS = { SHA1: 0, SHA256: 1, SHA512: 2 };
const RULES = ['length', 'upper', 'lower', 'digit', 'strength'];
const ROLES = { patient: 0, clinician: 1 };
const ACTION_COUNT = 16;
const NAME_MAX = 64;
const RECORD_KEYBYTES = 32;
const RECORD_OVERHEAD = 41;   // version byte, nonce, tag (tv_record.h)

// base64url without padding, as the server and the signaling protocol write keys and shares
export const b64u = (u8) => btoa(String.fromCharCode(...u8)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
export const unb64u = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

export class CoreError extends Error {
  constructor(code, name, field) {
    super(field ? `${name} (${field})` : name);
    this.code = code;
    this.name = 'CoreError';
    this.errName = name;
    this.field = field || '';
  }
}

export async function loadCore(factory, moduleOptions = {}) {
  const m = await factory(moduleOptions);
  const rc0 = m._tv_init();
  if (rc0 !== 0) throw new Error('televisit core: no secure random source');
  return new Core(m);
}

class Core {
  constructor(m) {
    this.m = m;
    this.strengthAvailable = m._tv_password_have_strength() === 1;
    this.states = names(m, m._tv_visit_state_name);
    // the states no event leaves (the core's tv_visit_is_terminal): the visit is over
    this.terminalStates = new Set(this.states.filter((_, i) => m._tv_visit_is_terminal(i) === 1));
    this.events = names(m, m._tv_visit_event_name);
    this.messageTypes = names(m, m._tv_msg_type_name);
    this.actions = [];
    for (let b = 0; b < ACTION_COUNT; b++) this.actions.push(m.UTF8ToString(m._tv_visit_action_name((1 << b) >>> 0)));
  }

  errName(code) {
    return this.m.UTF8ToString(this.m._tv_err_name(code));
  }

  fail(rc, field) {
    throw new CoreError(rc, this.errName(rc), field);
  }

  // Runs fn with scratch memory: strings copied in (and wiped after, as they may be secrets),
  // `out` bytes of zeroed room. fn gets the pointers; everything is freed however fn ends.
  withMemory(strings, out, fn) {
    const m = this.m;
    const ptrs = [];
    try {
      const args = strings.map((s) => {
        const bytes = typeof s === 'string' ? new TextEncoder().encode(s) : s;
        const p = m._malloc(bytes.length + 1);
        if (!p) throw new Error('televisit core: out of memory');
        ptrs.push([p, bytes.length + 1]);
        m.HEAPU8.set(bytes, p);
        m.HEAPU8[p + bytes.length] = 0;
        return [p, bytes.length];
      });
      const o = m._malloc(out || 1);
      if (!o) throw new Error('televisit core: out of memory');
      ptrs.push([o, out || 1]);
      m.HEAPU8.fill(0, o, o + (out || 1));
      return fn(args, o);
    } finally {
      for (const [p, n] of ptrs) {
        m.HEAPU8.fill(0, p, p + n);
        m._free(p);
      }
    }
  }

  // { ok, failed: ['upper', ...], score (0-4, or null without zxcvbn), entropyBits }
  passwordCheck(password, { minLength = 8, minScore = 0 } = {}) {
    return this.withMemory([password], 16, ([[p, n]], o) => {
      const rc = this.m._tv_client_password_check(p, n, minLength, minScore, o, o + 4, o + 8);
      if (rc !== 0) this.fail(rc);
      const mask = this.m.HEAPU32[o >> 2];
      const score = this.m.HEAP32[(o + 4) >> 2];
      return {
        ok: mask === 0,
        failed: RULES.filter((_, i) => mask & (1 << i)),
        score: score < 0 ? null : score,
        entropyBits: score < 0 ? null : this.m.HEAPF64[(o + 8) >> 3],
      };
    });
  }

  // secret: Uint8Array; returns the code as a zero-padded string.
  totp(secret, unixTime, { algorithm = 'SHA1', digits = 6, period = 30 } = {}) {
    return this.withMemory([secret], 16, ([[k, n]], o) => {
      const rc = this.m._tv_client_totp(k, n, alg(algorithm), digits, period, BigInt(unixTime), o, 16);
      if (rc !== 0) this.fail(rc);
      return this.m.UTF8ToString(o);
    });
  }

  // Returns the matched time step; throws CoreError otp_mismatch / otp_replay / otp_format.
  totpVerify(secret, unixTime, code, { algorithm = 'SHA1', digits = 6, period = 30, lastStep = -1 } = {}) {
    if (lastStep !== -1 && !(Number.isSafeInteger(lastStep) && lastStep >= 0)) {
      throw new TypeError('lastStep must be -1 or the last accepted step');
    }
    return this.withMemory([secret, code], 8, ([[k, n], [c, cn]], o) => {
      const rc = this.m._tv_client_totp_verify(k, n, alg(algorithm), digits, period, BigInt(unixTime),
        c, cn, lastStep, o);
      if (rc !== 0) this.fail(rc);
      return this.m.HEAPF64[o >> 3];
    });
  }

  base32Encode(bytes, pad = false) {
    const size = Math.ceil((bytes.length * 8) / 5) + 8;
    return this.withMemory([bytes], size, ([[b, n]], o) => {
      const rc = this.m._tv_base32_encode(b, n, pad ? 1 : 0, o, size, 0);
      if (rc !== 0) this.fail(rc);
      return this.m.UTF8ToString(o);
    });
  }

  base32Decode(text) {
    const bytes = new TextEncoder().encode(text);
    const size = (bytes.length + 7) & ~7;   // the length word after the bytes must be aligned
    return this.withMemory([bytes], size + 8, ([[t, n]], o) => {
      const lenPtr = o + size;
      const rc = this.m._tv_base32_decode(t, n, o, size, lenPtr);
      if (rc !== 0) this.fail(rc);
      return this.m.HEAPU8.slice(o, o + this.m.HEAPU32[lenPtr >> 2]);
    });
  }

  tokenValid(token) {
    if (typeof token !== 'string') return false;
    return this.withMemory([token], 1, ([[t, n]]) => this.m._tv_token_check(t, n) === 0);
  }

  // Validates a frame as sent by `origin` ('client' or 'server'); returns { type, msg } or throws
  // CoreError with the core's code and the member at fault.
  parseMessage(text, origin) {
    if (!Object.hasOwn(ORIGIN, origin)) throw new TypeError('origin must be client or server');
    const o = ORIGIN[origin];
    // A lone surrogate would reach C as U+FFFD but stay in the text JSON.parse reads: refuse it.
    if (typeof text !== 'string' || (text.isWellFormed && !text.isWellFormed())) this.fail(-41);
    return this.withMemory([text], 4 + NAME_MAX, ([[t, n]], out) => {
      const rc = this.m._tv_client_msg_check(t, n, o, out, out + 4, NAME_MAX);
      if (rc !== 0) this.fail(rc, this.m.UTF8ToString(out + 4));
      return { type: this.messageTypes[this.m.HEAP32[out >> 2]], msg: JSON.parse(text) };
    });
  }

  // Serializes a message object and checks it against the schema before it may be sent.
  encodeMessage(obj, origin) {
    const text = JSON.stringify(obj);
    this.parseMessage(text, origin);
    return text;
  }

  // n bytes from libsodium's generator (the one source of randomness, as on the server).
  randomBytes(n) {
    return this.withMemory([], n, (_, o) => {
      this.m._randombytes_buf(o, n);
      return this.m.HEAPU8.slice(o, o + n);
    });
  }

  // A record key that lives only in wasm memory. From the device secret and the server's share
  // (clinicians), or random (a patient's, for one visit). Call drop() to wipe it.
  cacheKey(deviceSecret, share) {
    const key = new RecordKey(this);
    try {
      this.withMemory([deviceSecret, share], 1, ([[d, dn], [s, sn]]) => {
        const rc = this.m._tv_client_cache_key(d, dn, s, sn, key.ptr, RECORD_KEYBYTES);
        if (rc !== 0) this.fail(rc);
      });
    } catch (e) {
      key.drop();
      throw e;
    }
    return key;
  }

  randomKey() {
    const key = new RecordKey(this);
    this.m._randombytes_buf(key.ptr, RECORD_KEYBYTES);
    return key;
  }

  // XChaCha20-Poly1305 record (tv_record): identity binds it to its place (store and key).
  seal(key, identity, bytes) {
    return this.record(this.m._tv_record_seal, key, identity, bytes, bytes.length + RECORD_OVERHEAD);
  }

  // Throws CoreError record_auth_failed for a wrong key, a changed byte or a record moved elsewhere.
  open(key, identity, record) {
    return this.record(this.m._tv_record_open, key, identity, record, Math.max(record.length - RECORD_OVERHEAD, 0) + 1);
  }

  // tv_record_seal and tv_record_open share their shape: (key, identity, input, out, out_size, &out_len).
  record(fn, key, identity, input, size) {
    const lenAt = (size + 3) & ~3;   // the size_t out-length, aligned
    return this.withMemory([identity, input], lenAt + 4, ([[i, il], [b, bl]], o) => {
      const rc = fn(key.live(), i, il, b, bl, o, size, o + lenAt);
      if (rc !== 0) this.fail(rc);
      return this.m.HEAPU8.slice(o, o + this.m.HEAPU32[(o + lenAt) >> 2]);
    });
  }

  visit(role, { joinTimeoutMs = 15000, reconnectMs = 60000 } = {}) {
    return new Visit(this, role, joinTimeoutMs, reconnectMs);
  }
}

// One participant's visit state machine, living in wasm memory; call dispose() when done.
class Visit {
  constructor(core, role, joinTimeoutMs, reconnectMs) {
    if (!Object.hasOwn(ROLES, role)) throw new TypeError('role must be patient or clinician');
    this.core = core;
    this.ptr = core.m._tv_client_visit_new(ROLES[role], joinTimeoutMs, reconnectMs);
    if (!this.ptr) throw new TypeError('invalid visit configuration');
  }

  get state() {
    return this.core.states[this.core.m._tv_client_visit_state(this.ptr)];
  }

  // Feeds one event by name; returns { state, actions: [names in the order to perform], timerMs }.
  step(event) {
    const ev = this.core.events.indexOf(event);
    if (ev < 0) throw new TypeError(`unknown event ${event}`);
    const m = this.core.m;
    return this.core.withMemory([], 8, (_, o) => {
      const rc = m._tv_client_visit_step(this.ptr, ev, o, o + 4);
      if (rc !== 0) this.core.fail(rc, event);
      const mask = m.HEAPU32[o >> 2];
      return {
        state: this.state,
        actions: this.core.actions.filter((_, b) => mask & (1 << b)),
        timerMs: m.HEAPU32[(o + 4) >> 2],
      };
    });
  }

  dispose() {
    if (this.ptr) this.core.m._tv_client_visit_free(this.ptr);
    this.ptr = 0;
  }
}

class RecordKey {
  constructor(core) {
    this.core = core;
    this.ptr = core.m._malloc(RECORD_KEYBYTES);
    if (!this.ptr) throw new Error('televisit core: out of memory');
  }

  live() {
    if (!this.ptr) throw new Error('this key was dropped');
    return this.ptr;
  }

  drop() {
    if (!this.ptr) return;
    this.core.m.HEAPU8.fill(0, this.ptr, this.ptr + RECORD_KEYBYTES);
    this.core.m._free(this.ptr);
    this.ptr = 0;
  }
}

function names(m, fn) {
  const out = [];
  for (let i = 0; ; i++) {
    const p = fn(i);
    if (!p) return out;
    out.push(m.UTF8ToString(p));
  }
}

function alg(name) {
  const key = String(name).toUpperCase();
  if (!Object.hasOwn(ALGS, key)) throw new TypeError(`unknown algorithm ${name}`);
  return ALGS[key];
}
