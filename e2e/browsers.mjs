// Test helper (not shipped): the browsers the QA suite drives besides Playwright's own Chromium.
// Debian's firefox-esr through Playwright's WebDriver BiDi client; Playwright cannot download its own
// Firefox here. firefox-bidi.mjs stands between them (see there for why).
import { firefox } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A synthetic camera and microphone (Firefox's fake devices: a colour pattern and a steady tone), no
// permission prompt, autoplay allowed, real host addresses (no mDNS names) and loopback candidates, so
// a call between two browsers on this machine connects as it does between two machines.
export const firefoxPrefs = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
};

// Firefox runs no Web Audio graph without an audio output device (an AudioContext stays suspended and
// resume() never settles), and this machine has none: the microphone meter read 0 and the remote
// audio could not be measured. A private PulseAudio with a null sink gives it one, as a sound card
// would; nothing is played anywhere.
async function startPulse() {
  const dir = mkdtempSync(join(tmpdir(), 'tv-pulse-'));
  const env = { ...process.env, XDG_RUNTIME_DIR: dir, PULSE_SERVER: `unix:${dir}/pulse/native` };
  const proc = spawn('pulseaudio', ['-n', '--daemonize=no', '--exit-idle-time=-1', '--disallow-exit', '--system=false',
    '--load=module-native-protocol-unix', '--load=module-null-sink sink_name=tv_null', '--log-target=stderr'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 100 && !existsSync(`${dir}/pulse/native`); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(`${dir}/pulse/native`)) {
    proc.kill();
    throw new Error(`pulseaudio did not start: ${log.slice(-500)}`);
  }
  return { env, stop: () => { proc.kill(); rmSync(dir, { recursive: true, force: true }); } };
}

export async function launchFirefox() {
  const pulse = await startPulse();
  const browser = await firefox.launch({
    channel: 'moz-firefox',
    executablePath: new URL('./firefox-bidi.mjs', import.meta.url).pathname,
    firefoxUserPrefs: firefoxPrefs,
    headless: true,
    env: pulse.env,
  }).catch((e) => { pulse.stop(); throw e; });
  browser.on('disconnected', pulse.stop);
  return browser;
}

// Firefox takes the permissions from its preferences; Playwright's permissions list is Chromium's.
export const firefoxContextOptions = { ignoreHTTPSErrors: true };
