#!/usr/bin/env python3
# Digit error rate of a connected-digit CTC model (models/digits-ctc.rnn) through the real
# streaming pipeline, one pipeline run per file:
#   filesrc ! wavparse ! audioconvert ! audioresample ! audio/x-raw,rate=R,channels=1 !
#   rnnfeatures model=M ! rnninfer model=M ! fakesink
# The final rnn-transcription messages of a file are concatenated (rnninfer's voice-activity rule
# may cut a string at a long pause: each piece has its own final result) and their words compared
# with the reference digits. DER = (substitutions + deletions + insertions) / reference digits,
# the edit distance summed over the files.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   GST_PLUGIN_PATH=build models/eval_ctc.py --model models/digits-ctc.rnn MANIFEST.tsv
#
# MANIFEST.tsv: "path<TAB>transcript" per line (models/make_connected.py writes them), paths
# relative to the manifest. Also prints the speed: seconds of audio per second of wall-clock time
# and per second of CPU time (all threads of this process), with the pipeline set up once.
import argparse
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def edit_distance(ref, hyp):
    """Levenshtein distance between two token lists."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def read_manifest(path):
    base = os.path.dirname(os.path.abspath(path))
    out = []
    try:
        f = open(path)
    except OSError as e:
        sys.exit(f"eval_ctc.py: cannot read manifest {path}: {e.strerror}")
    with f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                sys.exit(f"eval_ctc.py: {path}:{n}: expected 'path<TAB>transcript'")
            ref = parts[1].split() if " " in parts[1].strip() else list(parts[1].strip())
            if not all(t.isdigit() and len(t) == 1 for t in ref):
                sys.exit(f"eval_ctc.py: {path}:{n}: transcript '{parts[1]}' is not digits")
            out.append((os.path.join(base, parts[0]), ref))
    if not out:
        sys.exit(f"eval_ctc.py: {path}: no files")
    return out


class Transcriber:
    """One pipeline, reused for every file (READY -> new location -> PLAYING)."""

    def __init__(self, model, rate, infer_props):
        desc = ("filesrc name=src ! wavparse ! audioconvert ! audioresample ! "
                f"audio/x-raw,rate={rate},channels=1 ! rnnfeatures name=f ! rnninfer name=i "
                "! fakesink sync=false")
        self.pipe = Gst.parse_launch(desc)
        self.src = self.pipe.get_by_name("src")
        self.pipe.get_by_name("f").set_property("model", model)
        infer = self.pipe.get_by_name("i")
        infer.set_property("model", model)
        for key, value in infer_props:
            Gst.util_set_object_arg(infer, key, value)
        self.bus = self.pipe.get_bus()

    def run(self, path):
        """-> (final texts, number of partial results, error or None)"""
        self.pipe.set_state(Gst.State.READY)
        self.src.set_property("location", path)
        self.pipe.set_state(Gst.State.PLAYING)
        finals, partials, error = [], 0, None
        while True:
            msg = self.bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.ELEMENT |
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
            if s and s.get_name() == "rnn-transcription":
                if s.get_value("final"):
                    finals.append(s.get_string("text"))
                else:
                    partials += 1
        self.pipe.set_state(Gst.State.READY)
        return finals, partials, error

    def close(self):
        self.pipe.set_state(Gst.State.NULL)


def wav_seconds(path):
    import wave
    with wave.open(path, "rb") as w:
        return w.getnframes() / w.getframerate()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Digit error rate of a CTC digit model through "
                                 "rnnfeatures ! rnninfer")
    ap.add_argument("manifest", help="path<TAB>transcript per line (models/make_connected.py)")
    ap.add_argument("--model", default=os.path.join(here, "digits-ctc.rnn"))
    ap.add_argument("--rate", type=int, default=8000, help="sample rate the model was trained at")
    ap.add_argument("--set", action="append", default=[], metavar="PROP=VALUE",
                    help="an rnninfer property, e.g. --set beam-width=1 (repeatable)")
    ap.add_argument("--limit", type=int, help="only the first N files")
    ap.add_argument("--errors", action="store_true", help="list every file with an error")
    a = ap.parse_args()

    Gst.init(None)
    for f in ("rnnfeatures", "rnninfer", "wavparse"):
        if Gst.ElementFactory.find(f) is None:
            sys.exit(f"eval_ctc.py: the element {f} is missing (GST_PLUGIN_PATH=build?)")
    if not os.path.isfile(a.model):
        sys.exit(f"eval_ctc.py: no model file {a.model}")
    props = []
    for kv in a.set:
        if "=" not in kv:
            sys.exit(f"eval_ctc.py: --set '{kv}' is not PROP=VALUE")
        props.append(tuple(kv.split("=", 1)))
    files = read_manifest(a.manifest)[:a.limit]

    t = Transcriber(a.model, a.rate, props)
    errors = ref_digits = exact = partial_total = pieces = 0
    audio = 0.0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for path, ref in files:
        finals, partials, err = t.run(path)
        if err:
            t.close()
            sys.exit(f"eval_ctc.py: {path}: {err}")
        hyp = " ".join(finals).split()
        e = edit_distance(ref, hyp)
        errors += e
        ref_digits += len(ref)
        exact += e == 0
        partial_total += partials
        pieces += len(finals)
        audio += wav_seconds(path)
        if a.errors and e:
            print(f"  {os.path.basename(path)}: ref '{' '.join(ref)}' hyp '{' '.join(hyp)}' "
                  f"({len(finals)} finals)")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    t.close()

    n = len(files)
    print(f"model {a.model}, {a.manifest}")
    print(f"files {n}, reference digits {ref_digits}, edit errors {errors}")
    print(f"DER {100.0 * errors / ref_digits:.2f}%  strings right {100.0 * exact / n:.1f}%  "
          f"final results per file {pieces / n:.2f}, partial results per file {partial_total / n:.2f}")
    print(f"speed: {audio:.1f} s of audio in {wall:.1f} s wall ({audio / wall:.1f}x real time), "
          f"{cpu:.1f} s CPU ({audio / cpu:.1f}x real time per CPU second)")


if __name__ == "__main__":
    main()
