#!/usr/bin/env bash
# npm run bench:signaling: a Release televisitd, and enough file descriptors for 10,000 connections on
# each side (the client holds them too). TV_BENCH_CONNS and TV_BENCH_RATE change the load.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh   # the server alone: the bench serves no web page, so no wasm build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >build/release.configure.log 2>&1 ||
  { cat build/release.configure.log; exit 1; }
cmake --build build/release --target televisitd -j"$(nproc)" -- --no-print-directory >/dev/null
ulimit -n "$(ulimit -Hn)"
exec node bench/signaling.mjs
