#!/usr/bin/env bash
# Builds the fuzz targets with clang-19 in BUILD_DIR and runs each TARGET (default: all of them) for
# SECONDS, one after another. Seeds: tests/fuzz/corpus/TARGET/, and for the frontend examples/*.nn and
# tests/malformed/*.nn; tests/fuzz/TARGET.dict is the target's dictionary where there is one. New
# inputs go to BUILD_DIR/fuzz-corpus/TARGET. Exits non-zero when a target finds a crash, a leak,
# undefined behaviour, a timeout or an allocation past the memory limits; the input that did it is
# left in BUILD_DIR/fuzz-artifacts/TARGET-*.
# Usage: run_fuzzer.sh BUILD_DIR SECONDS [TARGET...]
set -euo pipefail

all_targets=(frontend safetensors json dataset ir train_config)
if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]   (targets: ${all_targets[*]})" >&2
  exit 2
fi
build=$1
seconds=$2
shift 2
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "$0: unknown target '$t' (targets: ${all_targets[*]})" >&2; exit 2; }
done
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fuzz=$root/tests/fuzz

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DSINTER_FUZZ=ON >/dev/null
# Every target is built, so that none stops compiling unnoticed; only the named ones run.
ninja -C "$build" "${all_targets[@]/%/_fuzzer}"

mkdir -p "$build/fuzz-artifacts"
failed=()
for t in "${targets[@]}"; do
  corpus=$build/fuzz-corpus/$t
  seeds=$build/fuzz-seeds/$t
  rm -rf "$seeds"
  mkdir -p "$corpus" "$seeds"
  if [[ $t == frontend ]]; then
    cp "$root"/examples/*.nn "$root"/tests/malformed/*.nn "$seeds/"
  else
    cp "$fuzz/corpus/$t"/* "$seeds/"
  fi
  dict=()
  [[ -f $fuzz/$t.dict ]] && dict=(-dict="$fuzz/$t.dict")
  echo "-- fuzzing $t for $seconds s"
  # The first folder takes the new inputs; the seeds stay untouched. -malloc_limit_mb: no single
  # allocation may come near what a hostile header asks for.
  if ! "$build/tests/fuzz/${t}_fuzzer" "$corpus" "$seeds" "${dict[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
      -artifact_prefix="$build/fuzz-artifacts/$t-" -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build/fuzz-artifacts)" >&2
  exit 1
fi
