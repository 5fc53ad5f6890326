#!/usr/bin/env bash
# Runs gst-rnn's engine and PyTorch side by side on the same models and prints one table.
#   bench/run.sh [BUILD_DIR] [--seconds S]      (BUILD_DIR defaults to build/; S, the minimum length
#                                                of each timed run, to 0.5)
# Streaming runs single-threaded on both sides (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1));
# batched inference and training may use both sides' default threads with OPENBLAS_NUM_THREADS=2.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."

command="bench/run.sh $*"
build=build
secs=0.5
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) secs=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done

# PyTorch links the generic libblas.so.3; make sure that is OpenBLAS (not the reference BLAS),
# without changing the system: point the loader at OpenBLAS for this run only.
openblas_dir=/usr/lib/x86_64-linux-gnu/openblas-pthread
blas_now=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas_now" in
  *openblas*) blas_note="system libblas.so.3 is OpenBLAS ($blas_now)" ;;
  *)
    export LD_LIBRARY_PATH="$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    blas_note="system libblas.so.3 is $blas_now: using $openblas_dir for this run"
    ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "gst-rnn benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): ${command% }"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $blas_note"
echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); each figure: best of 3 runs of >= ${secs}s"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every figure)"
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/machine.py
echo

engine=""
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" >"$tmp/setup.log" 2>&1 || echo "meson setup $build failed: gst-rnn figures are n/a" >&2
fi
if ninja -C "$build" bench/bench_engine >"$tmp/ninja.log" 2>&1; then
  engine="$build/bench/bench_engine"
else
  echo "bench/bench_engine does not build yet (engine code missing?): gst-rnn figures are n/a" >&2
  tail -5 "$tmp/ninja.log" >&2
fi

run_ours() {  # PART THREADS
  if [ -n "$engine" ]; then
    OPENBLAS_NUM_THREADS=$2 "$engine" --seconds "$secs" "$1" >>"$tmp/results" ||
      echo "bench_engine $1 failed (exit $?): missing figures are n/a" >&2
  fi
}
run_torch() {  # PART THREADS
  OPENBLAS_NUM_THREADS=$2 /usr/bin/python3 bench/bench_torch.py --seconds "$secs" "$1" >>"$tmp/results" ||
    echo "bench_torch.py $1 failed (exit $?): missing figures are n/a" >&2
}

: >"$tmp/results"
for part in stream batch train; do
  threads=2
  [ "$part" = stream ] && threads=1
  echo "running $part (gst-rnn, then PyTorch) ..." >&2
  run_ours "$part" "$threads"
  run_torch "$part" "$threads"
done

/usr/bin/python3 bench/table.py "$tmp/results"
echo
OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_step_profile.py
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
