#!/usr/bin/env python3
# Training smoke test on real speech: rnn-train learns 3 digits x 2 speakers of FSDD through
# appsrc ! audioconvert ! audioresample ! rnnfeatures ! rnntrain, well above chance, in seconds.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test_train_fsdd.py RNN_TRAIN
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_common import check, finish, manifest, read_model, run, tmpdir  # noqa: E402

rnn_train = sys.argv[1]
work = tmpdir()
try:
    tsv = manifest(os.path.join(work, "small.tsv"), [0, 1, 2], ["george", "jackson"], range(50))
    out = os.path.join(work, "digits3.rnn")
    t0 = time.monotonic()
    r = run([rnn_train, "--rate", "8000", "--features", "kind=fbank num-mel-bins=23",
             "--arch", "gru(32) dense(softmax)", "--epochs", "30", "--learning-rate", "0.005",
             "--validation-split", "0.2", "--seed", "1", tsv, out])
    elapsed = time.monotonic() - t0
    sys.stderr.write(r.stderr[-3000:])
    check(r.returncode == 0, f"rnn-train exits 0 (took {elapsed:.1f} s)")
    check(elapsed < 45, "training 300 files takes well under a minute")

    # one Keras-like line per epoch on a non-terminal stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("Epoch ")]
    check(len(lines) == 30, f"30 progress lines (got {len(lines)})")
    pat = re.compile(r"^Epoch (\d+)/30  \[=+\] \d+m?s \d+ms/step  loss: [0-9.]+ - accuracy: [0-9.]+ - "
                     r"val_loss: [0-9.]+ - val_accuracy: [0-9.]+ - ETA \d+:\d\d$")
    check(all(pat.match(l) for l in lines), "progress lines read 'Epoch k/30  [===] Ns Nms/step  loss: "
          "... - accuracy: ... - val_loss: ... - val_accuracy: ... - ETA m:ss'")
    check([int(pat.match(l).group(1)) for l in lines if pat.match(l)] == list(range(1, 31)),
          "epochs 1..30 in order")

    m = read_model(out)
    meta = m.meta
    check(meta.get("task") == "classification", "task classification")
    check(list(meta.get("labels", [])) == ["one", "two", "zero"], "labels sorted: one two zero")
    val = meta.get("train.val-accuracy", 0)
    check(val > 0.8, f"validation accuracy {val:.3f} > 0.8 (chance 0.33)")
    check(meta.get("train.accuracy", 0) > 0.8, "training accuracy > 0.8")
    check(meta.get("features.kind") == "fbank" and meta.get("features.num-mel-bins") == 23,
          "features.kind=fbank, features.num-mel-bins=23 stored")
    check(meta.get("features.frame-shift") == 10.0, "features.frame-shift stored as float")
    check("300 files" in meta.get("train.data", "") and "240 training and 60 validation"
          in meta.get("train.data", ""), "train.data: 300 files, 240 + 60 sequences (one per file)")
    check("--arch" in meta.get("train.command", ""), "train.command is the command line")
    check(m.norm_mean is not None and len(m.norm_mean) == 23, "input normalisation stored")
    check(m.input_size == 23 and m.outputs == 3, "23 inputs, 3 outputs")

    # augmentation: one perturbed copy per file doubles the sequences; classes fixed in order
    out2 = os.path.join(work, "aug.rnn")
    r = run([rnn_train, "-q", "--rate", "8000", "--features", "kind=fbank num-mel-bins=23",
             "--arch", "gru(8) dense(softmax)", "--epochs", "1", "--augment", "1",
             "--classes", "zero,one,two", "--time-mask", "5", "--freq-mask", "3",
             "-m", "infer.vad=off", "-m", "infer.max-utterance=3000", "-m", "note=1.5", tsv, out2])
    sys.stderr.write(r.stderr[-2000:])
    check(r.returncode == 0, "rnn-train --augment 1 exits 0")
    if r.returncode == 0:
        meta = read_model(out2).meta
        data = meta.get("train.data", "")
        m2 = re.search(r"(\d+) training and (\d+) validation", data)
        check(m2 and int(m2.group(1)) + int(m2.group(2)) == 600, f"600 sequences with --augment 1"
              f" ({data})")
        check(list(meta.get("labels", [])) == ["zero", "one", "two"], "--classes sets the order")
        check(meta.get("infer.vad") == "off" and meta.get("infer.max-utterance") == 3000
              and meta.get("note") == 1.5, "--meta stores typed metadata")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish("test_train_fsdd")
