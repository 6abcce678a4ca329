// Accessibility: an axe-core scan of every screen a patient or clinician goes through (WCAG 2.1 A and
// AA rules), with no serious or critical violation allowed. Keyboard use is checked where it matters
// most: a patient reaches the waiting room without a mouse.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { startStack, contextOptions, PASSWORD } from './stack.mjs';
import { signIn, openPatient, waitCall } from './visit-helpers.mjs';

let stack;
test.beforeAll(async () => { stack = await startStack({ turn: false }); });
test.afterAll(async () => { await stack?.stop(); });

async function scan(page, name, testInfo) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  await testInfo.attach(`axe-${name}.json`, { body: JSON.stringify(r.violations, null, 1), contentType: 'application/json' });
  expect(bad.map((v) => `${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  expect(r.passes.length).toBeGreaterThan(5);   // the scan ran on a real page
}

test('every screen passes axe with no serious or critical violation', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const anon = await browser.newContext(contextOptions);
  const a = await anon.newPage();
  await a.goto(`${stack.origin}/#/login`);
  await expect(a.locator('h1')).toBeVisible();
  await scan(a, 'login', testInfo);
  await a.goto(`${stack.origin}/#/register`);
  await a.reload();
  await expect(a.locator('h1')).toBeVisible();
  await scan(a, 'register', testInfo);
  await a.goto(`${stack.origin}/activate.html#key=${'A'.repeat(43)}`);
  await expect(a.locator('h1')).toBeVisible();
  await scan(a, 'activate', testInfo);
  await a.goto(`${stack.origin}/v/not-a-valid-token`);
  await expect(a.locator('h1')).toBeVisible();
  await scan(a, 'patient-invalid-link', testInfo);

  stack.addUser('a11y@example.org');
  const docCtx = await browser.newContext(contextOptions);
  const doc = await docCtx.newPage();
  await signIn(doc, stack, 'a11y@example.org', PASSWORD);
  await doc.locator('#create-visit').click();
  await expect(doc.locator('#visit-link')).toBeVisible();
  await scan(doc, 'dashboard', testInfo);
  const link = await doc.locator('#visit-link').inputValue();
  for (const route of ['settings', 'audit']) {
    await doc.goto(`${stack.origin}/#/${route}`);
    await expect(doc.locator('h1')).toBeVisible();
    await scan(doc, route, testInfo);
  }
  await doc.goto(`${stack.origin}/#/`);
  await doc.getByRole('link', { name: /^Open$/ }).first().click();
  await expect(doc.locator('#wr-title')).toBeVisible();

  // The patient, by keyboard only: Tab to each control, Space to tick, Enter to go on.
  const pat = await openPatient(browser, link);
  const p = pat.page;
  await expect(p.getByRole('heading', { name: 'Your video visit' })).toBeVisible();
  await scan(p, 'patient-welcome', testInfo);
  await p.locator('#patient-name').focus();
  await p.keyboard.type('Kim Keyboard');
  await p.keyboard.press('Tab');
  await expect(p.locator('#consent')).toBeFocused();
  await p.keyboard.press('Space');
  await expect(p.locator('#consent')).toBeChecked();
  await p.keyboard.press('Tab');
  await p.keyboard.press('Enter');
  await expect(p.getByRole('heading', { name: 'Check your camera and microphone' })).toBeVisible();
  await expect(p.locator('#join')).toBeEnabled({ timeout: 10_000 });
  await scan(p, 'patient-device-check', testInfo);
  await p.locator('#join').focus();
  await p.keyboard.press('Enter');
  await waitCall(p, 'waiting');
  await scan(p, 'patient-waiting-room', testInfo);
  await scan(doc, 'clinician-waiting-room', testInfo);
  await doc.locator('#waiting-list li button.admit').first().focus();
  await doc.keyboard.press('Enter');
  await waitCall(p, 'connected');
  await waitCall(doc, 'connected');
  await scan(p, 'patient-call', testInfo);
  await scan(doc, 'clinician-call', testInfo);
  await pat.context.close();
  await docCtx.close();
  await anon.close();
});
