// Turning on two-factor authentication: the current password first (whoever turns it on holds the
// sign-in from then on, so a session alone is not enough; an account without a password proves itself
// by a provider sign-in of the last five minutes), then a new secret from the server as a QR code, as
// text and as an otpauth link; a first code from the app confirms it; then the ten recovery codes,
// shown once (the server keeps only their hashes), with a .txt download.
import { h, field, notice, say, show } from './dom.mjs';
import { api } from './api.mjs';
import { t } from './i18n.mjs';
import { onSubmit, quiet, sayError, submitRow } from './auth.mjs';

const card = (...children) => h('section', { class: 'card narrow' }, ...children);
const toSettings = () => h('p', {}, h('a', { href: '#/settings', i18n: 'enroll.toSettings' }));

export async function enrollView(ctx) {
  const error = notice('error');
  if (ctx.me?.has_password === false) {
    try {
      return setupCard(ctx, await api('POST', '/api/totp/enroll'));
    } catch (e) {
      sayError(error, e, { conflict: 'enroll.alreadyOn', reauth_required: 'enroll.reauthSso' });
      return card(h('h1', { i18n: 'enroll.title' }), error, toSettings());
    }
  }
  const password = field('enroll.password', { type: 'password', autocomplete: 'current-password', required: true },
    'enroll.passwordHint');
  const form = h('form', {}, password.row, error, submitRow('enroll.continue'));
  onSubmit(form, async () => {
    quiet(error);
    try {
      const data = await api('POST', '/api/totp/enroll', { password: password.input.value });
      show(ctx.main, setupCard(ctx, data));
    } catch (e) {
      sayError(error, e, { conflict: 'enroll.alreadyOn', invalid_credentials: 'enroll.wrongPassword' });
      password.input.focus();
    } finally {
      password.input.value = '';
    }
  });
  return card(h('h1', { i18n: 'enroll.title' }), h('p', { i18n: 'enroll.intro' }), form, toSettings());
}

function setupCard(ctx, data) {
  // Groups of four, the way authenticator apps show secrets: easier to type without losing one's place.
  const grouped = data.secret.replace(/(.{4})(?=.)/g, '$1 ');
  const qr = h('img', { class: 'qr', src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data.qr_svg)}`,
    alt: t('enroll.qrAlt'), i18nLabel: 'enroll.qrAlt' });
  const code = field('enroll.code', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
    maxlength: 7, required: true, spellcheck: 'false' }, 'enroll.codeHint');
  const error = notice('error');
  const form = h('form', {}, code.row, error, submitRow('enroll.confirm'));
  onSubmit(form, async () => {
    quiet(error);
    const value = code.input.value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(value)) {
      say(error, 'err.otp_format');
      return;
    }
    try {
      const r = await api('POST', '/api/totp/confirm', { code: value });
      code.input.value = '';
      data = null;
      await ctx.reloadMe();   // 2FA is on now: the router must stop sending this account to enrollment
      show(ctx.main, recoveryCodes(ctx, r.recovery_codes));
    } catch (e) {
      code.input.value = '';
      sayError(error, e, { otp_mismatch: 'enroll.mismatch', conflict: 'enroll.restart' });
      code.input.focus();
    }
  });
  return card(
    h('h1', { i18n: 'enroll.title' }),
    h('p', { i18n: 'enroll.intro' }),
    h('h2', { i18n: 'enroll.step1' }),
    h('p', { i18n: 'enroll.scan' }),
    qr,
    h('p', {}, h('span', { i18n: 'enroll.secretLabel' }), ' ', h('code', { id: 'totp-secret', class: 'mono' }, grouped)),
    h('p', { class: 'hint', i18n: 'enroll.secretHint' }),
    h('p', {}, h('a', { href: data.uri, i18n: 'enroll.openApp' })),
    h('h2', { i18n: 'enroll.step2' }),
    form,
  );
}

function recoveryCodes(ctx, codes) {
  const file = [t('enroll.codes.fileHead'), '', ...codes, ''].join('\r\n');
  const url = URL.createObjectURL(new Blob([file], { type: 'text/plain;charset=utf-8' }));
  const list = h('ol', { class: 'codes', id: 'recovery-codes' }, codes.map((c) => h('li', {}, c)));
  // However the user leaves this view, the codes and their file go with it.
  const forget = () => {
    URL.revokeObjectURL(url);
    list.replaceChildren();
  };
  ctx.leave = forget;
  const done = h('button', { type: 'button', i18n: 'enroll.codes.saved' });
  done.addEventListener('click', () => {
    forget();
    ctx.go('');
  });
  return card(
    h('h1', { i18n: 'enroll.codes.title' }),
    h('p', { class: 'notice ok', i18n: 'enroll.on' }),
    h('p', { i18n: 'enroll.codes.why' }),
    h('p', { i18n: 'enroll.codes.once' }),
    list,
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: url, download: 'televisit-recovery-codes.txt', i18n: 'enroll.codes.download' }),
      done),
  );
}
