// npm run bench:e2ee: per-frame E2EE cost in headless Chromium, televisit's wasm SFrame against the
// WebCrypto reference, and each suite's throughput natively and in wasm. Everything in one run, on
// this machine, printed as ratios; the figures also go to build/bench/e2ee.json.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { chromium } from '@playwright/test';

const port = Number(process.env.TV_BENCH_PORT || 47811);
const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, NODE_PATH: '/usr/share/nodejs' } });

function parseSuites(text) {
  const out = {};
  for (const line of text.trim().split('\n')) {
    const [suite, size, mbs] = line.split(' ');
    out[`${suite} ${size}`] = Number(mbs);
  }
  return out;
}

// 1. Native (Release, no sanitizers) and wasm (node) throughput of each suite, same C source; in wasm
// over both libsodium builds the media worker may load (scalar, and SIMD ChaCha20).
sh('cmake', ['-S', '.', '-B', 'build/bench', '-DCMAKE_BUILD_TYPE=Release', '-DTV_BENCH=ON']);
sh('cmake', ['--build', 'build/bench', '--target', 'bench_sframe', '-j2']);
sh('cmake', ['--build', 'build/wasm', '--target', 'bench_sframe', 'bench_sframe_simd', '-j2']);
const native = parseSuites(sh('build/bench/bench_sframe', []));
const wasm = parseSuites(sh('node', ['--no-experimental-fetch', 'build/wasm/bench_sframe.cjs']));
const wasmSimd = parseSuites(sh('node', ['--no-experimental-fetch', 'build/wasm/bench_sframe_simd.cjs']));

// 2. Per-frame time in Chromium.
const server = spawn('node', ['e2e/static-server.mjs', String(port)], { stdio: 'ignore' });
let browserResults;
try {
  await new Promise((r) => setTimeout(r, 300));
  const browser = await chromium.launch({
    executablePath: process.env.TV_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/bench/e2ee.html`);
  await page.waitForFunction(() => window.__televisitBench, null, { timeout: 300_000 });
  browserResults = await page.evaluate(() => window.__televisitBench);
  await browser.close();
  if (errors.length) throw new Error(errors.join('\n'));
} finally {
  server.kill();
}

const us = (x) => `${x.toFixed(1)} µs`.padStart(11);
const b = browserResults;
console.log(`\nPer-frame encrypt + decrypt in ${sh('/usr/bin/chromium', ['--version']).trim()}` +
  ` (cross-origin isolated: ${b.isolated}); median over ${b.rounds} rounds`);
console.log(`(a) the media worker's path (e2ee-media.mjs) on the module it loads here: ${b.simd ? 'wasm SIMD' : 'scalar (no wasm SIMD)'}`);
console.log('frame      (a) televisit wasm (ChaCha20-Poly1305)  (b) WebCrypto AES-GCM, await per frame   ratio b/a (median)');
console.log('               median         p99                  median         p99          all rounds: min-max');
for (const r of b.sizes) {
  console.log(`${String(r.size).padStart(6)} B ${us(r.wasm.median)} ${us(r.wasm.p99)}          ${us(r.webcrypto.median)} ${us(r.webcrypto.p99)}        ${r.ratio.toFixed(1)}x  (${r.ratioMin.toFixed(1)}-${r.ratioMax.toFixed(1)}x)`);
}
if (b.sizes[0].fallback) {
  console.log('\nThe same path on the scalar module (browsers without wasm SIMD), same run');
  console.log('frame          median         p99   ratio b/a (median)');
  for (const r of b.sizes) {
    console.log(`${String(r.size).padStart(6)} B ${us(r.fallback.median)} ${us(r.fallback.p99)}   ${(r.webcrypto.median / r.fallback.median).toFixed(1)}x`);
  }
}
console.log('\nThroughput of each suite, encrypt + decrypt, MB/s of frame data (same C, native Release vs wasm in node;');
console.log('"wasm SIMD": the libsodium of the SIMD media module, which changes ChaCha20 only)');
console.log('suite                     frame      native       wasm  wasm SIMD   wasm/native  SIMD/native');
for (const k of Object.keys(native)) {
  const [suite, size] = k.split(' ');
  console.log(`${suite.padEnd(24)} ${size.padStart(6)} B ${native[k].toFixed(0).padStart(9)} ${wasm[k].toFixed(0).padStart(10)} ${wasmSimd[k].toFixed(0).padStart(10)}   ${(wasm[k] / native[k]).toFixed(2).padStart(11)}  ${(wasmSimd[k] / native[k]).toFixed(2).padStart(11)}`);
}
mkdirSync('build/bench', { recursive: true });
writeFileSync('build/bench/e2ee.json', JSON.stringify({ date: new Date().toISOString(), browser: b, native, wasm, wasmSimd }, null, 2));
console.log('\nfigures written to build/bench/e2ee.json');
