#!/usr/bin/env bash
# The Release televisitd (no sanitizers) in build/release, for npm start and the benchmarks; quiet
# unless the compiler has something to say.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >build/release.configure.log 2>&1 ||
  { cat build/release.configure.log; exit 1; }
cmake --build build/release --target televisitd -j"$(nproc)" -- --no-print-directory 2>&1 |
  { grep -vE '^\[ *[0-9]+%\]' || true; }
