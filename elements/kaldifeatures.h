/* gst-rnn: a streaming, Kaldi-compatible filterbank and MFCC extractor, Kaldi's add-deltas and
 * apply-cmvn-sliding.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * No GStreamer objects here (only GstFFT inside the .c file), so the numbers can be tested on
 * their own. The extractor takes samples one at a time and emits each frame as soon as the samples
 * it needs are present; everything it needs is allocated by kaldi_features_new(), nothing per
 * frame.
 *
 * Numbers equal Kaldi's compute-fbank-feats / compute-mfcc-feats (and torchaudio.compliance.kaldi)
 * for the same options: the frame geometry (snip-edges, reflection at the edges when it is off),
 * dither, DC removal, log energy (before or after the window), pre-emphasis, the window functions,
 * the FFT of the zero-padded frame, power or magnitude spectrum, the triangular mel filterbank
 * (mel = 1127 ln(1 + f / 700)), the log floor (FLT_EPSILON), the orthonormal DCT-II, the cepstral
 * lifter and the energy replacing C0, and Kaldi's VTLN warp of the mel bins (--vtln-warp,
 * --vtln-low, --vtln-high: the piecewise-linear VtlnWarpFreq of mel-computations.cc).
 */
#ifndef GST_RNN_KALDI_FEATURES_H
#define GST_RNN_KALDI_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  KALDI_KIND_FBANK = 0, /* log mel filterbank energies (compute-fbank-feats) */
  KALDI_KIND_MFCC = 1   /* mel-frequency cepstral coefficients (compute-mfcc-feats) */
} KaldiKind;

typedef enum {
  KALDI_WINDOW_POVEY = 0,   /* (0.5 - 0.5 cos(2 pi n / (N - 1)))^0.85: Kaldi's default */
  KALDI_WINDOW_HAMMING = 1,
  KALDI_WINDOW_HANNING = 2,
  KALDI_WINDOW_RECTANGULAR = 3,
  KALDI_WINDOW_BLACKMAN = 4 /* generalised, with blackman_coeff */
} KaldiWindowType;

/* Kaldi's option names, in Kaldi's units (milliseconds, Hz). */
typedef struct {
  KaldiKind kind;
  double sample_rate;
  double frame_length_ms;
  double frame_shift_ms;
  KaldiWindowType window_type;
  double blackman_coeff;
  double preemphasis_coefficient;
  int remove_dc_offset;
  int snip_edges;
  int round_to_power_of_two;
  double dither;          /* standard deviation of the Gaussian noise added per frame; 0 = none */
  uint64_t dither_seed;   /* the noise restarts from this seed at every reset */
  double low_freq;
  double high_freq;       /* <= 0: offset from the Nyquist frequency */
  int num_mel_bins;
  int num_ceps;           /* MFCC only */
  int use_energy;
  int raw_energy;
  int use_log_fbank;      /* fbank only (MFCC always takes the log of power energies) */
  int use_power;          /* fbank only */
  double energy_floor;
  double cepstral_lifter; /* MFCC only; 0 = no liftering */
  /* Vocal tract length normalisation (Kaldi's MelBanks): with vtln_warp != 1 the edges and
   * centres of the mel triangles move along Kaldi's piecewise-linear warp, f -> f / vtln_warp
   * in the middle and linear to low_freq and high_freq at the ends (which stay put), the knees
   * at vtln_low * max(1, warp) and vtln_high * min(1, warp). A warp above 1 moves the bins down,
   * so a formant lands in a higher bin: the features of a speaker whose formants are that much
   * higher (a shorter vocal tract); below 1, the reverse. With a warp, Kaldi requires
   * low_freq < vtln_low < vtln_high < high_freq (vtln_high <= 0: offset from the Nyquist
   * frequency, not from high_freq). */
  double vtln_warp;       /* > 0; 1 = no warp */
  double vtln_low;        /* Hz */
  double vtln_high;       /* Hz; <= 0: offset from the Nyquist frequency */
} KaldiFeatureOptions;

/* Kaldi's defaults (compute-fbank-feats), except dither = 0 and sample_rate = 16000; no VTLN warp
 * (vtln_warp 1, vtln_low 100, vtln_high -500 as Kaldi's). */
void kaldi_feature_options_init(KaldiFeatureOptions *o);

/* Kaldi's frame geometry: samples per window and per shift, truncated as Kaldi does
 * (int(rate * ms * 0.001)), and the FFT size (the window rounded up to a power of two, or the
 * window itself). */
int kaldi_window_samples(const KaldiFeatureOptions *o);
int kaldi_shift_samples(const KaldiFeatureOptions *o);
int kaldi_padded_window_samples(const KaldiFeatureOptions *o);

/* Values per frame that options give: num_mel_bins (+1 with use_energy) for fbank, num_ceps for
 * MFCC. */
int kaldi_feature_dim(const KaldiFeatureOptions *o);

/* Called for each finished frame, in order: index counts frames from 0 since the last reset;
 * frame holds kaldi_feature_dim() floats, valid during the call. A non-zero return stops the
 * push or finish that called it and is returned from it. */
typedef int (*KaldiFrameFunc)(void *user, uint64_t index, const float *frame);

typedef struct KaldiFeatures KaldiFeatures;

/* NULL, with a message naming the option and value in err, when the options are inconsistent
 * (e.g. a window shorter than 2 samples at this rate, num_ceps > num_mel_bins, low_freq at or
 * above Nyquist, an empty mel bin). */
KaldiFeatures *kaldi_features_new(const KaldiFeatureOptions *o, char *err, size_t errlen);
void kaldi_features_free(KaldiFeatures *f);
const KaldiFeatureOptions *kaldi_features_options(const KaldiFeatures *f);
int kaldi_features_dim(const KaldiFeatures *f);
int kaldi_features_shift(const KaldiFeatures *f);
int kaldi_features_window(const KaldiFeatures *f);

/* Samples between the start of a frame's time slot (index * shift) and the sample whose arrival
 * completes it: the element's latency. */
int kaldi_features_latency_samples(const KaldiFeatures *f);

/* Forgets every sample (and restarts dither); the next frame is index 0. */
void kaldi_features_reset(KaldiFeatures *f);

/* Appends one sample (Kaldi's scale: 16-bit integer range); emits the frames it completes. */
int kaldi_features_push(KaldiFeatures *f, float sample, KaldiFrameFunc fn, void *user);

/* End of the stream: with snip_edges off, emits the last frames, reflecting the signal at its end
 * as Kaldi does; then resets. */
int kaldi_features_finish(KaldiFeatures *f, KaldiFrameFunc fn, void *user);

/* Samples appended since the last reset. */
uint64_t kaldi_features_samples(const KaldiFeatures *f);

/* Rebuilds the mel banks for another VTLN warp factor (the other options stay): frames computed
 * from then on use it. Meant for the start of a run (after a reset or a finish); the buffers are
 * allocated here, never per frame. Returns 0, or -1 with a message in err (a warp <= 0,
 * vtln_low / vtln_high not inside low_freq..high_freq, a mel bin the warp leaves without an FFT
 * bin), keeping the old banks. */
int kaldi_features_set_vtln_warp(KaldiFeatures *f, double vtln_warp, char *err, size_t errlen);
/* The warp factor the mel banks are built for. */
double kaldi_features_vtln_warp(const KaldiFeatures *f);

/* ---------------------------------------------------------------------------------------------
 * Kaldi's add-deltas (window 2): appends the first and, for order 2, second time derivative.
 * Output frame t = [x_t, d1_t, d2_t] where d_order = sum_j scales_order[j] x_clamp(t + j); the
 * scales of order 1 are j / 10 for j in -2..2, those of order 2 are their self-convolution, and
 * frames past either end are the first or last frame (Kaldi's clamping). A frame leaves after the
 * 2 * order frames that follow it arrive (or at finish).
 * ------------------------------------------------------------------------------------------- */
typedef struct KaldiDeltas KaldiDeltas;

/* order 0..2; NULL when out of range. Order 0 passes frames through. */
KaldiDeltas *kaldi_deltas_new(int dim, int order);
void kaldi_deltas_free(KaldiDeltas *d);
int kaldi_deltas_out_dim(const KaldiDeltas *d);
int kaldi_deltas_delay(const KaldiDeltas *d); /* frames held back: 2 * order */
void kaldi_deltas_reset(KaldiDeltas *d);
int kaldi_deltas_push(KaldiDeltas *d, uint64_t index, const float *frame, KaldiFrameFunc fn,
                      void *user);
/* Emits the frames still held (clamping at the last frame), then resets. */
int kaldi_deltas_finish(KaldiDeltas *d, KaldiFrameFunc fn, void *user);

/* ---------------------------------------------------------------------------------------------
 * Kaldi's apply-cmvn-sliding (torchaudio.functional.sliding_window_cmn): subtracts from frame t
 * the mean of the frames in its window [ws, we) of the run and, with norm_vars, divides by their
 * standard deviation. The window of frame t in a run of N frames, for cmn_window W and
 * min_cmn_window M (Kaldi's arithmetic, in this order):
 *   center:  ws = t - W / 2, we = ws + W          not center: ws = t - W, we = t + 1
 *   if ws < 0: we -= ws, ws = 0
 *   not center and we > t: we = max(t + 1, M)     (the start waits for M frames)
 *   if we > N: ws -= we - N, we = N, ws = max(ws, 0)
 * Streaming: N is unknown until finish(), so frame t leaves as soon as its window computed with
 * N = infinity ends at or before the frames received (that window is then the final one); the
 * others leave at finish(). A run shorter than M (not center) or W (center) is therefore
 * normalised by its own mean: utterance CMN. Sums are kept in double and moved one frame at a
 * time, as Kaldi does; a ring holds the max(W + 1, M) + 2 frames the windows can still need.
 * With norm_vars a window of one frame gives zeros (as Kaldi and torchaudio), and a variance
 * below KALDI_CMN_VARIANCE_FLOOR is raised to it (Kaldi floors it too; torchaudio would divide by
 * zero), so a constant feature gives 0, never inf or NaN. W = 0 passes frames through.
 * ------------------------------------------------------------------------------------------- */
#define KALDI_CMN_VARIANCE_FLOOR 1.0e-10

typedef struct KaldiCmn KaldiCmn;

/* NULL when dim < 1, a window is negative or the ring cannot be allocated. */
KaldiCmn *kaldi_cmn_new (int dim, int cmn_window, int min_cmn_window, int center, int norm_vars);
void kaldi_cmn_free (KaldiCmn *c);
/* Frames held back at most (at the start of a run): center, W - 1; else M - 1; 0 when off. */
int kaldi_cmn_delay (const KaldiCmn *c);
void kaldi_cmn_reset (KaldiCmn *c);
int kaldi_cmn_push (KaldiCmn *c, uint64_t index, const float *frame, KaldiFrameFunc fn,
                    void *user);
/* The run ends: emits the frames still held (windows clipped at the last frame), then resets. */
int kaldi_cmn_finish (KaldiCmn *c, KaldiFrameFunc fn, void *user);

#ifdef __cplusplus
}
#endif
#endif
