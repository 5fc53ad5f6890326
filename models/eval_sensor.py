#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Evaluates a sensor classification model through real GStreamer pipelines.

    GST_PLUGIN_PATH=build models/eval_sensor.py MODEL MANIFEST [--rate 10] [--min-accuracy X]

For each `path<TAB>label` line of MANIFEST (paths relative to it; CSV sensor logs as
models/uea_to_csv.py writes them) it runs

    filesrc location=X.csv ! sensorparse rate=R ! rnnfeatures model=M ! rnninfer model=M ! fakesink

to EOS and reads the `rnn-classification` element messages from the bus. The instance counts as
right when exactly one result came and its label is the manifest's (the number of instances with
no result or several is printed: with a model that carries `infer.vad = off`, the whole stream is
one utterance and gives one result). rnninfer runs with the model's own `infer.*` defaults; `--infer
KEY=VALUE` sets more properties (repeatable).

Prints the accuracy, per-class recall, a confusion matrix (rows: true class, columns: predicted)
and the wall-clock time per sequence (pipeline creation to EOS, median). Exit status 1 if
--min-accuracy is given and not reached, or on any pipeline error.
"""
import argparse
import os
import statistics
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import rnnfile  # noqa: E402


def read_manifest(path):
    rows = []
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                sys.exit(f"eval_sensor.py: {path}:{number}: expected 'path<TAB>label'")
            p = parts[0] if os.path.isabs(parts[0]) else os.path.join(base, parts[0])
            if not os.path.isfile(p):
                sys.exit(f"eval_sensor.py: {path}:{number}: no such file {p}")
            rows.append((p, parts[1]))
    if not rows:
        sys.exit(f"eval_sensor.py: {path}: no instances")
    return rows


def classify(path, model, rate, infer_props):
    """Runs one CSV through the pipeline. Returns (labels of every rnn-classification, error or
    None, seconds from pipeline creation to EOS)."""
    start = time.perf_counter()
    pipe = Gst.parse_launch(
        f"filesrc name=src ! sensorparse rate={rate} ! rnnfeatures name=f ! rnninfer name=i ! "
        "fakesink sync=false")
    pipe.get_by_name("src").set_property("location", path)
    pipe.get_by_name("f").set_property("model", model)
    infer = pipe.get_by_name("i")
    infer.set_property("model", model)
    for key, value in infer_props:
        Gst.util_set_object_arg(infer, key, value)
    bus = pipe.get_bus()
    labels, error = [], None
    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        error = "cannot start the pipeline"
    while error is None:
        msg = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            error = "timed out"
        elif msg.type == Gst.MessageType.ERROR:
            error = msg.parse_error()[0].message
        elif msg.type == Gst.MessageType.EOS:
            break
        else:
            s = msg.get_structure()
            if s and s.get_name() == "rnn-classification":
                labels.append(s.get_string("label"))
    elapsed = time.perf_counter() - start
    pipe.set_state(Gst.State.NULL)
    return labels, error, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("manifest")
    ap.add_argument("--rate", type=int, default=10, help="sensorparse rate in Hz (10)")
    ap.add_argument("--infer", action="append", default=[], metavar="KEY=VALUE",
                    help="an rnninfer property (repeatable)")
    ap.add_argument("--min-accuracy", type=float, help="exit 1 below this accuracy (0..1)")
    ap.add_argument("--errors", action="store_true", help="list every misclassified instance")
    a = ap.parse_args()
    infer_props = []
    for kv in a.infer:
        key, sep, value = kv.partition("=")
        if not sep or not key:
            ap.error(f"--infer expects KEY=VALUE, not '{kv}'")
        infer_props.append((key, value))

    Gst.init(None)
    for f in ("sensorparse", "rnnfeatures", "rnninfer"):
        if Gst.ElementFactory.find(f) is None:
            sys.exit(f"eval_sensor.py: the element {f} is missing (GST_PLUGIN_PATH=build?)")
    try:
        m = rnnfile.read(a.model)
    except (OSError, rnnfile.FormatError) as e:
        sys.exit(f"eval_sensor.py: {e}")
    classes = list(m.meta.get("labels", []))
    rows = read_manifest(a.manifest)
    for _, label in rows:
        if label not in classes:
            classes.append(label)
    print(f"model {a.model}: {m.num_params()} parameters; trained on "
          f"{m.meta.get('train.data', '?')}")

    confusion = {t: {p: 0 for p in classes + ['(none)']} for t in classes}
    right, none, several, times, errors = 0, 0, 0, [], []
    for path, truth in rows:
        labels, error, elapsed = classify(path, os.path.abspath(a.model), a.rate, infer_props)
        if error:
            errors.append(f"{os.path.basename(path)}: {error}")
            continue
        times.append(elapsed)
        none += not labels
        several += len(labels) > 1
        predicted = labels[-1] if labels else "(none)"
        if predicted not in confusion[truth]:
            for t in confusion:
                confusion[t][predicted] = 0
        confusion[truth][predicted] += 1
        if len(labels) == 1 and predicted == truth:
            right += 1
        elif a.errors:
            print(f"  {os.path.basename(path)}: {truth} -> {labels or '(none)'}")
    for e in errors:
        print(f"ERROR {e}")

    n = len(rows)
    accuracy = right / n
    print(f"accuracy {accuracy:.4f} ({right}/{n}); no result: {none}, several results: {several}")
    width = max(len(c) for c in classes)
    cols = [c for c in list(confusion[classes[0]]) if c != "(none)" or none]
    print("confusion (rows: true, columns: predicted, in the order listed)")
    for i, t in enumerate(classes):
        cells = " ".join(f"{confusion[t][p]:3d}" for p in cols)
        total = sum(confusion[t].values())
        recall = confusion[t][t] / total if total else float("nan")
        print(f"  [{i}] {t:<{width}} {cells}   recall {recall:.3f} ({confusion[t][t]}/{total})")
    if "(none)" in cols:
        print("  last column: no result")
    if times:
        print(f"time per sequence through the pipeline: median {statistics.median(times) * 1e3:.1f}"
              f" ms, mean {statistics.mean(times) * 1e3:.1f} ms ({len(times)} sequences)")
    if errors:
        return 1
    if a.min_accuracy is not None and accuracy < a.min_accuracy:
        print(f"FAILED: accuracy {accuracy:.4f} < {a.min_accuracy}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
