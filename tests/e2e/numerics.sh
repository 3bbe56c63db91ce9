#!/usr/bin/env bash
# A non-finite value traced to its op and model line (runtime/numerics.h), on real data:
# - tests/numerics/diverge.nn: log() of a saturated softmax. The built trainer stops at the step whose
#   loss is infinite and names `log` on line 13 with a caret and its operand's range; --check-numerics
#   (every step replayed) gives the same report at the same step; `sinter train` (JIT) too.
# - tests/numerics/sqrt_grad.nn: an infinite gradient. Without the flag the loss is NaN at step 2 and
#   the report goes back to step 1, whose backward pass made it ('div', sqrt's line); the flag stops at
#   step 1 itself. `sinter run --grads --check-numerics` names the same op; without the flag the run
#   succeeds (its loss is finite).
# usage: numerics.sh SINTER SOURCE_DIR WORK_DIR
set -uo pipefail
sinter=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect FILE TEXT: FILE holds TEXT (a fixed string).
expect() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2':"$'\n'"$(cat "$1")"; }

"$sinter" build "$src/tests/numerics/diverge.nn" -o diverge || { echo "FAIL: build diverge"; exit 1; }
./diverge train > plain.txt 2>&1; status=$?
cat plain.txt
[ $status -eq 1 ] || fail "diverge: exit status $status, expected 1"
expect plain.txt "error: loss is inf at step "
expect plain.txt "diverge.nn:13:50: error: 'log' is the first op of @train_step whose output is not finite (forward pass)"
expect plain.txt "   13 |   loss   cross_entropy(fc2, label) - 0.01 * mean(log(p))"
expect plain.txt "      |                                                  ^~~~~~"
expect plain.txt "note: operand 0, %p = softmax (f32[64,10]): values in [0, 1]; "
step=$(grep -o 'loss is inf at step [0-9]*' plain.txt | grep -o '[0-9]*$')
echo "diverge: the loss is inf at step $step (the trainer snapshots its state every 100 steps)"

# Every step replayed: the same report at the same step. (Progress lines, printed every 10 s when
# the output is not a terminal, differ with the speed: a sanitizer build replays slowly.)
./diverge train --check-numerics > checked.txt 2>&1; status=$?
[ $status -eq 1 ] || fail "diverge --check-numerics: exit status $status"
expect checked.txt "--check-numerics: every step is replayed op by op on the reference evaluator"
report() { grep -v -e '--check-numerics:' -e '^epoch [0-9]*/[0-9]*  step ' "$1"; }
diff <(report checked.txt) <(report plain.txt) > /dev/null || fail "--check-numerics reports differently:"$'\n'"$(diff <(report checked.txt) <(report plain.txt))"

# The JIT trainer carries the module too.
"$sinter" train "$src/tests/numerics/diverge.nn" > jit.txt 2>&1; status=$?
[ $status -eq 1 ] || fail "sinter train diverge: exit status $status"
expect jit.txt "error: loss is inf at step $step (epoch 1)"
expect jit.txt "diverge.nn:13:50: error: 'log' is the first op of @train_step"

"$sinter" build "$src/tests/numerics/sqrt_grad.nn" -o sqrt_grad || { echo "FAIL: build sqrt_grad"; exit 1; }
./sqrt_grad train > sqrt.txt 2>&1; status=$?
cat sqrt.txt
[ $status -eq 1 ] || fail "sqrt_grad: exit status $status"
expect sqrt.txt "error: loss is nan at step 2 (epoch 1); step 1 made the first non-finite value, in the model's state"
expect sqrt.txt "sqrt_grad.nn:12:50: error: 'div' is the first op of @train_step whose output is not finite (backward pass or update)"
expect sqrt.txt "      |                                                  ^~~~~~~~~~~~~~~"
expect sqrt.txt ", %18 = sqrt (f32[64,10]): values in [0, "
./sqrt_grad train --check-numerics > sqrt_checked.txt 2>&1; status=$?
[ $status -eq 1 ] || fail "sqrt_grad --check-numerics: exit status $status"
expect sqrt_checked.txt "error: a value of the training step is not finite at step 1 (epoch 1) (loss "
expect sqrt_checked.txt "sqrt_grad.nn:12:50: error: 'div' is the first op of @train_step whose output is not finite (backward pass or update)"

# sinter run: one zero image (a hand-made safetensors file) through @grad.
header='{"image":{"dtype":"F32","shape":[1,1,28,28],"data_offsets":[0,3136]},"label":{"dtype":"I32","shape":[1],"data_offsets":[3136,3140]}}'
{ printf "$(printf '\\x%02x\\x%02x' $((${#header} & 255)) $((${#header} >> 8 & 255)))"; head -c 6 /dev/zero
  printf '%s' "$header"; head -c 3140 /dev/zero; } > zero.safetensors
for target in ref cpu; do
  "$sinter" run "$src/tests/numerics/sqrt_grad.nn" --inputs zero.safetensors -o out.safetensors --grads --target $target > run.txt 2>&1 ||
    fail "run --grads --target $target without --check-numerics: $(cat run.txt)"
  "$sinter" run "$src/tests/numerics/sqrt_grad.nn" --inputs zero.safetensors -o out.safetensors --grads --target $target \
    --check-numerics > run_checked.txt 2>&1; status=$?
  [ $status -eq 1 ] || fail "run --check-numerics --target $target: exit status $status"
  expect run_checked.txt "sqrt_grad.nn:12:50: error: 'div' is the first op of @grad whose output is not finite (backward pass or update)"
done
[ $failures -eq 0 ] && echo "numerics: all checks passed" || { echo "numerics: $failures failures"; exit 1; }
