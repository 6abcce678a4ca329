// Sign-in, registration, the second factor, forgotten password. (To be written.)
import { h } from './dom.mjs';
export function loginView() { return h('h1', {}, 'Sign in'); }
export function registerView() { return h('h1', {}, 'Register'); }
export function forgotView() { return h('h1', {}, 'Forgot'); }
export function secondFactorView() { return h('h1', {}, 'Second factor'); }
