#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/rnn-ensemble.py: the merged file computes exactly the members' ensemble.

For random members (GRU and LSTM stacks, bidirectional or not, different hidden sizes, each with
its own input normalisation), build/tools/rnn-model's per-frame softmax outputs of the merged model
must equal softmax(mean_k log p_k), the members' logits averaged, computed from the members' own
rnn-model outputs; streaming (--stream) must agree for unidirectional members. Equally shaped
members give grouped layers (groups = members), a file smaller than the zero-padded dense merge
(--dense) of the same members, which must compute the same. Incompatible members are refused with
a message naming the file and the field.

Members with and without per-sequence normalisation (input.normalization = "sequence" or absent)
merge into one "raw+sequence" model (layer 0 reads [x, seqnorm(x)]) that must compute their
ensemble just the same, grouped and dense, and must not stream; a "raw+sequence" member, or an
unknown mode, is refused by name.

Transcription (CTC) members (task = "transcription", an alphabet with the blank first) are not
averaged: the merged model has a grouped head (arch.head.groups = members), and its per-frame
output must be the members' own rnn-model outputs side by side (each head's softmax on its own),
streaming too for unidirectional members; rnn-model info must load it and show the heads, and its
alphabet is the members'. Transcription members with --dense, or with different hidden sizes, are
refused with a message saying why.

Environment (set by meson): RNN_SOURCE_ROOT, RNN_BUILD_ROOT.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

SRC = os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("RNN_BUILD_ROOT", os.path.join(SRC, "build"))
RNN_MODEL = os.path.join(BUILD, "tools", "rnn-model")
ENSEMBLE = os.path.join(SRC, "tools", "rnn-ensemble.py")
sys.path.insert(0, os.path.join(SRC, "tools"))
import rnnfile  # noqa: E402

TOL = 2e-5
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)
    return cond


def random_member(rng, cell, hiddens, bidi, seed_meta=True, mode=None):
    m = rnnfile.Model(5)
    if mode is not None:
        m.meta["input.normalization"] = mode
    for h in hiddens:
        m.add_layer(cell, h, bidi)
    m.set_head("softmax", 4, "mean")
    m.init_zeros()
    for k in m.tensors:
        m.tensors[k] = (rng.standard_normal(m.tensors[k].shape) * 0.5).astype(np.float32)
    m.set_normalization(rng.uniform(-1, 1, 5), rng.uniform(0.5, 2, 5))
    m.meta["task"] = "classification"
    m.meta["labels"] = ["a", "b", "c", "d"]
    m.meta["features.kind"] = "fbank"
    if seed_meta:
        m.meta["train.data"] = "random weights"
    return m


ALPHABET = ["<blank>", "a", "b", "c"]


def random_transcriber(rng, cell, hiddens, bidi, mode=None):
    """A random CTC model: softmax over the alphabet (blank first) on every frame."""
    m = rnnfile.Model(5)
    if mode is not None:
        m.meta["input.normalization"] = mode
    for h in hiddens:
        m.add_layer(cell, h, bidi)
    m.set_head("softmax", len(ALPHABET), "last")
    m.init_zeros()
    for k in m.tensors:
        m.tensors[k] = (rng.standard_normal(m.tensors[k].shape) * 0.5).astype(np.float32)
    m.set_normalization(rng.uniform(-1, 1, 5), rng.uniform(0.5, 2, 5))
    m.meta["task"] = "transcription"
    m.meta["alphabet"] = list(ALPHABET)
    m.meta["features.kind"] = "mfcc"
    m.meta["train.data"] = "random weights"
    return m


def run_model(path, x, tmp, stream=False):
    inp, out = os.path.join(tmp, "x.f32"), os.path.join(tmp, "y.f32")
    x.astype("<f4").tofile(inp)
    r = subprocess.run([RNN_MODEL, "run"] + (["--stream"] if stream else []) + [path, inp, out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return np.fromfile(out, dtype="<f4").reshape(x.shape[0], -1)


def ensemble(tmp, out, members, options=()):
    return subprocess.run([sys.executable, ENSEMBLE] + list(options) + [out] + members, capture_output=True,
                          text=True)


def test_exact(tmp, rng, cell, hiddens_per_member, bidi, modes=None):
    """modes: each member's input.normalization (None: absent), or None for none of them."""
    modes = modes or [None] * len(hiddens_per_member)
    paths = []
    for k, hiddens in enumerate(hiddens_per_member):
        p = os.path.join(tmp, "member%d.rnn" % k)
        rnnfile.write(random_member(rng, cell, hiddens, bidi, mode=modes[k]), p)
        paths.append(p)
    merged = os.path.join(tmp, "merged.rnn")
    r = ensemble(tmp, merged, paths)
    what = "%s %s%s" % (cell, hiddens_per_member, " bidirectional" if bidi else "")
    sequence = "sequence" in modes
    mixed = sequence and len(set(modes)) > 1
    if sequence:
        what += " modes %s" % modes
    if not check(r.returncode == 0, "%s: rnn-ensemble failed: %s" % (what, r.stderr)):
        return
    if sequence:  # features far from zero mean and unit variance: the two views differ
        x = (rng.uniform(-3, 3, 5) + rng.uniform(0.3, 3, 5) * rng.standard_normal((23, 5))).astype(np.float32)
    else:
        x = rng.uniform(-2, 2, size=(23, 5)).astype(np.float32)
    logs = [np.log(run_model(p, x, tmp)) for p in paths]
    want = np.mean(logs, axis=0)
    want = np.exp(want - want.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    got = run_model(merged, x, tmp)
    if check(got is not None, "%s: rnn-model run on the merged model failed" % what):
        diff = float(np.abs(got - want).max())
        check(diff <= TOL, "%s: merged output differs from the members' ensemble by %.3g" % (what, diff))
        if sequence:
            check(run_model(merged, x, tmp, stream=True) is None, "%s: the merged model streams" % what)
        elif not bidi:
            streamed = run_model(merged, x, tmp, stream=True)
            check(streamed is not None and float(np.abs(streamed - want).max()) <= TOL,
                  "%s: the merged model streams differently" % what)
    same_shapes = all(h == hiddens_per_member[0] for h in hiddens_per_member)
    out = rnnfile.read(merged)
    layers = out.layers
    want_mode = "raw+sequence" if mixed else modes[0]
    check(out.meta.get("input.normalization") == want_mode and out.input_size == 5 and out.norm_mean is None
          and out.tensors["layer0.fwd.w_ih"].shape[1] == (10 if mixed else 5),
          "%s: merged model has input.normalization %r, input size %d, layer 0 w_ih %s, norm %s"
          % (what, out.meta.get("input.normalization"), out.input_size, out.tensors["layer0.fwd.w_ih"].shape,
             out.norm_mean is not None))
    want_groups = len(paths) if same_shapes else 1
    check(all(layer.groups == want_groups for layer in layers),
          "%s: merged layers have groups %s, expected %d" % (what, [la.groups for la in layers], want_groups))
    if same_shapes:
        dense = os.path.join(tmp, "dense.rnn")
        r = ensemble(tmp, dense, paths, ["--dense"])
        if check(r.returncode == 0, "%s: rnn-ensemble --dense failed: %s" % (what, r.stderr)):
            check(all(layer.groups == 1 for layer in rnnfile.read(dense).layers), "%s: --dense is grouped" % what)
            gs, ds = os.path.getsize(merged), os.path.getsize(dense)
            check(gs < ds, "%s: the grouped file (%d bytes) is not smaller than the dense one (%d)" % (what, gs, ds))
            dgot = run_model(dense, x, tmp)
            check(dgot is not None and got is not None and float(np.abs(dgot - got).max()) <= TOL,
                  "%s: the grouped and the dense merge compute differently" % what)
            print("ok   %s: grouped %d bytes, dense %d bytes" % (what, gs, ds), flush=True)
    meta = out.meta
    check(len(meta.get("ensemble.members", [])) == len(paths)
          and meta.get("ensemble.0.data") == "random weights" and "train.data" not in meta
          and meta.get("labels") == ["a", "b", "c", "d"],
          "%s: merged metadata: %r" % (what, meta))
    info = subprocess.run([RNN_MODEL, "info", merged], capture_output=True, text=True).stdout
    check("Ensemble members and their training" in info and "0.data" in info
          and "(none recorded)" not in info,
          "%s: rnn-model info does not show the members' provenance" % what)
    print("ok   %s: max diff %.2g" % (what, diff), flush=True)


def test_transcription(tmp, rng, cell, hiddens, bidi, members, modes=None):
    """Equally shaped CTC members: the merge's outputs are the members' outputs side by side."""
    modes = modes or [None] * members
    failed_before = len(failures)
    paths = []
    for k in range(members):
        p = os.path.join(tmp, "ctc%d.rnn" % k)
        rnnfile.write(random_transcriber(rng, cell, hiddens, bidi, mode=modes[k]), p)
        paths.append(p)
    what = "transcription %d x %s %s%s%s" % (members, cell, hiddens, " bidirectional" if bidi else "",
                                            " modes %s" % modes if any(modes) else "")
    merged = os.path.join(tmp, "ctc-merged.rnn")
    r = ensemble(tmp, merged, paths)
    if not check(r.returncode == 0, "%s: rnn-ensemble failed: %s" % (what, r.stderr)):
        return
    out = rnnfile.read(merged)
    o = len(ALPHABET)
    check(out.head_groups == members and out.outputs == members * o and out.head == "softmax"
          and all(layer.groups == members for layer in out.layers)
          and out.tensors["head.w"].shape == (members * o, out.top_size // members),
          "%s: merged head %s, head.w %s, layer groups %s" % (what, out, out.tensors["head.w"].shape,
                                                             [la.groups for la in out.layers]))
    check(out.meta.get("alphabet") == ALPHABET and out.meta.get("task") == "transcription"
          and len(out.meta.get("ensemble.members", [])) == members,
          "%s: merged metadata %r" % (what, out.meta))
    # head k is member k's head, unchanged (not divided by the number of members)
    for k, p in enumerate(paths):
        m = rnnfile.read(p)
        check(np.array_equal(out.tensors["head.w"][k * o:(k + 1) * o], m.tensors["head.w"])
              and np.array_equal(out.tensors["head.b"][k * o:(k + 1) * o], m.tensors["head.b"]),
              "%s: head %d is not member %d's head" % (what, k, k))
    x = (rng.uniform(-3, 3, 5) + rng.uniform(0.3, 3, 5) * rng.standard_normal((31, 5))).astype(np.float32)
    outs = [run_model(p, x, tmp) for p in paths]
    if not check(all(y is not None for y in outs), "%s: rnn-model run on a member failed" % what):
        return
    want = np.concatenate(outs, axis=1)
    got = run_model(merged, x, tmp)
    diff = float("nan")
    if check(got is not None and got.shape == want.shape,
             "%s: rnn-model run on the merged model failed or gave %s values per frame, want %d"
             % (what, None if got is None else got.shape[1], want.shape[1])):
        diff = float(np.abs(got - want).max())
        check(diff <= TOL, "%s: merged output differs from the members' outputs side by side by %.3g"
              % (what, diff))
        check(np.allclose(got.reshape(len(x), members, o).sum(axis=2), 1, atol=1e-5),
              "%s: each head's posteriors do not sum to 1 on every frame" % what)
        if not bidi and "sequence" not in modes:
            streamed = run_model(merged, x, tmp, stream=True)
            check(streamed is not None and streamed.shape == want.shape
                  and float(np.abs(streamed - want).max()) <= TOL,
                  "%s: the merged model streams differently" % what)
    info = subprocess.run([RNN_MODEL, "info", merged], capture_output=True, text=True)
    check(info.returncode == 0 and "%d heads" % members in info.stdout and "alphabet" in info.stdout,
          "%s: rnn-model info on the merged model (rc %d): %s%s" % (what, info.returncode, info.stdout[:600],
                                                                     info.stderr))
    if len(failures) == failed_before:
        print("ok   %s: %d heads side by side, max diff %.2g" % (what, members, diff), flush=True)


def test_transcription_refusals(tmp, rng):
    failed_before = len(failures)
    a, b, c = (os.path.join(tmp, "ctc-%s.rnn" % n) for n in "abc")
    rnnfile.write(random_transcriber(rng, "gru", [4, 3], True), a)
    rnnfile.write(random_transcriber(rng, "gru", [4, 3], True), b)
    rnnfile.write(random_transcriber(rng, "gru", [5, 3], True), c)
    never = os.path.join(tmp, "never.rnn")
    r = ensemble(tmp, never, [a, b], ["--dense"])
    check(r.returncode == 1 and "transcription" in r.stderr and "--dense" in r.stderr and not os.path.exists(never),
          "transcription members with --dense not refused: rc %d, %r" % (r.returncode, r.stderr))
    r = ensemble(tmp, never, [a, c])
    check(r.returncode == 1 and "transcription" in r.stderr and "hidden sizes differ" in r.stderr
          and "[4, 3]" in r.stderr and "[5, 3]" in r.stderr and not os.path.exists(never),
          "transcription members of different hidden sizes not refused: rc %d, %r" % (r.returncode, r.stderr))
    # a merged CTC ensemble (grouped layers and head) is not a member
    merged = os.path.join(tmp, "ctc-ab.rnn")
    r = ensemble(tmp, merged, [a, b])
    if check(r.returncode == 0, "merging two transcription members failed: %s" % r.stderr):
        r = ensemble(tmp, never, [merged, a])
        check(r.returncode == 1 and merged in r.stderr and "grouped" in r.stderr,
              "a merged transcription ensemble not refused as a member: %r" % r.stderr)
    if len(failures) == failed_before:
        print("ok   transcription members refused with --dense and with different hidden sizes", flush=True)


def test_refusals(tmp, rng):
    base = os.path.join(tmp, "base.rnn")
    rnnfile.write(random_member(rng, "gru", [4], True), base)
    cases = []
    m = random_member(rng, "gru", [4], True)
    m.meta["labels"] = ["a", "b", "c", "x"]
    cases.append((m, "metadata labels"))
    m = random_member(rng, "gru", [4], True)
    m.meta["features.kind"] = "mfcc"
    cases.append((m, "metadata features.kind"))
    cases.append((random_member(rng, "lstm", [4], True), "layer 0's cell"))
    cases.append((random_member(rng, "gru", [4], False), "layer 0's direction"))
    cases.append((random_member(rng, "gru", [4, 4], True), "the number of layers"))
    for n, (m, field) in enumerate(cases):
        p = os.path.join(tmp, "bad%d.rnn" % n)
        rnnfile.write(m, p)
        out = os.path.join(tmp, "never.rnn")
        r = ensemble(tmp, out, [base, p])
        check(r.returncode == 1 and p in r.stderr and field in r.stderr and not os.path.exists(out),
              "incompatible member (%s) not refused by name: rc %d, %r" % (field, r.returncode, r.stderr))
    r = ensemble(tmp, base, [base, base])
    check(r.returncode == 1 and "must not be one of the members" in r.stderr,
          "output == member not refused: %r" % r.stderr)
    headless = rnnfile.Model(5).add_layer("gru", 3).init_zeros()
    hp = os.path.join(tmp, "headless.rnn")
    rnnfile.write(headless, hp)
    r = ensemble(tmp, os.path.join(tmp, "never.rnn"), [hp, hp])
    check(r.returncode == 1 and "no logits" in r.stderr, "headless members not refused: %r" % r.stderr)
    # a grouped model (an ensemble already) is not a member: its layers would be misread
    grouped = os.path.join(tmp, "grouped.rnn")
    twin = os.path.join(tmp, "twin.rnn")
    rnnfile.write(random_member(rng, "gru", [4], True), twin)
    r = ensemble(tmp, grouped, [base, twin])
    if check(r.returncode == 0, "merging two members failed: %s" % r.stderr):
        r = ensemble(tmp, os.path.join(tmp, "never.rnn"), [grouped, base])
        check(r.returncode == 1 and grouped in r.stderr and "grouped" in r.stderr,
              "a grouped member not refused by name: %r" % r.stderr)
    # modes: a raw+sequence member (itself an ensemble of both kinds) and an unknown mode
    mixed = os.path.join(tmp, "mixed.rnn")
    seq = os.path.join(tmp, "seq.rnn")
    rnnfile.write(random_member(rng, "gru", [4], True, mode="sequence"), seq)
    r = ensemble(tmp, mixed, [base, seq], ["--dense"])
    if check(r.returncode == 0, "merging members with and without per-sequence normalisation failed: %s" % r.stderr):
        r = ensemble(tmp, os.path.join(tmp, "never.rnn"), [base, mixed])
        check(r.returncode == 1 and mixed in r.stderr and "raw+sequence" in r.stderr
              and "merge the models it was made from" in r.stderr,
              "a raw+sequence member not refused by name: %r" % r.stderr)
    odd = os.path.join(tmp, "odd.rnn")
    rnnfile.write(random_member(rng, "gru", [4], True, mode="utterance"), odd)
    r = ensemble(tmp, os.path.join(tmp, "never.rnn"), [base, odd])
    check(r.returncode == 1 and odd in r.stderr and "input.normalization" in r.stderr and "utterance" in r.stderr,
          "an unknown input.normalization not refused by name: %r" % r.stderr)
    print("ok   incompatible members refused", flush=True)


def main():
    if not os.access(RNN_MODEL, os.X_OK):
        print("rnn-model not built at %s" % RNN_MODEL)
        return 1
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="rnn-ensemble-") as tmp:
        test_exact(tmp, rng, "gru", [[6, 4], [3, 5], [4, 4]], True)
        test_exact(tmp, rng, "lstm", [[4, 3], [5, 2]], True)
        test_exact(tmp, rng, "gru", [[4], [7]], False)
        test_exact(tmp, rng, "rnn_tanh", [[3, 3, 2], [2, 4, 3]], False)
        # equally shaped members: grouped layers
        test_exact(tmp, rng, "gru", [[6, 4], [6, 4], [6, 4]], True)
        test_exact(tmp, rng, "lstm", [[5, 3], [5, 3]], True)
        test_exact(tmp, rng, "gru", [[4, 4], [4, 4], [4, 4], [4, 4]], False)
        test_exact(tmp, rng, "rnn_tanh", [[3, 3, 2], [3, 3, 2]], False)
        # members with and without per-sequence normalisation: a raw+sequence model
        test_exact(tmp, rng, "gru", [[6, 4], [6, 4], [6, 4]], True, [None, "sequence", None])
        test_exact(tmp, rng, "lstm", [[5, 3], [5, 3]], False, ["sequence", None])
        test_exact(tmp, rng, "gru", [[4, 3], [6, 2], [3, 3]], False, ["sequence", "none", "sequence"])
        test_exact(tmp, rng, "lstm", [[4, 3], [5, 2]], True, [None, "sequence"])
        test_exact(tmp, rng, "gru", [[4], [4]], False, ["sequence", "sequence"])  # not mixed: as before
        test_refusals(tmp, rng)
        # transcription (CTC) members: a grouped head, the members' outputs side by side
        test_transcription(tmp, rng, "gru", [6, 4], True, 3)
        test_transcription(tmp, rng, "lstm", [5], False, 2)
        test_transcription(tmp, rng, "gru", [4, 4], False, 3, [None, "sequence", None])
        test_transcription_refusals(tmp, rng)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all ensemble checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
