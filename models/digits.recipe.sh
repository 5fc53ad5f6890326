#!/usr/bin/env bash
# The exact commands that train models/digits.rnn, the shipped spoken-digit classifier, and that
# measure it.
#   models/digits.recipe.sh              train models/digits.rnn: all 2,500 FSDD recordings of the
#                                        five speakers + the synthetic voices
#   models/digits.recipe.sh eval         train on the official training split (indices 5-49) + the
#                                        synthetic voices, report accuracy on the test split (0-4)
#   FEATURES=cmvn models/digits.recipe.sh ...   the same with per-utterance CMVN features
#   models/digits.recipe.sh loso [SPK..] leave-one-speaker-out: for each speaker (default: all
#                                        five), train on the other four + the synthetic voices and
#                                        report the accuracy on every recording of the held-out one
# Needs a build in build/ (or BUILD=folder) and Debian's espeak-ng, flite, festival and sox
# (tools/setup.sh deps). Deterministic: the synthetic voices, the splits, the weights and the
# augmentation are seeded.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${RNN_DATA:-../shared/data}
WORK=${WORK:-$BUILD/digits-work}
export GST_PLUGIN_PATH=$BUILD
SPEAKERS="george jackson nicolas theo yweweler"

# Why these settings (models/README.md has the measurements): the five FSDD speakers are all adult
# men, so a model trained on them alone learns their voices; synthetic voices of many pitches,
# vocal tracts and accents, per-utterance mean and variance normalisation (cmn-window with
# norm-vars: the recordings are shorter than min-cmn-window, so each is normalised by its own
# statistics), MFCCs rather than log-mel energies and a wider bidirectional GRU each bought
# accuracy on an unseen speaker.
# FEATURES=cmvn: per-utterance CMVN generalises better to unseen speakers on files (models/README.md),
# but a live stream's sliding window also holds background, which the model never saw in training,
# so the shipped model uses the global normalisation rnn-train stores (live-safe) until training
# pads utterances with background.
case "${FEATURES:-live}" in
  live) FEATURES="kind=mfcc num-mel-bins=40 num-ceps=20" ;;
  cmvn) FEATURES="kind=mfcc num-mel-bins=40 num-ceps=20 cmn-window=600 norm-vars=true" ;;
esac
ARCH="bigru(128) bigru(128) dense(softmax,mean)"

synth() { # the synthetic voices, made once
  if [ ! -f "$WORK/synth/manifest.tsv" ]; then
    /usr/bin/python3 models/synth_digits.py "$WORK/synth" 600 --seed 1
  fi
}

train() { # MANIFEST OUTPUT
  "$BUILD/tools/rnn-train" \
    --rate 8000 --features "$FEATURES" --arch "$ARCH" \
    --classes zero,one,two,three,four,five,six,seven,eight,nine \
    --epochs 15 --batch-size 32 --learning-rate 0.002 --validation-split 0.1 --seed 1 \
    "$1" "$2"
}

with_synth() { # FSDD_MANIFEST OUT: the FSDD files and the synthetic ones in one manifest
  { grep -v '^#' "$1"; grep -v '^#' "$WORK/synth/manifest.tsv"; } > "$2"
}

mkdir -p "$WORK"
case "${1:-}" in
  "")
    synth
    /usr/bin/python3 models/make_manifest.py --data "$DATA" --split all "$WORK/fsdd-all.tsv"
    with_synth "$WORK/fsdd-all.tsv" "$WORK/train-all.tsv"
    train "$WORK/train-all.tsv" models/digits.rnn
    ;;
  eval)
    synth
    /usr/bin/python3 models/make_manifest.py --data "$DATA" --split train "$WORK/fsdd-train.tsv"
    with_synth "$WORK/fsdd-train.tsv" "$WORK/train-official.tsv"
    train "$WORK/train-official.tsv" "$WORK/digits-official.rnn"
    /usr/bin/python3 models/eval_digits.py --data "$DATA" --model "$WORK/digits-official.rnn" --split test
    ;;
  loso)
    shift
    synth
    for held in ${*:-$SPEAKERS}; do
      others=$(for s in $SPEAKERS; do [ "$s" = "$held" ] || echo "$s"; done | paste -sd,)
      /usr/bin/python3 models/make_manifest.py --data "$DATA" --speakers "$others" \
        "$WORK/fsdd-without-$held.tsv"
      with_synth "$WORK/fsdd-without-$held.tsv" "$WORK/train-without-$held.tsv"
      train "$WORK/train-without-$held.tsv" "$WORK/digits-without-$held.rnn"
      /usr/bin/python3 models/eval_digits.py --data "$DATA" --model "$WORK/digits-without-$held.rnn" \
        --split all --speakers "$held"
    done
    ;;
  *)
    echo "usage: models/digits.recipe.sh [eval | loso [SPEAKER...]]" >&2
    exit 2
    ;;
esac
