#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""rnnfeatures against torchaudio.compliance.kaldi (Kaldi's fbank and MFCC) on real recordings.

Real FSDD recordings (8 kHz, 16-bit, five speakers) go through a real pipeline,
    filesrc ! wavparse [! audioconvert ! F32LE] ! rnnfeatures ... ! appsink
and the frames must equal torchaudio.compliance.kaldi.fbank / .mfcc with the same options
(dither=0, energy_floor=0 as the element's defaults) on the same samples.

Error measure: max over all frames and values of |got - ref| / max(|ref|, 1). Relative for large
values, absolute below 1: log energies and cepstra cross zero, where a pure relative error is
meaningless. Two references per case:
  - torchaudio as users run it (float32): tolerance 1e-3. Its mel banks and DCT matrix are built
    in float32 whatever the input's dtype, so MFCCs differ from exact values by up to ~5e-4 (the
    lifter multiplies high cepstra by up to 12);
  - torchaudio with float64 as the default dtype and a float64 waveform, i.e. Kaldi's formulas
    computed exactly: tolerance 1e-5 (the element computes in double and outputs float32).

Sliding-window CMN (cmn-window, min-cmn-window, cmn-center, norm-vars) is checked against
torchaudio.functional.sliding_window_cmn, Kaldi's apply-cmvn-sliding, applied to torchaudio's
features (then add-deltas, Kaldi's order). The same tolerances hold: the normalised values are
near 0, where the measure is absolute.

VTLN (vtln-warp, vtln-low, vtln-high): Kaldi's piecewise-linear warp of the mel bins against
torchaudio's vtln_warp, vtln_low, vtln_high, for warps 0.85, 0.9, 1.1 and 1.15 (fbank and MFCC)
and knees other than the defaults (a positive and a negative vtln-high), same tolerances. So that
a warp the element ignored cannot pass, the unwarped features must differ from each warped
reference by more than WARP_EFFECT.

Also checks frame counts (snip-edges true and false), timestamps (frame m at m * frame-shift) and
deltas against torchaudio.functional.compute_deltas (win_length=5, Kaldi's window 2). Kaldi's
delta-delta clamps the ORIGINAL frames at the edges, which equals compute_deltas applied twice to
the features padded by 4 replicated frames on each side, cropped back.

The sample rate (sample-frequency): a model trained by tools/rnn-train --rate 8000 stores
features.sample-frequency=8000; `decodebin ! audioconvert ! audioresample ! rnnfeatures model=M`
then negotiates 8000 Hz for 8, 16 and 44.1 kHz copies of the same recordings (made here with
audioresample ! wavenc), the frame count follows the duration, and rnninfer gives the same labels;
without audioresample a 16 kHz file fails negotiation instead of giving wrong features.

Run by meson (suite conformance) with GST_PLUGIN_PATH pointing at the build; exit 77 (skip) when
the data set is absent.
"""
import math
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

import torch  # noqa: E402
import torchaudio.compliance.kaldi as kaldi  # noqa: E402
import torchaudio.functional as taf  # noqa: E402

TOLERANCE = 1e-3         # against torchaudio in float32
STRICT_TOLERANCE = 1e-5  # against torchaudio in float64
WARPS = [0.85, 0.9, 1.1, 1.15]
WARP_EFFECT = 0.01       # least difference a warp must make (100 x TOLERANCE)
FILES = ["0_george_5.wav", "3_jackson_12.wav", "5_nicolas_20.wav", "7_theo_33.wav",
         "9_yweweler_41.wav"]

failures = []
worst = {}


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return rate, data


def write_wav(path, rate, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


def run_pipeline(path, props, f32=False):
    """Frames (T x N float32) and their PTS (ns) from rnnfeatures on the file."""
    convert = "audioconvert ! audio/x-raw,format=F32LE ! " if f32 else ""
    desc = ("filesrc location=\"%s\" ! wavparse ! %srnnfeatures name=f %s ! "
            "appsink name=sink sync=false" % (path, convert, props))
    pipeline = Gst.parse_launch(desc)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    frames, pts, dim = [], [], None
    while True:
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            break
        if dim is None:
            s = sample.get_caps().get_structure(0)
            assert s.get_name() == "other/tensors", s.to_string()
            dim = int(s.get_value("dimensions").split(":")[0])
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        assert ok
        frames.append(np.frombuffer(bytes(info.data), dtype=np.float32).copy())
        buf.unmap(info)
        pts.append(buf.pts)
    msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is not None:
        err, dbg = msg.parse_error()
        raise RuntimeError("%s: %s (%s)" % (desc, err.message, dbg))
    if not frames:
        return np.zeros((0, 0), dtype=np.float32), pts
    out = np.stack(frames)
    assert out.shape[1] == dim, (out.shape, dim)
    return out, pts


def run_rate_pipeline(desc):
    """Runs desc (an rnnfeatures named f, ending in an appsink named sink) to EOS. Returns the
    frame count, the rate of f's input caps, the sample-frequency of its rnn-feature-settings
    event and the labels of the rnn-classification messages; raises RuntimeError on an error."""
    pipeline = Gst.parse_launch(desc)
    sink = pipeline.get_by_name("sink")
    f = pipeline.get_by_name("f")
    pipeline.set_state(Gst.State.PLAYING)
    frames, rate, event_rate = 0, None, None
    while True:
        sample = sink.emit("try-pull-sample", 10 * Gst.SECOND)
        if sample is None:
            break
        if rate is None:
            rate = f.get_static_pad("sink").get_current_caps().get_structure(0).get_value("rate")
            ev = f.get_static_pad("src").get_sticky_event(Gst.EventType.CUSTOM_DOWNSTREAM_STICKY, 0)
            event_rate = ev.get_structure().get_value("sample-frequency") if ev else None
        frames += 1
    bus = pipeline.get_bus()
    labels, error = [], None
    while True:
        msg = bus.pop_filtered(Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
        if msg is None:
            break
        st = msg.get_structure()
        if msg.type == Gst.MessageType.ERROR and error is None:
            err, dbg = msg.parse_error()
            error = "%s (%s)" % (err.message, dbg)
        elif st is not None and st.get_name() == "rnn-classification":
            labels.append(st.get_value("label"))
    pipeline.set_state(Gst.State.NULL)
    if error:
        raise RuntimeError("%s: %s" % (desc, error))
    return frames, rate, event_rate, labels


def resample_copy(src, dst, rate):
    """src at another rate, through audioresample ! wavenc (S16)."""
    desc = ("filesrc location=\"%s\" ! wavparse ! audioconvert ! audioresample ! "
            "audio/x-raw,format=S16LE,rate=%d ! wavenc ! filesink location=\"%s\"" % (src, rate, dst))
    pipeline = Gst.parse_launch(desc)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(30 * Gst.SECOND,
                                                Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS, desc


def check_sample_frequency(rec, tmp):
    """A model trained at 8 kHz stores the rate and accepts only it; audioresample converts."""
    import rnnfile
    build = os.environ.get("RNN_BUILD_ROOT", os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "..", "build"))
    train = os.path.join(build, "tools", "rnn-train")
    if not os.access(train, os.X_OK):
        failures.append("sample-frequency: no %s" % train)
        return
    # two digits of one speaker, training indices (5-49) only; test on indices 0-4
    manifest = os.path.join(tmp, "train.txt")
    with open(manifest, "w") as out:
        for d in ("0", "1"):
            for i in range(5, 25):
                out.write("%s\t%s\n" % (os.path.join(rec, "%s_jackson_%d.wav" % (d, i)), d))
    model = os.path.join(tmp, "d8.rnn")
    subprocess.run([train, "-q", "-a", "gru(16) dense(softmax)", "-e", "15", "--seed", "1",
                    "--rate", "8000", "-f", "kind=mfcc", manifest, model], check=True,
                   stdout=subprocess.DEVNULL)
    stored = rnnfile.read(model).meta.get("features.sample-frequency")
    print("rnn-train --rate 8000: features.sample-frequency = %r" % (stored,))
    if stored != 8000:
        failures.append("rnn-train --rate 8000 stored features.sample-frequency=%r" % (stored,))

    agree = total = 0
    for name in ["%s_jackson_%d.wav" % (d, i) for d in ("0", "1") for i in range(5)]:
        src = os.path.join(rec, name)
        n8 = len(read_wav(src)[1])
        labels = {}
        for rate in (8000, 16000, 44100):
            path = src
            if rate != 8000:
                path = os.path.join(tmp, "%d-%s" % (rate, name))
                resample_copy(src, path, rate)
            tail = ("filesrc location=\"%s\" ! decodebin ! audioconvert ! audioresample ! "
                    "rnnfeatures name=f " % path)
            case = "%s at %d Hz through audioresample ! rnnfeatures model=" % (name, rate)
            try:
                frames, got_rate, ev_rate, labs = run_rate_pipeline(
                    tail + "model=\"%s\" ! rnninfer model=\"%s\" ! appsink name=sink "
                    "sync=false" % (model, model))
            except RuntimeError as e:
                failures.append("%s: %s" % (case, e))
                labels[rate] = None
                continue
            labels[rate] = labs
            if got_rate != 8000 or ev_rate != 8000:
                failures.append("%s: negotiated %r Hz, settings event %r" % (case, got_rate, ev_rate))
            if len(labs) != 1:
                failures.append("%s: %d classifications" % (case, len(labs)))
            frames, got_rate, ev_rate, _ = run_rate_pipeline(
                tail + "sample-frequency=8000 ! appsink name=sink sync=false")
            # 25 ms windows every 10 ms at 8 kHz; the resampled copies may differ by a sample
            expected = 1 + (n8 - 200) // 80
            if got_rate != 8000 or ev_rate != 8000 or abs(frames - expected) > 1:
                failures.append("%s, sample-frequency=8000: %r Hz, event %r, %d frames (%d expected)"
                                % (case, got_rate, ev_rate, frames, expected))
        total += 1
        agree += labels[8000] == labels[16000] == labels[44100]
        print("  %-20s labels at 8 / 16 / 44.1 kHz: %s %s %s" % (name, labels[8000],
                                                                  labels[16000], labels[44100]))
    print("sample-frequency: %d of %d recordings get the same label at 8, 16 and 44.1 kHz"
          % (agree, total))
    if agree != total:
        failures.append("sample-frequency: only %d of %d recordings classified alike at 8, 16 "
                        "and 44.1 kHz" % (agree, total))

    # no converter: a 16 kHz file is refused (not-negotiated), never given 8 kHz features
    path = os.path.join(tmp, "16000-0_jackson_0.wav")
    try:
        run_pipeline(path, "model=\"%s\"" % model)
        failures.append("16 kHz file into rnnfeatures model=(8 kHz) without audioresample ran")
    except RuntimeError as e:
        if "not-negotiated" not in str(e):
            failures.append("16 kHz file without audioresample: unexpected error %s" % e)


def reference(fn, wav):
    """fn(waveform) computed by torchaudio in float32 and in float64 (see the top)."""
    out = []
    for dtype in (torch.float32, torch.float64):
        torch.set_default_dtype(dtype)
        try:
            out.append(fn(wav.to(dtype)).detach().numpy().astype(np.float64))
        finally:
            torch.set_default_dtype(torch.float32)
    return out


def max_error(got, ref):
    return float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1.0))) if ref.size else 0.0


def compare(name, got, fn, wav, pts=None, shift_ms=10.0):
    ref, ref64 = reference(fn, wav)
    if got.shape != ref.shape:
        failures.append("%s: shape %s, torchaudio %s" % (name, got.shape, ref.shape))
        print("FAIL %-50s shape %s vs %s" % (name, got.shape, ref.shape))
        return
    err, err64 = max_error(got, ref), max_error(got, ref64)
    case = name.split(" [")[0]
    w32, w64 = worst.get(case, (0.0, 0.0))
    worst[case] = (max(w32, err), max(w64, err64))
    status = "ok  " if err <= TOLERANCE and err64 <= STRICT_TOLERANCE else "FAIL"
    if err > TOLERANCE:
        failures.append("%s: max error %.3g > %g" % (name, err, TOLERANCE))
    if err64 > STRICT_TOLERANCE:
        failures.append("%s: max error vs float64 %.3g > %g" % (name, err64, STRICT_TOLERANCE))
    if pts is not None:
        expected = [round(m * shift_ms * 1e6) for m in range(len(pts))]
        if any(abs(p - e) > 1 for p, e in zip(pts, expected)):
            failures.append("%s: timestamps %s... expected %s..." % (name, pts[:3], expected[:3]))
            status = "FAIL"
    print("%s %-58s %4d x %-3d max error %.3g (float64: %.3g)"
          % (status, name, ref.shape[0], ref.shape[1] if ref.ndim > 1 else 0, err, err64))


def kaldi_deltas(feats, order):
    """Kaldi's add-deltas (window 2) from torchaudio.functional.compute_deltas, see the top."""
    x = feats.T.unsqueeze(0)  # (1, N, T)
    pad = 2 * order
    xp = torch.nn.functional.pad(x, (pad, pad), mode="replicate")
    outs = [feats]
    d = xp
    for _ in range(order):
        d = taf.compute_deltas(d, win_length=5)
        outs.append(d[0, :, pad:pad + feats.shape[0]].T)
    return torch.cat(outs, dim=1)


def main():
    data = os.environ.get("RNN_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                    "shared", "data"))
    rec = os.path.join(data, "fsdd", "recordings")
    if not os.path.isdir(rec):
        print("skip: no FSDD recordings at %s" % rec)
        return 77
    Gst.init(None)
    if Gst.ElementFactory.find("rnnfeatures") is None:
        print("FAIL: element rnnfeatures not found (GST_PLUGIN_PATH=%s)"
              % os.environ.get("GST_PLUGIN_PATH"))
        return 1

    windows = ["hamming", "hanning", "rectangular", "blackman", "hamming"]
    for i, name in enumerate(FILES):
        path = os.path.join(rec, name)
        rate, samples = read_wav(path)
        wav = torch.from_numpy(samples.astype(np.float64)).unsqueeze(0)
        common = dict(sample_frequency=rate, dither=0.0, energy_floor=0.0)
        tag = " [%s]" % name

        got, pts = run_pipeline(path, "")
        compare("fbank defaults" + tag, got, lambda x: kaldi.fbank(x, **common), wav, pts)

        got, pts = run_pipeline(path, "kind=mfcc")
        compare("mfcc defaults" + tag, got, lambda x: kaldi.mfcc(x, **common), wav, pts)

        got, pts = run_pipeline(path, "snip-edges=false")
        compare("fbank snip-edges=false" + tag, got,
                lambda x: kaldi.fbank(x, snip_edges=False, **common), wav, pts)

        got, pts = run_pipeline(path, "kind=mfcc snip-edges=false use-energy=true")
        compare("mfcc snip-edges=false use-energy" + tag, got,
                lambda x: kaldi.mfcc(x, snip_edges=False, use_energy=True, **common), wav, pts)

        w = windows[i]
        got, _ = run_pipeline(path, "window-type=%s" % w)
        compare("fbank window-type=%s" % w + tag, got,
                lambda x: kaldi.fbank(x, window_type=w, **common), wav)

        got, _ = run_pipeline(path, "use-energy=true raw-energy=false num-mel-bins=40 low-freq=64 "
                              "high-freq=-400 preemphasis-coefficient=0.9")
        compare("fbank use-energy raw-energy=false 40 bins 64..-400 Hz" + tag, got,
                lambda x: kaldi.fbank(x, use_energy=True, raw_energy=False, num_mel_bins=40,
                                      low_freq=64, high_freq=-400, preemphasis_coefficient=0.9,
                                      **common), wav)

        got, _ = run_pipeline(path, "use-power=false use-log-fbank=false remove-dc-offset=false "
                              "energy-floor=1.0 use-energy=true frame-length=32 frame-shift=16")
        compare("fbank magnitude, linear, dc kept, 32/16 ms" + tag, got,
                lambda x: kaldi.fbank(x, use_power=False, use_log_fbank=False,
                                      remove_dc_offset=False, use_energy=True, frame_length=32,
                                      frame_shift=16, sample_frequency=rate, dither=0.0,
                                      energy_floor=1.0), wav)

        got, _ = run_pipeline(path, "kind=mfcc num-mel-bins=30 num-ceps=20 cepstral-lifter=0 "
                              "round-to-power-of-two=false window-type=blackman")
        compare("mfcc 30 bins 20 ceps no lifter, FFT 200" + tag, got,
                lambda x: kaldi.mfcc(x, num_mel_bins=30, num_ceps=20, cepstral_lifter=0.0,
                                     round_to_power_of_two=False, window_type="blackman",
                                     **common), wav)

        got, pts = run_pipeline(path, "kind=mfcc deltas=2")
        compare("mfcc deltas=2 (add-deltas)" + tag, got,
                lambda x: kaldi_deltas(kaldi.mfcc(x, **common), 2), wav, pts)

        got, _ = run_pipeline(path, "deltas=1 snip-edges=false")

        def fbank_compute_deltas(x):
            fb = kaldi.fbank(x, snip_edges=False, **common)
            return torch.cat([fb, taf.compute_deltas(fb.T, win_length=5).T], dim=1)

        compare("fbank deltas=1 vs compute_deltas" + tag, got, fbank_compute_deltas, wav)

        got, _ = run_pipeline(path, "kind=mfcc", f32=True)
        compare("mfcc from F32 audio (x 32768)" + tag, got, lambda x: kaldi.mfcc(x, **common), wav)

        # VTLN: the warp of the mel bins (Kaldi's VtlnWarpFreq) for fbank and MFCC
        plain_fbank, _ = run_pipeline(path, "")
        plain_mfcc, _ = run_pipeline(path, "kind=mfcc")
        for warp in WARPS:
            for kind, fn, plain in (("fbank", kaldi.fbank, plain_fbank),
                                    ("mfcc", kaldi.mfcc, plain_mfcc)):
                got, pts = run_pipeline(path, "kind=%s vtln-warp=%g" % (kind, warp))

                def warped(x, fn=fn, warp=warp):
                    return fn(x, vtln_warp=warp, **common)

                compare("%s vtln-warp=%g" % (kind, warp) + tag, got, warped, wav, pts)
                effect = max_error(plain, reference(warped, wav)[1])
                worst_effect = worst.get("(least warp effect)", (math.inf, math.inf))
                worst["(least warp effect)"] = (min(worst_effect[0], effect), worst_effect[1])
                if effect <= WARP_EFFECT:
                    failures.append("%s vtln-warp=%g%s: the warp changes the features by only "
                                    "%.3g" % (kind, warp, tag, effect))
        # other knees: vtln-high positive (Hz) and negative (an offset from Nyquist, not from
        # high-freq: with high-freq=-200 the two readings differ)
        vlow, vhigh, warp = [(300, 3200, 0.9), (250, -1000, 1.12)][i % 2]
        got, _ = run_pipeline(path, "vtln-warp=%g vtln-low=%g vtln-high=%g num-mel-bins=30 "
                              "low-freq=40 high-freq=-200" % (warp, vlow, vhigh))
        compare("fbank vtln-warp vtln-low vtln-high, 30 bins, high-freq" + tag, got,
                lambda x: kaldi.fbank(x, vtln_warp=warp, vtln_low=vlow, vtln_high=vhigh,
                                      num_mel_bins=30, low_freq=40, high_freq=-200, **common),
                wav)
        got, _ = run_pipeline(path, "kind=mfcc vtln-warp=%g vtln-low=%g vtln-high=%g "
                              "snip-edges=false use-energy=true" % (warp, vlow, vhigh))
        compare("mfcc vtln-warp vtln-low vtln-high, no snip, energy" + tag, got,
                lambda x: kaldi.mfcc(x, vtln_warp=warp, vtln_low=vlow, vtln_high=vhigh,
                                     snip_edges=False, use_energy=True, **common), wav)

        # Sliding-window CMN (Kaldi's apply-cmvn-sliding) against
        # torchaudio.functional.sliding_window_cmn on torchaudio's features. FSDD utterances are
        # 0.3 to 0.9 s (fewer than min-cmn-window=100 frames): Kaldi's defaults give utterance CMN.
        got, pts = run_pipeline(path, "cmn-window=600")
        compare("fbank cmn-window=600 min 100 (utterance CMN)" + tag, got,
                lambda x: taf.sliding_window_cmn(kaldi.fbank(x, **common), cmn_window=600,
                                                 min_cmn_window=100), wav, pts)

        got, pts = run_pipeline(path, "kind=mfcc cmn-window=20 min-cmn-window=5")
        compare("mfcc cmn-window=20 min 5 (sliding)" + tag, got,
                lambda x: taf.sliding_window_cmn(kaldi.mfcc(x, **common), cmn_window=20,
                                                 min_cmn_window=5), wav, pts)

        got, _ = run_pipeline(path, "cmn-window=31 cmn-center=true snip-edges=false")
        compare("fbank cmn-window=31 cmn-center" + tag, got,
                lambda x: taf.sliding_window_cmn(kaldi.fbank(x, snip_edges=False, **common),
                                                 cmn_window=31, center=True), wav)

        got, _ = run_pipeline(path, "kind=mfcc use-energy=true cmn-window=24 min-cmn-window=10 "
                              "norm-vars=true")
        compare("mfcc use-energy cmn-window=24 min 10 norm-vars" + tag, got,
                lambda x: taf.sliding_window_cmn(kaldi.mfcc(x, use_energy=True, **common),
                                                 cmn_window=24, min_cmn_window=10,
                                                 norm_vars=True), wav)

        got, _ = run_pipeline(path, "kind=mfcc cmn-window=600 norm-vars=true")
        compare("mfcc cmn-window=600 norm-vars (utterance CMVN)" + tag, got,
                lambda x: taf.sliding_window_cmn(kaldi.mfcc(x, **common), cmn_window=600,
                                                 norm_vars=True), wav)

        got, pts = run_pipeline(path, "kind=mfcc cmn-window=20 min-cmn-window=5 deltas=2")
        compare("mfcc cmn-window=20 min 5 then deltas=2" + tag, got,
                lambda x: kaldi_deltas(taf.sliding_window_cmn(kaldi.mfcc(x, **common),
                                                              cmn_window=20, min_cmn_window=5),
                                       2), wav, pts)

    # model=: every setting from the model's features.* metadata (as rnntrain writes it).
    sys.path.insert(0, os.path.join(os.environ.get("RNN_SOURCE_ROOT", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tools"))
    import rnnfile
    path = os.path.join(rec, FILES[1])
    rate, samples = read_wav(path)
    wav = torch.from_numpy(samples.astype(np.float64)).unsqueeze(0)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "m.rnn")
        m = rnnfile.Model(26).add_layer("gru", 4).set_head("softmax", 2).init_zeros()
        m.meta.update({"features.kind": "mfcc", "features.deltas": 1,
                       "features.window-type": "hamming", "features.snip-edges": 0,
                       "features.num-mel-bins": 25, "features.frame-shift": 10.0,
                       "features.feature-size": 26})
        rnnfile.write(m, model_path)
        got, pts = run_pipeline(path, "model=\"%s\"" % model_path)
        compare("model= (mfcc, deltas=1, hamming, 25 bins, no snip)", got,
                lambda x: kaldi_deltas(kaldi.mfcc(x, window_type="hamming", num_mel_bins=25,
                                                  snip_edges=False, sample_frequency=rate,
                                                  dither=0.0, energy_floor=0.0), 1), wav, pts)

    with tempfile.TemporaryDirectory() as tmp:
        check_sample_frequency(rec, tmp)

    # Another rate: 22050 Hz gives fractional window and shift lengths (551.25, 220.5 samples),
    # which Kaldi truncates.
    rate, samples = read_wav(os.path.join(rec, FILES[0]))
    up = np.interp(np.arange(0, len(samples), rate / 22050.0), np.arange(len(samples)),
                   samples.astype(np.float64))
    up = np.clip(np.round(up), -32768, 32767)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "22050.wav")
        write_wav(path, 22050, up)
        wav = torch.from_numpy(up).unsqueeze(0)
        common = dict(sample_frequency=22050, dither=0.0, energy_floor=0.0)
        got, _ = run_pipeline(path, "kind=mfcc num-mel-bins=40 snip-edges=false")
        compare("mfcc 40 bins at 22050 Hz snip-edges=false", got,
                lambda x: kaldi.mfcc(x, num_mel_bins=40, snip_edges=False, **common), wav)
        got, _ = run_pipeline(path, "num-mel-bins=80 high-freq=8000")
        compare("fbank 80 bins at 22050 Hz up to 8 kHz", got,
                lambda x: kaldi.fbank(x, num_mel_bins=80, high_freq=8000, **common), wav)

    print("\nworst error per case: vs torchaudio float32 (tolerance %g), float64 (tolerance %g)"
          % (TOLERANCE, STRICT_TOLERANCE))
    least_effect = worst.pop("(least warp effect)", None)
    if least_effect is not None:
        print("  %-58s %.3g  (must exceed %g)" % ("least change by a vtln-warp", least_effect[0],
                                                  WARP_EFFECT))
    for case, (err, err64) in sorted(worst.items()):
        print("  %-58s %.3g  %.3g" % (case, err, err64))
    if failures:
        print("\n%d FAILURES:" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all %d cases within tolerance" % len(worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
