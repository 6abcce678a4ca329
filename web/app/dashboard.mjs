// (To be written.)
import { h } from './dom.mjs';
export function dashboardView() { return h('h1', {}, 'dashboard'); }
