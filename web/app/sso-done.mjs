// Where a single sign-on popup lands (/sso-done.html#result=… or #error=…): the one-time result
// goes to the frame that opened the popup, on our own origin only, and leaves the address bar.
import { startPage, takeFragment } from './page.mjs';
import { addStrings } from './i18n.mjs';
import { h, say, show } from './dom.mjs';
import { strings } from './strings-account.mjs';
import { errorKey } from './strings-common.mjs';

addStrings(strings);
const main = startPage();
const f = takeFragment({ result: /^[A-Za-z0-9_-]{43}$/, error: /^[a-z0-9_]{1,40}$/ });
const result = f.result || null;
const error = f.error || 'sso_failed';
const opener = window.opener;
if (opener) {
  opener.postMessage(result ? { type: 'televisit-sso', result } : { type: 'televisit-sso', error }, location.origin);
  if (result) window.close();
}
const text = h('p', { i18n: result ? (opener ? 'sso.done.close' : 'sso.done.noOpener') : 'err.sso_failed' });
if (!result) say(text, ...errorKey({ code: error }));   // a code the tables lack reads as a general failure
show(main, h('section', { class: 'card narrow' }, h('h1', { i18n: result ? 'sso.done.title' : 'sso.failed.title' }), text));
