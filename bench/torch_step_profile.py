#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where PyTorch's streaming time goes (run by bench/run.sh after the table; one thread).

For the 2x512 LSTM's largest product (gate rows 2048 x inputs 1024) it times the two ways PyTorch
can multiply one frame by a weight matrix: addmm with a 1-row matrix (what nn.LSTM does for one
frame) and mv (a plain matrix-vector product); and the cost of one nn.LSTM call on a tiny model
(hidden 8), which is nearly all per-call overhead."""
import time

import torch


def best_us(fn, n=200, rounds=5):
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    w = torch.rand(2048, 1024)
    x = torch.rand(1, 1024)
    b = torch.rand(2048)
    with torch.no_grad():
        t_addmm = best_us(lambda: torch.addmm(b, x, w.t()))
        t_mv = best_us(lambda: torch.mv(w, x[0]))
        tiny = torch.nn.LSTM(40, 8, 2).eval()
        frame = torch.rand(1, 1, 40)
        state = [None]

        def step():
            _, state[0] = tiny(frame, state[0])

        t_tiny = best_us(step, 2000)
    print("PyTorch one frame x 2048x1024 weights, 1 thread: addmm (1-row matrix, as nn.LSTM) %.1f us, "
          "mv %.1f us" % (t_addmm, t_mv))
    print("PyTorch nn.LSTM(40, 8, 2) one-frame call (per-call overhead), 1 thread: %.1f us" % t_tiny)


if __name__ == "__main__":
    main()
