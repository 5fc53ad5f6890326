/* gst-rnn: rnninfer, a stateful recurrent model over a stream of frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_INFER_H
#define GST_RNN_INFER_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_RNN_INFER (gst_rnn_infer_get_type ())
G_DECLARE_FINAL_TYPE (GstRnnInfer, gst_rnn_infer, GST, RNN_INFER, GstElement)

/* When a classification model gives a result. */
typedef enum
{
  GST_RNN_INFER_MODE_UTTERANCE, /* one per utterance: at an endpoint of the voice-activity rule, at EOS */
  GST_RNN_INFER_MODE_WINDOW,    /* one every window-hop over the last window-length */
} GstRnnInferMode;

#define GST_TYPE_RNN_INFER_MODE (gst_rnn_infer_mode_get_type ())
GType gst_rnn_infer_mode_get_type (void);

/* Whether utterances are found by the voice-activity rule. The values keep those of the former
 * boolean property (vad=false/true, 0/1, in launch lines and model metadata still work). */
typedef enum
{
  GST_RNN_INFER_VAD_OFF = 0,    /* the whole sequence (to EOS, rnn-reset, ...) is one utterance */
  GST_RNN_INFER_VAD_ON = 1,     /* utterances end where the voice-activity rule finds silence */
  GST_RNN_INFER_VAD_AUTO = 2,   /* on when upstream is live (a microphone), off otherwise (files) */
  GST_RNN_INFER_VAD_TRIM = 3,   /* one utterance, trimmed to the speech the rule finds (files) */
} GstRnnInferVad;

#define GST_TYPE_RNN_INFER_VAD (gst_rnn_infer_vad_get_type ())
GType gst_rnn_infer_vad_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (rnninfer);

G_END_DECLS
#endif
