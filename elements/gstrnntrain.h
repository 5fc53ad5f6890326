/* gst-rnn: rnntrain, a sink that fits a recurrent model to labelled sequences of frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_TRAIN_H
#define GST_RNN_TRAIN_H

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

#include "rnn.h"
#include "rnnresults.h"

G_BEGIN_DECLS

#define GST_TYPE_RNN_TRAIN (gst_rnn_train_get_type ())
G_DECLARE_FINAL_TYPE (GstRnnTrain, gst_rnn_train, GST, RNN_TRAIN, GstBaseSink)


typedef enum {
  GST_RNN_TRAIN_TASK_CLASSIFICATION = 0,
  GST_RNN_TRAIN_TASK_TRANSCRIPTION = 1
} GstRnnTrainTask;

typedef enum {
  GST_RNN_TRAIN_LOSS_AUTO = -1,
  GST_RNN_TRAIN_LOSS_CE = RNN_LOSS_CE,
  GST_RNN_TRAIN_LOSS_BCE = RNN_LOSS_BCE,
  GST_RNN_TRAIN_LOSS_MSE = RNN_LOSS_MSE,
  GST_RNN_TRAIN_LOSS_CTC = RNN_LOSS_CTC
} GstRnnTrainLoss;

/* The parsed form of the `architecture` property ("gru(128) gru(128) dense(softmax)"). */
#define GST_RNN_ARCH_MAX_LAYERS 16
typedef struct {
  gint n_layers;
  struct {
    rnn_cell_kind cell;
    gint hidden;
    gboolean bidirectional;
  } layers[GST_RNN_ARCH_MAX_LAYERS];
  gboolean has_head;
  rnn_head_kind head;
  gint head_outputs;  /* 0: as many as the task needs (classes, or alphabet + blank) */
  rnn_pool_kind pool;
} GstRnnArchitecture;

/* Parses spec into arch. On failure returns FALSE and writes a message naming the token and its
 * 1-based character position into err. Exposed for tools and tests. */
gboolean gst_rnn_architecture_parse (const gchar * spec, GstRnnArchitecture * arch,
    gchar * err, gsize errlen);

G_END_DECLS
#endif
