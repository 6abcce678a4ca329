// The patient's device check before the waiting room: camera preview, a microphone level meter, a
// speaker test tone, device pickers, and the browser capability check. Resolves with the stream the
// call then uses (so the browser asks for permission once).
import { h, say, notice, quiet } from './dom.mjs';
import { e2eeSupported } from '/e2ee.mjs';

export function browserSupported() {
  return typeof WebAssembly === 'object' && typeof RTCPeerConnection === 'function' &&
    !!navigator.mediaDevices?.getUserMedia && typeof indexedDB === 'object' && e2eeSupported();
}

// Fills each <select> with the devices of its kind, the one its track uses selected. hideSingle: a
// choice of one is no choice (the call screen hides it; the device check shows what it uses).
export async function fillDevicePickers(pickers, { hideSingle = false } = {}) {
  const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  for (const [select, kind, track] of pickers) {
    const list = devices.filter((d) => d.kind === kind);
    const current = track?.getSettings().deviceId;
    select.replaceChildren(...list.map((d, n) => h('option', { value: d.deviceId, selected: d.deviceId === current }, d.label || `${n + 1}`)));
    select.hidden = hideSingle && list.length < 2;
  }
}

export function deviceCheck({ onJoin, onLeave }) {
  let stream = null;
  let audioCtx = null;
  let raf = 0;
  const preview = h('video', { class: 'preview', autoplay: true, playsInline: true, muted: true, i18nLabel: 'devices.preview' });
  const bar = h('span');
  const level = h('div', { class: 'level', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
    i18nLabel: 'devices.level', id: 'mic-level' }, bar);
  const camSel = h('select', { id: 'camera' });
  const micSel = h('select', { id: 'microphone' });
  const problem = notice('error');
  const join = h('button', { type: 'button', id: 'join', i18n: 'devices.join', disabled: true,
    onclick: () => { stop(false); onJoin(stream); } });
  const leave = h('button', { type: 'button', class: 'secondary', i18n: 'devices.leave', onclick: () => { stop(true); onLeave(); } });
  const retry = h('button', { type: 'button', class: 'secondary', i18n: 'devices.retry', hidden: true, onclick: () => open() });

  const stop = (tracksToo) => {
    cancelAnimationFrame(raf);
    audioCtx?.close().catch(() => {});
    audioCtx = null;
    if (tracksToo) stream?.getTracks().forEach((t) => t.stop());
  };

  // The level of the microphone, from an analyser: the patient sees it hears them.
  const meter = () => {
    audioCtx = new AudioContext();
    // Firefox makes it suspended when it is not made in the click itself (here: after getUserMedia
    // resolved), and then the meter would stay at 0; the patient has clicked, so it may start.
    audioCtx.resume().catch(() => {});
    const src = audioCtx.createMediaStreamSource(stream);
    const an = audioCtx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Uint8Array(an.fftSize);
    const tick = () => {
      an.getByteTimeDomainData(buf);
      let peak = 0;
      for (const v of buf) peak = Math.max(peak, Math.abs(v - 128));
      const pct = Math.min(100, Math.round((peak / 128) * 160));
      bar.style.width = `${pct}%`;
      level.setAttribute('aria-valuenow', String(pct));
      level.dataset.peak = String(Math.max(Number(level.dataset.peak || 0), pct));
      raf = requestAnimationFrame(tick);
    };
    tick();
  };

  const tone = () => {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    gain.gain.value = 0.2;
    osc.frequency.value = 660;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.6);
    osc.onended = () => ctx.close();
  };

  let opening = 0;   // a picker change while the camera is still opening: only the last one counts
  const open = async (constraints = { audio: true, video: true }) => {
    const mine = ++opening;
    stop(true);
    quiet(problem);
    retry.hidden = true;
    join.disabled = true;
    let s;
    try {
      s = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (e) {
      if (mine !== opening) return;
      say(problem, e?.name === 'NotFoundError' ? 'devices.none' : 'devices.denied');
      retry.hidden = false;
      return;
    }
    if (mine !== opening) {   // superseded: this camera goes off again at once
      s.getTracks().forEach((t) => t.stop());
      return;
    }
    stream = s;
    preview.srcObject = stream;
    meter();
    await fillDevicePickers([[camSel, 'videoinput', stream.getVideoTracks()[0]], [micSel, 'audioinput', stream.getAudioTracks()[0]]]);
    join.disabled = false;
  };
  const pick = () => open({ audio: { deviceId: { exact: micSel.value } }, video: { deviceId: { exact: camSel.value } } });
  camSel.addEventListener('change', pick);
  micSel.addEventListener('change', pick);

  const view = h('section', { class: 'card' },
    h('h1', { i18n: 'devices.title' }),
    preview,
    h('div', { class: 'field' }, h('label', { for: 'camera', i18n: 'devices.camera' }), camSel),
    h('div', { class: 'field' }, h('label', { for: 'microphone', i18n: 'devices.mic' }), micSel,
      level, h('p', { class: 'hint', i18n: 'devices.speak' })),
    h('div', { class: 'field' }, h('span', { class: 'label', i18n: 'devices.speaker' }),
      h('div', {}, h('button', { type: 'button', class: 'secondary', id: 'test-sound', i18n: 'devices.test_sound', onclick: tone }))),
    problem,
    h('div', { class: 'actions' }, join, retry, leave));
  open();
  return view;
}
