#!/usr/bin/env python3
"""sensorparse end to end on real sensor data: the first BasicMotions_TEST instance (a smartwatch's
3-axis accelerometer and gyroscope, 10 Hz, 100 samples), converted to CSV by models/uea_to_csv.py,
goes through `filesrc ! sensorparse rate=10 ! appsink` and must come out as 100 samples of 6
channels, equal to the .ts values as float32, timestamped 0.1 s apart.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import os
import subprocess
import sys
import tempfile

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

SOURCE_ROOT = os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("RNN_DATA", os.path.join(SOURCE_ROOT, "..", "shared", "data"))
TS = os.path.join(DATA, "uea", "BasicMotions_TEST.ts")

failures = []
passes = []


def check(cond, what):
    print(("ok      " if cond else "FAILED  ") + what)
    (passes if cond else failures).append(what)


def expected_values():
    """The first instance straight from the .ts file: (100, 6) float32."""
    with open(TS, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    first = lines[lines.index("@data") + 1]
    dims = first.split(":")[:-1]
    return np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float64).T.astype(
        np.float32)


def run(description):
    """Runs the pipeline to EOS; returns (caps, list of (pts, duration, offset, float32 array)),
    the warnings and the errors posted."""
    pipeline = Gst.parse_launch(description)
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    buffers, caps = [], None
    warnings, errors = [], []
    while True:
        sample = sink.emit("try-pull-sample", 5 * Gst.SECOND)
        if sample is None:
            break
        caps = sample.get_caps()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        data = np.frombuffer(bytes(info.data), dtype="<f4")
        buf.unmap(info)
        buffers.append((buf.pts, buf.duration, buf.offset, data))
    while True:
        msg = bus.pop_filtered(Gst.MessageType.WARNING | Gst.MessageType.ERROR)
        if msg is None:
            break
        if msg.type == Gst.MessageType.WARNING:
            warnings.append(msg.parse_warning()[0].message)
        else:
            errors.append(msg.parse_error()[0].message)
    pipeline.set_state(Gst.State.NULL)
    return caps, buffers, warnings, errors


def main():
    if not os.path.exists(TS):
        print(f"SKIP: {TS} not found")
        return 77
    Gst.init(None)
    if Gst.ElementFactory.find("sensorparse") is None:
        print("FAILED: sensorparse not found (GST_PLUGIN_PATH?)")
        return 1

    expected = expected_values()
    check(expected.shape == (100, 6), f"first BasicMotions instance is 100 x 6 ({expected.shape})")

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(SOURCE_ROOT, "models", "uea_to_csv.py"), TS,
                        tmp], check=True, capture_output=True, text=True)
        csv = os.path.join(tmp, "BasicMotions_TEST_0000.csv")
        with open(os.path.join(tmp, "all.tsv"), encoding="utf-8") as f:
            label = f.readline().rstrip("\n").split("\t")[1]
        check(label == "Standing", f"instance 0 is labelled Standing ({label})")

        # Default filesrc blocks (4096 bytes) and tiny ones (37 bytes: every line split).
        for blocksize in (4096, 37):
            caps, buffers, warnings, errors = run(
                f"filesrc location={csv} blocksize={blocksize} ! sensorparse rate=10 ! "
                "appsink name=sink sync=false")
            tag = f"blocksize {blocksize}:"
            check(not errors and not warnings, f"{tag} no warnings or errors {warnings + errors}")
            s = caps.get_structure(0) if caps else None
            check(s is not None and s.get_name() == "audio/x-raw"
                  and s.get_value("format") == "F32LE" and s.get_value("rate") == 10
                  and s.get_value("channels") == 6, f"{tag} caps {caps.to_string() if caps else None}")
            values = np.concatenate([b[3] for b in buffers]) if buffers else np.zeros(0, np.float32)
            check(values.size == 600, f"{tag} 600 values ({values.size})")
            if values.size == 600:
                got = values.reshape(100, 6)
                check(np.array_equal(got, expected),
                      f"{tag} values equal the .ts file (max diff "
                      f"{np.max(np.abs(got - expected)):.3g})")
            # Timestamps from the sample count: sample n at n / 10 s, contiguous.
            n = 0
            good = True
            for pts, duration, offset, data in buffers:
                count = data.size // 6
                good &= pts == n * Gst.SECOND // 10 and offset == n
                good &= pts + duration == (n + count) * Gst.SECOND // 10
                n += count
            check(good and n == 100, f"{tag} timestamps n/10 s over {len(buffers)} buffers")

        # A corrupted line is reported with its line number (header = line 1) and skipped.
        bad = os.path.join(tmp, "bad.csv")
        with open(csv, encoding="utf-8") as f:
            lines = f.read().splitlines()
        lines[5] = lines[5].replace(",", ",oops,", 1)
        with open(bad, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        caps, buffers, warnings, errors = run(
            f"filesrc location={bad} ! sensorparse rate=10 ! appsink name=sink sync=false")
        values = np.concatenate([b[3] for b in buffers]).reshape(-1, 6)
        check(len(warnings) == 1 and "line 6" in warnings[0] and "\"oops\"" in warnings[0],
              f"corrupted line 6 warned about: {warnings}")
        check(values.shape == (99, 6) and np.array_equal(values, np.delete(expected, 4, axis=0)),
              "the other 99 samples come through unchanged")

        caps, buffers, warnings, errors = run(
            f"filesrc location={bad} ! sensorparse rate=10 on-error=stop ! "
            "appsink name=sink sync=false")
        # The first error is sensorparse's (filesrc follows with "Internal data stream error").
        check(errors and "line 6" in errors[0] and "\"oops\"" in errors[0],
              f"on-error=stop: error {errors}")

    print(f"{len(passes)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
