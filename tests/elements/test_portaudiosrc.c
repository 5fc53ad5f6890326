/* gst-rnn: portaudiosrc and portaudiodeviceprovider tests, without sound hardware.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ALSA's `file` plugin stands in for microphones: main() writes an ALSA configuration (through
 * ALSA_CONFIG_PATH, which replaces the system one, so it includes alsa.conf first) whose PCMs
 * capture the bytes of files this test writes:
 *   default        in.raw   (known pseudo-random S16LE samples)
 *   rnn_test_mic   in2.raw  (another known signal)
 *   rnn_gone       gone.raw (deleted by one test after PortAudio listed it: cannot be opened)
 *   rnn_stall      a FIFO that never delivers a byte (a device that stalls inside the host API)
 *   rnn_float_mic  in.f32   (in.raw's samples as float32, x / 32768; no plug: read as FLOAT_LE)
 * The `null` slave has no clock, so these devices deliver as fast as they are read. That is exact
 * as long as ALSA moves the file's bytes straight through; a plug that converts (S16_LE to float)
 * keeps a buffer of its own, and past that buffer it silently drops frames read too fast (measured:
 * F32LE at 16 kHz from the S16_LE file goes wrong after 1280 frames). So F32LE is checked exactly
 * on rnn_float_mic, and through the plug's conversion only within its first buffer.
 */
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <portaudio.h>

#define IN_SAMPLES 48000        /* 6 s at 8 kHz mono */

static gchar *fixture_dir;
static gint16 in_samples[IN_SAMPLES];
static gint16 in2_samples[IN_SAMPLES];
static gfloat in_floats[IN_SAMPLES];

static gchar *
fixture_path (const gchar * name)
{
  return g_build_filename (fixture_dir, name, NULL);
}

static void
make_signal (gint16 * samples, guint n, guint32 seed)
{
  guint i;

  for (i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    samples[i] = (gint16) (seed >> 16);
  }
}

static gboolean
write_fixtures (void)
{
  gchar *conf_path, *conf, *in, *in2, *gone, *fifo, *inf;
  guint i;
  gboolean ok;

  fixture_dir = g_dir_make_tmp ("rnn-portaudio-XXXXXX", NULL);
  if (!fixture_dir)
    return FALSE;
  in = fixture_path ("in.raw");
  in2 = fixture_path ("in2.raw");
  inf = fixture_path ("in.f32");
  gone = fixture_path ("gone.raw");
  fifo = fixture_path ("stall.fifo");
  conf_path = fixture_path ("asoundrc");

  make_signal (in_samples, IN_SAMPLES, 1);
  make_signal (in2_samples, IN_SAMPLES, 2);
  for (i = 0; i < IN_SAMPLES; i++)
    in_floats[i] = GFLOAT_TO_LE (in_samples[i] / 32768.0f);
  /* plug in front of each file PCM: the file holds S16_LE, and any other format asked for (F32)
   * is converted by ALSA, as a microphone whose hardware format is S16_LE would be. */
#define FILE_PCM(name, file) "pcm." name " { type plug; slave { format S16_LE; pcm { type file; " \
    "slave.pcm \"null\"; file \"/dev/null\"; infile \"" file "\"; format \"raw\" } } }\n"
  conf = g_strdup_printf ("</usr/share/alsa/alsa.conf>\n"
      FILE_PCM ("!default", "%s") FILE_PCM ("rnn_test_mic", "%s") FILE_PCM ("rnn_gone", "%s")
      FILE_PCM ("rnn_stall", "%s")
      "pcm.rnn_float_mic { type file; slave.pcm \"null\"; file \"/dev/null\"; infile \"%s\"; "
      "format \"raw\" }\n", in, in2, gone, fifo, inf);
#undef FILE_PCM

  ok = g_file_set_contents (in, (const gchar *) in_samples, sizeof (in_samples), NULL)
      && g_file_set_contents (in2, (const gchar *) in2_samples, sizeof (in2_samples), NULL)
      && g_file_set_contents (inf, (const gchar *) in_floats, sizeof (in_floats), NULL)
      && g_file_set_contents (gone, "", 0, NULL)
      && mkfifo (fifo, 0600) == 0 && g_file_set_contents (conf_path, conf, -1, NULL);
  /* Held open for writing (and never written) by this process and every test it forks, so that
   * opening the FIFO for reading never blocks while reads from it wait forever. */
  if (ok)
    ok = open (fifo, O_RDWR) >= 0;
  g_setenv ("ALSA_CONFIG_PATH", conf_path, TRUE);
  /* Nothing else: no JACK server to start, no PulseAudio. */
  g_setenv ("JACK_NO_START_SERVER", "1", TRUE);

  g_free (conf);
  g_free (conf_path);
  g_free (in);
  g_free (in2);
  g_free (inf);
  g_free (gone);
  g_free (fifo);
  return ok;
}

static void
remove_fixtures (void)
{
  const gchar *names[] = { "in.raw", "in2.raw", "in.f32", "gone.raw", "stall.fifo", "asoundrc" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    gchar *p = fixture_path (names[i]);
    g_unlink (p);
    g_free (p);
  }
  g_rmdir (fixture_dir);
  g_free (fixture_dir);
}

/* What a fakesink saw. */
typedef struct
{
  GMutex lock;
  GCond cond;
  GByteArray *bytes;
  GArray *pts, *duration, *offset;
  guint discont_count;
  GArray *discont_at;           /* buffer indices flagged DISCONT */
  guint stall_at;               /* the handoff of this buffer index sleeps stall_us (0: never) */
  gulong stall_us;
} Capture;

static void
capture_init (Capture * c)
{
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  c->bytes = g_byte_array_new ();
  c->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  c->duration = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  c->offset = g_array_new (FALSE, FALSE, sizeof (guint64));
  c->discont_at = g_array_new (FALSE, FALSE, sizeof (guint));
  c->discont_count = 0;
  c->stall_at = 0;
  c->stall_us = 0;
}

static void
capture_clear (Capture * c)
{
  g_byte_array_unref (c->bytes);
  g_array_unref (c->pts);
  g_array_unref (c->duration);
  g_array_unref (c->offset);
  g_array_unref (c->discont_at);
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
}

static void
capture_reset (Capture * c)
{
  g_mutex_lock (&c->lock);
  g_byte_array_set_size (c->bytes, 0);
  g_array_set_size (c->pts, 0);
  g_array_set_size (c->duration, 0);
  g_array_set_size (c->offset, 0);
  g_array_set_size (c->discont_at, 0);
  c->discont_count = 0;
  g_mutex_unlock (&c->lock);
}

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer user_data)
{
  Capture *c = user_data;
  GstMapInfo map;
  GstClockTime pts = GST_BUFFER_PTS (buf), dur = GST_BUFFER_DURATION (buf);
  guint64 off = GST_BUFFER_OFFSET (buf);

  gst_buffer_map (buf, &map, GST_MAP_READ);
  g_mutex_lock (&c->lock);
  g_byte_array_append (c->bytes, map.data, map.size);
  g_array_append_val (c->pts, pts);
  g_array_append_val (c->duration, dur);
  g_array_append_val (c->offset, off);
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT)) {
    guint index = c->pts->len - 1;
    c->discont_count++;
    g_array_append_val (c->discont_at, index);
  }
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
  gst_buffer_unmap (buf, &map);
  /* A downstream that stops taking data for a while. */
  if (c->stall_at > 0 && c->pts->len == c->stall_at + 1)
    g_usleep (c->stall_us);
}

/* Parses "SRC ! CAPS ! fakesink name=sink" wiring the sink to @c. */
static GstElement *
pipeline_new (const gchar * src, const gchar * caps, Capture * c)
{
  gchar *desc = g_strdup_printf ("%s ! %s ! fakesink name=sink signal-handoffs=true sync=false",
      src, caps);
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  GstElement *sink;

  fail_unless (pipeline != NULL, "%s: %s", desc, err ? err->message : "?");
  g_free (desc);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), c);
  gst_object_unref (sink);
  return pipeline;
}

/* Plays until EOS or error (or @timeout_s), then goes to NULL. Returns the message (or NULL). */
static GstMessage *
run_to_end (GstElement * pipeline, guint timeout_s)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, timeout_s * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  return msg;
}

static gchar *
error_text (GstMessage * msg)
{
  GError *err = NULL;
  gchar *dbg = NULL, *text;

  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR, "no error message");
  gst_message_parse_error (msg, &err, &dbg);
  text = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
  g_error_free (err);
  g_free (dbg);
  return text;
}

static void
assert_eos (GstMessage * msg)
{
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gchar *text = error_text (msg);
    fail ("error instead of EOS: %s", text);
    g_free (text);
  }
  fail_unless (msg != NULL, "neither EOS nor error before the timeout");
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
}

/* Sample-count timestamps: contiguous, buffer k at PTS(0) + k * duration, offsets in samples. */
static void
assert_timestamps (Capture * c, guint frames, gint rate)
{
  guint k;
  GstClockTime pts0 = g_array_index (c->pts, GstClockTime, 0);

  fail_unless (GST_CLOCK_TIME_IS_VALID (pts0));
  for (k = 0; k < c->pts->len; k++) {
    GstClockTime expected = pts0 + gst_util_uint64_scale_int ((guint64) k * frames, GST_SECOND,
        rate);
    GstClockTime expected_end = pts0 + gst_util_uint64_scale_int ((guint64) (k + 1) * frames,
        GST_SECOND, rate);
    fail_unless_equals_uint64 (g_array_index (c->pts, GstClockTime, k), expected);
    fail_unless_equals_uint64 (g_array_index (c->duration, GstClockTime, k),
        expected_end - expected);
    fail_unless_equals_uint64 (g_array_index (c->offset, guint64, k), (guint64) k * frames);
  }
}

GST_START_TEST (test_capture_exact_s16)
{
  Capture c;
  GstElement *pipeline;

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc num-buffers=20 latency-time=20000",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
  assert_eos (run_to_end (pipeline, 10));

  /* 20 buffers of 20 ms at 8 kHz: the first 3200 samples of in.raw, byte for byte. */
  fail_unless_equals_int (c.pts->len, 20);
  fail_unless_equals_int (c.bytes->len, 20 * 160 * 2);
  fail_unless (memcmp (c.bytes->data, in_samples, c.bytes->len) == 0,
      "captured samples differ from in.raw");
  assert_timestamps (&c, 160, 8000);
  fail_unless_equals_int (c.discont_count, 1);

  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_capture_f32_and_stereo)
{
  Capture c;
  GstElement *pipeline;
  const gfloat *f;
  guint i;

  capture_init (&c);
  /* F32LE straight from a float device: the file's floats, exactly. */
  pipeline = pipeline_new ("portaudiosrc device-name=rnn_float_mic num-buffers=10 "
      "latency-time=10000", "audio/x-raw,format=F32LE,rate=16000,channels=1", &c);
  assert_eos (run_to_end (pipeline, 10));
  fail_unless_equals_int (c.bytes->len, 10 * 160 * 4);
  fail_unless (memcmp (c.bytes->data, in_floats, c.bytes->len) == 0,
      "F32LE samples differ from in.f32");
  assert_timestamps (&c, 160, 16000);
  gst_object_unref (pipeline);

  /* F32LE from the S16_LE device, converted by ALSA as x / 32768, exactly (first buffer only:
   * see the top of this file). */
  capture_reset (&c);
  pipeline = pipeline_new ("portaudiosrc num-buffers=2 latency-time=10000",
      "audio/x-raw,format=F32LE,rate=16000,channels=1", &c);
  assert_eos (run_to_end (pipeline, 10));
  fail_unless_equals_int (c.bytes->len, 2 * 160 * 4);
  f = (const gfloat *) c.bytes->data;
  for (i = 0; i < 2 * 160; i++)
    fail_unless (GFLOAT_FROM_LE (f[i]) == in_samples[i] / 32768.0f, "sample %u: %g vs %g", i,
        GFLOAT_FROM_LE (f[i]), in_samples[i] / 32768.0f);
  gst_object_unref (pipeline);

  /* Two channels: the same bytes, read as interleaved frames. */
  capture_reset (&c);
  pipeline = pipeline_new ("portaudiosrc num-buffers=5 latency-time=10000",
      "audio/x-raw,format=S16LE,rate=48000,channels=2", &c);
  assert_eos (run_to_end (pipeline, 10));
  fail_unless_equals_int (c.bytes->len, 5 * 480 * 4);
  fail_unless (memcmp (c.bytes->data, in_samples, c.bytes->len) == 0);
  assert_timestamps (&c, 480, 48000);
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_device_name_selects_device)
{
  Capture c;
  GstElement *pipeline;

  capture_init (&c);
  /* A case-insensitive part of the name "rnn_test_mic". */
  pipeline = pipeline_new ("portaudiosrc device-name=TEST_MIC num-buffers=4",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
  assert_eos (run_to_end (pipeline, 10));
  fail_unless_equals_int (c.bytes->len, 4 * 80 * 2);
  fail_unless (memcmp (c.bytes->data, in2_samples, c.bytes->len) == 0,
      "device-name=TEST_MIC did not capture rnn_test_mic's samples");
  gst_object_unref (pipeline);

  /* The same device by its index, as the device provider reports it. */
  {
    GstDeviceProvider *provider =
        gst_device_provider_factory_get_by_name ("portaudiodeviceprovider");
    GList *devices = gst_device_provider_get_devices (provider), *l;
    gint index = -1;
    gchar *src;

    for (l = devices; l; l = l->next) {
      gchar *name = gst_device_get_display_name (l->data);
      GstStructure *props = gst_device_get_properties (l->data);
      if (g_str_equal (name, "rnn_test_mic"))
        fail_unless (gst_structure_get_int (props, "portaudio.index", &index));
      gst_structure_free (props);
      g_free (name);
    }
    g_list_free_full (devices, gst_object_unref);
    gst_object_unref (provider);
    fail_unless (index >= 0);

    capture_reset (&c);
    src = g_strdup_printf ("portaudiosrc device=%d num-buffers=4", index);
    pipeline = pipeline_new (src, "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
    g_free (src);
    assert_eos (run_to_end (pipeline, 10));
    fail_unless_equals_int (c.bytes->len, 4 * 80 * 2);
    fail_unless (memcmp (c.bytes->data, in2_samples, c.bytes->len) == 0,
        "device=%d did not capture rnn_test_mic's samples", index);
    gst_object_unref (pipeline);
  }
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_device_not_found)
{
  Capture c;
  GstElement *pipeline;
  GstMessage *msg;
  gchar *text;

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc device-name=no-such-mic", "audio/x-raw", &c);
  msg = run_to_end (pipeline, 10);
  text = error_text (msg);
  /* Names what was asked for and lists what there is. */
  fail_unless (strstr (text, "\"no-such-mic\"") != NULL, "%s", text);
  fail_unless (strstr (text, "\"default\"") != NULL, "%s", text);
  fail_unless (strstr (text, "\"rnn_test_mic\"") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (msg);
  gst_object_unref (pipeline);

  pipeline = pipeline_new ("portaudiosrc device=999", "audio/x-raw", &c);
  msg = run_to_end (pipeline, 10);
  text = error_text (msg);
  fail_unless (strstr (text, "device 999 is not an input device") != NULL, "%s", text);
  g_free (text);
  gst_message_unref (msg);
  gst_object_unref (pipeline);
  fail_unless_equals_int (c.bytes->len, 0);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_device_cannot_be_opened)
{
  Capture c;
  GstElement *pipeline;
  GstMessage *msg;
  gchar *text, *gone = fixture_path ("gone.raw");

  /* PortAudio lists rnn_gone now (its file exists), then the file goes away: opening fails.
   * PortAudio's initialisation is counted process-wide, so this test's own keeps that device
   * list alive for the element. */
  fail_unless_equals_int (Pa_Initialize (), paNoError);
  fail_unless (g_unlink (gone) == 0);

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc device-name=rnn_gone", "audio/x-raw", &c);
  msg = run_to_end (pipeline, 10);
  text = error_text (msg);
  fail_unless (strstr (text, "Could not open PortAudio input device \"rnn_gone\"") != NULL,
      "%s", text);
  g_free (text);
  gst_message_unref (msg);
  gst_object_unref (pipeline);
  Pa_Terminate ();
  capture_clear (&c);
  g_free (gone);
}

GST_END_TEST;

static guint
wait_for_buffers (Capture * c, guint n, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  guint got;

  g_mutex_lock (&c->lock);
  while (c->pts->len < n) {
    if (!g_cond_wait_until (&c->cond, &c->lock, deadline))
      break;
  }
  got = c->pts->len;
  g_mutex_unlock (&c->lock);
  return got;
}

GST_START_TEST (test_state_changes)
{
  Capture c;
  GstElement *pipeline;
  guint round;

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc latency-time=10000",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);

  /* PLAYING -> NULL -> PLAYING: each time the device is opened anew, and ALSA's file plugin
   * starts again at the beginning of its file. */
  for (round = 0; round < 3; round++) {
    capture_reset (&c);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    fail_unless (wait_for_buffers (&c, 5, 5 * G_USEC_PER_SEC) >= 5, "round %u: no data", round);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    g_mutex_lock (&c.lock);
    fail_unless (memcmp (c.bytes->data, in_samples, 5 * 80 * 2) == 0, "round %u", round);
    g_mutex_unlock (&c.lock);
  }

  /* PLAYING -> PAUSED -> PLAYING: capture stops and starts again, time never goes back. */
  capture_reset (&c);
  for (round = 0; round < 3; round++) {
    guint have = c.pts->len;
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
    fail_unless (wait_for_buffers (&c, have + 3, 5 * G_USEC_PER_SEC) >= have + 3);
    fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL, 5 * GST_SECOND),
        GST_STATE_CHANGE_NO_PREROLL);
  }
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  {
    guint k;
    for (k = 1; k < c.pts->len; k++) {
      GstClockTime prev_end = g_array_index (c.pts, GstClockTime, k - 1) +
          g_array_index (c.duration, GstClockTime, k - 1);
      fail_unless (g_array_index (c.pts, GstClockTime, k) >= prev_end, "buffer %u", k);
    }
    /* One DISCONT at each of the three starts. */
    fail_unless_equals_int (c.discont_count, 3);
  }
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_stalled_device_errors)
{
  Capture c;
  GstElement *pipeline;
  GstMessage *msg;
  gchar *text;
  gint64 t0 = g_get_monotonic_time (), elapsed;

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc device-name=rnn_stall buffer-time=100000",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
  msg = run_to_end (pipeline, 10);     /* also checks that going to NULL works */
  elapsed = g_get_monotonic_time () - t0;
  text = error_text (msg);
  fail_unless (strstr (text, "\"rnn_stall\"") != NULL, "%s", text);
  fail_unless (strstr (text, "stopped delivering audio") != NULL, "%s", text);
  /* An error after buffer-time 0.1 s + 2 s grace, then at most 2 s to abandon the stuck stream
   * when going to NULL: about 4.2 s, never a hang (the margin is for a loaded machine). */
  fail_unless (elapsed < 10 * G_USEC_PER_SEC, "took %" G_GINT64_FORMAT " us", elapsed);
  g_free (text);
  gst_message_unref (msg);
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_latency_and_caps)
{
  Capture c;
  GstElement *pipeline, *src;
  GstQuery *query;
  gboolean live;
  GstClockTime min, max;
  GstCaps *caps, *want;
  GstPad *pad;

  capture_init (&c);
  pipeline = pipeline_new ("portaudiosrc name=src latency-time=20000 buffer-time=100000",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (wait_for_buffers (&c, 2, 5 * G_USEC_PER_SEC) >= 2);

  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  pad = gst_element_get_static_pad (src, "src");
  query = gst_query_new_latency ();
  fail_unless (gst_pad_query (pad, query));
  gst_query_parse_latency (query, &live, &min, &max);
  fail_unless (live);
  fail_unless (min >= 20 * GST_MSECOND, "min latency %" GST_TIME_FORMAT, GST_TIME_ARGS (min));
  fail_unless (max >= min + 100 * GST_MSECOND);
  gst_query_unref (query);

  /* What the device offers: both formats, the usual rates, mono and stereo. */
  caps = gst_pad_query_caps (pad, NULL);
  want = gst_caps_from_string ("audio/x-raw,format=F32LE,rate=48000,channels=2; "
      "audio/x-raw,format=S16LE,rate=8000,channels=1; "
      "audio/x-raw,format=S16LE,rate=44100,channels=1; "
      "audio/x-raw,format=S16LE,rate=16000,channels=8");
  fail_unless (gst_caps_can_intersect (caps, want));
  {
    guint i;
    for (i = 0; i < gst_caps_get_size (want); i++) {
      GstCaps *one = gst_caps_copy_nth (want, i);
      fail_unless (gst_caps_can_intersect (caps, one), "%" GST_PTR_FORMAT " lacks %"
          GST_PTR_FORMAT, caps, one);
      gst_caps_unref (one);
    }
  }
  gst_caps_unref (want);
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_object_unref (src);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

/* At the end of its file, ALSA's file plugin neither stops, nor errs, nor returns silence: its
 * reads return nothing and leave the capture ring buffer as it was, so the last ring buffer's worth
 * of the file (L frames, the ALSA buffer size PortAudio chose) comes out again and again. The
 * element goes on delivering buffers with sample-count timestamps. This test pins that behaviour,
 * which the pipelines tests rely on (they stop with num-buffers before the end of the file). */
GST_START_TEST (test_end_of_input_file)
{
  Capture c;
  GstElement *pipeline;
  guint n_buffers = IN_SAMPLES / 800 + 20;
  const gint16 *out, *tail;
  guint tail_len, period = 0, p, k;

  capture_init (&c);
  {
    gchar *src = g_strdup_printf ("portaudiosrc num-buffers=%u latency-time=100000", n_buffers);
    pipeline = pipeline_new (src, "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
    g_free (src);
  }
  assert_eos (run_to_end (pipeline, 20));
  fail_unless_equals_int (c.bytes->len, n_buffers * 800 * 2);
  fail_unless (memcmp (c.bytes->data, in_samples, sizeof (in_samples)) == 0);
  assert_timestamps (&c, 800, 8000);

  out = (const gint16 *) c.bytes->data;
  tail = out + IN_SAMPLES;
  tail_len = n_buffers * 800 - IN_SAMPLES;
  for (p = 1; p <= IN_SAMPLES && period == 0; p++) {
    if (memcmp (tail, in_samples + IN_SAMPLES - p, MIN (p, tail_len) * sizeof (gint16)) == 0)
      period = p;
  }
  fail_unless (period > 0, "the samples after the end are not the file's last ones");
  for (k = 0; k < tail_len; k++) {
    if (tail[k] != in_samples[IN_SAMPLES - period + k % period]) {
      fail ("sample %u after the end is not the file's last %u samples repeated", k, period);
      break;
    }
  }
  GST_INFO ("after the end of the file its last %u samples repeat", period);
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

/* Downstream stops taking data for 1.5 s: the capture callback waits at most max(buffer-time,
 * 0.5 s) for room in the FIFO, then drops samples. The next buffers say so (DISCONT) and their
 * timestamps jump ahead (taken from the clock again) but never go back. */
GST_START_TEST (test_overflow_when_downstream_stalls)
{
  Capture c;
  GstElement *pipeline;
  GstMessage *msg;
  guint k, late_discont = 0;

  capture_init (&c);
  c.stall_at = 3;
  c.stall_us = 1500 * 1000;
  pipeline = pipeline_new ("portaudiosrc num-buffers=300 latency-time=10000 buffer-time=100000",
      "audio/x-raw,format=S16LE,rate=8000,channels=1", &c);
  msg = run_to_end (pipeline, 20);
  assert_eos (msg);
  gst_message_unref (msg);

  fail_unless_equals_int (c.pts->len, 300);
  for (k = 0; k < c.discont_at->len; k++) {
    if (g_array_index (c.discont_at, guint, k) > c.stall_at)
      late_discont++;
  }
  fail_unless (late_discont >= 1, "no DISCONT after the stall");
  for (k = 1; k < c.pts->len; k++) {
    GstClockTime prev_end = g_array_index (c.pts, GstClockTime, k - 1) +
        g_array_index (c.duration, GstClockTime, k - 1);
    fail_unless (g_array_index (c.pts, GstClockTime, k) >= prev_end, "buffer %u goes back", k);
  }
  /* Offsets count delivered samples; the buffers before the stall are the file's start. */
  fail_unless (memcmp (c.bytes->data, in_samples, 4 * 80 * 2) == 0);
  gst_object_unref (pipeline);
  capture_clear (&c);
}

GST_END_TEST;

GST_START_TEST (test_device_provider)
{
  GstDeviceProvider *provider = gst_device_provider_factory_get_by_name
      ("portaudiodeviceprovider");
  GList *devices, *l;
  GstDevice *mic = NULL;
  gboolean saw_default = FALSE;

  fail_unless (provider != NULL);
  devices = gst_device_provider_get_devices (provider);
  for (l = devices; l; l = l->next) {
    GstDevice *d = l->data;
    gchar *name = gst_device_get_display_name (d);
    GstStructure *props = gst_device_get_properties (d);
    GstCaps *caps = gst_device_get_caps (d);

    fail_unless (gst_device_has_classes (d, "Audio/Source"));
    fail_unless_equals_string (gst_structure_get_string (props, "device.api"), "portaudio");
    fail_unless_equals_string (gst_structure_get_string (props, "portaudio.host-api"), "ALSA");
    fail_unless (caps != NULL && !gst_caps_is_empty (caps));
    if (g_str_equal (name, "default"))
      saw_default = TRUE;
    if (g_str_equal (name, "rnn_test_mic"))
      mic = gst_object_ref (d);
    g_free (name);
    gst_structure_free (props);
    gst_caps_unref (caps);
  }
  fail_unless (saw_default);
  fail_unless (mic != NULL);
  g_list_free_full (devices, gst_object_unref);

  /* The element it makes captures from that device. */
  {
    GstElement *src = gst_device_create_element (mic, "micsrc");
    GstElement *pipeline = gst_pipeline_new (NULL);
    GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
    GstElement *sink = gst_element_factory_make ("fakesink", NULL);
    GstCaps *caps = gst_caps_from_string ("audio/x-raw,format=S16LE,rate=8000,channels=1");
    gchar *device_name = NULL;
    Capture c;

    fail_unless_equals_string (GST_OBJECT_NAME (gst_element_get_factory (src)), "portaudiosrc");
    g_object_get (src, "device-name", &device_name, NULL);
    fail_unless_equals_string (device_name, "rnn_test_mic");
    g_free (device_name);

    capture_init (&c);
    g_object_set (src, "num-buffers", 3, NULL);
    g_object_set (filter, "caps", caps, NULL);
    g_object_set (sink, "signal-handoffs", TRUE, "sync", FALSE, NULL);
    g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), &c);
    gst_bin_add_many (GST_BIN (pipeline), src, filter, sink, NULL);
    fail_unless (gst_element_link_many (src, filter, sink, NULL));
    assert_eos (run_to_end (pipeline, 10));
    fail_unless_equals_int (c.bytes->len, 3 * 80 * 2);
    fail_unless (memcmp (c.bytes->data, in2_samples, c.bytes->len) == 0);
    gst_caps_unref (caps);
    gst_object_unref (pipeline);
    capture_clear (&c);
  }
  gst_object_unref (mic);
  gst_object_unref (provider);
}

GST_END_TEST;

static Suite *
portaudiosrc_suite (void)
{
  Suite *s = suite_create ("portaudiosrc");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 30);
  tcase_add_test (tc, test_capture_exact_s16);
  tcase_add_test (tc, test_capture_f32_and_stereo);
  tcase_add_test (tc, test_device_name_selects_device);
  tcase_add_test (tc, test_device_not_found);
  tcase_add_test (tc, test_state_changes);
  tcase_add_test (tc, test_stalled_device_errors);
  tcase_add_test (tc, test_latency_and_caps);
  tcase_add_test (tc, test_end_of_input_file);
  tcase_add_test (tc, test_overflow_when_downstream_stalls);
  tcase_add_test (tc, test_device_provider);
  /* Last: it deletes gone.raw, which the other tests' device lists then lack. */
  tcase_add_test (tc, test_device_cannot_be_opened);
  return s;
}

/* Whether the registry has a feature of that name (from the plugin in the build). */
static gboolean
registry_has_feature (const gchar * name)
{
  GstPluginFeature *feature = gst_registry_lookup_feature (gst_registry_get (), name);

  if (!feature)
    return FALSE;
  gst_object_unref (feature);
  return TRUE;
}

int
main (int argc, char **argv)
{
  gint ret;

  if (!write_fixtures ()) {
    g_printerr ("could not write the ALSA fixtures\n");
    return 1;
  }
  gst_check_init (&argc, &argv);
  /* The element and the provider come from the plugin in the build (GST_PLUGIN_PATH). */
  if (!registry_has_feature ("portaudiosrc")
      || !registry_has_feature ("portaudiodeviceprovider")) {
    g_printerr ("portaudiosrc not found: is GST_PLUGIN_PATH the build directory?\n");
    return 1;
  }
  ret = gst_check_run_suite (portaudiosrc_suite (), "portaudiosrc", __FILE__);
  remove_fixtures ();
  return ret;
}
