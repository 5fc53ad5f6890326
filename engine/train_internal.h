/* gst-rnn engine: training internals shared by train.c, loss.c, optim.c and fit.c (and the
 * engine's own tests). Not part of the public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_ENGINE_TRAIN_INTERNAL_H
#define GST_RNN_ENGINE_TRAIN_INTERNAL_H

#include "model_internal.h"

/* A mini-batch is cut into shards of at most this many sequences. Each shard's gradient is
 * computed on its own (by whichever thread takes it) and the shard gradients are summed in shard
 * order, so results do not depend on the number of threads. */
#define RNN_SHARD_ROWS 16

/* ---------------------------------------------------------------------------------------------
 * Losses (loss.c). Every function takes the head's logits (pre-activation) of one row, adds
 * scale * d(loss)/d(logits) into dz when dz is not NULL, and returns the row's loss.
 * ------------------------------------------------------------------------------------------- */
/* Softmax cross-entropy; *argmax receives the predicted class. */
double rnn_loss_softmax_ce(const float *z, int n, int label, float scale, float *dz, int *argmax);
/* Binary cross-entropy on sigmoid(z), from the logits (stable), mean over the n outputs;
 * *correct receives how many outputs fall on the right side of 0.5. */
double rnn_loss_bce(const float *z, int n, const float *target, float scale, float *dz, int *correct);
/* Mean squared error between the head's activation of z and target, mean over the n outputs. */
double rnn_loss_mse(const float *z, int n, rnn_head_kind head, const float *target, float scale,
                    float *dz);
/* CTC (blank 0) of one sequence: logits of frame t at z + t*zstride (n symbols); tokens in 1..n-1.
 * Gradient (scaled) added at dz + t*dzstride. Returns -log p(tokens | x), INFINITY when no
 * alignment exists, NAN when out of memory. */
double rnn_loss_ctc(const float *z, size_t zstride, int T, int n, const int *tokens, int L,
                    float scale, float *dz, size_t dzstride);
/* Frames CTC needs for L tokens: L plus one per pair of equal neighbours. */
int rnn_ctc_min_frames(const int *tokens, int L);
/* Greedy decode of the logits (best per frame, merge repeats, drop blanks) and its edit distance
 * to the tokens. */
int rnn_ctc_greedy_errors(const float *z, size_t zstride, int T, int n, const int *tokens, int L);

/* ---------------------------------------------------------------------------------------------
 * Optimizers and schedules (optim.c)
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rnn_optim_kind kind;
  float beta1, beta2, epsilon, momentum, weight_decay;
  size_t n;
  float *m, *v; /* Adam moments / SGD velocity (m only) */
  long step;
} rnn_optimizer;

int rnn_optimizer_init(rnn_optimizer *o, const rnn_train_config *c, size_t n);
void rnn_optimizer_free(rnn_optimizer *o);
/* Global L2 norm of g; when clip > 0 and the norm exceeds it, g is scaled down to norm clip.
 * Returns the norm before clipping (NaN/Inf when g holds one). */
double rnn_clip_gradient(float *g, size_t n, float clip);
/* One update: weight decay (L2, added to the gradient), then Adam or SGD with momentum. */
void rnn_optimizer_step(rnn_optimizer *o, float *params, const float *grad, float lr);

typedef struct {
  double best;   /* best validation loss so far */
  int bad;       /* epochs since it improved */
  float factor;  /* current plateau factor */
} rnn_plateau;
void rnn_plateau_init(rnn_plateau *p);
/* The plateau schedule's bookkeeping after an epoch with validation loss val_loss. */
void rnn_plateau_update(rnn_plateau *p, const rnn_train_config *c, double val_loss);
/* Learning rate for a 1-based epoch. */
float rnn_schedule_lr(const rnn_train_config *c, int epoch, const rnn_plateau *p);

/* ---------------------------------------------------------------------------------------------
 * The training forward and backward pass over one shard (train.c)
 * ------------------------------------------------------------------------------------------- */
typedef struct rnn_shard rnn_shard;

typedef struct {
  double loss;    /* sum of the per-term losses */
  double terms;   /* number of loss terms (sequences or frames) */
  double correct; /* accuracy numerator */
  double count;   /* accuracy denominator */
} rnn_shard_stats;

rnn_shard *rnn_shard_new(void);
void rnn_shard_free(rnn_shard *s);

/* Loads up to RNN_SHARD_ROWS examples: normalised, time-major, padded with zeros. When augment is
 * not NULL, SpecAugment masks from the config are drawn from it. Rows keep the given order; they
 * must be sorted longest first. Returns RNN_ENUMERIC when an input is not finite. */
int rnn_shard_load(rnn_shard *s, const rnn_model *m, const rnn_example *const *ex, int rows,
                   const rnn_train_config *c, uint64_t *augment);

/* Forward over the frames [t0, t1) of the loaded shard (carrying the recurrent state from the
 * previous chunk when t0 > 0), the loss, and when grad is not NULL the backward pass, adding
 * loss_scale * d(loss)/d(params) into grad. dropout_seed 0 disables dropout. */
int rnn_shard_run(rnn_shard *s, const rnn_model *m, const rnn_train_config *c, int t0, int t1,
                  float loss_scale, float *grad, uint64_t dropout_seed, rnn_shard_stats *st);

/* Number of loss terms example ex contributes to the chunk [t0, t1). */
double rnn_loss_terms(const rnn_model *m, const rnn_train_config *c, const rnn_example *ex, int t0,
                      int t1);

/* The training forward pass of one sequence, for tests: per-frame outputs (T x output size, head
 * activation applied) as rnn_forward_sequence computes them. */
int rnn_train_forward_frames(const rnn_model *m, const float *x, int T, float *out);

/* Tests: 1 makes every product go through the BLAS instead of the AVX-512 kernel. */
void rnn_train_force_blas(int on);

/* Checks a configuration and examples against a model; writes what is wrong into err. */
int rnn_train_check(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                    char *err, size_t errlen);

/* splitmix64: the training code's seeded random numbers. */
static inline uint64_t rnn_rand64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static inline int rnn_rand_below(uint64_t *s, int n) {
  return n <= 1 ? 0 : (int)(rnn_rand64(s) % (uint64_t)n);
}

#endif
