#!/usr/bin/env bash
# gst-rnn set-up on a fresh Debian 12 machine.
#   tools/setup.sh demo   install, build, run digits.rnn on the bundled recordings (and the microphone
#                         when there is one)
#   tools/setup.sh test   install, build with warnings as errors, run every test (also under
#                         AddressSanitizer and UndefinedBehaviorSanitizer)
#   tools/setup.sh deps   install only
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential meson ninja-build pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libopenblas-dev portaudio19-dev libasound2-plugins alsa-utils
  python3 python3-numpy python3-torch python3-torchaudio python3-gi gir1.2-gstreamer-1.0
  gstreamer1.0-pocketsphinx espeak-ng sox
  # voices for the synthetic training digits (models/synth_digits.py)
  flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
)

install_deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build() {
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
  ninja -C "$dir"
}

case "${1:-}" in
  deps)
    install_deps
    ;;
  demo)
    install_deps
    build build
    exec tools/demo.sh
    ;;
  test)
    install_deps
    build build --werror
    build build-sanitize --werror -Dbuildtype=debugoptimized -Db_sanitize=address,undefined
    exec tools/run-tests.sh
    ;;
  *)
    echo "usage: tools/setup.sh demo|test|deps" >&2
    exit 2
    ;;
esac
