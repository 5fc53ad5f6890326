#!/usr/bin/env python3
# Synthesises spoken digits with Debian's speech synthesisers, as extra voices for training the
# digit models: the five FSDD speakers are all adult men, so a model trained on them alone learns
# their voices rather than the digits. Synthetic voices add other pitches, vocal tracts, accents
# and speaking rates (espeak-ng's voice variants include female and child-like ones).
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   models/synth_digits.py OUTDIR COUNT_PER_DIGIT [--seed N] [--jobs 2] [--accents F]
#                          [--engines espeak,flite,festival]
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

# Accented pronunciations, in espeak-ng's phoneme mnemonics (`espeak-ng -v en-us -x WORD` gives the
# first of each list): the substitutions second-language speakers of English commonly make, since
# the FSDD speakers' accents (Greek, Belgian French, German) are what an unseen speaker's model
# trips over: "th" spoken as s, t, f or z ("sree"); the five-vowel systems of Greek, French,
# Spanish or Italian in place of English lax and reduced vowels (I -> i, V -> a or o, @ -> E);
# final devoicing (German "fife"); rhotic or trilled r; monophthongs for diphthongs (eI -> e:,
# oU -> o). Every entry was checked with `espeak-ng -v en-us -q -x "[[...]]"`, which echoes only
# the phonemes it knows.
ACCENTS = {
    "zero": ["z'i@roU", "z'iroU", "z'iro", "z'Ero", "z'e:ro", "s'iro", "z'Ir@U"],
    "one": ["w'Vn", "w'0n", "w'an", "w'On", "v'an", "w'0n@"],
    "two": ["t'u:", "t'u", "th'u:", "t'U", "tw'u"],
    "three": ["Tr'i:", "sr'i:", "tr'i:", "fr'i:", "zr'i:", "Tr'i", "sr'i", "t@r'i:"],
    "four": ["f'o@", "f'o:r", "f'Or", "f'O:", "f'o:", "f'Ur"],
    "five": ["f'aIv", "f'aIf", "f'a:v", "f'aiv", "f'aIv@", "f'a:f"],
    "six": ["s'Iks", "s'iks", "z'Iks", "s'Ik", "s'Eks", "s'iks@"],
    "seven": ["s'Ev@n", "s'EvEn", "s'ev@n", "s'Ef@n", "z'Ev@n", "s'Evan", "s'Ev@m"],
    "eight": ["'eIt", "'et", "'e:t", "'Et", "'eIt@", "h'eIt"],
    "nine": ["n'aIn", "n'ain", "n'a:n", "n'aIn@", "n'a:In", "n'EIn"],
}


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


def synthesise(engine, word, rng, variants, raw_path, accent):
    if engine == "espeak":
        voice = rng.choice(ESPEAK_VOICES) + "+" + rng.choice(variants)
        text = word
        if accent:
            text = "[[" + rng.choice(ACCENTS[word]) + "]]"
            voice += " " + text
        cmd = ["espeak-ng", "-v", voice.split()[0], "-s", str(rng.randint(110, 200)),
               "-p", str(rng.randint(15, 85)), "-w", raw_path, text]
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
    outdir, digit, n, engine, seed, variants, accents = job
    rng = random.Random(f"{seed}-{digit}-{n}-{engine}")
    word = WORDS[digit]
    out = os.path.join(outdir, f"{digit}_{engine}-{n}.wav")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.wav")
        # Drawn from its own generator so that --accents 0 keeps the voices of earlier data sets.
        accent = random.Random(f"accent-{seed}-{digit}-{n}").random() < accents
        voice = synthesise(engine, word, rng, variants, raw, accent)
        effects = []
        # Formant synthesisers' fixed voices get a random pitch and tempo; espeak already varies.
        if engine != "espeak":
            effects += ["pitch", str(rng.randint(-500, 400)), "tempo", f"{rng.uniform(0.8, 1.2):.3f}"]
        effects += ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
                    "reverse", "gain", "-n", f"{-rng.uniform(1.0, 20.0):.1f}", "rate", "8000"]
        # -R: SoX seeds its dither with a fixed number (without it, the 16-bit output differs by
        # +-2 LSB from run to run, and so would every model trained on it).
        subprocess.run(["sox", "-R", raw, "-r", "8000", "-c", "1", "-b", "16", out] + effects,
                       check=True, capture_output=True)
    # An unknown phoneme makes espeak-ng stop early: a clip that short would teach the model that
    # a fragment is the word.
    seconds = os.path.getsize(out) / 16000.0
    if seconds < 0.08:
        raise RuntimeError(f"{out}: only {seconds:.2f} s of speech for '{word}' ({voice})")
    return out, word, voice


def main():
    ap = argparse.ArgumentParser(description="Synthesise spoken digits for training.")
    ap.add_argument("outdir")
    ap.add_argument("per_digit", type=int, help="utterances per digit")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--accents", type=float, default=0.0, metavar="FRACTION",
                    help="fraction of espeak-ng utterances spoken with an accented pronunciation")
    ap.add_argument("--engines", help="comma-separated subset of espeak,flite,festival")
    a = ap.parse_args()
    if not 0.0 <= a.accents <= 1.0:
        sys.exit(f"synth_digits.py: --accents {a.accents}: must be a fraction between 0 and 1")

    engines = which_engines()
    if a.engines:
        wanted = a.engines.split(",")
        for e in wanted:
            if e not in ("espeak", "flite", "festival"):
                sys.exit(f"synth_digits.py: --engines: unknown engine '{e}'")
            if e not in engines:
                sys.exit(f"synth_digits.py: --engines: {e} is not installed")
        engines = [e for e in engines if e in wanted]
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
            jobs.append((a.outdir, digit, n, engine, a.seed, variants, a.accents))
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
