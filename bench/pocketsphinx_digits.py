#!/usr/bin/env python3
# gst-rnn's spoken-digit classifier against PocketSphinx's GStreamer element (Debian's
# gstreamer1.0-pocketsphinx) on the same recordings: FSDD's official test split (indices 0-4 of
# each digit and speaker, 250 files), accuracy and CPU time side by side, in one process, one run.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   GST_PLUGIN_PATH=build bench/pocketsphinx_digits.py --model MODEL.rnn [--rounds 3] [--no-lm]
#
# Pipelines, one per file, run one after the other in this process:
#   gst-rnn     filesrc ! decodebin ! audioconvert ! audioresample
#               ! audio/x-raw,rate=8000,channels=1 ! rnnfeatures model=M ! rnninfer model=M
#               ! fakesink   (rnn-classification messages)
#   pocketsphinx filesrc ! decodebin ! audioconvert ! audioresample
#               ! audio/x-raw,format=S16LE,rate=16000,channels=1 ! pocketsphinx ... ! fakesink
#               (element messages "pocketsphinx" with hypothesis and final=true)
# PocketSphinx runs with its default US English acoustic model (16 kHz) in two configurations:
#   fsg  a grammar of exactly one word out of zero..nine (the `fsg` property; this version of the
#        element has no `jsgf` property) and a dictionary of those ten words (from the installed
#        cmudict), both written to a temporary folder at run time;
#   lm   its defaults: the general US English language model and full dictionary (reference only).
# A file counts as right when the answer is exactly the digit's word: for gst-rnn the label of the
# last rnn-classification (as models/eval_digits.py), for PocketSphinx its final hypotheses joined.
#
# CPU time: user + system seconds of this process (resource.getrusage(RUSAGE_SELF), every thread)
# around the loop over the 250 files, so interpreter start and imports are excluded. Two costs:
#   fresh  a new pipeline per file (what one gst-launch-1.0 per file costs, model loading included);
#   reuse  one pipeline per system, taken to READY and back to PLAYING with the next file's
#          location (decoding cost once the models are loaded).
# Each is also given net of an empty pipeline with the same front end (the same caps and a
# fakesink instead of the recogniser), run in the same round. With --rounds N every measurement is
# repeated N times, systems interleaved, and the smallest CPU time is kept (other work on the
# machine only ever adds to it); the accuracies must agree between rounds.
import argparse
import collections
import datetime
import hashlib
import os
import platform
import re
import resource
import sys
import tempfile
import wave

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import rnnfile  # noqa: E402

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
TEST_INDICES = range(0, 5)
PS_DICT = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"


def test_files(data):
    rec = os.path.join(data, "fsdd", "recordings")
    files = []
    for name in sorted(os.listdir(rec)):
        m = NAME.match(name)
        if m and int(m.group(3)) in TEST_INDICES:
            files.append((os.path.join(rec, name), WORDS[int(m.group(1))], m.group(2)))
    return files


def write_grammar(folder):
    """The ten-word grammar (one word, then the end) and a dictionary of just those words."""
    fsg = os.path.join(folder, "digits.fsg")
    with open(fsg, "w") as f:
        f.write("FSG_BEGIN digits\nNUM_STATES 2\nSTART_STATE 0\nFINAL_STATE 1\n")
        for w in WORDS:
            f.write(f"TRANSITION 0 1 0.1 {w}\n")
        f.write("FSG_END\n")
    entries = []
    with open(PS_DICT) as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if head.split("(", 1)[0] in WORDS:
                entries.append(line)
    missing = set(WORDS) - {e.split(" ", 1)[0].split("(", 1)[0] for e in entries}
    if missing:
        sys.exit(f"pocketsphinx_digits.py: {PS_DICT} lacks {sorted(missing)}")
    dic = os.path.join(folder, "digits.dict")
    with open(dic, "w") as f:
        f.writelines(entries)
    return fsg, dic


class System:
    """One recogniser (or an empty front end) and how to read its answer from the bus."""

    def __init__(self, name, caps, make_tail, answer):
        self.name, self.caps, self.make_tail, self.answer = name, caps, make_tail, answer

    def build(self):
        pipe = Gst.Pipeline.new(self.name)
        src = Gst.ElementFactory.make("filesrc")
        dec = Gst.ElementFactory.make("decodebin")
        conv = Gst.ElementFactory.make("audioconvert")
        res = Gst.ElementFactory.make("audioresample")
        caps = Gst.ElementFactory.make("capsfilter")
        caps.set_property("caps", Gst.Caps.from_string(self.caps))
        chain = [conv, res, caps] + self.make_tail()
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        chain.append(sink)
        for e in [src, dec] + chain:
            pipe.add(e)
        src.link(dec)
        for a, b in zip(chain, chain[1:]):
            if not a.link(b):
                fail(f"cannot link {a.get_name()} to {b.get_name()}")

        def pad_added(_dec, pad):
            sinkpad = conv.get_static_pad("sink")
            if not sinkpad.is_linked():
                pad.link(sinkpad)

        dec.connect("pad-added", pad_added)
        return pipe, src


class QuietStderr:
    """PocketSphinx prints its whole configuration to stderr for every decoder it creates (hundreds
    of lines per file in fresh mode): send file descriptor 2 to a log while the pipelines run, and
    show the log's end if something fails."""

    def __init__(self, log):
        self.log, self.saved = log, None

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        with open(self.log, "w") as f:
            os.dup2(f.fileno(), 2)
        return self

    def restore(self):
        if self.saved is not None:
            sys.stderr.flush()
            os.dup2(self.saved, 2)
            os.close(self.saved)
            self.saved = None

    def __exit__(self, *exc):
        self.restore()
        return False


QUIET = None


def fail(msg):
    if QUIET is not None:
        QUIET.restore()
        with open(QUIET.log) as f:
            tail = f.readlines()[-20:]
        sys.stderr.write("".join(tail))
    sys.exit(f"pocketsphinx_digits.py: {msg}")


def run_file(pipe, src, path, system):
    src.set_property("location", path)
    bus = pipe.get_bus()
    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        fail(f"{system.name}: {path}: cannot start the pipeline")
    answers = []
    while True:
        msg = bus.timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.ELEMENT |
                                     Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            fail(f"{system.name}: {path}: timed out")
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            fail(f"{system.name}: {path}: {err.message} ({dbg})")
        if msg.type == Gst.MessageType.EOS:
            break
        a = system.answer(msg.get_structure()) if system.answer else None
        if a is not None:
            answers.append(a)
    return answers


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_all(system, files, mode):
    """Runs every file; returns (per-file answer lists, CPU seconds)."""
    results = []
    start = cpu_seconds()
    if mode == "reuse":
        pipe, src = system.build()
        for path, _, _ in files:
            results.append(run_file(pipe, src, path, system))
            pipe.set_state(Gst.State.READY)
        pipe.set_state(Gst.State.NULL)
    else:
        for path, _, _ in files:
            pipe, src = system.build()
            results.append(run_file(pipe, src, path, system))
            pipe.set_state(Gst.State.NULL)
            del pipe, src
    return results, cpu_seconds() - start


def rnn_answer(s):
    if s.get_name() == "rnn-classification":
        return s.get_string("label")
    return None


def ps_answer(s):
    if s.get_name() == "pocketsphinx":
        ok, final = s.get_boolean("final")
        if ok and final:
            return s.get_string("hypothesis") or ""
    return None


def score(system_name, results, files):
    """Counts the right answers; the decided answer is rnn's last label or ps's finals joined."""
    right, none, several = 0, 0, 0
    per_speaker = collections.Counter()
    wrong = []
    for answers, (path, want, speaker) in zip(results, files):
        if system_name.startswith("gst-rnn"):
            got = answers[-1] if answers else ""
            several += len(answers) > 1
        else:
            words = [a for a in answers if a.strip()]
            got = " ".join(words)
            several += len(words) > 1
        none += got == ""
        if got == want:
            right += 1
            per_speaker[speaker] += 1
        else:
            wrong.append((os.path.basename(path), got))
    return right, none, several, per_speaker, wrong


def held_out_check(meta, files):
    """Whether the model's training manifest (when still on disk) holds any of the test files."""
    data = meta.get("train.data", "")
    manifest = data.split(":", 1)[0].strip()
    if not manifest or not os.path.isfile(manifest):
        return "unknown (training manifest not on disk)"
    with open(manifest) as f:
        trained = {os.path.basename(line.split("\t", 1)[0])
                   for line in f if not line.startswith("#")}
    seen = sum(os.path.basename(p) in trained for p, _, _ in files)
    if seen:
        return f"NO: its training manifest {manifest} holds {seen} of the {len(files)} test files"
    return f"yes: none of the {len(files)} test files is in its training manifest {manifest}"


def measure(a, systems, modes, files, cpu, first):
    """Every system in every mode, --rounds times; keeps the least CPU time of each."""
    for rnd in range(a.rounds):
        for mode in modes:
            for s in systems:
                results, secs = run_all(s, files, mode)
                key = (s.name, mode)
                cpu[key] = min(secs, cpu.get(key, secs))
                if s.answer is None:
                    continue
                if key not in first:
                    first[key] = results
                elif [x[-1:] for x in results] != [x[-1:] for x in first[key]]:
                    print(f"warning: {s.name} ({mode}) answered differently in round {rnd + 1}")


def main():
    global QUIET
    ap = argparse.ArgumentParser(description="gst-rnn vs PocketSphinx on FSDD's test split")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "digits.rnn"),
                    help="gst-rnn digit model (use one trained on indices 5-49 only)")
    ap.add_argument("--data", default=os.environ.get("RNN_DATA",
                                                      os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the CPU measurements, keep the least")
    ap.add_argument("--modes", default="fresh,reuse",
                    help="fresh, reuse or both (comma-separated)")
    ap.add_argument("--no-lm", action="store_true",
                    help="skip PocketSphinx's default language model")
    ap.add_argument("--errors", action="store_true", help="list every wrong answer")
    a = ap.parse_args()

    Gst.init(None)
    for f in ("rnnfeatures", "rnninfer", "pocketsphinx"):
        if Gst.ElementFactory.find(f) is None:
            sys.exit(f"pocketsphinx_digits.py: the element {f} is missing "
                     "(GST_PLUGIN_PATH=build? gstreamer1.0-pocketsphinx installed?)")
    files = test_files(a.data)
    if len(files) != 250:
        sys.exit(f"pocketsphinx_digits.py: expected 250 test files in {a.data}, found {len(files)}")
    model = os.path.abspath(a.model)
    meta = rnnfile.read(model).meta
    with open(model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    tmp = tempfile.TemporaryDirectory(prefix="ps-digits-")
    fsg, dic = write_grammar(tmp.name)

    def rnn_tail():
        f = Gst.ElementFactory.make("rnnfeatures")
        i = Gst.ElementFactory.make("rnninfer")
        f.set_property("model", model)
        i.set_property("model", model)
        return [f, i]

    def ps_tail(**props):
        def make():
            p = Gst.ElementFactory.make("pocketsphinx")
            for k, v in props.items():
                p.set_property(k, v)
            return [p]
        return make

    caps8 = "audio/x-raw,rate=8000,channels=1"
    caps16 = "audio/x-raw,format=S16LE,rate=16000,channels=1"
    systems = [
        System("front end 8 kHz", caps8, lambda: [], None),
        System("gst-rnn", caps8, rnn_tail, rnn_answer),
        System("front end 16 kHz", caps16, lambda: [], None),
        System("pocketsphinx fsg", caps16, ps_tail(fsg=fsg, dict=dic), ps_answer),
    ]
    if not a.no_lm:
        systems.append(System("pocketsphinx lm", caps16, ps_tail(), ps_answer))
    baseline = {"gst-rnn": "front end 8 kHz", "pocketsphinx fsg": "front end 16 kHz",
                "pocketsphinx lm": "front end 16 kHz"}
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in ("fresh", "reuse"):
            sys.exit(f"pocketsphinx_digits.py: unknown mode {m!r} (fresh, reuse)")

    print(f"date {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
          f"{platform.node()}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"gst-rnn model {a.model} (sha256 {digest}...)")
    print(f"  trained on: {meta.get('train.data', '?')}")
    print(f"  held out: {held_out_check(meta, files)}")
    ps_plugin = Gst.Registry.get().find_plugin("pocketsphinx")
    print(f"pocketsphinx plugin {ps_plugin.get_version()} ({ps_plugin.get_filename()}), acoustic "
          "model /usr/share/pocketsphinx/model/en-us/en-us; fsg: ten-word grammar + ten-word "
          "dictionary; lm: the element's defaults")
    seconds = 0.0
    for path, _, _ in files:
        with wave.open(path) as w:
            seconds += w.getnframes() / w.getframerate()
    print(f"test files: {len(files)} (FSDD indices 0-4, {a.data}), {seconds:.1f} s of audio "
          f"({seconds / len(files) * 1000:.0f} ms per file); rounds: {a.rounds}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")

    cpu = {}  # (system, mode) -> least CPU seconds
    first = {}  # (system, mode) -> answers of the first round
    QUIET = QuietStderr(os.path.join(tmp.name, "stderr.log"))
    with QUIET:
        measure(a, systems, modes, files, cpu, first)
    QUIET = None

    n = len(files)
    print()
    print("| system | pipelines | right | accuracy | no answer | several results "
          "| CPU ms/file | net of front end | CPU vs gst-rnn (whole / net) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in modes:
        rnn_gross = cpu[("gst-rnn", m)]
        rnn_net = rnn_gross - cpu[(baseline["gst-rnn"], m)]
        for s in systems:
            if s.answer is None:
                continue
            right, none, several, _, _ = score(s.name, first[(s.name, m)], files)
            gross = cpu[(s.name, m)]
            net = gross - cpu[(baseline[s.name], m)]
            ratio = (f"{gross / rnn_gross:.1f}x / {net / rnn_net:.1f}x"
                     if s.name != "gst-rnn" and rnn_net > 0 else "1")
            print(f"| {s.name} | {m} | {right}/{n} | {right / n:.3f} | {none} | {several} "
                  f"| {gross / n * 1000:.2f} | {net / n * 1000:.2f} | {ratio} |")
        print(f"| front end alone, 8 / 16 kHz | {m} | | | | "
              f"| {cpu[('front end 8 kHz', m)] / n * 1000:.2f} / "
              f"{cpu[('front end 16 kHz', m)] / n * 1000:.2f} | | |")
    print()
    spk = sorted({sp for _, _, sp in files})
    for m in modes:
        for s in systems:
            if s.answer is None:
                continue
            _, _, _, per_speaker, wrong = score(s.name, first[(s.name, m)], files)
            print(f"{s.name} ({m}) per speaker: "
                  + ", ".join(f"{sp} {per_speaker[sp]}/50" for sp in spk))
            if a.errors:
                for name, got in wrong:
                    print(f"  {name}: {got!r}")


if __name__ == "__main__":
    main()
