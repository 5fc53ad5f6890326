#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Joins bench_engine's and bench_torch.py's lines into the table bench/run.sh prints.

    table.py RESULTS...   lines "ours|torch CELL HIDDEN PART VALUE" (VALUE may be n/a)
"""
import sys

PARTS = [
    ("stream", "streaming, batch 1 (us/frame)", False),
    ("batch", "inference, 64 streams x 100 frames (frames/s)", True),
    ("train", "training, batch 32 x 100 frames (frames/s)", True),
]


def fmt(v):
    if v is None:
        return "n/a"
    if v >= 1000:
        return "{:,.0f}".format(v)
    return "{:.2f}".format(v) if v < 100 else "{:.1f}".format(v)


def main(paths):
    values = {}
    for path in paths:
        for line in open(path):
            f = line.split()
            if len(f) != 5 or f[0] not in ("ours", "torch"):
                continue
            try:
                v = float(f[4])
            except ValueError:
                v = None
            values[(f[0], f[1], int(f[2]), f[3])] = v
    header = "| model | measurement | gst-rnn | PyTorch 1.13 | gst-rnn speed / PyTorch speed |"
    print(header)
    print("| --- | --- | ---: | ---: | ---: |")
    for cell in ("lstm", "gru"):
        for hidden in (128, 512):
            for part, title, higher_better in PARTS:
                ours = values.get(("ours", cell, hidden, part))
                theirs = values.get(("torch", cell, hidden, part))
                if ours and theirs:
                    ratio = "%.2fx" % (ours / theirs if higher_better else theirs / ours)
                else:
                    ratio = "n/a"
                print("| %s 2x%d | %s | %s | %s | %s |" % (cell.upper(), hidden, title, fmt(ours), fmt(theirs),
                                                           ratio))
    print_work(values)
    return 0


def model_work(cell, hidden, inputs=40, classes=10):
    """Weights read per frame and FLOPs per frame of a 2-layer model (biases and the gate math are
    a few percent and left out): each weight is one multiply-add (2 FLOPs) per frame forward, and
    training adds the backward products through the data and to the weights (6 FLOPs per weight,
    head included)."""
    g = 4 if cell == "lstm" else 3
    weights = g * hidden * (inputs + hidden) + g * hidden * 2 * hidden
    return weights, 2.0 * weights, 6.0 * (weights + classes * hidden)


def print_work(values):
    print()
    print("Work per frame, and the rate each figure above achieves (gst-rnn / PyTorch):")
    print("| model | weights | weight bytes/frame | forward MFLOP/frame | training MFLOP/frame "
          "| streaming: weights read, GB/s | inference: GFLOP/s | training: GFLOP/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def pair(fn, part, cell, hidden):
        out = []
        for side in ("ours", "torch"):
            v = values.get((side, cell, hidden, part))
            out.append("n/a" if not v else "%.0f" % fn(v))
        return " / ".join(out)

    for cell in ("lstm", "gru"):
        for hidden in (128, 512):
            w, fwd, train = model_work(cell, hidden)
            print("| %s 2x%d | %s | %.2f MiB | %.3f | %.2f | %s | %s | %s |" % (
                cell.upper(), hidden, "{:,}".format(w), 4 * w / 2**20, fwd / 1e6, train / 1e6,
                pair(lambda us: 4 * w / (us * 1e-6) / 1e9, "stream", cell, hidden),
                pair(lambda fps: fwd * fps / 1e9, "batch", cell, hidden),
                pair(lambda fps: train * fps / 1e9, "train", cell, hidden)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
