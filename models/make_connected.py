#!/usr/bin/env python3
# Builds connected-digit utterances ("3 1 4") by joining isolated spoken digits: FSDD recordings
# (../shared/data/fsdd/recordings/{digit}_{speaker}_{index}.wav) and, optionally, synthetic digits
# from models/synth_digits.py. Used to train and evaluate models/digits-ctc.rnn.
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   models/make_connected.py OUTDIR --count 3000 --speakers george,jackson --indices 5-49 --seed 1
#   models/make_connected.py OUTDIR --count 200 --speakers theo --indices all --seed 7
#   models/make_connected.py OUTDIR --count 3000 --synth SYNTHDIR --synth-fraction 0.3 ...
#
# Each utterance: 1 to 7 digits (uniform length, uniform digits) spoken by ONE FSDD speaker (or,
# with --synth, by one synthesiser engine, whose files each have their own random voice), a
# leading silence, gaps of 50-400 ms between digits, a
# trailing silence, white noise at a low random level over the whole utterance (so the silences
# are not digital zero), and a random gain. Everything is drawn from one random.Random(seed):
# the same arguments and data give byte-identical files.
#
# Writes OUTDIR/c{n:05d}.wav (8 kHz, mono, S16LE) and OUTDIR/manifest.tsv: "path<TAB>transcript"
# per line, the path relative to the manifest, the transcript the digits separated by spaces
# ("3 1 4"). The CTC alphabet is the ten digit characters without a space symbol: rnninfer then
# makes each recognised digit a word, and its text is the digits separated by spaces, as here.
import argparse
import array
import os
import random
import re
import sys
import wave

RATE = 8000
SPEAKERS = ["george", "jackson", "nicolas", "theo", "yweweler"]
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
SYNTH_NAME = re.compile(r"^(\d)_(.+)-(\d+)\.wav$")


def default_data():
    env = os.environ.get("RNN_DATA")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(root, "..", "shared", "data")


def parse_range(text, what):
    """'5-49', '0-4', '3' or 'all' -> a set of ints (None for all)."""
    if text == "all":
        return None
    out = set()
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not m:
            sys.exit(f"make_connected.py: {what} '{text}' is not like 5-49, 0,1,2 or all")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            sys.exit(f"make_connected.py: {what} '{part}' is an empty range")
        out.update(range(lo, hi + 1))
    return out


def parse_pair(text, what):
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        sys.exit(f"make_connected.py: {what} '{text}' is not LO:HI")
    if hi < lo:
        sys.exit(f"make_connected.py: {what} '{text}': HI is below LO")
    return lo, hi


def read_wav(path):
    try:
        with wave.open(path, "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
                sys.exit(f"make_connected.py: {path}: need 8 kHz mono 16-bit, got "
                         f"{w.getframerate()} Hz, {w.getnchannels()} channels, "
                         f"{8 * w.getsampwidth()} bits")
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        sys.exit(f"make_connected.py: {path}: not a readable WAV file ({e})")
    samples = array.array("h")
    samples.frombytes(data)
    if sys.byteorder != "little":
        samples.byteswap()
    return [float(s) for s in samples]


def fsdd_voices(data, speakers, indices):
    """{voice: {digit: [paths]}} for the chosen FSDD speakers and indices."""
    folder = os.path.join(data, "fsdd", "recordings")
    if not os.path.isdir(folder):
        sys.exit(f"make_connected.py: no FSDD recordings in {folder} (--data or RNN_DATA)")
    voices = {s: {d: [] for d in range(10)} for s in speakers}
    for name in sorted(os.listdir(folder)):
        m = FSDD_NAME.match(name)
        if not m or m.group(2) not in voices:
            continue
        if indices is not None and int(m.group(3)) not in indices:
            continue
        voices[m.group(2)][int(m.group(1))].append(os.path.join(folder, name))
    for s, by_digit in voices.items():
        missing = [d for d, paths in by_digit.items() if not paths]
        if missing:
            sys.exit(f"make_connected.py: speaker '{s}' has no recordings of digits {missing} "
                     f"in {folder} with the chosen indices")
    return voices


def synth_voices(folder):
    """{voice: {digit: [paths]}} from a models/synth_digits.py folder ({digit}_{voice}-{n}.wav).
    A voice is kept only when it says all ten digits."""
    if not os.path.isdir(folder):
        sys.exit(f"make_connected.py: --synth {folder} is not a folder")
    voices = {}
    for name in sorted(os.listdir(folder)):
        m = SYNTH_NAME.match(name)
        if m:
            voices.setdefault(m.group(2), {d: [] for d in range(10)})[int(m.group(1))].append(
                os.path.join(folder, name))
    voices = {v: b for v, b in voices.items() if all(b[d] for d in range(10))}
    if not voices:
        sys.exit(f"make_connected.py: --synth {folder} holds no voice with all ten digits "
                 "({digit}_{voice}-{n}.wav)")
    return voices


def silence(ms):
    return [0.0] * int(round(ms * RATE / 1000.0))


def make_utterance(rng, voice, a, cache):
    n = rng.randint(a.min_digits, a.max_digits)
    digits = [rng.randrange(10) for _ in range(n)]
    out = silence(rng.uniform(*a.lead))
    for i, d in enumerate(digits):
        path = rng.choice(voice[d])
        if path not in cache:
            cache[path] = read_wav(path)
        out.extend(cache[path])
        if i + 1 < n:
            out.extend(silence(rng.uniform(*a.gap)))
    out.extend(silence(rng.uniform(*a.trail)))
    gain = 10.0 ** (rng.uniform(*a.gain) / 20.0)
    noise_rms = 32768.0 * 10.0 ** (rng.uniform(*a.noise) / 20.0)
    # A Random of its own per utterance, seeded from the main one: the noise does not shift the
    # main sequence, so utterance k's digits do not depend on the length of utterance k-1.
    nrng = random.Random(rng.getrandbits(64))
    pcm = array.array("h", bytes(2 * len(out)))
    for i, s in enumerate(out):
        v = s * gain + nrng.gauss(0.0, noise_rms)
        pcm[i] = max(-32768, min(32767, int(round(v))))
    return digits, pcm


def write_wav(path, pcm):
    if sys.byteorder != "little":
        pcm = array.array("h", pcm)
        pcm.byteswap()
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="Connected spoken-digit utterances from FSDD "
                                 "(and synthetic) digits, with a manifest for rnn-train")
    ap.add_argument("outdir")
    ap.add_argument("--data", default=default_data(), help="folder holding fsdd/ (default "
                    "$RNN_DATA or ../shared/data)")
    ap.add_argument("--speakers", default=",".join(SPEAKERS),
                    help="comma-separated FSDD speakers (default: all five)")
    ap.add_argument("--indices", default="all",
                    help="FSDD recording indices: all (default), 5-49 (official training split), "
                    "0-4 (official test split), or a list like 0,3,7-9")
    ap.add_argument("--count", type=int, default=1000, help="utterances (default 1000)")
    ap.add_argument("--min-digits", type=int, default=1)
    ap.add_argument("--max-digits", type=int, default=7)
    ap.add_argument("--gap", default="50:400", help="silence between digits, ms (default 50:400)")
    ap.add_argument("--lead", default="0:300", help="silence before the first digit, ms "
                    "(default 0:300)")
    ap.add_argument("--trail", default="100:400", help="silence after the last digit, ms "
                    "(default 100:400)")
    ap.add_argument("--noise", default="-75:-55",
                    help="white-noise RMS range in dB relative to full scale (default -75:-55)")
    ap.add_argument("--gain", default="-6:6", help="gain range in dB (default -6:6)")
    ap.add_argument("--synth", help="folder of models/synth_digits.py output: extra voices")
    ap.add_argument("--synth-fraction", type=float, default=0.3,
                    help="with --synth: fraction of utterances spoken by a synthetic voice "
                    "(default 0.3)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    if not 1 <= a.min_digits <= a.max_digits:
        sys.exit("make_connected.py: need 1 <= --min-digits <= --max-digits")
    if a.count < 1:
        sys.exit("make_connected.py: --count must be at least 1")
    if not 0.0 <= a.synth_fraction <= 1.0:
        sys.exit("make_connected.py: --synth-fraction must be in 0..1")
    a.gap = parse_pair(a.gap, "--gap")
    a.lead = parse_pair(a.lead, "--lead")
    a.trail = parse_pair(a.trail, "--trail")
    a.noise = parse_pair(a.noise, "--noise")
    a.gain = parse_pair(a.gain, "--gain")
    if min(a.gap + a.lead + a.trail) < 0:
        sys.exit("make_connected.py: silences cannot be negative")
    speakers = [s.strip() for s in a.speakers.split(",") if s.strip()]
    unknown = [s for s in speakers if s not in SPEAKERS]
    if unknown or not speakers:
        sys.exit(f"make_connected.py: unknown speakers {unknown}; choose among {SPEAKERS}")

    real = fsdd_voices(a.data, speakers, parse_range(a.indices, "--indices"))
    synth = synth_voices(a.synth) if a.synth else {}
    real_names, synth_names = sorted(real), sorted(synth)

    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    cache = {}
    lines = []
    for k in range(a.count):
        if synth_names and rng.random() < a.synth_fraction:
            voice = synth[rng.choice(synth_names)]
        else:
            voice = real[rng.choice(real_names)]
        digits, pcm = make_utterance(rng, voice, a, cache)
        name = f"c{k:05d}.wav"
        write_wav(os.path.join(a.outdir, name), pcm)
        lines.append(f"{name}\t{' '.join(str(d) for d in digits)}\n")
    tmp = os.path.join(a.outdir, "manifest.tsv.tmp")
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, os.path.join(a.outdir, "manifest.tsv"))
    total = sum(len(line.split("\t")[1].split()) for line in lines)
    print(f"make_connected.py: {a.count} utterances, {total} digits -> "
          f"{os.path.join(a.outdir, 'manifest.tsv')}")


if __name__ == "__main__":
    main()
