// Prints the raw and gzip size of every file the browser downloads from a directory (level 9, as a
// server with static compression would send it), then what each page costs before a call: the page,
// its stylesheet, every module it imports (followed through the import graph), the media worker and
// the wasm each emscripten module loads. The patient's total has a target: under 300 KB gzip.
// A dynamic import of one of two modules, written `import(cond ? './a.mjs' : './b.mjs')` (the media
// worker's SIMD and scalar builds), downloads one of them: the larger, with what it loads, is counted.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = process.argv[2];
const TARGET_KB = 300;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`.padStart(10);
const gzCache = new Map();   // each file compressed once, however many pages count it
const gz = (f) => {
  if (!gzCache.has(f)) gzCache.set(f, gzipSync(readFileSync(f), { level: 9 }).length);
  return gzCache.get(f);
};

function walk(d) {
  return readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
}

const files = walk(dir).filter((f) => /\.(m?js|wasm|html|css|svg)$/.test(f)).sort();
let raw = 0;
let zip = 0;
console.log('shipped file                        raw      gzip');
for (const f of files) {
  const r = statSync(f).size;
  const z = gz(f);
  raw += r;
  zip += z;
  console.log(`${relative(dir, f).padEnd(28)}${kb(r)}${kb(z)}`);
}
console.log(`${'total'.padEnd(28)}${kb(raw)}${kb(zip)}`);

const total = (list) => list.reduce((sum, f) => sum + gz(join(dir, f)), 0);
const resolve = (rel, r) => (r.startsWith('/') ? r.slice(1) : posix.normalize(posix.join(dirname(rel), r)));
const choices = [];   // [counted, other] for each pair of alternatives met

// The files one page pulls in, by URL path relative to the web root.
function graph(start, seen = new Set()) {
  const todo = [start];
  while (todo.length) {
    const rel = todo.pop();
    if (seen.has(rel) || !existsSync(join(dir, rel))) continue;
    seen.add(rel);
    const text = readFileSync(join(dir, rel), 'utf8');
    const refs = [];
    if (rel.endsWith('.html')) {
      for (const m of text.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)) refs.push(m[1]);
    } else if (/\.m?js$/.test(rel)) {
      for (const m of text.matchAll(/(?:import|from)\s*['"]([^'"]+)['"]/g)) refs.push(m[1]);
      for (const m of text.matchAll(/['"]([^'"]*-worker\.js)['"]/g)) refs.push(m[1]);
      const wasm = rel.replace(/\.mjs$/, '.wasm');
      if (rel.startsWith('televisit-') && existsSync(join(dir, wasm))) refs.push(`/${wasm}`);
      for (const m of text.matchAll(/import\(\s*[^'"()]*\?\s*['"]([^'"]+)['"]\s*:\s*['"]([^'"]+)['"]\s*\)/g)) {
        const alt = [m[1], m[2]].map((r) => resolve(rel, r))
          .map((f) => ({ f, files: graph(f, new Set(seen)).filter((x) => !seen.has(x)) }))
          .sort((x, y) => total(y.files) - total(x.files));
        choices.push([alt[0].f, alt[1].f]);
        todo.push(...alt[0].files);
      }
    }
    for (const r of refs) {
      if (/^[a-z]+:/.test(r)) continue;
      todo.push(resolve(rel, r));
    }
  }
  return [...seen];
}

console.log('\nwhat a page downloads before the call (gzip)');
for (const [name, page] of [['patient (visit.html)', 'visit.html'], ['clinician (index.html)', 'index.html']]) {
  choices.length = 0;
  const list = graph(page);
  const sum = total(list);
  const verdict = name.startsWith('patient') ? (sum / 1024 < TARGET_KB ? `  under the ${TARGET_KB} KB target` : `  OVER the ${TARGET_KB} KB target`) : '';
  console.log(`${name.padEnd(28)}${kb(sum)}  in ${list.length} files${verdict}`);
  if (process.env.TV_SIZES_LIST) console.log(`  ${list.sort().join(" ")}`);
  for (const [counted, other] of [...new Map(choices.map((c) => [c.join(), c])).values()]) {
    console.log(`${''.padEnd(28)}counted ${counted}, not ${other} (one of the two is loaded)`);
  }
}
