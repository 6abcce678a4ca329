#!/usr/bin/env node
// Test helper (not shipped): what Playwright launches as "Firefox" (executablePath). It starts Debian's
// firefox-esr with the same arguments and stands between Playwright and Firefox's WebDriver BiDi socket.
//
// Why: Playwright 1.65 speaks the BiDi of current Firefox; ESR 153 lacks some `emulation.*` commands
// (emulation.setMediaFeaturesOverride, sent by every browser.newContext()), answers "unknown command",
// and Playwright gives up on the context. Those commands only set emulated preferences (colour scheme
// and the like) that no test here uses, so this relay turns exactly that answer, for exactly those
// commands, into an empty success. Everything else passes through untouched, both ways.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { WebSocketServer, WebSocket } from 'ws';

const FIREFOX = process.env.TV_FIREFOX || '/usr/bin/firefox-esr';
const child = spawn(FIREFOX, process.argv.slice(2), { stdio: ['inherit', 'inherit', 'pipe'] });
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

const tolerated = (method) => typeof method === 'string' && method.startsWith('emulation.');

function relay(upstreamUrl) {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (client, req) => {
    const upstream = new WebSocket(upstreamUrl + req.url, { perMessageDeflate: false });
    const pending = [];
    const methods = new Map();   // command id -> method, for the commands whose errors may be forgiven
    upstream.on('open', () => { for (const m of pending.splice(0)) upstream.send(m); });
    client.on('message', (data) => {
      const text = data.toString();
      try {
        const m = JSON.parse(text);
        if (tolerated(m.method)) methods.set(m.id, m.method);
      } catch { /* not ours to judge */ }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else pending.push(text);
    });
    upstream.on('message', (data) => {
      let text = data.toString();
      try {
        const m = JSON.parse(text);
        if (methods.has(m.id)) {
          methods.delete(m.id);
          if (m.type === 'error' && m.error === 'unknown command') text = JSON.stringify({ type: 'success', id: m.id, result: {} });
        }
      } catch { /* pass it on as it is */ }
      if (client.readyState === WebSocket.OPEN) client.send(text);
    });
    const closeBoth = () => { client.close(); upstream.close(); };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
  });
  return new Promise((resolve) => server.on('listening', () => resolve(server.address().port)));
}

// Firefox's log goes on to Playwright as it is, but for the line naming the BiDi socket, which names
// the relay instead.
createInterface({ input: child.stderr }).on('line', async (line) => {
  const m = /^(.*WebDriver BiDi listening on )(ws:\/\/[^/\s]+)(.*)$/.exec(line);
  if (!m) {
    process.stderr.write(`${line}\n`);
    return;
  }
  const port = await relay(m[2]);
  process.stderr.write(`${m[1]}ws://127.0.0.1:${port}${m[3]}\n`);
});
