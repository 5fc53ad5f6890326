# Shared helpers of the rnntrain / rnn-train pipeline tests.
# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(SOURCE_ROOT, "..", "shared", "data"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tools"))
import rnnfile  # noqa: E402

FSDD = os.path.join(DATA, "fsdd", "recordings")
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok   " + what)
    else:
        failures += 1
        print("FAIL " + what)
    return cond


def finish(name):
    print(f"{name}: {failures} failed")
    sys.exit(1 if failures else 0)


def manifest(path, digits, speakers, indices):
    with open(path, "w") as f:
        f.write("# test manifest\n")
        for d in digits:
            for s in speakers:
                for i in indices:
                    f.write(f"{os.path.join(FSDD, f'{d}_{s}_{i}.wav')}\t{WORDS[d]}\n")
    return path


def run(cmd, env=None, timeout=120):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                          timeout=timeout)


def tmpdir():
    return tempfile.mkdtemp(prefix="rnntrain-test-")


def read_model(path):
    return rnnfile.read(path)
