#!/usr/bin/env bash
# The exact commands that train models/racketsports.rnn, the shipped racket-stroke classifier
# (UEA RacketSports: smartwatch 3-axis accelerometer + 3-axis gyroscope, 10 Hz, 3 s instances,
# classes Badminton_Smash, Badminton_Clear, Squash_ForehandBoast, Squash_BackhandBoast).
#   models/racketsports.recipe.sh
# 1. ../shared/data/uea/RacketSports_TRAIN.ts (151 instances) -> one CSV per instance in
#    $BUILD/racketsports-csv, split stratified and seeded: train.tsv (120) and val.tsv (31, 20 %);
# 2. trains on train.tsv only, through appsrc ! sensorparse rate=10 ! rnnfeatures kind=raw !
#    rnntrain (input normalisation stored in the model), a fixed number of epochs and no inner
#    validation split, so val.tsv is never seen, not even for early stopping;
# 3. stores rnninfer defaults in the model: infer.vad = off (a sensor stream has no speech level:
#    with the voice-activity rule, which rnninfer's default vad=auto uses for live streams, it gives
#    no result) and infer.max-utterance = 3000 (one result
#    per 3 s of stream, the instances' length; a 3 s file gives exactly one);
# 4. reports the accuracy on val.tsv through filesrc ! sensorparse ! rnnfeatures ! rnninfer.
# Deterministic: the same build gives the same weights (train.date differs).
# Needs a build in build/ (or BUILD=folder).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$(cd "${BUILD:-build}" && pwd)
DATA=${RNN_DATA:-../shared/data}
CSV=$BUILD/racketsports-csv
export GST_PLUGIN_PATH=$BUILD

rm -rf "$CSV"
/usr/bin/python3 models/uea_to_csv.py "$DATA/uea/RacketSports_TRAIN.ts" "$CSV" --holdout 0.2 --seed 1
(cd "$CSV" && "$BUILD/tools/rnn-train" -q --sensor-rate 10 \
  --classes "$(cat classes.txt)" \
  --arch "bilstm(32) dense(softmax,mean)" \
  --epochs 400 --learning-rate 0.003 --schedule cosine --validation-split 0 --seed 1 \
  --time-mask 3 --freq-mask 1 \
  train.tsv "$ROOT/models/racketsports.rnn")
/usr/bin/python3 - models/racketsports.rnn <<'PY'
import sys
sys.path.insert(0, "tools")
import rnnfile
m = rnnfile.read(sys.argv[1])
m.meta["infer.vad"] = "off"
m.meta["infer.max-utterance"] = 3000
rnnfile.write(m, sys.argv[1])
PY
/usr/bin/python3 models/eval_sensor.py models/racketsports.rnn "$CSV/val.tsv"
