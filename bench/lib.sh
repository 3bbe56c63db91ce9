# Shared by bench/step.sh and bench/epoch.sh (sourced): checks that the build and PyTorch are
# there, says which BLAS PyTorch will use, and takes medians.

PY=/usr/bin/python3  # Debian's python3-torch; `python3` on PATH may be another interpreter
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")

die() { echo "error: $*" >&2; exit 1; }

# preflight FILE...: the build outputs the benchmark needs, then torch.
preflight() {
  local f
  for f in "$@"; do
    [[ -x $ROOT/$f ]] || die "$ROOT/$f is missing: build first (cmake -S . -B build -G Ninja && cmake --build build)"
  done
  "$PY" -c 'import torch' 2>/dev/null ||
    die "$PY cannot import torch: install Debian's python3-torch (and libopenblas0-openmp)"
  # PyTorch 1.13 from Debian calls whatever libblas.so.3 is: the reference BLAS is 15-20x slower
  # on matmul than OpenBLAS, which would make the comparison meaningless.
  local blas
  blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)
  echo "PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), libblas.so.3 -> $blas"
  [[ $blas == *openblas* ]] || echo "warning: PyTorch is not using OpenBLAS; install libopenblas0-openmp" >&2
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
  # Other work on the cores distorts every timing, multi-threaded ones most: a thread that waits
  # at a barrier for a descheduled sibling (PyTorch's OpenMP above all) loses whole time slices.
  awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
    echo "warning: the machine is busy (load $load on $(nproc) cores): the timings are unreliable" >&2
  return 0
}

# median VALUE...: the middle value (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# field NAME LINE: the value of NAME=value in a `key=value ...` result line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
