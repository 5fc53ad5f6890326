/* Engine model: construction and its argument checks, tensor layout, init, clone, reference
 * counting, normalisation, metadata, names.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "testutil.h"

static rnn_model *two_layer_model(void) {
  rnn_model *m = rnn_model_new(40);
  CHECK(rnn_model_add_layer(m, RNN_CELL_LSTM, 32, 1) == RNN_OK);
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 16, 0) == RNN_OK);
  CHECK(rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 10, RNN_POOL_MEAN) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_OK);
  return m;
}

static void test_bad_construction(void) {
  CHECK(rnn_model_new(0) == NULL);
  CHECK(rnn_model_new(-3) == NULL);
  rnn_model *m = rnn_model_new(4);
  CHECK(m != NULL);
  CHECK(rnn_model_add_layer(m, RNN_CELL_LSTM, 0, 0) == RNN_EINVAL);
  CHECK(rnn_model_add_layer(m, RNN_CELL_LSTM, -1, 0) == RNN_EINVAL);
  CHECK(rnn_model_add_layer(m, (rnn_cell_kind)17, 8, 0) == RNN_EINVAL);
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 8, 2) == RNN_EINVAL);
  CHECK(rnn_model_add_layer(NULL, RNN_CELL_GRU, 8, 0) == RNN_EINVAL);
  CHECK(rnn_model_finalize(m) == RNN_EINVAL); /* no layer yet */
  CHECK(rnn_model_set_head(m, RNN_HEAD_LINEAR, 0, RNN_POOL_LAST) == RNN_EINVAL);
  CHECK(rnn_model_set_head(m, (rnn_head_kind)9, 3, RNN_POOL_LAST) == RNN_EINVAL);
  CHECK(rnn_model_set_head(m, RNN_HEAD_LINEAR, 3, (rnn_pool_kind)5) == RNN_EINVAL);
  for (int i = 0; i < RNN_MAX_LAYERS; i++)
    CHECK(rnn_model_add_layer(m, RNN_CELL_RNN_TANH, 3, 0) == RNN_OK);
  CHECK(rnn_model_add_layer(m, RNN_CELL_RNN_TANH, 3, 0) == RNN_EINVAL); /* too many layers */
  CHECK(rnn_model_num_layers(m) == RNN_MAX_LAYERS);
  CHECK(rnn_model_finalize(m) == RNN_OK);
  CHECK(rnn_model_finalize(m) == RNN_ESTATE);
  CHECK(rnn_model_add_layer(m, RNN_CELL_GRU, 8, 0) == RNN_ESTATE);
  CHECK(rnn_model_set_head(m, RNN_HEAD_LINEAR, 3, RNN_POOL_LAST) == RNN_ESTATE);
  rnn_model_unref(m);
  CHECK(rnn_model_finalize(NULL) == RNN_EINVAL);
  rnn_model_unref(NULL);
}

static void test_layout(void) {
  rnn_model *m = two_layer_model();
  CHECK(rnn_model_input_size(m) == 40);
  CHECK(rnn_model_output_size(m) == 10);
  CHECK(rnn_model_num_layers(m) == 2);
  CHECK(rnn_model_layer_cell(m, 0) == RNN_CELL_LSTM);
  CHECK(rnn_model_layer_cell(m, 1) == RNN_CELL_GRU);
  CHECK(rnn_model_layer_hidden(m, 0) == 32);
  CHECK(rnn_model_layer_bidirectional(m, 0) == 1);
  CHECK(rnn_model_layer_bidirectional(m, 1) == 0);
  CHECK(rnn_model_layer_hidden(m, 2) == 0);
  CHECK(rnn_model_head(m) == RNN_HEAD_SOFTMAX);
  CHECK(rnn_model_pool(m) == RNN_POOL_MEAN);
  CHECK(!rnn_model_streamable(m));
  CHECK(((uintptr_t)rnn_model_params(m) & 63) == 0);

  /* expected tensors, in order, contiguous, with PyTorch shapes */
  struct {
    const char *name;
    int ndim, d0, d1;
  } expect[] = {
      {"layer0.fwd.w_ih", 2, 128, 40}, {"layer0.fwd.w_hh", 2, 128, 32}, {"layer0.fwd.b_ih", 1, 128, 1},
      {"layer0.fwd.b_hh", 1, 128, 1},  {"layer0.bwd.w_ih", 2, 128, 40}, {"layer0.bwd.w_hh", 2, 128, 32},
      {"layer0.bwd.b_ih", 1, 128, 1},  {"layer0.bwd.b_hh", 1, 128, 1},  {"layer1.fwd.w_ih", 2, 48, 64},
      {"layer1.fwd.w_hh", 2, 48, 16},  {"layer1.fwd.b_ih", 1, 48, 1},   {"layer1.fwd.b_hh", 1, 48, 1},
      {"head.w", 2, 10, 16},           {"head.b", 1, 10, 1},
  };
  int n = (int)(sizeof(expect) / sizeof(expect[0]));
  CHECK(rnn_model_num_tensors(m) == n);
  size_t next = 0;
  for (int i = 0; i < n && i < rnn_model_num_tensors(m); i++) {
    const char *name;
    int ndim, dims[2];
    size_t offset, count;
    CHECK(rnn_model_tensor_info(m, i, &name, &ndim, dims, &offset) == RNN_OK);
    CHECK_MSG(strcmp(name, expect[i].name) == 0, "tensor %d is %s, expected %s", i, name, expect[i].name);
    CHECK(ndim == expect[i].ndim && dims[0] == expect[i].d0 && dims[1] == expect[i].d1);
    CHECK(offset == next);
    float *t = rnn_model_tensor(m, expect[i].name, &count);
    CHECK(t == rnn_model_params(m) + offset);
    CHECK(count == (size_t)dims[0] * (size_t)dims[1]);
    next = offset + count;
  }
  CHECK(rnn_model_num_params(m) == next);
  CHECK(rnn_model_tensor_info(m, n, NULL, NULL, NULL, NULL) == RNN_EINVAL);
  CHECK(rnn_model_tensor_info(m, -1, NULL, NULL, NULL, NULL) == RNN_EINVAL);
  CHECK(rnn_model_tensor(m, "layer2.fwd.w_ih", NULL) == NULL);
  CHECK(rnn_model_tensor(m, "layer1.bwd.w_ih", NULL) == NULL);

  /* a fresh model is zero; init is deterministic, seeded, within PyTorch's / Glorot's bounds */
  const float *p = rnn_model_params_const(m);
  int zeros = 1;
  for (size_t i = 0; i < rnn_model_num_params(m); i++)
    zeros &= p[i] == 0.0f;
  CHECK(zeros);
  rnn_model_init_weights(m, 123);
  rnn_model *m2 = two_layer_model();
  rnn_model_init_weights(m2, 123);
  CHECK(memcmp(p, rnn_model_params(m2), rnn_model_num_params(m) * sizeof(float)) == 0);
  rnn_model_init_weights(m2, 124);
  CHECK(memcmp(p, rnn_model_params(m2), rnn_model_num_params(m) * sizeof(float)) != 0);
  size_t cnt;
  const float *w0 = rnn_model_tensor(m, "layer0.bwd.b_hh", &cnt);
  double k0 = 1.0 / sqrt(32.0), mx = 0.0, mean = 0.0;
  for (size_t i = 0; i < cnt; i++) {
    mx = fmax(mx, fabs(w0[i]));
    mean += w0[i];
  }
  CHECK(mx <= k0 && mx > 0.8 * k0);
  CHECK(fabs(mean / (double)cnt) < 0.3 * k0);
  const float *hw = rnn_model_tensor(m, "head.w", &cnt);
  double glorot = sqrt(6.0 / (16 + 10));
  mx = 0.0;
  for (size_t i = 0; i < cnt; i++)
    mx = fmax(mx, fabs(hw[i]));
  CHECK(mx <= glorot && mx > 0.7 * glorot);
  const float *hb = rnn_model_tensor(m, "head.b", &cnt);
  for (size_t i = 0; i < cnt; i++)
    CHECK(hb[i] == 0.0f);
  rnn_model_unref(m2);
  rnn_model_unref(m);

  /* no head: the output is the top layer's */
  rnn_model *bare = rnn_model_new(3);
  rnn_model_add_layer(bare, RNN_CELL_RNN_RELU, 5, 1);
  CHECK(rnn_model_finalize(bare) == RNN_OK);
  CHECK(rnn_model_output_size(bare) == 10);
  CHECK(rnn_model_num_tensors(bare) == 8);
  CHECK(rnn_model_tensor(bare, "head.w", NULL) == NULL);
  rnn_model_unref(bare);
}

static void test_metadata(void) {
  rnn_model *m = two_layer_model();
  const char *labels[3] = {"yes", "no", "maybe"};
  CHECK(rnn_model_set_meta_string(m, "task", "classification") == RNN_OK);
  CHECK(rnn_model_set_meta_int(m, "features.num-mel-bins", 40) == RNN_OK);
  CHECK(rnn_model_set_meta_float(m, "train.accuracy", 0.975) == RNN_OK);
  CHECK(rnn_model_set_meta_strings(m, "labels", labels, 3) == RNN_OK);
  CHECK(rnn_model_set_meta_strings(m, "empty", NULL, 0) == RNN_OK);
  CHECK(rnn_model_meta_count(m) == 5);

  const char *s;
  int64_t i64;
  double f;
  const char *const *v;
  int n;
  CHECK(rnn_model_meta_string(m, "task", &s) && strcmp(s, "classification") == 0);
  CHECK(rnn_model_meta_int(m, "features.num-mel-bins", &i64) && i64 == 40);
  CHECK(rnn_model_meta_float(m, "train.accuracy", &f) && f == 0.975);
  CHECK(rnn_model_meta_strings(m, "labels", &v, &n) && n == 3 && strcmp(v[2], "maybe") == 0);
  CHECK(rnn_model_meta_strings(m, "empty", &v, &n) && n == 0);
  /* wrong type or missing key: 0 */
  CHECK(!rnn_model_meta_int(m, "task", &i64));
  CHECK(!rnn_model_meta_string(m, "nope", &s));

  /* the model owns copies */
  char buf[8] = "abc";
  CHECK(rnn_model_set_meta_string(m, "copy", buf) == RNN_OK);
  buf[0] = 'X';
  CHECK(rnn_model_meta_string(m, "copy", &s) && strcmp(s, "abc") == 0);

  /* replacing keeps the position and may change the type */
  CHECK(rnn_model_set_meta_int(m, "task", 7) == RNN_OK);
  CHECK(rnn_model_meta_count(m) == 6);
  CHECK(!rnn_model_meta_string(m, "task", &s));
  CHECK(rnn_model_meta_int(m, "task", &i64) && i64 == 7);
  const char *order[6] = {"task", "features.num-mel-bins", "train.accuracy", "labels", "empty", "copy"};
  const rnn_meta_type types[6] = {RNN_META_INT, RNN_META_INT, RNN_META_FLOAT, RNN_META_STRINGS,
                                  RNN_META_STRINGS, RNN_META_STRING};
  for (int i = 0; i < 6; i++) {
    const char *key;
    rnn_meta_type t;
    CHECK(rnn_model_meta_at(m, i, &key, &t) == RNN_OK);
    CHECK_MSG(strcmp(key, order[i]) == 0 && t == types[i], "entry %d: %s", i, key);
  }
  CHECK(rnn_model_meta_at(m, 6, NULL, NULL) == RNN_EINVAL);

  /* remove keeps the others in order */
  CHECK(rnn_model_remove_meta(m, "train.accuracy") == RNN_OK);
  CHECK(rnn_model_remove_meta(m, "train.accuracy") == RNN_EINVAL);
  CHECK(rnn_model_meta_count(m) == 5);
  const char *key;
  CHECK(rnn_model_meta_at(m, 2, &key, NULL) == RNN_OK && strcmp(key, "labels") == 0);

  /* bad arguments */
  CHECK(rnn_model_set_meta_string(m, "", "x") == RNN_EINVAL);
  CHECK(rnn_model_set_meta_string(m, NULL, "x") == RNN_EINVAL);
  CHECK(rnn_model_set_meta_string(m, "k", NULL) == RNN_EINVAL);
  CHECK(rnn_model_set_meta_strings(m, "k", NULL, 2) == RNN_EINVAL);
  const char *with_null[2] = {"a", NULL};
  CHECK(rnn_model_set_meta_strings(m, "k", with_null, 2) == RNN_EINVAL);
  CHECK(rnn_model_set_meta_strings(m, "k", labels, -1) == RNN_EINVAL);
  CHECK(rnn_model_meta_count(m) == 5);

  /* many keys (growth) */
  for (int i = 0; i < 100; i++) {
    char k[32];
    snprintf(k, sizeof(k), "train.k%d", i);
    CHECK(rnn_model_set_meta_int(m, k, i) == RNN_OK);
  }
  CHECK(rnn_model_meta_count(m) == 105);
  CHECK(rnn_model_meta_int(m, "train.k99", &i64) && i64 == 99);
  rnn_model_unref(m);
}

static void test_clone_and_refcount(void) {
  rnn_model *m = two_layer_model();
  rnn_model_init_weights(m, 5);
  float mean[40], scale[40];
  for (int i = 0; i < 40; i++) {
    mean[i] = (float)i;
    scale[i] = 1.0f / (float)(i + 1);
  }
  CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_OK);
  const char *labels[2] = {"a", "b"};
  rnn_model_set_meta_strings(m, "labels", labels, 2);
  rnn_model_set_meta_float(m, "x", 1.5);

  rnn_model *c = rnn_model_clone(m);
  CHECK(c != NULL && c != m);
  CHECK(rnn_model_params(c) != rnn_model_params(m));
  CHECK(((uintptr_t)rnn_model_params(c) & 63) == 0);
  CHECK(rnn_model_num_params(c) == rnn_model_num_params(m));
  CHECK(memcmp(rnn_model_params(c), rnn_model_params(m), rnn_model_num_params(m) * sizeof(float)) == 0);
  CHECK(rnn_model_num_tensors(c) == rnn_model_num_tensors(m));
  CHECK(rnn_model_output_size(c) == 10 && rnn_model_pool(c) == RNN_POOL_MEAN);
  const float *cm, *cs;
  CHECK(rnn_model_normalization(c, &cm, &cs) == 1);
  CHECK(memcmp(cm, mean, sizeof(mean)) == 0 && memcmp(cs, scale, sizeof(scale)) == 0);
  const char *const *v;
  int n;
  CHECK(rnn_model_meta_strings(c, "labels", &v, &n) && n == 2 && strcmp(v[1], "b") == 0);
  CHECK(rnn_model_meta_count(c) == 2);
  /* deep: changing the clone leaves the original alone */
  rnn_model_params(c)[0] += 1.0f;
  rnn_model_set_meta_string(c, "labels", "changed");
  CHECK(rnn_model_params(c)[0] != rnn_model_params(m)[0]);
  CHECK(rnn_model_meta_strings(m, "labels", &v, &n) && n == 2);

  /* refs: the model survives until the last unref (ASan checks the frees) */
  CHECK(rnn_model_ref(m) == m);
  rnn_model_unref(m);
  CHECK(rnn_model_num_params(m) > 0);
  rnn_model_unref(m);
  rnn_model_unref(c);
}

static void test_normalization(void) {
  rnn_model *m = rnn_model_new(3);
  rnn_model_add_layer(m, RNN_CELL_GRU, 4, 0);
  rnn_model_finalize(m);
  const float *mm, *ss;
  CHECK(rnn_model_normalization(m, &mm, &ss) == 0 && mm == NULL && ss == NULL);
  const float mean[3] = {1, 2, 3}, scale[3] = {0.5f, 0.25f, 2};
  CHECK(rnn_model_set_normalization(m, mean, NULL) == RNN_OK);
  CHECK(rnn_model_normalization(m, &mm, &ss) == 1 && mm[2] == 3 && ss[0] == 1.0f);
  CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_OK);
  CHECK(rnn_model_normalization(m, &mm, &ss) == 1 && ss[1] == 0.25f);
  const float bad[3] = {1, NAN, 3};
  CHECK(rnn_model_set_normalization(m, bad, scale) == RNN_EINVAL);
  CHECK(rnn_model_normalization(m, &mm, &ss) == 1 && mm[1] == 2); /* unchanged */
  CHECK(rnn_model_set_normalization(m, NULL, NULL) == RNN_OK);
  CHECK(rnn_model_normalization(m, &mm, &ss) == 0);
  CHECK(rnn_model_set_normalization(NULL, mean, scale) == RNN_EINVAL);
  rnn_model_unref(m);
}

static void test_names(void) {
  for (int k = 0; k <= 4; k++)
    CHECK(rnn_cell_from_name(rnn_cell_name((rnn_cell_kind)k)) == k);
  for (int k = 0; k <= 3; k++)
    CHECK(rnn_head_from_name(rnn_head_name((rnn_head_kind)k)) == k);
  for (int k = 0; k <= 1; k++)
    CHECK(rnn_pool_from_name(rnn_pool_name((rnn_pool_kind)k)) == k);
  for (int k = 0; k <= 4; k++)
    CHECK(rnn_loss_from_name(rnn_loss_name((rnn_loss_kind)k)) == k);
  CHECK(strcmp(rnn_cell_name(RNN_CELL_GRU_RESET_BEFORE), "gru_reset_before") == 0);
  CHECK(strcmp(rnn_loss_name(RNN_LOSS_CE_FRAME), "ce_frame") == 0);
  CHECK(rnn_cell_from_name("LSTM") == -1);
  CHECK(rnn_cell_from_name(NULL) == -1);
  CHECK(rnn_head_from_name("") == -1);
  CHECK(rnn_pool_from_name("max") == -1);
  CHECK(rnn_loss_from_name("nll") == -1);
  CHECK(rnn_cell_name((rnn_cell_kind)9) == NULL);
  CHECK(rnn_cell_gates(RNN_CELL_LSTM) == 4 && rnn_cell_gates(RNN_CELL_GRU) == 3 &&
        rnn_cell_gates(RNN_CELL_RNN_RELU) == 1 && rnn_cell_gates((rnn_cell_kind)8) == 0);
  for (int e = 0; e >= -6; e--)
    CHECK(rnn_strerror(e) != NULL && strcmp(rnn_strerror(e), "unknown error") != 0);
  CHECK(strcmp(rnn_strerror(-99), "unknown error") == 0);
  void *p = rnn_aligned_alloc(3);
  CHECK(p != NULL && ((uintptr_t)p & 63) == 0 && ((unsigned char *)p)[2] == 0);
  rnn_aligned_free(p);
}

int main(void) {
  test_bad_construction();
  test_layout();
  test_metadata();
  test_clone_and_refcount();
  test_normalization();
  test_names();
  return test_summary("test_model");
}
