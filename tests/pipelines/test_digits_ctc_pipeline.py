#!/usr/bin/env python3
# File to transcription, end to end, with the shipped connected-digit model:
#   filesrc ! wavparse ! audioconvert ! audioresample ! rnnfeatures model=M ! rnninfer model=M
# on a connected-digit string built here, at run time, from FSDD test-split recordings (indices
# 0-4, which models/digits-ctc.rnn was not trained on): partial results (final=false) come while
# the string is spoken, then one final result with the right digits as its text and as its words,
# each word timed inside the digit's recording. The same stream through
# `rnninfer ! text/x-raw,format=utf8 ! appsink` gives the final text as one timestamped buffer.
# SPDX-License-Identifier: LGPL-2.1-or-later
import array
import os
import random
import re
import sys
import tempfile
import wave

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

ROOT = os.environ.get("RNN_SOURCE_ROOT",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(ROOT, "..", "shared", "data"))
MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "digits-ctc.rnn")
RATE = 8000
# The string: (digit, speaker, index), one speaker, official test split only.
STRING = [(8, "jackson", 0), (2, "jackson", 1), (0, "jackson", 2), (5, "jackson", 3),
          (1, "jackson", 4)]
GAP_MS = 150          # shorter than rnninfer's min-silence (300 ms): one utterance
LEAD_MS, TRAIL_MS = 300, 600

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def read_pcm(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        pcm = array.array("h")
        pcm.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder != "little":
        pcm.byteswap()
    return pcm


def build_string(path):
    """Writes the connected string; returns [(digit, start_s, end_s)] of each recording."""
    rng = random.Random(4)
    out = array.array("h", bytes(2 * (LEAD_MS * RATE // 1000)))
    spans = []
    for i, (digit, speaker, index) in enumerate(STRING):
        rec = read_pcm(os.path.join(DATA, "fsdd", "recordings", f"{digit}_{speaker}_{index}.wav"))
        spans.append((digit, len(out) / RATE, (len(out) + len(rec)) / RATE))
        out.extend(rec)
        gap = GAP_MS if i + 1 < len(STRING) else TRAIL_MS
        out.extend(array.array("h", bytes(2 * (gap * RATE // 1000))))
    for i in range(len(out)):  # low-level noise (about -64 dBFS), fixed seed
        out[i] = max(-32768, min(32767, out[i] + int(round(rng.gauss(0.0, 20.0)))))
    if sys.byteorder != "little":
        out.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(out.tobytes())
    return spans


def words_of(s):
    """The words field as [(text, start_s, end_s)] (no gst-python overrides needed: parsed from
    the structure's serialisation)."""
    out = []
    for item in re.findall(r'"(word(?:[^"\\]|\\.)*)"', s.to_string()):
        w = Gst.Structure.from_string(re.sub(r"\\(.)", r"\1", item))[0]
        out.append((w.get_string("text"), w.get_value("start") / 1e9, w.get_value("end") / 1e9))
    return out


def run(desc):
    pipe = Gst.parse_launch(desc)
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    results, error = [], None
    while True:
        msg = bus.timed_pop_filtered(20 * Gst.SECOND, Gst.MessageType.ELEMENT |
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
            results.append(s.copy())
    return pipe, results, error


def main():
    Gst.init(None)
    for f in ("rnnfeatures", "rnninfer"):
        if Gst.ElementFactory.find(f) is None:
            sys.exit(f"the element {f} is missing (GST_PLUGIN_PATH?)")
    if not os.path.isfile(MODEL):
        sys.exit(f"the shipped model {MODEL} is missing")
    expected = " ".join(str(d) for d, _, _ in STRING)
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "string.wav")
        spans = build_string(wav)
        head = (f"filesrc location={wav} ! wavparse ! audioconvert ! audioresample ! "
                f"audio/x-raw,rate={RATE},channels=1 ! rnnfeatures model={MODEL} ! "
                f"rnninfer model={MODEL}")

        pipe, results, error = run(head + " ! fakesink")
        pipe.set_state(Gst.State.NULL)
        check(error is None, f"the pipeline ran without error ({error})")
        for r in results:
            print(f"  final={r.get_value('final')} text='{r.get_string('text')}' "
                  f"words={words_of(r)}")
        finals = [r for r in results if r.get_value("final")]
        partials = [r for r in results if not r.get_value("final")]
        check(len(finals) == 1, f"one final result for one utterance (got {len(finals)})")
        check(len(partials) >= 1, "partial results while the string is spoken")
        if finals and partials:
            check(results.index(partials[0]) < results.index(finals[0]),
                  "partial results come before the final one")
            check(results[-1].get_value("final"), "the last result is the final one")
        if finals:
            f = finals[-1]
            check(f.get_string("text") == expected,
                  f"final text '{f.get_string('text')}' == '{expected}'")
            words = words_of(f)
            check([w[0] for w in words] == expected.split(),
                  f"the final's words {[w[0] for w in words]} are the digits")
            if len(words) == len(spans):
                for (text, start, end), (digit, a, b) in zip(words, spans):
                    # a unidirectional CTC model may fire a little after the digit's end
                    check(a - 0.05 <= start <= end <= b + 0.25,
                          f"word '{text}' at {start:.2f}-{end:.2f} s lies in digit {digit}'s "
                          f"recording at {a:.2f}-{b:.2f} s")
            conf = f.get_value("confidence")
            check(0.0 < conf <= 1.0, f"final confidence {conf} in (0, 1]")

        # The final text as a timestamped text buffer downstream.
        pipe = Gst.parse_launch(head + " ! text/x-raw,format=utf8 ! appsink name=sink sync=false")
        sink = pipe.get_by_name("sink")
        pipe.set_state(Gst.State.PLAYING)
        texts = []
        while True:
            sample = sink.emit("try-pull-sample", 20 * Gst.SECOND)
            if sample is None:
                break
            buf = sample.get_buffer()
            texts.append((buf.extract_dup(0, buf.get_size()).decode(), buf.pts))
        pipe.set_state(Gst.State.NULL)
        print(f"  text buffers: {texts}", flush=True)
        check([t for t, _ in texts] == [expected], f"one text buffer '{expected}'")
        if texts:
            # The utterance starts where the stream does (files: no voice-activity endpoints) or
            # at the speech: never after the first digit began.
            check(0 <= texts[0][1] / 1e9 <= spans[0][1],
                  f"the text buffer's timestamp {texts[0][1] / 1e9:.2f} s is not after the first "
                  f"digit's start ({spans[0][1]:.2f} s)")

    if failures:
        sys.exit(f"{len(failures)} checks failed")
    print("ok")


if __name__ == "__main__":
    main()
