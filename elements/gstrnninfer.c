/* gst-rnn: rnninfer, a stateful recurrent model over a stream of frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-rnninfer
 * @title: rnninfer
 *
 * Runs a recurrent model (simple RNN, LSTM, GRU; `.rnn` file) over a stream of feature frames,
 * keeping the recurrent state from buffer to buffer, and reports what the model recognises:
 *
 * - classification models (metadata task=classification, labels): an `rnn-classification`
 *   result per utterance or, with mode=window, one every window-hop over the last window-length;
 * - transcription models (task=transcription, CTC alphabet with the blank at index 0):
 *   `rnn-transcription` results, partial ones while an utterance goes on and a final one at each
 *   endpoint, with per-word times and confidences. An ensemble of transcribers merged by
 *   tools/rnn-ensemble.py (a grouped head: each frame is the members' posteriors side by side)
 *   is decoded member by member and their symbols are combined by a vote (engine/rnn.h,
 *   rnn_ctc_decoder_new_voting), since averaging CTC members frame by frame blurs their spikes.
 *
 * Utterances: a file (a stream whose upstream is not live) is one utterance up to EOS, so each
 * recording gives exactly one result; a live stream (a microphone) is cut into utterances by a
 * voice-activity rule: a frame is speech when its level is above vad-threshold and, once the
 * background has been measured, vad-margin above the noise floor. vad=on or vad=off chooses
 * explicitly; vad=auto (the default) asks upstream with a latency query when a stream starts.
 * vad=trim is for files with silence around the speech: one result per file, as with off, from
 * the model run over the speech the rule finds rather than over the background around it.
 *
 * Each result is posted on the bus as an element message and sent downstream, in order with the
 * data, as a serialized custom downstream event carrying the same structure. The source pad
 * carries either the model's per-frame outputs (frames caps with N = output size) or, when
 * downstream asks for `text/x-raw,format=utf8`, one timestamped buffer per final result.
 *
 * A model that cannot stream (a bidirectional layer, or per-sequence normalisation: the model's
 * `input.normalization` = "sequence") is run once per utterance, when it ends, over the utterance's
 * speech frames only (first to last speech frame): background before the speech and the
 * min-silence hangover after it never enter it, so that a live utterance is normalised by its own
 * speech, as the training recordings were.
 *
 * A streaming model starts each utterance from a fresh state that first hears the last pre-roll
 * ms of the stream before the first speech frame, so that weak onsets under vad-threshold are
 * heard; the result then starts at the first of those frames.
 *
 * The recurrent state is reset on FLUSH_STOP, STREAM_START, caps changes, READY→PAUSED, the custom
 * serialized `rnn-reset` event, at the start of each utterance, and on DISCONT buffers when
 * discont-reset is set. Details: docs/caps-and-events.md.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=3_theo_0.wav ! wavparse ! rnnfeatures model=digits.rnn ! \
 *     rnninfer model=digits.rnn ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include "gstrnninfer.h"
#include "rnn.h"
#include "rnncaps.h"
#include "rnnmodelcache.h"
#include "rnnresults.h"

GST_DEBUG_CATEGORY_STATIC (rnn_infer_debug);
#define GST_CAT_DEFAULT rnn_infer_debug

#define TEXT_CAPS "text/x-raw, format=(string)utf8"

#define DEFAULT_MODE GST_RNN_INFER_MODE_UTTERANCE
#define DEFAULT_DISCONT_RESET TRUE
#define DEFAULT_VAD GST_RNN_INFER_VAD_AUTO
/* Mean Kaldi log-mel energy (16-bit sample scale) between the quiet edges (median ~12.8) and the
 * speech (median ~15.1) of FSDD recordings; see docs/caps-and-events.md for the measurement. */
#define DEFAULT_VAD_THRESHOLD 12.0
/* The same for frames normalised by a sliding mean (rnnfeatures cmn-window > 0): their level is
 * relative to the recent average, and speech stands above it. See docs/caps-and-events.md. */
#define DEFAULT_VAD_THRESHOLD_CMN 0.5
#define DEFAULT_VAD_FEATURE -1
/* Speech must stand this far (log-mel units, natural log of power: 1.0 is 4.3 dB) above the noise
 * floor: the frame level of steady noise stays within 0.6 of the floor; see
 * docs/caps-and-events.md for the measurement. */
#define DEFAULT_VAD_MARGIN 1.0
/* The noise floor is the minimum of the smoothed frame level over the last VAD_FLOOR_SUBWINDOWS x
 * VAD_FLOOR_SUBWINDOW (minimum statistics, as in R. Martin's noise estimator, without its bias
 * correction: the margin absorbs it). Two seconds hold a pause between words or sentences, so the
 * minimum is background rather than speech; it is used from the first complete sub-window on. */
#define VAD_FLOOR_SUBWINDOWS 8
#define VAD_FLOOR_SUBWINDOW (250 * GST_MSECOND)
/* Time constant of the level smoothing before the minimum: single frames' dips do not count. */
#define VAD_FLOOR_SMOOTHING (50 * GST_MSECOND)
#define DEFAULT_MIN_SPEECH 100
#define DEFAULT_MIN_SILENCE 300
#define DEFAULT_MAX_UTTERANCE 10000
#define DEFAULT_WINDOW_LENGTH 1000
#define DEFAULT_WINDOW_HOP 500
#define DEFAULT_SMOOTHING 0
#define DEFAULT_CONFIDENCE_THRESHOLD 0.0
#define DEFAULT_BEAM_WIDTH 8
#define DEFAULT_PARTIAL_INTERVAL 500
/* Streaming models with the voice-activity rule hear this much of the stream before an
 * utterance's first speech frame: weak onsets (/s/, /f/, /n/) stay below the rule's threshold for
 * a few frames, and a model that starts from a fresh state at the first loud frame misses them.
 * See docs/caps-and-events.md for the measurement that chose it. */
#define DEFAULT_PRE_ROLL 200

/* A whole-utterance model (not streamable: bidirectional, or normalising each sequence by its own
 * statistics) runs once per utterance over its speech span: from the first speech frame to the
 * last one plus at most this much of the min-silence hangover that ended the utterance. The
 * hangover is background (300 ms by default) and so are frames before the speech: the model was
 * trained on recordings trimmed to the speech, and with per-sequence normalisation background
 * would enter the utterance's mean and variance, which would then depend on the room and on how
 * long the VAD waited rather than on the word. 0: exactly the speech frames, the span that
 * classification results have always used, now also for transcription and per-frame outputs. */
#define UTTERANCE_TAIL_MS 0

/* A whole-utterance model has no per-frame output outside utterances: one GAP event stands for at
 * most this much of the stream (not one per frame: events are allocated). */
#define MAX_GAP_SPAN (200 * GST_MSECOND)

/* Used to size buffers when the frame rate is not known (framerate=0/1): 100 frames a second. */
#define FALLBACK_FRAME_DURATION (10 * GST_MSECOND)

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_MODE,
  PROP_DISCONT_RESET,
  PROP_VAD,
  PROP_VAD_THRESHOLD,
  PROP_VAD_FEATURE,
  PROP_VAD_MARGIN,
  PROP_MIN_SPEECH,
  PROP_MIN_SILENCE,
  PROP_MAX_UTTERANCE,
  PROP_WINDOW_LENGTH,
  PROP_WINDOW_HOP,
  PROP_SMOOTHING,
  PROP_CONFIDENCE_THRESHOLD,
  PROP_BEAM_WIDTH,
  PROP_PARTIAL_INTERVAL,
  PROP_PRE_ROLL,
};

typedef enum
{
  TASK_SEQUENCE,                /* no results: per-frame outputs only */
  TASK_CLASSIFICATION,
  TASK_TRANSCRIPTION,
} Task;

typedef enum
{
  OUTPUT_FRAMES,
  OUTPUT_TEXT,
} OutputKind;

struct _GstRnnInfer
{
  GstElement parent;

  GstPad *sinkpad, *srcpad;

  /* Properties (object lock). */
  gchar *model_path;
  GstRnnInferMode mode;
  gboolean discont_reset;
  GstRnnInferVad vad;
  gdouble vad_threshold;
  gint vad_feature;
  gdouble vad_margin;
  guint min_speech_ms, min_silence_ms, max_utterance_ms;
  guint window_length_ms, window_hop_ms;
  guint smoothing_ms;
  gdouble confidence_threshold;
  guint beam_width;
  guint partial_interval_ms;
  guint pre_roll_ms;
  guint64 props_set;            /* bit (1 << prop_id): set by the application */
  gboolean vad_threshold_set;   /* by the application or the model's infer.vad-threshold */
  gboolean applying_model_defaults;

  /* The model (READY and up). The symbols point into its metadata: it is immutable and we hold a
   * reference. */
  rnn_model *model;
  gchar *loaded_path;
  Task task;
  gint in_size, out_size;
  gint members;                 /* heads side by side (a grouped head): 1, or an ensemble's size */
  gboolean streamable;
  rnn_head_kind head;
  rnn_pool_kind pool;
  const char *const *symbols;   /* labels or alphabet, or NULL */
  gint n_symbols;
  gint space_symbol;            /* alphabet index of " ", or -1 */

  /* Negotiated (streaming thread). */
  gboolean configured;
  gint rate_n, rate_d;
  GstClockTime frame_duration;
  OutputKind output;
  GstBufferPool *pool_frames;
  GstSegment segment;
  gboolean window_flow;         /* classification in window mode */
  GstRnnInferVad vad_setting;   /* the vad property when the caps came */
  gboolean vad_decided;         /* use_vad is known (decided at the first buffer) */
  gboolean use_vad;
  gboolean trim;                /* vad=trim: the rule finds the speech but never ends an utterance */
  /* The VAD's level of a frame: mean of features [vad_first, vad_first + vad_count), times
   * vad_scale plus vad_offset (an estimate of the mean log-mel energy, see frame_level()). */
  gint vad_first, vad_count;
  gdouble vad_scale, vad_offset;
  gboolean vad_relative;        /* the frames are CMN-normalised: DEFAULT_VAD_THRESHOLD_CMN */
  gdouble vad_level;            /* per buffer copy of vad-threshold */
  gdouble vad_margin_now;       /* per buffer copy of vad-margin */
  gdouble min_confidence;       /* per buffer copy of confidence-threshold */

  /* Sizes in frames, fixed at configuration from the properties and the frame rate. */
  guint max_frames, min_speech_frames, min_silence_frames;
  guint window_frames, hop_frames, smooth_len;
  GstClockTime partial_interval, max_utterance, min_silence, window_length;

  /* Preallocated working memory: nothing below is allocated per frame. */
  rnn_state *state;
  rnn_ctc_decoder *decoder;
  gfloat *frame;                /* in_size: the current frame, checked */
  gfloat *zeros;                /* out_size */
  gfloat *posterior;            /* out_size */
  gdouble *logits;              /* out_size */
  gdouble *pool_sum, *pool_snap;        /* out_size: pooled logits so far / at the last speech frame */
  guint pool_count, pool_snap_count;
  gfloat *smooth_ring;          /* smooth_len * out_size posteriors */
  guint smooth_pos, smooth_count;
  GstClockTime *fed_pts;        /* max_frames: PTS of each frame fed to the model */
  gfloat *utt_in;               /* whole-utterance models: max_frames * in_size */
  gfloat *utt_out;              /* whole-utterance models: max_frames * out_size */
  guint tail_frames;            /* UTTERANCE_TAIL_MS in frames */
  rnn_ctc_token *tokens;        /* max_frames */
  gfloat *window_in;            /* window_frames * in_size, oldest first */
  gfloat *ring;                 /* window_frames * in_size */
  GstClockTime *ring_pts;
  guint ring_pos, ring_count, since_hop;
  gboolean window_emitted;
  GString *text, *partial_text;
  /* Pre-roll (streaming models with utterances): the most recent valid frames that were not inside
   * an utterance, oldest at (preroll_pos - preroll_count); fed to the fresh state before an
   * utterance's first speech frame. preroll_cap frames; 0 = no pre-roll. */
  gfloat *preroll_in;           /* preroll_cap * in_size */
  GstClockTime *preroll_pts;    /* preroll_cap */
  guint preroll_cap, preroll_pos, preroll_count;

  /* Noise floor of the live VAD (minimum statistics over VAD_FLOOR_SUBWINDOWS sub-windows). */
  gdouble floor_alpha;          /* level smoothing per frame */
  guint floor_sub_frames;       /* frames per sub-window */
  gdouble floor_smoothed;       /* smoothed level; NaN before the first frame */
  gdouble floor_sub_min;        /* minimum in the current sub-window */
  guint floor_sub_count;        /* frames in the current sub-window */
  gdouble floor_mins[VAD_FLOOR_SUBWINDOWS];     /* minima of the last complete sub-windows */
  guint floor_pos, floor_count;
  gdouble startup_peak;         /* highest level while the floor was not known yet */

  /* The span of stream that one pending GAP event will cover (bidirectional models), or
   * gap_start = GST_CLOCK_TIME_NONE. */
  GstClockTime gap_start, gap_end;

  /* Utterance in progress. */
  gboolean in_utterance;
  guint utt_frames, speech_frames, silence_run, fed, fed_at_speech_end;
  guint fed_at_speech_start;    /* index of the first fed frame counted as speech */
  guint decode_offset;          /* fed index of the CTC decoder's frame 0 */
  GstClockTime utt_start, speech_end, last_partial;
  gboolean partial_emitted;

  /* The rnn-feature-settings of the stream (from rnnfeatures), or NULL. */
  GstStructure *feature_settings;
  gint vad_feature_cfg;

  /* Stream bookkeeping. */
  GstClockTime next_pts;
  guint64 bad_frames;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_RNN_FRAMES_CAPS_TEMPLATE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_RNN_FRAMES_CAPS_TEMPLATE "; " TEXT_CAPS));

#define gst_rnn_infer_parent_class parent_class
G_DEFINE_TYPE (GstRnnInfer, gst_rnn_infer, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (rnninfer, "rnninfer", GST_RANK_NONE, GST_TYPE_RNN_INFER);

GType
gst_rnn_infer_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_INFER_MODE_UTTERANCE,
        "One result per utterance (voice-activity endpoints, EOS)", "utterance"},
    {GST_RNN_INFER_MODE_WINDOW,
        "A result every window-hop over the last window-length", "window"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstRnnInferMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_rnn_infer_vad_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_INFER_VAD_AUTO,
        "On when upstream is live (microphone), off otherwise (files)", "auto"},
    {GST_RNN_INFER_VAD_ON, "Utterances end where the voice-activity rule finds silence", "on"},
    {GST_RNN_INFER_VAD_OFF,
        "The whole stream (to EOS, rnn-reset, DISCONT, max-utterance) is one utterance", "off"},
    {GST_RNN_INFER_VAD_TRIM,
          "One utterance as with off, the model run from the first to the last speech the "
          "voice-activity rule finds (the whole stream when it finds none)", "trim"},
    /* The former boolean property's values. */
    {GST_RNN_INFER_VAD_ON, "Same as on", "true"},
    {GST_RNN_INFER_VAD_OFF, "Same as off", "false"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstRnnInferVad", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_rnn_infer_finalize (GObject * object);
static void gst_rnn_infer_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_rnn_infer_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static GstStateChangeReturn gst_rnn_infer_change_state (GstElement * element,
    GstStateChange transition);
static GstFlowReturn gst_rnn_infer_chain (GstPad * pad, GstObject * parent, GstBuffer * buf);
static gboolean gst_rnn_infer_sink_event (GstPad * pad, GstObject * parent, GstEvent * event);
static gboolean gst_rnn_infer_sink_query (GstPad * pad, GstObject * parent, GstQuery * query);
static gboolean gst_rnn_infer_src_query (GstPad * pad, GstObject * parent, GstQuery * query);

/* ---------------------------------------------------------------------------------------------
 * Class and properties
 * ------------------------------------------------------------------------------------------- */

static void
gst_rnn_infer_class_init (GstRnnInferClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;
  const GParamFlags live = rw | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags ready = rw | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (rnn_infer_debug, "rnninfer", 0, "recurrent model inference");

  gobject_class->finalize = gst_rnn_infer_finalize;
  gobject_class->set_property = gst_rnn_infer_set_property;
  gobject_class->get_property = gst_rnn_infer_get_property;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of the model file (.rnn); loaded once per file and shared by every element",
          NULL, ready));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "When a classification model gives a result (transcription models always work per "
          "utterance)", GST_TYPE_RNN_INFER_MODE, DEFAULT_MODE, ready));
  g_object_class_install_property (gobject_class, PROP_DISCONT_RESET,
      g_param_spec_boolean ("discont-reset", "Reset on DISCONT",
          "A DISCONT buffer ends the current utterance (its result is given) and resets the "
          "recurrent state", DEFAULT_DISCONT_RESET, live));
  g_object_class_install_property (gobject_class, PROP_VAD,
      g_param_spec_enum ("vad", "Voice activity detection",
          "Find utterances with the voice-activity rule (vad-threshold, vad-margin, min-speech, "
          "min-silence); off: the whole stream up to EOS, rnn-reset, DISCONT or max-utterance is "
          "one utterance (one result per file); trim: one utterance as with off, but the model "
          "runs from the first to the last speech the rule finds (a streaming model from pre-roll "
          "before it; the whole stream when a whole-utterance model finds none), for files with "
          "silence around the speech; "
          "auto: on for a live upstream (latency query when the stream starts), off otherwise "
          "(also accepts true/false)",
          GST_TYPE_RNN_INFER_VAD, DEFAULT_VAD, ready));
  g_object_class_install_property (gobject_class, PROP_VAD_THRESHOLD,
      g_param_spec_double ("vad-threshold", "VAD threshold",
          "A frame is speech when its level (see vad-feature) is above this (and above the noise "
          "floor by vad-margin); the default suits "
          "the mean log-mel energy of 16-bit scale audio; when left unset and the frames are "
          "CMN-normalised (cmn-window > 0), 0.5 above the sliding mean is used instead",
          -G_MAXDOUBLE, G_MAXDOUBLE,
          DEFAULT_VAD_THRESHOLD, live));
  g_object_class_install_property (gobject_class, PROP_VAD_FEATURE,
      g_param_spec_int ("vad-feature", "VAD feature",
          "The frame's level for voice activity: -1 = its mean log-mel energy, found as the "
          "model's features.* metadata says the frame is laid out (fbank: mean of the mel bins; "
          "mfcc: C0 / sqrt(num-mel-bins), or the log energy - 2.1; other kinds: mean of all "
          "features); k = the value of feature k",
          -1, G_MAXINT16, DEFAULT_VAD_FEATURE, ready));
  g_object_class_install_property (gobject_class, PROP_VAD_MARGIN,
      g_param_spec_double ("vad-margin", "VAD margin above the noise floor",
          "A frame is speech only if its level is also this much above the noise floor (the "
          "lowest smoothed level of the last 2 s, used from 0.25 s into the stream on), so that "
          "background noise above vad-threshold is not taken for speech; in the level's units "
          "(log-mel: natural log of power, 1.0 = 4.3 dB); 0 = vad-threshold alone",
          0.0, G_MAXDOUBLE, DEFAULT_VAD_MARGIN, live));
  g_object_class_install_property (gobject_class, PROP_MIN_SPEECH,
      g_param_spec_uint ("min-speech", "Minimum speech (ms)",
          "Milliseconds of speech an utterance needs to give a result (shorter ones are noise)", 0, 60000,
          DEFAULT_MIN_SPEECH, ready));
  g_object_class_install_property (gobject_class, PROP_MIN_SILENCE,
      g_param_spec_uint ("min-silence", "Minimum silence (ms)",
          "Milliseconds of silence that end an utterance (hangover); shorter pauses stay inside it", 0, 60000,
          DEFAULT_MIN_SILENCE, ready));
  g_object_class_install_property (gobject_class, PROP_MAX_UTTERANCE,
      g_param_spec_uint ("max-utterance", "Maximum utterance (ms)",
          "Milliseconds after which an utterance ends (and gives its result) even without silence", 100,
          600000, DEFAULT_MAX_UTTERANCE, ready));
  g_object_class_install_property (gobject_class, PROP_WINDOW_LENGTH,
      g_param_spec_uint ("window-length", "Window length (ms)",
          "mode=window: milliseconds of stream each result covers", 1, 600000,
          DEFAULT_WINDOW_LENGTH, ready));
  g_object_class_install_property (gobject_class, PROP_WINDOW_HOP,
      g_param_spec_uint ("window-hop", "Window hop (ms)",
          "mode=window: milliseconds of stream between results", 1, 600000, DEFAULT_WINDOW_HOP, ready));
  g_object_class_install_property (gobject_class, PROP_SMOOTHING,
      g_param_spec_uint ("smoothing", "Posterior smoothing (ms)",
          "Milliseconds over which the class posteriors are averaged before a result is chosen "
          "(per frame for streaming models in utterance mode, per hop in window mode); 0 = off",
          0, 60000, DEFAULT_SMOOTHING, ready));
  g_object_class_install_property (gobject_class, PROP_CONFIDENCE_THRESHOLD,
      g_param_spec_double ("confidence-threshold", "Confidence threshold",
          "Results with a lower confidence are not given (keeps background noise quiet)",
          0.0, 1.0, DEFAULT_CONFIDENCE_THRESHOLD, live));
  g_object_class_install_property (gobject_class, PROP_BEAM_WIDTH,
      g_param_spec_uint ("beam-width", "Beam width",
          "CTC decoding: 1 = greedy, more = prefix beam search with this many hypotheses",
          1, 256, DEFAULT_BEAM_WIDTH, ready));
  g_object_class_install_property (gobject_class, PROP_PARTIAL_INTERVAL,
      g_param_spec_uint ("partial-interval", "Partial result interval (ms)",
          "Transcription: at most one partial result (final=false) per this many milliseconds of "
          "stream time, "
          "when the text changed; 0 = no partial results", 0, 600000,
          DEFAULT_PARTIAL_INTERVAL, ready));
  g_object_class_install_property (gobject_class, PROP_PRE_ROLL,
      g_param_spec_uint ("pre-roll", "Pre-roll (ms)",
          "Streaming models with the voice-activity rule: milliseconds of the stream just before "
          "an utterance's first speech frame that the model hears first, from its fresh state, so "
          "that weak onsets below vad-threshold are not lost; their outputs are part of the "
          "utterance's result (CTC decoding, pooling), which starts at the first of them; "
          "0 = the utterance starts at its first speech frame. Whole-utterance models "
          "(bidirectional, per-sequence normalisation) run over the speech frames only and "
          "ignore it", 0, 1000, DEFAULT_PRE_ROLL, ready));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "RNN inference",
      "Filter/Analyzer/Audio",
      "Runs a recurrent model (RNN, LSTM, GRU) over feature frames and reports "
      "classifications or CTC transcriptions as messages, events and text",
      "gst-rnn developers");

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_rnn_infer_change_state);

  gst_type_mark_as_plugin_api (GST_TYPE_RNN_INFER_MODE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_RNN_INFER_VAD, 0);
}

static void
gst_rnn_infer_init (GstRnnInfer * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_infer_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_infer_sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_rnn_infer_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_rnn_infer_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
  self->members = 1;

  self->mode = DEFAULT_MODE;
  self->discont_reset = DEFAULT_DISCONT_RESET;
  self->vad = DEFAULT_VAD;
  self->vad_threshold = DEFAULT_VAD_THRESHOLD;
  self->vad_feature = DEFAULT_VAD_FEATURE;
  self->vad_margin = DEFAULT_VAD_MARGIN;
  self->min_speech_ms = DEFAULT_MIN_SPEECH;
  self->min_silence_ms = DEFAULT_MIN_SILENCE;
  self->max_utterance_ms = DEFAULT_MAX_UTTERANCE;
  self->window_length_ms = DEFAULT_WINDOW_LENGTH;
  self->window_hop_ms = DEFAULT_WINDOW_HOP;
  self->smoothing_ms = DEFAULT_SMOOTHING;
  self->confidence_threshold = DEFAULT_CONFIDENCE_THRESHOLD;
  self->beam_width = DEFAULT_BEAM_WIDTH;
  self->partial_interval_ms = DEFAULT_PARTIAL_INTERVAL;
  self->pre_roll_ms = DEFAULT_PRE_ROLL;
  self->gap_start = self->gap_end = GST_CLOCK_TIME_NONE;
  self->text = g_string_sized_new (256);
  self->partial_text = g_string_sized_new (256);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
}

static void
gst_rnn_infer_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstRnnInfer *self = GST_RNN_INFER (object);

  GST_OBJECT_LOCK (self);
  if (!self->applying_model_defaults)
    self->props_set |= G_GUINT64_CONSTANT (1) << prop_id;
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_DISCONT_RESET:
      self->discont_reset = g_value_get_boolean (value);
      break;
    case PROP_VAD:
      self->vad = g_value_get_enum (value);
      break;
    case PROP_VAD_THRESHOLD:
      self->vad_threshold = g_value_get_double (value);
      self->vad_threshold_set = TRUE;
      break;
    case PROP_VAD_FEATURE:
      self->vad_feature = g_value_get_int (value);
      break;
    case PROP_VAD_MARGIN:
      self->vad_margin = g_value_get_double (value);
      break;
    case PROP_MIN_SPEECH:
      self->min_speech_ms = g_value_get_uint (value);
      break;
    case PROP_MIN_SILENCE:
      self->min_silence_ms = g_value_get_uint (value);
      break;
    case PROP_MAX_UTTERANCE:
      self->max_utterance_ms = g_value_get_uint (value);
      break;
    case PROP_WINDOW_LENGTH:
      self->window_length_ms = g_value_get_uint (value);
      break;
    case PROP_WINDOW_HOP:
      self->window_hop_ms = g_value_get_uint (value);
      break;
    case PROP_SMOOTHING:
      self->smoothing_ms = g_value_get_uint (value);
      break;
    case PROP_CONFIDENCE_THRESHOLD:
      self->confidence_threshold = g_value_get_double (value);
      break;
    case PROP_BEAM_WIDTH:
      self->beam_width = g_value_get_uint (value);
      break;
    case PROP_PARTIAL_INTERVAL:
      self->partial_interval_ms = g_value_get_uint (value);
      break;
    case PROP_PRE_ROLL:
      self->pre_roll_ms = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_rnn_infer_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstRnnInfer *self = GST_RNN_INFER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_DISCONT_RESET:
      g_value_set_boolean (value, self->discont_reset);
      break;
    case PROP_VAD:
      g_value_set_enum (value, self->vad);
      break;
    case PROP_VAD_THRESHOLD:
      g_value_set_double (value, self->vad_threshold);
      break;
    case PROP_VAD_FEATURE:
      g_value_set_int (value, self->vad_feature);
      break;
    case PROP_VAD_MARGIN:
      g_value_set_double (value, self->vad_margin);
      break;
    case PROP_MIN_SPEECH:
      g_value_set_uint (value, self->min_speech_ms);
      break;
    case PROP_MIN_SILENCE:
      g_value_set_uint (value, self->min_silence_ms);
      break;
    case PROP_MAX_UTTERANCE:
      g_value_set_uint (value, self->max_utterance_ms);
      break;
    case PROP_WINDOW_LENGTH:
      g_value_set_uint (value, self->window_length_ms);
      break;
    case PROP_WINDOW_HOP:
      g_value_set_uint (value, self->window_hop_ms);
      break;
    case PROP_SMOOTHING:
      g_value_set_uint (value, self->smoothing_ms);
      break;
    case PROP_CONFIDENCE_THRESHOLD:
      g_value_set_double (value, self->confidence_threshold);
      break;
    case PROP_BEAM_WIDTH:
      g_value_set_uint (value, self->beam_width);
      break;
    case PROP_PARTIAL_INTERVAL:
      g_value_set_uint (value, self->partial_interval_ms);
      break;
    case PROP_PRE_ROLL:
      g_value_set_uint (value, self->pre_roll_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---------------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------------- */

static void
release_model (GstRnnInfer * self)
{
  if (self->model)
    rnn_model_unref (self->model);
  self->model = NULL;
  self->symbols = NULL;
  self->n_symbols = 0;
  g_clear_pointer (&self->loaded_path, g_free);
}

/* A model may carry defaults for this element's properties as metadata "infer.<property>" (e.g.
 * infer.mode = "window", infer.window-length = 3000 for a sensor model trained on 3 s instances).
 * They apply to the properties the application did not set. */
static gboolean
apply_model_defaults (GstRnnInfer * self, rnn_model * m, const gchar * path)
{
  GObjectClass *klass = G_OBJECT_GET_CLASS (self);
  gint n = rnn_model_meta_count (m);
  gboolean ok = TRUE;

  for (gint i = 0; i < n && ok; i++) {
    const char *key, *str = NULL;
    rnn_meta_type type;
    GParamSpec *pspec;
    gchar *text = NULL;
    int64_t iv;
    double fv;
    gboolean set_by_app;

    if (rnn_model_meta_at (m, i, &key, &type) != 0 || !g_str_has_prefix (key, "infer."))
      continue;
    pspec = g_object_class_find_property (klass, key + strlen ("infer."));
    if (!pspec || pspec->owner_type != GST_TYPE_RNN_INFER || strcmp (pspec->name, "model") == 0) {
      GST_WARNING_OBJECT (self, "model '%s': metadata %s names no rnninfer property", path, key);
      continue;
    }
    GST_OBJECT_LOCK (self);
    set_by_app = (self->props_set & (G_GUINT64_CONSTANT (1) << pspec->param_id)) != 0;
    GST_OBJECT_UNLOCK (self);
    if (set_by_app)
      continue;
    if (type == RNN_META_STRING && rnn_model_meta_string (m, key, &str))
      text = g_strdup (str);
    else if (type == RNN_META_INT && rnn_model_meta_int (m, key, &iv))
      text = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) iv);
    else if (type == RNN_META_FLOAT && rnn_model_meta_float (m, key, &fv)) {
      gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

      text = g_strdup (g_ascii_dtostr (buf, sizeof (buf), fv));
    }
    if (text) {
      GValue v = G_VALUE_INIT;

      g_value_init (&v, pspec->value_type);
      if (gst_value_deserialize (&v, text) && !g_param_value_validate (pspec, &v)) {
        self->applying_model_defaults = TRUE;
        g_object_set_property (G_OBJECT (self), pspec->name, &v);
        self->applying_model_defaults = FALSE;
        GST_INFO_OBJECT (self, "model default %s = %s", pspec->name, text);
      } else {
        GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
            ("cannot use model '%s': metadata %s = '%s' is not a valid %s", path, key, text,
                pspec->name), (NULL));
        ok = FALSE;
      }
      g_value_unset (&v);
      g_free (text);
    }
  }
  return ok;
}

/* Loads the model named by the model property and checks that its metadata makes sense for this
 * element. Posts an error naming the file and returns FALSE when it does not. */
static gboolean
load_model (GstRnnInfer * self)
{
  GError *error = NULL;
  gchar *path;
  rnn_model *m;
  const char *task = NULL;
  const char *const *symbols = NULL;
  int n_symbols = 0;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->model_path);
  GST_OBJECT_UNLOCK (self);

  if (self->model && g_strcmp0 (path, self->loaded_path) == 0) {
    g_free (path);
    return TRUE;
  }
  release_model (self);

  m = gst_rnn_model_cache_get (path, &error);
  if (m == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("%s", error->message),
        ("model property: %s", path ? path : "(none)"));
    g_error_free (error);
    g_free (path);
    return FALSE;
  }

  if (!apply_model_defaults (self, m, path))
    goto bad;
  self->task = TASK_SEQUENCE;
  if (rnn_model_meta_string (m, "task", &task)) {
    if (strcmp (task, "classification") == 0)
      self->task = TASK_CLASSIFICATION;
    else if (strcmp (task, "transcription") == 0)
      self->task = TASK_TRANSCRIPTION;
  }
  self->in_size = rnn_model_input_size (m);
  self->out_size = rnn_model_output_size (m);
  self->streamable = rnn_model_streamable (m);
  self->head = rnn_model_head (m);
  self->pool = rnn_model_pool (m);
  self->members = rnn_model_head_groups (m);
  self->space_symbol = -1;

  if (self->task == TASK_CLASSIFICATION && self->members > 1) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("cannot use model '%s': it has %d heads side by side (arch.head.groups), which rnninfer "
            "combines only for transcription models", path, self->members), (NULL));
    goto bad;
  }
  if (self->task == TASK_CLASSIFICATION) {
    if (rnn_model_meta_strings (m, "labels", &symbols, &n_symbols) && n_symbols != self->out_size) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("cannot use model '%s': it has %d outputs but %d labels", path, self->out_size,
              n_symbols), (NULL));
      goto bad;
    }
  } else if (self->task == TASK_TRANSCRIPTION) {
    if (!rnn_model_meta_strings (m, "alphabet", &symbols, &n_symbols)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("cannot use model '%s': a transcription model needs an \"alphabet\"", path), (NULL));
      goto bad;
    }
    if (n_symbols != self->out_size / self->members || n_symbols < 2) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("cannot use model '%s': it has %d outputs per head but an alphabet of %d symbols "
              "(blank first)", path, self->out_size / self->members, n_symbols), (NULL));
      goto bad;
    }
    for (int i = 1; i < n_symbols; i++)
      if (strcmp (symbols[i], " ") == 0)
        self->space_symbol = i;
  }
  self->model = m;
  self->symbols = symbols;
  self->n_symbols = n_symbols;
  self->loaded_path = path;
  GST_INFO_OBJECT (self, "model %s: %d inputs, %d outputs, %s, %s", path, self->in_size,
      self->out_size, self->streamable ? "streaming" : rnn_model_sequence_normalization (m)
      ? "whole utterances (per-sequence normalisation)" : "whole utterances (bidirectional)",
      task ? task : "no task");
  return TRUE;

bad:
  rnn_model_unref (m);
  g_free (path);
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * Working memory and stream state
 * ------------------------------------------------------------------------------------------- */

static void
free_buffers (GstRnnInfer * self)
{
  g_clear_pointer (&self->state, rnn_state_free);
  g_clear_pointer (&self->decoder, rnn_ctc_decoder_free);
  g_clear_pointer (&self->frame, g_free);
  g_clear_pointer (&self->zeros, g_free);
  g_clear_pointer (&self->posterior, g_free);
  g_clear_pointer (&self->logits, g_free);
  g_clear_pointer (&self->pool_sum, g_free);
  g_clear_pointer (&self->pool_snap, g_free);
  g_clear_pointer (&self->smooth_ring, g_free);
  g_clear_pointer (&self->fed_pts, g_free);
  g_clear_pointer (&self->utt_in, g_free);
  g_clear_pointer (&self->utt_out, g_free);
  g_clear_pointer (&self->tokens, g_free);
  g_clear_pointer (&self->window_in, g_free);
  g_clear_pointer (&self->ring, g_free);
  g_clear_pointer (&self->ring_pts, g_free);
  g_clear_pointer (&self->preroll_in, g_free);
  g_clear_pointer (&self->preroll_pts, g_free);
  self->preroll_cap = 0;
  if (self->pool_frames) {
    gst_buffer_pool_set_active (self->pool_frames, FALSE);
    gst_clear_object (&self->pool_frames);
  }
  self->configured = FALSE;
}

/* Forgets everything about the stream so far (the pending utterance too). */
static void
reset_stream (GstRnnInfer * self)
{
  if (self->state)
    rnn_state_reset (self->state);
  if (self->decoder)
    rnn_ctc_decoder_reset (self->decoder);
  self->in_utterance = FALSE;
  self->utt_frames = self->speech_frames = self->silence_run = 0;
  self->fed = self->fed_at_speech_end = 0;
  self->fed_at_speech_start = self->decode_offset = 0;
  self->pool_count = self->pool_snap_count = 0;
  self->smooth_pos = self->smooth_count = 0;
  self->ring_pos = self->ring_count = self->since_hop = 0;
  self->preroll_pos = self->preroll_count = 0;
  self->window_emitted = FALSE;
  self->partial_emitted = FALSE;
  self->last_partial = GST_CLOCK_TIME_NONE;
  g_string_truncate (self->partial_text, 0);
  self->next_pts = GST_CLOCK_TIME_NONE;
  self->gap_start = self->gap_end = GST_CLOCK_TIME_NONE;
}

/* Forgets the background the VAD measured: at a new stream (caps), a flush or READY->PAUSED, but
 * not at an rnn-reset or a DISCONT, after which the room is the same. */
static void
reset_floor (GstRnnInfer * self)
{
  self->floor_smoothed = NAN;
  self->floor_sub_min = G_MAXDOUBLE;
  self->floor_sub_count = 0;
  self->floor_pos = self->floor_count = 0;
  self->startup_peak = -G_MAXDOUBLE;
}

static guint
ms_to_frames (GstRnnInfer * self, guint ms)
{
  guint64 ns = (guint64) ms * GST_MSECOND;

  return (guint) ((ns + self->frame_duration - 1) / self->frame_duration);
}

static gint64
meta_int (GstRnnInfer * self, const gchar * key, gint64 fallback)
{
  int64_t v;

  return rnn_model_meta_int (self->model, key, &v) ? v : fallback;
}

/* What the VAD measures. vad-feature=k: feature k. vad-feature=-1: the mean log-mel energy of the
 * frame, read from the frame as the model's features.* metadata (rnnfeatures' settings, Kaldi's
 * defaults when absent) lay it out: fbank, the mean of the mel bins (after the energy, before any
 * deltas); mfcc, C0 / sqrt(num-mel-bins), which Kaldi's DCT makes exactly that mean; mfcc with
 * use-energy, the log energy less 2.1, its median excess over the mean log-mel on FSDD speech;
 * anything else, the mean of all features. */
static void
choose_vad_level (GstRnnInfer * self, gint vad_feature)
{
  const char *kind = "fbank";
  gint64 mel_bins = meta_int (self, "features.num-mel-bins", 23);
  gboolean energy = meta_int (self, "features.use-energy", 0) != 0;
  gint64 cmn_window = meta_int (self, "features.cmn-window", 0);
  const GstStructure *fs = self->feature_settings;

  rnn_model_meta_string (self->model, "features.kind", &kind);
  /* The settings the frames were actually made with, when upstream told them, come first. */
  if (fs) {
    const GValue *v = gst_structure_get_value (fs, "kind");
    gint i;
    gboolean b;

    if (v && G_VALUE_HOLDS_ENUM (v)) {
      GEnumClass *klass = g_type_class_peek (G_VALUE_TYPE (v));
      GEnumValue *ev = klass ? g_enum_get_value (klass, g_value_get_enum (v)) : NULL;

      if (ev)
        kind = ev->value_nick;
    }
    if (gst_structure_get_int (fs, "num-mel-bins", &i))
      mel_bins = i;
    if (gst_structure_get_boolean (fs, "use-energy", &b))
      energy = b;
    if (gst_structure_get_int (fs, "cmn-window", &i))
      cmn_window = i;
  }
  self->vad_relative = cmn_window > 0;
  self->vad_first = 0;
  self->vad_count = self->in_size;
  self->vad_scale = 1.0;
  self->vad_offset = 0.0;
  if (vad_feature >= 0) {
    self->vad_first = vad_feature;
    self->vad_count = 1;
  } else if (strcmp (kind, "fbank") == 0) {
    self->vad_first = energy && self->in_size > 1 ? 1 : 0;
    self->vad_count = (gint) CLAMP (mel_bins, 1, self->in_size - self->vad_first);
  } else if (strcmp (kind, "mfcc") == 0) {
    self->vad_count = 1;
    if (energy)
      self->vad_offset = -2.1;
    else
      self->vad_scale = 1.0 / sqrt ((gdouble) MAX (mel_bins, 1));
  }
  GST_INFO_OBJECT (self, "VAD level: mean of features %d..%d, x %g %+g%s", self->vad_first,
      self->vad_first + self->vad_count - 1, self->vad_scale, self->vad_offset,
      self->vad_relative ? ", relative to the sliding mean (CMN)" : "");
}

/* Fixes the sizes for the negotiated frame rate and allocates the working memory. */
static gboolean
allocate_buffers (GstRnnInfer * self)
{
  guint smoothing_ms, hop_ms, pre_roll_ms;
  gint vad_feature;
  gsize in = self->in_size, out = self->out_size;

  GST_OBJECT_LOCK (self);
  self->window_flow = self->task == TASK_CLASSIFICATION
      && self->mode == GST_RNN_INFER_MODE_WINDOW;
  self->vad_setting = self->task != TASK_SEQUENCE && !self->window_flow
      ? self->vad : GST_RNN_INFER_VAD_OFF;
  self->vad_decided = FALSE;
  self->use_vad = self->trim = FALSE;
  vad_feature = self->vad_feature;
  self->max_utterance = (GstClockTime) self->max_utterance_ms * GST_MSECOND;
  self->min_silence = (GstClockTime) self->min_silence_ms * GST_MSECOND;
  self->window_length = (GstClockTime) self->window_length_ms * GST_MSECOND;
  self->max_frames = MAX (1, ms_to_frames (self, self->max_utterance_ms));
  self->min_speech_frames = ms_to_frames (self, self->min_speech_ms);
  self->min_silence_frames = MAX (1, ms_to_frames (self, self->min_silence_ms));
  self->tail_frames = ms_to_frames (self, UTTERANCE_TAIL_MS);
  self->window_frames = MAX (1, ms_to_frames (self, self->window_length_ms));
  self->hop_frames = MAX (1, ms_to_frames (self, self->window_hop_ms));
  self->partial_interval = (GstClockTime) self->partial_interval_ms * GST_MSECOND;
  smoothing_ms = self->smoothing_ms;
  hop_ms = self->window_hop_ms;
  pre_roll_ms = self->pre_roll_ms;
  self->decoder = NULL;
  if (self->task == TASK_TRANSCRIPTION)
    self->decoder = rnn_ctc_decoder_new_voting (self->out_size / self->members,
        (int) self->beam_width, self->members, (int) self->max_frames);
  GST_OBJECT_UNLOCK (self);

  if (vad_feature >= self->in_size) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("vad-feature is %d but the model's frames have %d features", vad_feature,
            self->in_size), (NULL));
    return FALSE;
  }
  self->vad_feature_cfg = vad_feature;
  choose_vad_level (self, vad_feature);
  self->floor_sub_frames = MAX (1, (guint) (VAD_FLOOR_SUBWINDOW / self->frame_duration));
  self->floor_alpha = exp (-(gdouble) self->frame_duration / VAD_FLOOR_SMOOTHING);
  reset_floor (self);
  /* Smoothing averages posteriors: of frames in utterance mode, of hops in window mode. */
  if (self->window_flow)
    self->smooth_len = MAX (1, smoothing_ms / MAX (1, hop_ms));
  else
    self->smooth_len = MAX (1, ms_to_frames (self, smoothing_ms));

  if (self->streamable) {
    self->state = rnn_state_new (self->model);
    if (!self->state)
      goto oom;
  }
  if (self->task == TASK_TRANSCRIPTION && !self->decoder)
    goto oom;
  self->frame = g_new0 (gfloat, in);
  self->zeros = g_new0 (gfloat, out);
  self->posterior = g_new0 (gfloat, out);
  self->logits = g_new0 (gdouble, out);
  self->pool_sum = g_new0 (gdouble, out);
  self->pool_snap = g_new0 (gdouble, out);
  self->smooth_ring = g_new0 (gfloat, (gsize) self->smooth_len * out);
  self->fed_pts = g_new0 (GstClockTime, self->max_frames);
  self->tokens = g_new0 (rnn_ctc_token, self->max_frames);
  if (!self->streamable) {
    self->utt_in = g_new0 (gfloat, (gsize) self->max_frames * in);
    self->utt_out = g_new0 (gfloat, (gsize) self->max_frames * out);
  }
  if (self->window_flow) {
    self->ring = g_new0 (gfloat, (gsize) self->window_frames * in);
    self->window_in = g_new0 (gfloat, (gsize) self->window_frames * in);
    self->ring_pts = g_new0 (GstClockTime, self->window_frames);
  }
  /* Only streaming models cut into utterances use a pre-roll: a whole-utterance model runs over
   * the speech frames alone (UTTERANCE_TAIL_MS), windows and plain sequences have no onsets. */
  self->preroll_cap = self->streamable && self->task != TASK_SEQUENCE && !self->window_flow
      ? ms_to_frames (self, pre_roll_ms) : 0;
  if (self->preroll_cap > 0) {
    self->preroll_in = g_new0 (gfloat, (gsize) self->preroll_cap * in);
    self->preroll_pts = g_new0 (GstClockTime, self->preroll_cap);
  }
  return TRUE;

oom:
  GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("out of memory for the model's state"), (NULL));
  return FALSE;
}

/* ---------------------------------------------------------------------------------------------
 * Posteriors
 * ------------------------------------------------------------------------------------------- */

/* The head's output as logits up to a constant per frame, so that pooling (which the model
 * defines on logits) can be done on streamed outputs: log p of a softmax differs from the logits
 * by the same constant for every class, and softmax ignores that constant. */
static void
output_to_logits (GstRnnInfer * self, const gfloat * y, gdouble * z)
{
  for (gint k = 0; k < self->out_size; k++) {
    gdouble p = y[k];

    switch (self->head) {
      case RNN_HEAD_SOFTMAX:
        z[k] = log (MAX (p, 1e-30));
        break;
      case RNN_HEAD_SIGMOID:
        p = CLAMP (p, 1e-12, 1.0 - 1e-12);
        z[k] = log (p / (1.0 - p));
        break;
      default:
        z[k] = p;
        break;
    }
  }
}

static void
softmax (const gdouble * z, gfloat * p, gint n)
{
  gdouble max = z[0], sum = 0.0;

  for (gint k = 1; k < n; k++)
    max = MAX (max, z[k]);
  for (gint k = 0; k < n; k++)
    sum += exp (z[k] - max);
  for (gint k = 0; k < n; k++)
    p[k] = (gfloat) (exp (z[k] - max) / sum);
}

/* Posteriors from logits: sigmoids for a sigmoid head, a softmax otherwise. */
static void
logits_to_posterior (GstRnnInfer * self, const gdouble * z, gfloat * p)
{
  if (self->head == RNN_HEAD_SIGMOID) {
    for (gint k = 0; k < self->out_size; k++)
      p[k] = (gfloat) (1.0 / (1.0 + exp (-z[k])));
  } else {
    softmax (z, p, self->out_size);
  }
}

/* Posteriors from a head output (softmax and sigmoid heads already give them; a linear head's
 * logits get a softmax per head). */
static void
output_to_posterior (GstRnnInfer * self, const gfloat * y, gfloat * p)
{
  if (self->head == RNN_HEAD_SOFTMAX || self->head == RNN_HEAD_SIGMOID) {
    for (gint k = 0; k < self->out_size; k++)
      p[k] = isfinite (y[k]) ? y[k] : 0.0f;
  } else {
    gint per_head = self->out_size / self->members;

    for (gint k = 0; k < self->out_size; k++)
      self->logits[k] = isfinite (y[k]) ? y[k] : 0.0;
    for (gint j = 0; j < self->members; j++)
      softmax (self->logits + j * per_head, p + j * per_head, per_head);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */

/* Pushes the pending GAP event, if any. Everything that goes downstream after frames without
 * output calls this first, so that the GAP stays in order with the data. */
static void
flush_gap (GstRnnInfer * self)
{
  GstClockTime start = self->gap_start, end = self->gap_end;

  if (!GST_CLOCK_TIME_IS_VALID (start))
    return;
  self->gap_start = self->gap_end = GST_CLOCK_TIME_NONE;
  gst_pad_push_event (self->srcpad, gst_event_new_gap (start, end - start));
}

/* A frame with no output of its own (bidirectional models outside utterances): it extends the
 * pending GAP, which goes out when something else does or when it spans MAX_GAP_SPAN. */
static void
queue_gap (GstRnnInfer * self, GstClockTime pts, GstClockTime dur)
{
  if (GST_CLOCK_TIME_IS_VALID (self->gap_start)
      && (pts != self->gap_end || pts + dur - self->gap_start > MAX_GAP_SPAN))
    flush_gap (self);
  if (!GST_CLOCK_TIME_IS_VALID (self->gap_start))
    self->gap_start = pts;
  self->gap_end = pts + dur;
}

static GstFlowReturn
push_scores (GstRnnInfer * self, const gfloat * y, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *buf = NULL;
  GstFlowReturn ret;

  if (self->output != OUTPUT_FRAMES)
    return GST_FLOW_OK;
  flush_gap (self);
  ret = gst_buffer_pool_acquire_buffer (self->pool_frames, &buf, NULL);
  if (ret != GST_FLOW_OK)
    return ret;
  gst_buffer_fill (buf, 0, y, sizeof (gfloat) * self->out_size);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = dur;
  return gst_pad_push (self->srcpad, buf);
}

static GstFlowReturn
push_text (GstRnnInfer * self, const gchar * text, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *buf;
  gsize len = strlen (text);

  if (self->output != OUTPUT_TEXT || len == 0)
    return GST_FLOW_OK;
  flush_gap (self);
  buf = gst_buffer_new_memdup (text, len);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = dur;
  return gst_pad_push (self->srcpad, buf);
}

/* argmax of the posteriors; a classification result unless below confidence-threshold. */
static GstFlowReturn
emit_classification (GstRnnInfer * self, const gfloat * p, GstClockTime start,
    GstClockTime end)
{
  gint best = 0;
  gchar index_label[16];
  const gchar *label;
  GstClockTime duration = end > start ? end - start : 0;

  for (gint k = 1; k < self->out_size; k++)
    if (p[k] > p[best])
      best = k;
  if (!(p[best] >= self->min_confidence)) {
    GST_DEBUG_OBJECT (self, "result %d (%.3f) below confidence-threshold", best, p[best]);
    return GST_FLOW_OK;
  }
  if (self->symbols) {
    label = self->symbols[best];
  } else {
    g_snprintf (index_label, sizeof (index_label), "%d", best);
    label = index_label;
  }
  GST_DEBUG_OBJECT (self, "classification %s (%.3f) at %" GST_TIME_FORMAT, label, p[best],
      GST_TIME_ARGS (start));
  flush_gap (self);
  gst_rnn_emit_result (GST_ELEMENT (self), self->srcpad,
      gst_rnn_classification_new (&self->segment, label, best, p[best], start, duration));
  return push_text (self, label, start, duration);
}

static GstClockTime
fed_frame_end (GstRnnInfer * self, gint index)
{
  return self->fed_pts[index] + self->frame_duration;
}

static GstClockTime
to_stream_time (GstRnnInfer * self, GstClockTime t)
{
  if (self->segment.format != GST_FORMAT_TIME)
    return t;
  return gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME, t);
}

/* The decoder's best hypothesis as a transcription result (partial or final). Words are split on
 * the alphabet's space symbol when it has one; otherwise each symbol is a word. */
static GstFlowReturn
emit_transcription (GstRnnInfer * self, gboolean final, GstClockTime end)
{
  gint n = rnn_ctc_decoder_best (self->decoder, self->tokens, (int) self->max_frames, NULL);
  GArray *words = g_array_new (FALSE, FALSE, sizeof (GstRnnWord));
  GPtrArray *strings = g_ptr_array_new_with_free_func (g_free);
  GString *word = g_string_new (NULL);
  gdouble conf_sum = 0.0, word_conf = 0.0;
  gint word_tokens = 0, word_first = -1, word_last = -1;
  GstFlowReturn ret = GST_FLOW_OK;
  GstClockTime start = self->utt_start;

  g_string_truncate (self->text, 0);
  for (gint i = 0; i <= n; i++) {
    gboolean boundary = i == n || self->space_symbol < 0
        || self->tokens[i].symbol == self->space_symbol;

    if (i < n && self->tokens[i].symbol != self->space_symbol) {
      const rnn_ctc_token *t = &self->tokens[i];

      g_string_append (word, self->symbols[t->symbol]);
      word_conf += t->confidence;
      conf_sum += t->confidence;
      word_tokens++;
      if (word_first < 0)
        word_first = i;
      word_last = i;
    }
    if (boundary && word_tokens > 0) {
      GstRnnWord w;
      gchar *s = g_string_free (word, FALSE);

      w.text = s;
      w.start = to_stream_time (self,
          self->fed_pts[self->decode_offset + self->tokens[word_first].start_frame]);
      w.end = to_stream_time (self, fed_frame_end (self,
              self->decode_offset + self->tokens[word_last].end_frame - 1));
      w.confidence = word_conf / word_tokens;
      g_ptr_array_add (strings, s);
      g_array_append_val (words, w);
      if (self->text->len)
        g_string_append_c (self->text, ' ');
      g_string_append (self->text, s);
      word = g_string_new (NULL);
      word_conf = 0.0;
      word_tokens = 0;
      word_first = word_last = -1;
    }
  }
  g_string_free (word, TRUE);

  if (!final) {
    /* Partial results only when the text changed. */
    if (strcmp (self->text->str, self->partial_text->str) == 0)
      goto done;
  } else if (self->text->len == 0 && !self->partial_emitted) {
    /* Nothing was recognised and nothing was announced: no result. */
    goto done;
  }
  {
    gint n_letters = 0;
    gdouble confidence;

    for (gint i = 0; i < n; i++)
      if (self->tokens[i].symbol != self->space_symbol)
        n_letters++;
    confidence = n_letters ? conf_sum / n_letters : 0.0;
    if (confidence < self->min_confidence && !(final && self->partial_emitted))
      goto done;
    GST_DEBUG_OBJECT (self, "%s transcription '%s' (%.3f)", final ? "final" : "partial",
        self->text->str, confidence);
    flush_gap (self);
    gst_rnn_emit_result (GST_ELEMENT (self), self->srcpad,
        gst_rnn_transcription_new (&self->segment, self->text->str, final, confidence, start,
            end > start ? end - start : 0, (const GstRnnWord *) words->data, words->len));
    if (!final) {
      self->partial_emitted = TRUE;
      g_string_assign (self->partial_text, self->text->str);
    } else
      ret = push_text (self, self->text->str, start, end > start ? end - start : 0);
  }

done:
  g_array_free (words, TRUE);
  g_ptr_array_free (strings, TRUE);
  return ret;
}

/* ---------------------------------------------------------------------------------------------
 * Utterances
 * ------------------------------------------------------------------------------------------- */

static void
start_utterance (GstRnnInfer * self, GstClockTime pts)
{
  /* The frames without output end here. */
  flush_gap (self);
  if (self->state)
    rnn_state_reset (self->state);
  if (self->decoder)
    rnn_ctc_decoder_reset (self->decoder);
  self->in_utterance = TRUE;
  self->utt_frames = self->speech_frames = self->silence_run = 0;
  self->fed = self->fed_at_speech_end = 0;
  self->fed_at_speech_start = self->decode_offset = 0;
  self->pool_count = self->pool_snap_count = 0;
  self->smooth_pos = self->smooth_count = 0;
  self->utt_start = pts;
  self->speech_end = pts;
  self->last_partial = pts;
  self->partial_emitted = FALSE;
  g_string_truncate (self->partial_text, 0);
}

/* The frame's level for the voice-activity rule. */
static gdouble
frame_level (GstRnnInfer * self, const gfloat * x)
{
  gdouble sum = 0.0;

  for (gint i = self->vad_first; i < self->vad_first + self->vad_count; i++)
    sum += x[i];
  return sum / self->vad_count * self->vad_scale + self->vad_offset;
}

/* The noise floor: the lowest smoothed level over the last VAD_FLOOR_SUBWINDOWS sub-windows and
 * the current one, or NaN before the first sub-window is complete. A stream that starts with
 * speech gets a floor that is too high for a while (the first utterance may be cut short); it
 * leaves the window within VAD_FLOOR_SUBWINDOWS sub-windows. */
static gdouble
noise_floor (GstRnnInfer * self)
{
  gdouble floor = self->floor_sub_min;

  if (self->floor_count == 0)
    return NAN;
  for (guint i = 0; i < self->floor_count; i++)
    floor = MIN (floor, self->floor_mins[i]);
  return floor;
}

static void
update_floor (GstRnnInfer * self, gdouble level)
{
  if (isnan (self->floor_smoothed))
    self->floor_smoothed = level;
  else
    self->floor_smoothed = self->floor_alpha * self->floor_smoothed
        + (1.0 - self->floor_alpha) * level;
  self->floor_sub_min = MIN (self->floor_sub_min, self->floor_smoothed);
  if (++self->floor_sub_count < self->floor_sub_frames)
    return;
  self->floor_mins[self->floor_pos] = self->floor_sub_min;
  self->floor_pos = (self->floor_pos + 1) % VAD_FLOOR_SUBWINDOWS;
  self->floor_count = MIN (self->floor_count + 1, VAD_FLOOR_SUBWINDOWS);
  self->floor_sub_min = G_MAXDOUBLE;
  self->floor_sub_count = 0;
}

/* Whether a checked frame is speech: every valid frame is when the VAD is off; otherwise its
 * level must pass vad-threshold and, once the background is known, stand vad-margin above it. */
static gboolean
frame_is_speech (GstRnnInfer * self, gboolean valid)
{
  gdouble level, threshold, floor;

  if (!valid)
    return FALSE;
  if (!self->use_vad)
    return TRUE;
  level = frame_level (self, self->frame);
  threshold = self->vad_level;
  floor = noise_floor (self);
  if (self->vad_margin_now <= 0.0) {
    /* vad-threshold alone */
  } else if (isnan (floor)) {
    self->startup_peak = MAX (self->startup_peak, level);
  } else {
    threshold = MAX (threshold, floor + self->vad_margin_now);
    /* The first time the floor is known: if nothing so far stood out from it, the utterance in
     * progress is background louder than vad-threshold (a noisy room as the stream opens), not
     * speech; a word spoken as the stream opens does stand out and keeps its utterance. */
    if (self->startup_peak > -G_MAXDOUBLE) {
      if (self->in_utterance && self->startup_peak <= threshold) {
        GST_DEBUG_OBJECT (self, "the stream's first %u frames were background", self->utt_frames);
        self->speech_frames = 0;
        self->fed_at_speech_end = 0;
      }
      self->startup_peak = -G_MAXDOUBLE;
    }
  }
  update_floor (self, level);
  GST_LOG_OBJECT (self, "level %.3f, noise floor %.3f, threshold %.3f", level, floor, threshold);
  return level > threshold;
}

/* Pooled classification posteriors of a streamed utterance up to its last speech frame, averaged
 * over the smoothing ring when smoothing is on. */
static void
streamed_posterior (GstRnnInfer * self, gfloat * p)
{
  if (self->smooth_len > 1 && self->smooth_count > 0) {
    memset (p, 0, sizeof (gfloat) * self->out_size);
    for (guint j = 0; j < self->smooth_count; j++)
      for (gint k = 0; k < self->out_size; k++)
        p[k] += self->smooth_ring[(gsize) j * self->out_size + k] / self->smooth_count;
    return;
  }
  for (gint k = 0; k < self->out_size; k++)
    self->logits[k] = self->pool == RNN_POOL_MEAN && self->pool_snap_count > 0
        ? self->pool_snap[k] / self->pool_snap_count : self->pool_snap[k];
  logits_to_posterior (self, self->logits, p);
}

/* The fed frames [*first, *last) a whole-utterance model runs over: the speech span, from the
 * first speech frame to the last one plus up to tail_frames of the hangover (UTTERANCE_TAIL_MS).
 * Without the voice-activity rule every fed frame is speech: all of them. Empty when no frame was
 * speech (the stream's first frames turned out to be background). */
static void
utterance_span (GstRnnInfer * self, guint * first, guint * last)
{
  *first = self->fed_at_speech_end > 0 ? self->fed_at_speech_start : 0;
  *last = MIN (self->fed, self->fed_at_speech_end + self->tail_frames);
  if (self->fed_at_speech_end == 0)
    *last = *first;
  /* vad=trim keeps every frame of the stream, so that the span can be the whole stream when the
   * rule found no speech: a quiet recording still gets its result, as with vad=off. (No pre-roll
   * before the speech: whole-utterance models were trained on recordings cut at the word, and
   * 200 ms of background before it cost 0.916 against 0.992 on padded FSDD test files.) */
  if (self->trim && self->speech_frames < MAX (1, self->min_speech_frames)) {
    *first = 0;
    *last = self->fed;
  }
}

/* Ends the utterance in progress: gives its result (unless it was too short to be speech) and,
 * for whole-utterance models, runs the model over its speech span now and pushes its per-frame
 * outputs (the fed frames outside the span get a GAP, as frames outside utterances do). */
static GstFlowReturn
end_utterance (GstRnnInfer * self)
{
  GstFlowReturn ret = GST_FLOW_OK;
  gboolean is_speech;
  guint first = 0, last = 0;

  if (!self->in_utterance)
    return GST_FLOW_OK;
  self->in_utterance = FALSE;
  is_speech = self->fed_at_speech_end > 0
      && (!self->use_vad || self->speech_frames >= self->min_speech_frames);
  if (!self->streamable)
    utterance_span (self, &first, &last);
  if (self->trim && !self->streamable && self->fed > 0) {
    /* The result covers the span: the speech found, or the whole stream. */
    is_speech = TRUE;
    self->utt_start = self->fed_pts[first];
    self->speech_end = fed_frame_end (self, last - 1);
  }

  if (!self->streamable && self->fed > 0
      && (self->output == OUTPUT_FRAMES || self->task == TASK_TRANSCRIPTION)) {
    if (last > first && rnn_forward_sequence (self->model,
            self->utt_in + (gsize) first * self->in_size, (int) (last - first),
            self->utt_out) != 0) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("the model failed on an utterance"), (NULL));
      return GST_FLOW_ERROR;
    }
    for (guint t = 0; t < self->fed && ret == GST_FLOW_OK; t++) {
      if (t < first || t >= last)
        queue_gap (self, self->fed_pts[t], self->frame_duration);
      else
        ret = push_scores (self, self->utt_out + (gsize) (t - first) * self->out_size,
            self->fed_pts[t], self->frame_duration);
    }
    if (ret != GST_FLOW_OK)
      return ret;
  }

  if (!is_speech) {
    GST_DEBUG_OBJECT (self, "utterance of %u speech frames is noise", self->speech_frames);
    return GST_FLOW_OK;
  }

  if (self->task == TASK_CLASSIFICATION) {
    if (self->streamable) {
      streamed_posterior (self, self->posterior);
    } else {
      if (rnn_forward_pooled (self->model, self->utt_in + (gsize) first * self->in_size,
              (int) (last - first), self->utt_out) != 0) {
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("the model failed on an utterance"), (NULL));
        return GST_FLOW_ERROR;
      }
      output_to_posterior (self, self->utt_out, self->posterior);
    }
    ret = emit_classification (self, self->posterior, self->utt_start, self->speech_end);
  } else if (self->task == TASK_TRANSCRIPTION) {
    if (!self->streamable) {
      rnn_ctc_decoder_reset (self->decoder);
      self->decode_offset = first;
      for (guint t = first; t < last; t++) {
        output_to_posterior (self, self->utt_out + (gsize) (t - first) * self->out_size,
            self->posterior);
        rnn_ctc_decoder_push (self->decoder, self->posterior);
      }
    }
    ret = emit_transcription (self, TRUE, self->speech_end);
  }
  return ret;
}

/* Streaming step of one checked frame x inside an utterance: pooling and decoding as it goes. */
static const gfloat *
step_in_utterance (GstRnnInfer * self, const gfloat * x, gboolean speech)
{
  const gfloat *y = rnn_step (self->state, x);

  if (self->task == TASK_CLASSIFICATION) {
    output_to_logits (self, y, self->logits);
    for (gint k = 0; k < self->out_size; k++)
      self->pool_sum[k] = self->pool == RNN_POOL_MEAN && self->pool_count > 0
          ? self->pool_sum[k] + self->logits[k] : self->logits[k];
    self->pool_count++;
    if (speech) {
      memcpy (self->pool_snap, self->pool_sum, sizeof (gdouble) * self->out_size);
      self->pool_snap_count = self->pool_count;
      if (self->smooth_len > 1) {
        gfloat *slot = self->smooth_ring + (gsize) self->smooth_pos * self->out_size;

        for (gint k = 0; k < self->out_size; k++)
          self->logits[k] = self->pool == RNN_POOL_MEAN
              ? self->pool_snap[k] / self->pool_snap_count : self->pool_snap[k];
        logits_to_posterior (self, self->logits, slot);
        self->smooth_pos = (self->smooth_pos + 1) % self->smooth_len;
        self->smooth_count = MIN (self->smooth_count + 1, self->smooth_len);
      }
    }
  } else if (self->task == TASK_TRANSCRIPTION) {
    output_to_posterior (self, y, self->posterior);
    rnn_ctc_decoder_push (self->decoder, self->posterior);
  }
  return y;
}

/* A checked frame outside any utterance goes into the pre-roll ring, replacing the oldest. */
static void
remember_preroll (GstRnnInfer * self, GstClockTime pts)
{
  if (self->preroll_cap == 0)
    return;
  memcpy (self->preroll_in + (gsize) self->preroll_pos * self->in_size, self->frame,
      sizeof (gfloat) * self->in_size);
  self->preroll_pts[self->preroll_pos] = pts;
  self->preroll_pos = (self->preroll_pos + 1) % self->preroll_cap;
  self->preroll_count = MIN (self->preroll_count + 1, self->preroll_cap);
}

/* An utterance of a streaming model starts: before its first speech frame, the fresh state hears
 * the pre-roll, oldest first, so that the onset the voice-activity rule missed is part of the
 * utterance: its outputs enter the CTC decoder and the pooling (as a file's quiet start does with
 * vad=off, which is how the model saw its training recordings) and the utterance starts at its
 * first frame. Their per-frame outputs went downstream already, between utterances, and are not
 * sent again. At least one frame of max-utterance is left for the speech frame. */
static void
feed_preroll (GstRnnInfer * self)
{
  guint n = MIN (self->preroll_count, self->max_frames - 1);
  guint oldest = (self->preroll_pos + self->preroll_cap - n) % MAX (self->preroll_cap, 1);

  for (guint j = 0; j < n; j++) {
    guint slot = (oldest + j) % self->preroll_cap;

    if (j == 0)
      self->utt_start = self->preroll_pts[slot];
    self->fed_pts[self->fed] = self->preroll_pts[slot];
    step_in_utterance (self, self->preroll_in + (gsize) slot * self->in_size, FALSE);
    self->fed++;
    self->utt_frames++;
  }
  if (n > 0)
    GST_LOG_OBJECT (self, "utterance starts with %u frames of pre-roll", n);
  self->preroll_pos = self->preroll_count = 0;
}

static GstFlowReturn
process_utterance_frame (GstRnnInfer * self, gboolean valid, GstClockTime pts,
    GstClockTime dur)
{
  gboolean speech = frame_is_speech (self, valid);
  const gfloat *y = self->zeros;
  GstFlowReturn ret = GST_FLOW_OK;

  /* A streaming model without results: one continuous sequence, frame in, frame out. */
  if (self->task == TASK_SEQUENCE && self->streamable) {
    if (valid)
      y = rnn_step (self->state, self->frame);
    return push_scores (self, y, pts, dur);
  }

  if (!self->in_utterance) {
    /* vad=trim with a whole-utterance model keeps the stream from its first frame: the span it
     * runs over is chosen at the end (utterance_span). */
    if (!speech && !(self->trim && !self->streamable && valid)) {
      /* Between utterances a streaming model still gives its per-frame outputs; the state it
       * builds here is reset when the next utterance starts. */
      if (!self->streamable) {
        queue_gap (self, pts, dur);
        return GST_FLOW_OK;
      }
      if (valid) {
        remember_preroll (self, pts);
        y = rnn_step (self->state, self->frame);
      }
      return push_scores (self, y, pts, dur);
    }
    start_utterance (self, pts);
    if (self->streamable)
      feed_preroll (self);
  }

  self->utt_frames++;
  if (valid) {
    self->fed_pts[self->fed] = pts;
    if (self->streamable)
      y = step_in_utterance (self, self->frame, speech);
    else
      memcpy (self->utt_in + (gsize) self->fed * self->in_size, self->frame,
          sizeof (gfloat) * self->in_size);
    self->fed++;
  }
  if (speech) {
    /* A speech frame is valid, so it was fed just above. speech_frames is 0 again after the
     * stream's first frames turned out to be background (frame_is_speech): the speech starts
     * here, not at the start of the utterance. */
    if (self->speech_frames == 0)
      self->fed_at_speech_start = self->fed - 1;
    self->speech_frames++;
    self->silence_run = 0;
    self->speech_end = pts + dur;
    self->fed_at_speech_end = self->fed;
  } else {
    self->silence_run++;
  }
  if (self->streamable)
    ret = push_scores (self, y, pts, dur);
  if (ret != GST_FLOW_OK)
    return ret;

  if (self->task == TASK_TRANSCRIPTION && self->streamable && self->partial_interval > 0
      && self->speech_frames >= MAX (1, self->min_speech_frames)
      && pts + dur >= self->last_partial + self->partial_interval) {
    self->last_partial = pts + dur;
    ret = emit_transcription (self, FALSE, pts + dur);
    if (ret != GST_FLOW_OK)
      return ret;
  }

  if ((self->use_vad && !self->trim && self->silence_run >= self->min_silence_frames)
      || self->utt_frames >= self->max_frames)
    ret = end_utterance (self);
  return ret;
}

/* ---------------------------------------------------------------------------------------------
 * Windows
 * ------------------------------------------------------------------------------------------- */

static GstFlowReturn
emit_window (GstRnnInfer * self, GstClockTime end)
{
  guint n = self->ring_count, first = (self->ring_pos + self->window_frames - n) % self->window_frames;
  gfloat *slot;

  for (guint j = 0; j < n; j++)
    memcpy (self->window_in + (gsize) j * self->in_size,
        self->ring + (gsize) ((first + j) % self->window_frames) * self->in_size,
        sizeof (gfloat) * self->in_size);
  if (rnn_forward_pooled (self->model, self->window_in, (int) n, self->posterior) != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("the model failed on a window"), (NULL));
    return GST_FLOW_ERROR;
  }
  slot = self->smooth_ring + (gsize) self->smooth_pos * self->out_size;
  output_to_posterior (self, self->posterior, slot);
  self->smooth_pos = (self->smooth_pos + 1) % self->smooth_len;
  self->smooth_count = MIN (self->smooth_count + 1, self->smooth_len);
  memset (self->posterior, 0, sizeof (gfloat) * self->out_size);
  for (guint j = 0; j < self->smooth_count; j++)
    for (gint k = 0; k < self->out_size; k++)
      self->posterior[k] += self->smooth_ring[(gsize) j * self->out_size + k] / self->smooth_count;
  self->window_emitted = TRUE;
  self->since_hop = 0;
  return emit_classification (self, self->posterior, self->ring_pts[first], end);
}

static GstFlowReturn
process_window_frame (GstRnnInfer * self, gboolean valid, GstClockTime pts, GstClockTime dur)
{
  GstFlowReturn ret = GST_FLOW_OK;

  if (self->streamable) {
    ret = push_scores (self, valid ? rnn_step (self->state, self->frame) : self->zeros, pts, dur);
    if (ret != GST_FLOW_OK)
      return ret;
  } else {
    queue_gap (self, pts, dur);
  }
  if (!valid)
    return GST_FLOW_OK;

  memcpy (self->ring + (gsize) self->ring_pos * self->in_size, self->frame,
      sizeof (gfloat) * self->in_size);
  self->ring_pts[self->ring_pos] = pts;
  self->ring_pos = (self->ring_pos + 1) % self->window_frames;
  self->ring_count = MIN (self->ring_count + 1, self->window_frames);
  self->since_hop++;
  if (self->ring_count == self->window_frames
      && (!self->window_emitted || self->since_hop >= self->hop_frames))
    ret = emit_window (self, pts + dur);
  return ret;
}

/* The sequence ends (EOS, rnn-reset, DISCONT, a new stream or caps): pending results go out. */
static GstFlowReturn
finish_sequence (GstRnnInfer * self)
{
  if (!self->configured)
    return GST_FLOW_OK;
  flush_gap (self);
  if (self->window_flow) {
    /* A stream shorter than one window still gets one result, over what there is. */
    if (!self->window_emitted && self->ring_count > 0) {
      guint last = (self->ring_pos + self->window_frames - 1) % self->window_frames;

      return emit_window (self, self->ring_pts[last] + self->frame_duration);
    }
    return GST_FLOW_OK;
  }
  return end_utterance (self);
}

/* ---------------------------------------------------------------------------------------------
 * Data flow
 * ------------------------------------------------------------------------------------------- */

/* Copies the frame into self->frame; FALSE when it holds a NaN or an infinity (warned once per
 * stream; such frames are not given to the model). */
static gboolean
check_frame (GstRnnInfer * self, const gfloat * in, GstClockTime pts)
{
  memcpy (self->frame, in, sizeof (gfloat) * self->in_size);
  for (gint i = 0; i < self->in_size; i++) {
    if (!isfinite (self->frame[i])) {
      self->bad_frames++;
      if (self->bad_frames == 1)
        GST_ELEMENT_WARNING (self, STREAM, FORMAT,
            ("frame at %" GST_TIME_FORMAT " has a NaN or infinite value (feature %d); frames "
                "like it are skipped", GST_TIME_ARGS (pts), i), (NULL));
      else
        GST_DEBUG_OBJECT (self, "skipping non-finite frame at %" GST_TIME_FORMAT,
            GST_TIME_ARGS (pts));
      return FALSE;
    }
  }
  return TRUE;
}

/* Whether upstream is live, from a latency query; FALSE when nobody answers. */
static gboolean
upstream_is_live (GstRnnInfer * self)
{
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;

  if (gst_pad_peer_query (self->sinkpad, query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  else
    GST_INFO_OBJECT (self, "upstream did not answer the latency query: taken as not live");
  gst_query_unref (query);
  return live;
}

/* vad=auto: the voice-activity rule is for live streams (a microphone never ends, so endpoints
 * must be found in it); a file is one sequence whose result comes at EOS, whatever its level.
 * Decided once per stream, at its first buffer, when upstream is linked and running. */
static void
decide_vad (GstRnnInfer * self)
{
  switch (self->vad_setting) {
    case GST_RNN_INFER_VAD_ON:
      self->use_vad = TRUE;
      break;
    case GST_RNN_INFER_VAD_AUTO:
      self->use_vad = upstream_is_live (self);
      break;
    case GST_RNN_INFER_VAD_TRIM:
      self->use_vad = self->trim = TRUE;
      break;
    default:
      self->use_vad = FALSE;
      break;
  }
  self->vad_decided = TRUE;
  GST_INFO_OBJECT (self, "voice-activity rule %s", self->use_vad ? "on" : "off");
}

static GstFlowReturn
gst_rnn_infer_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstRnnInfer *self = GST_RNN_INFER (parent);
  GstFlowReturn ret = GST_FLOW_OK;
  GstMapInfo map;
  gsize frame_bytes, n;
  GstClockTime pts, dur;
  gboolean discont_reset;

  if (!self->configured) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("no caps before the first frame"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  GST_OBJECT_LOCK (self);
  discont_reset = self->discont_reset;
  self->vad_level = self->vad_threshold_set || !self->vad_relative
      ? self->vad_threshold : DEFAULT_VAD_THRESHOLD_CMN;
  self->vad_margin_now = self->vad_margin;
  self->min_confidence = self->confidence_threshold;
  GST_OBJECT_UNLOCK (self);

  if (!self->vad_decided)
    decide_vad (self);

  if (GST_BUFFER_IS_DISCONT (buf) && discont_reset) {
    ret = finish_sequence (self);
    reset_stream (self);
    if (ret != GST_FLOW_OK)
      goto out;
  }

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("cannot read an input buffer"), (NULL));
    ret = GST_FLOW_ERROR;
    goto out;
  }
  frame_bytes = sizeof (gfloat) * self->in_size;
  if (map.size % frame_bytes != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("input buffer of %" G_GSIZE_FORMAT " bytes is not a whole number of frames of %d "
            "float32 features", map.size, self->in_size), (NULL));
    gst_buffer_unmap (buf, &map);
    ret = GST_FLOW_ERROR;
    goto out;
  }
  n = map.size / frame_bytes;

  /* Timestamps come from the stream (frames' PTS), never from a clock. */
  pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts))
    pts = GST_CLOCK_TIME_IS_VALID (self->next_pts) ? self->next_pts : self->segment.start;
  dur = self->frame_duration;
  if (GST_BUFFER_DURATION_IS_VALID (buf) && n > 0)
    dur = GST_BUFFER_DURATION (buf) / n;

  for (gsize i = 0; i < n && ret == GST_FLOW_OK; i++) {
    const gfloat *in = (const gfloat *) map.data + i * self->in_size;
    GstClockTime t = pts + i * dur;
    gboolean valid = check_frame (self, in, t);

    if (self->window_flow)
      ret = process_window_frame (self, valid, t, dur);
    else
      ret = process_utterance_frame (self, valid, t, dur);
  }
  self->next_pts = pts + n * dur;
  gst_buffer_unmap (buf, &map);

out:
  gst_buffer_unref (buf);
  return ret;
}

/* The source caps: the per-frame outputs unless downstream only takes text. */
static gboolean
negotiate_output (GstRnnInfer * self)
{
  GstCaps *frames = gst_rnn_frames_caps_new (self->out_size, self->rate_n, self->rate_d);
  GstCaps *text = gst_caps_from_string (TEXT_CAPS);
  GstCaps *peer = gst_pad_peer_query_caps (self->srcpad, NULL);
  GstCaps *out = NULL;
  gboolean ok;

  if (peer == NULL || gst_caps_is_any (peer) || gst_caps_can_intersect (peer, frames)) {
    self->output = OUTPUT_FRAMES;
    out = gst_caps_ref (frames);
  } else if (gst_caps_can_intersect (peer, text)) {
    self->output = OUTPUT_TEXT;
    out = gst_caps_ref (text);
  }
  if (out == NULL) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("downstream takes neither the model's %d outputs per frame nor text", self->out_size),
        ("downstream caps: %" GST_PTR_FORMAT, peer));
    ok = FALSE;
  } else {
    ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (out));
  }

  if (ok && self->output == OUTPUT_FRAMES) {
    GstStructure *config;

    self->pool_frames = gst_buffer_pool_new ();
    config = gst_buffer_pool_get_config (self->pool_frames);
    gst_buffer_pool_config_set_params (config, out, sizeof (gfloat) * self->out_size, 4, 0);
    ok = gst_buffer_pool_set_config (self->pool_frames, config)
        && gst_buffer_pool_set_active (self->pool_frames, TRUE);
  }
  GST_INFO_OBJECT (self, "output: %" GST_PTR_FORMAT, out);
  if (out)
    gst_caps_unref (out);
  if (peer)
    gst_caps_unref (peer);
  gst_caps_unref (frames);
  gst_caps_unref (text);
  return ok;
}

static gboolean
set_caps (GstRnnInfer * self, GstCaps * caps)
{
  GError *error = NULL;
  gint size, rate_n, rate_d;

  if (!gst_rnn_frames_caps_parse (caps, &size, &rate_n, &rate_d, &error)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("%s", error->message),
        ("caps: %" GST_PTR_FORMAT, caps));
    g_error_free (error);
    return FALSE;
  }
  if (size != self->in_size) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("the model '%s' takes frames of %d features but upstream gives %d",
            self->loaded_path, self->in_size, size), ("caps: %" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  free_buffers (self);
  self->rate_n = rate_n;
  self->rate_d = rate_d;
  self->frame_duration = rate_n > 0
      ? gst_util_uint64_scale_int (GST_SECOND, rate_d, rate_n) : FALLBACK_FRAME_DURATION;
  if (self->frame_duration == 0)
    self->frame_duration = FALLBACK_FRAME_DURATION;
  if (!allocate_buffers (self)) {
    free_buffers (self);
    return FALSE;
  }
  reset_stream (self);
  if (!negotiate_output (self)) {
    free_buffers (self);
    return FALSE;
  }
  self->configured = TRUE;
  return TRUE;
}

/* A setting of the stream as text, and whether it equals the model's features.<name>. Absent
 * metadata (a model trained without rnnfeatures) matches anything. */
typedef struct
{
  GstRnnInfer *self;
  GString *mismatches;
} CompareSettings;

static gboolean
compare_feature_setting (GQuark field, const GValue * value, gpointer user_data)
{
  CompareSettings *cs = user_data;
  rnn_model *m = cs->self->model;
  const gchar *name = g_quark_to_string (field);
  gchar *key = g_strconcat ("features.", name, NULL);
  const char *ms;
  int64_t mi;
  double mf, x = NAN;
  gchar *stream_text = NULL, *model_text = NULL;
  gboolean match = TRUE;

  /* Dither is random noise: a different amount changes nothing the model relies on. */
  if (strcmp (name, "dither") == 0 || strcmp (name, "feature-size") == 0)
    goto done;

  if (G_VALUE_HOLDS_ENUM (value)) {
    GEnumClass *klass = g_type_class_peek (G_VALUE_TYPE (value));
    GEnumValue *ev = klass ? g_enum_get_value (klass, g_value_get_enum (value)) : NULL;

    stream_text = g_strdup (ev ? ev->value_nick : "?");
  } else if (G_VALUE_HOLDS_STRING (value)) {
    stream_text = g_value_dup_string (value);
  } else if (G_VALUE_HOLDS_BOOLEAN (value)) {
    x = g_value_get_boolean (value) ? 1 : 0;
  } else if (G_VALUE_HOLDS_INT (value)) {
    x = g_value_get_int (value);
  } else if (G_VALUE_HOLDS_UINT (value)) {
    x = g_value_get_uint (value);
  } else if (G_VALUE_HOLDS_DOUBLE (value)) {
    x = g_value_get_double (value);
  } else if (G_VALUE_HOLDS_FLOAT (value)) {
    x = g_value_get_float (value);
  } else {
    goto done;
  }

  if (stream_text) {
    if (rnn_model_meta_string (m, key, &ms) && strcmp (ms, stream_text) != 0) {
      match = FALSE;
      model_text = g_strdup (ms);
    }
  } else if (rnn_model_meta_int (m, key, &mi)) {
    match = x == (double) mi;
    model_text = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) mi);
    stream_text = g_strdup_printf ("%g", x);
  } else if (rnn_model_meta_float (m, key, &mf)) {
    match = fabs (x - mf) <= 1e-6 * MAX (1.0, fabs (mf));
    model_text = g_strdup_printf ("%g", mf);
    stream_text = g_strdup_printf ("%g", x);
  }
  if (!match)
    g_string_append_printf (cs->mismatches, "%s%s is %s (the model's: %s)",
        cs->mismatches->len ? ", " : "", name, stream_text, model_text);

done:
  g_free (stream_text);
  g_free (model_text);
  g_free (key);
  return TRUE;
}

/* rnn-feature-settings from upstream: the frames were made with these settings. Warns when they
 * differ from those the model was trained on (its features.* metadata), and lets the VAD read
 * the frames as they are laid out. */
static void
handle_feature_settings (GstRnnInfer * self, const GstStructure * settings)
{
  CompareSettings cs = { self, g_string_new (NULL) };

  if (self->feature_settings)
    gst_structure_free (self->feature_settings);
  self->feature_settings = gst_structure_copy (settings);
  if (self->model) {
    gst_structure_foreach (settings, compare_feature_setting, &cs);
    if (cs.mismatches->len)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("the frames were not made as the model '%s' was trained: %s", self->loaded_path,
              cs.mismatches->str), ("settings: %" GST_PTR_FORMAT, settings));
  }
  if (self->configured)
    choose_vad_level (self, self->vad_feature_cfg);
  g_string_free (cs.mismatches, TRUE);
}

static gboolean
gst_rnn_infer_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstRnnInfer *self = GST_RNN_INFER (parent);

  /* A pending GAP goes out before any later serialized event; a flush drops it. */
  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    self->gap_start = self->gap_end = GST_CLOCK_TIME_NONE;
  else if (GST_EVENT_IS_SERIALIZED (event) && self->configured)
    flush_gap (self);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gboolean ok;

      finish_sequence (self);
      gst_event_parse_caps (event, &caps);
      ok = set_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_STREAM_START:
      finish_sequence (self);
      reset_stream (self);
      self->bad_frames = 0;
      break;
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      break;
    case GST_EVENT_FLUSH_STOP:
      /* Whatever was pending is thrown away: after a flush the element behaves as a new one. */
      reset_stream (self);
      reset_floor (self);
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      break;
    case GST_EVENT_EOS:
      finish_sequence (self);
      break;
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:{
      const GstStructure *st = gst_event_get_structure (event);

      if (st && gst_structure_has_name (st, GST_RNN_FEATURE_SETTINGS_NAME))
        handle_feature_settings (self, st);
      break;
    }
    case GST_EVENT_CUSTOM_DOWNSTREAM:
      if (gst_rnn_is_reset_event (event)) {
        GST_DEBUG_OBJECT (self, "rnn-reset");
        finish_sequence (self);
        reset_stream (self);
      }
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
gst_rnn_infer_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstRnnInfer *self = GST_RNN_INFER (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_CAPS && self->model) {
    GstCaps *filter, *caps;

    /* The model's size first; then any size, so that an upstream that cannot give it still
     * negotiates and hears from set_caps which sizes disagree instead of a bare not-negotiated. */
    gst_query_parse_caps (query, &filter);
    caps = gst_rnn_frames_caps_for_size (self->in_size);
    gst_caps_append (caps, gst_rnn_frames_caps_template ());
    if (filter) {
      GstCaps *t = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);

      gst_caps_unref (caps);
      caps = t;
    }
    gst_query_set_caps_result (query, caps);
    gst_caps_unref (caps);
    return TRUE;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* Latency this element adds: none for per-frame outputs of a streaming model; an utterance
 * (max-utterance plus the min-silence hangover) for text and bidirectional models, which produce
 * their output only at an endpoint; a window for text in window mode. */
static GstClockTime
own_latency (GstRnnInfer * self)
{
  GstClockTime utterance, window;
  gboolean window_mode;

  GST_OBJECT_LOCK (self);
  utterance = ((GstClockTime) self->max_utterance_ms + self->min_silence_ms) * GST_MSECOND;
  window = (GstClockTime) self->window_length_ms * GST_MSECOND;
  window_mode = self->task == TASK_CLASSIFICATION && self->mode == GST_RNN_INFER_MODE_WINDOW;
  GST_OBJECT_UNLOCK (self);

  if (window_mode)
    return self->output == OUTPUT_TEXT || !self->streamable ? window : 0;
  if (self->output == OUTPUT_TEXT || !self->streamable)
    return utterance;
  return 0;
}

static gboolean
gst_rnn_infer_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstRnnInfer *self = GST_RNN_INFER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max, ours;

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      ours = self->model ? own_latency (self) : 0;
      min += ours;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += ours;
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    case GST_QUERY_CAPS:{
      GstCaps *filter, *caps;

      if (!self->model)
        break;
      gst_query_parse_caps (query, &filter);
      caps = gst_rnn_frames_caps_for_size (self->out_size);
      gst_caps_append (caps, gst_caps_from_string (TEXT_CAPS));
      if (filter) {
        GstCaps *t = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);

        gst_caps_unref (caps);
        caps = t;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    default:
      break;
  }
  return gst_pad_query_default (pad, parent, query);
}

/* ---------------------------------------------------------------------------------------------
 * States
 * ------------------------------------------------------------------------------------------- */

static GstStateChangeReturn
gst_rnn_infer_change_state (GstElement * element, GstStateChange transition)
{
  GstRnnInfer *self = GST_RNN_INFER (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      /* (Re)load when the model property changed since. */
      if (!load_model (self))
        return GST_STATE_CHANGE_FAILURE;
      if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
        reset_stream (self);
        self->bad_frames = 0;
        gst_segment_init (&self->segment, GST_FORMAT_TIME);
      }
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      free_buffers (self);
      g_clear_pointer (&self->feature_settings, gst_structure_free);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      release_model (self);
      break;
    default:
      break;
  }
  return ret;
}

static void
gst_rnn_infer_finalize (GObject * object)
{
  GstRnnInfer *self = GST_RNN_INFER (object);

  free_buffers (self);
  release_model (self);
  g_clear_pointer (&self->feature_settings, gst_structure_free);
  g_free (self->model_path);
  g_string_free (self->text, TRUE);
  g_string_free (self->partial_text, TRUE);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}
