#!/usr/bin/env bash
# portaudiosrc end to end with gst-launch-1.0 and the full plugin, on a virtual microphone that
# "speaks" a real FSDD recording: ALSA's `file` plugin, through an ALSA_CONFIG_PATH configuration
# (which replaces the system one, so it includes alsa.conf first), captures the bytes of a raw file.
# The plug in front converts formats (F32 asked for, S16_LE in the file), as for a real microphone;
# as the null slave has no clock, a converting plug drops frames read faster than its buffer, so
# F32 is checked on a second device whose file holds the recording as float32 (no plug).
#
# What is checked: the recording comes out of `portaudiosrc ! filesink` byte for byte, and through
# wavenc as the same samples; device-name picks a device and a wrong one is an error naming it and
# listing the devices; GstDeviceMonitor lists the devices through portaudiodeviceprovider; and
# portaudiosrc ! rnnfeatures ! rnninfer with models/digits.rnn recognises the spoken "seven".
#
# Environment: GST_PLUGIN_PATH (the build), RNN_DATA (../shared/data), RNN_SOURCE_ROOT.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -uo pipefail

data=${RNN_DATA:-$(dirname "$0")/../../../shared/data}
wav=$data/fsdd/recordings/7_theo_3.wav
if [ ! -f "$wav" ]; then
  echo "SKIP: $wav not found"
  exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then
    echo "ok      $what"; passed=$((passed + 1))
  else
    echo "FAILED  $what"; failed=$((failed + 1))
  fi
}

# The recording's samples, without the WAV header.
/usr/bin/python3 - "$wav" "$tmp/in.raw" "$tmp/in.f32" <<'PY'
import sys, wave
w = wave.open(sys.argv[1])
assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000), w.getparams()
frames = w.readframes(w.getnframes())
open(sys.argv[2], "wb").write(frames)
import array
samples = array.array("h", frames)
if sys.byteorder != "little":
    samples.byteswap()
floats = array.array("f", (x / 32768.0 for x in samples))
if sys.byteorder != "little":
    floats.byteswap()
open(sys.argv[3], "wb").write(floats.tobytes())
PY
printf 'second microphone' > "$tmp/in2.raw"
head -c 16000 /dev/zero >> "$tmp/in2.raw"

pcm() {  # pcm NAME INFILE
  printf 'pcm.%s { type plug; slave { format S16_LE; pcm { type file; slave.pcm "null"; file "/dev/null"; infile "%s"; format "raw" } } }\n' "$1" "$2"
}
{
  echo '</usr/share/alsa/alsa.conf>'
  pcm '!default' "$tmp/in.raw"
  pcm rnn_second_mic "$tmp/in2.raw"
  printf 'pcm.rnn_float_mic { type file; slave.pcm "null"; file "/dev/null"; infile "%s"; format "raw" }\n' "$tmp/in.f32"
} > "$tmp/asoundrc"
export ALSA_CONFIG_PATH=$tmp/asoundrc JACK_NO_START_SERVER=1
# See tests/meson.build: the null PCM's unbounded buffers make malloc perturbation very slow.
export MALLOC_PERTURB_=0

bytes=$(stat -c %s "$tmp/in.raw")
buffers=$((bytes / 160))          # 10 ms buffers of 80 samples; the file's end is not reached
want=$((buffers * 160))

# 1. Byte for byte through filesink; EOS from num-buffers.
gst-launch-1.0 -q portaudiosrc num-buffers=$buffers latency-time=10000 \
  ! audio/x-raw,format=S16LE,rate=8000,channels=1 ! filesink location="$tmp/out.raw" \
  > "$tmp/launch1.log" 2>&1
check "gst-launch exits 0 at EOS (num-buffers=$buffers)" test $? -eq 0
check "captured $want bytes" test "$(stat -c %s "$tmp/out.raw" 2>/dev/null)" = "$want"
check "captured bytes equal the recording's first $want bytes" \
  cmp -s -n "$want" "$tmp/in.raw" "$tmp/out.raw"

# 2. F32 at 8 kHz through wavenc: the same samples (x / 32768).
gst-launch-1.0 -q portaudiosrc device-name=rnn_float_mic num-buffers=$buffers \
  ! audio/x-raw,format=F32LE,rate=8000,channels=1 ! wavenc ! filesink location="$tmp/out.wav" \
  > "$tmp/launch2.log" 2>&1
check "F32LE capture to WAV exits 0" test $? -eq 0
check "the WAV holds the recording's samples as float32" /usr/bin/python3 - "$tmp/in.raw" "$tmp/out.wav" "$want" <<'PY'
import sys, numpy as np
raw = np.fromfile(sys.argv[1], dtype="<i2")[: int(sys.argv[3]) // 2]
data = open(sys.argv[2], "rb").read()
pos = data.index(b"data") + 8        # RIFF header, then the data chunk
got = np.frombuffer(data[pos:], dtype="<f4")
sys.exit(0 if got.size == raw.size and np.array_equal(got, raw / np.float32(32768)) else 1)
PY

# 3. device-name picks the device (a part of its name, any case).
gst-launch-1.0 -q portaudiosrc device-name=SECOND_MIC num-buffers=2 \
  ! audio/x-raw,format=S16LE,rate=8000,channels=1 ! filesink location="$tmp/out2.raw" \
  > "$tmp/launch3.log" 2>&1
check "device-name=SECOND_MIC captures rnn_second_mic" \
  cmp -s -n 17 "$tmp/in2.raw" "$tmp/out2.raw"

# 4. A device that does not exist: an error naming it and listing the devices, non-zero exit.
gst-launch-1.0 portaudiosrc device-name=no-such-microphone ! fakesink > "$tmp/launch4.log" 2>&1
status=$?
check "device-name=no-such-microphone fails" test $status -ne 0
check "the error names no-such-microphone" grep -q '"no-such-microphone"' "$tmp/launch4.log"
check "the error lists the input devices" grep -q '"rnn_second_mic"' "$tmp/launch4.log"

# 5. GstDeviceMonitor (what gst-device-monitor-1.0 uses) sees both through portaudiodeviceprovider.
check "GstDeviceMonitor lists the PortAudio devices as Audio/Source" /usr/bin/python3 - <<'PY'
import sys, gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
monitor = Gst.DeviceMonitor.new()
monitor.add_filter("Audio/Source", None)
monitor.start()
names = {}
for d in monitor.get_devices():
    props = d.get_properties()
    if props and props.get_value("device.api") == "portaudio":
        names[d.get_display_name()] = d
monitor.stop()
print("  portaudio devices:", sorted(names))
ok = {"default", "rnn_second_mic"} <= set(names)
if ok:
    element = names["rnn_second_mic"].create_element(None)
    ok = element.get_factory().get_name() == "portaudiosrc" \
        and element.get_property("device-name") == "rnn_second_mic"
sys.exit(0 if ok else 1)
PY

# 6. Live recognition from the virtual microphone: the shipped digit classifier hears "seven".
model=${RNN_SOURCE_ROOT:-$(dirname "$0")/../..}/models/digits.rnn
if [ -f "$model" ]; then
  gst-launch-1.0 -m portaudiosrc num-buffers=$buffers ! audio/x-raw,format=S16LE,rate=8000,channels=1 \
    ! rnnfeatures model="$model" ! rnninfer model="$model" ! fakesink > "$tmp/launch6.log" 2>&1
  check "portaudiosrc ! rnnfeatures ! rnninfer (digits.rnn) says seven" \
    grep -q 'rnn-classification, label=(string)seven' "$tmp/launch6.log"

  # 7. A continuous live stream: ten digits by the five speakers, 1 s apart, over one steady
  # background (white noise at about -60 dBFS through the whole stream, as a room would give):
  # the voice-activity rule must cut ten utterances, each classified on its own, with the
  # timestamp of its onset.
  /usr/bin/python3 - "$data/fsdd/recordings" "$tmp/stream.raw" "$tmp/stream.expected" <<'PY'
import sys, wave
import numpy as np
folder, out, expected = sys.argv[1:4]
names = ["7_theo_3", "3_jackson_2", "9_nicolas_1", "0_george_4", "5_yweweler_2", "2_theo_1",
         "8_jackson_3", "6_nicolas_2", "4_george_1", "1_yweweler_3"]
words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
parts, onsets, t = [], [], 0
for n in names:
    parts.append(np.zeros(8000))
    t += 8000
    w = wave.open("%s/%s.wav" % (folder, n))
    x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    onsets.append((words[int(n[0])], t / 8000.0))
    parts.append(x)
    t += len(x)
parts.append(np.zeros(12000))
a = np.concatenate(parts) + np.random.default_rng(1).standard_normal(t + 12000) * 30
open(out, "wb").write(np.clip(a, -32768, 32767).astype("<i2").tobytes())
open(expected, "w").write("".join("%s %.3f\n" % o for o in onsets))
PY
  { echo '</usr/share/alsa/alsa.conf>'; pcm '!default' "$tmp/stream.raw"; } > "$tmp/asoundrc-stream"
  ALSA_CONFIG_PATH=$tmp/asoundrc-stream gst-launch-1.0 -m portaudiosrc \
    num-buffers=$(( $(stat -c %s "$tmp/stream.raw") / 160 )) \
    ! audio/x-raw,format=S16LE,rate=8000,channels=1 \
    ! rnnfeatures model="$model" ! rnninfer model="$model" ! fakesink > "$tmp/launch7.log" 2>&1
  results_match() {  # the ten labels in order, each onset within 100 ms
    /usr/bin/python3 - "$tmp/launch7.log" "$tmp/stream.expected" <<'PY'
import re, sys
got = re.findall(r"rnn-classification, label=\(string\)(\w+), .*?timestamp=\(guint64\)(\d+)",
                 open(sys.argv[1]).read())
want = [l.split() for l in open(sys.argv[2])]
print("  live stream:", " ".join("%s@%.2f" % (w, int(t) / 1e9) for w, t in got))
ok = len(got) == len(want) and all(
    gw == ww and abs(int(gt) / 1e9 - float(wt)) <= 0.1 for (gw, gt), (ww, wt) in zip(got, want))
sys.exit(0 if ok else 1)
PY
  }
  check "a live stream of ten digits over steady background: ten results, right labels and onsets" \
    results_match
else
  echo "skip    live recognition: $model not found"
fi

if [ "$failed" -ne 0 ]; then
  for f in "$tmp"/launch*.log; do echo "== $f"; grep -v '^ALSA lib\|ack\|Cannot connect' "$f" | tail -5; done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
