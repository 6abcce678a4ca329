// The call screen for both roles: remote and own video, controls, the E2EE status and the short
// authentication string, the connection path, chat. It only shows VisitCall's state and forwards
// clicks; what happens next is the core's decision.
import { h, notice, quiet, say } from './dom.mjs';
import { addStrings } from './i18n.mjs';
import { strings } from './strings-call.mjs';
import { fillDevicePickers } from './devices.mjs';

addStrings(strings);

export function callScreen(call) {
  const remoteVideo = h('video', { class: 'remote', autoplay: true, playsInline: true, i18nLabel: 'call.remote_video' });
  const selfVideo = h('video', { class: 'self', autoplay: true, playsInline: true, muted: true, i18nLabel: 'call.self_video' });
  remoteVideo.srcObject = call.remote;
  const overlay = h('div', { class: 'overlay', role: 'status', 'aria-live': 'polite' });
  const stage = h('div', { class: 'stage' }, remoteVideo, selfVideo, overlay);

  const e2eeBadge = h('span', { class: 'badge', id: 'e2ee-status' });
  const pathBadge = h('span', { class: 'badge', id: 'path-status' });
  const peerBadge = h('span', { class: 'badge', id: 'peer-status' });
  const statusLine = h('div', { class: 'status-line' }, e2eeBadge, pathBadge, peerBadge);

  // The short authentication string: both people read it aloud and compare.
  const sasDigits = h('p', { class: 'sas', id: 'sas-digits' });
  const sasSymbols = h('p', { class: 'sas-emoji', id: 'sas-symbols', 'aria-hidden': 'true' });
  const sasMatch = h('button', { type: 'button', id: 'sas-match', i18n: 'sas.match', onclick: () => call.confirmSas() });
  // "Does not match" ends the call: a second, explicit click, so a slip of the finger does not.
  const sasReallyMismatch = h('button', { type: 'button', class: 'danger', id: 'sas-mismatch-confirm',
    i18n: 'sas.mismatch_confirm', hidden: true, onclick: () => call.rejectSas() });
  const sasMismatch = h('button', { type: 'button', class: 'secondary', id: 'sas-mismatch', i18n: 'sas.mismatch',
    onclick: () => { sasReallyMismatch.hidden = false; sasReallyMismatch.focus(); } });
  const sasDone = h('p', { class: 'notice ok', id: 'sas-verified', i18n: 'sas.verified' });
  const sasPanel = h('section', { class: 'card', id: 'sas', 'aria-labelledby': 'sas-title' },
    h('h2', { id: 'sas-title', i18n: 'sas.title' }), h('p', { class: 'hint', i18n: 'sas.explain' }),
    sasDigits, sasSymbols, h('div', { class: 'actions' }, sasMatch, sasMismatch, sasReallyMismatch), sasDone);

  const mic = h('button', { type: 'button', id: 'toggle-audio', 'aria-pressed': 'false', i18n: 'call.mute',
    onclick: () => { call.setAudio(!call.info.audio); } });
  const cam = h('button', { type: 'button', id: 'toggle-video', 'aria-pressed': 'false', i18n: 'call.camera_off',
    onclick: () => { call.setVideo(!call.info.video); } });
  // A share that cannot start says so (a browser with no screen to offer, such as headless Firefox,
  // answers NotFoundError); one the user cancelled in the browser's chooser needs no word.
  const shareError = notice('error');
  shareError.id = 'share-error';
  const share = h('button', { type: 'button', class: 'secondary', id: 'toggle-screen', i18n: 'call.share',
    onclick: () => {
      quiet(shareError);
      (call.info.screen ? call.stopScreenShare() : call.startScreenShare())
        .catch((e) => { if (e?.name !== 'NotAllowedError' && e?.name !== 'AbortError') say(shareError, 'call.share_failed'); });
    } });
  const camPick = h('select', { id: 'pick-camera', i18nLabel: 'call.pick_camera', hidden: true,
    onchange: () => call.switchDevice('video', camPick.value).catch(() => {}) });
  const micPick = h('select', { id: 'pick-mic', i18nLabel: 'call.pick_mic', hidden: true,
    onchange: () => call.switchDevice('audio', micPick.value).catch(() => {}) });
  const leave = h('button', { type: 'button', class: 'danger', id: 'hangup', i18n: 'call.leave',
    onclick: () => call.hangup() });
  const end = call.role === 'clinician'
    ? h('button', { type: 'button', class: 'danger', id: 'end-visit', i18n: 'call.end_visit', onclick: () => call.endVisit() })
    : null;
  const controls = h('div', { class: 'actions', role: 'toolbar', i18nLabel: 'call.controls' },
    mic, cam, share, camPick, micPick, leave, end);

  // Chat
  const log = h('ul', { class: 'chat-log', id: 'chat-log', 'aria-live': 'polite' });
  const input = h('input', { id: 'chat-input', maxLength: 2000, autocomplete: 'off' });
  const form = h('form', { class: 'actions', onsubmit: (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (text && call.sendChat(text)) input.value = '';
  } }, h('label', { for: 'chat-input', class: 'visually-hidden', i18n: 'chat.label' }), input,
  h('button', { type: 'submit', i18n: 'chat.send' }));
  const chat = h('section', { class: 'card', 'aria-labelledby': 'chat-title' },
    h('h2', { id: 'chat-title', i18n: 'chat.title' }), log, form);

  const view = h('div', { class: 'call' },
    h('div', {}, h('h1', { class: 'visually-hidden', i18n: 'call.title' }), statusLine, stage, controls, shareError),
    h('div', {}, sasPanel, chat));

  const drawChat = () => {
    log.replaceChildren(...call.info.chat.map((c) => h('li', { class: c.pending ? 'pending' : '' },
      h('span', { class: 'who', i18n: c.mine ? 'chat.me' : (call.role === 'patient' ? 'chat.clinician' : 'chat.patient') }),
      c.text, c.pending ? h('span', { class: 'hint', i18n: 'chat.pending' }) : null)));
    log.scrollTop = log.scrollHeight;
  };

  const draw = () => {
    const i = call.info;
    const s = call.state;
    // the clinician's camera opens with the call, the patient's before: pickers follow the stream
    if (call.local && selfVideo.srcObject !== call.local) {
      selfVideo.srcObject = call.local;
      fillDevicePickers([[camPick, 'videoinput', call.local.getVideoTracks()[0]],
        [micPick, 'audioinput', call.local.getAudioTracks()[0]]], { hideSingle: true });
    }
    const overlayKey = {
      waiting: call.role === 'patient' ? 'call.waiting_patient' : 'call.waiting_clinician',
      admitted: 'call.admitted', connecting: 'call.connecting', reconnecting: 'call.reconnecting',
      joining: 'call.joining',
    }[s];
    overlay.hidden = !overlayKey;
    if (overlayKey) say(overlay, overlayKey);
    e2eeBadge.className = `badge ${i.e2ee === 'on' ? 'secure' : 'warn'}`;
    say(e2eeBadge, i.e2ee === 'on' ? (i.sasConfirmed ? 'e2ee.verified' : 'e2ee.on') : 'e2ee.agreeing');
    pathBadge.hidden = !i.path;
    if (i.path) {
      say(pathBadge, i.path.local === 'relay' || i.path.remote === 'relay' ? 'path.relay' : 'path.direct',
        { protocol: (i.path.relay_protocol || i.path.protocol || '').toUpperCase() });
    }
    peerBadge.hidden = s !== 'reconnecting' && i.peerSignaling !== 'lost';
    say(peerBadge, s === 'reconnecting' ? 'call.network_lost' : 'call.peer_unstable');
    sasPanel.hidden = !i.sas;
    if (i.sas) {
      sasDigits.textContent = `${i.sas.digits.slice(0, 3)} ${i.sas.digits.slice(3)}`;
      sasSymbols.textContent = i.sas.symbols.join(' ');
    }
    sasMatch.hidden = sasMismatch.hidden = i.sasConfirmed;
    if (i.sasConfirmed) sasReallyMismatch.hidden = true;
    sasDone.hidden = !i.sasConfirmed;
    mic.setAttribute('aria-pressed', String(!i.audio));
    say(mic, i.audio ? 'call.mute' : 'call.unmute');
    cam.setAttribute('aria-pressed', String(!i.video));
    say(cam, i.video ? 'call.camera_off' : 'call.camera_on');
    say(share, i.screen ? 'call.stop_share' : 'call.share');
    share.hidden = !navigator.mediaDevices?.getDisplayMedia;
    share.disabled = !i.screen && !['connected', 'reconnecting'].includes(s);   // a screen goes out in a call only
  };

  call.addEventListener('change', draw);
  call.addEventListener('chat', drawChat);
  draw();
  drawChat();
  return view;
}
