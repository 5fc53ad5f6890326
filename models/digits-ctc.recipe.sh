#!/usr/bin/env bash
# The exact commands that made models/digits-ctc.rnn, the streaming connected-digit transcriber
# (unidirectional GRUs, CTC over the alphabet "0123456789"; results are digits separated by spaces):
# an ensemble of three members merged by tools/rnn-ensemble.py into one file with a grouped head,
# which rnninfer decodes member by member and combines by a vote (engine/rnn.h,
# rnn_ctc_decoder_new_voting). The members are kept in $WORK (NAME.memberN.rnn).
#   models/digits-ctc.recipe.sh               regenerate the data and train models/digits-ctc.rnn
#                                             on all five FSDD speakers (+ synthetic voices)
#   models/digits-ctc.recipe.sh fold SPEAKER  leave-one-speaker-out: train $WORK/fold-SPEAKER.rnn
#                                             on the other four speakers (+ synthetic voices), then
#                                             report its digit error rate through the pipeline on
#                                             connected strings of SPEAKER's recordings
#   models/digits-ctc.recipe.sh folds         every fold, one after the other
# Time: the default took 12 min on 2 cores (three members, the synthetic voices already made, with
# other trainings on the machine); a fold trains three members too, so all five take about an
# hour.
# Needs a build in build/ (or BUILD=folder); work files go to $WORK (default $BUILD/digits-ctc).
# Everything is seeded: the same data, packages and build give the same files and model.
# Audio is 8 kHz (FSDD's rate): a live pipeline feeds rnnfeatures 8 kHz mono
# (audioresample ! audio/x-raw,rate=8000,channels=1).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${RNN_DATA:-../shared/data}
WORK=${WORK:-$BUILD/digits-ctc}
export GST_PLUGIN_PATH=$BUILD
SPEAKERS=(george jackson nicolas theo yweweler)
PY=/usr/bin/python3

# The features (rnnfeatures properties, stored in the model). FEATURES=... overrides them, for
# experiments.
FEATURES=${FEATURES:-"kind=mfcc num-mel-bins=40 num-ceps=20 frame-shift=20 cmn-window=150 min-cmn-window=25"}

# More rnn-train options for every member (TRAIN_OPTIONS=..., for experiments; the shipped model
# has none; later options override earlier ones, and a member's own options come last).
TRAIN_OPTIONS=${TRAIN_OPTIONS:-}

# One line of rnn-train options per ensemble member (MEMBERS="--seed 1" for one model). Why an
# ensemble: one model's digit error rate on an unheard speaker moves by several points with its
# seed or data (models/README.md), and members that err on different digits outvote each other's
# mistakes. Why these: a different seed, and the same seed without the perturbed copies (no
# copies: no VTLN warp either), both change what a member learns; members whose spikes fall on
# different frames are no problem, since the vote combines decoded digits, not frames.
MEMBERS=${MEMBERS:-"--seed 1
--seed 1 --augment 0 --vtln-warp 1
--seed 2"}

# Training data size and the evaluation strings.
TRAIN_COUNT=${TRAIN_COUNT:-4000}
TEST_COUNT=${TEST_COUNT:-200}

synth() { # synthetic digits: 150 per digit from espeak-ng, flite and festival voices, half of
  # espeak-ng's with second-language pronunciations
  if [ ! -f "$WORK/synth/manifest.tsv" ]; then
    $PY models/synth_digits.py "$WORK/synth" 150 --seed 1 --accents 0.5 --jobs 2
  fi
}

connected() { # OUTDIR SPEAKERS SEED [more make_connected.py options]
  local out=$1 speakers=$2 seed=$3
  shift 3
  rm -rf "$out"
  $PY models/make_connected.py "$out" --data "$DATA" --speakers "$speakers" --seed "$seed" "$@"
}

# shellcheck source=models/ensemble.sh
. models/ensemble.sh

train() { # MANIFEST OUTPUT: each member, then their ensemble
  # shellcheck disable=SC2086  # TRAIN_OPTIONS are words
  train_ensemble "$2" "$MEMBERS" "$1" \
    "$BUILD/tools/rnn-train" --task transcription --alphabet 0123456789 --loss ctc \
    --rate 8000 --features "$FEATURES" \
    --arch "gru(160) gru(160) dense(softmax)" --dropout 0.2 \
    --epochs 25 --learning-rate 0.004 --schedule cosine --validation-split 0.05 --seed 1 \
    --time-mask 3 --freq-mask 6 --augment 1 --speed 0.8:1.3 --vtln-warp 0.85:1.15 \
    --meta infer.min-silence=800 $TRAIN_OPTIONS
}

evaluate() { # MODEL MANIFEST: each member alone, then the ensemble
  local member
  for member in "$(member_prefix "$1")"*.rnn; do
    [ -f "$member" ] || continue
    echo "member $member:"
    $PY models/eval_ctc.py --model "$member" "$2" | grep DER
  done
  echo "ensemble $1:"
  $PY models/eval_ctc.py --model "$1" "$2"
}

others() { # the speakers but $1, comma-separated
  local out=() s
  for s in "${SPEAKERS[@]}"; do [ "$s" = "$1" ] || out+=("$s"); done
  (IFS=,; echo "${out[*]}")
}

fold() { # SPEAKER
  local test=$1 train_speakers
  train_speakers=$(others "$test")
  [ "$train_speakers" != "$(IFS=,; echo "${SPEAKERS[*]}")" ] || {
    echo "unknown speaker '$test'; one of ${SPEAKERS[*]}" >&2
    exit 2
  }
  synth
  connected "$WORK/train-no-$test" "$train_speakers" 1 --indices all --count "$TRAIN_COUNT" \
    --synth "$WORK/synth" --synth-fraction 0.4
  # The test strings: the held-out speaker's recordings, every index (0-49), another seed.
  connected "$WORK/test-$test" "$test" 7 --indices all --count "$TEST_COUNT"
  train "$WORK/train-no-$test/manifest.tsv" "$WORK/fold-$test.rnn"
  evaluate "$WORK/fold-$test.rnn" "$WORK/test-$test/manifest.tsv"
}

mkdir -p "$WORK"
case "${1:-}" in
  "")
    synth
    # Indices 5-49 only: the official test split (0-4) stays unheard, for the tests.
    connected "$WORK/train-all" "$(IFS=,; echo "${SPEAKERS[*]}")" 1 --indices 5-49 \
      --count "$TRAIN_COUNT" --synth "$WORK/synth" --synth-fraction 0.4
    train "$WORK/train-all/manifest.tsv" models/digits-ctc.rnn
    ;;
  fold)
    [ $# -eq 2 ] || { echo "usage: models/digits-ctc.recipe.sh fold SPEAKER" >&2; exit 2; }
    fold "$2"
    ;;
  folds)
    for s in "${SPEAKERS[@]}"; do fold "$s"; done
    ;;
  *)
    echo "usage: models/digits-ctc.recipe.sh [fold SPEAKER | folds]" >&2
    exit 2
    ;;
esac
