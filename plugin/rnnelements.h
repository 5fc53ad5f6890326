/* gst-rnn: the plugin's elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_ELEMENTS_H
#define GST_RNN_ELEMENTS_H

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (rnnfeatures);
GST_ELEMENT_REGISTER_DECLARE (rnninfer);
GST_ELEMENT_REGISTER_DECLARE (rnntrain);
GST_ELEMENT_REGISTER_DECLARE (portaudiosrc);
GST_ELEMENT_REGISTER_DECLARE (sensorparse);
GST_DEVICE_PROVIDER_REGISTER_DECLARE (portaudiodeviceprovider);

G_END_DECLS
#endif
