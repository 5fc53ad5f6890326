/* Helper for the format round-trip tests: the C side of tools/rnnfile.py's checks.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   rnnfile_helper make OUT        build a model that uses every feature of the format (two layers
 *                                  of different cells, a bidirectional one, a head, normalisation,
 *                                  every metadata type, non-ASCII text) and save it with the engine
 *   rnnfile_helper resave IN OUT   load IN with the engine and save it again
 */
#include <stdio.h>
#include <string.h>

#include "rnn.h"

static rnn_model *make_model(void) {
  rnn_model *m = rnn_model_new(6);
  if (!m || rnn_model_add_layer(m, RNN_CELL_LSTM, 5, 0) != 0 ||
      rnn_model_add_layer(m, RNN_CELL_GRU, 4, 1) != 0 ||
      rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN) != 0 ||
      rnn_model_finalize(m) != 0) {
    fprintf(stderr, "rnnfile_helper: building the model failed\n");
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, 7);
  const float mean[6] = {0.5f, -0.25f, 1.0f, 0.0f, 2.0f, -1.5f};
  const float scale[6] = {2.0f, 0.5f, 1.0f, 0.25f, 1.5f, 3.0f};
  static const char *const labels[] = {"zero", "one", "two words, \"quoted\""};
  int rc = rnn_model_set_normalization(m, mean, scale);
  rc |= rnn_model_set_meta_string(m, "task", "classification");
  rc |= rnn_model_set_meta_strings(m, "labels", labels, 3);
  rc |= rnn_model_set_meta_string(m, "features.kind", "fbank");
  rc |= rnn_model_set_meta_int(m, "features.num-mel-bins", 40);
  rc |= rnn_model_set_meta_float(m, "features.frame-shift", 10.0);
  rc |= rnn_model_set_meta_int(m, "features.snip-edges", 1);
  rc |= rnn_model_set_meta_float(m, "train.accuracy", 0.987654321);
  rc |= rnn_model_set_meta_int(m, "train.epochs", -3);
  rc |= rnn_model_set_meta_string(m, "train.command", "rnntrain epochs=3 # \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
  rc |= rnn_model_set_meta_strings(m, "empty list", NULL, 0);
  rc |= rnn_model_set_meta_string(m, "empty", "");
  if (rc != 0) {
    fprintf(stderr, "rnnfile_helper: setting metadata failed\n");
    rnn_model_unref(m);
    return NULL;
  }
  return m;
}

int main(int argc, char **argv) {
  char err[512] = "";
  rnn_model *m = NULL;
  const char *out = NULL;
  if (argc == 3 && strcmp(argv[1], "make") == 0) {
    m = make_model();
    out = argv[2];
  } else if (argc == 4 && strcmp(argv[1], "resave") == 0) {
    m = rnn_model_load(argv[2], err, sizeof err);
    if (!m) {
      fprintf(stderr, "rnnfile_helper: %s\n", err);
      return 1;
    }
    out = argv[3];
  } else {
    fprintf(stderr, "usage: rnnfile_helper make OUT | resave IN OUT\n");
    return 2;
  }
  if (!m)
    return 1;
  int rc = rnn_model_save(m, out, err, sizeof err);
  if (rc != 0)
    fprintf(stderr, "rnnfile_helper: %s\n", err);
  rnn_model_unref(m);
  return rc == 0 ? 0 : 1;
}
