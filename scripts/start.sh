#!/usr/bin/env bash
# npm start: sets up and builds everything, then runs televisitd (a Release build, no sanitizers)
# with embedded defaults: https://localhost:8443, data in ./data, a self-signed certificate made on
# first run. Arguments are passed to televisitd (see televisitd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >build/release.configure.log 2>&1 ||
  { cat build/release.configure.log; exit 1; }
cmake --build build/release --target televisitd -j"$(nproc)" -- --no-print-directory 2>&1 |
  { grep -vE '^\[ *[0-9]+%\]' || true; }
exec build/release/televisitd "$@"
