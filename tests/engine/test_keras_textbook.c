/* The textbook Keras sequence classifier, as is:
 *
 *   model = Sequential([SimpleRNN(64, input_shape=(None, 1)), Dense(1, activation="sigmoid")])
 *   model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
 *   model.fit(x, y, batch_size=32, epochs=..., validation_split=...)
 *
 * here: one rnn_tanh layer of 64, a sigmoid head of 1 on the last frame, Adam, BCE. The task: does
 * the pattern 1,0,1 occur in a random 0/1 sequence of 20 to 30 steps? It needs a detector over
 * three steps and a latch that remembers a hit until the end. Held-out accuracy must reach 95%.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

#define TMAX 30

typedef struct {
  int n;
  float *x;
  float *y;
  rnn_example *ex;
} bits_set;

static int has_101(const float *b, int T) {
  for (int t = 2; t < T; t++)
    if (b[t - 2] > 0.5f && b[t - 1] < 0.5f && b[t] > 0.5f)
      return 1;
  return 0;
}

/* Balanced classes: draw sequences with a per-sequence density of ones and keep them until each
 * class has n/2. */
static void make_set(bits_set *s, int n, unsigned long long seed) {
  s->n = n;
  s->x = calloc((size_t)n * TMAX, sizeof(float));
  s->y = calloc((size_t)n, sizeof(float));
  s->ex = calloc((size_t)n, sizeof(rnn_example));
  unsigned long long r = seed;
  int want[2] = {n / 2, n - n / 2};
  int i = 0;
  float buf[TMAX];
  while (i < n) {
    int T = 20 + (int)test_uniform(&r, 0.0f, 10.999f);
    float p = test_uniform(&r, 0.15f, 0.6f);
    for (int t = 0; t < T; t++)
      buf[t] = test_uniform(&r, 0.0f, 1.0f) < p ? 1.0f : 0.0f;
    int label = has_101(buf, T);
    if (want[label] == 0)
      continue;
    want[label]--;
    memcpy(s->x + (size_t)i * TMAX, buf, sizeof(float) * T);
    s->y[i] = (float)label;
    s->ex[i] = (rnn_example){.x = s->x + (size_t)i * TMAX, .T = T, .target = &s->y[i]};
    i++;
  }
}

static void free_set(bits_set *s) {
  free(s->x);
  free(s->y);
  free(s->ex);
}

static int report(const rnn_progress *p, void *user) {
  (void)user;
  if (p->end_of_epoch)
    fprintf(stderr, "epoch %2d/%d  loss %.4f acc %.3f  val_loss %.4f val_acc %.3f  %.2fs\n", p->epoch,
            p->epochs, p->loss, p->accuracy, p->val_loss, p->val_accuracy, p->elapsed_s);
  return 0;
}

int main(void) {
  bits_set train, val, test;
  make_set(&train, 2000, 1);
  make_set(&val, 400, 2);
  make_set(&test, 1000, 3);

  rnn_model *m = rnn_model_new(1);
  CHECK(rnn_model_add_layer(m, RNN_CELL_RNN_TANH, 64, 0) == 0);
  CHECK(rnn_model_set_head(m, RNN_HEAD_SIGMOID, 1, RNN_POOL_LAST) == 0);
  CHECK(rnn_model_finalize(m) == 0);
  rnn_model_init_weights(m, 1);

  rnn_train_config c;
  rnn_train_config_init(&c); /* Adam, lr 1e-3, batch 32: Keras' defaults */
  c.loss = RNN_LOSS_BCE;
  c.epochs = 40; /* no early stopping, as the textbook fit; the best epoch by val loss is kept */
  c.seed = 1;
  int rc = rnn_fit(m, train.ex, train.n, val.ex, val.n, &c, report, NULL);
  CHECK_MSG(rc == 0, "rnn_fit: %s", rnn_strerror(rc));

  /* Held-out accuracy through the inference API (pooled output, threshold 0.5), and through
   * rnn_evaluate: both must agree. */
  int correct = 0;
  for (int i = 0; i < test.n; i++) {
    float p = 0.0f;
    CHECK(rnn_forward_pooled(m, test.ex[i].x, test.ex[i].T, &p) == 0);
    correct += (p > 0.5f) == (test.y[i] > 0.5f);
  }
  double acc_infer = (double)correct / test.n, loss = 0, acc_eval = 0;
  CHECK(rnn_evaluate(m, test.ex, test.n, &c, &loss, &acc_eval) == 0);
  fprintf(stderr, "held-out: accuracy %.3f (inference) %.3f (rnn_evaluate), loss %.4f\n", acc_infer,
          acc_eval, loss);
  CHECK_NEAR(acc_infer, acc_eval, 2.0 / test.n);
  CHECK_MSG(acc_infer >= 0.95, "held-out accuracy %.3f < 0.95", acc_infer);

  rnn_model_unref(m);
  free_set(&train);
  free_set(&val);
  free_set(&test);
  return test_summary("test_keras_textbook");
}
