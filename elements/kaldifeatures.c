/* gst-rnn: a streaming, Kaldi-compatible filterbank and MFCC extractor, Kaldi's add-deltas and
 * apply-cmvn-sliding.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The arithmetic follows Kaldi's feature-window.cc, mel-computations.cc, feature-fbank.cc,
 * feature-mfcc.cc and feature-functions.cc (add-deltas, sliding CMN) step by step, so that the numbers equal
 * Kaldi's and torchaudio.compliance.kaldi's (the reference of tests/conformance). Frames are
 * computed in double precision; Kaldi itself uses float, which is why the conformance test allows
 * a small relative error.
 *
 * Streaming: samples enter a ring buffer one at a time; a frame is computed when its last sample
 * arrives (and, with snip-edges off, once the stream is known to be long enough to contain it, as
 * Kaldi's frame count depends on the total length). The ring holds window + 2 shifts + 2 samples,
 * enough for every sample a pending frame can still need, including the samples that the
 * reflection at the end of the stream reads.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "kaldifeatures.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/fft/gstfftf64.h>

/* ---------------------------------------------------------------------------------------------
 * Options and frame geometry
 * ------------------------------------------------------------------------------------------- */
void
kaldi_feature_options_init (KaldiFeatureOptions * o)
{
  memset (o, 0, sizeof (*o));
  o->kind = KALDI_KIND_FBANK;
  o->sample_rate = 16000.0;
  o->frame_length_ms = 25.0;
  o->frame_shift_ms = 10.0;
  o->window_type = KALDI_WINDOW_POVEY;
  o->blackman_coeff = 0.42;
  o->preemphasis_coefficient = 0.97;
  o->remove_dc_offset = 1;
  o->snip_edges = 1;
  o->round_to_power_of_two = 1;
  o->dither = 0.0;
  o->dither_seed = 1;
  o->low_freq = 20.0;
  o->high_freq = 0.0;
  o->num_mel_bins = 23;
  o->num_ceps = 13;
  o->use_energy = 0;
  o->raw_energy = 1;
  o->use_log_fbank = 1;
  o->use_power = 1;
  o->energy_floor = 0.0;
  o->cepstral_lifter = 22.0;
  o->vtln_warp = 1.0;
  o->vtln_low = 100.0;
  o->vtln_high = -500.0;
}

/* Kaldi truncates rate * 0.001 * ms; torchaudio computes rate * ms * 0.001 in double. The product
 * order matters for the last bit (8000 * 0.001 * 25 and 8000 * 25 * 0.001 differ), so use
 * torchaudio's order, which is the reference. */
static int
ms_to_samples (double rate, double ms)
{
  double v = rate * ms * 0.001;

  if (!(v >= 0.0) || v > (double) (INT32_MAX / 4))
    return -1;
  return (int) v;
}

int
kaldi_window_samples (const KaldiFeatureOptions * o)
{
  return ms_to_samples (o->sample_rate, o->frame_length_ms);
}

int
kaldi_shift_samples (const KaldiFeatureOptions * o)
{
  return ms_to_samples (o->sample_rate, o->frame_shift_ms);
}

int
kaldi_padded_window_samples (const KaldiFeatureOptions * o)
{
  int ws = kaldi_window_samples (o), p = 1;

  if (ws <= 0 || !o->round_to_power_of_two)
    return ws;
  while (p < ws)
    p *= 2;
  return p;
}

int
kaldi_feature_dim (const KaldiFeatureOptions * o)
{
  if (o->kind == KALDI_KIND_MFCC)
    return o->num_ceps;
  return o->num_mel_bins + (o->use_energy ? 1 : 0);
}

/* ---------------------------------------------------------------------------------------------
 * The extractor
 * ------------------------------------------------------------------------------------------- */
/* Sparse mel banks: bin b covers FFT bins [first[b], first[b] + len[b]), with the weights at
 * weights[offset[b]] on. */
typedef struct {
  int *first, *len, *offset;
  double *weights;
} MelBanks;

struct KaldiFeatures {
  KaldiFeatureOptions opt;
  int window, shift, padded, dim;
  int n_fft_bins;               /* padded / 2: the mel banks ignore the Nyquist bin, as Kaldi */

  /* ring of the most recent samples, addressed by absolute sample index modulo capacity */
  float *ring;
  int64_t capacity;
  uint64_t n_samples;           /* samples pushed since reset */
  uint64_t next_frame;          /* index of the next frame to emit */
  uint64_t next_ready;          /* n_samples at which next_frame can be emitted */

  double *window_fn;            /* window samples */
  double *frame;                /* padded samples: the frame being processed */
  GstFFTF64 *fft;
  GstFFTF64Complex *spectrum;   /* padded / 2 + 1 bins */
  double *power;                /* padded / 2 + 1 */

  MelBanks mel;
  double *mel_energies;         /* num_mel_bins */

  double *dct;                  /* num_ceps x num_mel_bins, MFCC only */
  double *lifter;               /* num_ceps, MFCC only */
  double log_energy_floor;

  float *out;                   /* dim */

  uint64_t rng;                 /* dither: xorshift64* */
  int have_spare_gauss;
  double spare_gauss;
};

static double
mel_scale (double freq)
{
  return 1127.0 * log (1.0 + freq / 700.0);
}

static double
inverse_mel_scale (double mel)
{
  return 700.0 * (exp (mel / 1127.0) - 1.0);
}

/* Kaldi's MelBanks::VtlnWarpFreq: a piecewise-linear map that divides frequencies by warp between
 * the knees l and h and is linear from low_freq to l and from h to high_freq, so the ends of the
 * analysed band stay where they are. Continuous and strictly increasing for the vtln_low and
 * vtln_high check_options accepts, so warped triangles keep their order. */
static double
vtln_warp_freq (double vtln_low, double vtln_high, double low_freq, double high_freq,
    double warp, double freq)
{
  double l = vtln_low * fmax (1.0, warp), h = vtln_high * fmin (1.0, warp);
  double scale = 1.0 / warp, fl = scale * l, fh = scale * h;
  double scale_left = (fl - low_freq) / (l - low_freq);
  double scale_right = (high_freq - fh) / (high_freq - h);

  if (freq < low_freq || freq > high_freq)
    return freq;
  if (freq < l)
    return low_freq + scale_left * (freq - low_freq);
  if (freq < h)
    return scale * freq;
  return high_freq + scale_right * (freq - high_freq);
}

/* Kaldi's VtlnWarpMelFreq: the same warp applied to a mel value. */
static double
vtln_warp_mel_freq (double vtln_low, double vtln_high, double low_freq, double high_freq,
    double warp, double mel)
{
  return mel_scale (vtln_warp_freq (vtln_low, vtln_high, low_freq, high_freq, warp,
          inverse_mel_scale (mel)));
}

/* vtln-high in Hz: a value <= 0 counts from the Nyquist frequency (Kaldi's convention, the same
 * as high-freq's but relative to Nyquist even when high-freq is set). */
static double
vtln_high_hz (const KaldiFeatureOptions * o)
{
  return o->vtln_high > 0.0 ? o->vtln_high : 0.5 * o->sample_rate + o->vtln_high;
}

static int
fail (char *err, size_t errlen, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static int
fail (char *err, size_t errlen, const char *fmt, ...)
{
  va_list ap;

  if (err != NULL && errlen > 0) {
    va_start (ap, fmt);
    vsnprintf (err, errlen, fmt, ap);
    va_end (ap);
  }
  return -1;
}

static int
check_options (const KaldiFeatureOptions * o, char *err, size_t errlen)
{
  double nyquist = 0.5 * o->sample_rate;
  double high = o->high_freq > 0.0 ? o->high_freq : nyquist + o->high_freq;
  int ws = kaldi_window_samples (o), shift = kaldi_shift_samples (o);
  int padded = kaldi_padded_window_samples (o);

  if (!(o->sample_rate > 0.0))
    return fail (err, errlen, "sample rate %g is not positive", o->sample_rate);
  if (ws < 2)
    return fail (err, errlen, "frame-length=%g ms gives %d samples at %g Hz; at least 2 are needed",
        o->frame_length_ms, ws, o->sample_rate);
  if (shift < 1)
    return fail (err, errlen, "frame-shift=%g ms gives %d samples at %g Hz; at least 1 is needed",
        o->frame_shift_ms, shift, o->sample_rate);
  if (padded % 2 != 0)
    return fail (err, errlen, "frame-length=%g ms gives an odd FFT size (%d samples at %g Hz) "
        "with round-to-power-of-two=false; change frame-length or round to a power of two",
        o->frame_length_ms, padded, o->sample_rate);
  if (o->preemphasis_coefficient < 0.0 || o->preemphasis_coefficient > 1.0)
    return fail (err, errlen, "preemphasis-coefficient=%g is outside [0, 1]",
        o->preemphasis_coefficient);
  if (o->num_mel_bins < 3)
    return fail (err, errlen, "num-mel-bins=%d: at least 3 mel bins are needed", o->num_mel_bins);
  if (o->kind == KALDI_KIND_MFCC && (o->num_ceps < 1 || o->num_ceps > o->num_mel_bins))
    return fail (err, errlen, "num-ceps=%d must be between 1 and num-mel-bins (%d)", o->num_ceps,
        o->num_mel_bins);
  if (!(o->low_freq >= 0.0 && o->low_freq < nyquist))
    return fail (err, errlen, "low-freq=%g must be in [0, %g) (the Nyquist frequency at %g Hz)",
        o->low_freq, nyquist, o->sample_rate);
  if (!(high > 0.0 && high <= nyquist && o->low_freq < high))
    return fail (err, errlen, "high-freq=%g gives %g Hz, which must be above low-freq (%g) and "
        "at most the Nyquist frequency (%g at %g Hz)", o->high_freq, high, o->low_freq, nyquist,
        o->sample_rate);
  if (!(o->vtln_warp > 0.0) || !isfinite (o->vtln_warp))
    return fail (err, errlen, "vtln-warp=%g must be a positive factor (1 = no warp)",
        o->vtln_warp);
  if (o->vtln_warp != 1.0) {
    double vhigh = vtln_high_hz (o);

    /* Kaldi's MelBanks refuses these too: the warp's knees must lie inside the band */
    if (!(o->vtln_low > o->low_freq && o->vtln_low < high && vhigh > 0.0 && vhigh < high
            && vhigh > o->vtln_low))
      return fail (err, errlen, "vtln-warp=%g needs low-freq < vtln-low < vtln-high < high-freq: "
          "vtln-low=%g Hz, vtln-high=%g (%g Hz), low-freq=%g Hz, high-freq=%g Hz at %g Hz",
          o->vtln_warp, o->vtln_low, o->vtln_high, vhigh, o->low_freq, high, o->sample_rate);
  }
  if (o->dither < 0.0)
    return fail (err, errlen, "dither=%g is negative", o->dither);
  if (o->energy_floor < 0.0)
    return fail (err, errlen, "energy-floor=%g is negative", o->energy_floor);
  return 0;
}

static void
make_window (KaldiFeatures * f)
{
  int n = f->window, i;
  double a = 2.0 * M_PI / (double) (n - 1);

  for (i = 0; i < n; i++) {
    double c = cos (a * i), w;

    switch (f->opt.window_type) {
      case KALDI_WINDOW_HANNING:
        w = 0.5 - 0.5 * c;
        break;
      case KALDI_WINDOW_HAMMING:
        w = 0.54 - 0.46 * c;
        break;
      case KALDI_WINDOW_RECTANGULAR:
        w = 1.0;
        break;
      case KALDI_WINDOW_BLACKMAN:
        w = f->opt.blackman_coeff - 0.5 * c + (0.5 - f->opt.blackman_coeff) * cos (2.0 * a * i);
        break;
      case KALDI_WINDOW_POVEY:
      default:
        /* like Hanning but goes to zero at the edges */
        w = pow (0.5 - 0.5 * c, 0.85);
        break;
    }
    f->window_fn[i] = w;
  }
}

static void
mel_banks_clear (MelBanks * mb)
{
  free (mb->first);
  free (mb->len);
  free (mb->offset);
  free (mb->weights);
  memset (mb, 0, sizeof (*mb));
}

/* Kaldi's MelBanks: triangles equally spaced on the mel scale between low and high frequency,
 * (num_bins + 1) intervals, their corners moved by the VTLN warp when there is one, evaluated at
 * the centre frequency of each FFT bin below Nyquist. o has passed check_options. */
static int
mel_banks_build (MelBanks * mb, const KaldiFeatureOptions * o, int padded, char *err,
    size_t errlen)
{
  int nb = o->num_mel_bins, n_fft_bins = padded / 2, b, i, total = 0;
  double nyquist = 0.5 * o->sample_rate;
  double high = o->high_freq > 0.0 ? o->high_freq : nyquist + o->high_freq;
  double fft_bin_width = o->sample_rate / (double) padded;
  double mel_low = mel_scale (o->low_freq), mel_high = mel_scale (high);
  double delta = (mel_high - mel_low) / (double) (nb + 1);
  double vhigh = vtln_high_hz (o);
  double *corners;              /* left, centre, right mel of each bin */

  memset (mb, 0, sizeof (*mb));
  mb->first = calloc (nb, sizeof (int));
  mb->len = calloc (nb, sizeof (int));
  mb->offset = calloc (nb, sizeof (int));
  corners = calloc ((size_t) nb * 3, sizeof (double));
  if (!mb->first || !mb->len || !mb->offset || !corners) {
    free (corners);
    mel_banks_clear (mb);
    return fail (err, errlen, "out of memory");
  }

  for (b = 0; b < nb; b++) {
    for (i = 0; i < 3; i++) {
      double mel = mel_low + (b + i) * delta;

      if (o->vtln_warp != 1.0)
        mel = vtln_warp_mel_freq (o->vtln_low, vhigh, o->low_freq, high, o->vtln_warp, mel);
      corners[3 * b + i] = mel;
    }
  }

  /* first pass: the extent of each triangle */
  for (b = 0; b < nb; b++) {
    double left = corners[3 * b], right = corners[3 * b + 2];
    int first = -1, last = -1;

    for (i = 0; i < n_fft_bins; i++) {
      double mel = mel_scale (fft_bin_width * i);

      if (mel > left && mel < right) {
        if (first < 0)
          first = i;
        last = i;
      }
    }
    if (first < 0) {
      free (corners);
      mel_banks_clear (mb);
      if (o->vtln_warp != 1.0)
        return fail (err, errlen, "num-mel-bins=%d with vtln-warp=%g leaves mel bin %d without "
            "an FFT bin (%d-point FFT at %g Hz); use fewer bins, a longer frame-length or a warp "
            "nearer 1", nb, o->vtln_warp, b, padded, o->sample_rate);
      return fail (err, errlen, "num-mel-bins=%d is too many for a %d-point FFT at %g Hz "
          "(mel bin %d covers no FFT bin); use fewer bins or a longer frame-length",
          nb, padded, o->sample_rate, b);
    }
    mb->first[b] = first;
    mb->len[b] = last - first + 1;
    mb->offset[b] = total;
    total += mb->len[b];
  }

  mb->weights = calloc (total, sizeof (double));
  if (!mb->weights) {
    free (corners);
    mel_banks_clear (mb);
    return fail (err, errlen, "out of memory");
  }
  for (b = 0; b < nb; b++) {
    double left = corners[3 * b], center = corners[3 * b + 1], right = corners[3 * b + 2];

    for (i = 0; i < mb->len[b]; i++) {
      double mel = mel_scale (fft_bin_width * (mb->first[b] + i));
      double w = mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);

      mb->weights[mb->offset[b] + i] = w;
    }
  }
  free (corners);
  return 0;
}

/* Kaldi's ComputeDctMatrix (orthonormal DCT-II, first num_ceps rows) and ComputeLifterCoeffs. */
static int
make_dct (KaldiFeatures * f, char *err, size_t errlen)
{
  int nc = f->opt.num_ceps, nm = f->opt.num_mel_bins, k, n;

  f->dct = calloc ((size_t) nc * nm, sizeof (double));
  f->lifter = calloc (nc, sizeof (double));
  if (!f->dct || !f->lifter)
    return fail (err, errlen, "out of memory");
  for (k = 0; k < nc; k++) {
    double norm = k == 0 ? sqrt (1.0 / nm) : sqrt (2.0 / nm);

    for (n = 0; n < nm; n++)
      f->dct[(size_t) k * nm + n] = norm * cos (M_PI / nm * (n + 0.5) * k);
    f->lifter[k] = f->opt.cepstral_lifter != 0.0 ?
        1.0 + 0.5 * f->opt.cepstral_lifter * sin (M_PI * k / f->opt.cepstral_lifter) : 1.0;
  }
  return 0;
}

KaldiFeatures *
kaldi_features_new (const KaldiFeatureOptions * o, char *err, size_t errlen)
{
  KaldiFeatures *f;

  if (check_options (o, err, errlen) < 0)
    return NULL;

  f = calloc (1, sizeof (*f));
  if (!f) {
    fail (err, errlen, "out of memory");
    return NULL;
  }
  f->opt = *o;
  f->window = kaldi_window_samples (o);
  f->shift = kaldi_shift_samples (o);
  f->padded = kaldi_padded_window_samples (o);
  f->n_fft_bins = f->padded / 2;
  f->dim = kaldi_feature_dim (o);
  f->log_energy_floor = o->energy_floor > 0.0 ? log (o->energy_floor) : -HUGE_VAL;

  /* see the comment at the top: every sample a pending frame can need */
  f->capacity = (int64_t) f->window + 2 * (int64_t) f->shift + 2;
  f->ring = calloc (f->capacity, sizeof (float));
  f->window_fn = calloc (f->window, sizeof (double));
  f->frame = calloc (f->padded, sizeof (double));
  f->spectrum = calloc (f->padded / 2 + 1, sizeof (GstFFTF64Complex));
  f->power = calloc (f->padded / 2 + 1, sizeof (double));
  f->out = calloc (f->dim, sizeof (float));
  f->fft = gst_fft_f64_new (f->padded, FALSE);
  if (!f->ring || !f->window_fn || !f->frame || !f->spectrum || !f->power || !f->out || !f->fft) {
    fail (err, errlen, "out of memory");
    goto error;
  }
  make_window (f);
  f->mel_energies = calloc (o->num_mel_bins, sizeof (double));
  if (!f->mel_energies) {
    fail (err, errlen, "out of memory");
    goto error;
  }
  if (mel_banks_build (&f->mel, o, f->padded, err, errlen) < 0)
    goto error;
  if (o->kind == KALDI_KIND_MFCC && make_dct (f, err, errlen) < 0)
    goto error;
  kaldi_features_reset (f);
  return f;

error:
  kaldi_features_free (f);
  return NULL;
}

void
kaldi_features_free (KaldiFeatures * f)
{
  if (!f)
    return;
  if (f->fft)
    gst_fft_f64_free (f->fft);
  free (f->ring);
  free (f->window_fn);
  free (f->frame);
  free (f->spectrum);
  free (f->power);
  mel_banks_clear (&f->mel);
  free (f->mel_energies);
  free (f->dct);
  free (f->lifter);
  free (f->out);
  free (f);
}

const KaldiFeatureOptions *
kaldi_features_options (const KaldiFeatures * f)
{
  return &f->opt;
}

int
kaldi_features_dim (const KaldiFeatures * f)
{
  return f->dim;
}

int
kaldi_features_shift (const KaldiFeatures * f)
{
  return f->shift;
}

int
kaldi_features_window (const KaldiFeatures * f)
{
  return f->window;
}

/* First sample of frame m. With snip-edges off Kaldi centres frame m on m * shift + shift / 2,
 * so the first frames start before the signal (and read it reflected). */
static int64_t
frame_start (const KaldiFeatures * f, uint64_t m)
{
  int64_t s = (int64_t) m * f->shift;

  if (!f->opt.snip_edges)
    s += f->shift / 2 - f->window / 2;
  return s;
}

/* Kaldi's frame count with snip-edges off: depends only on the length and the shift. */
static uint64_t
frames_without_snip (const KaldiFeatures * f, uint64_t n)
{
  return (n + (uint64_t) (f->shift / 2)) / (uint64_t) f->shift;
}

/* The number of samples after which frame m can be emitted while streaming. */
static uint64_t
frame_ready_at (const KaldiFeatures * f, uint64_t m)
{
  uint64_t end = (uint64_t) (frame_start (f, m) + f->window);

  if (!f->opt.snip_edges) {
    /* the frame must also exist in Kaldi's count: frames_without_snip (n) > m */
    uint64_t need = (m + 1) * (uint64_t) f->shift - (uint64_t) (f->shift / 2);

    if (need > end)
      end = need;
  }
  return end;
}

int
kaldi_features_latency_samples (const KaldiFeatures * f)
{
  /* frame_ready_at (m) - m * shift does not depend on m */
  return (int) frame_ready_at (f, 1) - f->shift;
}

void
kaldi_features_reset (KaldiFeatures * f)
{
  f->n_samples = 0;
  f->next_frame = 0;
  f->next_ready = frame_ready_at (f, 0);
  f->rng = f->opt.dither_seed ? f->opt.dither_seed : 0x9E3779B97F4A7C15ull;
  f->have_spare_gauss = 0;
}

uint64_t
kaldi_features_samples (const KaldiFeatures * f)
{
  return f->n_samples;
}

int
kaldi_features_set_vtln_warp (KaldiFeatures * f, double vtln_warp, char *err, size_t errlen)
{
  KaldiFeatureOptions o = f->opt;
  MelBanks mb;

  if (vtln_warp == f->opt.vtln_warp)
    return 0;
  o.vtln_warp = vtln_warp;
  if (check_options (&o, err, errlen) < 0 || mel_banks_build (&mb, &o, f->padded, err, errlen) < 0)
    return -1;
  mel_banks_clear (&f->mel);
  f->mel = mb;
  f->opt.vtln_warp = vtln_warp;
  return 0;
}

double
kaldi_features_vtln_warp (const KaldiFeatures * f)
{
  return f->opt.vtln_warp;
}

/* Uniform in (0, 1] from xorshift64*. */
static double
rand_uniform (KaldiFeatures * f)
{
  uint64_t x = f->rng;

  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  f->rng = x;
  return ((double) ((x * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller), as Kaldi's RandGauss. */
static double
rand_gauss (KaldiFeatures * f)
{
  double r, t;

  if (f->have_spare_gauss) {
    f->have_spare_gauss = 0;
    return f->spare_gauss;
  }
  r = sqrt (-2.0 * log (rand_uniform (f)));
  t = 2.0 * M_PI * rand_uniform (f);
  f->spare_gauss = r * sin (t);
  f->have_spare_gauss = 1;
  return r * cos (t);
}

/* Kaldi's ExtractWindow + ProcessWindow + the fbank or MFCC computation of frame m. n_total is
 * the number of samples the signal has (for the reflection at its end). */
static const float *
compute_frame (KaldiFeatures * f, uint64_t m, uint64_t n_total)
{
  const KaldiFeatureOptions *o = &f->opt;
  int ws = f->window, i, b, k;
  int64_t start = frame_start (f, m), n = (int64_t) n_total;
  double *x = f->frame, log_energy = 0.0, sum;

  for (i = 0; i < ws; i++) {
    int64_t s = start + i;

    /* Kaldi reflects as often as needed (signals shorter than a window) */
    while (s < 0 || s >= n)
      s = s < 0 ? -s - 1 : 2 * n - 1 - s;
    x[i] = f->ring[s % f->capacity];
  }

  if (o->dither != 0.0)
    for (i = 0; i < ws; i++)
      x[i] += rand_gauss (f) * o->dither;

  if (o->remove_dc_offset) {
    double mean = 0.0;

    for (i = 0; i < ws; i++)
      mean += x[i];
    mean /= ws;
    for (i = 0; i < ws; i++)
      x[i] -= mean;
  }

  if (o->raw_energy) {
    for (sum = 0.0, i = 0; i < ws; i++)
      sum += x[i] * x[i];
    log_energy = log (fmax (sum, FLT_EPSILON));
  }

  if (o->preemphasis_coefficient != 0.0) {
    for (i = ws - 1; i > 0; i--)
      x[i] -= o->preemphasis_coefficient * x[i - 1];
    x[0] -= o->preemphasis_coefficient * x[0];
  }

  for (i = 0; i < ws; i++)
    x[i] *= f->window_fn[i];
  for (i = ws; i < f->padded; i++)
    x[i] = 0.0;

  if (!o->raw_energy) {
    for (sum = 0.0, i = 0; i < ws; i++)
      sum += x[i] * x[i];
    log_energy = log (fmax (sum, FLT_EPSILON));
  }
  if (log_energy < f->log_energy_floor)
    log_energy = f->log_energy_floor;

  gst_fft_f64_fft (f->fft, x, f->spectrum);
  for (i = 0; i <= f->n_fft_bins; i++) {
    double p = f->spectrum[i].r * f->spectrum[i].r + f->spectrum[i].i * f->spectrum[i].i;

    /* MFCC always uses the power spectrum */
    f->power[i] = (o->kind == KALDI_KIND_MFCC || o->use_power) ? p : sqrt (p);
  }

  for (b = 0; b < o->num_mel_bins; b++) {
    const double *w = f->mel.weights + f->mel.offset[b];
    const double *p = f->power + f->mel.first[b];
    double e = 0.0;

    for (i = 0; i < f->mel.len[b]; i++)
      e += w[i] * p[i];
    if (o->kind == KALDI_KIND_MFCC || o->use_log_fbank)
      e = log (fmax (e, FLT_EPSILON));
    f->mel_energies[b] = e;
  }

  if (o->kind == KALDI_KIND_MFCC) {
    for (k = 0; k < o->num_ceps; k++) {
      const double *row = f->dct + (size_t) k * o->num_mel_bins;

      for (sum = 0.0, b = 0; b < o->num_mel_bins; b++)
        sum += row[b] * f->mel_energies[b];
      f->out[k] = (float) (sum * f->lifter[k]);
    }
    if (o->use_energy)
      f->out[0] = (float) log_energy;
  } else {
    int off = o->use_energy ? 1 : 0;

    if (o->use_energy)
      f->out[0] = (float) log_energy;
    for (b = 0; b < o->num_mel_bins; b++)
      f->out[off + b] = (float) f->mel_energies[b];
  }
  return f->out;
}

int
kaldi_features_push (KaldiFeatures * f, float sample, KaldiFrameFunc fn, void *user)
{
  f->ring[f->n_samples % (uint64_t) f->capacity] = sample;
  f->n_samples++;
  while (f->n_samples >= f->next_ready) {
    uint64_t m = f->next_frame;
    const float *frame = compute_frame (f, m, f->n_samples);
    int ret;

    f->next_frame++;
    f->next_ready = frame_ready_at (f, f->next_frame);
    ret = fn (user, m, frame);
    if (ret != 0)
      return ret;
  }
  return 0;
}

int
kaldi_features_finish (KaldiFeatures * f, KaldiFrameFunc fn, void *user)
{
  int ret = 0;

  if (!f->opt.snip_edges) {
    uint64_t total = frames_without_snip (f, f->n_samples);

    while (f->next_frame < total) {
      uint64_t m = f->next_frame++;

      ret = fn (user, m, compute_frame (f, m, f->n_samples));
      if (ret != 0)
        break;
    }
  }
  kaldi_features_reset (f);
  return ret;
}

/* ---------------------------------------------------------------------------------------------
 * add-deltas
 * ------------------------------------------------------------------------------------------- */
#define DELTA_WINDOW 2
#define MAX_DELTA_ORDER 2

struct KaldiDeltas {
  int dim, order, span;         /* span: frames either side that order needs (2 * order) */
  int history;                  /* frames kept: 2 * span + 1 */
  float *frames;                /* history x dim ring, addressed by frame number */
  float *out;                   /* dim * (order + 1) */
  uint64_t count;               /* frames received since reset */
  uint64_t first_index;         /* the caller's index of frame 0 */
  uint64_t emitted;             /* frames emitted since reset */
  /* scales[i]: the 2 * DELTA_WINDOW * i + 1 taps of order i (the array is sized generously) */
  double scales[MAX_DELTA_ORDER + 1][4 * DELTA_WINDOW * MAX_DELTA_ORDER + 1];
};

/* Kaldi's DeltaFeatures constructor: scales of order i are the scales of order i - 1 convolved
 * with j / sum(j^2) for j in -window..window. */
static void
make_delta_scales (KaldiDeltas * d)
{
  int i, j, k, normalizer = 0;

  memset (d->scales, 0, sizeof (d->scales));
  d->scales[0][0] = 1.0;
  for (j = -DELTA_WINDOW; j <= DELTA_WINDOW; j++)
    normalizer += j * j;
  for (i = 1; i <= d->order; i++) {
    int prev_offset = (i - 1) * DELTA_WINDOW, cur_offset = prev_offset + DELTA_WINDOW;

    for (j = -DELTA_WINDOW; j <= DELTA_WINDOW; j++)
      for (k = -prev_offset; k <= prev_offset; k++)
        d->scales[i][j + k + cur_offset] += (double) j * d->scales[i - 1][k + prev_offset];
    for (j = 0; j <= 2 * cur_offset; j++)
      d->scales[i][j] /= normalizer;
  }
}

KaldiDeltas *
kaldi_deltas_new (int dim, int order)
{
  KaldiDeltas *d;

  if (dim < 1 || order < 0 || order > MAX_DELTA_ORDER)
    return NULL;
  d = calloc (1, sizeof (*d));
  if (!d)
    return NULL;
  d->dim = dim;
  d->order = order;
  d->span = DELTA_WINDOW * order;
  d->history = 2 * d->span + 1;
  d->frames = calloc ((size_t) d->history * dim, sizeof (float));
  d->out = calloc ((size_t) dim * (order + 1), sizeof (float));
  if (!d->frames || !d->out) {
    kaldi_deltas_free (d);
    return NULL;
  }
  make_delta_scales (d);
  return d;
}

void
kaldi_deltas_free (KaldiDeltas * d)
{
  if (!d)
    return;
  free (d->frames);
  free (d->out);
  free (d);
}

int
kaldi_deltas_out_dim (const KaldiDeltas * d)
{
  return d->dim * (d->order + 1);
}

int
kaldi_deltas_delay (const KaldiDeltas * d)
{
  return d->span;
}

void
kaldi_deltas_reset (KaldiDeltas * d)
{
  d->count = 0;
  d->emitted = 0;
  d->first_index = 0;
}

static const float *
delta_frame (const KaldiDeltas * d, int64_t t)
{
  return d->frames + (size_t) (t % d->history) * d->dim;
}

/* Output frame t, with neighbours clamped to [0, last]. */
static int
emit_delta (KaldiDeltas * d, uint64_t t, uint64_t last, KaldiFrameFunc fn, void *user)
{
  int dim = d->dim, i, j, k;

  memcpy (d->out, delta_frame (d, (int64_t) t), sizeof (float) * dim);
  for (i = 1; i <= d->order; i++) {
    int max_offset = DELTA_WINDOW * i;
    float *o = d->out + (size_t) i * dim;

    for (k = 0; k < dim; k++) {
      double acc = 0.0;

      for (j = -max_offset; j <= max_offset; j++) {
        int64_t s = (int64_t) t + j;
        double scale = d->scales[i][j + max_offset];

        if (scale == 0.0)
          continue;
        if (s < 0)
          s = 0;
        if (s > (int64_t) last)
          s = (int64_t) last;
        acc += scale * delta_frame (d, s)[k];
      }
      o[k] = (float) acc;
    }
  }
  d->emitted = t + 1;
  return fn (user, d->first_index + t, d->out);
}

int
kaldi_deltas_push (KaldiDeltas * d, uint64_t index, const float *frame, KaldiFrameFunc fn,
    void *user)
{
  uint64_t t = d->count;

  if (d->order == 0)
    return fn (user, index, frame);
  if (t == 0)
    d->first_index = index;
  memcpy (d->frames + (size_t) (t % d->history) * d->dim, frame, sizeof (float) * d->dim);
  d->count++;
  if (t >= (uint64_t) d->span)
    return emit_delta (d, t - d->span, t, fn, user);
  return 0;
}

int
kaldi_deltas_finish (KaldiDeltas * d, KaldiFrameFunc fn, void *user)
{
  int ret = 0;

  while (d->order > 0 && d->emitted < d->count) {
    ret = emit_delta (d, d->emitted, d->count - 1, fn, user);
    if (ret != 0)
      break;
  }
  kaldi_deltas_reset (d);
  return ret;
}

/* ---------------------------------------------------------------------------------------------
 * apply-cmvn-sliding
 * ------------------------------------------------------------------------------------------- */
/* "the run's length is not known yet" */
#define CMN_UNKNOWN_LENGTH INT64_MAX

struct KaldiCmn {
  int dim, window, min_window, center, norm_vars;
  int capacity;                 /* frames in the ring */
  float *frames;                /* capacity x dim ring, addressed by frame number */
  double *sum, *sumsq;          /* over the frames [win_start, win_end) */
  float *out;
  int64_t win_start, win_end;   /* window of the last frame emitted; win_end < 0: none yet */
  uint64_t count;               /* frames received since reset */
  uint64_t emitted;             /* frames emitted since reset */
  uint64_t first_index;         /* the caller's index of frame 0 */
};

KaldiCmn *
kaldi_cmn_new (int dim, int cmn_window, int min_cmn_window, int center, int norm_vars)
{
  KaldiCmn *c;
  int longest;

  if (dim < 1 || cmn_window < 0 || min_cmn_window < 0 || cmn_window > INT32_MAX / 2
      || min_cmn_window > INT32_MAX / 2)
    return NULL;
  c = calloc (1, sizeof (*c));
  if (!c)
    return NULL;
  c->dim = dim;
  c->window = cmn_window;
  c->min_window = min_cmn_window;
  c->center = center != 0;
  c->norm_vars = norm_vars != 0;
  /* The longest window is W + 1 frames (not center, [t - W, t + 1)) or M (the first frames, not
   * center); center windows hold W. The ring must keep every frame from the start of the last
   * emitted window to the newest: one window, plus one because a window starts at most one frame
   * later than the previous one, plus one for the frame being added. */
  longest = (cmn_window + 1 > min_cmn_window ? cmn_window + 1 : min_cmn_window);
  c->capacity = longest + 2;
  if (cmn_window > 0) {
    c->frames = calloc ((size_t) c->capacity * (size_t) dim, sizeof (float));
    c->sum = calloc ((size_t) dim, sizeof (double));
    c->sumsq = calloc ((size_t) dim, sizeof (double));
    c->out = calloc ((size_t) dim, sizeof (float));
    if (!c->frames || !c->sum || !c->sumsq || !c->out) {
      kaldi_cmn_free (c);
      return NULL;
    }
  }
  kaldi_cmn_reset (c);
  return c;
}

void
kaldi_cmn_free (KaldiCmn * c)
{
  if (!c)
    return;
  free (c->frames);
  free (c->sum);
  free (c->sumsq);
  free (c->out);
  free (c);
}

int
kaldi_cmn_delay (const KaldiCmn * c)
{
  if (c->window == 0)
    return 0;
  if (c->center)
    return c->window - 1;       /* frame 0 waits for the whole first window */
  return c->min_window > 1 ? c->min_window - 1 : 0;
}

void
kaldi_cmn_reset (KaldiCmn * c)
{
  c->count = 0;
  c->emitted = 0;
  c->first_index = 0;
  c->win_start = -1;
  c->win_end = -1;
}

/* Kaldi's window [*start, *end) of frame t in a run of n frames (CMN_UNKNOWN_LENGTH: not known). */
static void
cmn_window_of (const KaldiCmn * c, int64_t t, int64_t n, int64_t * start, int64_t * end)
{
  int64_t ws, we;

  if (c->center) {
    ws = t - c->window / 2;
    we = ws + c->window;
  } else {
    ws = t - c->window;
    we = t + 1;
  }
  if (ws < 0) {
    we -= ws;
    ws = 0;
  }
  if (!c->center && we > t)
    we = (t + 1 > c->min_window ? t + 1 : c->min_window);
  if (we > n) {
    ws -= we - n;
    we = n;
    if (ws < 0)
      ws = 0;
  }
  *start = ws;
  *end = we;
}

static const float *
cmn_frame (const KaldiCmn * c, int64_t t)
{
  return c->frames + (size_t) (t % c->capacity) * c->dim;
}

static void
cmn_accumulate (KaldiCmn * c, int64_t t, double sign)
{
  const float *x = cmn_frame (c, t);
  int k;

  for (k = 0; k < c->dim; k++) {
    c->sum[k] += sign * x[k];
    if (c->norm_vars)
      c->sumsq[k] += sign * (double) x[k] * x[k];
  }
}

/* Emits frame t with the window it has in a run of n frames. Windows never move backwards and
 * move by at most one frame at either end from one frame to the next (Kaldi asserts it), so the
 * sums are updated, not recomputed. */
static int
emit_cmn (KaldiCmn * c, int64_t t, int64_t n, KaldiFrameFunc fn, void *user)
{
  int64_t ws, we, s, frames;
  const float *x = cmn_frame (c, t);
  int k;

  cmn_window_of (c, t, n, &ws, &we);
  if (c->win_end < 0) {
    memset (c->sum, 0, sizeof (double) * c->dim);
    memset (c->sumsq, 0, sizeof (double) * c->dim);
    for (s = ws; s < we; s++)
      cmn_accumulate (c, s, 1.0);
  } else {
    for (s = c->win_start; s < ws; s++)
      cmn_accumulate (c, s, -1.0);
    for (s = c->win_end; s < we; s++)
      cmn_accumulate (c, s, 1.0);
  }
  c->win_start = ws;
  c->win_end = we;
  frames = we - ws;

  for (k = 0; k < c->dim; k++) {
    double mean = c->sum[k] / (double) frames;
    double v = (double) x[k] - mean;

    if (c->norm_vars) {
      if (frames == 1) {
        v = 0.0;
      } else {
        double variance = c->sumsq[k] / (double) frames - mean * mean;

        if (variance < KALDI_CMN_VARIANCE_FLOOR)
          variance = KALDI_CMN_VARIANCE_FLOOR;
        v /= sqrt (variance);
      }
    }
    c->out[k] = (float) v;
  }
  c->emitted = (uint64_t) t + 1;
  return fn (user, c->first_index + (uint64_t) t, c->out);
}

int
kaldi_cmn_push (KaldiCmn * c, uint64_t index, const float *frame, KaldiFrameFunc fn, void *user)
{
  int ret = 0;

  if (c->window == 0)
    return fn (user, index, frame);
  if (c->count == 0)
    c->first_index = index;
  memcpy (c->frames + (size_t) (c->count % (uint64_t) c->capacity) * c->dim, frame,
      sizeof (float) * c->dim);
  c->count++;
  /* every held frame whose window (for a run of unknown length) is now complete */
  while (ret == 0 && c->emitted < c->count) {
    int64_t ws, we;

    cmn_window_of (c, (int64_t) c->emitted, CMN_UNKNOWN_LENGTH, &ws, &we);
    if (we > (int64_t) c->count)
      break;
    ret = emit_cmn (c, (int64_t) c->emitted, CMN_UNKNOWN_LENGTH, fn, user);
  }
  return ret;
}

int
kaldi_cmn_finish (KaldiCmn * c, KaldiFrameFunc fn, void *user)
{
  int ret = 0;

  while (c->window > 0 && ret == 0 && c->emitted < c->count)
    ret = emit_cmn (c, (int64_t) c->emitted, (int64_t) c->count, fn, user);
  kaldi_cmn_reset (c);
  return ret;
}
