#!/usr/bin/env python3
# Synthesises spoken digits with Debian's speech synthesisers, as extra voices for training the
# digit models: the five FSDD speakers are all adult men, so a model trained on them alone learns
# their voices rather than the digits. Synthetic voices add other pitches, vocal tracts, accents
# and speaking rates (espeak-ng's voice variants include female and child-like ones).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   models/synth_digits.py OUTDIR COUNT_PER_DIGIT [--seed N] [--jobs 2]
#
# Writes OUTDIR/{digit}_{engine}-{n}.wav (8 kHz, mono, 16-bit, silence trimmed) and
# OUTDIR/manifest.tsv ("path<TAB>label", labels zero..nine). Deterministic for a given seed and the
# same Debian packages (espeak-ng, flite, festival with its kal/ked/slt voices, sox).
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]


def espeak_variants():
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1:]
    names = [line.split()[3] for line in out if len(line.split()) >= 4]
    # Effects voices that are not speech-like are left out.
    skip = {"Demonic", "Half-LifeAnnouncementSystem", "UniversalRobot", "female_whisper",
            "whisper", "klatt", "fast_test"}
    return [n for n in names if n not in skip and not n.startswith("Robosoft")]


def which_engines():
    engines = []
    if shutil.which("espeak-ng"):
        engines.append("espeak")
    if shutil.which("flite"):
        engines.append("flite")
    if shutil.which("text2wave"):
        engines.append("festival")
    return engines


def synthesise(engine, word, rng, variants, raw_path):
    if engine == "espeak":
        voice = rng.choice(ESPEAK_VOICES) + "+" + rng.choice(variants)
        cmd = ["espeak-ng", "-v", voice, "-s", str(rng.randint(110, 200)),
               "-p", str(rng.randint(15, 85)), "-w", raw_path, word]
        subprocess.run(cmd, check=True, capture_output=True)
        return voice
    if engine == "flite":
        voice = rng.choice(FLITE_VOICES)
        subprocess.run(["flite", "-voice", voice, "-t", word, "-o", raw_path], check=True,
                       capture_output=True)
        return voice
    voice = rng.choice(FESTIVAL_VOICES)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as t:
        t.write(word + "\n")
    try:
        subprocess.run(["text2wave", "-eval", f"(voice_{voice})", t.name, "-o", raw_path],
                       check=True, capture_output=True)
    finally:
        os.unlink(t.name)
    return voice


def one(job):
    outdir, digit, n, engine, seed, variants = job
    rng = random.Random(f"{seed}-{digit}-{n}-{engine}")
    word = WORDS[digit]
    out = os.path.join(outdir, f"{digit}_{engine}-{n}.wav")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        voice = synthesise(engine, word, rng, variants, raw)
        effects = []
        # Formant synthesisers' fixed voices get a random pitch and tempo; espeak already varies.
        if engine != "espeak":
            effects += ["pitch", str(rng.randint(-500, 400)), "tempo", f"{rng.uniform(0.8, 1.2):.3f}"]
        effects += ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
                    "reverse", "gain", "-n", f"{-rng.uniform(1.0, 20.0):.1f}", "rate", "8000"]
        subprocess.run(["sox", raw, "-r", "8000", "-c", "1", "-b", "16", out] + effects,
                       check=True, capture_output=True)
    return out, word, voice


def main():
    ap = argparse.ArgumentParser(description="Synthesise spoken digits for training.")
    ap.add_argument("outdir")
    ap.add_argument("per_digit", type=int, help="utterances per digit")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    engines = which_engines()
    if not engines:
        sys.exit("synth_digits.py: none of espeak-ng, flite, text2wave (festival) is installed")
    if not shutil.which("sox"):
        sys.exit("synth_digits.py: sox is not installed")
    os.makedirs(a.outdir, exist_ok=True)
    variants = espeak_variants() if "espeak" in engines else []
    # Half espeak (most varied), the rest split between the other engines.
    jobs = []
    for digit in range(10):
        for n in range(a.per_digit):
            if n % 2 == 0 or len(engines) == 1:
                engine = engines[0]
            else:
                engine = engines[1 + (n // 2) % (len(engines) - 1)]
            jobs.append((a.outdir, digit, n, engine, a.seed, variants))
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(one, jobs))
    manifest = os.path.join(a.outdir, "manifest.tsv")
    with open(manifest + ".tmp", "w") as f:
        f.write(f"# synthetic digits: {len(results)} files, engines {','.join(engines)}, seed {a.seed}\n")
        for path, word, voice in results:
            f.write(f"{os.path.abspath(path)}\t{word}\n")
    os.replace(manifest + ".tmp", manifest)
    print(f"{manifest}: {len(results)} files")


if __name__ == "__main__":
    main()
