// The embed API from an EHR page on another origin (web/embed.js in the host, the bridge in the
// frame): single sign-on inside the frame with third-party cookies blocked (a real OpenID provider,
// oidc-provider, in a popup; the session cookie lands partitioned in the frame), commands sent before the frame is ready all arrive in order, a visit created and
// run from the host's commands with its events in order, and a host that is not on the list can
// neither frame televisit nor talk to it.
import { test, expect } from '@playwright/test';
import { createServer } from 'node:http';
import { startStack, contextOptions } from './stack.mjs';
import { openPatient, patientToWaitingRoom, waitCall, expectDecoding } from './visit-helpers.mjs';
import { startProvider } from '../tests/server/oidc-op.mjs';
import { randomPort } from '../tests/server/lib.mjs';

let stack;
let ehr;
let stranger;
let op;

// A host page: loads embed.js from televisit, queues commands at once, records every event.
function hostPage(tvOrigin) {
  return `<!doctype html><html><head><title>EHR</title><script src="${tvOrigin}/embed.js"></script></head>
<body><h1>Chart</h1><div id="tv"></div><script>
window.events = [];
window.frame = new Televisit.Frame(document.getElementById('tv'), { lang: 'en', height: '900px' });
for (const e of ['ready','signedIn','signedOut','waitingRoomChanged','participantJoined','participantLeft',
  'callStateChanged','e2eeVerified','e2eeMismatch','chatReceived','deviceError','error','ended'])
  window.frame.on(e, (p) => window.events.push([e, p]));
// sent before the frame exists: all must arrive, in order
window.early = Promise.all([frame.getState(), frame.setLanguage({ lang: 'fr' }), frame.setLanguage({ lang: 'en' }),
  frame.getState()]);
</script></body></html>`;
}

function serveHost(html) {
  return new Promise((resolve) => {
    const s = createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(html()); });
    s.listen(0, '127.0.0.1', () => resolve({ server: s, origin: `http://127.0.0.1:${s.address().port}` }));
  });
}

test.beforeAll(async () => {
  let tvOrigin = '';
  ehr = await serveHost(() => hostPage(tvOrigin));
  stranger = await serveHost(() => hostPage(tvOrigin));
  const port = randomPort();
  op = await startProvider({ port: randomPort(), redirectUri: `https://127.0.0.1:${port}/api/sso/callback`,
    accounts: { 'dr.ehr': { email: 'ehr@example.org', email_verified: true } } });
  stack = await startStack({ turn: false, port,
    args: ['--frame-ancestors', ehr.origin, '--oidc-providers', op.providersFile, '--oidc-ca-file', op.caFile] });
  tvOrigin = stack.origin;
});
test.afterAll(async () => {
  await stack?.stop();
  ehr?.server.close();
  stranger?.server.close();
  await op?.stop();
});

test('an EHR frames televisit: single sign-on inside the frame, early commands, a visit run by commands, events in order', async ({ playwright }, testInfo) => {
  test.setTimeout(90_000);
  // Chromium with third-party cookies blocked: only a partitioned cookie can work in the frame.
  const browser = await playwright.chromium.launch({ executablePath: process.env.TV_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream', '--test-third-party-cookie-phaseout'] });
  try {
    const context = await browser.newContext(contextOptions);
    const page = await context.newPage();
    await page.goto(`${ehr.origin}/`);
    const early = await page.evaluate(() => window.early);
    // in order: state (English), French, English, state (English again)
    expect(early.map((r) => r.lang)).toEqual(['en', 'fr', 'en', 'en']);
    expect(early[0].signedIn).toBe(false);
    // The control: third-party cookies really are blocked in this browser. An unpartitioned cookie
    // the frame sets is not kept; a partitioned one (as the session cookie is) is.
    const tvFrame = page.frames().find((fr) => fr.url().startsWith(stack.origin));
    const jar = await tvFrame.evaluate(() => {
      document.cookie = 'probe3p=1; SameSite=None; Secure; Path=/';
      document.cookie = 'probePart=1; SameSite=None; Secure; Path=/; Partitioned';
      return document.cookie;
    });
    expect(jar).not.toContain('probe3p=1');
    expect(jar).toContain('probePart=1');
    // Sign in inside the frame by single sign-on: the provider's page opens in a popup (it would
    // not be framed), the popup hands its one-time result back to the frame and closes.
    const f = page.frameLocator('#tv iframe');
    const [popup] = await Promise.all([context.waitForEvent('page'), f.getByRole('button', { name: 'Sign in with Test SSO', exact: true }).click()]);
    await popup.locator('input[name=login]').fill('dr.ehr');
    await popup.locator('input[name=password]').fill('any');
    await popup.locator('button[type=submit]').click();
    await popup.waitForEvent('close');
    await expect(f.locator('#create-visit')).toBeVisible();
    expect(stack.sqlite("SELECT count(*) FROM audit WHERE type = 'sso_success'")).toBe('1');
    await expect.poll(() => page.evaluate(() => window.events.map((e) => e[0]))).toContain('signedIn');
    await testInfo.attach('ehr-signed-in', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

    // Create a visit and join it by command; a patient joins from another context.
    const visit = await page.evaluate(() => frame.createVisit({ label: 'Chart 4711' }));
    expect(visit.link).toMatch(/\/v\/[A-Za-z0-9_-]{43}$/);
    expect((await page.evaluate((id) => frame.join({ visit: id }), visit.id)).state).toBe('waiting');
    const pat = await openPatient(browser, visit.link);
    await patientToWaitingRoom(pat.page, null, 'Paula Embed');
    await expect.poll(() => page.evaluate(() => window.events.filter((e) => e[0] === 'waitingRoomChanged').pop()?.[1].patients.length)).toBe(1);
    const pid = await page.evaluate(() => window.events.filter((e) => e[0] === 'waitingRoomChanged').pop()[1].patients[0].id);
    await page.evaluate((id) => frame.admit({ participant: id }), pid);
    await waitCall(pat.page, 'connected');
    await expect.poll(() => page.evaluate(() => window.events.filter((e) => e[0] === 'callStateChanged').map((e) => e[1].state)))
      .toEqual(['joining', 'waiting', 'connecting', 'connected']);
    await expectDecoding(pat.page);   // the framed clinician's picture and sound reach the patient, decrypted
    expect(await page.evaluate(() => window.events.some((e) => e[0] === 'participantJoined' && e[1].name === 'Paula Embed'))).toBe(true);
    await page.evaluate(() => frame.sendChat({ text: 'from the EHR' }));
    await expect(pat.page.locator('#chat-log')).toContainText('from the EHR');
    await pat.page.locator('#chat-input').fill('hello chart');
    await pat.page.locator('#chat-input').press('Enter');
    await expect.poll(() => page.evaluate(() => window.events.filter((e) => e[0] === 'chatReceived').map((e) => e[1].text))).toEqual(['hello chart']);
    await f.locator('#sas-match').click();
    await expect.poll(() => page.evaluate(() => window.events.map((e) => e[0]))).toContain('e2eeVerified');
    await testInfo.attach('ehr-in-call', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

    // Bad commands are refused with a code; malformed and foreign-scope messages are ignored and counted.
    const bad = await page.evaluate(() => frame.admit({}).catch((e) => e.code));
    expect(bad).toBe('bad_payload');
    await page.evaluate(() => {
      const w = document.querySelector('#tv iframe').contentWindow;
      w.postMessage({ v: 1, scope: 'f'.repeat(24), type: 'hangup', id: 1, payload: {} }, '*');
      w.postMessage('not an object', '*');
      w.postMessage({ v: 1, scope: frame.scope, type: 'eval', id: 2 }, '*');
    });
    const tv = page.frames().find((fr) => fr.url().startsWith(stack.origin));
    await expect.poll(() => tv.evaluate(() => window.__televisit.embed.ignored)).toBe(3);
    await waitCall(pat.page, 'connected');   // the foreign hangup did nothing

    await page.evaluate(() => frame.hangup());
    await expect.poll(() => page.evaluate(() => window.events.map((e) => e[0]))).toContain('ended');
    await pat.context.close();
    await context.close();
  } finally {
    await browser.close();
  }
});

test('a host that is not on the list cannot frame televisit (CSP frame-ancestors)', async ({ browser }) => {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  await page.goto(`${stranger.origin}/`);
  await page.waitForTimeout(1500);
  const tv = page.frames().find((fr) => fr.url().startsWith(stack.origin));
  // Chromium replaces a refused frame's document: no televisit page and no ready event.
  const loaded = tv ? await tv.evaluate(() => !!document.querySelector('#app')).catch(() => false) : false;
  expect(loaded).toBe(false);
  expect(await page.evaluate(() => window.events.length)).toBe(0);
  const pending = await page.evaluate(() => Promise.race([window.early.then(() => 'answered'), new Promise((r) => setTimeout(() => r('no answer'), 500))]));
  expect(pending).toBe('no answer');
  await context.close();
});
