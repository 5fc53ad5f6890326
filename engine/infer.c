/* gst-rnn engine: inference. Streaming state and step, whole sequences, pooled outputs, batches.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Cell equations are exactly PyTorch's (x: layer input, h: previous hidden state):
 *   RNN   h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu
 *   LSTM  i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of (W_ih x + b_ih + W_hh h + b_hh) per gate
 *         c' = f*c + i*g,  h' = o * tanh(c')
 *   GRU   r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
 *         n = tanh(W_in x + b_in + r * (W_hn h + b_hn))            (RNN_CELL_GRU)
 *         n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)            (RNN_CELL_GRU_RESET_BEFORE)
 *         h' = (1 - z) * n + z * h
 *
 * Three paths share the per-row cell code:
 *   - streaming (rnn_step): one frame; W_ih x and W_hh h in one SIMD pass over the rows.
 *   - sequence (rnn_forward_sequence/pooled): per layer and direction, the input projection of all
 *     T frames is one cblas_sgemm; then each timestep is one SIMD matrix-vector product with W_hh
 *     and the fused cell update.
 *   - batch (rnn_forward_batch): sequences sorted by length (longest first) and packed time-major,
 *     so at every timestep the sequences still running are a prefix of the rows; the input
 *     projection is one GEMM over all frames of all sequences and the recurrent product one GEMM
 *     over the running rows per timestep. That product (a few to 64 rows times H x GH) goes to the
 *     packed small-GEMM kernel of gemm.h, shared with training: W_hh is packed once per call, layer
 *     and direction into the call's workspace (the model stays untouched), where OpenBLAS's sgemm
 *     would repack it at every timestep.
 * Grouped layers (rnn.h) use the same paths with every product split into its (gate, group)
 * blocks: one gemv, sgemm or packed small GEMM per block instead of one over the whole matrix, the
 * outputs landing at the dense rows so that the per-unit cell code is shared.
 * The model is only read: any number of threads may run these on one model at once.
 */
#include <cblas.h>
/* (cblas.h pulls in <complex.h>, which defines the macro I: no variable here is named I.) */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernels.h"
#include "model_internal.h"

/* Workspace pieces are rounded to whole cache lines (16 floats) so each starts 64-byte aligned. */
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static int is_gru(rnn_cell_kind k) { return k == RNN_CELL_GRU || k == RNN_CELL_GRU_RESET_BEFORE; }

static int max_gate_rows(const rnn_model *m) {
  int n = 0;
  for (int i = 0; i < m->num_layers; i++)
    if (m->layers[i].gates * m->layers[i].hidden_size > n)
      n = m->layers[i].gates * m->layers[i].hidden_size;
  return n;
}

static int max_hidden(const rnn_model *m) {
  int n = 0;
  for (int i = 0; i < m->num_layers; i++)
    if (m->layers[i].hidden_size > n)
      n = m->layers[i].hidden_size;
  return n;
}

static int max_layer_output(const rnn_model *m) {
  int n = 0;
  for (int i = 0; i < m->num_layers; i++)
    if (rnn_layer_output_size(&m->layers[i]) > n)
      n = rnn_layer_output_size(&m->layers[i]);
  return n;
}

/* ---------------------------------------------------------------------------------------------
 * The cell, per row
 * ------------------------------------------------------------------------------------------- */
/* The weights of one direction of one layer, resolved once. */
typedef struct {
  rnn_cell_kind cell;
  int IN, H, GH;
  const float *w_ih, *w_hh, *b_ih, *b_hh;
  /* Grouped layers (rnn.h): g groups of Hg units; w_hh has Hg columns. When the input is grouped
   * too (a layer above layer 0), w_ih has INg = halves * Hbg columns: group j reads Hbg values at
   * column half * Hb + j * Hbg of the input, for each half (fwd, bwd) of the layer below. */
  int groups, Hg;
  int ih_grouped, halves, Hb, Hbg, INg;
} dir_weights;

static dir_weights dir_weights_of(const rnn_model *m, int li, int d) {
  const rnn_layer *l = &m->layers[li];
  const rnn_direction_params *p = &l->dir[d];
  dir_weights w;
  w.cell = l->cell;
  w.IN = l->input_size;
  w.H = l->hidden_size;
  w.GH = l->gates * l->hidden_size;
  w.groups = l->groups;
  w.Hg = l->hidden_size / l->groups;
  w.ih_grouped = li > 0 && l->groups > 1;
  w.halves = w.ih_grouped ? 1 + m->layers[li - 1].bidirectional : 1;
  w.Hb = w.ih_grouped ? m->layers[li - 1].hidden_size : w.IN;
  w.Hbg = w.ih_grouped ? w.Hb / l->groups : w.IN;
  w.INg = rnn_layer_ih_cols(l, li);
  w.w_ih = m->params + p->w_ih;
  w.w_hh = m->params + p->w_hh;
  w.b_ih = m->params + p->b_ih;
  w.b_hh = m->params + p->b_hh;
  return w;
}

/* Grouped products, one SIMD matrix-vector product per (gate, group) block: the blocks are
 * contiguous in the weights, and their outputs land at the dense rows, so that the cell code
 * (per unit, gate-major) is the same for grouped and dense layers. */

/* y[(q - q0) * H + u] += W_hh[q*H + u] . h(group of u), for gates q0 .. q0 + nq - 1. */
static void grouped_hh_gemv(const rnn_kernel_ops *k, const dir_weights *w, int q0, int nq,
                            const float *h, float *y) {
  const int H = w->H, Hg = w->Hg;
  for (int q = q0; q < q0 + nq; q++)
    for (int j = 0; j < w->groups; j++) {
      size_t row = (size_t)q * (size_t)H + (size_t)j * (size_t)Hg;
      k->gemv_acc(w->w_hh + row * (size_t)Hg, Hg, Hg, Hg, h + (size_t)j * (size_t)Hg,
                  y + (size_t)(q - q0) * (size_t)H + (size_t)j * (size_t)Hg);
    }
}

/* a[r] += W_ih[r] . x for every row r (GH), grouped input or not. */
static void grouped_ih_gemv(const rnn_kernel_ops *k, const dir_weights *w, const float *x, float *a) {
  if (!w->ih_grouped) {
    k->gemv_acc(w->w_ih, w->IN, w->GH, w->IN, x, a);
    return;
  }
  const int H = w->H, Hg = w->Hg, Hbg = w->Hbg, G = w->GH / w->H;
  for (int q = 0; q < G; q++)
    for (int j = 0; j < w->groups; j++) {
      size_t row = (size_t)q * (size_t)H + (size_t)j * (size_t)Hg;
      for (int half = 0; half < w->halves; half++)
        k->gemv_acc(w->w_ih + row * (size_t)w->INg + (size_t)half * (size_t)Hbg, w->INg, Hg, Hbg,
                    x + (size_t)half * (size_t)w->Hb + (size_t)j * (size_t)Hbg, a + row);
    }
}

/* Before the recurrent product: a holds the pre-activations of the summed rows, with every bias.
 * Applies the gate nonlinearities that do not depend on the GRU candidate. For
 * GRU_RESET_BEFORE also writes r*h into rh (the input of the candidate's recurrent product). */
static void cell_gates(const rnn_kernel_ops *k, rnn_cell_kind cell, int H, float *a,
                       const float *h, float *rh) {
  switch (cell) {
  case RNN_CELL_RNN_TANH:
  case RNN_CELL_RNN_RELU: break;
  case RNN_CELL_LSTM:
    k->sigmoid(a, 2 * H); /* i, f */
    k->tanh(a + 2 * H, H); /* g */
    k->sigmoid(a + 3 * H, H); /* o */
    break;
  case RNN_CELL_GRU: k->sigmoid(a, 2 * H); break;
  case RNN_CELL_GRU_RESET_BEFORE:
    k->sigmoid(a, 2 * H);
    for (int j = 0; j < H; j++)
      rh[j] = a[j] * h[j];
    break;
  }
}

/* Completes the step: a from cell_gates (GRU: a[2H..3H) = W_in x + b_in), hn = the candidate's
 * recurrent part with b_hn (GRU only). Updates h (and c) in place; tmp: H floats of scratch. */
static void cell_finish(const rnn_kernel_ops *k, rnn_cell_kind cell, int H, float *a,
                        const float *hn, float *h, float *c, float *tmp) {
  switch (cell) {
  case RNN_CELL_RNN_TANH:
    k->tanh(a, H);
    memcpy(h, a, (size_t)H * sizeof(float));
    break;
  case RNN_CELL_RNN_RELU:
    k->relu(a, H);
    memcpy(h, a, (size_t)H * sizeof(float));
    break;
  case RNN_CELL_LSTM: {
    const float *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
    for (int j = 0; j < H; j++)
      tmp[j] = c[j] = f[j] * c[j] + i[j] * g[j];
    k->tanh(tmp, H);
    for (int j = 0; j < H; j++)
      h[j] = o[j] * tmp[j];
    break;
  }
  case RNN_CELL_GRU:
  case RNN_CELL_GRU_RESET_BEFORE: {
    const float *r = a, *z = a + H, *xn = a + 2 * H;
    if (cell == RNN_CELL_GRU)
      for (int j = 0; j < H; j++)
        tmp[j] = xn[j] + r[j] * hn[j];
    else
      for (int j = 0; j < H; j++)
        tmp[j] = xn[j] + hn[j];
    k->tanh(tmp, H);
    for (int j = 0; j < H; j++)
      h[j] = (1.0f - z[j]) * tmp[j] + z[j] * h[j];
    break;
  }
  }
}

/* One timestep of one direction for one sequence.
 * Input either as the frame x (streaming: the input product is fused with the recurrent one) or as
 * xproj = W_ih x + b_ih precomputed by a GEMM (sequence path).
 * Scratch: a (GH), hn (H), tmp (H). */
static void dir_step_grouped(const rnn_kernel_ops *k, const dir_weights *w, const float *x,
                             const float *xproj, float *h, float *c, float *a, float *hn, float *tmp) {
  const int H = w->H;
  const int rows = is_gru(w->cell) ? 2 * H : w->GH;
  if (xproj) {
    for (int j = 0; j < rows; j++)
      a[j] = xproj[j] + w->b_hh[j];
    if (rows < w->GH)
      memcpy(a + rows, xproj + rows, (size_t)(w->GH - rows) * sizeof(float));
  } else {
    for (int j = 0; j < rows; j++)
      a[j] = w->b_ih[j] + w->b_hh[j];
    if (rows < w->GH)
      memcpy(a + rows, w->b_ih + rows, (size_t)(w->GH - rows) * sizeof(float));
    grouped_ih_gemv(k, w, x, a);
  }
  grouped_hh_gemv(k, w, 0, rows / H, h, a);
  cell_gates(k, w->cell, H, a, h, tmp);
  if (is_gru(w->cell)) {
    memcpy(hn, w->b_hh + 2 * H, (size_t)H * sizeof(float));
    grouped_hh_gemv(k, w, 2, 1, w->cell == RNN_CELL_GRU ? h : tmp, hn);
  }
  cell_finish(k, w->cell, H, a, hn, h, c, tmp);
}

static void dir_step(const rnn_kernel_ops *k, const dir_weights *w, const float *x,
                     const float *xproj, float *h, float *c, float *a, float *hn, float *tmp) {
  const int H = w->H, IN = w->IN;
  const int rows = is_gru(w->cell) ? 2 * H : w->GH;
  if (w->groups > 1) {
    dir_step_grouped(k, w, x, xproj, h, c, a, hn, tmp);
    return;
  }
  if (xproj) {
    for (int j = 0; j < rows; j++)
      a[j] = xproj[j] + w->b_hh[j];
    if (rows < w->GH)
      memcpy(a + rows, xproj + rows, (size_t)(w->GH - rows) * sizeof(float));
    k->gemv_acc(w->w_hh, H, rows, H, h, a);
  } else {
    for (int j = 0; j < rows; j++)
      a[j] = w->b_ih[j] + w->b_hh[j];
    k->gemv2_acc(w->w_ih, IN, IN, x, w->w_hh, H, H, h, rows, a);
    if (rows < w->GH) {
      memcpy(a + rows, w->b_ih + rows, (size_t)(w->GH - rows) * sizeof(float));
      k->gemv_acc(w->w_ih + (size_t)rows * (size_t)IN, IN, w->GH - rows, IN, x, a + rows);
    }
  }
  cell_gates(k, w->cell, H, a, h, tmp);
  if (is_gru(w->cell)) {
    /* the candidate's recurrent part: W_hn h (GRU) or W_hn (r*h) (reset before, r*h in tmp) */
    memcpy(hn, w->b_hh + 2 * H, (size_t)H * sizeof(float));
    k->gemv_acc(w->w_hh + (size_t)2 * H * (size_t)H, H, H, H,
                w->cell == RNN_CELL_GRU ? h : tmp, hn);
  }
  cell_finish(k, w->cell, H, a, hn, h, c, tmp);
}

/* ---------------------------------------------------------------------------------------------
 * Head
 * ------------------------------------------------------------------------------------------- */
static void softmax_row(const rnn_kernel_ops *k, float *v, int n) {
  float mx = v[0];
  for (int i = 1; i < n; i++)
    if (v[i] > mx)
      mx = v[i];
  for (int i = 0; i < n; i++)
    v[i] -= mx;
  k->exp(v, n);
  double sum = 0.0;
  for (int i = 0; i < n; i++)
    sum += v[i];
  float inv = (float)(1.0 / sum);
  for (int i = 0; i < n; i++)
    v[i] *= inv;
}

/* The head's activation on rows x O logits, on each of the g heads' O/g outputs on its own. */
static void head_activate(const rnn_kernel_ops *k, rnn_head_kind head, float *v, int rows, int O,
                          int groups) {
  int Og = O / groups;
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < groups; j++) {
      float *part = v + (size_t)r * (size_t)O + (size_t)j * (size_t)Og;
      if (head == RNN_HEAD_SIGMOID)
        k->sigmoid(part, Og);
      else if (head == RNN_HEAD_SOFTMAX)
        softmax_row(k, part, Og);
    }
}

/* out[rows][Og] (row stride O) += W[Og][cols] applied to rows of X (row stride ldx). */
static void head_product(const rnn_kernel_ops *k, const float *W, int ldw, int Og, int cols,
                         const float *X, int ldx, int rows, float *out, int O) {
  if (rows == 1)
    k->gemv_acc(W, ldw, Og, cols, X, out);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Og, cols, 1.0f, X, ldx, W, ldw, 1.0f,
                out, O);
}

/* out[rows][O] = head(Y[rows][D]) (or a copy of Y without a head). A grouped head (rnn.h): head j
 * reads group j's forward units and, for a bidirectional top, its backward units (the second half
 * of its head.w columns), which are not next to each other in Y. */
static void apply_head(const rnn_kernel_ops *k, const rnn_model *m, const float *Y, int rows,
                       float *out) {
  int D = rnn_model_top_size(m);
  if (m->head == RNN_HEAD_NONE) {
    memcpy(out, Y, (size_t)rows * (size_t)D * sizeof(float));
    return;
  }
  int O = m->head_outputs, g = m->head_groups;
  const float *W = m->params + m->head_w, *b = m->params + m->head_b;
  for (int r = 0; r < rows; r++)
    memcpy(out + (size_t)r * (size_t)O, b, (size_t)O * sizeof(float));
  if (g == 1) {
    head_product(k, W, D, O, D, Y, D, rows, out, O);
  } else {
    const rnn_layer *top = &m->layers[m->num_layers - 1];
    int Og = O / g, Hg = top->hidden_size / g, cols = D / g;
    for (int j = 0; j < g; j++) {
      const float *Wj = W + (size_t)j * (size_t)Og * (size_t)cols;
      float *oj = out + (size_t)j * (size_t)Og;
      head_product(k, Wj, cols, Og, Hg, Y + (size_t)j * (size_t)Hg, D, rows, oj, O);
      if (top->bidirectional)
        head_product(k, Wj + Hg, cols, Og, Hg, Y + (size_t)top->hidden_size + (size_t)j * (size_t)Hg,
                     D, rows, oj, O);
    }
  }
  head_activate(k, m->head, out, rows, O, g);
}

/* The first layer's input for rows frames (rows x first_layer_width(m) into out): the per-sequence
 * normalisation with the sequence's statistics mu, inv when they are given (model_internal.h),
 * then x' = (x - mean) * scale when the model stores a normalisation; with
 * RNN_SEQUENCE_NORM_APPEND, each frame as it is followed by its per-sequence normalisation. */
static void normalize_rows(const rnn_model *m, const float *x, size_t rows, const float *mu,
                           const float *inv, float *out) {
  size_t IN = (size_t)m->input_size;
  if (m->seq_norm == RNN_SEQUENCE_NORM_APPEND) { /* no stored normalisation (rnn.h) */
    for (size_t r = 0; r < rows; r++) {
      const float *xr = x + r * IN;
      float *raw = out + r * 2 * IN, *normalized = raw + IN;
      for (size_t i = 0; i < IN; i++) {
        raw[i] = xr[i];
        normalized[i] = rnn_seq_norm_value(xr[i], mu[i], inv[i]);
      }
    }
    return;
  }
  for (size_t r = 0; r < rows; r++)
    for (size_t i = 0; i < IN; i++) {
      float v = x[r * IN + i];
      if (mu)
        v = rnn_seq_norm_value(v, mu[i], inv[i]);
      if (m->norm_mean)
        v = (v - m->norm_mean[i]) * m->norm_scale[i];
      out[r * IN + i] = v;
    }
}

/* Floats per frame of the first layer's input (normalize_rows' output). */
static size_t first_layer_width(const rnn_model *m) {
  return (size_t)rnn_first_layer_input_size(m->input_size, m->seq_norm);
}

/* Whether the first layer reads a transformed copy of the input rather than the input itself. */
static int input_transformed(const rnn_model *m) { return m->norm_mean != NULL || m->seq_norm; }

/* ---------------------------------------------------------------------------------------------
 * Streaming state
 * ------------------------------------------------------------------------------------------- */
struct rnn_state {
  rnn_model *model; /* a reference */
  const rnn_kernel_ops *k;
  float *h[RNN_MAX_LAYERS];
  float *c[RNN_MAX_LAYERS]; /* NULL unless the layer is an LSTM */
  float *state;             /* every h and c, in save/restore order: layer by layer, h then c */
  size_t state_floats;
  float *xnorm; /* the normalised frame */
  float *a, *hn, *tmp, *out;
  void *block; /* the one allocation behind every pointer above */
};

rnn_state *rnn_state_new(const rnn_model *m) {
  if (!m || !m->finalized || !rnn_model_streamable(m))
    return NULL;
  rnn_state *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  size_t state_floats = 0;
  for (int i = 0; i < m->num_layers; i++) {
    size_t H = (size_t)m->layers[i].hidden_size;
    state_floats += m->layers[i].cell == RNN_CELL_LSTM ? 2 * H : H;
  }
  size_t GH = (size_t)max_gate_rows(m), H = (size_t)max_hidden(m);
  size_t total = round16(state_floats) + round16((size_t)m->input_size) + round16(GH) +
                 2 * round16(H) + round16((size_t)rnn_model_output_size(m));
  float *p = rnn_aligned_alloc(total * sizeof(float));
  if (!p) {
    free(s);
    return NULL;
  }
  s->block = p;
  s->state = p;
  s->state_floats = state_floats;
  float *q = p;
  for (int i = 0; i < m->num_layers; i++) {
    size_t Hl = (size_t)m->layers[i].hidden_size;
    s->h[i] = q;
    q += Hl;
    if (m->layers[i].cell == RNN_CELL_LSTM) {
      s->c[i] = q;
      q += Hl;
    }
  }
  p += round16(state_floats);
  s->xnorm = p;
  p += round16((size_t)m->input_size);
  s->a = p;
  p += round16(GH);
  s->hn = p;
  p += round16(H);
  s->tmp = p;
  p += round16(H);
  s->out = p;
  s->model = rnn_model_ref((rnn_model *)m); /* refcount is the one mutable field */
  s->k = rnn_kernels();
  return s;
}

void rnn_state_free(rnn_state *s) {
  if (!s)
    return;
  rnn_model_unref(s->model);
  rnn_aligned_free(s->block);
  free(s);
}

void rnn_state_reset(rnn_state *s) {
  if (s)
    memset(s->state, 0, s->state_floats * sizeof(float));
}

/* Same layer shapes: the state of one is meaningful for the other. */
static int same_architecture(const rnn_model *a, const rnn_model *b) {
  if (a == b)
    return 1;
  if (a->input_size != b->input_size || a->num_layers != b->num_layers)
    return 0;
  for (int i = 0; i < a->num_layers; i++)
    if (a->layers[i].cell != b->layers[i].cell || a->layers[i].hidden_size != b->layers[i].hidden_size ||
        a->layers[i].groups != b->layers[i].groups)
      return 0;
  return 1;
}

int rnn_state_copy(rnn_state *dst, const rnn_state *src) {
  if (!dst || !src || !same_architecture(dst->model, src->model))
    return RNN_EINVAL;
  if (dst != src)
    memcpy(dst->state, src->state, src->state_floats * sizeof(float));
  return RNN_OK;
}

size_t rnn_state_size(const rnn_state *s) { return s ? s->state_floats : 0; }

void rnn_state_save(const rnn_state *s, float *out) {
  if (s && out)
    memcpy(out, s->state, s->state_floats * sizeof(float));
}

void rnn_state_restore(rnn_state *s, const float *in) {
  if (s && in)
    memcpy(s->state, in, s->state_floats * sizeof(float));
}

const float *rnn_step(rnn_state *s, const float *frame) {
  if (!s || !frame)
    return NULL;
  const rnn_model *m = s->model;
  const rnn_kernel_ops *k = s->k;
  const float *x = frame;
  if (m->norm_mean) { /* never per-sequence: rnn_state_new refuses such models */
    normalize_rows(m, frame, 1, NULL, NULL, s->xnorm);
    x = s->xnorm;
  }
  for (int li = 0; li < m->num_layers; li++) {
    dir_weights w = dir_weights_of(m, li, 0);
    dir_step(k, &w, x, NULL, s->h[li], s->c[li], s->a, s->hn, s->tmp);
    x = s->h[li];
  }
  apply_head(k, m, x, 1, s->out);
  return s->out;
}

/* ---------------------------------------------------------------------------------------------
 * Whole sequences
 * ------------------------------------------------------------------------------------------- */
/* P[rows][GH] = X[rows][IN] W_ih^T + b_ih: the input projection of every frame, one GEMM. */
static void input_projection(const dir_weights *w, const float *X, int rows, float *P) {
  for (int r = 0; r < rows; r++)
    memcpy(P + (size_t)r * (size_t)w->GH, w->b_ih, (size_t)w->GH * sizeof(float));
  if (w->ih_grouped) {
    /* one GEMM per (gate, group, half of the layer below): the group's rows of that gate read
     * the group's slice of that half */
    const int H = w->H, Hg = w->Hg, Hbg = w->Hbg, G = w->GH / w->H;
    for (int q = 0; q < G; q++)
      for (int j = 0; j < w->groups; j++) {
        size_t row = (size_t)q * (size_t)H + (size_t)j * (size_t)Hg;
        for (int half = 0; half < w->halves; half++)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, Hg, Hbg, 1.0f,
                      X + (size_t)half * (size_t)w->Hb + (size_t)j * (size_t)Hbg, w->IN,
                      w->w_ih + row * (size_t)w->INg + (size_t)half * (size_t)Hbg, w->INg, 1.0f,
                      P + row, w->GH);
      }
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, w->GH, w->IN, 1.0f, X, w->IN, w->w_ih,
              w->IN, 1.0f, P, w->GH);
}

typedef struct {
  float *x0;     /* normalised input, T x IN (NULL without normalisation) */
  float *mu, *inv; /* per-sequence statistics, IN each (NULL without per-sequence normalisation) */
  float *y[2];   /* layer outputs, ping-pong, T x max D */
  float *P;      /* input projection, T x max GH */
  float *h, *c, *a, *hn, *tmp;
  void *block;
} seq_workspace;

static int seq_workspace_init(seq_workspace *ws, const rnn_model *m, int T) {
  size_t t = (size_t)T, GH = (size_t)max_gate_rows(m), H = (size_t)max_hidden(m);
  size_t D = (size_t)max_layer_output(m), IN = (size_t)m->input_size;
  size_t x0 = input_transformed(m) ? round16(t * first_layer_width(m)) : 0;
  size_t stats = m->seq_norm ? 2 * round16(IN) : 0;
  size_t total = x0 + stats + 2 * round16(t * D) + round16(t * GH) + round16(GH) + 4 * round16(H);
  float *p = rnn_aligned_alloc(total * sizeof(float));
  if (!p)
    return RNN_ENOMEM;
  ws->block = p;
  ws->x0 = input_transformed(m) ? p : NULL;
  p += x0;
  ws->mu = m->seq_norm ? p : NULL;
  ws->inv = m->seq_norm ? p + round16(IN) : NULL;
  p += stats;
  ws->y[0] = p;
  p += round16(t * D);
  ws->y[1] = p;
  p += round16(t * D);
  ws->P = p;
  p += round16(t * GH);
  ws->a = p;
  p += round16(GH);
  ws->h = p;
  p += round16(H);
  ws->c = p;
  p += round16(H);
  ws->hn = p;
  p += round16(H);
  ws->tmp = p;
  return RNN_OK;
}

/* Runs every layer over x (T frames); returns the top layer's output (T x D) inside ws. */
static const float *run_layers(const rnn_model *m, const float *x, int T, seq_workspace *ws) {
  const rnn_kernel_ops *k = rnn_kernels();
  if (input_transformed(m)) {
    if (m->seq_norm)
      rnn_seq_norm_stats(x, T, m->input_size, ws->mu, ws->inv);
    normalize_rows(m, x, (size_t)T, ws->mu, ws->inv, ws->x0);
    x = ws->x0;
  }
  for (int li = 0; li < m->num_layers; li++) {
    const rnn_layer *l = &m->layers[li];
    float *Y = ws->y[li & 1];
    int D = rnn_layer_output_size(l);
    for (int d = 0; d < 1 + l->bidirectional; d++) {
      dir_weights w = dir_weights_of(m, li, d);
      input_projection(&w, x, T, ws->P);
      memset(ws->h, 0, (size_t)w.H * sizeof(float));
      memset(ws->c, 0, (size_t)w.H * sizeof(float));
      for (int s = 0; s < T; s++) {
        int t = d == 0 ? s : T - 1 - s; /* the backward direction runs from the last frame */
        dir_step(k, &w, NULL, ws->P + (size_t)t * (size_t)w.GH, ws->h, ws->c, ws->a, ws->hn, ws->tmp);
        memcpy(Y + (size_t)t * (size_t)D + (size_t)d * (size_t)w.H, ws->h, (size_t)w.H * sizeof(float));
      }
    }
    x = Y;
  }
  return x;
}

static int check_sequence_args(const rnn_model *m, const float *x, int T, const float *out) {
  if (!m || !m->finalized || T < 0 || (T > 0 && (!x || !out)))
    return RNN_EINVAL;
  return RNN_OK;
}

int rnn_forward_sequence(const rnn_model *m, const float *x, int T, float *out) {
  int rc = check_sequence_args(m, x, T, out);
  if (rc != RNN_OK || T == 0)
    return rc;
  seq_workspace ws;
  if ((rc = seq_workspace_init(&ws, m, T)) != RNN_OK)
    return rc;
  const float *Y = run_layers(m, x, T, &ws);
  apply_head(rnn_kernels(), m, Y, T, out);
  rnn_aligned_free(ws.block);
  return RNN_OK;
}

/* The pooled top-layer output (D floats) of Y (T x D). Pooling the hidden outputs then applying
 * the (affine) head equals pooling the head's logits. */
static void pool_top(const rnn_model *m, const float *Y, int T, float *pooled) {
  const rnn_layer *top = &m->layers[m->num_layers - 1];
  int D = rnn_layer_output_size(top), H = top->hidden_size;
  if (m->pool == RNN_POOL_MEAN) {
    for (int j = 0; j < D; j++) {
      double s = 0.0;
      for (int t = 0; t < T; t++)
        s += Y[(size_t)t * (size_t)D + (size_t)j];
      pooled[j] = (float)(s / T);
    }
    return;
  }
  /* LAST: the forward half at the last frame; the backward half at the first frame, where the
   * backward direction has seen the whole sequence. */
  memcpy(pooled, Y + (size_t)(T - 1) * (size_t)D, (size_t)H * sizeof(float));
  if (top->bidirectional)
    memcpy(pooled + H, Y + H, (size_t)H * sizeof(float));
}

int rnn_forward_pooled(const rnn_model *m, const float *x, int T, float *out) {
  if (!m || !m->finalized || T <= 0 || !x || !out)
    return RNN_EINVAL;
  seq_workspace ws;
  int rc = seq_workspace_init(&ws, m, T);
  if (rc != RNN_OK)
    return rc;
  const float *Y = run_layers(m, x, T, &ws);
  /* the other ping-pong buffer is free now and holds T x max D >= D floats */
  float *pooled = ws.y[m->num_layers & 1];
  pool_top(m, Y, T, pooled);
  apply_head(rnn_kernels(), m, pooled, 1, out);
  rnn_aligned_free(ws.block);
  return RNN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Batches of sequences of different lengths
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int B, maxT;
  size_t N;        /* frames in all */
  int *order;      /* order[rank] = sequence index, longest first */
  int *active;     /* active[t] = sequences with more than t frames (a prefix of the ranks) */
  size_t *offset;  /* offset[t] = first packed row of timestep t */
} batch_plan;

static void batch_plan_free(batch_plan *p) {
  free(p->order);
  free(p->active);
  free(p->offset);
}

static int batch_plan_init(batch_plan *p, const int *lengths, int B) {
  memset(p, 0, sizeof(*p));
  p->B = B;
  for (int b = 0; b < B; b++)
    if (lengths[b] > p->maxT)
      p->maxT = lengths[b];
  p->order = malloc((size_t)B * sizeof(int));
  p->active = calloc((size_t)p->maxT + 1, sizeof(int));
  p->offset = calloc((size_t)p->maxT + 1, sizeof(size_t));
  if (!p->order || !p->active || !p->offset) {
    batch_plan_free(p);
    return RNN_ENOMEM;
  }
  /* stable insertion sort by length, longest first (batches are small) */
  for (int b = 0; b < B; b++) {
    int r = b;
    while (r > 0 && lengths[p->order[r - 1]] < lengths[b]) {
      p->order[r] = p->order[r - 1];
      r--;
    }
    p->order[r] = b;
  }
  for (int t = 0; t < p->maxT; t++) {
    int n = 0;
    while (n < B && lengths[p->order[n]] > t)
      n++;
    p->active[t] = n;
    p->offset[t + 1] = p->offset[t] + (size_t)n;
  }
  p->N = p->offset[p->maxT];
  return RNN_OK;
}

/* Row of packed storage for the sequence at rank r, timestep t. */
static size_t packed_row(const batch_plan *p, int r, int t) { return p->offset[t] + (size_t)r; }

/* One direction of one layer over the whole batch. X (N x IN) packed input, Y (N x D) packed
 * output, column block d*H. Scratch: P (N x GH), Hs, Cs, R (B x H), A (B x GH), HN (B x H);
 * pack_hh, pack_hn: room for W_hh's gate rows and (GRU) W_hn packed for rnn_gemm; for a grouped
 * layer, pack_hh holds every (gate, group) block, described by blocks[]. */
typedef struct {
  float *P, *Hs, *Cs, *A, *HN, *R;
  float *pack_hh, *pack_hn;
  rnn_gemm_b *blocks; /* grouped layers: one per (gate, group), packed one after another at pack_hh */
} batch_scratch;

/* Packed space for the recurrent weights of one direction of layer l (either path). */
static size_t batch_pack_floats(const rnn_layer *l) {
  const int H = l->hidden_size, GH = l->gates * H;
  if (l->groups > 1) {
    size_t per = round16(rnn_gemm_packed_size(H / l->groups, H / l->groups));
    return (size_t)l->gates * (size_t)l->groups * per;
  }
  return round16(rnn_gemm_packed_size(H, GH)) + round16(rnn_gemm_packed_size(H, H));
}

/* One timestep's recurrent products of the n running rows of a grouped layer: for every gate
 * q0 .. q0 + nq - 1 and group j, C[:, (q - q0)*H + group j's units] += Hin[:, group j] W_qj^T. */
static void batch_grouped_products(const dir_weights *w, const batch_scratch *sc, int n,
                                   const float *Hin, int q0, int nq, float *C, size_t ldc) {
  const int H = w->H, Hg = w->Hg;
  for (int q = q0; q < q0 + nq; q++)
    for (int j = 0; j < w->groups; j++)
      rnn_gemm(n, Hin + (size_t)j * (size_t)Hg, 0, (size_t)H, &sc->blocks[q * w->groups + j],
               C + (size_t)(q - q0) * (size_t)H + (size_t)j * (size_t)Hg, ldc, 1);
}

static void batch_direction(const rnn_kernel_ops *k, const batch_plan *p, const dir_weights *w,
                            int d, const float *X, float *Y, int D, batch_scratch *sc) {
  const int H = w->H, GH = w->GH;
  const int rows = is_gru(w->cell) ? 2 * H : GH;
  input_projection(w, X, (int)p->N, sc->P);
  /* B = W_hh^T (H x rows): W_hh is stored rows x H, i.e. as B's transpose. */
  rnn_gemm_b whh, whn;
  memset(&whh, 0, sizeof whh); /* set below on the dense path only */
  memset(&whn, 0, sizeof whn);
  const int grouped = w->groups > 1;
  if (grouped) {
    const int Hg = w->Hg, G = GH / H;
    size_t per = round16(rnn_gemm_packed_size(Hg, Hg));
    for (int q = 0; q < G; q++)
      for (int j = 0; j < w->groups; j++) {
        size_t row = (size_t)q * (size_t)H + (size_t)j * (size_t)Hg;
        rnn_gemm_b_init(&sc->blocks[q * w->groups + j], w->w_hh + row * (size_t)Hg, (size_t)Hg, 1,
                        Hg, Hg, sc->pack_hh + (size_t)(q * w->groups + j) * per);
      }
  } else {
    rnn_gemm_b_init(&whh, w->w_hh, (size_t)H, 1, H, rows, sc->pack_hh);
    if (is_gru(w->cell))
      rnn_gemm_b_init(&whn, w->w_hh + (size_t)2 * H * (size_t)H, (size_t)H, 1, H, H, sc->pack_hn);
  }
  memset(sc->Hs, 0, (size_t)p->B * (size_t)H * sizeof(float));
  memset(sc->Cs, 0, (size_t)p->B * (size_t)H * sizeof(float));
  for (int s = 0; s < p->maxT; s++) {
    /* Backward: sweeping t down from maxT-1, a sequence joins (with its zero state) at its own
     * last frame, and the running ones are still a prefix of the ranks. */
    int t = d == 0 ? s : p->maxT - 1 - s;
    int n = p->active[t];
    const float *Pt = sc->P + p->offset[t] * (size_t)GH;
    for (int r = 0; r < n; r++) {
      float *a = sc->A + (size_t)r * (size_t)GH;
      const float *xp = Pt + (size_t)r * (size_t)GH;
      for (int j = 0; j < rows; j++)
        a[j] = xp[j] + w->b_hh[j];
      if (rows < GH)
        memcpy(a + rows, xp + rows, (size_t)(GH - rows) * sizeof(float));
    }
    /* the recurrent product of every running sequence: one GEMM */
    if (grouped)
      batch_grouped_products(w, sc, n, sc->Hs, 0, rows / H, sc->A, (size_t)GH);
    else
      rnn_gemm(n, sc->Hs, 0, (size_t)H, &whh, sc->A, (size_t)GH, 1);
    for (int r = 0; r < n; r++)
      cell_gates(k, w->cell, H, sc->A + (size_t)r * (size_t)GH, sc->Hs + (size_t)r * (size_t)H,
                 sc->R + (size_t)r * (size_t)H);
    if (is_gru(w->cell)) {
      for (int r = 0; r < n; r++)
        memcpy(sc->HN + (size_t)r * (size_t)H, w->b_hh + 2 * H, (size_t)H * sizeof(float));
      const float *hin = w->cell == RNN_CELL_GRU ? sc->Hs : sc->R;
      if (grouped)
        batch_grouped_products(w, sc, n, hin, 2, 1, sc->HN, (size_t)H);
      else
        rnn_gemm(n, hin, 0, (size_t)H, &whn, sc->HN, (size_t)H, 1);
    }
    for (int r = 0; r < n; r++) {
      float *h = sc->Hs + (size_t)r * (size_t)H;
      cell_finish(k, w->cell, H, sc->A + (size_t)r * (size_t)GH, sc->HN + (size_t)r * (size_t)H, h,
                  sc->Cs + (size_t)r * (size_t)H, sc->R + (size_t)r * (size_t)H);
      memcpy(Y + packed_row(p, r, t) * (size_t)D + (size_t)d * (size_t)H, h, (size_t)H * sizeof(float));
    }
  }
}

static int check_batch_args(const rnn_model *m, const float *const *xs, const int *lengths,
                            int batch, float *const *outs) {
  if (!m || !m->finalized || batch < 0 || (batch > 0 && (!xs || !lengths || !outs)))
    return RNN_EINVAL;
  for (int b = 0; b < batch; b++)
    if (lengths[b] < 0 || (lengths[b] > 0 && (!xs[b] || !outs[b])))
      return RNN_EINVAL;
  return RNN_OK;
}

int rnn_forward_batch(const rnn_model *m, const float *const *xs, const int *lengths, int batch,
                      float *const *outs) {
  int rc = check_batch_args(m, xs, lengths, batch, outs);
  if (rc != RNN_OK || batch == 0)
    return rc;
  batch_plan p;
  if ((rc = batch_plan_init(&p, lengths, batch)) != RNN_OK)
    return rc;
  if (p.N == 0 || p.N > INT_MAX) { /* BLAS takes int row counts */
    batch_plan_free(&p);
    return p.N == 0 ? RNN_OK : RNN_EINVAL;
  }
  const rnn_kernel_ops *k = rnn_kernels();
  const size_t N = p.N, B = (size_t)batch, IN = (size_t)m->input_size;
  const size_t GH = (size_t)max_gate_rows(m), H = (size_t)max_hidden(m);
  const size_t D = (size_t)max_layer_output(m), O = (size_t)rnn_model_output_size(m);
  const size_t stats = m->seq_norm ? 2 * round16(B * IN) : 0;
  /* pack_hn sits after the room for the largest dense W_hh (max H x max GH) */
  size_t pack = round16(rnn_gemm_packed_size((int)H, (int)GH)) +
                round16(rnn_gemm_packed_size((int)H, (int)H)),
         n_blocks = 1;
  for (int li = 0; li < m->num_layers; li++) {
    const rnn_layer *l = &m->layers[li];
    if (batch_pack_floats(l) > pack)
      pack = batch_pack_floats(l);
    if ((size_t)l->gates * (size_t)l->groups > n_blocks)
      n_blocks = (size_t)l->gates * (size_t)l->groups;
  }
  const size_t IN0 = first_layer_width(m); /* X holds the first layer's input */
  size_t total = round16(N * IN0) + stats + 2 * round16(N * D) + round16(N * GH) + round16(N * O) +
                 round16(B * GH) + 4 * round16(B * H) + pack;
  float *block = rnn_aligned_alloc(total * sizeof(float));
  rnn_gemm_b *blocks = malloc(n_blocks * sizeof(*blocks));
  if (!block || !blocks) {
    rnn_aligned_free(block);
    free(blocks);
    batch_plan_free(&p);
    return RNN_ENOMEM;
  }
  float *q = block;
  float *X = q;
  q += round16(N * IN0);
  float *Mu = m->seq_norm ? q : NULL, *Inv = m->seq_norm ? q + round16(B * IN) : NULL;
  q += stats;
  float *Yb[2] = {q, q + round16(N * D)};
  q += 2 * round16(N * D);
  batch_scratch sc;
  sc.P = q;
  q += round16(N * GH);
  float *Out = q;
  q += round16(N * O);
  sc.A = q;
  q += round16(B * GH);
  sc.Hs = q;
  q += round16(B * H);
  sc.Cs = q;
  q += round16(B * H);
  sc.HN = q;
  q += round16(B * H);
  sc.R = q;
  q += round16(B * H);
  /* dense layers: W_hh's summed gates, then (GRU) W_hn; grouped layers: every block */
  sc.pack_hh = q;
  sc.pack_hn = q + round16(rnn_gemm_packed_size((int)H, (int)GH));
  sc.blocks = blocks;

  /* Per-sequence statistics, by rank, each over its own sequence's frames only. */
  if (m->seq_norm)
    for (int r = 0; r < batch; r++)
      if (lengths[p.order[r]] > 0)
        rnn_seq_norm_stats(xs[p.order[r]], lengths[p.order[r]], (int)IN, Mu + (size_t)r * IN,
                           Inv + (size_t)r * IN);
  /* pack time-major, longest sequence first, normalising on the way */
  for (int t = 0; t < p.maxT; t++)
    for (int r = 0; r < p.active[t]; r++) {
      const float *src = xs[p.order[r]] + (size_t)t * IN;
      float *dst = X + packed_row(&p, r, t) * IN0;
      if (input_transformed(m))
        normalize_rows(m, src, 1, Mu ? Mu + (size_t)r * IN : NULL, Inv ? Inv + (size_t)r * IN : NULL,
                       dst);
      else
        memcpy(dst, src, IN * sizeof(float));
    }

  const float *in = X;
  for (int li = 0; li < m->num_layers; li++) {
    const rnn_layer *l = &m->layers[li];
    float *Y = Yb[li & 1];
    for (int d = 0; d < 1 + l->bidirectional; d++) {
      dir_weights w = dir_weights_of(m, li, d);
      batch_direction(k, &p, &w, d, in, Y, rnn_layer_output_size(l), &sc);
    }
    in = Y;
  }
  apply_head(k, m, in, (int)N, Out);

  for (int t = 0; t < p.maxT; t++)
    for (int r = 0; r < p.active[t]; r++)
      memcpy(outs[p.order[r]] + (size_t)t * O, Out + packed_row(&p, r, t) * O, O * sizeof(float));
  rnn_aligned_free(block);
  free(blocks);
  batch_plan_free(&p);
  return RNN_OK;
}
