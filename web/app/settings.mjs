// (To be written.)
import { h } from './dom.mjs';
export function settingsView() { return h('h1', {}, 'settings'); }
