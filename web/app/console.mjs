// The clinician's console: one page, views by location hash. Which view a signed-in clinician may
// see is the server's answer to /api/me (2FA enrollment first when the policy requires it).
import { startPage, core, debugHook } from './page.mjs';
import { api } from './api.mjs';
import { addStrings } from './i18n.mjs';
import { h, show, say } from './dom.mjs';
import { Cache } from '/cache.mjs';
import { Lobby } from '/lobby.mjs';
import { strings } from './strings-console.mjs';
import { loginView, registerView, forgotView, secondFactorView } from './auth.mjs';
import { enrollView } from './enroll.mjs';
import { settingsView } from './settings.mjs';
import { auditView } from './audit.mjs';
import { dashboardView } from './dashboard.mjs';
import { visitView } from './visit-view.mjs';
import { ssoReturn } from './sso.mjs';

addStrings(strings);
const main = startPage();
const PUBLIC = new Set(['login', 'register', 'forgot', 'second']);

const ctx = {
  main,
  me: null,
  core: null,
  cache: null,
  call: null,    // the open visit's VisitCall
  lobby: null,   // patients waiting in any of the clinician's visits, live (js-glue/lobby.mjs)
  admitNext: null,   // {visit, participant}: admit this patient once that visit's view has joined
  closingAccount: false,   // set while the account is being deleted: the settings view tells the end
  viewSignal: null,  // aborted when the next view renders: a view's listeners on long-lived objects end with it
  leave: null,   // set by a view that must clean up (a call) before another is shown
  events: new EventTarget(),   // 'session' when signed in or out, 'call' when a visit opens (the embed bridge listens)
  go(route) {
    if (location.hash === `#/${route}`) render();
    else location.hash = `#/${route}`;
  },
  // background: asked by the page itself, not for something the user did (api.mjs)
  async reloadMe({ background = false } = {}) {
    let me = null;
    try {
      me = await api('GET', '/api/me', undefined, { background });
    } catch { /* signed out */ }
    setMe(me);
    return ctx.me;
  },
  openCall(call) {
    ctx.call = call;
    debugHook().call = call;
    ctx.events.dispatchEvent(new Event('call'));
  },
  // After a completed sign-in: open the cache with the server's share, then the first useful view.
  async signedIn() {
    await ctx.reloadMe();
    await openCache();
    ctx.go(ctx.me?.must_enroll_totp ? 'enroll' : '');
  },
  async signOut({ everywhere = false } = {}) {
    try { await api('POST', everywhere ? '/api/sessions/revoke' : '/api/logout'); } catch { /* gone anyway */ }
    ctx.cache?.close();
    ctx.cache = null;
    setMe(null);
    ctx.go('login');
  },
};

function setMe(me) {
  const changed = !!me !== !!ctx.me;
  ctx.me = me;
  if (me) ctx.closingAccount = false;
  nav();
  syncLobby();
  if (changed) ctx.events.dispatchEvent(new Event('session'));
}

// The lobby runs while a clinician who may use visits is signed in. A session the server no longer
// accepts signs the console out, except during a call, which is not cut short for it: the next API
// call after it finds the session gone. A lobby stopped that way starts again at the next view.
function syncLobby() {
  const want = !!(ctx.me && !ctx.me.must_enroll_totp && ctx.core);
  if (want && !ctx.lobby) {
    const lobby = new Lobby(ctx.core);
    ctx.lobby = lobby;
    debugHook().lobby = lobby;
    lobby.addEventListener('change', waitingBadge);
    lobby.addEventListener('unauthorized', async () => {
      if (ctx.lobby !== lobby) return;
      ctx.lobby = null;
      waitingBadge();
      if ((ctx.call && !ctx.call.over) || ctx.closingAccount) return;
      if (!(await ctx.reloadMe({ background: true }))) ctx.signOut();
    });
    lobby.start();
  } else if (!want && ctx.lobby) {
    ctx.lobby.stop();
    ctx.lobby = null;
  }
  waitingBadge();
}

// How many patients wait, on the Visits link and in the tab's title, from any view.
function waitingBadge() {
  const n = ctx.lobby?.total || 0;
  const link = document.querySelector('nav a[data-route="dashboard"]');
  if (link) {
    link.querySelector('.badge')?.remove();
    if (n) {   // read as "Visits, 2 waiting"
      link.append(h('span', { class: 'badge warn', id: 'waiting-count' }, h('span', { class: 'visually-hidden' }, ', '),
        String(n), h('span', { class: 'visually-hidden', i18n: 'lobby.badge_rest' })));
    }
  }
  const title = document.querySelector('title');
  if (n) say(title, 'title.console_waiting', { n });
  else say(title, 'title.console');
}
document.addEventListener('tv-lang', waitingBadge);

async function openCache() {
  if (ctx.cache || !ctx.me) return;
  try {
    const { share } = await api('GET', '/api/cache_share');
    ctx.cache = await Cache.forClinician(ctx.core, `user-${ctx.me.id}`, share);
    await ctx.cache.put('settings', 'me', ctx.me);   // the account's settings, readable offline only with the share
  } catch {
    ctx.cache = null;   // no IndexedDB (private mode): the console works without its cache
  }
}

function nav() {
  const bar = document.querySelector('header.bar');
  bar.querySelector('nav')?.remove();
  if (!ctx.me) return;
  const link = (route, key) => h('a', { href: `#/${route}`, i18n: key, class: 'button secondary', dataset: { route: route || 'dashboard' } });
  bar.insertBefore(h('nav', { 'aria-label': 'main', class: 'actions' },
    link('', 'nav.dashboard'), link('audit', 'nav.audit'), link('settings', 'nav.settings'),
    h('button', { type: 'button', class: 'secondary', i18n: 'nav.signout', onclick: () => ctx.signOut() })),
  bar.querySelector('label'));
}

let viewController = null;
let rendering = 0;   // a view that finishes after a newer one started is dropped, not shown over it

async function render() {
  const gen = ++rendering;
  viewController?.abort();
  viewController = new AbortController();
  ctx.viewSignal = viewController.signal;
  syncLobby();   // again after one stopped on a refused session
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  const route = name || 'dashboard';
  if (ctx.leave) {
    const leave = ctx.leave;
    ctx.leave = null;
    await leave();
  }
  if (!PUBLIC.has(route) && !ctx.me) {
    ctx.go('login');
    return;
  }
  if (ctx.me && PUBLIC.has(route)) {   // already signed in: a bookmark to the sign-in page
    ctx.go('');
    return;
  }
  if (ctx.me?.must_enroll_totp && route !== 'enroll') {
    ctx.go('enroll');
    return;
  }
  const views = {
    login: loginView, register: registerView, forgot: forgotView, second: secondFactorView,
    enroll: enrollView, settings: settingsView, audit: auditView, dashboard: dashboardView,
    visit: (c) => visitView(c, arg),
  };
  const view = views[route] || dashboardView;
  let node;
  try {
    node = await view(ctx);
    ctx.admitNext = null;   // taken by the visit view, or stale
  } catch {
    node = h('section', { class: 'card narrow' }, h('p', { role: 'alert', i18n: 'err.http_error' }));
  }
  if (gen === rendering) show(main, node);
}

debugHook().console = ctx;
// back from single sign-on: an error to show at sign-in, a visit the EHR opened, a link made
const back = ssoReturn();
ctx.ssoError = back.error;
ctx.ssoLinked = back.linked;
ctx.core = await core();
await ctx.reloadMe();
if (ctx.me) await openCache();
window.addEventListener('hashchange', render);
render();
const embedScope = new URLSearchParams(location.search).get('embed');
if (embedScope) {
  const { startBridge } = await import('./embed-bridge.mjs');
  debugHook().embed = await startBridge(ctx, embedScope);
}
