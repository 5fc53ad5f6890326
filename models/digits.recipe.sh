#!/usr/bin/env bash
# The exact command that trained models/digits.rnn, the shipped spoken-digit classifier.
#   models/digits.recipe.sh          train models/digits.rnn on all 2,500 FSDD recordings
#   models/digits.recipe.sh eval     train build/digits-eval.rnn on the official training split
#                                    (indices 5-49) with the same settings, then report its
#                                    accuracy on the official test split (indices 0-4)
# Needs a build in build/ (or BUILD=folder). Audio is resampled to 8 kHz (FSDD's rate): a live
# pipeline must feed rnnfeatures 8 kHz mono too (audioresample ! audio/x-raw,rate=8000,channels=1).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${RNN_DATA:-../shared/data}
export GST_PLUGIN_PATH=$BUILD

train() { # MANIFEST OUTPUT
  "$BUILD/tools/rnn-train" \
    --rate 8000 --features "kind=fbank num-mel-bins=40" \
    --arch "gru(128) gru(128) dense(softmax)" \
    --classes zero,one,two,three,four,five,six,seven,eight,nine \
    --epochs 30 --learning-rate 0.002 --patience 8 --validation-split 0.1 --seed 1 \
    --augment 2 --time-mask 10 --freq-mask 6 \
    "$1" "$2"
}

case "${1:-}" in
  "")
    /usr/bin/python3 models/make_manifest.py --data "$DATA" --split all "$BUILD/fsdd-all.tsv"
    train "$BUILD/fsdd-all.tsv" models/digits.rnn
    ;;
  eval)
    /usr/bin/python3 models/make_manifest.py --data "$DATA" --split train "$BUILD/fsdd-train.tsv"
    train "$BUILD/fsdd-train.tsv" "$BUILD/digits-eval.rnn"
    /usr/bin/python3 models/eval_digits.py --data "$DATA" --model "$BUILD/digits-eval.rnn" --split test
    ;;
  *)
    echo "usage: models/digits.recipe.sh [eval]" >&2
    exit 2
    ;;
esac
