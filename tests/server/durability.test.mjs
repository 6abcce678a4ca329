// kill -9 while clinicians register and a patient chats: after a restart every acknowledged
// registration and chat message is there, and the audit chain verifies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, admittedPair, api, auditVerify, clinician, sqlite, startServer, waitFor } from './lib.mjs';

test('nothing acknowledged is lost on kill -9', async () => {
  let server = await startServer();
  const dr = await clinician(server, 'dr@example.org');
  const { p } = await admittedPair(server, dr);

  const registered = [];
  const acked = [];
  let stop = false;
  const registering = (async () => {
    for (let i = 0; !stop; i++) {
      const email = `r${i}@example.org`;
      try {
        const r = await api(server, 'POST', '/api/register', { email, password: PASSWORD });
        if (r.status === 202) registered.push(email);
      } catch { break; }   // the server is gone
    }
  })();
  p.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'chat_ack') acked.push(m.cid);
  });
  const chatting = (async () => {
    for (let i = 0; !stop && p.ws.readyState === 1; i++) {
      p.send({ type: 'chat', cid: `c${i}`, text: `message ${i}` });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  // kill in the middle of the traffic, once some of each is acknowledged (however loaded the machine)
  await waitFor(() => registered.length >= 3 && acked.length >= 20, 20000);
  await new Promise((r) => setTimeout(r, 200));
  await server.kill();
  stop = true;
  await Promise.all([registering, chatting]);
  assert.ok(registered.length >= 3 && acked.length >= 20, `${registered.length} registrations, ${acked.length} chat acks`);

  server = await startServer({ dataDir: server.dataDir, port: server.port });
  try {
    const emails = new Set(sqlite(server, 'SELECT email FROM users').split('\n'));
    for (const e of registered) assert.ok(emails.has(e), `${e} was acknowledged but is missing`);
    const login = await api(server, 'POST', '/api/login', { email: 'dr@example.org', password: PASSWORD });
    const exp = await api(server, 'GET', '/api/export', undefined, { cookie: login.cookie });
    const texts = new Set(exp.json.chat.map((m) => m.text));
    for (const cid of acked) assert.ok(texts.has(`message ${cid.slice(1)}`), `chat ${cid} was acknowledged but is missing`);
    const r = auditVerify(server);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    await server.stop();
    server.remove();
  }
});
