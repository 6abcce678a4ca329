// Where a single sign-on popup lands (/sso-done.html#result=… or #error=…): the one-time result
// goes to the frame that opened the popup, on our own origin only, and leaves the address bar.
import { startPage } from './page.mjs';
import { addStrings } from './i18n.mjs';
import { h, show } from './dom.mjs';
import { strings } from './strings-account.mjs';

addStrings(strings);
const main = startPage();
const p = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, '', location.pathname);
const result = /^[A-Za-z0-9_-]{43}$/.test(p.get('result') || '') ? p.get('result') : null;
const error = /^[a-z0-9_]{1,40}$/.test(p.get('error') || '') ? p.get('error') : 'sso_failed';
const opener = window.opener;
if (opener) {
  opener.postMessage(result ? { type: 'televisit-sso', result } : { type: 'televisit-sso', error }, location.origin);
  if (result) window.close();
}
show(main, h('section', { class: 'card narrow' },
  h('h1', { i18n: result ? 'sso.done.title' : 'sso.failed.title' }),
  h('p', { i18n: result ? (opener ? 'sso.done.close' : 'sso.done.noOpener') : `err.${error}` })));
