/* gst-rnn: the caps of frames between elements (NNStreamer's static tensor stream).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Field names and spellings follow NNStreamer's: "other/tensors" with format, num_tensors, types,
 * dimensions and framerate; the single-tensor "other/tensor" form uses "type" and "dimension".
 * A dimension string lists up to 16 colon-separated extents, innermost first; NNStreamer writes
 * unused trailing extents as 1 (or leaves them out), so "40", "40:1" and "40:1:1:1" all describe
 * one frame of 40 values.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rnncaps.h"

#define NNS_TENSOR_RANK_LIMIT 16

GstCaps *
gst_rnn_frames_caps_template (void)
{
  return gst_caps_from_string (GST_RNN_FRAMES_CAPS_TEMPLATE);
}

static GstCaps *
frames_caps_base (gint size)
{
  gchar *dims = g_strdup_printf ("%d:1:1:1", size);
  GstCaps *caps = gst_caps_new_simple ("other/tensors",
      "format", G_TYPE_STRING, "static",
      "num_tensors", G_TYPE_INT, 1,
      "types", G_TYPE_STRING, "float32",
      "dimensions", G_TYPE_STRING, dims, NULL);

  g_free (dims);
  return caps;
}

GstCaps *
gst_rnn_frames_caps_new (gint size, gint rate_n, gint rate_d)
{
  GstCaps *caps;

  g_return_val_if_fail (size > 0, NULL);
  g_return_val_if_fail (rate_n >= 0 && rate_d > 0, NULL);

  caps = frames_caps_base (size);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, rate_n, rate_d, NULL);
  return caps;
}

GstCaps *
gst_rnn_frames_caps_for_size (gint size)
{
  GstCaps *caps;

  g_return_val_if_fail (size > 0, NULL);

  caps = frames_caps_base (size);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION_RANGE, 0, 1, G_MAXINT, 1, NULL);
  return caps;
}

/* Parses "N[:1[:1...]]" into N; FALSE unless every extent after the first is 1. */
static gboolean
parse_frame_dimension (const gchar * dims, gint * size)
{
  gchar **parts;
  guint n, i;
  gboolean ok = TRUE;
  gint first = 0;

  if (dims == NULL || *dims == '\0')
    return FALSE;
  parts = g_strsplit (dims, ":", -1);
  n = g_strv_length (parts);
  if (n == 0 || n > NNS_TENSOR_RANK_LIMIT)
    ok = FALSE;
  for (i = 0; ok && i < n; i++) {
    gchar *end = NULL;
    const gchar *p = g_strstrip (parts[i]);
    gint64 v;

    if (*p == '\0') {
      ok = FALSE;               /* "40::1" or a trailing colon */
      break;
    }
    v = g_ascii_strtoll (p, &end, 10);
    if (end == p || *end != '\0' || v < 1 || v > G_MAXINT) {
      ok = FALSE;
      break;
    }
    if (i == 0)
      first = (gint) v;
    else if (v != 1)
      ok = FALSE;
  }
  g_strfreev (parts);
  if (ok)
    *size = first;
  return ok;
}

gboolean
gst_rnn_frames_caps_parse (const GstCaps * caps, gint * size, gint * rate_n, gint * rate_d,
    GError ** error)
{
  const GstStructure *s;
  const gchar *name, *types, *dims, *format;
  gboolean single;
  gint n_tensors = 1, fn = 0, fd = 1, dim = 0;
  gchar *str;

  g_return_val_if_fail (caps != NULL, FALSE);

  str = gst_caps_to_string (caps);
  if (gst_caps_get_size (caps) != 1 || !gst_caps_is_fixed (caps)) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "frames caps must be fixed, got %s", str);
    goto fail;
  }
  s = gst_caps_get_structure (caps, 0);
  name = gst_structure_get_name (s);
  if (g_str_equal (name, "other/tensors")) {
    single = FALSE;
  } else if (g_str_equal (name, "other/tensor")) {
    single = TRUE;
  } else {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "expected other/tensors frames, got %s", str);
    goto fail;
  }

  if (!single) {
    format = gst_structure_get_string (s, "format");
    if (format != NULL && !g_str_equal (format, "static")) {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
          "format=%s is not supported, only static tensor streams: %s", format, str);
      goto fail;
    }
    if (gst_structure_has_field (s, "num_tensors")
        && !gst_structure_get_int (s, "num_tensors", &n_tensors)) {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
          "num_tensors is not an integer: %s", str);
      goto fail;
    }
    if (n_tensors != 1) {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
          "num_tensors=%d, frames must be exactly one tensor: %s", n_tensors, str);
      goto fail;
    }
  }

  types = gst_structure_get_string (s, single ? "type" : "types");
  if (types == NULL || !g_str_equal (types, "float32")) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "%s=%s, frames must be float32: %s", single ? "type" : "types",
        types ? types : "(missing)", str);
    goto fail;
  }

  dims = gst_structure_get_string (s, single ? "dimension" : "dimensions");
  if (!parse_frame_dimension (dims, &dim)) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "%s=%s, frames must be N:1:1:1 (one vector of N values): %s",
        single ? "dimension" : "dimensions", dims ? dims : "(missing)", str);
    goto fail;
  }

  if (gst_structure_has_field (s, "framerate")
      && !gst_structure_get_fraction (s, "framerate", &fn, &fd)) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "framerate is not a fraction: %s", str);
    goto fail;
  }

  if (size)
    *size = dim;
  if (rate_n)
    *rate_n = fn;
  if (rate_d)
    *rate_d = fd;
  g_free (str);
  return TRUE;

fail:
  g_free (str);
  return FALSE;
}
