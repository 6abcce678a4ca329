// End-to-end encrypted calls between two browser contexts: real WebRTC, the real media worker and
// wasm. The test process carries the signaling (offer, answer, public keys), so it can also play a
// relay that lies.
import { test, expect } from '@playwright/test';
import { startTurn } from './turn.mjs';

const VISIT = 'v_e2e_test';

async function side(browser, role) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`/test/call.html?role=${role}`);
  await page.waitForFunction(() => window.__televisitTest);
  return { context, page, errors, call: (fn, arg) => page.evaluate(([f, a]) => window.__televisitTest[f](a), [fn, arg]) };
}

// Two sides connected by the test acting as signaling relay. Keys are exchanged by the caller.
async function connect(browser, options = {}) {
  const a = await side(browser, 'clinician');
  const b = await side(browser, 'patient');
  a.key = await a.call('setup', options);
  b.key = await b.call('setup', options);
  const offer = await a.call('offer');
  const answer = await b.call('answer', offer);
  await a.call('accept', answer);
  return { a, b };
}

async function until(fn, predicate, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (predicate(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  return last;
}

async function close(...sides) {
  for (const s of sides) {
    await s.call('hangup').catch(() => {});
    await s.context.close();
  }
}

function expectDecodingBothWays(sa, sb) {
  for (const s of [sa, sb]) {
    expect(s.video.framesDecoded).toBeGreaterThan(30);
    // Every frame that reached the decoder was decoded: the worker let through only good frames.
    expect(s.video.framesDecoded).toBeGreaterThanOrEqual(s.video.framesReceived - 3);
    expect(s.worker.video.decrypted).toBeGreaterThan(30);
    expect(s.worker.audio.decrypted).toBeGreaterThan(30);
    expect(s.worker.video.failAuth + s.worker.audio.failAuth).toBe(0);
    // Chromium sometimes hands the receive transform a video frame twice early in a call; the worker
    // drops the repeat as a replay (the decoder already had it). Rare, never more.
    expect(s.worker.video.failReplay + s.worker.audio.failReplay).toBeLessThanOrEqual(s.worker.video.decrypted / 5);
    expect(s.worker.video.encrypted).toBeGreaterThan(30);
  }
}

async function expectPicture(s) {
  const px = await s.page.evaluate(() => window.__televisitTest.remotePixels());
  // Chromium's fake camera: a green test pattern with moving parts, 640x480 or scaled down when
  // WebRTC adapts to the CPU.
  expect(px.width).toBeGreaterThanOrEqual(160);
  expect(px.mean[1]).toBeGreaterThan(px.mean[0] + 20);
  expect(px.mean[1]).toBeGreaterThan(px.mean[2] + 20);
  expect(px.greenSpread).toBeGreaterThan(5);
}

test('media decodes both ways with E2EE on, and both sides show the same SAS', async ({ browser }) => {
  const { a, b } = await connect(browser);
  const sasA = await a.call('derive', { peerKey: b.key.publicKey, peerEpoch: b.key.epoch, visit: VISIT });
  const sasB = await b.call('derive', { peerKey: a.key.publicKey, peerEpoch: a.key.epoch, visit: VISIT });
  expect(sasA.digits).toMatch(/^\d{6}$/);
  expect(sasA.symbols).toHaveLength(4);
  expect(sasB).toEqual(sasA);
  const ok = (s) => s.video.framesDecoded > 40 && s.worker.audio.decrypted > 40;
  const sa = await until(() => a.call('stats'), ok);
  const sb = await until(() => b.call('stats'), ok);
  expectDecodingBothWays(sa, sb);
  await expectPicture(a);
  await expectPicture(b);
  // Only codecs the worker can frame were negotiated: VP8 (with its repair formats) and Opus.
  const codecs = await a.call('negotiatedCodecs');
  expect(new Set(codecs.video)).toEqual(new Set(codecs.video.filter((c) => /^(VP8|RTX|RED|ULPFEC)$/.test(c))));
  expect(codecs.video).toContain('VP8');
  expect(codecs.audio).toEqual(['OPUS']);
  expect(a.errors.concat(b.errors)).toEqual([]);
  await close(a, b);
});

test('a participant who rejoins brings new keys: media goes on under the new generation', async ({ browser }) => {
  const { a, b } = await connect(browser);
  const sasA = await a.call('derive', { peerKey: b.key.publicKey, peerEpoch: b.key.epoch, visit: VISIT });
  await b.call('derive', { peerKey: a.key.publicKey, peerEpoch: a.key.epoch, visit: VISIT });
  const before = await until(() => a.call('stats'), (s) => s.video.framesDecoded > 20);
  // The patient's key pair is replaced (epoch 1); both sides agree again.
  const fresh = await b.call('rekey');
  expect(fresh.epoch).toBe(1);
  expect(fresh.publicKey).not.toEqual(b.key.publicKey);
  const sasB2 = await b.call('derive', { peerKey: a.key.publicKey, peerEpoch: a.key.epoch, visit: VISIT });
  const sasA2 = await a.call('derive', { peerKey: fresh.publicKey, peerEpoch: fresh.epoch, visit: VISIT });
  expect(sasA2).toEqual(sasB2);
  expect(sasA2.digits).not.toEqual(sasA.digits);
  // Generation 1 is KID 16 (generation << 4): both directions moved to it and keep decoding.
  const gen1 = (s) => s.worker.video.recvKid === 16 && s.worker.video.sendKid === 16;
  const sa = await until(() => a.call('stats'), (s) => gen1(s) && s.video.framesDecoded > before.video.framesDecoded + 30);
  const sb = await until(() => b.call('stats'), (s) => gen1(s));
  expect(gen1(sa) && gen1(sb)).toBe(true);
  expect(sa.video.framesDecoded).toBeGreaterThan(before.video.framesDecoded + 30);
  expect(sa.worker.video.failAuth + sb.worker.video.failAuth).toBe(0);
  await close(a, b);
});

test('a wrong receive key decodes nothing: every frame fails authentication and is dropped', async ({ browser }) => {
  const { a, b } = await connect(browser);
  await a.call('derive', { peerKey: b.key.publicKey, peerEpoch: b.key.epoch, visit: VISIT });
  // The patient is shown another certificate fingerprint for the clinician (a relay terminating
  // DTLS would do this): its transcript and so its keys differ.
  const fake = 'sha-256 ' + Array(32).fill('AB').join(':');
  await b.call('derive', { peerKey: a.key.publicKey, peerEpoch: a.key.epoch, visit: VISIT, remoteFingerprint: fake });
  const sb = await until(() => b.call('stats'), (s) => s.worker.video.failAuth > 40, 8000);
  const sa = await a.call('stats');
  for (const s of [sa, sb]) {
    expect(s.worker.video.failAuth).toBeGreaterThan(20);
    expect(s.worker.video.decrypted).toBe(0);
    expect(s.worker.audio.decrypted).toBe(0);
    expect(s.video.framesDecoded).toBe(0);
  }
  await close(a, b);
});

test('a relay that substitutes its own public keys yields different strings on the two sides', async ({ browser }) => {
  const { a, b } = await connect(browser);
  const m = await side(browser, 'patient');
  const mKey = await m.call('setup');
  const sasA = await a.call('derive', { peerKey: mKey.publicKey, peerEpoch: b.key.epoch, visit: VISIT });
  const sasB = await b.call('derive', { peerKey: mKey.publicKey, peerEpoch: a.key.epoch, visit: VISIT });
  expect(sasA.digits).not.toEqual(sasB.digits);
  const sb = await until(() => b.call('stats'), (s) => s.worker.video.failAuth > 10, 8000);
  expect(sb.worker.video.decrypted).toBe(0);
  await close(a, b, m);
});

test('the same call forced through coturn (relay only) still decodes', async ({ browser }) => {
  const turn = await startTurn();
  try {
    const iceServers = [turn.credentials('e2e')];
    const { a, b } = await connect(browser, { iceServers, relayOnly: true });
    await a.call('derive', { peerKey: b.key.publicKey, peerEpoch: b.key.epoch, visit: VISIT });
    await b.call('derive', { peerKey: a.key.publicKey, peerEpoch: a.key.epoch, visit: VISIT });
    const ok = (s) => s.video.framesDecoded > 40 && s.worker.audio.decrypted > 40;
    const sa = await until(() => a.call('stats'), ok);
    const sb = await until(() => b.call('stats'), ok);
    expect(sa.pair).toMatchObject({ local: 'relay', remote: 'relay' });
    expectDecodingBothWays(sa, sb);
    await expectPicture(b);
    await close(a, b);
  } finally {
    turn.stop();
  }
});
