/* gst-rnn engine: the training loop: configuration, checks, shards on threads, loss and
 * gradient of a set, evaluation, and rnn_fit (epochs, batches, TBPTT, validation, early stopping).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reproducibility: a mini-batch is cut into shards of at most RNN_SHARD_ROWS sequences whatever
 * the thread count; each shard's gradient goes to its own buffer and the buffers are summed in
 * shard order. Every random draw (shuffle, SpecAugment, dropout) is derived from the seed, the
 * epoch, the batch and the shard, never from a thread. So a seed gives the same numbers, bit for
 * bit, with any number of threads.
 */
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train_internal.h"


/* Shards evaluated together before their gradients are summed (loss_and_grad, evaluate): a
 * constant, so that the summation order does not depend on the thread count. */
#define RNN_WAVE_SHARDS 8

void rnn_train_config_init(rnn_train_config *c) {
  if (!c)
    return;
  memset(c, 0, sizeof(*c));
  c->loss = RNN_LOSS_CE;
  c->per_frame = 0;
  c->optimizer = RNN_OPT_ADAM;
  c->learning_rate = 1e-3f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->epsilon = 1e-8f;
  c->momentum = 0.9f;
  c->weight_decay = 0.0f;
  c->clip_norm = 5.0f;
  c->dropout = 0.0f;
  c->schedule = RNN_SCHED_CONSTANT;
  c->gamma = 0.1f;
  c->step_epochs = 10;
  c->min_factor = 0.01f;
  c->batch_size = 32;
  c->epochs = 10;
  c->patience = 0;
  c->tbptt = 0;
  c->seed = 1;
  c->threads = 0;
}

/* ---------------------------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------------------------- */
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int check_config(const rnn_model *m, const rnn_train_config *c, char *err, size_t errlen) {
  if (!rnn_loss_name(c->loss))
    return fail(err, errlen, RNN_EINVAL, "config: unknown loss %d", (int)c->loss);
  if (c->optimizer != RNN_OPT_ADAM && c->optimizer != RNN_OPT_SGD)
    return fail(err, errlen, RNN_EINVAL, "config: unknown optimizer %d", (int)c->optimizer);
  if (c->schedule < RNN_SCHED_CONSTANT || c->schedule > RNN_SCHED_PLATEAU)
    return fail(err, errlen, RNN_EINVAL, "config: unknown schedule %d", (int)c->schedule);
  if (!(c->learning_rate > 0.0f) || !isfinite(c->learning_rate))
    return fail(err, errlen, RNN_EINVAL, "config: learning_rate %g must be > 0", c->learning_rate);
  if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f) ||
      !(c->epsilon >= 0.0f))
    return fail(err, errlen, RNN_EINVAL, "config: Adam beta1 %g / beta2 %g must be in [0, 1), epsilon %g >= 0",
                c->beta1, c->beta2, c->epsilon);
  if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
    return fail(err, errlen, RNN_EINVAL, "config: momentum %g must be in [0, 1)", c->momentum);
  if (!(c->weight_decay >= 0.0f) || !(c->clip_norm >= 0.0f))
    return fail(err, errlen, RNN_EINVAL, "config: weight_decay %g and clip_norm %g must be >= 0",
                c->weight_decay, c->clip_norm);
  if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
    return fail(err, errlen, RNN_EINVAL, "config: dropout %g must be in [0, 1)", c->dropout);
  if (c->batch_size < 1 || c->epochs < 0 || c->patience < 0 || c->tbptt < 0 || c->threads < 0)
    return fail(err, errlen, RNN_EINVAL,
                "config: batch_size %d must be >= 1; epochs %d, patience %d, tbptt %d, threads %d >= 0",
                c->batch_size, c->epochs, c->patience, c->tbptt, c->threads);
  if (c->time_mask < 0 || c->time_masks < 0 || c->freq_mask < 0 || c->freq_masks < 0)
    return fail(err, errlen, RNN_EINVAL, "config: SpecAugment mask sizes and counts must be >= 0");
  if (c->schedule != RNN_SCHED_CONSTANT && c->schedule != RNN_SCHED_COSINE &&
      (!(c->gamma > 0.0f) || c->step_epochs < 1))
    return fail(err, errlen, RNN_EINVAL, "config: schedule %d needs gamma > 0 (%g) and step_epochs >= 1 (%d)",
                (int)c->schedule, c->gamma, c->step_epochs);
  if (c->schedule == RNN_SCHED_COSINE && !(c->min_factor >= 0.0f && c->min_factor <= 1.0f))
    return fail(err, errlen, RNN_EINVAL, "config: min_factor %g must be in [0, 1]", c->min_factor);

  const rnn_head_kind h = m->head;
  const char *loss = rnn_loss_name(c->loss);
  switch (c->loss) {
  case RNN_LOSS_CE:
  case RNN_LOSS_CE_FRAME:
  case RNN_LOSS_CTC:
    if (h != RNN_HEAD_SOFTMAX && h != RNN_HEAD_LINEAR)
      return fail(err, errlen, RNN_EINVAL, "loss %s needs a softmax (or linear) head, the model's is %s",
                  loss, rnn_head_name(h));
    if (m->head_outputs < 2)
      return fail(err, errlen, RNN_EINVAL, "loss %s needs at least 2 outputs, the head has %d", loss,
                  m->head_outputs);
    break;
  case RNN_LOSS_BCE:
    if (h != RNN_HEAD_SIGMOID && h != RNN_HEAD_LINEAR)
      return fail(err, errlen, RNN_EINVAL, "loss bce needs a sigmoid (or linear) head, the model's is %s",
                  rnn_head_name(h));
    break;
  case RNN_LOSS_MSE:
  default:
    break;
  }
  if (c->tbptt > 0) {
    for (int l = 0; l < m->num_layers; l++)
      if (m->layers[l].bidirectional)
        return fail(err, errlen, RNN_EINVAL, "config: tbptt needs a unidirectional model (layer %d is bidirectional)", l);
    if (c->loss == RNN_LOSS_CTC)
      return fail(err, errlen, RNN_EINVAL, "config: tbptt does not apply to the ctc loss (it needs whole sequences)");
    int per_frame = c->loss == RNN_LOSS_CE_FRAME || c->per_frame;
    if (!per_frame && m->pool == RNN_POOL_MEAN)
      return fail(err, errlen, RNN_EINVAL, "config: tbptt with a per-sequence loss needs pooling 'last', not 'mean'");
  }
  return RNN_OK;
}

static int check_example(const rnn_model *m, const rnn_train_config *c, const rnn_example *e, int i,
                         char *err, size_t errlen) {
  const int O = m->head == RNN_HEAD_NONE ? rnn_model_top_size(m) : m->head_outputs;
  if (!e->x || e->T <= 0)
    return fail(err, errlen, RNN_EINVAL, "example %d: %s", i, e->x ? "T must be >= 1" : "x is NULL");
  const int nin = m->input_size;
  for (size_t k = 0; k < (size_t)e->T * nin; k++)
    if (!isfinite(e->x[k]))
      return fail(err, errlen, RNN_EINVAL, "example %d: x[%zu][%zu] = %g is not finite", i, k / nin,
                  k % nin, e->x[k]);
  switch (c->loss) {
  case RNN_LOSS_CE:
    if (e->label < 0 || e->label >= O)
      return fail(err, errlen, RNN_EINVAL, "example %d: label %d outside 0..%d", i, e->label, O - 1);
    break;
  case RNN_LOSS_CE_FRAME:
    if (!e->frame_labels)
      return fail(err, errlen, RNN_EINVAL, "example %d: frame_labels is NULL", i);
    for (int t = 0; t < e->T; t++)
      if (e->frame_labels[t] < 0 || e->frame_labels[t] >= O)
        return fail(err, errlen, RNN_EINVAL, "example %d: frame_labels[%d] = %d outside 0..%d", i, t,
                    e->frame_labels[t], O - 1);
    break;
  case RNN_LOSS_BCE:
  case RNN_LOSS_MSE: {
    if (!e->target)
      return fail(err, errlen, RNN_EINVAL, "example %d: target is NULL", i);
    size_t n = (size_t)O * (c->per_frame ? (size_t)e->T : 1);
    for (size_t k = 0; k < n; k++) {
      float y = e->target[k];
      if (!isfinite(y) || (c->loss == RNN_LOSS_BCE && (y < 0.0f || y > 1.0f)))
        return fail(err, errlen, RNN_EINVAL, "example %d: target[%zu] = %g %s", i, k, y,
                    c->loss == RNN_LOSS_BCE ? "outside [0, 1]" : "is not finite");
    }
    break;
  }
  case RNN_LOSS_CTC: {
    if (e->n_tokens < 0 || (e->n_tokens > 0 && !e->tokens))
      return fail(err, errlen, RNN_EINVAL, "example %d: tokens missing (n_tokens %d)", i, e->n_tokens);
    for (int k = 0; k < e->n_tokens; k++)
      if (e->tokens[k] < 1 || e->tokens[k] >= O)
        return fail(err, errlen, RNN_EINVAL, "example %d: token %d = %d outside 1..%d (0 is the blank)",
                    i, k, e->tokens[k], O - 1);
    int need = rnn_ctc_min_frames(e->tokens, e->n_tokens);
    if (need > e->T)
      return fail(err, errlen, RNN_EINVAL, "example %d: %d tokens need at least %d frames, it has %d",
                  i, e->n_tokens, need, e->T);
    break;
  }
  default:
    break;
  }
  return RNN_OK;
}

int rnn_train_check(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                    char *err, size_t errlen) {
  if (!m || !m->finalized)
    return fail(err, errlen, RNN_EINVAL, "model is NULL or not finalized");
  /* train.c's forward and backward passes use dense w_ih/w_hh shapes */
  if (rnn_model_grouped(m))
    return fail(err, errlen, RNN_ESTATE, "grouped layers are inference-only");
  /* train.c's input pass normalises in place to input_size columns, not the doubled layer 0 */
  if (m->seq_norm == RNN_SEQUENCE_NORM_APPEND)
    return fail(err, errlen, RNN_ESTATE, "input.normalization=" RNN_SEQ_NORM_APPEND_VALUE " is inference-only");
  if (!c)
    return fail(err, errlen, RNN_EINVAL, "config is NULL");
  if (n < 0 || (n > 0 && !ex))
    return fail(err, errlen, RNN_EINVAL, "examples: %d given with %s", n, ex ? "a negative count" : "a NULL array");
  int rc = check_config(m, c, err, errlen);
  if (rc)
    return rc;
  for (int i = 0; i < n; i++)
    if ((rc = check_example(m, c, &ex[i], i, err, errlen)))
      return rc;
  return RNN_OK;
}

int rnn_train_validate(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                       char *err, size_t errlen) {
  return rnn_train_check(m, ex, n, c, err, errlen);
}

/* ---------------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------------- */
static int resolve_threads(const rnn_train_config *c) {
  if (c->threads > 0)
    return c->threads;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)(n < 64 ? n : 64) : 1;
}

typedef void (*job_fn)(void *ctx, int job, int worker);
typedef struct {
  job_fn fn;
  void *ctx;
  int jobs, workers, worker;
} worker_arg;

static void *worker_main(void *p) {
  worker_arg *a = p;
  for (int j = a->worker; j < a->jobs; j += a->workers)
    a->fn(a->ctx, j, a->worker);
  return NULL;
}

/* Runs fn on jobs 0..jobs-1 with up to `workers` threads (the caller is worker 0); job j always
 * runs on worker j % workers. */
static void run_jobs(job_fn fn, void *ctx, int jobs, int workers) {
  if (workers > jobs)
    workers = jobs;
  if (workers <= 1) {
    for (int j = 0; j < jobs; j++)
      fn(ctx, j, 0);
    return;
  }
  pthread_t tid[64];
  worker_arg args[64];
  int started[64] = {0};
  if (workers > 64)
    workers = 64;
  for (int w = 0; w < workers; w++)
    args[w] = (worker_arg){fn, ctx, jobs, workers, w};
  for (int w = 1; w < workers; w++)
    started[w] = pthread_create(&tid[w], NULL, worker_main, &args[w]) == 0;
  worker_main(&args[0]);
  for (int w = 1; w < workers; w++) {
    if (started[w])
      pthread_join(tid[w], NULL);
    else
      worker_main(&args[w]); /* could not start a thread: do its share here */
  }
}

/* The BLAS library's own threads would fight with ours: training runs it single-threaded and puts
 * the previous setting back afterwards. */
typedef struct {
  int saved;
} blas_threads;
static void blas_single_begin(blas_threads *b) { b->saved = rnn_blas_set_threads(1); }
static void blas_single_end(const blas_threads *b) {
  if (b->saved > 0)
    rnn_blas_set_threads(b->saved);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * Shards
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const rnn_example *ex[RNN_SHARD_ROWS];
  int rows;
  int T; /* longest row */
  rnn_shard *obj;
  float *grad;
  rnn_shard_stats st;
  int rc;
  uint64_t seed; /* augmentation and dropout of this shard in this batch (0: none) */
} shard_job;

/* Orders examples longest first; ties by index so that the order is total and reproducible. */
typedef struct {
  int T, idx;
} len_idx;
static int cmp_len_desc(const void *a, const void *b) {
  const len_idx *x = a, *y = b;
  if (x->T != y->T)
    return x->T > y->T ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

static uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ULL);
  return rnn_rand64(&s);
}

/* ---------------------------------------------------------------------------------------------
 * Loss and gradient of a set; evaluation
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const rnn_model *m;
  const rnn_train_config *c;
  shard_job *jobs;
  rnn_shard **objs; /* one per worker */
  size_t np;
  float scale;
  int want_grad;
  int chunk; /* frames per run (tbptt) or INT_MAX */
} set_ctx;

static void set_job(void *p, int j, int worker) {
  set_ctx *x = p;
  shard_job *job = &x->jobs[j];
  rnn_shard *s = x->objs[worker];
  if (job->grad)
    memset(job->grad, 0, x->np * sizeof(float));
  memset(&job->st, 0, sizeof(job->st));
  job->rc = rnn_shard_load(s, x->m, job->ex, job->rows, x->c, NULL);
  for (int t0 = 0; job->rc == RNN_OK && t0 < job->T; t0 += x->chunk) {
    int t1 = job->T - t0 > x->chunk ? t0 + x->chunk : job->T;
    job->rc = rnn_shard_run(s, x->m, x->c, t0, t1, x->scale, x->want_grad ? job->grad : NULL, 0,
                            &job->st);
  }
}

/* Runs every example through the model in shards; sums stats (and gradients) in shard order. */
static int run_set(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                   float *grad, rnn_shard_stats *total) {
  memset(total, 0, sizeof(*total));
  if (n == 0)
    return RNN_OK;
  const size_t np = m->num_params;
  const int workers = resolve_threads(c);
  len_idx *order = malloc(sizeof(len_idx) * (size_t)n);
  shard_job *jobs = calloc(RNN_WAVE_SHARDS, sizeof(shard_job));
  rnn_shard **objs = calloc((size_t)workers, sizeof(rnn_shard *));
  int rc = (order && jobs && objs) ? RNN_OK : RNN_ENOMEM;
  for (int w = 0; rc == RNN_OK && w < workers; w++)
    if (!(objs[w] = rnn_shard_new()))
      rc = RNN_ENOMEM;
  for (int k = 0; rc == RNN_OK && grad && k < RNN_WAVE_SHARDS; k++)
    if (!(jobs[k].grad = rnn_aligned_alloc(np * sizeof(float))))
      rc = RNN_ENOMEM;
  double terms = 0.0;
  if (rc == RNN_OK) {
    for (int i = 0; i < n; i++) {
      order[i] = (len_idx){ex[i].T, i};
      terms += rnn_loss_terms(m, c, &ex[i], 0, INT_MAX);
    }
    qsort(order, (size_t)n, sizeof(len_idx), cmp_len_desc);
    if (grad)
      memset(grad, 0, np * sizeof(float));
  }
  blas_threads bt;
  blas_single_begin(&bt);
  set_ctx ctx = {m, c, jobs, objs, np, terms > 0 ? (float)(1.0 / terms) : 0.0f, grad != NULL,
                 c->tbptt > 0 ? c->tbptt : INT_MAX};
  const int nshards = (n + RNN_SHARD_ROWS - 1) / RNN_SHARD_ROWS;
  for (int first = 0; rc == RNN_OK && first < nshards; first += RNN_WAVE_SHARDS) {
    int wave = nshards - first < RNN_WAVE_SHARDS ? nshards - first : RNN_WAVE_SHARDS;
    for (int k = 0; k < wave; k++) {
      shard_job *job = &jobs[k];
      int start = (first + k) * RNN_SHARD_ROWS;
      job->rows = n - start < RNN_SHARD_ROWS ? n - start : RNN_SHARD_ROWS;
      for (int r = 0; r < job->rows; r++)
        job->ex[r] = &ex[order[start + r].idx];
      job->T = job->ex[0]->T;
    }
    run_jobs(set_job, &ctx, wave, workers);
    for (int k = 0; k < wave && rc == RNN_OK; k++) {
      rc = jobs[k].rc;
      total->loss += jobs[k].st.loss;
      total->terms += jobs[k].st.terms;
      total->correct += jobs[k].st.correct;
      total->count += jobs[k].st.count;
      if (grad)
        for (size_t i = 0; i < np; i++)
          grad[i] += jobs[k].grad[i];
    }
  }
  blas_single_end(&bt);
  for (int w = 0; objs && w < workers; w++)
    rnn_shard_free(objs[w]);
  for (int k = 0; jobs && k < RNN_WAVE_SHARDS; k++)
    rnn_aligned_free(jobs[k].grad);
  free(order);
  free(jobs);
  free(objs);
  return rc;
}

static double stats_accuracy(const rnn_train_config *c, const rnn_shard_stats *st) {
  if (c->loss == RNN_LOSS_MSE || st->count <= 0)
    return 0.0;
  double a = st->correct / st->count; /* CTC: 1 - token error rate, which can go below 0 */
  return a < 0.0 ? 0.0 : a;
}

int rnn_loss_and_grad(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                      double *loss, float *grad) {
  int rc = rnn_train_check(m, ex, n, c, NULL, 0);
  if (rc)
    return rc;
  rnn_shard_stats st;
  rc = run_set(m, ex, n, c, grad, &st);
  if (rc)
    return rc;
  double l = st.terms > 0 ? st.loss / st.terms : 0.0;
  if (loss)
    *loss = l;
  return isfinite(l) ? RNN_OK : RNN_ENUMERIC;
}

int rnn_evaluate(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                 double *loss, double *accuracy) {
  int rc = rnn_train_check(m, ex, n, c, NULL, 0);
  if (rc)
    return rc;
  rnn_train_config whole = *c;
  /* The state is carried across chunks, so the loss does not depend on the chunk length: use
   * long chunks (fewer, larger products) but keep the memory bound that tbptt gives. */
  if (whole.tbptt > 0 && whole.tbptt < 256)
    whole.tbptt = 256;
  rnn_shard_stats st;
  rc = run_set(m, ex, n, &whole, NULL, &st);
  if (rc)
    return rc;
  double l = st.terms > 0 ? st.loss / st.terms : 0.0;
  if (loss)
    *loss = l;
  if (accuracy)
    *accuracy = stats_accuracy(c, &st);
  return isfinite(l) ? RNN_OK : RNN_ENUMERIC;
}

/* ---------------------------------------------------------------------------------------------
 * rnn_fit
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const rnn_model *m;
  const rnn_train_config *c;
  shard_job *jobs;
  size_t np;
  int t0, t1;
  float scale;
  int want_grad;
} batch_ctx;

static void batch_job(void *p, int j, int worker) {
  (void)worker;
  batch_ctx *x = p;
  shard_job *job = &x->jobs[j];
  memset(&job->st, 0, sizeof(job->st));
  if (x->want_grad)
    memset(job->grad, 0, x->np * sizeof(float));
  job->rc = RNN_OK;
  if (x->t0 == 0) {
    uint64_t aug = mix_seed(job->seed, 0xA0A0);
    int augment = x->c->time_masks > 0 || x->c->freq_masks > 0;
    job->rc = rnn_shard_load(job->obj, x->m, job->ex, job->rows, x->c, augment ? &aug : NULL);
  }
  if (job->rc == RNN_OK) {
    uint64_t drop = mix_seed(job->seed, 0xD000 + (uint64_t)x->t0) | 1;
    job->rc = rnn_shard_run(job->obj, x->m, x->c, x->t0, x->t1, x->scale,
                            x->want_grad ? job->grad : NULL, drop, &job->st);
  }
}

typedef struct {
  size_t np;
  int njobs;
  shard_job *jobs;
  int *order;
  float *grad, *good, *best;
  rnn_optimizer opt;
} fit_buffers;

static void fit_buffers_free(fit_buffers *f) {
  for (int k = 0; f->jobs && k < f->njobs; k++) {
    rnn_shard_free(f->jobs[k].obj);
    rnn_aligned_free(f->jobs[k].grad);
  }
  free(f->jobs);
  free(f->order);
  rnn_aligned_free(f->grad);
  rnn_aligned_free(f->good);
  rnn_aligned_free(f->best);
  rnn_optimizer_free(&f->opt);
}

static int fit_buffers_init(fit_buffers *f, const rnn_model *m, const rnn_train_config *c, int n) {
  memset(f, 0, sizeof(*f));
  f->np = m->num_params;
  int batch = c->batch_size < n ? c->batch_size : n;
  f->njobs = (batch + RNN_SHARD_ROWS - 1) / RNN_SHARD_ROWS;
  f->jobs = calloc((size_t)f->njobs, sizeof(shard_job));
  f->order = malloc(sizeof(int) * (size_t)n);
  f->grad = rnn_aligned_alloc(f->np * sizeof(float));
  f->good = rnn_aligned_alloc(f->np * sizeof(float));
  f->best = rnn_aligned_alloc(f->np * sizeof(float));
  if (!f->jobs || !f->order || !f->grad || !f->good || !f->best)
    return RNN_ENOMEM;
  for (int k = 0; k < f->njobs; k++) {
    f->jobs[k].obj = rnn_shard_new();
    f->jobs[k].grad = rnn_aligned_alloc(f->np * sizeof(float));
    if (!f->jobs[k].obj || !f->jobs[k].grad)
      return RNN_ENOMEM;
  }
  return rnn_optimizer_init(&f->opt, c, f->np);
}

/* Deals the batch's examples (sorted longest first) to shards round-robin, which keeps every
 * shard sorted and their lengths balanced. Returns the number of shards and the longest T. */
static int deal_batch(fit_buffers *f, const rnn_example *train, const int *idx, int nb,
                      uint64_t batch_seed, int *Tmax) {
  len_idx tmp[4096];
  len_idx *li = nb <= 4096 ? tmp : malloc(sizeof(len_idx) * (size_t)nb);
  if (!li)
    return RNN_ENOMEM;
  for (int r = 0; r < nb; r++)
    li[r] = (len_idx){train[idx[r]].T, idx[r]};
  qsort(li, (size_t)nb, sizeof(len_idx), cmp_len_desc);
  int nj = (nb + RNN_SHARD_ROWS - 1) / RNN_SHARD_ROWS;
  for (int k = 0; k < nj; k++) {
    f->jobs[k].rows = 0;
    f->jobs[k].seed = mix_seed(batch_seed, (uint64_t)k + 1);
  }
  for (int r = 0; r < nb; r++) {
    shard_job *job = &f->jobs[r % nj];
    job->ex[job->rows++] = &train[li[r].idx];
  }
  for (int k = 0; k < nj; k++)
    f->jobs[k].T = f->jobs[k].ex[0]->T;
  *Tmax = li[0].T;
  if (li != tmp)
    free(li);
  return nj;
}

static int all_finite(const float *p, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; i++)
    acc += p[i] * 0.0f; /* NaN or Inf anywhere makes this NaN */
  return acc == 0.0f;
}

int rnn_fit(rnn_model *m, const rnn_example *train, int n_train, const rnn_example *val, int n_val,
            const rnn_train_config *c, rnn_progress_fn progress, void *user) {
  int rc = rnn_train_check(m, train, n_train, c, NULL, 0);
  if (rc)
    return rc;
  if (n_train < 1)
    return RNN_EINVAL;
  if (n_val > 0 && (rc = rnn_train_check(m, val, n_val, c, NULL, 0)))
    return rc;
  fit_buffers f;
  if ((rc = fit_buffers_init(&f, m, c, n_train))) {
    fit_buffers_free(&f);
    return rc;
  }
  const size_t np = f.np;
  const int workers = resolve_threads(c);
  const int B = c->batch_size;
  const int batches = (n_train + B - 1) / B;
  const int has_val = val && n_val > 0;
  float *params = m->params;
  blas_threads bt;
  blas_single_begin(&bt);

  for (int i = 0; i < n_train; i++)
    f.order[i] = i;
  uint64_t shuffle_rng = mix_seed(c->seed, 0x5EED);
  rnn_plateau plateau;
  rnn_plateau_init(&plateau);
  double best_loss = INFINITY;
  int have_best = 0, bad_epochs = 0, stop = 0;
  const double t_start = now_seconds();
  long batches_done = 0;
  const long batches_total = (long)batches * (c->epochs > 0 ? c->epochs : 0);
  memcpy(f.good, params, np * sizeof(float));

  for (int epoch = 1; epoch <= c->epochs && !stop && rc == RNN_OK; epoch++) {
    const float lr = rnn_schedule_lr(c, epoch, &plateau);
    for (int i = n_train - 1; i > 0; i--) { /* Fisher-Yates */
      int j = rnn_rand_below(&shuffle_rng, i + 1);
      int t = f.order[i];
      f.order[i] = f.order[j];
      f.order[j] = t;
    }
    rnn_shard_stats ep;
    memset(&ep, 0, sizeof(ep));
    for (int bi = 0; bi < batches && rc == RNN_OK; bi++) {
      const int first = bi * B, nb = n_train - first < B ? n_train - first : B;
      int Tmax = 0;
      uint64_t batch_seed = mix_seed(mix_seed(c->seed, (uint64_t)epoch), (uint64_t)bi);
      int nj = deal_batch(&f, train, f.order + first, nb, batch_seed, &Tmax);
      if (nj < 0) {
        rc = nj;
        break;
      }
      const int chunk = c->tbptt > 0 ? c->tbptt : Tmax;
      for (int t0 = 0; t0 < Tmax && rc == RNN_OK; t0 += chunk) {
        const int t1 = t0 + chunk;
        double terms = 0.0;
        for (int k = 0; k < nj; k++)
          for (int r = 0; r < f.jobs[k].rows; r++)
            terms += rnn_loss_terms(m, c, f.jobs[k].ex[r], t0, t1);
        batch_ctx ctx = {m, c, f.jobs, np, t0, t1, terms > 0 ? (float)(1.0 / terms) : 0.0f, terms > 0};
        run_jobs(batch_job, &ctx, nj, workers);
        rnn_shard_stats st;
        memset(&st, 0, sizeof(st));
        for (int k = 0; k < nj; k++) {
          if (f.jobs[k].rc && rc == RNN_OK)
            rc = f.jobs[k].rc;
          st.loss += f.jobs[k].st.loss;
          st.terms += f.jobs[k].st.terms;
          st.correct += f.jobs[k].st.correct;
          st.count += f.jobs[k].st.count;
        }
        if (rc)
          break;
        if (terms <= 0)
          continue; /* a chunk without loss terms only carries the state forward */
        memcpy(f.grad, f.jobs[0].grad, np * sizeof(float));
        for (int k = 1; k < nj; k++) {
          const float *g = f.jobs[k].grad;
          for (size_t i = 0; i < np; i++)
            f.grad[i] += g[i];
        }
        if (!isfinite(st.loss) || !all_finite(f.grad, np)) {
          rc = RNN_ENUMERIC;
          break;
        }
        memcpy(f.good, params, np * sizeof(float)); /* these parameters gave a finite loss */
        rnn_clip_gradient(f.grad, np, c->clip_norm);
        rnn_optimizer_step(&f.opt, params, f.grad, lr);
        ep.loss += st.loss;
        ep.terms += st.terms;
        ep.correct += st.correct;
        ep.count += st.count;
      }
      if (rc)
        break;
      batches_done++;
      if (progress) {
        rnn_progress p;
        memset(&p, 0, sizeof(p));
        p.epoch = epoch;
        p.epochs = c->epochs;
        p.batch = bi + 1;
        p.batches = batches;
        p.loss = ep.terms > 0 ? ep.loss / ep.terms : 0.0;
        p.accuracy = stats_accuracy(c, &ep);
        p.val_loss = p.val_accuracy = NAN;
        p.learning_rate = lr;
        p.elapsed_s = now_seconds() - t_start;
        p.remaining_s = p.elapsed_s / (double)batches_done * (double)(batches_total - batches_done);
        if (progress(&p, user))
          stop = 1;
      }
      if (stop)
        break;
    }
    if (rc || stop)
      break;

    /* End of the epoch: validation, best parameters, schedules, early stopping. */
    double val_loss = NAN, val_acc = NAN;
    if (has_val) {
      rnn_train_config vc = *c;
      rc = rnn_evaluate(m, val, n_val, &vc, &val_loss, &val_acc);
      if (rc)
        break;
    }
    double train_loss = ep.terms > 0 ? ep.loss / ep.terms : 0.0;
    double judged = has_val ? val_loss : train_loss;
    int improved = judged < best_loss;
    if (improved) {
      best_loss = judged;
      have_best = 1;
      bad_epochs = 0;
      memcpy(f.best, params, np * sizeof(float));
    } else {
      bad_epochs++;
    }
    rnn_plateau_update(&plateau, c, judged);
    if (progress) {
      rnn_progress p;
      memset(&p, 0, sizeof(p));
      p.epoch = epoch;
      p.epochs = c->epochs;
      p.batch = p.batches = batches;
      p.loss = train_loss;
      p.accuracy = stats_accuracy(c, &ep);
      p.val_loss = val_loss;
      p.val_accuracy = val_acc;
      p.learning_rate = lr;
      p.elapsed_s = now_seconds() - t_start;
      p.remaining_s = batches_done > 0 ? p.elapsed_s / (double)batches_done *
                                             (double)(batches_total - batches_done)
                                       : 0.0;
      p.end_of_epoch = 1;
      p.improved = improved;
      if (progress(&p, user))
        stop = 1;
    }
    if (has_val && c->patience > 0 && bad_epochs >= c->patience)
      break;
  }

  if (rc == RNN_ENUMERIC)
    memcpy(params, f.good, np * sizeof(float));
  else if (rc == RNN_OK && has_val && have_best)
    memcpy(params, f.best, np * sizeof(float));
  blas_single_end(&bt);
  fit_buffers_free(&f);
  return rc;
}
