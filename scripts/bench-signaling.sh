#!/usr/bin/env bash
# npm run bench:signaling: a Release televisitd, and enough file descriptors for 10,000 connections on
# each side (the client holds them too). TV_BENCH_CONNS and TV_BENCH_RATE change the load.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh   # the server alone: the bench serves no web page, so no wasm build
bash scripts/release.sh
ulimit -n "$(ulimit -Hn)"
TV_BIN=build/release/televisitd exec node bench/signaling.mjs
