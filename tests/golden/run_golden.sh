#!/usr/bin/env bash
# Golden IR tests: `sinter dump MODEL --stage=S` must print exactly tests/golden/expected/NAME.S.ir.
# Models: the examples and tests/golden/*.nn; stages: ir (the forward graph), grad (the whole
# training step after autodiff and simplification) and kernels (fused kernels and the memory plan);
# and the kernel-IR passes before and after, from tests/golden/passes/*.nn.
#   run:        tests/golden/run_golden.sh build/tools/sinter
#   regenerate: tests/golden/run_golden.sh build/tools/sinter --update   (then read the diff)
set -uo pipefail
sinter=$(realpath "$1")
update=${2:-}
cd "$(dirname "$0")/../.."
passed=0
failed=0

# Compares (or with --update, writes) one dump.  EXPECTED_FILE ACTUAL_TEXT DESCRIPTION
check() {
  local expected=$1 actual=$2 what=$3
  if [ "$update" = "--update" ]; then
    printf '%s\n' "$actual" > "$expected"
  elif [ -f "$expected" ] && [ "$actual" = "$(cat "$expected")" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what differs from $expected:"
    diff <(printf '%s\n' "$actual") "$expected" | head -40
  fi
}

for model in examples/*.nn tests/golden/*.nn; do
  [ -f "$model" ] || continue
  name=$(basename "$model" .nn)
  for stage in ir grad kernels; do
    check "tests/golden/expected/$name.$stage.ir" "$("$sinter" dump "$model" --stage=$stage 2>&1)" \
      "sinter dump $model --stage=$stage"
  done
done

# Pass tests: each tests/golden/passes/NAME.nn names the dump flags on its `# RUN:` line; its
# expected output (the dumps, which go to stderr) is tests/golden/expected/passes/NAME.txt.
for model in tests/golden/passes/*.nn; do
  [ -f "$model" ] || continue
  read -ra flags <<< "$(sed -n 's/^# RUN: //p' "$model" | head -1)"
  check "tests/golden/expected/passes/$(basename "$model" .nn).txt" "$("$sinter" dump "$model" "${flags[@]}" 2>&1 >/dev/null)" \
    "sinter dump $model ${flags[*]}"
done
[ "$update" = "--update" ] && { echo "updated tests/golden/expected"; exit 0; }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
