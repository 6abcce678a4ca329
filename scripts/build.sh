#!/usr/bin/env bash
# Builds both targets: native (gcc, ASan+UBSan, for the tests and the server) in build/native and
# WebAssembly (emscripten) in build/wasm, then collects the browser modules in build/web and prints
# the gzip size of each shipped file.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH=/usr/share/nodejs   # emcc needs Debian's acorn from there
JOBS="$(nproc)"

deps="$(bash scripts/wasm-deps.sh)"
mkdir -p build

# Compiler output without the progress lines. The build's own status decides: a filter that drops
# lines must not hide a failure, so grep runs in a group that always succeeds.
quiet_build() {
  cmake --build "$1" -j"$JOBS" -- --no-print-directory 2>&1 | { grep -vE '^\[ *[0-9]+%\]' || true; }
}

cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Debug -DTV_SANITIZE=ON >build/native.configure.log 2>&1 ||
  { cat build/native.configure.log; exit 1; }
quiet_build build/native

# MinSizeRel: the page module is downloaded by patients on slow links. (Debian's libsodium and
# mbedTLS sources are built at -O2 by wasm-deps.sh: their speed matters more than their size.)
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=MinSizeRel -DTV_WASM_DEPS="$deps" \
  >build/wasm.configure.log 2>&1 || { cat build/wasm.configure.log; exit 1; }
grep -A2 'CMake Warning' build/wasm.configure.log | grep -v '^--$' | sed 's/^/build: /' >&2 || true
quiet_build build/wasm

# What the browser is served: the page's core module, the media worker's module (with and without
# wasm SIMD; the worker loads one), their wasm, the glue, and the pages (web/).
rm -rf build/web && mkdir -p build/web
cp build/wasm/televisit-core.mjs build/wasm/televisit-core.wasm build/wasm/televisit-media.mjs \
  build/wasm/televisit-media.wasm build/wasm/televisit-media-simd.mjs build/wasm/televisit-media-simd.wasm \
  js-glue/*.mjs js-glue/*.js build/web/
cp -r web/. build/web/
node scripts/pages.mjs shell.html build/web
node scripts/sizes.mjs build/web
