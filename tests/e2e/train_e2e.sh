#!/usr/bin/env bash
# End to end on real data: `sinter build` LeNet, train it briefly on a slice of Fashion-MNIST and
# assert an accuracy floor; eval, predict and info on the checkpoint; --resume continues bitwise
# (LeNet with sgd momentum, also mid-epoch after SIGINT; the MLP with adadelta);
# `sinter train` (JIT) computes the same epoch as the built executable; `sinter plot` and --plot draw
# the curves; bad input fails clearly.
# The checkpoint's check in PyTorch is the torch_load test, which runs after this one.
# TARGET (default cpu) is the --target of every build and of `sinter train`: the same checks hold
# on cpu and dnnl, resume bitwise included (oneDNN's primitives are deterministic for a fixed
# thread count and ISA).
# usage: train_e2e.sh SINTER SOURCE_DIR WORK_DIR [TARGET]
set -uo pipefail
sinter=$1 src=$2 work=$3 target=${4:-cpu}
data=/usr/share/datasets/fashion-mnist
rm -rf "$work" && mkdir -p "$work/data" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The first N records of an IDX file (gzip), with the count in the header rewritten to N.
slice() {  # IN OUT N HEADER_BYTES RECORD_BYTES
  local in=$1 out=$2 n=$3 header=$4 record=$5
  {
    zcat "$in" | head -c 4
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
    zcat "$in" | head -c $((header + n * record)) | tail -c +9
  } | gzip > "$out"
}
slice $data/train-images-idx3-ubyte.gz data/train-images-idx3-ubyte.gz 12000 16 784
slice $data/train-labels-idx1-ubyte.gz data/train-labels-idx1-ubyte.gz 12000 8 1
slice $data/t10k-images-idx3-ubyte.gz data/t10k-images-idx3-ubyte.gz 2000 16 784
slice $data/t10k-labels-idx1-ubyte.gz data/t10k-labels-idx1-ubyte.gz 2000 8 1

"$sinter" build "$src/examples/lenet.nn" --target "$target" -o lenet || { echo "FAIL: sinter build"; exit 1; }
./lenet info > info.txt || fail "info"
grep -q "parameters   61,706 in 10 tensors" info.txt || fail "info: parameter count ($(grep parameters info.txt))"
grep -q "target       $target" info.txt || fail "info: target ($(grep target info.txt))"

# 3 epochs on 12,000 images at 2 threads. Floor 75%: this run measures about 81% here (80.85-81.00%
# as the kernels changed; epochs 1-3 about 67, 77, 81%); chance is 10%, and a broken gradient or
# optimizer stays far below.
./lenet train --data data --epochs 3 --threads 2 --save full.safetensors --log log.jsonl > train.txt 2>&1 || fail "train: $(cat train.txt)"
cat train.txt
acc=$(grep -o 'epoch 3/3 .*test acc [0-9.]*' train.txt | grep -o '[0-9.]*$')
echo "$acc" > accuracy.txt  # for the torch_load test, which loads full.safetensors in PyTorch
awk -v a="$acc" 'BEGIN { exit !(a >= 75.0) }' || fail "accuracy $acc% is below the 75% floor"
[ "$(wc -l < log.jsonl)" -eq 3 ] || fail "log.jsonl should have 3 lines"
grep -q '"test_acc"' log.jsonl || fail "log.jsonl lacks test_acc: $(head -1 log.jsonl)"
# The log's curves: train loss, test loss and test accuracy, 3 epochs each.
"$sinter" plot log.jsonl -o curves.svg || fail "sinter plot"
[ "$(grep -c '<polyline data-curve=[^>]* data-run="log"' curves.svg)" -eq 3 ] || fail "curves.svg should have 3 polylines"
[ "$(grep -c '<circle class="marker"' curves.svg)" -eq 9 ] || fail "curves.svg should have 9 markers"

# eval of the checkpoint reproduces the last epoch's test accuracy exactly.
./lenet eval --weights full.safetensors --data data --threads 2 > eval.txt 2>&1 || fail "eval: $(cat eval.txt)"
grep -q "test acc $acc%" eval.txt || fail "eval says '$(cat eval.txt)', train said $acc%"

# predict on an IDX file: one line per image.
./lenet predict --weights full.safetensors data/t10k-images-idx3-ubyte.gz > predict.txt 2>&1 || fail "predict: $(head -3 predict.txt)"
[ "$(grep -c . predict.txt)" -eq 2000 ] || fail "predict printed $(grep -c . predict.txt) lines for 2000 images"

# Resume: 1 epoch, then 2 more from its checkpoint, ends at the same bytes as 3 in one go.
./lenet train --data data --epochs 1 --threads 2 --save part.safetensors > /dev/null 2>&1 || fail "train 1 epoch"
./lenet train --data data --epochs 3 --threads 2 --resume part.safetensors --save resumed.safetensors > resume.txt 2>&1 || fail "resume: $(cat resume.txt)"
cmp -s full.safetensors resumed.safetensors || fail "resumed checkpoint differs from the uninterrupted run"

# SIGINT mid-run: the step in flight finishes, --save holds the position inside the epoch, exit status
# 130 and a line saying how to resume; resuming ends at the bytes of the uninterrupted run. The signal
# goes as soon as training has started (its line is printed once the handlers are in place), well
# before the 3 epochs end. Job control (set -m): a background job of a shell without it starts with
# SIGINT ignored, and the trainer leaves an ignored signal ignored.
started() {  # FILE: waits (at most 60 s) for the run's "training ..." line
  for _ in $(seq 600); do grep -q '^training ' "$1" && return 0; sleep 0.1; done; return 1
}
set -m
./lenet train --data data --epochs 3 --threads 2 --save int.safetensors > int.txt 2>&1 &
pid=$!
set +m
started int.txt || fail "interrupted run never started: $(cat int.txt)"
kill -INT $pid
wait $pid; status=$?
[ $status -eq 130 ] || fail "SIGINT: exit status $status, wanted 130: $(tail -3 int.txt)"
grep -Eq '^interrupted at step [0-9]+ \(epoch [1-3], step [0-9]+ of 188\); saved int.safetensors: resume with --resume int.safetensors$' int.txt ||
  fail "SIGINT: no resume line: $(tail -3 int.txt)"
./lenet train --data data --epochs 3 --threads 2 --resume int.safetensors --save int_resumed.safetensors > int_resume.txt 2>&1 ||
  fail "resume after SIGINT: $(cat int_resume.txt)"
cmp -s full.safetensors int_resumed.safetensors || fail "checkpoint resumed after SIGINT differs from the uninterrupted run"
# SIGTERM without --save: the same stop, and a line saying nothing was saved.
./lenet train --data data --epochs 3 --threads 2 > term.txt 2>&1 &
pid=$!
started term.txt || fail "SIGTERM run never started: $(cat term.txt)"
kill -TERM $pid
wait $pid; status=$?
[ $status -eq 130 ] && grep -q '^interrupted at step .*; nothing saved (no --save)$' term.txt ||
  fail "SIGTERM: exit status $status: $(tail -3 term.txt)"

# The same for an optimizer with other state (adadelta's square_avg and acc_delta), on the MLP.
sed 's/optimizer .*/optimizer  adadelta(rho = 0.9, weight_decay = 1e-4)/' "$src/examples/mlp.nn" > mlp_adadelta.nn
"$sinter" build mlp_adadelta.nn --target "$target" -o mlp_adadelta || fail "build mlp_adadelta"
./mlp_adadelta train --data data --epochs 2 --threads 2 --save adadelta_full.safetensors > /dev/null 2>&1 || fail "adadelta train"
./mlp_adadelta train --data data --epochs 1 --threads 2 --save adadelta_part.safetensors > /dev/null 2>&1 || fail "adadelta train 1 epoch"
./mlp_adadelta train --data data --epochs 2 --threads 2 --resume adadelta_part.safetensors --save adadelta_resumed.safetensors \
  > adadelta_resume.txt 2>&1 || fail "adadelta resume: $(cat adadelta_resume.txt)"
grep -q 'fc1.weight.acc_delta' adadelta_part.safetensors || fail "adadelta checkpoint lacks fc1.weight.acc_delta"
cmp -s adadelta_full.safetensors adadelta_resumed.safetensors || fail "resumed adadelta checkpoint differs from the uninterrupted run"

# The JIT (`sinter train`) and the executable compute the same first epoch.
"$sinter" train "$src/examples/lenet.nn" --target "$target" --data data --epochs 1 --threads 2 > jit.txt 2>&1 || fail "sinter train: $(cat jit.txt)"
./lenet train --data data --epochs 1 --threads 2 --plot aot.svg > aot.txt 2>&1
grep -q '<polyline data-curve="test acc" data-run="lenet"' aot.svg || fail "train --plot: $(head -c 300 aot.svg)"
# (The epoch's result line only: a slow run also prints progress lines, `epoch 1/1  step N/188 ...`.)
strip_time() { grep '^epoch 1/1 .*test acc' "$1" | sed 's/  [0-9.]* s  data wait [0-9.]*%$//'; }
[ -n "$(strip_time jit.txt)" ] && [ "$(strip_time jit.txt)" == "$(strip_time aot.txt)" ] ||
  fail "sinter train: '$(strip_time jit.txt)' vs ./lenet: '$(strip_time aot.txt)'"

# Bad input: clear one-line errors, exit status 1.
expect_error() {  # PATTERN COMMAND...
  local pattern=$1; shift
  out=$("$@" 2>&1); status=$?
  [[ $status -eq 1 && $out == *"$pattern"* ]] || fail "'$*' gave status $status: $out (wanted '$pattern')"
}
expect_error "no-such-dir" ./lenet train --data no-such-dir --epochs 1
head -c 1000 data/train-images-idx3-ubyte.gz > trunc.gz
mkdir -p bad && cp data/train-labels* data/t10k* bad/ && zcat trunc.gz 2>/dev/null | gzip > bad/train-images-idx3-ubyte.gz
expect_error "train-images-idx3-ubyte" ./lenet train --data bad --epochs 1
"$sinter" build "$src/examples/mlp.nn" --target "$target" -o mlp || fail "build mlp"
./mlp train --data data --epochs 1 --save mlp.safetensors > /dev/null 2>&1 || fail "mlp train"
expect_error "mlp.safetensors" ./lenet eval --weights mlp.safetensors --data data
expect_error "--batch 100" ./lenet train --data data --batch 100
printf '{"epoch":1,"train_loss":0.5}\n{"epoch":2,' > bad.jsonl
expect_error "bad.jsonl:2: " "$sinter" plot log.jsonl bad.jsonl -o bad.svg
: > empty.jsonl
expect_error "empty.jsonl: no epoch lines" "$sinter" plot empty.jsonl -o empty.svg

[ $failures -eq 0 ] && echo "e2e: all checks passed" || { echo "e2e: $failures failures"; exit 1; }
