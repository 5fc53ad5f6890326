#!/usr/bin/env python3
# A training run killed (SIGKILL) at any moment, during its save included, never damages or loses
# the model it would replace.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test_train_kill.py RNN_TRAIN RNN_MODEL KILLSHIM.so
#
# The kills during the save are made exact by an LD_PRELOAD shim (test_train_killshim.c) that
# raises SIGKILL half-way through writing the temporary file, before its fsync, and before the
# rename over the old model. Other kills land while the data is fed and between epochs.
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_common import check, finish, manifest, read_model, run, tmpdir  # noqa: E402

rnn_train, rnn_model, shim = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
work = tmpdir()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def intact(out, want, what):
    ok = os.path.exists(out) and digest(out) == want
    info = run([rnn_model, "info", out])
    check(ok and info.returncode == 0, f"{what}: the previous model is unchanged and loads")
    for tmp in glob.glob(out + ".tmp.*"):
        os.unlink(tmp)  # what a kill -9 leaves behind: a stray temporary, never the model


try:
    tsv = manifest(os.path.join(work, "d.tsv"), [0, 1], ["theo"], range(20))
    out = os.path.join(work, "model.rnn")
    base = [rnn_train, "--rate", "8000", "--features", "kind=fbank num-mel-bins=23",
            "--arch", "gru(16) dense(softmax)", "--validation-split", "0.25"]

    r = run(base + ["-q", "--epochs", "2", tsv, out])
    check(r.returncode == 0, "the first model trains")
    before = digest(out)

    # exact kills inside rnn_model_save
    for at in ("write", "sync", "rename"):
        r = run(base + ["-q", "--epochs", "2", "--seed", "7", tsv, out], env={
            "LD_PRELOAD": shim, "RNN_KILL_AT": at})
        check(r.returncode == -signal.SIGKILL, f"killed by SIGKILL at the save's {at}")
        intact(out, before, f"kill at {at}")

    # kills while feeding, and between epochs of a long run
    for moment in ("feeding", "epoch 1", "epoch 3"):
        p = subprocess.Popen(base + ["--epochs", "1000", "--seed", "3", tsv, out],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if moment == "feeding":
            while True:  # the first line is printed before the first file is fed
                line = p.stderr.readline()
                if not line or line.startswith("Feeding"):
                    break
        else:
            n = int(moment.split()[1])
            while True:
                line = p.stderr.readline()
                if not line or line.startswith(f"Epoch {n}/"):
                    break
        p.send_signal(signal.SIGKILL)
        p.wait()
        check(p.returncode == -signal.SIGKILL, f"killed while {moment}")
        intact(out, before, f"kill while {moment}")

    # and a run left alone replaces the model with a new, complete one
    r = run(base + ["-q", "--epochs", "3", "--seed", "5", tsv, out])
    check(r.returncode == 0 and digest(out) != before, "a complete run replaces the model")
    check(read_model(out).meta.get("train.epochs") == 3, "the new model is the new run's")
    check(not glob.glob(out + ".tmp.*"), "a complete run leaves no temporary file")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish("test_train_kill")
