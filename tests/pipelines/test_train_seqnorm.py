#!/usr/bin/env python3
# Per-sequence normalisation end to end, on FSDD recordings:
#   - rnn-train --sequence-normalize gives a model with input.normalization = "sequence" whose
#     stored normalisation was computed over per-sequence normalised frames (mean ~0, scale ~1,
#     where a model without the option stores the raw log-mel statistics);
#   - rnninfer runs it live (vad=on) over the utterance's speech frames only: a recording preceded
#     by 2 s of background gives exactly the result it gives after 0.5 s of the same background
#     (the 1.5 s more that the VAD sees never enter the model). Half a second rather than none:
#     without any background the VAD does not know the noise floor at the onset, and its different
#     endpoints, not the normalisation, would change the result. rnnfeatures' dither is off so that
#     the frames of the recording are the same bytes in both streams.
#   - rnn-model run --stream refuses such a model.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test_train_seqnorm.py RNN_TRAIN
import os
import shutil
import sys
import wave

import numpy as np
import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_common import FSDD, check, finish, manifest, read_model, run, tmpdir  # noqa: E402

rnn_train = sys.argv[1]
if not os.path.isdir(FSDD):
    print("skip: no FSDD recordings at %s" % FSDD)
    sys.exit(77)
BUILD = os.environ.get("RNN_BUILD_ROOT", "")
RATE = 8000
BASE = ["-q", "--rate", str(RATE), "--features", "kind=fbank num-mel-bins=23",
        "--arch", "gru(12) dense(softmax,mean)", "--epochs", "3", "--learning-rate", "0.01",
        "--validation-split", "0", "--seed", "3"]


def read_wav(path):
    with wave.open(path) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def write_wav(path, x):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes())


def classify(path, model):
    """The rnn-classification results (label, confidence, timestamp in s) of a live-style run."""
    pipeline = Gst.parse_launch(
        f"filesrc location={path} ! wavparse ! audioconvert ! audioresample ! "
        f"audio/x-raw,rate={RATE},channels=1 ! rnnfeatures model={model} dither=0 ! "
        f"rnninfer model={model} vad=on ! fakesink")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    results = []
    while True:
        msg = bus.timed_pop_filtered(20 * Gst.SECOND, Gst.MessageType.ELEMENT | Gst.MessageType.EOS
                                     | Gst.MessageType.ERROR)
        if msg is None or msg.type != Gst.MessageType.ELEMENT:
            if msg is not None and msg.type == Gst.MessageType.ERROR:
                results.append(("error", str(msg.parse_error()[0]), 0.0))
            break
        s = msg.get_structure()
        if s.get_name() == "rnn-classification":
            results.append((s.get_string("label"), s.get_double("confidence")[1],
                            s.get_uint64("timestamp")[1] / 1e9))
    pipeline.set_state(Gst.State.NULL)
    return results


work = tmpdir()
try:
    Gst.init(None)
    tsv = manifest(os.path.join(work, "m.tsv"), [2, 3], ["george", "jackson"], range(5, 11))
    seq = os.path.join(work, "seq.rnn")
    plain = os.path.join(work, "plain.rnn")
    r = run([rnn_train] + BASE + ["--sequence-normalize", tsv, seq])
    check(r.returncode == 0, "rnn-train --sequence-normalize exits 0" + (r.stderr[-500:] if r.returncode else ""))
    r = run([rnn_train] + BASE + [tsv, plain])
    check(r.returncode == 0, "rnn-train without it exits 0")
    m, p = read_model(seq), read_model(plain)
    check(m.meta.get("input.normalization") == "sequence", "the model stores input.normalization = sequence")
    check("input.normalization" not in p.meta, "without the option the model has no such key")
    check("--sequence-normalize" in m.meta.get("train.command", ""), "train.command has the option")
    check(m.norm_mean is not None and np.max(np.abs(m.norm_mean)) < 1e-3
          and np.max(np.abs(m.norm_scale - 1.0)) < 0.01,
          "its stored normalisation is that of per-sequence normalised frames (mean 0, scale 1): "
          f"|mean| <= {np.max(np.abs(m.norm_mean)):.2g}, |scale - 1| <= {np.max(np.abs(m.norm_scale - 1)):.2g}")
    check(p.norm_mean is not None and np.max(np.abs(p.norm_mean)) > 1.0,
          "the model without it stores raw log-mel statistics")

    if BUILD:
        x = np.random.default_rng(0).standard_normal((40, 23)).astype("<f4")
        x.tofile(os.path.join(work, "x.f32"))
        r = run([os.path.join(BUILD, "tools", "rnn-model"), "run", "--stream", seq,
                 os.path.join(work, "x.f32"), os.path.join(work, "y.f32")])
        check(r.returncode == 1 and "input.normalization" in r.stderr,
              "rnn-model run --stream refuses it, saying why")

    rng = np.random.default_rng(1)
    worst = 0.0
    for name in ("2_nicolas_0", "3_theo_1", "2_yweweler_2", "3_george_3"):
        x = read_wav(os.path.join(FSDD, name + ".wav"))
        background = 10.0 * rng.standard_normal(2 * RATE)
        tail = 10.0 * rng.standard_normal(int(0.6 * RATE))
        got = []
        for pre in (0.5, 2.0):
            path = os.path.join(work, f"{name}-{pre}.wav")
            write_wav(path, np.concatenate([background[len(background) - int(pre * RATE):], x, tail]))
            got.append(classify(path, seq))
        a, b = got
        ok = len(a) == 1 and len(b) == 1 and a[0][0] == b[0][0]
        if ok:
            worst = max(worst, abs(a[0][1] - b[0][1]))
            ok = abs(a[0][1] - b[0][1]) < 1e-6 and abs((b[0][2] - a[0][2]) - 1.5) < 1e-6
        check(ok, f"{name}: after 0.5 s of background {a}, after 2 s {b}")
    print(f"largest confidence difference: {worst:.3g}")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish("test_train_seqnorm")
