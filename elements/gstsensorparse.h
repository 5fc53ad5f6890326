/* gst-rnn: sensorparse, CSV sensor samples to multichannel F32 audio.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_SENSOR_PARSE_H
#define GST_SENSOR_PARSE_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SENSOR_PARSE (gst_sensor_parse_get_type ())
G_DECLARE_FINAL_TYPE (GstSensorParse, gst_sensor_parse, GST, SENSOR_PARSE, GstElement)

/* What a malformed line does: warn and skip it, or stop the stream with an error. */
typedef enum
{
  GST_SENSOR_PARSE_ON_ERROR_SKIP,
  GST_SENSOR_PARSE_ON_ERROR_STOP,
} GstSensorParseOnError;

#define GST_TYPE_SENSOR_PARSE_ON_ERROR (gst_sensor_parse_on_error_get_type ())
GType gst_sensor_parse_on_error_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (sensorparse);

G_END_DECLS
#endif
