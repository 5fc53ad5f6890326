#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The machine's ceilings, measured in the same run as the benchmark (numpy on OpenBLAS, one thread:
run with OPENBLAS_NUM_THREADS=1): sgemm GFLOP/s, and the bandwidth at which a float32 matrix-vector
product streams its matrix when the matrix fits in L2, in L3, and when it does not fit in cache
(numpy's per-call overhead subtracted)."""
import time

import numpy as np


def best_time(fn, min_seconds=0.3):
    fn()
    best, t_end = float("inf"), time.perf_counter() + min_seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    n = 2048
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    t = best_time(lambda: a @ b, 1.0)
    print("OpenBLAS sgemm %dx%dx%d, 1 thread: %.0f GFLOP/s" % (n, n, n, 2 * n**3 / t / 1e9))
    # numpy's own cost per call (a 16x16 product is nothing else), taken off the times below so
    # that the small in-cache products measure bandwidth, not call overhead.
    tiny_w = np.random.rand(16, 16).astype(np.float32)
    tiny_v = np.random.rand(16).astype(np.float32)
    call = best_time(lambda: tiny_w @ tiny_v)
    print("numpy call overhead (16x16 sgemv): %.2f us, subtracted below" % (call * 1e6))
    for rows, cols, where in ((512, 512, "1 MiB matrix, in L2"), (2048, 1024, "8 MiB matrix, in L3"),
                              (16384, 4096, "256 MiB matrix, from DRAM")):
        w = np.random.rand(rows, cols).astype(np.float32)
        v = np.random.rand(cols).astype(np.float32)
        t = best_time(lambda: w @ v) - call
        print("OpenBLAS sgemv %dx%d (%s), 1 thread: %.1f us, %.0f GB/s, %.1f GFLOP/s"
              % (rows, cols, where, t * 1e6, w.nbytes / t / 1e9, 2 * rows * cols / t / 1e9))


if __name__ == "__main__":
    main()
