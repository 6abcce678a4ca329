// The clinician's visits: create an invite link (copy it, open the visit), and the list with each
// visit's state. The list and the links are kept in the encrypted cache, so the page shows at once
// and a link can be copied again later; the server's answer then replaces the cached list.
import { api } from './api.mjs';
import { h, field, notice, say } from './dom.mjs';
import { lang } from './i18n.mjs';
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

export async function dashboardView(ctx) {
  const links = (await ctx.cache?.get('visits', 'links')) || {};
  const label = field('dash.label', { maxLength: 200, id: 'visit-label', autocomplete: 'off' }, 'dash.label_hint');
  const problem = notice('error');
  const created = h('div', { id: 'new-visit', hidden: true });
  const rows = h('tbody');
  const listNote = notice();

  const saveLinks = () => ctx.cache?.put('visits', 'links', links).catch(() => {});

  const draw = (visits) => {
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

  const load = async () => {
    try {
      const { visits } = await api('GET', '/api/visits');
      draw(visits);
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
  return h('div', {}, h('h1', { i18n: 'dash.title' }), form,
    h('section', { class: 'card' }, h('h2', { i18n: 'dash.list' }), listNote,
      h('table', {}, h('thead', {}, h('tr', {}, h('th', { i18n: 'dash.col_created' }), h('th', { i18n: 'dash.col_label' }),
        h('th', { i18n: 'dash.col_state' }), h('th', { i18n: 'dash.col_actions' }))), rows)));
}
