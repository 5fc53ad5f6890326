#!/usr/bin/env python3
# The shipped connected-digit transcriber, models/digits-ctc.rnn: what it is (a unidirectional
# CTC model over the digits, streaming features) and how well it transcribes connected strings it
# has not heard: 40 strings that models/make_connected.py builds here from the official FSDD test
# split (indices 0-4 of the five speakers; the model was trained on indices 5-49), transcribed by
# models/eval_ctc.py through filesrc ! wavparse ! ... ! rnnfeatures ! rnninfer. The digit error
# rate must stay at most MAX_DER.
# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.environ.get("RNN_SOURCE_ROOT",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(ROOT, "..", "shared", "data"))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "digits-ctc.rnn")
PY = sys.executable
MAX_DER = 8.0   # percent

sys.path.insert(0, os.path.join(ROOT, "tools"))
import rnnfile  # noqa: E402

failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


def main():
    if not os.path.isfile(MODEL):
        sys.exit(f"the shipped model {MODEL} is missing")
    m = rnnfile.read(MODEL)
    check(m.meta.get("task") == "transcription", f"task {m.meta.get('task')} is transcription")
    check(m.meta.get("alphabet") == ["<blank>"] + [str(d) for d in range(10)],
          f"alphabet {m.meta.get('alphabet')} is the blank and the ten digits")
    check(m.layers and not any(layer.bidirectional for layer in m.layers),
          f"every layer is unidirectional (streaming): {m.layers}")
    # An ensemble has one head per member (a grouped head), each with the 11 outputs.
    heads = m.head_groups
    check(m.outputs == 11 * heads, f"11 outputs per head (got {m.outputs} for {heads} heads)")
    check(not m.meta.get("features.cmn-center"), "CMN (if any) is causal: cmn-center is off")

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([PY, os.path.join(ROOT, "models", "make_connected.py"), tmp,
                        "--data", DATA, "--indices", "0-4", "--count", "40", "--seed", "11"],
                       check=True)
        out = subprocess.run([PY, os.path.join(ROOT, "models", "eval_ctc.py"), "--model", MODEL,
                              "--errors", os.path.join(tmp, "manifest.tsv")],
                             capture_output=True, text=True)
        print(out.stdout + out.stderr)
        check(out.returncode == 0, "eval_ctc.py ran")
        der = re.search(r"DER ([0-9.]+)%", out.stdout)
        check(der is not None and float(der.group(1)) <= MAX_DER,
              f"digit error rate {der.group(1) if der else '?'}% <= {MAX_DER}% on 40 strings "
              "from the test split")
    if failures:
        sys.exit(f"{len(failures)} checks failed")


if __name__ == "__main__":
    main()
