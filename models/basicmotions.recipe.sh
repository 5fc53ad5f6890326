#!/usr/bin/env bash
# The exact commands that train models/basicmotions.rnn, the activity classifier (UEA BasicMotions:
# smartwatch 3-axis accelerometer + 3-axis gyroscope, 10 Hz, 10 s instances, classes Standing,
# Running, Walking, Badminton), with the recipe of models/racketsports.recipe.sh unchanged.
#   models/basicmotions.recipe.sh
# 1. ../shared/data/uea/BasicMotions_{TRAIN,TEST}.ts (40 + 40 instances) -> one CSV per instance in
#    $BUILD/basicmotions-csv/{train,test};
# 2. trains on all of TRAIN through appsrc ! sensorparse rate=10 ! rnnfeatures kind=raw ! rnntrain
#    (input normalisation stored in the model), a fixed number of epochs, no validation split;
# 3. stores rnninfer defaults in the model: infer.vad = off (a sensor stream has no speech level:
#    with the voice-activity rule, which rnninfer's default vad=auto uses for live streams, it gives
#    no result) and infer.max-utterance = 10000 (one result
#    per 10 s of stream, the instances' length; a 10 s file gives exactly one);
# 4. reports the accuracy on TEST through filesrc ! sensorparse ! rnnfeatures ! rnninfer.
# Deterministic: the same build gives the same weights (train.date differs).
# Needs a build in build/ (or BUILD=folder).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$(cd "${BUILD:-build}" && pwd)
DATA=${RNN_DATA:-../shared/data}
CSV=$BUILD/basicmotions-csv
export GST_PLUGIN_PATH=$BUILD

rm -rf "$CSV"
/usr/bin/python3 models/uea_to_csv.py "$DATA/uea/BasicMotions_TRAIN.ts" "$CSV/train"
/usr/bin/python3 models/uea_to_csv.py "$DATA/uea/BasicMotions_TEST.ts" "$CSV/test"
(cd "$CSV/train" && "$BUILD/tools/rnn-train" -q --sensor-rate 10 \
  --classes "$(cat classes.txt)" \
  --arch "bilstm(32) dense(softmax,mean)" \
  --epochs 400 --learning-rate 0.003 --schedule cosine --validation-split 0 --seed 1 \
  --time-mask 3 --freq-mask 1 \
  all.tsv "$ROOT/models/basicmotions.rnn")
/usr/bin/python3 - models/basicmotions.rnn <<'PY'
import sys
sys.path.insert(0, "tools")
import rnnfile
m = rnnfile.read(sys.argv[1])
m.meta["infer.vad"] = "off"
m.meta["infer.max-utterance"] = 10000
rnnfile.write(m, sys.argv[1])
PY
/usr/bin/python3 models/eval_sensor.py models/basicmotions.rnn "$CSV/test/all.tsv"
