// A clinician's lobby (docs/protocol.md): one signaling connection that joins no visit and is told of
// every patient waiting in any of the clinician's open visits, for the console's dashboard. It comes
// back after a loss (1 s, doubling to 30 s) for as long as it is started; a refused session stops it
// and says so ('unauthorized'), as a 401 from the API ends the console's session.
import { Signaling } from './signaling.mjs';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30000;
const SESSION_CODES = new Set(['unauthorized', 'totp_required']);

export class Lobby extends EventTarget {
  constructor(core, url) {
    super();
    this.core = core;
    this.url = url;
    this.patients = [];      // [{visit, id, name, since}], oldest first, as the server sent them
    this.total = 0;          // every waiting patient, listed or not
    this.state = 'closed';   // connecting, open, lost (retrying) or closed
    this.sig = null;
    this.retryMs = RETRY_MIN_MS;
    this.timer = null;
  }

  start() {
    if (this.state === 'closed') this.connect();
  }

  stop() {
    clearTimeout(this.timer);
    const sig = this.sig;
    this.sig = null;
    sig?.close();
    this.patients = [];
    this.total = 0;
    this.set('closed');
  }

  // Sends a waiting patient of one of the clinician's visits away. False when not connected.
  deny(participant) {
    if (this.state !== 'open') return false;
    return this.sig.send({ type: 'deny', participant });
  }

  connect() {
    const sig = new Signaling(this.core, this.url);
    this.sig = sig;
    this.set('connecting');
    sig.addEventListener('open', () => sig.send({ type: 'watch' }));
    sig.addEventListener('message', (e) => {
      if (this.sig === sig) this.received(e.detail);
    });
    sig.addEventListener('lost', () => {
      if (this.sig !== sig) return;
      this.sig = null;
      this.set('lost');   // the list stays on screen, marked stale, until the next lobby message
      this.timer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
    sig.open();
  }

  received({ type, msg }) {
    if (type === 'lobby') {
      this.retryMs = RETRY_MIN_MS;
      this.patients = msg.patients;
      this.total = msg.total;
      this.set('open');
    } else if (type === 'error' && SESSION_CODES.has(msg.code)) {
      this.stop();
      this.dispatchEvent(new CustomEvent('unauthorized', { detail: msg.code }));
    } else if (type === 'error') {
      this.dispatchEvent(new CustomEvent('refused', { detail: msg }));
    }
  }

  set(state) {
    this.state = state;
    this.dispatchEvent(new Event('change'));
  }
}
