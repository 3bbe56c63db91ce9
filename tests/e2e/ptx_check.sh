#!/usr/bin/env bash
# The cuda target's PTX for every reference model (the examples, the golden models and the
# gradient references), assembled by the CUDA toolkit's ptxas for sm_90: what the GPU machine's
# driver would be given. Skips (exit 77) where there is no ptxas or Sinter found no libdevice.
#   tests/e2e/ptx_check.sh SINTER SOURCE_DIR PTXAS WORK_DIR
set -uo pipefail
sinter=$1 src=$2 ptxas=$3 work=$4
if [[ -z $ptxas || ! -x $ptxas ]]; then
  echo "skipped: no ptxas (the CUDA toolkit's; /usr/local/cuda/bin/ptxas)"
  exit 77
fi
mkdir -p "$work"
failed=0 checked=0
for model in "$src"/examples/*.nn "$src"/tests/golden/*.nn "$src"/tests/reference/models/*.nn; do
  name=$(basename "$model" .nn)
  if ! "$sinter" dump "$model" --stage=ptx --target cuda > "$work/$name.ptx" 2> "$work/$name.err"; then
    if grep -q "libdevice" "$work/$name.err"; then
      echo "skipped: $(cat "$work/$name.err")"
      exit 77
    fi
    echo "FAIL: sinter dump $model --stage=ptx --target cuda:"
    cat "$work/$name.err"
    failed=$((failed + 1))
    continue
  fi
  entries=$(grep -c '^\.visible \.entry' "$work/$name.ptx")
  if ! "$ptxas" -arch=sm_90 "$work/$name.ptx" -o "$work/$name.cubin" 2> "$work/$name.ptxas"; then
    echo "FAIL: ptxas -arch=sm_90 rejects the PTX of $model:"
    head -20 "$work/$name.ptxas"
    failed=$((failed + 1))
    continue
  fi
  echo "ok: $name ($entries kernels)"
  checked=$((checked + 1))
done
echo "$checked models assembled, $failed failed"
[[ $failed -eq 0 && $checked -gt 0 ]]
