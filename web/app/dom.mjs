// Building the page from JS (no inline markup or script, strict CSP). h('button', {i18n: 'key',
// onclick}, ...children): attributes by name, `i18n*` as the data attributes i18n.mjs translates,
// `on*` as listeners. Text children are text nodes, never HTML.
import { t, translate } from './i18n.mjs';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v, attrs.vars); }
    else if (k === 'i18nLabel') { el.dataset.i18nLabel = v; el.setAttribute('aria-label', t(v, attrs.vars)); }
    else if (k === 'i18nPlaceholder') { el.dataset.i18nPlaceholder = v; el.placeholder = t(v, attrs.vars); }
    else if (k === 'i18nTitle') { el.dataset.i18nTitle = v; el.title = t(v, attrs.vars); }
    else if (k === 'vars') el.dataset.i18nVars = JSON.stringify(v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Sets a translated text with variables on an existing element.
export function say(el, key, vars) {
  el.dataset.i18n = key;
  if (vars) el.dataset.i18nVars = JSON.stringify(vars);
  else delete el.dataset.i18nVars;
  el.textContent = t(key, vars);
}

// Replaces a container's content and moves focus to the new view's heading, for screen readers
// and keyboard users.
export function show(container, ...nodes) {
  container.replaceChildren(...nodes);
  translate(container);
  const heading = container.querySelector('h1, h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}

// A labelled input: <label for> + <input id>, with an optional hint tied by aria-describedby.
let seq = 0;
export function field(labelKey, attrs = {}, hintKey) {
  const id = attrs.id || `f${++seq}`;
  const input = h('input', { ...attrs, id });
  const parts = [h('label', { for: id, i18n: labelKey }), input];
  if (hintKey) {
    const hint = h('p', { id: `${id}-hint`, class: 'hint', i18n: hintKey });
    input.setAttribute('aria-describedby', hint.id);
    parts.push(hint);
  }
  return { row: h('div', { class: 'field' }, ...parts), input };
}

// A live region for status and errors (role=alert for errors so they are read at once).
export function notice(kind = 'status') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'aria-live': 'polite' });
}

// Empties a message region. Its data-i18n must go too, or a language switch would bring it back.
export function quiet(el) {
  delete el.dataset.i18n;
  delete el.dataset.i18nVars;
  el.replaceChildren();
}
