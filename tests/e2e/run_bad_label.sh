#!/usr/bin/env bash
# `sinter run` rejects a label outside the model's classes on both targets (the CPU kernels cannot
# fail, so the tool checks before running), and accepts the same file with a valid label.
# usage: run_bad_label.sh SINTER SOURCE_DIR WORK_DIR
set -uo pipefail
sinter=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A safetensors file by hand: u64 header length, JSON header, then the bytes (one zero image of
# 784 f32, one i32 label).
inputs() {  # OUT LABEL
  local header='{"image":{"dtype":"F32","shape":[1,1,28,28],"data_offsets":[0,3136]},"label":{"dtype":"I32","shape":[1],"data_offsets":[3136,3140]}}'
  local n=${#header}
  {
    printf "$(printf '\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)))"; head -c 6 /dev/zero
    printf '%s' "$header"; head -c 3136 /dev/zero
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($2 & 255)) $(($2 >> 8 & 255)) $(($2 >> 16 & 255)) $(($2 >> 24 & 255)))"
  } > "$1"
}
inputs good.safetensors 3
inputs bad.safetensors 12
for target in ref cpu; do
  "$sinter" run "$src/examples/mlp.nn" --inputs good.safetensors -o out.safetensors --target $target > /dev/null 2>&1 ||
    fail "$target: a valid label failed: $("$sinter" run "$src/examples/mlp.nn" --inputs good.safetensors -o out.safetensors --target $target 2>&1)"
  out=$("$sinter" run "$src/examples/mlp.nn" --inputs bad.safetensors -o out.safetensors --target $target 2>&1); status=$?
  [[ $status -eq 1 && $out == *"label 12 at index 0 is outside [0, 10)"* ]] || fail "$target: status $status: $out"
done
[ $failures -eq 0 ] && echo "run bad label: all checks passed" || { echo "run bad label: $failures failures"; exit 1; }
