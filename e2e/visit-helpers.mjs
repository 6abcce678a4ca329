// Steps the visit specs share: sign in (through the API from the page, as the account spec covers the
// sign-in screens), the patient's way to the waiting room, waiting for a call state, and the checks
// that media really decodes with E2EE.
import { expect } from '@playwright/test';
import { contextOptions, PASSWORD } from './stack.mjs';

export async function shot(page, testInfo, name) {
  await testInfo.attach(name, { body: await page.screenshot({ fullPage: true, caret: 'initial' }), contentType: 'image/png' });
}

// Signs in from the page's origin (the API wants same-origin JSON), then opens the console.
export async function signIn(page, stack, email, password) {
  await page.goto(`${stack.origin}/`);
  const r = await page.evaluate(async ([e, p]) => {
    const res = await fetch('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: e, password: p }) });
    return { status: res.status, body: await res.json() };
  }, [email, password]);
  expect(r.status).toBe(200);
  expect(r.body.next).toBe('done');
  await page.goto(`${stack.origin}/#/`);
  await page.reload();   // the console asks /api/me when it loads
  await expect(page.locator('#create-visit')).toBeVisible();
}

// A clinician of the stack signed in, with a new visit, its waiting room open: { context, page, link }.
// contextOptions for a browser other than Playwright's Chromium (Firefox's permissions are prefs).
export async function clinicianWithVisit(browser, stack, email, { testInfo, options = contextOptions } = {}) {
  stack.addUser(email);
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signIn(page, stack, email, PASSWORD);
  await page.locator('#create-visit').click();
  const link = await page.locator('#visit-link').inputValue();
  expect(link).toMatch(new RegExp(`^${stack.origin}/v/[A-Za-z0-9_-]{43}$`));
  if (testInfo) await shot(page, testInfo, 'clinician-dashboard');
  await page.getByRole('link', { name: /^Open$/ }).first().click();
  await expect(page.locator('#wr-title')).toBeVisible();
  return { context, page, link };
}

// Every row of every IndexedDB database of the page's origin, serialised with its bytes as text
// (both as UTF-8 and byte for byte), so a clear text kept as bytes or as a string shows either way.
export function indexedDbRows(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const { name } of await indexedDB.databases()) {
      const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = rej; });
      for (const store of db.objectStoreNames) {
        const rows = await new Promise((res) => { const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => res(r.result); });
        const text = (v) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v)
          ? `${new TextDecoder('utf-8').decode(v)}|${new TextDecoder('latin1').decode(v)}`
          : typeof v === 'object' && v !== null ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, text(x)])) : v);
        for (const row of rows) out.push(JSON.stringify({ store, row: text(row) }));
      }
      db.close();
    }
    return out;
  });
}

export async function openPatient(browser, link, { lang = 'en-US', query = '' } = {}) {
  const context = await browser.newContext({ ...contextOptions, locale: lang });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(link + query);
  return { context, page, errors };
}

// Name, consent, device check (the preview plays and the level meter moved), then join.
export async function patientToWaitingRoom(page, testInfo, name, { texts = EN } = {}) {
  await expect(page.getByRole('heading', { name: texts.welcome })).toBeVisible();
  await page.getByLabel(texts.name).fill(name);
  await page.locator('#consent').check();
  if (testInfo) await shot(page, testInfo, 'patient-welcome');
  await page.getByRole('button', { name: texts.continue }).click();
  await expect(page.getByRole('heading', { name: texts.devices })).toBeVisible();
  await expect(page.locator('#join')).toBeEnabled({ timeout: 10_000 });
  await expect.poll(() => page.evaluate(() => document.querySelector('video.preview').videoWidth)).toBeGreaterThan(0);
  await expect.poll(() => page.evaluate(() => Number(document.getElementById('mic-level').dataset.peak || 0))).toBeGreaterThan(0);
  if (testInfo) await shot(page, testInfo, 'patient-device-check');
  await page.locator('#join').click();
  await waitCall(page, 'waiting');
  await expect(page.getByText(texts.waiting)).toBeVisible();
  if (testInfo) await shot(page, testInfo, 'patient-waiting-room');
}

export const EN = {
  welcome: 'Your video visit', name: 'Your name', continue: 'Continue',
  devices: 'Check your camera and microphone', waiting: 'You are in the waiting room. The clinician will let you in shortly.',
};

export async function waitCall(page, state, timeout = 20_000) {
  await expect.poll(() => page.evaluate(() => window.__televisit?.call?.state), { timeout }).toBe(state);
}

// Frames are decrypted by the worker and decoded, none fails authentication, and the picture is the
// fake camera's (not black, not noise).
export async function expectDecoding(page) {
  await expect.poll(async () => {
    const s = await page.evaluate(() => window.__televisit.call.stats());
    return Math.min(s.video.framesDecoded || 0, s.worker?.video?.decrypted || 0, s.worker?.audio?.decrypted || 0,
      s.worker?.video?.encrypted || 0);
  }, { timeout: 15_000 }).toBeGreaterThan(30);
  const s = await page.evaluate(() => window.__televisit.call.stats());
  expect(s.worker.video.failAuth + s.worker.audio.failAuth).toBe(0);
  expect(s.worker.video.encrypted).toBeGreaterThan(30);
  const px = await page.evaluate(() => {
    const v = document.querySelector('video.remote');
    const c = document.createElement('canvas');
    c.width = 64;
    c.height = 48;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, 64, 48);
    const d = g.getImageData(0, 0, 64, 48).data;
    let green = 0;
    for (let i = 0; i < d.length; i += 4) green += d[i + 1];
    return { width: v.videoWidth, green: green / (d.length / 4) };
  });
  expect(px.width).toBeGreaterThanOrEqual(160);
  expect(px.green).toBeGreaterThan(40);
  // and sound: one-way audio is what users of video visits complain of most
  await expect.poll(() => audioPeak(page), { timeout: 10_000 }).toBeGreaterThan(AUDIBLE);
}

// The loudest sample of the remote audio over a little more than a second (both browsers' fake
// microphones: Chromium's beeps about once a second, Firefox's is a steady tone), from an analyser
// on the remote track, as decoded after E2EE. 0 for silence, -1 without a remote audio track.
export const AUDIBLE = 0.02;
export const SILENT = 0.002;
// stream: where the page keeps the remote stream (the product's call, or the E2EE fixture's).
export function audioPeak(page, ms = 1200, stream = 'call') {
  return page.evaluate(async ([ms, stream]) => {
    const remote = stream === 'fixture' ? window.__televisitTest.remote : window.__televisit.call.remote;
    const track = remote.getAudioTracks()[0];
    if (!track) return -1;
    const ac = new AudioContext();
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = 2048;
    ac.createMediaStreamSource(new MediaStream([track])).connect(an);
    const buf = new Float32Array(an.fftSize);
    let peak = 0;
    for (const end = performance.now() + ms; performance.now() < end;) {
      await new Promise((r) => setTimeout(r, 40));
      an.getFloatTimeDomainData(buf);
      for (const v of buf) peak = Math.max(peak, Math.abs(v));
    }
    await ac.close();
    return peak;
  }, [ms, stream]);
}
