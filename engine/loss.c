/* gst-rnn engine: losses on the head's logits: softmax cross-entropy, binary cross-entropy,
 * mean squared error and CTC.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every loss works from the logits (the head before its activation) so that the softmax and the
 * sigmoid fold into the loss: the gradients are the familiar "output minus target" forms and no
 * log of a rounded-to-zero probability is ever taken. Sums run in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* log(sum(exp(z))) computed around the maximum so that nothing overflows. */
static double log_sum_exp(const float *z, int n, int *argmax) {
  int best = 0;
  for (int k = 1; k < n; k++)
    if (z[k] > z[best])
      best = k;
  double mx = z[best], s = 0.0;
  for (int k = 0; k < n; k++)
    s += exp((double)z[k] - mx);
  if (argmax)
    *argmax = best;
  return mx + log(s);
}

double rnn_loss_softmax_ce(const float *z, int n, int label, float scale, float *dz, int *argmax) {
  double lse = log_sum_exp(z, n, argmax);
  if (dz) {
    for (int k = 0; k < n; k++)
      dz[k] += scale * (float)exp((double)z[k] - lse);
    dz[label] -= scale;
  }
  return lse - (double)z[label];
}

double rnn_loss_bce(const float *z, int n, const float *target, float scale, float *dz, int *correct) {
  double sum = 0.0;
  int ok = 0;
  for (int k = 0; k < n; k++) {
    double x = z[k], y = target[k];
    /* -(y log s + (1-y) log(1-s)) with s = sigmoid(x), rewritten so exp never overflows. */
    sum += fmax(x, 0.0) - x * y + log1p(exp(-fabs(x)));
    if (dz) {
      double s = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
      dz[k] += scale * (float)((s - y) / n);
    }
    ok += (x > 0.0) == (y > 0.5);
  }
  if (correct)
    *correct = ok;
  return sum / n;
}

double rnn_loss_mse(const float *z, int n, rnn_head_kind head, const float *target, float scale,
                    float *dz) {
  double sum = 0.0, lse = 0.0;
  if (head == RNN_HEAD_SOFTMAX)
    lse = log_sum_exp(z, n, NULL);
  /* act(z), then the loss; dz needs the activation's Jacobian. */
  double dot = 0.0; /* softmax: sum_k dL/da_k * a_k */
  for (int k = 0; k < n; k++) {
    double a = z[k];
    if (head == RNN_HEAD_SIGMOID)
      a = 1.0 / (1.0 + exp(-a));
    else if (head == RNN_HEAD_SOFTMAX)
      a = exp(a - lse);
    double e = a - target[k];
    sum += e * e;
    dot += 2.0 * e / n * a;
  }
  if (dz) {
    for (int k = 0; k < n; k++) {
      double a = z[k], da;
      if (head == RNN_HEAD_SIGMOID)
        a = 1.0 / (1.0 + exp(-a));
      else if (head == RNN_HEAD_SOFTMAX)
        a = exp(a - lse);
      double g = 2.0 * (a - target[k]) / n; /* dL/da */
      if (head == RNN_HEAD_SIGMOID)
        da = g * a * (1.0 - a);
      else if (head == RNN_HEAD_SOFTMAX)
        da = a * (g - dot);
      else
        da = g;
      dz[k] += scale * (float)da;
    }
  }
  return sum / n;
}

/* ---------------------------------------------------------------------------------------------
 * CTC
 * ------------------------------------------------------------------------------------------- */
static inline double lse2(double a, double b) {
  if (a == -INFINITY)
    return b;
  if (b == -INFINITY)
    return a;
  return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

int rnn_ctc_min_frames(const int *tokens, int L) {
  int need = L;
  for (int i = 1; i < L; i++)
    need += tokens[i] == tokens[i - 1];
  return need;
}

/* The extended label sequence: blank, t1, blank, t2, ..., tL, blank (S = 2L + 1). */
static inline int ext_label(const int *tokens, int s) { return (s & 1) ? tokens[s >> 1] : 0; }

double rnn_loss_ctc(const float *z, size_t zstride, int T, int n, const int *tokens, int L,
                    float scale, float *dz, size_t dzstride) {
  const int S = 2 * L + 1;
  if (T <= 0)
    return INFINITY;
  if (rnn_ctc_min_frames(tokens, L) > T)
    return INFINITY;
  double *lp = malloc(sizeof(double) * (size_t)T * (size_t)n);
  double *alpha = malloc(sizeof(double) * (size_t)T * (size_t)S);
  double *beta = malloc(sizeof(double) * (size_t)T * (size_t)S);
  if (!lp || !alpha || !beta) {
    free(lp);
    free(alpha);
    free(beta);
    return NAN;
  }
  /* Log-softmax of every frame. */
  for (int t = 0; t < T; t++) {
    const float *zt = z + (size_t)t * zstride;
    double lse = log_sum_exp(zt, n, NULL);
    for (int k = 0; k < n; k++)
      lp[(size_t)t * n + k] = (double)zt[k] - lse;
  }
  /* alpha[t][s]: log probability of the prefixes that emit the first s+1 extended labels by
   * frame t and sit on label s at t (emission at t included). */
  for (int s = 0; s < S; s++)
    alpha[s] = -INFINITY;
  alpha[0] = lp[0];
  if (S > 1)
    alpha[1] = lp[ext_label(tokens, 1)];
  for (int t = 1; t < T; t++) {
    const double *prev = alpha + (size_t)(t - 1) * S;
    double *cur = alpha + (size_t)t * S;
    for (int s = 0; s < S; s++) {
      int l = ext_label(tokens, s);
      double a = prev[s];
      if (s >= 1)
        a = lse2(a, prev[s - 1]);
      if (s >= 2 && l != 0 && l != ext_label(tokens, s - 2))
        a = lse2(a, prev[s - 2]);
      cur[s] = a == -INFINITY ? -INFINITY : a + lp[(size_t)t * n + l];
    }
  }
  const double *last = alpha + (size_t)(T - 1) * S;
  double logp = S > 1 ? lse2(last[S - 1], last[S - 2]) : last[0];
  if (!(logp > -INFINITY)) {
    free(lp);
    free(alpha);
    free(beta);
    return INFINITY;
  }
  if (dz) {
    /* beta[t][s]: log probability of the suffixes from label s at frame t to the end (emission
     * at t included, so alpha + beta counts frame t twice; the posterior subtracts it once). */
    double *bl = beta + (size_t)(T - 1) * S;
    for (int s = 0; s < S; s++)
      bl[s] = -INFINITY;
    bl[S - 1] = lp[(size_t)(T - 1) * n + ext_label(tokens, S - 1)];
    if (S > 1)
      bl[S - 2] = lp[(size_t)(T - 1) * n + ext_label(tokens, S - 2)];
    for (int t = T - 2; t >= 0; t--) {
      const double *next = beta + (size_t)(t + 1) * S;
      double *cur = beta + (size_t)t * S;
      for (int s = 0; s < S; s++) {
        int l = ext_label(tokens, s);
        double b = next[s];
        if (s + 1 < S)
          b = lse2(b, next[s + 1]);
        if (s + 2 < S && l != 0 && l != ext_label(tokens, s + 2))
          b = lse2(b, next[s + 2]);
        cur[s] = b == -INFINITY ? -INFINITY : b + lp[(size_t)t * n + l];
      }
    }
    /* d(-log p)/dz_t(k) = softmax_t(k) - sum over s with label k of the posterior of (t, s). */
    double *post = malloc(sizeof(double) * (size_t)n);
    if (!post) {
      free(lp);
      free(alpha);
      free(beta);
      return NAN;
    }
    for (int t = 0; t < T; t++) {
      const double *a = alpha + (size_t)t * S, *b = beta + (size_t)t * S;
      const double *lpt = lp + (size_t)t * n;
      for (int k = 0; k < n; k++)
        post[k] = 0.0;
      for (int s = 0; s < S; s++) {
        if (a[s] == -INFINITY || b[s] == -INFINITY)
          continue;
        int l = ext_label(tokens, s);
        post[l] += exp(a[s] + b[s] - lpt[l] - logp);
      }
      float *dzt = dz + (size_t)t * dzstride;
      for (int k = 0; k < n; k++)
        dzt[k] += scale * (float)(exp(lpt[k]) - post[k]);
    }
    free(post);
  }
  free(lp);
  free(alpha);
  free(beta);
  return -logp;
}

int rnn_ctc_greedy_errors(const float *z, size_t zstride, int T, int n, const int *tokens, int L) {
  int *hyp = malloc(sizeof(int) * (size_t)(T > 0 ? T : 1));
  int *row = malloc(sizeof(int) * (size_t)(L + 1) * 2);
  if (!hyp || !row) {
    free(hyp);
    free(row);
    return L > T ? L : T; /* out of memory: count everything as wrong rather than crash */
  }
  int nh = 0, prev = 0;
  for (int t = 0; t < T; t++) {
    const float *zt = z + (size_t)t * zstride;
    int best = 0;
    for (int k = 1; k < n; k++)
      if (zt[k] > zt[best])
        best = k;
    if (best != 0 && best != prev)
      hyp[nh++] = best;
    prev = best;
  }
  /* Levenshtein distance, two rows. */
  int *r0 = row, *r1 = row + L + 1;
  for (int j = 0; j <= L; j++)
    r0[j] = j;
  for (int i = 1; i <= nh; i++) {
    r1[0] = i;
    for (int j = 1; j <= L; j++) {
      int sub = r0[j - 1] + (hyp[i - 1] != tokens[j - 1]);
      int del = r0[j] + 1, ins = r1[j - 1] + 1;
      int best = sub < del ? sub : del;
      r1[j] = best < ins ? best : ins;
    }
    int *tmp = r0;
    r0 = r1;
    r1 = tmp;
  }
  int d = r0[L];
  free(hyp);
  free(row);
  return d;
}
