// Signaling over real WSS against the real televisitd: the waiting room, admission and denial, the
// relay between admitted members of one visit only, roles, chat stored encrypted and acknowledged,
// resume after a dropped connection, bad frames, cross-site upgrades, TURN credentials, the audit log.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import * as lib from './lib.mjs';
import { admittedPair, api, auditVerify, clinician, connect, sqlite, startServer } from './lib.mjs';

let server;
let drA; // session of clinician A
let drB;
const TURN_SECRET = 'test-turn-secret';

before(async () => {
  server = await startServer({ args: ['--turn-urls', 'stun:127.0.0.1:3478 turn:127.0.0.1:3478?transport=udp turn:127.0.0.1:3478?transport=tcp',
    '--turn-secret', TURN_SECRET, '--turn-ttl-s', '600'] });
  drA = await clinician(server, 'a@example.org');
  drB = await clinician(server, 'b@example.org');
});

after(async () => {
  if (server) await server.stop();
  server?.remove();
});

const visit = (cookie, label) => lib.visit(server, cookie, label);
const patient = (token, name) => lib.patient(server, token, name);
const doctor = (cookie, id) => lib.doctor(server, cookie, id);

test('waiting room, admission, relay, chat acknowledged after it is stored encrypted', async () => {
  const v = await visit(drA, 'Mme Dupont');
  const { p, joined } = await patient(v.token, 'Alice Martin');
  assert.equal(joined.state, 'waiting');
  assert.equal(joined.visit, v.id);
  assert.equal(joined.resume.length, 43);

  const { c, joined: cj } = await doctor(drA, v.id);
  assert.equal(cj.state, 'admitted');
  const wr = await c.next((m) => m.type === 'waiting_room' && m.patients.length === 1);
  assert.equal(wr.patients[0].name, 'Alice Martin');
  assert.equal(wr.patients[0].id, joined.you);

  // a waiting patient cannot reach the clinician yet
  p.send({ type: 'offer', sdp: 'v=0\r\n', id: 'o1' });
  assert.equal((await p.next('error')).code, 'not_admitted');
  assert.ok(await c.none('offer'));

  c.send({ type: 'admit', participant: joined.you });
  await p.next('admitted');
  assert.equal((await p.next('peer_joined')).id, cj.you);
  assert.equal((await c.next('peer_joined')).id, joined.you);
  await c.next((m) => m.type === 'waiting_room' && m.patients.length === 0);

  p.send({ type: 'offer', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n' });
  const offer = await c.next('offer');
  assert.equal(offer.from, joined.you);
  assert.equal(offer.to, undefined);
  c.send({ type: 'answer', to: joined.you, sdp: 'v=0\r\n' });
  assert.equal((await p.next('answer')).from, cj.you);

  c.send({ type: 'chat', cid: 'm1', text: 'Bonjour, pouvez-vous me voir ?' });
  const ack = await c.next('chat_ack');
  assert.equal(ack.cid, 'm1');
  const got = await p.next('chat');
  assert.equal(got.text, 'Bonjour, pouvez-vous me voir ?');
  assert.equal(got.ts, ack.ts);
  // stored, as ciphertext only
  assert.equal(sqlite(server, `SELECT count(*) FROM chat WHERE visit_id = '${v.id}'`), '1');
  assert.equal(sqlite(server, `SELECT count(*) FROM chat WHERE instr(body, 'Bonjour') > 0`), '0');
  // ...and readable by the owner through the export
  const exp = await api(server, 'GET', '/api/export', undefined, { cookie: drA });
  assert.ok(exp.json.chat.some((m) => m.text === 'Bonjour, pouvez-vous me voir ?'));

  // the patient cannot admit or end
  p.send({ type: 'admit', participant: cj.you, id: 'x1' });
  const e = await p.next('error');
  assert.equal(e.code, 'forbidden');
  assert.equal(e.ref, 'x1');
  p.send({ type: 'end' });
  assert.equal((await p.next('error')).code, 'forbidden');

  c.send({ type: 'end' });
  assert.equal((await p.next('ended')).reason, 'clinician_ended');
  assert.equal((await c.next('ended')).reason, 'clinician_ended');
  await p.closed;
  const list = await api(server, 'GET', '/api/visits', undefined, { cookie: drA });
  assert.equal(list.json.visits.find((x) => x.id === v.id).state, 'ended');
  // an ended visit cannot be joined again
  const again = connect(server);
  await again.opened;
  again.send({ type: 'join', role: 'patient', invite: v.token, name: 'Alice' });
  assert.equal((await again.next('error')).code, 'visit_closed');
  await again.closed;
});

test('nobody reaches another visit', async () => {
  const va = await visit(drA);
  const vb = await visit(drB);
  const { c: ca } = await doctor(drA, va.id);
  const { c: cb, joined: b } = await doctor(drB, vb.id);
  // B cannot join A's visit: it looks like no visit at all
  const intruder = connect(server, { cookie: drB });
  await intruder.opened;
  intruder.send({ type: 'join', role: 'clinician', visit: va.id });
  assert.equal((await intruder.next('error')).code, 'not_found');
  await intruder.closed;
  // messages addressed across visits go nowhere
  ca.send({ type: 'offer', to: b.you, sdp: 'v=0\r\n' });
  assert.equal((await ca.next('error')).code, 'not_found');
  assert.ok(await cb.none('offer'));
  // a clinician needs a session, and not a forged one
  for (const cookie of [undefined, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
    const anon = connect(server, { cookie });
    await anon.opened;
    anon.send({ type: 'join', role: 'clinician', visit: va.id });
    assert.equal((await anon.next('error')).code, 'unauthorized');
    await anon.closed;
  }
  // a patient with a made-up invite
  const fake = connect(server);
  await fake.opened;
  fake.send({ type: 'join', role: 'patient', invite: 'A'.repeat(43), name: 'Eve' });
  assert.equal((await fake.next('error')).code, 'not_found');
  ca.close();
  cb.close();
});

test('bad frames get an error and the connection goes on', async () => {
  const c = connect(server);
  await c.opened;
  const cases = [['{"type":', 'msg_malformed_json'], ['[]', 'msg_not_object'], ['{"type":"nope"}', 'msg_unknown_type'],
    ['{"type":"joined"}', 'msg_wrong_direction'], ['{"type":"ping","ts":1,"ts":2}', 'msg_duplicate_field'],
    ['{"type":"join","role":"patient","invite":"x","name":"a"}', 'msg_field_value'],
    [`{"type":"chat","cid":"a","text":"${'x'.repeat(70000)}"}`, 'msg_too_large']];
  for (const [frame, code] of cases) {
    c.send(frame);
    assert.equal((await c.next('error')).code, code, frame.slice(0, 40));
  }
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await c.next('error')).code, 'bad_utf8');   // frames are JSON text, never binary
  c.send({ type: 'ping', ts: 42 });
  assert.equal((await c.next('pong')).ts, 42);
  c.close();
});

test('a cross-site page cannot open the signaling socket with the clinician\'s cookie', async () => {
  const evil = connect(server, { cookie: drA, origin: 'https://evil.example' });
  await assert.rejects(evil.opened);
  const own = connect(server, { cookie: drA, origin: `https://127.0.0.1:${server.port}` });
  await own.opened;
  own.close();
  const wrongProtocol = connect(server, { protocol: 'chat' });
  await assert.rejects(wrongProtocol.opened);
});

test('a dropped patient resumes its place; a denied one is sent away', async () => {
  const v = await visit(drA);
  const { c } = await doctor(drA, v.id);
  const { p, joined } = await patient(v.token, 'Bob');
  await c.next((m) => m.type === 'waiting_room' && m.patients.length === 1);
  c.send({ type: 'admit', participant: joined.you });
  await p.next('admitted');
  await c.next('peer_joined');
  p.ws.terminate();   // no close frame: a lost network
  const left = await c.next('peer_left');
  assert.deepEqual([left.id, left.reason], [joined.you, 'disconnected']);
  const back = connect(server);
  await back.opened;
  back.send({ type: 'join', role: 'patient', invite: v.token, name: 'Bob', resume: joined.resume });
  const rj = await back.next('joined');
  assert.equal(rj.you, joined.you);
  assert.equal(rj.state, 'admitted');   // no second admission
  assert.notEqual(rj.resume, joined.resume);
  assert.equal((await c.next('peer_joined')).id, joined.you);
  // the old resume token is spent
  const replay = connect(server);
  await replay.opened;
  replay.send({ type: 'join', role: 'patient', invite: v.token, name: 'Mallory', resume: joined.resume });
  const nj = await replay.next('joined');
  assert.notEqual(nj.you, joined.you);
  assert.equal(nj.state, 'waiting');
  c.send({ type: 'deny', participant: nj.you, reason: 'Not expected' });
  assert.equal((await replay.next('denied')).reason, 'Not expected');
  await replay.closed;
  back.close();
  c.close();
});

test('a security code mismatch ends the visit for both and is audited', async () => {
  const { v, c, p } = await admittedPair(server, drA);
  p.send({ type: 'ice_path', local: 'host', remote: 'host', protocol: 'udp' });
  p.send({ type: 'sas_result', match: false });
  assert.equal((await c.next('ended')).reason, 'sas_mismatch');
  assert.equal((await p.next('ended')).reason, 'sas_mismatch');
  const log = await api(server, 'GET', '/api/audit', undefined, { cookie: drA });
  const types = log.json.records.filter((r) => r.room === v.id).map((r) => r.type);
  for (const t of ['visit_created', 'session_requested', 'session_accepted', 'ice_path_selected', 'sas_mismatch'])
    assert.ok(types.includes(t), `${t} in ${types}`);
  // B sees none of it
  const other = await api(server, 'GET', '/api/audit', undefined, { cookie: drB });
  assert.ok(!other.json.records.some((r) => r.room === v.id));
});

test('repeating ice_path or a matching sas_result writes one audit record, not one per message', async () => {
  const { v, c, p, cj } = await admittedPair(server, drA);
  const path = { type: 'ice_path', local: 'host', remote: 'host', protocol: 'udp' };
  for (let i = 0; i < 20; i++) {
    p.send(path);
    p.send({ type: 'sas_result', match: true });
  }
  p.send({ ...path, local: 'relay', relay_protocol: 'udp' });   // the path changed: that is news
  assert.ok(await p.none('error'));
  const count = async (type) => (await api(server, 'GET', '/api/audit', undefined, { cookie: drA }))
    .json.records.filter((r) => r.room === v.id && r.type === type).length;
  assert.equal(await count('ice_path_selected'), 2);
  assert.equal(await count('sas_verified'), 1);
  // the clinician comes back: a new call, new keys, a code to compare again, audited again
  const { c: c2 } = await doctorResumed(v.id, cj.resume, c);
  await p.next('peer_joined');
  p.send({ type: 'sas_result', match: true });
  assert.ok(await p.none('error'));
  assert.equal(await count('sas_verified'), 2);
  c2.close();
  p.close();
});

async function doctorResumed(visitId, resume, old) {
  old.close();
  await old.closed;
  const c = connect(server, { cookie: drA });
  await c.opened;
  c.send({ type: 'join', role: 'clinician', visit: visitId, resume });
  await c.next('joined');
  return { c };
}

test('TURN credentials are coturn REST credentials for this secret, and are audited', async () => {
  const v = await visit(drA);
  const { joined } = await patient(v.token);
  const turn = joined.ice_servers.find((s) => s.credential);
  const stun = joined.ice_servers.find((s) => !s.credential);
  assert.deepEqual(stun.urls, ['stun:127.0.0.1:3478']);
  assert.deepEqual(turn.urls, ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp']);
  const [expiry] = turn.username.split(':');
  const left = Number(expiry) - Date.now() / 1000;
  assert.ok(left > 590 && left <= 601, `expires in ${left} s`);
  assert.equal(turn.credential, createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
  assert.ok(Number(sqlite(server, `SELECT count(*) FROM audit WHERE type = 'turn_credential_issued' AND room = '${v.id}'`)) >= 1);
});

test('a client that stops reading is disconnected, not buffered without end', async () => {
  const { c, p, joined } = await admittedPair(server, drA);
  p.ws._socket.pause();   // the patient's side stops reading
  const sdp = `v=0\r\n${'a=x\r\n'.repeat(6000)}`;   // 30 KB
  for (let i = 0; i < 190; i++) c.send({ type: 'offer', sdp });
  const left = await c.next('peer_left', 15000);
  assert.deepEqual([left.id, left.reason], [joined.you, 'disconnected']);
  c.close();
});

test('frames written together arrive whole and in order: small, large, behind a client that reads late', async () => {
  // televisitd frames what it queued for a connection itself and writes it in one piece of up to
  // 16 KiB; a larger frame goes through libwebsockets, which writes it in pieces from its own buffer
  // and must finish it before anything else goes out. The paused reader backs the writes up.
  const { c, p } = await admittedPair(server, drA);
  await p.next('peer_joined');
  p.ws._socket.pause();
  const sent = [];
  for (let i = 0; i < 160; i++) {
    if (i % 10 === 3) sent.push({ type: 'offer', sdp: `v=0\r\n${`a=${i}\r\n`.repeat(2000 + 300 * i).slice(0, 32000 - 40 * i)}` });
    else sent.push({ type: 'ice', candidate: { candidate: `${'c'.repeat((i * 37) % 300)}:${i}`, sdpMid: '0', sdpMLineIndex: 0 } });
  }
  for (const m of sent) c.send(m);
  await new Promise((r) => setTimeout(r, 300));
  p.ws._socket.resume();
  for (const m of sent) {
    const got = await p.next(() => true);
    assert.equal(got.type, m.type);
    if (m.type === 'offer') assert.equal(got.sdp, m.sdp);
    else assert.deepEqual(got.candidate, m.candidate);
  }
  assert.ok(await p.none(() => true));
  c.close();
  p.close();
});

test('a password change closes the calls of the other devices, not the one that changed it', async () => {
  const cookie1 = await lib.clinician(server, 'pw@example.org');
  const cookie2 = (await api(server, 'POST', '/api/login', { email: 'pw@example.org', password: lib.PASSWORD })).cookie;
  const v = await visit(cookie1, 'pw');
  const { c: here } = await doctor(cookie1, v.id);
  const { c: other } = await doctor(cookie2, v.id);
  const r = await api(server, 'POST', '/api/password/change', { current: lib.PASSWORD, password: 'Another-Horse-Battery-7' }, { cookie: cookie1 });
  assert.equal(r.status, 200, r.text);
  assert.equal((await other.next('error')).code, 'unauthorized');
  await other.closed;
  assert.ok(await here.none('error'), 'the device that changed the password keeps its connection');
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: cookie2 })).status, 401);
  assert.equal((await api(server, 'GET', '/api/me', undefined, { cookie: cookie1 })).status, 200);
  here.close();
});

test('deleting an account ends its visits (a waiting patient is told), and no later account gets its id', async () => {
  const cookie = await lib.clinician(server, 'leaving@example.org');
  const v = await visit(cookie, 'last visit');
  const { p, joined } = await patient(v.token, 'Bob');
  assert.equal(joined.state, 'waiting');
  const id = Number(sqlite(server, "SELECT id FROM users WHERE email = 'leaving@example.org'"));
  assert.equal(id, Number(sqlite(server, 'SELECT max(id) FROM users')), 'the newest account: the id SQLite reused');
  const r = await api(server, 'POST', '/api/account/delete', { password: lib.PASSWORD }, { cookie });
  assert.equal(r.status, 200, r.text);
  assert.equal((await p.next('ended')).reason, 'clinician_ended');
  await p.closed;
  const next = await lib.clinician(server, 'arriving@example.org');
  assert.ok(Number(sqlite(server, "SELECT id FROM users WHERE email = 'arriving@example.org'")) > id);
  const audit = await api(server, 'GET', '/api/audit', undefined, { cookie: next });
  assert.equal(audit.status, 200);
  assert.ok(!audit.text.includes(v.id), 'nothing of the deleted account\'s visit');
});

test('the audit chain verifies after all of this', () => {
  const r = auditVerify(server);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /chain intact, its end matches the anchor/);
  // records cut from the end keep the chain intact; the anchor beside the master key shows the cut
  const last = Number(sqlite(server, 'SELECT max(seq) FROM audit'));
  sqlite(server, `DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= ${last - 1};`);
  const cut = auditVerify(server);
  assert.equal(cut.status, 3, cut.stdout);
  assert.match(cut.stdout, new RegExp(`BROKEN at record ${last}: the anchor`));
});

test('a dashboard watches its own waiting rooms live, denies from there, sees no other clinician\'s patients, and closes at sign-out', async () => {
  const drC = await clinician(server, 'c-lobby@example.org');
  const v1 = await visit(drC, 'first');
  const v2 = await visit(drC, 'second');
  const wa = connect(server, { cookie: drC });
  await wa.opened;
  wa.send({ type: 'watch', id: 'w1' });
  assert.deepEqual(await wa.next('lobby'), { type: 'lobby', patients: [], total: 0 });

  const { p: p1, joined: j1 } = await patient(v1.token, 'Ana');
  let l = await wa.next((m) => m.type === 'lobby' && m.total === 1);
  assert.deepEqual(l.patients.map((x) => [x.visit, x.id, x.name]), [[v1.id, j1.you, 'Ana']]);
  const { p: p2, joined: j2 } = await patient(v2.token, 'Bruno');
  l = await wa.next((m) => m.type === 'lobby' && m.total === 2);
  assert.deepEqual(l.patients.map((x) => x.id), [j1.you, j2.you]);   // oldest first
  assert.ok(l.patients[0].since <= l.patients[1].since);

  // another clinician's dashboard neither lists nor reaches them
  const wb = connect(server, { cookie: drB });
  await wb.opened;
  wb.send({ type: 'watch' });
  const lb = await wb.next('lobby');
  assert.ok(!lb.patients.some((x) => x.id === j1.you || x.id === j2.you));
  wb.send({ type: 'deny', participant: j1.you, id: 'x' });
  const e = await wb.next('error');
  assert.deepEqual([e.code, e.ref], ['not_found', 'x']);
  assert.ok(await p1.none('denied'));

  // admitting is the visit's business; denying can be done from here
  wa.send({ type: 'admit', participant: j1.you, id: 'a1' });
  const fe = await wa.next('error');
  assert.deepEqual([fe.code, fe.ref], ['forbidden', 'a1']);
  assert.ok(await p1.none('admitted'));
  wa.send({ type: 'deny', participant: j2.you, reason: 'Wrong day' });
  assert.equal((await p2.next('denied')).reason, 'Wrong day');
  await p2.closed;
  l = await wa.next((m) => m.type === 'lobby' && m.total === 1);
  assert.equal(l.patients[0].id, j1.you);
  assert.equal(sqlite(server, `SELECT count(*) FROM audit WHERE type = 'session_denied' AND room = '${v2.id}' AND extra LIKE '%dashboard%'`), '1');

  // a patient who leaves goes off the list; signing out closes the dashboard at once
  p1.send({ type: 'leave' });
  await wa.next((m) => m.type === 'lobby' && m.total === 0);
  assert.equal((await api(server, 'POST', '/api/logout', {}, { cookie: drC })).status, 200);
  const se = await wa.next('error');
  assert.equal(se.code, 'unauthorized');
  await wa.closed;
  wb.ws.close();
});
