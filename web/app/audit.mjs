// The account's audit log as the server keeps it (/api/audit: the account's own records and those of
// its visits, patients' events included), newest first, with CSV and JSON downloads. Also the
// download helper settings.mjs uses for the data export.
import { h, notice, say } from './dom.mjs';
import { api, apiBlob } from './api.mjs';
import { t } from './i18n.mjs';
import { quiet, sayError } from './auth.mjs';

const PAGE = 200;   // rows added at a time: a long log must not freeze the page

// Hands a Blob to the browser as a file. The object URL outlives the click a little, since some
// browsers read it after the click handler returns.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// Fetched by the page, never a plain link: the server gives the account's data only to a request that
// proves it comes from this origin (api.mjs), so another site's link cannot save it into the downloads.
async function download(path, name) {
  saveBlob(await apiBlob(path), name);
}

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

function who(requester, myId) {
  if (requester === `user:${myId}`) return h('span', { i18n: 'audit.you' });
  if (requester.startsWith('patient:')) return h('span', { i18n: 'audit.patient' });
  return h('span', { class: 'mono' }, requester);
}

function row(r, myId) {
  const typeKey = `audit.type.${r.type}`;
  const details = [r.message];
  if (r.extra && r.extra !== '{}') details.push(h('br'), h('span', { class: 'mono hint' }, r.extra));
  return h('tr', {},
    h('td', {}, h('time', { datetime: new Date(r.ts_ms).toISOString() }, when.format(r.ts_ms))),
    h('td', {}, t(typeKey) !== typeKey ? h('span', { i18n: typeKey }) : null, h('br'),
      h('span', { class: 'mono hint', dataset: { type: r.type } }, r.type)),
    h('td', {}, ...details),
    h('td', {}, who(r.requester || '', myId)),
    h('td', { class: 'mono' }, r.room || ''),
    h('td', { class: 'mono' }, r.ip || ''));
}

export async function auditView(ctx) {
  const error = notice('error');
  let records = [];
  try {
    ({ records } = await api('GET', '/api/audit'));
  } catch (e) {
    sayError(error, e);
  }
  records.sort((a, b) => b.seq - a.seq);

  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', i18n: 'audit.more' });
  const count = h('p', { class: 'hint' });
  let shown = 0;
  const showMore = () => {
    body.append(...records.slice(shown, shown + PAGE).map((r) => row(r, ctx.me?.id)));
    shown = Math.min(records.length, shown + PAGE);
    more.hidden = shown >= records.length;
    say(count, 'audit.count', { shown, total: records.length });
  };
  more.addEventListener('click', showMore);

  const status = notice('ok');
  const button = (key, path, name) => {
    const b = h('button', { type: 'button', class: 'secondary', i18n: key });
    b.addEventListener('click', async () => {
      quiet(error);
      quiet(status);
      try {
        await download(path, name);
        say(status, 'audit.downloaded');
      } catch (e) {
        sayError(error, e);
      }
    });
    return b;
  };

  const th = (key) => h('th', { scope: 'col', i18n: key });
  const table = h('table', {},
    h('caption', { class: 'visually-hidden', i18n: 'audit.caption' }),
    h('thead', {}, h('tr', {}, th('audit.col.time'), th('audit.col.type'), th('audit.col.message'),
      th('audit.col.who'), th('audit.col.visit'), th('audit.col.ip'))),
    body);
  showMore();
  // Six columns do not fit a phone: the table scrolls sideways inside its own focusable region.
  const scroller = h('div', { tabindex: '0', role: 'region', i18nLabel: 'audit.caption' }, table);
  scroller.style.overflowX = 'auto';
  return h('section', { class: 'card' },
    h('h1', { i18n: 'audit.title' }),
    h('p', { i18n: 'audit.intro' }),
    h('div', { class: 'actions' },
      button('audit.csv', '/api/audit?format=csv', 'televisit-audit.csv'),
      button('audit.json', '/api/audit', 'televisit-audit.json')),
    status, error,
    records.length ? scroller : h('p', { i18n: 'audit.empty' }),
    count, more);
}
