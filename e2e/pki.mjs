// Test helper (not shipped): a test CA, a certificate it signs for the relay on 127.0.0.1 (coturn's
// turns: port), and a home folder whose NSS database trusts that CA, for the browsers Playwright
// starts. TURN over TLS is then verified as in production, against a CA the browser trusts; no
// certificate check is turned off anywhere. Made once per build folder.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const PKI_DIR = fileURLToPath(new URL('../build/e2e-pki/', import.meta.url));
export const BROWSER_HOME = join(PKI_DIR, 'home');
export const relayCert = { cert: join(PKI_DIR, 'relay.pem'), key: join(PKI_DIR, 'relay-key.pem'), ca: join(PKI_DIR, 'ca.pem') };

export function testPki() {
  const done = join(PKI_DIR, 'ready');
  if (existsSync(done)) return;
  mkdirSync(join(BROWSER_HOME, '.pki', 'nssdb'), { recursive: true });
  const run = (cmd, args) => execFileSync(cmd, args, { cwd: PKI_DIR, stdio: 'pipe' });
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem',
    '-out', 'ca.pem', '-days', '3650', '-subj', '/CN=televisit e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'relay-key.pem',
    '-out', 'relay.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(PKI_DIR, 'relay.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  run('openssl', ['x509', '-req', '-in', 'relay.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial',
    '-out', 'relay.pem', '-days', '3650', '-extfile', 'relay.ext']);
  const db = `sql:${join(BROWSER_HOME, '.pki', 'nssdb')}`;
  run('certutil', ['-N', '-d', db, '--empty-password']);
  run('certutil', ['-A', '-d', db, '-n', 'televisit e2e test CA', '-t', 'C,,', '-i', join(PKI_DIR, 'ca.pem')]);
  writeFileSync(done, '');
}
