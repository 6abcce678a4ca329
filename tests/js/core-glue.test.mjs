// The JS glue over the wasm core: marshalling, errors as CoreError, and the decisions staying in C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoreError } from '../../js-glue/core.mjs';
import { load } from './load-core.mjs';

const core = await load();

test('password rules come back by name', () => {
  assert.deepEqual(core.passwordCheck('Abcdefg1').failed, []);
  assert.equal(core.passwordCheck('Abcdefg1').ok, true);
  assert.deepEqual(core.passwordCheck('abc').failed, ['length', 'upper', 'digit']);
  assert.deepEqual(core.passwordCheck('Élodie12').failed, []);
  assert.deepEqual(core.passwordCheck('Abcdefgh1', { minLength: 12 }).failed, ['length']);
  // Length is in code points: 7 emoji and 'Aa1' are 10 code points but 31 bytes.
  assert.deepEqual(core.passwordCheck('😀😀😀😀😀Aa1').failed, []);
  assert.deepEqual(core.passwordCheck('😀😀😀Aa1').failed, ['length']);
});

test('oversized passwords are refused, not hashed or estimated', () => {
  assert.throws(() => core.passwordCheck('A1a'.repeat(400)), (e) => e instanceof CoreError && e.errName === 'too_long');
});

test('strength: a number when the build has zxcvbn, null (and a clear error for a score policy) when not', () => {
  const r = core.passwordCheck('Password1');
  if (core.strengthAvailable) {
    assert.ok(r.score <= 1);
    assert.equal(core.passwordCheck('vQ7#kLp2!xZr9@Wm').score, 4);
  } else {
    assert.equal(r.score, null);
    assert.throws(() => core.passwordCheck('Password1', { minScore: 3 }), /unsupported/);
  }
});

test('TOTP replay is refused through the glue', () => {
  const key = new TextEncoder().encode('12345678901234567890');
  const t = 1700000000;
  const code = core.totp(key, t);
  const step = core.totpVerify(key, t, code);
  assert.equal(step, Math.floor(t / 30));
  assert.throws(() => core.totpVerify(key, t + 5, code, { lastStep: step }), (e) => e.errName === 'otp_replay');
  assert.throws(() => core.totpVerify(key, t, '000000' === code ? '111111' : '000000'), (e) => e.errName === 'otp_mismatch');
  assert.throws(() => core.totpVerify(key, t, '12a456'), (e) => e.errName === 'otp_format');
});

test('messages are validated by the core, with the code and member at fault', () => {
  const ok = core.parseMessage('{"type":"chat","cid":"m1","text":"bonjour"}', 'client');
  assert.equal(ok.type, 'chat');
  assert.equal(ok.msg.text, 'bonjour');
  const cases = [
    ['{"type":"chat","cid":"m1"}', 'client', 'msg_missing_field', 'text'],
    ['{"type":"admit","participant":"p1"}', 'server', 'msg_wrong_direction', 'type'],
    ['{"type":"chat","cid":"m1","text":"x","text":"y"}', 'client', 'msg_duplicate_field', 'text'],
    ['not json', 'client', 'msg_malformed_json', ''],
    ['{"type":"hello"}', 'client', 'msg_unknown_type', 'type'],
  ];
  for (const [text, origin, code, field] of cases) {
    assert.throws(() => core.parseMessage(text, origin), (e) => e.errName === code && e.field === field, text);
  }
  assert.throws(() => core.parseMessage('{"type":"leave"}' + ' '.repeat(65536), 'client'), (e) => e.errName === 'msg_too_large');
});

test('encodeMessage refuses to send what the schema does not allow', () => {
  assert.equal(core.encodeMessage({ type: 'sas_result', match: true }, 'client'), '{"type":"sas_result","match":true}');
  assert.throws(() => core.encodeMessage({ type: 'sas_result', match: 'yes' }, 'client'), (e) => e.errName === 'msg_field_type');
  assert.throws(() => core.encodeMessage({ type: 'chat', cid: 'm', text: 'x', secret: 1 }, 'client'), (e) => e.field === 'secret');
});

test('invite tokens are checked for shape', () => {
  assert.equal(core.tokenValid('A'.repeat(43)), true);
  assert.equal(core.tokenValid('A'.repeat(42)), false);
  assert.equal(core.tokenValid('A'.repeat(42) + 'B'), false);
  assert.equal(core.tokenValid('A'.repeat(42) + '+'), false);
  assert.equal(core.tokenValid(null), false);
});

test('the visit state machine drives the flow; illegal events change nothing', () => {
  const v = core.visit('patient', { joinTimeoutMs: 1000, reconnectMs: 5000 });
  try {
    assert.equal(v.state, 'checking_devices');
    assert.deepEqual(v.step('devices_ready'), { state: 'joining', actions: ['connect_signaling', 'start_timer'], timerMs: 1000 });
    assert.equal(v.step('joined').state, 'waiting');
    assert.throws(() => v.step('admit'), (e) => e.errName === 'state_illegal_event');
    assert.equal(v.state, 'waiting');
    v.step('admitted');
    assert.deepEqual(v.step('peer_joined').actions, ['start_media']);
    v.step('media_connected');
    assert.deepEqual(v.step('media_lost'), { state: 'reconnecting', actions: ['start_timer'], timerMs: 5000 });
    const end = v.step('hangup');
    assert.equal(end.state, 'ended');
    assert.deepEqual(end.actions, ['cancel_timer', 'send_leave', 'stop_media', 'wipe_keys', 'close_signaling', 'release_devices']);
    assert.throws(() => v.step('no_such_event'), TypeError);
  } finally {
    v.dispose();
  }
  assert.throws(() => core.visit('admin'), TypeError);
});

test('scratch memory holding a password is wiped after use', () => {
  // The allocator overwrites a freed block's first bytes itself, so look for the tail.
  const secret = 'Sup3r-secret-passw0rd-XYZZY-and-a-long-tail-0123456789';
  core.passwordCheck(secret);
  const heap = Buffer.from(core.m.HEAPU8.buffer);
  assert.equal(heap.indexOf(Buffer.from(secret.slice(16))), -1);
});

test('bad arguments are refused, not guessed at', () => {
  const key = new TextEncoder().encode('12345678901234567890');
  const code = core.totp(key, 1700000000);
  for (const lastStep of [NaN, 1.5, -2, null, 2 ** 60]) {
    assert.throws(() => core.totpVerify(key, 1700000000, code, { lastStep }), TypeError, String(lastStep));
  }
  assert.throws(() => core.parseMessage('{"type":"leave"}', 'toString'), TypeError);
  assert.throws(() => core.visit('constructor'), TypeError);
  assert.throws(() => core.totp(key, 1, { algorithm: 'constructor' }), TypeError);
  assert.throws(() => core.parseMessage('{"type":"chat","cid":"m","text":"\ud800"}', 'client'), (e) => e.errName === 'msg_malformed_json');
  assert.throws(() => core.base32Decode('MZXW6YTBé'), (e) => e.errName === 'bad_encoding');
});

test('cache records: both key halves needed, bound to their place, tamper refused', () => {
  const device = core.randomBytes(32);
  const share = core.randomBytes(32);
  assert.equal(device.length, 32);
  assert.notDeepEqual(device, share);
  const key = core.cacheKey(device, share);
  const text = new TextEncoder().encode('Douleur thoracique depuis hier soir');
  const rec = core.seal(key, 'chat/visit1/3', text);
  assert.equal(rec.length, text.length + 41);
  assert.equal(Buffer.from(rec).includes(Buffer.from('thoracique')), false);
  assert.deepEqual(core.open(key, 'chat/visit1/3', rec), text);
  const auth = (e) => e instanceof CoreError && e.errName === 'record_auth_failed';
  // moved to another key of the store
  assert.throws(() => core.open(key, 'chat/visit1/4', rec), auth);
  // one flipped bit
  const bad = rec.slice();
  bad[30] ^= 1;
  assert.throws(() => core.open(key, 'chat/visit1/3', bad), auth);
  // the same device with another account's share (or after sign-out, a guessed one)
  const other = core.cacheKey(device, core.randomBytes(32));
  assert.throws(() => core.open(other, 'chat/visit1/3', rec), auth);
  // the same share on another device
  const otherDevice = core.cacheKey(core.randomBytes(32), share);
  assert.throws(() => core.open(otherDevice, 'chat/visit1/3', rec), auth);
  // the same halves give the same key (a reload opens the cache)
  const again = core.cacheKey(device, share);
  assert.deepEqual(core.open(again, 'chat/visit1/3', rec), text);
  assert.deepEqual(core.open(again, 'x', core.seal(again, 'x', new Uint8Array(0))), new Uint8Array(0));
  assert.throws(() => core.cacheKey(device.slice(0, 31), share), (e) => e.errName === 'invalid_argument');
  key.drop();
  assert.throws(() => core.seal(key, 'chat/visit1/3', text), /dropped/);
  for (const k of [other, otherDevice, again]) k.drop();
});
