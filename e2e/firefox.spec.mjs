// Firefox (Debian's firefox-esr) in the QA suite: a Firefox patient with a Chromium clinician, and a
// call between two Firefox browsers, through the real pages, televisitd and its signaling, with E2EE
// on both ways: the same code on both screens, frames decrypted and decoded, none failing
// authentication, the picture the other side's camera, chat both ways, the encrypted cache.
import { test, expect } from '@playwright/test';
import { startStack, contextOptions } from './stack.mjs';
import { launchFirefox, firefoxContextOptions } from './browsers.mjs';
import { patientToWaitingRoom, shot, waitCall, expectDecoding, audioPeak, AUDIBLE, SILENT, clinicianWithVisit, indexedDbRows } from './visit-helpers.mjs';

let stack;
let ff;
test.beforeAll(async () => {
  stack = await startStack();
  ff = await launchFirefox();
});
test.afterAll(async () => {
  await ff?.close();
  await stack?.stop();
});

const optionsFor = (browser) => (browser === ff ? firefoxContextOptions : contextOptions);

// Playwright's screenshots add a <style> of their own to the page (even with caret: 'initial'), which
// the strict CSP blocks and Firefox reports as a page error: that one style, named by its hash, is the
// harness's. Any other CSP report is the page's and fails the test.
const HARNESS_STYLE = 'sha256-YjaKGiklmzC6wjXA513HAMmzus8VE61XCOT+SmwNZWA=';

async function patient(browser, link) {
  const context = await browser.newContext(optionsFor(browser));
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => { if (!e.message.includes(HARNESS_STYLE)) errors.push(e.message); });
  await page.goto(link);
  return { context, page, errors };
}

async function call(clinicianBrowser, patientBrowser, testInfo, email, name) {
  const doc = await clinicianWithVisit(clinicianBrowser, stack, email, { options: optionsFor(clinicianBrowser) });
  const pat = await patient(patientBrowser, doc.link);
  await patientToWaitingRoom(pat.page, testInfo, name);
  await doc.page.locator('#waiting-list li', { hasText: name }).locator('button.admit').click();
  await waitCall(doc.page, 'connected');
  await waitCall(pat.page, 'connected');
  await expect(doc.page.locator('#sas-digits')).toHaveText(/^\d{3} \d{3}$/);
  await expect(pat.page.locator('#sas-digits')).toHaveText(await doc.page.locator('#sas-digits').textContent());
  await expectDecoding(doc.page);
  await expectDecoding(pat.page);
  return { doc, pat };
}

test('a Firefox patient and a Chromium clinician: E2EE both ways, the same code, chat', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const { doc, pat } = await call(browser, ff, testInfo, 'ff1@example.org', 'Firmin Fox');
  await shot(pat.page, testInfo, 'firefox patient in call');
  await doc.page.locator('#chat-input').fill('Bonjour depuis Chromium');
  await doc.page.locator('#chat-input').press('Enter');
  await expect(pat.page.locator('#chat-log')).toContainText('Bonjour depuis Chromium');
  await pat.page.locator('#chat-input').fill('Bonjour depuis Firefox');
  await pat.page.locator('#chat-input').press('Enter');
  await expect(doc.page.locator('#chat-log')).toContainText('Bonjour depuis Firefox');
  expect(pat.errors).toEqual([]);
  await pat.context.close();
  await doc.context.close();
});

test('two Firefox browsers: E2EE both ways, the same code, sound that stops on mute, chat kept encrypted in the cache', async ({}, testInfo) => {
  test.setTimeout(120_000);
  const { doc, pat } = await call(ff, ff, testInfo, 'ff2@example.org', 'Flora Fuchs');
  await shot(doc.page, testInfo, 'firefox clinician in call');
  // the patient mutes: announced, and the clinician's side really goes quiet; then back
  await pat.page.locator('#toggle-audio').click();
  await expect.poll(() => doc.page.evaluate(() => window.__televisit.call.info.peerMedia?.audio)).toBe(false);
  await expect.poll(() => audioPeak(doc.page), { timeout: 10_000 }).toBeLessThan(SILENT);
  await pat.page.locator('#toggle-audio').click();
  await expect.poll(() => audioPeak(doc.page), { timeout: 10_000 }).toBeGreaterThan(AUDIBLE);
  // chat, then Firefox's IndexedDB holds it only as ciphertext, and the cache reads it back
  const secret = 'Allergie pénicilline confirmée 4412';
  await pat.page.locator('#chat-input').fill(secret);
  await pat.page.locator('#chat-input').press('Enter');
  await expect(doc.page.locator('#chat-log')).toContainText(secret);
  await expect(pat.page.locator('#chat-log li.pending')).toHaveCount(0);
  await expect.poll(async () => (await indexedDbRows(doc.page)).filter((r) => r.includes('/chat/')).length).toBeGreaterThan(0);
  for (const page of [doc.page, pat.page]) {
    const rows = (await indexedDbRows(page)).join('\n');
    expect(rows).not.toContain('pénicilline');
    expect(rows).not.toContain('4412');
  }
  const back = await doc.page.evaluate(async () => (await window.__televisit.console.cache.list('chat')).map((c) => c.text));
  expect(back).toContain(secret);
  expect(pat.errors).toEqual([]);
  await pat.context.close();
  await doc.context.close();
});

test('a Firefox clinician and a Chromium patient: E2EE both ways; a share headless Firefox cannot start says so, the call goes on', async ({ browser }, testInfo) => {
  test.setTimeout(120_000);
  const { doc, pat } = await call(ff, browser, testInfo, 'ff3@example.org', 'Chloé Chrome');
  // Headless Firefox has no screen to offer (getDisplayMedia: NotFoundError), so the sharing itself is
  // tested in Chromium (visit.spec); here the clinician is told, and nothing of the call breaks.
  await doc.page.locator('#toggle-screen').click();
  await expect(doc.page.locator('#share-error')).toHaveText('The screen could not be shared: this browser offered no screen or window to share.');
  await expect(doc.page.locator('#toggle-screen')).toHaveText('Share screen');
  const dec = await pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded);
  await expect.poll(async () => pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded),
    { timeout: 10_000 }).toBeGreaterThan(dec + 30);
  expect((await pat.page.evaluate(() => window.__televisit.call.stats())).worker.video.failAuth).toBe(0);
  await shot(doc.page, testInfo, 'firefox clinician: no screen to share');
  await pat.context.close();
  await doc.context.close();
});
