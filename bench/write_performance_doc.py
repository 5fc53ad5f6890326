#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes docs/performance.md around one bench/run.sh output (its tables exactly as printed); every
number in the prose is taken from that output or computed from it.

    bench/run.sh > run.txt && bench/write_performance_doc.py run.txt [OTHER_RUN.txt...]

Other runs of the same command, if given, add a table of how the ratios moved between runs.
"""
import os
import re
import sys

run = open(sys.argv[1]).read().rstrip("\n")
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
when, command = re.search(r"gst-rnn benchmark, (\d{4}-\d\d-\d\d \d\d:\d\d UTC)(?:: (.*))?", run).groups()
command = command or "bench/run.sh"
load_before = re.search(r"load average before the run: (\S+)", run).group(1)
load_after = re.search(r"load average after the run: (\S+)", run).group(1)
sgemm = float(re.search(r"sgemm .*: (\d+) GFLOP/s", run).group(1))
l2 = float(re.search(r"in L2\), 1 thread: \S+ us, (\d+) GB/s", run).group(1))
l3 = float(re.search(r"in L3\), 1 thread: \S+ us, (\d+) GB/s", run).group(1))
dram = float(re.search(r"from DRAM\), 1 thread: \S+ us, (\d+) GB/s", run).group(1))
addmm, mv = map(float, re.search(r"addmm .*?([\d.]+) us, mv ([\d.]+) us", run).groups())
overhead = float(re.search(r"per-call overhead\), 1 thread: ([\d.]+) us", run).group(1))

vals = {}
for line in run.splitlines():
    m = re.match(r"\| (LSTM|GRU) 2x(\d+) \| (streaming|inference|training)[^|]*\| ([^|]+)\| ([^|]+)\|", line)
    if m:
        cell, h, part, ours, theirs = m.groups()
        num = lambda s: None if s.strip() == "n/a" else float(s.strip().replace(",", ""))
        vals[(cell, int(h), part)] = (num(ours), num(theirs))

def work(cell, h):
    g = 4 if cell == "LSTM" else 3
    w = g * h * (40 + h) + g * h * 2 * h
    return w, 4 * w, 2 * w, 6 * (w + 10 * h)

ceiling = 2 * sgemm
def f0(x): return "{:,.0f}".format(x)
def f1(x): return "{:,.1f}".format(x)

rows_stream, rows_batch, rows_train = [], [], []
for cell in ("LSTM", "GRU"):
    for h in (128, 512):
        w, by, fwd, tr = work(cell, h)
        where, bw = ("L2", l2) if by <= 1 << 20 else ("L3", l3)
        floor = by / (bw * 1e9) * 1e6
        o, t = vals[(cell, h, "streaming")]
        rows_stream.append(f"| {cell} 2x{h} | {by/2**20:.2f} MiB | {where} | {f1(floor)} us | "
                           + (f"{f1(o)} us ({by/(o*1e-6)/1e9:.0f} GB/s, {floor/o*100:.0f}% of sgemv's rate)"
                              if o else "n/a") + " | "
                           + (f"{f1(t)} us" if t else "n/a") + " |")
        for part, flops, rows in (("inference", fwd, rows_batch), ("training", tr, rows_train)):
            o, t = vals[(cell, h, part)]
            cap = ceiling * 1e9 / flops
            rows.append(f"| {cell} 2x{h} | {flops/1e6:.3f} | {f0(cap)} | "
                        + (f"{f0(o)} ({o*flops/1e9:.0f} GFLOP/s, {o/cap*100:.0f}%)" if o else "n/a") + " | "
                        + (f"{f0(t)} ({t*flops/1e9:.0f} GFLOP/s, {t/cap*100:.0f}%)" if t else "n/a") + " |")

stream_pct = []
for cell in ("LSTM", "GRU"):
    for h in (128, 512):
        w, by, fwd, tr = work(cell, h)
        o = vals[(cell, h, "streaming")][0]
        if o:
            stream_pct.append((by / ((l2 if by <= 1 << 20 else l3) * 1e9) * 1e6) / o * 100)
if stream_pct and min(stream_pct) >= 95:
    stream_verdict = f"""The engine's step reads each weight once per frame with AVX-512 matrix-vector kernels and
allocates nothing, and it runs at the bandwidth bound: {min(stream_pct):.0f}-{max(stream_pct):.0f}% of
the rate at which OpenBLAS's sgemv streams a matrix from the same cache level. A faster step has
to read fewer bytes per frame (narrower weights: the format reserves f16, bf16 and 8-bit rows), not
compute faster. Under heavier load (the other runs in the table above) the 512 models lose most:
their 9-12 MiB of weights share the L3 with everything else running, and what is evicted comes
back at DRAM speed ({dram:.0f} GB/s measured)."""
else:
    stream_verdict = f"""The engine's step reads each weight once per frame with AVX-512 matrix-vector kernels and
allocates nothing; what separates it from the cache's bandwidth is most likely the work between
the products (gate nonlinearities, one layer after the other) and, for the 512 models, L3 sharing:
with the machine busy (load {load_before} before the run, {load_after} after), other processes
evict part of the 9-12 MiB of weights from the shared L3, and what is refetched comes at DRAM
speed ({dram:.0f} GB/s measured)."""

def gflops(part, idx):
    out = []
    for cell in ("LSTM", "GRU"):
        for h in (128, 512):
            w, by, fwd, tr = work(cell, h)
            v = vals[(cell, h, part)][idx]
            if v:
                out.append(v * (fwd if part == "inference" else tr) / 1e9)
    return out
bi, tr_ = gflops("inference", 0), gflops("training", 0)
batch_vs_train = ""
if bi and tr_ and min(tr_) > 1.5 * max(bi):
    batch_vs_train = f""" The engine's own training path, whose recurrent products are the
same kind of small per-timestep GEMM (32 rows instead of 64), reaches {min(tr_):.0f}-{max(tr_):.0f} GFLOP/s
in the next section against {min(bi):.0f}-{max(bi):.0f} GFLOP/s here. Both now use the same packed
AVX-512 small-GEMM kernel (engine/gemm.c) for the per-timestep products, but inference runs each
timestep's product on one core while training splits its batch across both: splitting each
timestep's product between the cores is the remaining gain for batched inference."""

analysis = f"""
The ceilings come from the same run (`bench/machine.py`, numpy on OpenBLAS, one thread): sgemm at
{sgemm:.0f} GFLOP/s per core, and matrix-vector products (sgemv) streaming their matrix at {l2:.0f} GB/s
when it sits in L2, {l3:.0f} GB/s from L3 and {dram:.0f} GB/s from DRAM. Work per frame is in the
second table: every weight is one multiply-add (2 FLOPs) per frame forward; training adds the
backward products through the data and to the weights, 6 FLOPs per weight (head included). Biases
and the gate nonlinearities are a few percent and left out.

### Streaming, batch 1: bound by the bandwidth of the cache that holds the weights

One frame multiplies every weight once (`W_ih x` and `W_hh h` for each layer) and uses it for
nothing else: 2 FLOPs per 4-byte weight, 0.5 FLOP/byte. Even from L2 ({l2:.0f} GB/s) that allows
{l2/2:.0f} GFLOP/s, less than the {sgemm:.0f} GFLOP/s the same core reaches in sgemm (which reuses
every loaded value many times): the step is bound by how fast the weights stream from the cache
level they live in, and the lower bound per frame is weight bytes / that bandwidth. The reference
for that bandwidth is OpenBLAS's sgemv on a matrix of similar size in the same cache level (numpy's
call overhead subtracted); a kernel that streams better than OpenBLAS's sgemv shows above 100%, so
for those rows the true limit is at least the engine's own rate. The 128 models (0.62 and 0.83 MiB)
fit in a core's 1 MiB L2; the 512 models (9.2 and 12.3 MiB) only in the 32 MiB L3 that both cores
(and everything else running) share.

| model | weights per frame | held in | time at sgemv's bandwidth | gst-rnn | PyTorch |
| --- | ---: | --- | ---: | ---: | ---: |
{chr(10).join(rows_stream)}

{stream_verdict}

PyTorch is an order of magnitude slower for two reasons `bench/torch_step_profile.py` measures in
the same run: a one-frame call of even a tiny `nn.LSTM(40, 8, 2)` costs {overhead:.0f} us of
per-call overhead (Python, dispatch, tensor allocation), and for one frame `nn.LSTM` multiplies
through `addmm` with a one-row matrix, which takes {addmm:.0f} us for the 2048 x 1024 product of the
2x512 LSTM where `mv` (a BLAS matrix-vector product) takes {mv:.0f} us.

### Batched inference, 64 streams x 100 frames: bound by compute, far from it

With 64 streams each weight is used 64 times per timestep: the input projection of all frames is
one GEMM, and each timestep's recurrent product is a (64 x H) by (H x gates*H) GEMM. That is
compute-bound work; with both cores at the measured sgemm rate the ceiling is {ceiling:.0f} GFLOP/s,
so frames/s <= {ceiling:.0f} GFLOP/s / forward FLOPs per frame. (The sgemm rate was measured under
the same load as the figures, so the percentages compare like with like.)

| model | forward MFLOP/frame | ceiling, frames/s | gst-rnn, frames/s | PyTorch, frames/s |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows_batch)}

Both sides stay well under the ceiling because half of the work is sequential. The input
projections (`W_ih` of both layers: 54% of the FLOPs at H = 128, 51% at H = 512) are one large GEMM
per layer over all 6,400 frames; the recurrent products (`W_hh`, the other half) are 100 small
GEMMs per layer, one per timestep, each waiting for the previous one (M = 64 rows; for an LSTM of
128, 64 x 128 x 512, 8.4 MFLOP), a shape at which OpenBLAS runs well below its large-matrix rate,
with the gate nonlinearities in between.{batch_vs_train}

### Training, batch 32 x 100 frames: bound by compute

Training is forward plus two backward products per weight, all GEMM-shaped over the 32 sequences
(plus Adam's update, a pass over the parameters per batch): compute-bound, same ceiling.

| model | training MFLOP/frame | ceiling, frames/s | gst-rnn, frames/s | PyTorch, frames/s |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows_train)}

The backward recurrence is as sequential as the forward one (M = 32 rows per timestep), which keeps
both below the ceiling. PyTorch's CPU `nn.LSTM`/`nn.GRU` run each timestep as separate operators,
each recorded for autograd, so it also pays per-operator overhead on every timestep and layer.
"""

variation = ""
others = sys.argv[2:]
if others:
    def ratios(text):
        out = {}
        for line in text.splitlines():
            m = re.match(r"\| ((?:LSTM|GRU) 2x\d+) \| ((?:streaming|inference|training)[^|]+)\|[^|]+\|[^|]+\| ([^|]+)\|",
                         line)
            if m:
                out[(m.group(1), m.group(2).strip())] = m.group(3).strip()
        return out
    runs = [(when, ratios(run))]
    for path in others:
        text = open(path).read()
        runs.append((re.search(r"gst-rnn benchmark, (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", text).group(1),
                     ratios(text)))
    head = "| model | measurement | " + " | ".join("ratio, run of " + w for w, _ in runs) + " |"
    lines = [head, "| --- | --- |" + " ---: |" * len(runs)]
    for key in runs[0][1]:
        lines.append("| %s | %s | " % key + " | ".join(r.get(key, "n/a") for _, r in runs) + " |")
    variation = """
How much a busy machine moves the figures: the same command run again minutes apart gave these
ratios (gst-rnn speed / PyTorch speed); the first column is the run shown above. A ratio that
changes a lot between runs (or crosses 1) says the two sides are close, not which one is faster.

""" + "\n".join(lines) + "\n"

doc = f"""# Performance

How fast the engine runs, next to PyTorch on the same machine in the same run, and what limits
each figure.

## Command

```
bench/run.sh            # or: bench/run.sh BUILD_DIR; details in bench/README.md
```

It builds `bench/bench_engine` (C, the engine's public API) and runs it and `bench/bench_torch.py`
(PyTorch 1.13 from Debian) part by part, then prints the tables below. The run shown here:
`{command}` (a `buildtype=release` build of this tree), {when}.

## Machine

`lscpu`: AMD EPYC, CPU family 26 model 2, 2 cores (KVM guest, 1 thread per core), AVX-512;
L1d 48 KiB and L2 1 MiB per core (lscpu: "96 KiB (2 instances)", "2 MiB (2 instances)"),
L3 32 MiB shared. The system's `libblas.so.3` is OpenBLAS (pthread), which is what Debian's
PyTorch links (`BLAS_INFO=generic`), so PyTorch runs on OpenBLAS, like the engine.

The machine was shared with other work during the run (load average {load_before} before,
{load_after} after, on 2 cores): absolute figures are lower than on an idle machine, and the two
sides ran within the same minutes, so the ratios are the more trustworthy column. Each figure is
the best of 3 timed runs of at least 0.5 s.

## Results (as printed)

```
{run}
```

{variation}
## What bounds each figure
{analysis}"""
open("docs/performance.md", "w").write(doc)
