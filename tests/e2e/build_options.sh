#!/usr/bin/env bash
# `sinter build` options: --emit stops early with the right kind of file, -O0, --cpu and --jobs
# give working executables, bad options and targets fail clearly.
# usage: build_options.sh SINTER SOURCE_DIR WORK_DIR
set -uo pipefail
sinter=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
model=$src/examples/mlp.nn

"$sinter" build "$model" --emit=llvm -o mlp.ll || fail "--emit=llvm"
grep -q '^@sinter_plan = .*constant \[[0-9]* x i8\] c"{' mlp.ll || fail "mlp.ll has no sinter_plan text"
grep -q '^define internal void @train_step_' mlp.ll || fail "mlp.ll has no train_step kernels"
"$sinter" build "$model" --emit=asm -o mlp.s || fail "--emit=asm"
grep -q 'sinter_plan:' mlp.s || fail "mlp.s does not define sinter_plan"
"$sinter" build "$model" --emit=obj -o mlp.o || fail "--emit=obj"
[ "$(head -c 4 mlp.o | od -An -c | tr -d ' ')" == '177ELF' ] || fail "mlp.o is not an ELF object"

# -O0 and a generic x86-64 CPU: slower code, same program.
"$sinter" build "$model" -O0 -o mlp_O0 --time-passes 2> times.txt || fail "-O0 build"
grep -q "total" times.txt || fail "--time-passes printed no total: $(cat times.txt)"
"$sinter" build "$model" --cpu=x86-64 -o mlp_generic || fail "--cpu=x86-64"
# One compile thread and more threads than kernels: the same program in one object or many.
"$sinter" build "$model" --jobs=1 -o mlp_j1 || fail "--jobs=1"
"$sinter" build "$model" --jobs=64 -o mlp_j64 || fail "--jobs=64"
for exe in mlp_O0 mlp_generic mlp_j1 mlp_j64; do
  ./$exe info | grep -q "parameters   109,386 in 6 tensors" || fail "$exe info: $(./$exe info 2>&1 | head -3)"
done

expect_error() {  # PATTERN COMMAND...
  local pattern=$1; shift
  out=$("$@" 2>&1); status=$?
  [[ $status -ne 0 && $out == *"$pattern"* ]] || fail "'$*' gave status $status: $out (wanted '$pattern')"
}
expect_error "unknown CPU 'pentium9000'" "$sinter" build "$model" --cpu=pentium9000
# Targets come from one table; one that does not exist names the built ones.
expect_error "unknown target 'tpu' (built: cpu, dnnl, cuda)" "$sinter" run "$model" --target tpu --inputs x.safetensors -o y.safetensors
# The cuda target builds wherever Sinter found the CUDA toolkit's libdevice (its executable loads
# the NVIDIA libraries when it runs); on a machine without a GPU, running it says so and exits 1.
# Without libdevice (a root without the toolkit) the build is refused, saying so.
if cuda_out=$("$sinter" build "$model" --target cuda -o "$work/mlp_cuda" 2>&1); then
  "$work/mlp_cuda" info | grep -q '^target *cuda$' || fail "'mlp_cuda info' does not say target cuda"
  if [[ ! -e /dev/nvidia0 ]]; then
    expect_error "the cuda target needs an NVIDIA GPU" "$work/mlp_cuda" train --data /usr/share/datasets/fashion-mnist --epochs 1
    expect_error "the cuda target needs an NVIDIA GPU" "$sinter" run "$model" --target cuda \
      --inputs "$src/tests/reference/data/mlp.inputs.safetensors" -o "$work/cuda_out.safetensors"
  fi
elif [[ $cuda_out != *"need libdevice"* ]]; then
  fail "sinter build --target cuda failed: $cuda_out"
fi
expect_error "--emit expects obj, llvm or asm" "$sinter" build "$model" --emit=exe
expect_error "--jobs expects a non-negative integer, found 'two'" "$sinter" build "$model" --jobs=two
expect_error "cannot open" "$sinter" build no-such-model.nn
# A plan that cannot be allocated is refused when compiled, with what it needs (fc1.weight alone is
# 292 GiB; these machines have 24 to 128 GiB).
sed 's/dense(flatten(image), 128)/dense(flatten(image), 100000000)/' "$model" > huge.nn
expect_error "kernel pass 'plan-memory': model 'mlp' needs " "$sinter" build huge.nn -o huge
expect_error "its largest buffer is 'fc1.weight', f32[100000000,784] 292.1 GiB" "$sinter" build huge.nn -o huge
expect_error "cannot open 'no-dir/x' for writing" "$sinter" build "$model" --emit=obj -o no-dir/x

[ $failures -eq 0 ] && echo "build options: all checks passed" || { echo "build options: $failures failures"; exit 1; }
