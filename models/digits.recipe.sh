#!/usr/bin/env bash
# The exact commands that train models/digits.rnn, the shipped spoken-digit classifier, and that
# measure it.
#   models/digits.recipe.sh              train models/digits.rnn: all 2,500 FSDD recordings of the
#                                        five speakers + the synthetic voices
#   models/digits.recipe.sh eval         train on the official training split (indices 5-49) + the
#                                        synthetic voices, report accuracy on the test split (0-4)
#   MEMBERS="--seed 1" models/digits.recipe.sh ...  one model instead of the ensemble (one line
#                                        of rnn-train options per member)
#   models/digits.recipe.sh loso [SPK..] leave-one-speaker-out: for each speaker (default: all
#                                        five), train on the other four + the synthetic voices and
#                                        report the accuracy on every recording of the held-out one
# Needs a build in build/ (or BUILD=folder) and Debian's espeak-ng, flite, festival and sox
# (tools/setup.sh deps). The ensemble's members are kept in $WORK (NAME.memberN.rnn).
# Deterministic: the synthetic voices, the splits, the weights and the augmentation are seeded.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${RNN_DATA:-../shared/data}
WORK=${WORK:-$BUILD/digits-work}
export GST_PLUGIN_PATH=$BUILD
SPEAKERS="george jackson nicolas theo yweweler"

# Why these settings (models/README.md has the measurements): the five FSDD speakers are all adult
# men with their own accents and microphones, so a model trained on them alone learns their voices.
# Each of these bought accuracy on a speaker the model never heard:
# - synthetic voices of many pitches, vocal tracts, accents and rates (models/synth_digits.py),
#   and synthetic digits with second-language pronunciations (--accents: "sree" for three);
# - augmented copies: speed perturbation (0.8-1.3: one FSDD speaker talks 30 % faster than the
#   others) and vocal-tract-length perturbation (--vtln-warp: rnnfeatures warps its mel bins);
# - an ensemble: models trained with different seeds and perturbations err on different
#   recordings; tools/rnn-ensemble.py merges them into one model file that averages their logits;
# - half of the members with per-utterance mean and variance normalisation done by the model
#   itself (--sequence-normalize: rnninfer normalises each utterance by its own speech frames, so
#   it stays right in a live stream, where background surrounds the speech), half without: each
#   kind alone is worse than the two together (0.862 and 0.877 against 0.903 leave-one-speaker-
#   out); the merged model's first layer reads both views (input.normalization=raw+sequence).
FEATURES="kind=mfcc num-mel-bins=40 num-ceps=20"
ARCH="bigru(128) bigru(128) dense(softmax,mean)"
# One line per ensemble member: its seed, perturbations and normalisation.
MEMBERS=${MEMBERS:-"--seed 1 --augment 1 --speed 0.8:1.3
--seed 2 --augment 1 --speed 0.8:1.3 --vtln-warp 0.85:1.15
--seed 3 --augment 1 --speed 1 --vtln-warp 0.85:1.15
--seed 1 --augment 1 --speed 0.8:1.3 --sequence-normalize
--seed 2 --augment 1 --speed 0.8:1.3 --vtln-warp 0.85:1.15 --sequence-normalize
--seed 3 --augment 1 --speed 1 --vtln-warp 0.85:1.15 --sequence-normalize"}

synth() { # the synthetic voices, made once
  if [ ! -f "$WORK/synth/manifest.tsv" ]; then
    /usr/bin/python3 models/synth_digits.py "$WORK/synth" 600 --seed 1
  fi
  if [ ! -f "$WORK/synth-accents/manifest.tsv" ]; then
    /usr/bin/python3 models/synth_digits.py "$WORK/synth-accents" 200 --seed 3 --accents 1 \
      --engines espeak
  fi
}

# shellcheck source=models/ensemble.sh
. models/ensemble.sh

train() { # MANIFEST OUTPUT: each member, then their ensemble
  train_ensemble "$2" "$MEMBERS" "$1" \
    "$BUILD/tools/rnn-train" --rate 8000 --features "$FEATURES" --arch "$ARCH" \
    --classes zero,one,two,three,four,five,six,seven,eight,nine \
    --epochs 15 --batch-size 32 --learning-rate 0.002 --validation-split 0.1
}

with_synth() { # FSDD_MANIFEST OUT: the FSDD files and the synthetic ones in one manifest
  { grep -v '^#' "$1"; grep -hv '^#' "$WORK/synth/manifest.tsv" "$WORK/synth-accents/manifest.tsv"; } > "$2"
}

evaluate() { # MODEL EVAL_DIGITS_OPTIONS...: the ensemble, and each member alone
  local model=$1 member
  shift
  for member in "$(member_prefix "$model")"*.rnn; do
    [ -f "$member" ] || continue
    echo "member $member:"
    /usr/bin/python3 models/eval_digits.py --data "$DATA" --model "$member" "$@" | tail -1
  done
  echo "ensemble $model:"
  /usr/bin/python3 models/eval_digits.py --data "$DATA" --model "$model" "$@"
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
    evaluate "$WORK/digits-official.rnn" --split test
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
      evaluate "$WORK/digits-without-$held.rnn" --split all --speakers "$held"
    done
    ;;
  *)
    echo "usage: models/digits.recipe.sh [eval | loso [SPEAKER...]]" >&2
    exit 2
    ;;
esac
