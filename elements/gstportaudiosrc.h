/* gst-rnn: portaudiosrc, live audio capture through PortAudio.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_PORTAUDIO_SRC_H
#define GST_PORTAUDIO_SRC_H

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <portaudio.h>

G_BEGIN_DECLS

#define GST_TYPE_PORTAUDIO_SRC (gst_portaudio_src_get_type ())
G_DECLARE_FINAL_TYPE (GstPortAudioSrc, gst_portaudio_src, GST, PORTAUDIO_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (portaudiosrc);

/* Process-wide PortAudio life cycle, shared with the device provider: PortAudio is global state,
 * so Pa_Initialize/Pa_Terminate are reference counted under one lock. gst_portaudio_ref() returns
 * PortAudio's error code (paNoError on success); every successful call needs one unref. The device
 * list is read by Pa_Initialize, so it is refreshed only when the last user has let go. */
PaError gst_portaudio_ref (void);
void gst_portaudio_unref (void);

/* The lock that serialises PortAudio calls that open devices (probing, opening streams). */
void gst_portaudio_lock (void);
void gst_portaudio_unlock (void);

/* Caps an input device supports: S16LE and F32LE, the common rates (and the device's default one)
 * that Pa_IsFormatSupported accepts, and the channel counts it accepts up to the device's maximum
 * (1..8 listed one by one; for a device with 9..32 channels its maximum is tried and, if supported,
 * the range 9..max is listed; wider devices are offered 1..8 only). Empty caps when the device
 * cannot be opened at all. Needs a PortAudio ref. */
GstCaps *gst_portaudio_probe_caps (PaDeviceIndex index);

/* "#3 \"name\" (ALSA, 2 channels, 44100 Hz)", one line per input device; needs a PortAudio ref. */
gchar *gst_portaudio_describe_inputs (void);

/* The text of a PortAudio error, with the host API's own text for unanticipated host errors. */
gchar *gst_portaudio_error_text (PaError err);

G_END_DECLS
#endif
