// (To be written.)
import { h } from './dom.mjs';
export function enrollView() { return h('h1', {}, 'enroll'); }
