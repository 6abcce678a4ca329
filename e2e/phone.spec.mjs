// The patient on a phone, emulated in Chromium: an iPhone-size and an Android-size screen with touch,
// portrait and landscape. On every screen of the patient's way (welcome, device check, waiting room,
// the call), nothing is wider than the screen, every control can be scrolled to and is not covered,
// and every touch target is at least 44 by 44 CSS pixels (WCAG 2.5.5; inline links in a sentence
// excepted, as WCAG does). Screenshots of each go to the report.
import { test, expect, devices } from '@playwright/test';
import { startStack, contextOptions } from './stack.mjs';
import { clinicianWithVisit, shot, waitCall, expectDecoding } from './visit-helpers.mjs';

let stack;
test.beforeAll(async () => {
  stack = await startStack();
});
test.afterAll(async () => {
  await stack?.stop();
});

const phones = {
  'iPhone 13': devices['iPhone 13'],
  'Pixel 7': devices['Pixel 7'],
};

// What is wrong with the screen as it is now: a list of plain sentences, empty when all is well.
function problems(page) {
  return page.evaluate(() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > window.innerWidth + 1) out.push(`the page is ${doc.scrollWidth} px wide on a ${window.innerWidth} px screen`);
    const name = (el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''} "${(el.getAttribute('aria-label') || el.textContent || el.value || '').trim().slice(0, 30)}"`;
    const controls = [...document.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, summary')]
      .filter((el) => el.offsetParent !== null && getComputedStyle(el).visibility !== 'hidden');
    for (const el of controls) {
      // a checkbox or radio is touched through its label; an inline link through the sentence's line
      const label = el.closest('label') || el.labels?.[0];
      const target = (el.type === 'checkbox' || el.type === 'radio') && label ? label : el;
      const inline = el.tagName === 'A' && !el.classList.contains('button') && getComputedStyle(el).display === 'inline';
      const r = target.getBoundingClientRect();
      if (!inline && (r.width < 44 || r.height < 44)) out.push(`${name(el)} is ${Math.round(r.width)}x${Math.round(r.height)} px`);
      target.scrollIntoView({ block: 'center', inline: 'center' });
      const s = target.getBoundingClientRect();
      const x = Math.min(Math.max(s.left + s.width / 2, 0), window.innerWidth - 1);
      const y = Math.min(Math.max(s.top + s.height / 2, 0), window.innerHeight - 1);
      const hit = document.elementFromPoint(x, y);
      if (s.bottom < 0 || s.top > window.innerHeight || s.right < 0 || s.left > window.innerWidth) out.push(`${name(el)} cannot be scrolled into view`);
      else if (!hit || !(target.contains(hit) || hit.contains(target) || hit.closest('label') === target || el.labels?.[0]?.contains(hit))) {
        out.push(`${name(el)} is covered by ${hit ? name(hit) : 'nothing'}`);
      }
    }
    window.scrollTo(0, 0);
    return out;
  });
}

async function check(page, testInfo, label) {
  await shot(page, testInfo, label);
  expect(await problems(page), label).toEqual([]);
}

for (const [phone, device] of Object.entries(phones)) {
  test(`a patient on a ${phone}: every screen fits, every control reachable and at least 44 px, portrait and landscape`, async ({ browser }, testInfo) => {
    test.setTimeout(120_000);
    const email = `phone-${phone.replace(/\W/g, '').toLowerCase()}@example.org`;
    const { context: docCtx, page: doc, link } = await clinicianWithVisit(browser, stack, email);

    const { defaultBrowserType, ...emulation } = device;   // Chromium plays the phone's browser
    const patCtx = await browser.newContext({ ...contextOptions, ...emulation, deviceScaleFactor: 2 });
    const pat = await patCtx.newPage();
    await pat.goto(link);
    await expect(pat.getByRole('heading', { name: 'Your video visit' })).toBeVisible();
    await check(pat, testInfo, `${phone}: welcome`);
    await pat.getByLabel('Your name').fill('Paula Phone');
    await pat.locator('#consent').check();
    await pat.getByRole('button', { name: 'Continue' }).tap();
    await expect(pat.locator('#join')).toBeEnabled({ timeout: 10_000 });
    await check(pat, testInfo, `${phone}: device check`);
    await pat.locator('#join').tap();
    await waitCall(pat, 'waiting');
    await check(pat, testInfo, `${phone}: waiting room`);
    await doc.locator('#waiting-list li', { hasText: 'Paula Phone' }).locator('button.admit').click();
    await waitCall(pat, 'connected');
    await expectDecoding(pat);
    await check(pat, testInfo, `${phone}: call, portrait`);
    const { width, height } = emulation.viewport;
    await pat.setViewportSize({ width: height, height: width });
    await check(pat, testInfo, `${phone}: call, landscape`);
    await expectDecoding(pat);
    await patCtx.close();
    await docCtx.close();
  });
}
