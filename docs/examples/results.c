/* Reads gst-rnn results from the bus in C: one line per classification or transcription.
 *   GST_PLUGIN_PATH=build build/docs/examples/results MODEL AUDIO_FILE
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>

static void
print_result (const GstStructure * s)
{
  guint64 ts = 0;
  gdouble confidence = 0.0;

  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_double (s, "confidence", &confidence);
  if (gst_structure_has_name (s, "rnn-classification")) {
    g_print ("%6.2fs  %s  (%.2f)\n", (gdouble) ts / GST_SECOND,
        gst_structure_get_string (s, "label"), confidence);
  } else if (gst_structure_has_name (s, "rnn-transcription")) {
    gboolean final = FALSE;

    gst_structure_get_boolean (s, "final", &final);
    g_print ("%6.2fs  [%s] %s  (%.2f)\n", (gdouble) ts / GST_SECOND,
        final ? "final" : "partial", gst_structure_get_string (s, "text"), confidence);
  }
}

static void
set_string (GstElement * pipeline, const gchar * element, const gchar * property,
    const gchar * value)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);

  g_object_set (e, property, value, NULL);
  gst_object_unref (e);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GstElement *pipeline;
  GstBus *bus;
  gboolean done = FALSE, ok = TRUE;

  gst_init (&argc, &argv);
  if (argc != 3) {
    g_printerr ("usage: %s MODEL AUDIO_FILE\n", argv[0]);
    return 2;
  }
  pipeline = gst_parse_launch ("filesrc name=src ! decodebin ! audioconvert ! audioresample ! "
      "rnnfeatures name=features ! rnninfer name=infer ! fakesink", &error);
  if (!pipeline) {
    g_printerr ("%s\n", error->message);
    g_clear_error (&error);
    return 1;
  }
  set_string (pipeline, "src", "location", argv[2]);
  set_string (pipeline, "features", "model", argv[1]);
  set_string (pipeline, "infer", "model", argv[1]);

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  bus = gst_element_get_bus (pipeline);
  while (!done) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_ELEMENT:
        print_result (gst_message_get_structure (msg));
        break;
      case GST_MESSAGE_ERROR:{
        GError *err = NULL;

        gst_message_parse_error (msg, &err, NULL);
        g_printerr ("%s: %s\n", argv[2], err->message);
        g_clear_error (&err);
        ok = FALSE;
        done = TRUE;
        break;
      }
      default:
        done = TRUE;
        break;
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}
