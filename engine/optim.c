/* gst-rnn engine: optimizers (Adam, SGD with momentum), global-norm clipping, L2 weight decay and
 * learning-rate schedules.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The update rules are PyTorch's (torch.optim.Adam and torch.optim.SGD with weight_decay), so that
 * hyper-parameters carry over: clipping first (clip_grad_norm_), then weight decay added to the
 * gradient, then the optimizer.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

int rnn_optimizer_init(rnn_optimizer *o, const rnn_train_config *c, size_t n) {
  memset(o, 0, sizeof(*o));
  o->kind = c->optimizer;
  o->beta1 = c->beta1;
  o->beta2 = c->beta2;
  o->epsilon = c->epsilon;
  o->momentum = c->momentum;
  o->weight_decay = c->weight_decay;
  o->n = n;
  o->m = rnn_aligned_alloc(n * sizeof(float));
  if (o->kind == RNN_OPT_ADAM)
    o->v = rnn_aligned_alloc(n * sizeof(float));
  if (!o->m || (o->kind == RNN_OPT_ADAM && !o->v)) {
    rnn_optimizer_free(o);
    return RNN_ENOMEM;
  }
  return RNN_OK;
}

void rnn_optimizer_free(rnn_optimizer *o) {
  rnn_aligned_free(o->m);
  rnn_aligned_free(o->v);
  o->m = o->v = NULL;
}

double rnn_clip_gradient(float *g, size_t n, float clip) {
  double ss = 0.0;
  for (size_t i = 0; i < n; i++)
    ss += (double)g[i] * (double)g[i];
  double norm = sqrt(ss);
  if (clip > 0.0f && isfinite(norm) && norm > clip) {
    float f = (float)(clip / (norm + 1e-6));
    for (size_t i = 0; i < n; i++)
      g[i] *= f;
  }
  return norm;
}

void rnn_optimizer_step(rnn_optimizer *o, float *params, const float *grad, float lr) {
  const float wd = o->weight_decay;
  o->step++;
  if (o->kind == RNN_OPT_ADAM) {
    const float b1 = o->beta1, b2 = o->beta2, eps = o->epsilon;
    /* Bias correction folded into the step size and epsilon, as torch.optim.Adam does. */
    const double bc1 = 1.0 - pow((double)b1, (double)o->step);
    const double bc2 = 1.0 - pow((double)b2, (double)o->step);
    const float step_size = (float)(lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float *m = o->m, *v = o->v;
    for (size_t i = 0; i < o->n; i++) {
      float g = grad[i] + wd * params[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      params[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
  } else {
    const float mu = o->momentum;
    float *buf = o->m;
    /* torch.optim.SGD: the first step initialises the buffer with the gradient. */
    const int first = o->step == 1;
    for (size_t i = 0; i < o->n; i++) {
      float g = grad[i] + wd * params[i];
      if (mu != 0.0f) {
        buf[i] = first ? g : mu * buf[i] + g;
        g = buf[i];
      }
      params[i] -= lr * g;
    }
  }
}

void rnn_plateau_init(rnn_plateau *p) {
  p->best = INFINITY;
  p->bad = 0;
  p->factor = 1.0f;
}

void rnn_plateau_update(rnn_plateau *p, const rnn_train_config *c, double val_loss) {
  if (!isfinite(val_loss))
    return;
  /* A relative threshold of 1e-4, as ReduceLROnPlateau's default, so noise is no improvement. */
  if (val_loss < p->best * (1.0 - 1e-4) || p->best == INFINITY) {
    p->best = val_loss;
    p->bad = 0;
    return;
  }
  if (++p->bad >= (c->step_epochs > 0 ? c->step_epochs : 1)) {
    p->factor *= c->gamma;
    p->bad = 0;
  }
}

float rnn_schedule_lr(const rnn_train_config *c, int epoch, const rnn_plateau *p) {
  double lr = c->learning_rate;
  int e = epoch > 0 ? epoch - 1 : 0; /* epochs completed before this one */
  switch (c->schedule) {
  case RNN_SCHED_STEP:
    if (c->step_epochs > 0)
      lr *= pow((double)c->gamma, (double)(e / c->step_epochs));
    break;
  case RNN_SCHED_COSINE: {
    int total = c->epochs > 1 ? c->epochs - 1 : 1;
    double frac = e >= total ? 1.0 : (double)e / total;
    lr *= c->min_factor + (1.0 - c->min_factor) * 0.5 * (1.0 + cos(M_PI * frac));
    break;
  }
  case RNN_SCHED_PLATEAU:
    if (p)
      lr *= p->factor;
    break;
  case RNN_SCHED_CONSTANT:
  default:
    break;
  }
  return (float)lr;
}
