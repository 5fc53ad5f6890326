/* Per-sequence input normalisation (CMVN) as a model property (rnn_model_set_sequence_normalization):
 *   - rnn_normalize_sequence equals a plain double-precision reference; constant dimensions and
 *     length-1 sequences give 0, never NaN;
 *   - a model with the mode gives exactly what the same model without it gives on inputs
 *     normalised beforehand (sequence, pooled and batch paths, with a stored normalisation too),
 *     and is invariant to a per-dimension gain and offset of its input (what a new microphone or
 *     speaker changes), which a model without the mode is not;
 *   - batch == one sequence at a time, for sequences of different lengths;
 *   - training: loss and gradient, evaluation, and a whole seeded rnn_fit with SpecAugment and
 *     sequences of different lengths (padding) equal those of training the plain model on inputs
 *     normalised beforehand;
 *   - not streamable: rnn_model_streamable() == 0 and rnn_state_new() refuses it; clone keeps it;
 *   - RNN_SEQUENCE_NORM_APPEND ("raw+sequence"): exactly a plain model of twice the inputs fed the
 *     raw and the normalised frames side by side, dense and grouped, on every whole-sequence path;
 *     no stored normalisation, not streamable, inference-only.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

enum { IN = 6, H = 7, O = 3, NSEQ = 9, MAXT = 40 };

static rnn_model *make_model(rnn_cell_kind cell, int bidir, rnn_head_kind head, rnn_pool_kind pool,
                             uint64_t seed) {
  rnn_model *m = rnn_model_new(IN);
  rnn_model_add_layer(m, cell, H, bidir);
  rnn_model_add_layer(m, RNN_CELL_GRU, H, 0);
  rnn_model_set_head(m, head, O, pool);
  if (rnn_model_finalize(m)) {
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, seed);
  return m;
}

/* Sequences whose dimensions have very different means and spreads (as log-mel bins do), with
 * lengths from 1 to MAXT; dimension 2 of sequence 3 is constant. */
typedef struct {
  int T[NSEQ];
  float *x[NSEQ];   /* raw */
  float *xn[NSEQ];  /* normalised by rnn_normalize_sequence */
} data_set;

static void data_make(data_set *d, unsigned long long seed) {
  unsigned long long s = seed;
  static const int lengths[NSEQ] = {23, 1, 40, 17, 2, 31, 8, 40, 12};
  for (int b = 0; b < NSEQ; b++) {
    d->T[b] = lengths[b];
    d->x[b] = malloc(sizeof(float) * (size_t)lengths[b] * IN);
    d->xn[b] = malloc(sizeof(float) * (size_t)lengths[b] * IN);
    for (int t = 0; t < lengths[b]; t++)
      for (int i = 0; i < IN; i++)
        d->x[b][t * IN + i] = 10.0f * (float)i - 20.0f + (0.2f + (float)i) * test_uniform(&s, -1.0f, 1.0f);
    if (b == 3)
      for (int t = 0; t < lengths[b]; t++)
        d->x[b][t * IN + 2] = 7.25f;
    CHECK(rnn_normalize_sequence(d->x[b], d->T[b], IN, d->xn[b]) == RNN_OK);
  }
}

static void data_free(data_set *d) {
  for (int b = 0; b < NSEQ; b++) {
    free(d->x[b]);
    free(d->xn[b]);
  }
}

/* ------------------------------------------------------------------------------------------- */
static void reference_computation(void) {
  data_set d;
  data_make(&d, 7);
  double worst = 0.0;
  for (int b = 0; b < NSEQ; b++) {
    int T = d.T[b];
    for (int i = 0; i < IN; i++) {
      double mean = 0.0, var = 0.0;
      for (int t = 0; t < T; t++)
        mean += d.x[b][t * IN + i];
      mean /= T;
      for (int t = 0; t < T; t++)
        var += (d.x[b][t * IN + i] - mean) * (d.x[b][t * IN + i] - mean);
      var /= T;
      for (int t = 0; t < T; t++) {
        double want = (d.x[b][t * IN + i] - mean) / sqrt(var + RNN_SEQUENCE_NORM_EPS);
        double got = d.xn[b][t * IN + i];
        CHECK(isfinite(got));
        if (fabs(got - want) > worst)
          worst = fabs(got - want);
      }
    }
  }
  CHECK_MSG(worst < 1e-5, "worst difference from the reference %g", worst);
  /* Length 1 and a constant dimension: exactly 0. */
  for (int i = 0; i < IN; i++)
    CHECK(d.xn[1][i] == 0.0f);
  for (int t = 0; t < d.T[3]; t++)
    CHECK(d.xn[3][t * IN + 2] == 0.0f);
  /* A normalised dimension has mean 0 and variance var/(var+eps) ~ 1. */
  double mean = 0.0, sq = 0.0;
  for (int t = 0; t < d.T[2]; t++) {
    mean += d.xn[2][t * IN + 4];
    sq += d.xn[2][t * IN + 4] * d.xn[2][t * IN + 4];
  }
  CHECK_NEAR(mean / d.T[2], 0.0, 1e-6);
  CHECK_NEAR(sq / d.T[2], 1.0, 1e-4);
  /* In place gives the same. */
  float *copy = malloc(sizeof(float) * (size_t)d.T[0] * IN);
  memcpy(copy, d.x[0], sizeof(float) * (size_t)d.T[0] * IN);
  CHECK(rnn_normalize_sequence(copy, d.T[0], IN, copy) == RNN_OK);
  CHECK(memcmp(copy, d.xn[0], sizeof(float) * (size_t)d.T[0] * IN) == 0);
  free(copy);
  CHECK(rnn_normalize_sequence(NULL, 0, IN, NULL) == RNN_OK);
  CHECK(rnn_normalize_sequence(d.x[0], 3, 0, d.xn[0]) == RNN_EINVAL);
  CHECK(rnn_normalize_sequence(d.x[0], -1, IN, d.xn[0]) == RNN_EINVAL);
  data_free(&d);
}

/* ------------------------------------------------------------------------------------------- */
static double max_diff(const float *a, const float *b, size_t n) {
  double w = 0.0;
  for (size_t i = 0; i < n; i++)
    w = fabs((double)a[i] - b[i]) > w ? fabs((double)a[i] - b[i]) : w;
  return w;
}

/* rnn_forward_batch of m over the NSEQ sequences xs equals ref[b] (each sequence run alone) within
 * 1e-5, for sequences of different lengths (packing, padding). */
static void check_batch_matches(const rnn_model *m, const float *const *xs, const int *T, float *const *ref,
                                int variant) {
  float *batch[NSEQ];
  for (int b = 0; b < NSEQ; b++)
    batch[b] = malloc(sizeof(float) * (size_t)T[b] * O);
  CHECK(rnn_forward_batch(m, xs, T, NSEQ, batch) == RNN_OK);
  for (int b = 0; b < NSEQ; b++) {
    double w = max_diff(batch[b], ref[b], (size_t)T[b] * O);
    CHECK_MSG(w < 1e-5, "variant %d seq %d: batch differs from the sequence by %g", variant, b, w);
    free(batch[b]);
  }
}

static void inference_paths(void) {
  static const float mean[IN] = {0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -1.0f};
  static const float scale[IN] = {1.0f, 2.0f, 0.5f, 1.5f, 0.8f, 1.2f};
  data_set d;
  data_make(&d, 11);
  for (int variant = 0; variant < 4; variant++) {
    rnn_model *plain = make_model(variant & 1 ? RNN_CELL_LSTM : RNN_CELL_GRU, variant < 2,
                                  RNN_HEAD_SOFTMAX, variant & 1 ? RNN_POOL_LAST : RNN_POOL_MEAN,
                                  30 + (uint64_t)variant);
    if (variant >= 2)
      rnn_model_set_normalization(plain, mean, scale);
    rnn_model *m = rnn_model_clone(plain);
    CHECK(rnn_model_sequence_normalization(m) == 0);
    CHECK(rnn_model_set_sequence_normalization(m, 1) == RNN_OK);
    CHECK(rnn_model_sequence_normalization(m) == 1);
    CHECK(rnn_model_sequence_normalization(plain) == 0);

    float *ref[NSEQ];
    const float *xs[NSEQ];
    for (int b = 0; b < NSEQ; b++) {
      size_t n = (size_t)d.T[b] * O;
      float *a = malloc(sizeof(float) * n), *r = malloc(sizeof(float) * n);
      CHECK(rnn_forward_sequence(m, d.x[b], d.T[b], a) == RNN_OK);
      CHECK(rnn_forward_sequence(plain, d.xn[b], d.T[b], r) == RNN_OK);
      /* the same float operations in the same order: identical */
      CHECK_MSG(memcmp(a, r, sizeof(float) * n) == 0, "variant %d seq %d: sequence path differs by %g",
                variant, b, max_diff(a, r, n));
      float pa[O], pr[O], raw[O];
      CHECK(rnn_forward_pooled(m, d.x[b], d.T[b], pa) == RNN_OK);
      CHECK(rnn_forward_pooled(plain, d.xn[b], d.T[b], pr) == RNN_OK);
      CHECK(memcmp(pa, pr, sizeof pa) == 0);
      /* and the mode does something: the plain model on raw inputs differs */
      CHECK(rnn_forward_pooled(plain, d.x[b], d.T[b], raw) == RNN_OK);
      if (d.T[b] > 2)
        CHECK_MSG(max_diff(pa, raw, O) > 1e-3, "variant %d seq %d: the mode changed nothing", variant, b);
      free(r);
      ref[b] = a;
      xs[b] = d.x[b];
    }
    check_batch_matches(m, xs, d.T, ref, variant);
    for (int b = 0; b < NSEQ; b++)
      free(ref[b]);

    /* Gain and offset per dimension (a louder speaker, another microphone's response): the
     * output hardly moves with the mode (eps is the only difference), a lot without it. */
    for (int b = 0; b < NSEQ; b++) {
      if (d.T[b] < 8)
        continue;
      size_t n = (size_t)d.T[b] * IN;
      float *y = malloc(sizeof(float) * n);
      for (size_t k = 0; k < n; k++)
        y[k] = 3.0f * d.x[b][k] + 5.0f - (float)(k % IN);
      float a[O], c[O], pa[O], pc[O];
      CHECK(rnn_forward_pooled(m, d.x[b], d.T[b], a) == RNN_OK);
      CHECK(rnn_forward_pooled(m, y, d.T[b], c) == RNN_OK);
      CHECK_MSG(max_diff(a, c, O) < 1e-4, "variant %d seq %d: not gain/offset invariant (%g)", variant, b,
                max_diff(a, c, O));
      CHECK(rnn_forward_pooled(plain, d.x[b], d.T[b], pa) == RNN_OK);
      CHECK(rnn_forward_pooled(plain, y, d.T[b], pc) == RNN_OK);
      CHECK(max_diff(pa, pc, O) > 1e-3);
      free(y);
    }

    /* Not streamable; a clone keeps the mode; switching it off makes it streamable again when
     * no layer is bidirectional. */
    CHECK(rnn_model_streamable(m) == 0);
    rnn_state *st = rnn_state_new(m);
    CHECK(st == NULL);
    rnn_state_free(st);
    rnn_model *c = rnn_model_clone(m);
    CHECK(c && rnn_model_sequence_normalization(c) == 1 && rnn_model_streamable(c) == 0);
    CHECK(rnn_model_set_sequence_normalization(c, 0) == RNN_OK);
    CHECK(rnn_model_streamable(c) == (variant < 2 ? 0 : 1));
    st = rnn_state_new(c);
    CHECK((st != NULL) == (variant >= 2));
    rnn_state_free(st);
    rnn_model_unref(c);
    rnn_model_unref(m);
    rnn_model_unref(plain);
  }
  data_free(&d);
}

/* ------------------------------------------------------------------------------------------- */
static void make_examples(const data_set *d, int normalised, rnn_example *ex) {
  memset(ex, 0, sizeof(*ex) * NSEQ);
  for (int b = 0; b < NSEQ; b++) {
    ex[b].x = normalised ? d->xn[b] : d->x[b];
    ex[b].T = d->T[b];
    ex[b].label = b % O;
  }
}

static void training(void) {
  data_set d;
  data_make(&d, 23);
  rnn_example raw[NSEQ], pre[NSEQ];
  make_examples(&d, 0, raw);
  make_examples(&d, 1, pre);
  static const float mean[IN] = {0.05f, -0.1f, 0.0f, 0.2f, 0.0f, -0.3f};
  static const float scale[IN] = {1.1f, 0.9f, 1.0f, 1.3f, 0.7f, 1.0f};

  for (int variant = 0; variant < 2; variant++) {
    rnn_model *plain = make_model(RNN_CELL_GRU, 1, RNN_HEAD_SOFTMAX, RNN_POOL_MEAN, 77 + (uint64_t)variant);
    if (variant)
      rnn_model_set_normalization(plain, mean, scale);
    rnn_model *m = rnn_model_clone(plain);
    rnn_model_set_sequence_normalization(m, 1);
    size_t np = rnn_model_num_params(m);
    float *ga = malloc(sizeof(float) * np), *gb = malloc(sizeof(float) * np);
    rnn_train_config c;
    rnn_train_config_init(&c);
    double la = 0, lb = 0, aa = 0, ab = 0;
    CHECK(rnn_loss_and_grad(m, raw, NSEQ, &c, &la, ga) == RNN_OK);
    CHECK(rnn_loss_and_grad(plain, pre, NSEQ, &c, &lb, gb) == RNN_OK);
    CHECK(la == lb);
    CHECK_MSG(memcmp(ga, gb, sizeof(float) * np) == 0, "gradients differ by %g", max_diff(ga, gb, np));
    /* ... and differ from the plain model on raw inputs */
    CHECK(rnn_loss_and_grad(plain, raw, NSEQ, &c, &lb, gb) == RNN_OK);
    CHECK(la != lb && max_diff(ga, gb, np) > 1e-6);
    CHECK(rnn_evaluate(m, raw, NSEQ, &c, &la, &aa) == RNN_OK);
    CHECK(rnn_evaluate(plain, pre, NSEQ, &c, &lb, &ab) == RNN_OK);
    CHECK(la == lb && aa == ab);

    /* A whole seeded fit with SpecAugment, dropout, mini-batches mixing lengths 1..40 (so
     * padding) and a validation set: the same parameters, bit for bit. */
    c.epochs = 3;
    c.batch_size = 4;
    c.time_mask = 3;
    c.time_masks = 2;
    c.freq_mask = 2;
    c.freq_masks = 1;
    c.dropout = 0.1f;
    c.threads = 2;
    c.learning_rate = 0.01f;
    c.seed = 5;
    CHECK(rnn_fit(m, raw, 6, raw + 6, NSEQ - 6, &c, NULL, NULL) == RNN_OK);
    CHECK(rnn_fit(plain, pre, 6, pre + 6, NSEQ - 6, &c, NULL, NULL) == RNN_OK);
    CHECK_MSG(memcmp(rnn_model_params_const(m), rnn_model_params_const(plain), sizeof(float) * np) == 0,
              "fitted parameters differ by %g",
              max_diff(rnn_model_params_const(m), rnn_model_params_const(plain), np));
    CHECK(rnn_model_sequence_normalization(m) == 1); /* fitting keeps the mode */
    free(ga);
    free(gb);
    rnn_model_unref(m);
    rnn_model_unref(plain);
  }
  data_free(&d);
}

/* ------------------------------------------------------------------------------------------- */
/* RNN_SEQUENCE_NORM_APPEND: the first layer reads [x, x'] side by side. A model with the mode on
 * the raw frames must compute exactly what the same weights compute as a plain model of 2 x IN
 * inputs fed [x, x'] by hand, on every whole-sequence path, dense or grouped. */
static rnn_model *make_wide(int mode, rnn_cell_kind cell, int bidir, int groups, rnn_pool_kind pool) {
  rnn_model *m = rnn_model_new(mode == RNN_SEQUENCE_NORM_APPEND ? IN : 2 * IN);
  CHECK(rnn_model_set_sequence_normalization(m, mode) == RNN_OK);
  int ok = rnn_model_add_layer(m, cell, 8, bidir) == RNN_OK && rnn_model_add_layer(m, RNN_CELL_GRU, 6, 0) == RNN_OK &&
           rnn_model_set_layer_groups(m, 0, groups) == RNN_OK && rnn_model_set_layer_groups(m, 1, groups) == RNN_OK &&
           rnn_model_set_head(m, RNN_HEAD_SOFTMAX, O, pool) == RNN_OK && rnn_model_finalize(m) == RNN_OK;
  CHECK(ok);
  if (!ok) {
    rnn_model_unref(m);
    return NULL;
  }
  return m;
}

static void raw_plus_sequence(void) {
  data_set d;
  data_make(&d, 41);
  float *both[NSEQ];
  for (int b = 0; b < NSEQ; b++) {
    both[b] = malloc(sizeof(float) * (size_t)d.T[b] * 2 * IN);
    for (int t = 0; t < d.T[b]; t++) {
      memcpy(both[b] + (size_t)t * 2 * IN, d.x[b] + (size_t)t * IN, sizeof(float) * IN);
      memcpy(both[b] + (size_t)t * 2 * IN + IN, d.xn[b] + (size_t)t * IN, sizeof(float) * IN);
    }
  }
  for (int variant = 0; variant < 4; variant++) {
    rnn_cell_kind cell = variant & 1 ? RNN_CELL_LSTM : RNN_CELL_GRU;
    int groups = variant < 2 ? 1 : 2;
    rnn_pool_kind pool = variant & 1 ? RNN_POOL_LAST : RNN_POOL_MEAN;
    rnn_model *wide = make_wide(RNN_SEQUENCE_NORM_OFF, cell, 1, groups, pool);
    rnn_model *m = make_wide(RNN_SEQUENCE_NORM_APPEND, cell, 1, groups, pool);
    if (!wide || !m) {
      rnn_model_unref(wide);
      rnn_model_unref(m);
      continue;
    }
    rnn_model_init_weights(wide, 50 + (uint64_t)variant);
    size_t np = rnn_model_num_params(m);
    CHECK(np == rnn_model_num_params(wide));
    memcpy(rnn_model_params(m), rnn_model_params_const(wide), sizeof(float) * np);
    CHECK(rnn_model_input_size(m) == IN && rnn_model_sequence_normalization(m) == RNN_SEQUENCE_NORM_APPEND);

    float *outs[NSEQ];
    const float *xs[NSEQ];
    for (int b = 0; b < NSEQ; b++) {
      size_t n = (size_t)d.T[b] * O;
      float *a = malloc(sizeof(float) * n), *r = malloc(sizeof(float) * n);
      CHECK(rnn_forward_sequence(m, d.x[b], d.T[b], a) == RNN_OK);
      CHECK(rnn_forward_sequence(wide, both[b], d.T[b], r) == RNN_OK);
      CHECK_MSG(memcmp(a, r, sizeof(float) * n) == 0, "variant %d seq %d: sequence path differs by %g",
                variant, b, max_diff(a, r, n));
      float pa[O], pr[O];
      CHECK(rnn_forward_pooled(m, d.x[b], d.T[b], pa) == RNN_OK);
      CHECK(rnn_forward_pooled(wide, both[b], d.T[b], pr) == RNN_OK);
      CHECK(memcmp(pa, pr, sizeof pa) == 0);
      free(a);
      outs[b] = r;
      xs[b] = d.x[b];
    }
    check_batch_matches(m, xs, d.T, outs, variant);
    for (int b = 0; b < NSEQ; b++)
      free(outs[b]);

    /* Not streamable, no stored normalisation, inference-only; a clone keeps the mode. */
    CHECK(!rnn_model_streamable(m) && rnn_state_new(m) == NULL);
    static const float mean[IN] = {0}, scale[IN] = {1, 1, 1, 1, 1, 1};
    CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_EINVAL);
    rnn_model *c = rnn_model_clone(m);
    CHECK(c && rnn_model_sequence_normalization(c) == RNN_SEQUENCE_NORM_APPEND);
    rnn_model_unref(c);
    if (groups == 1) { /* grouped models are refused for their groups already */
      rnn_example ex[NSEQ];
      make_examples(&d, 0, ex);
      rnn_train_config cfg;
      rnn_train_config_init(&cfg);
      char err[160] = "";
      CHECK(rnn_train_validate(m, ex, NSEQ, &cfg, err, sizeof err) == RNN_ESTATE);
      CHECK_MSG(strstr(err, "raw+sequence is inference-only") != NULL, "message: %s", err);
      double loss = 0;
      float *g = malloc(sizeof(float) * np);
      CHECK(rnn_loss_and_grad(m, ex, NSEQ, &cfg, &loss, g) == RNN_ESTATE);
      free(g);
    }
    rnn_model_unref(m);
    rnn_model_unref(wide);
  }
  /* A model with a stored normalisation cannot take the mode (which half would it apply to?). */
  rnn_model *n = rnn_model_new(IN);
  static const float mean[IN] = {0}, scale[IN] = {2, 2, 2, 2, 2, 2};
  CHECK(rnn_model_set_normalization(n, mean, scale) == RNN_OK);
  CHECK(rnn_model_set_sequence_normalization(n, RNN_SEQUENCE_NORM_APPEND) == RNN_EINVAL);
  rnn_model_unref(n);
  for (int b = 0; b < NSEQ; b++)
    free(both[b]);
  data_free(&d);
}

int main(void) {
  reference_computation();
  inference_paths();
  training();
  raw_plus_sequence();
  return test_summary("test_seqnorm");
}
