/* gst-rnn: portaudiodeviceprovider, PortAudio input devices for GstDeviceMonitor.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_PORTAUDIO_DEVICE_PROVIDER_H
#define GST_PORTAUDIO_DEVICE_PROVIDER_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_PORTAUDIO_DEVICE_PROVIDER (gst_portaudio_device_provider_get_type ())
G_DECLARE_FINAL_TYPE (GstPortAudioDeviceProvider, gst_portaudio_device_provider, GST,
    PORTAUDIO_DEVICE_PROVIDER, GstDeviceProvider)

#define GST_TYPE_PORTAUDIO_DEVICE (gst_portaudio_device_get_type ())
G_DECLARE_FINAL_TYPE (GstPortAudioDevice, gst_portaudio_device, GST, PORTAUDIO_DEVICE, GstDevice)

GST_DEVICE_PROVIDER_REGISTER_DECLARE (portaudiodeviceprovider);

G_END_DECLS
#endif
