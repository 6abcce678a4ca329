// The page the password-reset mail links to (/reset.html#key=…): a new password with the rules
// checked live, sent with the key to /api/password/reset, which also lifts a sign-in lock.
import { startPage, core } from './page.mjs';
import { addStrings } from './i18n.mjs';
import { h, notice, show } from './dom.mjs';
import { api } from './api.mjs';
import { strings } from './strings-account.mjs';
import { keyFromFragment, linkCard, loadPolicy, newPassword, onSubmit, quiet, sayError, submitRow } from './auth.mjs';

const retry = [['/#/forgot', 'reset.again'], ['/#/login', 'activate.signIn']];

async function resetForm(root, key) {
  const [c, policy] = await Promise.all([core(), loadPolicy()]);
  const pw = newPassword(c, policy);
  const error = notice('error');
  const form = h('form', {}, ...pw.rows, error, submitRow('reset.submit'));
  onSubmit(form, async () => {
    quiet(error);
    if (!(await pw.validate(error))) return;
    try {
      await api('POST', '/api/password/reset', { key, password: pw.value() });
      pw.clear();
      show(root, linkCard('reset.done', 'reset.doneBody', [['/#/login', 'activate.signIn']]));
    } catch (e) {
      pw.clear();
      const why = { token_expired: 'reset.expired', token_mismatch: 'reset.mismatch' }[e.code];
      if (why) show(root, linkCard('reset.failed', why, retry));
      else sayError(error, e);   // the rules, named, when the server refuses the password
    }
  });
  return h('section', { class: 'card narrow' }, h('h1', { i18n: 'reset.title' }), h('p', { i18n: 'reset.intro' }), form);
}

addStrings(strings);
const root = startPage();
const key = keyFromFragment();
show(root, key ? await resetForm(root, key) : linkCard('reset.failed', 'reset.noKey', retry));
