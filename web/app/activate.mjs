// The page the activation mail links to (/activate.html#key=…). The key rides in the fragment, which
// browsers never send to a server or in a Referer; the page hands it to /api/activate and says
// whether the account is active or why the link did not work.
import { startPage } from './page.mjs';
import { addStrings } from './i18n.mjs';
import { h, show } from './dom.mjs';
import { api } from './api.mjs';
import { strings } from './strings-account.mjs';
import { keyFromFragment, linkCard } from './auth.mjs';

addStrings(strings);
const main = startPage();
const key = keyFromFragment();

if (!key) {
  show(main, linkCard('activate.failed', 'activate.noKey', [['/#/login', 'activate.signIn'], ['/#/register', 'activate.register']]));
} else {
  show(main, h('section', { class: 'card narrow' }, h('h1', { i18n: 'activate.working' })));
  try {
    await api('POST', '/api/activate', { key });
    show(main, linkCard('activate.done', 'activate.doneBody', [['/#/login', 'activate.signIn']]));
  } catch (e) {
    const why = { token_expired: 'activate.expired', token_mismatch: 'activate.mismatch' }[e.code];
    show(main, linkCard('activate.failed', why || 'err.http_error', [['/#/login', 'activate.signIn'], ['/#/register', 'activate.register']],
      why ? null : e));
  }
}
