// The wasm TOTP against two independent implementations, on random secrets and times:
// Debian's oathtool (C, liboath) and the otpauth npm library (JS, @noble/hashes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { load } from './load-core.mjs';

const core = await load();
const ALGS = ['SHA1', 'SHA256', 'SHA512'];
const ROUNDS = 40;

function randomCase() {
  const algorithm = ALGS[randomInt(3)];
  const digits = 6 + randomInt(3);
  const period = [30, 60, 15][randomInt(3)];
  const secret = randomBytes(20 + randomInt(45));
  const time = randomInt(0, 2 ** 34);   // well past 2038, to catch 32-bit truncation
  return { algorithm, digits, period, secret, time };
}

test('wasm TOTP equals oathtool on random secrets, algorithms, digits, periods and times', () => {
  for (let i = 0; i < ROUNDS; i++) {
    const c = randomCase();
    const ours = core.totp(c.secret, c.time, c);
    const theirs = execFileSync('oathtool', [`--totp=${c.algorithm}`, '-d', String(c.digits),
      '-s', `${c.period}s`, '-N', `@${c.time}`, c.secret.toString('hex')], { encoding: 'utf8' }).trim();
    assert.equal(ours, theirs, JSON.stringify({ ...c, secret: c.secret.toString('hex') }));
  }
});

test('wasm TOTP equals the otpauth library, and each verifies the other', () => {
  for (let i = 0; i < ROUNDS * 5; i++) {
    const c = randomCase();
    const totp = new OTPAuth.TOTP({ algorithm: c.algorithm, digits: c.digits, period: c.period,
      secret: new OTPAuth.Secret({ buffer: c.secret.buffer.slice(c.secret.byteOffset, c.secret.byteOffset + c.secret.length) }) });
    const theirs = totp.generate({ timestamp: c.time * 1000 });
    assert.equal(core.totp(c.secret, c.time, c), theirs);
    const step = core.totpVerify(c.secret, c.time + c.period, theirs, c);   // one step of drift
    assert.equal(step, Math.floor(c.time / c.period));
  }
});

test('base32 of the secret decodes the same in otpauth (what the enrollment page shows)', () => {
  for (let i = 0; i < 50; i++) {
    const bytes = randomBytes(20 + randomInt(20));
    const b32 = core.base32Encode(bytes);
    assert.match(b32, /^[A-Z2-7]+$/);
    assert.deepEqual(Buffer.from(OTPAuth.Secret.fromBase32(b32).bytes), bytes);
    assert.deepEqual(Buffer.from(core.base32Decode(b32.toLowerCase())), bytes);
  }
});
