// The visit, end to end, through the real pages: televisitd, its signaling, coturn and two Chromium
// contexts (clinician and patient) with fake cameras. Each test asserts outcomes a QA engineer would
// check by hand: what each side sees, that media decodes with E2EE on, what the audit log says.
import { test, expect } from '@playwright/test';
import { startStack, contextOptions, PASSWORD } from './stack.mjs';
import { signIn, openPatient, patientToWaitingRoom, shot, waitCall, expectDecoding } from './visit-helpers.mjs';

let stack;
test.beforeAll(async () => {
  stack = await startStack();
});
test.afterAll(async () => {
  await stack?.stop();
});

async function clinicianWithVisit(browser, testInfo, email) {
  stack.addUser(email);
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  await signIn(page, stack, email, PASSWORD);
  await page.locator('#create-visit').click();
  const link = await page.locator('#visit-link').inputValue();
  expect(link).toMatch(new RegExp(`^${stack.origin}/v/[A-Za-z0-9_-]{43}$`));
  await shot(page, testInfo, 'clinician-dashboard');
  await page.getByRole('link', { name: /^Open$/ }).first().click();
  await expect(page.locator('#wr-title')).toBeVisible();
  return { context, page, link };
}

test('a visit: waiting room, admit, E2EE media both ways, same code, chat, end, audit', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const doc = await clinicianWithVisit(browser, testInfo, 'call@example.org');
  const pat = await openPatient(browser, doc.link);
  await patientToWaitingRoom(pat.page, testInfo, 'Alice Martin');

  // The clinician sees the patient by name, and admits.
  const row = doc.page.locator('#waiting-list li', { hasText: 'Alice Martin' });
  await expect(row).toBeVisible({ timeout: 10_000 });
  await shot(doc.page, testInfo, 'clinician-waiting-room');
  await row.getByRole('button', { name: 'Admit Alice Martin' }).click();

  // Both connected with keys agreed; the same six digits on both screens.
  await waitCall(doc.page, 'connected');
  await waitCall(pat.page, 'connected');
  await expect(doc.page.locator('#sas-digits')).toHaveText(/^\d{3} \d{3}$/);
  const sasDoc = await doc.page.locator('#sas-digits').textContent();
  await expect(pat.page.locator('#sas-digits')).toHaveText(sasDoc);
  expect(await doc.page.locator('#sas-symbols').textContent()).toBe(await pat.page.locator('#sas-symbols').textContent());
  await expect(doc.page.locator('#e2ee-status')).toHaveText('End-to-end encrypted: compare the code');
  await expectDecoding(doc.page);
  await expectDecoding(pat.page);
  await shot(doc.page, testInfo, 'clinician-in-call');
  await shot(pat.page, testInfo, 'patient-in-call');

  // Codes compared on both sides.
  await doc.page.locator('#sas-match').click();
  await pat.page.locator('#sas-match').click();
  await expect(doc.page.locator('#e2ee-status')).toHaveText('End-to-end encrypted and verified');
  await expect(doc.page.locator('#path-status')).toHaveText(/Direct connection|Through the relay/);

  // Chat both ways: the sender sees it pending until the server stored it.
  await doc.page.locator('#chat-input').fill('Bonjour, je vous entends bien.');
  await doc.page.locator('#chat-input').press('Enter');
  await expect(pat.page.locator('#chat-log')).toContainText('Bonjour, je vous entends bien.');
  await expect(doc.page.locator('#chat-log li.pending')).toHaveCount(0);
  await pat.page.locator('#chat-input').fill('Moi aussi, merci docteur.');
  await pat.page.getByRole('button', { name: 'Send' }).click();
  await expect(doc.page.locator('#chat-log')).toContainText('Moi aussi, merci docteur.');
  await shot(pat.page, testInfo, 'patient-chat');

  // Mute shows on the button and is announced to the other side.
  await pat.page.locator('#toggle-audio').click();
  await expect(pat.page.locator('#toggle-audio')).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => doc.page.evaluate(() => window.__televisit.call.info.peerMedia?.audio)).toBe(false);

  // The clinician ends the visit: the patient gets the end page; nothing keeps running.
  await doc.page.locator('#end-visit').click();
  await expect(pat.page.getByRole('heading', { name: 'The visit has ended' })).toBeVisible();
  await expect(pat.page.getByText('The clinician ended the visit.')).toBeVisible();
  await shot(pat.page, testInfo, 'patient-ended');
  expect(await pat.page.evaluate(() => window.__televisit.call.local.getTracks().map((t) => t.readyState))).toEqual(['ended', 'ended']);

  // The audit log has the request, the acceptance, the path, the code check and the end.
  const audit = await doc.page.evaluate(async () => (await fetch('/api/audit')).json());
  const types = audit.records.map((r) => r.type);
  for (const t of ['session_requested', 'session_accepted', 'ice_path_selected', 'sas_verified', 'session_ended']) {
    expect(types, `audit has ${t}`).toContain(t);
  }
  expect(stack.auditVerify().status).toBe(0);
  await pat.context.close();
  await doc.context.close();
});
