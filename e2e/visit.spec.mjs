// The visit, end to end, through the real pages: televisitd, its signaling, coturn and two Chromium
// contexts (clinician and patient) with fake cameras. Each test asserts outcomes a QA engineer would
// check by hand: what each side sees, that media decodes with E2EE on, what the audit log says.
import { test, expect } from '@playwright/test';
import { startStack, contextOptions, PASSWORD } from './stack.mjs';
import { signIn, openPatient, patientToWaitingRoom, shot, waitCall, expectDecoding, audioPeak, AUDIBLE, SILENT, clinicianWithVisit,
  indexedDbRows } from './visit-helpers.mjs';

let stack;
test.beforeAll(async () => {
  stack = await startStack();
});
test.afterAll(async () => {
  await stack?.stop();
});

test('a visit: waiting room, admit, E2EE media both ways, same code, chat, end, audit', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const doc = await clinicianWithVisit(browser, stack, 'call@example.org', { testInfo });
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
  // and the sound really stops on the other side, then comes back
  await expect.poll(() => audioPeak(doc.page), { timeout: 10_000 }).toBeLessThan(SILENT);
  await pat.page.locator('#toggle-audio').click();
  await expect.poll(() => audioPeak(doc.page), { timeout: 10_000 }).toBeGreaterThan(AUDIBLE);

  // The clinician ends the visit: the patient gets the end page; nothing keeps running.
  await doc.page.locator('#end-visit').click();
  await expect(pat.page.getByRole('heading', { name: 'The visit has ended' })).toBeVisible();
  await expect(pat.page.getByText('The clinician ended the visit.')).toBeVisible();
  await shot(pat.page, testInfo, 'patient-ended');
  expect(await pat.page.evaluate(() => window.__televisit.call.local.getTracks().map((t) => t.readyState))).toEqual(['ended', 'ended']);

  // The audit log has the request, the acceptance, the path, the code check and the end.
  const audit = await doc.page.evaluate(async () => (await fetch('/api/audit', { headers: { 'x-auth-token': 'same-origin' } })).json());
  const types = audit.records.map((r) => r.type);
  for (const t of ['session_requested', 'session_accepted', 'ice_path_selected', 'sas_verified', 'session_ended']) {
    expect(types, `audit has ${t}`).toContain(t);
  }
  expect(stack.auditVerify().status).toBe(0);
  await pat.context.close();
  await doc.context.close();
});

// Clinician with a visit, patient admitted, both connected: the common start of the next scenarios.
async function connectedCall(browser, testInfo, email, { patientQuery = '', lang } = {}) {
  const doc = await clinicianWithVisit(browser, stack, email, { testInfo });
  const pat = await openPatient(browser, doc.link, { query: patientQuery, ...(lang ? { lang } : {}) });
  await patientToWaitingRoom(pat.page, null, 'Bob Durand');
  await doc.page.locator('#waiting-list li', { hasText: 'Bob Durand' }).locator('button.admit').click();
  await waitCall(doc.page, 'connected');
  await waitCall(pat.page, 'connected');
  return { doc, pat };
}

test('relay only: the call goes through coturn and still decodes, end to end encrypted', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const { doc, pat } = await connectedCall(browser, testInfo, 'relay@example.org', { patientQuery: '?relay=1' });
  await expectDecoding(doc.page);
  await expectDecoding(pat.page);
  await expect.poll(() => pat.page.evaluate(() => window.__televisit.call.info.path?.local)).toBe('relay');
  await expect(pat.page.locator('#path-status')).toHaveText(/Through the relay \((UDP|TCP)\)/);
  await shot(pat.page, testInfo, 'patient-relay-call');
  const audit = await doc.page.evaluate(async () => (await fetch('/api/audit', { headers: { 'x-auth-token': 'same-origin' } })).json());
  const path = audit.records.find((r) => r.type === 'ice_path_selected' && JSON.parse(r.extra || '{}').local === 'relay');
  expect(path, 'the relay path is in the audit log').toBeTruthy();
  expect(audit.records.some((r) => r.type === 'turn_credential_issued')).toBe(true);
  await pat.context.close();
  await doc.context.close();
});

test('the dashboard shows who waits in any visit, live: Admit opens that visit with the patient let in, Deny sends one away', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  stack.addUser('lobby@example.org');
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  await signIn(page, stack, 'lobby@example.org', PASSWORD);
  await expect(page.locator('#lobby')).toContainText('Nobody is waiting');
  await page.locator('#visit-label').fill('J.D. follow-up');
  await page.locator('#create-visit').click();
  const link1 = await page.locator('#visit-link').inputValue();
  await page.locator('#visit-label').fill('M.K. results');
  await page.locator('#create-visit').click();
  await expect(page.locator('#visit-link')).not.toHaveValue(link1);
  const link2 = await page.locator('#visit-link').inputValue();

  const p1 = await openPatient(browser, link1);
  await patientToWaitingRoom(p1.page, null, 'Jeanne Dupont');
  const p2 = await openPatient(browser, link2);
  await patientToWaitingRoom(p2.page, null, 'Marc Klein');

  // The dashboard, never reloaded, lists both with their visit's reference, oldest first; the
  // Visits link and the tab's title count them.
  const rows = page.locator('#lobby-list li');
  await expect(rows).toHaveCount(2, { timeout: 10_000 });
  await expect(rows.nth(0)).toContainText('Jeanne Dupont');
  await expect(rows.nth(0)).toContainText('for J.D. follow-up');
  await expect(rows.nth(1)).toContainText('Marc Klein');
  await expect(rows.nth(1)).toContainText('for M.K. results');
  await expect(page.locator('#waiting-count')).toHaveText(/^, 2 waiting$/);
  await expect(page).toHaveTitle(/^\(2\) televisit/);
  await shot(page, testInfo, 'clinician-dashboard-waiting');

  // Deny from the dashboard: that patient is told, the list and the count follow.
  await page.getByRole('button', { name: 'Deny Marc Klein' }).click();
  await expect(p2.page.getByRole('heading', { name: 'The clinician could not see you now' })).toBeVisible();
  await expect(rows).toHaveCount(1);
  await expect(page.locator('#lobby-title')).toBeFocused();   // its row went: focus is not lost to the page
  await expect(page.locator('#waiting-count')).toHaveText(/^, 1 waiting$/);

  // Admit from the dashboard: the visit opens and the patient is let in, with no second click.
  await rows.first().getByRole('button', { name: 'Admit Jeanne Dupont' }).click();
  await waitCall(page, 'connected');
  await waitCall(p1.page, 'connected');
  await expectDecoding(p1.page);
  await expect(page.locator('#waiting-count')).toHaveCount(0);
  await expect(page).toHaveTitle(/^televisit/);
  const audit = await page.evaluate(async () => (await fetch('/api/audit', { headers: { 'x-auth-token': 'same-origin' } })).json());
  const denied = audit.records.filter((r) => r.type === 'session_denied');
  expect(denied.length).toBe(1);
  const extra = typeof denied[0].extra === 'string' ? JSON.parse(denied[0].extra) : denied[0].extra;
  expect(extra.from).toBe('dashboard');
  await page.locator('#end-visit').click();
  await expect(p1.page.getByRole('heading', { name: 'The visit has ended' })).toBeVisible();
  await p1.context.close();
  await p2.context.close();
  await context.close();
});

test('deny, a withdrawn link, an expired link, a malformed link, a resume token from another visit', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const doc = await clinicianWithVisit(browser, stack, 'deny@example.org', { testInfo });

  // Denied: the patient is told, the clinician's list empties, the audit log has it.
  const p1 = await openPatient(browser, doc.link);
  await patientToWaitingRoom(p1.page, null, 'Eve Denied');
  const row = doc.page.locator('#waiting-list li', { hasText: 'Eve Denied' });
  await row.locator('button.deny').click();
  await expect(p1.page.getByRole('heading', { name: 'The clinician could not see you now' })).toBeVisible();
  await shot(p1.page, testInfo, 'patient-denied');
  await expect(doc.page.locator('#waiting-list li')).toHaveCount(0);
  await waitCall(p1.page, 'denied');

  // A patient of visit A, admitted, has a resume token; with visit B's link that token gives no
  // admission there: the patient waits in B's waiting room like anyone.
  const p2 = await openPatient(browser, doc.link);
  await patientToWaitingRoom(p2.page, null, 'Carl Admitted');
  await doc.page.locator('#waiting-list li', { hasText: 'Carl Admitted' }).locator('button.admit').click();
  await waitCall(p2.page, 'connected');
  const resumeA = await p2.page.evaluate(() => window.__televisit.call.resume);
  expect(resumeA).toMatch(/^[A-Za-z0-9_-]{43}$/);
  const docB = await browser.newContext(contextOptions);
  const pageB = await docB.newPage();
  await signIn(pageB, stack, 'deny@example.org', PASSWORD);
  await pageB.locator('#create-visit').click();
  const linkB = await pageB.locator('#visit-link').inputValue();
  await pageB.getByRole('link', { name: /^Open$/ }).first().click();
  const p3 = await openPatient(browser, linkB);
  await patientToWaitingRoom(p3.page, null, 'Carl Admitted');
  const firstId = await p3.page.evaluate(() => window.__televisit.call.info.you);
  // the connection drops and comes back presenting visit A's resume token
  await p3.page.evaluate((r) => { window.__televisit.call.resume = r; window.__televisit.call.sig.drop(); }, resumeA);
  await expect.poll(() => p3.page.evaluate(() => window.__televisit.call.info.you), { timeout: 15_000 }).not.toBe(firstId);
  await waitCall(p3.page, 'waiting');
  await expect(pageB.locator('#waiting-list li', { hasText: 'Carl Admitted' }).first()).toBeVisible();
  // and visit A's call was not touched
  await waitCall(p2.page, 'connected');
  await p3.context.close();
  await docB.close();

  // Withdrawn: the connected patient's call ends; the link then gives the invalid-link page.
  const id = doc.page.url().split('/visit/')[1];
  const r = await doc.page.evaluate(async (vid) => (await fetch('/api/visits/revoke', { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: vid }) })).status, id);
  expect(r).toBe(200);
  await expect(p2.page.getByText('The visit link was withdrawn.')).toBeVisible();
  const p4 = await openPatient(browser, doc.link);
  await expect(p4.page.getByRole('heading', { name: 'This link does not work' })).toBeVisible();
  await shot(p4.page, testInfo, 'patient-invalid-link');

  // Expired: a fresh visit whose expiry has passed (set in the database, as a day cannot be waited).
  await doc.page.goto(`${stack.origin}/#/`);
  await doc.page.locator('#create-visit').click();
  const linkC = await doc.page.locator('#visit-link').inputValue();
  const token = linkC.split('/v/')[1];
  expect(stack.sqlite(`UPDATE visits SET expires_ms = 1 WHERE state = 'open'`)).toBe('');
  const p5 = await openPatient(browser, linkC);
  await expect(p5.page.getByRole('heading', { name: 'This link does not work' })).toBeVisible();
  await expect(p5.page.getByLabel('Your name')).toHaveCount(0);   // no way on to the waiting room
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

  // Malformed: a clear page, no stack trace.
  const p6 = await openPatient(browser, `${stack.origin}/v/not-a-token`);
  await expect(p6.page.getByRole('heading', { name: 'This link does not work' })).toBeVisible();
  expect(p6.errors).toEqual([]);
  for (const p of [p1, p2, p4, p5, p6]) await p.context.close();
  await doc.context.close();
});

test('the patient goes offline for a few seconds and the call comes back without a new admission', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const { doc, pat } = await connectedCall(browser, testInfo, 'offline@example.org');
  await expectDecoding(pat.page);
  await pat.context.setOffline(true);
  await expect.poll(() => pat.page.evaluate(() => window.__televisit.call.info.signaling), { timeout: 30_000 }).not.toBe('open');
  await shot(pat.page, testInfo, 'patient-offline');
  await new Promise((r) => setTimeout(r, 3000));
  await pat.context.setOffline(false);
  await waitCall(pat.page, 'connected', 45_000);
  await waitCall(doc.page, 'connected', 45_000);
  await expect.poll(() => pat.page.evaluate(() => window.__televisit.call.info.signaling), { timeout: 30_000 }).toBe('open');
  // no second admission: the waiting room stayed empty throughout
  await expect(doc.page.locator('#waiting-list li')).toHaveCount(0);
  // media flows again (counters keep growing after the return)
  const before = await doc.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded || 0);
  await expect.poll(async () => doc.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded || 0),
    { timeout: 15_000 }).toBeGreaterThan(before + 20);
  await pat.context.close();
  await doc.context.close();
});

test('IndexedDB holds no clear text of the chat, on either side', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const { doc, pat } = await connectedCall(browser, testInfo, 'idb@example.org');
  const secret = 'Allergie pénicilline confirmée 7731';
  await pat.page.locator('#chat-input').fill(secret);
  await pat.page.locator('#chat-input').press('Enter');
  await expect(doc.page.locator('#chat-log')).toContainText(secret);
  await expect(pat.page.locator('#chat-log li.pending')).toHaveCount(0);
  await expect.poll(async () => (await indexedDbRows(doc.page)).filter((r) => r.includes('/chat/')).length).toBeGreaterThan(0);
  await expect.poll(async () => (await indexedDbRows(pat.page)).filter((r) => r.includes('/chat/')).length).toBeGreaterThan(0);
  for (const page of [doc.page, pat.page]) {
    const rows = await indexedDbRows(page);
    expect(rows.join('\n')).not.toContain('pénicilline');
    expect(rows.join('\n')).not.toContain('7731');
  }
  // and the cache opens with the session's key: the clinician's transcript reads back
  const back = await doc.page.evaluate(async () => (await window.__televisit.console.cache.list('chat')).map((c) => c.text));
  expect(back).toContain(secret);
  await pat.context.close();
  await doc.context.close();
});

test('in French from end to end: the patient by browser language, the clinician by the picker', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const doc = await clinicianWithVisit(browser, stack, 'fr@example.org', { testInfo });
  await doc.page.locator('#lang').selectOption('fr');
  await expect(doc.page.getByRole('heading', { name: 'Salle d’attente' })).toBeVisible();
  expect(await doc.page.getAttribute('html', 'lang')).toBe('fr');
  const pat = await openPatient(browser, doc.link, { lang: 'fr-FR' });
  await patientToWaitingRoom(pat.page, testInfo, 'Chloé Lefèvre', { texts: {
    welcome: 'Votre consultation vidéo', name: 'Votre nom', continue: 'Continuer',
    devices: 'Vérifiez votre caméra et votre microphone',
    waiting: 'Vous êtes en salle d’attente. Le soignant va vous faire entrer.',
  } });
  await doc.page.getByRole('button', { name: 'Faire entrer Chloé Lefèvre' }).click();
  await waitCall(pat.page, 'connected');
  await expect(pat.page.locator('#e2ee-status')).toHaveText('Chiffré de bout en bout : comparez le code');
  await expect(pat.page.locator('#sas-match')).toHaveText('Les codes sont identiques');
  await expect(doc.page.locator('#end-visit')).toHaveText('Terminer la consultation pour tous');
  await shot(pat.page, testInfo, 'patient-call-fr');
  await shot(doc.page, testInfo, 'clinician-call-fr');
  // no English left on the patient's call screen
  const text = await pat.page.locator('main').innerText();
  for (const english of ['Mute', 'Leave', 'Security code', 'Send', 'Camera off']) expect(text).not.toContain(english);
  await doc.page.locator('#end-visit').click();
  await expect(pat.page.getByRole('heading', { name: 'La consultation est terminée' })).toBeVisible();
  await expect(pat.page.getByText('Le soignant a terminé la consultation.')).toBeVisible();
  await shot(pat.page, testInfo, 'patient-ended-fr');
  await pat.context.close();
  await doc.context.close();
});

test('screen sharing and a camera switch replace the track in the encrypted sender: frames stay encrypted and decode', async ({ browser }, testInfo) => {
  test.setTimeout(60_000);
  const { doc, pat } = await connectedCall(browser, testInfo, 'share@example.org');
  await expectDecoding(pat.page);
  const before = await pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded);
  const encBefore = await doc.page.evaluate(async () => (await window.__televisit.call.stats()).worker.video.encrypted);
  await doc.page.locator('#toggle-screen').click();
  await expect(doc.page.locator('#toggle-screen')).toHaveText('Stop sharing');
  await expect.poll(() => pat.page.evaluate(() => window.__televisit.call.info.peerMedia?.screen)).toBe(true);
  // the sender's transform still encrypts every frame, and the patient still decodes them
  await expect.poll(async () => doc.page.evaluate(async () => (await window.__televisit.call.stats()).worker.video.encrypted),
    { timeout: 10_000 }).toBeGreaterThan(encBefore + 30);
  await expect.poll(async () => pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded),
    { timeout: 10_000 }).toBeGreaterThan(before + 30);
  const s = await pat.page.evaluate(() => window.__televisit.call.stats());
  expect(s.worker.video.failAuth).toBe(0);
  await shot(pat.page, testInfo, 'patient-sees-screen-share');
  await doc.page.locator('#toggle-screen').click();
  await expect(doc.page.locator('#toggle-screen')).toHaveText('Share screen');
  await expect.poll(() => pat.page.evaluate(() => window.__televisit.call.info.peerMedia?.screen)).toBe(false);
  // A camera switch (the fake device has one camera: the switch reopens it, a new track all the same)
  // goes into the same transformed sender: still encrypted, still decoded.
  const oldTrack = await doc.page.evaluate(() => window.__televisit.call.local.getVideoTracks()[0].id);
  const enc = await doc.page.evaluate(async () => (await window.__televisit.call.stats()).worker.video.encrypted);
  const dec = await pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded);
  await doc.page.evaluate(async () => {
    const c = window.__televisit.call;
    await c.switchDevice('video', c.local.getVideoTracks()[0].getSettings().deviceId);
  });
  expect(await doc.page.evaluate(() => window.__televisit.call.local.getVideoTracks()[0].id)).not.toBe(oldTrack);
  await expect.poll(async () => doc.page.evaluate(async () => (await window.__televisit.call.stats()).worker.video.encrypted),
    { timeout: 10_000 }).toBeGreaterThan(enc + 30);
  await expect.poll(async () => pat.page.evaluate(async () => (await window.__televisit.call.stats()).video.framesDecoded),
    { timeout: 10_000 }).toBeGreaterThan(dec + 30);
  expect((await pat.page.evaluate(() => window.__televisit.call.stats())).worker.video.failAuth).toBe(0);
  await pat.context.close();
  await doc.context.close();
});
