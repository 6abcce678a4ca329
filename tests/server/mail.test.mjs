// Activation mail through a real SMTP server (Debian's aiosmtpd) via libcurl, and what happens when the
// relay is down: the account waits, and registering again sends a fresh key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PASSWORD, api, randomPort, smtpServer, startServer, userAdd, waitFor } from './lib.mjs';

test('activation mail goes through the SMTP relay, and the key in it activates the account', async () => {
  const smtpPort = randomPort();
  const smtp = await smtpServer(smtpPort);
  const server = await startServer({ args: ['--smtp-url', `smtp://127.0.0.1:${smtpPort}`, '--smtp-from', 'noreply@televisit.test',
    '--public-url', 'https://visits.example.org'] });
  try {
    const r = await api(server, 'POST', '/api/register', { email: 'new@example.org', password: PASSWORD });
    assert.equal(r.status, 202);
    const key = await waitFor(() => /https:\/\/visits\.example\.org\/activate\.html#key=([A-Za-z0-9_-]{43})/.exec(smtp.output())?.[1]);
    assert.ok(key, `no activation link in: ${smtp.output().slice(-2000)}`);
    assert.match(smtp.output(), /To: <new@example\.org>/);
    assert.match(smtp.output(), /From: televisit <noreply@televisit\.test>/);
    // through a relay, nothing is left on disk and the key is not on the console
    assert.ok(!existsSync(join(server.dataDir, 'mail')) || readdirSync(join(server.dataDir, 'mail')).length === 0);
    assert.ok(!server.log().includes(key));
    assert.equal((await api(server, 'POST', '/api/activate', { key, password: PASSWORD })).status, 200);
    assert.equal((await api(server, 'POST', '/api/login', { email: 'new@example.org', password: PASSWORD })).status, 200);
  } finally {
    await server.stop();
    server.remove();
    smtp.proc.kill();
  }
});

test('with the relay down the account waits; registering again sends a fresh key', async () => {
  const smtpPort = randomPort();
  const server = await startServer({ args: ['--smtp-url', `smtp://127.0.0.1:${smtpPort}`] });
  let smtp;
  try {
    assert.equal((await api(server, 'POST', '/api/register', { email: 'late@example.org', password: PASSWORD })).status, 202);
    assert.ok(await waitFor(() => server.log().includes('activation mail not sent')), server.log());
    smtp = await smtpServer(smtpPort);
    assert.equal((await api(server, 'POST', '/api/register', { email: 'late@example.org', password: PASSWORD })).status, 202);
    const key = await waitFor(() => /#key=([A-Za-z0-9_-]{43})/.exec(smtp.output())?.[1]);
    assert.ok(key);
    assert.equal((await api(server, 'POST', '/api/activate', { key, password: PASSWORD })).status, 200);
  } finally {
    await server.stop();
    server.remove();
    smtp?.proc.kill();
  }
});

test('a reset asked for a known address answers as fast as for an unknown one: the mail goes after the answer', async () => {
  // A relay that accepts the connection and then never says a word: sending through it takes until
  // libcurl's timeout (20 s). An answer that waited for the mail would show the address exists.
  const sockets = [];
  const silent = createServer((s) => sockets.push(s));
  const smtpPort = randomPort();
  await new Promise((resolve) => silent.listen(smtpPort, '127.0.0.1', resolve));
  const server = await startServer({ args: ['--smtp-url', `smtp://127.0.0.1:${smtpPort}`] });
  try {
    userAdd(server, 'known@example.org');
    const ask = async (email) => {
      const t0 = performance.now();
      const r = await api(server, 'POST', '/api/password/forgot', { email });
      return { status: r.status, text: r.text, ms: performance.now() - t0 };
    };
    const unknown = await ask('nobody@example.org');
    const known = await ask('known@example.org');
    assert.equal(known.status, 202);
    assert.deepEqual([known.status, known.text], [unknown.status, unknown.text]);
    assert.ok(known.ms < 10_000, `the known address took ${Math.round(known.ms)} ms: it waited for the relay`);
    // and the mail really is on its way: the relay was reached after the answer
    assert.ok(await waitFor(() => sockets.length === 1), 'the relay was never contacted');
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
    await server.stop();
    server.remove();
  }
});
