/* gst-rnn: rnnfeatures element tests (GstCheck + GstHarness).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The element is linked into this program and created by its GType, so these tests need no
 * plugin on GST_PLUGIN_PATH. Numbers against Kaldi/torchaudio are checked by
 * tests/conformance/test_features_torchaudio.py; here: framing, timestamps, streaming invariance,
 * events, negotiation, bad input and model settings.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include "gstrnnfeatures.h"
#include "rnnresults.h"
#include "rnn.h"

#define RATE 8000
#define S16_CAPS "audio/x-raw, format=S16LE, rate=8000, channels=1, layout=interleaved"
#define F32_CAPS "audio/x-raw, format=F32LE, rate=8000, channels=1, layout=interleaved"

/* A deterministic test signal in 16-bit range: two tones and noise. */
static void
make_signal (gint16 * out, gsize n, guint seed)
{
  guint64 s = 0x9E3779B97F4A7C15ull ^ seed;
  gsize i;

  for (i = 0; i < n; i++) {
    double noise, v;

    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    noise = ((double) (s % 2001) - 1000.0);
    v = 6000.0 * sin (2 * G_PI * 440.0 * i / RATE) + 3000.0 * sin (2 * G_PI * 1250.0 * i / RATE)
        + noise;
    out[i] = (gint16) CLAMP (lrint (v), -32768, 32767);
  }
}

static GstBuffer *
s16_buffer (const gint16 * samples, gsize n, GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_memdup (samples, n * sizeof (gint16));

  GST_BUFFER_PTS (buf) = pts;
  return buf;
}

static GstHarness *
harness_new (const gchar * first_property, ...)
{
  GstElement *element = g_object_new (GST_TYPE_RNN_FEATURES, NULL);
  GstHarness *h;
  va_list ap;

  va_start (ap, first_property);
  if (first_property)
    g_object_set_valist (G_OBJECT (element), first_property, ap);
  va_end (ap);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  return h;
}

typedef struct {
  GArray *values;               /* floats of every frame */
  GArray *pts, *duration;       /* GstClockTime per frame */
  gint dim;
  guint frames;
  gboolean first_discont;
} Frames;

static void
frames_clear (Frames * f)
{
  g_array_unref (f->values);
  g_array_unref (f->pts);
  g_array_unref (f->duration);
}

/* Pulls every buffer the harness holds. */
static Frames
pull_frames (GstHarness * h, gint dim)
{
  Frames f = { g_array_new (FALSE, FALSE, sizeof (float)),
    g_array_new (FALSE, FALSE, sizeof (GstClockTime)),
    g_array_new (FALSE, FALSE, sizeof (GstClockTime)), dim, 0, FALSE
  };
  GstBuffer *buf;

  while ((buf = gst_harness_try_pull (h)) != NULL) {
    GstMapInfo map;
    GstClockTime pts = GST_BUFFER_PTS (buf), dur = GST_BUFFER_DURATION (buf);

    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless_equals_int ((gint) map.size, dim * (gint) sizeof (float));
    g_array_append_vals (f.values, map.data, dim);
    gst_buffer_unmap (buf, &map);
    g_array_append_val (f.pts, pts);
    g_array_append_val (f.duration, dur);
    if (f.frames == 0)
      f.first_discont = GST_BUFFER_IS_DISCONT (buf);
    f.frames++;
    gst_buffer_unref (buf);
  }
  return f;
}

static void
assert_same_frames (const Frames * a, const Frames * b)
{
  guint i;

  fail_unless_equals_int (a->frames, b->frames);
  fail_unless_equals_int (a->values->len, b->values->len);
  for (i = 0; i < a->frames; i++)
    fail_unless_equals_uint64 (g_array_index (a->pts, GstClockTime, i),
        g_array_index (b->pts, GstClockTime, i));
  fail_unless (memcmp (a->values->data, b->values->data, a->values->len * sizeof (float)) == 0,
      "frame values differ");
}

/* Runs n samples through a fresh element as one buffer at PTS 0, then EOS. */
static Frames
run_once (const gint16 * samples, gsize n, gint dim, const gchar * first_property, ...)
{
  GstElement *element = g_object_new (GST_TYPE_RNN_FEATURES, NULL);
  GstHarness *h;
  Frames f;
  va_list ap;

  va_start (ap, first_property);
  if (first_property)
    g_object_set_valist (G_OBJECT (element), first_property, ap);
  va_end (ap);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, n, 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, dim);
  gst_harness_teardown (h);
  return f;
}

GST_START_TEST (test_frame_count_and_timestamps)
{
  gint16 samples[RATE];
  Frames f;
  guint i;

  make_signal (samples, RATE, 1);
  /* snip-edges: 1 + (8000 - 200) / 80 frames of 25 ms every 10 ms */
  f = run_once (samples, RATE, 23, NULL);
  fail_unless_equals_int (f.frames, 98);
  fail_unless (f.first_discont);
  for (i = 0; i < f.frames; i++) {
    fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, i), i * 10 * GST_MSECOND);
    fail_unless_equals_uint64 (g_array_index (f.duration, GstClockTime, i), 10 * GST_MSECOND);
  }
  for (i = 0; i < f.values->len; i++)
    fail_unless (isfinite (g_array_index (f.values, float, i)));
  frames_clear (&f);

  /* snip-edges=false: (8000 + 40) / 80 frames, the last ones emitted at EOS */
  f = run_once (samples, RATE, 23, "snip-edges", FALSE, NULL);
  fail_unless_equals_int (f.frames, 100);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 99), 990 * GST_MSECOND);
  frames_clear (&f);

  /* deltas hold frames back but never drop one */
  f = run_once (samples, RATE, 69, "deltas", 2, NULL);
  fail_unless_equals_int (f.frames, 98);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 97), 970 * GST_MSECOND);
  frames_clear (&f);

  /* a signal shorter than one window gives no frame with snip-edges */
  f = run_once (samples, 199, 23, NULL);
  fail_unless_equals_int (f.frames, 0);
  frames_clear (&f);
}
GST_END_TEST;

GST_START_TEST (test_timestamps_follow_input)
{
  gint16 samples[RATE];
  GstHarness *h = harness_new (NULL);
  Frames f;

  make_signal (samples, RATE, 2);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  /* the first buffer's PTS is the base; later buffers' PTS are ignored (sample counts rule) */
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 4000, GST_SECOND)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + 4000, 4000,
              GST_SECOND + 500 * GST_MSECOND + 3 * GST_MSECOND)), GST_FLOW_OK);
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 98);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 0), GST_SECOND);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 97),
      GST_SECOND + 970 * GST_MSECOND);
  frames_clear (&f);

  /* a DISCONT restarts the frame timeline at that buffer's PTS */
  {
    GstBuffer *b = s16_buffer (samples, 400, 5 * GST_SECOND);

    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  f = pull_frames (h, 23);
  /* 1 + (400 - 200) / 80 = 3 frames from 5 s on */
  fail_unless_equals_int (f.frames, 3);
  fail_unless (f.first_discont);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 0), 5 * GST_SECOND);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 2),
      5 * GST_SECOND + 20 * GST_MSECOND);
  frames_clear (&f);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_flush_gives_fresh_output)
{
  gint16 samples[RATE];
  GstHarness *h;
  Frames fresh, after;
  GstSegment seg;

  make_signal (samples, RATE, 3);
  fresh = run_once (samples, RATE, 26, "kind", GST_RNN_FEATURES_KIND_MFCC, "deltas", 1,
      "snip-edges", FALSE, NULL);

  h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, "deltas", 1, "snip-edges", FALSE, NULL);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  /* half a signal, then a flush: what was pending must be forgotten */
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + 1234, 3333, 0)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  while (gst_harness_buffers_in_queue (h) > 0)
    gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  after = pull_frames (h, 26);
  fail_unless_equals_int (after.frames, 100);
  fail_unless (after.first_discont);
  assert_same_frames (&fresh, &after);
  frames_clear (&fresh);
  frames_clear (&after);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_buffer_boundaries_do_not_matter)
{
  gint16 samples[RATE];
  GstHarness *h;
  Frames one, many;
  gsize pos = 0, k = 0;

  make_signal (samples, RATE, 4);
  one = run_once (samples, RATE, 48, "deltas", 1, "snip-edges", FALSE, "use-energy", TRUE, NULL);

  h = harness_new ("deltas", 1, "snip-edges", FALSE, "use-energy", TRUE, NULL);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  while (pos < RATE) {
    gsize n = MIN ((k % 7) + 1 + (k % 3) * 50, RATE - pos);   /* 1 to 107 samples */

    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + pos, n,
                GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
    pos += n;
    k++;
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  many = pull_frames (h, 48);
  fail_unless (k > 100);
  assert_same_frames (&one, &many);
  frames_clear (&one);
  frames_clear (&many);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_s16_and_f32_agree)
{
  gint16 samples[RATE];
  float fsamples[RATE];
  GstHarness *h;
  Frames a, b;
  GstBuffer *buf;
  guint i;

  make_signal (samples, RATE, 5);
  for (i = 0; i < RATE; i++)
    fsamples[i] = samples[i] / 32768.0f;
  a = run_once (samples, RATE, 13, "kind", GST_RNN_FEATURES_KIND_MFCC, NULL);

  h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, NULL);
  gst_harness_set_src_caps_str (h, F32_CAPS);
  buf = gst_buffer_new_memdup (fsamples, sizeof (fsamples));
  GST_BUFFER_PTS (buf) = 0;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  b = pull_frames (h, 13);
  fail_unless (a.frames == 98);
  assert_same_frames (&a, &b);
  frames_clear (&a);
  frames_clear (&b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_nan_input_warns_and_stays_finite)
{
  float fsamples[RATE];
  GstHarness *h = harness_new (NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GstBuffer *buf;
  Frames f;
  guint i;
  GError *err = NULL;
  gchar *debug = NULL;

  gst_element_set_bus (h->element, bus);
  for (i = 0; i < RATE; i++)
    fsamples[i] = (float) (0.3 * sin (2 * G_PI * 300.0 * i / RATE));
  fsamples[1000] = NAN;
  fsamples[2000] = INFINITY;
  fsamples[3000] = -INFINITY;
  gst_harness_set_src_caps_str (h, F32_CAPS);
  buf = gst_buffer_new_memdup (fsamples, sizeof (fsamples));
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 98);
  for (i = 0; i < f.values->len; i++)
    fail_unless (isfinite (g_array_index (f.values, float, i)), "value %u is not finite", i);

  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (msg != NULL, "no warning for NaN input");
  gst_message_parse_warning (msg, &err, &debug);
  fail_unless (strstr (err->message, "NaN") != NULL, "warning does not name the problem: %s",
      err->message);
  g_clear_error (&err);
  g_free (debug);
  gst_message_unref (msg);
  /* once, not once per bad sample */
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL);

  frames_clear (&f);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_empty_stream)
{
  GstHarness *h = harness_new ("snip-edges", FALSE, "deltas", 2, NULL);
  GstEvent *ev;
  gboolean saw_eos = FALSE;

  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    saw_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (saw_eos);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstCaps *
latest_caps (GstHarness * h)
{
  GstEvent *ev;
  GstCaps *caps = NULL;

  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *c;

      gst_event_parse_caps (ev, &c);
      gst_caps_replace (&caps, c);
    }
    gst_event_unref (ev);
  }
  return caps;
}

GST_START_TEST (test_rate_change_renegotiates)
{
  gint16 samples[2 * RATE];
  GstHarness *h = harness_new (NULL);
  GstCaps *caps, *expected;
  Frames f, fresh;
  GstHarness *h2;

  make_signal (samples, 2 * RATE, 6);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 4000, 0)), GST_FLOW_OK);
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 48);        /* 1 + (4000 - 200) / 80 */
  frames_clear (&f);
  caps = latest_caps (h);
  expected = gst_caps_from_string ("other/tensors, format=(string)static, num_tensors=(int)1, "
      "types=(string)float32, dimensions=(string)23:1:1:1, framerate=(fraction)100/1");
  fail_unless (gst_caps_is_equal (caps, expected));
  gst_caps_unref (expected);
  gst_caps_unref (caps);

  /* 16 kHz now: 400-sample windows every 160 samples; 100 frames per second still */
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, rate=16000, channels=1, "
      "layout=interleaved");
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 2 * RATE, GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 98);        /* 1 + (16000 - 400) / 160 */
  fail_unless (f.first_discont);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 0), GST_SECOND);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 1), GST_SECOND + 10 * GST_MSECOND);
  caps = latest_caps (h);
  fail_unless (caps != NULL);
  expected = gst_caps_from_string ("other/tensors, format=(string)static, num_tensors=(int)1, "
      "types=(string)float32, dimensions=(string)23:1:1:1, framerate=(fraction)100/1");
  fail_unless (gst_caps_is_equal (caps, expected));
  gst_caps_unref (expected);
  gst_caps_unref (caps);

  /* the frames equal those of a fresh element that only ever saw 16 kHz */
  h2 = harness_new (NULL);
  gst_harness_set_src_caps_str (h2, "audio/x-raw, format=S16LE, rate=16000, channels=1, "
      "layout=interleaved");
  fail_unless_equals_int (gst_harness_push (h2, s16_buffer (samples, 2 * RATE, GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h2, gst_event_new_eos ()));
  fresh = pull_frames (h2, 23);
  assert_same_frames (&fresh, &f);
  frames_clear (&f);
  frames_clear (&fresh);
  gst_harness_teardown (h2);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_caps_are_nnstreamer_static)
{
  GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, "deltas", 2,
      "frame-shift", 12.5, NULL);
  gint16 samples[RATE];
  GstCaps *caps;
  const GstStructure *s;
  gint n, d;

  make_signal (samples, RATE, 7);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != NULL);
  fail_unless (gst_caps_is_fixed (caps));
  s = gst_caps_get_structure (caps, 0);
  fail_unless_equals_string (gst_structure_get_name (s), "other/tensors");
  fail_unless_equals_int (gst_structure_n_fields (s), 5);
  fail_unless_equals_string (gst_structure_get_string (s, "format"), "static");
  fail_unless (gst_structure_get_int (s, "num_tensors", &n));
  fail_unless_equals_int (n, 1);
  fail_unless_equals_string (gst_structure_get_string (s, "types"), "float32");
  fail_unless_equals_string (gst_structure_get_string (s, "dimensions"), "39:1:1:1");
  /* 8000 Hz / 100-sample shift = 80/1 */
  fail_unless (gst_structure_get_fraction (s, "framerate", &n, &d));
  fail_unless_equals_int (n, 80);
  fail_unless_equals_int (d, 1);
  gst_caps_unref (caps);
  gst_harness_teardown (h);

  /* kind=raw: one frame per input sample, the channels are the frame */
  h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, NULL);
  {
    float six[6] = { 1, 2, 3, 4, 5, 6 };
    GstBuffer *buf = gst_buffer_new_memdup (six, sizeof (six));
    Frames f;

    gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=10, channels=3, "
        "layout=interleaved");
    GST_BUFFER_PTS (buf) = 0;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    caps = gst_pad_get_current_caps (h->sinkpad);
    fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure (caps, 0),
            "dimensions"), "3:1:1:1");
    gst_caps_unref (caps);
    f = pull_frames (h, 3);
    fail_unless_equals_int (f.frames, 2);
    fail_unless (memcmp (f.values->data, six, sizeof (six)) == 0);
    fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 1), 100 * GST_MSECOND);
    fail_unless_equals_uint64 (g_array_index (f.duration, GstClockTime, 1), 100 * GST_MSECOND);
    frames_clear (&f);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_settings_event_and_latency)
{
  GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, "use-energy", TRUE,
      "deltas", 1, NULL);
  gint16 samples[400];
  GstEvent *ev;
  const GstStructure *s = NULL;
  gint v;
  gdouble d;
  gboolean b;
  GstQuery *q;
  GstClockTime min, max;
  gboolean live;

  make_signal (samples, 400, 8);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 400, 0)), GST_FLOW_OK);
  ev = gst_pad_get_sticky_event (h->sinkpad, GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, 0);
  fail_unless (ev != NULL, "no rnn-feature-settings event");
  s = gst_event_get_structure (ev);
  fail_unless (gst_structure_has_name (s, GST_RNN_FEATURE_SETTINGS_NAME));
  fail_unless (gst_structure_get_int (s, "feature-size", &v));
  fail_unless_equals_int (v, 26);
  fail_unless (gst_structure_get_int (s, "num-ceps", &v));
  fail_unless_equals_int (v, 13);
  fail_unless (gst_structure_get_int (s, "deltas", &v));
  fail_unless_equals_int (v, 1);
  fail_unless (gst_structure_get_double (s, "frame-shift", &d));
  fail_unless_equals_float (d, 10.0);
  fail_unless (gst_structure_get_boolean (s, "use-energy", &b));
  fail_unless (b);
  fail_unless (gst_structure_get_enum (s, "kind", GST_TYPE_RNN_FEATURES_KIND, &v));
  fail_unless_equals_int (v, GST_RNN_FEATURES_KIND_MFCC);
  fail_unless (gst_structure_get_enum (s, "window-type", GST_TYPE_RNN_FEATURES_WINDOW, &v));
  fail_unless_equals_int (v, GST_RNN_FEATURES_WINDOW_POVEY);
  fail_unless (gst_structure_get_int (s, "cmn-window", &v));
  fail_unless_equals_int (v, 0);
  fail_unless (gst_structure_get_int (s, "min-cmn-window", &v));
  fail_unless_equals_int (v, 100);
  fail_unless (gst_structure_get_boolean (s, "cmn-center", &b));
  fail_unless (!b);
  fail_unless (gst_structure_get_boolean (s, "norm-vars", &b));
  fail_unless (!b);
  /* sample-frequency=0 (any rate) is sent as the rate actually negotiated */
  fail_unless (gst_structure_get_int (s, "sample-frequency", &v));
  fail_unless_equals_int (v, RATE);
  fail_unless (gst_structure_get_double (s, "vtln-warp", &d));
  fail_unless_equals_float (d, 1.0);
  fail_unless (gst_structure_get_double (s, "vtln-high", &d));
  fail_unless_equals_float (d, -500.0);
  /* every feature property is there, and nothing else but feature-size */
  fail_unless_equals_int (gst_structure_n_fields (s), 30);
  gst_event_unref (ev);

  /* latency: a 25 ms window plus 2 frames of 10 ms held back for the deltas */
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless_equals_uint64 (min, 45 * GST_MSECOND);
  gst_query_unref (q);
  gst_harness_teardown (h);

  /* snip-edges=false: the window is centred, frame-length / 2 + frame-shift / 2 */
  h = harness_new ("snip-edges", FALSE, NULL);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 400, 0)), GST_FLOW_OK);
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless_equals_uint64 (min, 17500 * GST_USECOND);
  gst_query_unref (q);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A small model whose metadata says: mfcc, 13 cepstra, frame-shift 10. */
static gchar *
write_model (gint input_size)
{
  rnn_model *m = rnn_model_new (input_size);
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("rnnfeatures-XXXXXX.rnn", &path, NULL);
  char err[256];

  fail_unless (fd >= 0);
  close (fd);
  fail_unless (m != NULL);
  fail_unless_equals_int (rnn_model_add_layer (m, RNN_CELL_GRU, 4, 0), 0);
  fail_unless_equals_int (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST), 0);
  fail_unless_equals_int (rnn_model_finalize (m), 0);
  rnn_model_init_weights (m, 1);
  rnn_model_set_meta_string (m, "features.kind", "mfcc");
  rnn_model_set_meta_int (m, "features.num-ceps", 13);
  rnn_model_set_meta_float (m, "features.frame-shift", 10.0);
  rnn_model_set_meta_int (m, "features.use-energy", 1);
  rnn_model_set_meta_string (m, "features.window-type", "hamming");
  rnn_model_set_meta_int (m, "features.feature-size", 13);      /* not a property: ignored */
  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "%s", err);
  rnn_model_unref (m);
  return path;
}

GST_START_TEST (test_model_settings)
{
  gchar *path = write_model (13);
  GstElement *e;
  GstBus *bus;
  GstMessage *msg;
  GError *err = NULL;
  gint kind, window;
  gboolean use_energy;

  /* settings come from the model: kind=mfcc gives 13 values, not fbank's 23 */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  g_object_get (e, "kind", &kind, "window-type", &window, "use-energy", &use_energy, NULL);
  fail_unless_equals_int (kind, GST_RNN_FEATURES_KIND_MFCC);
  fail_unless_equals_int (window, GST_RNN_FEATURES_WINDOW_HAMMING);
  fail_unless (use_energy);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  {
    GstHarness *h = harness_new ("model", path, "frame-shift", 10.0, NULL);
    gint16 samples[RATE];
    Frames f;

    make_signal (samples, RATE, 9);
    gst_harness_set_src_caps_str (h, S16_CAPS);
    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
    f = pull_frames (h, 13);
    fail_unless_equals_int (f.frames, 98);
    frames_clear (&f);
    gst_harness_teardown (h);
  }

  /* an explicit contradiction fails the start, naming both values */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, "frame-shift", 20.0, NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "frame-shift=20 contradicts the model (10)") != NULL,
      "unexpected message: %s", err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);

  /* a missing model file is an error at start too, naming the file */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", "/nonexistent/model.rnn", NULL);
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "/nonexistent/model.rnn") != NULL, "%s", err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);
  gst_object_unref (bus);

  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

GST_START_TEST (test_bad_settings_fail_negotiation)
{
  GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, "num-ceps", 30, NULL);
  gint16 samples[400];
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;

  gst_element_set_bus (h->element, bus);
  make_signal (samples, 400, 10);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 400, 0)),
      GST_FLOW_NOT_NEGOTIATED);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "num-ceps=30") != NULL, "%s", err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_dither_is_seeded)
{
  gint16 samples[RATE];
  Frames plain, a, b;
  guint i;
  gboolean differs = FALSE;

  make_signal (samples, RATE, 11);
  plain = run_once (samples, RATE, 23, NULL);
  a = run_once (samples, RATE, 23, "dither", 1.0, NULL);
  b = run_once (samples, RATE, 23, "dither", 1.0, NULL);
  /* reproducible from run to run, and really dithered */
  assert_same_frames (&a, &b);
  for (i = 0; i < a.values->len; i++)
    differs |= g_array_index (a.values, float, i) != g_array_index (plain.values, float, i);
  fail_unless (differs, "dither=1 changed nothing");
  frames_clear (&plain);
  frames_clear (&a);
  frames_clear (&b);
}
GST_END_TEST;

GST_START_TEST (test_channels_are_averaged)
{
  gint16 mono[RATE], stereo[2 * RATE];
  GstHarness *h;
  Frames a, b;
  guint i;

  make_signal (mono, RATE, 12);
  /* left + right = 2 * mono: the average is exactly the mono signal */
  for (i = 0; i < RATE; i++) {
    stereo[2 * i] = mono[i] + 1000;
    stereo[2 * i + 1] = mono[i] - 1000;
  }
  a = run_once (mono, RATE, 13, "kind", GST_RNN_FEATURES_KIND_MFCC, NULL);

  h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, rate=8000, channels=2, "
      "channel-mask=(bitmask)0x3, layout=interleaved");
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (stereo, 2 * RATE, 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  b = pull_frames (h, 13);
  fail_unless_equals_int (b.frames, 98);
  assert_same_frames (&a, &b);
  frames_clear (&a);
  frames_clear (&b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_raw_deltas)
{
  /* two channels: a ramp of slope 0.5 per sample and a constant */
  float in[2 * 20];
  GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, "deltas", 2, NULL);
  GstBuffer *buf;
  Frames f;
  guint t;

  for (t = 0; t < 20; t++) {
    in[2 * t] = 0.5f * t;
    in[2 * t + 1] = 3.0f;
  }
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=50, channels=2, "
      "layout=interleaved");
  buf = gst_buffer_new_memdup (in, sizeof (in));
  GST_BUFFER_PTS (buf) = 0;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  /* 4 frames are held back for the delta-deltas until EOS */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 16);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, 6);
  fail_unless_equals_int (f.frames, 20);
  for (t = 0; t < 20; t++) {
    const float *v = &g_array_index (f.values, float, 6 * t);

    fail_unless_equals_float (v[0], 0.5f * t);
    fail_unless_equals_float (v[1], 3.0f);
    fail_unless_equals_float (v[3], 0.0f);      /* constant: no delta */
    if (t >= 4 && t < 16) {
      /* the slope in the middle; the second derivative of a ramp is 0 */
      fail_unless (fabsf (v[2] - 0.5f) < 1e-6f, "delta %g at %u", v[2], t);
      fail_unless (fabsf (v[4]) < 1e-6f, "delta-delta %g at %u", v[4], t);
    }
    fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, t), t * 20 * GST_MSECOND);
  }
  /* at the edges Kaldi repeats the first / last frame: the delta shrinks */
  fail_unless (g_array_index (f.values, float, 2) < 0.5f);
  frames_clear (&f);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_reset_event_finishes_run)
{
  gint16 samples[RATE];
  GstHarness *h = harness_new ("snip-edges", FALSE, NULL);
  GstEvent *ev;
  gboolean forwarded = FALSE;
  Frames f;

  make_signal (samples, RATE, 13);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  /* Kaldi's last frames need the end of the signal: not out yet */
  fail_unless (gst_harness_buffers_in_queue (h) < 100);
  fail_unless (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME))));
  /* the run is finished as at EOS, and the event passes on */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 100);
  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    forwarded |= gst_event_has_name (ev, GST_RNN_RESET_EVENT_NAME);
    gst_event_unref (ev);
  }
  fail_unless (forwarded);
  f = pull_frames (h, 23);
  frames_clear (&f);

  /* a new run from the next buffer's timestamp */
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 800, 3 * GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 10);
  fail_unless (f.first_discont);
  fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 0), 3 * GST_SECOND);
  frames_clear (&f);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * Sliding-window CMN (apply-cmvn-sliding). The numbers against torchaudio are checked by the
 * conformance test; here: streaming invariance, resets, the offset it removes, raw frames against
 * a direct (non-incremental) computation of Kaldi's windows, latency.
 * ------------------------------------------------------------------------------------------- */

/* Kaldi's window of frame t in a run of n frames, straight from the definition. */
static void
reference_cmn_window (gint t, gint n, gint w, gint min_w, gboolean center, gint * start,
    gint * end)
{
  gint ws = center ? t - w / 2 : t - w, we = center ? ws + w : t + 1;

  if (ws < 0) {
    we -= ws;
    ws = 0;
  }
  if (!center && we > t)
    we = MAX (t + 1, min_w);
  if (we > n) {
    ws -= we - n;
    we = n;
    ws = MAX (ws, 0);
  }
  *start = ws;
  *end = we;
}

/* CMN of n frames of dim values, each window summed afresh. */
static void
reference_cmn (const float *in, gint n, gint dim, gint w, gint min_w, gboolean center,
    gboolean norm_vars, float *out)
{
  gint t, k, s;

  for (t = 0; t < n; t++) {
    gint ws, we;

    reference_cmn_window (t, n, w, min_w, center, &ws, &we);
    for (k = 0; k < dim; k++) {
      double sum = 0.0, sumsq = 0.0, mean, v;

      for (s = ws; s < we; s++) {
        sum += in[s * dim + k];
        sumsq += (double) in[s * dim + k] * in[s * dim + k];
      }
      mean = sum / (we - ws);
      v = in[t * dim + k] - mean;
      if (norm_vars)
        v = we - ws == 1 ? 0.0 : v / sqrt (MAX (sumsq / (we - ws) - mean * mean, 1e-10));
      out[t * dim + k] = (float) v;
    }
  }
}

static void
assert_close (const float *a, const float *b, gsize n, double tolerance, const gchar * what)
{
  gsize i;

  for (i = 0; i < n; i++)
    fail_unless (fabs ((double) a[i] - b[i]) <= tolerance * MAX (1.0, fabs ((double) b[i])),
        "%s: value %" G_GSIZE_FORMAT " is %g, expected %g", what, i, a[i], b[i]);
}

/* kind=raw (sensor channels): the element's streaming CMN equals the direct computation for
 * runs shorter and longer than the windows, every window shape and variance normalisation, with
 * a DISCONT finishing the first run (each run normalised on its own). */
GST_START_TEST (test_cmn_raw_matches_definition)
{
  static const struct {
    gint w, min_w;
    gboolean center, norm_vars;
  } cases[] = {
    {600, 100, FALSE, FALSE}, {20, 5, FALSE, FALSE}, {20, 5, FALSE, TRUE}, {7, 30, FALSE, FALSE},
    {20, 0, TRUE, FALSE}, {21, 100, TRUE, TRUE}, {1, 1, FALSE, TRUE}, {2, 1, TRUE, FALSE},
  };
  const gint dim = 3, runs[2] = { 57, 9 };
  float in[3 * 57], want[3 * 57];
  guint c, i;
  guint64 s = 12345;

  for (i = 0; i < G_N_ELEMENTS (in); i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    /* a different offset and scale per channel, a slow drift, and noise */
    in[i] = (float) ((i % dim) * 100.0 - 50.0 + 0.05 * (i / dim) + (double) (s >> 40) / (1 << 20));
  }
  for (c = 0; c < G_N_ELEMENTS (cases); c++) {
    GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, "cmn-window", cases[c].w,
        "min-cmn-window", cases[c].min_w, "cmn-center", cases[c].center, "norm-vars",
        cases[c].norm_vars, NULL);
    gint r;
    gchar *what;

    gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=100, channels=3, "
        "layout=interleaved");
    for (r = 0; r < 2; r++) {
      GstBuffer *buf = gst_buffer_new_memdup (in, sizeof (float) * dim * runs[r]);
      Frames f;

      GST_BUFFER_PTS (buf) = r * 10 * GST_SECOND;
      if (r > 0)
        GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
      if (r == 0) {
        /* the first run leaves when the DISCONT buffer comes: pulled below with the second */
        continue;
      }
      fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
      f = pull_frames (h, dim);
      fail_unless_equals_int (f.frames, runs[0] + runs[1]);
      what = g_strdup_printf ("W=%d min=%d center=%d norm_vars=%d, run 1", cases[c].w,
          cases[c].min_w, cases[c].center, cases[c].norm_vars);
      reference_cmn (in, runs[0], dim, cases[c].w, cases[c].min_w, cases[c].center,
          cases[c].norm_vars, want);
      assert_close ((const float *) f.values->data, want, (gsize) dim * runs[0], 1e-5, what);
      what[strlen (what) - 1] = '2';
      reference_cmn (in, runs[1], dim, cases[c].w, cases[c].min_w, cases[c].center,
          cases[c].norm_vars, want);
      assert_close ((const float *) f.values->data + dim * runs[0], want,
          (gsize) dim * runs[1], 1e-5, what);
      /* timestamps are untouched: the second run from its own PTS */
      fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, runs[0]), 10 * GST_SECOND);
      fail_unless_equals_uint64 (g_array_index (f.pts, GstClockTime, 1), 10 * GST_MSECOND);
      g_free (what);
      frames_clear (&f);
    }
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

/* Frames leave as soon as their window is complete: not center, the first min-cmn-window - 1
 * frames wait, then every frame leaves with the one that completes it. */
GST_START_TEST (test_cmn_holds_back_only_the_start)
{
  float in[2 * 40];
  GstHarness *h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, "cmn-window", 10,
      "min-cmn-window", 5, NULL);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (in); i++)
    in[i] = (float) (i % 7);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=100, channels=2, "
      "layout=interleaved");
  for (i = 0; i < 40; i++) {
    GstBuffer *buf = gst_buffer_new_memdup (in + 2 * i, 2 * sizeof (float));

    GST_BUFFER_PTS (buf) = i * 10 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_buffers_in_queue (h), i + 1 < 5 ? 0 : i + 1);
  }
  gst_harness_teardown (h);

  /* centred: frame t needs frames up to t + W - W / 2 - 1 (W - 1 for the first frames) */
  h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, "cmn-window", 10, "cmn-center", TRUE, NULL);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=100, channels=2, "
      "layout=interleaved");
  for (i = 0; i < 40; i++) {
    GstBuffer *buf = gst_buffer_new_memdup (in + 2 * i, 2 * sizeof (float));

    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_buffers_in_queue (h), i + 1 < 10 ? 0 : i + 1 - 4);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 40);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GstElement *
element_new_valist (const gchar * first_property, va_list ap)
{
  GstElement *element = g_object_new (GST_TYPE_RNN_FEATURES, NULL);

  if (first_property)
    g_object_set_valist (G_OBJECT (element), first_property, ap);
  return element;
}

/* One buffer, then the same samples in 1 to 107 sample pieces: the frames must be identical. */
static void
check_buffer_boundaries (const gint16 * samples, gint dim, const gchar * first_property, ...)
{
  GstHarness *h;
  Frames one, many;
  gsize pos = 0, k = 0;
  va_list ap;
  gint pass;

  for (pass = 0; pass < 2; pass++) {
    GstElement *element;

    va_start (ap, first_property);
    element = element_new_valist (first_property, ap);
    va_end (ap);
    h = gst_harness_new_with_element (element, "sink", "src");
    gst_object_unref (element);
    gst_harness_set_src_caps_str (h, S16_CAPS);
    if (pass == 0) {
      fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
    } else {
      while (pos < RATE) {
        gsize n = MIN ((k % 7) + 1 + (k % 3) * 50, RATE - pos);

        fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + pos, n,
                    pos == 0 ? 0 : GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
        pos += n;
        k++;
      }
    }
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    if (pass == 0)
      one = pull_frames (h, dim);
    else
      many = pull_frames (h, dim);
    gst_harness_teardown (h);
  }
  fail_unless (one.frames >= 98);
  assert_same_frames (&one, &many);
  frames_clear (&one);
  frames_clear (&many);
}

/* One big buffer == many tiny ones, for fbank and MFCC with CMN in every shape, and deltas. */
GST_START_TEST (test_cmn_buffer_boundaries_do_not_matter)
{
  gint16 samples[RATE];

  make_signal (samples, RATE, 21);
  check_buffer_boundaries (samples, 23, "cmn-window", 20, "min-cmn-window", 5, NULL);
  check_buffer_boundaries (samples, 26, "kind", GST_RNN_FEATURES_KIND_MFCC, "cmn-window", 600,
      "norm-vars", TRUE, "deltas", 1, NULL);
  check_buffer_boundaries (samples, 23, "cmn-window", 31, "cmn-center", TRUE, "norm-vars", TRUE,
      "snip-edges", FALSE, NULL);
}
GST_END_TEST;

GST_START_TEST (test_cmn_flush_gives_fresh_output)
{
  gint16 samples[RATE];
  GstHarness *h;
  Frames fresh, after;
  GstSegment seg;

  make_signal (samples, RATE, 22);
  fresh = run_once (samples, RATE, 26, "kind", GST_RNN_FEATURES_KIND_MFCC, "deltas", 1,
      "cmn-window", 30, "min-cmn-window", 10, NULL);
  h = harness_new ("kind", GST_RNN_FEATURES_KIND_MFCC, "deltas", 1, "cmn-window", 30,
      "min-cmn-window", 10, NULL);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  /* frames of another signal in the windows, then a flush: they must be forgotten */
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + 1234, 3333, 0)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  while (gst_harness_buffers_in_queue (h) > 0)
    gst_buffer_unref (gst_harness_pull (h));
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  after = pull_frames (h, 26);
  fail_unless_equals_int (after.frames, 98);
  fail_unless (after.first_discont);
  assert_same_frames (&fresh, &after);
  frames_clear (&fresh);
  frames_clear (&after);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Runs F32 audio (in [-1, 1]) scaled by gain through a fresh element, then EOS. */
static Frames
run_f32_gain (const gint16 * samples, gsize n, float gain, gint dim,
    const gchar * first_property, ...)
{
  GstElement *element = g_object_new (GST_TYPE_RNN_FEATURES, NULL);
  float *f32 = g_new (float, n);
  GstHarness *h;
  GstBuffer *buf;
  Frames f;
  va_list ap;
  gsize i;

  va_start (ap, first_property);
  if (first_property)
    g_object_set_valist (G_OBJECT (element), first_property, ap);
  va_end (ap);
  for (i = 0; i < n; i++)
    f32[i] = gain * samples[i] / 32768.0f;
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_src_caps_str (h, F32_CAPS);
  buf = gst_buffer_new_wrapped (f32, n * sizeof (float));
  GST_BUFFER_PTS (buf) = 0;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  f = pull_frames (h, dim);
  gst_harness_teardown (h);
  return f;
}

/* max |a - b| / max(|b|, 1): absolute near zero, where normalised features are, relative for
 * large values, as the conformance test measures */
static double
max_difference (const Frames * a, const Frames * b)
{
  double worst = 0.0;
  guint i;

  fail_unless_equals_int (a->values->len, b->values->len);
  for (i = 0; i < a->values->len; i++) {
    double x = g_array_index (a->values, float, i), y = g_array_index (b->values, float, i);

    worst = MAX (worst, fabs (x - y) / MAX (fabs (y), 1.0));
  }
  return worst;
}

/* What users want CMN for: a gain change of the input (another microphone, another distance)
 * shifts log-mel energies, C0 and the log energy by a constant; with CMN on, the output does not
 * change. Without CMN it does (by 2 ln 4 = 2.8 per log-mel bin, over 10 % of values of ~20),
 * so the check can fail. Errors: |a - b| / max(|b|, 1). */
GST_START_TEST (test_cmn_removes_gain_change)
{
  gint16 samples[RATE];
  Frames a, b;
  double d;

  make_signal (samples, RATE, 23);
  a = run_f32_gain (samples, RATE, 1.0f, 23, NULL);
  b = run_f32_gain (samples, RATE, 0.25f, 23, NULL);
  d = max_difference (&a, &b);
  fail_unless (d > 0.1, "without CMN the gain changes log-mel by only %g", d);
  frames_clear (&a);
  frames_clear (&b);

  /* utterance CMN (Kaldi's defaults, a run shorter than min-cmn-window) */
  a = run_f32_gain (samples, RATE, 1.0f, 23, "cmn-window", 600, NULL);
  b = run_f32_gain (samples, RATE, 0.25f, 23, "cmn-window", 600, NULL);
  d = max_difference (&a, &b);
  g_print ("gain x 0.25, fbank, utterance CMN: output changes by %.3g\n", d);
  fail_unless (d < 1e-4, "fbank with utterance CMN changes by %g with the gain", d);
  frames_clear (&a);
  frames_clear (&b);

  /* sliding MFCC with the log energy and deltas */
  a = run_f32_gain (samples, RATE, 1.0f, 39, "kind", GST_RNN_FEATURES_KIND_MFCC, "use-energy",
      TRUE, "deltas", 2, "cmn-window", 20, "min-cmn-window", 5, NULL);
  b = run_f32_gain (samples, RATE, 3.0f, 39, "kind", GST_RNN_FEATURES_KIND_MFCC, "use-energy",
      TRUE, "deltas", 2, "cmn-window", 20, "min-cmn-window", 5, NULL);
  fail_unless_equals_int (a.frames, 98);
  d = max_difference (&a, &b);
  g_print ("gain x 3, MFCC + energy, sliding CMN, deltas: output changes by %.3g\n", d);
  fail_unless (d < 1e-4, "MFCC with sliding CMN changes by %g with the gain", d);
  frames_clear (&a);
  frames_clear (&b);

  /* the same with variance normalisation, which divides by the window's deviation. On the
   * stationary test signal some cepstra barely vary, which magnifies the float32 rounding of the
   * features (e.g. C0 ~ 100) to ~1e-4; speech varies, so give the signal a syllable-like
   * envelope (3 Hz, 20 dB deep) */
  {
    guint i;

    for (i = 0; i < RATE; i++)
      samples[i] = (gint16) lrint (samples[i] * (0.1 + 0.9 * fabs (sin (G_PI * 3.0 * i / RATE))));
  }
  a = run_f32_gain (samples, RATE, 1.0f, 39, "kind", GST_RNN_FEATURES_KIND_MFCC, "use-energy",
      TRUE, "deltas", 2, "cmn-window", 20, "min-cmn-window", 5, "norm-vars", TRUE, NULL);
  b = run_f32_gain (samples, RATE, 3.0f, 39, "kind", GST_RNN_FEATURES_KIND_MFCC, "use-energy",
      TRUE, "deltas", 2, "cmn-window", 20, "min-cmn-window", 5, "norm-vars", TRUE, NULL);
  d = max_difference (&a, &b);
  g_print ("gain x 3, MFCC + energy, sliding CMVN, deltas: output changes by %.3g\n", d);
  fail_unless (d < 1e-4, "MFCC with sliding CMVN changes by %g with the gain", d);
  frames_clear (&a);
  frames_clear (&b);
}
GST_END_TEST;

static GstClockTime
latency_of (const gchar * first_property, ...)
{
  GstElement *element = g_object_new (GST_TYPE_RNN_FEATURES, NULL);
  gint16 samples[400];
  GstHarness *h;
  GstQuery *q;
  GstClockTime min, max;
  gboolean live;
  va_list ap;

  va_start (ap, first_property);
  g_object_set_valist (G_OBJECT (element), first_property, ap);
  va_end (ap);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  make_signal (samples, 400, 24);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, 400, 0)), GST_FLOW_OK);
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  gst_query_unref (q);
  gst_harness_teardown (h);
  return min;
}

GST_START_TEST (test_cmn_latency)
{
  /* 25 ms window + min-cmn-window - 1 = 99 frames of 10 ms */
  fail_unless_equals_uint64 (latency_of ("cmn-window", 600, NULL), 1015 * GST_MSECOND);
  /* + 2 frames for the deltas */
  fail_unless_equals_uint64 (latency_of ("cmn-window", 600, "min-cmn-window", 5, "deltas", 1,
          NULL), 85 * GST_MSECOND);
  /* centred: the first frame waits for cmn-window - 1 more */
  fail_unless_equals_uint64 (latency_of ("cmn-window", 31, "cmn-center", TRUE, NULL),
      325 * GST_MSECOND);
  /* off: unchanged */
  fail_unless_equals_uint64 (latency_of ("cmn-window", 0, "cmn-center", TRUE, NULL),
      25 * GST_MSECOND);
}
GST_END_TEST;

/* cmn-window from a model's metadata; an explicit property contradicting it fails the start. */
GST_START_TEST (test_cmn_model_settings)
{
  rnn_model *m = rnn_model_new (23);
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("rnnfeatures-cmn-XXXXXX.rnn", &path, NULL);
  char err[256];
  GstElement *e;
  GstBus *bus;
  GstMessage *msg;
  GError *error = NULL;
  gint w;
  gboolean nv;

  fail_unless (fd >= 0);
  close (fd);
  fail_unless_equals_int (rnn_model_add_layer (m, RNN_CELL_GRU, 4, 0), 0);
  fail_unless_equals_int (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST), 0);
  fail_unless_equals_int (rnn_model_finalize (m), 0);
  rnn_model_init_weights (m, 1);
  rnn_model_set_meta_int (m, "features.cmn-window", 300);
  rnn_model_set_meta_int (m, "features.norm-vars", 1);
  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "%s", err);
  rnn_model_unref (m);

  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  g_object_get (e, "cmn-window", &w, "norm-vars", &nv, NULL);
  fail_unless_equals_int (w, 300);
  fail_unless (nv);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, "cmn-window", 600, NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  fail_unless (strstr (error->message, "cmn-window=600 contradicts the model (300)") != NULL,
      "unexpected message: %s", error->message);
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

/* The rate of the sink's caps query answer, 0 when it is not one fixed rate. */
static gint
queried_rate (GstPad * sinkpad)
{
  GstCaps *caps = gst_pad_query_caps (sinkpad, NULL);
  const GValue *v;
  gint rate = 0;
  guint i;

  fail_unless (!gst_caps_is_empty (caps));
  for (i = 0; i < gst_caps_get_size (caps); i++) {
    v = gst_structure_get_value (gst_caps_get_structure (caps, i), "rate");
    fail_unless (v != NULL);
    if (!G_VALUE_HOLDS_INT (v) || (rate != 0 && g_value_get_int (v) != rate)) {
      rate = 0;
      break;
    }
    rate = g_value_get_int (v);
  }
  gst_caps_unref (caps);
  return rate;
}

static gboolean
accepts (GstPad * sinkpad, const gchar * caps_str)
{
  GstCaps *caps = gst_caps_from_string (caps_str);
  gboolean ok = gst_pad_query_accept_caps (sinkpad, caps);

  gst_caps_unref (caps);
  return ok;
}

static gint
event_rate (GstHarness * h)
{
  GstEvent *ev = gst_pad_get_sticky_event (h->sinkpad, GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, 0);
  gint rate = -1;

  fail_unless (ev != NULL, "no rnn-feature-settings event");
  fail_unless (gst_structure_get_int (gst_event_get_structure (ev), "sample-frequency", &rate));
  gst_event_unref (ev);
  return rate;
}

#define S16_16K_CAPS "audio/x-raw, format=S16LE, rate=16000, channels=1, layout=interleaved"

/* sample-frequency restricts the sink to one rate (so an audioresample upstream converts); 0
 * accepts any rate; the settings event carries the rate actually negotiated either way. */
GST_START_TEST (test_sample_frequency_restricts_caps)
{
  GstHarness *h = harness_new ("sample-frequency", RATE, NULL);
  GstPad *sinkpad = gst_element_get_static_pad (h->element, "sink");
  gint16 samples[RATE];
  gint v;
  Frames f;

  make_signal (samples, RATE, 21);
  fail_unless_equals_int (queried_rate (sinkpad), RATE);
  fail_unless (accepts (sinkpad, S16_CAPS));
  fail_unless (accepts (sinkpad, F32_CAPS));
  fail_unless (!accepts (sinkpad, S16_16K_CAPS));
  fail_unless (!accepts (sinkpad, "audio/x-raw, format=S16LE, rate=44100, channels=2, "
          "layout=interleaved"));
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless_equals_int (event_rate (h), RATE);
  g_object_get (h->element, "sample-frequency", &v, NULL);
  fail_unless_equals_int (v, RATE);
  f = pull_frames (h, 23);
  fail_unless_equals_int (f.frames, 98);
  frames_clear (&f);
  gst_object_unref (sinkpad);
  gst_harness_teardown (h);

  /* the default, 0: any rate, and the event says which one the frames were computed at */
  h = harness_new (NULL);
  sinkpad = gst_element_get_static_pad (h->element, "sink");
  fail_unless_equals_int (queried_rate (sinkpad), 0);
  fail_unless (accepts (sinkpad, S16_CAPS));
  fail_unless (accepts (sinkpad, S16_16K_CAPS));
  gst_harness_set_src_caps_str (h, S16_16K_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless_equals_int (event_rate (h), 16000);
  g_object_get (h->element, "sample-frequency", &v, NULL);
  fail_unless_equals_int (v, 0);
  gst_object_unref (sinkpad);
  gst_harness_teardown (h);

  /* kind=raw: a sensor's rate */
  h = harness_new ("kind", GST_RNN_FEATURES_KIND_RAW, "sample-frequency", 10, NULL);
  sinkpad = gst_element_get_static_pad (h->element, "sink");
  fail_unless_equals_int (queried_rate (sinkpad), 10);
  fail_unless (accepts (sinkpad, "audio/x-raw, format=F32LE, rate=10, channels=6, "
          "layout=interleaved"));
  fail_unless (!accepts (sinkpad, "audio/x-raw, format=F32LE, rate=20, channels=6, "
          "layout=interleaved"));
  {
    float six[6] = { 1, 2, 3, 4, 5, 6 };
    GstBuffer *buf = gst_buffer_new_memdup (six, sizeof (six));

    gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, rate=10, channels=3, "
        "layout=interleaved");
    GST_BUFFER_PTS (buf) = 0;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    fail_unless_equals_int (event_rate (h), 10);
    f = pull_frames (h, 3);
    fail_unless_equals_int (f.frames, 2);
    frames_clear (&f);
  }
  gst_object_unref (sinkpad);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A model that stores features.sample-frequency only accepts that rate; a contradicting property
 * fails the start; a model without the key (older) accepts any rate. */
GST_START_TEST (test_model_sample_frequency)
{
  gchar *path = write_model (13), *path8 = NULL;
  rnn_model *m;
  gint fd = g_file_open_tmp ("rnnfeatures-rate-XXXXXX.rnn", &path8, NULL);
  char err[256];
  GstElement *e;
  GstPad *sinkpad;
  GstBus *bus;
  GstMessage *msg;
  GError *error = NULL;
  gint v;

  /* the same model, trained at 8 kHz */
  fail_unless (fd >= 0);
  close (fd);
  m = rnn_model_load (path, err, sizeof (err));
  fail_unless (m != NULL, "%s", err);
  rnn_model_set_meta_int (m, "features.sample-frequency", RATE);
  fail_unless (rnn_model_save (m, path8, err, sizeof (err)) == 0, "%s", err);
  rnn_model_unref (m);

  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path8, NULL);
  sinkpad = gst_element_get_static_pad (e, "sink");
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  g_object_get (e, "sample-frequency", &v, NULL);
  fail_unless_equals_int (v, RATE);
  fail_unless_equals_int (queried_rate (sinkpad), RATE);
  fail_unless (accepts (sinkpad, S16_CAPS));
  fail_unless (!accepts (sinkpad, S16_16K_CAPS));
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (sinkpad);
  gst_object_unref (e);

  /* frames at the model's rate; the event carries it, so a model trained on them keeps it */
  {
    GstHarness *h = harness_new ("model", path8, NULL);
    gint16 samples[RATE];
    Frames f;

    make_signal (samples, RATE, 22);
    gst_harness_set_src_caps_str (h, S16_CAPS);
    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
    fail_unless_equals_int (event_rate (h), RATE);
    f = pull_frames (h, 13);
    fail_unless_equals_int (f.frames, 98);
    frames_clear (&f);
    gst_harness_teardown (h);
  }

  /* an explicit other rate contradicts the model: the start fails naming both */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path8, "sample-frequency", 16000, NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  fail_unless (strstr (error->message, "sample-frequency=16000 contradicts the model (8000)")
      != NULL, "unexpected message: %s", error->message);
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (e);

  /* the same rate set explicitly agrees with the model */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path8, "sample-frequency", RATE, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  /* a model without the key accepts any rate, or the one the property names */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, NULL);
  sinkpad = gst_element_get_static_pad (e, "sink");
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (queried_rate (sinkpad), 0);
  fail_unless (accepts (sinkpad, S16_16K_CAPS));
  gst_element_set_state (e, GST_STATE_NULL);
  g_object_set (e, "sample-frequency", 16000, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (queried_rate (sinkpad), 16000);
  fail_unless (!accepts (sinkpad, S16_CAPS));
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (sinkpad);
  gst_object_unref (e);

  gst_object_unref (bus);
  g_unlink (path);
  g_unlink (path8);
  g_free (path);
  g_free (path8);
}
GST_END_TEST;

/* ---------------------------------------------------------------------------------------------
 * VTLN (vtln-warp, vtln-low, vtln-high). The numbers against torchaudio's vtln_warp are checked by
 * the conformance test; here: a warp reaches exactly the frames it was meant for (a run's factor
 * in its rnn-reset event, a property changed while PLAYING from the next run on), what the
 * settings event announces, bad values, and a model's factor.
 * ------------------------------------------------------------------------------------------- */
#define VTLN_FRAMES 98          /* RATE samples in 25 ms windows every 10 ms */

static GstEvent *
reset_event (gdouble warp)
{
  GstStructure *s = gst_structure_new_empty (GST_RNN_RESET_EVENT_NAME);

  if (warp > 0.0)
    gst_structure_set (s, "vtln-warp", G_TYPE_DOUBLE, warp, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

/* Frames [first, first + n) of all equal those of one (a whole run of n frames). */
static gboolean
run_equals (const Frames * all, guint first, const Frames * one)
{
  gsize dim = (gsize) one->dim;

  return all->frames >= first + one->frames
      && memcmp ((const float *) (gpointer) all->values->data + first * dim,
      one->values->data, one->frames * dim * sizeof (float)) == 0;
}

static gdouble
announced_warp (GstHarness * h)
{
  GstEvent *ev = gst_pad_get_sticky_event (h->sinkpad, GST_EVENT_CUSTOM_DOWNSTREAM_STICKY, 0);
  gdouble warp = -1.0;

  fail_unless (ev != NULL, "no rnn-feature-settings event");
  fail_unless (gst_structure_get_double (gst_event_get_structure (ev), "vtln-warp", &warp));
  gst_event_unref (ev);
  return warp;
}

GST_START_TEST (test_vtln_reset_event_warps_next_run_only)
{
  static gint16 samples[RATE];
  Frames plain, warped, all;
  GstHarness *h;
  gint kind;

  make_signal (samples, RATE, 21);
  for (kind = GST_RNN_FEATURES_KIND_FBANK; kind <= GST_RNN_FEATURES_KIND_MFCC; kind++) {
    gint dim = kind == GST_RNN_FEATURES_KIND_MFCC ? 13 : 23;
    /* mfcc without snip-edges: the last frames of a run are computed when the rnn-reset event
     * finishes it, so they must still get the run's own warp, not the next run's */
    gboolean snip = kind == GST_RNN_FEATURES_KIND_FBANK;
    guint n = snip ? VTLN_FRAMES : RATE / 80;

    plain = run_once (samples, RATE, dim, "kind", kind, "snip-edges", snip, NULL);
    warped = run_once (samples, RATE, dim, "kind", kind, "snip-edges", snip, "vtln-warp", 1.1,
        NULL);
    fail_unless_equals_int (plain.frames, n);
    fail_unless_equals_int (warped.frames, n);
    fail_unless (memcmp (plain.values->data, warped.values->data,
            plain.values->len * sizeof (float)) != 0, "vtln-warp=1.1 changes nothing");

    /* plain run, rnn-reset vtln-warp=1.1, warped run, rnn-reset, plain run again */
    h = harness_new ("kind", kind, "snip-edges", snip, NULL);
    gst_harness_set_src_caps_str (h, S16_CAPS);
    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
    fail_unless (gst_harness_push_event (h, reset_event (1.1)));
    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, GST_SECOND)),
        GST_FLOW_OK);
    /* a run's factor is not a setting of the stream: not announced */
    fail_unless_equals_float (announced_warp (h), 1.0);
    fail_unless (gst_harness_push_event (h, reset_event (0.0)));
    fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 2 * GST_SECOND)),
        GST_FLOW_OK);
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    all = pull_frames (h, dim);
    fail_unless_equals_int (all.frames, 3 * n);
    fail_unless (run_equals (&all, 0, &plain), "kind %d: the run before the event is warped", kind);
    fail_unless (run_equals (&all, n, &warped),
        "kind %d: the run after rnn-reset vtln-warp=1.1 is not warped by 1.1", kind);
    fail_unless (run_equals (&all, 2 * n, &plain), "kind %d: the warp outlives its run", kind);
    frames_clear (&all);
    frames_clear (&plain);
    frames_clear (&warped);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_vtln_property_while_playing)
{
  static gint16 samples[RATE];
  Frames plain, warped, all;
  GstHarness *h = harness_new (NULL);
  gdouble warp;

  make_signal (samples, RATE, 22);
  plain = run_once (samples, RATE, 23, NULL);
  warped = run_once (samples, RATE, 23, "vtln-warp", 0.9, NULL);

  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE / 2, 0)), GST_FLOW_OK);
  /* set in the middle of a run: that run keeps its warp to its end */
  g_object_set (h->element, "vtln-warp", 0.9, NULL);
  g_object_get (h->element, "vtln-warp", &warp, NULL);
  fail_unless_equals_float (warp, 0.9);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples + RATE / 2, RATE / 2,
              GST_SECOND / 2)), GST_FLOW_OK);
  fail_unless_equals_float (announced_warp (h), 1.0);
  /* from the next rnn-reset on, the new factor, announced to downstream (a trained model's) */
  fail_unless (gst_harness_push_event (h, reset_event (0.0)));
  fail_unless_equals_float (announced_warp (h), 0.9);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, GST_SECOND)),
      GST_FLOW_OK);
  /* a STREAM_START applies a change too */
  g_object_set (h->element, "vtln-warp", 1.0, NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("second")));
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 2 * GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_float (announced_warp (h), 1.0);

  all = pull_frames (h, 23);
  fail_unless_equals_int (all.frames, 3 * VTLN_FRAMES);
  fail_unless (run_equals (&all, 0, &plain), "a change while PLAYING warped the current run");
  fail_unless (run_equals (&all, VTLN_FRAMES, &warped), "the change did not apply at rnn-reset");
  fail_unless (run_equals (&all, 2 * VTLN_FRAMES, &plain),
      "the change did not apply at STREAM_START");
  frames_clear (&all);
  frames_clear (&plain);
  frames_clear (&warped);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The first error message posted on bus must contain both needles; later ones (a failed caps
 * event is sent again with the next buffer) are dropped. */
static void
expect_error (GstBus * bus, const gchar * needle1, const gchar * needle2)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;

  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, needle1) != NULL && strstr (err->message, needle2) != NULL,
      "unexpected message: %s", err->message);
  g_clear_error (&err);
  gst_message_unref (msg);
  gst_bus_set_flushing (bus, TRUE);
  gst_bus_set_flushing (bus, FALSE);
}

GST_START_TEST (test_vtln_bad_values)
{
  gint16 samples[RATE];
  GstBus *bus = gst_bus_new ();
  GstHarness *h;

  make_signal (samples, RATE, 23);

  /* vtln-low at or below low-freq is fine without a warp (Kaldi checks it only with one)... */
  h = harness_new ("low-freq", 150.0, NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);
  /* ... but a warp then fails, naming the values, and no more frames are computed */
  fail_unless (!gst_harness_push_event (h, reset_event (1.1)));
  expect_error (bus, "vtln-low=100", "low-freq=150");
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, GST_SECOND)),
      GST_FLOW_ERROR);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);

  /* the same at the start, with the property */
  h = harness_new ("vtln-warp", 0.9, "vtln-high", 3900.0, "high-freq", 3800.0, NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)),
      GST_FLOW_NOT_NEGOTIATED);
  expect_error (bus, "vtln-high=3900", "high-freq=3800");
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);

  /* an rnn-reset whose vtln-warp is out of range or not a double */
  h = harness_new (NULL);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, S16_CAPS);
  fail_unless_equals_int (gst_harness_push (h, s16_buffer (samples, RATE, 0)), GST_FLOW_OK);
  fail_unless (!gst_harness_push_event (h, reset_event (3.0)));
  expect_error (bus, "vtln-warp must be a double in [0.5, 2]", "3");
  fail_unless (!gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
              gst_structure_new (GST_RNN_RESET_EVENT_NAME, "vtln-warp", G_TYPE_STRING, "1.1",
                  NULL))));
  expect_error (bus, "vtln-warp must be a double", "1.1");
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
  gst_object_unref (bus);
}
GST_END_TEST;

/* An fbank model (23 inputs) whose metadata holds features.vtln-warp. */
static gchar *
write_vtln_model (gdouble warp)
{
  rnn_model *m = rnn_model_new (23);
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("rnnfeatures-vtln-XXXXXX.rnn", &path, NULL);
  char err[256];

  fail_unless (fd >= 0);
  close (fd);
  fail_unless (m != NULL);
  fail_unless_equals_int (rnn_model_add_layer (m, RNN_CELL_GRU, 4, 0), 0);
  fail_unless_equals_int (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST), 0);
  fail_unless_equals_int (rnn_model_finalize (m), 0);
  rnn_model_init_weights (m, 1);
  rnn_model_set_meta_string (m, "features.kind", "fbank");
  rnn_model_set_meta_float (m, "features.vtln-warp", warp);
  fail_unless (rnn_model_save (m, path, err, sizeof (err)) == 0, "%s", err);
  rnn_model_unref (m);
  return path;
}

GST_START_TEST (test_vtln_model)
{
  gchar *path = write_vtln_model (0.9);
  static gint16 samples[RATE];
  GstElement *e;
  gdouble warp;
  Frames got, warped;

  /* the model's factor applies... */
  make_signal (samples, RATE, 24);
  warped = run_once (samples, RATE, 23, "vtln-warp", 0.9, NULL);
  got = run_once (samples, RATE, 23, "model", path, NULL);
  assert_same_frames (&got, &warped);
  frames_clear (&got);
  frames_clear (&warped);

  /* ... unless one is set explicitly: the speaker's, not the model's (no contradiction) */
  e = g_object_new (GST_TYPE_RNN_FEATURES, "model", path, "vtln-warp", 1.1, NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_SUCCESS);
  g_object_get (e, "vtln-warp", &warp, NULL);
  fail_unless_equals_float (warp, 1.1);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
  warped = run_once (samples, RATE, 23, "vtln-warp", 1.1, NULL);
  got = run_once (samples, RATE, 23, "model", path, "vtln-warp", 1.1, NULL);
  assert_same_frames (&got, &warped);
  frames_clear (&got);
  frames_clear (&warped);

  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

static Suite *
rnnfeatures_suite (void)
{
  Suite *s = suite_create ("rnnfeatures");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_frame_count_and_timestamps);
  tcase_add_test (tc, test_timestamps_follow_input);
  tcase_add_test (tc, test_flush_gives_fresh_output);
  tcase_add_test (tc, test_buffer_boundaries_do_not_matter);
  tcase_add_test (tc, test_s16_and_f32_agree);
  tcase_add_test (tc, test_nan_input_warns_and_stays_finite);
  tcase_add_test (tc, test_empty_stream);
  tcase_add_test (tc, test_rate_change_renegotiates);
  tcase_add_test (tc, test_caps_are_nnstreamer_static);
  tcase_add_test (tc, test_settings_event_and_latency);
  tcase_add_test (tc, test_model_settings);
  tcase_add_test (tc, test_bad_settings_fail_negotiation);
  tcase_add_test (tc, test_dither_is_seeded);
  tcase_add_test (tc, test_channels_are_averaged);
  tcase_add_test (tc, test_raw_deltas);
  tcase_add_test (tc, test_reset_event_finishes_run);
  tcase_add_test (tc, test_cmn_raw_matches_definition);
  tcase_add_test (tc, test_cmn_holds_back_only_the_start);
  tcase_add_test (tc, test_cmn_buffer_boundaries_do_not_matter);
  tcase_add_test (tc, test_cmn_flush_gives_fresh_output);
  tcase_add_test (tc, test_cmn_removes_gain_change);
  tcase_add_test (tc, test_cmn_latency);
  tcase_add_test (tc, test_cmn_model_settings);
  tcase_add_test (tc, test_sample_frequency_restricts_caps);
  tcase_add_test (tc, test_model_sample_frequency);
  tcase_add_test (tc, test_vtln_reset_event_warps_next_run_only);
  tcase_add_test (tc, test_vtln_property_while_playing);
  tcase_add_test (tc, test_vtln_bad_values);
  tcase_add_test (tc, test_vtln_model);
  return s;
}

GST_CHECK_MAIN (rnnfeatures);
