// Loads the node twin of the browser core module (same C, same exports) through the real glue.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadCore } from '../../js-glue/core.mjs';

const require = createRequire(import.meta.url);
const modulePath = fileURLToPath(new URL('../../build/wasm/televisit-core.node.cjs', import.meta.url));

export function coreFactory() {
  return require(modulePath);
}

export function load() {
  return loadCore(coreFactory());
}
