// Playwright with Debian's Chromium (Playwright cannot download browsers here), headless, as root.
import { defineConfig } from '@playwright/test';
import { BROWSER_HOME } from './pki.mjs';

const port = Number(process.env.TV_E2E_PORT || 47801);

export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.mjs$/,
  timeout: 30_000,
  workers: 1,            // the machine has 2 cores; calls later need one each
  // the HTML report keeps each test's screenshots for a reviewer (build/e2e-report/index.html)
  reporter: [['list'], ['html', { outputFolder: '../build/e2e-report', open: 'never' }]],
  outputDir: '../build/e2e-results',
  globalSetup: './global-setup.mjs',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.TV_CHROMIUM || '/usr/bin/chromium',
      // a home whose NSS database trusts the test CA that signs the relay's turns: certificate
      env: { ...process.env, HOME: process.env.TV_BROWSER_HOME || BROWSER_HOME },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        // a synthetic camera (green test pattern) and a beeping microphone, no permission prompt
        '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
        // getDisplayMedia picks the whole screen without a chooser (headless: a fake one)
        '--auto-select-desktop-capture-source=Entire screen'],
    },
  },
  webServer: {
    command: `node e2e/static-server.mjs ${port}`,
    cwd: '..',
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 10_000,
  },
});
