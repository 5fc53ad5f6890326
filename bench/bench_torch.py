#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch's side of bench/run.sh: the same figures as bench_engine, measured the same way.

    bench_torch.py [--seconds S] PART...     PART: stream, batch, train

For nn.LSTM and nn.GRU, 2 layers of 128 and of 512, 40 inputs:
  stream  the module stepping one frame, (h, c) carried, batch 1, torch.set_num_threads(1),
          under torch.no_grad() (us/frame)
  batch   one call on 64 streams x 100 frames, under torch.no_grad() (frames/s)
  train   batch 32 of 100-frame sequences, module + Linear(H, 10), per-frame cross-entropy,
          Adam(1e-3), gradient norm clipped at 5 as the engine's default (frames/s)
Prints "torch CELL HIDDEN PART VALUE" lines; each figure is the best of 3 timed runs of >= S
seconds after a warm-up run.
"""

import sys
import time

import torch

INPUTS, LAYERS, CLASSES, SEQ, STREAMS, TRAIN_BATCH, REPEATS = 40, 2, 10, 100, 64, 32, 3


def timed_best(fn, unit_count, min_seconds):
    """Best rate (units/s) over REPEATS runs of >= min_seconds, after one warm-up run."""
    best = 0.0
    for r in range(REPEATS + 1):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            t = time.perf_counter() - t0
            if t >= min_seconds:
                break
        if r > 0:
            best = max(best, n * unit_count / t)
    return best


def make(cell, hidden):
    torch.manual_seed(1)
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    return cls(INPUTS, hidden, LAYERS)


def bench_stream(cell, hidden, secs):
    m = make(cell, hidden).eval()
    frames = torch.rand(256, 1, 1, INPUTS) * 4 - 2
    state = [None]

    def run256():
        s = state[0]
        for i in range(256):
            _, s = m(frames[i], s)
        state[0] = s

    with torch.no_grad():
        rate = timed_best(run256, 256, secs)
    return 1e6 / rate  # us per frame


def bench_batch(cell, hidden, secs):
    m = make(cell, hidden).eval()
    x = torch.rand(SEQ, STREAMS, INPUTS) * 4 - 2
    with torch.no_grad():
        return timed_best(lambda: m(x), SEQ * STREAMS, secs)


def bench_train(cell, hidden, secs):
    rnn = make(cell, hidden)
    head = torch.nn.Linear(hidden, CLASSES)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.rand(SEQ, TRAIN_BATCH, INPUTS) * 4 - 2
    y = torch.randint(0, CLASSES, (SEQ * TRAIN_BATCH,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(x)
        loss = loss_fn(head(out).reshape(-1, CLASSES), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    return timed_best(step, SEQ * TRAIN_BATCH, secs)


def main(argv):
    secs, parts = 0.5, []
    it = iter(argv[1:])
    for a in it:
        if a == "--seconds":
            secs = float(next(it))
        elif a in ("stream", "batch", "train"):
            parts.append(a)
        else:
            print("usage: bench_torch.py [--seconds S] stream|batch|train...", file=sys.stderr)
            return 2
    parts = parts or ["stream", "batch", "train"]
    if "stream" in parts:
        torch.set_num_threads(1)
    fns = {"stream": bench_stream, "batch": bench_batch, "train": bench_train}
    for cell in ("lstm", "gru"):
        for hidden in (128, 512):
            for part in parts:
                print("torch %s %d %s %.6g" % (cell, hidden, part, fns[part](cell, hidden, secs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
