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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
