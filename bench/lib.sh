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
  openblas_kernel
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
  # Other work on the cores distorts every timing, multi-threaded ones most: a thread that waits
  # at a barrier for a descheduled sibling (PyTorch's OpenMP above all) loses whole time slices.
  awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
    echo "warning: the machine is busy (load $load on $(nproc) cores): the timings are unreliable" >&2
  return 0
}

# openblas_kernel: the OpenBLAS kernel PyTorch gets, chosen for the CPU and exported. The
# environment sets OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE=512 (AVX2 kernels even on AVX-512
# machines); unset, OpenBLAS 0.3.21 detects Zen 4 but not these Intel Xeons, where it falls back to
# its SSE3 kernels (Prescott: a 2048^3 sgemm at 17 GFLOP/s instead of 111 with SkylakeX). So:
# OpenBLAS's own choice unless that is a pre-AVX2 fallback on a CPU with AVX2 or AVX-512.
openblas_kernel() {
  unset OPENBLAS_L2_SIZE OPENBLAS_CORETYPE
  local core
  core=$(OPENBLAS_VERBOSE=2 "$PY" -c 'import torch; torch.mm(torch.rand(8, 8), torch.rand(8, 8))' 2>&1 | sed -n 's/^Core: //p' | head -1)
  case $core in
    Prescott | Core2 | Penryn | Dunnington | Nehalem | Sandybridge | Katmai | Coppermine | Northwood | "")
      if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
      elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi ;;
  esac
  echo "OpenBLAS kernel: ${OPENBLAS_CORETYPE:-$core} (detected: ${core:-unknown})"
}

# sgemm_peak THREADS: GFLOP/s of a 2048^3 sgemm through PyTorch's BLAS on THREADS threads, best
# of 5: the practical fp32 peak to quote shares against (the register-only FMA limit is higher and
# differs between the machines' CPUs: /work/shared/notes/machines.md).
sgemm_peak() {
  "$PY" - "$1" <<'PYEOF'
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
best = 1e9
for _ in range(6):
    t = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t)
print(f"{2 * 2048**3 / best * 1e-9:.1f}")
PYEOF
}

# median VALUE...: the middle value (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# field NAME LINE: the value of NAME=value in a `key=value ...` result line.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
