#!/usr/bin/env python3
# rnn-train on the other data set forms (class folders, CSV sensor logs) and on bad input: each
# mistake exits non-zero with a message that names the file, line, token or value.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test_train_cli.py RNN_TRAIN
import math
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_common import FSDD, check, finish, manifest, read_model, run, tmpdir  # noqa: E402

rnn_train = sys.argv[1]
work = tmpdir()
AUDIO = ["--rate", "8000", "--features", "kind=fbank num-mel-bins=23", "--epochs", "2", "-q"]


def fails(args, *needles, what):
    r = run([rnn_train] + args)
    msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    ok = r.returncode != 0 and all(n in r.stderr for n in needles)
    check(ok, f"{what}: exits {r.returncode} with \"{msg[:160]}\"")


try:
    out = os.path.join(work, "m.rnn")
    good = manifest(os.path.join(work, "good.tsv"), [3, 4], ["nicolas"], range(6))

    # a folder of class folders (Keras' audio_dataset_from_directory layout)
    for cls, d in (("left", 3), ("right", 4)):
        os.makedirs(os.path.join(work, "folder", cls))
        for i in range(6):
            os.symlink(os.path.join(FSDD, f"{d}_nicolas_{i}.wav"),
                       os.path.join(work, "folder", cls, f"{i}.wav"))
    r = run([rnn_train] + AUDIO + ["--arch", "lstm(8) dense(softmax)", os.path.join(work, "folder"),
                                   out])
    check(r.returncode == 0, "trains on a folder of class folders" + (r.stderr[-300:] if r.returncode else ""))
    if r.returncode == 0:
        m = read_model(out)
        check(list(m.meta["labels"]) == ["left", "right"], "labels are the folder names")
        check("12 files" in m.meta["train.data"], "12 files read from the folders")

    # manifest paths relative to the manifest
    os.makedirs(os.path.join(work, "rel"))
    with open(os.path.join(work, "rel", "m.tsv"), "w") as f:
        for cls, d in (("three", 3), ("four", 4)):
            for i in range(4):
                os.symlink(os.path.join(FSDD, f"{d}_theo_{i}.wav"),
                           os.path.join(work, "rel", f"{cls}{i}.wav"))
                f.write(f"{cls}{i}.wav\t{cls}\n")
    r = run([rnn_train] + AUDIO + [os.path.join(work, "rel", "m.tsv"), out])
    check(r.returncode == 0, "relative manifest paths resolve against the manifest's folder")

    # transcripts: CTC over the characters, spaces dropped, blank first
    ctc = os.path.join(work, "ctc.tsv")
    with open(ctc, "w") as f:
        for i in range(6):
            f.write(f"{os.path.join(FSDD, f'3_theo_{i}.wav')}\t3\n")
            f.write(f"{os.path.join(FSDD, f'4_theo_{i}.wav')}\t4 \n")
    r = run([rnn_train] + AUDIO + ["--task", "transcription", "--arch", "gru(8) dense(softmax)",
                                   ctc, out])
    check(r.returncode == 0, "trains a transcriber (--task transcription)"
          + (r.stderr[-300:] if r.returncode else ""))
    if r.returncode == 0:
        m = read_model(out)
        check(m.meta.get("task") == "transcription" and list(m.meta.get("alphabet", [])) ==
              ["<blank>", "3", "4"] and m.outputs == 3 and m.meta.get("train.loss-function") == "ctc",
              "task transcription, alphabet <blank> 3 4, CTC")

    # CSV sensor logs: sensorparse ! rnnfeatures kind=raw ! rnntrain
    rng = random.Random(1)
    with open(os.path.join(work, "sensors.tsv"), "w") as man:
        for k in range(16):
            cls = "wave" if k % 2 else "still"
            path = os.path.join(work, f"s{k}.csv")
            with open(path, "w") as f:
                f.write("ax,ay,az\n")
                for t in range(30):
                    a = math.sin(t * 0.8) if cls == "wave" else 0.0
                    f.write(f"{a + rng.gauss(0, 0.1):.4f},{rng.gauss(0, 0.1):.4f},"
                            f"{rng.gauss(1, 0.1):.4f}\n")
            man.write(f"{path}\t{cls}\n")
    r = run([rnn_train, "-q", "--sensor-rate", "10", "--epochs", "30", "-l", "0.01",
             "--arch", "gru(8) dense(softmax)", "--validation-split", "0",
             os.path.join(work, "sensors.tsv"), out])
    check(r.returncode == 0, "trains on CSV sensor logs" + (r.stderr[-300:] if r.returncode else ""))
    if r.returncode == 0:
        m = read_model(out)
        check(m.input_size == 3 and m.meta.get("features.kind") == "raw",
              "3 raw sensor inputs, features.kind=raw")
        check("16 training" in m.meta["train.data"] and "480 frames" in m.meta["train.data"],
              "one sequence of 30 samples per CSV file, headers skipped: " + m.meta["train.data"])
        check(m.meta.get("train.accuracy", 0) >= 0.9, "tells a wave from stillness")

    # bad input
    missing = os.path.join(work, "missing.tsv")
    with open(missing, "w") as f:
        f.write(f"{os.path.join(FSDD, '3_theo_0.wav')}\tthree\n{work}/nope.wav\tfour\n")
    fails([missing, out], "missing.tsv:2", "nope.wav", what="missing file")

    bad = os.path.join(work, "bad.wav")
    with open(bad, "w") as f:
        f.write("this is not audio\n")
    badman = os.path.join(work, "badaudio.tsv")
    with open(badman, "w") as f:
        f.write(f"{os.path.join(FSDD, '3_theo_0.wav')}\tthree\n{bad}\tfour\n")
    fails(AUDIO + [badman, out], "cannot decode", "bad.wav", what="unreadable audio")

    empty = os.path.join(work, "empty.tsv")
    with open(empty, "w") as f:
        f.write("# nothing\n\n")
    fails([empty, out], "empty", what="empty data set")

    one = manifest(os.path.join(work, "one.tsv"), [3], ["theo"], range(3))
    fails([one, out], "single class", "three", what="a single class")

    notab = os.path.join(work, "notab.tsv")
    with open(notab, "w") as f:
        f.write("a.wav three\n")
    fails([notab, out], "notab.tsv:1", "path<TAB>label", what="a line without a tab")

    fails(AUDIO + ["--arch", "gru(32) dnese(softmax)", good, out], "'dnese'", "character 9",
          what="bad architecture")
    fails(AUDIO + ["-p", "no-such=1", good, out], "no-such", what="unknown rnntrain property")
    fails(AUDIO + ["-p", "epochs=many", good, out], "many", "epochs", what="bad property value")
    fails(["--features", "kind=fbank num-mel-bins=x", good, out], "num-mel-bins",
          what="bad feature property")
    fails([os.path.join(work, "nothing-here"), out], "nothing-here", what="no such data set")
    fails(AUDIO + [good, os.path.join(work, "no-dir", "m.rnn")], "no-dir", "does not exist",
          what="output in a missing folder (before any training)")
    check(not os.path.exists(os.path.join(work, "never.rnn")), "no output after errors")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish("test_train_cli")
