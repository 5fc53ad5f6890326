#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Grouped layers in .rnn files: tools/rnnfile.py and the engine agree byte for byte.

Grouped models written by rnnfile.py, loaded and saved again by the engine (rnnfile_helper resave),
must come back byte-identical, and rnnfile.py must read the engine's file back to the same groups
and tensors. A dense model's file has no groups key. Bad `arch.layer.N.groups` values (not
dividing the hidden size, 0, disagreeing with the layer below) are refused by both readers, and by
rnnfile.py's writer, with a message naming the key.

The same for `input.normalization` = "raw+sequence" (layer 0 reads [x, seqnorm(x)], 2 x input_size
columns, grouped or not): round trips byte for byte through the engine, and a norm.mean/norm.scale
in such a model is refused by both readers and by rnnfile.py's writer, naming the tensor.

A grouped head (`arch.head.groups` = g, written right after `arch.pool`; head.w is [O][D/g],
`labels`/`alphabet` name one head's O/g outputs): round trips byte for byte through the engine,
and rnn-model run computes each head on its own, equal to the g dense models it is made of side by
side (softmax, sigmoid, linear). Head groups not dividing `arch.outputs`, 0, on a top layer grouped
differently (or not at all), with head `none`, a head.w of the dense shape, or `labels` counting
all outputs: refused by both readers naming the key or tensor, and by rnnfile.py's writer.

argv[1]: rnnfile_helper. Environment (set by meson): RNN_SOURCE_ROOT, RNN_BUILD_ROOT.
"""
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

SRC = os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RNN_BUILD_ROOT", os.path.join(SRC, "build"))
HELPER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "tests", "rnnfile_helper")
RNN_MODEL = os.path.join(BUILD, "tools", "rnn-model")
sys.path.insert(0, os.path.join(SRC, "tools"))
import rnnfile  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)
    return cond


def grouped_model(rng, spec, groups, input_size=5, norm=False):
    m = rnnfile.Model(input_size)
    for cell, hidden, bidi in spec:
        m.add_layer(cell, hidden, bidi, groups=groups)
    m.set_head("softmax", 3, "mean")
    m.init_zeros()
    for k in m.tensors:
        m.tensors[k] = rng.standard_normal(m.tensors[k].shape).astype(np.float32)
    if norm:
        m.set_normalization(rng.uniform(-1, 1, input_size), rng.uniform(0.5, 2, input_size))
    m.meta["task"] = "classification"
    m.meta["labels"] = ["x", "y", "z"]
    m.meta["note"] = "grouped \u2713"
    return m


def resave(src, dst):
    return subprocess.run([HELPER, "resave", src, dst], capture_output=True, text=True)


def patch_int(buf, key, value):
    """The file with the int value of metadata `key` replaced (and the CRC fixed)."""
    k = key.encode()
    at = buf.find(struct.pack("<I", len(k)) + k)
    assert at > 0, key
    v = at + 4 + len(k) + 4  # key length, key, type
    b = bytearray(buf)
    b[v:v + 8] = struct.pack("<q", value)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)
    return bytes(b)


def refused_by_both(tmp, data, fragments, what):
    """Both readers refuse the file bytes `data`: rnnfile.py and the engine (through the resave
    helper), each with a message holding every one of `fragments`."""
    try:
        rnnfile.loads(data)
        check(False, "%s: rnnfile.py accepted it" % what)
    except rnnfile.FormatError as e:
        check(all(f in str(e) for f in fragments), "%s: rnnfile.py's message %r" % (what, str(e)))
    p = os.path.join(tmp, "refused.rnn")
    with open(p, "wb") as f:
        f.write(data)
    r = resave(p, os.path.join(tmp, "never.rnn"))
    check(r.returncode == 1 and all(f in r.stderr for f in fragments),
          "%s: the engine's message %r" % (what, r.stderr))


def test_round_trips(tmp, rng):
    cases = [
        ([("gru", 8, True), ("gru", 8, True)], 4, False),
        ([("lstm", 6, False), ("lstm", 12, True), ("rnn_tanh", 6, False)], 3, True),
        ([("rnn_relu", 4, False)], 2, False),
        ([("gru_reset_before", 6, True), ("lstm", 6, False)], 6, True),
    ]
    for spec, groups, norm in cases:
        what = "%s groups=%d" % (spec, groups)
        m = grouped_model(rng, spec, groups, norm=norm)
        a, b = os.path.join(tmp, "a.rnn"), os.path.join(tmp, "b.rnn")
        rnnfile.write(m, a)
        r = resave(a, b)
        if not check(r.returncode == 0, "%s: the engine refused rnnfile.py's file: %s" % (what, r.stderr)):
            continue
        with open(a, "rb") as f:
            ba = f.read()
        with open(b, "rb") as f:
            bb = f.read()
        check(ba == bb, "%s: engine re-save differs from rnnfile.py's bytes (%d vs %d bytes)"
              % (what, len(ba), len(bb)))
        back = rnnfile.read(b)
        check([layer.groups for layer in back.layers] == [groups] * len(spec),
              "%s: groups read back as %s" % (what, [layer.groups for layer in back.layers]))
        check(all(np.array_equal(back.tensors[k], m.tensors[k]) for k in m.tensors),
              "%s: tensors changed" % what)
        check(rnnfile.dumps(back) == bb, "%s: rnnfile.py does not rewrite the engine's bytes" % what)
        shapes = dict(back.tensor_shapes())
        gh = rnnfile.GATES[spec[0][0]] * spec[0][1]
        check(shapes["layer0.fwd.w_hh"] == (gh, spec[0][1] // groups)
              and shapes["layer0.fwd.w_ih"] == (gh, 5), "%s: layer 0 shapes %s" % (what, shapes))
        if len(spec) > 1:
            below = spec[0][1] * (2 if spec[0][2] else 1)
            check(shapes["layer1.fwd.w_ih"][1] == below // groups, "%s: layer 1 w_ih %s" % (what, shapes))
        if os.access(RNN_MODEL, os.X_OK):
            info = subprocess.run([RNN_MODEL, "info", b], capture_output=True, text=True)
            check(info.returncode == 0 and "%d groups of %d" % (groups, spec[0][1] // groups) in info.stdout,
                  "%s: rnn-model info does not show the groups: %s" % (what, info.stdout[:400]))
        print("ok   %s: %d bytes, identical" % (what, len(ba)), flush=True)

    dense = grouped_model(rng, [("gru", 8, True), ("gru", 8, False)], 1)
    data = rnnfile.dumps(dense)
    check(b"groups" not in data, "a dense model's file has a groups key")
    p, q = os.path.join(tmp, "dense.rnn"), os.path.join(tmp, "dense2.rnn")
    with open(p, "wb") as f:
        f.write(data)
    r = resave(p, q)
    check(r.returncode == 0 and open(q, "rb").read() == data, "dense model: engine re-save differs")
    print("ok   dense file has no groups key", flush=True)


def test_refusals(tmp, rng):
    m = grouped_model(rng, [("gru", 8, True), ("lstm", 8, False), ("gru", 4, False)], 4)
    good = rnnfile.dumps(m)
    cases = [
        (patch_int(good, "arch.layer.0.groups", 3), "arch.layer.0.groups", "does not divide"),
        (patch_int(good, "arch.layer.1.groups", 0), "arch.layer.1.groups", ""),
        (patch_int(good, "arch.layer.0.groups", 16), "arch.layer.0.groups", ""),
        (patch_int(good, "arch.layer.0.groups", 2), "arch.layer.1.groups", "layer below has 2 groups"),
        (patch_int(good, "arch.layer.2.groups", 1), "arch.layer.2.groups", "layer below has 4 groups"),
    ]
    for n, (data, key, fragment) in enumerate(cases):
        refused_by_both(tmp, data, (key, fragment), "case %d (a bad %s)" % (n, key))
    bad = grouped_model(rng, [("gru", 8, False)], 2)
    bad.layers[0].groups = 3
    try:
        rnnfile.dumps(bad)
        check(False, "rnnfile.py wrote groups=3 for 8 units")
    except rnnfile.FormatError as e:
        check("arch.layer.0.groups" in str(e), "writer's message %r" % str(e))
    print("ok   bad groups refused by both readers and the writer", flush=True)


def raw_and_sequence_model(rng, spec, groups, input_size=5):
    """A model whose layer 0 reads [x, seqnorm(x)]: the key first, where the engine writes it."""
    m = rnnfile.Model(input_size)
    m.meta["input.normalization"] = "raw+sequence"
    for cell, hidden, bidi in spec:
        m.add_layer(cell, hidden, bidi, groups=groups)
    m.set_head("softmax", 3, "last")
    m.init_zeros()
    for k in m.tensors:
        m.tensors[k] = rng.standard_normal(m.tensors[k].shape).astype(np.float32)
    m.meta["labels"] = ["x", "y", "z"]
    return m


def dumps_unchecked(m):
    """rnnfile.dumps without its read-back check: a file that readers must refuse."""
    saved = rnnfile.loads
    rnnfile.loads = lambda buf, name="<memory>": None
    try:
        return rnnfile.dumps(m)
    finally:
        rnnfile.loads = saved


def test_raw_and_sequence(tmp, rng):
    for spec, groups in (([("gru", 6, True), ("lstm", 4, False)], 1), ([("lstm", 6, True), ("gru", 6, False)], 3)):
        what = "raw+sequence %s groups=%d" % (spec, groups)
        m = raw_and_sequence_model(rng, spec, groups)
        gh = rnnfile.GATES[spec[0][0]] * spec[0][1]
        check(dict(m.tensor_shapes())["layer0.bwd.w_ih"] == (gh, 10), "%s: shapes %s" % (what, m.tensor_shapes()))
        a, b = os.path.join(tmp, "rs.rnn"), os.path.join(tmp, "rs2.rnn")
        rnnfile.write(m, a)
        back = rnnfile.read(a)
        check(back.input_size == 5 and back.meta == m.meta and back.norm_mean is None
              and all(np.array_equal(back.tensors[k], m.tensors[k]) for k in m.tensors),
              "%s: rnnfile.py does not read its own file back" % what)
        with open(a, "rb") as f:
            ba = f.read()
        r = resave(a, b)
        if check(r.returncode == 0, "%s: the engine refused rnnfile.py's file: %s" % (what, r.stderr)):
            with open(b, "rb") as f:
                bb = f.read()
            check(ba == bb, "%s: engine re-save differs from rnnfile.py's bytes (%d vs %d bytes)"
                  % (what, len(ba), len(bb)))
        # the key is what makes layer 0 2 x input_size wide: another value of the same length is refused
        bad = ba.replace(b"raw+sequence", b"raw+sequencx", 1)
        bad = bad[:-4] + struct.pack("<I", zlib.crc32(bad[:-4]) & 0xFFFFFFFF)
        try:
            rnnfile.loads(bad)
            check(False, "%s: rnnfile.py read layer 0 of 10 columns without the key" % what)
        except rnnfile.FormatError as e:
            check("layer0.fwd.w_ih" in str(e) and "x10" in str(e), "%s: rnnfile.py's message %r" % (what, str(e)))
        p = os.path.join(tmp, "rs-bad.rnn")
        with open(p, "wb") as f:
            f.write(bad)
        r = resave(p, os.path.join(tmp, "never.rnn"))
        check(r.returncode == 1 and "raw+sequencx" in r.stderr, "%s: the engine's message %r" % (what, r.stderr))
        print("ok   %s: %d bytes, identical" % (what, len(ba)), flush=True)

    for tensor in ("norm.mean", "norm.scale"):
        m = raw_and_sequence_model(rng, [("gru", 4, False)], 1)
        m.set_normalization(np.zeros(5), np.ones(5))
        try:
            rnnfile.dumps(m)
            check(False, "rnnfile.py wrote a raw+sequence model with %s" % tensor)
        except rnnfile.FormatError as e:
            check("norm.mean" in str(e) and "raw+sequence" in str(e), "writer's message %r" % str(e))
        data = dumps_unchecked(m)
        if tensor == "norm.scale":  # only the scale: rename norm.mean to a name of the same length
            data = data.replace(b"norm.mean", b"layer0.x1", 1)
            data = data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)
        try:
            rnnfile.loads(data)
            check(False, "rnnfile.py read a raw+sequence model with %s" % tensor)
        except rnnfile.FormatError as e:
            check(tensor in str(e) and "raw+sequence" in str(e), "rnnfile.py's message %r" % str(e))
        p = os.path.join(tmp, "rs-%s.rnn" % tensor)
        with open(p, "wb") as f:
            f.write(data)
        r = resave(p, os.path.join(tmp, "never.rnn"))
        check(r.returncode == 1 and tensor in r.stderr and "raw+sequence" in r.stderr,
              "the engine's message for %s with raw+sequence: %r" % (tensor, r.stderr))
    print("ok   norm.mean/norm.scale with raw+sequence refused by both readers and the writer", flush=True)


def grouped_head_model(rng, spec, groups, head, per_head, head_groups=None, norm=False):
    """Grouped layers under a grouped head of `head_groups` (default: `groups`) heads of `per_head`
    outputs; a softmax head is a CTC transcriber (alphabet, blank first), the others classifiers."""
    head_groups = groups if head_groups is None else head_groups
    m = rnnfile.Model(5)
    for cell, hidden, bidi in spec:
        m.add_layer(cell, hidden, bidi, groups=groups)
    m.set_head(head, per_head * head_groups, "last", groups=head_groups)
    m.init_zeros()
    for k in m.tensors:
        m.tensors[k] = rng.standard_normal(m.tensors[k].shape).astype(np.float32)
    if norm:
        m.set_normalization(rng.uniform(-1, 1, 5), rng.uniform(0.5, 2, 5))
    if head == "softmax":
        m.meta["task"] = "transcription"
        m.meta["alphabet"] = ["<blank>"] + [chr(ord("a") + i) for i in range(per_head - 1)]
    else:
        m.meta["task"] = "classification"
        m.meta["labels"] = ["l%d" % i for i in range(per_head)]
    return m


def split_group(m, k):
    """Group k of a grouped model with a grouped head as the dense model it computes."""
    g = m.head_groups
    out = rnnfile.Model(m.input_size)
    for n, layer in enumerate(m.layers):
        h = layer.hidden // g
        out.add_layer(layer.cell, h, layer.bidirectional)
        rows = np.concatenate([np.arange(q * layer.hidden + k * h, q * layer.hidden + (k + 1) * h)
                               for q in range(layer.gates)])
        for d in ("fwd", "bwd") if layer.bidirectional else ("fwd",):
            for t in ("w_ih", "w_hh", "b_ih", "b_hh"):
                name = "layer%d.%s.%s" % (n, d, t)
                out.tensors[name] = m.tensors[name][rows]
    o = m.outputs // g
    out.set_head(m.head, o, m.pool)
    out.tensors["head.w"] = m.tensors["head.w"][k * o:(k + 1) * o]
    out.tensors["head.b"] = m.tensors["head.b"][k * o:(k + 1) * o]
    out.set_normalization(m.norm_mean, m.norm_scale)
    return out


def run_model(path, x, tmp):
    inp, out = os.path.join(tmp, "x.f32"), os.path.join(tmp, "y.f32")
    x.astype("<f4").tofile(inp)
    r = subprocess.run([RNN_MODEL, "run", path, inp, out], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return np.fromfile(out, dtype="<f4").reshape(x.shape[0], -1)


def test_head_round_trips(tmp, rng):
    cases = [
        ([("gru", 6, True), ("gru", 6, True)], 3, "softmax", 4, False),
        ([("lstm", 4, False)], 2, "sigmoid", 3, True),
        ([("rnn_tanh", 6, False), ("gru_reset_before", 6, True)], 2, "linear", 1, True),
    ]
    for spec, groups, head, per_head, norm in cases:
        what = "%s head %s x %d groups=%d" % (spec, head, per_head, groups)
        failed_before = len(failures)
        m = grouped_head_model(rng, spec, groups, head, per_head, norm=norm)
        a, b = os.path.join(tmp, "h.rnn"), os.path.join(tmp, "h2.rnn")
        rnnfile.write(m, a)
        with open(a, "rb") as f:
            ba = f.read()
        # right after arch.pool, as the engine writes it
        after_pool = (struct.pack("<I", 9) + b"arch.pool" + struct.pack("<II", 1, 4) + b"last"
                      + struct.pack("<I", 16) + b"arch.head.groups" + struct.pack("<Iq", 2, groups))
        check(after_pool in ba, "%s: arch.head.groups is not an int right after arch.pool" % what)
        top = spec[-1][1] * (2 if spec[-1][2] else 1)
        check(dict(m.tensor_shapes())["head.w"] == (groups * per_head, top // groups),
              "%s: head.w shape %s" % (what, dict(m.tensor_shapes())["head.w"]))
        r = resave(a, b)
        if not check(r.returncode == 0, "%s: the engine refused rnnfile.py's file: %s" % (what, r.stderr)):
            continue
        with open(b, "rb") as f:
            bb = f.read()
        check(ba == bb, "%s: engine re-save differs from rnnfile.py's bytes (%d vs %d bytes)"
              % (what, len(ba), len(bb)))
        back = rnnfile.read(b)
        check(back.head_groups == groups and back.outputs == groups * per_head and back.meta == m.meta
              and all(np.array_equal(back.tensors[k], m.tensors[k]) for k in m.tensors),
              "%s: rnnfile.py reads the engine's file back as %s" % (what, back))
        check(rnnfile.dumps(back) == bb, "%s: rnnfile.py does not rewrite the engine's bytes" % what)
        if os.access(RNN_MODEL, os.X_OK):
            info = subprocess.run([RNN_MODEL, "info", b], capture_output=True, text=True)
            check(info.returncode == 0 and "%d heads" % groups in info.stdout,
                  "%s: rnn-model info does not show the heads: %s%s" % (what, info.stdout[:400], info.stderr))
            # each head on its own: the g dense models side by side
            x = rng.uniform(-2, 2, size=(17, 5)).astype(np.float32)
            got = run_model(b, x, tmp)
            parts = []
            for k in range(groups):
                p = os.path.join(tmp, "part%d.rnn" % k)
                rnnfile.write(split_group(m, k), p)
                parts.append(run_model(p, x, tmp))
            if check(got is not None and all(y is not None for y in parts),
                     "%s: rnn-model run failed on the grouped-head model or its parts" % what):
                want = np.concatenate(parts, axis=1)
                diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
                check(diff <= 2e-5, "%s: output differs from its groups' dense models side by side by %.3g "
                      "(shapes %s, %s)" % (what, diff, got.shape, want.shape))
        if len(failures) == failed_before:
            print("ok   %s: %d bytes, identical, heads computed apart" % (what, len(ba)), flush=True)


def dumps_ungated(m):
    """rnnfile.dumps without its head-groups rule and its read-back check: a file readers must refuse."""
    saved = rnnfile.loads, rnnfile._head_groups_problem
    rnnfile.loads = lambda buf, name="<memory>": None
    rnnfile._head_groups_problem = lambda *args: None
    try:
        return rnnfile.dumps(m)
    finally:
        rnnfile.loads, rnnfile._head_groups_problem = saved


def test_head_refusals(tmp, rng):
    failed_before = len(failures)
    spec = [("gru", 6, True), ("gru", 6, False)]
    cases = []  # (model, the key or tensor the message names, rnnfile.py's wording, whether the writer refuses)
    m = grouped_head_model(rng, spec, 3, "sigmoid", 2)
    m.set_head("sigmoid", 8, "last", groups=3)
    m.init_zeros()
    m.meta["labels"] = ["l0", "l1"]  # what 8 / 3 would round to
    cases.append((m, "arch.head.groups", "does not divide 'arch.outputs' 8", True))
    cases.append((grouped_head_model(rng, spec, 2, "softmax", 2, head_groups=3), "arch.head.groups",
                  "top layer has 2 groups", True))
    cases.append((grouped_head_model(rng, spec, 1, "linear", 2, head_groups=2), "arch.head.groups",
                  "top layer has 1 groups", True))
    m = grouped_head_model(rng, spec, 3, "linear", 2)
    m.set_head("none", None, "last", groups=3)
    m.meta.pop("labels")
    del m.tensors["head.w"], m.tensors["head.b"]
    cases.append((m, "arch.head.groups", "'arch.head' is 'none'", True))
    m = grouped_head_model(rng, spec, 3, "sigmoid", 2)
    dense_head = grouped_head_model(rng, spec, 3, "sigmoid", 2, head_groups=1)
    dense_head.set_head("sigmoid", 6, "last")
    m.tensor_shapes = dense_head.tensor_shapes  # head.w stored [O][D], as a dense head
    m.tensors["head.w"] = rng.standard_normal((6, 6)).astype(np.float32)
    cases.append((m, "head.w", "the architecture needs 6x2", True))
    m = grouped_head_model(rng, spec, 3, "sigmoid", 2)
    m.meta["labels"] = ["l%d" % i for i in range(6)]  # all outputs, not one head's
    cases.append((m, "labels", "3 heads have 2 outputs each", True))
    for n, (m, name, fragment, writer_refuses) in enumerate(cases):
        if writer_refuses:
            try:
                rnnfile.dumps(m)
                check(False, "head case %d: rnnfile.py wrote a bad %s" % (n, name))
            except rnnfile.FormatError as e:
                check(name in str(e) and fragment in str(e), "head case %d: writer's message %r" % (n, str(e)))
        refused_by_both(tmp, dumps_ungated(m), (name,), "head case %d (a bad %s)" % (n, name))
    good = rnnfile.dumps(grouped_head_model(rng, spec, 3, "sigmoid", 2))
    refused_by_both(tmp, patch_int(good, "arch.head.groups", 0), ("arch.head.groups",), "arch.head.groups 0")
    if len(failures) == failed_before:
        print("ok   bad grouped heads refused by both readers and the writer", flush=True)


def main():
    if not check(os.access(HELPER, os.X_OK), "rnnfile_helper not built at %s" % HELPER):
        return 1
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory(prefix="rnn-groups-") as tmp:
        test_round_trips(tmp, rng)
        test_refusals(tmp, rng)
        test_raw_and_sequence(tmp, rng)
        test_head_round_trips(tmp, rng)
        test_head_refusals(tmp, rng)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all grouped-format checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
