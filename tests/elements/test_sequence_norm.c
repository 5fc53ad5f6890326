/* gst-rnn: per-sequence normalisation (CMVN) through the elements (GstHarness).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * rnntrain: sequence-normalize=true gives a model with the mode, whose stored (global) input
 * normalisation is computed over the per-sequence normalised frames; an init-model keeps its mode.
 * rnninfer: a model with the mode is run once per utterance over exactly its speech frames, so an
 * utterance gives the same result whether 2 s of background precede it or not, the min-silence
 * hangover after it never enters its statistics, and neither do the first frames of a stream that
 * turn out to be background once the VAD knows the noise floor; a whole-utterance CTC model
 * transcribes only the word, with the word's own times. Both elements are registered from their
 * sources: no plugin needed.
 */
#include <gst/check/gstcheck.h>

#include "elementtest.h"
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "gstrnninfer.h"
#include "gstrnntrain.h"
#include "rnn.h"
#include "rnncaps.h"
#include "rnnelements.h"
#include "rnnresults.h"

#define FRAME (10 * GST_MSECOND)        /* 100 frames a second */
#define TRAIN_FEAT 3

static gchar *tmpdir;

static gchar *
tmp_path (const gchar * name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static rnn_model *
load_model (const gchar * path)
{
  gchar err[512];
  rnn_model *m = rnn_model_load (path, err, sizeof (err));
  fail_unless (m != NULL, "cannot load %s: %s", path, err);
  return m;
}

/* ---------------------------------------------------------------------------------------------
 * rnntrain
 * ------------------------------------------------------------------------------------------- */

/* Sequence k: TRAIN_FEAT features with a per-sequence offset (about 10 per feature) and gain, as
 * recordings of different loudness and channels; class 0 rises on feature 0, class 1 falls. */
static gint
make_train_sequence (gint k, gfloat * x)
{
  gint T = 8 + (k * 5) % 11;
  guint32 rng = 1000u + (guint32) k;
  gfloat gain = 0.5f + 0.25f * (gfloat) (k % 5);
  for (gint t = 0; t < T; t++)
    for (gint i = 0; i < TRAIN_FEAT; i++) {
      rng = rng * 1664525u + 1013904223u;
      gfloat noise = 0.2f * ((gfloat) (rng >> 8) / 16777216.0f - 0.5f);
      gfloat trend = i == 0 ? (k % 2 ? -1.0f : 1.0f) * ((gfloat) t / (T - 1) - 0.5f) : 0.0f;
      x[t * TRAIN_FEAT + i] = gain * (trend + noise) + 10.0f * (i + 1) + (gfloat) (k % 7);
    }
  return T;
}

/* Trains on 12 sequences with the given properties (besides output); returns the model. */
static rnn_model *
train (const gchar * name, const gchar * props)
{
  gchar *out = tmp_path (name);
  gchar *desc = g_strdup_printf ("rnntrain output=%s epochs=2 validation-split=0 seed=3 "
      "architecture=\"gru(4) dense(softmax,mean)\" %s", out, props);
  GError *error = NULL;
  GstElement *e = gst_parse_launch (desc, &error);
  fail_unless (e != NULL && error == NULL, "%s", error ? error->message : desc);
  GstHarness *h = gst_harness_new_with_element (e, "sink", NULL);
  GstCaps *caps = gst_rnn_frames_caps_new (TRAIN_FEAT, 100, 1);
  GstSegment segment;
  gfloat x[32 * TRAIN_FEAT];

  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("s")));
  fail_unless (gst_harness_push_event (h, gst_event_new_caps (caps)));
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_caps_unref (caps);
  for (gint k = 0; k < 12; k++) {
    GstTagList *tags = gst_tag_list_new (GST_RNN_TAG_LABEL, k % 2 ? "fall" : "rise", NULL);
    fail_unless (gst_harness_push_event (h, gst_event_new_tag (tags)));
    gint T = make_train_sequence (k, x);
    for (gint t = 0; t < T; t++)
      fail_unless_equals_int (gst_harness_push (h,
              gst_buffer_new_memdup (x + t * TRAIN_FEAT, sizeof (gfloat) * TRAIN_FEAT)),
          GST_FLOW_OK);
    fail_unless (gst_harness_push_event (h,
            gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME))));
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);
  gst_object_unref (e);
  rnn_model *m = load_model (out);
  g_free (out);
  g_free (desc);
  return m;
}

GST_START_TEST (test_train_property)
{
  GstElement *e = gst_element_factory_make ("rnntrain", NULL);
  GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "sequence-normalize");
  fail_unless (spec != NULL && G_PARAM_SPEC_VALUE_TYPE (spec) == G_TYPE_BOOLEAN);
  fail_unless (!g_value_get_boolean (g_param_spec_get_default_value (spec)));
  gst_object_unref (e);

  rnn_model *plain = train ("plain.rnn", "");
  fail_unless_equals_int (rnn_model_sequence_normalization (plain), 0);
  fail_unless (rnn_model_streamable (plain));

  rnn_model *m = train ("seq.rnn", "sequence-normalize=true");
  fail_unless_equals_int (rnn_model_sequence_normalization (m), 1);
  fail_if (rnn_model_streamable (m));

  /* The stored normalisation is that of the per-sequence normalised frames (which have mean 0
   * and variance ~1 per sequence), not that of the raw frames (means 10, 20, 30 and more). */
  gdouble sum[TRAIN_FEAT] = { 0 }, sq[TRAIN_FEAT] = { 0 }, frames = 0;
  gfloat x[32 * TRAIN_FEAT], y[32 * TRAIN_FEAT];
  for (gint k = 0; k < 12; k++) {
    gint T = make_train_sequence (k, x);
    fail_unless (rnn_normalize_sequence (x, T, TRAIN_FEAT, y) == RNN_OK);
    for (gint t = 0; t < T; t++)
      for (gint i = 0; i < TRAIN_FEAT; i++) {
        sum[i] += y[t * TRAIN_FEAT + i];
        sq[i] += (gdouble) y[t * TRAIN_FEAT + i] * y[t * TRAIN_FEAT + i];
      }
    frames += T;
  }
  const float *mean, *scale, *raw_mean, *raw_scale;
  fail_unless (rnn_model_normalization (m, &mean, &scale));
  fail_unless (rnn_model_normalization (plain, &raw_mean, &raw_scale));
  for (gint i = 0; i < TRAIN_FEAT; i++) {
    gdouble mu = sum[i] / frames, var = sq[i] / frames - mu * mu;
    fail_unless (fabs (mean[i] - mu) < 1e-5, "mean[%d] %g, expected %g", i, mean[i], mu);
    fail_unless (fabs (scale[i] - 1.0 / sqrt (var)) < 1e-4, "scale[%d] %g, expected %g", i,
        scale[i], 1.0 / sqrt (var));
    fail_unless (raw_mean[i] > 9.0f, "the plain model's mean[%d] is %g", i, raw_mean[i]);
  }

  /* Fine-tuning keeps the init-model's mode, whatever the property says. */
  gchar *base = tmp_path ("seq.rnn");
  gchar *props = g_strdup_printf ("init-model=%s sequence-normalize=false", base);
  rnn_model *tuned = train ("tuned.rnn", props);
  fail_unless_equals_int (rnn_model_sequence_normalization (tuned), 1);
  g_free (props);
  props = g_strdup_printf ("init-model=%s/plain.rnn sequence-normalize=true", tmpdir);
  rnn_model *tuned_plain = train ("tuned-plain.rnn", props);
  fail_unless_equals_int (rnn_model_sequence_normalization (tuned_plain), 0);
  g_free (props);
  g_free (base);
  rnn_model_unref (tuned_plain);
  rnn_model_unref (tuned);
  rnn_model_unref (m);
  rnn_model_unref (plain);
}

GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * rnninfer
 * ------------------------------------------------------------------------------------------- */

/* Inputs: x0 the level the VAD reads (vad-feature=0), x1 and x2 the evidence. A unidirectional
 * GRU with seeded weights: not streamable only because of the per-sequence normalisation. */
static gchar *
seqnorm_classifier (const gchar * name, rnn_model ** model)
{
  rnn_model *m = rnn_model_new (3);
  const char *labels[3] = { "a", "b", "c" };
  gchar err[256];
  gchar *path = tmp_path (name);

  fail_unless (rnn_model_add_layer (m, RNN_CELL_GRU, 6, 0) == RNN_OK);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN) == RNN_OK);
  fail_unless (rnn_model_finalize (m) == RNN_OK);
  rnn_model_init_weights (m, 17);
  fail_unless (rnn_model_set_sequence_normalization (m, 1) == RNN_OK);
  fail_if (rnn_model_streamable (m));
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 3);
  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "%s", err);
  *model = m;
  return path;
}

#define SPEECH 40

/* Speech frame t: a level between 2 and 4 (above any threshold here), evidence that moves. */
static void
speech_frame (gint t, gfloat * x)
{
  x[0] = 3.0f + sinf (0.3f * t);
  x[1] = 1.5f * sinf (0.7f * t) + 0.5f;
  x[2] = (t % 10) * 0.2f - 1.0f;
}

/* Background frame: a level of `level` with a little noise, evidence far from the speech's. */
static void
background_frame (gint t, gfloat level, gfloat * x)
{
  x[0] = level + 0.01f * sinf (1.3f * t);
  x[1] = 6.0f + 0.3f * sinf (0.9f * t);
  x[2] = -4.0f + 0.2f * cosf (0.4f * t);
}

typedef struct
{
  GstElement *element;
  GstHarness *h;
  GstBus *bus;
  guint index;                  /* next frame's PTS index */
} Infer;

static Infer
infer_start (const gchar * model, const gchar * vad_margin)
{
  Infer f;
  f.element = gst_element_factory_make ("rnninfer", NULL);
  fail_unless (f.element != NULL);
  g_object_set (f.element, "model", model, NULL);
  gst_util_set_object_arg (G_OBJECT (f.element), "vad", "on");
  gst_util_set_object_arg (G_OBJECT (f.element), "vad-feature", "0");
  gst_util_set_object_arg (G_OBJECT (f.element), "vad-threshold", "0.5");
  gst_util_set_object_arg (G_OBJECT (f.element), "vad-margin", vad_margin);
  gst_util_set_object_arg (G_OBJECT (f.element), "min-silence", "300");
  gst_util_set_object_arg (G_OBJECT (f.element), "min-speech", "50");
  f.bus = gst_bus_new ();
  gst_element_set_bus (f.element, f.bus);
  f.h = gst_harness_new_with_element (f.element, "sink", "src");
  gst_harness_play (f.h);
  gst_harness_set_src_caps (f.h, gst_rnn_frames_caps_new (3, 100, 1));
  f.index = 0;
  return f;
}

static void
infer_stop (Infer * f)
{
  gst_harness_teardown (f->h);
  gst_element_set_bus (f->element, NULL);
  gst_object_unref (f->bus);
  gst_object_unref (f->element);
}

static void
push (Infer * f, const gfloat * x)
{
  GstBuffer *buf = gst_buffer_new_memdup (x, sizeof (gfloat) * 3);
  GST_BUFFER_PTS (buf) = f->index++ * FRAME;
  GST_BUFFER_DURATION (buf) = FRAME;
  fail_unless_equals_int (gst_harness_push (f->h, buf), GST_FLOW_OK);
}

static void
push_background (Infer * f, gint n, gfloat level)
{
  gfloat x[3];
  for (gint t = 0; t < n; t++) {
    background_frame ((gint) f->index, level, x);
    push (f, x);
  }
}

static void
push_speech (Infer * f)
{
  gfloat x[3];
  for (gint t = 0; t < SPEECH; t++) {
    speech_frame (t, x);
    push (f, x);
  }
}

/* The one classification result posted so far: label and confidence. */
static void
pop_result (Infer * f, gchar ** label, gdouble * confidence, guint64 * timestamp)
{
  GstMessage *msg;
  gint n = 0;
  while ((msg = gst_bus_pop_filtered (f->bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (s && gst_structure_has_name (s, GST_RNN_CLASSIFICATION_NAME)) {
      n++;
      *label = g_strdup (gst_structure_get_string (s, "label"));
      fail_unless (gst_structure_get_double (s, "confidence", confidence));
      fail_unless (gst_structure_get_uint64 (s, "timestamp", timestamp));
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (n, 1);
}

/* What the engine says about the speech frames alone: the best class and its posterior. */
static gint
expected_result (rnn_model * m, gdouble * confidence, gfloat * per_frame)
{
  gfloat x[SPEECH * 3], p[3];
  for (gint t = 0; t < SPEECH; t++)
    speech_frame (t, x + t * 3);
  fail_unless (rnn_forward_pooled (m, x, SPEECH, p) == RNN_OK);
  if (per_frame)
    fail_unless (rnn_forward_sequence (m, x, SPEECH, per_frame) == RNN_OK);
  gint best = 0;
  for (gint k = 1; k < 3; k++)
    if (p[k] > p[best])
      best = k;
  *confidence = p[best];
  return best;
}

/* The model's per-frame outputs: exactly SPEECH buffers, those of the speech frames alone, at
 * the speech's timestamps (the hangover and the background get GAP events, no outputs). */
static void
check_frame_outputs (Infer * f, guint start_index, const gfloat * expected)
{
  fail_unless_equals_int (gst_harness_buffers_received (f->h), SPEECH);
  for (gint t = 0; t < SPEECH; t++) {
    GstBuffer *b = gst_harness_pull (f->h);
    gfloat y[3];
    fail_unless_equals_int (gst_buffer_extract (b, 0, y, sizeof (y)), sizeof (y));
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), (start_index + t) * FRAME);
    for (gint k = 0; k < 3; k++)
      fail_unless (fabs (y[k] - expected[t * 3 + k]) < 1e-5, "frame %d output %d: %g vs %g", t, k,
          y[k], expected[t * 3 + k]);
    gst_buffer_unref (b);
  }
}

/* The property users care about: a live utterance is classified the same with or without 2 s of
 * background before it (and the 300 ms hangover after it changes nothing either), and that is
 * what the model says about the speech frames alone. */
GST_START_TEST (test_background_before_utterance)
{
  rnn_model *m;
  gchar *path = seqnorm_classifier ("cls.rnn", &m);
  gdouble want_conf, conf[2];
  gchar *label[2];
  guint64 ts[2];
  gfloat per_frame[SPEECH * 3];
  gint want = expected_result (m, &want_conf, per_frame);
  static const gchar *const names[3] = { "a", "b", "c" };

  for (gint pre = 0; pre < 2; pre++) {
    Infer f = infer_start (path, "0");
    if (pre)
      push_background (&f, 200, 0.0f);
    guint start_index = f.index;
    push_speech (&f);
    push_background (&f, 40, 0.0f);     /* the 300 ms hangover ends the utterance */
    pop_result (&f, &label[pre], &conf[pre], &ts[pre]);
    fail_unless_equals_uint64 (ts[pre], start_index * FRAME);
    check_frame_outputs (&f, start_index, per_frame);
    fail_unless (gst_harness_push_event (f.h, gst_event_new_eos ()));
    infer_stop (&f);
  }
  fail_unless_equals_string (label[0], label[1]);
  fail_unless (fabs (conf[0] - conf[1]) < 1e-6, "%g vs %g", conf[0], conf[1]);
  fail_unless_equals_string (label[0], names[want]);
  fail_unless (fabs (conf[0] - want_conf) < 1e-5, "%g, the speech alone gives %g", conf[0],
      want_conf);
  g_free (label[0]);
  g_free (label[1]);
  rnn_model_unref (m);
  g_free (path);
}

GST_END_TEST;

/* A stream that opens in a noisy room: its first frames pass vad-threshold and start an utterance
 * until the noise floor is known (250 ms) and shows they were background; the word that follows
 * within min-silence continues that utterance. The model still sees only the word. */
GST_START_TEST (test_noisy_stream_start)
{
  rnn_model *m;
  gchar *path = seqnorm_classifier ("noisy.rnn", &m);
  gdouble want_conf, conf;
  gchar *label;
  guint64 ts;
  gfloat per_frame[SPEECH * 3];
  gint want = expected_result (m, &want_conf, per_frame);
  static const gchar *const names[3] = { "a", "b", "c" };

  Infer f = infer_start (path, "1.0");
  push_background (&f, 40, 0.8f);       /* above vad-threshold 0.5, below floor + 1.0 */
  push_speech (&f);
  push_background (&f, 40, 0.8f);
  pop_result (&f, &label, &conf, &ts);
  fail_unless_equals_string (label, names[want]);
  fail_unless (fabs (conf - want_conf) < 1e-5, "%g, the speech alone gives %g", conf, want_conf);
  check_frame_outputs (&f, 40, per_frame);
  infer_stop (&f);
  g_free (label);
  rnn_model_unref (m);
  g_free (path);
}

GST_END_TEST;

/* A bidirectional CTC model (after test_rnninfer's): x0 the VAD level, x1..x4 a one-hot of the
 * symbol the frame emits (blank, "a", "b", " "), with probability ~0.97. */
static gchar *
ctc_model (const gchar * name)
{
  static const char *const alphabet[4] = { "_", "a", "b", " " };
  rnn_model *m = rnn_model_new (5);
  float w_ih[4 * 5] = { 0 }, zeros[16] = { 0 }, head_w[32] = { 0 };
  gchar err[256];
  gchar *path = tmp_path (name);

  for (int k = 0; k < 4; k++) {
    w_ih[k * 5 + 1 + k] = 1.0f;
    for (int d = 0; d < 2; d++)
      head_w[k * 8 + d * 4 + k] = 3.0f;
  }
  fail_unless (rnn_model_add_layer (m, RNN_CELL_RNN_TANH, 4, 1) == RNN_OK);
  fail_unless (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 4, RNN_POOL_LAST) == RNN_OK);
  fail_unless (rnn_model_finalize (m) == RNN_OK);
  for (int d = 0; d < 2; d++) {
    gchar *n = g_strdup_printf ("layer0.%s.w_ih", d ? "bwd" : "fwd");
    size_t count = 0;
    float *t = rnn_model_tensor (m, n, &count);
    fail_unless (t != NULL && count == 20);
    memcpy (t, w_ih, sizeof (w_ih));
    g_free (n);
    n = g_strdup_printf ("layer0.%s.w_hh", d ? "bwd" : "fwd");
    t = rnn_model_tensor (m, n, &count);
    memcpy (t, zeros, sizeof (float) * count);
    g_free (n);
  }
  size_t count = 0;
  memcpy (rnn_model_tensor (m, "head.w", &count), head_w, sizeof (head_w));
  fail_unless_equals_int ((gint) count, 32);
  rnn_model_set_meta_string (m, "task", "transcription");
  rnn_model_set_meta_strings (m, "alphabet", alphabet, 4);
  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "%s", err);
  rnn_model_unref (m);
  return path;
}

static void
push_ctc (Infer * f, gfloat level, gint symbol)
{
  gfloat x[5] = { level, 0, 0, 0, 0 };
  GstBuffer *buf;

  x[1 + symbol] = 1.0f;
  buf = gst_buffer_new_memdup (x, sizeof (x));
  GST_BUFFER_PTS (buf) = f->index++ * FRAME;
  GST_BUFFER_DURATION (buf) = FRAME;
  fail_unless_equals_int (gst_harness_push (f->h, buf), GST_FLOW_OK);
}

/* Transcription by a whole-utterance model after a noisy stream start: the background before the
 * word (which says "a") and the hangover after it (which says "b") are not transcribed, and the
 * word's times are those of its own frames. */
GST_START_TEST (test_transcription_speech_span)
{
  gchar *path = ctc_model ("ctc.rnn");
  static const gint word[] = { 2, 2, 0, 1, 1 };        /* "ba" */
  Infer f;
  GstMessage *msg;
  gint finals = 0;

  f.element = gst_element_factory_make ("rnninfer", NULL);
  g_object_set (f.element, "model", path, NULL);
  gst_util_set_object_arg (G_OBJECT (f.element), "vad", "on");
  gst_util_set_object_arg (G_OBJECT (f.element), "vad-feature", "0");
  gst_util_set_object_arg (G_OBJECT (f.element), "vad-threshold", "0.5");
  gst_util_set_object_arg (G_OBJECT (f.element), "min-silence", "300");
  gst_util_set_object_arg (G_OBJECT (f.element), "min-speech", "30");
  f.bus = gst_bus_new ();
  gst_element_set_bus (f.element, f.bus);
  f.h = gst_harness_new_with_element (f.element, "sink", "src");
  gst_harness_play (f.h);
  gst_harness_set_src_caps (f.h, gst_rnn_frames_caps_new (5, 100, 1));
  f.index = 0;

  for (gint i = 0; i < 40; i++)
    push_ctc (&f, 0.8f, 1);     /* passes vad-threshold until the floor (0.8) is known */
  for (guint i = 0; i < G_N_ELEMENTS (word); i++)
    push_ctc (&f, 3.0f, word[i]);
  for (gint i = 0; i < 40; i++)
    push_ctc (&f, 0.8f, 2);
  while ((msg = gst_bus_pop_filtered (f.bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    gboolean final = FALSE;

    if (s && gst_structure_has_name (s, GST_RNN_TRANSCRIPTION_NAME)
        && gst_structure_get_boolean (s, "final", &final) && final) {
      const GValue *words = gst_structure_get_value (s, "words");
      const GstStructure *w;
      guint64 start = 0, end = 0;

      finals++;
      fail_unless_equals_string (gst_structure_get_string (s, "text"), "ba");
      fail_unless (words != NULL && gst_value_array_get_size (words) == 1);
      w = gst_value_get_structure (gst_value_array_get_value (words, 0));
      fail_unless (gst_structure_get_uint64 (w, "start", &start));
      fail_unless (gst_structure_get_uint64 (w, "end", &end));
      fail_unless_equals_uint64 (start, 40 * FRAME);
      fail_unless_equals_uint64 (end, 45 * FRAME);
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (finals, 1);
  infer_stop (&f);
  g_free (path);
}

GST_END_TEST;

static Suite *
sequence_norm_suite (void)
{
  Suite *s = suite_create ("sequence-norm");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_train_property);
  tcase_add_test (tc, test_background_before_utterance);
  tcase_add_test (tc, test_noisy_stream_start);
  tcase_add_test (tc, test_transcription_speech_span);
  return s;
}

int
main (int argc, char **argv)
{
  Suite *s;
  int failed;

  gst_check_init (&argc, &argv);
  g_assert_true (GST_ELEMENT_REGISTER (rnntrain, NULL));
  g_assert_true (GST_ELEMENT_REGISTER (rnninfer, NULL));
  tmpdir = g_dir_make_tmp ("rnn-seqnorm-XXXXXX", NULL);
  s = sequence_norm_suite ();
  failed = gst_check_run_suite (s, "sequence-norm", __FILE__);
  element_test_remove_tmpdir (tmpdir);
  return failed;
}
