#!/usr/bin/env bash
# Regenerates the bundled demo recordings (8 kHz, mono, 16-bit) with Debian's speech synthesisers:
# three isolated digits for digits.rnn and one connected string for digits-ctc.rnn. They are
# synthetic on purpose: no recording of a real person is copied into the project.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trim=(silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse)

flite -voice slt -t "three" -o "$tmp/3.wav"
sox "$tmp/3.wav" -r 8000 -c 1 -b 16 three.wav "${trim[@]}" gain -n -3

echo "seven" > "$tmp/7.txt"
text2wave -eval "(voice_kal_diphone)" "$tmp/7.txt" -o "$tmp/7.wav"
sox "$tmp/7.wav" -r 8000 -c 1 -b 16 seven.wav "${trim[@]}" gain -n -3

espeak-ng -v en-us+f2 -s 140 -w "$tmp/9.wav" "nine"
sox "$tmp/9.wav" -r 8000 -c 1 -b 16 nine.wav "${trim[@]}" gain -n -3

# "4 0 7", three words with pauses between them (espeak-ng's default US voice: flite's voices come
# out as "4 0 2", "1 8 3" or "4 0 8" with digits-ctc.rnn, whose limits models/README.md reports).
for w in four zero seven; do
  espeak-ng -v en-us -s 140 -w "$tmp/$w.wav" "$w"
  sox "$tmp/$w.wav" -r 8000 -c 1 -b 16 "$tmp/$w-8k.wav" "${trim[@]}" pad 0.25 0.25
done
sox "$tmp/four-8k.wav" "$tmp/zero-8k.wav" "$tmp/seven-8k.wav" four-zero-seven.wav gain -n -3
