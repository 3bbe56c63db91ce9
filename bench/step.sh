#!/usr/bin/env bash
# One training step of the example models (MLP and LeNet at batch 64, cifar_cnn at 128), Sinter
# compiled in memory for each target (bench/step_bench --target) against PyTorch
# (bench/torch_step.py), at 1 and 2 threads. They run alternately, RUNS times each (default 3;
# MODELS, TARGETS and THREADS narrow the set), and the table shows medians: the machine is shared
# and noisy.
#   bench/step.sh            (expects build/ to hold bench/step_bench; builds nothing)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
preflight build/bench/step_bench
RUNS=${RUNS:-3} MODELS=${MODELS:-mlp lenet cifar_cnn} TARGETS=${TARGETS:-cpu} THREADS=${THREADS:-1 2}
batch_of() { [[ $1 == cifar_cnn ]] && echo 128 || echo 64; }
cd "$ROOT"

rows=()
for model in $MODELS; do
  batch=$(batch_of "$model")
  for target in $TARGETS; do
    for threads in $THREADS; do
      sinter_us=() torch_us=() gflops=()
      for ((r = 0; r < RUNS; r++)); do
        line=$(build/bench/step_bench "examples/$model.nn" --target "$target" --batch "$batch" --threads "$threads" |
               grep '^sinter ') || die "step_bench failed on $model ($target)"
        sinter_us+=("$(field us_per_step "$line")")
        gflops+=("$(field gflops "$line")")
        line=$("$PY" bench/torch_step.py "$model" --batch "$batch" --threads "$threads") || die "torch_step.py failed on $model"
        torch_us+=("$(field us_per_step "$line")")
      done
      rows+=("$model $target $threads $batch $(median "${sinter_us[@]}") $(median "${torch_us[@]}") $(median "${gflops[@]}")")
      echo "  $model $target threads=$threads: sinter ${sinter_us[*]} us, torch ${torch_us[*]} us" >&2
    done
  done
done

# Peak: a large sgemm reaches about 100 GFLOP/s per core here (/work/shared/notes/machines.md).
echo
printf '%-9s %-6s %7s %5s %12s %13s %7s %14s %9s\n' model target threads batch "Sinter us" "PyTorch us" ratio \
  "Sinter GFLOP/s" "% peak"
for row in "${rows[@]}"; do
  read -r model target threads batch s t g <<<"$row"
  awk -v m="$model" -v tg="$target" -v n="$threads" -v b="$batch" -v s="$s" -v t="$t" -v g="$g" 'BEGIN {
    printf "%-9s %-6s %7d %5d %12.1f %13.1f %7.2f %14.1f %8.1f%%\n", m, tg, n, b, s, t, t / s, g, 100 * g / (100 * n) }'
done
echo "ratio = PyTorch / Sinter time per step (>1: Sinter faster); medians of $RUNS alternating runs"
