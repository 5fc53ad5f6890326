/* gst-rnn: portaudiosrc, live audio capture through PortAudio.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-portaudiosrc
 * @title: portaudiosrc
 *
 * Captures audio from a PortAudio input device (ALSA, JACK, OSS... whatever host APIs the
 * PortAudio library was built with), as S16LE or F32LE interleaved audio at a rate and channel
 * count the device accepts. The device is chosen by `device-name` (an exact name, else the first
 * input device whose name contains it, ignoring case), else by `device` (an index), else PortAudio's
 * default input device. `gst-device-monitor-1.0 Audio/Source` lists the devices through the
 * `portaudiodeviceprovider`.
 *
 * Timestamps come from the sample count: buffer k starts at the running time at which capture
 * started plus the duration of the samples before it. After an overflow (samples lost, because
 * downstream did not keep up) the next buffer is flagged DISCONT and its timestamp is taken from
 * the clock again. Pausing stops capture; playing again restarts it (DISCONT).
 *
 * Latency: a buffer (latency-time) is complete when its last sample has been captured, which
 * PortAudio's input latency delays further, so the reported minimum is latency-time plus the
 * stream's input latency; samples can wait buffer-time more in the FIFO (the reported maximum).
 *
 * A device that cannot be opened, and a device that stops delivering samples for longer than
 * buffer-time + 2 s (unplugged, stalled driver), post an error naming the device and the reason.
 *
 * ## Design: GstPushSrc over a PortAudio callback stream and a bounded FIFO
 *
 * GstAudioSrc's ring buffer thread reads the device as fast as the device delivers and overwrites
 * segments downstream has not consumed yet. That is right for a hardware clock, but PortAudio also
 * exposes devices with no clock of their own (ALSA's `file` and `null` plugins, which the tests use,
 * loopbacks), which deliver samples as fast as they are read: through GstAudioSrc those lose
 * most of their data. Here the PortAudio callback copies into a FIFO (sized by buffer-time) and, when
 * the FIFO is full, waits a bounded time for room (buffer-time, at least 0.5 s) before it
 * drops samples and flags an overflow. A real microphone never waits as long as downstream keeps
 * up; a clockless device is paced by downstream and loses nothing. `fill` waits on the FIFO with a
 * timeout, so a stalled host API (a blocked read inside ALSA) becomes an error instead of a hang,
 * and Pa_AbortStream, which cancels PortAudio's capture thread, stops even a stalled stream.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 portaudiosrc device-name=USB ! audio/x-raw,rate=16000,channels=1 ! \
 *     audioconvert ! wavenc ! filesink location=mic.wav
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstportaudiosrc.h"

#include <gst/audio/audio.h>
#include <string.h>
#ifdef G_OS_UNIX
#include <pthread.h>
#endif

GST_DEBUG_CATEGORY_STATIC (portaudio_src_debug);
#define GST_CAT_DEFAULT portaudio_src_debug

#define DEFAULT_DEVICE -1
#define DEFAULT_DEVICE_NAME NULL
#define DEFAULT_LATENCY_TIME (10 * G_TIME_SPAN_MILLISECOND)    /* µs, as GstAudioBaseSrc */
#define DEFAULT_BUFFER_TIME (200 * G_TIME_SPAN_MILLISECOND)    /* µs, as GstAudioBaseSrc */
/* Longer buffers than 10 s are a mistake; the bound keeps the FIFO's size sane. */
#define MAX_TIME (10 * G_TIME_SPAN_SECOND)

/* A device that delivers nothing for buffer-time plus this long is treated as lost. */
#define STALL_GRACE (2 * G_TIME_SPAN_SECOND)
/* The least time the capture callback waits for room in the FIFO before it drops samples. */
#define MIN_CALLBACK_WAIT (500 * G_TIME_SPAN_MILLISECOND)
/* How long a state change waits for a stream to stop before abandoning it. */
#define STOP_TIMEOUT (2 * G_TIME_SPAN_SECOND)

enum
{
  PROP_0,
  PROP_DEVICE,
  PROP_DEVICE_NAME,
  PROP_LATENCY_TIME,
  PROP_BUFFER_TIME,
};

#define CAPS_FORMATS "{ S16LE, F32LE }"
/* Devices with more channels than this are offered with 1..8 channels only. */
#define MAX_PROBED_CHANNELS 32

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format=(string)" CAPS_FORMATS ", layout=(string)interleaved, "
        "rate=(int)[ 1, MAX ], channels=(int)[ 1, MAX ]"));

/* What PortAudio's capture thread shares with the element: the FIFO and its flags. Reference
 * counted, because a stream stuck in its host API is abandoned (see close_stream) and may outlive
 * the element. */
typedef struct
{
  gint refcount;
  GMutex lock;
  GCond cond;
  guint8 *fifo;
  gsize capacity;               /* frames */
  gsize head;                   /* frames */
  gsize fill;                   /* frames */
  gsize bpf;
  gint64 callback_wait;         /* µs the callback waits for room */
  gboolean flushing;            /* the element is unlocking: fill returns at once */
  gboolean stopping;            /* the stream is being stopped: the callback drops everything */
  gboolean ended;               /* the stream stopped (us, or the host API on a device error) */
  gboolean overflowed;          /* samples were lost since fill last looked */
} GstPortAudioCapture;

struct _GstPortAudioSrc
{
  GstPushSrc parent;

  /* properties, under the object lock */
  gint device;
  gchar *device_name;
  gint64 latency_time;
  gint64 buffer_time;

  /* the device, from start() to stop(); caps under the object lock */
  gboolean have_pa;
  PaDeviceIndex device_index;
  gchar *device_label;          /* "\"name\" (#i, host API)" for messages */
  gint default_rate;
  GstCaps *device_caps;

  /* the stream: opened in set_caps (and in fill after a pause), started in fill, closed when
   * pausing and stopping; under stream_lock */
  GMutex stream_lock;
  PaStream *stream;
  gboolean have_info;
  GstAudioInfo info;
  gboolean running;
  guint blocksize;              /* frames per buffer */
  gsize fifo_frames;            /* FIFO capacity */
  guint64 samples;              /* samples delivered so far */
  GstClockTime anchor_time;     /* running time of sample anchor_sample */
  guint64 anchor_sample;
  GstClockTime next_time;
  gboolean started_once;
  gboolean discont;

  /* the current stream's shared state; the pointer under the object lock as well */
  GstPortAudioCapture *capture;
  gboolean flushing;            /* under the object lock */
};

#define gst_portaudio_src_parent_class parent_class
G_DEFINE_TYPE (GstPortAudioSrc, gst_portaudio_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (portaudiosrc, "portaudiosrc", GST_RANK_NONE,
    GST_TYPE_PORTAUDIO_SRC);

/* ------------------------------------------------------------------------------------------------
 * PortAudio as process-wide state
 * ------------------------------------------------------------------------------------------------ */

static GMutex pa_init_lock;
static guint pa_users;
static GRecMutex pa_device_lock;

PaError
gst_portaudio_ref (void)
{
  PaError err = paNoError;

  g_mutex_lock (&pa_init_lock);
  if (pa_users == 0)
    err = Pa_Initialize ();
  if (err == paNoError)
    pa_users++;
  g_mutex_unlock (&pa_init_lock);
  return err;
}

void
gst_portaudio_unref (void)
{
  g_mutex_lock (&pa_init_lock);
  g_assert (pa_users > 0);
  if (--pa_users == 0)
    Pa_Terminate ();
  g_mutex_unlock (&pa_init_lock);
}

void
gst_portaudio_lock (void)
{
  g_rec_mutex_lock (&pa_device_lock);
}

void
gst_portaudio_unlock (void)
{
  g_rec_mutex_unlock (&pa_device_lock);
}

gchar *
gst_portaudio_error_text (PaError err)
{
  if (err == paUnanticipatedHostError) {
    const PaHostErrorInfo *host = Pa_GetLastHostErrorInfo ();

    if (host && host->errorText && host->errorText[0]) {
      const PaHostApiInfo *api =
          Pa_GetHostApiInfo (Pa_HostApiTypeIdToHostApiIndex (host->hostApiType));
      return g_strdup_printf ("%s (%s error %ld)", host->errorText,
          api && api->name ? api->name : "host API", host->errorCode);
    }
  }
  /* PortAudio's ALSA host API reports every failed open of a PCM as a bad device combination,
   * which misleads for a single input device; say what it means. */
  if (err == paBadIODeviceCombination)
    return g_strdup_printf ("the host API could not open it (PortAudio: %s)",
        Pa_GetErrorText (err));
  if (err == paDeviceUnavailable)
    return g_strdup_printf ("it is busy or gone (PortAudio: %s)", Pa_GetErrorText (err));
  return g_strdup (Pa_GetErrorText (err));
}

static const gchar *
host_api_name (const PaDeviceInfo * info)
{
  const PaHostApiInfo *api = Pa_GetHostApiInfo (info->hostApi);

  return api && api->name ? api->name : "unknown host API";
}

gchar *
gst_portaudio_describe_inputs (void)
{
  GString *s = g_string_new (NULL);
  PaDeviceIndex i, count = Pa_GetDeviceCount ();
  PaDeviceIndex def = Pa_GetDefaultInputDevice ();

  for (i = 0; i < count; i++) {
    const PaDeviceInfo *info = Pa_GetDeviceInfo (i);

    if (!info || info->maxInputChannels < 1)
      continue;
    g_string_append_printf (s, "%s#%d \"%s\" (%s, %d channels, %.0f Hz%s)", s->len ? "; " : "",
        i, info->name, host_api_name (info), info->maxInputChannels, info->defaultSampleRate,
        i == def ? ", default" : "");
  }
  if (s->len == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

static gboolean
format_supported (PaDeviceIndex index, const PaDeviceInfo * info, gint channels,
    PaSampleFormat format, gint rate)
{
  PaStreamParameters params = {
    .device = index,
    .channelCount = channels,
    .sampleFormat = format,
    .suggestedLatency = info->defaultLowInputLatency,
    .hostApiSpecificStreamInfo = NULL,
  };

  return Pa_IsFormatSupported (&params, NULL, rate) == paFormatIsSupported;
}

static GstStructure *
caps_structure (const gchar * format, const GValue * rates, gint channels, gint max_channels)
{
  GstStructure *s = gst_structure_new ("audio/x-raw", "format", G_TYPE_STRING, format,
      "layout", G_TYPE_STRING, "interleaved", NULL);

  gst_structure_set_value (s, "rate", rates);
  if (max_channels > channels)
    gst_structure_set (s, "channels", GST_TYPE_INT_RANGE, channels, max_channels, NULL);
  else
    gst_structure_set (s, "channels", G_TYPE_INT, channels, NULL);
  /* A capture device does not say where its channels are: beyond stereo they are unpositioned. */
  if (max_channels > 2)
    gst_structure_set (s, "channel-mask", GST_TYPE_BITMASK, (guint64) 0, NULL);
  return s;
}

GstCaps *
gst_portaudio_probe_caps (PaDeviceIndex index)
{
  static const gint common_rates[] = {
    8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
  };
  const PaDeviceInfo *info = Pa_GetDeviceInfo (index);
  GstCaps *caps = gst_caps_new_empty ();
  GValue rates = G_VALUE_INIT, rate_value = G_VALUE_INIT;
  gint default_rate, probe_rate = 0, max_channels, c;
  guint i, f, n_rates = 0;
  gboolean channels_ok[9] = { FALSE };
  gboolean many_channels = FALSE;
  const gchar *formats[2] = { NULL, NULL };

  if (!info || info->maxInputChannels < 1)
    return caps;

  gst_portaudio_lock ();
  default_rate = (gint) (info->defaultSampleRate + 0.5);
  g_value_init (&rates, GST_TYPE_LIST);
  g_value_init (&rate_value, G_TYPE_INT);
  /* The default rate first, so that fixation prefers it. */
  if (default_rate > 0 && format_supported (index, info, 1, paInt16, default_rate)) {
    g_value_set_int (&rate_value, default_rate);
    gst_value_list_append_value (&rates, &rate_value);
    probe_rate = default_rate;
    n_rates++;
  }
  for (i = 0; i < G_N_ELEMENTS (common_rates); i++) {
    if (common_rates[i] == default_rate
        || !format_supported (index, info, 1, paInt16, common_rates[i]))
      continue;
    g_value_set_int (&rate_value, common_rates[i]);
    gst_value_list_append_value (&rates, &rate_value);
    if (probe_rate == 0)
      probe_rate = common_rates[i];
    n_rates++;
  }

  if (n_rates > 0) {
    max_channels = info->maxInputChannels;
    for (c = 1; c <= MIN (max_channels, 8); c++)
      channels_ok[c] = format_supported (index, info, c, paInt16, probe_rate);
    /* Some virtual devices claim 128 channels; opening one that wide can take gigabytes. */
    if (max_channels > 8 && max_channels <= MAX_PROBED_CHANNELS)
      many_channels = format_supported (index, info, max_channels, paInt16, probe_rate);

    /* PortAudio converts sample formats itself, so one check per format is enough. */
    formats[0] = "S16LE";
    if (format_supported (index, info, 1, paFloat32, probe_rate))
      formats[1] = "F32LE";

    if (n_rates == 1) {
      GValue single = G_VALUE_INIT;
      g_value_init (&single, G_TYPE_INT);
      g_value_set_int (&single, probe_rate);
      g_value_unset (&rates);
      rates = single;
    }
    for (f = 0; f < G_N_ELEMENTS (formats); f++) {
      if (!formats[f])
        continue;
      for (c = 1; c <= 8; c++) {
        if (channels_ok[c])
          gst_caps_append_structure (caps, caps_structure (formats[f], &rates, c, c));
      }
      if (many_channels)
        gst_caps_append_structure (caps, caps_structure (formats[f], &rates, 9, max_channels));
    }
  }
  gst_portaudio_unlock ();

  g_value_unset (&rates);
  g_value_unset (&rate_value);
  return caps;
}

/* ------------------------------------------------------------------------------------------------
 * The FIFO and the capture callback
 * ------------------------------------------------------------------------------------------------ */

static GstPortAudioCapture *
capture_new (gsize capacity, gsize bpf, gint64 callback_wait, gboolean flushing)
{
  GstPortAudioCapture *c = g_new0 (GstPortAudioCapture, 1);

  c->refcount = 1;
  g_mutex_init (&c->lock);
  g_cond_init (&c->cond);
  c->fifo = g_malloc (capacity * bpf);
  c->capacity = capacity;
  c->bpf = bpf;
  c->callback_wait = callback_wait;
  c->flushing = flushing;
  return c;
}

static GstPortAudioCapture *
capture_ref (GstPortAudioCapture * c)
{
  g_atomic_int_inc (&c->refcount);
  return c;
}

static void
capture_unref (GstPortAudioCapture * c)
{
  if (!g_atomic_int_dec_and_test (&c->refcount))
    return;
  g_free (c->fifo);
  g_mutex_clear (&c->lock);
  g_cond_clear (&c->cond);
  g_free (c);
}

static void
fifo_write (GstPortAudioCapture * c, const guint8 * data, gsize frames)
{
  gsize tail = (c->head + c->fill) % c->capacity;
  gsize first = MIN (frames, c->capacity - tail);

  memcpy (c->fifo + tail * c->bpf, data, first * c->bpf);
  memcpy (c->fifo, data + first * c->bpf, (frames - first) * c->bpf);
  c->fill += frames;
}

static void
fifo_read (GstPortAudioCapture * c, guint8 * data, gsize frames)
{
  gsize first = MIN (frames, c->capacity - c->head);

  memcpy (data, c->fifo + c->head * c->bpf, first * c->bpf);
  memcpy (data + first * c->bpf, c->fifo, (frames - first) * c->bpf);
  c->head = (c->head + frames) % c->capacity;
  c->fill -= frames;
}

/* Runs in PortAudio's capture thread. */
static int
gst_portaudio_src_callback (const void *input, void *output, unsigned long frames,
    const PaStreamCallbackTimeInfo * time_info, PaStreamCallbackFlags flags, void *user_data)
{
  GstPortAudioCapture *c = user_data;
  const guint8 *data = input;
  gint64 deadline;
#ifdef G_OS_UNIX
  int cancel_state;

  /* A host API that cancels this thread must never do so while it holds the FIFO lock. */
  pthread_setcancelstate (PTHREAD_CANCEL_DISABLE, &cancel_state);
#endif

  g_mutex_lock (&c->lock);
  if (flags & paInputOverflow)
    c->overflowed = TRUE;
  deadline = g_get_monotonic_time () + c->callback_wait;
  while (data && frames > 0 && !c->stopping) {
    gsize n = MIN (c->capacity - c->fill, frames);

    if (n == 0) {
      if (g_cond_wait_until (&c->cond, &c->lock, deadline) || c->fill < c->capacity)
        continue;
      /* Downstream has taken nothing for callback_wait: drop the rest. */
      c->overflowed = TRUE;
      break;
    }
    fifo_write (c, data, n);
    data += n * c->bpf;
    frames -= n;
    g_cond_broadcast (&c->cond);
  }
  g_mutex_unlock (&c->lock);

#ifdef G_OS_UNIX
  pthread_setcancelstate (cancel_state, NULL);
#endif
  return paContinue;
}

/* Runs when the stream stops, whoever stopped it (us, or the host API on a device error). */
static void
gst_portaudio_src_finished (void *user_data)
{
  GstPortAudioCapture *c = user_data;

  g_mutex_lock (&c->lock);
  c->ended = TRUE;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
}

/* Stopping and closing a stream happens in a thread of its own, so that a host API stuck in a
 * read (PortAudio's ALSA capture thread cannot be cancelled there) cannot hang a state change. */
typedef struct
{
  gint refcount;
  PaStream *stream;
  GstPortAudioCapture *capture;
  GMutex lock;
  GCond cond;
  gboolean done;
} StopJob;

static void
stop_job_unref (StopJob * job)
{
  if (!g_atomic_int_dec_and_test (&job->refcount))
    return;
  g_mutex_clear (&job->lock);
  g_cond_clear (&job->cond);
  g_free (job);
}

static gpointer
stop_job_run (gpointer data)
{
  StopJob *job = data;

  Pa_AbortStream (job->stream);
  gst_portaudio_lock ();
  Pa_CloseStream (job->stream);
  gst_portaudio_unlock ();

  g_mutex_lock (&job->lock);
  job->done = TRUE;
  g_cond_broadcast (&job->cond);
  g_mutex_unlock (&job->lock);

  capture_unref (job->capture);
  gst_portaudio_unref ();
  stop_job_unref (job);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Device resolution (start/stop)
 * ------------------------------------------------------------------------------------------------ */

static gboolean
name_contains (const gchar * name, const gchar * wanted)
{
  gchar *a = g_utf8_casefold (name, -1);
  gchar *b = g_utf8_casefold (wanted, -1);
  gboolean found = strstr (a, b) != NULL;

  g_free (a);
  g_free (b);
  return found;
}

/* The device the properties designate, or paNoDevice after posting an error. */
static PaDeviceIndex
gst_portaudio_src_resolve (GstPortAudioSrc * self)
{
  PaDeviceIndex count = Pa_GetDeviceCount ();
  PaDeviceIndex i, found = paNoDevice;
  gchar *name, *inputs;
  gint index;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->device_name);
  index = self->device;
  GST_OBJECT_UNLOCK (self);

  if (count < 0) {
    gchar *text = gst_portaudio_error_text (count);
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Could not list PortAudio devices: %s.", text), (NULL));
    g_free (text);
    g_free (name);
    return paNoDevice;
  }

  if (name && name[0]) {
    for (i = 0; i < count && found == paNoDevice; i++) {
      const PaDeviceInfo *info = Pa_GetDeviceInfo (i);
      if (info && info->maxInputChannels > 0 && g_strcmp0 (info->name, name) == 0)
        found = i;
    }
    for (i = 0; i < count && found == paNoDevice; i++) {
      const PaDeviceInfo *info = Pa_GetDeviceInfo (i);
      if (info && info->maxInputChannels > 0 && name_contains (info->name, name))
        found = i;
    }
    if (found == paNoDevice) {
      inputs = gst_portaudio_describe_inputs ();
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("No PortAudio input device matches device-name \"%s\". Input devices: %s.", name,
              inputs), (NULL));
      g_free (inputs);
    }
  } else if (index >= 0) {
    const PaDeviceInfo *info = index < count ? Pa_GetDeviceInfo (index) : NULL;

    if (info && info->maxInputChannels > 0) {
      found = index;
    } else {
      inputs = gst_portaudio_describe_inputs ();
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("PortAudio device %d is not an input device (%d devices). Input devices: %s.",
              index, count, inputs), (NULL));
      g_free (inputs);
    }
  } else {
    found = Pa_GetDefaultInputDevice ();
    if (found == paNoDevice) {
      inputs = gst_portaudio_describe_inputs ();
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("PortAudio has no default input device. Input devices: %s.", inputs), (NULL));
      g_free (inputs);
    }
  }
  g_free (name);
  return found;
}

/* Opens the device once with its defaults to learn why it cannot be opened. */
static gchar *
why_device_fails (PaDeviceIndex index, const PaDeviceInfo * info)
{
  PaStreamParameters params = {
    .device = index,
    .channelCount = 1,
    .sampleFormat = paInt16,
    .suggestedLatency = info->defaultLowInputLatency,
    .hostApiSpecificStreamInfo = NULL,
  };
  PaStream *stream = NULL;
  PaError err;

  gst_portaudio_lock ();
  err = Pa_OpenStream (&stream, &params, NULL, info->defaultSampleRate, paFramesPerBufferUnspecified,
      paNoFlag, NULL, NULL);
  if (err == paNoError)
    Pa_CloseStream (stream);
  gst_portaudio_unlock ();
  if (err == paNoError)
    return g_strdup ("it supports none of the formats S16LE and F32LE at the common rates");
  return gst_portaudio_error_text (err);
}

static gboolean
gst_portaudio_src_start (GstBaseSrc * bsrc)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);
  const PaDeviceInfo *info;
  PaDeviceIndex index;
  PaError err;
  GstCaps *caps;

  err = gst_portaudio_ref ();
  if (err != paNoError) {
    gchar *text = gst_portaudio_error_text (err);
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not initialise PortAudio: %s.", text),
        (NULL));
    g_free (text);
    return FALSE;
  }
  self->have_pa = TRUE;

  index = gst_portaudio_src_resolve (self);
  if (index == paNoDevice)
    goto failed;

  info = Pa_GetDeviceInfo (index);
  g_free (self->device_label);
  self->device_label = g_strdup_printf ("\"%s\" (#%d, %s)", info->name, index,
      host_api_name (info));
  self->device_index = index;
  self->default_rate = (gint) (info->defaultSampleRate + 0.5);

  caps = gst_portaudio_probe_caps (index);
  if (gst_caps_is_empty (caps)) {
    gchar *reason = why_device_fails (index, info);
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not open PortAudio input device %s: %s.", self->device_label, reason), (NULL));
    g_free (reason);
    gst_caps_unref (caps);
    goto failed;
  }
  GST_INFO_OBJECT (self, "device %s supports %" GST_PTR_FORMAT, self->device_label, caps);

  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->device_caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);

  self->samples = 0;
  self->started_once = FALSE;
  self->next_time = 0;
  return TRUE;

failed:
  gst_portaudio_unref ();
  self->have_pa = FALSE;
  return FALSE;
}

/* ------------------------------------------------------------------------------------------------
 * The stream
 * ------------------------------------------------------------------------------------------------ */

/* Stops and closes the stream. Waits STOP_TIMEOUT for it; a stream whose host API is stuck is
 * then abandoned (with a warning) rather than hanging the state change. */
static void
gst_portaudio_src_close_stream_locked (GstPortAudioSrc * self)
{
  GstPortAudioCapture *c = self->capture;
  StopJob *job;
  GThread *thread;
  gint64 deadline;
  gboolean done;

  if (!self->stream)
    return;

  g_mutex_lock (&c->lock);
  c->stopping = TRUE;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);

  job = g_new0 (StopJob, 1);
  job->refcount = 2;
  job->stream = self->stream;
  job->capture = c;             /* takes the element's reference */
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  /* PortAudio stays initialised until the job is done; it already is, so this cannot fail. */
  gst_portaudio_ref ();

  GST_OBJECT_LOCK (self);
  self->capture = NULL;
  GST_OBJECT_UNLOCK (self);
  self->stream = NULL;
  self->running = FALSE;

  thread = g_thread_try_new ("portaudiosrc-stop", stop_job_run, job, NULL);
  if (thread)
    g_thread_unref (thread);
  else
    stop_job_run (job);

  g_mutex_lock (&job->lock);
  deadline = g_get_monotonic_time () + STOP_TIMEOUT;
  while (!job->done) {
    if (!g_cond_wait_until (&job->cond, &job->lock, deadline))
      break;
  }
  done = job->done;
  g_mutex_unlock (&job->lock);
  stop_job_unref (job);

  if (!done) {
    GST_ELEMENT_WARNING (self, RESOURCE, CLOSE,
        ("PortAudio input device %s did not stop within %d s; its stream was abandoned.",
            self->device_label, (gint) (STOP_TIMEOUT / G_TIME_SPAN_SECOND)),
        ("the host API is stuck in the capture thread"));
  }
}

static gboolean
gst_portaudio_src_open_stream_locked (GstPortAudioSrc * self)
{
  const GstAudioInfo *info = &self->info;
  PaStreamParameters params = { 0 };
  gint64 latency_time, buffer_time;
  gsize capacity;
  PaError err;
  PaStream *stream = NULL;
  GstPortAudioCapture *c;
  gboolean flushing;

  GST_OBJECT_LOCK (self);
  latency_time = self->latency_time;
  buffer_time = MAX (self->buffer_time, self->latency_time);
  flushing = self->flushing;
  GST_OBJECT_UNLOCK (self);

  params.device = self->device_index;
  params.channelCount = GST_AUDIO_INFO_CHANNELS (info);
  params.sampleFormat = GST_AUDIO_INFO_FORMAT (info) == GST_AUDIO_FORMAT_F32LE ? paFloat32 : paInt16;
  /* PortAudio's own buffer stays small, for a low capture latency: two buffers, or the device's
   * default high input latency (which the host API handles without overruns) if that is more,
   * within buffer-time. The FIFO (buffer-time) absorbs downstream's jitter. */
  {
    const PaDeviceInfo *device = Pa_GetDeviceInfo (self->device_index);
    gdouble host = 2.0 * latency_time / G_TIME_SPAN_SECOND;

    if (device && device->defaultHighInputLatency > host)
      host = device->defaultHighInputLatency;
    params.suggestedLatency = MIN (host, buffer_time / (gdouble) G_TIME_SPAN_SECOND);
  }
  self->blocksize = MAX (1, gst_util_uint64_scale (GST_AUDIO_INFO_RATE (info), latency_time,
          G_TIME_SPAN_SECOND));
  capacity = MAX (2 * (gsize) self->blocksize,
      gst_util_uint64_scale (GST_AUDIO_INFO_RATE (info), buffer_time, G_TIME_SPAN_SECOND));
  self->fifo_frames = capacity;
  c = capture_new (capacity, GST_AUDIO_INFO_BPF (info), MAX (buffer_time, MIN_CALLBACK_WAIT),
      flushing);

  gst_portaudio_lock ();
  err = Pa_OpenStream (&stream, &params, NULL, GST_AUDIO_INFO_RATE (info), self->blocksize,
      paNoFlag, gst_portaudio_src_callback, c);
  if (err == paNoError)
    Pa_SetStreamFinishedCallback (stream, gst_portaudio_src_finished);
  gst_portaudio_unlock ();

  if (err != paNoError) {
    gchar *text = gst_portaudio_error_text (err);
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not open PortAudio input device %s: %s.", self->device_label, text),
        ("%s, %d Hz, %d channels, suggested latency %.3f s",
            GST_AUDIO_INFO_NAME (info), GST_AUDIO_INFO_RATE (info),
            GST_AUDIO_INFO_CHANNELS (info), params.suggestedLatency));
    g_free (text);
    capture_unref (c);
    return FALSE;
  }

  GST_OBJECT_LOCK (self);
  self->capture = c;
  c->flushing = self->flushing;
  GST_OBJECT_UNLOCK (self);
  self->stream = stream;
  self->running = FALSE;
  GST_INFO_OBJECT (self, "opened %s: %d Hz, %d channels, %s, %u frames per buffer, FIFO %"
      G_GSIZE_FORMAT " frames", self->device_label, GST_AUDIO_INFO_RATE (info),
      GST_AUDIO_INFO_CHANNELS (info), GST_AUDIO_INFO_NAME (info), self->blocksize, capacity);
  return TRUE;
}

static GstClockTime
gst_portaudio_src_running_time (GstPortAudioSrc * self)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));
  GstClockTime now, base;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  base = gst_element_get_base_time (GST_ELEMENT (self));
  gst_object_unref (clock);
  return now > base ? now - base : 0;
}

static GstFlowReturn
gst_portaudio_src_start_stream_locked (GstPortAudioSrc * self)
{
  GstClockTime now;
  PaError err;

  now = gst_portaudio_src_running_time (self);
  err = Pa_StartStream (self->stream);
  if (err != paNoError) {
    gchar *text = gst_portaudio_error_text (err);
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not start capturing from PortAudio input device %s: %s.", self->device_label,
            text), (NULL));
    g_free (text);
    return GST_FLOW_ERROR;
  }
  self->running = TRUE;
  self->discont = TRUE;
  /* Sample 0 after this start is captured now; without a clock, time just goes on. */
  if (GST_CLOCK_TIME_IS_VALID (now)) {
    self->anchor_time = MAX (now, self->next_time);
    self->anchor_sample = self->samples;
  } else if (!self->started_once) {
    self->anchor_time = 0;
    self->anchor_sample = 0;
  }
  self->started_once = TRUE;
  return GST_FLOW_OK;
}

/* Waits (bounded) for @frames frames and copies them into @buf. */
static GstFlowReturn
gst_portaudio_src_take (GstPortAudioSrc * self, GstBuffer * buf, gsize frames,
    gboolean * overflowed, gsize * queued)
{
  GstPortAudioCapture *c = self->capture;
  gint64 started, stall_limit;
  GstMapInfo map;
  gboolean ended;

  GST_OBJECT_LOCK (self);
  stall_limit = MAX (self->buffer_time, self->latency_time) + STALL_GRACE;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&c->lock);
  started = g_get_monotonic_time ();
  while (c->fill < frames && !c->flushing && !c->ended) {
    if (!g_cond_wait_until (&c->cond, &c->lock, started + stall_limit))
      break;
  }
  if (c->flushing) {
    g_mutex_unlock (&c->lock);
    return GST_FLOW_FLUSHING;
  }
  if (c->fill < frames) {
    ended = c->ended;
    g_mutex_unlock (&c->lock);
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("PortAudio input device %s stopped delivering audio.", self->device_label),
        ("%s after %" G_GINT64_FORMAT " ms waiting for %" G_GSIZE_FORMAT " frames",
            ended ? "the stream ended" : "no samples", (g_get_monotonic_time () - started) / 1000,
            frames));
    return GST_FLOW_ERROR;
  }

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  fifo_read (c, map.data, frames);
  gst_buffer_unmap (buf, &map);
  *overflowed = c->overflowed;
  c->overflowed = FALSE;
  *queued = c->fill;
  g_cond_broadcast (&c->cond);
  g_mutex_unlock (&c->lock);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_portaudio_src_fill (GstPushSrc * psrc, GstBuffer * buf)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (psrc);
  GstFlowReturn ret = GST_FLOW_OK;
  gsize frames, queued = 0;
  gboolean overflowed = FALSE;
  gint rate;

  g_mutex_lock (&self->stream_lock);
  if (!self->have_info) {
    g_mutex_unlock (&self->stream_lock);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  /* After a pause the stream is closed: open it again. */
  if (!self->stream && !gst_portaudio_src_open_stream_locked (self)) {
    g_mutex_unlock (&self->stream_lock);
    return GST_FLOW_ERROR;
  }
  if (!self->running) {
    ret = gst_portaudio_src_start_stream_locked (self);
    if (ret != GST_FLOW_OK) {
      g_mutex_unlock (&self->stream_lock);
      return ret;
    }
  }

  frames = gst_buffer_get_size (buf) / self->capture->bpf;
  if (frames == 0 || frames > self->capture->capacity) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("blocksize %" G_GSIZE_FORMAT " bytes does not fit %" G_GSIZE_FORMAT
            "-byte frames and a FIFO of %" G_GSIZE_FORMAT " frames", gst_buffer_get_size (buf),
            self->capture->bpf, self->capture->capacity));
    g_mutex_unlock (&self->stream_lock);
    return GST_FLOW_ERROR;
  }

  ret = gst_portaudio_src_take (self, buf, frames, &overflowed, &queued);
  if (ret != GST_FLOW_OK) {
    g_mutex_unlock (&self->stream_lock);
    return ret;
  }

  rate = GST_AUDIO_INFO_RATE (&self->info);
  if (overflowed) {
    GstClockTime now = gst_portaudio_src_running_time (self);

    GST_WARNING_OBJECT (self, "overflow: samples were lost before sample %" G_GUINT64_FORMAT,
        self->samples);
    self->discont = TRUE;
    if (GST_CLOCK_TIME_IS_VALID (now)) {
      GstClockTime late = gst_util_uint64_scale_int (frames + queued, GST_SECOND, rate);
      self->anchor_time = MAX (now > late ? now - late : 0, self->next_time);
      self->anchor_sample = self->samples;
    }
  }

  GST_BUFFER_PTS (buf) = self->anchor_time +
      gst_util_uint64_scale_int (self->samples - self->anchor_sample, GST_SECOND, rate);
  self->next_time = self->anchor_time +
      gst_util_uint64_scale_int (self->samples + frames - self->anchor_sample, GST_SECOND, rate);
  GST_BUFFER_DURATION (buf) = self->next_time - GST_BUFFER_PTS (buf);
  GST_BUFFER_OFFSET (buf) = self->samples;
  GST_BUFFER_OFFSET_END (buf) = self->samples + frames;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
  self->samples += frames;
  g_mutex_unlock (&self->stream_lock);
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------------------------------------
 * GstBaseSrc
 * ------------------------------------------------------------------------------------------------ */

static GstCaps *
gst_portaudio_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);
  GstCaps *caps = NULL;

  GST_OBJECT_LOCK (self);
  if (self->device_caps)
    caps = gst_caps_ref (self->device_caps);
  GST_OBJECT_UNLOCK (self);
  if (!caps)
    caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (bsrc));

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

/* Prefers the device's default rate and mono when downstream leaves the choice open. */
static GstCaps *
gst_portaudio_src_fixate (GstBaseSrc * bsrc, GstCaps * caps)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);
  guint i;

  caps = gst_caps_make_writable (caps);
  for (i = 0; i < gst_caps_get_size (caps); i++) {
    GstStructure *s = gst_caps_get_structure (caps, i);

    if (self->default_rate > 0)
      gst_structure_fixate_field_nearest_int (s, "rate", self->default_rate);
    gst_structure_fixate_field_nearest_int (s, "channels", 1);
  }
  return GST_BASE_SRC_CLASS (parent_class)->fixate (bsrc, caps);
}

static gboolean
gst_portaudio_src_set_caps (GstBaseSrc * bsrc, GstCaps * caps)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);
  GstAudioInfo info;
  gboolean ok;

  if (!gst_audio_info_from_caps (&info, caps)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("invalid caps %" GST_PTR_FORMAT, caps));
    return FALSE;
  }

  g_mutex_lock (&self->stream_lock);
  if (self->have_info && gst_audio_info_is_equal (&info, &self->info)) {
    g_mutex_unlock (&self->stream_lock);
    return TRUE;
  }
  gst_portaudio_src_close_stream_locked (self);
  self->info = info;
  self->have_info = TRUE;
  /* Opened now, so that a device refusing these caps fails negotiation with its reason. */
  ok = gst_portaudio_src_open_stream_locked (self);
  if (!ok)
    self->have_info = FALSE;
  g_mutex_unlock (&self->stream_lock);

  if (ok)
    gst_base_src_set_blocksize (bsrc, self->blocksize * GST_AUDIO_INFO_BPF (&info));
  return ok;
}

static gboolean
gst_portaudio_src_stop (GstBaseSrc * bsrc)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);

  g_mutex_lock (&self->stream_lock);
  gst_portaudio_src_close_stream_locked (self);
  gst_audio_info_init (&self->info);
  self->have_info = FALSE;
  g_mutex_unlock (&self->stream_lock);

  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->device_caps, NULL);
  GST_OBJECT_UNLOCK (self);

  if (self->have_pa) {
    gst_portaudio_unref ();
    self->have_pa = FALSE;
  }
  return TRUE;
}

static gboolean
gst_portaudio_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (bsrc);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max;
    const PaStreamInfo *stream_info;
    gint rate;

    g_mutex_lock (&self->stream_lock);
    if (!self->have_info) {
      g_mutex_unlock (&self->stream_lock);
      return FALSE;
    }
    rate = GST_AUDIO_INFO_RATE (&self->info);
    stream_info = self->stream ? Pa_GetStreamInfo (self->stream) : NULL;
    /* A buffer leaves when its last sample is captured, which the device itself delays. */
    min = gst_util_uint64_scale_int (self->blocksize, GST_SECOND, rate);
    if (stream_info && stream_info->inputLatency > 0)
      min += (GstClockTime) (stream_info->inputLatency * GST_SECOND);
    /* Samples wait in the FIFO at most its length before they are lost. */
    max = min + gst_util_uint64_scale_int (self->fifo_frames, GST_SECOND, rate);
    g_mutex_unlock (&self->stream_lock);

    GST_DEBUG_OBJECT (self, "latency min %" GST_TIME_FORMAT " max %" GST_TIME_FORMAT,
        GST_TIME_ARGS (min), GST_TIME_ARGS (max));
    gst_query_set_latency (query, TRUE, min, max);
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
}

static void
gst_portaudio_src_set_flushing (GstPortAudioSrc * self, gboolean flushing)
{
  GstPortAudioCapture *c;

  GST_OBJECT_LOCK (self);
  self->flushing = flushing;
  c = self->capture ? capture_ref (self->capture) : NULL;
  GST_OBJECT_UNLOCK (self);

  if (c) {
    g_mutex_lock (&c->lock);
    c->flushing = flushing;
    g_cond_broadcast (&c->cond);
    g_mutex_unlock (&c->lock);
    capture_unref (c);
  }
}

static gboolean
gst_portaudio_src_unlock (GstBaseSrc * bsrc)
{
  gst_portaudio_src_set_flushing (GST_PORTAUDIO_SRC (bsrc), TRUE);
  return TRUE;
}

static gboolean
gst_portaudio_src_unlock_stop (GstBaseSrc * bsrc)
{
  gst_portaudio_src_set_flushing (GST_PORTAUDIO_SRC (bsrc), FALSE);
  return TRUE;
}

static GstStateChangeReturn
gst_portaudio_src_change_state (GstElement * element, GstStateChange transition)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (element);
  GstStateChangeReturn ret;

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  /* A paused live source captures nothing: the stream is closed, and fill opens it again. */
  if (transition == GST_STATE_CHANGE_PLAYING_TO_PAUSED) {
    g_mutex_lock (&self->stream_lock);
    gst_portaudio_src_close_stream_locked (self);
    g_mutex_unlock (&self->stream_lock);
  }
  return ret;
}

/* ------------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------------ */

static void
gst_portaudio_src_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      self->device = g_value_get_int (value);
      break;
    case PROP_DEVICE_NAME:
      g_free (self->device_name);
      self->device_name = g_value_dup_string (value);
      break;
    case PROP_LATENCY_TIME:
      self->latency_time = g_value_get_int64 (value);
      break;
    case PROP_BUFFER_TIME:
      self->buffer_time = g_value_get_int64 (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_portaudio_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      g_value_set_int (value, self->device);
      break;
    case PROP_DEVICE_NAME:
      g_value_set_string (value, self->device_name);
      break;
    case PROP_LATENCY_TIME:
      g_value_set_int64 (value, self->latency_time);
      break;
    case PROP_BUFFER_TIME:
      g_value_set_int64 (value, self->buffer_time);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_portaudio_src_finalize (GObject * object)
{
  GstPortAudioSrc *self = GST_PORTAUDIO_SRC (object);

  g_free (self->device_name);
  g_free (self->device_label);
  gst_caps_replace (&self->device_caps, NULL);
  g_mutex_clear (&self->stream_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_portaudio_src_class_init (GstPortAudioSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (portaudio_src_debug, "portaudiosrc", 0, "PortAudio capture");

  gobject_class->set_property = gst_portaudio_src_set_property;
  gobject_class->get_property = gst_portaudio_src_get_property;
  gobject_class->finalize = gst_portaudio_src_finalize;

  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_int ("device", "Device",
          "PortAudio device index (gst-device-monitor-1.0 shows them as portaudio.index); -1 for "
          "PortAudio's default input device. Ignored when device-name is set",
          -1, G_MAXINT, DEFAULT_DEVICE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_DEVICE_NAME,
      g_param_spec_string ("device-name", "Device name",
          "PortAudio input device by name: the device with exactly this name, else the first "
          "whose name contains it (ignoring case). Not found: an error lists the input devices",
          DEFAULT_DEVICE_NAME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_LATENCY_TIME,
      g_param_spec_int64 ("latency-time", "Latency time",
          "Duration of one buffer in microseconds (also PortAudio's frames per callback)",
          1, MAX_TIME, DEFAULT_LATENCY_TIME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_BUFFER_TIME,
      g_param_spec_int64 ("buffer-time", "Buffer time",
          "Microseconds of audio the element's FIFO holds for downstream before samples are lost "
          "(at least 2 x latency-time); PortAudio's own buffer is the device's default high input "
          "latency or 2 x latency-time, whichever is larger, within buffer-time",
          1, MAX_TIME, DEFAULT_BUFFER_TIME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_portaudio_src_change_state);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "PortAudio source", "Source/Audio",
      "Captures audio from a PortAudio input device", "gst-rnn");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_portaudio_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_portaudio_src_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_portaudio_src_get_caps);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_portaudio_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_portaudio_src_set_caps);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_portaudio_src_query);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_portaudio_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_portaudio_src_unlock_stop);
  pushsrc_class->fill = GST_DEBUG_FUNCPTR (gst_portaudio_src_fill);
}

static void
gst_portaudio_src_init (GstPortAudioSrc * self)
{
  self->device = DEFAULT_DEVICE;
  self->device_name = g_strdup (DEFAULT_DEVICE_NAME);
  self->latency_time = DEFAULT_LATENCY_TIME;
  self->buffer_time = DEFAULT_BUFFER_TIME;
  self->device_index = paNoDevice;
  g_mutex_init (&self->stream_lock);
  gst_audio_info_init (&self->info);

  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
