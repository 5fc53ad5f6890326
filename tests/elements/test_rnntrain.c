/* gst-rnn: rnntrain element tests (GstHarness).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The element is registered straight from its source file, so these tests need neither the rest
 * of the plugin nor rnnfeatures: they push frames, tags and events by hand.
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "gstrnntrain.h"
#include "rnncaps.h"
#include "rnnelements.h"
#include "rnnresults.h"

#define NFEAT 4

static gchar *tmpdir;

static gchar *
tmp_path (const gchar * name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static GstHarness *
harness_new (const gchar * props)
{
  gchar *desc = g_strdup_printf ("rnntrain %s", props);
  GError *error = NULL;
  GstElement *e = gst_parse_launch (desc, &error);
  fail_unless (e != NULL && error == NULL, "%s", error ? error->message : desc);
  g_free (desc);
  GstHarness *h = gst_harness_new_with_element (e, "sink", NULL);
  gst_object_unref (e);
  return h;
}

static GstBus *
harness_bus (GstHarness * h)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  return bus;
}

/* One rnntrain under a harness, writing to a fresh temporary model file, with its own bus. */
typedef struct {
  gchar *out;
  GstHarness *h;
  GstBus *bus;
} TrainRun;

/* props: rnntrain's properties besides output. */
static TrainRun
train_run_new (const gchar * name, const gchar * props)
{
  TrainRun run;
  gchar *desc;

  run.out = tmp_path (name);
  desc = g_strdup_printf ("output=%s %s", run.out, props);
  run.h = harness_new (desc);
  g_free (desc);
  run.bus = harness_bus (run.h);
  return run;
}

static void
train_run_free (TrainRun * run)
{
  gst_harness_teardown (run->h);
  gst_object_unref (run->bus);
  g_unlink (run->out);
  g_free (run->out);
}

static void
start_stream (GstHarness * h, const gchar * stream_id)
{
  GstCaps *caps = gst_rnn_frames_caps_new (NFEAT, 100, 1);
  GstSegment segment;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start (stream_id)));
  fail_unless (gst_harness_push_event (h, gst_event_new_caps (caps)));
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_caps_unref (caps);
}

static void
push_tag (GstHarness * h, const gchar * tag, const gchar * value)
{
  GstTagList *tags = gst_tag_list_new (tag, value, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_tag (tags)));
}

static void
push_reset (GstHarness * h)
{
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME))));
}

/* A sequence of T frames: class 0 rises on feature 0, class 1 falls; small seeded noise. */
static void
push_sequence (GstHarness * h, gint cls, gint T, guint32 * rng)
{
  for (gint t = 0; t < T; t++) {
    gfloat f[NFEAT];
    for (gint i = 0; i < NFEAT; i++) {
      *rng = *rng * 1664525u + 1013904223u;
      f[i] = 0.1f * ((gfloat) (*rng >> 8) / 16777216.0f - 0.5f);
    }
    /* the same mean either way: only the order of the frames tells the classes apart */
    f[0] += (cls == 0 ? 1.0f : -1.0f) * ((gfloat) t / (gfloat) (T - 1) - 0.5f);
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (f, sizeof (f))),
        GST_FLOW_OK);
  }
}

static rnn_model *
load_model (const gchar * path)
{
  gchar err[512];
  rnn_model *m = rnn_model_load (path, err, sizeof (err));
  fail_unless (m != NULL, "cannot load %s: %s", path, err);
  return m;
}

static void
assert_labels (rnn_model * m, const gchar * const *expected, gint n)
{
  const char *const *labels;
  int count;
  fail_unless (rnn_model_meta_strings (m, "labels", &labels, &count));
  fail_unless_equals_int (count, n);
  for (gint i = 0; i < n; i++)
    fail_unless_equals_string (labels[i], expected[i]);
}

/* The number of training and validation sequences, read back from train.data. */
static void
assert_sequence_count (rnn_model * m, gint expected)
{
  const char *data;
  gint train = -1, val = -1;
  fail_unless (rnn_model_meta_string (m, "train.data", &data));
  const char *p = strstr (data, "training and");
  fail_unless (p != NULL, "train.data: %s", data);
  while (p > data && p[-1] == ' ')
    p--;
  while (p > data && g_ascii_isdigit (p[-1]))
    p--;
  fail_unless (sscanf (p, "%d training and %d validation", &train, &val) == 2, "%s", data);
  fail_unless_equals_int (train + val, expected);
}

static gchar *
pop_error (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *error = NULL;
  gchar *debug = NULL, *text;
  if (!msg)
    return NULL;
  gst_message_parse_error (msg, &error, &debug);
  text = g_strdup_printf ("%s | %s", error->message, debug ? debug : "");
  g_error_free (error);
  g_free (debug);
  gst_message_unref (msg);
  return text;
}

GST_START_TEST (test_architecture_parse)
{
  GstRnnArchitecture a;
  gchar err[256];

  fail_unless (gst_rnn_architecture_parse ("gru(128) gru(128) dense(softmax)", &a, err,
          sizeof (err)), "%s", err);
  fail_unless_equals_int (a.n_layers, 2);
  fail_unless_equals_int (a.layers[1].cell, RNN_CELL_GRU);
  fail_unless_equals_int (a.layers[1].hidden, 128);
  fail_unless (a.has_head);
  fail_unless_equals_int (a.head, RNN_HEAD_SOFTMAX);
  fail_unless_equals_int (a.head_outputs, 0);

  fail_unless (gst_rnn_architecture_parse ("lstm(64) bilstm(64) dense(softmax,mean)", &a, err,
          sizeof (err)), "%s", err);
  fail_unless_equals_int (a.layers[0].cell, RNN_CELL_LSTM);
  fail_unless (!a.layers[0].bidirectional);
  fail_unless (a.layers[1].bidirectional);
  fail_unless_equals_int (a.pool, RNN_POOL_MEAN);

  fail_unless (gst_rnn_architecture_parse ("simplernn(64, relu), dense(1, sigmoid)", &a, err,
          sizeof (err)), "%s", err);
  fail_unless_equals_int (a.layers[0].cell, RNN_CELL_RNN_RELU);
  fail_unless_equals_int (a.head, RNN_HEAD_SIGMOID);
  fail_unless_equals_int (a.head_outputs, 1);

  /* errors name the token and its position */
  fail_if (gst_rnn_architecture_parse ("gru(128) grx(3) dense(softmax)", &a, err, sizeof (err)));
  fail_unless (strstr (err, "'grx'") && strstr (err, "character 10"), "%s", err);
  fail_if (gst_rnn_architecture_parse ("gru(12x)", &a, err, sizeof (err)));
  fail_unless (strstr (err, "'12x'") && strstr (err, "character 5"), "%s", err);
  fail_if (gst_rnn_architecture_parse ("gru(8) dense(softmax) gru(8)", &a, err, sizeof (err)));
  fail_unless (strstr (err, "'gru'") && strstr (err, "character 23"), "%s", err);
  fail_if (gst_rnn_architecture_parse ("gru(8) dense(tanh)", &a, err, sizeof (err)));
  fail_unless (strstr (err, "'tanh'"), "%s", err);
  fail_if (gst_rnn_architecture_parse ("gru(8", &a, err, sizeof (err)));
  fail_unless (strstr (err, "unclosed"), "%s", err);
  fail_if (gst_rnn_architecture_parse ("dense(softmax)", &a, err, sizeof (err)));
  fail_if (gst_rnn_architecture_parse ("", &a, err, sizeof (err)));
  fail_unless (strstr (err, "no recurrent layer"), "%s", err);
}

GST_END_TEST;

/* A bad spec fails the start of the element with an error that names the token. */
GST_START_TEST (test_bad_architecture_fails_start)
{
  GstElement *e = gst_element_factory_make ("rnntrain", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  g_object_set (e, "architecture", "lstm(64) lsmt(64) dense(softmax)", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gchar *text = pop_error (bus);
  fail_unless (text && strstr (text, "'lsmt'") && strstr (text, "character 10"), "%s", text);
  g_free (text);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (bus);
}

GST_END_TEST;

/* Labels from rnn-label, from title, and from the property; sequences split at rnn-reset, at a
 * new label and at STREAM_START; features.* from the sticky settings event. */
GST_START_TEST (test_labels_and_sequences)
{
  TrainRun run = train_run_new ("labels.rnn", "epochs=1 validation-split=0 "
      "architecture=\"gru(4) dense(softmax)\" label=maybe");
  GstHarness *h = run.h;
  GstBus *bus = run.bus;
  gchar *out = run.out;
  guint32 rng = 7;

  start_stream (h, "s1");
  GstStructure *fs = gst_structure_new (GST_RNN_FEATURE_SETTINGS_NAME,
      "kind", G_TYPE_STRING, "fbank", "num-mel-bins", G_TYPE_INT, 23,
      "frame-shift", G_TYPE_DOUBLE, 10.0, "snip-edges", G_TYPE_BOOLEAN, TRUE,
      "feature-size", G_TYPE_INT, NFEAT, NULL);
  fail_unless (gst_harness_push_event (h,
          gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, fs)));
  push_tag (h, GST_RNN_TAG_LABEL, "yes");
  push_sequence (h, 0, 5, &rng);        /* 1: yes */
  push_reset (h);
  push_sequence (h, 0, 5, &rng);        /* 2: yes (the tag still applies) */
  push_tag (h, GST_TAG_TITLE, "no");
  push_sequence (h, 1, 5, &rng);        /* 3: no, from title */
  push_tag (h, GST_TAG_TITLE, "no");
  push_sequence (h, 1, 5, &rng);        /* still 3: the same label is no boundary */
  start_stream (h, "s2");
  push_sequence (h, 1, 5, &rng);        /* 4: maybe, from the property */
  g_object_set (h->element, "label", "perhaps", NULL);
  push_sequence (h, 1, 5, &rng);        /* 5: perhaps (a new label ends the sequence) */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gchar *text = pop_error (bus);
  fail_unless (text == NULL, "%s", text);

  rnn_model *m = load_model (out);
  static const gchar *const classes[] = { "maybe", "no", "perhaps", "yes" };
  assert_labels (m, classes, 4);
  assert_sequence_count (m, 5);
  const char *s;
  int64_t i;
  double d;
  fail_unless (rnn_model_meta_string (m, "task", &s));
  fail_unless_equals_string (s, "classification");
  fail_unless (rnn_model_meta_string (m, "features.kind", &s));
  fail_unless_equals_string (s, "fbank");
  fail_unless (rnn_model_meta_int (m, "features.num-mel-bins", &i) && i == 23);
  fail_unless (rnn_model_meta_int (m, "features.snip-edges", &i) && i == 1);
  fail_unless (rnn_model_meta_float (m, "features.frame-shift", &d) && d == 10.0);
  fail_if (rnn_model_meta_int (m, "features.feature-size", &i));
  fail_unless (rnn_model_meta_string (m, "train.date", &s));
  fail_unless (rnn_model_meta_float (m, "train.accuracy", &d));
  const float *mean, *scale;
  fail_unless (rnn_model_normalization (m, &mean, &scale));
  fail_unless (mean != NULL && scale != NULL);
  rnn_model_unref (m);

  train_run_free (&run);
}

GST_END_TEST;

/* The classes property fixes the output order. */
GST_START_TEST (test_classes_property)
{
  TrainRun run = train_run_new ("classes.rnn", "epochs=1 validation-split=0 classes=\"up, down\" "
      "architecture=\"gru(4) dense(softmax)\"");
  GstHarness *h = run.h;
  gchar *out = run.out;
  guint32 rng = 1;

  start_stream (h, "s");
  push_tag (h, GST_RNN_TAG_LABEL, "down");
  push_sequence (h, 1, 4, &rng);
  push_tag (h, GST_RNN_TAG_LABEL, "up");
  push_sequence (h, 0, 4, &rng);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  rnn_model *m = load_model (out);
  static const gchar *const classes[] = { "up", "down" };
  assert_labels (m, classes, 2);
  rnn_model_unref (m);
  train_run_free (&run);
}

GST_END_TEST;

/* One rnn-train-progress message per epoch, with the documented fields. */
GST_START_TEST (test_progress_messages)
{
  TrainRun run = train_run_new ("progress.rnn", "epochs=3 validation-split=0.25 batch-size=4 "
      "architecture=\"gru(4) dense(softmax)\"");
  GstHarness *h = run.h;
  GstBus *bus = run.bus;
  gchar *out = run.out;
  guint32 rng = 3;
  GstMessage *msg;
  gint seen = 0;

  start_stream (h, "s");
  for (gint k = 0; k < 8; k++) {
    push_tag (h, GST_RNN_TAG_LABEL, k % 2 ? "b" : "a");
    push_sequence (h, k % 2, 6, &rng);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, GST_RNN_TRAIN_PROGRESS_NAME)) {
      gint epoch, epochs;
      gdouble loss, acc, vloss, vacc;
      seen++;
      fail_unless (gst_structure_get_int (s, "epoch", &epoch));
      fail_unless (gst_structure_get_int (s, "epochs", &epochs));
      fail_unless_equals_int (epoch, seen);
      fail_unless_equals_int (epochs, 3);
      fail_unless (gst_structure_get_double (s, "loss", &loss) && isfinite (loss));
      fail_unless (gst_structure_get_double (s, "accuracy", &acc) && acc >= 0 && acc <= 1);
      fail_unless (gst_structure_get_double (s, "val-loss", &vloss) && isfinite (vloss));
      fail_unless (gst_structure_get_double (s, "val-accuracy", &vacc) && vacc >= 0
          && vacc <= 1);
    }
    gst_message_unref (msg);
  }
  fail_unless_equals_int (seen, 3);
  rnn_model *m = load_model (out);
  int64_t epochs;
  fail_unless (rnn_model_meta_int (m, "train.epochs", &epochs) && epochs == 3);
  rnn_model_unref (m);
  train_run_free (&run);
}

GST_END_TEST;

/* A group (rnn-group tag) goes wholly to one side of the validation split. */
GST_START_TEST (test_groups_stay_together)
{
  TrainRun run = train_run_new ("groups.rnn", "epochs=1 validation-split=0.25 "
      "architecture=\"gru(4) dense(softmax)\"");
  GstHarness *h = run.h;
  gchar *out = run.out;
  guint32 rng = 9;

  start_stream (h, "s");
  /* two groups of four sequences per class: one group per class validates (8 sequences), where
   * a split of single sequences would take 2 of each class's 8 */
  for (gint g = 0; g < 4; g++) {
    gchar *group = g_strdup_printf ("g%d", g);
    for (gint k = 0; k < 4; k++) {
      GstTagList *tags = gst_tag_list_new (GST_RNN_TAG_LABEL, g % 2 ? "b" : "a",
          GST_RNN_TAG_GROUP, group, NULL);
      fail_unless (gst_harness_push_event (h, gst_event_new_tag (tags)));
      push_reset (h);
      push_sequence (h, g % 2, 4, &rng);
    }
    g_free (group);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  rnn_model *m = load_model (out);
  const char *data;
  fail_unless (rnn_model_meta_string (m, "train.data", &data));
  fail_unless (strstr (data, "8 training and 8 validation") != NULL, "%s", data);
  rnn_model_unref (m);
  train_run_free (&run);
}

GST_END_TEST;

/* A small GRU separates two trends: the fit really learns, and the best model is saved. */
GST_START_TEST (test_learns_two_classes)
{
  TrainRun run = train_run_new ("learn.rnn", "epochs=30 validation-split=0.25 batch-size=8 "
      "learning-rate=0.01 architecture=\"gru(8) dense(softmax)\"");
  GstHarness *h = run.h;
  GstBus *bus = run.bus;
  gchar *out = run.out;
  guint32 rng = 11;

  start_stream (h, "s");
  for (gint k = 0; k < 40; k++) {
    push_tag (h, GST_RNN_TAG_LABEL, k % 2 ? "fall" : "rise");
    push_sequence (h, k % 2, 10, &rng);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* the training loss falls well below its first epoch's */
  GstMessage *msg;
  gdouble first_loss = NAN, last_loss = NAN;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, GST_RNN_TRAIN_PROGRESS_NAME)) {
      gst_structure_get_double (s, "loss", &last_loss);
      if (isnan (first_loss))
        first_loss = last_loss;
    }
    gst_message_unref (msg);
  }
  fail_unless (last_loss < 0.5 * first_loss, "loss %f -> %f", first_loss, last_loss);
  rnn_model *m = load_model (out);
  double acc;
  fail_unless (rnn_model_meta_float (m, "train.val-accuracy", &acc));
  fail_unless (acc >= 0.9, "val accuracy %f", acc);
  rnn_model_unref (m);
  train_run_free (&run);
}

GST_END_TEST;

/* A transcript as frames: each symbol ('a' lights feature 0, 'b' feature 1) for 4 frames, with 2
 * quiet frames around each; spaces are separators. */
static void
push_transcript (GstHarness * h, const gchar * text, guint32 * rng)
{
  for (const gchar * c = text; *c; c++) {
    if (*c == ' ')
      continue;
    for (gint t = 0; t < 8; t++) {
      gfloat f[NFEAT];
      for (gint i = 0; i < NFEAT; i++) {
        *rng = *rng * 1664525u + 1013904223u;
        f[i] = 0.1f * ((gfloat) (*rng >> 8) / 16777216.0f - 0.5f);
      }
      if (t >= 2 && t < 6)
        f[*c == 'a' ? 0 : 1] += 1.0f;
      fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (f, sizeof (f))),
          GST_FLOW_OK);
    }
  }
}

/* task=transcription: CTC over the characters of the transcripts, spaces dropped. */
GST_START_TEST (test_transcription)
{
  TrainRun run = train_run_new ("ctc.rnn", "epochs=40 validation-split=0.2 batch-size=8 "
      "learning-rate=0.02 task=transcription architecture=\"bigru(16) dense(softmax)\"");
  GstHarness *h = run.h;
  GstBus *bus = run.bus;
  gchar *out = run.out;
  guint32 rng = 21;
  static const gchar *const texts[] = { "a b", "b a", "a a b", "b", "a b b a", "b b", "a",
    "b a a"
  };

  start_stream (h, "s");
  for (gint k = 0; k < 48; k++) {
    const gchar *text = texts[k % G_N_ELEMENTS (texts)];
    push_tag (h, GST_RNN_TAG_LABEL, text);
    push_reset (h);
    push_transcript (h, text, &rng);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gchar *text = pop_error (bus);
  fail_unless (text == NULL, "%s", text);
  rnn_model *m = load_model (out);
  const char *const *alphabet;
  int n;
  const char *task;
  double acc;
  fail_unless (rnn_model_meta_string (m, "task", &task));
  fail_unless_equals_string (task, "transcription");
  fail_unless (rnn_model_meta_strings (m, "alphabet", &alphabet, &n));
  fail_unless_equals_int (n, 3);
  fail_unless_equals_string (alphabet[0], "<blank>");
  fail_unless_equals_string (alphabet[1], "a");
  fail_unless_equals_string (alphabet[2], "b");
  fail_unless_equals_int (rnn_model_output_size (m), 3);
  fail_unless (rnn_model_meta_float (m, "train.val-accuracy", &acc));
  fail_unless (acc >= 0.8, "1 - token error rate %f", acc);
  rnn_model_unref (m);
  train_run_free (&run);
}

GST_END_TEST;

/* Trains on the rise/fall data set; returns the loaded model. */
static rnn_model *
train_rise_fall (const gchar * props, const gchar * out, gint n, guint32 seed)
{
  GstHarness *h = harness_new (props);
  GstBus *bus = harness_bus (h);
  guint32 rng = seed;

  start_stream (h, "s");
  for (gint k = 0; k < n; k++) {
    push_tag (h, GST_RNN_TAG_LABEL, k % 2 ? "fall" : "rise");
    push_sequence (h, k % 2, 10, &rng);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  gchar *text = pop_error (bus);
  fail_unless (text == NULL, "%s", text);
  gst_harness_teardown (h);
  gst_object_unref (bus);
  return load_model (out);
}

/* dense(1,sigmoid) with two classes: BCE, the positive class as labels, the other as
 * negative-label. */
GST_START_TEST (test_binary_sigmoid)
{
  gchar *out = tmp_path ("sigmoid.rnn");
  gchar *props = g_strdup_printf ("output=%s epochs=30 validation-split=0.25 batch-size=8 "
      "learning-rate=0.01 architecture=\"simplernn(8) dense(1,sigmoid)\"", out);
  rnn_model *m = train_rise_fall (props, out, 40, 17);
  const char *s;
  double acc;
  static const gchar *const positive[] = { "rise" };
  fail_unless_equals_int (rnn_model_head (m), RNN_HEAD_SIGMOID);
  fail_unless_equals_int (rnn_model_output_size (m), 1);
  assert_labels (m, positive, 1);
  fail_unless (rnn_model_meta_string (m, "negative-label", &s));
  fail_unless_equals_string (s, "fall");
  fail_unless (rnn_model_meta_string (m, "train.loss-function", &s));
  fail_unless_equals_string (s, "bce");
  fail_unless (rnn_model_meta_float (m, "train.val-accuracy", &acc) && acc >= 0.9, "%f", acc);
  rnn_model_unref (m);
  g_unlink (out);
  g_free (out);
  g_free (props);
}

GST_END_TEST;

/* dense(linear): MSE on one-hot targets, one output per class. */
GST_START_TEST (test_linear_head)
{
  gchar *out = tmp_path ("linear.rnn");
  gchar *props = g_strdup_printf ("output=%s epochs=3 validation-split=0 "
      "architecture=\"gru(4) dense(linear)\"", out);
  rnn_model *m = train_rise_fall (props, out, 8, 3);
  const char *s;
  static const gchar *const classes[] = { "fall", "rise" };
  fail_unless_equals_int (rnn_model_head (m), RNN_HEAD_LINEAR);
  assert_labels (m, classes, 2);
  fail_unless (rnn_model_meta_string (m, "train.loss-function", &s));
  fail_unless_equals_string (s, "mse");
  rnn_model_unref (m);
  g_unlink (out);
  g_free (out);
  g_free (props);
}

GST_END_TEST;

/* init-model fine-tunes an existing model: its architecture, classes and normalisation stay. */
GST_START_TEST (test_fine_tune)
{
  gchar *base = tmp_path ("base.rnn"), *tuned = tmp_path ("tuned.rnn");
  gchar *props = g_strdup_printf ("output=%s epochs=2 validation-split=0 classes=rise,fall "
      "architecture=\"lstm(6) dense(softmax,mean)\"", base);
  rnn_model *a = train_rise_fall (props, base, 8, 1);
  g_free (props);
  props = g_strdup_printf ("output=%s epochs=20 validation-split=0.25 learning-rate=0.01 "
      "init-model=%s architecture=\"this is ignored\"", tuned, base);
  rnn_model *b = train_rise_fall (props, tuned, 40, 2);
  static const gchar *const order[] = { "rise", "fall" };
  const char *s;
  const float *mean_a, *mean_b, *scale;
  double acc;

  fail_unless_equals_int (rnn_model_layer_cell (b, 0), RNN_CELL_LSTM);
  fail_unless_equals_int (rnn_model_layer_hidden (b, 0), 6);
  fail_unless_equals_int (rnn_model_pool (b), RNN_POOL_MEAN);
  assert_labels (b, order, 2);
  fail_unless (rnn_model_meta_string (b, "train.init-model", &s));
  fail_unless_equals_string (s, base);
  fail_unless (rnn_model_normalization (a, &mean_a, &scale));
  fail_unless (rnn_model_normalization (b, &mean_b, &scale));
  fail_unless (memcmp (mean_a, mean_b, NFEAT * sizeof (float)) == 0);
  fail_unless (rnn_model_meta_float (b, "train.val-accuracy", &acc) && acc >= 0.9, "%f", acc);
  rnn_model_unref (a);
  rnn_model_unref (b);
  g_unlink (base);
  g_unlink (tuned);
  g_free (base);
  g_free (tuned);
  g_free (props);
}

GST_END_TEST;

static gpointer
push_eos_thread (gpointer data)
{
  GstHarness *h = data;
  return GINT_TO_POINTER (gst_harness_push_event (h, gst_event_new_eos ()));
}

/* Pausing while training goes on; stopping cancels training promptly and writes nothing. */
GST_START_TEST (test_stop_cancels_training)
{
  TrainRun run = train_run_new ("cancel.rnn", "epochs=100000 batch-size=1 validation-split=0 "
      "architecture=\"gru(32) dense(softmax)\"");
  GstHarness *h = run.h;
  GstBus *bus = run.bus;
  gchar *out = run.out;
  guint32 rng = 13;

  start_stream (h, "s");
  for (gint k = 0; k < 20; k++) {
    push_tag (h, GST_RNN_TAG_LABEL, k % 2 ? "b" : "a");
    push_sequence (h, k % 2, 20, &rng);
  }
  GThread *t = g_thread_new ("eos", push_eos_thread, h);
  /* wait for the first epoch: training is under way */
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  /* pausing does not stop training: epochs keep coming */
  gst_element_set_state (h->element, GST_STATE_PAUSED);
  msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL, "training stopped when paused");
  gst_message_unref (msg);
  gint64 t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gint64 waited = g_get_monotonic_time () - t0;
  fail_if (GPOINTER_TO_INT (g_thread_join (t)), "EOS handled although training was cancelled");
  fail_unless (waited < 5 * G_USEC_PER_SEC, "stopping took %" G_GINT64_FORMAT " us", waited);
  fail_if (g_file_test (out, G_FILE_TEST_EXISTS));
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);
  train_run_free (&run);
}

GST_END_TEST;

static gchar *
run_expecting_error (const gchar * extra, gboolean with_labels, gint n_classes)
{
  gchar *out = tmp_path ("error.rnn");
  gchar *props = g_strdup_printf ("output=%s epochs=1 validation-split=0 %s", out, extra);
  GstHarness *h = harness_new (props);
  GstBus *bus = harness_bus (h);
  guint32 rng = 5;
  gboolean eos_ok;

  start_stream (h, "s");
  if (with_labels) {
    for (gint k = 0; k < 4; k++) {
      push_tag (h, GST_RNN_TAG_LABEL, k % n_classes ? "b" : "a");
      push_sequence (h, k % 2, 4, &rng);
    }
    eos_ok = gst_harness_push_event (h, gst_event_new_eos ());
    fail_if (eos_ok);
  } else {
    gfloat f[NFEAT] = { 0 };
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (f, sizeof (f))),
        GST_FLOW_ERROR);
  }
  gchar *text = pop_error (bus);
  fail_unless (text != NULL);
  fail_if (g_file_test (out, G_FILE_TEST_EXISTS));
  gst_harness_teardown (h);
  gst_object_unref (bus);
  g_free (out);
  g_free (props);
  return text;
}

GST_START_TEST (test_errors)
{
  gchar *text;

  text = run_expecting_error ("", FALSE, 2);
  fail_unless (strstr (text, "no label") != NULL, "%s", text);
  g_free (text);

  text = run_expecting_error ("", TRUE, 1);
  fail_unless (strstr (text, "only one class") != NULL, "%s", text);
  g_free (text);

  text = run_expecting_error ("architecture=\"gru(4) dense(3,softmax)\"", TRUE, 2);
  fail_unless (strstr (text, "3 outputs") && strstr (text, "2 classes"), "%s", text);
  g_free (text);

  text = run_expecting_error ("classes=a,c", TRUE, 2);
  fail_unless (strstr (text, "'b'") != NULL, "%s", text);
  g_free (text);

  text = run_expecting_error ("init-model=/nonexistent/model.rnn", TRUE, 2);
  fail_unless (strstr (text, "/nonexistent/model.rnn") != NULL, "%s", text);
  g_free (text);
}

GST_END_TEST;

/* Fine-tuning needs the same input size. */
GST_START_TEST (test_init_model_input_size)
{
  gchar *init = tmp_path ("init.rnn");
  gchar err[256];
  rnn_model *m = rnn_model_new (NFEAT + 1);
  fail_unless_equals_int (rnn_model_add_layer (m, RNN_CELL_GRU, 4, 0), RNN_OK);
  fail_unless_equals_int (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST), RNN_OK);
  fail_unless_equals_int (rnn_model_finalize (m), RNN_OK);
  fail_unless_equals_int (rnn_model_save (m, init, err, sizeof (err)), RNN_OK);
  rnn_model_unref (m);

  gchar *extra = g_strdup_printf ("init-model=%s", init);
  gchar *text = run_expecting_error (extra, TRUE, 2);
  fail_unless (strstr (text, "takes 5 inputs") && strstr (text, "have 4"), "%s", text);
  g_free (text);
  g_free (extra);
  g_unlink (init);
  g_free (init);
}

GST_END_TEST;

static Suite *
rnntrain_suite (void)
{
  Suite *s = suite_create ("rnntrain");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_architecture_parse);
  tcase_add_test (tc, test_bad_architecture_fails_start);
  tcase_add_test (tc, test_labels_and_sequences);
  tcase_add_test (tc, test_classes_property);
  tcase_add_test (tc, test_progress_messages);
  tcase_add_test (tc, test_groups_stay_together);
  tcase_add_test (tc, test_learns_two_classes);
  tcase_add_test (tc, test_transcription);
  tcase_add_test (tc, test_binary_sigmoid);
  tcase_add_test (tc, test_linear_head);
  tcase_add_test (tc, test_fine_tune);
  tcase_add_test (tc, test_stop_cancels_training);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_init_model_input_size);
  return s;
}

int
main (int argc, char **argv)
{
  Suite *s;
  int failed;

  gst_check_init (&argc, &argv);
  GST_ELEMENT_REGISTER (rnntrain, NULL);
  tmpdir = g_dir_make_tmp ("rnntrain-XXXXXX", NULL);
  s = rnntrain_suite ();
  failed = gst_check_run_suite (s, "rnntrain", __FILE__);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return failed;
}
