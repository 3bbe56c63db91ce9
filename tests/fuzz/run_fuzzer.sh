#!/usr/bin/env bash
# Builds the frontend fuzzer with clang-19 in BUILD_DIR (only that target) and runs it for SECONDS,
# seeded with examples/*.nn and tests/malformed/*.nn. Exits non-zero when the fuzzer finds a crash,
# a leak, undefined behaviour or a timeout; the input that did it is left in BUILD_DIR/fuzz-artifacts.
# Usage: run_fuzzer.sh BUILD_DIR SECONDS
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
seconds=$2
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DSINTER_FUZZ=ON >/dev/null
ninja -C "$build" frontend_fuzzer

# New inputs go to the first folder; the seeds stay untouched.
corpus=$build/fuzz-corpus
seeds=$build/fuzz-seeds
mkdir -p "$corpus" "$seeds" "$build/fuzz-artifacts"
cp "$root"/examples/*.nn "$root"/tests/malformed/*.nn "$seeds/"

"$build/tests/fuzz/frontend_fuzzer" "$corpus" "$seeds" \
  -dict="$root/tests/fuzz/nn.dict" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1
