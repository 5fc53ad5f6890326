/* gst-rnn: plugin registration.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rnn.h"
#include "rnnelements.h"
#include "rnnresults.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = FALSE;

  gst_rnn_register_tags ();

  /* The engine's products during inference are small (an utterance, a chunk of frames): OpenBLAS
   * threads would mostly spin-wait and take the CPU from the pipeline's own threads (measured with
   * bench/pocketsphinx_digits.py on a busy machine: 2.3x the CPU per file for one model, 13x for
   * the grouped ensemble models/digits.rnn). The BLAS runs single-threaded unless the user set
   * its thread count. */
  if (!g_getenv ("OPENBLAS_NUM_THREADS") && !g_getenv ("GOTO_NUM_THREADS")
      && !g_getenv ("OMP_NUM_THREADS"))
    rnn_blas_set_threads (1);

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
