// End-to-end encryption, page side: starts the media worker (js-glue/e2ee-worker.js), attaches its
// transforms to RTP senders and receivers when they are created (a transform set after negotiation is
// silently ignored), and carries key agreement messages. Keys themselves never come through here.

export const SUITE_CHACHA20_POLY1305 = 0xf001;   // fastest in wasm (see docs/e2ee.md)
const ROLES = { patient: 0, clinician: 1 };

export function e2eeSupported() {
  return typeof WebAssembly === 'object' && typeof Worker === 'function' &&
    (typeof RTCRtpScriptTransform === 'function' ||
     (typeof RTCRtpSender === 'function' && 'createEncodedStreams' in RTCRtpSender.prototype));
}

// The DTLS fingerprint an SDP announces ("sha-256 AB:CD:..."), for the key agreement transcript.
export function sdpFingerprint(sdp) {
  const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/m.exec(sdp || '');
  if (!m) throw new Error('the SDP has no DTLS fingerprint');
  return `${m[1].toLowerCase()} ${m[2].toUpperCase()}`;
}

export class E2ee {
  constructor(workerUrl = new URL('./e2ee-worker.js', import.meta.url)) {
    this.worker = new Worker(workerUrl, { type: 'module' });
    this.standard = typeof RTCRtpScriptTransform === 'function';
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = (e) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (e.data.error) p.reject(new Error(e.data.error));
      else p.resolve(e.data.result);
    };
  }

  request(type, data = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...data, type, id });
    });
  }

  // What RTCPeerConnection needs for the legacy API (empty with the standard one).
  peerConnectionOptions() {
    return this.standard ? {} : { encodedInsertableStreams: true };
  }

  // The exchange is commit, then reveal (docs/e2ee.md), and the worker enforces the order:
  //   clinician: start -> commit(visit) -> send e2ee_commit -> [patient's e2ee_key] -> derive -> send e2ee_key
  //   patient:   start -> [e2ee_commit] -> acceptCommitment -> send e2ee_key -> [clinician's e2ee_key] -> derive

  // A fresh key pair for this call: { epoch }.
  start({ role, suite = SUITE_CHACHA20_POLY1305 }) {
    if (!Object.hasOwn(ROLES, role)) throw new TypeError('role must be patient or clinician');
    return this.request('init', { role: ROLES[role], suite });
  }

  // A new key pair for a new exchange (every rejoin): { epoch }.
  rekey() {
    return this.request('rekey');
  }

  // Clinician: { commitment: Uint8Array(32), epoch }, to send before anything else.
  commit(visit) {
    return this.request('commit', { visit });
  }

  // Patient: takes the clinician's commitment; resolves with { publicKey, epoch } to reveal.
  acceptCommitment(commitment, peerEpoch) {
    return this.request('acceptCommitment', { commitment, peerEpoch });
  }

  // Installs the agreed keys; resolves with { sas, digits, symbols } to show both people, and for the
  // clinician its publicKey, which may be revealed now. Rejects a key the commitment did not promise.
  derive({ peerKey, peerEpoch, visit, localFingerprint, remoteFingerprint }) {
    return this.request('derive', { peerKey, peerEpoch, visit, localFingerprint, remoteFingerprint });
  }

  // One forward-secrecy step of the send keys.
  ratchet() {
    return this.request('ratchet');
  }

  stats() {
    return this.request('stats');
  }

  attachSender(sender, kind) {
    this.attach(sender, 'send', kind);
  }

  attachReceiver(receiver, kind) {
    this.attach(receiver, 'recv', kind);
  }

  attach(endpoint, direction, kind) {
    if (this.standard) {
      endpoint.transform = new RTCRtpScriptTransform(this.worker, { direction, kind });
      return;
    }
    const { readable, writable } = endpoint.createEncodedStreams();
    this.worker.postMessage({ type: 'streams', readable, writable, direction, kind }, [readable, writable]);
  }

  // Wipes every key in the worker, then stops it.
  async close() {
    try {
      await this.request('close');
    } finally {
      this.worker.terminate();
    }
  }
}

// Video codecs the worker can frame safely; the others are taken out of negotiation so that no
// codec ever goes out unencrypted.
export function preferE2eeCodecs(transceiver, kind) {
  if (typeof RTCRtpReceiver.getCapabilities !== 'function' || !transceiver.setCodecPreferences) return;
  const caps = RTCRtpReceiver.getCapabilities(kind);
  if (!caps) return;
  // rtx, red and ulpfec wrap already-encrypted frames for video; audio keeps Opus alone, the framing
  // the worker knows.
  const keep = kind === 'video' ? /^video\/(VP8|rtx|red|ulpfec)$/i : /^audio\/opus$/i;
  const codecs = caps.codecs.filter((c) => keep.test(c.mimeType));
  transceiver.setCodecPreferences(codecs);
}
