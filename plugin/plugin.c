/* gst-rnn: plugin registration.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rnnelements.h"
#include "rnnresults.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = FALSE;

  gst_rnn_register_tags ();

  ok |= GST_ELEMENT_REGISTER (rnnfeatures, plugin);
  ok |= GST_ELEMENT_REGISTER (rnninfer, plugin);
  ok |= GST_ELEMENT_REGISTER (rnntrain, plugin);
  ok |= GST_ELEMENT_REGISTER (portaudiosrc, plugin);
  ok |= GST_ELEMENT_REGISTER (sensorparse, plugin);
  ok |= GST_DEVICE_PROVIDER_REGISTER (portaudiodeviceprovider, plugin);

  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, rnn,
    "Recurrent neural networks (RNN, LSTM, GRU) for audio and sensor streams",
    plugin_init, PACKAGE_VERSION, "LGPL", "gst-rnn", "https://example.invalid/gst-rnn")
