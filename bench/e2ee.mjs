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

// 1. Native (Release, no sanitizers) and wasm (node) throughput of each suite, same C source.
sh('cmake', ['-S', '.', '-B', 'build/bench', '-DCMAKE_BUILD_TYPE=Release', '-DTV_BENCH=ON']);
sh('cmake', ['--build', 'build/bench', '--target', 'bench_sframe', '-j2']);
sh('cmake', ['--build', 'build/wasm', '--target', 'bench_sframe', '-j2']);
const native = parseSuites(sh('build/bench/bench_sframe', []));
const wasm = parseSuites(sh('node', ['--no-experimental-fetch', 'build/wasm/bench_sframe.cjs']));

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
console.log(`\nPer-frame encrypt + decrypt in ${sh('/usr/bin/chromium', ['--version']).trim()}` +
  ` (cross-origin isolated: ${browserResults.isolated}); median over ${browserResults.rounds} rounds`);
console.log('frame      televisit wasm (ChaCha20-Poly1305)   WebCrypto AES-GCM, await per frame   ratio b/a (median)');
console.log('               median         p99                  median         p99          all rounds: min-max');
for (const r of browserResults.sizes) {
  console.log(`${String(r.size).padStart(6)} B ${us(r.wasm.median)} ${us(r.wasm.p99)}          ${us(r.webcrypto.median)} ${us(r.webcrypto.p99)}        ${r.ratio.toFixed(1)}x  (${r.ratioMin.toFixed(1)}-${r.ratioMax.toFixed(1)}x)`);
}
console.log('\nThroughput of each suite, encrypt + decrypt, MB/s of frame data (same C, native Release vs wasm in node)');
console.log('suite                     frame      native       wasm   wasm/native');
for (const k of Object.keys(native)) {
  const [suite, size] = k.split(' ');
  console.log(`${suite.padEnd(24)} ${size.padStart(6)} B ${native[k].toFixed(0).padStart(9)} ${wasm[k].toFixed(0).padStart(10)}   ${(wasm[k] / native[k]).toFixed(2).padStart(8)}`);
}
mkdirSync('build/bench', { recursive: true });
writeFileSync('build/bench/e2ee.json', JSON.stringify({ date: new Date().toISOString(), browser: browserResults, native, wasm }, null, 2));
console.log('\nfigures written to build/bench/e2ee.json');
