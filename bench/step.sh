#!/usr/bin/env bash
# One training step (batch 64) of the example models, Sinter's JIT (bench/step_bench) against
# PyTorch (bench/torch_step.py), at 1 and 2 threads. The two run alternately, RUNS times each
# (default 3; MODELS and THREADS narrow the set), and the table shows medians: the machine is
# shared and noisy.
#   bench/step.sh            (expects build/ to hold bench/step_bench; builds nothing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
preflight build/bench/step_bench
RUNS=${RUNS:-3} MODELS=${MODELS:-mlp lenet} THREADS=${THREADS:-1 2}
cd "$ROOT"

rows=()
for model in $MODELS; do
  for threads in $THREADS; do
    sinter_us=() torch_us=() gflops=()
    for ((r = 0; r < RUNS; r++)); do
      line=$(build/bench/step_bench "examples/$model.nn" --threads "$threads" | grep '^sinter ') ||
        die "step_bench failed on $model"
      sinter_us+=("$(field us_per_step "$line")")
      gflops+=("$(field gflops "$line")")
      line=$("$PY" bench/torch_step.py "$model" --threads "$threads") || die "torch_step.py failed on $model"
      torch_us+=("$(field us_per_step "$line")")
    done
    rows+=("$model $threads $(median "${sinter_us[@]}") $(median "${torch_us[@]}") $(median "${gflops[@]}")")
    echo "  $model threads=$threads: sinter ${sinter_us[*]} us, torch ${torch_us[*]} us" >&2
  done
done

# Peak: a large sgemm reaches about 100 GFLOP/s per core here (/work/shared/notes/machines.md).
echo
printf '%-6s %7s %12s %13s %7s %14s %9s\n' model threads "Sinter us" "PyTorch us" ratio "Sinter GFLOP/s" "% peak"
for row in "${rows[@]}"; do
  read -r model threads s t g <<<"$row"
  awk -v m="$model" -v n="$threads" -v s="$s" -v t="$t" -v g="$g" 'BEGIN {
    printf "%-6s %7d %12.1f %13.1f %7.2f %14.1f %8.1f%%\n", m, n, s, t, t / s, g, 100 * g / (100 * n) }'
done
echo "ratio = PyTorch / Sinter time per step (>1: Sinter faster); medians of $RUNS alternating runs"
