// What every page does first: the language picker, the common strings, the C core (WebAssembly).
import { addStrings, lang, languages, setLang, translate } from './i18n.mjs';
import { strings } from './strings-common.mjs';
import { loadCore } from '/core.mjs';
import createTelevisitCore from '/televisit-core.mjs';

addStrings(strings);

export function startPage() {
  const asked = new URLSearchParams(location.search).get('lang');   // an embedding EHR's choice
  if (languages.includes(asked)) setLang(asked);
  const picker = document.getElementById('lang');
  picker.value = lang();
  picker.addEventListener('change', () => setLang(picker.value));
  translate(document);
  return document.getElementById('app');
}

let corePromise = null;
export function core() {
  corePromise ??= loadCore(createTelevisitCore);
  return corePromise;
}

// The debug hook for QA (the only global): Playwright reads state through it, never through
// internals. Each page adds what it exposes.
export function debugHook() {
  globalThis.__televisit ??= {};
  return globalThis.__televisit;
}

// Reads #name=…&… once, for single-use keys and one-time results, and when it holds any of the names
// takes it out of the address bar and the history. Each name gets its value when it matches its
// pattern, '' when it is there but does not, null when it is not there.
export function takeFragment(patterns) {
  const p = new URLSearchParams(location.hash.slice(1));
  const names = Object.keys(patterns);
  if (names.some((n) => p.has(n))) history.replaceState(null, '', location.pathname + location.search);
  return Object.fromEntries(names.map((n) => [n, p.has(n) ? (patterns[n].test(p.get(n)) ? p.get(n) : '') : null]));
}
