// One signaling connection (docs/protocol.md): wss://HOST/ws, subprotocol televisit.v1. Every frame
// is checked by the C parser both ways: what we send must pass it before it leaves, and a frame
// from the server that fails it is dropped and counted, never acted on. A ping goes out after 20 s
// without sending (the server closes a silent connection at 60 s).
const PING_MS = 20000;

export class Signaling extends EventTarget {
  constructor(core, url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`) {
    super();
    this.core = core;
    this.url = url;
    this.ws = null;
    this.dropped = 0;       // frames from the server refused by the parser
    this.closing = false;
    this.pinger = null;
  }

  open() {
    const ws = new WebSocket(this.url, 'televisit.v1');
    this.ws = ws;
    ws.onopen = () => {
      this.armPing();
      this.dispatchEvent(new Event('open'));
    };
    ws.onmessage = (e) => {
      let parsed;
      try {
        parsed = this.core.parseMessage(e.data, 'server');
      } catch {
        this.dropped++;
        return;
      }
      this.dispatchEvent(new CustomEvent('message', { detail: parsed }));
    };
    ws.onclose = () => {
      clearTimeout(this.pinger);
      if (this.ws === ws) this.ws = null;
      if (!this.closing) this.dispatchEvent(new Event('lost'));
    };
  }

  get isOpen() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  // Returns false when the connection is not open (the caller decides whether that matters).
  // Throws CoreError when the message itself is invalid: a bug, not a network condition.
  send(obj) {
    const text = this.core.encodeMessage(obj, 'client');
    if (!this.isOpen) return false;
    this.ws.send(text);
    this.armPing();
    return true;
  }

  armPing() {
    clearTimeout(this.pinger);
    this.pinger = setTimeout(() => this.send({ type: 'ping', ts: Date.now() }), PING_MS);
  }

  // The network is known to be gone (the browser says offline): give the connection up now rather
  // than after TCP notices, and report it lost.
  drop() {
    clearTimeout(this.pinger);
    this.ws?.close(4000);
  }

  close() {
    this.closing = true;
    clearTimeout(this.pinger);
    this.ws?.close(1000);
    this.ws = null;
  }
}
