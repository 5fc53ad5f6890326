#!/usr/bin/env bash
# The rnn-model command line: what it prints, and that every bad input fails with a non-zero exit
# and a message naming the file and the problem (never a crash).
#   test_tools.sh RNN_MODEL RNNFILE_HELPER
# SPDX-License-Identifier: LGPL-2.1-or-later
set -u
RNN_MODEL=$1
HELPER=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect_fail DESCRIPTION WORD... -- COMMAND...: non-zero exit (not a crash: < 128), stderr has
# every WORD.
expect_fail() {
  local what=$1; shift
  local words=()
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: exit 0, expected an error"
  elif [ $rc -ge 128 ]; then
    fail "$what: crashed (exit $rc): $(cat "$tmp/err")"
  else
    for w in "${words[@]}"; do
      grep -qF -- "$w" "$tmp/err" || fail "$what: message lacks '$w': $(cat "$tmp/err")"
    done
  fi
  echo "ok   $what: $(head -c 300 "$tmp/err" | head -n 1)"
}

expect_ok() {
  local what=$1; shift
  if ! "$@" >"$tmp/out" 2>"$tmp/err"; then
    fail "$what: $(cat "$tmp/err")"
  else
    echo "ok   $what"
  fi
}

model="$tmp/model.rnn"
"$HELPER" make "$model" || { echo "FAIL: rnnfile_helper make"; exit 1; }

# --help and usage errors.
expect_ok "--help" "$RNN_MODEL" --help
grep -q "rnn-model run \[--stream\] MODEL IN.f32 OUT.f32" "$tmp/out" || fail "--help does not show run's usage"
"$RNN_MODEL" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments: expected exit 2"
"$RNN_MODEL" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command: expected exit 2"
"$RNN_MODEL" run --fast "$model" a b >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option: expected exit 2"

# info on a valid model shows the architecture and every group of metadata.
expect_ok "info" "$RNN_MODEL" info "$model"
for want in "input size                   6" "lstm, hidden 5, unidirectional" "gru, hidden 4, bidirectional -> 8" \
  "dense, softmax, 3 outputs" "mean" "parameters" "input normalisation          yes" "labels (3)                   zero, one" \
  "classification" "zero, one" "two words" "kind" "fbank" "num-mel-bins" "40" "frame-shift                  10.0" \
  "accuracy" "0.987654321" "epochs" "-3" "Other metadata" "empty list" "layer1.bwd.w_hh"; do
  grep -qF -- "$want" "$tmp/out" || fail "info output lacks '$want'"
done

# Damaged, missing and wrong files are refused, naming the file.
expect_fail "info on a missing file" "$tmp/nope.rnn" -- "$RNN_MODEL" info "$tmp/nope.rnn"
cp "$model" "$tmp/flipped.rnn"
printf '\x55' | dd of="$tmp/flipped.rnn" bs=1 seek=300 conv=notrunc status=none
expect_fail "info on a damaged file" "$tmp/flipped.rnn" -- "$RNN_MODEL" info "$tmp/flipped.rnn"
head -c 500 "$model" >"$tmp/truncated.rnn"
expect_fail "info on a truncated file" "$tmp/truncated.rnn" -- "$RNN_MODEL" info "$tmp/truncated.rnn"
echo "not a model" >"$tmp/text.rnn"
expect_fail "info on a text file" "$tmp/text.rnn" -- "$RNN_MODEL" info "$tmp/text.rnn"
: >"$tmp/empty.rnn"
expect_fail "info on an empty file" "$tmp/empty.rnn" -- "$RNN_MODEL" info "$tmp/empty.rnn"
expect_fail "run with a damaged model" "$tmp/flipped.rnn" -- "$RNN_MODEL" run "$tmp/flipped.rnn" /dev/null "$tmp/o.f32"

# run: 5 frames of 6 inputs in, 5 frames of 3 outputs (softmax: each row sums to 1) out.
: >"$tmp/in.f32"
for i in 1 2 3 4 5 6 7 8 9 10; do  # 30 floats: 0.5, -1, 2 repeated
  printf '\x00\x00\x00\x3f\x00\x00\x80\xbf\x00\x00\x00\x40' >>"$tmp/in.f32"
done
[ "$(stat -c %s "$tmp/in.f32")" -eq 120 ] || fail "test input is not 120 bytes"
expect_ok "run" "$RNN_MODEL" run "$model" "$tmp/in.f32" "$tmp/out.f32"
[ "$(stat -c %s "$tmp/out.f32" 2>/dev/null)" = 60 ] || fail "run: output is not 5 x 3 float32 (60 bytes)"
expect_fail "run: input not a whole number of frames" "$tmp/odd.f32" "24 bytes" "4 bytes over" -- \
  sh -c "head -c 100 '$tmp/in.f32' >'$tmp/odd.f32' && exec '$RNN_MODEL' run '$model' '$tmp/odd.f32' '$tmp/o.f32'"
expect_fail "run: missing input" "$tmp/none.f32" -- "$RNN_MODEL" run "$model" "$tmp/none.f32" "$tmp/o.f32"
expect_fail "run: empty input" "$tmp/empty.f32" "no frames" -- \
  sh -c ": >'$tmp/empty.f32' && exec '$RNN_MODEL' run '$model' '$tmp/empty.f32' '$tmp/o.f32'"
expect_fail "run: output folder missing" "$tmp/no/such/out.f32" -- \
  "$RNN_MODEL" run "$model" "$tmp/in.f32" "$tmp/no/such/out.f32"
expect_fail "run: --stream on a bidirectional model" "$model" "bidirectional" "layer 1" -- \
  "$RNN_MODEL" run --stream "$model" "$tmp/in.f32" "$tmp/o.f32"
printf '\x00\x00\xc0\x7f' | cat - "$tmp/in.f32" | head -c 120 >"$tmp/nan.f32"
expect_fail "run: NaN in the input" "$tmp/nan.f32" "not finite" -- \
  "$RNN_MODEL" run "$model" "$tmp/nan.f32" "$tmp/o.f32"

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all rnn-model command-line checks passed"
