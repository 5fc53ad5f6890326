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
        try:
            rnnfile.loads(data)
            check(False, "case %d: rnnfile.py accepted a bad %s" % (n, key))
        except rnnfile.FormatError as e:
            check(key in str(e) and fragment in str(e), "case %d: rnnfile.py's message %r" % (n, str(e)))
        p = os.path.join(tmp, "bad%d.rnn" % n)
        with open(p, "wb") as f:
            f.write(data)
        r = resave(p, os.path.join(tmp, "never.rnn"))
        check(r.returncode == 1 and key in r.stderr and fragment in r.stderr,
              "case %d: the engine's message %r" % (n, r.stderr))
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


def main():
    if not check(os.access(HELPER, os.X_OK), "rnnfile_helper not built at %s" % HELPER):
        return 1
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory(prefix="rnn-groups-") as tmp:
        test_round_trips(tmp, rng)
        test_refusals(tmp, rng)
        test_raw_and_sequence(tmp, rng)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all grouped-format checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
