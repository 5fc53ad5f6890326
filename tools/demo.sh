#!/usr/bin/env bash
# The main job on the bundled default. Replaced by the digits pipeline once models/digits.rnn ships.
set -euo pipefail
cd "$(dirname "$0")/.."
build/tools/rnn-model info models/demo.rnn
