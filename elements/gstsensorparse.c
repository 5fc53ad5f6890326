/* gst-rnn: sensorparse, CSV sensor samples to multichannel F32 audio.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-sensorparse
 * @title: sensorparse
 *
 * Parses sensor logs written as delimited text, one sample per line and one numeric column per
 * sensor axis, into `audio/x-raw,format=F32LE,layout=interleaved` with one channel per column, so
 * that accelerometer or gyroscope streams can go through the same feature extraction and recurrent
 * elements as sound.
 *
 * Input rules:
 *
 * - Lines end with `\n` (a `\r` before it is ignored); the last line may lack its newline.
 *   Lines may be split across input buffers in any way.
 * - The separator is chosen on the first non-empty line: the first of `,` `;` and tab found in
 *   it, or runs of spaces and tabs when the line has none of them. Spaces around fields are
 *   ignored.
 * - The first non-empty line is a header, and skipped, when any of its fields is not a number.
 * - The first data line fixes the channel count. Empty lines are ignored.
 * - A malformed line (a field that is empty, not a number, `nan`/`inf` or out of the float range,
 *   the wrong number of fields, a NUL byte, or more than 64 KiB) posts a warning naming the line
 *   number (1-based, counting every line, as an editor shows it) and the problem, and is skipped
 *   (`on-error=skip`, the default; after 20 warnings the rest are skipped silently), or stops the
 *   stream with an error (`on-error=stop`). A skipped line takes no sample slot: the samples after
 *   it follow on without a gap, so the output stays contiguous as feature extraction expects.
 *
 * Timestamps come from the sample count: sample n starts at n / `rate`, in a TIME segment that
 * starts at 0 (the upstream segment, usually in bytes from filesrc, is not forwarded). A flush or
 * a new stream starts counting again from zero and looks for a header again.
 *
 * Input caps: `filesrc` without `typefind` sends no caps at all, which the sink pad takes as is;
 * with caps, text ones (`text/csv`, `text/x-csv`, `text/plain` as typefind names text files,
 * `text/tab-separated-values`, `text/x-raw,format=utf8`) and `application/octet-stream` are
 * accepted. Anything else (say, decoded audio) does not link.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=walk.csv ! sensorparse rate=10 ! fakesink dump=true
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstsensorparse.h"

#include <float.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (sensor_parse_debug);
#define GST_CAT_DEFAULT sensor_parse_debug

#define DEFAULT_RATE 100
#define DEFAULT_ON_ERROR GST_SENSOR_PARSE_ON_ERROR_SKIP

/* A line longer than this is malformed; it bounds the memory a file without newlines can take. */
#define SENSOR_PARSE_MAX_LINE (64 * 1024)
/* More columns than this is not a sensor log; it bounds the per-line scratch row. */
#define SENSOR_PARSE_MAX_COLUMNS 1024
/* After this many warnings in one stream, further malformed lines are skipped silently. */
#define SENSOR_PARSE_MAX_WARNINGS 20

enum
{
  PROP_0,
  PROP_RATE,
  PROP_ON_ERROR,
};

struct _GstSensorParse
{
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties, under the object lock */
  gint rate;
  GstSensorParseOnError on_error;

  /* streaming state, under the sink pad's stream lock */
  GByteArray *line;             /* the line being assembled, without its newline */
  gboolean discarding;          /* dropping the rest of an overlong line */
  guint64 line_number;          /* lines completed so far */
  gchar separator;              /* 0 until the first non-empty line, ' ' for whitespace */
  gboolean seen_first_line;     /* header decision made */
  gint channels;                /* 0 until the first data line */
  gint out_rate;                /* the rate in the caps sent */
  guint64 samples_out;          /* samples pushed since the stream (or flush) started */
  guint64 data_lines;
  guint64 malformed_lines;
  gboolean need_segment;
  gboolean discont;
  GArray *values;               /* samples parsed from the current input buffer */
  GArray *row;                  /* one line's values */
};

#define gst_sensor_parse_parent_class parent_class
G_DEFINE_TYPE (GstSensorParse, gst_sensor_parse, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (sensorparse, "sensorparse", GST_RANK_NONE, GST_TYPE_SENSOR_PARSE);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("text/csv; text/x-csv; text/plain; text/tab-separated-values; "
        "text/x-raw, format=(string)utf8; application/octet-stream"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format=(string)F32LE, layout=(string)interleaved, "
        "rate=(int)[ 1, MAX ], channels=(int)[ 1, MAX ]"));

GType
gst_sensor_parse_on_error_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_SENSOR_PARSE_ON_ERROR_SKIP, "Post a warning naming the line, skip it and go on", "skip"},
    {GST_SENSOR_PARSE_ON_ERROR_STOP, "Post an error naming the line and stop the stream", "stop"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSensorParseOnError", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
gst_sensor_parse_reset (GstSensorParse * self)
{
  g_byte_array_set_size (self->line, 0);
  g_array_set_size (self->values, 0);
  self->discarding = FALSE;
  self->line_number = 0;
  self->separator = 0;
  self->seen_first_line = FALSE;
  self->channels = 0;
  self->samples_out = 0;
  self->data_lines = 0;
  self->malformed_lines = 0;
  self->need_segment = TRUE;
  self->discont = TRUE;
}

/* Reports a malformed line, the one place such messages are built. Returns GST_FLOW_OK to skip
 * the line (on-error=skip) or GST_FLOW_ERROR after posting an error (on-error=stop). */
static GstFlowReturn
gst_sensor_parse_malformed (GstSensorParse * self, guint64 line_number, const gchar * problem)
{
  GstSensorParseOnError on_error;

  GST_OBJECT_LOCK (self);
  on_error = self->on_error;
  GST_OBJECT_UNLOCK (self);

  self->malformed_lines++;
  if (on_error == GST_SENSOR_PARSE_ON_ERROR_STOP) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Malformed sensor data at line %" G_GUINT64_FORMAT ": %s.", line_number, problem),
        ("on-error=stop"));
    return GST_FLOW_ERROR;
  }

  if (self->malformed_lines <= SENSOR_PARSE_MAX_WARNINGS) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Malformed sensor data at line %" G_GUINT64_FORMAT ": %s; line skipped.", line_number,
            problem), ("%s", self->malformed_lines == SENSOR_PARSE_MAX_WARNINGS ?
            "further malformed lines are skipped without a warning" : "on-error=skip"));
  } else {
    GST_DEBUG_OBJECT (self, "line %" G_GUINT64_FORMAT " skipped: %s", line_number, problem);
  }
  return GST_FLOW_OK;
}

static gboolean
is_blank (gchar c)
{
  return c == ' ' || c == '\t' || c == '\r';
}

static gchar
choose_separator (const gchar * text)
{
  if (strchr (text, ','))
    return ',';
  if (strchr (text, ';'))
    return ';';
  if (strchr (text, '\t'))
    return '\t';
  return ' ';
}

/* Splits @text (NUL-terminated, modified in place) into fields and parses them into self->row.
 * Returns NULL when every field is a finite float, otherwise a newly allocated description of the
 * first bad field (allocation only happens on this error path). */
static gchar *
gst_sensor_parse_fields (GstSensorParse * self, gchar * text)
{
  gchar *p = text;
  guint index = 0;

  g_array_set_size (self->row, 0);
  for (;;) {
    gchar *start, *end, *stop;
    gchar saved;
    gdouble value;
    gboolean last;

    if (self->separator == ' ') {
      while (is_blank (*p))
        p++;
      if (*p == '\0')
        break;
      start = p;
      while (*p != '\0' && !is_blank (*p))
        p++;
      end = p;
      last = FALSE;
    } else {
      start = p;
      while (*p != '\0' && *p != self->separator)
        p++;
      end = p;
      last = (*p == '\0');
      while (start < end && is_blank (*start))
        start++;
      while (end > start && is_blank (end[-1]))
        end--;
    }
    index++;
    if (index > SENSOR_PARSE_MAX_COLUMNS)
      return g_strdup_printf ("more than %d fields", SENSOR_PARSE_MAX_COLUMNS);
    if (start == end)
      return g_strdup_printf ("field %u is empty", index);

    saved = *end;
    *end = '\0';
    value = g_ascii_strtod (start, &stop);
    if (stop != end) {
      gchar *problem = g_strdup_printf ("field %u (\"%s\") is not a number", index, start);
      *end = saved;
      return problem;
    }
    if (!isfinite (value) || fabs (value) > FLT_MAX) {
      gchar *problem = g_strdup_printf ("field %u (\"%s\") is not a finite 32-bit float",
          index, start);
      *end = saved;
      return problem;
    }
    *end = saved;
    {
      gfloat f = (gfloat) value;
      g_array_append_val (self->row, f);
    }

    if (self->separator != ' ') {
      if (last)
        break;
      p++;                      /* past the separator */
    }
  }
  return NULL;
}

/* Handles the complete line in self->line. */
static GstFlowReturn
gst_sensor_parse_line (GstSensorParse * self)
{
  gchar *text;
  gchar *problem;
  gsize len = self->line->len;
  guint i;
  GstFlowReturn ret = GST_FLOW_OK;

  if (memchr (self->line->data, '\0', len))
    return gst_sensor_parse_malformed (self, self->line_number, "it contains a NUL byte");

  g_byte_array_append (self->line, (const guint8 *) "", 1);
  text = (gchar *) self->line->data;
  while (*text != '\0' && is_blank (*text))
    text++;
  if (*text == '\0')
    return GST_FLOW_OK;         /* empty line */

  if (self->separator == 0)
    self->separator = choose_separator (text);

  problem = gst_sensor_parse_fields (self, text);

  if (!self->seen_first_line) {
    self->seen_first_line = TRUE;
    if (problem) {
      GST_INFO_OBJECT (self, "line %" G_GUINT64_FORMAT " is a header: %s", self->line_number,
          text);
      g_free (problem);
      return GST_FLOW_OK;
    }
  }

  if (!problem && self->channels == 0) {
    self->channels = self->row->len;
    GST_INFO_OBJECT (self, "%d columns, separator '%c'", self->channels,
        self->separator == '\t' ? 't' : self->separator);
  }
  if (!problem && (gint) self->row->len != self->channels)
    problem = g_strdup_printf ("%u fields, expected %d", self->row->len, self->channels);

  if (problem) {
    ret = gst_sensor_parse_malformed (self, self->line_number, problem);
    g_free (problem);
    return ret;
  }

  for (i = 0; i < self->row->len; i++) {
    gfloat le = GFLOAT_TO_LE (g_array_index (self->row, gfloat, i));
    g_array_append_val (self->values, le);
  }
  self->data_lines++;
  return GST_FLOW_OK;
}

/* Feeds bytes to the line assembler; every completed line is parsed into self->values. */
static GstFlowReturn
gst_sensor_parse_consume (GstSensorParse * self, const guint8 * data, gsize size)
{
  while (size > 0) {
    const guint8 *newline = memchr (data, '\n', size);
    gsize take = newline ? (gsize) (newline - data) : size;

    if (!self->discarding) {
      if (self->line->len + take > SENSOR_PARSE_MAX_LINE) {
        gchar *problem = g_strdup_printf ("it is longer than %d bytes", SENSOR_PARSE_MAX_LINE);
        GstFlowReturn ret = gst_sensor_parse_malformed (self, self->line_number + 1, problem);

        g_free (problem);
        g_byte_array_set_size (self->line, 0);
        if (ret != GST_FLOW_OK)
          return ret;
        self->discarding = TRUE;
      } else {
        g_byte_array_append (self->line, data, take);
      }
    }

    if (newline) {
      self->line_number++;
      if (self->discarding) {
        self->discarding = FALSE;
      } else {
        GstFlowReturn ret = gst_sensor_parse_line (self);

        g_byte_array_set_size (self->line, 0);
        if (ret != GST_FLOW_OK)
          return ret;
      }
      take++;
    }
    data += take;
    size -= take;
  }
  return GST_FLOW_OK;
}

static gboolean
gst_sensor_parse_send_segment (GstSensorParse * self)
{
  GstSegment segment;

  if (!self->need_segment)
    return TRUE;
  self->need_segment = FALSE;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  return gst_pad_push_event (self->srcpad, gst_event_new_segment (&segment));
}

static GstFlowReturn
gst_sensor_parse_send_caps (GstSensorParse * self)
{
  GstCaps *caps;
  gboolean ok;

  GST_OBJECT_LOCK (self);
  self->out_rate = self->rate;
  GST_OBJECT_UNLOCK (self);

  caps = gst_caps_new_simple ("audio/x-raw",
      "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved",
      "rate", G_TYPE_INT, self->out_rate, "channels", G_TYPE_INT, self->channels, NULL);
  /* Sensor axes have no speaker positions: several channels are "unpositioned". */
  if (self->channels > 1)
    gst_caps_set_simple (caps, "channel-mask", GST_TYPE_BITMASK, (guint64) 0, NULL);

  ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  return ok ? GST_FLOW_OK : GST_FLOW_NOT_NEGOTIATED;
}

/* Pushes the samples parsed so far as one buffer, timestamped from the sample count. */
static GstFlowReturn
gst_sensor_parse_push (GstSensorParse * self)
{
  GstBuffer *buf;
  guint n;
  GstFlowReturn ret;

  if (self->values->len == 0)
    return GST_FLOW_OK;

  if (!gst_pad_has_current_caps (self->srcpad) || self->need_segment) {
    ret = gst_sensor_parse_send_caps (self);
    if (ret != GST_FLOW_OK) {
      g_array_set_size (self->values, 0);
      return ret;
    }
  }
  gst_sensor_parse_send_segment (self);

  n = self->values->len / self->channels;
  buf = gst_buffer_new_memdup (self->values->data, (gsize) self->values->len * sizeof (gfloat));
  g_array_set_size (self->values, 0);

  GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (self->samples_out, GST_SECOND,
      self->out_rate);
  GST_BUFFER_DURATION (buf) = gst_util_uint64_scale_int (self->samples_out + n, GST_SECOND,
      self->out_rate) - GST_BUFFER_PTS (buf);
  GST_BUFFER_OFFSET (buf) = self->samples_out;
  GST_BUFFER_OFFSET_END (buf) = self->samples_out + n;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
  self->samples_out += n;

  return gst_pad_push (self->srcpad, buf);
}

static GstFlowReturn
gst_sensor_parse_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstSensorParse *self = GST_SENSOR_PARSE (parent);
  GstMapInfo map;
  GstFlowReturn ret;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map an input buffer."), (NULL));
    return GST_FLOW_ERROR;
  }
  ret = gst_sensor_parse_consume (self, map.data, map.size);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);

  if (ret != GST_FLOW_OK) {
    g_array_set_size (self->values, 0);
    return ret;
  }
  return gst_sensor_parse_push (self);
}

/* At EOS: parses a last line without newline, pushes what is left. */
static GstFlowReturn
gst_sensor_parse_drain (GstSensorParse * self)
{
  GstFlowReturn ret = GST_FLOW_OK;

  if (self->line->len > 0 && !self->discarding) {
    self->line_number++;
    ret = gst_sensor_parse_line (self);
  }
  g_byte_array_set_size (self->line, 0);
  self->discarding = FALSE;
  if (ret == GST_FLOW_OK)
    ret = gst_sensor_parse_push (self);

  if (ret == GST_FLOW_OK && self->data_lines == 0) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("No sensor samples in the input (%" G_GUINT64_FORMAT " lines, %" G_GUINT64_FORMAT
            " of them malformed).", self->line_number, self->malformed_lines), (NULL));
  }
  if (self->malformed_lines > SENSOR_PARSE_MAX_WARNINGS) {
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " malformed lines skipped in all",
        self->malformed_lines);
  }
  return ret;
}

static gboolean
gst_sensor_parse_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstSensorParse *self = GST_SENSOR_PARSE (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      gst_sensor_parse_reset (self);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_CAPS:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_GAP:
      /* Our own caps follow from the first data line, our TIME segment from the sample count. */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_FLUSH_STOP:
      gst_sensor_parse_reset (self);
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_EOS:
      gst_sensor_parse_drain (self);
      /* EOS needs a segment before it even when no sample ever came. */
      gst_sensor_parse_send_segment (self);
      return gst_pad_event_default (pad, parent, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_sensor_parse_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstSensorParse *self = GST_SENSOR_PARSE (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_POSITION) {
    GstFormat format;

    gst_query_parse_position (query, &format, NULL);
    if (format == GST_FORMAT_TIME && self->out_rate > 0) {
      gst_query_set_position (query, GST_FORMAT_TIME,
          gst_util_uint64_scale_int (self->samples_out, GST_SECOND, self->out_rate));
      return TRUE;
    }
  }
  return gst_pad_query_default (pad, parent, query);
}

static GstStateChangeReturn
gst_sensor_parse_change_state (GstElement * element, GstStateChange transition)
{
  GstSensorParse *self = GST_SENSOR_PARSE (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    gst_sensor_parse_reset (self);

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    gst_sensor_parse_reset (self);
  return ret;
}

static void
gst_sensor_parse_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstSensorParse *self = GST_SENSOR_PARSE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RATE:
      self->rate = g_value_get_int (value);
      break;
    case PROP_ON_ERROR:
      self->on_error = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_sensor_parse_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstSensorParse *self = GST_SENSOR_PARSE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RATE:
      g_value_set_int (value, self->rate);
      break;
    case PROP_ON_ERROR:
      g_value_set_enum (value, self->on_error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_sensor_parse_finalize (GObject * object)
{
  GstSensorParse *self = GST_SENSOR_PARSE (object);

  g_byte_array_unref (self->line);
  g_array_unref (self->values);
  g_array_unref (self->row);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_sensor_parse_class_init (GstSensorParseClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (sensor_parse_debug, "sensorparse", 0,
      "CSV sensor samples to F32 audio");

  gobject_class->set_property = gst_sensor_parse_set_property;
  gobject_class->get_property = gst_sensor_parse_get_property;
  gobject_class->finalize = gst_sensor_parse_finalize;

  g_object_class_install_property (gobject_class, PROP_RATE,
      g_param_spec_int ("rate", "Rate",
          "Sample rate of the sensor log in Hz (one line is one sample); read when the first "
          "data line of a stream is parsed", 1, G_MAXINT, DEFAULT_RATE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ON_ERROR,
      g_param_spec_enum ("on-error", "On error",
          "What a malformed line does: skip it after a warning naming its line number, or stop "
          "the stream with an error", GST_TYPE_SENSOR_PARSE_ON_ERROR, DEFAULT_ON_ERROR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_sensor_parse_change_state);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Sensor CSV parser",
      "Codec/Parser/Audio", "Parses delimited sensor samples (one line per sample, one column "
      "per axis) into F32LE audio with one channel per column", "gst-rnn");

  gst_type_mark_as_plugin_api (GST_TYPE_SENSOR_PARSE_ON_ERROR, 0);
}

static void
gst_sensor_parse_init (GstSensorParse * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_sensor_parse_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_sensor_parse_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_sensor_parse_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->rate = DEFAULT_RATE;
  self->on_error = DEFAULT_ON_ERROR;
  self->line = g_byte_array_sized_new (256);
  self->values = g_array_new (FALSE, FALSE, sizeof (gfloat));
  self->row = g_array_new (FALSE, FALSE, sizeof (gfloat));
  gst_sensor_parse_reset (self);
}
