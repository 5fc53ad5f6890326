#!/usr/bin/env python3
# Evaluates a spoken-digit model on FSDD through the plugin itself: for each recording,
#   filesrc ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=R,channels=1 !
#   rnnfeatures model=M ! rnninfer model=M vad=off ! fakesink
# and compares the rnn-classification label with the file's digit. Prints the accuracy (overall
# and per speaker) on the chosen split: by default the dataset's official test split (indices 0-4).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   GST_PLUGIN_PATH=build models/eval_digits.py [--model models/digits.rnn] [--split test]
#
# --pad LEAD:TRAIL surrounds each recording with LEAD and TRAIL ms of silence, and --noise DBFS
# adds white noise at that RMS to the whole file (seeded): FSDD's files are cut tight around the
# word, files from elsewhere rarely are. --vad on measures rnninfer's voice-activity rule on them.
#
# A model trained on all 2,500 recordings (models/digits.rnn) has seen the test split: its
# figure here is training accuracy. The honest held-out figure comes from the model that
# models/digits.recipe.sh trains on indices 5-49 only (models/digits-eval.rnn when kept).
import argparse
import collections
import os
import re
import sys
import tempfile
import wave

import numpy as np

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import rnnfile  # noqa: E402

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def padded_copy(path, out, lead_ms, trail_ms, noise_dbfs, rng):
    """path (16-bit mono WAV) with lead_ms / trail_ms of silence around it and white noise at
    noise_dbfs RMS (None: none) over the whole, written to out."""
    with wave.open(path) as w:
        rate, x = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit(f"eval_digits.py: {path}: --pad needs 16-bit mono WAV")
    y = np.concatenate([np.zeros(lead_ms * rate // 1000), x.astype(np.float64),
                        np.zeros(trail_ms * rate // 1000)])
    if noise_dbfs is not None:
        y += rng.normal(0.0, 32768.0 * 10.0 ** (noise_dbfs / 20.0), y.size)
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(np.round(y), -32768, 32767).astype("<i2").tobytes())


def classify(path, model, rate, vad="off"):
    desc = ("filesrc name=src ! decodebin ! audioconvert ! audioresample ! "
            f"audio/x-raw,rate={rate},channels=1 ! rnnfeatures name=f ! rnninfer name=i vad={vad}"
            " ! fakesink sync=false")
    pipe = Gst.parse_launch(desc)
    pipe.get_by_name("src").set_property("location", path)
    pipe.get_by_name("f").set_property("model", model)
    pipe.get_by_name("i").set_property("model", model)
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    label, error = None, None
    while True:
        msg = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            error = "timed out"
            break
        if msg.type == Gst.MessageType.ERROR:
            error = msg.parse_error()[0].message
            break
        if msg.type == Gst.MessageType.EOS:
            break
        s = msg.get_structure()
        if s and s.get_name() == "rnn-classification":
            label = s.get_string("label")  # the last one covers the whole recording
    pipe.set_state(Gst.State.NULL)
    return label, error


def main():
    root = os.path.join(HERE, "..")
    ap = argparse.ArgumentParser(description="FSDD accuracy of a digit model, through rnninfer")
    ap.add_argument("--model", default=os.path.join(HERE, "digits.rnn"))
    ap.add_argument("--data", default=os.environ.get("RNN_DATA",
                                                      os.path.join(root, "..", "shared", "data")))
    ap.add_argument("--split", choices=["test", "train", "all"], default="test",
                    help="official split: test = indices 0-4 (default), train = 5-49")
    ap.add_argument("--speakers", help="comma-separated subset of speakers")
    ap.add_argument("--rate", type=int, default=8000, help="sample rate the model was trained at")
    ap.add_argument("--errors", action="store_true", help="list every misclassified file")
    ap.add_argument("--pad", metavar="LEAD:TRAIL",
                    help="surround each recording with LEAD and TRAIL ms of silence")
    ap.add_argument("--noise", type=float, metavar="DBFS",
                    help="white noise at this RMS (dB full scale) over each whole file, seeded")
    ap.add_argument("--vad", choices=["on", "off", "trim"], default="off",
                    help="rnninfer's voice-activity rule (default off: one result per file)")
    ap.add_argument("--min-accuracy", type=float,
                    help="exit 1 when the accuracy is below this (for tests)")
    a = ap.parse_args()

    Gst.init(None)
    for f in ("rnnfeatures", "rnninfer"):
        if Gst.ElementFactory.find(f) is None:
            sys.exit(f"eval_digits.py: the element {f} is missing (GST_PLUGIN_PATH=build?)")
    m = rnnfile.read(a.model)
    if "ensemble.members" in m.meta:  # tools/rnn-ensemble.py keeps each member's provenance
        data = sorted(set(v for k, v in m.meta.items()
                          if k.startswith("ensemble.") and k.endswith(".data")))
        print(f"model {a.model}: ensemble of {len(m.meta['ensemble.members'])} models trained on "
              + "; ".join(data or ["?"]))
    else:
        print(f"model {a.model}: trained on {m.meta.get('train.data', '?')}")

    rec = os.path.join(a.data, "fsdd", "recordings")
    indices = {"test": range(0, 5), "train": range(5, 50), "all": range(0, 50)}[a.split]
    speakers = set(a.speakers.split(",")) if a.speakers else None
    files = []
    for name in sorted(os.listdir(rec)):
        mm = NAME.match(name)
        if mm and int(mm.group(3)) in indices and (not speakers or mm.group(2) in speakers):
            files.append((os.path.join(rec, name), WORDS[int(mm.group(1))], mm.group(2)))
    if not files:
        sys.exit("eval_digits.py: no recording matches")

    lead = trail = 0
    if a.pad:
        try:
            lead, trail = (int(v) for v in a.pad.split(":"))
            assert lead >= 0 and trail >= 0
        except (ValueError, AssertionError):
            sys.exit(f"eval_digits.py: --pad '{a.pad}' is not LEAD:TRAIL in ms (e.g. 300:300)")
    altered = a.pad is not None or a.noise is not None
    tmp = tempfile.TemporaryDirectory() if altered else None
    rng = np.random.default_rng(1)

    right = collections.Counter()
    total = collections.Counter()
    for path, want, speaker in files:
        if altered:
            copy = os.path.join(tmp.name, os.path.basename(path))
            padded_copy(path, copy, lead, trail, a.noise, rng)
            path = copy
        got, error = classify(path, a.model, a.rate, a.vad)
        if error:
            sys.exit(f"eval_digits.py: {path}: {error}")
        total[speaker] += 1
        if got == want:
            right[speaker] += 1
        elif a.errors:
            print(f"  {os.path.basename(path)}: {got} (want {want})")
    for speaker in sorted(total):
        print(f"  {speaker:10s} {right[speaker]:4d}/{total[speaker]:<4d} "
              f"{right[speaker] / total[speaker]:.4f}")
    n, k = sum(total.values()), sum(right.values())
    print(f"accuracy {k}/{n} = {k / n:.4f} ({a.split} split)")
    if a.min_accuracy is not None and k / n < a.min_accuracy:
        print(f"eval_digits.py: accuracy below {a.min_accuracy}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
