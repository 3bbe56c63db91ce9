#!/usr/bin/env bash
# Weights both ways between Sinter and PyTorch. Sinter -> PyTorch: the checkpoint train_e2e wrote
# loads with load_state_dict(strict=True) into the twin module and gives the same test accuracy.
# PyTorch -> Sinter: a LeNet trained in PyTorch (torch_train.py), its state_dict as safetensors,
# evaluated by train_e2e's ./lenet: the same test accuracy (up to 2 near-ties in 2000 images). Exits 77 (ctest: skipped) where /usr/bin/python3 has no torch, unless
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
cd "$work" || exit 1
/usr/bin/python3 "$src/tests/e2e/torch_load.py" lenet full.safetensors data "$(cat accuracy.txt)" || exit 1
torch_acc=$(/usr/bin/python3 "$src/tests/e2e/torch_train.py" data torch.safetensors) || { echo "FAIL: torch_train.py"; exit 1; }
./lenet eval --weights torch.safetensors --data data --threads 2 > torch_eval.txt 2>&1 ||
  { echo "FAIL: ./lenet eval of PyTorch's state_dict: $(cat torch_eval.txt)"; exit 1; }
sinter_acc=$(grep -o 'test acc [0-9.]*' torch_eval.txt | grep -o '[0-9.]*$')
echo "PyTorch-trained LeNet: PyTorch test acc $torch_acc%, ./lenet eval $sinter_acc%"
awk -v a="$torch_acc" -v b="$sinter_acc" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b != "" && d <= 0.1 + 1e-9) }' ||
  { echo "FAIL: accuracies differ by more than 0.1 point"; exit 1; }
