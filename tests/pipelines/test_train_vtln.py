#!/usr/bin/env python3
# rnn-train --vtln-warp LO:HI (VTLP augmentation: a seeded random rnnfeatures vtln-warp per
# augmented copy, carried by the copy's rnn-reset event):
#   - runs, and two runs with the same seed give identical models;
#   - the warp reaches the features: with speed, gain and noise off the augmented copies differ
#     from the originals only by the warp, so the model differs from one trained without it,
#     and another seed (other warps) gives another model;
#   - the model stores the base factor, features.vtln-warp = 1.0, never a copy's random one, and
#     the description (train.data) names the range;
#   - bad ranges and --vtln-warp without --augment are refused with a message.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test_train_vtln.py RNN_TRAIN
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_common import FSDD, check, finish, manifest, read_model, run, tmpdir  # noqa: E402

rnn_train = sys.argv[1]
if not os.path.isdir(FSDD):
    print("skip: no FSDD recordings at %s" % FSDD)
    sys.exit(77)

work = tmpdir()
# only the warp perturbs the copies
BASE = ["-q", "--rate", "8000", "--features", "kind=fbank num-mel-bins=23",
        "--arch", "gru(8) dense(softmax)", "--epochs", "2", "--augment", "1",
        "--speed", "1", "--gain", "0", "--noise-snr", "off"]


def train(name, *extra, seed="7"):
    out = os.path.join(work, name + ".rnn")
    r = run([rnn_train] + BASE + ["--seed", seed] + list(extra) + [tsv, out])
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-2000:])
        return None
    return read_model(out)


def same_weights(a, b):
    return (a is not None and b is not None and sorted(a.tensors) == sorted(b.tensors)
            and all(np.array_equal(np.asarray(a.tensors[k]), np.asarray(b.tensors[k]))
                    for k in a.tensors))


def fails(args, needle, what):
    r = run([rnn_train] + args + [tsv, os.path.join(work, "bad.rnn")])
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(r.returncode != 0 and needle in r.stderr, f"{what}: exits {r.returncode} with \"{last}\"")


try:
    tsv = manifest(os.path.join(work, "m.tsv"), [0, 1], ["george", "jackson"], range(8))
    a = train("a", "--vtln-warp", "0.9:1.1")
    b = train("b", "--vtln-warp", "0.9:1.1")
    plain = train("plain")
    other_seed = train("seed8", "--vtln-warp", "0.9:1.1", seed="8")
    plain8 = train("plain8", seed="8")
    check(a is not None and b is not None, "rnn-train --augment 1 --vtln-warp 0.9:1.1 exits 0")
    check(same_weights(a, b), "the same seed gives the same model (the warps are seeded)")
    check(plain is not None and a is not None and not same_weights(a, plain),
          "the warp changes the features the model learns from (differs from no --vtln-warp)")
    # another seed also changes the split and the weights: compare it with its own plain run
    check(other_seed is not None and plain8 is not None and not same_weights(other_seed, plain8),
          "with another seed too")
    if a is not None:
        meta = a.meta
        check(meta.get("features.vtln-warp") == 1.0,
              "features.vtln-warp stored as 1.0, not a copy's random factor "
              f"({meta.get('features.vtln-warp')!r})")
        data = meta.get("train.data", "")
        check("VTLN warp 0.9:1.1" in data, f"train.data names the warp range ({data})")
        check("--vtln-warp 0.9:1.1" in meta.get("train.command", ""), "train.command has it")
        check(meta.get("features.vtln-low") == 100.0 and meta.get("features.vtln-high") == -500.0,
              "features.vtln-low / vtln-high stored (100, -500)")
    if plain is not None:
        check("VTLN" not in plain.meta.get("train.data", ""), "no warp, no mention")

    # a base factor of the user's is what the model stores; the copies still draw theirs
    base = train("base", "--vtln-warp", "0.9:1.1", "--features",
                 "kind=fbank num-mel-bins=23 vtln-warp=0.95")
    check(base is not None and base.meta.get("features.vtln-warp") == 0.95,
          "--features vtln-warp=0.95: the model stores 0.95 "
          f"({base.meta.get('features.vtln-warp') if base else None!r})")
    # 1 (or 1:1) disables, as --speed 1 does
    one = train("one", "--vtln-warp", "1")
    check(same_weights(one, plain), "--vtln-warp 1 is the same as no --vtln-warp")

    fails(BASE + ["--vtln-warp", "0.3:1.1"], "outside 0.5:2", "--vtln-warp 0.3:1.1")
    fails(BASE + ["--vtln-warp", "1.1:0.9"], "LO <= HI", "--vtln-warp 1.1:0.9")
    fails(BASE + ["--vtln-warp", "x"], "not LO:HI", "--vtln-warp x")
    fails(["-q", "--rate", "8000", "--vtln-warp", "0.9:1.1"], "--augment", "--vtln-warp without "
          "--augment")
    # knees the warp cannot use (vtln-low at or below low-freq): an error naming them, not
    # silently wrong features
    fails(BASE + ["--vtln-warp", "0.9:1.1", "--features", "kind=fbank low-freq=150"],
          "vtln-low=100", "--vtln-warp with low-freq=150 above vtln-low")
finally:
    shutil.rmtree(work, ignore_errors=True)
finish("test_train_vtln")
