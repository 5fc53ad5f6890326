#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Converts a UEA multivariate time-series archive file (.ts) into one CSV per instance and manifests.

    models/uea_to_csv.py IN.ts OUTDIR [--holdout F --seed N] [--names a,b,c] [--prefix P]

Writes into OUTDIR (created if needed):
  P_NNNN.csv   one per instance (NNNN = its 0-based index in IN.ts): a header line naming the
               dimensions, then one sample per line, one column per dimension, the values written
               exactly as IN.ts has them (what `sensorparse` reads);
  all.tsv      the manifest of every instance, `path<TAB>label` per line (paths relative to OUTDIR),
               in file order (what `rnn-train` and models/eval_sensor.py read);
  classes.txt  the class names in the order of the file's `@classLabel` header, comma-separated
               (for `rnn-train --classes`), or in order of appearance when the header has none;
  with --holdout F: train.tsv and val.tsv, a stratified split: of each class's instances,
               round(F * count) (at least one when F > 0 and the class has two or more) go to
               val.tsv, chosen by a generator seeded with --seed; the rest to train.tsv, both in file
               order. The same file, F and seed always give the same split.

.ts format: '#' comment lines and '@' header lines, then after '@data' one instance per line: each
dimension's comma-separated values, dimensions separated by ':', the class label last. Malformed input
(no @data, an instance with another number of dimensions or unequal lengths, a value that is not a
finite number, a missing value '?', a label the @classLabel header does not list, a length that
contradicts @seriesLength) stops with an error naming the file and line; nothing is written then.
"""
import argparse
import math
import os
import random
import sys


class TsError(Exception):
    """Malformed .ts input; the message names the file and line."""


def parse_ts(path):
    """Returns (instances, classes, header): instances is a list of (line number, dims, label) with
    dims a list of lists of value strings; classes the @classLabel list (or None)."""
    header = {}
    instances = []
    in_data = False
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise TsError(f"{path}: cannot open: {e.strerror}") from None
    with f:
        try:
            lines = list(f)
        except UnicodeDecodeError as e:
            raise TsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        if not in_data:
            if not line.startswith("@"):
                raise TsError(f"{where}: expected an '@' header line before @data, got "
                              f"'{line[:40]}'")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            else:
                header[key] = (number, value.split())
            continue
        if line.startswith("@"):
            raise TsError(f"{where}: header line '{line[:40]}' after @data")
        *dims, label = line.split(":")
        label = label.strip()
        if not dims:
            raise TsError(f"{where}: no ':' separating dimensions from the class label")
        if not label:
            raise TsError(f"{where}: empty class label")
        values = [[v.strip() for v in d.split(",")] for d in dims]
        for d, vs in enumerate(values):
            for t, v in enumerate(vs):
                if v == "?":
                    raise TsError(f"{where}: dimension {d} sample {t}: missing value '?' "
                                  "(not supported)")
                try:
                    x = float(v)
                except ValueError:
                    raise TsError(f"{where}: dimension {d} sample {t}: '{v[:40]}' is not a "
                                  "number") from None
                if not math.isfinite(x):
                    raise TsError(f"{where}: dimension {d} sample {t}: '{v}' is not finite")
        lengths = [len(vs) for vs in values]
        if len(set(lengths)) != 1:
            raise TsError(f"{where}: dimensions of unequal length {lengths}")
        if instances and len(dims) != len(instances[0][1]):
            raise TsError(f"{where}: {len(dims)} dimensions, but the instance on line "
                          f"{instances[0][0]} has {len(instances[0][1])}")
        instances.append((number, values, label))
    if not in_data:
        raise TsError(f"{path}: no @data line")
    if not instances:
        raise TsError(f"{path}: no instances after @data")

    classes = None
    if "classlabel" in header:
        number, words = header["classlabel"]
        if not words or words[0].lower() != "true":
            raise TsError(f"{path}:{number}: @classLabel is not 'true': the file has no labels")
        classes = words[1:]
        if not classes:
            raise TsError(f"{path}:{number}: @classLabel true lists no classes")
        for n, _, label in instances:
            if label not in classes:
                raise TsError(f"{path}:{n}: label '{label}' is not one of @classLabel "
                              f"{' '.join(classes)} (line {number})")
    if "dimensions" in header:
        number, words = header["dimensions"]
        if words and words[0].isdigit() and int(words[0]) != len(instances[0][1]):
            raise TsError(f"{path}:{instances[0][0]}: {len(instances[0][1])} dimensions, but "
                          f"@dimensions (line {number}) says {words[0]}")
    equal = header.get("equallength", (0, ["false"]))[1]
    if "serieslength" in header and equal and equal[0].lower() == "true":
        number, words = header["serieslength"]
        if words and words[0].isdigit():
            for n, dims, _ in instances:
                if len(dims[0]) != int(words[0]):
                    raise TsError(f"{path}:{n}: {len(dims[0])} samples, but @seriesLength "
                                  f"(line {number}) says {words[0]}")
    return instances, classes, header


def stratified_holdout(labels, fraction, seed):
    """Indices (sorted) of the held-out part: round(fraction * count) of each class (at least one
    when fraction > 0 and the class has two or more instances), picked by random.Random(seed)."""
    rng = random.Random(seed)
    held = []
    for cls in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == cls]
        k = int(math.floor(fraction * len(members) + 0.5))
        if fraction > 0 and k == 0 and len(members) >= 2:
            k = 1
        k = min(k, len(members) - 1) if len(members) > 1 else 0
        rng.shuffle(members)
        held.extend(members[:k])
    return sorted(held)


def write_manifest(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for name, label in rows:
            f.write(f"{name}\t{label}\n")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("input", help="the .ts file")
    parser.add_argument("outdir", help="folder for the CSV files and manifests")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="fraction of each class held out in val.tsv (0: no split)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the holdout split (1)")
    parser.add_argument("--names", help="comma-separated dimension names for the CSV header "
                        "(default dim_0,dim_1,...)")
    parser.add_argument("--prefix", help="CSV file name prefix (default: the input's name "
                        "without .ts)")
    args = parser.parse_args()
    if not 0.0 <= args.holdout < 1.0:
        parser.error(f"--holdout must be in [0, 1), not {args.holdout}")

    try:
        instances, classes, _ = parse_ts(args.input)
    except TsError as e:
        sys.exit(f"uea_to_csv: {e}")
    n_dims = len(instances[0][1])
    if args.names:
        names = [n.strip() for n in args.names.split(",")]
        if len(names) != n_dims or not all(names):
            sys.exit(f"uea_to_csv: --names gives {len(names)} names, {args.input} has {n_dims} "
                     "dimensions")
    else:
        names = [f"dim_{d}" for d in range(n_dims)]
    if classes is None:
        classes = []
        for _, _, label in instances:
            if label not in classes:
                classes.append(label)
    for c in classes:
        if "," in c or "\t" in c:
            sys.exit(f"uea_to_csv: {args.input}: class name '{c}' holds a comma or tab")

    prefix = args.prefix or os.path.splitext(os.path.basename(args.input))[0]
    os.makedirs(args.outdir, exist_ok=True)
    rows = []
    for i, (_, dims, label) in enumerate(instances):
        name = f"{prefix}_{i:04d}.csv"
        with open(os.path.join(args.outdir, name), "w", encoding="utf-8") as out:
            out.write(",".join(names) + "\n")
            for t in range(len(dims[0])):
                out.write(",".join(d[t] for d in dims) + "\n")
        rows.append((name, label))
    write_manifest(os.path.join(args.outdir, "all.tsv"), rows)
    with open(os.path.join(args.outdir, "classes.txt"), "w", encoding="utf-8") as f:
        f.write(",".join(classes) + "\n")
    summary = f"{len(rows)} instances of {n_dims} dimensions, {len(classes)} classes"
    if args.holdout > 0:
        held = set(stratified_holdout([r[1] for r in rows], args.holdout, args.seed))
        write_manifest(os.path.join(args.outdir, "train.tsv"),
                       [r for i, r in enumerate(rows) if i not in held])
        write_manifest(os.path.join(args.outdir, "val.tsv"),
                       [r for i, r in enumerate(rows) if i in held])
        summary += f"; train.tsv {len(rows) - len(held)}, val.tsv {len(held)} (seed {args.seed})"
    print(f"{args.outdir}: {summary}")


if __name__ == "__main__":
    main()
