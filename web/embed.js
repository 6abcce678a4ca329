// televisit inside an EHR page: one <script src="https://TELEVISIT/embed.js"> and
//   const frame = new Televisit.Frame(container, { visit, lang });
//   frame.on('waitingRoomChanged', (patients) => ...);
//   await frame.createVisit({ label });
// Commands return promises (resolved with the reply, rejected with an Error carrying .code).
// Commands made before the frame is ready wait in order and are all delivered. Messages are
// {v, scope, type, id, payload}; each Frame has its own random scope, and only messages from its own
// iframe, televisit's origin and its scope are read. docs/embed.md lists every command and event.
(function () {
  'use strict';
  const V = 1;
  const ORIGIN = new URL(document.currentScript.src).origin;
  const COMMANDS = ['createVisit', 'join', 'admit', 'deny', 'hangup', 'toggleAudio', 'toggleVideo',
    'startScreenShare', 'stopScreenShare', 'sendChat', 'setLanguage', 'getState'];

  function randomScope() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  class Frame {
    constructor(container, options) {
      const o = options || {};
      this.scope = randomScope();
      this.ready = false;
      this.queue = [];
      this.pending = new Map();
      this.handlers = new Map();
      this.nextId = 1;
      this.ignored = 0;
      // host: for browsers without location.ancestorOrigins (Firefox); the frame accepts it only when
      // it is on televisit's list, the list CSP frame-ancestors already enforces
      const q = new URLSearchParams({ embed: this.scope, host: location.origin });
      if (o.lang) q.set('lang', o.lang);
      const route = o.visit ? `#/visit/${encodeURIComponent(o.visit)}` : '#/';
      this.iframe = document.createElement('iframe');
      this.iframe.src = `${ORIGIN}/?${q}${route}`;
      this.iframe.allow = 'camera; microphone; display-capture; fullscreen; autoplay';
      this.iframe.title = o.title || 'televisit';
      this.iframe.style.border = '0';
      this.iframe.style.width = o.width || '100%';
      this.iframe.style.height = o.height || '640px';
      this.listener = (e) => this.receive(e);
      window.addEventListener('message', this.listener);
      container.appendChild(this.iframe);
      for (const name of COMMANDS) this[name] = (payload) => this.command(name, payload);
      // a frame that never gets ready (this page not on televisit's list, the server down) fails the
      // queued commands instead of leaving them waiting forever
      this.readyTimer = setTimeout(() => {
        if (this.ready) return;
        for (const q of this.queue.splice(0)) this.settle(q.id, 'failure', { code: 'not_ready', message: 'televisit did not start in the frame.' });
      }, o.readyTimeoutMs || 30000);
    }

    on(event, fn) {
      if (!this.handlers.has(event)) this.handlers.set(event, []);
      this.handlers.get(event).push(fn);
      return this;
    }

    command(type, payload) {
      if (!COMMANDS.includes(type)) return Promise.reject(Object.assign(new Error(`unknown command ${type}`), { code: 'bad_command' }));
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        const msg = { v: V, scope: this.scope, type, id, payload: payload || {} };
        if (this.ready) this.post(msg);
        else this.queue.push(msg);
      });
    }

    post(msg) {
      this.iframe.contentWindow.postMessage(msg, ORIGIN);
    }

    receive(e) {
      const m = e.data;
      if (e.origin !== ORIGIN || e.source !== this.iframe.contentWindow || !m || m.v !== V || m.scope !== this.scope ||
          typeof m.type !== 'string') {
        if (e.source === this.iframe.contentWindow) this.ignored++;
        return;
      }
      if (m.type === 'reply' || m.type === 'failure') {
        this.settle(m.id, m.type, m.payload);
        return;
      }
      if (m.type === 'ready' && !this.ready) {
        this.ready = true;
        for (const q of this.queue.splice(0)) this.post(q);
      }
      for (const fn of this.handlers.get(m.type) || []) {
        try { fn(m.payload); } catch (err) { setTimeout(() => { throw err; }); }
      }
    }

    settle(id, type, payload) {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (type === 'reply') p.resolve(payload);
      else p.reject(Object.assign(new Error((payload && payload.message) || 'failed'), { code: payload && payload.code }));
    }

    destroy() {
      clearTimeout(this.readyTimer);
      window.removeEventListener('message', this.listener);
      for (const p of this.pending.values()) p.reject(Object.assign(new Error('destroyed'), { code: 'destroyed' }));
      this.pending.clear();
      this.iframe.remove();
    }
  }

  window.Televisit = { Frame, version: V };
}());
