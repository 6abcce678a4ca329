// (To be written.)
import { h } from './dom.mjs';
export function visitView() { return h('h1', {}, 'visit-view'); }
