#!/usr/bin/env bash
# Runs every tests/malformed/*.nn through `sinter check` and compares the errors it prints with the
# file's `# expect: LINE:COL: error: MESSAGE` lines: same lines, same order, exit status 1.
# Notes, quoted source lines and carets are ignored.
# Usage: run_corpus.sh SINTER_BINARY CORPUS_DIR
set -u -o pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 SINTER_BINARY CORPUS_DIR" >&2
  exit 2
fi
sinter=$1
corpus=$2
if [[ ! -x $sinter ]]; then
  echo "error: '$sinter' is not an executable" >&2
  exit 2
fi

passed=0
failed=0
shopt -s nullglob
for file in "$corpus"/*.nn; do
  name=$(basename "$file")
  expected=$(sed -n 's/^.*# expect: //p' "$file")
  stderr=$("$sinter" check "$file" 2>&1 >/dev/null)
  status=$?
  # Keep the error lines, located ones without their file name; unlocated ones (`sinter: error:`)
  # stay whole so that they show up in the diff.
  actual=$(printf '%s\n' "$stderr" | awk -v prefix="$file:" '
    index($0, prefix) == 1 { rest = substr($0, length(prefix) + 1); if (rest ~ /^[0-9]+:[0-9]+: error: /) print rest; next }
    /^sinter: error: / { print }')
  problems=()
  [[ -z $expected ]] && problems+=("no '# expect:' lines")
  [[ $status -ne 1 ]] && problems+=("exit status $status, expected 1")
  [[ $actual != "$expected" ]] && problems+=("diagnostics differ")
  if [[ ${#problems[@]} -eq 0 ]]; then
    passed=$((passed + 1))
    continue
  fi
  failed=$((failed + 1))
  echo "FAIL $name: $(IFS=';'; echo "${problems[*]}" | sed 's/;/; /g')"
  if [[ $actual != "$expected" ]]; then
    diff -u --label "$name (expected)" --label "$name (sinter check)" \
      <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") | sed 's/^/  /'
  fi
  if [[ $status -gt 1 ]]; then
    printf '%s\n' "$stderr" | tail -n 5 | sed 's/^/  | /'
  fi
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
