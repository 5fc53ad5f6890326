/* Training: the training forward pass equals inference; seeded runs are reproducible bit for bit,
 * with any thread count; clipping bounds the update; schedules, early stopping, best-epoch
 * restore, progress and stop requests; divergence ends in RNN_ENUMERIC with finite parameters;
 * a tiny per-frame task and a tiny CTC task learn.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"
#include "train_internal.h"

static rnn_model *make_model(int in, const rnn_cell_kind *cells, int layers, int hidden,
                             const int *bidir, rnn_head_kind head, int out, rnn_pool_kind pool,
                             uint64_t seed) {
  rnn_model *m = rnn_model_new(in);
  for (int l = 0; l < layers; l++)
    rnn_model_add_layer(m, cells[l], hidden, bidir ? bidir[l] : 0);
  rnn_model_set_head(m, head, out, pool);
  if (rnn_model_finalize(m)) {
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, seed);
  return m;
}

/* ------------------------------------------------------------------------------------------- */
static void forward_matches_inference(void) {
  struct {
    rnn_cell_kind cells[2];
    int layers, bidir[2];
    rnn_head_kind head;
    rnn_pool_kind pool;
  } cases[] = {
      {{RNN_CELL_LSTM, RNN_CELL_LSTM}, 2, {0, 0}, RNN_HEAD_SOFTMAX, RNN_POOL_LAST},
      {{RNN_CELL_GRU, RNN_CELL_GRU_RESET_BEFORE}, 2, {1, 0}, RNN_HEAD_SIGMOID, RNN_POOL_MEAN},
      {{RNN_CELL_GRU_RESET_BEFORE, RNN_CELL_GRU}, 2, {0, 1}, RNN_HEAD_LINEAR, RNN_POOL_LAST},
      {{RNN_CELL_RNN_TANH, RNN_CELL_RNN_RELU}, 2, {1, 1}, RNN_HEAD_SOFTMAX, RNN_POOL_MEAN},
      {{RNN_CELL_LSTM, RNN_CELL_GRU}, 2, {1, 0}, RNN_HEAD_NONE, RNN_POOL_LAST},
      {{RNN_CELL_LSTM}, 1, {1}, RNN_HEAD_SOFTMAX, RNN_POOL_LAST},
  };
  const int IN = 5, H = 8, O = 4, T = 23;
  unsigned long long s = 42;
  float x[23 * 5];
  for (int i = 0; i < T * IN; i++)
    x[i] = test_uniform(&s, -2.0f, 2.0f);
  float mean[5] = {0.1f, -0.2f, 0.3f, 0.0f, 0.5f}, scale[5] = {1.0f, 2.0f, 0.5f, 1.5f, 0.8f};
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    rnn_model *m = make_model(IN, cases[k].cells, cases[k].layers, H, cases[k].bidir, cases[k].head,
                              O, cases[k].pool, 100 + k);
    rnn_model_set_normalization(m, mean, scale);
    int OS = rnn_model_output_size(m);
    float *a = malloc(sizeof(float) * T * OS), *b = malloc(sizeof(float) * T * OS);
    CHECK(rnn_train_forward_frames(m, x, T, a) == 0);
    CHECK(rnn_forward_sequence(m, x, T, b) == 0);
    double worst = 0.0;
    for (int i = 0; i < T * OS; i++)
      worst = fmax(worst, fabs((double)a[i] - b[i]));
    CHECK_MSG(worst <= 1e-5, "case %zu: training forward differs from inference by %g", k, worst);

    /* Pooling: the per-sequence CE loss of one example is -log of rnn_forward_pooled's output. */
    if (cases[k].head == RNN_HEAD_SOFTMAX) {
      float pooled[4];
      CHECK(rnn_forward_pooled(m, x, T, pooled) == 0);
      rnn_example ex = {.x = x, .T = T, .label = 2};
      rnn_train_config c;
      rnn_train_config_init(&c);
      double loss = 0, acc = 0;
      CHECK(rnn_evaluate(m, &ex, 1, &c, &loss, &acc) == 0);
      CHECK_MSG(fabs(loss + log(pooled[2])) < 1e-4, "case %zu: pooled CE %g vs -log p %g", k, loss,
                -log(pooled[2]));
    }
    free(a);
    free(b);
    rnn_model_unref(m);
  }
}

/* ------------------------------------------------------------------------------------------- */
/* A per-frame task that needs memory: the label of frame t is 1 when x[t][0] > x[t-1][0]. */
typedef struct {
  int n, T, in;
  float *x;
  int *labels;
  rnn_example *ex;
} frame_task;

static void frame_task_make(frame_task *f, int n, int T, unsigned long long seed) {
  f->n = n;
  f->T = T;
  f->in = 2;
  f->x = malloc(sizeof(float) * n * T * 2);
  f->labels = malloc(sizeof(int) * n * T);
  f->ex = calloc((size_t)n, sizeof(rnn_example));
  unsigned long long s = seed;
  for (int i = 0; i < n; i++) {
    int len = T - (i % 5); /* variable lengths */
    for (int t = 0; t < T; t++) {
      float *xt = f->x + ((size_t)i * T + t) * 2;
      xt[0] = test_uniform(&s, -1.0f, 1.0f);
      xt[1] = test_uniform(&s, -1.0f, 1.0f);
      f->labels[i * T + t] = t > 0 && xt[0] > xt[-2];
    }
    f->ex[i].x = f->x + (size_t)i * T * 2;
    f->ex[i].T = len;
    f->ex[i].frame_labels = f->labels + i * T;
    f->ex[i].label = i % 2;
  }
}

static void frame_task_free(frame_task *f) {
  free(f->x);
  free(f->labels);
  free(f->ex);
}

typedef struct {
  int batches, epochs;
  double first_loss, last_loss;
  double losses[64];
  double val_losses[64];
  double lrs[64];
  int stop_after;
  int improved[64];
  double remaining_first;
} progress_log;

static int record(const rnn_progress *p, void *user) {
  progress_log *log = user;
  if (p->end_of_epoch) {
    if (log->epochs < 64) {
      log->losses[log->epochs] = p->loss;
      log->val_losses[log->epochs] = p->val_loss;
      log->lrs[log->epochs] = p->learning_rate;
      log->improved[log->epochs] = p->improved;
    }
    log->epochs++;
  } else {
    if (log->batches == 0) {
      log->first_loss = p->loss;
      log->remaining_first = p->remaining_s;
    }
    log->batches++;
    log->last_loss = p->loss;
  }
  return log->stop_after > 0 && log->batches >= log->stop_after;
}

static void reproducible_and_threads(void) {
  frame_task f;
  frame_task_make(&f, 40, 12, 7);
  const rnn_cell_kind cells[2] = {RNN_CELL_LSTM, RNN_CELL_GRU};
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CE_FRAME;
  c.epochs = 2;
  c.batch_size = 40; /* three shards: 16 + 16 + 8 */
  c.dropout = 0.2f;
  c.time_mask = 2;
  c.time_masks = 1;
  c.freq_mask = 1;
  c.freq_masks = 1;
  c.seed = 99;
  rnn_model *ref = make_model(2, cells, 2, 8, NULL, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST, 3);
  rnn_model *m[3];
  progress_log logs[3];
  const int threads[3] = {1, 1, 2};
  for (int k = 0; k < 3; k++) {
    m[k] = rnn_model_clone(ref);
    memset(&logs[k], 0, sizeof(logs[k]));
    c.threads = threads[k];
    CHECK(rnn_fit(m[k], f.ex, f.n, NULL, 0, &c, record, &logs[k]) == 0);
  }
  size_t bytes = rnn_model_num_params(ref) * sizeof(float);
  CHECK_MSG(memcmp(rnn_model_params(m[0]), rnn_model_params(m[1]), bytes) == 0,
            "same seed, same threads: parameters differ");
  CHECK_MSG(memcmp(&logs[0].losses[1], &logs[1].losses[1], sizeof(double)) == 0,
            "same seed: loss %.17g vs %.17g", logs[0].losses[1], logs[1].losses[1]);
  CHECK_MSG(memcmp(rnn_model_params(m[0]), rnn_model_params(m[2]), bytes) == 0,
            "threads 1 vs 2: parameters differ");
  CHECK_MSG(logs[0].losses[1] == logs[2].losses[1], "threads 1 vs 2: loss %.17g vs %.17g",
            logs[0].losses[1], logs[2].losses[1]);
  CHECK(memcmp(rnn_model_params(ref), rnn_model_params(m[0]), bytes) != 0); /* it did train */
  /* SpecAugment and dropout take part: without them the same seed trains differently. */
  rnn_model *plain = rnn_model_clone(ref);
  rnn_train_config pc = c;
  pc.time_masks = pc.freq_masks = 0;
  pc.threads = 1;
  CHECK(rnn_fit(plain, f.ex, f.n, NULL, 0, &pc, NULL, NULL) == 0);
  CHECK_MSG(memcmp(rnn_model_params(plain), rnn_model_params(m[0]), bytes) != 0,
            "SpecAugment masks changed nothing");
  pc.dropout = 0.0f;
  rnn_model *nodrop = rnn_model_clone(ref);
  CHECK(rnn_fit(nodrop, f.ex, f.n, NULL, 0, &pc, NULL, NULL) == 0);
  CHECK_MSG(memcmp(rnn_model_params(plain), rnn_model_params(nodrop), bytes) != 0,
            "dropout changed nothing");
  rnn_model_unref(plain);
  rnn_model_unref(nodrop);
  /* The same with truncated BPTT (an update per chunk, state carried across chunks). */
  rnn_model *tb1 = rnn_model_clone(ref), *tb2 = rnn_model_clone(ref);
  rnn_train_config tc = c;
  tc.tbptt = 5;
  tc.threads = 1;
  CHECK(rnn_fit(tb1, f.ex, f.n, NULL, 0, &tc, NULL, NULL) == 0);
  tc.threads = 2;
  CHECK(rnn_fit(tb2, f.ex, f.n, NULL, 0, &tc, NULL, NULL) == 0);
  CHECK_MSG(memcmp(rnn_model_params(tb1), rnn_model_params(tb2), bytes) == 0,
            "tbptt: threads 1 vs 2 differ");
  CHECK(memcmp(rnn_model_params(tb1), rnn_model_params(m[0]), bytes) != 0);
  rnn_model_unref(tb1);
  rnn_model_unref(tb2);
  /* A different seed gives a different run. */
  rnn_model *other = rnn_model_clone(ref);
  c.seed = 100;
  c.threads = 2;
  CHECK(rnn_fit(other, f.ex, f.n, NULL, 0, &c, NULL, NULL) == 0);
  CHECK(memcmp(rnn_model_params(other), rnn_model_params(m[0]), bytes) != 0);
  /* rnn_loss_and_grad: threads do not change a bit either (more than a wave of shards). */
  frame_task big;
  frame_task_make(&big, 150, 9, 8);
  size_t np = rnn_model_num_params(ref);
  float *g1 = malloc(np * sizeof(float)), *g2 = malloc(np * sizeof(float));
  double l1, l2;
  c.threads = 1;
  CHECK(rnn_loss_and_grad(ref, big.ex, big.n, &c, &l1, g1) == 0);
  c.threads = 2;
  CHECK(rnn_loss_and_grad(ref, big.ex, big.n, &c, &l2, g2) == 0);
  CHECK(l1 == l2);
  CHECK(memcmp(g1, g2, np * sizeof(float)) == 0);
  free(g1);
  free(g2);
  frame_task_free(&big);
  for (int k = 0; k < 3; k++)
    rnn_model_unref(m[k]);
  rnn_model_unref(other);
  rnn_model_unref(ref);
  frame_task_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
static double param_distance(const rnn_model *a, const rnn_model *b) {
  const float *pa = rnn_model_params_const(a), *pb = rnn_model_params_const(b);
  double s = 0.0;
  for (size_t i = 0; i < rnn_model_num_params(a); i++)
    s += ((double)pa[i] - pb[i]) * ((double)pa[i] - pb[i]);
  return sqrt(s);
}

static void clipping_bounds_update(void) {
  frame_task f;
  frame_task_make(&f, 16, 10, 3);
  const rnn_cell_kind cells[1] = {RNN_CELL_GRU};
  rnn_model *ref = make_model(2, cells, 1, 6, NULL, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST, 5);
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CE_FRAME;
  c.optimizer = RNN_OPT_SGD;
  c.momentum = 0.0f;
  c.learning_rate = 10.0f;
  c.epochs = 1;
  c.batch_size = 16; /* one update */
  rnn_model *clipped = rnn_model_clone(ref), *free_run = rnn_model_clone(ref);
  c.clip_norm = 0.05f;
  CHECK(rnn_fit(clipped, f.ex, f.n, NULL, 0, &c, NULL, NULL) == 0);
  c.clip_norm = 0.0f;
  CHECK(rnn_fit(free_run, f.ex, f.n, NULL, 0, &c, NULL, NULL) == 0);
  double dc = param_distance(ref, clipped), df = param_distance(ref, free_run);
  /* SGD: the step is lr * clipped gradient, so its norm is at most lr * clip. */
  CHECK_MSG(dc <= 10.0 * 0.05 * 1.001 && dc > 10.0 * 0.05 * 0.99, "clipped step %g", dc);
  CHECK_MSG(df > dc * 1.5, "unclipped step %g should be larger than %g", df, dc);
  rnn_model_unref(clipped);
  rnn_model_unref(free_run);
  rnn_model_unref(ref);
  frame_task_free(&f);
}

/* ------------------------------------------------------------------------------------------- */
static void frame_task_learns(void) {
  frame_task f, v;
  frame_task_make(&f, 96, 16, 11);
  frame_task_make(&v, 32, 16, 12);
  const rnn_cell_kind cells[1] = {RNN_CELL_GRU};
  rnn_model *m = make_model(2, cells, 1, 16, NULL, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST, 9);
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CE_FRAME;
  c.learning_rate = 0.02f;
  c.batch_size = 16;
  c.epochs = 30;
  c.tbptt = 6; /* with truncated BPTT: the task needs only one frame of memory */
  double before, after, acc;
  CHECK(rnn_evaluate(m, v.ex, v.n, &c, &before, &acc) == 0);
  progress_log log;
  memset(&log, 0, sizeof(log));
  CHECK(rnn_fit(m, f.ex, f.n, v.ex, v.n, &c, record, &log) == 0);
  CHECK(rnn_evaluate(m, v.ex, v.n, &c, &after, &acc) == 0);
  fprintf(stderr, "per-frame task: val loss %.4f -> %.4f, accuracy %.3f\n", before, after, acc);
  CHECK_MSG(after < 0.3 * before, "loss %g -> %g", before, after);
  CHECK_MSG(acc > 0.9, "accuracy %g", acc);
  /* Progress: every epoch reported, batches counted, time remaining estimated. */
  CHECK(log.epochs == 30);
  CHECK(log.batches == 30 * 6);
  CHECK(log.remaining_first >= 0.0);
  /* The model ends with the best epoch's parameters: its val loss is the minimum seen. */
  double best = INFINITY;
  for (int e = 0; e < log.epochs && e < 64; e++)
    best = fmin(best, log.val_losses[e]);
  CHECK_MSG(fabs(after - best) < 1e-9, "final val loss %.9g, best epoch %.9g", after, best);
  rnn_model_unref(m);
  frame_task_free(&f);
  frame_task_free(&v);
}

/* ------------------------------------------------------------------------------------------- */
/* CTC: each symbol 1..3 is a few frames of its own input pattern, separated by silence. */
static void ctc_task_learns(void) {
  enum { N = 64, TMAX = 40, IN = 4 };
  float *x = calloc((size_t)N * TMAX * IN, sizeof(float));
  int tokens[N][4];
  rnn_example ex[N];
  unsigned long long s = 5;
  for (int i = 0; i < N; i++) {
    int L = 1 + i % 4, t = 1 + (int)test_uniform(&s, 0.0f, 2.99f);
    for (int k = 0; k < L; k++) {
      int sym = 1 + (int)test_uniform(&s, 0.0f, 2.999f);
      tokens[i][k] = sym;
      int dur = 2 + (int)test_uniform(&s, 0.0f, 2.99f);
      for (int d = 0; d < dur; d++, t++)
        x[((size_t)i * TMAX + t) * IN + sym] = 1.0f;
      t += 1 + (int)test_uniform(&s, 0.0f, 1.99f); /* silence */
    }
    for (int tt = 0; tt < t; tt++)
      for (int j = 0; j < IN; j++)
        x[((size_t)i * TMAX + tt) * IN + j] += test_uniform(&s, -0.2f, 0.2f);
    ex[i] = (rnn_example){.x = x + (size_t)i * TMAX * IN, .T = t, .tokens = tokens[i], .n_tokens = L};
  }
  const rnn_cell_kind cells[1] = {RNN_CELL_LSTM};
  const int bidir[1] = {1};
  rnn_model *m = make_model(IN, cells, 1, 12, bidir, RNN_HEAD_SOFTMAX, 4, RNN_POOL_LAST, 4);
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CTC;
  c.learning_rate = 0.02f;
  c.batch_size = 16;
  c.epochs = 40;
  double before, after, acc;
  CHECK(rnn_evaluate(m, ex, N, &c, &before, &acc) == 0);
  CHECK(rnn_fit(m, ex, N, NULL, 0, &c, NULL, NULL) == 0);
  CHECK(rnn_evaluate(m, ex, N, &c, &after, &acc) == 0);
  fprintf(stderr, "ctc task: loss %.4f -> %.4f, 1 - TER %.3f\n", before, after, acc);
  CHECK_MSG(after < 0.2 * before, "ctc loss %g -> %g", before, after);
  CHECK_MSG(acc > 0.9, "ctc 1 - token error rate %g", acc);
  /* Infeasible targets are refused with a message. */
  int many[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  rnn_example bad = {.x = x, .T = 5, .tokens = many, .n_tokens = 8};
  char err[200] = "";
  CHECK(rnn_train_validate(m, &bad, 1, &c, err, sizeof(err)) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "need at least 15 frames") != NULL, "message: %s", err);
  rnn_model_unref(m);
  free(x);
}

/* ------------------------------------------------------------------------------------------- */
static void schedules_and_stopping(void) {
  frame_task f, v;
  frame_task_make(&f, 32, 8, 21);
  frame_task_make(&v, 16, 8, 22);
  const rnn_cell_kind cells[1] = {RNN_CELL_RNN_TANH};
  rnn_model *ref = make_model(2, cells, 1, 4, NULL, RNN_HEAD_SOFTMAX, 2, RNN_POOL_LAST, 1);
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CE_FRAME;
  c.epochs = 4;
  c.batch_size = 8;

  rnn_model *m = rnn_model_clone(ref);
  progress_log log;
  memset(&log, 0, sizeof(log));
  c.schedule = RNN_SCHED_STEP;
  c.gamma = 0.5f;
  c.step_epochs = 1;
  CHECK(rnn_fit(m, f.ex, f.n, NULL, 0, &c, record, &log) == 0);
  CHECK_NEAR(log.lrs[0], 1e-3, 1e-9);
  CHECK_NEAR(log.lrs[1], 5e-4, 1e-9);
  CHECK_NEAR(log.lrs[3], 1.25e-4, 1e-9);
  rnn_model_unref(m);

  m = rnn_model_clone(ref);
  memset(&log, 0, sizeof(log));
  c.schedule = RNN_SCHED_COSINE;
  c.min_factor = 0.1f;
  CHECK(rnn_fit(m, f.ex, f.n, NULL, 0, &c, record, &log) == 0);
  CHECK_NEAR(log.lrs[0], 1e-3, 1e-9);
  CHECK_NEAR(log.lrs[3], 1e-4, 1e-9);
  CHECK(log.lrs[1] < log.lrs[0] && log.lrs[2] < log.lrs[1]);
  rnn_model_unref(m);

  /* Plateau: a learning rate so small nothing improves -> the factor kicks in. */
  m = rnn_model_clone(ref);
  memset(&log, 0, sizeof(log));
  c.schedule = RNN_SCHED_PLATEAU;
  c.learning_rate = 1e-9f;
  c.step_epochs = 1;
  c.gamma = 0.5f;
  CHECK(rnn_fit(m, f.ex, f.n, v.ex, v.n, &c, record, &log) == 0);
  CHECK(log.lrs[3] < log.lrs[0]);
  rnn_model_unref(m);

  /* Early stopping: the validation set has the training set's labels inverted, so it gets worse
   * from the first epoch on: training stops after `patience` more epochs and the model ends with
   * the first epoch's parameters. */
  frame_task inv;
  frame_task_make(&inv, 32, 8, 21);
  for (int i = 0; i < inv.n * inv.T; i++)
    inv.labels[i] = 1 - inv.labels[i];
  m = rnn_model_clone(ref);
  memset(&log, 0, sizeof(log));
  c.schedule = RNN_SCHED_CONSTANT;
  c.learning_rate = 0.05f;
  c.epochs = 20;
  c.patience = 2;
  CHECK(rnn_fit(m, f.ex, f.n, inv.ex, inv.n, &c, record, &log) == 0);
  CHECK_MSG(log.epochs == 3, "early stopping ran %d epochs", log.epochs);
  CHECK(log.improved[0] == 1 && log.improved[1] == 0 && log.improved[2] == 0);
  double vl, va;
  CHECK(rnn_evaluate(m, inv.ex, inv.n, &c, &vl, &va) == 0);
  CHECK_MSG(vl == log.val_losses[0], "restored val loss %.17g, first epoch %.17g", vl,
            log.val_losses[0]);
  frame_task_free(&inv);
  rnn_model_unref(m);

  /* The callback stops training after the current batch. */
  m = rnn_model_clone(ref);
  memset(&log, 0, sizeof(log));
  log.stop_after = 3;
  c.learning_rate = 1e-3f;
  c.patience = 0;
  CHECK(rnn_fit(m, f.ex, f.n, NULL, 0, &c, record, &log) == 0);
  CHECK(log.batches == 3);
  rnn_model_unref(m);

  /* Bad configurations are refused. */
  m = rnn_model_clone(ref);
  c.batch_size = 0;
  CHECK(rnn_fit(m, f.ex, f.n, NULL, 0, &c, NULL, NULL) == RNN_EINVAL);
  c.batch_size = 8;
  c.loss = RNN_LOSS_BCE; /* softmax head */
  char err[200] = "";
  CHECK(rnn_train_validate(m, f.ex, f.n, &c, err, sizeof(err)) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "sigmoid") != NULL, "message: %s", err);
  c.loss = RNN_LOSS_CE;
  f.ex[3].label = 7;
  CHECK(rnn_train_validate(m, f.ex, f.n, &c, err, sizeof(err)) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "example 3: label 7") != NULL, "message: %s", err);
  f.ex[3].label = 1;
  f.x[5] = NAN; /* example 0, frame 2, input 1 */
  CHECK(rnn_fit(m, f.ex, f.n, NULL, 0, &c, NULL, NULL) == RNN_EINVAL);
  CHECK(rnn_train_validate(m, f.ex, f.n, &c, err, sizeof(err)) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "example 0: x[2][1] = nan is not finite") != NULL, "message: %s", err);
  f.x[5] = 0.5f;
  rnn_model_unref(m);
  rnn_model_unref(ref);
  frame_task_free(&f);
  frame_task_free(&v);
}

/* Divergence: huge targets and learning rate overflow the parameters; rnn_fit reports
 * RNN_ENUMERIC and leaves the last parameters that gave a finite loss. */
static void divergence_is_reported(void) {
  frame_task f;
  frame_task_make(&f, 8, 6, 1);
  float targets[8][2];
  for (int i = 0; i < 8; i++) {
    targets[i][0] = 1e18f;
    targets[i][1] = -1e18f;
    f.ex[i].target = targets[i];
  }
  const rnn_cell_kind cells[1] = {RNN_CELL_LSTM};
  rnn_model *m = make_model(2, cells, 1, 4, NULL, RNN_HEAD_LINEAR, 2, RNN_POOL_LAST, 2);
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_MSE;
  c.optimizer = RNN_OPT_SGD;
  c.momentum = 0.0f;
  c.clip_norm = 0.0f;
  c.learning_rate = 1e10f;
  c.batch_size = 2;
  c.epochs = 5;
  int rc = rnn_fit(m, f.ex, f.n, NULL, 0, &c, NULL, NULL);
  CHECK_MSG(rc == RNN_ENUMERIC, "rc %d", rc);
  const float *p = rnn_model_params_const(m);
  int finite = 1;
  for (size_t i = 0; i < rnn_model_num_params(m); i++)
    finite &= isfinite(p[i]) != 0;
  CHECK_MSG(finite, "parameters left non-finite");
  rnn_model_unref(m);
  frame_task_free(&f);
}

int main(void) {
  forward_matches_inference();
  reproducible_and_threads();
  clipping_bounds_update();
  frame_task_learns();
  ctc_task_learns();
  schedules_and_stopping();
  divergence_is_reported();
  return test_summary("test_train");
}
