/* rnninfer: GstHarness tests on small models whose weights are set by hand, so that every result
 * (label, confidence, timestamps, words) is known in advance.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "elementtest.h"
#include <gst/check/gstharness.h>

#include "gstrnnfeatures.h"
#include "gstrnninfer.h"
#include "rnn.h"
#include "rnncaps.h"
#include "rnnmodelcache.h"
#include "rnnresults.h"

#define FRAME (10 * GST_MSECOND)        /* 100 frames a second */

static gchar *tmpdir;

/* ---------------------------------------------------------------------------------------------
 * Models
 * ------------------------------------------------------------------------------------------- */

static void
set_tensor (rnn_model * m, const gchar * name, const float *values, size_t n)
{
  size_t count = 0;
  float *t = rnn_model_tensor (m, name, &count);

  fail_unless (t != NULL, "no tensor %s", name);
  fail_unless_equals_uint64 (count, n);
  memcpy (t, values, n * sizeof (float));
}

static gchar *
save_model (rnn_model * m, const gchar * name)
{
  gchar *path = g_build_filename (tmpdir, name, NULL);
  char err[256];

  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "save: %s", err);
  rnn_model_unref (m);
  return path;
}

/* Two inputs: x0 is the level the VAD looks at (vad-feature=0), x1 the evidence: +1 says "yes",
 * -1 "no". A tanh RNN with no recurrence (h = (tanh x1, -tanh x1)) and a softmax head whose
 * logits are (2 h1, 2 h0), mean-pooled: a "yes" frame gives P(yes) = 1 / (1 + e^(-4 tanh 1)). */
static gchar *
classifier_model_with_features (const gchar * name, const gchar * kind, gint mel_bins,
    gboolean energy)
{
  rnn_model *m = rnn_model_new (2);
  const float w_ih[4] = { 0, 1, 0, -1 }, zeros[4] = { 0 }, head_w[4] = { 0, 2, 2, 0 };
  const char *labels[2] = { "no", "yes" };

  fail_unless (rnn_model_add_layer (m, RNN_CELL_RNN_TANH, 2, 0) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_MEAN) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  set_tensor (m, "layer0.fwd.w_ih", w_ih, 4);
  set_tensor (m, "layer0.fwd.w_hh", zeros, 4);
  set_tensor (m, "layer0.fwd.b_ih", zeros, 2);
  set_tensor (m, "layer0.fwd.b_hh", zeros, 2);
  set_tensor (m, "head.w", head_w, 4);
  set_tensor (m, "head.b", zeros, 2);
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 2);
  if (kind) {
    rnn_model_set_meta_string (m, "features.kind", kind);
    rnn_model_set_meta_int (m, "features.num-mel-bins", mel_bins);
    rnn_model_set_meta_int (m, "features.use-energy", energy);
  }
  return save_model (m, name);
}

static gchar *
classifier_model (const gchar * name)
{
  return classifier_model_with_features (name, NULL, 0, FALSE);
}

/* The same classifier with a bidirectional layer: both directions compute what the forward one
 * did, and the head adds half of each, so per-frame logits (and results) are the same. */
static gchar *
bidirectional_classifier_model (const gchar * name)
{
  rnn_model *m = rnn_model_new (2);
  const float w_ih[4] = { 0, 1, 0, -1 }, zeros[8] = { 0 };
  const float head_w[8] = { 0, 1, 0, 1, 1, 0, 1, 0 };
  const char *labels[2] = { "no", "yes" };

  fail_unless (rnn_model_add_layer (m, RNN_CELL_RNN_TANH, 2, 1) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_MEAN) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  fail_if (rnn_model_streamable (m));
  for (int d = 0; d < 2; d++) {
    gchar *n;

    n = g_strdup_printf ("layer0.%s.w_ih", d ? "bwd" : "fwd");
    set_tensor (m, n, w_ih, 4);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.w_hh", d ? "bwd" : "fwd");
    set_tensor (m, n, zeros, 4);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.b_ih", d ? "bwd" : "fwd");
    set_tensor (m, n, zeros, 2);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.b_hh", d ? "bwd" : "fwd");
    set_tensor (m, n, zeros, 2);
    g_free (n);
  }
  set_tensor (m, "head.w", head_w, 8);
  set_tensor (m, "head.b", zeros, 2);
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 2);
  return save_model (m, name);
}

static gdouble
yes_confidence (void)
{
  return 1.0 / (1.0 + exp (-4.0 * tanh (1.0)));
}

/* An LSTM with seeded random weights and no task: per-frame outputs only; its state matters. */
static gchar *
stateful_model (const gchar * name)
{
  rnn_model *m = rnn_model_new (3);

  fail_unless (rnn_model_add_layer (m, RNN_CELL_LSTM, 8, 0) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_LINEAR, 4, RNN_POOL_LAST) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  rnn_model_init_weights (m, 7);
  return save_model (m, name);
}

/* CTC with 4 symbols; alphabet blank, "a", "b", " " unless given. Inputs: x0 the VAD level,
 * x1..x4 a one-hot of the symbol the frame should emit; the output is that symbol with probability
 * ~0.97. Bidirectional: both directions see the same and the head adds half of each. */
#define CTC_IN 5
static gchar *
ctc_model_full (const gchar * name, gboolean bidirectional, const char *const *alphabet)
{
  static const char *const default_alphabet[4] = { "_", "a", "b", " " };
  rnn_model *m = rnn_model_new (CTC_IN);
  float w_ih[4 * CTC_IN] = { 0 }, zeros[16] = { 0 }, head_w[32] = { 0 };
  gint dirs = bidirectional ? 2 : 1;

  for (int k = 0; k < 4; k++) {
    w_ih[k * CTC_IN + 1 + k] = 1.0f;
    for (int d = 0; d < dirs; d++)
      head_w[k * 4 * dirs + d * 4 + k] = 6.0f / dirs;
  }
  fail_unless (rnn_model_add_layer (m, RNN_CELL_RNN_TANH, 4, bidirectional) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 4, RNN_POOL_LAST) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  for (int d = 0; d < dirs; d++) {
    const gchar *dir = d ? "bwd" : "fwd";
    gchar *n;

    n = g_strdup_printf ("layer0.%s.w_ih", dir);
    set_tensor (m, n, w_ih, 4 * CTC_IN);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.w_hh", dir);
    set_tensor (m, n, zeros, 16);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.b_ih", dir);
    set_tensor (m, n, zeros, 4);
    g_free (n);
    n = g_strdup_printf ("layer0.%s.b_hh", dir);
    set_tensor (m, n, zeros, 4);
    g_free (n);
  }
  set_tensor (m, "head.w", head_w, 16 * dirs);
  set_tensor (m, "head.b", zeros, 4);
  rnn_model_set_meta_string (m, "task", "transcription");
  rnn_model_set_meta_strings (m, "alphabet", alphabet ? alphabet : default_alphabet, 4);
  return save_model (m, name);
}

/* An ensemble of CTC_MEMBERS ctc_model_full-like members merged with a grouped head (as
 * tools/rnn-ensemble.py merges transcribers): member j's 4 units read the one-hot inputs, its head
 * writes outputs 4j..4j+3. The last member mishears "b" as "a". */
#define CTC_MEMBERS 3
static gchar *
ctc_ensemble_model (const gchar * name)
{
  static const char *const alphabet[4] = { "_", "a", "b", " " };
  const gint units = 4 * CTC_MEMBERS;
  rnn_model *m = rnn_model_new (CTC_IN);
  float w_ih[4 * CTC_MEMBERS * CTC_IN] = { 0 }, head_w[4 * CTC_MEMBERS * 4] = { 0 };
  float zeros[4 * CTC_MEMBERS * 4] = { 0 };

  for (int j = 0; j < CTC_MEMBERS; j++)
    for (int k = 0; k < 4; k++) {
      gint heard = j == CTC_MEMBERS - 1 && k == 2 ? 1 : k;

      w_ih[(j * 4 + heard) * CTC_IN + 1 + k] = 1.0f;
      head_w[(j * 4 + k) * 4 + k] = 6.0f;       /* head j reads its own 4 units */
    }
  fail_unless (rnn_model_add_layer (m, RNN_CELL_RNN_TANH, units, FALSE) == 0);
  fail_unless (rnn_model_set_layer_groups (m, 0, CTC_MEMBERS) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, units, RNN_POOL_LAST) == 0);
  fail_unless (rnn_model_set_head_groups (m, CTC_MEMBERS) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  set_tensor (m, "layer0.fwd.w_ih", w_ih, units * CTC_IN);
  set_tensor (m, "layer0.fwd.w_hh", zeros, units * 4);
  set_tensor (m, "layer0.fwd.b_ih", zeros, units);
  set_tensor (m, "layer0.fwd.b_hh", zeros, units);
  set_tensor (m, "head.w", head_w, units * 4);
  set_tensor (m, "head.b", zeros, units);
  rnn_model_set_meta_string (m, "task", "transcription");
  rnn_model_set_meta_strings (m, "alphabet", alphabet, 4);
  return save_model (m, name);
}

/* ---------------------------------------------------------------------------------------------
 * Harness
 * ------------------------------------------------------------------------------------------- */

typedef struct
{
  GstHarness *h;
  GstElement *element;
  GstBus *bus;
} Fixture;

/* An rnninfer with the given model and "name=value" property settings, playing, with its bus. */
static Fixture
start (const gchar * model, const gchar * const *props)
{
  Fixture f;

  f.element = gst_element_factory_make ("rnninfer", NULL);
  fail_unless (f.element != NULL);
  g_object_set (f.element, "model", model, NULL);
  for (; props && *props; props += 2)
    gst_util_set_object_arg (G_OBJECT (f.element), props[0], props[1]);
  f.bus = gst_bus_new ();
  gst_element_set_bus (f.element, f.bus);
  f.h = gst_harness_new_with_element (f.element, "sink", "src");
  return f;
}

static void
stop (Fixture * f)
{
  gst_harness_teardown (f->h);
  gst_element_set_bus (f->element, NULL);
  gst_object_unref (f->bus);
  gst_object_unref (f->element);
}

static void
set_frames_caps (Fixture * f, gint size)
{
  gst_harness_play (f->h);
  gst_harness_set_src_caps (f->h, gst_rnn_frames_caps_new (size, 100, 1));
}

static GstFlowReturn
push_frame (Fixture * f, const float *x, gint size, guint index)
{
  GstBuffer *buf = gst_buffer_new_memdup (x, sizeof (float) * size);

  GST_BUFFER_PTS (buf) = index * FRAME;
  GST_BUFFER_DURATION (buf) = FRAME;
  return gst_harness_push (f->h, buf);
}

/* Classifier frames: level (1 speech, 0 silence) and evidence. */
static void
push_classifier_frames (Fixture * f, guint pts_index, guint n, float level, float evidence)
{
  for (guint i = 0; i < n; i++) {
    const float x[2] = { level, evidence };

    fail_unless_equals_int (push_frame (f, x, 2, pts_index + i), GST_FLOW_OK);
  }
}

/* Every element message of the given name posted so far, in order (caller frees the list). */
static GList *
pop_results (Fixture * f, const gchar * name)
{
  GList *out = NULL;
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);

    if (s && gst_structure_has_name (s, name))
      out = g_list_append (out, gst_structure_copy (s));
    gst_message_unref (msg);
  }
  return out;
}

static void
free_results (GList * l)
{
  g_list_free_full (l, (GDestroyNotify) gst_structure_free);
}

static void
check_classification (const GstStructure * s, const gchar * label, gint index,
    gdouble confidence, GstClockTime timestamp, GstClockTime duration)
{
  guint64 ts = 0, dur = 0, rt = 0, st = 0;
  gint ci = -1;
  gdouble conf = -1;

  fail_unless_equals_string (gst_structure_get_string (s, "label"), label);
  fail_unless (gst_structure_get_int (s, "class-index", &ci));
  fail_unless_equals_int (ci, index);
  fail_unless (gst_structure_get_double (s, "confidence", &conf));
  fail_unless (fabs (conf - confidence) < 1e-4, "confidence %f, expected %f", conf, confidence);
  fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts));
  fail_unless (gst_structure_get_uint64 (s, "duration", &dur));
  fail_unless (gst_structure_get_uint64 (s, "running-time", &rt));
  fail_unless (gst_structure_get_uint64 (s, "stream-time", &st));
  fail_unless_equals_uint64 (ts, timestamp);
  fail_unless_equals_uint64 (dur, duration);
  /* The harness' segment starts at 0: running and stream time equal the timestamp. */
  fail_unless_equals_uint64 (rt, timestamp);
  fail_unless_equals_uint64 (st, timestamp);
}

/* The voice-activity rule on feature 0 with an absolute threshold (levels 1 and 0 in these tests:
 * the noise floor, tested on its own, is left out). Utterances start at their first speech frame:
 * the pre-roll, tested on its own (test_pre_roll), is left out too. */
static const gchar *const VAD_PROPS[] = {
  "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300", "min-speech", "50",
  "vad-margin", "0", "pre-roll", "0", NULL
};

static const gchar *const NO_PRE_ROLL[] = { "pre-roll", "0", NULL };

/* ---------------------------------------------------------------------------------------------
 * Classification
 * ------------------------------------------------------------------------------------------- */

/* A file's worth of speech, then EOS in the middle of the utterance: the result still comes. */
GST_START_TEST (test_classification_at_eos)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  GstEvent *ev;
  gboolean saw_result_event = FALSE;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 1.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL, "no result before the utterance ends");
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 30 * FRAME);
  free_results (r);

  /* The same structure went downstream as a custom event, before EOS. */
  while ((ev = gst_harness_try_pull_event (f.h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM
        && gst_structure_has_name (gst_event_get_structure (ev), GST_RNN_CLASSIFICATION_NAME)) {
      check_classification (gst_event_get_structure (ev), "yes", 1, yes_confidence (), 0,
          30 * FRAME);
      saw_result_event = TRUE;
    }
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS)
      fail_unless (saw_result_event, "result event after EOS");
    gst_event_unref (ev);
  }
  fail_unless (saw_result_event);
  /* Scores: one output frame per input frame. */
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 30);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* A buffer may hold several frames (timestamps spread over its duration); a size that is not a
 * whole number of frames is an error naming it. */
GST_START_TEST (test_multi_frame_buffers)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  float x[2 * 30];
  GstBuffer *b;
  GstMessage *msg;
  GError *err = NULL;

  for (guint i = 0; i < 30; i++) {
    x[2 * i] = 1.0f;
    x[2 * i + 1] = 1.0f;
  }
  set_frames_caps (&f, 2);
  b = gst_buffer_new_memdup (x, sizeof (x));
  GST_BUFFER_PTS (b) = 0;
  GST_BUFFER_DURATION (b) = 30 * FRAME;
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 30 * FRAME);
  free_results (r);
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 30);
  stop (&f);

  f = start (model, VAD_PROPS);
  set_frames_caps (&f, 2);
  b = gst_buffer_new_memdup (x, 3 * sizeof (float));
  fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_ERROR);
  msg = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "12 bytes") != NULL, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* Speech, silence, other speech, silence: two results, each as soon as its hangover ends, with
 * the span of its speech. */
GST_START_TEST (test_utterance_endpoints)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 1.0f, 1.0f);
  push_classifier_frames (&f, 30, 29, 0.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL, "the hangover (min-silence) has not passed yet");
  push_classifier_frames (&f, 59, 1, 0.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 30 * FRAME);
  free_results (r);

  /* A short pause (less than min-silence) stays inside the second utterance. */
  push_classifier_frames (&f, 80, 20, 1.0f, -1.0f);
  push_classifier_frames (&f, 100, 10, 0.0f, 0.0f);
  push_classifier_frames (&f, 110, 20, 1.0f, -1.0f);
  push_classifier_frames (&f, 130, 40, 0.0f, 0.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  /* Its frames: 40 of "no" and 10 silent ones with evidence 0 (logits 0) in the mean. */
  {
    gdouble z = 2.0 * tanh (1.0) * 2.0 * 40.0 / 50.0;
    check_classification (r->data, "no", 0, 1.0 / (1.0 + exp (-z)), 80 * FRAME, 50 * FRAME);
  }
  free_results (r);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL, "nothing pending at EOS");
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* A burst shorter than min-speech is noise. */
GST_START_TEST (test_min_speech)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 4, 1.0f, 1.0f);
  push_classifier_frames (&f, 4, 40, 0.0f, 0.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* mode=window: a result every hop over the last window, pooled by the model's pooling; the same
 * for a bidirectional model. */
static void
run_window_mode (gboolean bidirectional)
{
  static const gchar *const props[] = {
    "mode", "window", "window-length", "200", "window-hop", "100", NULL
  };
  gchar *model = bidirectional ? bidirectional_classifier_model ("bidi.rnn")
      : classifier_model ("cls.rnn");
  Fixture f = start (model, props);
  GList *r, *l;
  guint i = 0;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 50, 1.0f, 1.0f);
  push_classifier_frames (&f, 50, 50, 1.0f, -1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  /* Windows end at frames 20, 30, ..., 100. */
  fail_unless_equals_int (g_list_length (r), 9);
  for (l = r; l; l = l->next, i++) {
    guint end = 20 + 10 * i;
    const GstStructure *s = l->data;

    if (end <= 50)
      check_classification (s, "yes", 1, yes_confidence (), (end - 20) * FRAME, 20 * FRAME);
    else if (end >= 70)
      check_classification (s, "no", 0, yes_confidence (), (end - 20) * FRAME, 20 * FRAME);
  }
  free_results (r);
  /* Nothing more at EOS: windows already covered the stream. */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless (pop_results (&f, GST_RNN_CLASSIFICATION_NAME) == NULL);
  /* Scores frame by frame from a streaming model; a bidirectional one has none to stream, and
   * GAP events cover the stream instead, one per hop (each result ends a span), not per frame. */
  fail_unless_equals_int (gst_harness_buffers_received (f.h), bidirectional ? 0 : 100);
  if (bidirectional) {
    GstEvent *ev;
    GstClockTime covered = 0;
    guint gaps = 0;

    while ((ev = gst_harness_try_pull_event (f.h))) {
      if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
        GstClockTime ts, dur;

        gst_event_parse_gap (ev, &ts, &dur);
        fail_unless_equals_uint64 (ts, covered);
        covered += dur;
        gaps++;
      }
      gst_event_unref (ev);
    }
    fail_unless_equals_uint64 (covered, 100 * FRAME);
    fail_unless_equals_int (gaps, 9);
  }
  stop (&f);
  g_free (model);
}

GST_START_TEST (test_window_mode)
{
  run_window_mode (FALSE);
  run_window_mode (TRUE);
}

GST_END_TEST;

/* Background noise: weak evidence gives low confidence, which the threshold keeps quiet. */
GST_START_TEST (test_confidence_threshold)
{
  static const gchar *const props[] = {
    "vad-feature", "0", "vad-threshold", "0.5", "vad-margin", "0", "confidence-threshold", "0.9",
    "pre-roll", "0", NULL
  };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, props);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 1.0f, 0.1f);       /* P(yes) ~ 0.6 */
  push_classifier_frames (&f, 30, 40, 0.0f, 0.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL, "a 0.6 result passed a 0.9 threshold");
  push_classifier_frames (&f, 70, 30, 1.0f, 1.0f);      /* P(yes) ~ 0.95 */
  push_classifier_frames (&f, 100, 40, 0.0f, 0.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 70 * FRAME, 30 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* Smoothing averages the pooled posteriors of the utterance's last frames. 10 "yes" frames then
 * 10 "no" frames: the mean over all 20 is a tie (0.5, read as class 0, "no"), but the posteriors
 * at frames 15..19 (smoothing=50 ms) still lean to "yes". */
static void
run_smoothing (const gchar * smoothing, const gchar * label, gint index, gdouble confidence)
{
  const gchar *const props[] = {
    "vad-feature", "0", "vad-threshold", "0.5", "vad-margin", "0", "smoothing", smoothing,
    "pre-roll", "0", NULL
  };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, props);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 10, 1.0f, 1.0f);
  push_classifier_frames (&f, 10, 10, 1.0f, -1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, label, index, confidence, 0, 20 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_START_TEST (test_smoothing)
{
  gdouble sum = 0.0;

  for (gint t = 15; t < 20; t++) {
    gdouble z = 4.0 * tanh (1.0) * (10.0 - (t - 9)) / (t + 1);

    sum += 1.0 / (1.0 + exp (-z));
  }
  run_smoothing ("0", "no", 0, 0.5);
  run_smoothing ("50", "yes", 1, sum / 5);
}

GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * Negotiation, state, events
 * ------------------------------------------------------------------------------------------- */

GST_START_TEST (test_caps_mismatch)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, NULL);
  GstMessage *msg;
  GError *err = NULL;
  gchar *debug = NULL;
  GstSegment segment;
  const float x[3] = { 1, 2, 3 };

  gst_harness_play (f.h);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_stream_start ("mismatch")));
  /* (A sticky event's push may report success; the refusal shows at the next buffer.) */
  gst_harness_push_event (f.h, gst_event_new_caps (gst_rnn_frames_caps_new (3, 100, 1)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_harness_push_event (f.h, gst_event_new_segment (&segment));
  fail_if (push_frame (&f, x, 3, 0) == GST_FLOW_OK);
  msg = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, &debug);
  fail_unless (strstr (err->message, "2 features") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "gives 3") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "cls.rnn") != NULL, "%s", err->message);
  g_error_free (err);
  g_free (debug);
  gst_message_unref (msg);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* The caps query answers with the model's input size first. */
GST_START_TEST (test_caps_query)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, NULL);
  GstCaps *caps, *want;
  GstPad *sink;

  gst_harness_play (f.h);
  sink = gst_element_get_static_pad (f.element, "sink");
  caps = gst_pad_query_caps (sink, NULL);
  want = gst_rnn_frames_caps_new (2, 100, 1);
  fail_unless (gst_caps_can_intersect (caps, want));
  {
    GstCaps *first = gst_caps_copy_nth (caps, 0);

    fail_unless (gst_caps_can_intersect (first, want));
    gst_caps_unref (first);
  }
  gst_caps_unref (want);
  gst_caps_unref (caps);
  gst_object_unref (sink);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* n frames of deterministic input number input, input + 1, ..., timestamped from frame first. */
static void
push_stateful_from (Fixture * f, guint pts_index, guint input, guint n)
{
  for (guint i = input; i < input + n; i++) {
    const float x[3] = { sinf (0.3f * i), cosf (0.7f * i), 0.1f * (i % 5) };

    fail_unless_equals_int (push_frame (f, x, 3, pts_index + i - input), GST_FLOW_OK);
  }
}

/* Inputs 0 .. n-1. */
static void
push_stateful (Fixture * f, guint pts_index, guint n)
{
  push_stateful_from (f, pts_index, 0, n);
}

static void
pull_outputs (Fixture * f, guint n, float *out)
{
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (f->h);

    fail_unless (b != NULL);
    fail_unless_equals_uint64 (gst_buffer_get_size (b), 4 * sizeof (float));
    gst_buffer_extract (b, 0, out + 4 * i, 4 * sizeof (float));
    gst_buffer_unref (b);
  }
}

/* The state is kept across buffers; after a flush the same input gives exactly what a new
 * element gives; the rnn-reset event resets it too. */
GST_START_TEST (test_state_flush_and_reset)
{
  gchar *model = stateful_model ("lstm.rnn");
  Fixture f = start (model, NULL);
  float fresh[40], again[40];
  GstEvent *reset;
  GstSegment segment;
  gboolean forwarded = FALSE;
  GstEvent *ev;

  set_frames_caps (&f, 3);
  push_stateful (&f, 0, 10);
  pull_outputs (&f, 10, fresh);

  /* Without a reset the same input continues from the state: different outputs. */
  push_stateful (&f, 10, 10);
  pull_outputs (&f, 10, again);
  fail_if (memcmp (fresh, again, sizeof (fresh)) == 0, "the state was not kept");

  /* Flush: back to a new element's behaviour. */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&segment)));
  push_stateful (&f, 0, 10);
  pull_outputs (&f, 10, again);
  fail_unless (memcmp (fresh, again, sizeof (fresh)) == 0, "flush did not reset the state");

  /* rnn-reset from upstream (or the application). */
  push_stateful (&f, 10, 3);
  pull_outputs (&f, 3, again);
  reset = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
      gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME));
  fail_unless (gst_rnn_is_reset_event (reset));
  fail_unless (gst_harness_push_event (f.h, reset));
  push_stateful (&f, 0, 10);
  pull_outputs (&f, 10, again);
  fail_unless (memcmp (fresh, again, sizeof (fresh)) == 0, "rnn-reset did not reset the state");
  while ((ev = gst_harness_try_pull_event (f.h))) {
    forwarded |= gst_rnn_is_reset_event (ev);
    gst_event_unref (ev);
  }
  fail_unless (forwarded, "rnn-reset not forwarded downstream");

  /* A DISCONT buffer resets too (discont-reset defaults to TRUE). Its frame is input 0. */
  {
    const float x[3] = { 0, 1, 0 };
    GstBuffer *b = gst_buffer_new_memdup (x, sizeof (x));

    push_stateful (&f, 10, 5);
    pull_outputs (&f, 5, again);
    GST_BUFFER_PTS (b) = 20 * FRAME;
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
    push_stateful_from (&f, 21, 1, 9);
    pull_outputs (&f, 10, again);
    fail_unless (memcmp (fresh, again, sizeof (fresh)) == 0, "DISCONT did not reset the state");
  }
  stop (&f);

  /* A new element fed the same input gives the same first outputs. */
  f = start (model, NULL);
  set_frames_caps (&f, 3);
  push_stateful (&f, 0, 10);
  pull_outputs (&f, 10, again);
  fail_unless (memcmp (fresh, again, sizeof (fresh)) == 0);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

GST_START_TEST (test_empty_stream)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GstEvent *ev;
  gboolean eos = FALSE;

  set_frames_caps (&f, 2);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless (pop_results (&f, GST_RNN_CLASSIFICATION_NAME) == NULL);
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 0);
  while ((ev = gst_harness_try_pull_event (f.h))) {
    eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (eos);
  fail_unless (gst_bus_pop_filtered (f.bus, GST_MESSAGE_ERROR) == NULL);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* NaN and Inf frames: one warning, the frames are skipped, no NaN reaches a result or an output. */
GST_START_TEST (test_nan_frames)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  GstMessage *msg;
  guint warnings = 0;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 10, 1.0f, 1.0f);
  push_classifier_frames (&f, 10, 3, 1.0f, NAN);
  push_classifier_frames (&f, 13, 2, INFINITY, 1.0f);
  push_classifier_frames (&f, 15, 10, 1.0f, 1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = NULL;
  while ((msg = gst_bus_pop (f.bus))) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING)
      warnings++;
    else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT)
      r = g_list_append (r, gst_structure_copy (gst_message_get_structure (msg)));
    gst_message_unref (msg);
  }
  fail_unless_equals_int (warnings, 1);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 25 * FRAME);
  free_results (r);
  for (guint i = 0; i < 25; i++) {
    GstBuffer *b = gst_harness_pull (f.h);
    float y[2];

    gst_buffer_extract (b, 0, y, sizeof (y));
    fail_unless (isfinite (y[0]) && isfinite (y[1]), "output frame %u is not finite", i);
    gst_buffer_unref (b);
  }
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* Order downstream: each result event right after the frame that ended its utterance. */
static GstPadProbeReturn
log_data (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GString *log = user_data;

  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER) {
    g_string_append_printf (log, "b%" G_GUINT64_FORMAT " ",
        GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info)) / FRAME);
  } else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (ev) == GST_EVENT_CUSTOM_DOWNSTREAM)
      g_string_append_printf (log, "%s ",
          gst_structure_get_name (gst_event_get_structure (ev)));
    else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS)
      g_string_append (log, "eos");
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_events_in_order)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GString *log = g_string_new (NULL);
  GstPad *src = gst_element_get_static_pad (f.element, "src");
  GList *r;

  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      log_data, log, NULL);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 5, 1.0f, 1.0f);
  push_classifier_frames (&f, 5, 32, 0.0f, 0.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  /* 300 ms of silence after frame 4 ends the utterance at frame 34. */
  fail_unless (strstr (log->str, "b34 rnn-classification b35 ") != NULL, "%s", log->str);
  fail_unless (g_str_has_suffix (log->str, "b36 eos"), "%s", log->str);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  free_results (r);
  gst_object_unref (src);
  g_string_free (log, TRUE);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* Downstream that takes text gets one timestamped buffer per result. */
GST_START_TEST (test_text_output)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GstBuffer *b;
  GstCaps *caps;
  GstMapInfo map;

  gst_harness_set_sink_caps_str (f.h, "text/x-raw, format=(string)utf8");
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 1.0f, 1.0f);
  push_classifier_frames (&f, 30, 40, 0.0f, 0.0f);
  push_classifier_frames (&f, 70, 20, 1.0f, -1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  caps = gst_pad_get_current_caps (f.h->sinkpad);
  fail_unless (caps != NULL);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0), "text/x-raw"));
  gst_caps_unref (caps);
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 2);
  b = gst_harness_pull (f.h);
  gst_buffer_map (b, &map, GST_MAP_READ);
  fail_unless (map.size == 3 && memcmp (map.data, "yes", 3) == 0);
  gst_buffer_unmap (b, &map);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 0);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), 30 * FRAME);
  gst_buffer_unref (b);
  b = gst_harness_pull (f.h);
  gst_buffer_map (b, &map, GST_MAP_READ);
  fail_unless (map.size == 2 && memcmp (map.data, "no", 2) == 0);
  gst_buffer_unmap (b, &map);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 70 * FRAME);
  gst_buffer_unref (b);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* The latency query: nothing added for per-frame scores of a streaming model. */
GST_START_TEST (test_latency)
{
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GstQuery *q;
  gboolean live;
  GstClockTime min, max;

  set_frames_caps (&f, 2);
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (f.h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless_equals_uint64 (min, 0);
  gst_query_unref (q);
  stop (&f);

  /* Text output: a result's buffer goes out up to max-utterance + min-silence after its PTS. */
  f = start (model, VAD_PROPS);
  gst_harness_set_sink_caps_str (f.h, "text/x-raw, format=(string)utf8");
  set_frames_caps (&f, 2);
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (f.h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless_equals_uint64 (min, (10000 + 300) * GST_MSECOND);
  gst_query_unref (q);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* The builders: field names and types of docs/caps-and-events.md; no NaN confidence escapes. */
GST_START_TEST (test_result_builders)
{
  GstSegment seg;
  GstStructure *s;
  gdouble d = -1;
  gint i = -1;
  guint64 t = 0;
  GstRnnWord w = { "hi", 10, 20, NAN };
  const GValue *words;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.base = 5 * GST_SECOND;    /* running time = timestamp + 5 s */
  s = gst_rnn_classification_new (&seg, "x", 3, NAN, GST_SECOND, GST_MSECOND);
  fail_unless (gst_structure_get_double (s, "confidence", &d) && d == 0.0);
  fail_unless (gst_structure_get_uint64 (s, "running-time", &t));
  fail_unless_equals_uint64 (t, 6 * GST_SECOND);
  gst_structure_free (s);

  s = gst_rnn_transcription_new (&seg, "hi", FALSE, 2.0, 0, 0, &w, 1);
  fail_unless (gst_structure_get_double (s, "confidence", &d) && d == 1.0);
  words = gst_structure_get_value (s, "words");
  fail_unless_equals_int (gst_value_array_get_size (words), 1);
  fail_unless (gst_structure_get_double (gst_value_get_structure (gst_value_array_get_value
              (words, 0)), "confidence", &d) && d == 0.0);
  gst_structure_free (s);

  s = gst_rnn_train_progress_new (2, 10, 0.5, 0.75, NAN, NAN);
  fail_unless (gst_structure_has_name (s, GST_RNN_TRAIN_PROGRESS_NAME));
  fail_unless (gst_structure_get_int (s, "epoch", &i) && i == 2);
  fail_unless (gst_structure_get_int (s, "epochs", &i) && i == 10);
  fail_unless (gst_structure_get_double (s, "accuracy", &d) && d == 0.75);
  fail_unless (gst_structure_get_double (s, "val-loss", &d) && isnan (d));
  gst_structure_free (s);
}

GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * Transcription
 * ------------------------------------------------------------------------------------------- */

static void
push_ctc_frame (Fixture * f, guint index, float level, gint symbol)
{
  float x[CTC_IN] = { level, 0, 0, 0, 0 };

  x[1 + symbol] = 1.0f;
  fail_unless_equals_int (push_frame (f, x, CTC_IN, index), GST_FLOW_OK);
}

static void
check_word_confidence (const GValue * words, guint i, const gchar * text, GstClockTime start,
    GstClockTime end, gdouble min_confidence, gdouble max_confidence)
{
  const GstStructure *w = gst_value_get_structure (gst_value_array_get_value (words, i));
  guint64 s = 0, e = 0;
  gdouble c = 0;

  fail_unless (gst_structure_has_name (w, "word"));
  fail_unless_equals_string (gst_structure_get_string (w, "text"), text);
  fail_unless (gst_structure_get_uint64 (w, "start", &s));
  fail_unless (gst_structure_get_uint64 (w, "end", &e));
  fail_unless (gst_structure_get_double (w, "confidence", &c));
  fail_unless_equals_uint64 (s, start);
  fail_unless_equals_uint64 (e, end);
  fail_unless (c > min_confidence && c <= max_confidence, "word confidence %f", c);
}

static void
check_word (const GValue * words, guint i, const gchar * text, GstClockTime start,
    GstClockTime end)
{
  check_word_confidence (words, i, text, start, end, 0.9, 1.0);
}

static void
run_ctc (const gchar * beam, gboolean bidirectional)
{
  const gchar *const props[] = {
    "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "100", "min-speech", "30",
    "partial-interval", "30", "beam-width", beam, "vad-margin", "0", NULL
  };
  /* "ab a": a a _ b b _ " " _ a a, then silence. */
  static const gint script[] = { 1, 1, 0, 2, 2, 0, 3, 0, 1, 1 };
  gchar *model = ctc_model_full ("ctc.rnn", bidirectional, NULL);
  Fixture f = start (model, props);
  GList *r, *l;
  const GstStructure *final = NULL;
  guint partials = 0;
  gboolean fin = TRUE;

  set_frames_caps (&f, CTC_IN);
  for (guint i = 0; i < G_N_ELEMENTS (script); i++)
    push_ctc_frame (&f, i, 1.0f, script[i]);
  for (guint i = 10; i < 30; i++)
    push_ctc_frame (&f, i, 0.0f, 0);
  r = pop_results (&f, GST_RNN_TRANSCRIPTION_NAME);
  for (l = r; l; l = l->next) {
    const GstStructure *s = l->data;
    const gchar *text = gst_structure_get_string (s, "text");

    fail_unless (gst_structure_get_boolean (s, "final", &fin));
    if (!fin) {
      fail_unless (final == NULL, "partial after the final result");
      fail_unless (g_str_has_prefix ("ab a", text), "partial '%s'", text);
      partials++;
    } else {
      fail_unless (final == NULL, "two final results");
      final = s;
    }
  }
  /* A bidirectional model cannot stream: no partial results. */
  if (bidirectional) {
    fail_unless_equals_int (partials, 0);
  } else {
    fail_unless (partials >= 2, "%u partial results", partials);
  }
  fail_unless (final != NULL);
  fail_unless_equals_string (gst_structure_get_string (final, "text"), "ab a");
  {
    const GValue *words = gst_structure_get_value (final, "words");
    guint64 ts = 1, dur = 0;

    fail_unless (words != NULL && GST_VALUE_HOLDS_ARRAY (words));
    fail_unless_equals_int (gst_value_array_get_size (words), 2);
    check_word (words, 0, "ab", 0, 5 * FRAME);
    check_word (words, 1, "a", 8 * FRAME, 10 * FRAME);
    fail_unless (gst_structure_get_uint64 (final, "timestamp", &ts));
    fail_unless (gst_structure_get_uint64 (final, "duration", &dur));
    fail_unless_equals_uint64 (ts, 0);
    fail_unless_equals_uint64 (dur, 10 * FRAME);
  }
  free_results (r);

  /* EOS in the middle of a second utterance still gives its final result. */
  push_ctc_frame (&f, 40, 1.0f, 2);
  push_ctc_frame (&f, 41, 1.0f, 2);
  push_ctc_frame (&f, 42, 1.0f, 0);
  push_ctc_frame (&f, 43, 1.0f, 1);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_TRANSCRIPTION_NAME);
  l = g_list_last (r);
  fail_unless (l != NULL);
  fail_unless (gst_structure_get_boolean (l->data, "final", &fin) && fin);
  fail_unless_equals_string (gst_structure_get_string (l->data, "text"), "ba");
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_START_TEST (test_ctc_greedy)
{
  run_ctc ("1", FALSE);
}

GST_END_TEST;

GST_START_TEST (test_ctc_beam)
{
  run_ctc ("8", FALSE);
}

GST_END_TEST;

GST_START_TEST (test_ctc_bidirectional)
{
  run_ctc ("8", TRUE);
}

GST_END_TEST;

/* An ensemble of transcribers (a grouped head) votes: two members hear "ab a", one "aa a"; the
 * result is the majority's, with the members' spans, and the frames downstream are the members'
 * posteriors side by side. */
GST_START_TEST (test_ctc_ensemble_vote)
{
  const gchar *const props[] = { "vad", "false", NULL };
  static const gint script[] = { 1, 1, 0, 2, 2, 0, 3, 0, 1, 1 };
  gchar *model = ctc_ensemble_model ("ctc-ensemble.rnn");
  Fixture f = start (model, props);
  GList *r;
  const GValue *words;
  GstBuffer *out;
  GstMapInfo map;

  set_frames_caps (&f, CTC_IN);
  for (guint i = 0; i < G_N_ELEMENTS (script); i++)
    push_ctc_frame (&f, i, 0.0f, script[i]);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_TRANSCRIPTION_NAME);
  fail_unless (r != NULL);
  r = g_list_last (r);
  fail_unless_equals_string (gst_structure_get_string (r->data, "text"), "ab a");
  words = gst_structure_get_value (r->data, "words");
  fail_unless_equals_int (gst_value_array_get_size (words), 2);
  /* the members' mean posterior of "b" is (0.97 + 0.97 + ~0.01) / 3: the word's mean is ~0.81 */
  check_word_confidence (words, 0, "ab", 0, 5 * FRAME, 0.75, 0.85);
  check_word (words, 1, "a", 8 * FRAME, 10 * FRAME);
  free_results (g_list_first (r));

  /* frame 3 ("b"): members 0 and 1 give b ~0.97, the last one a */
  for (guint i = 0; i <= 3; i++) {
    out = gst_harness_pull (f.h);
    fail_unless (out != NULL);
    if (i < 3) {
      gst_buffer_unref (out);
      continue;
    }
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, sizeof (float) * 4 * CTC_MEMBERS);
    fail_unless (((float *) map.data)[2] > 0.9f && ((float *) map.data)[4 + 2] > 0.9f);
    fail_unless (((float *) map.data)[8 + 1] > 0.9f);
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* Without a space symbol each symbol is a word: digit-like alphabets read "one zero". */
GST_START_TEST (test_ctc_symbol_words)
{
  static const char *const alphabet[4] = { "<b>", "zero", "one", "two" };
  const gchar *const props[] = { "vad", "false", "beam-width", "4", NULL };
  static const gint script[] = { 2, 2, 0, 1, 1, 1, 0, 0 };
  gchar *model = ctc_model_full ("digits.rnn", FALSE, alphabet);
  Fixture f = start (model, props);
  GList *r;
  const GValue *words;

  set_frames_caps (&f, CTC_IN);
  for (guint i = 0; i < G_N_ELEMENTS (script); i++)
    push_ctc_frame (&f, 100 + i, 0.0f, script[i]);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_TRANSCRIPTION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  fail_unless_equals_string (gst_structure_get_string (r->data, "text"), "one zero");
  words = gst_structure_get_value (r->data, "words");
  fail_unless_equals_int (gst_value_array_get_size (words), 2);
  check_word (words, 0, "one", 100 * FRAME, 102 * FRAME);
  check_word (words, 1, "zero", 103 * FRAME, 106 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* A bidirectional model keeps the utterance's frames and runs at its end: the same results, and
 * its per-frame outputs come out then (GAP events stand for frames outside utterances: one per
 * span of at most 200 ms, not one per frame). */
GST_START_TEST (test_bidirectional_utterances)
{
  gchar *model = bidirectional_classifier_model ("bidi.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  GstEvent *ev;
  guint gaps = 0;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 1.0f, 1.0f);
  push_classifier_frames (&f, 30, 29, 0.0f, 0.0f);
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 0);
  push_classifier_frames (&f, 59, 1, 0.0f, 0.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 30 * FRAME);
  free_results (r);
  /* The model runs over the utterance's 30 speech frames (not the 30 frames of hangover after
 * them): their outputs, timestamped as their inputs. */
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 30);
  for (guint i = 0; i < 30; i++) {
    GstBuffer *b = gst_harness_pull (f.h);

    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * FRAME);
    gst_buffer_unref (b);
  }
  /* The hangover and 45 more frames without speech: GAPs of at most 20 frames, one cut short
   * where the result went out after the hangover, the last sent when speech starts. */
  push_classifier_frames (&f, 60, 45, 0.0f, 0.0f);
  push_classifier_frames (&f, 105, 20, 1.0f, -1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "no", 0, yes_confidence (), 105 * FRAME, 20 * FRAME);
  free_results (r);
  while ((ev = gst_harness_try_pull_event (f.h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP) {
      static const guint starts[5] = { 30, 50, 60, 80, 100 }, lengths[5] = { 20, 10, 20, 20, 5 };
      GstClockTime ts, dur;

      fail_unless (gaps < 5, "more GAP events than spans");
      gst_event_parse_gap (ev, &ts, &dur);
      fail_unless_equals_uint64 (ts, starts[gaps] * FRAME);
      fail_unless_equals_uint64 (dur, lengths[gaps] * FRAME);
      gaps++;
    }
    gst_event_unref (ev);
  }
  fail_unless_equals_int (gaps, 5);
  fail_unless_equals_int (gst_harness_buffers_received (f.h), 50);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* vad=trim (files with silence around the speech): one result for the stream, from the model run
 * over its first to last speech frame, pauses included; the background around the speech is left
 * out; a stream without speech is run whole. */
GST_START_TEST (test_vad_trim)
{
  const gchar *const props[] = {
    "vad", "trim", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
    "min-speech", "50", "vad-margin", "0", NULL
  };
  gchar *model = bidirectional_classifier_model ("bidi-trim.rnn");
  Fixture f = start (model, props);
  GList *r;
  guint64 ts = 0, dur = 0;

  set_frames_caps (&f, 2);
  /* Background that says "no" around two stretches of "yes" with a neutral pause longer than
   * min-silence between them: the whole stream says "no" (40 against 30 frames); the span, "yes". */
  push_classifier_frames (&f, 0, 20, 0.0f, -1.0f);
  push_classifier_frames (&f, 20, 20, 1.0f, 1.0f);
  push_classifier_frames (&f, 40, 40, 0.0f, 0.0f);
  push_classifier_frames (&f, 80, 10, 1.0f, 1.0f);
  push_classifier_frames (&f, 90, 20, 0.0f, -1.0f);
  fail_unless (pop_results (&f, GST_RNN_CLASSIFICATION_NAME) == NULL, "a result before EOS");
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  fail_unless_equals_string (gst_structure_get_string (r->data, "label"), "yes");
  fail_unless (gst_structure_get_uint64 (r->data, "timestamp", &ts));
  fail_unless (gst_structure_get_uint64 (r->data, "duration", &dur));
  fail_unless_equals_uint64 (ts, 20 * FRAME);
  fail_unless_equals_uint64 (dur, 70 * FRAME);
  free_results (r);
  stop (&f);

  /* No speech at all: the whole stream, as with vad=off. */
  f = start (model, props);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, 0.0f, -1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "no", 0, yes_confidence (), 0, 30 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* vad=trim with a streaming transcriber: the model starts at the first speech (the "b" heard in
 * the background before it is not transcribed) and a pause longer than min-silence does not end
 * the utterance: one final result for the stream. */
GST_START_TEST (test_vad_trim_streaming)
{
  const gchar *const props[] = {
    "vad", "trim", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "100",
    "min-speech", "20", "vad-margin", "0", "pre-roll", "0", NULL
  };
  gchar *model = ctc_model_full ("ctc-trim.rnn", FALSE, NULL);
  Fixture f = start (model, props);
  GList *r, *l;
  guint finals = 0;
  gboolean fin = FALSE;

  set_frames_caps (&f, CTC_IN);
  for (guint i = 0; i < 10; i++)
    push_ctc_frame (&f, i, 0.0f, 2);
  push_ctc_frame (&f, 10, 1.0f, 1);
  push_ctc_frame (&f, 11, 1.0f, 1);
  push_ctc_frame (&f, 12, 1.0f, 0);
  for (guint i = 13; i < 43; i++)
    push_ctc_frame (&f, i, 0.0f, 0);
  push_ctc_frame (&f, 43, 1.0f, 2);
  push_ctc_frame (&f, 44, 1.0f, 2);
  push_ctc_frame (&f, 45, 1.0f, 0);
  for (guint i = 46; i < 51; i++)
    push_ctc_frame (&f, i, 0.0f, 0);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_TRANSCRIPTION_NAME);
  for (l = r; l; l = l->next) {
    fail_unless (gst_structure_get_boolean (l->data, "final", &fin));
    if (fin) {
      finals++;
      fail_unless_equals_string (gst_structure_get_string (l->data, "text"), "ab");
    }
  }
  fail_unless_equals_int (finals, 1);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* The default VAD level follows the model's features: for MFCC frames it is C0 / sqrt(mel bins)
 * (the mean log-mel energy), or the log energy less 2.1 with use-energy. The default threshold
 * is 12. */
static void
run_vad_level (gboolean energy, gfloat speech_x0, gfloat quiet_x0)
{
  gchar *model = classifier_model_with_features ("mfcc.rnn", "mfcc", 16, energy);
  Fixture f = start (model, NO_PRE_ROLL);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 20, quiet_x0, -1.0f);
  push_classifier_frames (&f, 20, 30, speech_x0, 1.0f);
  push_classifier_frames (&f, 50, 30, quiet_x0, -1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 20 * FRAME, 30 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_START_TEST (test_vad_level_from_features)
{
  run_vad_level (FALSE, 4 * 13.0f, 4 * 11.0f); /* mean log-mel 13 and 11 */
  run_vad_level (TRUE, 15.0f, 13.0f);   /* 12.9 and 10.9 */
}

GST_END_TEST;

/* rnn-feature-settings from upstream: a warning names the settings that differ from the model's
 * features.* metadata; the VAD reads the frames as the stream's settings lay them out. */
static GstEvent *
feature_settings_event (GstRnnFeaturesKind kind, gint mel_bins, gdouble dither)
{
  GstStructure *st = gst_structure_new (GST_RNN_FEATURE_SETTINGS_NAME,
      "kind", GST_TYPE_RNN_FEATURES_KIND, kind,
      "num-mel-bins", G_TYPE_INT, mel_bins,
      "use-energy", G_TYPE_BOOLEAN, FALSE,
      "dither", G_TYPE_DOUBLE, dither,
      "feature-size", G_TYPE_INT, 2, NULL);

  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, st);
}

static guint
count_warnings (Fixture * f, const gchar * must_contain)
{
  GstMessage *msg;
  guint n = 0;

  while ((msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_WARNING))) {
    GError *err = NULL;

    gst_message_parse_warning (msg, &err, NULL);
    if (must_contain)
      fail_unless (strstr (err->message, must_contain) != NULL, "%s", err->message);
    g_error_free (err);
    gst_message_unref (msg);
    n++;
  }
  return n;
}

GST_START_TEST (test_feature_settings)
{
  gchar *model = classifier_model_with_features ("fbank23.rnn", "fbank", 23, FALSE);
  Fixture f = start (model, NO_PRE_ROLL);
  GList *r;

  set_frames_caps (&f, 2);
  /* Same settings (dither aside): no warning. */
  fail_unless (gst_harness_push_event (f.h,
          feature_settings_event (GST_RNN_FEATURES_KIND_FBANK, 23, 1.0)));
  fail_unless_equals_int (count_warnings (&f, NULL), 0);
  /* Other settings: one warning naming each difference and the model. */
  fail_unless (gst_harness_push_event (f.h,
          feature_settings_event (GST_RNN_FEATURES_KIND_MFCC, 16, 0.0)));
  fail_unless_equals_int (count_warnings (&f, "kind is mfcc (the model's: fbank), "
          "num-mel-bins is 16 (the model's: 23)"), 1);
  stop (&f);
  g_free (model);

  /* A model without features.* metadata: no warning, and the VAD reads MFCC frames of 16 mel
   * bins as C0 / 4. */
  model = classifier_model ("plain.rnn");
  f = start (model, NO_PRE_ROLL);
  set_frames_caps (&f, 2);
  fail_unless (gst_harness_push_event (f.h,
          feature_settings_event (GST_RNN_FEATURES_KIND_MFCC, 16, 0.0)));
  /* (Popping one kind of message drops the others: warnings first, results after.) */
  fail_unless_equals_int (count_warnings (&f, NULL), 0);
  push_classifier_frames (&f, 0, 20, 4 * 11.0f, -1.0f);
  push_classifier_frames (&f, 20, 30, 4 * 13.0f, 1.0f);
  push_classifier_frames (&f, 50, 30, 4 * 11.0f, -1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 20 * FRAME, 30 * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* CMN-normalised frames (features.cmn-window > 0): the default threshold is 0.5 above the
 * sliding mean; a threshold the application sets is used as it is. */
static void
run_cmn_threshold (const gchar * threshold, guint expected)
{
  const gchar *const props[] = { "vad-feature", "0", "vad-margin", "0", "pre-roll", "0",
    threshold ? "vad-threshold" : NULL, threshold, NULL
  };
  gchar *path = classifier_model ("cmn.rnn");
  char err[256];
  rnn_model *m = rnn_model_load (path, err, sizeof (err));
  Fixture f;
  GList *r;

  fail_unless (m != NULL, "%s", err);
  rnn_model_set_meta_int (m, "features.cmn-window", 600);
  g_free (path);
  path = save_model (m, "cmn.rnn");
  f = start (path, props);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 20, 0.2f, -1.0f);
  push_classifier_frames (&f, 20, 30, 0.7f, 1.0f);
  push_classifier_frames (&f, 50, 30, 0.2f, -1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), expected);
  if (expected)
    check_classification (r->data, "yes", 1, yes_confidence (), 20 * FRAME, 30 * FRAME);
  free_results (r);
  stop (&f);
  g_free (path);
}

GST_START_TEST (test_cmn_threshold)
{
  run_cmn_threshold (NULL, 1);
  run_cmn_threshold ("12", 0);
}

GST_END_TEST;

/* Defaults from the model's infer.* metadata; what the application sets wins. */
static gchar *
classifier_with_infer_meta (const gchar * name, const gchar * mode)
{
  gchar *path = classifier_model (name);
  char err[256];
  rnn_model *m = rnn_model_load (path, err, sizeof (err));

  fail_unless (m != NULL, "%s", err);
  rnn_model_set_meta_string (m, "infer.mode", mode);
  rnn_model_set_meta_int (m, "infer.window-length", 200);
  rnn_model_set_meta_float (m, "infer.window-hop", 100.0);
  g_free (path);
  return save_model (m, name);
}

GST_START_TEST (test_model_defaults)
{
  static const gchar *const hop[] = { "window-hop", "50", NULL };
  gchar *model = classifier_with_infer_meta ("infer-meta.rnn", "window");
  Fixture f = start (model, NULL);
  GList *r;
  guint hop_ms = 0, length_ms = 0;
  gchar *bad;

  set_frames_caps (&f, 2);
  g_object_get (f.element, "window-hop", &hop_ms, "window-length", &length_ms, NULL);
  fail_unless_equals_int (hop_ms, 100);
  fail_unless_equals_int (length_ms, 200);
  push_classifier_frames (&f, 0, 50, 1.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 4);        /* windows end at 20, 30, 40, 50 */
  free_results (r);
  stop (&f);

  f = start (model, hop);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 50, 1.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 7);        /* 20, 25, ..., 50 */
  free_results (r);
  stop (&f);
  g_free (model);

  /* A value the property cannot take: an error naming the file and the key. */
  model = classifier_with_infer_meta ("infer-bad.rnn", "sideways");
  bad = NULL;
  {
    GstElement *e = gst_element_factory_make ("rnninfer", NULL);
    GstBus *bus = gst_bus_new ();
    GstMessage *msg;
    GError *err = NULL;

    gst_element_set_bus (e, bus);
    g_object_set (e, "model", model, NULL);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY),
        GST_STATE_CHANGE_FAILURE);
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    gst_message_parse_error (msg, &err, NULL);
    bad = g_strdup (err->message);
    g_error_free (err);
    gst_message_unref (msg);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_element_set_bus (e, NULL);
    gst_object_unref (bus);
    gst_object_unref (e);
  }
  fail_unless (strstr (bad, "infer-bad.rnn") && strstr (bad, "infer.mode")
      && strstr (bad, "sideways"), "%s", bad);
  g_free (bad);
  g_free (model);
}

GST_END_TEST;

/* vad=auto: a stream whose upstream is not live (a file) is one utterance up to EOS, whatever its
 * level and its pauses; vad=on applies the voice-activity rule to it all the same. */
GST_START_TEST (test_vad_auto_file)
{
  static const gchar *const on[] = {
    "vad", "on", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
    "min-speech", "50", "vad-margin", "0", "pre-roll", "0", NULL
  };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  GstRnnInferVad vad = GST_RNN_INFER_VAD_ON;

  g_object_get (f.element, "vad", &vad, NULL);
  fail_unless_equals_int (vad, GST_RNN_INFER_VAD_AUTO);
  gst_harness_set_live (f.h, FALSE);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 40, 0.0f, 1.0f);       /* below vad-threshold */
  push_classifier_frames (&f, 40, 20, 1.0f, 1.0f);
  push_classifier_frames (&f, 60, 40, 0.0f, 1.0f);      /* longer than min-silence */
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless (r == NULL, "a file has no endpoints before EOS");
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 100 * FRAME);
  free_results (r);
  stop (&f);

  /* A file that is quiet throughout still gives its one result. */
  f = start (model, VAD_PROPS);
  gst_harness_set_live (f.h, FALSE);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 30, -3.0f, 1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 30 * FRAME);
  free_results (r);
  stop (&f);

  f = start (model, on);
  gst_harness_set_live (f.h, FALSE);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 40, 0.0f, 1.0f);
  push_classifier_frames (&f, 40, 20, 1.0f, 1.0f);
  push_classifier_frames (&f, 60, 40, 0.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 40 * FRAME, 20 * FRAME);
  free_results (r);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  fail_unless (pop_results (&f, GST_RNN_CLASSIFICATION_NAME) == NULL);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* vad=auto with a live upstream (the harness answers the latency query with live=TRUE): the
 * voice-activity rule finds the utterance; vad=off makes the live stream one utterance. The
 * former boolean values still parse, from properties and from the model's infer.vad. */
GST_START_TEST (test_vad_auto_live)
{
  static const gchar *const off[] = { "vad", "false", NULL };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, VAD_PROPS);
  GList *r;
  GstRnnInferVad vad = GST_RNN_INFER_VAD_AUTO;
  GstElement *e;
  rnn_model *m;
  char err[256];
  gchar *meta_model;

  gst_harness_set_live (f.h, TRUE);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 40, 0.0f, 1.0f);
  push_classifier_frames (&f, 40, 20, 1.0f, 1.0f);
  push_classifier_frames (&f, 60, 40, 0.0f, 1.0f);
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 40 * FRAME, 20 * FRAME);
  free_results (r);
  stop (&f);

  f = start (model, off);
  g_object_get (f.element, "vad", &vad, NULL);
  fail_unless_equals_int (vad, GST_RNN_INFER_VAD_OFF);
  gst_harness_set_live (f.h, TRUE);
  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 100, -3.0f, 1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 0, 100 * FRAME);
  free_results (r);
  stop (&f);

  e = gst_element_factory_make ("rnninfer", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "vad", "true");
  g_object_get (e, "vad", &vad, NULL);
  fail_unless_equals_int (vad, GST_RNN_INFER_VAD_ON);
  gst_util_set_object_arg (G_OBJECT (e), "vad", "0");
  g_object_get (e, "vad", &vad, NULL);
  fail_unless_equals_int (vad, GST_RNN_INFER_VAD_OFF);
  gst_object_unref (e);

  /* infer.vad in a model: a string as the old boolean wrote it, or an int. */
  for (gint k = 0; k < 2; k++) {
    meta_model = classifier_model ("infer-vad.rnn");
    m = rnn_model_load (meta_model, err, sizeof (err));
    fail_unless (m != NULL, "%s", err);
    if (k == 0)
      rnn_model_set_meta_string (m, "infer.vad", "false");
    else
      rnn_model_set_meta_int (m, "infer.vad", 1);
    g_free (meta_model);
    meta_model = save_model (m, k == 0 ? "infer-vad-false.rnn" : "infer-vad-1.rnn");
    e = gst_element_factory_make ("rnninfer", NULL);
    g_object_set (e, "model", meta_model, NULL);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    g_object_get (e, "vad", &vad, NULL);
    fail_unless_equals_int (vad, k == 0 ? GST_RNN_INFER_VAD_OFF : GST_RNN_INFER_VAD_ON);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
    g_free (meta_model);
  }
  g_free (model);
}

GST_END_TEST;

/* The live VAD's noise floor: background louder than vad-threshold is not speech once the floor
 * is known (after its first 250 ms sub-window, which does not count towards min-speech); speech
 * stands vad-margin above it. Without the margin the background never ends the utterance. */
static GList *
run_noise_floor (const gchar * margin)
{
  const gchar *const props[] = {
    "vad", "on", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
    "min-speech", "50", "vad-margin", margin, "pre-roll", "0", NULL
  };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, props);
  GList *r;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 300, 2.0f, -1.0f);     /* 3 s of loud background */
  push_classifier_frames (&f, 300, 50, 4.0f, 1.0f);     /* 0.5 s of speech */
  push_classifier_frames (&f, 350, 100, 2.0f, -1.0f);
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  stop (&f);
  g_free (model);
  return r;
}

GST_START_TEST (test_vad_noise_floor)
{
  GList *r = run_noise_floor ("1.0");

  fail_unless_equals_int (g_list_length (r), 1);
  check_classification (r->data, "yes", 1, yes_confidence (), 300 * FRAME, 50 * FRAME);
  free_results (r);

  /* Speech that would not stand out: the margin is larger than its rise over the background. */
  r = run_noise_floor ("2.5");
  fail_unless (r == NULL);

  r = run_noise_floor ("0");
  fail_unless_equals_int (g_list_length (r), 1);
  fail_unless_equals_uint64 (g_value_get_uint64 (gst_structure_get_value (r->data,
              "duration")), 450 * FRAME);
  free_results (r);

  /* A word as the stream opens, before the floor is known: it stands out from the background
   * measured after it, so it keeps its result. */
  {
    const gchar *const props[] = {
      "vad", "on", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
      "min-speech", "50", "pre-roll", "0", NULL
    };
    gchar *model = classifier_model ("cls.rnn");
    Fixture f = start (model, props);

    set_frames_caps (&f, 2);
    push_classifier_frames (&f, 0, 20, 4.0f, 1.0f);
    push_classifier_frames (&f, 20, 100, 2.0f, -1.0f);
    r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
    fail_unless_equals_int (g_list_length (r), 1);
    /* Until the floor is known (25 frames), the background above vad-threshold is in it. */
    check_classification (r->data, "yes", 1, 1.0 / (1.0 + exp (-4.0 * tanh (1.0) * 15 / 25)),
        0, 25 * FRAME);
    free_results (r);
    stop (&f);
    g_free (model);
  }
}

GST_END_TEST;

/* vad=false: the whole stream is one utterance, cut every max-utterance. */
GST_START_TEST (test_no_vad_max_utterance)
{
  static const gchar *const props[] = { "vad", "false", "max-utterance", "200", NULL };
  gchar *model = classifier_model ("cls.rnn");
  Fixture f = start (model, props);
  GList *r, *l;
  guint i = 0;

  set_frames_caps (&f, 2);
  push_classifier_frames (&f, 0, 50, -5.0f, 1.0f);      /* quiet, but there is no VAD */
  fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
  r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
  fail_unless_equals_int (g_list_length (r), 3);
  for (l = r; l; l = l->next, i++)
    check_classification (l->data, "yes", 1, yes_confidence (), i * 20 * FRAME,
        (i < 2 ? 20 : 10) * FRAME);
  free_results (r);
  stop (&f);
  g_free (model);
}

GST_END_TEST;

/* The cache: one model per file, a new one when the file is rewritten; errors name the file. */
GST_START_TEST (test_model_cache)
{
  gchar *path = classifier_model ("cached.rnn");
  gchar *other = stateful_model ("other.rnn");
  GError *err = NULL;
  rnn_model *a = gst_rnn_model_cache_get (path, NULL);
  rnn_model *b = gst_rnn_model_cache_get (path, NULL);
  rnn_model *c;
  gchar *data;
  gsize size;

  fail_unless (a != NULL && a == b);
  /* Rewrite the file (atomically, as the engine saves): a new model, the old one stays valid. */
  fail_unless (g_file_get_contents (other, &data, &size, NULL));
  fail_unless (g_file_set_contents (path, data, (gssize) size, NULL));
  c = gst_rnn_model_cache_get (path, NULL);
  fail_unless (c != NULL && c != a);
  fail_unless_equals_int (rnn_model_input_size (c), 3);
  fail_unless_equals_int (rnn_model_input_size (a), 2);
  rnn_model_unref (a);
  rnn_model_unref (b);
  rnn_model_unref (c);
  fail_unless (gst_rnn_model_cache_get ("/nonexistent/x.rnn", &err) == NULL);
  fail_unless (g_error_matches (err, GST_RNN_ERROR, GST_RNN_ERROR_MODEL));
  fail_unless (strstr (err->message, "cannot load model '/nonexistent/x.rnn': ") != NULL,
      "%s", err->message);
  g_error_free (err);
  g_free (data);
  g_free (path);
  g_free (other);
}

GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * Real audio: FSDD recordings through rnnfeatures (default fbank, 23 bins) into rnninfer with its
 * default voice-activity settings.
 * ------------------------------------------------------------------------------------------- */

/* The S16LE 8 kHz mono samples of a wav file, decoded by GStreamer. */
static GByteArray *
read_wav (const gchar * path)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
      "audio/x-raw,format=S16LE,channels=1,rate=8000 ! appsink name=s sync=false", path);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstElement *sink;
  GByteArray *out = g_byte_array_new ();
  GstSample *sample;

  fail_unless (p != NULL);
  sink = gst_bin_get_by_name (GST_BIN (p), "s");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_ASYNC);
  while (TRUE) {
    g_signal_emit_by_name (sink, "pull-sample", &sample);
    if (!sample)
      break;
    {
      GstMapInfo map;
      GstBuffer *b = gst_sample_get_buffer (sample);

      gst_buffer_map (b, &map, GST_MAP_READ);
      g_byte_array_append (out, map.data, map.size);
      gst_buffer_unmap (b, &map);
    }
    gst_sample_unref (sample);
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
  g_free (desc);
  return out;
}

/* A random LSTM classifier over 23 log-mel bins: the labels it gives mean nothing, the utterances
 * it finds are what this test checks. */
static gchar *
random_digit_model_bins (const gchar * name, gint mel_bins)
{
  rnn_model *m = rnn_model_new (mel_bins);
  const char *labels[10] = { "zero", "one", "two", "three", "four", "five", "six", "seven",
    "eight", "nine"
  };

  fail_unless (rnn_model_add_layer (m, RNN_CELL_LSTM, 16, 0) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 10, RNN_POOL_MEAN) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  rnn_model_init_weights (m, 11);
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 10);
  rnn_model_set_meta_string (m, "features.kind", "fbank");
  rnn_model_set_meta_int (m, "features.num-mel-bins", mel_bins);
  return save_model (m, name);
}

static gchar *
random_digit_model (const gchar * name)
{
  return random_digit_model_bins (name, 23);
}

/* Digit, 1 s of digital silence, another digit, 0.5 s of silence: two utterances, each spanning
 * its recording. */
GST_START_TEST (test_real_audio_endpoints)
{
  const gchar *data = g_getenv ("RNN_DATA");
  gchar *a_path, *b_path, *model, *desc;
  GByteArray *a, *b, *all;
  GstElement *p, *src;
  GstBus *bus;
  GstMessage *msg;
  GstBuffer *buf;
  GList *results = NULL;
  guint64 a_ns, b_ns, ts = 0, dur = 0;
  GstFlowReturn flow = GST_FLOW_ERROR;
  const guint8 zeros[16000] = { 0 };   /* 1 s of S16 at 8 kHz */

  if (!data || !g_file_test (data, G_FILE_TEST_IS_DIR)) {
    GST_WARNING ("RNN_DATA not set: skipping the real audio test");
    return;
  }
  a_path = g_build_filename (data, "fsdd", "recordings", "3_theo_0.wav", NULL);
  b_path = g_build_filename (data, "fsdd", "recordings", "7_george_3.wav", NULL);
  a = read_wav (a_path);
  b = read_wav (b_path);
  a_ns = gst_util_uint64_scale (a->len / 2, GST_SECOND, 8000);
  b_ns = gst_util_uint64_scale (b->len / 2, GST_SECOND, 8000);
  fail_unless (a_ns > 100 * GST_MSECOND && b_ns > 100 * GST_MSECOND);
  all = g_byte_array_new ();
  g_byte_array_append (all, a->data, a->len);
  g_byte_array_append (all, zeros, sizeof (zeros));
  g_byte_array_append (all, b->data, b->len);
  g_byte_array_append (all, zeros, sizeof (zeros) / 2);

  model = random_digit_model ("digits-random.rnn");
  /* appsrc is not live: the VAD is asked for, as a live source would have it by default. */
  desc = g_strdup_printf ("appsrc name=src format=time caps=audio/x-raw,format=S16LE,"
      "layout=interleaved,channels=1,rate=8000 ! rnnfeatures ! rnninfer vad=on "
      "model=\"%s\" ! fakesink sync=false", model);
  p = gst_parse_launch (desc, NULL);
  fail_unless (p != NULL);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  buf = gst_buffer_new_memdup (all->data, all->len);
  GST_BUFFER_PTS (buf) = 0;
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (all->len / 2, GST_SECOND, 8000);
  g_signal_emit_by_name (src, "push-buffer", buf, &flow);
  fail_unless_equals_int (flow, GST_FLOW_OK);
  gst_buffer_unref (buf);
  g_signal_emit_by_name (src, "end-of-stream", &flow);
  while ((msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    GstMessageType type = GST_MESSAGE_TYPE (msg);

    if (type == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (gst_message_get_structure (msg),
            GST_RNN_CLASSIFICATION_NAME))
      results = g_list_append (results, gst_structure_copy (gst_message_get_structure (msg)));
    fail_if (type == GST_MESSAGE_ERROR, "pipeline error");
    gst_message_unref (msg);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  fail_unless_equals_int (g_list_length (results), 2);
  /* The first: from the start to (within a frame shift or two of) the recording's end. */
  fail_unless (gst_structure_get_uint64 (results->data, "timestamp", &ts));
  fail_unless (gst_structure_get_uint64 (results->data, "duration", &dur));
  GST_INFO ("first: %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT " (recording %" GST_TIME_FORMAT
      ")", GST_TIME_ARGS (ts), GST_TIME_ARGS (dur), GST_TIME_ARGS (a_ns));
  fail_unless (ts <= 30 * GST_MSECOND, "first utterance starts at %" GST_TIME_FORMAT,
      GST_TIME_ARGS (ts));
  fail_unless (ts + dur >= a_ns / 2 && ts + dur <= a_ns + 30 * GST_MSECOND,
      "first utterance ends at %" GST_TIME_FORMAT, GST_TIME_ARGS (ts + dur));
  /* The second: inside the second recording, which starts 1 s after the first ends, or at most
   * the pre-roll (200 ms by default) before it: the utterance starts with the frames the model
   * heard before the first speech frame. */
  fail_unless (gst_structure_get_uint64 (results->next->data, "timestamp", &ts));
  fail_unless (gst_structure_get_uint64 (results->next->data, "duration", &dur));
  GST_INFO ("second: %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT " (recording at %"
      GST_TIME_FORMAT ")", GST_TIME_ARGS (ts), GST_TIME_ARGS (dur),
      GST_TIME_ARGS (a_ns + GST_SECOND));
  fail_unless (ts + (30 + 200) * GST_MSECOND >= a_ns + GST_SECOND
      && ts <= a_ns + GST_SECOND + b_ns / 2, "second utterance starts at %" GST_TIME_FORMAT,
      GST_TIME_ARGS (ts));
  fail_unless (ts + dur <= a_ns + GST_SECOND + b_ns + 30 * GST_MSECOND);

  free_results (results);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (p);
  g_byte_array_unref (a);
  g_byte_array_unref (b);
  g_byte_array_unref (all);
  g_free (a_path);
  g_free (b_path);
  g_free (model);
  g_free (desc);
}

GST_END_TEST;

/* Every classification the pipeline desc posts up to EOS (no error allowed). */
static GList *
run_launch (const gchar * desc)
{
  GstElement *p = gst_parse_launch (desc, NULL);
  GstBus *bus;
  GstMessage *msg;
  GList *results = NULL;
  gboolean eos = FALSE;

  fail_unless (p != NULL, "%s", desc);
  bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  while (!eos && (msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    GstMessageType type = GST_MESSAGE_TYPE (msg);

    if (type == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (gst_message_get_structure (msg),
            GST_RNN_CLASSIFICATION_NAME))
      results = g_list_append (results, gst_structure_copy (gst_message_get_structure (msg)));
    fail_if (type == GST_MESSAGE_ERROR, "pipeline error");
    eos = type == GST_MESSAGE_EOS;
    gst_message_unref (msg);
  }
  fail_unless (eos, "no EOS");
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  return results;
}

/* Quiet recordings of speaker theo, whose mean log-mel level (40 bins, as the digit models are
 * trained) stays under the default vad-threshold: through filesrc ! wavparse, a file gives exactly
 * one result, at EOS, spanning the recording; the voice-activity rule (vad=on) finds no speech in
 * them, which is why files do not use it. */
GST_START_TEST (test_quiet_files)
{
  static const gchar *const files[] = { "4_theo_2.wav", "0_theo_26.wav", "3_theo_12.wav" };
  const gchar *data = g_getenv ("RNN_DATA");
  gchar *model;

  if (!data || !g_file_test (data, G_FILE_TEST_IS_DIR)) {
    GST_WARNING ("RNN_DATA not set: skipping the quiet files test");
    return;
  }
  model = random_digit_model_bins ("digits-random-40.rnn", 40);
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *path = g_build_filename (data, "fsdd", "recordings", files[i], NULL);
    GByteArray *pcm = read_wav (path);
    guint64 file_ns = gst_util_uint64_scale (pcm->len / 2, GST_SECOND, 8000), ts = 1, dur = 0;
    GList *r;

    for (gint vad_on = 0; vad_on < 2; vad_on++) {
      gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
          "audioresample ! rnnfeatures model=\"%s\" ! rnninfer %s model=\"%s\" ! fakesink", path,
          model, vad_on ? "vad=on" : "", model);

      r = run_launch (desc);
      if (vad_on) {
        fail_unless (r == NULL, "%s: the VAD found speech; the file is not quiet", files[i]);
      } else {
        fail_unless_equals_int (g_list_length (r), 1);
        fail_unless (gst_structure_get_uint64 (r->data, "timestamp", &ts));
        fail_unless (gst_structure_get_uint64 (r->data, "duration", &dur));
        fail_unless_equals_uint64 (ts, 0);
        fail_unless (ts + dur + 30 * GST_MSECOND >= file_ns && ts + dur <= file_ns,
            "%s: result ends at %" GST_TIME_FORMAT ", the file at %" GST_TIME_FORMAT,
            files[i], GST_TIME_ARGS (ts + dur), GST_TIME_ARGS (file_ns));
      }
      free_results (r);
      g_free (desc);
    }
    g_byte_array_unref (pcm);
    g_free (path);
  }
  g_free (model);
}

GST_END_TEST;

/* A model file that cannot be loaded fails the state change with an error naming it. */
/* rnninfer with this model refuses to start, with an error message holding fragment. */
static void
expect_model_error (const gchar * path, const gchar * fragment)
{
  GstElement *e = gst_element_factory_make ("rnninfer", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;

  gst_element_set_bus (e, bus);
  g_object_set (e, "model", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, fragment) != NULL, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_START_TEST (test_missing_model)
{
  gchar *path = g_build_filename (tmpdir, "no-such.rnn", NULL);

  expect_model_error (path, "no-such.rnn");
  g_free (path);
}

GST_END_TEST;

/* A classifier with heads side by side: rnninfer combines grouped heads only for transcription,
 * and says so rather than classify from the first member alone. */
GST_START_TEST (test_grouped_classifier_refused)
{
  static const char *const labels[2] = { "no", "yes" };
  rnn_model *m = rnn_model_new (3);
  gchar *path;

  fail_unless (rnn_model_add_layer (m, RNN_CELL_GRU, 8, 0) == 0);
  fail_unless (rnn_model_set_layer_groups (m, 0, 2) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 4, RNN_POOL_MEAN) == 0);
  fail_unless (rnn_model_set_head_groups (m, 2) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  rnn_model_init_weights (m, 3);
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 2);
  path = save_model (m, "grouped-classifier.rnn");
  expect_model_error (path, "2 heads side by side");
  g_free (path);
}

GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * Pre-roll
 * ------------------------------------------------------------------------------------------- */

/* A streaming classifier whose state carries: an LSTM with seeded random weights over
 * (level, a, b), mean-pooled, two labels. Optionally with the model default infer.pre-roll. */
static gchar *
stateful_classifier (const gchar * name, gint infer_pre_roll)
{
  rnn_model *m = rnn_model_new (3);
  const char *labels[2] = { "no", "yes" };

  fail_unless (rnn_model_add_layer (m, RNN_CELL_LSTM, 8, 0) == 0);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_MEAN) == 0);
  fail_unless (rnn_model_finalize (m) == 0);
  rnn_model_init_weights (m, 11);
  fail_unless (rnn_model_streamable (m));
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 2);
  if (infer_pre_roll >= 0)
    rnn_model_set_meta_int (m, "infer.pre-roll", infer_pre_roll);
  return save_model (m, name);
}

/* Frame i of the pre-roll pattern: quiet (level 0) but informative (a, b vary) before frame
 * PR_ONSET, speech (level 1) for PR_SPEECH frames, then quiet again. */
#define PR_ONSET 40
#define PR_SPEECH 30
#define PR_TOTAL (PR_ONSET + PR_SPEECH + 40)
static void
preroll_frame (guint i, float *x)
{
  x[0] = i >= PR_ONSET && i < PR_ONSET + PR_SPEECH ? 1.0f : 0.0f;
  x[1] = sinf (0.5f * i);
  x[2] = cosf (0.9f * i) * (i < PR_ONSET ? 2.0f : 0.5f);
}

static void
push_preroll_frames (Fixture * f, guint from, guint n)
{
  for (guint i = from; i < from + n; i++) {
    float x[3];

    preroll_frame (i, x);
    fail_unless_equals_int (push_frame (f, x, 3, i), GST_FLOW_OK);
  }
}

/* The engine's own output over frames [from, last] from a fresh state: what the element's output
 * at frame last must be when the utterance's state started at frame from. */
static void
reference_step (rnn_model * m, guint from, guint last, float *y)
{
  rnn_state *st = rnn_state_new (m);
  const float *out = NULL;

  for (guint i = from; i <= last; i++) {
    float x[3];

    preroll_frame (i, x);
    out = rnn_step (st, x);
  }
  memcpy (y, out, 2 * sizeof (float));
  rnn_state_free (st);
}

/* The engine's pooled posterior over frames [from, last]. */
static gdouble
reference_yes (rnn_model * m, guint from, guint last)
{
  guint n = last - from + 1;
  float *x = g_new (float, 3 * n), p[2];

  for (guint i = 0; i < n; i++)
    preroll_frame (from + i, x + 3 * i);
  fail_unless (rnn_forward_pooled (m, x, (int) n, p) == 0);
  g_free (x);
  return p[1];
}

/* The per-frame output the element pushed for frame index (every frame has one: a streaming
 * model also gives outputs between utterances), after draining all of them. */
static void
pull_frame_output (Fixture * f, guint n, guint index, float *y)
{
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (f->h);

    fail_unless (b != NULL);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * FRAME);
    if (i == index)
      gst_buffer_extract (b, 0, y, 2 * sizeof (float));
    gst_buffer_unref (b);
  }
}

static gboolean
outputs_equal (const float *a, const float *b)
{
  return fabsf (a[0] - b[0]) < 1e-5f && fabsf (a[1] - b[1]) < 1e-5f;
}

/* Runs the pattern through an element with the given pre-roll (NULL: left to the model) and
 * checks the onset frame's output against the engine from a fresh state at frame expect_first,
 * and the result's start, duration and pooled confidence. */
static void
run_preroll (const gchar * model, const gchar * pre_roll, guint expect_first)
{
  static const gchar *const base[] = {
    "vad", "on", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
    "min-speech", "50", "vad-margin", "0",
  };
  const gchar *props[G_N_ELEMENTS (base) + 3];
  rnn_model *m = rnn_model_load (model, NULL, 0);
  float got[2], want[2], fresh[2];
  GList *r;
  guint64 ts = 0, dur = 0;
  gdouble conf = 0;
  const gchar *label;

  fail_unless (m != NULL);
  memcpy (props, base, sizeof (base));
  props[G_N_ELEMENTS (base)] = pre_roll ? "pre-roll" : NULL;
  props[G_N_ELEMENTS (base) + 1] = pre_roll;
  props[G_N_ELEMENTS (base) + 2] = NULL;
  {
    Fixture f = start (model, props);

    set_frames_caps (&f, 3);
    push_preroll_frames (&f, 0, PR_TOTAL);
    pull_frame_output (&f, PR_TOTAL, PR_ONSET, got);
    reference_step (m, expect_first, PR_ONSET, want);
    reference_step (m, PR_ONSET, PR_ONSET, fresh);
    fail_if (outputs_equal (want, fresh) && expect_first != PR_ONSET,
        "the pattern's quiet frames must change the state (else the test proves nothing)");
    fail_unless (outputs_equal (got, want),
        "pre-roll %s: output at the onset (%f, %f), expected (%f, %f) from a state started at "
        "frame %u (onset alone: %f, %f)", pre_roll ? pre_roll : "(model)", got[0], got[1],
        want[0], want[1], expect_first, fresh[0], fresh[1]);

    r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
    fail_unless_equals_int (g_list_length (r), 1);
    fail_unless (gst_structure_get_uint64 (r->data, "timestamp", &ts));
    fail_unless (gst_structure_get_uint64 (r->data, "duration", &dur));
    fail_unless (gst_structure_get_double (r->data, "confidence", &conf));
    label = gst_structure_get_string (r->data, "label");
    fail_unless_equals_uint64 (ts, expect_first * FRAME);
    fail_unless_equals_uint64 (dur, (PR_ONSET + PR_SPEECH - expect_first) * FRAME);
    /* Mean pooling over the pre-roll and the speech (up to the last speech frame). */
    {
      gdouble yes = reference_yes (m, expect_first, PR_ONSET + PR_SPEECH - 1);
      gdouble want_conf = yes >= 0.5 ? yes : 1.0 - yes;

      fail_unless_equals_string (label, yes >= 0.5 ? "yes" : "no");
      fail_unless (fabs (conf - want_conf) < 1e-4, "confidence %f, expected %f", conf,
          want_conf);
    }
    free_results (r);
    stop (&f);
  }
  rnn_model_unref (m);
}

/* With pre-roll the model's state at the utterance's first speech frame has heard the quiet frames
 * just before it (the ring's capacity of them, oldest first), the result starts at the first of
 * them and pools them; with pre-roll=0 the state starts at the onset. A model's infer.pre-roll
 * is its default. */
GST_START_TEST (test_pre_roll)
{
  gchar *model = stateful_classifier ("preroll.rnn", -1);
  gchar *with_meta = stateful_classifier ("preroll-meta.rnn", 50);

  run_preroll (model, "0", PR_ONSET);
  run_preroll (model, "100", PR_ONSET - 10);
  run_preroll (model, "1000", 0);       /* more than there is: all the quiet frames */
  run_preroll (model, NULL, PR_ONSET - 20);     /* the default, 200 ms */
  run_preroll (with_meta, NULL, PR_ONSET - 5);
  run_preroll (with_meta, "100", PR_ONSET - 10);        /* the application's setting wins */
  g_free (with_meta);
  g_free (model);
}

GST_END_TEST;

/* The ring is emptied by a flush, an rnn-reset and a DISCONT: quiet frames before them are not
 * heard by the next utterance. And frames inside an utterance never enter it: an utterance that
 * follows another right after its hangover has no pre-roll. */
GST_START_TEST (test_pre_roll_reset)
{
  static const gchar *const props[] = {
    "vad", "on", "vad-feature", "0", "vad-threshold", "0.5", "min-silence", "300",
    "min-speech", "50", "vad-margin", "0", "pre-roll", "200", NULL
  };
  gchar *model = stateful_classifier ("preroll-reset.rnn", -1);
  rnn_model *m = rnn_model_load (model, NULL, 0);
  float got[2], fresh[2], heard[2];
  GstSegment segment;

  fail_unless (m != NULL);
  reference_step (m, PR_ONSET, PR_ONSET, fresh);
  reference_step (m, PR_ONSET - 20, PR_ONSET, heard);
  fail_if (outputs_equal (fresh, heard));

  for (gint how = 0; how < 3; how++) {
    Fixture f = start (model, props);

    set_frames_caps (&f, 3);
    push_preroll_frames (&f, 0, PR_ONSET);
    if (how == 0) {
      fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_start ()));
      fail_unless (gst_harness_push_event (f.h, gst_event_new_flush_stop (TRUE)));
      gst_segment_init (&segment, GST_FORMAT_TIME);
      fail_unless (gst_harness_push_event (f.h, gst_event_new_segment (&segment)));
    } else if (how == 1) {
      fail_unless (gst_harness_push_event (f.h, gst_event_new_custom
              (GST_EVENT_CUSTOM_DOWNSTREAM,
                  gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME))));
    }
    if (how == 2) {
      float x[3];
      GstBuffer *b;

      preroll_frame (PR_ONSET, x);
      b = gst_buffer_new_memdup (x, sizeof (x));
      GST_BUFFER_PTS (b) = PR_ONSET * FRAME;
      GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
      fail_unless_equals_int (gst_harness_push (f.h, b), GST_FLOW_OK);
      push_preroll_frames (&f, PR_ONSET + 1, PR_SPEECH - 1);
    } else {
      push_preroll_frames (&f, PR_ONSET, PR_SPEECH);
    }
    pull_frame_output (&f, PR_ONSET + PR_SPEECH, PR_ONSET, got);
    fail_unless (outputs_equal (got, fresh),
        "reset %d: the onset's state heard frames from before it (%f, %f; fresh %f, %f)", how,
        got[0], got[1], fresh[0], fresh[1]);
    stop (&f);
  }

  /* Without a reset the same frames are heard (the check above can fail). */
  {
    Fixture f = start (model, props);

    set_frames_caps (&f, 3);
    push_preroll_frames (&f, 0, PR_ONSET + PR_SPEECH);
    pull_frame_output (&f, PR_ONSET + PR_SPEECH, PR_ONSET, got);
    fail_unless (outputs_equal (got, heard));
    stop (&f);
  }

  /* A second utterance right after the first one's hangover: its pre-roll is empty, since the
   * hangover was inside the first utterance. Its state starts at its own onset. */
  {
    Fixture f = start (model, props);
    guint second_onset = PR_ONSET + PR_SPEECH + 30;   /* the hangover is frames 70..99 */
    GList *r;
    guint64 ts = 0;

    set_frames_caps (&f, 3);
    push_preroll_frames (&f, 0, second_onset);
    for (guint i = second_onset; i < second_onset + 20; i++) {
      float x[3];

      preroll_frame (i - second_onset + PR_ONSET, x);
      fail_unless_equals_int (push_frame (&f, x, 3, i), GST_FLOW_OK);
    }
    fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
    pull_frame_output (&f, second_onset + 20, second_onset, got);
    fail_unless (outputs_equal (got, fresh), "the hangover entered the next pre-roll");
    r = pop_results (&f, GST_RNN_CLASSIFICATION_NAME);
    fail_unless_equals_int (g_list_length (r), 2);
    fail_unless (gst_structure_get_uint64 (r->data, "timestamp", &ts));
    fail_unless_equals_uint64 (ts, (PR_ONSET - 20) * FRAME);
    fail_unless (gst_structure_get_uint64 (r->next->data, "timestamp", &ts));
    fail_unless_equals_uint64 (ts, second_onset * FRAME);
    free_results (r);
    stop (&f);
  }
  rnn_model_unref (m);
  g_free (model);
}

GST_END_TEST;

static Suite *
rnninfer_suite (void)
{
  Suite *s = suite_create ("rnninfer");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_classification_at_eos);
  tcase_add_test (tc, test_utterance_endpoints);
  tcase_add_test (tc, test_multi_frame_buffers);
  tcase_add_test (tc, test_min_speech);
  tcase_add_test (tc, test_window_mode);
  tcase_add_test (tc, test_confidence_threshold);
  tcase_add_test (tc, test_smoothing);
  tcase_add_test (tc, test_caps_mismatch);
  tcase_add_test (tc, test_caps_query);
  tcase_add_test (tc, test_state_flush_and_reset);
  tcase_add_test (tc, test_empty_stream);
  tcase_add_test (tc, test_nan_frames);
  tcase_add_test (tc, test_events_in_order);
  tcase_add_test (tc, test_text_output);
  tcase_add_test (tc, test_latency);
  tcase_add_test (tc, test_ctc_greedy);
  tcase_add_test (tc, test_ctc_beam);
  tcase_add_test (tc, test_ctc_bidirectional);
  tcase_add_test (tc, test_ctc_symbol_words);
  tcase_add_test (tc, test_ctc_ensemble_vote);
  tcase_add_test (tc, test_grouped_classifier_refused);
  tcase_add_test (tc, test_vad_trim);
  tcase_add_test (tc, test_vad_trim_streaming);
  tcase_add_test (tc, test_bidirectional_utterances);
  tcase_add_test (tc, test_no_vad_max_utterance);
  tcase_add_test (tc, test_vad_auto_file);
  tcase_add_test (tc, test_vad_auto_live);
  tcase_add_test (tc, test_vad_noise_floor);
  tcase_add_test (tc, test_quiet_files);
  tcase_add_test (tc, test_vad_level_from_features);
  tcase_add_test (tc, test_model_defaults);
  tcase_add_test (tc, test_feature_settings);
  tcase_add_test (tc, test_cmn_threshold);
  tcase_add_test (tc, test_model_cache);
  tcase_add_test (tc, test_result_builders);
  tcase_add_test (tc, test_real_audio_endpoints);
  tcase_add_test (tc, test_missing_model);
  tcase_add_test (tc, test_pre_roll);
  tcase_add_test (tc, test_pre_roll_reset);
  return s;
}

int
main (int argc, char **argv)
{
  Suite *s;
  int failed;

  gst_check_init (&argc, &argv);
  /* Registered directly: the test does not depend on the whole plugin being built. */
  g_assert_true (GST_ELEMENT_REGISTER (rnninfer, NULL));
  g_assert_true (GST_ELEMENT_REGISTER (rnnfeatures, NULL));
  tmpdir = g_dir_make_tmp ("rnninfer-XXXXXX", NULL);
  s = rnninfer_suite ();
  failed = gst_check_run_suite (s, "rnninfer", __FILE__);
  element_test_remove_tmpdir (tmpdir);
  return failed;
}
