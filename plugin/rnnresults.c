/* gst-rnn: the result structures, built in one place.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Field names and types are the contract of docs/caps-and-events.md ("Results: messages and
 * events"); applications and the tests read them by these names.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>

#include "rnnresults.h"

/* Confidences are probabilities: a NaN must never reach an application. */
static gdouble
sanitize_confidence (gdouble c)
{
  if (!isfinite (c) || c < 0.0)
    return 0.0;
  return c > 1.0 ? 1.0 : c;
}

static void
set_times (GstStructure * s, const GstSegment * segment, GstClockTime timestamp,
    GstClockTime duration)
{
  guint64 running_time = GST_CLOCK_TIME_NONE, stream_time = GST_CLOCK_TIME_NONE;

  if (segment && segment->format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (timestamp)) {
    running_time = gst_segment_to_running_time (segment, GST_FORMAT_TIME, timestamp);
    stream_time = gst_segment_to_stream_time (segment, GST_FORMAT_TIME, timestamp);
  }
  gst_structure_set (s,
      "timestamp", G_TYPE_UINT64, (guint64) timestamp,
      "duration", G_TYPE_UINT64, (guint64) duration,
      "running-time", G_TYPE_UINT64, running_time,
      "stream-time", G_TYPE_UINT64, stream_time, NULL);
}

GstStructure *
gst_rnn_classification_new (const GstSegment * segment, const gchar * label,
    gint class_index, gdouble confidence, GstClockTime timestamp, GstClockTime duration)
{
  GstStructure *s = gst_structure_new (GST_RNN_CLASSIFICATION_NAME,
      "label", G_TYPE_STRING, label ? label : "",
      "class-index", G_TYPE_INT, class_index,
      "confidence", G_TYPE_DOUBLE, sanitize_confidence (confidence), NULL);

  set_times (s, segment, timestamp, duration);
  return s;
}

GstStructure *
gst_rnn_transcription_new (const GstSegment * segment, const gchar * text,
    gboolean final, gdouble confidence, GstClockTime timestamp, GstClockTime duration,
    const GstRnnWord * words, guint n_words)
{
  GstStructure *s = gst_structure_new (GST_RNN_TRANSCRIPTION_NAME,
      "text", G_TYPE_STRING, text ? text : "",
      "final", G_TYPE_BOOLEAN, final,
      "confidence", G_TYPE_DOUBLE, sanitize_confidence (confidence), NULL);
  GValue list = G_VALUE_INIT;
  guint i;

  set_times (s, segment, timestamp, duration);

  /* words: an array of "word" structures, in order (start, end: buffer time in ns). */
  g_value_init (&list, GST_TYPE_ARRAY);
  for (i = 0; i < n_words; i++) {
    GValue v = G_VALUE_INIT;
    GstStructure *w = gst_structure_new ("word",
        "text", G_TYPE_STRING, words[i].text ? words[i].text : "",
        "start", G_TYPE_UINT64, words[i].start,
        "end", G_TYPE_UINT64, words[i].end,
        "confidence", G_TYPE_DOUBLE, sanitize_confidence (words[i].confidence), NULL);

    g_value_init (&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&v, w);
    gst_value_array_append_and_take_value (&list, &v);
  }
  gst_structure_take_value (s, "words", &list);
  return s;
}

GstStructure *
gst_rnn_train_progress_new (gint epoch, gint epochs, gdouble loss, gdouble accuracy,
    gdouble val_loss, gdouble val_accuracy)
{
  /* val-loss and val-accuracy stay NaN when there is no validation set: that is the documented
   * "absent" value for these two fields. */
  return gst_structure_new (GST_RNN_TRAIN_PROGRESS_NAME,
      "epoch", G_TYPE_INT, epoch,
      "epochs", G_TYPE_INT, epochs,
      "loss", G_TYPE_DOUBLE, loss,
      "accuracy", G_TYPE_DOUBLE, accuracy,
      "val-loss", G_TYPE_DOUBLE, val_loss,
      "val-accuracy", G_TYPE_DOUBLE, val_accuracy, NULL);
}

void
gst_rnn_emit_result (GstElement * element, GstPad * srcpad, GstStructure * s)
{
  g_return_if_fail (GST_IS_ELEMENT (element));
  g_return_if_fail (s != NULL);

  if (srcpad) {
    GstEvent *event = gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
        gst_structure_copy (s));

    /* Not an error when nobody downstream wants it: the bus message still goes out. */
    gst_pad_push_event (srcpad, event);
  }
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT_CAST (element), s));
}

gboolean
gst_rnn_is_reset_event (GstEvent * event)
{
  const GstStructure *s;

  if (!event)
    return FALSE;
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_OOB:
    case GST_EVENT_CUSTOM_BOTH:
    case GST_EVENT_CUSTOM_BOTH_OOB:
      break;
    default:
      return FALSE;
  }
  s = gst_event_get_structure (event);
  return s != NULL && gst_structure_has_name (s, GST_RNN_RESET_EVENT_NAME);
}

void
gst_rnn_register_tags (void)
{
  gst_tag_register (GST_RNN_TAG_LABEL, GST_TAG_FLAG_META, G_TYPE_STRING, "rnn label",
      "label of a training sequence: a class name or a transcript", gst_tag_merge_use_first);
  gst_tag_register (GST_RNN_TAG_GROUP, GST_TAG_FLAG_META, G_TYPE_STRING, "rnn group",
      "training sequences of one group stay on one side of the validation split",
      gst_tag_merge_use_first);
}
