/* gst-rnn: rnnfeatures, Kaldi-compatible features (log-mel filterbank, MFCC) or raw channels as
 * frames for rnninfer and rnntrain.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_FEATURES_H
#define GST_RNN_FEATURES_H

#include <gst/gst.h>
#include <gst/audio/audio.h>

#include "kaldifeatures.h"
#include "rnn.h"

G_BEGIN_DECLS

#define GST_TYPE_RNN_FEATURES (gst_rnn_features_get_type ())
G_DECLARE_FINAL_TYPE (GstRnnFeatures, gst_rnn_features, GST, RNN_FEATURES, GstElement)

#define GST_TYPE_RNN_FEATURES_KIND (gst_rnn_features_kind_get_type ())
GType gst_rnn_features_kind_get_type (void);
#define GST_TYPE_RNN_FEATURES_WINDOW (gst_rnn_features_window_get_type ())
GType gst_rnn_features_window_get_type (void);

typedef enum {
  GST_RNN_FEATURES_KIND_FBANK = 0,
  GST_RNN_FEATURES_KIND_MFCC = 1,
  GST_RNN_FEATURES_KIND_RAW = 2
} GstRnnFeaturesKind;

/* Values equal KaldiWindowType's. */
typedef enum {
  GST_RNN_FEATURES_WINDOW_POVEY = KALDI_WINDOW_POVEY,
  GST_RNN_FEATURES_WINDOW_HAMMING = KALDI_WINDOW_HAMMING,
  GST_RNN_FEATURES_WINDOW_HANNING = KALDI_WINDOW_HANNING,
  GST_RNN_FEATURES_WINDOW_RECTANGULAR = KALDI_WINDOW_RECTANGULAR,
  GST_RNN_FEATURES_WINDOW_BLACKMAN = KALDI_WINDOW_BLACKMAN
} GstRnnFeaturesWindow;

/* Every feature setting, as the properties carry them (Kaldi's names and units). */
typedef struct {
  GstRnnFeaturesKind kind;
  gint num_mel_bins;
  gint num_ceps;
  gdouble frame_length;
  gdouble frame_shift;
  GstRnnFeaturesWindow window_type;
  gdouble blackman_coeff;
  gdouble preemphasis_coefficient;
  gboolean remove_dc_offset;
  gboolean snip_edges;
  gdouble low_freq;
  gdouble high_freq;
  gboolean use_energy;
  gdouble cepstral_lifter;
  gboolean use_log_fbank;
  gboolean use_power;
  gdouble energy_floor;
  gboolean raw_energy;
  gboolean round_to_power_of_two;
  gdouble dither;
  gint deltas;
  gint cmn_window;              /* frames; 0 = no sliding CMN */
  gint min_cmn_window;
  gboolean cmn_center;
  gboolean norm_vars;
  gdouble vtln_warp;            /* 1 = no warp; may change while PLAYING (object lock) */
  gdouble vtln_low;
  gdouble vtln_high;
  gint sample_frequency;        /* Hz the sink accepts; 0 = any rate */
} GstRnnFeatureSettings;

struct _GstRnnFeatures {
  GstElement element;

  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  GstRnnFeatureSettings user;   /* as set through properties */
  guint64 explicit_set;         /* bit per property id the application set */
  gchar *model_path;

  /* from start until stop (state lock, then stream lock) */
  rnn_model *model;             /* when model is set */
  GstRnnFeatureSettings settings; /* user overlaid with the model's: what is computed */
  gboolean settings_valid;
  GstClockTime latency;         /* NONE until configured (object lock) */

  /* streaming (stream lock) */
  gboolean configured;
  GstAudioInfo info;
  KaldiFeatures *extractor;     /* fbank / mfcc */
  KaldiCmn *cmn;                /* sliding CMN (a pass-through when cmn-window is 0) */
  KaldiDeltas *deltas;
  gint base_dim, out_dim;
  gint shift;                   /* samples per frame step (1 for raw) */
  float *raw_frame;             /* channels, kind=raw */
  GstBufferPool *pool;
  GstSegment segment;
  gboolean need_base;           /* the next buffer sets base_ts */
  GstClockTime base_ts;         /* time of sample 0 of the current run */
  guint64 run_samples;          /* samples since the current run began */
  guint64 raw_frames;           /* kind=raw: frames since the current run began */
  gboolean discont_out;         /* mark the next output buffer DISCONT */
  gboolean warned_nonfinite;
  GstFlowReturn flow;           /* result of the last push from a frame callback */
  /* VTLN (stream lock): the warp an rnn-reset event set for the run after it (0: none, the
   * vtln-warp property's applies), the vtln-warp of the last rnn-feature-settings event pushed,
   * and whether a warp could not be applied (an error was posted; buffers fail) */
  gdouble run_warp;
  gdouble announced_warp;
  gboolean warp_failed;
};

GST_ELEMENT_REGISTER_DECLARE (rnnfeatures);

G_END_DECLS
#endif
