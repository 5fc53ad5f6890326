#!/usr/bin/python3
"""CSV sensor log -> classification, end to end with gst-launch-1.0 and the shipped model:

    gst-launch-1.0 -m filesrc location=X.csv ! sensorparse rate=10 !
        rnnfeatures model=models/racketsports.rnn ! rnninfer model=models/racketsports.rnn ! fakesink

for the first held-out instance of each class (models/uea_to_csv.py --holdout 0.2 --seed 1 on
RacketSports_TRAIN; the model never saw them) must post exactly one rnn-classification element
message, with the instance's label, class-index as the model's labels list it, a confidence in
(0.5, 1] and the whole 3 s instance as its span (timestamp 0, duration 3 s). No rnninfer property
is set: the model's own defaults apply (infer.vad = off, infer.max-utterance = 3000).

The same four instances one after the other in one CSV, pushed by a live `appsrc is-live=true`
(rnninfer's default vad=auto would use the voice-activity rule for a live stream, which finds no
speech in sensor frames), must give four results, one per 3 s, with the four labels in order.

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


def live_stream(tmp, paths, labels):
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    data = b""
    for i, path in enumerate(paths):
        with open(os.path.join(tmp, path), "rb") as f:
            lines = f.read().splitlines(keepends=True)
        data += b"".join(lines if i == 0 else lines[1:])
    pipe = Gst.parse_launch(
        f"appsrc name=src is-live=true caps=text/csv ! sensorparse rate=10 ! "
        f"rnnfeatures model={MODEL} ! rnninfer model={MODEL} ! fakesink sync=false")
    src = pipe.get_by_name("src")
    pipe.set_state(Gst.State.PLAYING)
    src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
    src.emit("end-of-stream")
    bus = pipe.get_bus()
    results = []
    while True:
        msg = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None or msg.type != Gst.MessageType.ELEMENT:
            if msg is None:
                what = "timed out"
            elif msg.type == Gst.MessageType.ERROR:
                what = msg.parse_error()[0].message
            else:
                what = "EOS"
            check(what == "EOS", f"live stream: runs to EOS ({what})")
            break
        s = msg.get_structure()
        if s.get_name() == "rnn-classification":
            results.append((s.get_string("label"), s.get_value("timestamp")))
    pipe.set_state(Gst.State.NULL)
    check([r[0] for r in results] == labels, f"live stream: labels {[r[0] for r in results]}")
    check([r[1] for r in results] == [i * 3 * Gst.SECOND for i in range(len(labels))],
          f"live stream: one result per 3 s {[r[1] for r in results]}")


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
        live_stream(tmp, [first[label] for label in sorted(first)], sorted(first))
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
