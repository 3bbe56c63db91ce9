#!/usr/bin/env bash
# Installs what Sinter needs on a fresh Debian 12 machine (run as root). Nothing may come from what
# happens to be installed already: .ci/run proves this list in a pristine debootstrap root.
#   bash .ci/deps.sh           build Sinter and run README's main job (LeNet on Fashion-MNIST)
#   bash .ci/deps.sh --tests   also what the tests need (PyTorch, for the checkpoint interop check)
#   bash .ci/deps.sh --ci      also what .ci/run's host stages need (debootstrap, clang for fuzzing)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(
  # toolchain
  cmake ninja-build g++ make git ca-certificates
  # LLVM 19: llvm-19-dev does not pull in libzstd-dev, which its CMake package needs
  llvm-19-dev libzstd-dev zlib1g-dev
  # oneDNN 2.6: its CMake package calls find_package(OpenCL), but libdnnl-dev only *recommends*
  # the OpenCL headers, so --no-install-recommends skips them unless they are named here
  libdnnl-dev ocl-icd-opencl-dev
  libfmt-dev doctest-dev
  # libpng: the predict verb reads PNG images (runtime/png.cpp; built executables link -lpng)
  libpng-dev
  # the main job's data: /usr/share/datasets/fashion-mnist
  dataset-fashion-mnist
)
for arg in "$@"; do
  case $arg in
    # tests/e2e/torch_load.py loads a Sinter checkpoint with load_state_dict
    --tests) packages+=(python3 python3-torch python3-numpy) ;;
    # .ci/run: debootstrap makes the pristine root; clang-19 and its runtimes build the fuzzer
    --ci) packages+=(debootstrap clang-19 libclang-rt-19-dev) ;;
    *) echo "usage: $0 [--tests] [--ci]" >&2; exit 2 ;;
  esac
done

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}"
