// The patient's download before the call stays under 300 KB gzip (the target), and the
// count follows the real import graph: the wasm modules and the media worker are in it (of the
// media module's two builds, the larger).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

test('the patient page weighs less than 300 KB gzip, wasm and worker included', () => {
  const out = execFileSync('node', ['scripts/sizes.mjs', 'build/web'], { encoding: 'utf8', env: { ...process.env, TV_SIZES_LIST: '1' } });
  const m = /^patient \(visit\.html\)\s+([\d.]+) KiB {2}in (\d+) files.*\n {2}(.*)$/m.exec(out);
  assert.ok(m, out);
  const files = m[3].split(' ');
  for (const f of ['visit.html', 'televisit-core.wasm', 'e2ee-worker.js', 'e2ee-media.mjs', 'style.css', 'app/patient.mjs']) {
    assert.ok(files.includes(f), `${f} missing from the patient's download list`);
  }
  // The worker loads one of the media module's two builds (wasm SIMD or not): the larger is counted.
  const media = ['televisit-media-simd.wasm', 'televisit-media.wasm'].filter((f) => files.includes(f));
  assert.equal(media.length, 1, `one media module expected, got ${media}`);
  assert.match(out, /counted televisit-media(-simd)?\.mjs, not televisit-media(-simd)?\.mjs/);
  assert.ok(Number(m[1]) > 100, 'implausibly small: the wasm was not counted');
  assert.ok(Number(m[1]) < 300, `${m[1]} KiB`);
});
