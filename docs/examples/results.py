#!/usr/bin/env python3
# Reads gst-rnn results from the bus with PyGObject: one line per classification or transcription.
#   GST_PLUGIN_PATH=build /usr/bin/python3 docs/examples/results.py MODEL AUDIO_FILE...
# SPDX-License-Identifier: LGPL-2.1-or-later
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

PIPELINE = ("filesrc name=src ! decodebin ! audioconvert ! audioresample ! "
            "rnnfeatures name=features ! rnninfer name=infer ! fakesink")


def describe(s):
    """One line for an rnn-classification or rnn-transcription structure."""
    start = s.get_uint64("timestamp")[1] / Gst.SECOND
    if s.get_name() == "rnn-classification":
        return f"{start:6.2f}s  {s.get_string('label')}  ({s.get_double('confidence')[1]:.2f})"
    kind = "final" if s.get_boolean("final")[1] else "partial"
    return f"{start:6.2f}s  [{kind}] {s.get_string('text')}  ({s.get_double('confidence')[1]:.2f})"


def run(model, path):
    pipeline = Gst.parse_launch(PIPELINE)
    pipeline.get_by_name("src").set_property("location", path)
    for name in ("features", "infer"):
        pipeline.get_by_name(name).set_property("model", model)
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    ok = True
    while True:
        msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ELEMENT
                                     | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg.type == Gst.MessageType.ERROR:
            err, _ = msg.parse_error()
            print(f"{path}: {err.message}", file=sys.stderr)
            ok = False
            break
        if msg.type == Gst.MessageType.EOS:
            break
        s = msg.get_structure()
        if s.get_name() in ("rnn-classification", "rnn-transcription"):
            print(f"{path}: {describe(s)}")
    pipeline.set_state(Gst.State.NULL)
    return ok


def main():
    Gst.init(None)
    if len(sys.argv) < 3:
        sys.exit("usage: results.py MODEL AUDIO_FILE...")
    ok = all([run(sys.argv[1], path) for path in sys.argv[2:]])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
