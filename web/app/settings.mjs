// The account's settings: password, two-factor authentication and recovery codes, sessions, the IP
// allow-list, the data export, this device's cache and deleting the account. Each part is its own
// card with its own messages, so a refusal in one never hides the others.
import { h, field, notice, say, show } from './dom.mjs';
import { api, apiBlob } from './api.mjs';
import { loadPolicy, newPassword, onSubmit, quiet, sayError, submitRow } from './auth.mjs';
import { saveBlob } from './audit.mjs';
import { ssoLink, ssoUnlink } from './sso.mjs';

const part = (titleKey, ...children) => h('section', { class: 'card' }, h('h2', { i18n: titleKey }), ...children);

const passwordField = (key, autocomplete = 'current-password') =>
  field(key, { type: 'password', autocomplete, required: true });

function passwordCard(ctx, policy) {
  const current = passwordField('settings.pw.current');
  const pw = newPassword(ctx.core, policy);
  const error = notice('error');
  const ok = notice('ok');
  const form = h('form', {}, current.row, ...pw.rows, error, ok, submitRow('settings.pw.submit'));
  onSubmit(form, async () => {
    quiet(error);
    quiet(ok);
    if (!(await pw.validate(error))) return;
    try {
      await api('POST', '/api/password/change', { current: current.input.value, password: pw.value() });
      say(ok, 'settings.pw.changed');
    } catch (e) {
      sayError(error, e, { invalid_credentials: 'settings.pw.wrongCurrent' });
    } finally {
      current.input.value = '';
      pw.clear();
    }
  });
  return part('settings.pw.title', form);
}

function twoFactorCard(ctx, me, policy) {
  if (!me.totp_enabled) {
    const on = h('button', { type: 'button', i18n: 'settings.2fa.turnOn' });
    on.addEventListener('click', () => ctx.go('enroll'));
    return part('settings.2fa.title', h('p', { i18n: 'settings.2fa.isOff' }), h('div', { class: 'actions' }, on));
  }
  const left = me.recovery_codes_left;
  const status = [
    h('p', { class: 'notice ok', i18n: 'settings.2fa.isOn' }),
    h('p', { id: 'recovery-left', i18n: 'settings.2fa.codesLeft', vars: { n: left } }),
    left <= 3 ? h('p', { class: 'hint', i18n: policy.require_2fa ? 'settings.2fa.codesLowRequired' : 'settings.2fa.codesLow' }) : null,
  ];
  if (policy.require_2fa) return part('settings.2fa.title', ...status, h('p', { i18n: 'settings.2fa.required' }));

  // an account without a password proves itself by a recent provider sign-in instead (docs/api.md)
  const password = me.has_password === false ? null : passwordField('settings.2fa.password');
  const code = field('settings.2fa.code', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
    maxlength: 7, required: true, spellcheck: 'false' });
  const error = notice('error');
  const form = h('form', {}, h('h3', { i18n: 'settings.2fa.offTitle' }),
    h('p', { class: 'hint', i18n: password ? 'settings.2fa.offWhy' : 'settings.2fa.offWhySso' }),
    password?.row, code.row, error, submitRow('settings.2fa.turnOff', 'danger'));
  onSubmit(form, async () => {
    quiet(error);
    const value = code.input.value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(value)) {
      if (password) password.input.value = '';
      say(error, 'err.otp_format');
      return;
    }
    try {
      await api('POST', '/api/totp/disable', password ? { password: password.input.value, code: value } : { code: value });
      ctx.go('settings');   // the card comes back in its "off" state
    } catch (e) {
      sayError(error, e, { invalid_credentials: 'settings.2fa.wrong', forbidden: 'settings.2fa.required',
        reauth_required: password ? 'settings.reauth.password' : 'settings.reauth.sso' });
    } finally {
      if (password) password.input.value = '';
      code.input.value = '';
    }
  });
  return part('settings.2fa.title', ...status, form);
}

function sessionsCard(ctx) {
  const all = h('button', { type: 'button', class: 'secondary', i18n: 'settings.sessions.all' });
  all.addEventListener('click', () => ctx.signOut({ everywhere: true }));
  return part('settings.sessions.title', h('p', { i18n: 'settings.sessions.body' }), h('div', { class: 'actions' }, all));
}

function ipCard(ctx, me) {
  const list = field('settings.ip.label', { type: 'text', value: me.ip_allow || '', spellcheck: 'false',
    autocomplete: 'off', maxlength: 500 }, 'settings.ip.hint');
  const error = notice('error');
  const ok = notice('ok');
  const form = h('form', {}, list.row, error, ok, submitRow('settings.ip.save'));
  onSubmit(form, async () => {
    quiet(error);
    quiet(ok);
    // The server takes spaces between items; commas and new lines are what people paste.
    const value = list.input.value.split(/[\s,;]+/).filter(Boolean).join(' ');
    try {
      await api('POST', '/api/settings', { ip_allow: value });
      list.input.value = value;
      await ctx.reloadMe();
      say(ok, value ? 'settings.ip.saved' : 'settings.ip.cleared');
    } catch (e) {
      sayError(error, e, { msg_field_value: 'settings.ip.invalid', msg_field_too_long: 'settings.ip.tooLong' });
    }
  });
  return part('settings.ip.title', h('p', { i18n: 'settings.ip.body' }), form);
}

function dataCard(ctx) {
  const error = notice('error');
  const ok = notice('ok');
  const exportButton = h('button', { type: 'button', class: 'secondary', i18n: 'settings.data.export' });
  exportButton.addEventListener('click', async () => {
    quiet(error);
    quiet(ok);
    try {
      saveBlob(await apiBlob('/api/export'), 'televisit-my-data.json');
      say(ok, 'settings.data.exported');
    } catch (e) {
      sayError(error, e);
    }
  });
  const wipe = h('button', { type: 'button', class: 'secondary', i18n: 'settings.data.wipe' });
  wipe.addEventListener('click', async () => {
    quiet(error);
    quiet(ok);
    if (!ctx.cache) {
      say(ok, 'settings.data.noCache');
      return;
    }
    try {
      await ctx.cache.wipe();
      say(ok, 'settings.data.wiped');
    } catch {
      say(error, 'settings.data.wipeFailed');
    }
  });
  return part('settings.data.title',
    h('p', { i18n: 'settings.data.exportBody' }),
    h('p', { i18n: 'settings.data.wipeBody' }),
    h('div', { class: 'actions' }, exportButton, wipe), error, ok);
}

function deleteCard(ctx) {
  const password = passwordField('settings.delete.password');
  const sure = h('input', { type: 'checkbox', id: 'delete-sure', required: true });
  const error = notice('error');
  const form = h('form', {}, h('p', { i18n: 'settings.delete.body' }), password.row,
    h('div', { class: 'check' }, sure, h('label', { for: sure.id, i18n: 'settings.delete.sure' })),
    error, submitRow('settings.delete.submit', 'danger'));
  onSubmit(form, async () => {
    quiet(error);
    ctx.closingAccount = true;   // the lobby's "signed out" that the deletion causes is this page's to tell
    try {
      await api('POST', '/api/account/delete', { password: password.input.value });
    } catch (e) {
      ctx.closingAccount = false;
      sayError(error, e, { invalid_credentials: 'settings.delete.wrong' });
      return;
    } finally {
      password.input.value = '';
    }
    // The account is gone with its sessions: forget it here too, then say so.
    try { await ctx.cache?.wipe(); } catch { /* the records cannot be opened without the account anyway */ }
    ctx.cache?.close();
    ctx.cache = null;
    await ctx.reloadMe();
    show(ctx.main, h('section', { class: 'card narrow' }, h('h1', { i18n: 'settings.delete.done' }),
      h('p', { i18n: 'settings.delete.doneBody' }), h('p', {}, h('a', { href: '#/register', i18n: 'login.register' }))));
  });
  return part('settings.delete.title', form);
}

// Single sign-on: the providers this account is linked with, each with its Unlink button, and a
// link to each of the others. Both are security changes: the current password first (an account
// without one: a provider sign-in of the last five minutes); other devices are signed out.
function ssoCard(ctx, me, policy) {
  if (!policy.sso?.length) return null;
  const error = notice('error');
  const ok = notice('ok');
  if (ctx.ssoLinked) {
    say(ok, 'sso.linked');
    ctx.ssoLinked = false;
  }
  if (ctx.ssoUnlinked) {
    say(ok, 'settings.sso.unlinked', { name: ctx.ssoUnlinked });
    ctx.ssoUnlinked = null;
  }
  const password = me.has_password === false ? null : passwordField('settings.sso.password');
  const proof = () => (password ? { password: password.input.value } : {});
  const fail = (e) => sayError(error, e, { invalid_credentials: 'settings.sso.wrong', conflict: 'settings.sso.lastMethod',
    reauth_required: password ? 'settings.reauth.password' : 'settings.reauth.sso' });
  const act = (work) => async () => {
    quiet(error);
    quiet(ok);
    try {
      await work();
    } catch (e) {
      fail(e);
    } finally {
      if (password) password.input.value = '';
    }
  };
  const rows = policy.sso.map((p) => (me.sso?.includes(p.id)
    ? h('div', { class: 'actions' }, h('p', { i18n: 'settings.sso.linked', vars: { name: p.name } }), h('button', {
      type: 'button', class: 'secondary', i18n: 'settings.sso.unlink', vars: { name: p.name }, dataset: { provider: p.id },
      onclick: act(async () => {
        await ssoUnlink(p.id, proof());
        ctx.ssoUnlinked = p.name;
        ctx.go('settings');   // the card comes back without the link
      }),
    }))
    : h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'secondary', i18n: 'settings.sso.link', vars: { name: p.name }, dataset: { provider: p.id },
      onclick: act(() => ssoLink(p.id, proof())),
    }))));
  return part('settings.sso.title', h('p', { i18n: 'settings.sso.intro' }), password?.row, ...rows, error, ok);
}

export async function settingsView(ctx) {
  const me = await ctx.reloadMe();   // fresh: the recovery codes left change with every use
  if (!me) {
    ctx.go('login');
    return h('p');
  }
  const policy = await loadPolicy();
  return h('div', {},
    h('h1', { i18n: 'settings.title' }),
    h('p', { class: 'hint', i18n: 'settings.signedInAs', vars: { email: me.email } }),
    me.has_password === false ? null : passwordCard(ctx, policy),
    ssoCard(ctx, me, policy),
    twoFactorCard(ctx, me, policy),
    sessionsCard(ctx),
    ipCard(ctx, me),
    dataCard(ctx),
    deleteCard(ctx));
}
