/* gst-rnn: models loaded once per file and shared by every element instance.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The cache keys on the canonical path and the file's identity (device, inode, size, mtime), so a
 * model rewritten on disk (e.g. by rnntrain) is loaded anew while streams holding the old one keep it.
 */
#ifndef GST_RNN_MODEL_CACHE_H
#define GST_RNN_MODEL_CACHE_H

#include <gst/gst.h>
#include "rnn.h"

G_BEGIN_DECLS

#define GST_RNN_ERROR gst_rnn_error_quark ()
GQuark gst_rnn_error_quark (void);
typedef enum {
  GST_RNN_ERROR_MODEL,    /* a model file cannot be loaded */
  GST_RNN_ERROR_SETTINGS, /* a property contradicts the model */
  GST_RNN_ERROR_CAPS      /* caps do not fit the model */
} GstRnnError;

/* A new reference to the model at path (rnn_model_unref() it), or NULL with *error naming the
 * file and the problem. Thread-safe. */
rnn_model *gst_rnn_model_cache_get (const gchar * path, GError ** error);

G_END_DECLS
#endif
