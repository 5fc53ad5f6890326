#!/usr/bin/python3
"""models/uea_to_csv.py: a real UEA file becomes one CSV per instance with the .ts values, the
manifests and class list rnn-train reads; the holdout split is stratified, seeded and reproducible;
malformed input stops with an error naming the file and line, and writes nothing.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import collections
import os
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.environ.get("RNN_SOURCE_ROOT",
                             os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(SOURCE_ROOT, "..", "shared", "data"))
TOOL = os.path.join(SOURCE_ROOT, "models", "uea_to_csv.py")
TS = os.path.join(DATA, "uea", "BasicMotions_TRAIN.ts")

failures = []


def check(cond, what):
    print(("ok      " if cond else "FAILED  ") + what)
    if not cond:
        failures.append(what)


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True)


def manifest(path):
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f]


def ts_instances(path):
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    out = []
    for line in lines[lines.index("@data") + 1:]:
        *dims, label = line.split(":")
        out.append(([d.split(",") for d in dims], label))
    return out


def main():
    if not os.path.exists(TS):
        print(f"SKIP: {TS} not found")
        return 77
    expected = ts_instances(TS)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "all")
        r = run(TS, out)
        check(r.returncode == 0, f"converts {os.path.basename(TS)} ({r.stderr.strip()})")
        rows = manifest(os.path.join(out, "all.tsv"))
        check(len(rows) == len(expected) == 40, f"all.tsv lists 40 instances ({len(rows)})")
        good = True
        for (name, label), (dims, want_label) in zip(rows, expected):
            with open(os.path.join(out, name), encoding="utf-8") as f:
                lines = f.read().splitlines()
            good &= lines[0] == ",".join(f"dim_{d}" for d in range(len(dims)))
            good &= label == want_label and len(lines) == 1 + len(dims[0])
            good &= all(lines[1 + t].split(",") == [d[t] for d in dims] for t in range(len(dims[0])))
        check(good, "each CSV: header dim_0..dim_5, then the .ts values per sample, label in all.tsv")
        with open(os.path.join(out, "classes.txt"), encoding="utf-8") as f:
            classes = f.read().strip()
        check(classes == "Standing,Running,Walking,Badminton", f"classes.txt in @classLabel order "
              f"({classes})")

        splits = {}
        for name, seed in (("a", 1), ("b", 1), ("c", 2)):
            d = os.path.join(tmp, name)
            r = run(TS, d, "--holdout", "0.2", "--seed", str(seed))
            splits[name] = (manifest(os.path.join(d, "train.tsv")), manifest(os.path.join(d, "val.tsv")))
        train, val = splits["a"]
        check(sorted(train + val) == sorted(rows) and not set(train) & set(val),
              "train.tsv and val.tsv partition all.tsv")
        per_class = collections.Counter(label for _, label in val)
        check(len(val) == 8 and set(per_class.values()) == {2},
              f"val.tsv holds 20 % of each class ({dict(per_class)})")
        check(splits["a"] == splits["b"], "the same seed gives the same split")
        check(splits["a"][1] != splits["c"][1], "another seed gives another split")

        bad_cases = [
            ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:3,x:b\n", ":4:", "'x' is not a number"),
            ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:3:b\n", ":4:", "unequal length"),
            ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:b\n", ":4:", "1 dimensions"),
            ("@classLabel true a b\n@data\n1,2:3,4:c\n", ":3:", "label 'c'"),
            ("@classLabel true a b\n@data\n1,?:3,4:a\n", ":3:", "missing value"),
            ("@classLabel true a b\n@data\n1,nan:3,4:a\n", ":3:", "not finite"),
            ("@problemName x\n", ": no @data", "no @data"),
        ]
        for i, (text, where, what) in enumerate(bad_cases):
            path = os.path.join(tmp, f"bad{i}.ts")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            d = os.path.join(tmp, f"badout{i}")
            r = run(path, d)
            check(r.returncode != 0 and path + where in r.stderr and what in r.stderr
                  and not os.path.exists(d), f"bad{i}.ts: {r.stderr.strip()}")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
