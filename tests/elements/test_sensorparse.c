/* gst-rnn: sensorparse element tests (GstHarness).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>


static GstHarness *
harness_new (const gchar * props)
{
  GstHarness *h;
  gchar *desc = g_strdup_printf ("sensorparse %s", props ? props : "");

  h = gst_harness_new_parse (desc);
  g_free (desc);
  gst_harness_set_src_caps_str (h, "text/csv");
  return h;
}

static GstBus *
harness_bus (GstHarness * h)
{
  GstBus *bus = gst_bus_new ();

  gst_element_set_bus (h->element, bus);
  return bus;
}

static void
push_text (GstHarness * h, const gchar * text, GstFlowReturn expected)
{
  GstBuffer *buf = text[0] ? gst_buffer_new_memdup (text, strlen (text)) : gst_buffer_new ();

  fail_unless_equals_int (gst_harness_push (h, buf), expected);
}

/* Pulls every buffer that came out and returns their samples concatenated. */
static GArray *
pull_all_values (GstHarness * h)
{
  GArray *values = g_array_new (FALSE, FALSE, sizeof (gfloat));
  GstBuffer *buf;

  while ((buf = gst_harness_try_pull (h))) {
    GstMapInfo map;

    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless (map.size % sizeof (gfloat) == 0);
    g_array_append_vals (values, map.data, map.size / sizeof (gfloat));
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  return values;
}

static void
assert_values (GArray * values, const gfloat * expected, guint n)
{
  guint i;

  fail_unless_equals_int (values->len, n);
  for (i = 0; i < n; i++) {
    gfloat v = GFLOAT_FROM_LE (g_array_index (values, gfloat, i));
    fail_unless (v == expected[i], "value %u: %g, expected %g", i, v, expected[i]);
  }
}

static void
assert_caps (GstHarness * h, gint rate, gint channels)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s;
  gint r = 0, c = 0;

  fail_unless (caps != NULL);
  s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "audio/x-raw"));
  fail_unless_equals_string (gst_structure_get_string (s, "format"), "F32LE");
  fail_unless_equals_string (gst_structure_get_string (s, "layout"), "interleaved");
  fail_unless (gst_structure_get_int (s, "rate", &r));
  fail_unless (gst_structure_get_int (s, "channels", &c));
  fail_unless_equals_int (r, rate);
  fail_unless_equals_int (c, channels);
  gst_caps_unref (caps);
}

/* Returns the text of the next message of @type on @bus ("" when it has none), or NULL. */
static gchar *
next_message_text (GstBus * bus, GstMessageType type)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, type);
  GError *err = NULL;
  gchar *text;

  if (!msg)
    return NULL;
  if (type == GST_MESSAGE_WARNING)
    gst_message_parse_warning (msg, &err, NULL);
  else
    gst_message_parse_error (msg, &err, NULL);
  text = g_strdup (err->message);
  g_error_free (err);
  gst_message_unref (msg);
  return text;
}

static void
assert_message_contains (GstBus * bus, GstMessageType type, const gchar * a, const gchar * b)
{
  gchar *text = next_message_text (bus, type);

  fail_unless (text != NULL, "no %s message", gst_message_type_get_name (type));
  fail_unless (strstr (text, a) != NULL, "\"%s\" lacks \"%s\"", text, a);
  fail_unless (b == NULL || strstr (text, b) != NULL, "\"%s\" lacks \"%s\"", text, b);
  g_free (text);
}

GST_START_TEST (test_header_skipped_values_exact)
{
  GstHarness *h = harness_new (NULL);
  GstBus *bus = harness_bus (h);
  static const gfloat expected[] = { 1.5f, -2.0f, 300.0f, 4.0f, 0.125f, -1e-3f };
  GArray *values;

  push_text (h, "acc_x,acc_y,acc_z\n1.5,-2,3e2\n 4 , 0.125 ,-1e-3\n", GST_FLOW_OK);
  values = pull_all_values (h);
  assert_values (values, expected, G_N_ELEMENTS (expected));
  assert_caps (h, 100, 3);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR) == NULL);

  g_array_unref (values);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_no_header)
{
  GstHarness *h = harness_new ("rate=10");
  static const gfloat expected[] = { 7.0f, 8.0f };
  GArray *values;

  push_text (h, "7\n8\n", GST_FLOW_OK);
  values = pull_all_values (h);
  assert_values (values, expected, 2);
  assert_caps (h, 10, 1);
  g_array_unref (values);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_lines_split_across_buffers)
{
  const gchar *text = "t;x\r\n0.25;1\r\n\r\n-0.5;2.75\r\n1e1;-3\r\n";
  static const gfloat expected[] = { 0.25f, 1.0f, -0.5f, 2.75f, 10.0f, -3.0f };
  gsize chunk;

  /* Every chunk size from one byte up cuts the lines at different places. */
  for (chunk = 1; chunk <= 7; chunk++) {
    GstHarness *h = harness_new (NULL);
    GstBus *bus = harness_bus (h);
    gsize off, len = strlen (text);
    GArray *values;

    for (off = 0; off < len; off += chunk) {
      gsize n = MIN (chunk, len - off);
      fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (text + off, n)),
          GST_FLOW_OK);
    }
    values = pull_all_values (h);
    assert_values (values, expected, G_N_ELEMENTS (expected));
    assert_caps (h, 100, 2);
    fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL);
    g_array_unref (values);
    gst_element_set_bus (h->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (h);
  }
}

GST_END_TEST;

GST_START_TEST (test_separators)
{
  static const gfloat expected[] = { 1.0f, 2.0f, 3.0f, 4.0f };
  const gchar *inputs[] = {
    "1,2\n3,4\n", "1;2\n3;4\n", "1\t2\n3\t4\n", "  1   2\n3 \t 4  \n", "a b\n1 2\n3 4",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (inputs); i++) {
    GstHarness *h = harness_new (NULL);
    GArray *values;

    push_text (h, inputs[i], GST_FLOW_OK);
    gst_harness_push_event (h, gst_event_new_eos ());
    values = pull_all_values (h);
    assert_values (values, expected, G_N_ELEMENTS (expected));
    g_array_unref (values);
    gst_harness_teardown (h);
  }
}

GST_END_TEST;

GST_START_TEST (test_malformed_line_skipped_with_warning)
{
  GstHarness *h = harness_new (NULL);
  GstBus *bus = harness_bus (h);
  static const gfloat expected[] = { 1.0f, 2.0f, 5.0f, 6.0f, 9.0f, 10.0f };
  GArray *values;

  push_text (h, "a,b\n1,2\n3,x\n5,6\n7\nnan,8\n9,10\n,11\n", GST_FLOW_OK);
  values = pull_all_values (h);
  assert_values (values, expected, G_N_ELEMENTS (expected));

  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 3", "field 2 (\"x\") is not a number");
  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 5", "1 fields, expected 2");
  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 6", "field 1 (\"nan\") is not a finite");
  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 8", "field 1 is empty");
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR) == NULL);

  /* Skipped lines take no sample slot: the three samples are contiguous. */
  g_array_unref (values);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_on_error_stop)
{
  GstHarness *h = harness_new ("on-error=stop");
  GstBus *bus = harness_bus (h);

  push_text (h, "1,2\n3,4\n", GST_FLOW_OK);
  push_text (h, "5,6\n7,8,9\n10,11\n", GST_FLOW_ERROR);
  assert_message_contains (bus, GST_MESSAGE_ERROR, "line 4", "3 fields, expected 2");

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_timestamps_from_sample_count)
{
  GstHarness *h = harness_new ("rate=10");
  GString *text = g_string_new ("x\n");
  guint64 expected_offset = 0;
  GstBuffer *buf;
  gint i, pushed = 0;

  /* 3 + 7 + 15 samples in three buffers. */
  const gint counts[] = { 3, 7, 15 };
  for (i = 0; i < 3; i++) {
    gint k;
    for (k = 0; k < counts[i]; k++)
      g_string_append_printf (text, "%d\n", pushed++);
    push_text (h, text->str, GST_FLOW_OK);
    g_string_truncate (text, 0);
  }

  for (i = 0; i < 3; i++) {
    buf = gst_harness_pull (h);
    fail_unless (buf != NULL);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), expected_offset * GST_SECOND / 10);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), counts[i] * GST_SECOND / 10);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), expected_offset);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), expected_offset + counts[i]);
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT), i == 0);
    fail_unless_equals_int (gst_buffer_get_size (buf), counts[i] * sizeof (gfloat));
    expected_offset += counts[i];
    gst_buffer_unref (buf);
  }
  g_string_free (text, TRUE);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_eos_flushes_last_line)
{
  GstHarness *h = harness_new (NULL);
  static const gfloat expected[] = { 1.0f, 2.0f, 3.0f, 4.0f };
  GArray *values;
  GstEvent *ev;
  gboolean saw_eos = FALSE;

  push_text (h, "1,2\n3,", GST_FLOW_OK);
  push_text (h, "4", GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  values = pull_all_values (h);
  assert_values (values, expected, G_N_ELEMENTS (expected));
  while ((ev = gst_harness_try_pull_event (h))) {
    saw_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (saw_eos);
  g_array_unref (values);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_empty_input)
{
  GstHarness *h = harness_new (NULL);
  GstBus *bus = harness_bus (h);
  GstEvent *ev;
  gboolean saw_eos = FALSE, saw_segment = FALSE;

  push_text (h, "", GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (gst_harness_try_pull (h) == NULL);
  while ((ev = gst_harness_try_pull_event (h))) {
    saw_eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    saw_segment |= GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT;
    gst_event_unref (ev);
  }
  fail_unless (saw_eos);
  fail_unless (saw_segment);
  assert_message_contains (bus, GST_MESSAGE_WARNING, "No sensor samples", NULL);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_flush_resets)
{
  GstHarness *h = harness_new ("rate=4");
  GstBuffer *buf;
  GstBus *bus = harness_bus (h);

  push_text (h, "h\n1\n2\n3", GST_FLOW_OK);   /* "3" stays pending */
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), 2);
  gst_buffer_unref (buf);

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  {
    GstSegment segment;
    gst_segment_init (&segment, GST_FORMAT_BYTES);
    fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  }
  /* After the flush: the header is recognised again, the pending "3" is gone, time restarts. */
  push_text (h, "h\n5\n", GST_FLOW_OK);
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 0);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), 1);
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT));
  {
    GArray *values = g_array_new (FALSE, FALSE, sizeof (gfloat));
    static const gfloat expected[] = { 5.0f };
    GstMapInfo map;
    gst_buffer_map (buf, &map, GST_MAP_READ);
    g_array_append_vals (values, map.data, 1);
    gst_buffer_unmap (buf, &map);
    assert_values (values, expected, 1);
    g_array_unref (values);
  }
  gst_buffer_unref (buf);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING) == NULL);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_overlong_and_binary_lines)
{
  GstHarness *h = harness_new (NULL);
  GstBus *bus = harness_bus (h);
  gchar *big = g_malloc (100 * 1024);
  static const gfloat expected[] = { 1.0f, 2.0f };
  GArray *values;

  memset (big, '1', 100 * 1024);
  push_text (h, "x\n1\n", GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_wrapped (big, 100 * 1024)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup ("\n4\0z\n2\n", 7)),
      GST_FLOW_OK);
  values = pull_all_values (h);
  assert_values (values, expected, 2);
  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 3", "longer than");
  assert_message_contains (bus, GST_MESSAGE_WARNING, "line 4", "NUL byte");
  g_array_unref (values);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Random text (digits, separators, signs, letters, NULs, newlines) in random pieces: no crash, and
 * every output buffer holds whole samples of the announced channel count. */
GST_START_TEST (test_random_input)
{
  static const gchar alphabet[] = "0123456789012345678901234567890123456789,,,,;\t  ..--+eE\n\n\n\r"
      "xnaif\0";
  GRand *rand = g_rand_new_with_seed (20261127);
  guint round;

  for (round = 0; round < 100; round++) {
    GstHarness *h = harness_new (round % 2 ? "on-error=skip" : "rate=7");
    GstBus *bus = harness_bus (h);
    gsize len = g_rand_int_range (rand, 0, 4000), off = 0, i;
    gchar *text = g_malloc (len + 1);
    GstBuffer *buf;
    gint channels = 0;

    for (i = 0; i < len; i++)
      text[i] = alphabet[g_rand_int_range (rand, 0, sizeof (alphabet) - 1)];
    while (off < len) {
      gsize piece = g_rand_int_range (rand, 1, 300);
      gsize n = MIN (len - off, piece);
      fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (text + off, n)),
          GST_FLOW_OK);
      off += n;
    }
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    while ((buf = gst_harness_try_pull (h))) {
      if (channels == 0) {
        GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
        fail_unless (caps != NULL);
        fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0), "channels",
                &channels));
        gst_caps_unref (caps);
      }
      fail_unless (gst_buffer_get_size (buf) % (channels * sizeof (gfloat)) == 0);
      gst_buffer_unref (buf);
    }
    gst_bus_set_flushing (bus, TRUE);
    gst_element_set_bus (h->element, NULL);
    gst_object_unref (bus);
    gst_harness_teardown (h);
    g_free (text);
  }
  g_rand_free (rand);
}

GST_END_TEST;

static Suite *
sensorparse_suite (void)
{
  Suite *s = suite_create ("sensorparse");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_header_skipped_values_exact);
  tcase_add_test (tc, test_no_header);
  tcase_add_test (tc, test_lines_split_across_buffers);
  tcase_add_test (tc, test_separators);
  tcase_add_test (tc, test_malformed_line_skipped_with_warning);
  tcase_add_test (tc, test_on_error_stop);
  tcase_add_test (tc, test_timestamps_from_sample_count);
  tcase_add_test (tc, test_eos_flushes_last_line);
  tcase_add_test (tc, test_empty_input);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_overlong_and_binary_lines);
  tcase_add_test (tc, test_random_input);
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
  Suite *s;

  gst_check_init (&argc, &argv);
  /* The element comes from the plugin in the build (GST_PLUGIN_PATH). */
  if (!registry_has_feature ("sensorparse")) {
    g_printerr ("sensorparse not found: is GST_PLUGIN_PATH the build directory?\n");
    return 1;
  }
  s = sensorparse_suite ();
  return gst_check_run_suite (s, "sensorparse", __FILE__);
}
