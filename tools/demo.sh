#!/usr/bin/env bash
# The main job on the bundled default: the shipped spoken-digit models on the bundled recordings
# (models/samples, synthetic voices), through real GStreamer pipelines; then, when the machine has a
# sound card, ten seconds of live recognition from the default microphone.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."
export GST_PLUGIN_PATH="${BUILD:-$PWD/build}"
py=/usr/bin/python3

echo "== models/digits.rnn: isolated digits, one pipeline per file:"
echo "   filesrc ! decodebin ! audioconvert ! audioresample ! rnnfeatures model=M ! rnninfer model=M ! fakesink"
$py docs/examples/results.py models/digits.rnn models/samples/three.wav models/samples/seven.wav \
  models/samples/nine.wav

if [ -f models/digits-ctc.rnn ]; then
  echo
  echo "== models/digits-ctc.rnn: a connected digit string (\"4 0 7\"), streaming CTC:"
  $py docs/examples/results.py models/digits-ctc.rnn models/samples/four-zero-seven.wav
fi

if grep -qs '^ *[0-9]' /proc/asound/cards; then
  echo
  echo "== live: say a few digits into the default microphone (10 s)"
  timeout -s INT 10 gst-launch-1.0 -e -m portaudiosrc ! audioconvert ! audioresample ! \
    rnnfeatures model=models/digits.rnn ! rnninfer model=models/digits.rnn ! fakesink 2>&1 |
    sed -n 's/.*rnn-classification, label=(string)\([a-z]*\).*confidence=(double)\([0-9.]*\).*/  heard: \1 (\2)/p' || true
else
  echo
  echo "(no sound card here: the live microphone part is skipped; README's Examples show the microphone pipelines and ALSA's file plugin)"
fi
