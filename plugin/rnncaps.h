/* gst-rnn: the caps of frames between elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Frames travel as NNStreamer's static tensor stream, so that gst-rnn's elements and NNStreamer's
 * interoperate: one float32 tensor per buffer, one frame per buffer, whose first dimension is the
 * feature count:
 *
 *   other/tensors, format=(string)static, num_tensors=(int)1, types=(string)float32,
 *                  dimensions=(string)N:1:1:1, framerate=(fraction)F
 *
 * Each buffer carries exactly N floats (native endianness), its PTS the start of the frame and its
 * duration the frame shift. Exact caps are documented in docs/caps-and-events.md.
 */
#ifndef GST_RNN_CAPS_H
#define GST_RNN_CAPS_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* Template caps: any feature count and frame rate. The "dimensions" field is left out on purpose
 * (as NNStreamer's own templates do): a string field cannot express "any", and a literal
 * dimensions=(string)ANY would not intersect with any fixed caps. */
#define GST_RNN_FRAMES_CAPS_TEMPLATE                                                               \
  "other/tensors, format=(string)static, num_tensors=(int)1, types=(string)float32, "              \
  "framerate=(fraction)[ 0/1, 2147483647/1 ]"

GstCaps *gst_rnn_frames_caps_template (void);
/* Fixed caps for N features at rate_n/rate_d frames per second. */
GstCaps *gst_rnn_frames_caps_new (gint size, gint rate_n, gint rate_d);
/* Template-like caps for a fixed N and any frame rate (used to negotiate against a model). */
GstCaps *gst_rnn_frames_caps_for_size (gint size);
/* Reads N and the frame rate from fixed caps; FALSE (and a message in *error) when the caps are not
 * one float32 tensor of N:1:1:1. Also accepts NNStreamer's single-tensor "other/tensor" form. */
gboolean gst_rnn_frames_caps_parse (const GstCaps * caps, gint * size, gint * rate_n, gint * rate_d,
    GError ** error);

G_END_DECLS
#endif
