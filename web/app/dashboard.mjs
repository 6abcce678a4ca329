// The clinician's visits: who is waiting now in any of them (live, from the console's lobby), create
// an invite link (copy it, open the visit), and the list with each visit's state. The list and the links are kept in the encrypted cache, so the page shows at once
// and a link can be copied again later; the server's answer then replaces the cached list.
import { api } from './api.mjs';
import { h, field, notice, say } from './dom.mjs';
import { lang } from './i18n.mjs';
import { waitingItem } from './waiting-item.mjs';
import { onSubmit, quiet, sayError } from './auth.mjs';

// Where the clipboard is refused, the link is shown selected in `field` (when there is one) to copy by hand.
function copyButton(text, field) {
  const b = h('button', { type: 'button', class: 'secondary', i18n: 'common.copy', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      say(b, 'common.copied');
    } catch {
      field?.select();
    }
  } });
  return b;
}

function when(ms) {
  return ms ? new Date(ms).toLocaleString(lang(), { dateStyle: 'short', timeStyle: 'short' }) : '';
}

// Patients waiting in any visit: Admit opens that visit and lets the patient in once joined; Deny
// sends the patient away from here. Redrawn only when what it shows changes (who, their visit's
// reference, the connection); the keyboard focus goes back to the same button, or to the heading
// when its patient has gone. Its listeners end with the view (signal).
function lobbyCard(ctx, labels, unknownVisit, signal) {
  const lobby = ctx.lobby;
  const list = h('ul', { class: 'waiting', id: 'lobby-list', 'aria-live': 'polite' });
  const empty = h('p', { class: 'hint', i18n: 'lobby.nobody' });
  const more = h('p', { class: 'hint', hidden: true });
  const status = notice();
  const heading = h('h2', { id: 'lobby-title', i18n: 'lobby.title', tabIndex: -1 });
  let drawn = null;
  const draw = () => {
    const shown = [lobby.state, lobby.total, ...lobby.patients.map((p) => `${p.id}\t${labels.get(p.visit) ?? '?'}`)].join('\n');
    if (shown === drawn) return;
    drawn = shown;
    if (lobby.state === 'lost') say(status, 'lobby.lost');
    else if (status.dataset.i18n === 'lobby.lost') quiet(status);
    const patients = lobby.patients;
    empty.hidden = patients.length > 0;
    more.hidden = lobby.total <= patients.length;
    if (!more.hidden) say(more, 'lobby.more', { n: lobby.total - patients.length });
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const focusedOn = focused && [focused.closest('li')?.dataset.participant, focused.className];
    list.replaceChildren(...patients.map((p) => {
      if (!labels.has(p.visit)) unknownVisit(p.visit);   // made on another device since the list was loaded
      const label = labels.get(p.visit);
      return waitingItem(p, {
        detail: label ? h('span', { i18n: 'lobby.for_visit', vars: { label } }) : h('span', { i18n: 'lobby.no_label' }),
        denyDisabled: lobby.state !== 'open',
        onAdmit: () => {
          ctx.admitNext = { visit: p.visit, participant: p.id };
          ctx.go(`visit/${p.visit}`);
        },
        onDeny: () => {
          if (lobby.deny(p.id)) say(status, 'lobby.denied', { name: p.name });
          else say(status, 'lobby.lost');
        },
      });
    }));
    if (focusedOn) {
      const again = [...list.querySelectorAll('li')].find((li) => li.dataset.participant === focusedOn[0])
        ?.querySelector(`button[class="${focusedOn[1]}"]`);
      (again && !again.disabled ? again : heading).focus();
    }
  };
  const card = h('section', { class: 'card', id: 'lobby', 'aria-labelledby': 'lobby-title' }, heading, status, empty, list, more);
  if (!lobby) return { card, redraw: () => {} };
  lobby.addEventListener('change', draw, { signal });
  lobby.addEventListener('refused', (e) => sayError(status, e.detail, { not_found: 'lobby.gone' }), { signal });
  draw();
  return { card, redraw: draw };
}

export async function dashboardView(ctx) {
  const signal = ctx.viewSignal;   // this render's, taken before the first await
  const links = (await ctx.cache?.get('visits', 'links')) || {};
  const label = field('dash.label', { maxLength: 200, id: 'visit-label', autocomplete: 'off' }, 'dash.label_hint');
  const problem = notice('error');
  const created = h('div', { id: 'new-visit', hidden: true });
  const rows = h('tbody');
  const listNote = notice();

  const saveLinks = () => ctx.cache?.put('visits', 'links', links).catch(() => {});

  const labels = new Map();   // visit id -> the clinician's reference ('' for none), for the waiting list
  const asked = new Set();   // visits the list was reloaded for once already
  let listed = false;
  const waiting = lobbyCard(ctx, labels, (id) => {
    if (!listed || asked.has(id)) return;
    asked.add(id);
    load({ background: true });   // a patient's arrival, not the clinician's act
  }, signal);

  const draw = (visits) => {
    labels.clear();
    for (const v of visits) labels.set(v.id, v.label || '');
    waiting.redraw();
    rows.replaceChildren(...visits.map((v) => h('tr', { dataset: { visit: v.id } },
      h('td', {}, when(v.created_ms)),
      h('td', {}, v.label || h('span', { class: 'hint', i18n: 'dash.no_label' })),
      h('td', {}, h('span', { class: `tag ${v.state}`, i18n: `dash.state_${v.state}` })),
      h('td', {}, h('div', { class: 'actions' },
        v.state === 'open' ? h('a', { class: 'button', href: `#/visit/${v.id}`, i18n: 'dash.open' }) : null,
        v.state === 'open' && links[v.id] ? copyButton(links[v.id]) : null,
        v.state === 'open' ? h('button', { type: 'button', class: 'secondary', i18n: 'dash.revoke',
          onclick: () => act('/api/visits/revoke', v.id) }) : null)))));
    if (!visits.length) rows.replaceChildren(h('tr', {}, h('td', { colspan: '4', i18n: 'dash.none' })));
  };

  const load = async ({ background = false } = {}) => {
    try {
      const { visits } = await api('GET', '/api/visits', undefined, { background });
      draw(visits);
      listed = true;   // the server's list: a visit not in it is newer, worth one more load
      ctx.cache?.put('visits', 'list', visits).catch(() => {});
      quiet(listNote);
    } catch (e) {
      if (e.status === 401) return ctx.signOut();
      sayError(listNote, e);
    }
    return undefined;
  };

  const act = async (path, id) => {
    try {
      await api('POST', path, { id });
      delete links[id];
      saveLinks();
    } catch (e) {
      sayError(problem, e);
    }
    load();
  };

  const form = h('form', { class: 'card' }, h('h2', { i18n: 'dash.new' }), label.row, problem,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'create-visit', i18n: 'dash.create' })), created);
  onSubmit(form, async () => {   // once at a time: a double click makes one visit
    quiet(problem);
    try {
      const body = label.input.value.trim() ? { label: label.input.value.trim() } : {};
      const v = await api('POST', '/api/visits', body);
      links[v.id] = v.link;
      saveLinks();
      label.input.value = '';
      const link = h('input', { id: 'visit-link', readOnly: true, value: v.link, class: 'mono', size: 60 });
      created.replaceChildren(
        h('p', { class: 'notice ok', i18n: 'dash.created', vars: { time: when(v.expires_ms) } }),
        h('label', { for: 'visit-link', i18n: 'dash.link' }), h('div', { class: 'actions' }, link, copyButton(v.link, link),
          h('a', { class: 'button', href: `#/visit/${v.id}`, i18n: 'dash.open' })));
      created.hidden = false;
      load();
    } catch (err) {
      if (err.status === 401) return ctx.signOut();
      sayError(problem, err);
    }
    return undefined;
  });

  const cached = await ctx.cache?.get('visits', 'list');
  if (cached) draw(cached);
  load();
  return h('div', {}, h('h1', { i18n: 'dash.title' }), waiting.card, form,
    h('section', { class: 'card' }, h('h2', { i18n: 'dash.list' }), listNote,
      h('table', {}, h('thead', {}, h('tr', {}, h('th', { i18n: 'dash.col_created' }), h('th', { i18n: 'dash.col_label' }),
        h('th', { i18n: 'dash.col_state' }), h('th', { i18n: 'dash.col_actions' }))), rows)));
}
