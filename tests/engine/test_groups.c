/* Grouped recurrent layers and grouped heads (rnn.h): a grouped model computes exactly what its
 * zero-padded dense equivalent computes, on every inference path (sequence, pooled, batch,
 * streaming), for every cell, uni- and bidirectional, 1-3 layers, 1-4 groups, with no head, a
 * dense head or a grouped head; a grouped softmax head is a softmax per group; and the API
 * refuses what it must.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

#define TOL 1e-6

/* engine/gemm.h (engine-internal): 1 sends the batch path's packed products to the BLAS, the path
 * CPUs without AVX-512 take. */
void rnn_gemm_force_blas(int on);

enum { NO_HEAD, DENSE_HEAD, GROUPED_HEAD };
#define HEAD_OUT 3 /* outputs of the dense head, and of each head of a grouped one */

typedef struct {
  rnn_cell_kind cell;
  int layers, bidir, groups, head;
  int hidden[3];
} arch;

static rnn_model *build(const arch *a, int grouped, int input) {
  rnn_model *m = rnn_model_new(input);
  for (int l = 0; l < a->layers; l++)
    CHECK(rnn_model_add_layer(m, a->cell, a->hidden[l], a->bidir) == RNN_OK);
  if (grouped)
    for (int l = 0; l < a->layers; l++)
      CHECK(rnn_model_set_layer_groups(m, l, a->groups) == RNN_OK);
  if (a->head == DENSE_HEAD)
    CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, HEAD_OUT, RNN_POOL_LAST) == RNN_OK);
  /* linear, so that the dense equivalent (one activation over every output) is exact */
  if (a->head == GROUPED_HEAD)
    CHECK(rnn_model_set_head(m, RNN_HEAD_LINEAR, HEAD_OUT * a->groups, RNN_POOL_LAST) == RNN_OK);
  if (a->head == GROUPED_HEAD && grouped)
    CHECK(rnn_model_set_head_groups(m, a->groups) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_OK);
  return m;
}

static float *tensor(rnn_model *m, int l, const char *dir, const char *part, size_t *count) {
  char name[64];
  snprintf(name, sizeof name, "layer%d.%s.%s", l, dir, part);
  float *t = rnn_model_tensor(m, name, count);
  CHECK_MSG(t != NULL, "tensor %s", name);
  return t;
}

/* The dense model whose block-diagonal weights hold the grouped model's blocks and zeros
 * elsewhere: the construction of tools/rnn-ensemble.py's dense merge. */
static rnn_model *dense_equivalent(rnn_model *g, const arch *a, int input) {
  rnn_model *d = build(a, 0, input);
  static const char *const dirs[2] = {"fwd", "bwd"};
  const int G = rnn_cell_gates(a->cell), ng = a->groups;
  for (int l = 0; l < a->layers; l++) {
    const int H = a->hidden[l], Hg = H / ng;
    const int in = l == 0 ? input : a->hidden[l - 1] * (a->bidir ? 2 : 1);
    const int halves = l == 0 ? 1 : 1 + a->bidir, Hb = l == 0 ? input : a->hidden[l - 1];
    const int Hbg = l == 0 ? input : Hb / ng, ing = halves * Hbg;
    for (int di = 0; di < 1 + a->bidir; di++) {
      size_t n;
      float *gih = tensor(g, l, dirs[di], "w_ih", &n), *dih = tensor(d, l, dirs[di], "w_ih", &n);
      float *ghh = tensor(g, l, dirs[di], "w_hh", &n), *dhh = tensor(d, l, dirs[di], "w_hh", &n);
      for (int r = 0; r < G * H; r++) {
        int j = (r % H) / Hg; /* the row's group */
        for (int c = 0; c < Hg; c++)
          dhh[(size_t)r * H + (size_t)(j * Hg + c)] = ghh[(size_t)r * Hg + (size_t)c];
        if (l == 0) {
          memcpy(dih + (size_t)r * in, gih + (size_t)r * in, (size_t)in * sizeof(float));
          continue;
        }
        for (int half = 0; half < halves; half++)
          for (int c = 0; c < Hbg; c++)
            dih[(size_t)r * in + (size_t)(half * Hb + j * Hbg + c)] =
                gih[(size_t)r * ing + (size_t)(half * Hbg + c)];
      }
      float *gb = tensor(g, l, dirs[di], "b_ih", &n), *db = tensor(d, l, dirs[di], "b_ih", &n);
      memcpy(db, gb, n * sizeof(float));
      gb = tensor(g, l, dirs[di], "b_hh", &n), db = tensor(d, l, dirs[di], "b_hh", &n);
      memcpy(db, gb, n * sizeof(float));
    }
  }
  if (a->head == DENSE_HEAD) {
    size_t n;
    float *dw = rnn_model_tensor(d, "head.w", &n);
    memcpy(dw, rnn_model_tensor(g, "head.w", NULL), n * sizeof(float));
  }
  if (a->head == GROUPED_HEAD) { /* head j's row reads [fwd units of group j | bwd units of group j] */
    const int H = a->hidden[a->layers - 1], Hg = H / ng, D = H * (1 + a->bidir), cols = D / ng;
    float *dw = rnn_model_tensor(d, "head.w", NULL);
    const float *gw = rnn_model_tensor(g, "head.w", NULL);
    for (int r = 0; r < HEAD_OUT * ng; r++) {
      int j = r / HEAD_OUT;
      for (int half = 0; half < 1 + a->bidir; half++)
        for (int c = 0; c < Hg; c++)
          dw[(size_t)r * D + (size_t)(half * H + j * Hg + c)] = gw[(size_t)r * cols + (size_t)(half * Hg + c)];
    }
  }
  if (a->head != NO_HEAD) {
    size_t n;
    float *dbias = rnn_model_tensor(d, "head.b", &n);
    memcpy(dbias, rnn_model_tensor(g, "head.b", NULL), n * sizeof(float));
  }
  return d;
}

static int max_diff_ok(const float *x, const float *y, size_t n, const char *what, const arch *a) {
  double worst = 0.0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)x[i] - (double)y[i]);
    if (!(e <= worst))
      worst = e; /* NaN sticks */
  }
  CHECK_MSG(worst <= TOL, "%s: %s layers=%d bidir=%d groups=%d: max diff %.3g", what,
            rnn_cell_name(a->cell), a->layers, a->bidir, a->groups, worst);
  return worst <= TOL;
}

static void compare(const arch *a, unsigned long long seed) {
  const int input = 5, T = 9;
  rnn_model *g = build(a, 1, input);
  rnn_model_init_weights(g, seed);
  rnn_model *d = dense_equivalent(g, a, input);
  for (int l = 0; l < a->layers; l++)
    CHECK(rnn_model_layer_groups(g, l) == a->groups && rnn_model_layer_groups(d, l) == 1);
  if (a->groups > 1)
    CHECK(rnn_model_num_params(g) < rnn_model_num_params(d));
  else
    CHECK(rnn_model_num_params(g) == rnn_model_num_params(d));
  const int O = rnn_model_output_size(g);
  CHECK(O == rnn_model_output_size(d));

  float x[3][9 * 5];
  unsigned long long s = seed * 7919ULL + 1;
  for (int b = 0; b < 3; b++)
    for (int i = 0; i < T * input; i++)
      x[b][i] = test_uniform(&s, -2.0f, 2.0f);

  /* whole sequence */
  float *og = calloc((size_t)T * O, sizeof(float)), *od = calloc((size_t)T * O, sizeof(float));
  CHECK(rnn_forward_sequence(g, x[0], T, og) == RNN_OK);
  CHECK(rnn_forward_sequence(d, x[0], T, od) == RNN_OK);
  max_diff_ok(og, od, (size_t)T * O, "rnn_forward_sequence", a);

  /* pooled */
  float pg[512], pd[512];
  CHECK(rnn_forward_pooled(g, x[1], T, pg) == RNN_OK);
  CHECK(rnn_forward_pooled(d, x[1], T, pd) == RNN_OK);
  max_diff_ok(pg, pd, (size_t)O, "rnn_forward_pooled", a);

  /* batch of different lengths; the grouped batch also equals the grouped sequence path */
  const int lengths[3] = {T, 4, 1};
  float *bg[3], *bd[3];
  const float *xs[3] = {x[0], x[1], x[2]};
  for (int b = 0; b < 3; b++) {
    bg[b] = calloc((size_t)T * O, sizeof(float));
    bd[b] = calloc((size_t)T * O, sizeof(float));
  }
  CHECK(rnn_forward_batch(g, xs, lengths, 3, bg) == RNN_OK);
  CHECK(rnn_forward_batch(d, xs, lengths, 3, bd) == RNN_OK);
  for (int b = 0; b < 3; b++)
    max_diff_ok(bg[b], bd[b], (size_t)lengths[b] * O, "rnn_forward_batch", a);
  max_diff_ok(bg[0], og, (size_t)T * O, "rnn_forward_batch vs sequence", a);

  /* streaming */
  if (!a->bidir) {
    rnn_state *sg = rnn_state_new(g), *sd = rnn_state_new(d);
    CHECK(sg && sd);
    if (sg && sd) {
      for (int t = 0; t < T; t++) {
        const float *yg = rnn_step(sg, x[0] + t * input);
        const float *yd = rnn_step(sd, x[0] + t * input);
        max_diff_ok(yg, yd, (size_t)O, "rnn_step", a);
        max_diff_ok(yg, og + (size_t)t * O, (size_t)O, "rnn_step vs sequence", a);
      }
    }
    rnn_state_free(sg);
    rnn_state_free(sd);
  } else {
    CHECK(rnn_state_new(g) == NULL);
  }

  /* a grouped model survives a save/load round trip, groups included */
  void *buf = NULL;
  size_t size = 0;
  CHECK(rnn_model_save_memory(g, &buf, &size) == RNN_OK);
  char err[256] = "";
  rnn_model *r = rnn_model_load_memory(buf, size, err, sizeof err);
  CHECK_MSG(r != NULL, "%s", err);
  if (r) {
    for (int l = 0; l < a->layers; l++)
      CHECK(rnn_model_layer_groups(r, l) == a->groups);
    CHECK(rnn_model_head_groups(r) == (a->head == GROUPED_HEAD ? a->groups : 1));
    float *orr = calloc((size_t)T * O, sizeof(float));
    CHECK(rnn_forward_sequence(r, x[0], T, orr) == RNN_OK);
    CHECK(memcmp(orr, og, (size_t)T * O * sizeof(float)) == 0);
    free(orr);
    rnn_model_unref(r);
  }
  free(buf);

  for (int b = 0; b < 3; b++) {
    free(bg[b]);
    free(bd[b]);
  }
  free(og);
  free(od);
  rnn_model_unref(g);
  rnn_model_unref(d);
}

static void test_equivalence(void) {
  static const rnn_cell_kind cells[] = {RNN_CELL_RNN_TANH, RNN_CELL_RNN_RELU, RNN_CELL_LSTM, RNN_CELL_GRU,
                                        RNN_CELL_GRU_RESET_BEFORE};
  unsigned long long seed = 1;
  for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++)
    for (int layers = 1; layers <= 3; layers++)
      for (int bidir = 0; bidir <= 1; bidir++)
        for (int groups = 1; groups <= 4; groups++) {
          /* hidden sizes 12 and 24 divide by every g in 1..4; sizes differ between layers */
          arch a = {cells[c], layers, bidir, groups, (int)(seed % 3), {12, 24, 12}};
          compare(&a, seed++);
        }
  /* larger groups (40 units): the SIMD kernels' and the packed GEMM's full-width paths */
  arch big = {RNN_CELL_GRU, 2, 1, 4, 1, {160, 160, 0}};
  compare(&big, 99);
  arch big_lstm = {RNN_CELL_LSTM, 2, 0, 2, 1, {96, 96, 0}};
  compare(&big_lstm, 100);
  arch big_heads = {RNN_CELL_GRU, 2, 0, 3, GROUPED_HEAD, {192, 192, 0}}; /* a CTC ensemble's shape */
  compare(&big_heads, 101);
  arch big_bidir_heads = {RNN_CELL_GRU, 2, 1, 4, GROUPED_HEAD, {160, 160, 0}};
  compare(&big_bidir_heads, 102);
}

/* A grouped softmax head is a softmax over each head's outputs: each group's outputs sum to 1 and
 * equal the softmax of the same model's linear logits of that group. */
static void test_grouped_softmax(void) {
  const int input = 4, T = 6, g = 3, O = HEAD_OUT * g;
  rnn_model *m[2];
  for (int i = 0; i < 2; i++) {
    m[i] = rnn_model_new(input);
    CHECK(rnn_model_add_layer(m[i], RNN_CELL_GRU, 9, 0) == RNN_OK);
    CHECK(rnn_model_set_layer_groups(m[i], 0, g) == RNN_OK);
    CHECK(rnn_model_set_head(m[i], i ? RNN_HEAD_SOFTMAX : RNN_HEAD_LINEAR, O, RNN_POOL_MEAN) == RNN_OK);
    CHECK(rnn_model_set_head_groups(m[i], g) == RNN_OK);
    CHECK(rnn_model_finalize(m[i]) == RNN_OK);
    rnn_model_init_weights(m[i], 5); /* the same weights: the same shapes and seed */
  }
  float x[6 * 4], logits[6 * 9], probs[6 * 9], pooled[9];
  unsigned long long s = 11;
  for (int i = 0; i < T * input; i++)
    x[i] = test_uniform(&s, -2.0f, 2.0f);
  CHECK(rnn_forward_sequence(m[0], x, T, logits) == RNN_OK);
  CHECK(rnn_forward_sequence(m[1], x, T, probs) == RNN_OK);
  for (int t = 0; t < T; t++)
    for (int j = 0; j < g; j++) {
      const float *z = logits + t * O + j * HEAD_OUT, *p = probs + t * O + j * HEAD_OUT;
      double sum = 0.0, mx = z[0];
      for (int k = 1; k < HEAD_OUT; k++)
        mx = z[k] > mx ? z[k] : mx;
      for (int k = 0; k < HEAD_OUT; k++)
        sum += exp(z[k] - mx);
      for (int k = 0; k < HEAD_OUT; k++)
        CHECK_NEAR(p[k], exp(z[k] - mx) / sum, 1e-6);
    }
  /* pooled: the mean of each group's logits, then its softmax; each group sums to 1 */
  CHECK(rnn_forward_pooled(m[1], x, T, pooled) == RNN_OK);
  for (int j = 0; j < g; j++)
    CHECK_NEAR(pooled[j * HEAD_OUT] + pooled[j * HEAD_OUT + 1] + pooled[j * HEAD_OUT + 2], 1.0, 1e-6);
  rnn_model_unref(m[0]);
  rnn_model_unref(m[1]);
}

static void test_head_group_refusals(void) {
  rnn_model *m = rnn_model_new(4);
  CHECK(rnn_model_set_head_groups(m, 2) == RNN_EINVAL); /* no layer yet */
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 12, 0) == RNN_OK);
  CHECK(rnn_model_set_layer_groups(m, 0, 3) == RNN_OK);
  CHECK(rnn_model_set_head_groups(m, 3) == RNN_EINVAL); /* no head */
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 10, RNN_POOL_LAST) == RNN_OK);
  CHECK(rnn_model_set_head_groups(m, 3) == RNN_EINVAL); /* 3 does not divide 10 */
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 6, RNN_POOL_LAST) == RNN_OK);
  CHECK(rnn_model_set_head_groups(m, 2) == RNN_EINVAL); /* the top layer has 3 groups */
  CHECK(rnn_model_set_head_groups(m, 0) == RNN_EINVAL);
  CHECK(rnn_model_set_head_groups(NULL, 3) == RNN_EINVAL);
  CHECK(rnn_model_head_groups(m) == 1);
  CHECK(rnn_model_set_head_groups(m, 3) == RNN_OK);
  CHECK(rnn_model_head_groups(m) == 3);
  /* the head changed under the grouped head: finalize refuses */
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 7, RNN_POOL_LAST) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_EINVAL);
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 6, RNN_POOL_LAST) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_OK);
  CHECK(rnn_model_set_head_groups(m, 1) == RNN_ESTATE);
  const char *name;
  int dims[2];
  for (int i = 0; i < rnn_model_num_tensors(m); i++)
    if (rnn_model_tensor_info(m, i, &name, NULL, dims, NULL) == RNN_OK && !strcmp(name, "head.w"))
      CHECK(dims[0] == 6 && dims[1] == 4); /* each row reads its group's 4 units */
  rnn_model *c = rnn_model_clone(m);
  CHECK(c && rnn_model_head_groups(c) == 3);
  rnn_model_unref(c);
  rnn_model_unref(m);
}

static void test_refusals(void) {
  rnn_model *m = rnn_model_new(4);
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 12, 1) == RNN_OK);
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 12, 0) == RNN_OK);
  CHECK(rnn_model_layer_groups(m, 0) == 1);
  CHECK(rnn_model_layer_groups(m, 2) == 0);
  CHECK(rnn_model_set_layer_groups(NULL, 0, 2) == RNN_EINVAL);
  CHECK(rnn_model_set_layer_groups(m, 0, 0) == RNN_EINVAL);
  CHECK(rnn_model_set_layer_groups(m, 0, -3) == RNN_EINVAL);
  CHECK(rnn_model_set_layer_groups(m, 0, 5) == RNN_EINVAL);  /* does not divide 12 */
  CHECK(rnn_model_set_layer_groups(m, 0, 24) == RNN_EINVAL); /* more groups than units */
  CHECK(rnn_model_set_layer_groups(m, 2, 2) == RNN_EINVAL);  /* no such layer */
  CHECK(rnn_model_set_layer_groups(m, -1, 2) == RNN_EINVAL);
  CHECK(rnn_model_set_layer_groups(m, 1, 2) == RNN_EINVAL);  /* the layer below has 1 group */
  CHECK(rnn_model_layer_groups(m, 0) == 1 && rnn_model_layer_groups(m, 1) == 1);
  CHECK(rnn_model_set_layer_groups(m, 0, 3) == RNN_OK);
  CHECK(rnn_model_set_layer_groups(m, 1, 2) == RNN_EINVAL);  /* the layer below has 3 */
  /* the layer above a grouped layer is still dense: finalize refuses */
  CHECK(rnn_model_finalize(m) == RNN_EINVAL);
  CHECK(rnn_model_set_layer_groups(m, 1, 3) == RNN_OK);
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_OK);
  CHECK(rnn_model_set_layer_groups(m, 1, 1) == RNN_ESTATE);
  CHECK(rnn_model_layer_groups(m, 0) == 3 && rnn_model_layer_groups(m, 1) == 3);
  /* shapes: layer 0 reads the whole input, layer 1 its group's slice [fwd 4 | bwd 4] */
  int dims[2];
  for (int i = 0; i < rnn_model_num_tensors(m); i++) {
    const char *name;
    CHECK(rnn_model_tensor_info(m, i, &name, NULL, dims, NULL) == RNN_OK);
    if (!strcmp(name, "layer0.bwd.w_ih"))
      CHECK(dims[0] == 36 && dims[1] == 4);
    if (!strcmp(name, "layer0.bwd.w_hh"))
      CHECK(dims[0] == 36 && dims[1] == 4);
    if (!strcmp(name, "layer1.fwd.w_ih"))
      CHECK(dims[0] == 36 && dims[1] == 8);
    if (!strcmp(name, "layer1.fwd.w_hh"))
      CHECK(dims[0] == 36 && dims[1] == 4);
    if (!strcmp(name, "head.w"))
      CHECK(dims[0] == 3 && dims[1] == 12);
  }
  rnn_model_init_weights(m, 3);

  /* training refuses, with the reason */
  float x[6 * 4] = {0};
  rnn_example ex = {x, 6, 1, NULL, NULL, NULL, 0};
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.epochs = 1;
  char err[128] = "";
  CHECK(rnn_train_validate(m, &ex, 1, &c, err, sizeof err) == RNN_ESTATE);
  CHECK_MSG(strstr(err, "grouped layers are inference-only") != NULL, "message '%s'", err);
  CHECK(rnn_fit(m, &ex, 1, NULL, 0, &c, NULL, NULL) == RNN_ESTATE);
  double loss, acc;
  float *grad = calloc(rnn_model_num_params(m), sizeof(float));
  CHECK(rnn_loss_and_grad(m, &ex, 1, &c, &loss, grad) == RNN_ESTATE);
  CHECK(rnn_evaluate(m, &ex, 1, &c, &loss, &acc) == RNN_ESTATE);
  free(grad);

  /* the clone keeps the groups and computes the same */
  rnn_model *cl = rnn_model_clone(m);
  CHECK(cl && rnn_model_layer_groups(cl, 1) == 3);
  float y1[3], y2[3];
  CHECK(rnn_forward_pooled(m, x, 6, y1) == RNN_OK && rnn_forward_pooled(cl, x, 6, y2) == RNN_OK);
  CHECK(memcmp(y1, y2, sizeof y1) == 0);
  rnn_model_unref(cl);
  rnn_model_unref(m);

  /* a dense layer below a grouped one is fine only at layer 0's level: grouping layer 1 alone is
   * refused, adding a dense layer above grouped ones is refused at finalize */
  m = rnn_model_new(3);
  CHECK(rnn_model_add_layer(m, RNN_CELL_LSTM, 8, 0) == RNN_OK);
  CHECK(rnn_model_set_layer_groups(m, 0, 2) == RNN_OK);
  CHECK(rnn_model_add_layer(m, RNN_CELL_LSTM, 8, 0) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_EINVAL);
  rnn_model_unref(m);
}

int main(void) {
  test_refusals();
  test_head_group_refusals();
  test_grouped_softmax();
  test_equivalence();
  rnn_gemm_force_blas(1);
  test_equivalence();
  rnn_gemm_force_blas(0);
  return test_summary("test_groups");
}
