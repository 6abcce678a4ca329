#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) in build/fuzz and runs each for N seconds
# (default 60) from the seed corpus. Each target ends with "fuzz_<target>: no finding" or "FINDING";
# findings are written to build/fuzz/findings/ and fail the run, after the other targets have run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
TARGETS=(msg sframe sframe_ctx hub jwt api)

CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTV_FUZZ=ON -DTV_SANITIZE=ON \
  >build/fuzz.configure.log 2>&1 || { cat build/fuzz.configure.log; exit 1; }
cmake --build build/fuzz --target "${TARGETS[@]/#/fuzz_}" -j"$(nproc)" -- --no-print-directory >build/fuzz.build.log 2>&1 ||
  { cat build/fuzz.build.log; exit 1; }

mkdir -p build/fuzz/findings
failed=0
for t in "${TARGETS[@]}"; do
  # Work on a copy of the seeds, so the corpus in the repository only changes by hand.
  work="build/fuzz/corpus-$t"
  mkdir -p "$work"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  echo "fuzz_$t: ${SECONDS_PER_TARGET} s"
  "build/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
    $( [ -f tests/fuzz/$t.dict ] && echo -dict=tests/fuzz/$t.dict ) -print_final_stats=1 -artifact_prefix="build/fuzz/findings/$t-" "$work" 2>build/fuzz/"$t".log ||
    { tail -n 60 build/fuzz/"$t".log; echo "fuzz_$t: FINDING (see build/fuzz/findings/)"; failed=1; continue; }
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ +DONE' build/fuzz/"$t".log | sed "s/^/fuzz_$t: /"
  echo "fuzz_$t: no finding"
done
exit "$failed"
