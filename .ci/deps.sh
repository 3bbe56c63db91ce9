#!/usr/bin/env bash
# Installs everything Sinter needs to build and test on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ make git ca-certificates \
  llvm-19-dev libzstd-dev clang-19 llvm-19-tools libclang-rt-19-dev \
  libdnnl-dev libfmt-dev doctest-dev zlib1g-dev \
  dataset-fashion-mnist
