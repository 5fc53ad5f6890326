#!/usr/bin/env bash
# Scores one rnn-train recipe on several seeded holdout splits of RacketSports_TRAIN: for each split
# seed S, models/uea_to_csv.py --holdout 0.2 --seed S, rnn-train OPTIONS on train.tsv, then
# models/eval_sensor.py on val.tsv (rnninfer with vad=off). Prints each split's accuracy and the
# mean. This is how the table of models/README.md was made.
#   models/sensor_sweep.sh "1 2 3 4 5" -a "bilstm(32) dense(softmax,mean)" -e 400 ... [--seed N]
# Needs a build in build/ (or BUILD=folder); works in $BUILD/sensor-sweep.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$(cd "${BUILD:-build}" && pwd)
DATA=${RNN_DATA:-../shared/data}
WORK=$BUILD/sensor-sweep
export GST_PLUGIN_PATH=$BUILD
if [ $# -lt 1 ]; then
  echo "usage: models/sensor_sweep.sh \"SPLIT SEEDS\" RNN-TRAIN-OPTIONS..." >&2
  exit 2
fi
seeds=$1
shift
accs=()
for s in $seeds; do
  d=$WORK/split$s
  [ -f "$d/val.tsv" ] || /usr/bin/python3 models/uea_to_csv.py "$DATA/uea/RacketSports_TRAIN.ts" \
    "$d" --holdout 0.2 --seed "$s" >/dev/null
  (cd "$d" && "$BUILD/tools/rnn-train" -q --sensor-rate 10 --classes "$(cat classes.txt)" "$@" \
    train.tsv "$WORK/model.rnn")
  a=$(/usr/bin/python3 models/eval_sensor.py "$WORK/model.rnn" "$d/val.tsv" --infer vad=off |
    awk '/^accuracy/ {print $2}')
  accs+=("$a")
done
echo "${accs[*]} mean $(echo "${accs[*]}" | awk '{s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.4f", s / NF}')"
