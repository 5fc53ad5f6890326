/* gst-rnn: the result structures, built in one place.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each result is posted as an element message on the bus and sent downstream, in order with the
 * data, as a serialized custom downstream event carrying the same structure (DESIGN.md,
 * docs/caps-and-events.md).
 */
#ifndef GST_RNN_RESULTS_H
#define GST_RNN_RESULTS_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_RNN_CLASSIFICATION_NAME "rnn-classification"
#define GST_RNN_TRANSCRIPTION_NAME "rnn-transcription"
#define GST_RNN_TRAIN_PROGRESS_NAME "rnn-train-progress"
#define GST_RNN_RESET_EVENT_NAME "rnn-reset"         /* custom downstream serialized: resets state */
#define GST_RNN_FEATURE_SETTINGS_NAME "rnn-feature-settings" /* sticky custom downstream event */

/* The tag that carries a training sequence's label (a class name, or a transcript for
 * task=transcription); string, merge: use the first. */
#define GST_RNN_TAG_LABEL "rnn-label"
/* Optional: training sequences with the same group (e.g. augmented copies of one recording, or one
 * speaker) always land on the same side of the validation split. String. */
#define GST_RNN_TAG_GROUP "rnn-group"

/* Registers the tags above (idempotent). Called when the plugin loads, so that any element of a
 * pipeline (e.g. taginject tags="rnn-label=zero") can use them before rnntrain exists. */
void gst_rnn_register_tags (void);

typedef struct {
  const gchar *text;
  guint64 start, end; /* stream time ns */
  gdouble confidence;
} GstRnnWord;

/* Timestamps: timestamp/duration are buffer-time (PTS) of the result's span; running-time and
 * stream-time are derived from the segment. */
GstStructure *gst_rnn_classification_new (const GstSegment * segment, const gchar * label,
    gint class_index, gdouble confidence, GstClockTime timestamp, GstClockTime duration);
GstStructure *gst_rnn_transcription_new (const GstSegment * segment, const gchar * text,
    gboolean final, gdouble confidence, GstClockTime timestamp, GstClockTime duration,
    const GstRnnWord * words, guint n_words);
GstStructure *gst_rnn_train_progress_new (gint epoch, gint epochs, gdouble loss, gdouble accuracy,
    gdouble val_loss, gdouble val_accuracy);

/* Posts s as an element message from element and pushes a copy downstream on srcpad as a
 * serialized custom event (srcpad may be NULL for sinks). Takes ownership of s. */
void gst_rnn_emit_result (GstElement * element, GstPad * srcpad, GstStructure * s);

/* TRUE when event is the custom rnn-reset event. */
gboolean gst_rnn_is_reset_event (GstEvent * event);

G_END_DECLS
#endif
