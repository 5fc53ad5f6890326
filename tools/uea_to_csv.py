#!/usr/bin/env python3
"""Writes one instance of a UEA multivariate time-series archive file (.ts) as CSV for sensorparse.

    tools/uea_to_csv.py IN.ts OUT.csv [--instance N] [--no-header]

The CSV has one line per sample and one column per dimension (dim_0, dim_1, ...), the header line
first (sensorparse skips it), values written exactly as the .ts file has them. The instance's class
label is printed on stdout.

.ts format: '#' comments and '@' header lines, then after '@data' one instance per line: each
dimension's comma-separated values, dimensions separated by ':', the class label last.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import argparse
import sys


def read_instance(path, index):
    """Returns (dimensions, label) of instance `index`: dimensions is a list of lists of strings."""
    seen = 0
    in_data = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                continue
            if seen < index:
                seen += 1
                continue
            *dims, label = line.split(":")
            if not dims:
                sys.exit(f"{path}:{number}: no dimensions before the label")
            values = [d.split(",") for d in dims]
            if len({len(v) for v in values}) != 1:
                sys.exit(f"{path}:{number}: dimensions of unequal length "
                         f"{[len(v) for v in values]}")
            for d, vs in enumerate(values):
                for t, v in enumerate(vs):
                    try:
                        float(v)
                    except ValueError:
                        sys.exit(f"{path}:{number}: dimension {d} sample {t}: '{v}' is not a number")
            return values, label
    sys.exit(f"{path}: has {seen} instances, not {index + 1}" if in_data
             else f"{path}: no @data line")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--instance", type=int, default=0, help="0-based instance index (0)")
    parser.add_argument("--no-header", action="store_true", help="no dim_0,... header line")
    args = parser.parse_args()
    if args.instance < 0:
        sys.exit("--instance must be >= 0")

    dims, label = read_instance(args.input, args.instance)
    with open(args.output, "w", encoding="utf-8") as out:
        if not args.no_header:
            out.write(",".join(f"dim_{d}" for d in range(len(dims))) + "\n")
        for t in range(len(dims[0])):
            out.write(",".join(d[t] for d in dims) + "\n")
    print(label)


if __name__ == "__main__":
    main()
