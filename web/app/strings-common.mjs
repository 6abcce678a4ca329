// Strings shared by every page.
export const strings = {
  en: {
    'title.console': 'televisit: clinician',
    'title.visit': 'televisit: your visit',
    'title.activate': 'televisit: activate your account',
    'title.reset': 'televisit: new password',
    'lang.label': 'Language',
    'common.loading': 'Loading…',
    'common.back': 'Back',
    'common.cancel': 'Cancel',
    'common.close': 'Close',
    'common.copy': 'Copy',
    'common.copied': 'Copied',
    'err.network': 'The server cannot be reached. Check your connection and try again.',
    'err.http_error': 'Something went wrong on the server. Please try again.',
    'err.rate_limited': 'Too many attempts. Wait a minute and try again.',
    'err.unauthorized': 'Your session has ended. Please sign in again.',
    'err.forbidden': 'This is not allowed.',
    'err.not_found': 'Not found.',
    'err.invalid_credentials': 'The e-mail address or password is wrong.',
    'err.account_locked': 'Too many failed attempts: sign-in is locked for {minutes} minutes.',
    'err.account_locked_1': 'Too many failed attempts: sign-in is locked for one more minute.',
    'err.token_expired': 'This link has expired.',
    'err.token_mismatch': 'This link is not valid.',
    'err.password_policy': 'The password does not meet the rules.',
    'err.otp_replay': 'This code was already used. Wait for the next one.',
    'err.otp_mismatch': 'This code is wrong.',
    'err.otp_format': 'Enter the 6 digits of the code.',
    'err.totp_required': 'Two-factor authentication is required for this account.',
    'err.storage_failed': 'The server could not save this. Please try again.',
    'err.unsupported': 'This browser cannot hold a secure video visit.',
  },
  fr: {
    'title.console': 'televisit : soignant',
    'title.visit': 'televisit : votre consultation',
    'title.activate': 'televisit : activer votre compte',
    'title.reset': 'televisit : nouveau mot de passe',
    'lang.label': 'Langue',
    'common.loading': 'Chargement…',
    'common.back': 'Retour',
    'common.cancel': 'Annuler',
    'common.close': 'Fermer',
    'common.copy': 'Copier',
    'common.copied': 'Copié',
    'err.network': 'Le serveur est injoignable. Vérifiez votre connexion et réessayez.',
    'err.http_error': 'Une erreur est survenue sur le serveur. Veuillez réessayer.',
    'err.rate_limited': 'Trop de tentatives. Attendez une minute et réessayez.',
    'err.unauthorized': 'Votre session a pris fin. Veuillez vous reconnecter.',
    'err.forbidden': 'Ceci n’est pas autorisé.',
    'err.not_found': 'Introuvable.',
    'err.invalid_credentials': 'L’adresse e-mail ou le mot de passe est incorrect.',
    'err.account_locked': 'Trop d’échecs : la connexion est bloquée pendant {minutes} minutes.',
    'err.account_locked_1': 'Trop d’échecs : la connexion est encore bloquée pendant une minute.',
    'err.token_expired': 'Ce lien a expiré.',
    'err.token_mismatch': 'Ce lien n’est pas valide.',
    'err.password_policy': 'Le mot de passe ne respecte pas les règles.',
    'err.otp_replay': 'Ce code a déjà servi. Attendez le suivant.',
    'err.otp_mismatch': 'Ce code est incorrect.',
    'err.otp_format': 'Saisissez les 6 chiffres du code.',
    'err.totp_required': 'La double authentification est obligatoire pour ce compte.',
    'err.storage_failed': 'Le serveur n’a pas pu l’enregistrer. Veuillez réessayer.',
    'err.unsupported': 'Ce navigateur ne permet pas une consultation vidéo sécurisée.',
  },
};

// The message for an API error (api.mjs ApiError) as a key and its variables.
export function errorKey(e) {
  const code = e?.code || 'http_error';
  if (code === 'account_locked') {
    const s = Number(e.body?.retry_after_s) || 900;
    const minutes = Math.ceil(s / 60);
    return minutes <= 1 ? ['err.account_locked_1', {}] : ['err.account_locked', { minutes }];
  }
  return [strings.en[`err.${code}`] ? `err.${code}` : 'err.http_error', {}];
}
