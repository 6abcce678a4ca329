// One participant's visit, carried out in the browser. The C state machine (tv_visit, through
// core.mjs) decides: every user action, signaling message, WebRTC and timer callback becomes one of
// its events, and this file performs the actions it returns, in order. What is here is only the doing:
// sockets, RTCPeerConnection, the media worker, timers. Listeners get a 'change' event after every
// step and a 'chat' event per message.
import { Signaling } from './signaling.mjs';
import { b64u, unb64u } from './core.mjs';
import { E2ee, preferE2eeCodecs, sdpFingerprint } from './e2ee.mjs';
import { withoutOrphanCodecLines } from './sdp.mjs';

const LINK_ERRORS = new Set(['not_found', 'visit_closed', 'token_expired', 'token_mismatch', 'unauthorized', 'forbidden']);
const MEDIA_ACTIONS = new Set(['start_media', 'send_offer', 'ice_restart', 'stop_media', 'wipe_keys', 'release_devices']);

export class VisitCall extends EventTarget {
  // role: 'patient' (invite, name) or 'clinician' (visit id). localStream: the patient's device check
  // stream, reused; the clinician's is opened at start_media. relayOnly: TURN only (hides addresses).
  constructor({ core, role, invite, visit, name, lang, localStream = null, relayOnly = false, cache = null,
    workerUrl = '/e2ee-worker.js', signalingUrl, constraints = { audio: true, video: true } }) {
    super();
    this.core = core;
    this.role = role;
    this.machine = core.visit(role);
    this.lastState = this.machine.state;
    this.join = { invite, visit, name, lang };
    this.local = localStream;
    this.relayOnly = relayOnly;
    this.cache = cache;
    this.workerUrl = workerUrl;
    this.signalingUrl = signalingUrl;
    this.constraints = constraints;
    this.sig = null;
    this.resume = null;
    this.iceServers = [];
    this.timer = null;
    this.reconnectDelay = 500;
    this.queue = Promise.resolve();   // media work, one step at a time, in the order the machine gave
    this.pc = null;
    this.e2ee = null;
    this.call = null;                 // this call's negotiation: { commitAccepted, peerKey, pendingIce, derived }
    this.remote = new MediaStream();
    this.pendingArg = null;
    this.info = {
      you: null, visitId: visit || null, peer: null, waiting: [], reason: null, error: null,
      e2ee: 'off', sas: null, sasConfirmed: false, path: null, peerMedia: null,
      audio: true, video: true, screen: false, signaling: 'closed', chat: [],
    };
  }

  // The browser's own view of the network: offline drops signaling at once (the UI says so),
  // online retries at once instead of waiting for the backoff.
  watchNetwork() {
    this.onOffline = () => this.sig?.drop();
    this.onOnline = () => {
      this.reconnectDelay = 500;
      if (!this.sig && this.info.signaling === 'lost') this.openSignaling();
    };
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', this.onOnline);
  }

  unwatchNetwork() {
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
  }

  get state() {
    return this.lastState;
  }

  // Ended, denied, expired or failed: nothing more will happen in this visit.
  get over() {
    return this.core.terminalStates.has(this.lastState);
  }

  // ---- user actions ----

  start() {
    this.watchNetwork();
    return this.step(this.role === 'patient' ? 'devices_ready' : 'open');
  }

  admit(participant) {
    this.pendingArg = participant;
    return this.step('admit');
  }

  deny(participant) {
    this.pendingArg = participant;
    return this.step('deny');
  }

  hangup() {
    return this.step('hangup');
  }

  endVisit() {
    return this.step('end_visit');
  }

  confirmSas() {
    if (!this.info.sas) return false;
    this.info.sasConfirmed = true;
    this.sig?.send({ type: 'sas_result', match: true });
    this.changed();
    return true;
  }

  rejectSas() {
    this.info.reason = 'sas_mismatch';
    return this.step('sas_mismatch');
  }

  // Chat: shown as pending until the server has stored it (chat_ack).
  sendChat(text) {
    const cid = b64u(this.core.randomBytes(9));
    const ok = this.sig?.send({ type: 'chat', cid, text });
    if (!ok) return false;
    this.info.chat.push({ cid, text, mine: true, pending: true, ts: Date.now() });
    this.dispatchEvent(new CustomEvent('chat'));
    this.changed();
    return true;
  }

  setAudio(on) {
    for (const t of this.local?.getAudioTracks() || []) t.enabled = on;
    this.info.audio = on;
    this.sendMediaState();
  }

  setVideo(on) {
    for (const t of this.local?.getVideoTracks() || []) t.enabled = on;
    this.info.video = on;
    this.sendMediaState();
  }

  // Another camera or microphone: the new track goes into the same sender, whose transform stays.
  async switchDevice(kind, deviceId) {
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: deviceId } } });
    const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    await this.replaceLocal(kind, track);
  }

  // Only in a call (the shared screen replaces the camera in the video sender; before the call there
  // is no sender, and the camera would go out instead), and once at a time.
  async startScreenShare() {
    if (this.screenTrack) return;
    if (!this.sender('video')) throw new Error('The screen can be shared once the call has started.');
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    this.cameraTrack = this.local?.getVideoTracks()[0] || null;
    track.addEventListener('ended', () => this.stopScreenShare());
    await this.sender('video')?.replaceTrack(track);
    this.screenTrack = track;
    this.info.screen = true;
    this.sendMediaState();
  }

  async stopScreenShare() {
    if (!this.screenTrack) return;
    this.screenTrack.stop();
    this.screenTrack = null;
    await this.sender('video')?.replaceTrack(this.cameraTrack);
    this.info.screen = false;
    this.sendMediaState();
  }

  // What the QA suite and the UI read: the worker's counters and the decoder's.
  async stats() {
    const out = { state: this.state, worker: null, video: {}, audio: {}, pair: this.info.path };
    if (this.e2ee) out.worker = await this.e2ee.stats().catch(() => null);
    if (this.pc) {
      for (const r of (await this.pc.getStats()).values()) {
        if (r.type === 'inbound-rtp') {
          out[r.kind] = { framesDecoded: r.framesDecoded || 0, framesReceived: r.framesReceived || 0,
            packetsReceived: r.packetsReceived || 0 };
        }
      }
    }
    return out;
  }

  // ---- the machine ----

  // Feeds one event; false when the machine refuses it in this state (nothing happens then).
  step(event) {
    if (!this.machine.ptr) return false;   // over: the machine is freed
    let r;
    try {
      r = this.machine.step(event);
    } catch (e) {
      if (e.errName === 'state_illegal_event') return false;
      throw e;
    }
    this.lastState = r.state;
    for (const a of r.actions) this.perform(a, r.timerMs);
    if (this.over) {
      this.machine.dispose();
      this.unwatchNetwork();
    }
    this.changed();
    return true;
  }

  perform(action, timerMs) {
    if (action === 'start_media') {
      this.callRequested = true;
      this.commitSeen = false;
    }
    if (MEDIA_ACTIONS.has(action)) {
      this.queue = this.queue.then(() => this.media(action)).catch((e) => this.fault(e));
      return;
    }
    switch (action) {
      case 'cancel_timer': clearTimeout(this.timer); this.timer = null; break;
      case 'start_timer': clearTimeout(this.timer); this.timer = setTimeout(() => this.step('timeout'), timerMs); break;
      case 'connect_signaling': this.openSignaling(); break;
      case 'reconnect_signaling': this.reconnect(); break;
      case 'close_signaling': this.sig?.close(); this.sig = null; this.info.signaling = 'closed'; break;
      case 'send_admit': this.sig?.send({ type: 'admit', participant: this.pendingArg }); break;
      case 'send_deny': this.sig?.send({ type: 'deny', participant: this.pendingArg }); break;
      case 'send_sas_mismatch': this.sig?.send({ type: 'sas_result', match: false }); break;
      case 'send_leave': this.sig?.send({ type: 'leave' }); break;
      case 'send_end': this.sig?.send({ type: 'end' }); break;
      default: throw new Error(`unknown action ${action}`);
    }
  }

  async media(action) {
    switch (action) {
      case 'start_media': return this.startMedia();
      case 'send_offer': return this.sendOffer();
      case 'ice_restart': return this.iceRestart();
      case 'stop_media':
        this.pc?.close();
        this.pc = null;
        this.call = null;
        for (const t of this.remote.getTracks()) this.remote.removeTrack(t);
        this.info.path = null;
        return undefined;
      case 'wipe_keys': {
        const e = this.e2ee;
        this.e2ee = null;
        this.info.e2ee = 'off';
        this.info.sas = null;
        this.info.sasConfirmed = false;
        return e?.close();
      }
      case 'release_devices':
        for (const t of this.local?.getTracks() || []) t.stop();
        this.screenTrack?.stop();
        return undefined;
      default: throw new Error(`unknown action ${action}`);
    }
  }

  fault(e) {
    this.info.error = e?.message || String(e);
    this.info.errorName = e?.name || 'Error';   // NotAllowedError, NotFoundError...: a device problem
    this.step('fatal');
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }

  // ---- signaling ----

  openSignaling() {
    const sig = new Signaling(this.core, this.signalingUrl);
    this.sig = sig;
    this.info.signaling = 'connecting';
    sig.addEventListener('open', () => {
      this.info.signaling = 'open';
      this.reconnectDelay = 500;
      const j = { type: 'join', role: this.role };
      if (this.role === 'patient') Object.assign(j, { invite: this.join.invite, name: this.join.name });
      else j.visit = this.join.visit;
      if (this.join.lang) j.lang = this.join.lang;
      if (this.resume) j.resume = this.resume;
      sig.send(j);
      this.changed();
    });
    sig.addEventListener('message', (e) => this.onMessage(e.detail.type, e.detail.msg));
    sig.addEventListener('lost', () => {
      if (this.sig !== sig) return;
      this.sig = null;
      this.info.signaling = 'lost';
      this.step('signaling_lost');
    });
    sig.open();
  }

  reconnect() {
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, 4000);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.sig && !this.over) this.openSignaling();
    }, delay);
  }

  onMessage(type, m) {
    switch (type) {
      case 'joined':
        this.resume = m.resume;
        this.info.you = m.you;
        this.info.visitId = m.visit;
        this.iceServers = m.ice_servers;
        this.step('joined');
        if (this.role === 'patient' && m.state === 'admitted') this.step('admitted');
        // The clinician back in a visit with the patient still there: a new call, new keys.
        if (this.role === 'clinician') {
          const patient = (m.peers || []).find((p) => p.role === 'patient');
          if (patient) {
            this.info.peer = patient;
            this.step('peer_joined');
          }
        }
        break;
      case 'waiting_room': this.info.waiting = m.patients; this.changed(); break;
      case 'admitted': this.step('admitted'); break;
      case 'denied': this.info.reason = 'denied'; this.step('denied'); break;
      case 'peer_joined':
        if (m.role === this.role) break;
        this.info.peer = { id: m.id, role: m.role, name: m.name };
        this.info.peerSignaling = 'open';
        this.step('peer_joined');
        break;
      case 'peer_left':
        // A peer whose connection dropped keeps its place for the resume window and may still be
        // in the call peer to peer: ICE, not signaling, says whether media is lost.
        if (m.reason === 'disconnected') { this.info.peerSignaling = 'lost'; this.changed(); break; }
        this.info.peer = null;
        this.step('peer_left');
        break;
      case 'ended': this.info.reason = m.reason; this.step('ended'); break;
      case 'error':
        if (['joining'].includes(this.state) && LINK_ERRORS.has(m.code)) {
          this.info.reason = m.code;
          this.step('link_invalid');
        } else if (this.state === 'joining' && m.code === 'busy') {
          this.info.reason = m.code;
          this.step('fatal');
        } else {
          this.info.error = m.code;
          this.changed();
        }
        break;
      case 'chat': this.onChat(m); break;
      case 'chat_ack': {
        const c = this.info.chat.find((x) => x.cid === m.cid && x.mine);
        if (c) {
          c.pending = false;
          c.ts = m.ts;
          this.store(c);
        }
        this.dispatchEvent(new CustomEvent('chat'));
        break;
      }
      case 'media_state': this.info.peerMedia = { audio: m.audio, video: m.video, screen: m.screen }; this.changed(); break;
      case 'e2ee_commit':
        // A second commitment in one call means the clinician started a new call (it came back, or
        // we did): the machine drops this one and starts another before the commitment is taken.
        if (this.role !== 'patient') break;
        if (!this.callRequested || this.commitSeen) {
          if (!this.step('peer_joined')) break;
        }
        this.commitSeen = true;
        this.queue = this.queue.then(() => this.onRelayed(type, m)).catch((e) => this.fault(e));
        break;
      case 'offer': case 'answer': case 'ice': case 'e2ee_key':
        this.queue = this.queue.then(() => this.onRelayed(type, m)).catch((e) => this.fault(e));
        break;
      default: break;   // pong
    }
  }

  onChat(m) {
    const c = { cid: m.cid, text: m.text, mine: false, pending: false, ts: m.ts, from: m.from };
    this.info.chat.push(c);
    this.store(c);
    this.dispatchEvent(new CustomEvent('chat'));
  }

  // The transcript goes to the encrypted cache only; nothing in clear reaches IndexedDB.
  store(c) {
    if (!this.cache || !this.info.visitId) return;
    const key = `${this.info.visitId}/${String(c.ts).padStart(15, '0')}-${c.cid}`;
    this.cache.put('chat', key, { text: c.text, mine: c.mine, ts: c.ts }).catch(() => {});
  }

  sendMediaState() {
    this.sig?.send({ type: 'media_state', audio: this.info.audio, video: this.info.video, screen: this.info.screen });
    this.changed();
  }

  // ---- WebRTC and keys ----

  async startMedia() {
    if (!this.local || this.local.getTracks().every((t) => t.readyState === 'ended')) {
      this.local = await navigator.mediaDevices.getUserMedia(this.constraints);
    }
    this.setAudio(this.info.audio);
    this.setVideo(this.info.video);
    this.e2ee = new E2ee(this.workerUrl);
    await this.e2ee.start({ role: this.role });
    this.info.e2ee = 'agreeing';
    this.call = { commitAccepted: false, peerKey: null, pendingIce: [], derived: false, attached: new WeakSet() };
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
      ...this.e2ee.peerConnectionOptions() });
    this.pc = pc;
    pc.ontrack = (ev) => {
      this.attachReceiver(ev.receiver, ev.track.kind);
      this.remote.addTrack(ev.track);
      this.changed();
    };
    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      if (!c || !c.candidate) return;
      const candidate = { candidate: c.candidate };
      if (c.sdpMid != null) candidate.sdpMid = c.sdpMid;
      if (c.sdpMLineIndex != null) candidate.sdpMLineIndex = c.sdpMLineIndex;
      if (c.usernameFragment) candidate.usernameFragment = c.usernameFragment;
      this.sig?.send({ type: 'ice', candidate });
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc);
    this.changed();
  }

  attachReceiver(receiver, kind) {
    if (this.call.attached.has(receiver)) return;
    this.call.attached.add(receiver);
    this.e2ee.attachReceiver(receiver, kind);
  }

  sender(kind) {
    // by the transceiver's receiving track, whose kind never changes (the sender's track may be null)
    return this.pc?.getTransceivers().find((t) => t.receiver.track.kind === kind)?.sender || null;
  }

  async replaceLocal(kind, track) {
    const old = kind === 'audio' ? this.local.getAudioTracks()[0] : this.local.getVideoTracks()[0];
    track.enabled = kind === 'audio' ? this.info.audio : this.info.video;
    if (!this.screenTrack || kind === 'audio') await this.sender(kind)?.replaceTrack(track);
    if (old) {
      this.local.removeTrack(old);
      old.stop();
    }
    this.local.addTrack(track);
    if (kind === 'video') this.cameraTrack = track;
    this.changed();
  }

  // The clinician offers: commitment first (docs/e2ee.md), transforms attached right after
  // addTransceiver (a transform set after negotiation is silently ignored).
  async sendOffer() {
    const c = await this.e2ee.commit(this.info.visitId);
    this.call.myEpoch = c.epoch;
    this.sig?.send({ type: 'e2ee_commit', commitment: b64u(c.commitment), epoch: c.epoch });
    for (const track of this.local.getTracks()) {
      const t = this.pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.local] });
      preferE2eeCodecs(t, track.kind);
      this.e2ee.attachSender(t.sender, track.kind);
      this.attachReceiver(t.receiver, track.kind);
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.sig?.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
  }

  async iceRestart() {
    if (!this.pc || !this.pc.remoteDescription || this.pc.signalingState !== 'stable') return;
    await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
    this.sig?.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
  }

  async onRelayed(type, m) {
    if (type === 'e2ee_commit') {
      if (this.role !== 'patient' || !this.call || this.call.commitAccepted) return undefined;
      this.call.commitAccepted = true;
      const mine = await this.e2ee.acceptCommitment(unb64u(m.commitment), m.epoch);
      this.sig?.send({ type: 'e2ee_key', pub: b64u(mine.publicKey), epoch: mine.epoch });
      return undefined;
    }
    if (!this.pc) return undefined;
    const pc = this.pc;
    switch (type) {
      case 'offer': {
        if (this.role !== 'patient') return undefined;
        const first = !pc.remoteDescription;
        await pc.setRemoteDescription({ type: 'offer', sdp: withoutOrphanCodecLines(m.sdp) });
        if (first) {
          // The answerer's senders: addTrack takes over the offer's transceivers; attach before
          // createAnswer, or frames would leave unencrypted.
          for (const track of this.local.getTracks()) {
            const sender = pc.addTrack(track, this.local);
            this.e2ee.attachSender(sender, track.kind);
            const t = pc.getTransceivers().find((x) => x.sender === sender);
            if (t) preferE2eeCodecs(t, track.kind);
          }
        }
        await pc.setLocalDescription(await pc.createAnswer());
        this.sig?.send({ type: 'answer', sdp: pc.localDescription.sdp });
        await this.flushIce();
        return this.tryDerive();
      }
      case 'answer':
        if (this.role !== 'clinician' || pc.signalingState !== 'have-local-offer') return undefined;
        await pc.setRemoteDescription({ type: 'answer', sdp: withoutOrphanCodecLines(m.sdp) });
        await this.flushIce();
        return this.tryDerive();
      case 'ice':
        if (!m.candidate) return undefined;
        if (pc.remoteDescription) return pc.addIceCandidate(m.candidate).catch(() => {});
        this.call.pendingIce.push(m.candidate);
        return undefined;
      case 'e2ee_key':
        this.call.peerKey = { pub: m.pub, epoch: m.epoch };
        return this.tryDerive();
      default:
        return undefined;
    }
  }

  async flushIce() {
    const list = this.call.pendingIce.splice(0);
    for (const c of list) await this.pc.addIceCandidate(c).catch(() => {});
  }

  // Keys are derived once both descriptions are applied (their DTLS fingerprints enter the
  // transcript) and the peer's public key is here.
  async tryDerive() {
    const c = this.call;
    if (!c || c.derived || !c.peerKey || !this.pc?.remoteDescription || !this.pc?.localDescription) return;
    c.derived = true;
    const r = await this.e2ee.derive({
      peerKey: unb64u(c.peerKey.pub), peerEpoch: c.peerKey.epoch, visit: this.info.visitId,
      localFingerprint: sdpFingerprint(this.pc.localDescription.sdp),
      remoteFingerprint: sdpFingerprint(this.pc.remoteDescription.sdp),
    });
    if (r.publicKey) this.sig?.send({ type: 'e2ee_key', pub: b64u(r.publicKey), epoch: c.myEpoch });
    this.info.e2ee = 'on';
    this.info.sas = { digits: r.digits, symbols: r.symbols };
    this.onConnectionState(this.pc);
  }

  onConnectionState(pc) {
    if (pc !== this.pc) return;
    const s = pc.connectionState;
    if (s === 'connected' && this.info.e2ee === 'on') {
      if (this.step('media_connected')) this.reportPath();
    } else if (s === 'disconnected' || s === 'failed') {
      this.step('media_lost');
    } else {
      this.changed();
    }
  }

  // The selected candidate pair, shown in the UI and sent for the audit log.
  async reportPath() {
    const pc = this.pc;
    if (!pc) return;
    const report = await pc.getStats();
    if (pc !== this.pc) return;   // the call ended or restarted meanwhile: this path is stale
    const byId = new Map([...report.values()].map((r) => [r.id, r]));
    for (const r of report.values()) {
      if (r.type !== 'transport' || !r.selectedCandidatePairId) continue;
      const pair = byId.get(r.selectedCandidatePairId);
      const l = byId.get(pair?.localCandidateId);
      const rc = byId.get(pair?.remoteCandidateId);
      if (!l || !rc) return;
      const path = { local: l.candidateType, remote: rc.candidateType, protocol: l.protocol };
      if (l.candidateType === 'relay' && l.relayProtocol) path.relay_protocol = l.relayProtocol;
      this.info.path = path;
      this.sig?.send({ type: 'ice_path', ...path });
      this.changed();
      return;
    }
  }
}
