#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loading the plugin runs OpenBLAS single-threaded, unless the user chose a thread count.

Inference products are small; OpenBLAS's spinning threads cost 2-13x the CPU per file on a busy
machine (plugin/plugin.c). Checked in a fresh process each: with no OPENBLAS_NUM_THREADS the
library reports 1 thread once an rnn element exists; with OPENBLAS_NUM_THREADS=2 it keeps 2.
Environment (set by meson): GST_PLUGIN_PATH.
"""
import ctypes
import os
import subprocess
import sys

CHILD = r'''
import ctypes, sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
if Gst.ElementFactory.make("rnninfer") is None:
    print("no rnninfer element"); sys.exit(2)
lib = ctypes.CDLL("libopenblas.so.0")
print(lib.openblas_get_num_threads())
'''


def threads(extra_env):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update(extra_env)
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print("child failed:", r.stdout, r.stderr)
        return None
    return int(r.stdout.strip().splitlines()[-1])


def main():
    try:
        ctypes.CDLL("libopenblas.so.0")
    except OSError:
        print("SKIP: the engine is not linked against OpenBLAS here")
        return 77
    failures = 0
    got = threads({})
    if got != 1:
        print("FAIL: with OPENBLAS_NUM_THREADS unset, OpenBLAS runs %s threads after the plugin loaded, not 1" % got)
        failures += 1
    else:
        print("ok   the plugin runs OpenBLAS single-threaded")
    got = threads({"OPENBLAS_NUM_THREADS": "2"})
    if got != 2:
        print("FAIL: OPENBLAS_NUM_THREADS=2 gave %s threads: the user's choice was overridden" % got)
        failures += 1
    else:
        print("ok   OPENBLAS_NUM_THREADS=2 is kept")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
