// Test helper (not shipped): the real stack for the QA suite on loopback, from the server tests'
// helpers: televisitd on a fresh data directory, a real SMTP server (Debian's aiosmtpd) that receives
// its mail, and coturn with time-limited credentials. Each spec file starts its own and stops it after.
import { PASSWORD, auditVerify, randomPort, smtpServer, sqlite, startServer, userAdd } from '../tests/server/lib.mjs';
import { startTurn } from './turn.mjs';

export { PASSWORD };

export async function startStack({ turn = true, args = [], port = randomPort() } = {}) {
  const smtp = await smtpServer();
  const relay = turn ? await startTurn({ port: randomPort() }) : null;
  const env = { ...process.env };
  const turnArgs = [];
  if (relay) {
    turnArgs.push('--turn-urls', relay.urls.join(' '));
    env.TELEVISIT_TURN_SECRET = relay.secret;
  }
  // The public URL must be the origin the browser uses: links in mail and the API's origin check.
  const origin = `https://127.0.0.1:${port}`;
  const server = await startServer({ port, env, args: ['--public-url', origin, '--smtp-url', `smtp://127.0.0.1:${smtp.port}`,
    '--smtp-from', 'noreply@televisit.test', ...turnArgs, ...args] });

  // The newest mail to `to` that matches `re` (waits for it): the captured group or the whole match.
  const mail = async (to, re, ms = 10000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const messages = smtp.output().split(/^---------- MESSAGE FOLLOWS ----------$/m);
      for (const m of messages.reverse()) {
        if (!m.includes(`To: <${to}>`)) continue;
        const x = re.exec(m);
        if (x) return x[1] ?? x[0];
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no mail to ${to} matching ${re}: ${smtp.output().slice(-1500)}`);
  };

  const stop = async () => {
    await server.stop();
    smtp.proc.kill();
    relay?.stop();
    server.remove();
  };
  return {
    origin, port, dataDir: server.dataDir, mail, stop, log: server.log,
    addUser: (email, password) => userAdd(server, email, password),
    sqlite: (sql) => sqlite(server, sql),
    auditVerify: () => auditVerify(server),
  };
}

// Browser context options for the stack: its self-signed certificate, a fake camera and microphone.
export const contextOptions = { ignoreHTTPSErrors: true, permissions: ['camera', 'microphone'] };
