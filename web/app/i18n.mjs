// Strings in French and English. Each view module adds its own table (addStrings); elements carry
// their key in data-i18n (text), data-i18n-label (aria-label), data-i18n-placeholder or data-i18n-title,
// with variables in data-i18n-vars, so switching language re-translates the page in place.
const LANGS = ['en', 'fr'];
const tables = { en: {}, fr: {} };
let current = initial();

function initial() {
  let saved = null;
  try {
    saved = globalThis.localStorage?.getItem('tv-lang');   // throws where storage is blocked (third-party frames)
  } catch { /* no saved choice */ }
  if (LANGS.includes(saved)) return saved;
  for (const l of globalThis.navigator?.languages || []) {
    const base = String(l).slice(0, 2).toLowerCase();
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

export const languages = LANGS;

export function addStrings(table) {
  for (const l of LANGS) Object.assign(tables[l], table[l]);
}

export function lang() {
  return current;
}

// Missing in French falls back to English; a missing key shows itself, which the i18n test catches.
export function t(key, vars = {}) {
  const s = tables[current][key] ?? tables.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

export function setLang(l) {
  if (!LANGS.includes(l)) return;
  current = l;
  try { localStorage.setItem('tv-lang', l); } catch { /* storage off: the choice lasts this page */ }
  translate(document);
  document.dispatchEvent(new CustomEvent('tv-lang', { detail: l }));
}

export function translate(root) {
  document.documentElement.lang = current;
  const vars = (el) => (el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : {});
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n, vars(el));
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel, vars(el)));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder, vars(el));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle, vars(el));
  const title = document.querySelector('title[data-i18n]');
  if (title) document.title = title.textContent;
}

