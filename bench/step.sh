#!/usr/bin/env bash
# One training step of the example models (MLP and LeNet at batch 64, cifar_cnn and resnet20 at 128), Sinter
# compiled in memory for each target (bench/step_bench --target) against PyTorch
# (bench/torch_step.py), at 1 and 2 threads (MODELS=resnet20 adds examples/resnet20.nn). They run alternately, RUNS times each (default 3;
# MODELS, TARGETS and THREADS narrow the set), and the table shows medians: the machine is shared
# and noisy. Peak RSS of each process (MB) is shown too.
# ANCHORS=VENV_PYTHON adds current PyTorch (eager and torch.compile, bench/torch_step.py) and JAX
# (jit, bench/jax_step.py) from a virtual environment to each row, timed in the same alternation
# (anchors, not bars; not for CI).
#   bench/step.sh            (expects build/ to hold bench/step_bench; builds nothing)
#   ANCHORS=/work/venv-anchors/bin/python bench/step.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
preflight build/bench/step_bench
RUNS=${RUNS:-3} MODELS=${MODELS:-mlp lenet cifar_cnn} TARGETS=${TARGETS:-cpu dnnl} THREADS=${THREADS:-1 2}
batch_of() { [[ $1 == cifar_cnn || $1 == resnet20 ]] && echo 128 || echo 64; }
cd "$ROOT"

rows=()
for model in $MODELS; do
  batch=$(batch_of "$model")
  for target in $TARGETS; do
    for threads in $THREADS; do
      sinter_us=() torch_us=() gflops=() sinter_mb=() torch_mb=() t2_us=() tc_us=() jax_us=()
      for ((r = 0; r < RUNS; r++)); do
        out=$(build/bench/step_bench "examples/$model.nn" --target "$target" --batch "$batch" --threads "$threads") ||
          die "step_bench failed on $model ($target)"
        line=$(grep '^sinter ' <<<"$out")
        sinter_mb+=("$(grep -o 'peak RSS [0-9.]*' <<<"$out" | grep -o '[0-9.]*$')")
        sinter_us+=("$(field us_per_step "$line")")
        gflops+=("$(field gflops "$line")")
        line=$("$PY" bench/torch_step.py "$model" --batch "$batch" --threads "$threads") || die "torch_step.py failed on $model"
        torch_us+=("$(field us_per_step "$line")")
        torch_mb+=("$(field rss_mb "$line")")
        if [[ -n ${ANCHORS:-} && $target == "${TARGETS%% *}" ]]; then  # once per model and threads
          line=$("$ANCHORS" bench/torch_step.py "$model" --batch "$batch" --threads "$threads") || die "torch 2 failed on $model"
          t2_us+=("$(field us_per_step "$line")")
          line=$("$ANCHORS" bench/torch_step.py "$model" --batch "$batch" --threads "$threads" --compile 2>/dev/null | tail -1) ||
            die "torch.compile failed on $model"
          tc_us+=("$(field us_per_step "$line")")
          line=$("$ANCHORS" bench/jax_step.py "$model" --batch "$batch" --threads "$threads" 2>/dev/null | tail -1) || die "jax failed on $model"
          jax_us+=("$(field us_per_step "$line")")
        fi
      done
      rows+=("$model $target $threads $batch $(median "${sinter_us[@]}") $(median "${torch_us[@]}") $(median "${gflops[@]}") $(median "${sinter_mb[@]}") $(median "${torch_mb[@]}") $(median "${t2_us[@]:-0}") $(median "${tc_us[@]:-0}") $(median "${jax_us[@]:-0}")")
      echo "  $model $target threads=$threads: sinter ${sinter_us[*]} us, torch ${torch_us[*]} us" >&2
    done
  done
done

# Peak: what a large sgemm reaches on this machine now, per thread count (measured after the runs,
# in the same conditions).
declare -A peak
for threads in $THREADS; do peak[$threads]=$(sgemm_peak "$threads"); done
echo
echo "peak: sgemm 2048^3 through PyTorch's BLAS: $(for t in $THREADS; do printf '%s GFLOP/s on %s thread(s); ' "${peak[$t]}" "$t"; done)"
printf '%-9s %-6s %7s %5s %12s %13s %7s %14s %9s %10s %11s\n' model target threads batch "Sinter us" "PyTorch us" ratio \
  "Sinter GFLOP/s" "% peak" "Sinter MB" "PyTorch MB"
for row in "${rows[@]}"; do
  read -r model target threads batch s t g sm tm t2 tc jx <<<"$row"
  awk -v m="$model" -v tg="$target" -v n="$threads" -v b="$batch" -v s="$s" -v t="$t" -v g="$g" -v sm="$sm" -v tm="$tm" -v pk="${peak[$threads]}" 'BEGIN {
    printf "%-9s %-6s %7d %5d %12.1f %13.1f %7.2f %14.1f %8.1f%% %10.0f %11.0f\n", m, tg, n, b, s, t, t / s, g, 100 * g / pk, sm, tm }'
done
echo "ratio = PyTorch / Sinter time per step (>1: Sinter faster); medians of $RUNS alternating runs"
if [[ -n ${ANCHORS:-} ]]; then
  echo
  echo "anchors from $ANCHORS: $("$ANCHORS" -c 'import torch, jax; print("PyTorch", torch.__version__, "and JAX", jax.__version__)')"
  printf '%-9s %-6s %7s %12s %12s %14s %12s\n' model target threads "Sinter us" "PyTorch us" "compile us" "JAX us"
  # (Sinter on the first target of TARGETS; the dnnl rows of the table above compare the same way.)
  for row in "${rows[@]}"; do
    read -r model target threads batch s t g sm tm t2 tc jx <<<"$row"
    [[ $t2 == 0 ]] && continue
    printf '%-9s %-6s %7d %12.1f %12.1f %14.1f %12.1f\n' "$model" "$target" "$threads" "$s" "$t2" "$tc" "$jx"
  done
fi
