// Safari's path, under test in Chromium: Debian's WebKit has no WebRTC, so Safari itself cannot run
// here. The patient's Chromium is made to differ as Safari does, at the points the glue depends on:
// no createEncodedStreams (Safari has RTCRtpScriptTransform alone, since 15.4), no wasm SIMD (Safari
// before 16.4: the scalar media module), H.264 first in the codec capabilities (Safari's default
// order). The call must still decode with E2EE, in VP8; and a browser with neither transform API gets
// a page that says plainly what is missing, naming the Safari version that has it.
import { test, expect } from '@playwright/test';
import { startStack, contextOptions } from './stack.mjs';
import { clinicianWithVisit, patientToWaitingRoom, shot, waitCall, expectDecoding } from './visit-helpers.mjs';

let stack;
test.beforeAll(async () => {
  stack = await startStack();
});
test.afterAll(async () => {
  await stack?.stop();
});

// Runs in the page before its scripts (Playwright's init scripts do not reach workers; the SIMD
// probe, which runs in the media worker, is answered by the route below instead).
const likeSafari = () => {
  delete RTCRtpSender.prototype.createEncodedStreams;
  delete RTCRtpReceiver.prototype.createEncodedStreams;
  for (const cls of [RTCRtpSender, RTCRtpReceiver]) {
    const caps = cls.getCapabilities.bind(cls);
    cls.getCapabilities = (kind) => {
      const c = caps(kind);
      if (c && kind === 'video') c.codecs.sort((a, b) => (/H264/i.test(b.mimeType) ? 1 : 0) - (/H264/i.test(a.mimeType) ? 1 : 0));
      return c;
    };
  }
};

// The media worker asks the engine whether it has wasm SIMD (e2ee-media.mjs); here the engine says no.
async function withoutSimd(context) {
  await context.route('**/e2ee-media.mjs', async (route) => {
    const res = await route.fetch();
    const body = (await res.text()).replace('return validate(SIMD_PROBE);', 'return false;');
    expect(body).toContain('return false;');
    await route.fulfill({ response: res, body });
  });
}

test('a Safari-like patient (no createEncodedStreams, no wasm SIMD, H.264 first): E2EE both ways in VP8', async ({ browser }, testInfo) => {
  test.setTimeout(90_000);
  const { context: docCtx, page: doc, link } = await clinicianWithVisit(browser, stack, 'safari@example.org');

  const patCtx = await browser.newContext(contextOptions);
  await patCtx.addInitScript(likeSafari);
  await withoutSimd(patCtx);
  const wasm = [];
  patCtx.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(r.url().split('/').pop()); });
  const pat = await patCtx.newPage();
  await pat.goto(link);
  expect(await pat.evaluate(() => 'createEncodedStreams' in RTCRtpSender.prototype)).toBe(false);
  await patientToWaitingRoom(pat, null, 'Sofia Safari');
  await doc.locator('#waiting-list li', { hasText: 'Sofia Safari' }).locator('button.admit').click();
  await waitCall(doc, 'connected');
  await waitCall(pat, 'connected');
  await expect(pat.locator('#sas-digits')).toHaveText(await doc.locator('#sas-digits').textContent());
  await expectDecoding(doc);
  await expectDecoding(pat);
  // the scalar module ran in the patient's worker, and VP8 went both ways
  expect(wasm).toContain('televisit-media.wasm');
  expect(wasm).not.toContain('televisit-media-simd.wasm');
  for (const page of [doc, pat]) {
    const codecs = await page.evaluate(async () => {
      const out = [];
      for (const r of (await window.__televisit.call.pc.getStats()).values()) {
        if (r.type === 'codec' && r.mimeType.startsWith('video/')) out.push(r.mimeType);
      }
      return out;
    });
    expect(codecs.length).toBeGreaterThan(0);
    for (const c of codecs) expect(c).toMatch(/^video\/(VP8|rtx|red|ulpfec)$/i);
  }
  await shot(pat, testInfo, 'safari-like patient in call');
  await patCtx.close();
  await docCtx.close();
});

test('a browser with neither transform API gets a page that says so and names the versions that work', async ({ browser }, testInfo) => {
  const { context: docCtx, link } = await clinicianWithVisit(browser, stack, 'old@example.org');
  const patCtx = await browser.newContext(contextOptions);
  await patCtx.addInitScript(() => {
    delete window.RTCRtpScriptTransform;
    delete RTCRtpSender.prototype.createEncodedStreams;
    delete RTCRtpReceiver.prototype.createEncodedStreams;
  });
  const pat = await patCtx.newPage();
  await pat.goto(link);
  await expect(pat.getByRole('heading', { name: 'This browser cannot be used' })).toBeVisible();
  await expect(pat.getByText(/Safari 15\.4 or later/)).toBeVisible();
  await expect(pat.locator('#join')).toHaveCount(0);
  await shot(pat, testInfo, 'unsupported browser');
  await patCtx.close();
  await docCtx.close();
});
