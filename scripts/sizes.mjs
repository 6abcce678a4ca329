// Prints the raw and gzip size of every file the browser downloads from a directory (level 9, as a
// server with static compression would send it), and the total.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => /\.(m?js|wasm|html|css|svg)$/.test(f)).sort();
let raw = 0;
let gz = 0;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(10);
console.log('shipped file                        raw      gzip');
for (const f of files) {
  const data = readFileSync(join(dir, f));
  const z = gzipSync(data, { level: 9 }).length;
  raw += data.length;
  gz += z;
  console.log(`${f.padEnd(28)}${kb(data.length)}${kb(z)}`);
}
console.log(`${'total'.padEnd(28)}${kb(raw)}${kb(gz)}`);
