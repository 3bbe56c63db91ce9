#!/usr/bin/env bash
# The checkpoint train_e2e wrote, in PyTorch: load_state_dict(strict=True) into the twin module and
# the same test accuracy. Exits 77 (ctest: skipped) where /usr/bin/python3 has no torch, unless
# SINTER_REQUIRE_TORCH is set (CI installs python3-torch: there a skip would hide a regression).
# usage: torch_load.sh SOURCE_DIR E2E_WORK_DIR
set -uo pipefail
src=$1 work=$2
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "/usr/bin/python3 has no torch (Debian: apt-get install python3-torch, or bash .ci/deps.sh --tests)"
  [[ -n ${SINTER_REQUIRE_TORCH:-} ]] && { echo "FAIL: SINTER_REQUIRE_TORCH is set"; exit 1; }
  exit 77
fi
[[ -f $work/full.safetensors && -f $work/accuracy.txt ]] || { echo "FAIL: no checkpoint from train_e2e in $work"; exit 1; }
cd "$work" && /usr/bin/python3 "$src/tests/e2e/torch_load.py" lenet full.safetensors data "$(cat accuracy.txt)"
