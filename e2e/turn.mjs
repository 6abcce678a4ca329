// Test helper (not shipped): coturn on loopback with time-limited credentials (use-auth-secret), as
// televisitd will hand them out.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { untilListening } from '../tests/server/lib.mjs';

export async function startTurn({ port = 34780 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tv-turn-'));
  const secret = randomBytes(24).toString('hex');
  const proc = spawn('turnserver', ['-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1',
    `--listening-port=${port}`, '--min-port=49160', '--max-port=49260', '--realm=televisit.test',
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--fingerprint', '--no-cli', '--no-tls',
    '--no-dtls', '--allow-loopback-peers', `--userdb=${join(dir, 'turndb')}`,
    `--log-file=${join(dir, 'turn.log')}`, `--pidfile=${join(dir, 'turn.pid')}`],
  { stdio: 'ignore' });
  const stop = () => { proc.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); };
  if (!(await untilListening(port))) { stop(); throw new Error('turnserver did not start'); }
  const urls = [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`];
  const credentials = (user, ttl = 3600) => {
    const username = `${Math.floor(Date.now() / 1000) + ttl}:${user}`;
    const credential = createHmac('sha1', secret).update(username).digest('base64');
    return { urls, username, credential };
  };
  return { credentials, stop, secret, urls };
}
