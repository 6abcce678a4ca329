// The reference for npm run bench:signaling: the same relay job written the usual way, with Node's
// `ws` over TLS. It pairs the two members of a room, parses every message and forwards it with a
// `from` member, as televisitd does (without televisitd's schema checks, audit log or database).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';

const [certFile, keyFile, port] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 65536 });
const rooms = new Map();
let next = 1;

wss.on('connection', (ws) => {
  ws.id = String(next++);
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data.toString()); } catch { ws.send('{"type":"error","code":"msg_malformed_json"}'); return; }
    if (m.type === 'join') {
      const members = rooms.get(m.room) ?? [];
      members.push(ws);
      rooms.set(m.room, members);
      ws.room = m.room;
      ws.send(JSON.stringify({ type: 'joined', you: ws.id }));
      return;
    }
    if (m.type === 'ping') { ws.send(JSON.stringify({ type: 'pong', ts: m.ts })); return; }
    const members = rooms.get(ws.room) ?? [];
    delete m.to;
    m.from = ws.id;
    const out = JSON.stringify(m);
    for (const peer of members) if (peer !== ws && peer.readyState === 1) peer.send(out);
  });
  ws.on('close', () => {
    const members = rooms.get(ws.room);
    if (members) members.splice(members.indexOf(ws), 1);
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
