#!/usr/bin/python3
"""CSV sensor log -> classification, end to end with gst-launch-1.0 and the shipped model:

    gst-launch-1.0 -m filesrc location=X.csv ! sensorparse rate=10 !
        rnnfeatures model=models/racketsports.rnn ! rnninfer model=models/racketsports.rnn ! fakesink

for the first held-out instance of each class (models/uea_to_csv.py --holdout 0.2 --seed 1 on
RacketSports_TRAIN; the model never saw them) must post exactly one rnn-classification element
message, with the instance's label, class-index as the model's labels list it, a confidence in
(0.5, 1] and the whole 3 s instance as its span (timestamp 0, duration 3 s). No rnninfer property
is set: the model's infer.vad = false is what makes a result come out.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import os
import re
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.environ.get("RNN_SOURCE_ROOT",
                             os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(SOURCE_ROOT, "..", "shared", "data"))
TS = os.path.join(DATA, "uea", "RacketSports_TRAIN.ts")
MODEL = os.path.join(SOURCE_ROOT, "models", "racketsports.rnn")
LABELS = ["Badminton_Smash", "Badminton_Clear", "Squash_ForehandBoast", "Squash_BackhandBoast"]
MESSAGE = re.compile(r'Got message #\d+ from element "[^"]+" \(element\): rnn-classification, (.*)$',
                     re.MULTILINE)

failures = []


def check(cond, what):
    print(("ok      " if cond else "FAILED  ") + what)
    if not cond:
        failures.append(what)


def field(text, name, kind):
    m = re.search(rf"{name}=\({kind}\)([^,;]+)", text)
    return m.group(1).strip('"') if m else None


def main():
    if not os.path.exists(TS):
        print(f"SKIP: {TS} not found")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(SOURCE_ROOT, "models", "uea_to_csv.py"), TS,
                        tmp, "--holdout", "0.2", "--seed", "1"], check=True,
                       stdout=subprocess.DEVNULL)
        first = {}
        with open(os.path.join(tmp, "val.tsv"), encoding="utf-8") as f:
            for line in f:
                path, label = line.rstrip("\n").split("\t")
                first.setdefault(label, path)
        check(sorted(first) == sorted(LABELS), f"val.tsv holds every class ({sorted(first)})")
        for label, path in sorted(first.items()):
            r = subprocess.run(
                ["gst-launch-1.0", "-m", "filesrc", f"location={os.path.join(tmp, path)}", "!",
                 "sensorparse", "rate=10", "!", "rnnfeatures", f"model={MODEL}", "!",
                 "rnninfer", f"model={MODEL}", "!", "fakesink"],
                capture_output=True, text=True, timeout=60)
            results = MESSAGE.findall(r.stdout)
            tag = f"{path} ({label}):"
            check(r.returncode == 0, f"{tag} gst-launch-1.0 exits 0 ({r.returncode}) "
                  f"{r.stderr.strip()[-300:]}")
            check(len(results) == 1, f"{tag} one rnn-classification ({len(results)})")
            if not results:
                continue
            s = results[0]
            got = field(s, "label", "string")
            index = field(s, "class-index", "int")
            confidence = float(field(s, "confidence", "double") or "nan")
            check(got == label, f"{tag} label {got}")
            check(index is not None and int(index) == LABELS.index(label),
                  f"{tag} class-index {index}")
            check(0.5 < confidence <= 1.0, f"{tag} confidence {confidence:.4f}")
            check(field(s, "timestamp", "guint64") == "0"
                  and field(s, "duration", "guint64") == "3000000000",
                  f"{tag} spans the 3 s instance (timestamp {field(s, 'timestamp', 'guint64')}, "
                  f"duration {field(s, 'duration', 'guint64')})")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
