#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-sequence normalisation (input.normalization = sequence) against an independent reference.

A model written by tools/rnnfile.py (bidirectional GRU + GRU, stored normalisation, softmax head)
with the key input.normalization = "sequence" is run by build/tools/rnn-model on sequences with
large per-input offsets, a constant input and a 1-frame sequence; the reference is PyTorch:
torch.nn.functional.instance_norm (eps 1e-5, biased variance), then (x - mean) * scale, then the
same layers as torch.nn.GRU modules. The outputs must agree to 1e-5; without the key they must not
(the key is what makes the difference); run --stream must refuse the model; a value other than
"sequence" or "none" must be refused by the C loader with a message naming the key and the value.

Environment (set by meson): RNN_SOURCE_ROOT, RNN_BUILD_ROOT.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

SRC = os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RNN_BUILD_ROOT", os.path.join(SRC, "build"))
RNN_MODEL = os.path.join(BUILD, "tools", "rnn-model")
sys.path.insert(0, os.path.join(SRC, "tools"))
import rnnfile  # noqa: E402

TOL = 1e-5
I, H, O = 5, 7, 4
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)
    return cond


def rnn_model_run(path, x, tmp, stream=False):
    inp, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.astype("<f4").tofile(inp)
    r = subprocess.run([RNN_MODEL, "run"] + (["--stream"] if stream else []) + [path, inp, out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return np.fromfile(out, dtype="<f4").reshape(len(x), O), r.stderr


def build(rng, bidi=True):
    m = rnnfile.Model(I)
    m.add_layer("gru", H, bidi)
    m.add_layer("gru", H, False)
    m.set_head("softmax", O, "mean")
    for name, shape in m.tensor_shapes():
        m.tensors[name] = rng.uniform(-0.6, 0.6, size=shape).astype(np.float32)
    m.set_normalization(rng.uniform(-0.3, 0.3, I).astype(np.float32),
                        rng.uniform(0.5, 1.5, I).astype(np.float32))
    m.meta["task"] = "classification"
    return m


def gru(input_size, bidi, tensors, layer):
    g = torch.nn.GRU(input_size, H, 1, bidirectional=bidi)
    with torch.no_grad():
        for suffix, d in (("", "fwd"), ("_reverse", "bwd")):
            if d == "bwd" and not bidi:
                continue
            for torch_name, ours in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"), ("bias_ih", "b_ih"),
                                     ("bias_hh", "b_hh")):
                getattr(g, "%s_l0%s" % (torch_name, suffix)).copy_(
                    torch.from_numpy(tensors["layer%d.%s.%s" % (layer, d, ours)]))
    return g.eval()


def reference(m, x, bidi=True):
    """PyTorch: instance_norm over time per input, the stored normalisation, the layers, the head."""
    t = torch.from_numpy(x.astype(np.float64)).T[None]  # (1, I, T)
    if len(x) == 1:  # instance_norm refuses one frame; x - mean is 0 there
        xn = torch.zeros(1, I)
    else:
        xn = torch.nn.functional.instance_norm(t, eps=1e-5)[0].T.float()  # (T, I)
    xn = (xn - torch.from_numpy(m.norm_mean)) * torch.from_numpy(m.norm_scale)
    g0 = gru(I, bidi, m.tensors, 0)
    g1 = gru(2 * H if bidi else H, False, m.tensors, 1)
    with torch.no_grad():
        y, _ = g0(xn[:, None, :])
        y, _ = g1(y)
        z = y[:, 0, :] @ torch.from_numpy(m.tensors["head.w"]).T + torch.from_numpy(m.tensors["head.b"])
        return torch.softmax(z, dim=1).numpy()


def main():
    rng = np.random.default_rng(5)
    m = build(rng)
    with tempfile.TemporaryDirectory() as tmp:
        seq = os.path.join(tmp, "seq.rnn")
        plain = os.path.join(tmp, "plain.rnn")
        rnnfile.write(m, plain)
        m.meta["input.normalization"] = "sequence"
        rnnfile.write(m, seq)

        cases = []
        for T in (1, 2, 17, 60):
            offset = rng.uniform(-40, 40, I)
            gain = rng.uniform(0.2, 5.0, I)
            x = (offset + gain * rng.standard_normal((T, I))).astype(np.float32)
            if T == 17:
                x[:, 3] = 2.5  # a constant input
            cases.append(x)
        for x in cases:
            got, err = rnn_model_run(seq, x, tmp)
            if not check(got is not None, "rnn-model run failed: %s" % err):
                continue
            want = reference(m, x)
            diff = float(np.max(np.abs(got - want)))
            check(diff <= TOL, "T=%d: max |rnn-model - torch| = %g" % (len(x), diff))
            print("T=%2d: max |rnn-model - torch| = %.3g" % (len(x), diff))
            if len(x) > 2:
                base, _ = rnn_model_run(plain, x, tmp)
                check(base is not None and float(np.max(np.abs(base - want))) > 1e-3,
                      "T=%d: the model without the key gives the same outputs" % len(x))

        # Unidirectional: not streamable only because of the mode; the same numbers otherwise.
        u = build(rng, bidi=False)
        u.meta["input.normalization"] = "sequence"
        useq = os.path.join(tmp, "useq.rnn")
        rnnfile.write(u, useq)
        got, err = rnn_model_run(useq, cases[3], tmp)
        if check(got is not None, "rnn-model run failed: %s" % err):
            diff = float(np.max(np.abs(got - reference(u, cases[3], bidi=False))))
            check(diff <= TOL, "unidirectional: max |rnn-model - torch| = %g" % diff)
            print("unidirectional T=%d: max |rnn-model - torch| = %.3g" % (len(cases[3]), diff))
        out, err = rnn_model_run(useq, cases[2], tmp, stream=True)
        check(out is None and "input.normalization" in err, "run --stream accepted the model: %s" % err)

        r = subprocess.run([RNN_MODEL, "info", seq], stdout=subprocess.PIPE, text=True)
        check("per-sequence normalisation   yes" in r.stdout and "streamable                   no" in r.stdout,
              "rnn-model info does not show the mode:\n" + r.stdout)

        m.meta["input.normalization"] = "utterance"
        bad = os.path.join(tmp, "bad.rnn")
        rnnfile.write(m, bad)
        out, err = rnn_model_run(bad, cases[0], tmp)
        check(out is None and "'input.normalization' is 'utterance', it must be 'sequence', 'raw+sequence' or 'none'" in err,
              "a bad value was not refused as expected: %s" % err)

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
