// The page the activation mail links to (/activate.html#key=…). The key rides in the fragment, which
// browsers never send to a server or in a Referer. The page asks for the password chosen at
// registration and sends both to /api/activate: the account takes the password of the registration
// that made this very key, and only from someone who knows it (docs/api.md, "Registration").
import { startPage } from './page.mjs';
import { addStrings } from './i18n.mjs';
import { h, field, notice, show } from './dom.mjs';
import { api } from './api.mjs';
import { strings } from './strings-account.mjs';
import { keyFromFragment, linkCard, onSubmit, quiet, sayError, submitRow } from './auth.mjs';

const retry = [['/#/login', 'activate.signIn'], ['/#/register', 'activate.register']];

function activateForm(root, key) {
  const pw = field('activate.password', { type: 'password', autocomplete: 'current-password', required: true });
  const error = notice('error');
  const form = h('form', {}, pw.row, error, submitRow('activate.submit'));
  onSubmit(form, async () => {
    quiet(error);
    try {
      await api('POST', '/api/activate', { key, password: pw.input.value });
      pw.input.value = '';
      show(root, linkCard('activate.done', 'activate.doneBody', [['/#/login', 'activate.signIn']]));
    } catch (e) {
      const why = { token_expired: 'activate.expired', token_mismatch: 'activate.mismatch' }[e.code];
      if (why) {
        pw.input.value = '';
        show(root, linkCard('activate.failed', why, retry));
      } else {
        sayError(error, e, { invalid_credentials: 'activate.wrongPassword' });
        pw.input.focus();
      }
    }
  });
  return h('section', { class: 'card narrow' }, h('h1', { i18n: 'activate.title' }), h('p', { i18n: 'activate.intro' }), form);
}

addStrings(strings);
const main = startPage();
const key = keyFromFragment();
show(main, key ? activateForm(main, key) : linkCard('activate.failed', 'activate.noKey', retry));
