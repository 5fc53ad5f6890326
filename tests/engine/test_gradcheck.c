/* Analytic gradients of rnn_loss_and_grad against central finite differences, for every cell
 * kind (both GRU forms), stacked and bidirectional layers, every head, every loss, both poolings,
 * input normalisation, variable-length batches (padding must not leak into the gradient) and
 * truncated BPTT.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"
#include "train_internal.h"

#define NIN 3
#define MAXT 7
#define MAXN 4

typedef struct {
  float x[MAXN][MAXT * NIN];
  int frame_labels[MAXN][MAXT];
  float target[MAXN][MAXT * 4];
  int tokens[MAXN][3];
  rnn_example ex[MAXN];
  int n;
} dataset;

static const int lengths[MAXN] = {6, 3, 7, 4};

static void make_data(dataset *d, int n, int outputs, unsigned long long seed) {
  memset(d, 0, sizeof(*d));
  d->n = n;
  unsigned long long s = seed;
  for (int i = 0; i < n; i++) {
    rnn_example *e = &d->ex[i];
    e->T = lengths[i];
    for (int k = 0; k < e->T * NIN; k++)
      d->x[i][k] = test_uniform(&s, -1.5f, 1.5f);
    for (int t = 0; t < e->T; t++)
      d->frame_labels[i][t] = (int)test_uniform(&s, 0.0f, (float)outputs - 0.001f);
    for (int k = 0; k < e->T * outputs; k++)
      d->target[i][k] = test_uniform(&s, 0.0f, 1.0f);
    e->x = d->x[i];
    e->label = i % outputs;
    e->frame_labels = d->frame_labels[i];
    e->target = d->target[i];
    /* CTC: 1 or 2 symbols from 1..outputs-1, including a repeat in one example */
    int L = 1 + i % 2;
    for (int k = 0; k < L; k++)
      d->tokens[i][k] = 1 + (i + k) % (outputs - 1 > 0 ? outputs - 1 : 1);
    if (i == 3 && outputs > 1)
      d->tokens[i][1] = d->tokens[i][0];
    e->tokens = d->tokens[i];
    e->n_tokens = L;
  }
}

typedef struct {
  const char *name;
  rnn_cell_kind cells[2];
  int layers;
  int hidden;
  int bidir[2];
  rnn_head_kind head;
  int outputs;
  rnn_pool_kind pool;
  rnn_loss_kind loss;
  int per_frame;
  int normalise;
  int tbptt;
} gc_case;

static rnn_model *build(const gc_case *k, unsigned long long seed) {
  rnn_model *m = rnn_model_new(NIN);
  for (int l = 0; l < k->layers; l++)
    rnn_model_add_layer(m, k->cells[l], k->hidden, k->bidir[l]);
  rnn_model_set_head(m, k->head, k->outputs, k->pool);
  if (rnn_model_finalize(m) != 0) {
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, seed);
  /* Bigger weights than the default init so that every path carries a visible gradient. */
  float *p = rnn_model_params(m);
  for (size_t i = 0; i < rnn_model_num_params(m); i++)
    p[i] *= 1.5f;
  if (k->normalise) {
    float mean[NIN] = {0.2f, -0.1f, 0.05f}, scale[NIN] = {1.3f, 0.7f, 2.0f};
    rnn_model_set_normalization(m, mean, scale);
  }
  return m;
}

static void config_for(const gc_case *k, rnn_train_config *c) {
  rnn_train_config_init(c);
  c->loss = k->loss;
  c->per_frame = k->per_frame;
  c->tbptt = k->tbptt;
  c->threads = 1;
}

/* Central differences in double around float parameters; eps chosen per magnitude so the step is
 * exactly representable (p + eps and p - eps are rounded, the actual step is used). */
static double numeric(rnn_model *m, const dataset *d, const rnn_train_config *c, size_t i) {
  float *p = rnn_model_params(m);
  const float orig = p[i];
  const float eps = 4e-3f;
  double lp, lm;
  p[i] = orig + eps;
  float up = p[i];
  rnn_loss_and_grad(m, d->ex, d->n, c, &lp, NULL);
  p[i] = orig - eps;
  float dn = p[i];
  rnn_loss_and_grad(m, d->ex, d->n, c, &lm, NULL);
  p[i] = orig;
  return (lp - lm) / ((double)up - (double)dn);
}

static void gradcheck(const gc_case *k) {
  rnn_model *m = build(k, 7);
  CHECK_MSG(m != NULL, "%s: model builds", k->name);
  if (!m)
    return;
  dataset d;
  make_data(&d, MAXN, k->outputs, 99);
  rnn_train_config c;
  config_for(k, &c);
  size_t np = rnn_model_num_params(m);
  float *g = malloc(np * sizeof(float));
  double loss = 0;
  int rc = rnn_loss_and_grad(m, d.ex, d.n, &c, &loss, g);
  CHECK_MSG(rc == 0, "%s: rnn_loss_and_grad returned %d", k->name, rc);
  CHECK_MSG(isfinite(loss) && loss > 0, "%s: loss %g", k->name, loss);
  int bad = 0;
  double worst = 0.0, gnorm = 0.0;
  for (size_t i = 0; i < np; i++)
    gnorm += (double)g[i] * g[i];
  gnorm = sqrt(gnorm / (double)np);
  for (size_t i = 0; i < np; i++) {
    double num = numeric(m, &d, &c, i);
    double err = fabs(num - g[i]);
    /* relative 1e-2, with an absolute floor tied to the gradient's overall scale (tiny entries
     * are dominated by float32 round-off in the loss) */
    double tol = 1e-2 * fmax(fabs(num), fabs(g[i])) + 2e-3 * gnorm + 2e-5;
    if (err > tol) {
      if (bad < 5)
        fprintf(stderr, "%s: param %zu analytic %.6g numeric %.6g\n", k->name, i, g[i], num);
      bad++;
    }
    worst = fmax(worst, err / (fabs(num) + 1e-3));
  }
  CHECK_MSG(bad == 0, "%s: %d of %zu gradients off", k->name, bad, np);
  fprintf(stderr, "%-34s params %4zu loss %.5f worst rel err %.2e\n", k->name, np, loss, worst);
  free(g);
  rnn_model_unref(m);
}

/* Padding must not change the gradient: the gradient of the batch is the term-weighted mean of
 * the gradients of the examples taken one at a time. */
static void masking(const gc_case *k) {
  rnn_model *m = build(k, 11);
  dataset d;
  make_data(&d, MAXN, k->outputs, 5);
  rnn_train_config c;
  config_for(k, &c);
  size_t np = rnn_model_num_params(m);
  float *g = malloc(np * sizeof(float)), *gi = malloc(np * sizeof(float));
  double *acc = calloc(np, sizeof(double));
  double loss, li, lsum = 0.0, wsum = 0.0;
  rnn_loss_and_grad(m, d.ex, d.n, &c, &loss, g);
  for (int i = 0; i < d.n; i++) {
    double w = (k->loss == RNN_LOSS_CE_FRAME || k->per_frame) ? d.ex[i].T : 1.0;
    rnn_loss_and_grad(m, &d.ex[i], 1, &c, &li, gi);
    for (size_t j = 0; j < np; j++)
      acc[j] += w * gi[j];
    lsum += w * li;
    wsum += w;
  }
  CHECK_MSG(fabs(loss - lsum / wsum) < 1e-5 * fmax(1.0, loss), "%s: batch loss %.8g vs %.8g",
            k->name, loss, lsum / wsum);
  int bad = 0;
  for (size_t j = 0; j < np; j++) {
    double ref = acc[j] / wsum;
    if (fabs(ref - g[j]) > 1e-5 + 1e-4 * fabs(ref))
      bad++;
  }
  CHECK_MSG(bad == 0, "%s: %d gradients change with padding", k->name, bad);
  free(g);
  free(gi);
  free(acc);
  rnn_model_unref(m);
}

/* Truncated BPTT: chunks at least as long as the sequences give exactly full BPTT; shorter chunks
 * keep the loss (the state is carried) and the head's gradient, and cut the recurrent gradient. */
static void tbptt_consistency(void) {
  gc_case k = {"tbptt lstm2 ce_frame", {RNN_CELL_LSTM, RNN_CELL_GRU}, 2, 4, {0, 0}, RNN_HEAD_SOFTMAX,
               3, RNN_POOL_LAST, RNN_LOSS_CE_FRAME, 0, 1, 0};
  rnn_model *m = build(&k, 3);
  dataset d;
  make_data(&d, MAXN, 3, 17);
  size_t np = rnn_model_num_params(m);
  float *full = malloc(np * sizeof(float)), *same = malloc(np * sizeof(float)),
        *cut = malloc(np * sizeof(float));
  rnn_train_config c;
  config_for(&k, &c);
  double lf, ls, lc;
  CHECK(rnn_loss_and_grad(m, d.ex, d.n, &c, &lf, full) == 0);
  c.tbptt = MAXT;
  CHECK(rnn_loss_and_grad(m, d.ex, d.n, &c, &ls, same) == 0);
  c.tbptt = 3;
  CHECK(rnn_loss_and_grad(m, d.ex, d.n, &c, &lc, cut) == 0);
  CHECK_NEAR(ls, lf, 1e-12);
  CHECK_NEAR(lc, lf, 1e-6);
  int diff_same = 0;
  for (size_t i = 0; i < np; i++)
    diff_same += full[i] != same[i];
  CHECK_MSG(diff_same == 0, "tbptt >= T: %d gradients differ from full BPTT", diff_same);
  /* The head sees the same activations: its gradient is unchanged by the truncation. */
  size_t count = 0;
  float *hw = rnn_model_tensor(m, "head.w", &count);
  size_t off = (size_t)(hw - rnn_model_params(m));
  int head_bad = 0;
  for (size_t i = off; i < off + count; i++)
    head_bad += fabs(cut[i] - full[i]) > 1e-6;
  CHECK_MSG(head_bad == 0, "tbptt: %d head gradients changed", head_bad);
  /* The recurrent weights' gradient is truncated: it must differ. */
  float *whh = rnn_model_tensor(m, "layer0.fwd.w_hh", &count);
  off = (size_t)(whh - rnn_model_params(m));
  double dsum = 0.0;
  for (size_t i = off; i < off + count; i++)
    dsum += fabs(cut[i] - full[i]);
  CHECK_MSG(dsum > 1e-4, "tbptt: recurrent gradient not truncated (diff %g)", dsum);
  /* A per-sequence loss on the last frame: the chunks before the last only carry the state. */
  gc_case kl = k;
  kl.loss = RNN_LOSS_CE;
  rnn_model *ml = build(&kl, 3);
  rnn_train_config cl;
  config_for(&kl, &cl);
  double full_last, cut_last;
  float *gl = malloc(np * sizeof(float));
  CHECK(rnn_loss_and_grad(ml, d.ex, d.n, &cl, &full_last, gl) == 0);
  cl.tbptt = 2;
  CHECK(rnn_loss_and_grad(ml, d.ex, d.n, &cl, &cut_last, gl) == 0);
  CHECK_NEAR(cut_last, full_last, 1e-6);
  rnn_model_unref(ml);
  free(gl);
  /* Mean pooling needs whole sequences. */
  kl.pool = RNN_POOL_MEAN;
  ml = build(&kl, 3);
  CHECK(rnn_loss_and_grad(ml, d.ex, d.n, &cl, &cut_last, NULL) == RNN_EINVAL);
  rnn_model_unref(ml);
  /* Bidirectional layers cannot be truncated. */
  gc_case kb = k;
  kb.bidir[0] = 1;
  rnn_model *mb = build(&kb, 3);
  c.tbptt = 3;
  CHECK(rnn_loss_and_grad(mb, d.ex, d.n, &c, &lc, NULL) == RNN_EINVAL);
  char err[256] = "";
  CHECK(rnn_train_validate(mb, d.ex, d.n, &c, err, sizeof(err)) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "bidirectional") != NULL, "message: %s", err);
  rnn_model_unref(mb);
  free(full);
  free(same);
  free(cut);
  rnn_model_unref(m);
}

/* The truncated gradient itself, by finite differences: with tbptt = 1 on a one-layer tanh RNN
 * and a per-frame loss, each frame's loss sees the parameters only through its own step (the
 * incoming state held fixed). Build that function by hand from the full forward pass. */
static void tbptt_gradient_values(void) {
  gc_case k = {"tbptt=1 rnn_tanh", {RNN_CELL_RNN_TANH}, 1, 3, {0}, RNN_HEAD_LINEAR, 2, RNN_POOL_LAST,
               RNN_LOSS_MSE, 1, 0, 1};
  rnn_model *m = build(&k, 21);
  dataset d;
  make_data(&d, 1, 2, 8);
  rnn_train_config c;
  config_for(&k, &c);
  size_t np = rnn_model_num_params(m);
  float *g = malloc(np * sizeof(float));
  double loss;
  CHECK(rnn_loss_and_grad(m, d.ex, 1, &c, &loss, g) == 0);
  /* Reference: h_t = tanh(W x_t + b + U h_{t-1}) with h_{t-1} frozen; y = V h_t + c. */
  const int T = d.ex[0].T, H = 3, O = 2;
  float *p = rnn_model_params(m);
  size_t n;
  const float *W = rnn_model_tensor(m, "layer0.fwd.w_ih", &n), *U = rnn_model_tensor(m, "layer0.fwd.w_hh", &n);
  const float *bi = rnn_model_tensor(m, "layer0.fwd.b_ih", &n), *bh = rnn_model_tensor(m, "layer0.fwd.b_hh", &n);
  const float *V = rnn_model_tensor(m, "head.w", &n), *cb = rnn_model_tensor(m, "head.b", &n);
  double hprev[3] = {0, 0, 0}, ref[64];
  memset(ref, 0, sizeof(ref));
  size_t oW = (size_t)(W - p), oU = (size_t)(U - p), obi = (size_t)(bi - p), obh = (size_t)(bh - p);
  for (int t = 0; t < T; t++) {
    double h[3], dh[3] = {0, 0, 0};
    const float *x = d.ex[0].x + t * NIN;
    for (int j = 0; j < H; j++) {
      double a = bi[j] + bh[j];
      for (int i = 0; i < NIN; i++)
        a += W[j * NIN + i] * x[i];
      for (int i = 0; i < H; i++)
        a += U[j * H + i] * hprev[i];
      h[j] = tanh(a);
    }
    for (int o = 0; o < O; o++) {
      double y = cb[o];
      for (int j = 0; j < H; j++)
        y += V[o * H + j] * h[j];
      double e = 2.0 * (y - d.ex[0].target[t * O + o]) / O / T; /* mean over outputs and frames */
      for (int j = 0; j < H; j++)
        dh[j] += e * V[o * H + j];
    }
    for (int j = 0; j < H; j++) {
      double da = dh[j] * (1.0 - h[j] * h[j]);
      for (int i = 0; i < NIN; i++)
        ref[oW + j * NIN + i] += da * x[i];
      for (int i = 0; i < H; i++)
        ref[oU + j * H + i] += da * hprev[i];
      ref[obi + j] += da;
      ref[obh + j] += da;
    }
    for (int j = 0; j < H; j++)
      hprev[j] = h[j];
  }
  int bad = 0;
  for (size_t i = oW; i < obh + H; i++)
    if (fabs(ref[i] - g[i]) > 1e-5 + 1e-3 * fabs(ref[i])) {
      fprintf(stderr, "tbptt=1: param %zu %g vs reference %g\n", i, g[i], ref[i]);
      bad++;
    }
  CHECK_MSG(bad == 0, "tbptt=1 truncated gradient: %d values off", bad);
  free(g);
  rnn_model_unref(m);
}

/* Larger shapes than the finite-difference cases (several K blocks in the weight-gradient
 * products, partial panels, tails of running rows): the engine's kernel and the BLAS must agree. */
static void kernel_matches_blas(void) {
  const rnn_cell_kind kinds[] = {RNN_CELL_LSTM, RNN_CELL_GRU, RNN_CELL_GRU_RESET_BEFORE,
                                 RNN_CELL_RNN_TANH};
  enum { N = 21, T = 47, IN = 13 };
  float *x = malloc(sizeof(float) * N * T * IN);
  int *fl = malloc(sizeof(int) * N * T);
  rnn_example ex[N];
  unsigned long long s = 77;
  for (int i = 0; i < N * T * IN; i++)
    x[i] = test_uniform(&s, -1.0f, 1.0f);
  for (int i = 0; i < N * T; i++)
    fl[i] = (int)test_uniform(&s, 0.0f, 4.999f);
  for (int i = 0; i < N; i++)
    ex[i] = (rnn_example){.x = x + (size_t)i * T * IN, .T = T - (i * 7) % 30, .frame_labels = fl + i * T};
  for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
    rnn_model *m = rnn_model_new(IN);
    rnn_model_add_layer(m, kinds[k], 37, 1);
    rnn_model_add_layer(m, kinds[k], 45, 0);
    rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 5, RNN_POOL_LAST);
    rnn_model_finalize(m);
    rnn_model_init_weights(m, 3 + k);
    rnn_train_config c;
    rnn_train_config_init(&c);
    c.loss = RNN_LOSS_CE_FRAME;
    size_t np = rnn_model_num_params(m);
    float *g0 = malloc(np * sizeof(float)), *g1 = malloc(np * sizeof(float));
    double l0, l1;
    rnn_train_force_blas(0);
    CHECK(rnn_loss_and_grad(m, ex, N, &c, &l0, g0) == 0);
    rnn_train_force_blas(1);
    CHECK(rnn_loss_and_grad(m, ex, N, &c, &l1, g1) == 0);
    rnn_train_force_blas(0);
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < np; i++) {
      num += ((double)g0[i] - g1[i]) * ((double)g0[i] - g1[i]);
      den += (double)g1[i] * g1[i];
    }
    CHECK_NEAR(l0, l1, 1e-5 * l1);
    CHECK_MSG(sqrt(num / den) < 1e-5, "%s: kernel vs BLAS gradient relative difference %g",
              rnn_cell_name(kinds[k]), sqrt(num / den));
    free(g0);
    free(g1);
    rnn_model_unref(m);
  }
  free(x);
  free(fl);
}

int main(void) {
  static const gc_case cases[] = {
      {"rnn_tanh ce last softmax", {RNN_CELL_RNN_TANH}, 1, 4, {0}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, RNN_LOSS_CE, 0, 0, 0},
      {"rnn_relu ce_frame softmax norm", {RNN_CELL_RNN_RELU}, 1, 4, {0}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, RNN_LOSS_CE_FRAME, 0, 1, 0},
      {"lstm ce mean linear norm", {RNN_CELL_LSTM}, 1, 4, {0}, RNN_HEAD_LINEAR, 3, RNN_POOL_MEAN, RNN_LOSS_CE, 0, 1, 0},
      {"gru bce last sigmoid", {RNN_CELL_GRU}, 1, 4, {0}, RNN_HEAD_SIGMOID, 2, RNN_POOL_LAST, RNN_LOSS_BCE, 0, 0, 0},
      {"gru_reset_before mse frame linear", {RNN_CELL_GRU_RESET_BEFORE}, 1, 4, {0}, RNN_HEAD_LINEAR, 2, RNN_POOL_LAST, RNN_LOSS_MSE, 1, 0, 0},
      {"lstm+gru stacked bidir ce last", {RNN_CELL_LSTM, RNN_CELL_GRU}, 2, 3, {0, 1}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, RNN_LOSS_CE, 0, 1, 0},
      {"bigru x2 ctc softmax", {RNN_CELL_GRU, RNN_CELL_GRU_RESET_BEFORE}, 2, 3, {1, 1}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, RNN_LOSS_CTC, 0, 0, 0},
      {"bilstm ce_frame", {RNN_CELL_LSTM}, 1, 3, {1}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST, RNN_LOSS_CE_FRAME, 0, 1, 0},
      {"bi rnn_tanh ce mean", {RNN_CELL_RNN_TANH, RNN_CELL_LSTM}, 2, 3, {1, 0}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN, RNN_LOSS_CE, 0, 0, 0},
      {"lstm mse seq sigmoid", {RNN_CELL_LSTM}, 1, 4, {0}, RNN_HEAD_SIGMOID, 2, RNN_POOL_LAST, RNN_LOSS_MSE, 0, 0, 0},
      {"gru mse seq softmax", {RNN_CELL_GRU}, 1, 4, {0}, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN, RNN_LOSS_MSE, 0, 0, 0},
      {"rnn_tanh mse frame no head", {RNN_CELL_RNN_TANH}, 1, 3, {0}, RNN_HEAD_NONE, 0, RNN_POOL_LAST, RNN_LOSS_MSE, 1, 0, 0},
      {"lstm bce frame sigmoid", {RNN_CELL_LSTM}, 1, 3, {0}, RNN_HEAD_SIGMOID, 2, RNN_POOL_LAST, RNN_LOSS_BCE, 1, 1, 0},
      {"lstm ctc linear", {RNN_CELL_LSTM}, 1, 4, {0}, RNN_HEAD_LINEAR, 3, RNN_POOL_LAST, RNN_LOSS_CTC, 0, 1, 0},
  };
  const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
  /* Twice: with the engine's own AVX-512 products (where the CPU has them) and with the BLAS. */
  for (int blas = 0; blas < 2; blas++) {
    rnn_train_force_blas(blas);
    fprintf(stderr, "-- products by %s\n", blas ? "the BLAS" : "the engine's kernel (when the CPU has AVX-512)");
    for (int i = 0; i < ncases; i++) {
      gc_case k = cases[i];
      if (k.head == RNN_HEAD_NONE)
        k.outputs = k.hidden;
      gradcheck(&k);
      masking(&k);
    }
    tbptt_consistency();
    tbptt_gradient_values();
  }
  rnn_train_force_blas(0);
  kernel_matches_blas();
  return test_summary("test_gradcheck");
}
