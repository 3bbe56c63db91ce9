#!/usr/bin/env bash
# The cuda target's checks that need a GPU, as one prepared run for the device machine (it has
# CUDA 13, cuDNN 9.14 and PyTorch, but no LLVM or oneDNN: see ../shared/notes/machines.md).
#   here:  bash tests/cuda/device_check.sh pack BUILD_DIR   -> gpu-pack/ (compressed, < 64 MiB)
#   there: bash tests/cuda/device_check.sh run              (with `carry: ["gpu-pack"]`)
# pack strips the sinter tool and the passes test binary, builds the examples for cuda, and adds the
# shared libraries the GPU machine lacks (oneDNN, which every Sinter executable links, GNU OpenMP,
# the OpenCL loader). run then, with $OUT/device_check.log for the closing note:
#  1. every reference model against PyTorch on cuda (`sinter run --target cuda --grads`, normwise
#     1e-4, the passes test that CI skips without a GPU),
#  2. `info` of each built example (the cuDNN algorithms chosen),
#  3. LeNet trained for 1 epoch on Fashion-MNIST where the machine has it (accuracy and time).
set -uo pipefail
cd "$(dirname "$0")/../.."
case ${1:-} in
pack)
  build=${2:?usage: device_check.sh pack BUILD_DIR}
  rm -rf gpu-pack /tmp/sinter-gpu && mkdir -p gpu-pack /tmp/sinter-gpu/lib || exit 1
  strip -o /tmp/sinter-gpu/sinter "$build/tools/sinter" && strip -o /tmp/sinter-gpu/passes_tests "$build/tests/passes_tests" || exit 1
  for m in mlp lenet cifar_cnn; do
    "$build/tools/sinter" build "examples/$m.nn" --target cuda -o "/tmp/sinter-gpu/${m}_cuda" || exit 1
  done
  for lib in libdnnl.so.2 libgomp.so.1 libOpenCL.so.1; do cp -L "/usr/lib/x86_64-linux-gnu/$lib" /tmp/sinter-gpu/lib/ || exit 1; done
  tar -C /tmp -cJf gpu-pack/sinter-gpu.tar.xz sinter-gpu || exit 1
  ls -la gpu-pack
  ;;
run)
  out=${OUT:-/tmp/device_check}
  mkdir -p "$out" && tar -C /tmp -xJf gpu-pack/sinter-gpu.tar.xz || exit 1
  bin=/tmp/sinter-gpu
  export LD_LIBRARY_PATH="$bin/lib:/usr/local/nvidia/lib64:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  {
    nvidia-smi -L
    echo "== 1. reference models on cuda against PyTorch"
    SINTER_TOOL="$bin/sinter" SINTER_SOURCE_DIR="$PWD" timeout 300 "$bin/passes_tests" -tc='*--target cuda*' 2>&1 | tail -40
    echo "== 2. info"
    for m in mlp lenet cifar_cnn; do timeout 60 "$bin/${m}_cuda" info; done
    echo "== 3. LeNet, 1 epoch on Fashion-MNIST"
    for d in /usr/share/datasets/fashion-mnist "$HOME/data/fashion-mnist" /data/fashion-mnist; do
      if [[ -d $d ]]; then timeout 300 "$bin/lenet_cuda" train --data "$d" --epochs 1; break; fi
    done
  } 2>&1 | tee "$out/device_check.log"
  ;;
*)
  echo "usage: device_check.sh pack BUILD_DIR | run" >&2
  exit 2
  ;;
esac
