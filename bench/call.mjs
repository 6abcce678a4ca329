// npm run bench:call: how long a patient waits for the clinician's picture, and the clinician for
// the patient's, from the clinician's "admit" click to the first decoded remote frame on each side,
// E2EE on, on loopback: median and p90 over 10 calls through the real pages, televisitd (release
// build) and two Chromium contexts. Reference, same run: a bare RTCPeerConnection pair in one page
// (fake camera, no signaling server, no waiting room, no E2EE), from createOffer to its first frame.
import { mkdirSync, writeFileSync } from 'node:fs';
import { chromium } from '@playwright/test';
import { startStack, contextOptions, PASSWORD } from '../e2e/stack.mjs';
import { signIn, patientToWaitingRoom, waitCall } from '../e2e/visit-helpers.mjs';

const CALLS = Number(process.env.TV_BENCH_CALLS || 10);
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
};

// Date.now() of the first frame the remote <video> presents (requestVideoFrameCallback).
const ARM = () => new Promise((resolve) => {
  const wait = () => {
    const v = document.querySelector('video.remote');
    if (!v) { setTimeout(wait, 20); return; }
    window.__benchFirst = 0;
    v.requestVideoFrameCallback(() => { window.__benchFirst = Date.now(); });
    resolve();
  };
  wait();
});

async function until(page, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await page.evaluate(fn);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${fn}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function reference(browser, stack) {
  const ctx = await browser.newContext(contextOptions);
  const page = await ctx.newPage();
  await page.goto(`${stack.origin}/reference.html`);   // a 404: an empty secure page of the same origin
  const out = [];
  for (let i = 0; i < CALLS; i++) {
    out.push(await page.evaluate(async () => {
      const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      const v = document.createElement('video');
      v.muted = true;
      v.autoplay = true;
      document.body.append(v);
      const first = new Promise((resolve) => { b.ontrack = (e) => { v.srcObject = e.streams[0]; v.requestVideoFrameCallback(() => resolve(Date.now())); }; });
      const t0 = Date.now();
      for (const t of media.getTracks()) a.addTrack(t, media);
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription);
      const t1 = await first;
      a.close(); b.close(); v.remove();
      media.getTracks().forEach((t) => t.stop());
      return t1 - t0;
    }));
  }
  await ctx.close();
  return out;
}

async function televisit(browser, stack) {
  stack.addUser('bench@example.org');
  const docCtx = await browser.newContext(contextOptions);
  const doc = await docCtx.newPage();
  await signIn(doc, stack, 'bench@example.org', PASSWORD);   // the QA suite's steps, checks included
  const patientSide = [];
  const clinicianSide = [];
  for (let i = 0; i < CALLS; i++) {
    await doc.goto(`${stack.origin}/#/`);
    await doc.reload();
    await doc.locator('#create-visit').click();
    const link = await doc.locator('#visit-link').inputValue();
    await doc.getByRole('link', { name: /^Open$/ }).first().click();
    const patCtx = await browser.newContext(contextOptions);
    const pat = await patCtx.newPage();
    await pat.goto(link);
    await patientToWaitingRoom(pat, null, `Patient ${i}`);
    await doc.locator('#waiting-list li button.admit').waitFor();
    await doc.evaluate(ARM);
    await pat.evaluate(ARM);
    const t0 = await doc.evaluate(() => { const t = Date.now(); document.querySelector('#waiting-list li button.admit').click(); return t; });
    const tDoc = await until(doc, () => window.__benchFirst);
    const tPat = await until(pat, () => window.__benchFirst);
    const e2ee = await pat.evaluate(() => window.__televisit.call.info.e2ee);
    if (e2ee !== 'on') throw new Error(`E2EE was ${e2ee}`);
    clinicianSide.push(tDoc - t0);
    patientSide.push(tPat - t0);
    await doc.locator('#end-visit').click();
    await waitCall(pat, 'ended');
    await patCtx.close();
  }
  await docCtx.close();
  return { patientSide, clinicianSide };
}

const stack = await startStack({ turn: false });
const browser = await chromium.launch({ executablePath: process.env.TV_CHROMIUM || '/usr/bin/chromium', args: ARGS });
try {
  const ref = await reference(browser, stack);
  const tv = await televisit(browser, stack);
  const row = (name, xs) => `${name.padEnd(52)}${String(q(xs, 0.5)).padStart(6)} ms ${String(q(xs, 0.9)).padStart(6)} ms`;
  console.log(`\ncall setup, ${CALLS} calls each, loopback, headless Chromium ${browser.version()}, node ${process.version} (median, p90)`);
  console.log(row('admit -> first remote frame, patient side', tv.patientSide));
  console.log(row('admit -> first remote frame, clinician side', tv.clinicianSide));
  console.log(row('reference: bare RTCPeerConnection pair, one page', ref));
  const worst = Math.max(q(tv.patientSide, 0.5), q(tv.clinicianSide, 0.5));
  console.log(`televisit median / reference median: ${(worst / q(ref, 0.5)).toFixed(2)}x`);
  console.log(`target: median under 500 ms: ${worst < 500 ? 'met' : 'NOT met'} (${worst} ms, the slower side)`);
  mkdirSync('build/bench', { recursive: true });
  writeFileSync('build/bench/call.json', JSON.stringify({ calls: CALLS, ...tv, reference: ref }, null, 1));
} finally {
  await browser.close();
  await stack.stop();
}
