// scripts/setup.sh on a machine that lacks packages, with dpkg-query, apt-get and id stubbed on PATH:
// it must say what it installs and ask apt for exactly those, carry on to the end when apt succeeds,
// and name the packages and the log when apt fails. Never a silent exit (the fresh-machine defect:
// dpkg-query exits 1 when a listed package is absent, which under pipefail ended the script).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, copyFileSync, chmodSync, existsSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const listed = () => {
  const s = readFileSync(join(root, 'scripts/setup.sh'), 'utf8');
  const body = s.slice(s.indexOf('PACKAGES=('), s.indexOf('\n)\n'));
  return body.split('\n').slice(1).filter((l) => !l.trim().startsWith('#')).join(' ').split(/\s+/).filter(Boolean);
};

// A copy of the project's setup script in a folder of its own (it cds to its parent), with the npm
// step already satisfied, and stubs in bin/. absent: packages dpkg-query does not report installed
// (the first is "unknown ok not-installed", the rest "no packages found", as Debian's tool does).
function sandbox({ absent = [], aptInstallFails = false, aptUpdateFails = false }) {
  const dir = mkdtempSync(join(tmpdir(), 'tv-setup-'));
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'node_modules'));
  copyFileSync(join(root, 'scripts/setup.sh'), join(dir, 'scripts/setup.sh'));
  writeFileSync(join(dir, 'package.json'), '{}');
  writeFileSync(join(dir, 'package-lock.json'), '{}');
  writeFileSync(join(dir, 'node_modules/.package-lock.json'), '{}');
  const later = new Date(Date.now() + 60_000);
  utimesSync(join(dir, 'node_modules/.package-lock.json'), later, later);
  writeFileSync(join(dir, 'sources.list'), 'deb http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian bookworm main\n');
  const calls = join(dir, 'apt-calls');
  const stub = (name, text) => { writeFileSync(join(dir, 'bin', name), `#!/bin/sh\n${text}\n`); chmodSync(join(dir, 'bin', name), 0o755); };
  const [first, ...rest] = absent;
  stub('dpkg-query', `
status=0
for p in "$@"; do
  case "$p" in -*) continue ;; esac
  case " ${rest.join(' ')} " in *" $p "*) echo "dpkg-query: no packages found matching $p" >&2; status=1; continue ;; esac
  if [ "$p" = "${first ?? ''}" ]; then echo "$p:unknown ok not-installed"; status=1; else echo "$p:install ok installed"; fi
done
exit $status`);
  stub('apt-get', `
echo "$*" >> "${calls}"
case "$*" in
  *update*) ${aptUpdateFails ? 'echo "E: The repository is not signed."; exit 100' : 'exit 0'} ;;
  *install*) ${aptInstallFails ? `echo "E: Unable to locate package ${first}"; exit 100` : `echo "Setting up ${first} ..."; exit 0`} ;;
esac`);
  stub('id', 'echo 0');
  return { dir, calls };
}

function runSetup(box) {
  const r = spawnSync('bash', [join(box.dir, 'scripts/setup.sh')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(box.dir, 'bin')}:${process.env.PATH}`, TV_APT_SOURCES: join(box.dir, 'sources.list'),
      TV_SETUP_LOG: join(box.dir, 'apt.log') },
    timeout: 30_000,
  });
  const calls = existsSync(box.calls) ? readFileSync(box.calls, 'utf8').trim().split('\n') : [];
  rmSync(box.dir, { recursive: true, force: true });
  return { ...r, calls };
}

test('setup lists the packages it checks', () => {
  const p = listed();
  assert.ok(p.includes('coturn') && p.includes('zbar-tools') && p.includes('gcc'), p.join(' '));
});

test('missing packages: setup says which, installs exactly those, and goes on to the end', () => {
  const r = runSetup(sandbox({ absent: ['coturn', 'zbar-tools'] }));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /installing Debian packages: zbar-tools coturn/);
  assert.match(r.stderr, /installed: zbar-tools coturn/);
  assert.equal(r.calls.length, 2, r.calls.join('\n'));
  assert.match(r.calls[0], /update/);
  assert.match(r.calls[1], /install -y .*--no-install-recommends zbar-tools coturn$/);
});

test('apt-get cannot install: setup fails naming the packages and the log, with apt\'s words', () => {
  const box = sandbox({ absent: ['coturn'], aptInstallFails: true });
  const log = join(box.dir, 'apt.log');
  const r = runSetup(box);
  assert.notEqual(r.status, 0);
  assert.ok(r.stderr.includes(`apt-get could not install: coturn (log: ${log})`), r.stderr);
  assert.match(r.stderr, /Unable to locate package coturn/);
});

test('apt-get update fails: setup says so and names what it could not install', () => {
  const r = runSetup(sandbox({ absent: ['chromium'], aptUpdateFails: true }));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /apt-get update failed, so these packages could not be installed: chromium \(log: /);
  assert.match(r.stderr, /not signed/);
});

test('everything present: setup is quiet and never calls apt', () => {
  const r = runSetup(sandbox({ absent: [] }));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(r.calls, []);
});
