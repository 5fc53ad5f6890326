# shellcheck shell=bash
# Sourced by the recipes: trains an ensemble's members one after the other and merges them into one
# model file with tools/rnn-ensemble.py (one member: the member itself).
#   train_ensemble OUTPUT MEMBERS MANIFEST COMMAND...
# MEMBERS holds one line of extra options per member; member n runs
#   COMMAND <its options> MANIFEST $WORK/<OUTPUT's name>.member<n>.rnn
# and is kept there (member_prefix OUTPUT gives the path without the n.rnn).
# SPDX-License-Identifier: LGPL-2.1-or-later

member_prefix() { # MODEL: member N of MODEL's ensemble is kept as PREFIX$N.rnn
  echo "$WORK/$(basename "${1%.rnn}").member"
}

train_ensemble() { # OUTPUT MEMBERS MANIFEST COMMAND...
  local output=$1 member_lines=$2 manifest=$3 members=() n=0 options prefix
  shift 3
  prefix=$(member_prefix "$output")
  rm -f "$prefix"*.rnn
  while read -r options; do
    [ -n "$options" ] || continue
    local member=$prefix$n.rnn
    # shellcheck disable=SC2086  # the options are words
    "$@" $options "$manifest" "$member" < /dev/null
    members+=("$member")
    n=$((n + 1))
  done <<< "$member_lines"
  if [ "$n" -eq 1 ]; then
    cp "${members[0]}" "$output.tmp" && mv "$output.tmp" "$output"
  else
    /usr/bin/python3 tools/rnn-ensemble.py "$output" "${members[@]}"
  fi
}
