// The browser build of the core: loads as an ES module in a page and in a module worker under the
// production CSP (no unsafe-eval, no inline script), and answers as the native build does.
import { test, expect } from '@playwright/test';

test('core ES module runs in a page and a worker under a strict CSP', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto('/test/core-smoke.html');
  const r = await page.evaluate(() => window.__televisitTest);
  const expected = {
    totp: '94287082',
    password: ['length', 'upper', 'digit'],
    msgError: 'msg_wrong_direction',
    visit: ['joining', 'waiting'],
    token: true,
  };
  expect(r.page).toEqual(expected);
  expect(r.worker).toEqual(expected);
  expect(r.violations).toEqual([]);
  expect(errors).toEqual([]);
  await expect(page.locator('#status')).toHaveText('done');
});

test('the same page without wasm-unsafe-eval cannot start the core (the CSP is really applied)', async ({ page }) => {
  await page.route('**/test/core-smoke.html', async (route) => {
    const res = await route.fetch();
    const headers = { ...res.headers(), 'content-security-policy': "default-src 'self'; script-src 'self'" };
    await route.fulfill({ response: res, headers });
  });
  await page.goto('/test/core-smoke.html');
  const outcome = await page.evaluate(() => window.__televisitTest.then(() => 'loaded', (e) => `refused: ${e}`));
  expect(outcome).toMatch(/^refused/);
});
