// One waiting patient, as the visit's waiting room and the dashboard's lobby both show it: the name,
// what the view adds (the visit's reference), since when, and Admit / Deny named for the patient.
import { h } from './dom.mjs';
import { lang } from './i18n.mjs';

export function waitingItem(p, { detail = null, denyDisabled = false, onAdmit, onDeny }) {
  return h('li', { dataset: { participant: p.id, ...(p.visit ? { visit: p.visit } : {}) } },
    h('span', {}, h('strong', {}, p.name), ' ',
      h('span', { class: 'hint' }, detail, detail ? ' · ' : null,
        h('span', { i18n: 'visit.since', vars: { time: new Date(p.since).toLocaleTimeString(lang()) } }))),
    h('span', { class: 'actions' },
      h('button', { type: 'button', class: 'admit', i18n: 'visit.admit', i18nLabel: 'visit.admit_who', vars: { name: p.name },
        onclick: onAdmit }),
      h('button', { type: 'button', class: 'secondary deny', i18n: 'visit.deny', i18nLabel: 'visit.deny_who', vars: { name: p.name },
        disabled: denyDisabled, onclick: onDeny })));
}
