// Getting in: the sign-in, second-factor, registration and forgotten-password views of the console,
// plus what the other account views and the activation/reset pages share: the new-password input
// whose rules the C core checks live with the server's policy, and API refusals in plain words.
import { h, field, notice, quiet, say, show } from './dom.mjs';
import { api } from './api.mjs';
import { errorKey } from './strings-common.mjs';
import { ssoButtons } from './sso.mjs';
import { takeFragment } from './page.mjs';

let policyPromise = null;

// The server's password policy (/api/policy), asked once per page. Without an answer the rules
// shown fall back to the server's usual ones; the server still has the last word on submit.
export function loadPolicy() {
  policyPromise ??= api('GET', '/api/policy').catch(() => {
    policyPromise = null;
    return { min_length: 10, min_score: 0, require_2fa: false };
  });
  return policyPromise;
}

export { quiet };

// "Password refused: it needs at least 10 characters, a capital letter." built from the rule
// keys, so each part re-translates on a language switch.
export function sayRules(el, failed, minLength) {
  quiet(el);
  const parts = [h('span', { i18n: 'pw.refused' })];
  failed.forEach((rule, i) => {
    parts.push(i ? ', ' : ' ', h('span', { i18n: `rules.${rule}`, vars: { n: minLength } }));
  });
  el.replaceChildren(...parts, '.');
}

// An API refusal in plain words. `own` maps error codes to this view's keys, where the common
// wording would mislead (a wrong recovery code is not a wrong e-mail address).
export function sayError(el, e, own = {}) {
  if (e?.code === 'password_policy' && Array.isArray(e.body?.failed)) {
    sayRules(el, e.body.failed, e.body.min_length ?? 10);
    return;
  }
  quiet(el);
  if (own[e?.code]) {
    say(el, own[e.code]);
    return;
  }
  const [key, vars] = errorKey(e);
  say(el, key, vars);
}

// Runs a form's action on submit (Enter or the button), once at a time. Buttons stay enabled
// so keyboard focus is never lost; a second submit while busy is ignored.
export function onSubmit(form, action) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (form.getAttribute('aria-busy') === 'true') return;
    form.setAttribute('aria-busy', 'true');
    try {
      await action();
    } finally {
      form.removeAttribute('aria-busy');
    }
  });
}

export const submitRow = (key, cls) => h('div', { class: 'actions' }, h('button', { type: 'submit', class: cls, i18n: key }));

// A new password and its confirmation, with the rules ticked as the user types. The C core judges
// them with the server's minimum length. Strength (zxcvbn) is judged by the core when its build has
// zxcvbn; otherwise the server judges it as the user pauses (POST /api/password/check, over TLS to
// the server that receives the password on submit anyway; nothing is stored or logged).
export function newPassword(core, policy, { label = 'pw.new' } = {}) {
  const minLength = policy.min_length;
  const liveStrength = core.strengthAvailable && policy.min_score > 0;
  const serverStrength = !core.strengthAvailable && policy.min_score > 0;
  let server = { value: null, failed: [], score: null };   // the server's last answer, for that value
  const pw = field(label, { type: 'password', autocomplete: 'new-password', required: true });
  const rules = ['length', 'upper', 'lower', 'digit', ...(liveStrength || serverStrength ? ['strength'] : [])];
  const items = new Map(rules.map((rule) => [rule, h('li', { dataset: { rule } },
    h('span', { class: 'visually-hidden', i18n: 'pw.unmet' }),
    h('span', { i18n: `rules.${rule}`, vars: { n: minLength } }))]));
  const head = h('p', { class: 'hint', id: `${pw.input.id}-needs`, i18n: 'pw.needs' });
  const list = h('ul', { class: 'rules', id: `${pw.input.id}-rules` }, ...items.values());
  pw.input.setAttribute('aria-describedby', `${head.id} ${list.id}`);
  const meter = h('meter', { id: `${pw.input.id}-meter`, min: 0, max: 4, low: 2, high: 3, optimum: 4, value: 0 });
  const meterWord = h('span', { i18n: 'pw.strength.0' });
  const meterRow = h('div', { class: 'field', hidden: true },
    h('label', { for: meter.id, i18n: 'pw.strength' }), meter, meterWord);
  const confirm = field('pw.confirm', { type: 'password', autocomplete: 'new-password', required: true });

  const check = () => {
    try {
      return core.passwordCheck(pw.input.value, { minLength, minScore: liveStrength ? policy.min_score : 0 });
    } catch {
      return { ok: false, failed: ['format'], score: null };   // too long for the core
    }
  };
  const update = () => {
    const r = check();
    if (serverStrength) {
      // until the server has judged this very value, strength counts as unmet
      const judged = server.value === pw.input.value;
      if (!judged || server.failed.includes('strength')) r.failed.push('strength');
      r.score = judged ? server.score : null;
      r.ok = r.failed.length === 0;
    }
    for (const [rule, li] of items) {
      const met = !r.failed.includes(rule);
      li.classList.toggle('met', met);
      say(li.firstChild, met ? 'pw.met' : 'pw.unmet');
    }
    meterRow.hidden = r.score === null || pw.input.value === '';
    if (r.score !== null) {
      meter.value = r.score;
      say(meterWord, `pw.strength.${r.score}`);
    }
    return r;
  };
  pw.input.addEventListener('input', update);
  let timer = null;
  const judge = async (value) => {
    try {
      const a = await api('POST', '/api/password/check', { password: value });
      if (pw.input.value === value) server = { value, failed: a.failed ?? [], score: a.score ?? null };
    } catch {
      server = { value, failed: [], score: null };   // unreachable: the server judges on submit
    }
    update();
  };
  if (serverStrength) {
    pw.input.addEventListener('input', () => {
      clearTimeout(timer);
      if (pw.input.value) timer = setTimeout(() => judge(pw.input.value), 300);
    });
  }
  update();

  return {
    input: pw.input,
    rows: [pw.row, head, list, meterRow, confirm.row],
    value: () => pw.input.value,
    // Refuses before anything is sent, naming what is missing; true when the password may go.
    // Submitted before the server judged the strength (a fast typist): asked now.
    async validate(errorEl) {
      clearTimeout(timer);
      if (serverStrength && pw.input.value && server.value !== pw.input.value) await judge(pw.input.value);
      const r = update();
      if (!r.ok) {
        sayRules(errorEl, r.failed, minLength);
        return false;
      }
      if (pw.input.value !== confirm.input.value) {
        quiet(errorEl);
        say(errorEl, 'pw.mismatch');
        return false;
      }
      return true;
    },
    clear() {
      pw.input.value = '';
      confirm.input.value = '';
      update();
    },
  };
}

// The mailed single-use key (#key=…), taken out of the address bar at once; the page keeps it in
// memory for as long as it needs it.
export function keyFromFragment() {
  return takeFragment({ key: /^[A-Za-z0-9_-]{20,64}$/ }).key || '';
}

// A result: a heading, a sentence (or an API error in words) and links onward.
export function linkCard(titleKey, bodyKey, links, error) {
  const body = h('p', { i18n: bodyKey });
  if (error) sayError(body, error);
  return h('section', { class: 'card narrow' }, h('h1', { i18n: titleKey }), body,
    h('p', { class: 'actions' }, ...links.map(([href, key], i) => h('a', { href, class: i ? 'button secondary' : 'button', i18n: key }))));
}

const card = (...children) => h('section', { class: 'card narrow' }, ...children);
const link = (href, key) => h('a', { href, i18n: key });

export async function loginView(ctx) {
  const policy = await loadPolicy();
  const email = field('login.email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
  const password = field('login.password', { type: 'password', autocomplete: 'current-password', required: true });
  const error = notice('error');
  // A lock is lifted by a password reset too: say so where the lock is announced.
  const lockHint = h('p', { class: 'hint', hidden: true },
    h('span', { i18n: 'login.lockedHint' }), ' ', link('#/forgot', 'login.forgot'));
  const form = h('form', {}, email.row, password.row, error, lockHint, submitRow('login.submit'));
  onSubmit(form, async () => {
    quiet(error);
    lockHint.hidden = true;
    try {
      const r = await api('POST', '/api/login', { email: email.input.value.trim(), password: password.input.value });
      password.input.value = '';
      if (r.next === 'totp') ctx.go('second');
      else await ctx.signedIn();
    } catch (e) {
      password.input.value = '';
      sayError(error, e, { forbidden: 'login.forbidden' });
      lockHint.hidden = e.code !== 'account_locked';
      password.input.focus();
    }
  });
  // single sign-on: a refusal the server sent the browser back with is shown here
  if (ctx.ssoError) {
    sayError(error, { code: ctx.ssoError });
    ctx.ssoError = null;
  }
  // an account with TOTP on gives its code after the provider, as after a password
  const sso = ssoButtons(policy.sso, (e, r) => {
    if (e) sayError(error, e);
    else if (r?.next === 'totp') ctx.go('second');
    else ctx.signedIn();
  });
  return card(h('h1', { i18n: 'login.title' }), form, sso,
    h('p', {}, link('#/forgot', 'login.forgot')),
    h('p', {}, h('span', { i18n: 'login.noAccount' }), ' ', link('#/register', 'login.register')));
}

export function secondFactorView(ctx) {
  let recovery = false;
  const code = field('second.code', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
    maxlength: 7, required: true, spellcheck: 'false' }, 'second.codeHint');
  const rec = field('second.recovery', { type: 'text', autocomplete: 'off', maxlength: 32, spellcheck: 'false' },
    'second.recoveryHint');
  rec.row.hidden = true;
  const error = notice('error');
  const restart = h('p', { hidden: true }, link('#/login', 'second.restart'));
  const intro = h('p', { i18n: 'second.intro' });
  const toggle = h('button', { type: 'button', class: 'secondary', i18n: 'second.useRecovery' });
  toggle.addEventListener('click', () => {
    recovery = !recovery;
    say(intro, recovery ? 'second.introRecovery' : 'second.intro');
    code.row.hidden = recovery;
    rec.row.hidden = !recovery;
    code.input.required = !recovery;
    rec.input.required = recovery;
    say(toggle, recovery ? 'second.useCode' : 'second.useRecovery');
    quiet(error);
    (recovery ? rec : code).input.focus();
  });
  const form = h('form', {}, code.row, rec.row, error, restart,
    h('div', { class: 'actions' }, h('button', { type: 'submit', i18n: 'second.submit' }), toggle));
  onSubmit(form, async () => {
    quiet(error);
    const body = recovery ? { recovery_code: rec.input.value.trim() } : { code: code.input.value.replace(/\s/g, '') };
    if (!recovery && !/^\d{6}$/.test(body.code)) {
      say(error, 'err.otp_format');
      return;
    }
    try {
      await api('POST', '/api/login/second', body);
      code.input.value = '';
      rec.input.value = '';
      await ctx.signedIn();
    } catch (e) {
      code.input.value = '';
      rec.input.value = '';
      sayError(error, e, {
        otp_replay: 'second.replay',
        otp_mismatch: 'second.codeWrong',
        invalid_credentials: recovery ? 'second.recoveryWrong' : 'second.codeWrong',
        unauthorized: 'second.expired',
      });
      restart.hidden = e.code !== 'unauthorized' && e.code !== 'account_locked';
      (recovery ? rec : code).input.focus();
    }
  });
  return card(h('h1', { i18n: 'second.title' }), intro, form,
    h('p', {}, link('#/login', 'second.back')));
}

export async function registerView(ctx) {
  const policy = await loadPolicy();
  const email = field('register.email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
  const pw = newPassword(ctx.core, policy);
  const error = notice('error');
  const form = h('form', {}, email.row, ...pw.rows, error, submitRow('register.submit'));
  onSubmit(form, async () => {
    quiet(error);
    if (!(await pw.validate(error))) return;
    const address = email.input.value.trim();
    try {
      await api('POST', '/api/register', { email: address, password: pw.value() });
      pw.clear();
      show(ctx.main, card(h('h1', { i18n: 'register.sent.title' }),
        h('p', { i18n: 'register.sent.body', vars: { email: address } }),
        h('p', { class: 'hint', i18n: 'register.sent.spam' }),
        h('p', {}, link('#/login', 'register.toLogin'))));
    } catch (e) {
      pw.clear();
      sayError(error, e, { invalid_argument: 'register.badEmail' });
    }
  });
  return card(h('h1', { i18n: 'register.title' }), h('p', { i18n: 'register.intro' }), form,
    h('p', {}, h('span', { i18n: 'register.haveAccount' }), ' ', link('#/login', 'register.toLogin')));
}

export function forgotView(ctx) {
  const email = field('forgot.email', { type: 'email', autocomplete: 'username', required: true, spellcheck: 'false' });
  const error = notice('error');
  const form = h('form', {}, email.row, error, submitRow('forgot.submit'));
  onSubmit(form, async () => {
    quiet(error);
    const address = email.input.value.trim();
    try {
      await api('POST', '/api/password/forgot', { email: address });
      show(ctx.main, card(h('h1', { i18n: 'forgot.sent.title' }),
        h('p', { i18n: 'forgot.sent.body', vars: { email: address } }),
        h('p', {}, link('#/login', 'register.toLogin'))));
    } catch (e) {
      sayError(error, e);
    }
  });
  return card(h('h1', { i18n: 'forgot.title' }), h('p', { i18n: 'forgot.intro' }), form,
    h('p', {}, link('#/login', 'register.toLogin')), h('p', {}, link('#/register', 'login.register')));
}
