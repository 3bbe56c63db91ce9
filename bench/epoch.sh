#!/usr/bin/env bash
# One epoch of training on Fashion-MNIST (batch 64, the models' own optimizers) at 1 and 2 threads:
# a Sinter-built trainer (`sinter build`, then `MODEL train --epochs 1`) against PyTorch
# (bench/torch_epoch.py), alternately, RUNS times each (default 3; MODELS and THREADS narrow
# the set); the table shows medians.
#   bench/epoch.sh [DATA_DIR]   (default /usr/share/datasets/fashion-mnist; expects build/tools/sinter)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
preflight build/tools/sinter
DATA=${1:-/usr/share/datasets/fashion-mnist}
RUNS=${RUNS:-3} MODELS=${MODELS:-mlp lenet} THREADS=${THREADS:-1 2}
[[ -f $DATA/train-images-idx3-ubyte.gz ]] || die "no Fashion-MNIST in $DATA (train-images-idx3-ubyte.gz)"
cd "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# measure OUT CMD...: CMD's wall seconds and peak RSS (KiB) into OUT, as "%e %M".
measure() {
  local out=$1
  shift
  if [[ -x /usr/bin/time ]]; then /usr/bin/time -o "$out" -f "%e %M" "$@"
  else "$PY" "$BENCH/wall_rss.py" "$out" "$@"; fi
}

for model in $MODELS; do
  build/tools/sinter build "examples/$model.nn" -o "$TMP/$model" || die "sinter build failed on $model"
done

rows=()
for model in $MODELS; do
  for threads in $THREADS; do
    s_epoch=() s_wall=() s_rss=() s_acc=() t_epoch=() t_train=() t_rss=() t_acc=()
    for ((r = 0; r < RUNS; r++)); do
      # The trainer's epoch time (JSON log, full precision) covers the 938 steps, the per-batch
      # gather and normalization, and the test pass after the epoch; not the data loading.
      rm -f "$TMP/log.jsonl"
      measure "$TMP/time" "$TMP/$model" train --data "$DATA" --epochs 1 --threads "$threads" \
        --log "$TMP/log.jsonl" >"$TMP/out" || { cat "$TMP/out" >&2; die "the Sinter trainer failed on $model"; }
      log=$(tail -n 1 "$TMP/log.jsonl")
      s_epoch+=("$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["seconds"])' "$log")")
      s_acc+=("$("$PY" -c 'import json, sys; print(100 * json.loads(sys.argv[1])["test_acc"])' "$log")")
      read -r wall rss <"$TMP/time"
      s_wall+=("$wall") s_rss+=("$rss")
      line=$("$PY" bench/torch_epoch.py "$model" --threads "$threads" --data "$DATA") ||
        die "torch_epoch.py failed on $model"
      # The same work as Sinter's figure: the training loop plus the test pass.
      t_epoch+=("$(awk -v a="$(field train_s "$line")" -v b="$(field test_s "$line")" 'BEGIN { print a + b }')")
      t_train+=("$(field train_s "$line")") t_rss+=("$(field rss_mb "$line")") t_acc+=("$(field acc "$line")")
    done
    echo "  $model threads=$threads: sinter ${s_epoch[*]} s, torch ${t_epoch[*]} s" >&2
    row="$model $threads"
    for v in s_epoch t_epoch t_train s_wall s_rss t_rss s_acc t_acc; do
      declare -n values=$v
      row+=" $(median "${values[@]}")"
    done
    rows+=("$row")
  done
done

echo
printf '%-6s %7s %9s %9s %6s %9s %9s %8s %8s %8s %7s %7s %7s\n' model threads "Sinter s" "PyTorch s" ratio \
  "Sinter/s" "PyTorch/s" "S RSS MB" "T RSS MB" "T train" "S wall" "S acc" "T acc"
for row in "${rows[@]}"; do
  read -r model threads se te tt sw sr tr sa ta <<<"$row"
  awk -v m="$model" -v n="$threads" -v se="$se" -v te="$te" -v tt="$tt" -v sw="$sw" -v sr="$sr" -v tr="$tr" \
    -v sa="$sa" -v ta="$ta" 'BEGIN {
    printf "%-6s %7d %9.2f %9.2f %6.2f %9.0f %9.0f %8.0f %8.0f %8.2f %7.2f %6.2f%% %6.2f%%\n",
      m, n, se, te, te / se, 60000 / se, 60000 / te, sr / 1024, tr, tt, sw, sa, ta }'
done
cat <<'NOTE'
s/epoch: 60,000 training images (938 steps of batch 64) plus the 10,000-image test pass, on both
sides (the Sinter trainer times them together); images/s = 60,000 / s/epoch; ratio = PyTorch /
Sinter (>1: Sinter faster). "T train" is PyTorch's training loop alone (the figure in
/work/shared/notes/machines.md), "S wall" the Sinter trainer's whole run (data loading included).
Peak RSS of the whole process; PyTorch's includes ~230 MB for `import torch` and the preloaded float32 data.
NOTE
echo "medians of $RUNS alternating runs"
