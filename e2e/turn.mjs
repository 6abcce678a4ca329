// Test helper (not shipped): coturn on loopback with time-limited credentials (use-auth-secret), as
// televisitd will hand them out: UDP and TCP on one port, TLS (turns:) on another with a certificate
// from the test CA the browsers trust (pki.mjs). Unlike production (deploy/coturn.conf), loopback
// peers are allowed: both browsers of a test are on this machine.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { untilListening } from '../tests/server/lib.mjs';
import { relayCert, testPki } from './pki.mjs';

export async function startTurn({ port = 34780, tlsPort = port + 1 } = {}) {
  testPki();
  const dir = mkdtempSync(join(tmpdir(), 'tv-turn-'));
  const secret = randomBytes(24).toString('hex');
  const proc = spawn('turnserver', ['-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1',
    `--listening-port=${port}`, '--min-port=49160', '--max-port=49260', '--realm=televisit.test',
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--fingerprint', '--no-cli',
    `--tls-listening-port=${tlsPort}`, `--cert=${relayCert.cert}`, `--pkey=${relayCert.key}`, '--no-tlsv1', '--no-tlsv1_1',
    '--no-dtls', '--allow-loopback-peers', `--userdb=${join(dir, 'turndb')}`,
    `--log-file=${join(dir, 'turn.log')}`, `--pidfile=${join(dir, 'turn.pid')}`],
  { stdio: 'ignore' });
  const stop = () => { proc.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); };
  if (!(await untilListening(port)) || !(await untilListening(tlsPort))) { stop(); throw new Error('turnserver did not start'); }
  const urls = [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`, `turns:127.0.0.1:${tlsPort}?transport=tcp`];
  const credentials = (user, ttl = 3600, only = urls) => {
    const username = `${Math.floor(Date.now() / 1000) + ttl}:${user}`;
    const credential = createHmac('sha1', secret).update(username).digest('base64');
    return { urls: only, username, credential };
  };
  return { credentials, stop, secret, urls, tlsUrl: urls[2] };
}
