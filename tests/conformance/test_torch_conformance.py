#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Conformance of the engine with PyTorch, and of tools/rnnfile.py with the C reader and writer.

1. Random nn.LSTM / nn.GRU / nn.RNN(tanh) / nn.RNN(relu) modules, 1-3 layers, uni- and
   bidirectional, batch_first both ways: torch.save -> tools/import_torch.py -> rnn-model run
   must equal the module's output to 1e-5 (max abs diff), and `run --stream` too when
   unidirectional.
2. Round trips: the C loader accepts what rnnfile.py writes and rnnfile.py reads what the C saver
   writes (same architecture, weights, normalisation and metadata; the file's bytes are identical
   both ways), and the numbers mean the same: a model with normalisation and a softmax head, read
   by rnnfile.py and rebuilt in PyTorch, gives rnn-model's outputs.

Environment (set by meson): RNN_SOURCE_ROOT, RNN_BUILD_ROOT. argv[1] (optional): rnnfile_helper.
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
HELPER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(BUILD, "tests", "rnnfile_helper")
sys.path.insert(0, os.path.join(SRC, "tools"))
import import_torch  # noqa: E402
import rnnfile  # noqa: E402

TOL = 1e-5
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)
    return cond


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rnn_model_run(model_path, x, tmp, stream=False, tag="x"):
    """Runs build/tools/rnn-model on frames x (T x I); returns (outputs T x O or None, stderr)."""
    inp, out = os.path.join(tmp, tag + ".in.f32"), os.path.join(tmp, tag + ".out.f32")
    x.astype("<f4").tofile(inp)
    r = run([RNN_MODEL, "run"] + (["--stream"] if stream else []) + [model_path, inp, out])
    if r.returncode != 0:
        return None, r.stderr
    return np.fromfile(out, dtype="<f4"), r.stderr


# ------------------------------------------------------------------------------------------------
# 1. PyTorch modules through the importer and rnn-model
# ------------------------------------------------------------------------------------------------
def make_module(kind, input_size, hidden, layers, bidi, batch_first):
    if kind == "lstm":
        return torch.nn.LSTM(input_size, hidden, layers, bidirectional=bidi, batch_first=batch_first)
    if kind == "gru":
        return torch.nn.GRU(input_size, hidden, layers, bidirectional=bidi, batch_first=batch_first)
    return torch.nn.RNN(input_size, hidden, layers, nonlinearity=kind.split("_")[1], bidirectional=bidi,
                        batch_first=batch_first)


def conformance_case(kind, layers, bidi, batch_first, rng, tmp):
    input_size = int(rng.integers(1, 21))
    hidden = int(rng.integers(8, 33))
    T = int(rng.integers(1, 41))
    batch = 2
    name = "%s layers=%d bidirectional=%d batch_first=%d (I=%d H=%d T=%d)" % (
        kind, layers, bidi, batch_first, input_size, hidden, T)
    torch.manual_seed(int(rng.integers(1 << 30)))
    module = make_module(kind, input_size, hidden, layers, bidi, batch_first).eval()
    pt = os.path.join(tmp, "module.pt")
    path = os.path.join(tmp, "module.rnn")
    torch.save(module, pt)
    loaded = torch.load(pt)
    rnnfile.write(import_torch.module_to_model(loaded, pt), path)

    x = rng.uniform(-2.0, 2.0, size=(batch, T, input_size)).astype(np.float32)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        y, _ = module(xt if batch_first else xt.transpose(0, 1).contiguous())
        y = (y if batch_first else y.transpose(0, 1)).numpy()  # batch x T x D
    D = hidden * (2 if bidi else 1)
    worst = 0.0
    for b in range(batch):
        modes = [False] if bidi else [False, True]
        for stream in modes:
            got, err = rnn_model_run(path, x[b], tmp, stream)
            what = "%s seq %d%s" % (name, b, " --stream" if stream else "")
            if not check(got is not None, "%s: rnn-model failed: %s" % (what, err.strip())):
                continue
            if not check(got.size == T * D, "%s: %d output values, expected %d" % (what, got.size, T * D)):
                continue
            diff = float(np.max(np.abs(got.reshape(T, D) - y[b])))
            worst = max(worst, diff)
            check(diff <= TOL, "%s: max abs diff %.3g > %g" % (what, diff, TOL))
    print("ok   %-70s max diff %.2e" % (name, worst), flush=True)
    if bidi:
        got, err = rnn_model_run(path, x[0], tmp, stream=True)
        check(got is None and "bidirectional" in err,
              "%s: --stream on a bidirectional model must fail naming why, got: %r" % (name, err))


def test_modules(tmp):
    rng = np.random.default_rng(20261127)
    for kind in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        for layers in (1, 2, 3):
            for bidi in (False, True):
                for batch_first in (False, True):
                    conformance_case(kind, layers, bidi, batch_first, rng, tmp)


def test_import_cli(tmp):
    """The command-line importer itself: success, and errors that name the file and the setting."""
    torch.manual_seed(3)
    ok_pt, out = os.path.join(tmp, "cli.pt"), os.path.join(tmp, "cli.rnn")
    torch.save(torch.nn.GRU(3, 8, 2, dropout=0.25, bias=False), ok_pt)
    importer = os.path.join(SRC, "tools", "import_torch.py")
    r = run([sys.executable, importer, ok_pt, out])
    check(r.returncode == 0, "import_torch.py on a GRU failed: %s" % r.stderr)
    check("dropout" in r.stderr and "bias" in r.stderr, "import_torch.py: no note on dropout/bias: %r" % r.stderr)
    if r.returncode == 0:
        m = rnnfile.read(out)
        check(all(not np.any(m.tensors["layer%d.fwd.b_%s" % (n, w)]) for n in (0, 1) for w in ("ih", "hh")),
              "bias=False must import zero biases")
    proj_pt = os.path.join(tmp, "proj.pt")
    torch.save(torch.nn.LSTM(3, 8, proj_size=4), proj_pt)
    r = run([sys.executable, importer, proj_pt, os.path.join(tmp, "proj.rnn")])
    check(r.returncode != 0 and "proj_size" in r.stderr and proj_pt in r.stderr,
          "proj_size must be refused naming the file and the setting: %r" % r.stderr)
    lin_pt = os.path.join(tmp, "linear.pt")
    torch.save(torch.nn.Linear(3, 4), lin_pt)
    r = run([sys.executable, importer, lin_pt, os.path.join(tmp, "linear.rnn")])
    check(r.returncode != 0 and "Linear" in r.stderr and lin_pt in r.stderr,
          "a Linear module must be refused naming the file and the type: %r" % r.stderr)
    check(not os.path.exists(os.path.join(tmp, "linear.rnn")), "a refused import must not write OUT")
    print("ok   import_torch.py command line", flush=True)


# ------------------------------------------------------------------------------------------------
# 2. rnnfile.py <-> C reader and writer
# ------------------------------------------------------------------------------------------------
EXPECTED_META = {
    "task": "classification",
    "labels": ["zero", "one", "two words, \"quoted\""],
    "features.kind": "fbank",
    "features.num-mel-bins": 40,
    "features.frame-shift": 10.0,
    "features.snip-edges": 1,
    "train.accuracy": 0.987654321,
    "train.epochs": -3,
    "train.command": "rnntrain epochs=3 # \u00e9t\u00e9 \u2713",
    "empty list": [],
    "empty": "",
}


def reference_outputs(m, x):
    """Per-frame outputs of an rnnfile.Model (normalisation, layers, head), computed with PyTorch."""
    h = torch.from_numpy(x)
    if m.norm_mean is not None:
        h = (h - torch.from_numpy(m.norm_mean)) * torch.from_numpy(m.norm_scale)
    h = h.unsqueeze(1)  # T x 1 x I
    with torch.no_grad():
        for n, layer in enumerate(m.layers):
            cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(layer.cell)
            kw = {} if cls else {"nonlinearity": layer.cell.split("_")[1]}
            mod = (cls or torch.nn.RNN)(m.layer_input_size(n), layer.hidden, bidirectional=layer.bidirectional, **kw)
            for d, suffix in (("fwd", ""), ("bwd", "_reverse"))[: 2 if layer.bidirectional else 1]:
                for ours, theirs in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"),
                                     ("b_hh", "bias_hh")):
                    getattr(mod, "%s_l0%s" % (theirs, suffix)).copy_(
                        torch.from_numpy(m.tensors["layer%d.%s.%s" % (n, d, ours)]))
            h, _ = mod(h)
        h = h.squeeze(1)
        if m.head != "none":
            h = h @ torch.from_numpy(m.tensors["head.w"]).T + torch.from_numpy(m.tensors["head.b"])
            if m.head == "softmax":
                h = torch.softmax(h, dim=1)
            elif m.head == "sigmoid":
                h = torch.sigmoid(h)
    return h.numpy()


def same_model(a, b):
    if repr(a) != repr(b) or set(a.tensors) != set(b.tensors):
        return False
    if any(not np.array_equal(a.tensors[k], b.tensors[k]) for k in a.tensors):
        return False
    if (a.norm_mean is None) != (b.norm_mean is None):
        return False
    if a.norm_mean is not None and not (np.array_equal(a.norm_mean, b.norm_mean)
                                        and np.array_equal(a.norm_scale, b.norm_scale)):
        return False
    return list(a.meta.items()) == list(b.meta.items())


def test_round_trips(tmp):
    if not check(os.path.exists(HELPER), "rnnfile_helper not built at %s" % HELPER):
        return
    # C writes -> Python reads.
    c_path = os.path.join(tmp, "c-written.rnn")
    r = run([HELPER, "make", c_path])
    if not check(r.returncode == 0, "rnnfile_helper make failed: %s" % r.stderr):
        return
    c_bytes = open(c_path, "rb").read()
    try:
        m = rnnfile.read(c_path)
    except rnnfile.FormatError as e:
        check(False, "rnnfile.py rejects what the C saver writes: %s" % e)
        return
    check(repr(m) == "Model(input_size=6, layers=[Layer('lstm', 5), Layer('gru', 4, bidirectional)], "
                     "head='softmax', outputs=3, pool='mean')", "architecture read from C file: %r" % m)
    check(list(m.meta.items()) == list(EXPECTED_META.items()),
          "metadata read from C file: %r, expected %r" % (m.meta, EXPECTED_META))
    check(m.norm_mean is not None and np.array_equal(m.norm_mean, [0.5, -0.25, 1.0, 0.0, 2.0, -1.5])
          and np.array_equal(m.norm_scale, [2.0, 0.5, 1.0, 0.25, 1.5, 3.0]), "normalisation read from C file")
    check(rnnfile.dumps(m) == c_bytes, "rnnfile.py re-serialises the C file to different bytes")

    # The numbers mean what the spec says: PyTorch rebuilt from rnnfile.py's view == rnn-model.
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, size=(17, 6)).astype(np.float32)
    got, err = rnn_model_run(c_path, x, tmp, tag="helper")
    if check(got is not None, "rnn-model run on the C-written model failed: %s" % err):
        diff = float(np.max(np.abs(got.reshape(17, 3) - reference_outputs(m, x))))
        check(diff <= TOL, "normalisation + layers + softmax head: max abs diff %.3g > %g" % (diff, TOL))

    # Python writes -> C reads (and writes the very same bytes back).
    m.meta["written.by"] = "rnnfile.py"
    m.meta["float.nan"] = float("nan")
    m.meta["int.min"] = -2**63
    m.tensors["layer0.fwd.w_hh"] = m.tensors["layer0.fwd.w_hh"] * np.float32(0.5)
    m.set_normalization(m.norm_mean + 1, m.norm_scale)
    py_path, back_path = os.path.join(tmp, "py-written.rnn"), os.path.join(tmp, "c-resaved.rnn")
    rnnfile.write(m, py_path)
    r = run([HELPER, "resave", py_path, back_path])
    if check(r.returncode == 0, "the C loader rejects what rnnfile.py writes: %s" % r.stderr):
        check(open(back_path, "rb").read() == open(py_path, "rb").read(),
              "the C saver writes different bytes for a model rnnfile.py wrote")
        back = rnnfile.read(back_path)
        nan_ok = np.isnan(back.meta.pop("float.nan")) and np.isnan(m.meta.pop("float.nan"))
        check(nan_ok and same_model(back, m), "model changed through the C loader and saver")
    got, err = rnn_model_run(py_path, x, tmp, tag="py")
    if check(got is not None, "rnn-model run on the rnnfile.py-written model failed: %s" % err):
        diff = float(np.max(np.abs(got.reshape(17, 3) - reference_outputs(m, x))))
        check(diff <= TOL, "rnnfile.py-written model: max abs diff %.3g > %g" % (diff, TOL))

    # A model without head or normalisation, all four cells, through both writers.
    m2 = rnnfile.Model(3).add_layer("rnn_relu", 2).add_layer("rnn_tanh", 3, True).add_layer("gru_reset_before", 2)
    m2.init_zeros()
    for k in m2.tensors:
        m2.tensors[k] = rng.standard_normal(m2.tensors[k].shape).astype(np.float32)
    rnnfile.write(m2, py_path)
    r = run([HELPER, "resave", py_path, back_path])
    if check(r.returncode == 0, "C loader rejects a headless model from rnnfile.py: %s" % r.stderr):
        check(open(back_path, "rb").read() == open(py_path, "rb").read(),
              "headless model: the C saver writes different bytes")
    # Saves are ordinary files: a new one is 0644 (not mkstemp's 0600), a replaced one keeps its mode.
    mode_path = os.path.join(tmp, "mode.rnn")
    rnnfile.write(m2, mode_path)
    check(os.stat(mode_path).st_mode & 0o777 == 0o644,
          "rnnfile.write made a new file with mode %o, not 644" % (os.stat(mode_path).st_mode & 0o777))
    os.chmod(mode_path, 0o640)
    rnnfile.write(m2, mode_path)
    check(os.stat(mode_path).st_mode & 0o777 == 0o640,
          "rnnfile.write changed a replaced file's mode 640 to %o" % (os.stat(mode_path).st_mode & 0o777))
    check(sorted(os.listdir(tmp)).count("mode.rnn") == 1
          and not [f for f in os.listdir(tmp) if f.startswith("mode.rnn.tmp.")],
          "rnnfile.write left a temporary file behind")
    print("ok   rnnfile.py <-> C loader and saver round trips", flush=True)


def test_rejections(tmp):
    """rnnfile.py rejects damage the way the spec says, naming the file."""
    m = rnnfile.Model(2).add_layer("lstm", 3).init_zeros()
    blob = rnnfile.dumps(m)
    cases = {
        "checksum": bytearray(blob),
        "truncated": bytearray(blob[:-10]),
        "magic": bytearray(b"X" + blob[1:]),
    }
    cases["checksum"][200] ^= 0x40
    for what, data in cases.items():
        try:
            rnnfile.loads(bytes(data), "damaged.rnn")
            check(False, "rnnfile.py accepted a file with a damaged %s" % what)
        except rnnfile.FormatError as e:
            check(str(e).startswith("damaged.rnn: "), "error does not name the file: %s" % e)
    print("ok   rnnfile.py rejects damaged files", flush=True)


def main():
    if not os.access(RNN_MODEL, os.X_OK):
        print("rnn-model not built at %s" % RNN_MODEL)
        return 1
    with tempfile.TemporaryDirectory(prefix="rnn-conformance-") as tmp:
        test_modules(tmp)
        test_import_cli(tmp)
        test_round_trips(tmp)
        test_rejections(tmp)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all conformance checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
