// The frame's side of the embed API (web/embed.js is the host's): commands from the EHR page become
// console actions, and the console's changes become events. Only messages from the parent window,
// from an origin on the server's embed list (the same list as CSP frame-ancestors), with this frame's
// scope and a known shape are read; anything else from the parent is ignored and counted. Replies and events go to
// the exact parent origin, never '*'.
import { api } from './api.mjs';
import { setLang, languages, lang } from './i18n.mjs';
import { loadPolicy } from './auth.mjs';

const V = 1;

class CommandError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export async function startBridge(ctx, scope) {
  const policy = await loadPolicy();
  const allowed = new Set(policy.embed_origins || []);
  // the embedding page's origin as the browser tells it; where it does not (Firefox), as embed.js
  // says, which is then only as good as the list: CSP frame-ancestors keeps other sites from framing
  const parent = location.ancestorOrigins ? location.ancestorOrigins[0] : new URLSearchParams(location.search).get('host');
  if (window.parent === window || !parent || !allowed.has(parent) || !/^[0-9a-f]{24}$/.test(scope)) return null;
  const bridge = { ignored: 0, parent };
  const post = (type, payload, id) => window.parent.postMessage({ v: V, scope, type, id, payload }, parent);
  const emit = (type, payload = {}) => post(type, payload);

  const needCall = () => {
    if (!ctx.call) throw new CommandError('no_call', 'No visit is open.');
    return ctx.call;
  };
  const needUser = () => {
    if (!ctx.me) throw new CommandError('not_signed_in', 'Sign in first.');
  };
  const step = (ok) => {
    if (!ok) throw new CommandError('illegal_state', 'Not possible in the current state of the visit.');
    return { state: ctx.call.state };
  };
  const text = (p, k, max) => {
    const v = p?.[k];
    if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new CommandError('bad_payload', `${k} must be a string of 1-${max} characters`);
    return v;
  };
  const state = () => ({
    signedIn: !!ctx.me,
    lang: lang(),
    call: ctx.call ? { visit: ctx.call.info.visitId, state: ctx.call.state, e2ee: ctx.call.info.e2ee,
      verified: ctx.call.info.sasConfirmed, waiting: ctx.call.info.waiting, peer: ctx.call.info.peer } : null,
  });

  const commands = {
    getState: () => state(),
    setLanguage: (p) => {
      if (!languages.includes(p?.lang)) throw new CommandError('bad_payload', `lang must be one of ${languages.join(', ')}`);
      setLang(p.lang);
      return { lang: p.lang };
    },
    createVisit: async (p) => {
      needUser();
      const body = p?.label ? { label: text(p, 'label', 200) } : {};
      const v = await api('POST', '/api/visits', body);
      return { id: v.id, link: v.link, expires_ms: v.expires_ms };
    },
    join: async (p) => {
      needUser();
      const id = text(p, 'visit', 64);
      // already in it: reopening the view would hang up the call
      if (ctx.call && !ctx.call.over && ctx.call.info.visitId === id) return { state: ctx.call.state };
      const joined = new Promise((resolve, reject) => {
        let call = null;
        const done = (fn, v) => {
          clearTimeout(timer);
          ctx.events.removeEventListener('call', opened);
          call?.removeEventListener('change', check);
          fn(v);
        };
        const check = () => {
          if (['idle', 'joining'].includes(call.state)) return;
          if (call.over) done(reject, new CommandError('join_failed', `The visit could not be joined (${call.state}).`));
          else done(resolve, { state: call.state });
        };
        const opened = () => {
          if (ctx.call?.info.visitId !== id) return;   // another join's visit
          call = ctx.call;
          call.addEventListener('change', check);
        };
        const timer = setTimeout(() => done(reject, new CommandError('timeout', 'The visit did not answer.')), 20000);
        ctx.events.addEventListener('call', opened);
      });
      ctx.go(`visit/${encodeURIComponent(id)}`);
      return joined;
    },
    admit: (p) => step(needCall().admit(text(p, 'participant', 64))),
    deny: (p) => step(needCall().deny(text(p, 'participant', 64))),
    hangup: () => step(needCall().hangup()),
    toggleAudio: () => { const c = needCall(); c.setAudio(!c.info.audio); return { audio: c.info.audio }; },
    toggleVideo: () => { const c = needCall(); c.setVideo(!c.info.video); return { video: c.info.video }; },
    startScreenShare: async () => { await needCall().startScreenShare(); return { screen: true }; },
    stopScreenShare: async () => { await needCall().stopScreenShare(); return { screen: false }; },
    sendChat: (p) => {
      if (!needCall().sendChat(text(p, 'text', 4000))) throw new CommandError('not_connected', 'The message could not be sent.');
      return { sent: true };
    },
  };

  window.addEventListener('message', async (e) => {
    const m = e.data;
    // only the parent talks to the bridge; other windows (the sign-on popup) are not its business
    if (e.source !== window.parent) return;
    if (e.origin !== parent || !m || m.v !== V || m.scope !== scope ||
        !Object.hasOwn(commands, m.type) || !Number.isSafeInteger(m.id) ||
        (m.payload !== undefined && (typeof m.payload !== 'object' || m.payload === null))) {
      bridge.ignored++;
      return;
    }
    try {
      post('reply', await commands[m.type](m.payload), m.id);
    } catch (err) {
      post('failure', { code: err.code || 'failed', message: err.message }, m.id);
    }
  });

  // Events: from the console (signed in or out, a visit opened) and from the open visit's changes,
  // each compared with what was last said.
  const watchCall = (call) => {
    const last = { state: null, waiting: null, peer: null, verified: false, chat: 0, error: null };
    call.addEventListener('change', () => {
      const i = call.info;
      if (call.state !== last.state) {
        last.state = call.state;
        emit('callStateChanged', { state: call.state, visit: i.visitId });
        if (call.over) {
          if (i.reason === 'sas_mismatch') emit('e2eeMismatch', { visit: i.visitId });
          emit('ended', { state: call.state, reason: i.reason || null, visit: i.visitId });
        }
      }
      if (i.waiting !== last.waiting) {   // a new list only when a waiting_room message came
        last.waiting = i.waiting;
        emit('waitingRoomChanged', { patients: i.waiting || [] });
      }
      const peer = i.peer?.id || null;
      if (peer !== last.peer) {
        if (last.peer) emit('participantLeft', { id: last.peer });
        if (peer) emit('participantJoined', { id: peer, role: i.peer.role, name: i.peer.name || null });
        last.peer = peer;
      }
      if (i.sasConfirmed && !last.verified) emit('e2eeVerified', { visit: i.visitId });
      last.verified = i.sasConfirmed;
      if (i.error && i.error !== last.error) {
        last.error = i.error;
        const device = ['NotAllowedError', 'NotFoundError', 'NotReadableError', 'OverconstrainedError'].includes(i.errorName);
        emit(device ? 'deviceError' : 'error', { code: device ? i.errorName : 'call_failed', message: i.error });
      }
    });
    call.addEventListener('chat', () => {
      const fresh = call.info.chat.slice(last.chat);
      last.chat = call.info.chat.length;
      for (const c of fresh) if (!c.mine) emit('chatReceived', { text: c.text, ts: c.ts });
    });
  };
  ctx.events.addEventListener('session', () => emit(ctx.me ? 'signedIn' : 'signedOut', ctx.me ? { email: ctx.me.email } : {}));
  ctx.events.addEventListener('call', () => watchCall(ctx.call));
  if (ctx.call) watchCall(ctx.call);   // opened before the bridge started (Frame's `visit` option)
  window.addEventListener('error', (e) => emit('error', { code: 'script_error', message: String(e.message || '') }));
  emit('ready', state());
  return bridge;
}
