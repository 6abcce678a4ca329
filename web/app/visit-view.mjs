// The clinician inside one visit: the live waiting room (admit / deny), then the call. The
// clinician's VisitCall joins the visit's signaling room as soon as the view opens.
import { h, show } from './dom.mjs';
import { lang } from './i18n.mjs';
import { callScreen } from './call-ui.mjs';
import { waitingItem } from './waiting-item.mjs';
import { VisitCall } from '/visit-call.mjs';

// No request keeps the session alive from here: the server counts a connected call as activity (the
// signaling hub refreshes the clinician's session while a patient is in the call), and a visit left
// open with nobody in it must time out like the rest of the console.

function waitingRoom(call) {
  const list = h('ul', { class: 'waiting', id: 'waiting-list', 'aria-live': 'polite' });
  const empty = h('p', { class: 'hint', i18n: 'visit.nobody' });
  let drawn = null;
  // redrawn only when a waiting_room message brought a new list: every other change (media, ICE,
  // chat) would take the keyboard focus off the Admit button
  const draw = () => {
    if (call.info.waiting === drawn) return;
    drawn = call.info.waiting;
    const patients = call.info.waiting || [];
    empty.hidden = patients.length > 0;
    list.replaceChildren(...patients.map((p) => waitingItem(p, { onAdmit: () => call.admit(p.id), onDeny: () => call.deny(p.id) })));
  };
  call.addEventListener('change', draw);
  draw();
  return h('section', { class: 'card', 'aria-labelledby': 'wr-title' }, h('h2', { id: 'wr-title', i18n: 'visit.waiting_room' }), empty, list);
}

export function visitView(ctx, id) {
  const call = new VisitCall({ core: ctx.core, role: 'clinician', visit: id, lang: lang(), cache: ctx.cache });
  ctx.openCall(call);
  const room = waitingRoom(call);
  const screen = callScreen(call);
  const view = h('div', {}, h('h1', { i18n: 'visit.title' }), room, screen);
  ctx.main.classList.add('wide');
  ctx.leave = async () => {
    ctx.main.classList.remove('wide');
    if (!call.over) call.hangup();
  };
  const onChange = () => {
    const s = call.state;
    if (!call.over) return;
    call.removeEventListener('change', onChange);   // the end page, once
    const key = s === 'ended' ? (call.info.reason === 'sas_mismatch' ? 'ended.sas_mismatch' : 'visit.ended') : `visit.${s}`;
    show(ctx.main, h('section', { class: 'card narrow' }, h('h1', { i18n: key }),
      h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/', i18n: 'visit.back' }))));
  };
  call.addEventListener('change', onChange);
  // The server closes a visit left open with nobody in the call once its session has ended (timed
  // out, signed out elsewhere): the console signs out, as after a 401, rather than rejoining in vain
  // (docs/protocol.md). A call is not cut short for it.
  const onSignedOut = async () => {
    if (call.info.error !== 'unauthorized' || call.state !== 'waiting') return;
    call.removeEventListener('change', onSignedOut);
    if (!(await ctx.reloadMe({ background: true }))) ctx.signOut();
  };
  call.addEventListener('change', onSignedOut);
  // Admit pressed on the dashboard: the patient is let in from the first waiting list this visit
  // gets, if still there (one who left meanwhile is not replaced by whoever came next).
  const pending = ctx.admitNext?.visit === id ? ctx.admitNext.participant : null;
  ctx.admitNext = null;
  if (pending) {
    const before = call.info.waiting;
    const admitPending = () => {
      if (call.info.waiting === before && !call.over) return;
      call.removeEventListener('change', admitPending);
      if (!call.over && call.info.waiting.some((p) => p.id === pending)) call.admit(pending);
    };
    call.addEventListener('change', admitPending);
  }
  call.start();
  return view;
}
