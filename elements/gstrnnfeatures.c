/* gst-rnn: rnnfeatures, Kaldi-compatible features (log-mel filterbank, MFCC) or raw channels as
 * frames for rnninfer and rnntrain.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-rnnfeatures
 * @title: rnnfeatures
 *
 * Turns audio into frames of features, one frame per buffer, as NNStreamer's static tensor stream
 * (`other/tensors`, one float32 tensor of N:1:1:1). The numbers equal Kaldi's compute-fbank-feats
 * and compute-mfcc-feats (and torchaudio.compliance.kaldi) for the same options; the properties
 * carry Kaldi's option names and defaults, except #GstRnnFeatures:dither, which is 0 so that the
 * output is deterministic.
 *
 * Input scale: Kaldi works on 16-bit integer sample values. S16 input is used as is; F32 input is
 * taken to be in [-1, 1] and multiplied by 32768, so S16 and F32 versions of the same audio give
 * the same features. With kind=raw the samples are used unscaled (S16 values as integers, F32 as
 * is: sensorparse's sensor readings), each input sample's channels becoming one frame.
 * With kind=fbank or mfcc, more than one channel is mixed down by averaging the channels.
 *
 * Timestamps come from sample counts: frame m of a run is at the run's first timestamp plus
 * m * frame-shift (with snip-edges=false too, where Kaldi centres the window on that slot), and
 * lasts one frame shift. A run starts at the first buffer, and again after a DISCONT buffer, a
 * caps change, a flush, a new stream or an rnn-reset event; the run before a DISCONT, a caps
 * change, a new stream or an rnn-reset is finished as at the end of the stream first (the last
 * frames with snip-edges=false, the held-back frames with CMN and deltas), so samples on either
 * side of a discontinuity never share a frame.
 *
 * With #GstRnnFeatures:cmn-window set, the frames (of any kind, raw too) are normalised as by
 * Kaldi's apply-cmvn-sliding (torchaudio.functional.sliding_window_cmn) before the deltas are
 * added, Kaldi's usual recipe: the mean of a window of frames of the same run is subtracted, so
 * a constant offset of the features (a gain change shifts log-mel and C0 by a constant, a
 * microphone's response shifts each bin) disappears, helping with unseen speakers and live
 * microphones. The window ends at the frame (#GstRnnFeatures:cmn-center=false: no latency once
 * #GstRnnFeatures:min-cmn-window frames have arrived; a run shorter than that is normalised by
 * its own mean, i.e. per-utterance CMN) or is centred on it; #GstRnnFeatures:norm-vars also
 * divides by the window's standard deviation. The latency query reports the longest hold-back,
 * at the start of a run: min-cmn-window - 1 frames (cmn-window - 1 when centred).
 *
 * With #GstRnnFeatures:model set, every feature setting comes from the model's "features.*"
 * metadata (written by rnntrain from the rnn-feature-settings event this element sends), so the
 * features always match what the model was trained on; a property set explicitly that contradicts
 * the model is an error when the element starts. #GstRnnFeatures:vtln-warp is the exception: it
 * describes the speaker, not the model, so set explicitly it overrides the model's value.
 *
 * Vocal tract length perturbation and normalisation (kind=fbank and mfcc): with
 * #GstRnnFeatures:vtln-warp not 1 the corners of the mel triangles move along Kaldi's
 * piecewise-linear VTLN warp (compute-fbank-feats --vtln-warp, --vtln-low, --vtln-high;
 * torchaudio.compliance.kaldi's vtln_warp, vtln_low, vtln_high give the same numbers): their
 * frequencies are divided by the factor between the knees #GstRnnFeatures:vtln-low and
 * #GstRnnFeatures:vtln-high, and stretched linearly from there to low-freq and high-freq, which
 * stay fixed. A factor above 1 makes a recording's features look like those of a speaker with
 * formants that much higher (a shorter vocal tract: women, children), below 1 the reverse; a
 * random factor per training utterance (about 0.9 to 1.1) is Jaitly and Hinton's VTLP
 * augmentation (tools/rnn-train --vtln-warp). The property may be changed while PLAYING: the mel
 * banks are rebuilt in the streaming thread at the next rnn-reset event or STREAM_START, between
 * two runs, so no frame mixes two warps. An rnn-reset event whose structure has a double field
 * "vtln-warp" sets the factor of the run that follows it only (the next rnn-reset without the
 * field, or a STREAM_START, returns to the property's): the factor travels in the stream,
 * serialized with the audio it applies to. The rnn-feature-settings event, and so the
 * features.vtln-warp a trained model stores, carries the property's factor, never a per-run one.
 *
 * Sample rate: the features depend on it (the mel bins span #GstRnnFeatures:low-freq to half the
 * rate; frame-length and frame-shift are counted in samples at it), so frames computed at one rate
 * mean something else to a model trained at another. With #GstRnnFeatures:sample-frequency set
 * (with #GstRnnFeatures:model, from the model's "features.sample-frequency", which rnntrain
 * stores from the rate it was trained at), the sink pad answers caps and accept-caps queries with
 * only that rate, so an audioresample upstream converts to it; without a converter, a stream at
 * another rate fails negotiation (not-negotiated). 0, the default (and a model trained before the
 * rate was stored), accepts any rate. The rnn-feature-settings event always carries the rate
 * actually negotiated. The same holds for kind=raw (a sensor's rate, e.g. sensorparse rate=10).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=digit.wav ! wavparse ! rnnfeatures kind=mfcc ! fakesink
 * gst-launch-1.0 autoaudiosrc ! audioconvert ! audioresample ! rnnfeatures model=digits.rnn ! rnninfer model=digits.rnn ! fakesink
 * gst-launch-1.0 filesrc location=speech-44k.wav ! decodebin ! audioconvert ! audioresample ! rnnfeatures sample-frequency=8000 ! fakesink
 * ]|
 */
/* Why a GstElement with its own chain function rather than a GstBaseTransform: one input buffer
 * yields zero, one or many frame buffers (and kind=raw one per sample), frames are held back across
 * buffers (the window, deltas), and EOS, DISCONT and caps changes must flush the held frames
 * downstream before the event: a plain chain/event pair says that directly, while BaseTransform's
 * one-in/one-out model would need submit_input_buffer/generate_output plumbing for all of it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include "gstrnnfeatures.h"
#include "rnncaps.h"
#include "rnnelements.h"
#include "rnnmodelcache.h"
#include "rnnresults.h"

GST_DEBUG_CATEGORY_STATIC (gst_rnn_features_debug);
#define GST_CAT_DEFAULT gst_rnn_features_debug

/* F32 audio in [-1, 1] to Kaldi's 16-bit scale. */
#define F32_TO_KALDI_SCALE 32768.0f

enum {
  PROP_0,
  /* feature settings: the ids from PROP_KIND to PROP_NORM_VARS, handled generically (model
   * metadata, the rnn-feature-settings event); keep them contiguous */
  PROP_KIND,
  PROP_NUM_MEL_BINS,
  PROP_NUM_CEPS,
  PROP_FRAME_LENGTH,
  PROP_FRAME_SHIFT,
  PROP_WINDOW_TYPE,
  PROP_BLACKMAN_COEFF,
  PROP_PREEMPHASIS_COEFFICIENT,
  PROP_REMOVE_DC_OFFSET,
  PROP_SNIP_EDGES,
  PROP_LOW_FREQ,
  PROP_HIGH_FREQ,
  PROP_USE_ENERGY,
  PROP_CEPSTRAL_LIFTER,
  PROP_USE_LOG_FBANK,
  PROP_USE_POWER,
  PROP_ENERGY_FLOOR,
  PROP_RAW_ENERGY,
  PROP_ROUND_TO_POWER_OF_TWO,
  PROP_DITHER,
  PROP_DELTAS,
  PROP_CMN_WINDOW,
  PROP_MIN_CMN_WINDOW,
  PROP_CMN_CENTER,
  PROP_NORM_VARS,
  PROP_VTLN_WARP,
  PROP_VTLN_LOW,
  PROP_VTLN_HIGH,
  PROP_SAMPLE_FREQUENCY,
  PROP_MODEL
};
#define PROP_FIRST_FEATURE PROP_KIND
#define PROP_LAST_FEATURE PROP_SAMPLE_FREQUENCY

#define DEFAULT_KIND GST_RNN_FEATURES_KIND_FBANK
#define DEFAULT_NUM_MEL_BINS 23
#define DEFAULT_NUM_CEPS 13
#define DEFAULT_FRAME_LENGTH 25.0
#define DEFAULT_FRAME_SHIFT 10.0
#define DEFAULT_WINDOW_TYPE GST_RNN_FEATURES_WINDOW_POVEY
#define DEFAULT_BLACKMAN_COEFF 0.42
#define DEFAULT_PREEMPHASIS_COEFFICIENT 0.97
#define DEFAULT_REMOVE_DC_OFFSET TRUE
#define DEFAULT_SNIP_EDGES TRUE
#define DEFAULT_LOW_FREQ 20.0
#define DEFAULT_HIGH_FREQ 0.0
#define DEFAULT_USE_ENERGY FALSE
#define DEFAULT_CEPSTRAL_LIFTER 22.0
#define DEFAULT_USE_LOG_FBANK TRUE
#define DEFAULT_USE_POWER TRUE
#define DEFAULT_ENERGY_FLOOR 0.0
#define DEFAULT_RAW_ENERGY TRUE
#define DEFAULT_ROUND_TO_POWER_OF_TWO TRUE
#define DEFAULT_DITHER 0.0
#define DEFAULT_DELTAS 0
#define DEFAULT_CMN_WINDOW 0    /* off; Kaldi's apply-cmvn-sliding default is 600 */
#define DEFAULT_MIN_CMN_WINDOW 100
#define DEFAULT_CMN_CENTER FALSE
#define DEFAULT_NORM_VARS FALSE
#define DEFAULT_VTLN_WARP 1.0   /* no warp */
#define DEFAULT_VTLN_LOW 100.0  /* Kaldi's defaults */
#define DEFAULT_VTLN_HIGH -500.0
/* VTLP draws 0.9..1.1, VTLN estimates 0.8..1.2; beyond 0.5..2 the warp is no longer a vocal tract */
#define MIN_VTLN_WARP 0.5
#define MAX_VTLN_WARP 2.0
#define DEFAULT_SAMPLE_FREQUENCY 0      /* any rate */
/* a window of 100000 frames is 1000 s at the default frame shift */
#define MAX_CMN_WINDOW 100000
/* dither noise restarts from this seed at every reset, so runs are reproducible */
#define DITHER_SEED 20240601u

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format = (string) { S16LE, F32LE }, "
        "rate = (int) [ 1, MAX ], channels = (int) [ 1, MAX ], layout = (string) interleaved"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_RNN_FRAMES_CAPS_TEMPLATE));

G_DEFINE_TYPE (GstRnnFeatures, gst_rnn_features, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (rnnfeatures, "rnnfeatures", GST_RANK_NONE, GST_TYPE_RNN_FEATURES);

GType
gst_rnn_features_kind_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_FEATURES_KIND_FBANK, "Log mel filterbank energies (Kaldi fbank)", "fbank"},
    {GST_RNN_FEATURES_KIND_MFCC, "Mel-frequency cepstral coefficients (Kaldi mfcc)", "mfcc"},
    {GST_RNN_FEATURES_KIND_RAW, "The input channels of each sample, unchanged (sensors)", "raw"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstRnnFeaturesKind", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_rnn_features_window_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_FEATURES_WINDOW_POVEY, "Povey (Hann to the power 0.85)", "povey"},
    {GST_RNN_FEATURES_WINDOW_HAMMING, "Hamming", "hamming"},
    {GST_RNN_FEATURES_WINDOW_HANNING, "Hann", "hanning"},
    {GST_RNN_FEATURES_WINDOW_RECTANGULAR, "Rectangular", "rectangular"},
    {GST_RNN_FEATURES_WINDOW_BLACKMAN, "Blackman (with blackman-coeff)", "blackman"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstRnnFeaturesWindow", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_rnn_features_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec);
static void gst_rnn_features_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec);
static void gst_rnn_features_finalize (GObject * object);
static GstStateChangeReturn gst_rnn_features_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_rnn_features_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_rnn_features_sink_event (GstPad * pad, GstObject * parent, GstEvent * event);
static gboolean gst_rnn_features_src_query (GstPad * pad, GstObject * parent, GstQuery * query);
static gboolean gst_rnn_features_sink_query (GstPad * pad, GstObject * parent, GstQuery * query);

/* ---------------------------------------------------------------------------------------------
 * Settings: one place that maps property ids to the settings struct, used by the properties, the
 * model's metadata and the rnn-feature-settings event alike.
 * ------------------------------------------------------------------------------------------- */
static void
settings_init (GstRnnFeatureSettings * s)
{
  s->kind = DEFAULT_KIND;
  s->num_mel_bins = DEFAULT_NUM_MEL_BINS;
  s->num_ceps = DEFAULT_NUM_CEPS;
  s->frame_length = DEFAULT_FRAME_LENGTH;
  s->frame_shift = DEFAULT_FRAME_SHIFT;
  s->window_type = DEFAULT_WINDOW_TYPE;
  s->blackman_coeff = DEFAULT_BLACKMAN_COEFF;
  s->preemphasis_coefficient = DEFAULT_PREEMPHASIS_COEFFICIENT;
  s->remove_dc_offset = DEFAULT_REMOVE_DC_OFFSET;
  s->snip_edges = DEFAULT_SNIP_EDGES;
  s->low_freq = DEFAULT_LOW_FREQ;
  s->high_freq = DEFAULT_HIGH_FREQ;
  s->use_energy = DEFAULT_USE_ENERGY;
  s->cepstral_lifter = DEFAULT_CEPSTRAL_LIFTER;
  s->use_log_fbank = DEFAULT_USE_LOG_FBANK;
  s->use_power = DEFAULT_USE_POWER;
  s->energy_floor = DEFAULT_ENERGY_FLOOR;
  s->raw_energy = DEFAULT_RAW_ENERGY;
  s->round_to_power_of_two = DEFAULT_ROUND_TO_POWER_OF_TWO;
  s->dither = DEFAULT_DITHER;
  s->deltas = DEFAULT_DELTAS;
  s->cmn_window = DEFAULT_CMN_WINDOW;
  s->min_cmn_window = DEFAULT_MIN_CMN_WINDOW;
  s->cmn_center = DEFAULT_CMN_CENTER;
  s->norm_vars = DEFAULT_NORM_VARS;
  s->vtln_warp = DEFAULT_VTLN_WARP;
  s->vtln_low = DEFAULT_VTLN_LOW;
  s->vtln_high = DEFAULT_VTLN_HIGH;
  s->sample_frequency = DEFAULT_SAMPLE_FREQUENCY;
}

static void
settings_set (GstRnnFeatureSettings * s, guint prop_id, const GValue * value)
{
  switch (prop_id) {
    case PROP_KIND: s->kind = g_value_get_enum (value); break;
    case PROP_NUM_MEL_BINS: s->num_mel_bins = g_value_get_int (value); break;
    case PROP_NUM_CEPS: s->num_ceps = g_value_get_int (value); break;
    case PROP_FRAME_LENGTH: s->frame_length = g_value_get_double (value); break;
    case PROP_FRAME_SHIFT: s->frame_shift = g_value_get_double (value); break;
    case PROP_WINDOW_TYPE: s->window_type = g_value_get_enum (value); break;
    case PROP_BLACKMAN_COEFF: s->blackman_coeff = g_value_get_double (value); break;
    case PROP_PREEMPHASIS_COEFFICIENT: s->preemphasis_coefficient = g_value_get_double (value); break;
    case PROP_REMOVE_DC_OFFSET: s->remove_dc_offset = g_value_get_boolean (value); break;
    case PROP_SNIP_EDGES: s->snip_edges = g_value_get_boolean (value); break;
    case PROP_LOW_FREQ: s->low_freq = g_value_get_double (value); break;
    case PROP_HIGH_FREQ: s->high_freq = g_value_get_double (value); break;
    case PROP_USE_ENERGY: s->use_energy = g_value_get_boolean (value); break;
    case PROP_CEPSTRAL_LIFTER: s->cepstral_lifter = g_value_get_double (value); break;
    case PROP_USE_LOG_FBANK: s->use_log_fbank = g_value_get_boolean (value); break;
    case PROP_USE_POWER: s->use_power = g_value_get_boolean (value); break;
    case PROP_ENERGY_FLOOR: s->energy_floor = g_value_get_double (value); break;
    case PROP_RAW_ENERGY: s->raw_energy = g_value_get_boolean (value); break;
    case PROP_ROUND_TO_POWER_OF_TWO: s->round_to_power_of_two = g_value_get_boolean (value); break;
    case PROP_DITHER: s->dither = g_value_get_double (value); break;
    case PROP_DELTAS: s->deltas = g_value_get_int (value); break;
    case PROP_CMN_WINDOW: s->cmn_window = g_value_get_int (value); break;
    case PROP_MIN_CMN_WINDOW: s->min_cmn_window = g_value_get_int (value); break;
    case PROP_CMN_CENTER: s->cmn_center = g_value_get_boolean (value); break;
    case PROP_NORM_VARS: s->norm_vars = g_value_get_boolean (value); break;
    case PROP_VTLN_WARP: s->vtln_warp = g_value_get_double (value); break;
    case PROP_VTLN_LOW: s->vtln_low = g_value_get_double (value); break;
    case PROP_VTLN_HIGH: s->vtln_high = g_value_get_double (value); break;
    case PROP_SAMPLE_FREQUENCY: s->sample_frequency = g_value_get_int (value); break;
    default: g_assert_not_reached ();
  }
}

static void
settings_get (const GstRnnFeatureSettings * s, guint prop_id, GValue * value)
{
  switch (prop_id) {
    case PROP_KIND: g_value_set_enum (value, s->kind); break;
    case PROP_NUM_MEL_BINS: g_value_set_int (value, s->num_mel_bins); break;
    case PROP_NUM_CEPS: g_value_set_int (value, s->num_ceps); break;
    case PROP_FRAME_LENGTH: g_value_set_double (value, s->frame_length); break;
    case PROP_FRAME_SHIFT: g_value_set_double (value, s->frame_shift); break;
    case PROP_WINDOW_TYPE: g_value_set_enum (value, s->window_type); break;
    case PROP_BLACKMAN_COEFF: g_value_set_double (value, s->blackman_coeff); break;
    case PROP_PREEMPHASIS_COEFFICIENT: g_value_set_double (value, s->preemphasis_coefficient); break;
    case PROP_REMOVE_DC_OFFSET: g_value_set_boolean (value, s->remove_dc_offset); break;
    case PROP_SNIP_EDGES: g_value_set_boolean (value, s->snip_edges); break;
    case PROP_LOW_FREQ: g_value_set_double (value, s->low_freq); break;
    case PROP_HIGH_FREQ: g_value_set_double (value, s->high_freq); break;
    case PROP_USE_ENERGY: g_value_set_boolean (value, s->use_energy); break;
    case PROP_CEPSTRAL_LIFTER: g_value_set_double (value, s->cepstral_lifter); break;
    case PROP_USE_LOG_FBANK: g_value_set_boolean (value, s->use_log_fbank); break;
    case PROP_USE_POWER: g_value_set_boolean (value, s->use_power); break;
    case PROP_ENERGY_FLOOR: g_value_set_double (value, s->energy_floor); break;
    case PROP_RAW_ENERGY: g_value_set_boolean (value, s->raw_energy); break;
    case PROP_ROUND_TO_POWER_OF_TWO: g_value_set_boolean (value, s->round_to_power_of_two); break;
    case PROP_DITHER: g_value_set_double (value, s->dither); break;
    case PROP_DELTAS: g_value_set_int (value, s->deltas); break;
    case PROP_CMN_WINDOW: g_value_set_int (value, s->cmn_window); break;
    case PROP_MIN_CMN_WINDOW: g_value_set_int (value, s->min_cmn_window); break;
    case PROP_CMN_CENTER: g_value_set_boolean (value, s->cmn_center); break;
    case PROP_NORM_VARS: g_value_set_boolean (value, s->norm_vars); break;
    case PROP_VTLN_WARP: g_value_set_double (value, s->vtln_warp); break;
    case PROP_VTLN_LOW: g_value_set_double (value, s->vtln_low); break;
    case PROP_VTLN_HIGH: g_value_set_double (value, s->vtln_high); break;
    case PROP_SAMPLE_FREQUENCY: g_value_set_int (value, s->sample_frequency); break;
    default: g_assert_not_reached ();
  }
}

static gboolean
is_feature_property (const GParamSpec * pspec)
{
  return pspec->owner_type == GST_TYPE_RNN_FEATURES && pspec->param_id >= PROP_FIRST_FEATURE
      && pspec->param_id <= PROP_LAST_FEATURE;
}

/* A value as a user would write it on a gst-launch line: enums by nick. */
static gchar *
format_value (const GValue * v)
{
  GType t = G_VALUE_TYPE (v);

  if (G_TYPE_IS_ENUM (t)) {
    GEnumClass *klass = g_type_class_ref (t);
    GEnumValue *ev = g_enum_get_value (klass, g_value_get_enum (v));
    gchar *s = g_strdup (ev ? ev->value_nick : "?");

    g_type_class_unref (klass);
    return s;
  }
  if (t == G_TYPE_BOOLEAN)
    return g_strdup (g_value_get_boolean (v) ? "true" : "false");
  if (t == G_TYPE_INT)
    return g_strdup_printf ("%d", g_value_get_int (v));
  if (t == G_TYPE_DOUBLE)
    return g_strdup_printf ("%g", g_value_get_double (v));
  return g_strdup_value_contents (v);
}

static gboolean
model_meta_type (const rnn_model * m, const gchar * key, rnn_meta_type * type)
{
  gint i, n = rnn_model_meta_count (m);

  for (i = 0; i < n; i++) {
    const char *k;
    rnn_meta_type t;

    if (rnn_model_meta_at (m, i, &k, &t) == 0 && k && g_str_equal (k, key)) {
      *type = t;
      return TRUE;
    }
  }
  return FALSE;
}

/* Reads "features.<property>" from the model into value (initialised to the property's type).
 * Returns FALSE without error when the key is absent, FALSE with error when it is unusable. */
static gboolean
model_setting (const rnn_model * m, const gchar * path, GParamSpec * pspec, GValue * value,
    GError ** error)
{
  gchar *key = g_strconcat ("features.", pspec->name, NULL);
  GType t = G_PARAM_SPEC_VALUE_TYPE (pspec);
  rnn_meta_type mt;
  gboolean ok = FALSE;
  int64_t iv = 0;
  double dv = 0.0;
  const char *sv = NULL;

  if (!model_meta_type (m, key, &mt))
    goto done;

  if (t == G_TYPE_INT && mt == RNN_META_INT && rnn_model_meta_int (m, key, &iv)) {
    ok = iv >= G_MININT && iv <= G_MAXINT;
    if (ok)
      g_value_set_int (value, (gint) iv);
  } else if (t == G_TYPE_DOUBLE && mt == RNN_META_FLOAT && rnn_model_meta_float (m, key, &dv)) {
    ok = isfinite (dv);
    if (ok)
      g_value_set_double (value, dv);
  } else if (t == G_TYPE_DOUBLE && mt == RNN_META_INT && rnn_model_meta_int (m, key, &iv)) {
    ok = TRUE;
    g_value_set_double (value, (gdouble) iv);
  } else if (t == G_TYPE_BOOLEAN && mt == RNN_META_INT && rnn_model_meta_int (m, key, &iv)) {
    ok = iv == 0 || iv == 1;
    if (ok)
      g_value_set_boolean (value, iv != 0);
  } else if (G_TYPE_IS_ENUM (t) && mt == RNN_META_STRING && rnn_model_meta_string (m, key, &sv)) {
    GEnumClass *klass = g_type_class_ref (t);
    GEnumValue *ev = sv ? g_enum_get_value_by_nick (klass, sv) : NULL;

    ok = ev != NULL;
    if (ok)
      g_value_set_enum (value, ev->value);
    g_type_class_unref (klass);
  }
  if (ok && g_param_value_validate (pspec, value))
    ok = FALSE;                 /* out of the property's range */
  if (!ok)
    g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_MODEL,
        "model %s: metadata key %s is not a valid %s value for property %s", path, key,
        G_TYPE_IS_ENUM (t) ? "enum nick" : g_type_name (t), pspec->name);

done:
  g_free (key);
  return ok;
}

/* settings = the user's properties overlaid with the model's feature settings. */
static gboolean
resolve_settings (GstRnnFeatures * self, GError ** error)
{
  GstRnnFeatureSettings s;
  guint64 explicit_set;
  gchar *path;
  GParamSpec **pspecs;
  guint n, i;
  gboolean ok = TRUE;

  GST_OBJECT_LOCK (self);
  s = self->user;
  explicit_set = self->explicit_set;
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);

  if (path != NULL && self->model == NULL) {
    self->model = gst_rnn_model_cache_get (path, error);
    if (self->model == NULL) {
      g_free (path);
      return FALSE;
    }
  }

  if (path != NULL) {
    pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (self), &n);
    for (i = 0; ok && i < n; i++) {
      GParamSpec *pspec = pspecs[i];
      GValue mv = G_VALUE_INIT, uv = G_VALUE_INIT;

      if (!is_feature_property (pspec))
        continue;
      GError *meta_error = NULL;

      g_value_init (&mv, G_PARAM_SPEC_VALUE_TYPE (pspec));
      g_value_init (&uv, G_PARAM_SPEC_VALUE_TYPE (pspec));
      if (model_setting (self->model, path, pspec, &mv, &meta_error)) {
        settings_get (&s, pspec->param_id, &uv);
        if (pspec->param_id == PROP_VTLN_WARP
            && (explicit_set & (G_GUINT64_CONSTANT (1) << pspec->param_id))) {
          /* the speaker's factor, not the model's: the explicit property wins */
          GST_INFO_OBJECT (self, "vtln-warp=%g overrides the model's (%g)",
              g_value_get_double (&uv), g_value_get_double (&mv));
        } else if ((explicit_set & (G_GUINT64_CONSTANT (1) << pspec->param_id))
            && g_param_values_cmp (pspec, &uv, &mv) != 0) {
          gchar *a = format_value (&uv), *b = format_value (&mv);

          g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_SETTINGS,
              "%s=%s contradicts the model (%s)", pspec->name, a, b);
          g_free (a);
          g_free (b);
          ok = FALSE;
        } else {
          settings_set (&s, pspec->param_id, &mv);
        }
      } else if (meta_error != NULL) {
        g_propagate_error (error, meta_error);
        ok = FALSE;
      } else if (pspec->param_id == PROP_SAMPLE_FREQUENCY && s.sample_frequency == 0) {
        GST_INFO_OBJECT (self, "model %s has no features.sample-frequency (trained before it "
            "was stored): any input rate is accepted", path);
      }
      g_value_unset (&mv);
      g_value_unset (&uv);
    }
    g_free (pspecs);
  }
  g_free (path);
  if (ok) {
    GST_OBJECT_LOCK (self);
    self->settings = s;
    self->settings_valid = TRUE;
    GST_OBJECT_UNLOCK (self);
  }
  return ok;
}

static void
settings_to_options (const GstRnnFeatureSettings * s, gint rate, KaldiFeatureOptions * o)
{
  kaldi_feature_options_init (o);
  o->kind = s->kind == GST_RNN_FEATURES_KIND_MFCC ? KALDI_KIND_MFCC : KALDI_KIND_FBANK;
  o->sample_rate = rate;
  o->frame_length_ms = s->frame_length;
  o->frame_shift_ms = s->frame_shift;
  o->window_type = (KaldiWindowType) s->window_type;
  o->blackman_coeff = s->blackman_coeff;
  o->preemphasis_coefficient = s->preemphasis_coefficient;
  o->remove_dc_offset = s->remove_dc_offset;
  o->snip_edges = s->snip_edges;
  o->round_to_power_of_two = s->round_to_power_of_two;
  o->dither = s->dither;
  o->dither_seed = DITHER_SEED;
  o->low_freq = s->low_freq;
  o->high_freq = s->high_freq;
  o->num_mel_bins = s->num_mel_bins;
  o->num_ceps = s->num_ceps;
  o->use_energy = s->use_energy;
  o->raw_energy = s->raw_energy;
  o->use_log_fbank = s->use_log_fbank;
  o->use_power = s->use_power;
  o->energy_floor = s->energy_floor;
  o->cepstral_lifter = s->cepstral_lifter;
  o->vtln_warp = s->vtln_warp;
  o->vtln_low = s->vtln_low;
  o->vtln_high = s->vtln_high;
}

/* The rnn-feature-settings event: every feature property, named and typed as the property, plus
 * feature-size. vtln-warp is the property's (a run's factor from an rnn-reset event is not a
 * setting of the stream). */
static GstEvent *
settings_event_new (GstRnnFeatures * self)
{
  GstStructure *st = gst_structure_new_empty (GST_RNN_FEATURE_SETTINGS_NAME);
  GstRnnFeatureSettings settings;
  GParamSpec **pspecs;
  guint n, i;

  /* vtln-warp may be set from another thread while PLAYING */
  GST_OBJECT_LOCK (self);
  settings = self->settings;
  GST_OBJECT_UNLOCK (self);
  self->announced_warp = settings.vtln_warp;

  pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (self), &n);
  for (i = 0; i < n; i++) {
    GValue v = G_VALUE_INIT;

    if (!is_feature_property (pspecs[i]))
      continue;
    g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (pspecs[i]));
    settings_get (&settings, pspecs[i]->param_id, &v);
    gst_structure_take_value (st, pspecs[i]->name, &v);
  }
  g_free (pspecs);
  /* the rate the frames were computed at, even when any rate is accepted (0): a model trained
   * on these frames stores it, and then accepts only that rate */
  gst_structure_set (st, "sample-frequency", G_TYPE_INT, GST_AUDIO_INFO_RATE (&self->info),
      "feature-size", G_TYPE_INT, self->out_dim, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, st);
}

/* ---------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------- */
static void
gst_rnn_features_class_init (GstRnnFeaturesClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_rnn_features_debug, "rnnfeatures", 0,
      "Kaldi-compatible audio features as frames");

  gobject_class->set_property = gst_rnn_features_set_property;
  gobject_class->get_property = gst_rnn_features_get_property;
  gobject_class->finalize = gst_rnn_features_finalize;

  g_object_class_install_property (gobject_class, PROP_KIND,
      g_param_spec_enum ("kind", "Kind",
          "What each frame holds: fbank (log mel filterbank), mfcc, or raw (the input channels "
          "of one sample, for sensors)", GST_TYPE_RNN_FEATURES_KIND, DEFAULT_KIND, flags));
  g_object_class_install_property (gobject_class, PROP_SAMPLE_FREQUENCY,
      g_param_spec_int ("sample-frequency", "Sample frequency",
          "Sample rate in Hz the input must have (the mel bins span low-freq to half of it, and "
          "frame-length and frame-shift become samples at it): the sink pad accepts only this "
          "rate, so an audioresample upstream converts to it; with model= it is the rate the "
          "model was trained at (0 = any rate)", 0, G_MAXINT, DEFAULT_SAMPLE_FREQUENCY, flags));
  g_object_class_install_property (gobject_class, PROP_NUM_MEL_BINS,
      g_param_spec_int ("num-mel-bins", "Mel bins",
          "Number of triangular mel-frequency bins", 3, 1024, DEFAULT_NUM_MEL_BINS, flags));
  g_object_class_install_property (gobject_class, PROP_NUM_CEPS,
      g_param_spec_int ("num-ceps", "Cepstra",
          "Number of cepstra in MFCC computation, including C0 (at most num-mel-bins)",
          1, 1024, DEFAULT_NUM_CEPS, flags));
  g_object_class_install_property (gobject_class, PROP_FRAME_LENGTH,
      g_param_spec_double ("frame-length", "Frame length",
          "Frame length in milliseconds", 0.01, 10000.0, DEFAULT_FRAME_LENGTH, flags));
  g_object_class_install_property (gobject_class, PROP_FRAME_SHIFT,
      g_param_spec_double ("frame-shift", "Frame shift",
          "Frame shift in milliseconds", 0.01, 10000.0, DEFAULT_FRAME_SHIFT, flags));
  g_object_class_install_property (gobject_class, PROP_WINDOW_TYPE,
      g_param_spec_enum ("window-type", "Window type", "Window function applied to each frame",
          GST_TYPE_RNN_FEATURES_WINDOW, DEFAULT_WINDOW_TYPE, flags));
  g_object_class_install_property (gobject_class, PROP_BLACKMAN_COEFF,
      g_param_spec_double ("blackman-coeff", "Blackman coefficient",
          "Constant coefficient of the generalised Blackman window (window-type=blackman)",
          0.0, 1.0, DEFAULT_BLACKMAN_COEFF, flags));
  g_object_class_install_property (gobject_class, PROP_PREEMPHASIS_COEFFICIENT,
      g_param_spec_double ("preemphasis-coefficient", "Pre-emphasis coefficient",
          "Coefficient of the pre-emphasis filter x[i] -= c * x[i-1] (0 = none)",
          0.0, 1.0, DEFAULT_PREEMPHASIS_COEFFICIENT, flags));
  g_object_class_install_property (gobject_class, PROP_REMOVE_DC_OFFSET,
      g_param_spec_boolean ("remove-dc-offset", "Remove DC offset",
          "Subtract the mean of each frame before processing it", DEFAULT_REMOVE_DC_OFFSET, flags));
  g_object_class_install_property (gobject_class, PROP_SNIP_EDGES,
      g_param_spec_boolean ("snip-edges", "Snip edges",
          "Only output frames that fit completely in the signal (the number of frames depends on "
          "frame-length); if false, frames are centred on multiples of frame-shift and the signal "
          "is reflected at its ends, the number of frames depending only on frame-shift",
          DEFAULT_SNIP_EDGES, flags));
  g_object_class_install_property (gobject_class, PROP_LOW_FREQ,
      g_param_spec_double ("low-freq", "Low frequency",
          "Low cutoff frequency of the mel bins, in Hz", 0.0, 1.0e6, DEFAULT_LOW_FREQ, flags));
  g_object_class_install_property (gobject_class, PROP_HIGH_FREQ,
      g_param_spec_double ("high-freq", "High frequency",
          "High cutoff frequency of the mel bins, in Hz (0 = Nyquist; negative = offset from "
          "Nyquist)", -1.0e6, 1.0e6, DEFAULT_HIGH_FREQ, flags));
  g_object_class_install_property (gobject_class, PROP_USE_ENERGY,
      g_param_spec_boolean ("use-energy", "Use energy",
          "fbank: add the log energy as the first value; mfcc: the log energy replaces C0",
          DEFAULT_USE_ENERGY, flags));
  g_object_class_install_property (gobject_class, PROP_CEPSTRAL_LIFTER,
      g_param_spec_double ("cepstral-lifter", "Cepstral lifter",
          "Constant that controls the scaling of MFCCs (0 = no liftering)",
          0.0, 1.0e6, DEFAULT_CEPSTRAL_LIFTER, flags));
  g_object_class_install_property (gobject_class, PROP_USE_LOG_FBANK,
      g_param_spec_boolean ("use-log-fbank", "Log filterbank",
          "fbank: output the log of the filterbank energies, else the energies",
          DEFAULT_USE_LOG_FBANK, flags));
  g_object_class_install_property (gobject_class, PROP_USE_POWER,
      g_param_spec_boolean ("use-power", "Use power",
          "fbank: filter the power spectrum, else the magnitude spectrum", DEFAULT_USE_POWER,
          flags));
  g_object_class_install_property (gobject_class, PROP_ENERGY_FLOOR,
      g_param_spec_double ("energy-floor", "Energy floor",
          "Floor on the energy (absolute, not log) when use-energy is set (0 = none)",
          0.0, 1.0e30, DEFAULT_ENERGY_FLOOR, flags));
  g_object_class_install_property (gobject_class, PROP_RAW_ENERGY,
      g_param_spec_boolean ("raw-energy", "Raw energy",
          "Compute the energy before pre-emphasis and windowing", DEFAULT_RAW_ENERGY, flags));
  g_object_class_install_property (gobject_class, PROP_ROUND_TO_POWER_OF_TWO,
      g_param_spec_boolean ("round-to-power-of-two", "Round to power of two",
          "Zero-pad each frame to a power of two for the FFT", DEFAULT_ROUND_TO_POWER_OF_TWO,
          flags));
  g_object_class_install_property (gobject_class, PROP_DITHER,
      g_param_spec_double ("dither", "Dither",
          "Standard deviation of Gaussian noise added to each frame's samples (0 = none; Kaldi's "
          "default is 1; the noise is seeded, so output is reproducible)",
          0.0, 1.0e6, DEFAULT_DITHER, flags));
  g_object_class_install_property (gobject_class, PROP_DELTAS,
      g_param_spec_int ("deltas", "Deltas",
          "Append time derivatives as Kaldi's add-deltas (window 2): 1 = deltas, 2 = deltas and "
          "delta-deltas; frames leave 2 * deltas frames later", 0, 2, DEFAULT_DELTAS, flags));
  g_object_class_install_property (gobject_class, PROP_CMN_WINDOW,
      g_param_spec_int ("cmn-window", "CMN window",
          "Sliding-window cepstral mean normalisation as Kaldi's apply-cmvn-sliding, before the "
          "deltas: subtract from each frame the mean of a window of this many frames of the same "
          "run, ending at the frame (or centred on it, see cmn-center) (0 = off; Kaldi's default "
          "when used is 600)", 0, MAX_CMN_WINDOW, DEFAULT_CMN_WINDOW, flags));
  g_object_class_install_property (gobject_class, PROP_MIN_CMN_WINDOW,
      g_param_spec_int ("min-cmn-window", "Minimum CMN window",
          "With cmn-window and cmn-center=false: frames the first windows wait for (latency at "
          "the start of a run only); a shorter run is normalised by its own mean",
          0, MAX_CMN_WINDOW, DEFAULT_MIN_CMN_WINDOW, flags));
  g_object_class_install_property (gobject_class, PROP_CMN_CENTER,
      g_param_spec_boolean ("cmn-center", "Centred CMN window",
          "With cmn-window: centre the window on the frame instead of ending it there (frames "
          "leave about cmn-window / 2 frames later, cmn-window - 1 at the start of a run)",
          DEFAULT_CMN_CENTER, flags));
  g_object_class_install_property (gobject_class, PROP_NORM_VARS,
      g_param_spec_boolean ("norm-vars", "Normalise variance",
          "With cmn-window: also divide by the window's standard deviation (a variance below "
          "1e-10 is floored there, so constant features give 0)", DEFAULT_NORM_VARS, flags));
  g_object_class_install_property (gobject_class, PROP_VTLN_WARP,
      g_param_spec_double ("vtln-warp", "VTLN warp factor",
          "Vocal tract length warp of the mel bins (Kaldi's --vtln-warp; fbank, mfcc): their "
          "frequencies are divided by it between vtln-low and vtln-high (piecewise linear, "
          "low-freq and high-freq fixed); above 1 the features look like a speaker's with "
          "higher formants (shorter vocal tract), 1 = no warp. Can be changed while PLAYING: "
          "takes effect at the next rnn-reset event or stream start; an rnn-reset event with a "
          "double field vtln-warp sets it for the run after it only. With model=, set "
          "explicitly it overrides the model's", MIN_VTLN_WARP, MAX_VTLN_WARP, DEFAULT_VTLN_WARP,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_VTLN_LOW,
      g_param_spec_double ("vtln-low", "VTLN low knee",
          "Lower knee of the VTLN warp in Hz (Kaldi's --vtln-low): with vtln-warp not 1 it must "
          "be above low-freq", 0.0, 1.0e6, DEFAULT_VTLN_LOW, flags));
  g_object_class_install_property (gobject_class, PROP_VTLN_HIGH,
      g_param_spec_double ("vtln-high", "VTLN high knee",
          "Upper knee of the VTLN warp in Hz (Kaldi's --vtln-high; negative = offset from the "
          "Nyquist frequency): with vtln-warp not 1 it must be above vtln-low and below "
          "high-freq", -1.0e6, 1.0e6, DEFAULT_VTLN_HIGH, flags));
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of a .rnn model: every feature setting is taken from its features.* metadata; "
          "a property set explicitly that contradicts the model is an error", NULL, flags));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "RNN features",
      "Filter/Analyzer/Audio",
      "Kaldi-compatible log mel filterbank or MFCC features (or raw sensor channels) as "
      "frames for recurrent networks", "gst-rnn contributors");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_rnn_features_change_state);

  gst_type_mark_as_plugin_api (GST_TYPE_RNN_FEATURES_KIND, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_RNN_FEATURES_WINDOW, 0);
}

static void
gst_rnn_features_init (GstRnnFeatures * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_features_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_features_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_features_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_rnn_features_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  settings_init (&self->user);
  self->settings = self->user;
  self->flow = GST_FLOW_OK;
  self->latency = GST_CLOCK_TIME_NONE;
  self->base_ts = GST_CLOCK_TIME_NONE;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
}

static void
gst_rnn_features_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (object);

  GST_OBJECT_LOCK (self);
  if (prop_id >= PROP_FIRST_FEATURE && prop_id <= PROP_LAST_FEATURE) {
    settings_set (&self->user, prop_id, value);
    self->explicit_set |= G_GUINT64_CONSTANT (1) << prop_id;
    /* while running: the streaming thread applies it at the next run (start_run_warp) */
    if (prop_id == PROP_VTLN_WARP && self->settings_valid)
      settings_set (&self->settings, prop_id, value);
  } else if (prop_id == PROP_MODEL) {
    g_free (self->model_path);
    self->model_path = g_value_dup_string (value);
    if (self->model_path && *self->model_path == '\0')
      g_clear_pointer (&self->model_path, g_free);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_rnn_features_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (object);

  GST_OBJECT_LOCK (self);
  if (prop_id >= PROP_FIRST_FEATURE && prop_id <= PROP_LAST_FEATURE) {
    /* while running with a model, report what is computed */
    settings_get (self->settings_valid ? &self->settings : &self->user, prop_id, value);
  } else if (prop_id == PROP_MODEL) {
    g_value_set_string (value, self->model_path);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
free_stream (GstRnnFeatures * self)
{
  g_clear_pointer (&self->extractor, kaldi_features_free);
  g_clear_pointer (&self->cmn, kaldi_cmn_free);
  g_clear_pointer (&self->deltas, kaldi_deltas_free);
  g_clear_pointer (&self->raw_frame, g_free);
  if (self->pool) {
    gst_buffer_pool_set_active (self->pool, FALSE);
    gst_clear_object (&self->pool);
  }
  self->configured = FALSE;
  GST_OBJECT_LOCK (self);
  self->latency = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);
}

static void
gst_rnn_features_finalize (GObject * object)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (object);

  free_stream (self);
  g_clear_pointer (&self->model, rnn_model_unref);
  g_free (self->model_path);
  G_OBJECT_CLASS (gst_rnn_features_parent_class)->finalize (object);
}

/* ---------------------------------------------------------------------------------------------
 * Streaming
 * ------------------------------------------------------------------------------------------- */
static GstClockTime
samples_to_time (GstRnnFeatures * self, guint64 samples)
{
  return gst_util_uint64_scale_int (samples, GST_SECOND, GST_AUDIO_INFO_RATE (&self->info));
}

/* Ends the current run without output: the next buffer starts a new timeline. */
static void
reset_run (GstRnnFeatures * self)
{
  if (GST_CLOCK_TIME_IS_VALID (self->base_ts) && self->configured)
    self->base_ts += samples_to_time (self, self->run_samples);
  if (self->extractor)
    kaldi_features_reset (self->extractor);
  if (self->cmn)
    kaldi_cmn_reset (self->cmn);
  if (self->deltas)
    kaldi_deltas_reset (self->deltas);
  self->run_samples = 0;
  self->raw_frames = 0;
  self->need_base = TRUE;
  self->discont_out = TRUE;
}

static int
push_frame (void *user, uint64_t index, const float *frame)
{
  GstRnnFeatures *self = user;
  GstBuffer *buf = NULL;
  guint64 pos = index * (guint64) self->shift;

  self->flow = gst_buffer_pool_acquire_buffer (self->pool, &buf, NULL);
  if (self->flow != GST_FLOW_OK)
    return 1;
  gst_buffer_fill (buf, 0, frame, sizeof (float) * self->out_dim);
  if (GST_CLOCK_TIME_IS_VALID (self->base_ts)) {
    GstClockTime t0 = samples_to_time (self, pos), t1 = samples_to_time (self, pos + self->shift);

    GST_BUFFER_PTS (buf) = self->base_ts + t0;
    GST_BUFFER_DURATION (buf) = t1 - t0;
  }
  GST_BUFFER_OFFSET (buf) = index;
  GST_BUFFER_OFFSET_END (buf) = index + 1;
  if (self->discont_out) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont_out = FALSE;
  }
  self->flow = gst_pad_push (self->srcpad, buf);
  return self->flow != GST_FLOW_OK;
}

/* A normalised frame goes through the deltas stage (a pass-through for deltas=0). */
static int
normalised_frame (void *user, uint64_t index, const float *frame)
{
  GstRnnFeatures *self = user;

  return kaldi_deltas_push (self->deltas, index, frame, push_frame, self);
}

/* A frame from the extractor (or raw) goes through sliding CMN (a pass-through for
 * cmn-window=0), then the deltas: Kaldi's recipe normalises the base features and adds deltas to
 * the normalised ones. */
static int
base_frame (void *user, uint64_t index, const float *frame)
{
  GstRnnFeatures *self = user;

  return kaldi_cmn_push (self->cmn, index, frame, normalised_frame, self);
}

/* Finishes the current run as at the end of a stream: the last frames with snip-edges=false, the
 * frames held back by CMN (normalised with the run's final length), then those held for deltas. */
static GstFlowReturn
drain (GstRnnFeatures * self)
{
  GstFlowReturn ret = GST_FLOW_OK;

  if (!self->configured)
    return GST_FLOW_OK;
  self->flow = GST_FLOW_OK;
  if (self->extractor && kaldi_features_finish (self->extractor, base_frame, self) != 0)
    ret = self->flow;
  if (ret == GST_FLOW_OK && kaldi_cmn_finish (self->cmn, normalised_frame, self) != 0)
    ret = self->flow;
  if (kaldi_deltas_finish (self->deltas, push_frame, self) != 0 && ret == GST_FLOW_OK)
    ret = self->flow;
  reset_run (self);
  return ret;
}

/* The warp factor of the run starting now: an rnn-reset event's, else the vtln-warp property's
 * (read now, so that a change made while PLAYING takes effect at this run). */
static gdouble
run_warp_factor (GstRnnFeatures * self)
{
  gdouble warp;

  if (self->run_warp > 0.0)
    return self->run_warp;
  GST_OBJECT_LOCK (self);
  warp = self->settings_valid ? self->settings.vtln_warp : self->user.vtln_warp;
  GST_OBJECT_UNLOCK (self);
  return warp;
}

/* A run starts (after an rnn-reset event or STREAM_START; the run before has been drained):
 * event_warp is the event's vtln-warp, 0 for none. The mel banks are rebuilt when the run's warp
 * differs from theirs, here in the streaming thread, the only one that touches the extractor,
 * and between runs, so no frame mixes two warps; a changed vtln-warp property is announced with
 * a new rnn-feature-settings event. FALSE, with an error posted, when the warp cannot be applied:
 * buffers then fail until the next caps. */
static gboolean
start_run_warp (GstRnnFeatures * self, gdouble event_warp)
{
  char err[256];
  gdouble warp, base;

  self->run_warp = event_warp;
  if (!self->configured || self->extractor == NULL)
    return TRUE;                /* not configured yet (configure applies it), or kind=raw */
  warp = run_warp_factor (self);
  if (warp != kaldi_features_vtln_warp (self->extractor)) {
    if (kaldi_features_set_vtln_warp (self->extractor, warp, err, sizeof (err)) < 0) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Cannot warp the mel bins: %s", err), (NULL));
      self->warp_failed = TRUE;
      return FALSE;
    }
    GST_DEBUG_OBJECT (self, "mel banks rebuilt for vtln-warp=%g", warp);
  }
  self->warp_failed = FALSE;
  GST_OBJECT_LOCK (self);
  base = self->settings.vtln_warp;
  GST_OBJECT_UNLOCK (self);
  if (base != self->announced_warp)
    gst_pad_push_event (self->srcpad, settings_event_new (self));
  return TRUE;
}

/* The optional vtln-warp field of an rnn-reset event: 0 when absent. FALSE, with an error posted,
 * when it is not a double in the property's range. */
static gboolean
reset_event_warp (GstRnnFeatures * self, GstEvent * event, gdouble * warp)
{
  const GstStructure *s = gst_event_get_structure (event);

  *warp = 0.0;
  if (!gst_structure_has_field (s, "vtln-warp"))
    return TRUE;
  if (!gst_structure_get_double (s, "vtln-warp", warp) || !(*warp >= MIN_VTLN_WARP
          && *warp <= MAX_VTLN_WARP)) {
    gchar *text = gst_structure_to_string (s);

    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("The %s event's vtln-warp must be a double in "
            "[%g, %g]: %s", GST_RNN_RESET_EVENT_NAME, MIN_VTLN_WARP, MAX_VTLN_WARP, text), (NULL));
    g_free (text);
    self->warp_failed = TRUE;
    return FALSE;
  }
  return TRUE;
}

/* Like gst_audio_info_from_caps, but several channels without a channel-mask are taken as
 * unpositioned (sensor axes have no speaker positions) instead of being refused. */
static gboolean
parse_audio_caps (GstAudioInfo * info, GstCaps * caps)
{
  const GstStructure *s;
  GstCaps *copy;
  gboolean ok;
  gint channels = 0;

  if (gst_caps_get_size (caps) != 1)
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  if (gst_structure_has_field (s, "channel-mask")
      || !gst_structure_get_int (s, "channels", &channels) || channels < 2)
    return gst_audio_info_from_caps (info, caps);
  copy = gst_caps_copy (caps);
  gst_caps_set_simple (copy, "channel-mask", GST_TYPE_BITMASK, (guint64) 0, NULL);
  ok = gst_audio_info_from_caps (info, copy);
  gst_caps_unref (copy);
  return ok;
}

static gboolean
configure (GstRnnFeatures * self, GstCaps * caps)
{
  GstAudioInfo info;
  GError *error = NULL;
  GstCaps *outcaps;
  GstStructure *config;
  gint rate, channels, rate_n, rate_d, g;
  guint64 latency;
  gboolean ok;

  if (!parse_audio_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("cannot parse audio caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  if (self->configured && gst_audio_info_is_equal (&info, &self->info))
    return TRUE;

  /* what was received under the old caps is finished with them */
  drain (self);

  if (!resolve_settings (self, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", error->message), (NULL));
    g_clear_error (&error);
    return FALSE;
  }

  rate = GST_AUDIO_INFO_RATE (&info);
  if (self->settings.sample_frequency != 0 && rate != self->settings.sample_frequency) {
    /* the accept-caps answer refuses such caps first; this catches a caps event sent anyway */
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The input is %d Hz audio, but sample-frequency is %d Hz: put audioresample before "
            "rnnfeatures", rate, self->settings.sample_frequency), (NULL));
    free_stream (self);
    return FALSE;
  }

  free_stream (self);
  self->info = info;
  channels = GST_AUDIO_INFO_CHANNELS (&info);

  if (self->settings.kind == GST_RNN_FEATURES_KIND_RAW) {
    self->base_dim = channels;
    self->shift = 1;
    self->raw_frame = g_new0 (float, channels);
  } else {
    KaldiFeatureOptions o;
    GstRnnFeatureSettings settings;
    char err[256];

    /* a copy: vtln-warp may be set from another thread while PLAYING */
    GST_OBJECT_LOCK (self);
    settings = self->settings;
    GST_OBJECT_UNLOCK (self);
    settings_to_options (&settings, rate, &o);
    o.vtln_warp = run_warp_factor (self);
    self->extractor = kaldi_features_new (&o, err, sizeof (err));
    if (!self->extractor) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("Cannot compute features of %d Hz audio: %s", rate, err), (NULL));
      return FALSE;
    }
    self->base_dim = kaldi_features_dim (self->extractor);
    self->shift = kaldi_features_shift (self->extractor);
  }
  self->cmn = kaldi_cmn_new (self->base_dim, self->settings.cmn_window,
      self->settings.min_cmn_window, self->settings.cmn_center, self->settings.norm_vars);
  self->deltas = kaldi_deltas_new (self->base_dim, self->settings.deltas);
  if (!self->cmn || !self->deltas) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory"), (NULL));
    free_stream (self);
    return FALSE;
  }
  self->out_dim = kaldi_deltas_out_dim (self->deltas);

  if (self->model && rnn_model_input_size (self->model) != self->out_dim) {
    gchar *path;

    GST_OBJECT_LOCK (self);
    path = g_strdup (self->model_path);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The model %s takes %d values per frame, but its feature settings give %d on "
            "%d-channel audio", path, rnn_model_input_size (self->model), self->out_dim,
            channels), (NULL));
    g_free (path);
    free_stream (self);
    return FALSE;
  }

  g = (gint) gst_util_greatest_common_divisor (rate, self->shift);
  rate_n = rate / g;
  rate_d = self->shift / g;
  outcaps = gst_rnn_frames_caps_new (self->out_dim, rate_n, rate_d);
  GST_DEBUG_OBJECT (self, "%" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT, caps, outcaps);

  self->pool = gst_buffer_pool_new ();
  config = gst_buffer_pool_get_config (self->pool);
  gst_buffer_pool_config_set_params (config, outcaps, sizeof (float) * self->out_dim, 4, 0);
  ok = gst_buffer_pool_set_config (self->pool, config) && gst_buffer_pool_set_active (self->pool,
      TRUE);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot allocate frame buffers"), (NULL));
    gst_caps_unref (outcaps);
    free_stream (self);
    return FALSE;
  }

  ok = gst_pad_set_caps (self->srcpad, outcaps);
  gst_caps_unref (outcaps);
  if (!ok) {
    free_stream (self);
    return FALSE;
  }
  /* sticky, so it reaches downstream before the first frame (and again after a reconfigure) */
  gst_pad_push_event (self->srcpad, settings_event_new (self));

  /* a frame leaves when its last sample (and, with CMN and deltas, the frames after it) arrived:
   * CMN's longest hold-back (at the start of a run) counts; kept under the object lock for
   * LATENCY queries from other threads */
  latency = ((guint64) kaldi_cmn_delay (self->cmn) + kaldi_deltas_delay (self->deltas))
      * self->shift;
  if (self->extractor)
    latency += kaldi_features_latency_samples (self->extractor);
  GST_OBJECT_LOCK (self);
  self->latency = samples_to_time (self, latency);
  GST_OBJECT_UNLOCK (self);

  self->configured = TRUE;
  self->warp_failed = FALSE;
  reset_run (self);
  return TRUE;
}

static void
warn_nonfinite (GstRnnFeatures * self, guint64 sample)
{
  if (self->warned_nonfinite)
    return;
  self->warned_nonfinite = TRUE;
  GST_ELEMENT_WARNING (self, STREAM, FORMAT,
      ("The input audio contains NaN or infinite samples; they are replaced by 0"),
      ("first one at sample %" G_GUINT64_FORMAT " of the current run", sample));
}

static GstFlowReturn
gst_rnn_features_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (parent);
  GstMapInfo map;
  gint channels, bpf, c;
  gsize n, i;
  gboolean is_f32, raw;
  GstFlowReturn ret;

  if (!self->configured) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("no audio caps before the first buffer"));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (self->warp_failed) {
    /* the error is posted; computing with another warp would give wrong features silently */
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  if (GST_BUFFER_IS_DISCONT (buf) && self->run_samples > 0) {
    GST_DEBUG_OBJECT (self, "discont: finishing the run of %" G_GUINT64_FORMAT " samples",
        self->run_samples);
    ret = drain (self);
    if (ret != GST_FLOW_OK) {
      gst_buffer_unref (buf);
      return ret;
    }
  }
  if (self->need_base) {
    if (GST_BUFFER_PTS_IS_VALID (buf))
      self->base_ts = GST_BUFFER_PTS (buf);
    else if (!GST_CLOCK_TIME_IS_VALID (self->base_ts))
      self->base_ts = self->segment.format == GST_FORMAT_TIME ? self->segment.start : 0;
    self->need_base = FALSE;
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("cannot map the input buffer"));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  channels = GST_AUDIO_INFO_CHANNELS (&self->info);
  bpf = GST_AUDIO_INFO_BPF (&self->info);
  is_f32 = GST_AUDIO_INFO_FORMAT (&self->info) == GST_AUDIO_FORMAT_F32LE;
  raw = self->settings.kind == GST_RNN_FEATURES_KIND_RAW;
  n = map.size / bpf;
  if (map.size % bpf)
    GST_WARNING_OBJECT (self, "buffer of %" G_GSIZE_FORMAT " bytes is not a whole number of "
        "%d-byte samples; the rest is ignored", map.size, bpf);

  self->flow = GST_FLOW_OK;
  for (i = 0; i < n; i++) {
    const guint8 *p = map.data + i * bpf;
    float sum = 0.0f;
    int stop;

    for (c = 0; c < channels; c++) {
      float v;

      if (is_f32) {
        v = GST_READ_FLOAT_LE (p + 4 * c);
        if (!isfinite (v)) {
          warn_nonfinite (self, self->run_samples);
          v = 0.0f;
        }
        if (!raw)
          v *= F32_TO_KALDI_SCALE;
      } else {
        v = (float) (gint16) GST_READ_UINT16_LE (p + 2 * c);
      }
      if (raw)
        self->raw_frame[c] = v;
      else
        sum += v;
    }
    self->run_samples++;
    if (raw)
      stop = base_frame (self, self->raw_frames++, self->raw_frame);
    else
      stop = kaldi_features_push (self->extractor, channels == 1 ? sum : sum / channels,
          base_frame, self);
    if (stop)
      break;
  }
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  return self->flow;
}

static gboolean
gst_rnn_features_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean ok;

      gst_event_parse_caps (event, &caps);
      ok = configure (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_SEGMENT:{
      const GstSegment *segment;

      gst_event_parse_segment (event, &segment);
      if (segment->format == GST_FORMAT_TIME) {
        gst_segment_copy_into (segment, &self->segment);
      } else {
        /* frames are timed from sample counts; give downstream a time segment from 0 */
        GST_DEBUG_OBJECT (self, "%s segment replaced by a time segment",
            gst_format_get_name (segment->format));
        gst_segment_init (&self->segment, GST_FORMAT_TIME);
        gst_event_unref (event);
        event = gst_event_new_segment (&self->segment);
      }
      break;
    }
    case GST_EVENT_EOS:
      drain (self);
      break;
    case GST_EVENT_STREAM_START:{
      gboolean ok;

      drain (self);
      /* forwarded first: a changed vtln-warp is announced within the new stream */
      ok = gst_pad_event_default (pad, parent, event);
      start_run_warp (self, 0.0);
      return ok;
    }
    case GST_EVENT_FLUSH_STOP:
      reset_run (self);
      self->base_ts = GST_CLOCK_TIME_NONE;
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      break;
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      if (gst_event_has_name (event, GST_RNN_RESET_EVENT_NAME)) {
        gdouble warp;

        drain (self);
        /* the frames before the event had the previous run's warp; those after get this one */
        if (!reset_event_warp (self, event, &warp) || !start_run_warp (self, warp)) {
          gst_event_unref (event);
          return FALSE;
        }
      }
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* The settings in force: the model's once started, else the properties. */
static GstRnnFeatureSettings
current_settings (GstRnnFeatures * self)
{
  GstRnnFeatureSettings s;

  GST_OBJECT_LOCK (self);
  s = self->settings_valid ? self->settings : self->user;
  GST_OBJECT_UNLOCK (self);
  return s;
}

/* The sink template, its rate fixed to sample-frequency when that is set. */
static GstCaps *
sink_caps (GstRnnFeatures * self, GstPad * pad)
{
  GstCaps *caps = gst_pad_get_pad_template_caps (pad);
  gint rate = current_settings (self).sample_frequency;

  if (rate > 0) {
    caps = gst_caps_make_writable (caps);
    gst_caps_set_simple (caps, "rate", G_TYPE_INT, rate, NULL);
  }
  return caps;
}

static gboolean
gst_rnn_features_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps = sink_caps (self, pad);

      gst_query_parse_caps (query, &filter);
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);

        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS:{
      GstCaps *caps, *allowed = sink_caps (self, pad);
      gboolean ok;

      gst_query_parse_accept_caps (query, &caps);
      ok = gst_caps_is_subset (caps, allowed);
      if (!ok)
        GST_INFO_OBJECT (self, "refusing %" GST_PTR_FORMAT " (accepted: %" GST_PTR_FORMAT ")",
            caps, allowed);
      gst_query_set_accept_caps_result (query, ok);
      gst_caps_unref (allowed);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_rnn_features_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max, ours;

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      GST_OBJECT_LOCK (self);
      ours = self->latency;
      GST_OBJECT_UNLOCK (self);
      if (!GST_CLOCK_TIME_IS_VALID (ours))
        return TRUE;            /* not configured yet: upstream's answer as it is */
      gst_query_parse_latency (query, &live, &min, &max);
      GST_DEBUG_OBJECT (self, "latency %" GST_TIME_FORMAT, GST_TIME_ARGS (ours));
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += ours;
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;

      gst_query_parse_caps (query, &filter);
      caps = gst_pad_get_current_caps (pad);
      if (caps == NULL) {
        GstRnnFeatureSettings s = current_settings (self);

        if (s.kind == GST_RNN_FEATURES_KIND_RAW) {
          caps = gst_pad_get_pad_template_caps (pad);
        } else {
          KaldiFeatureOptions o;

          settings_to_options (&s, s.sample_frequency > 0 ? s.sample_frequency : 16000, &o);
          caps = gst_rnn_frames_caps_for_size (kaldi_feature_dim (&o) * (s.deltas + 1));
        }
      }
      if (filter) {
        GstCaps *tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);

        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static GstStateChangeReturn
gst_rnn_features_change_state (GstElement * element, GstStateChange transition)
{
  GstRnnFeatures *self = GST_RNN_FEATURES (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:{
      GError *error = NULL;

      free_stream (self);
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      self->base_ts = GST_CLOCK_TIME_NONE;
      self->warned_nonfinite = FALSE;
      self->run_warp = 0.0;
      self->announced_warp = 0.0;
      self->warp_failed = FALSE;
      /* load the model and check the settings now, so that a contradiction fails the start */
      if (!resolve_settings (self, &error)) {
        if (g_error_matches (error, GST_RNN_ERROR, GST_RNN_ERROR_SETTINGS))
          GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("%s", error->message), (NULL));
        else
          GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", error->message), (NULL));
        g_clear_error (&error);
        return GST_STATE_CHANGE_FAILURE;
      }
      break;
    }
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (gst_rnn_features_parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      free_stream (self);
      g_clear_pointer (&self->model, rnn_model_unref);
      GST_OBJECT_LOCK (self);
      self->settings_valid = FALSE;
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      break;
  }
  return ret;
}
