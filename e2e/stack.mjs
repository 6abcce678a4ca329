// Test helper (not shipped): the real stack for the QA suite on loopback. televisitd on a fresh data
// directory, a real SMTP server (Debian's aiosmtpd) that receives its mail, and coturn with
// time-limited credentials. Each spec file starts its own and stops it after.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTurn } from './turn.mjs';

export const PASSWORD = 'Correct-Horse-Battery-9';
// The sanitizer build by default (tests); benchmarks pass the release build.
const BIN = process.env.TV_BIN || 'build/native/televisitd';

const freePort = () => 20000 + Math.floor(Math.random() * 40000);

async function listening(port) {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

async function smtpServer() {
  const port = freePort();
  const proc = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  for (let i = 0; i < 50 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await listening(port))) { proc.kill(); throw new Error('aiosmtpd did not start'); }
  return { port, proc, output: () => out };
}

export async function startStack({ turn = true, args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tv-e2e-'));
  const port = freePort();
  const origin = `https://127.0.0.1:${port}`;
  const smtp = await smtpServer();
  const relay = turn ? await startTurn({ port: 30000 + Math.floor(Math.random() * 10000) }) : null;
  const env = { ...process.env };
  const turnArgs = [];
  if (relay) {
    turnArgs.push('--turn-urls', relay.urls.join(' '));
    env.TELEVISIT_TURN_SECRET = relay.secret;
  }
  const proc = spawn(BIN, ['--port', String(port), '--data-dir', dataDir, '--pwhash-mem-mib', '19',
    '--public-url', origin, '--smtp-url', `smtp://127.0.0.1:${smtp.port}`, '--smtp-from', 'noreply@televisit.test',
    ...turnArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`televisitd did not start: ${log}`)), 15000);
    const check = () => { if (log.includes('listening on')) { clearTimeout(timer); resolve(); } };
    proc.stdout.on('data', check);
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`televisitd exited ${code}: ${log}`)); });
  });
  proc.removeAllListeners('exit');

  // The newest mail to `to` that matches `re` (waits for it): the captured group or the whole match.
  const mail = async (to, re, ms = 10000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const messages = smtp.output().split(/^---------- MESSAGE FOLLOWS ----------$/m);
      for (const m of messages.reverse()) {
        if (!m.includes(`To: <${to}>`)) continue;
        const x = re.exec(m);
        if (x) return x[1] ?? x[0];
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no mail to ${to} matching ${re}: ${smtp.output().slice(-1500)}`);
  };

  // An active clinician made with `televisitd user add`, for scenarios that do not test sign-up.
  const addUser = (email, password = PASSWORD) => {
    const r = spawnSync(BIN, ['user', 'add', email, '--data-dir', dataDir, '--pwhash-mem-mib', '19'],
      { input: `${password}\n`, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`user add: ${r.stderr}`);
  };

  const sqlite = (sql) => {
    const r = spawnSync('sqlite3', [join(dataDir, 'televisit.db'), sql], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };

  const auditVerify = () => spawnSync(BIN, ['audit', 'verify', '--data-dir', dataDir], { encoding: 'utf8' });

  const stop = async () => {
    await new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); });
    smtp.proc.kill();
    relay?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { origin, port, dataDir, mail, addUser, sqlite, auditVerify, stop, log: () => log };
}

// Browser context options for the stack: its self-signed certificate, a fake camera and microphone.
export const contextOptions = { ignoreHTTPSErrors: true, permissions: ['camera', 'microphone'] };
