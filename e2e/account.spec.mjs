// The account views in a real browser against the real stack (televisitd, aiosmtpd, on loopback):
// registration with live password rules, activation by the mailed link, TOTP enrollment and
// sign-in, replay and recovery-code refusals, the audit view and its CSV, settings up to deleting
// the account, lockout and its lifting by a password reset. The tests run in order on one page and
// share the account they create.
import { test, expect } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import * as OTPAuth from 'otpauth';
import { startStack, contextOptions, PASSWORD } from './stack.mjs';

test.describe.configure({ mode: 'serial' });

const EMAIL = `clinician-${Date.now()}@televisit.test`;
const STEP_MS = 30_000;
const shared = { secret: '', confirmedStep: -1, lastCode: '', recovery: [] };
let stack;
let context;
let page;
const problems = [];   // uncaught page errors and CSP violations, checked at the end

test.beforeAll(async ({ browser }) => {
  stack = await startStack({ turn: false });
  context = await browser.newContext(contextOptions);
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) problems.push(`csp: ${m.text()}`);
  });
});

test.afterAll(async () => {
  await context?.close();
  await stack?.stop();
});

const snap = async (testInfo, name) =>
  testInfo.attach(name, { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

const heading = (name) => page.getByRole('heading', { name, exact: true });
const alert = () => page.locator('.notice.error:not(:empty)');
const step = (ms) => Math.floor(ms / STEP_MS);
const totpAt = (ms) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(shared.secret), algorithm: 'SHA1', digits: 6, period: 30 })
  .generate({ timestamp: ms });

// Clicks and waits for the API answer the click causes, so an unchanged message is not mistaken
// for the answer to this attempt.
async function submitTo(path, locator) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === path && r.request().method() === 'POST'),
    locator.click(),
  ]);
  return res;
}

async function signIn(email, password) {
  await expect(heading('Sign in')).toBeVisible();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  return submitTo('/api/login', page.getByRole('button', { name: 'Sign in' }));
}

async function second(code, { recovery = false } = {}) {
  await expect(heading('Two-factor authentication')).toBeVisible();
  if (recovery) {
    const toggle = page.getByRole('button', { name: 'Use a recovery code instead' });
    if (await toggle.isVisible()) await toggle.click();
    await page.getByLabel('Recovery code').fill(code);
  } else {
    await page.getByLabel('Code from the app').fill(code);
  }
  return submitTo('/api/login/second', page.getByRole('button', { name: 'Continue' }));
}

async function expectDashboard() {
  await expect(page).toHaveURL(/#\/$/);
  await expect(page.getByRole('navigation')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(heading('Sign in')).toBeVisible();
  await expect(page.getByRole('navigation')).toHaveCount(0);
}

test('password rules update live as the user types, and a weak password is refused with the rules named', async ({}, testInfo) => {
  await page.goto(`${stack.origin}/#/register`);
  await expect(heading('Create a clinician account')).toBeVisible();
  const rule = (name) => page.locator(`ul.rules li[data-rule=${name}]`);
  const password = page.getByLabel('New password', { exact: true });
  await expect(page.locator('ul.rules li.met')).toHaveCount(0);

  await password.pressSequentially('abc');
  await expect(rule('lower')).toHaveClass(/\bmet\b/);
  for (const r of ['length', 'upper', 'digit']) await expect(rule(r)).not.toHaveClass(/\bmet\b/);
  await expect(rule('length')).toHaveText(/at least 10 characters/);
  await password.pressSequentially('DEF');
  await expect(rule('upper')).toHaveClass(/\bmet\b/);
  await snap(testInfo, 'register: rules while typing');

  // Refused in the page, before anything is sent: the missing rules are named.
  let registerCalls = 0;
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/register') registerCalls++; });
  await page.getByLabel('Work e-mail address').fill(`weak-${Date.now()}@televisit.test`);
  await page.getByLabel('Repeat the new password').fill('abcDEF');
  await page.getByRole('button', { name: 'Create the account' }).click();
  await expect(alert()).toHaveText('Password refused: it needs at least 10 characters, a digit, to be hard to guess (no common word, name or pattern).');
  expect(registerCalls).toBe(0);
  await snap(testInfo, 'register: refused in the page');

  // Switching language re-translates the view in place, the rules and the refusal included.
  await page.selectOption('#lang', 'fr');
  await expect(heading('Créer un compte soignant')).toBeVisible();
  await expect(rule('length')).toHaveText(/au moins 10 caractères/);
  await expect(alert()).toHaveText(/^Mot de passe refusé, il doit comporter : au moins 10 caractères, un chiffre, /);
  await snap(testInfo, 'register: refused, in French');
  await page.selectOption('#lang', 'en');
  await expect(heading('Create a clinician account')).toBeVisible();

  // Every rule the core checks is met, but zxcvbn (the server's, asked as the user pauses: the
  // browser's core has none) finds it guessable: the strength rule and the meter say so while typing,
  // and the page refuses it before sending it to /api/register.
  await password.fill('Password123');
  await page.getByLabel('Repeat the new password').fill('Password123');
  for (const r of ['length', 'upper', 'lower', 'digit']) await expect(rule(r)).toHaveClass(/\bmet\b/);
  await expect(page.locator('meter')).toBeVisible();
  expect(await page.locator('meter').evaluate((m) => m.value)).toBeLessThan(3);
  await expect(rule('strength')).not.toHaveClass(/\bmet\b/);
  await snap(testInfo, 'register: strength judged while typing');
  await page.getByRole('button', { name: 'Create the account' }).click();
  await expect(alert()).toHaveText(/^Password refused: it needs to be hard to guess/);
  expect(registerCalls).toBe(0);
  // a strong one: every rule met, the meter high
  await password.fill(PASSWORD);
  await expect(rule('strength')).toHaveClass(/\bmet\b/);
  expect(await page.locator('meter').evaluate((m) => m.value)).toBeGreaterThanOrEqual(3);
  // and the server still has the last word on submit (a request made by hand, not by the page)
  const res = await page.evaluate(async () => (await fetch('/api/register', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `weak2-${Date.now()}@televisit.test`, password: 'Password123' }) })).json());
  expect(res.failed).toEqual(['strength']);
});

test('a clinician registers, activates by mail, enrolls TOTP, signs out and back in with a fresh code', async ({}, testInfo) => {
  test.setTimeout(80_000);   // may wait up to one 30 s TOTP step
  await page.goto(`${stack.origin}/`);
  await expect(heading('Sign in')).toBeVisible();
  await snap(testInfo, 'sign-in');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await expect(heading('Create a clinician account')).toBeVisible();
  await page.getByLabel('Work e-mail address').fill(EMAIL);
  await page.getByLabel('New password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the new password').fill(PASSWORD);
  await expect(page.locator('ul.rules li:not(.met)')).toHaveCount(0);
  await snap(testInfo, 'register: filled');
  const res = await submitTo('/api/register', page.getByRole('button', { name: 'Create the account' }));
  expect(res.status()).toBe(202);
  await expect(heading('Check your mail')).toBeVisible();
  await expect(page.getByText(`If ${EMAIL} can be registered`)).toBeVisible();
  await snap(testInfo, 'register: check your mail');

  const key = await stack.mail(EMAIL, /#key=([A-Za-z0-9_-]{43})/);
  await page.goto(`${stack.origin}/activate.html#key=${key}`);
  await expect(heading('Activate your account')).toBeVisible();
  expect(page.url()).toBe(`${stack.origin}/activate.html`);   // the key left the address bar
  // the key alone activates nothing: the registration's password goes with it
  await page.getByLabel('Your password').fill('Another-Password-42');
  expect((await submitTo('/api/activate', page.getByRole('button', { name: 'Activate' }))).status()).toBe(401);
  await expect(page.getByText(/^This is not the password chosen when registering for this link/)).toBeVisible();
  await snap(testInfo, 'activate: another password');
  await page.getByLabel('Your password').fill(PASSWORD);
  expect((await submitTo('/api/activate', page.getByRole('button', { name: 'Activate' }))).status()).toBe(200);
  await expect(heading('Your account is active')).toBeVisible();
  await snap(testInfo, 'activate: done');
  await page.goto('about:blank');   // a fresh load, as from the mail, not a same-page fragment change
  await page.goto(`${stack.origin}/activate.html#key=${key}`);   // keys work once
  await page.getByLabel('Your password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Activate' }).click();
  await expect(heading('The account was not activated')).toBeVisible();
  await expect(page.getByText(/^This activation link is not valid\. It may have been used already/)).toBeVisible();
  await snap(testInfo, 'activate: link used twice');
  await page.getByRole('link', { name: 'Sign in' }).click();

  expect((await signIn(EMAIL, PASSWORD)).status()).toBe(200);
  await expectDashboard();

  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(heading('Settings')).toBeVisible();
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  // a security change: the current password first, a session alone is not enough
  await expect(heading('Turn on two-factor authentication')).toBeVisible();
  await page.getByLabel('Current password').fill('Not-The-Password-1');
  expect((await submitTo('/api/totp/enroll', page.getByRole('button', { name: 'Continue' }))).status()).toBe(401);
  await expect(alert()).toHaveText('The password is wrong.');
  await expect(page.getByLabel('Current password')).toHaveValue('');
  await snap(testInfo, 'enroll: password asked first');
  await page.getByLabel('Current password').fill(PASSWORD);
  const enroll = await submitTo('/api/totp/enroll', page.getByRole('button', { name: 'Continue' }));
  // The answer carries the QR code (about 9 KB): say plainly when it does not arrive whole.
  const enrollBody = await enroll.text().catch((e) => `unreadable: ${e.message}`);
  expect(enrollBody, 'the body of POST /api/totp/enroll').toMatch(/"qr_svg":"<svg[\s\S]*<\/svg>"\}$/);
  await expect(heading('Turn on two-factor authentication')).toBeVisible();
  const qr = page.getByRole('img', { name: 'QR code to add televisit to your authenticator app' });
  await expect(qr).toBeVisible();
  expect(await qr.evaluate((img) => img.complete && img.naturalWidth > 0)).toBe(true);   // the data: SVG loads under the CSP
  shared.secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
  expect(shared.secret).toMatch(/^[A-Z2-7]{32,}$/);
  expect(await page.getByRole('link', { name: /open the authenticator app/ }).getAttribute('href')).toMatch(/^otpauth:\/\/totp\//);
  await snap(testInfo, 'enroll: QR code and key');

  const now = Date.now();
  shared.confirmedStep = step(now);
  await page.getByLabel('6-digit code').fill(totpAt(now));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await expect(heading('Save your recovery codes')).toBeVisible();
  shared.recovery = await page.locator('#recovery-codes li').allTextContents();
  expect(shared.recovery).toHaveLength(10);
  for (const c of shared.recovery) expect(c).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
  const [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download as a text file' }).click()]);
  expect(download.suggestedFilename()).toBe('televisit-recovery-codes.txt');
  const file = await readFile(await download.path(), 'utf8');
  for (const c of shared.recovery) expect(file).toContain(c);
  await snap(testInfo, 'enroll: recovery codes');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await expectDashboard();
  await expect(page.locator('#recovery-codes')).toHaveCount(0);

  await signOut();
  expect(await (await signIn(EMAIL, PASSWORD)).json()).toEqual({ next: 'totp' });
  await expect(heading('Two-factor authentication')).toBeVisible();
  await snap(testInfo, 'second factor');
  // The enrollment code used this step: a sign-in needs a later one, as a person would wait for.
  const wait = (shared.confirmedStep + 1) * STEP_MS - Date.now() + 250;
  if (wait > 0) await page.waitForTimeout(wait);
  const at = Date.now();
  expect(step(at)).toBeGreaterThan(shared.confirmedStep);
  shared.lastCode = totpAt(at);
  expect((await second(shared.lastCode)).status()).toBe(200);
  await expectDashboard();
  await snap(testInfo, 'dashboard after TOTP sign-in');
});

test('a replayed TOTP code is refused with the replay message; a recovery code signs in once only', async ({}, testInfo) => {
  await signOut();
  await signIn(EMAIL, PASSWORD);
  const replay = await second(shared.lastCode);
  expect(replay.status()).toBe(401);
  expect((await replay.json()).error).toBe('otp_replay');
  await expect(alert()).toHaveText(/^This code has already been used to sign in\. Wait until your app shows a new one/);
  await expect(page).toHaveURL(/#\/second$/);
  await snap(testInfo, 'second factor: replay refused');

  expect((await second(shared.recovery[0], { recovery: true })).status()).toBe(200);
  await expectDashboard();

  await signOut();
  await signIn(EMAIL, PASSWORD);
  const again = await second(shared.recovery[0], { recovery: true });
  expect(again.status()).toBe(401);
  await expect(alert()).toHaveText('This recovery code is wrong or has already been used. Each code works only once.');
  await snap(testInfo, 'second factor: recovery code reused');
  expect((await second(shared.recovery[1], { recovery: true })).status()).toBe(200);
  await expectDashboard();

  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(page.locator('#recovery-left')).toHaveText('Recovery codes left: 8 of 10.');
  await snap(testInfo, 'settings');
});

test('the audit view lists sign-in successes and failures, and the CSV download starts with its header', async ({}, testInfo) => {
  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(heading('Audit log')).toBeVisible();
  const types = await page.locator('td [data-type]').evaluateAll((els) => els.map((e) => e.dataset.type));
  expect(types).toContain('login_success');
  expect(types).toContain('login_failure');
  expect(types).toContain('totp_enabled');
  expect(types.indexOf('login_success')).toBeLessThan(types.indexOf('account_created'));   // newest first
  await snap(testInfo, 'audit log');

  const [download] = await Promise.all([page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download CSV' }).click()]);
  expect(download.suggestedFilename()).toBe('televisit-audit.csv');
  const csv = await readFile(await download.path(), 'utf8');
  expect(csv.split('\r\n')[0]).toBe('"seq","ts_ms","type","requester","message","room","ip","extra"');
  expect(csv).toContain('"login_failure"');
});

test('settings: IP allow-list, data export, cache erasure, password change, then deleting the account', async ({}, testInfo) => {
  const part = (title) => page.locator('section.card', { has: page.getByRole('heading', { name: title, exact: true }) });
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(heading('Settings')).toBeVisible();

  const ip = part('Allowed addresses');
  await ip.getByLabel('Allowed IP addresses').fill('10.0.0.1');
  await submitTo('/api/settings', ip.getByRole('button', { name: 'Save the list' }));
  await expect(ip.locator('.notice.error')).toHaveText(/^This list was not saved/);   // it would lock us out
  await ip.getByLabel('Allowed IP addresses').fill('127.0.0.1, 10.0.0.0/8');
  await submitTo('/api/settings', ip.getByRole('button', { name: 'Save the list' }));
  await expect(ip.locator('.notice.ok')).toHaveText('The list is saved.');
  await expect(ip.getByLabel('Allowed IP addresses')).toHaveValue('127.0.0.1 10.0.0.0/8');

  const data = part('Your data');
  const [download] = await Promise.all([page.waitForEvent('download'),
    data.getByRole('button', { name: 'Export my data' }).click()]);
  expect(download.suggestedFilename()).toBe('televisit-my-data.json');
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  expect(exported.account.email).toBe(EMAIL);
  expect(exported.account.ip_allow).toBe('127.0.0.1 10.0.0.0/8');
  expect(exported.audit.map((r) => r.type)).toContain('settings_changed');
  // without the header the pages send (what a link from another site amounts to) there is no export
  expect(await page.evaluate(async () => (await fetch('/api/export')).status)).toBe(403);
  await data.getByRole('button', { name: 'Erase this device’s copy' }).click();
  await expect(data.locator('.notice.ok')).toHaveText('This device’s copy is erased.');

  const pw = part('Password');
  const fresh = 'Fresh-Lantern-Quarry-77';
  await pw.getByLabel('Current password').fill('Not-The-Password-1');
  await pw.getByLabel('New password', { exact: true }).fill(fresh);
  await pw.getByLabel('Repeat the new password').fill(fresh);
  await submitTo('/api/password/change', pw.getByRole('button', { name: 'Change the password' }));
  await expect(pw.locator('.notice.error')).toHaveText('The current password is wrong.');
  await expect(pw.getByLabel('Current password')).toHaveValue('');
  await expect(pw.getByLabel('New password', { exact: true })).toHaveValue('');
  await pw.getByLabel('Current password').fill(PASSWORD);
  await pw.getByLabel('New password', { exact: true }).fill(fresh);
  await pw.getByLabel('Repeat the new password').fill(fresh);
  expect((await submitTo('/api/password/change', pw.getByRole('button', { name: 'Change the password' }))).status()).toBe(200);
  await expect(pw.locator('.notice.ok')).toHaveText('Your password is changed. Your other devices have been signed out.');
  await snap(testInfo, 'settings: after changes');

  const del = part('Delete the account');
  await del.getByLabel('Password').fill(PASSWORD);   // the old one
  await del.getByLabel('I understand that this cannot be undone').check();
  await submitTo('/api/account/delete', del.getByRole('button', { name: 'Delete my account' }));
  await expect(del.locator('.notice.error')).toHaveText('The password is wrong.');
  await del.getByLabel('Password').fill(fresh);
  expect((await submitTo('/api/account/delete', del.getByRole('button', { name: 'Delete my account' }))).status()).toBe(200);
  await expect(heading('Your account is deleted')).toBeVisible();
  await expect(page.getByRole('navigation')).toHaveCount(0);
  await snap(testInfo, 'account deleted');
  await page.goto(`${stack.origin}/#/login`);
  expect((await signIn(EMAIL, fresh)).status()).toBe(401);
  await expect(alert()).toHaveText('The e-mail address or password is wrong.');
});

test('five wrong passwords block sign-in from this network, even with the right one; a password reset lifts the block', async ({}, testInfo) => {
  const email = `locked-${Date.now()}@televisit.test`;
  stack.addUser(email);
  await page.goto(`${stack.origin}/#/login`);
  for (let i = 1; i <= 4; i++) {
    expect((await signIn(email, `Wrong-Password-${i}x`)).status()).toBe(401);
    await expect(alert()).toHaveText('The e-mail address or password is wrong.');
    await expect(page.getByLabel('Password', { exact: true })).toHaveValue('');   // cleared after use
  }
  expect((await signIn(email, 'Wrong-Password-5x')).status()).toBe(423);
  await expect(alert()).toHaveText('Too many failed attempts from this network: sign-in is blocked here for 15 minutes.');
  await expect(page.getByText('Resetting your password by e-mail also lifts the block.')).toBeVisible();
  await snap(testInfo, 'sign-in: locked');

  const right = await signIn(email, PASSWORD);
  expect(right.status()).toBe(423);
  expect((await right.json()).retry_after_s).toBeGreaterThan(800);
  await expect(alert()).toHaveText(/^Too many failed attempts from this network: sign-in is blocked here for 1[45] minutes\.$/);
  await expect(page).toHaveURL(/#\/login$/);
  await expect(page.getByRole('navigation')).toHaveCount(0);

  await page.getByRole('link', { name: 'Forgot your password?' }).first().click();
  await expect(heading('Forgotten password')).toBeVisible();
  await page.getByLabel('E-mail address').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(heading('Check your mail')).toBeVisible();
  const key = await stack.mail(email, /reset\.html#key=([A-Za-z0-9_-]{43})/);
  await page.goto(`${stack.origin}/reset.html#key=${key}`);
  await expect(heading('Choose a new password')).toBeVisible();
  expect(page.url()).toBe(`${stack.origin}/reset.html`);
  const fresh = 'Unlocked-Kettle-Orbit-42';
  await page.getByLabel('New password', { exact: true }).fill(fresh);
  await page.getByLabel('Repeat the new password').fill(fresh);
  await snap(testInfo, 'reset: new password');
  await page.getByRole('button', { name: 'Save the new password' }).click();
  await expect(heading('Your password is changed')).toBeVisible();
  await page.getByRole('link', { name: 'Sign in' }).click();
  expect((await signIn(email, fresh)).status()).toBe(200);
  await expectDashboard();
});

test('no page error or CSP violation along the way, and the audit chain verifies', async () => {
  expect(problems).toEqual([]);
  const verify = stack.auditVerify();
  expect(verify.status, verify.stdout + verify.stderr).toBe(0);
});
