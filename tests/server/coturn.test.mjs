// The production coturn configuration (deploy/coturn.conf) run as it ships, on loopback ports: the
// relay refuses to reach loopback, private and link-local peers (a relay that can be asked to reach
// inside its own network is an open door), and its TLS port (turns:) presents the configured
// certificate, which verifies against the CA that issued it. (Its no-tlsv1 lines are not tested here:
// Debian's OpenSSL already refuses TLS 1.0 and 1.1 whatever coturn says.) The same
// configuration without its denied-peer-ip lines relays to loopback, so the refusals are theirs.
// Nothing is sent anywhere but loopback: a refused peer gets no packet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomPort, untilListening } from './lib.mjs';

const SECRET = 'test-secret-not-for-production';
let dir;

// A test CA and a relay certificate it signs, for 127.0.0.1.
function pki() {
  const o = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem',
    '-days', '1', '-subj', '/CN=televisit test CA');
  o('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'relay-key.pem', '-out', 'relay.csr',
    '-subj', '/CN=127.0.0.1');
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other-key.pem', '-out', 'other-ca.pem',
    '-days', '1', '-subj', '/CN=another CA');
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  o('x509', '-req', '-in', 'relay.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'relay.pem',
    '-days', '1', '-extfile', 'ext');
}

// deploy/coturn.conf with only what a host sets changed: ports, certificate, log, database.
async function coturn(name, { keepDenied = true, extra = [] } = {}) {
  const port = randomPort(), tls = randomPort();
  let conf = readFileSync(new URL('../../deploy/coturn.conf', import.meta.url), 'utf8')
    .replace(/^listening-port=.*$/m, `listening-port=${port}`)
    .replace(/^tls-listening-port=.*$/m, `tls-listening-port=${tls}`)
    .replace(/^alt-tls-listening-port=.*$/m, '')
    .replace(/^cert=.*$/m, `cert=${join(dir, 'relay.pem')}`)
    .replace(/^pkey=.*$/m, `pkey=${join(dir, 'relay-key.pem')}`)
    .replace(/^log-file=.*$/m, `log-file=${join(dir, `${name}.log`)}`);
  assert.match(conf, /^denied-peer-ip=127\.0\.0\.0-127\.255\.255\.255$/m);
  if (!keepDenied) conf = conf.replace(/^denied-peer-ip=.*$/gm, '');
  conf += [...extra, ''].join('\n');
  writeFileSync(join(dir, `${name}.conf`), conf);
  const proc = spawn('turnserver', ['-c', join(dir, `${name}.conf`), '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1',
    `--static-auth-secret=${SECRET}`, `--userdb=${join(dir, `${name}.db`)}`, `--pidfile=${join(dir, `${name}.pid`)}`],
  { stdio: 'ignore' });
  assert.ok(await untilListening(port), 'coturn did not start');
  assert.ok(await untilListening(tls), 'coturn did not open its TLS port');
  return { port, tls, stop: () => proc.kill('SIGTERM') };
}

// One TURN client (coturn's own) asking the relay for a channel to peer; its output.
function relayTo(port, peer) {
  const user = `${Math.floor(Date.now() / 1000) + 600}:test`;
  const pass = createHmac('sha1', SECRET).update(user).digest('base64');
  const r = spawnSync('turnutils_uclient', ['-u', user, '-w', pass, '-e', peer, '-r', '3480', '-n', '1', '-p', String(port), '127.0.0.1'],
    { encoding: 'utf8', timeout: 8000 });
  return `${r.stdout}${r.stderr}`;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tv-coturn-'));
  pki();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the production relay refuses loopback, private and link-local peers', async () => {
  const relay = await coturn('prod');
  try {
    for (const peer of ['127.0.0.1', '10.1.2.3', '172.16.5.5', '192.168.1.10', '169.254.1.1', '100.64.0.1', '198.18.0.7']) {
      assert.match(relayTo(relay.port, peer), /403 \(Forbidden IP\)/, peer);
    }
  } finally {
    relay.stop();
  }
});

test('without its denied-peer-ip lines the same configuration relays to loopback: the refusals are theirs', async () => {
  const relay = await coturn('open', { keepDenied: false, extra: ['allow-loopback-peers'] });
  try {
    const out = relayTo(relay.port, '127.0.0.1');
    assert.doesNotMatch(out, /403/);
    assert.match(out, /tot_send_msgs=[1-9]/);
  } finally {
    relay.stop();
  }
});

test('turns: the TLS port presents the configured certificate, which verifies against its CA and not another', async () => {
  const relay = await coturn('tls');
  try {
    const s = (...args) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${relay.tls}`, '-verify_return_error',
      '-verify_ip', '127.0.0.1', ...args], { input: '', encoding: 'utf8', timeout: 8000 });
    const ok = s('-tls1_2', '-CAfile', join(dir, 'ca.pem'));
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /Verify return code: 0 \(ok\)/);
    // against another CA the same certificate does not verify: the check above is real
    assert.notEqual(s('-CAfile', join(dir, 'other-ca.pem')).status, 0);
  } finally {
    relay.stop();
  }
});
