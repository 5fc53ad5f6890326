/* gst-rnn: portaudiodeviceprovider, PortAudio input devices for GstDeviceMonitor.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:provider-portaudiodeviceprovider
 * @title: portaudiodeviceprovider
 *
 * Lists PortAudio's input devices (class `Audio/Source`) for #GstDeviceMonitor and
 * `gst-device-monitor-1.0 Audio/Source`. Each device's caps are what `portaudiosrc` would offer
 * for it (probed with Pa_IsFormatSupported), its display name is PortAudio's device name, and its
 * properties carry `device.api=portaudio`, `portaudio.index`, `portaudio.host-api`,
 * `portaudio.default-sample-rate`, `portaudio.max-input-channels`,
 * `portaudio.default-low-input-latency` (s) and `is-default`. The element it makes is a
 * `portaudiosrc` with `device-name` set to the device's name.
 *
 * PortAudio reads its device list once, when it is initialised, and has no hot-plug
 * notifications, so the provider only probes (no monitoring): each probe sees the devices present
 * when no other PortAudio user was active.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstportaudiodeviceprovider.h"
#include "gstportaudiosrc.h"

GST_DEBUG_CATEGORY_STATIC (portaudio_provider_debug);
#define GST_CAT_DEFAULT portaudio_provider_debug

/* ------------------------------------------------------------------------------------------------
 * GstPortAudioDevice
 * ------------------------------------------------------------------------------------------------ */

struct _GstPortAudioDevice
{
  GstDevice parent;
  gchar *device_name;
};

enum
{
  PROP_DEVICE_0,
  PROP_DEVICE_NAME,
};

G_DEFINE_TYPE (GstPortAudioDevice, gst_portaudio_device, GST_TYPE_DEVICE);

static GstElement *
gst_portaudio_device_create_element (GstDevice * device, const gchar * name)
{
  GstPortAudioDevice *self = GST_PORTAUDIO_DEVICE (device);
  GstElement *element = gst_element_factory_make ("portaudiosrc", name);

  if (element)
    g_object_set (element, "device-name", self->device_name, NULL);
  return element;
}

static gboolean
gst_portaudio_device_reconfigure_element (GstDevice * device, GstElement * element)
{
  GstPortAudioDevice *self = GST_PORTAUDIO_DEVICE (device);

  if (!GST_IS_PORTAUDIO_SRC (element))
    return FALSE;
  g_object_set (element, "device-name", self->device_name, NULL);
  return TRUE;
}

static void
gst_portaudio_device_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstPortAudioDevice *self = GST_PORTAUDIO_DEVICE (object);

  switch (prop_id) {
    case PROP_DEVICE_NAME:
      g_free (self->device_name);
      self->device_name = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_portaudio_device_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstPortAudioDevice *self = GST_PORTAUDIO_DEVICE (object);

  switch (prop_id) {
    case PROP_DEVICE_NAME:
      g_value_set_string (value, self->device_name);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_portaudio_device_finalize (GObject * object)
{
  GstPortAudioDevice *self = GST_PORTAUDIO_DEVICE (object);

  g_free (self->device_name);
  G_OBJECT_CLASS (gst_portaudio_device_parent_class)->finalize (object);
}

static void
gst_portaudio_device_class_init (GstPortAudioDeviceClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstDeviceClass *device_class = GST_DEVICE_CLASS (klass);

  gobject_class->set_property = gst_portaudio_device_set_property;
  gobject_class->get_property = gst_portaudio_device_get_property;
  gobject_class->finalize = gst_portaudio_device_finalize;
  device_class->create_element = gst_portaudio_device_create_element;
  device_class->reconfigure_element = gst_portaudio_device_reconfigure_element;

  g_object_class_install_property (gobject_class, PROP_DEVICE_NAME,
      g_param_spec_string ("device-name", "Device name",
          "PortAudio's name of the device, as portaudiosrc's device-name", NULL,
          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));
}

static void
gst_portaudio_device_init (GstPortAudioDevice * self)
{
}

/* ------------------------------------------------------------------------------------------------
 * GstPortAudioDeviceProvider
 * ------------------------------------------------------------------------------------------------ */

struct _GstPortAudioDeviceProvider
{
  GstDeviceProvider parent;
};

G_DEFINE_TYPE (GstPortAudioDeviceProvider, gst_portaudio_device_provider,
    GST_TYPE_DEVICE_PROVIDER);
GST_DEVICE_PROVIDER_REGISTER_DEFINE (portaudiodeviceprovider, "portaudiodeviceprovider",
    GST_RANK_SECONDARY, GST_TYPE_PORTAUDIO_DEVICE_PROVIDER);

static GstDevice *
gst_portaudio_device_new (PaDeviceIndex index, const PaDeviceInfo * info, gboolean is_default)
{
  const PaHostApiInfo *api = Pa_GetHostApiInfo (info->hostApi);
  GstCaps *caps = gst_portaudio_probe_caps (index);
  GstStructure *props;
  GstDevice *device;

  if (gst_caps_is_empty (caps)) {
    GST_INFO ("PortAudio device #%d \"%s\" cannot be opened: not listed", index, info->name);
    gst_caps_unref (caps);
    return NULL;
  }

  props = gst_structure_new ("portaudio-proplist",
      "device.api", G_TYPE_STRING, "portaudio",
      "portaudio.index", G_TYPE_INT, (gint) index,
      "portaudio.host-api", G_TYPE_STRING, api && api->name ? api->name : "unknown",
      "portaudio.default-sample-rate", G_TYPE_DOUBLE, info->defaultSampleRate,
      "portaudio.max-input-channels", G_TYPE_INT, info->maxInputChannels,
      "portaudio.default-low-input-latency", G_TYPE_DOUBLE, info->defaultLowInputLatency,
      "is-default", G_TYPE_BOOLEAN, is_default, NULL);

  device = g_object_new (GST_TYPE_PORTAUDIO_DEVICE,
      "display-name", info->name,
      "caps", caps,
      "device-class", "Audio/Source", "properties", props, "device-name", info->name, NULL);
  gst_caps_unref (caps);
  gst_structure_free (props);
  return device;
}

static GList *
gst_portaudio_device_provider_probe (GstDeviceProvider * provider)
{
  GList *devices = NULL;
  PaDeviceIndex i, count, def;
  PaError err;

  err = gst_portaudio_ref ();
  if (err != paNoError) {
    gchar *text = gst_portaudio_error_text (err);
    GST_WARNING_OBJECT (provider, "could not initialise PortAudio: %s", text);
    g_free (text);
    return NULL;
  }

  count = Pa_GetDeviceCount ();
  def = Pa_GetDefaultInputDevice ();
  for (i = 0; i < count; i++) {
    const PaDeviceInfo *info = Pa_GetDeviceInfo (i);
    GstDevice *device;

    if (!info || info->maxInputChannels < 1)
      continue;
    device = gst_portaudio_device_new (i, info, i == def);
    if (device)
      devices = g_list_append (devices, gst_object_ref_sink (device));
  }

  gst_portaudio_unref ();
  return devices;
}

static void
gst_portaudio_device_provider_class_init (GstPortAudioDeviceProviderClass * klass)
{
  GstDeviceProviderClass *provider_class = GST_DEVICE_PROVIDER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (portaudio_provider_debug, "portaudiodeviceprovider", 0,
      "PortAudio device provider");

  provider_class->probe = gst_portaudio_device_provider_probe;
  gst_device_provider_class_set_static_metadata (provider_class, "PortAudio Device Provider",
      "Source/Audio", "Lists PortAudio input devices", "gst-rnn");
}

static void
gst_portaudio_device_provider_init (GstPortAudioDeviceProvider * self)
{
}
