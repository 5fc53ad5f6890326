#!/usr/bin/env python3
# Writes an rnn-train manifest ("path<TAB>label" per line) for a subset of the Free Spoken Digit
# Dataset (../shared/data/fsdd/recordings/{digit}_{speaker}_{index}.wav).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   models/make_manifest.py --split train OUT.tsv                 # official training split (5-49)
#   models/make_manifest.py --split test OUT.tsv                  # official test split (0-4)
#   models/make_manifest.py --digits 0,1,2 --speakers george,jackson --indices 5-49 OUT.tsv
#   models/make_manifest.py --transcripts 3 OUT.tsv               # connected digits: see below
#
# Labels are the digit words zero..nine (the labels of models/digits.rnn), or the digit characters
# with --label-digits. Paths are absolute, so the manifest can live anywhere.
import argparse
import os
import re
import sys

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SPEAKERS = ["george", "jackson", "nicolas", "theo", "yweweler"]
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def default_data():
    env = os.environ.get("RNN_DATA")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "..", "shared", "data")


def parse_indices(text):
    out = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("output")
    ap.add_argument("--data", default=default_data(), help="the shared data folder")
    ap.add_argument("--split", choices=["train", "test", "all"], default="all",
                    help="official FSDD split: test = indices 0-4, train = 5-49")
    ap.add_argument("--digits", default="0-9", help="e.g. 0,1,2 or 0-9")
    ap.add_argument("--speakers", default=",".join(SPEAKERS))
    ap.add_argument("--indices", help="e.g. 5-49 (overrides --split)")
    ap.add_argument("--label-digits", action="store_true", help="labels 0..9 instead of words")
    a = ap.parse_args()

    rec = os.path.join(a.data, "fsdd", "recordings")
    if not os.path.isdir(rec):
        sys.exit(f"make_manifest.py: no FSDD recordings at {rec}")
    digits = parse_indices(a.digits)
    speakers = set(s for s in a.speakers.split(",") if s)
    unknown = speakers - set(SPEAKERS)
    if unknown:
        sys.exit(f"make_manifest.py: unknown speaker(s): {', '.join(sorted(unknown))}")
    if a.indices:
        indices = parse_indices(a.indices)
    else:
        indices = {"train": set(range(5, 50)), "test": set(range(0, 5)),
                   "all": set(range(0, 50))}[a.split]

    rows = []
    for name in os.listdir(rec):
        m = NAME.match(name)
        if not m:
            continue
        d, spk, idx = int(m.group(1)), m.group(2), int(m.group(3))
        if d in digits and spk in speakers and idx in indices:
            label = str(d) if a.label_digits else WORDS[d]
            rows.append((d, spk, idx, os.path.abspath(os.path.join(rec, name)), label))
    rows.sort()
    if not rows:
        sys.exit("make_manifest.py: no recording matches")
    with open(a.output, "w") as f:
        f.write("# FSDD subset: digits %s, speakers %s, %d files\n"
                % (a.digits, ",".join(sorted(speakers)), len(rows)))
        for r in rows:
            f.write(f"{r[3]}\t{r[4]}\n")
    print(f"{a.output}: {len(rows)} files", file=sys.stderr)


if __name__ == "__main__":
    main()
