/* Engine inference: streaming vs whole sequence vs batch, state handling, the cell equations
 * checked by hand in double precision, pooling, head activations, kernel variants, bad arguments.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "rnn.h"
#include "testutil.h"

#define TOL 1e-5

/* Allocation counting, to check that the streaming step never allocates. glibc lets a program
 * replace malloc; these forward to glibc's own allocator. Not under AddressSanitizer, which
 * replaces malloc itself. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define COUNT_ALLOCATIONS 0
#endif
#endif
#if !defined(COUNT_ALLOCATIONS) && defined(__GLIBC__)
#define COUNT_ALLOCATIONS 1
#endif
#ifndef COUNT_ALLOCATIONS
#define COUNT_ALLOCATIONS 0
#endif

#if COUNT_ALLOCATIONS
#include <stdatomic.h>
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
static atomic_long allocations;
void *malloc(size_t n) {
  atomic_fetch_add(&allocations, 1);
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
  atomic_fetch_add(&allocations, 1);
  return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
  atomic_fetch_add(&allocations, 1);
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t align, size_t n) {
  atomic_fetch_add(&allocations, 1);
  return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
  atomic_fetch_add(&allocations, 1);
  void *p = __libc_memalign(align, n);
  if (!p)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}
#endif

static const rnn_cell_kind all_cells[] = {RNN_CELL_RNN_TANH, RNN_CELL_RNN_RELU, RNN_CELL_LSTM,
                                          RNN_CELL_GRU, RNN_CELL_GRU_RESET_BEFORE};
#define N_CELLS 5

static float *random_frames(unsigned long long *seed, int T, int n, float lo, float hi) {
  float *x = malloc((size_t)(T > 0 ? T : 1) * (size_t)n * sizeof(float));
  for (int i = 0; i < T * n; i++)
    x[i] = test_uniform(seed, lo, hi);
  return x;
}

/* A finalized, initialised model; sizes deliberately not multiples of the SIMD widths. */
static rnn_model *make_model(int input, rnn_cell_kind cell, const int *hidden, const int *bidir,
                             int layers, rnn_head_kind head, int outputs, rnn_pool_kind pool,
                             uint64_t seed) {
  rnn_model *m = rnn_model_new(input);
  for (int l = 0; l < layers; l++)
    if (rnn_model_add_layer(m, cell, hidden[l], bidir ? bidir[l] : 0) != RNN_OK)
      return NULL;
  if (rnn_model_set_head(m, head, outputs, pool) != RNN_OK || rnn_model_finalize(m) != RNN_OK)
    return NULL;
  rnn_model_init_weights(m, seed);
  /* larger biases than the default init, so that every gate is exercised away from 0 */
  return m;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
  double d = 0.0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)b[i]);
    if (!(e <= d))
      d = e; /* NaN wins */
  }
  return d;
}

/* Streaming, one frame at a time, == the whole-sequence path, for every cell and head. */
static void test_streaming_equals_sequence(void) {
  const int hidden[3] = {13, 37, 20};
  const rnn_head_kind heads[] = {RNN_HEAD_NONE, RNN_HEAD_LINEAR, RNN_HEAD_SIGMOID, RNN_HEAD_SOFTMAX};
  unsigned long long seed = 42;
  for (int ci = 0; ci < N_CELLS; ci++) {
    for (int hi = 0; hi < 4; hi++) {
      rnn_model *m = make_model(11, all_cells[ci], hidden, NULL, 3, heads[hi], 6, RNN_POOL_LAST,
                                (uint64_t)(ci * 10 + hi));
      CHECK(m != NULL);
      if (!m)
        continue;
      const float mean[11] = {0.5f, -0.2f, 0, 0, 1, 2, 3, -1, 0, 0.1f, 0.2f};
      const float scale[11] = {1, 2, 0.5f, 1, 1, 0.3f, 1, 1, 2, 1, 1};
      if (hi == 1)
        CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_OK);
      int T = 50, O = rnn_model_output_size(m);
      float *x = random_frames(&seed, T, 11, -2.0f, 2.0f);
      float *seq = malloc((size_t)T * (size_t)O * sizeof(float));
      CHECK(rnn_forward_sequence(m, x, T, seq) == RNN_OK);
      rnn_state *s = rnn_state_new(m);
      CHECK(s != NULL);
      double worst = 0.0;
      for (int t = 0; t < T; t++) {
        const float *y = rnn_step(s, x + t * 11);
        double d = max_abs_diff(y, seq + t * O, (size_t)O);
        if (!(d <= worst))
          worst = d;
      }
      CHECK_MSG(worst <= TOL, "cell %s head %s: streaming vs sequence differ by %g",
                rnn_cell_name(all_cells[ci]), rnn_head_name(heads[hi]), worst);
      rnn_state_free(s);
      free(x);
      free(seq);
      rnn_model_unref(m);
    }
  }
}

/* Reset halfway == a fresh state; save/restore and copy round trips. */
static void test_state_handling(void) {
  const int hidden[2] = {24, 17};
  unsigned long long seed = 7;
  for (int ci = 0; ci < N_CELLS; ci++) {
    rnn_model *m = make_model(5, all_cells[ci], hidden, NULL, 2, RNN_HEAD_SOFTMAX, 4, RNN_POOL_LAST, 99);
    int O = rnn_model_output_size(m), T = 20;
    float *x = random_frames(&seed, T, 5, -1.0f, 1.0f);
    rnn_state *a = rnn_state_new(m), *b = rnn_state_new(m), *c = rnn_state_new(m);
    CHECK(a && b && c);
    size_t n = rnn_state_size(a);
    size_t expect = all_cells[ci] == RNN_CELL_LSTM ? 2 * (24 + 17) : 24 + 17;
    CHECK(n == expect);

    /* reset halfway == fresh start */
    for (int t = 0; t < T; t++)
      rnn_step(a, x + t * 5);
    rnn_state_reset(a);
    float *fresh = malloc((size_t)T * (size_t)O * sizeof(float));
    for (int t = 0; t < T; t++)
      memcpy(fresh + t * O, rnn_step(b, x + t * 5), (size_t)O * sizeof(float));
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
      double d = max_abs_diff(rnn_step(a, x + t * 5), fresh + t * O, (size_t)O);
      worst = d > worst ? d : worst;
    }
    CHECK_MSG(worst == 0.0, "%s: reset state differs from a fresh one by %g", rnn_cell_name(all_cells[ci]), worst);

    /* save at frame 10, continue, restore, continue again: identical outputs */
    rnn_state_reset(a);
    for (int t = 0; t < 10; t++)
      rnn_step(a, x + t * 5);
    float *saved = malloc(n * sizeof(float));
    rnn_state_save(a, saved);
    float *first = malloc((size_t)(T - 10) * (size_t)O * sizeof(float));
    for (int t = 10; t < T; t++)
      memcpy(first + (t - 10) * O, rnn_step(a, x + t * 5), (size_t)O * sizeof(float));
    rnn_state_restore(a, saved);
    worst = 0.0;
    for (int t = 10; t < T; t++) {
      double d = max_abs_diff(rnn_step(a, x + t * 5), first + (t - 10) * O, (size_t)O);
      worst = d > worst ? d : worst;
    }
    CHECK_MSG(worst == 0.0, "%s: restore did not reproduce the outputs (%g)", rnn_cell_name(all_cells[ci]), worst);

    /* copy: c takes a's state and then follows it exactly */
    rnn_state_restore(a, saved);
    CHECK(rnn_state_copy(c, a) == RNN_OK);
    float *sa = malloc(n * sizeof(float)), *sc = malloc(n * sizeof(float));
    rnn_state_save(c, sc);
    CHECK(memcmp(sc, saved, n * sizeof(float)) == 0);
    const float *ya = rnn_step(a, x);
    float ya0 = ya[0];
    CHECK(rnn_step(c, x)[0] == ya0);
    rnn_state_save(a, sa);
    rnn_state_save(c, sc);
    CHECK(memcmp(sa, sc, n * sizeof(float)) == 0);

    /* a state of another architecture cannot be copied */
    const int other_hidden[2] = {24, 18};
    rnn_model *m2 = make_model(5, all_cells[ci], other_hidden, NULL, 2, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 1);
    rnn_state *d = rnn_state_new(m2);
    CHECK(rnn_state_copy(d, a) == RNN_EINVAL);
    CHECK(rnn_state_copy(NULL, a) == RNN_EINVAL);
    rnn_state_free(d);
    rnn_model_unref(m2);

    free(sa);
    free(sc);
    free(saved);
    free(first);
    free(fresh);
    free(x);
    rnn_state_free(a);
    rnn_state_free(b);
    rnn_state_free(c);
    rnn_model_unref(m);
  }
}

/* ---- the cell equations by hand, in double, from the named tensors ---- */
static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static const float *tensor(rnn_model *m, const char *name) {
  float *t = rnn_model_tensor(m, name, NULL);
  CHECK_MSG(t != NULL, "tensor %s missing", name);
  return t;
}

/* pre[g*H + j] = (W_ih x + b_ih)[g*H+j], rec[g*H + j] = (W_hh hin + b_hh)[g*H+j] */
static void affine(const float *W, const float *b, const double *v, int rows, int cols, double *out) {
  for (int r = 0; r < rows; r++) {
    double s = b[r];
    for (int c = 0; c < cols; c++)
      s += (double)W[r * cols + c] * v[c];
    out[r] = s;
  }
}

static void test_single_step_by_hand(void) {
  enum { IN = 5, H = 6, O = 3 };
  unsigned long long seed = 1234;
  for (int ci = 0; ci < N_CELLS; ci++) {
    rnn_cell_kind cell = all_cells[ci];
    int hidden[1] = {H};
    rnn_model *m = make_model(IN, cell, hidden, NULL, 1, RNN_HEAD_SOFTMAX, O, RNN_POOL_LAST, 5 + (uint64_t)ci);
    /* spread the weights so that gates saturate differently */
    float *p = rnn_model_params(m);
    for (size_t i = 0; i < rnn_model_num_params(m); i++)
      p[i] *= 2.0f;
    float mean[IN], scale[IN];
    for (int i = 0; i < IN; i++) {
      mean[i] = test_uniform(&seed, -0.5f, 0.5f);
      scale[i] = test_uniform(&seed, 0.5f, 2.0f);
    }
    CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_OK);
    rnn_state *s = rnn_state_new(m);
    size_t n = rnn_state_size(s);
    float st[2 * H];
    for (size_t i = 0; i < n; i++)
      st[i] = test_uniform(&seed, -0.9f, 0.9f);
    rnn_state_restore(s, st);
    float frame[IN];
    double x[IN], h[H], c[H] = {0}, hn[H];
    for (int i = 0; i < IN; i++) {
      frame[i] = test_uniform(&seed, -2.0f, 2.0f);
      x[i] = ((double)frame[i] - mean[i]) * scale[i];
    }
    for (int j = 0; j < H; j++) {
      h[j] = st[j];
      if (cell == RNN_CELL_LSTM)
        c[j] = st[H + j];
    }
    int G = rnn_cell_gates(cell);
    double gi[4 * H], gr[4 * H];
    affine(tensor(m, "layer0.fwd.w_ih"), tensor(m, "layer0.fwd.b_ih"), x, G * H, IN, gi);
    affine(tensor(m, "layer0.fwd.w_hh"), tensor(m, "layer0.fwd.b_hh"), h, G * H, H, gr);
    for (int j = 0; j < H; j++) {
      switch (cell) {
      case RNN_CELL_RNN_TANH: hn[j] = tanh(gi[j] + gr[j]); break;
      case RNN_CELL_RNN_RELU: hn[j] = fmax(0.0, gi[j] + gr[j]); break;
      case RNN_CELL_LSTM: {
        double ig = sigm(gi[j] + gr[j]), fg = sigm(gi[H + j] + gr[H + j]);
        double gg = tanh(gi[2 * H + j] + gr[2 * H + j]), og = sigm(gi[3 * H + j] + gr[3 * H + j]);
        double cn = fg * c[j] + ig * gg;
        hn[j] = og * tanh(cn);
        break;
      }
      case RNN_CELL_GRU: {
        double r = sigm(gi[j] + gr[j]), z = sigm(gi[H + j] + gr[H + j]);
        double nn = tanh(gi[2 * H + j] + r * gr[2 * H + j]);
        hn[j] = (1 - z) * nn + z * h[j];
        break;
      }
      case RNN_CELL_GRU_RESET_BEFORE: break; /* below: needs every r first */
      }
    }
    if (cell == RNN_CELL_GRU_RESET_BEFORE) {
      double rh[H], wn[H];
      for (int j = 0; j < H; j++)
        rh[j] = sigm(gi[j] + gr[j]) * h[j];
      const float *whh = tensor(m, "layer0.fwd.w_hh"), *bhh = tensor(m, "layer0.fwd.b_hh");
      affine(whh + 2 * H * H, bhh + 2 * H, rh, H, H, wn);
      for (int j = 0; j < H; j++) {
        double z = sigm(gi[H + j] + gr[H + j]);
        hn[j] = (1 - z) * tanh(gi[2 * H + j] + wn[j]) + z * h[j];
      }
    }
    double logits[O], mx = -1e300, sum = 0.0, expect[O];
    affine(tensor(m, "head.w"), tensor(m, "head.b"), hn, O, H, logits);
    for (int o = 0; o < O; o++)
      mx = fmax(mx, logits[o]);
    for (int o = 0; o < O; o++)
      sum += exp(logits[o] - mx);
    for (int o = 0; o < O; o++)
      expect[o] = exp(logits[o] - mx) / sum;

    const float *y = rnn_step(s, frame);
    for (int o = 0; o < O; o++)
      CHECK_MSG(fabs(y[o] - expect[o]) <= 1e-6, "%s output %d: %.9g vs %.9g", rnn_cell_name(cell), o,
                y[o], expect[o]);
    float after[2 * H];
    rnn_state_save(s, after);
    for (int j = 0; j < H; j++)
      CHECK_MSG(fabs(after[j] - hn[j]) <= 1e-6, "%s h[%d]: %.9g vs %.9g", rnn_cell_name(cell), j,
                after[j], hn[j]);
    rnn_state_free(s);
    rnn_model_unref(m);
  }
}

/* A bidirectional layer == a forward model on x and a forward model on reversed x, concatenated. */
static void test_bidirectional(void) {
  enum { IN = 9, H = 19, T = 23 };
  unsigned long long seed = 77;
  for (int ci = 0; ci < N_CELLS; ci++) {
    int hidden[1] = {H}, bidir[1] = {1};
    rnn_model *bi = make_model(IN, all_cells[ci], hidden, bidir, 1, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 3);
    CHECK(rnn_model_output_size(bi) == 2 * H);
    CHECK(!rnn_model_streamable(bi));
    CHECK(rnn_state_new(bi) == NULL);
    rnn_model *fw = make_model(IN, all_cells[ci], hidden, NULL, 1, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 0);
    rnn_model *bw = make_model(IN, all_cells[ci], hidden, NULL, 1, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 0);
    const char *parts[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
    for (int i = 0; i < 4; i++) {
      char fname[64], bname[64];
      size_t nf, nb, nt;
      snprintf(fname, sizeof(fname), "layer0.fwd.%s", parts[i]);
      snprintf(bname, sizeof(bname), "layer0.bwd.%s", parts[i]);
      float *dst_f = rnn_model_tensor(fw, fname, &nf), *dst_b = rnn_model_tensor(bw, fname, &nb);
      const float *src_f = rnn_model_tensor(bi, fname, &nt), *src_b = rnn_model_tensor(bi, bname, &nt);
      CHECK(nf == nt && nb == nt);
      memcpy(dst_f, src_f, nt * sizeof(float));
      memcpy(dst_b, src_b, nt * sizeof(float));
    }
    float *x = random_frames(&seed, T, IN, -1.5f, 1.5f), *xr = malloc(sizeof(float) * T * IN);
    for (int t = 0; t < T; t++)
      memcpy(xr + t * IN, x + (T - 1 - t) * IN, sizeof(float) * IN);
    float *y = malloc(sizeof(float) * T * 2 * H), *yf = malloc(sizeof(float) * T * H),
          *yb = malloc(sizeof(float) * T * H);
    CHECK(rnn_forward_sequence(bi, x, T, y) == RNN_OK);
    CHECK(rnn_forward_sequence(fw, x, T, yf) == RNN_OK);
    CHECK(rnn_forward_sequence(bw, xr, T, yb) == RNN_OK);
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
      worst = fmax(worst, max_abs_diff(y + t * 2 * H, yf + t * H, H));
      worst = fmax(worst, max_abs_diff(y + t * 2 * H + H, yb + (T - 1 - t) * H, H));
    }
    CHECK_MSG(worst <= TOL, "%s bidirectional differs by %g", rnn_cell_name(all_cells[ci]), worst);

    /* pooled LAST: forward half at the last frame, backward half at the first frame */
    float pooled[2 * H];
    CHECK(rnn_forward_pooled(bi, x, T, pooled) == RNN_OK);
    CHECK(max_abs_diff(pooled, y + (T - 1) * 2 * H, H) <= TOL);
    CHECK(max_abs_diff(pooled + H, y + H, H) <= TOL);
    free(x);
    free(xr);
    free(y);
    free(yf);
    free(yb);
    rnn_model_unref(bi);
    rnn_model_unref(fw);
    rnn_model_unref(bw);
  }
}

/* Pooled: activation(pool(logits)), checked against the per-frame logits of the same weights. */
static void test_pooled(void) {
  enum { IN = 6, T = 17, O = 5 };
  const int hidden[2] = {12, 10}, bidir[2] = {1, 1};
  const rnn_head_kind heads[] = {RNN_HEAD_SIGMOID, RNN_HEAD_SOFTMAX, RNN_HEAD_LINEAR};
  unsigned long long seed = 5;
  float *x = random_frames(&seed, T, IN, -1.0f, 1.0f);
  for (int hi = 0; hi < 3; hi++)
    for (int pool = 0; pool < 2; pool++)
      for (int bd = 0; bd < 2; bd++) {
        rnn_model *m = make_model(IN, RNN_CELL_LSTM, hidden, bd ? bidir : NULL, 2, heads[hi], O,
                                  (rnn_pool_kind)pool, 11);
        rnn_model *lin = make_model(IN, RNN_CELL_LSTM, hidden, bd ? bidir : NULL, 2, RNN_HEAD_LINEAR, O,
                                    (rnn_pool_kind)pool, 0);
        memcpy(rnn_model_params(lin), rnn_model_params(m), rnn_model_num_params(m) * sizeof(float));
        float logits[T * O], out[O];
        double expect[O];
        CHECK(rnn_forward_sequence(lin, x, T, logits) == RNN_OK);
        CHECK(rnn_forward_pooled(m, x, T, out) == RNN_OK);
        for (int o = 0; o < O; o++) {
          if (pool == RNN_POOL_MEAN) {
            double s = 0;
            for (int t = 0; t < T; t++)
              s += logits[t * O + o];
            expect[o] = s / T;
          } else if (!bd) {
            expect[o] = logits[(T - 1) * O + o];
          } else {
            expect[o] = NAN; /* bidirectional LAST is checked in test_bidirectional */
          }
        }
        if (!(bd && pool == RNN_POOL_LAST)) {
          if (heads[hi] == RNN_HEAD_SIGMOID)
            for (int o = 0; o < O; o++)
              expect[o] = 1.0 / (1.0 + exp(-expect[o]));
          if (heads[hi] == RNN_HEAD_SOFTMAX) {
            double mx = expect[0], s = 0;
            for (int o = 1; o < O; o++)
              mx = fmax(mx, expect[o]);
            for (int o = 0; o < O; o++)
              s += exp(expect[o] - mx);
            for (int o = 0; o < O; o++)
              expect[o] = exp(expect[o] - mx) / s;
          }
          for (int o = 0; o < O; o++)
            CHECK_MSG(fabs(out[o] - expect[o]) <= TOL, "head %s pool %s bidir %d output %d: %g vs %g",
                      rnn_head_name(heads[hi]), rnn_pool_name((rnn_pool_kind)pool), bd, o, out[o], expect[o]);
        }
        rnn_model_unref(m);
        rnn_model_unref(lin);
      }
  CHECK(rnn_forward_pooled(NULL, x, T, NULL) == RNN_EINVAL);
  free(x);
}

/* Softmax stays finite and normalised for huge logits. */
static void test_softmax_stability(void) {
  const int hidden[1] = {4};
  rnn_model *m = make_model(3, RNN_CELL_RNN_TANH, hidden, NULL, 1, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, 1);
  float *b = rnn_model_tensor(m, "head.b", NULL);
  b[0] = 1000.0f;
  b[1] = 999.0f;
  b[2] = -1000.0f;
  rnn_state *s = rnn_state_new(m);
  float frame[3] = {0.1f, 0.2f, 0.3f};
  const float *y = rnn_step(s, frame);
  CHECK(isfinite(y[0]) && isfinite(y[1]) && isfinite(y[2]));
  CHECK_NEAR(y[0] + y[1] + y[2], 1.0, 1e-6);
  CHECK(y[0] > y[1] && y[1] > y[2]);
  rnn_state_free(s);
  rnn_model_unref(m);
}

/* Sequences of different lengths in one batch == each sequence on its own. */
static void test_batch(void) {
  const int lengths[6] = {13, 0, 31, 1, 13, 7};
  const int hidden[2] = {21, 16};
  unsigned long long seed = 31337;
  for (int ci = 0; ci < N_CELLS; ci++)
    for (int bd = 0; bd < 2; bd++) {
      const int bidir[2] = {bd, bd};
      rnn_model *m = make_model(8, all_cells[ci], hidden, bidir, 2, RNN_HEAD_SOFTMAX, 5, RNN_POOL_LAST, 17);
      const float mean[8] = {1, 0, 0, 0, 0, 0, 0, -1}, scale[8] = {1, 1, 2, 2, 1, 1, 1, 0.5f};
      CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_OK);
      int O = rnn_model_output_size(m);
      float *xs[6], *outs[6], *ref[6];
      for (int b = 0; b < 6; b++) {
        xs[b] = random_frames(&seed, lengths[b], 8, -2.0f, 2.0f);
        outs[b] = malloc(sizeof(float) * (size_t)(lengths[b] + 1) * (size_t)O);
        ref[b] = malloc(sizeof(float) * (size_t)(lengths[b] + 1) * (size_t)O);
        CHECK(rnn_forward_sequence(m, xs[b], lengths[b], ref[b]) == RNN_OK);
      }
      CHECK(rnn_forward_batch(m, (const float *const *)xs, lengths, 6, outs) == RNN_OK);
      double worst = 0.0;
      for (int b = 0; b < 6; b++)
        worst = fmax(worst, max_abs_diff(outs[b], ref[b], (size_t)lengths[b] * (size_t)O));
      CHECK_MSG(worst <= TOL, "%s bidir %d: batch vs sequence differ by %g", rnn_cell_name(all_cells[ci]), bd, worst);

      int bad_lengths[6] = {13, -1, 31, 1, 13, 7};
      CHECK(rnn_forward_batch(m, (const float *const *)xs, bad_lengths, 6, outs) == RNN_EINVAL);
      CHECK(rnn_forward_batch(m, (const float *const *)xs, lengths, -1, outs) == RNN_EINVAL);
      CHECK(rnn_forward_batch(m, NULL, lengths, 6, outs) == RNN_EINVAL);
      CHECK(rnn_forward_batch(m, NULL, NULL, 0, NULL) == RNN_OK);
      for (int b = 0; b < 6; b++) {
        free(xs[b]);
        free(outs[b]);
        free(ref[b]);
      }
      rnn_model_unref(m);
    }
}

/* Every kernel variant this CPU has agrees with the scalar one. */
static void test_kernel_variants(void) {
  const rnn_kernel_ops *ref = rnn_kernels_get("scalar");
  const char *names[2] = {"avx2", "avx512"};
  CHECK(ref != NULL);
  CHECK(rnn_kernels() != NULL);
  CHECK(rnn_kernels_get("nonsense") == NULL);
  unsigned long long seed = 9;
  enum { R = 70, C = 83, N = 1000 };
  float *W = random_frames(&seed, R, C, -1.0f, 1.0f), *x = random_frames(&seed, 1, C, -1.0f, 1.0f);
  float *v = malloc(sizeof(float) * N), *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
  for (int i = 0; i < N; i++)
    v[i] = -30.0f + 60.0f * (float)i / (N - 1);
  for (int vi = 0; vi < 2; vi++) {
    const rnn_kernel_ops *k = rnn_kernels_get(names[vi]);
    if (!k) {
      fprintf(stderr, "kernel variant %s not supported here, skipped\n", names[vi]);
      continue;
    }
    /* every row count and column count up to the sizes, to cover all tails */
    double worst = 0.0;
    for (int rows = 1; rows <= R; rows += 3)
      for (int cols = 0; cols <= C; cols += 5) {
        float y1[R], y2[R];
        for (int r = 0; r < R; r++)
          y1[r] = y2[r] = 0.5f;
        ref->gemv_acc(W, C, rows, cols, x, y1);
        k->gemv_acc(W, C, rows, cols, x, y2);
        worst = fmax(worst, max_abs_diff(y1, y2, R));
        int c2 = C - cols > 10 ? 10 : C - cols;
        for (int r = 0; r < R; r++)
          y1[r] = y2[r] = 0.5f;
        ref->gemv2_acc(W, C, cols, x, W + cols, C, c2, x + 1, rows, y1);
        k->gemv2_acc(W, C, cols, x, W + cols, C, c2, x + 1, rows, y2);
        worst = fmax(worst, max_abs_diff(y1, y2, R));
      }
    CHECK_MSG(worst <= 1e-5, "%s gemv differs from scalar by %g", names[vi], worst);
    void (*const fns_k[4])(float *, int) = {k->sigmoid, k->tanh, k->relu, k->exp};
    void (*const fns_r[4])(float *, int) = {ref->sigmoid, ref->tanh, ref->relu, ref->exp};
    const char *fn_names[4] = {"sigmoid", "tanh", "relu", "exp"};
    for (int f = 0; f < 4; f++)
      for (int n = 1; n <= N; n += (n < 40 ? 1 : 97)) {
        memcpy(a, v, sizeof(float) * (size_t)n);
        memcpy(b, v, sizeof(float) * (size_t)n);
        fns_r[f](a, n);
        fns_k[f](b, n);
        double d = 0.0;
        for (int i = 0; i < n; i++) /* relative for exp, absolute otherwise */
          d = fmax(d, f == 3 ? fabs(a[i] - b[i]) / a[i] : fabs(a[i] - b[i]));
        CHECK_MSG(d <= 1e-6, "%s %s (n=%d) differs from libm by %g", names[vi], fn_names[f], n, d);
      }
    /* NaN propagates through the activations */
    for (int f = 0; f < 3; f++) {
      float nan_in[3] = {0.0f, NAN, 1.0f};
      fns_k[f](nan_in, 3);
      CHECK_MSG(isnan(nan_in[1]), "%s %s swallowed a NaN", names[vi], fn_names[f]);
    }
  }
  free(W);
  free(x);
  free(v);
  free(a);
  free(b);
}

static void test_bad_arguments(void) {
  const int hidden[1] = {8}, bidir[1] = {1};
  rnn_model *bi = make_model(4, RNN_CELL_GRU, hidden, bidir, 1, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 1);
  CHECK(rnn_state_new(bi) == NULL);
  CHECK(rnn_state_new(NULL) == NULL);
  rnn_model *unfinished = rnn_model_new(4);
  rnn_model_add_layer(unfinished, RNN_CELL_LSTM, 8, 0);
  CHECK(rnn_state_new(unfinished) == NULL);
  float x[4 * 3] = {0}, out[16 * 3];
  CHECK(rnn_forward_sequence(unfinished, x, 3, out) == RNN_EINVAL);
  CHECK(rnn_forward_sequence(NULL, x, 3, out) == RNN_EINVAL);
  CHECK(rnn_forward_sequence(bi, x, -1, out) == RNN_EINVAL);
  CHECK(rnn_forward_sequence(bi, NULL, 3, out) == RNN_EINVAL);
  CHECK(rnn_forward_sequence(bi, x, 0, out) == RNN_OK);
  CHECK(rnn_forward_pooled(bi, x, 0, out) == RNN_EINVAL);
  CHECK(rnn_step(NULL, x) == NULL);
  CHECK(rnn_state_size(NULL) == 0);
  rnn_state_reset(NULL);
  rnn_state_free(NULL);
  rnn_model_unref(unfinished);
  rnn_model_unref(bi);
}

/* The streaming step allocates nothing: a live stream must never wait on the allocator. */
static void test_step_does_not_allocate(void) {
#if COUNT_ALLOCATIONS
  const int hidden[2] = {32, 24};
  for (int ci = 0; ci < N_CELLS; ci++) {
    rnn_model *m = make_model(10, all_cells[ci], hidden, NULL, 2, RNN_HEAD_SOFTMAX, 5, RNN_POOL_LAST, 4);
    const float mean[10] = {0}, scale[10] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 2};
    rnn_model_set_normalization(m, mean, scale);
    rnn_state *s = rnn_state_new(m);
    float frame[10] = {0.5f, -0.5f, 1, 0, 0, 0, 0, 0, 0, 2};
    float saved[2 * (32 + 24)];
    rnn_step(s, frame); /* first use: kernel dispatch */
    long before = atomic_load(&allocations);
    for (int t = 0; t < 100; t++)
      rnn_step(s, frame);
    rnn_state_save(s, saved);
    rnn_state_reset(s);
    rnn_state_restore(s, saved);
    long after = atomic_load(&allocations);
    CHECK_MSG(after == before, "%s: %ld allocations in 100 steps", rnn_cell_name(all_cells[ci]), after - before);
    rnn_state_free(s);
    rnn_model_unref(m);
  }
#else
  fprintf(stderr, "allocation counting unavailable in this build (sanitizer or non-glibc), skipped\n");
#endif
}

int main(void) {
  fprintf(stderr, "kernels: %s\n", rnn_kernels()->name);
  test_streaming_equals_sequence();
  test_state_handling();
  test_single_step_by_hand();
  test_bidirectional();
  test_pooled();
  test_softmax_stability();
  test_batch();
  test_kernel_variants();
  test_bad_arguments();
  test_step_does_not_allocate();
  return test_summary("test_infer");
}
