// Single sign-on from the console. At the top level the browser goes to the provider and comes
// back signed in. Inside an EHR's frame the provider's page (which refuses to be framed) opens in a
// popup; the popup comes back to /sso-done.html, which hands a one-time result to this frame only,
// and the frame claims its session with that result and the handle only it holds, so the session
// cookie lands in the frame's own partition.
import { h } from './dom.mjs';
import { api, ApiError } from './api.mjs';
import { takeFragment } from './page.mjs';

const framed = () => { try { return window.top !== window.self; } catch { return true; } };

// What the server sent the browser back with (#sso_error=…, #visit=…, #sso_linked), read once; the
// address bar is left on the console's route for it: the EHR's visit, or Settings after a link.
export function ssoReturn() {
  const f = takeFragment({ sso_error: /^[a-z0-9_]{1,40}$/, visit: /^[A-Za-z0-9_-]{1,64}$/, sso_linked: /^$/ });
  const route = f.visit ? `#/visit/${f.visit}` : f.sso_linked !== null ? '#/settings' : null;
  if (route) history.replaceState(null, '', location.pathname + location.search + route);
  return { error: f.sso_error === '' ? 'sso_failed' : f.sso_error, linked: f.sso_linked !== null };
}

// The popup's answer: {result} or {error}, from our own origin and from the window we opened.
function popupAnswer(popup) {
  return new Promise((resolve) => {
    const onMessage = (ev) => {
      if (ev.origin !== location.origin || ev.source !== popup || ev.data?.type !== 'televisit-sso') return;
      done(ev.data);
    };
    const timer = setInterval(() => { if (popup.closed) done({ error: 'sso_cancelled' }); }, 500);
    const done = (v) => { clearInterval(timer); window.removeEventListener('message', onMessage); resolve(v); };
    window.addEventListener('message', onMessage);
  });
}

// Signs in with a provider; resolves when signed in (popup) or never (the page navigates away).
// Throws an ApiError with the reason otherwise.
export async function ssoSignIn(provider) {
  if (!framed()) {
    const { url } = await api('POST', '/api/sso/start', { provider, mode: 'redirect' });
    location.assign(url);
    return new Promise(() => {});
  }
  // opened in the click itself, or the browser blocks it; it is pointed at the provider once the
  // server has made the request
  const popup = window.open('about:blank', 'televisit-sso', 'popup,width=520,height=700');
  if (!popup) throw new ApiError(400, { error: 'sso_popup_blocked' });
  let start;
  try {
    start = await api('POST', '/api/sso/start', { provider, mode: 'popup' });
  } catch (e) {
    popup.close();
    throw e;
  }
  popup.location.href = start.url;
  const answer = await popupAnswer(popup);
  if (!answer.result) throw new ApiError(400, { error: answer.error || 'sso_failed' });
  return api('POST', '/api/sso/finish', { handle: start.handle, result: answer.result });
}

// The console's sign-in buttons, one per provider of the server's policy.
export function ssoButtons(providers, onError) {
  if (!providers?.length) return null;
  return h('div', { class: 'sso' },
    h('p', { class: 'hint', i18n: 'sso.or' }),
    ...providers.map((p) => h('button', {
      type: 'button', class: 'secondary', i18n: 'sso.signInWith', vars: { name: p.name }, dataset: { provider: p.id },
      onclick: (ev) => ssoSignIn(p.id).then((r) => onError(null, r), (e) => onError(e)).finally(() => ev.target.focus()),
    })));
}

// Settings: link this account with a provider (the browser goes there and comes back). proof: the
// re-authentication a link needs ({password}; {} for an account without one, whose recent provider
// sign-in is the proof).
export async function ssoLink(provider, proof = {}) {
  const { url } = await api('POST', '/api/sso/start', { provider, mode: 'link', ...proof });
  location.assign(url);
}

// Settings: remove the account's link with a provider, with the same proof.
export function ssoUnlink(provider, proof = {}) {
  return api('POST', '/api/sso/unlink', { provider, ...proof });
}
