/* Trains a model with rnn_fit on examples given in a file, for tests/conformance/test_train_torch.py.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   fit_tool IN.rnn DATA OUT.rnn
 *
 * DATA, little-endian:
 *   int32  n, input_size, outputs, loss, per_frame, optimizer, epochs, batch_size
 *   float32 learning_rate, clip_norm, weight_decay, momentum
 *   then n examples: int32 T, label, n_tokens; float32 x[T * input_size]; int32 frame_labels[T];
 *                    float32 target[(per_frame ? T : 1) * outputs]; int32 tokens[n_tokens]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rnn.h"

static int read_all(FILE *f, void *p, size_t size, size_t count, const char *what) {
  if (count && fread(p, size, count, f) != count) {
    fprintf(stderr, "fit_tool: data file ends in %s\n", what);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fit_tool IN.rnn DATA OUT.rnn\n");
    return 2;
  }
  char err[512];
  rnn_model *m = rnn_model_load(argv[1], err, sizeof err);
  if (!m) {
    fprintf(stderr, "fit_tool: %s\n", err);
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    fprintf(stderr, "fit_tool: cannot open %s\n", argv[2]);
    return 2;
  }
  int32_t h[8];
  float hf[4];
  if (read_all(f, h, 4, 8, "the header") || read_all(f, hf, 4, 4, "the header"))
    return 2;
  const int n = h[0], nin = h[1], O = h[2];
  if (n <= 0 || n > 100000 || nin != rnn_model_input_size(m) || O <= 0 || O > 100000) {
    fprintf(stderr, "fit_tool: bad header (n %d, inputs %d, outputs %d)\n", n, nin, O);
    return 2;
  }
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = (rnn_loss_kind)h[3];
  c.per_frame = h[4];
  c.optimizer = (rnn_optim_kind)h[5];
  c.epochs = h[6];
  c.batch_size = h[7];
  c.learning_rate = hf[0];
  c.clip_norm = hf[1];
  c.weight_decay = hf[2];
  c.momentum = hf[3];
  c.threads = 1;
  rnn_example *ex = calloc((size_t)n, sizeof *ex);
  if (!ex)
    return 2;
  for (int i = 0; i < n; i++) {
    int32_t e[3];
    if (read_all(f, e, 4, 3, "an example header"))
      return 2;
    const int T = e[0];
    if (T <= 0 || T > 1000000 || e[2] < 0 || e[2] > T) {
      fprintf(stderr, "fit_tool: example %d: bad T %d or n_tokens %d\n", i, T, e[2]);
      return 2;
    }
    size_t nt = (size_t)(c.per_frame ? T : 1) * O;
    float *x = malloc(sizeof(float) * (size_t)T * nin), *target = malloc(sizeof(float) * nt);
    int *fl = malloc(sizeof(int) * (size_t)T), *tok = malloc(sizeof(int) * (size_t)(e[2] + 1));
    if (!x || !target || !fl || !tok)
      return 2;
    if (read_all(f, x, 4, (size_t)T * nin, "x") || read_all(f, fl, 4, (size_t)T, "frame labels") ||
        read_all(f, target, 4, nt, "targets") || read_all(f, tok, 4, (size_t)e[2], "tokens"))
      return 2;
    ex[i] = (rnn_example){.x = x, .T = T, .label = e[1], .frame_labels = fl, .target = target,
                          .tokens = tok, .n_tokens = e[2]};
  }
  fclose(f);
  if (rnn_train_validate(m, ex, n, &c, err, sizeof err) != 0) {
    fprintf(stderr, "fit_tool: %s\n", err);
    return 2;
  }
  int rc = rnn_fit(m, ex, n, NULL, 0, &c, NULL, NULL);
  if (rc != 0) {
    fprintf(stderr, "fit_tool: rnn_fit: %s\n", rnn_strerror(rc));
    return 1;
  }
  if (rnn_model_save(m, argv[3], err, sizeof err) != 0) {
    fprintf(stderr, "fit_tool: %s\n", err);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    free((void *)ex[i].x);
    free((void *)ex[i].frame_labels);
    free((void *)ex[i].target);
    free((void *)ex[i].tokens);
  }
  free(ex);
  rnn_model_unref(m);
  return 0;
}
