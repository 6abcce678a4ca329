// (To be written.)
import { h } from './dom.mjs';
export function auditView() { return h('h1', {}, 'audit'); }
