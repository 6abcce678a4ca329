// The patient's page, /v/TOKEN: no account, no install. Link check, name and consent, device check,
// then the waiting room and the call, both driven by the core's visit state machine (VisitCall).
import { startPage, core, debugHook } from './page.mjs';
import { api } from './api.mjs';
import { h, show, field, notice, say } from './dom.mjs';
import { lang } from './i18n.mjs';
import { strings } from './strings-call.mjs';   // added by call-ui.mjs; read here for the end reasons
import { deviceCheck, browserSupported } from './devices.mjs';
import { callScreen } from './call-ui.mjs';
import { VisitCall } from '/visit-call.mjs';
import { Cache } from '/cache.mjs';

const main = startPage();   // the call's strings come with call-ui.mjs
let token = '';
try {
  token = decodeURIComponent(location.pathname.split('/')[2] || '');
} catch { /* a malformed %-escape: not a link we made, said as such below */ }
const options = new URLSearchParams(location.search);
const hook = debugHook();

function page(titleKey, textKey, ...extra) {
  show(main, h('section', { class: 'card narrow' }, h('h1', { i18n: titleKey }), h('p', { i18n: textKey }), ...extra));
}

function invalid() {
  page('patient.invalid_title', 'patient.invalid');
}

async function welcome(invite, c) {
  const name = field('patient.name', { autocomplete: 'name', maxLength: 80, required: true, id: 'patient-name' }, 'patient.name_hint');
  const consent = h('input', { type: 'checkbox', id: 'consent', required: true });
  const problem = notice('error');
  const form = h('form', { class: 'card narrow', onsubmit: (e) => {
    e.preventDefault();
    const n = name.input.value.trim();
    if (!n || !consent.checked) {
      say(problem, 'patient.consent_needed');
      return;
    }
    devices(n, c);
  } },
  h('h1', { i18n: 'patient.welcome_title' }), h('p', { i18n: 'patient.welcome' }), name.row,
  h('div', { class: 'check' }, consent, h('label', { for: 'consent', i18n: 'patient.consent',
    vars: { days: invite.chat_retention_days } })),
  problem, h('div', { class: 'actions' }, h('button', { type: 'submit', i18n: 'patient.continue' })));
  show(main, form);
}

function devices(name, c) {
  show(main, deviceCheck({
    onJoin: (stream) => joinVisit(name, stream, c),
    onLeave: () => page('patient.ended_title', 'patient.ended'),
  }));
}

async function joinVisit(name, stream, c) {
  const cache = await Cache.forPatient(c).catch(() => null);
  const call = new VisitCall({ core: c, role: 'patient', invite: token, name, lang: lang(), localStream: stream,
    relayOnly: options.get('relay') === '1', cache });
  hook.call = call;
  main.classList.add('wide');
  show(main, callScreen(call));
  const onChange = () => {
    if (!call.over) return;
    call.removeEventListener('change', onChange);   // the end page, once
    cache?.close();
    main.classList.remove('wide');
    const reason = call.info.reason;
    if (call.state === 'denied') page('patient.denied_title', 'patient.denied');
    else if (call.state === 'expired') invalid();
    else if (call.state === 'failed') {
      page('patient.failed_title', 'patient.failed',
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => location.reload(), i18n: 'patient.retry' })));
    } else if (reason === 'sas_mismatch') page('patient.ended_title', 'patient.sas_ended');
    else page('patient.ended_title', `ended.${reason}` in strings.en ? `ended.${reason}` : 'patient.ended');
  };
  call.addEventListener('change', onChange);
  call.start();
}

async function run() {
  if (!browserSupported()) {
    page('patient.unsupported_title', 'patient.unsupported');
    return;
  }
  let invite;
  try {
    invite = await api('POST', '/api/invite', { token });
  } catch {
    invalid();
    return;
  }
  if (invite.state !== 'open') {
    invalid();
    return;
  }
  const c = await core();
  if (!c.tokenValid(token)) {
    invalid();
    return;
  }
  welcome(invite, c);
}

run();
