// Runs every test suite on the built tree and ends with one line: "N passed, N failed".
// Counts are test cases: cmocka cases (native and wasm, via ctest), node test-runner tests, and one
// case per fuzz target. A test program that dies before its summary counts as one failure.
import { spawn } from 'node:child_process';

const fuzzSeconds = process.env.TV_FUZZ_SECONDS ?? '30';

const suites = [
  { name: 'setup on a machine that lacks packages', cmd: 'node', args: ['--test', '--test-reporter=spec', 'tests/setup/'], parse: nodeTest },
  { name: 'core, native (ASan+UBSan)', cmd: 'ctest', args: ['--test-dir', 'build/native', '-V', '--timeout', '300'], parse: cmocka },
  { name: 'core, WebAssembly (node)', cmd: 'ctest', args: ['--test-dir', 'build/wasm', '-V', '--timeout', '300'], parse: cmocka },
  { name: 'JS glue and cross-checks', cmd: 'node', args: ['--no-experimental-fetch', '--test', '--test-reporter=spec', 'tests/js/'], parse: nodeTest },
  { name: 'server (televisitd over real HTTPS)', cmd: 'node', args: ['--test', '--test-reporter=spec', 'tests/server/'], parse: nodeTest },
  { name: 'browser (Playwright: Chromium, Firefox ESR)', cmd: 'npx', args: ['playwright', 'test', '-c', 'e2e/playwright.config.mjs'], parse: playwright },
  { name: `fuzzing smoke run (${fuzzSeconds} s per target)`, cmd: 'bash', args: ['scripts/fuzz.sh', fuzzSeconds], parse: fuzz },
];

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
    child.on('error', (e) => resolve({ code: 127, out: `${out}\n${e.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

// ctest -V prefixes each program's output with "<test number>: ". A program ctest reports as failed
// without a cmocka failure summary (a crash, a sanitizer report at exit) counts as one failure.
function cmocka(out, code) {
  let passed = 0;
  let failed = 0;
  const withFailures = new Set();
  let skipped = 0;
  for (const m of out.matchAll(/^(\d+): \[  PASSED  \] (\d+) test/gm)) passed += +m[2];
  for (const m of out.matchAll(/^(\d+): \[  SKIPPED \] (\d+) test/gm)) skipped += +m[2];
  for (const m of out.matchAll(/^(\d+): \[  FAILED  \] (\d+) test\(s\), listed/gm)) {
    failed += +m[2];
    withFailures.add(m[1]);
  }
  for (const m of out.matchAll(/^\s*\d+\/\d+ Test +#(\d+): \S+ \.*\**\s*(\S+)/gm)) {
    if (m[2] !== 'Passed' && !withFailures.has(m[1])) failed += 1;
  }
  if (passed + failed === 0 || (code !== 0 && failed === 0)) failed += 1;
  return { passed, failed, skipped };
}

function nodeTest(out, code) {
  const pass = +(out.match(/^ℹ pass (\d+)/m)?.[1] ?? 0);
  const fail = +(out.match(/^ℹ fail (\d+)/m)?.[1] ?? 0) + +(out.match(/^ℹ cancelled (\d+)/m)?.[1] ?? 0);
  const skipped = +(out.match(/^ℹ skipped (\d+)/m)?.[1] ?? 0) + +(out.match(/^ℹ todo (\d+)/m)?.[1] ?? 0);
  return { passed: pass, failed: fail + (code !== 0 && fail === 0 ? 1 : 0), skipped };
}

function playwright(out, code) {
  const n = (word) => +(out.match(new RegExp(`^\\s+(\\d+) ${word}`, 'm'))?.[1] ?? 0);
  const passed = n('passed');
  const failed = n('failed') + n('flaky') + n('interrupted');
  return { passed, failed: failed + (code !== 0 && failed === 0 ? 1 : 0), skipped: n('skipped') + n('did not run') };
}

// One case per fuzz target: "fuzz_<t>: no finding" passes, "FINDING" fails; a run that broke before
// reporting any target (say, a build error) counts as one failure.
function fuzz(out, code) {
  const passed = (out.match(/^fuzz_\w+: no finding$/gm) || []).length;
  const failed = (out.match(/^fuzz_\w+: FINDING/gm) || []).length;
  return { passed, failed: failed + (code !== 0 && failed === 0 ? 1 : 0) + (passed + failed === 0 && code === 0 ? 1 : 0), skipped: 0 };
}

const started = Date.now();
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const s of suites) {
  console.log(`\n=== ${s.name} ===`);
  const t0 = Date.now();
  const { code, out } = await run(s.cmd, s.args);
  const r = s.parse(out, code);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  const skip = r.skipped ? ` (${r.skipped} skipped)` : '';
  lines.push(`${s.name.padEnd(44)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s${skip}`);
}
console.log('\n=== summary ===');
for (const l of lines) console.log(l);
if (skipped) console.log('skipped: cases whose dependency this build lacks (see the build warnings above)');
const total = Math.round((Date.now() - started) / 1000);
console.log(`the tests took ${Math.floor(total / 60)} min ${total % 60} s (the build before them is not counted)`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed === 0 ? 0 : 1;
