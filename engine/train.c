/* gst-rnn engine: the training forward pass (caching what backprop needs) and backpropagation
 * through time, for every cell kind, stacked and bidirectional layers, and the head.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The unit of work is a shard: up to RNN_SHARD_ROWS sequences, sorted longest first and laid out
 * time-major ([t][row][feature]). Because the rows are sorted, the rows still running at frame t
 * are a prefix 0..nact[t]-1, so every recurrent step is one GEMM over exactly the running rows and
 * padding costs nothing there. Finished rows keep zeros in their outputs, which is what a
 * backward-direction layer must start from when a row's sequence begins (at its last frame).
 *
 * Per layer and direction:
 *   forward   one GEMM for the input projection of all frames, then per frame one GEMM with the
 *             recurrent weights and one fused elementwise kernel (gates, cell, output);
 *   backward  per frame one fused kernel turning dh into the gates' pre-activation gradients (they
 *             overwrite the cached activations) and one GEMM for dh of the previous frame; then
 *             the weight gradients of all frames as single GEMMs, and the input gradient as one.
 * The GEMMs go to the BLAS, or on AVX-512 machines to the packed kernel below (rec_gemm_avx512).
 * The math is PyTorch's (gate order, GRU reset placement, bias placement).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "gemm.h"
#include "train_internal.h"

/* Without this, GCC keeps the clamps and selects of the activations as branches (a comparison
 * could trap) and the kernels do not vectorise. No code here relies on floating-point traps. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* Elementwise kernels are compiled three times on x86-64 GCC: for AVX-512 machines, for AVX2+FMA
 * ones and for the baseline; the loader picks one at start-up. The math is the same in all. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__)
#define RNN_VECTOR_CLONES                                                                          \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RNN_VECTOR_CLONES
#endif

/* ---------------------------------------------------------------------------------------------
 * Activations: branch-free so that the kernels vectorise (libm's expf does not).
 * ------------------------------------------------------------------------------------------- */
/* e^x to about 2 ulp for x in [-87, 88] (Cephes' expf: range reduction to |r| <= ln2/2 and a
 * degree-6 polynomial, then the exponent is built directly). */
static inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

static inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

static inline float tanh_approx(float x) {
  float a = x < 0.0f ? -x : x;
  float e = exp_approx(-2.0f * a);
  float t = (1.0f - e) / (1.0f + e);
  return x < 0.0f ? -t : t;
}

/* ---------------------------------------------------------------------------------------------
 * Fused per-frame kernels. nb rows; G holds each row's gates (stride GH). Each row is handled by
 * an inline function whose pointers are restrict parameters: that is what lets the compiler
 * vectorise without run-time alias checks (one row's gate blocks never overlap).
 * ------------------------------------------------------------------------------------------- */
#define R restrict
static inline void lstm_forward_row(int H, float *R gi, float *R gf, float *R gg, float *R go,
                                    const float *R bi, const float *R bf, const float *R bg,
                                    const float *R bo, const float *R cp, float *R c, float *R tc,
                                    float *R y) {
  for (int j = 0; j < H; j++) {
    float i = sigmoid_approx(gi[j] + bi[j]);
    float f = sigmoid_approx(gf[j] + bf[j]);
    float g = tanh_approx(gg[j] + bg[j]);
    float o = sigmoid_approx(go[j] + bo[j]);
    float cc = f * cp[j] + i * g;
    float t = tanh_approx(cc);
    gi[j] = i;
    gf[j] = f;
    gg[j] = g;
    go[j] = o;
    c[j] = cc;
    tc[j] = t;
    y[j] = o * t;
  }
}

RNN_VECTOR_CLONES
static void lstm_forward_rows(int nb, int H, float *G, const float *bias, const float *cp,
                              size_t ldcp, float *c, float *tc, float *y, size_t ldy) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 4 * H;
    lstm_forward_row(H, g, g + H, g + 2 * H, g + 3 * H, bias, bias + H, bias + 2 * H, bias + 3 * H,
                     cp + (size_t)b * ldcp, c + (size_t)b * H, tc + (size_t)b * H,
                     y + (size_t)b * ldy);
  }
}

static inline void lstm_backward_row(int H, float *R gi, float *R gf, float *R gg, float *R go,
                                     const float *R tc, const float *R cp, const float *R dy,
                                     const float *R dh, float *R dc) {
  for (int j = 0; j < H; j++) {
    float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
    float d = dy[j] + dh[j];
    float dct = d * o * (1.0f - t * t) + dc[j];
    gi[j] = dct * g * i * (1.0f - i);
    gf[j] = dct * cp[j] * f * (1.0f - f);
    gg[j] = dct * i * (1.0f - g * g);
    go[j] = d * t * o * (1.0f - o);
    dc[j] = dct * f;
  }
}

RNN_VECTOR_CLONES
static void lstm_backward_rows(int nb, int H, float *G, const float *tc, const float *cp,
                               size_t ldcp, const float *dy, size_t lddy, const float *dh, float *dc) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 4 * H;
    lstm_backward_row(H, g, g + H, g + 2 * H, g + 3 * H, tc + (size_t)b * H, cp + (size_t)b * ldcp,
                      dy + (size_t)b * lddy, dh + (size_t)b * H, dc + (size_t)b * H);
  }
}

/* GRU, reset after the product: hh = W_hh h (without the bias) in hr|hz|hn. */
static inline void gru_forward_row(int H, float *R gr, float *R gz, float *R gn, const float *R br,
                                   const float *R bz, const float *R bn, const float *R b_hn,
                                   const float *R hr, const float *R hz, const float *R hh_n,
                                   const float *R hp, float *R hn_out, float *R y) {
  for (int j = 0; j < H; j++) {
    float r = sigmoid_approx(gr[j] + br[j] + hr[j]);
    float z = sigmoid_approx(gz[j] + bz[j] + hz[j]);
    float hn = hh_n[j] + b_hn[j];
    float n = tanh_approx(gn[j] + bn[j] + r * hn);
    gr[j] = r;
    gz[j] = z;
    gn[j] = n;
    hn_out[j] = hn;
    y[j] = (1.0f - z) * n + z * hp[j];
  }
}

RNN_VECTOR_CLONES
static void gru_forward_rows(int nb, int H, float *G, const float *bias, const float *b_hn,
                             const float *HH, const float *hp, size_t ldhp, float *hn_out, float *y,
                             size_t ldy) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 3 * H;
    const float *hh = HH + (size_t)b * 3 * H;
    gru_forward_row(H, g, g + H, g + 2 * H, bias, bias + H, bias + 2 * H, b_hn, hh, hh + H,
                    hh + 2 * H, hp + (size_t)b * ldhp, hn_out + (size_t)b * H, y + (size_t)b * ldy);
  }
}

static inline void gru_backward_row(int H, float *R gr, float *R gz, float *R gn, float *R dr,
                                    float *R dz, float *R dn, const float *R hn, const float *R hp,
                                    const float *R dy, float *R dh) {
  for (int j = 0; j < H; j++) {
    float r = gr[j], z = gz[j], n = gn[j];
    float d = dy[j] + dh[j];
    float dan = d * (1.0f - z) * (1.0f - n * n);
    float daz = d * (hp[j] - n) * z * (1.0f - z);
    float dar = dan * hn[j] * r * (1.0f - r);
    gr[j] = dar;
    gz[j] = daz;
    gn[j] = dan;
    dr[j] = dar;
    dz[j] = daz;
    dn[j] = dan * r;
    dh[j] = d * z;
  }
}

RNN_VECTOR_CLONES
static void gru_backward_rows(int nb, int H, float *G, float *DHH, const float *hn_in,
                              const float *hp, size_t ldhp, const float *dy, size_t lddy, float *dh) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 3 * H, *dhh = DHH + (size_t)b * 3 * H;
    gru_backward_row(H, g, g + H, g + 2 * H, dhh, dhh + H, dhh + 2 * H, hn_in + (size_t)b * H,
                     hp + (size_t)b * ldhp, dy + (size_t)b * lddy, dh + (size_t)b * H);
  }
}

/* GRU, reset before the product, first half: r and z from rz = W_hr|hz h; rh = r * h. */
static inline void grub_gates_row(int H, float *R gr, float *R gz, const float *R br,
                                  const float *R bz, const float *R hr, const float *R hz,
                                  const float *R hp, float *R rh) {
  for (int j = 0; j < H; j++) {
    float r = sigmoid_approx(gr[j] + br[j] + hr[j]);
    float z = sigmoid_approx(gz[j] + bz[j] + hz[j]);
    gr[j] = r;
    gz[j] = z;
    rh[j] = r * hp[j];
  }
}

RNN_VECTOR_CLONES
static void grub_forward_gates(int nb, int H, float *G, const float *bias, const float *RZ,
                               const float *hp, size_t ldhp, float *rh) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 3 * H;
    const float *rz = RZ + (size_t)b * 2 * H;
    grub_gates_row(H, g, g + H, bias, bias + H, rz, rz + H, hp + (size_t)b * ldhp,
                   rh + (size_t)b * H);
  }
}

/* Second half: n from N = W_hn (r * h). */
static inline void grub_output_row(int H, const float *R gz, float *R gn, const float *R bn,
                                   const float *R nh, const float *R hp, float *R y) {
  for (int j = 0; j < H; j++) {
    float z = gz[j];
    float n = tanh_approx(gn[j] + bn[j] + nh[j]);
    gn[j] = n;
    y[j] = (1.0f - z) * n + z * hp[j];
  }
}

RNN_VECTOR_CLONES
static void grub_forward_output(int nb, int H, float *G, const float *bias, const float *N,
                                const float *hp, size_t ldhp, float *y, size_t ldy) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 3 * H;
    grub_output_row(H, g + H, g + 2 * H, bias + 2 * H, N + (size_t)b * H, hp + (size_t)b * ldhp,
                    y + (size_t)b * ldy);
  }
}

static inline void grub_zn_row(int H, float *R gz, float *R gn, const float *R hp,
                               const float *R dy, float *R dh) {
  for (int j = 0; j < H; j++) {
    float z = gz[j], n = gn[j];
    float d = dy[j] + dh[j];
    gz[j] = d * (hp[j] - n) * z * (1.0f - z);
    gn[j] = d * (1.0f - z) * (1.0f - n * n);
    dh[j] = d * z;
  }
}

RNN_VECTOR_CLONES
static void grub_backward_zn(int nb, int H, float *G, const float *hp, size_t ldhp, const float *dy,
                             size_t lddy, float *dh) {
  for (int b = 0; b < nb; b++) {
    float *g = G + (size_t)b * 3 * H;
    grub_zn_row(H, g + H, g + 2 * H, hp + (size_t)b * ldhp, dy + (size_t)b * lddy,
                dh + (size_t)b * H);
  }
}

/* drh = d(r * h): into dar and dh. */
static inline void grub_r_row(int H, float *R gr, const float *R drh, const float *R hp,
                              float *R dh) {
  for (int j = 0; j < H; j++) {
    float r = gr[j];
    gr[j] = drh[j] * hp[j] * r * (1.0f - r);
    dh[j] += drh[j] * r;
  }
}

RNN_VECTOR_CLONES
static void grub_backward_r(int nb, int H, float *G, const float *DRH, const float *hp, size_t ldhp,
                            float *dh) {
  for (int b = 0; b < nb; b++)
    grub_r_row(H, G + (size_t)b * 3 * H, DRH + (size_t)b * H, hp + (size_t)b * ldhp,
               dh + (size_t)b * H);
}

static inline void rnn_forward_row(int H, int relu, float *R g, const float *R bias, float *R y) {
  for (int j = 0; j < H; j++) {
    float a = g[j] + bias[j];
    float h = relu ? (a > 0.0f ? a : 0.0f) : tanh_approx(a);
    g[j] = h;
    y[j] = h;
  }
}

RNN_VECTOR_CLONES
static void rnn_forward_rows(int nb, int H, int relu, float *G, const float *bias, float *y,
                             size_t ldy) {
  for (int b = 0; b < nb; b++)
    rnn_forward_row(H, relu, G + (size_t)b * H, bias, y + (size_t)b * ldy);
}

static inline void rnn_backward_row(int H, int relu, float *R g, const float *R dy,
                                    const float *R dh) {
  for (int j = 0; j < H; j++) {
    float h = g[j], d = dy[j] + dh[j];
    g[j] = relu ? (h > 0.0f ? d : 0.0f) : d * (1.0f - h * h);
  }
}

RNN_VECTOR_CLONES
static void rnn_backward_rows(int nb, int H, int relu, float *G, const float *dy, size_t lddy,
                              const float *dh) {
  for (int b = 0; b < nb; b++)
    rnn_backward_row(H, relu, G + (size_t)b * H, dy + (size_t)b * lddy, dh + (size_t)b * H);
}
#undef R

/* ---------------------------------------------------------------------------------------------
 * Matrix products: the packed kernel of gemm.h. B (the weights, fixed for the whole chunk) is
 * packed once per layer and direction; the same kernel does the products over all frames (input
 * projection, input gradient, weight gradients), where it measured faster than the Debian OpenBLAS
 * 0.3.21 build.
 * ------------------------------------------------------------------------------------------- */
void rnn_train_force_blas(int on) { rnn_gemm_force_blas(on); }

static void rec_gemm(int M, const float *A, size_t lda, const rnn_gemm_b *b, float *C, size_t ldc,
                     int accumulate) {
  rnn_gemm(M, A, 0, lda, b, C, ldc, accumulate);
}

/* ---------------------------------------------------------------------------------------------
 * The shard and its buffers
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  float *gates; /* [T][B][GH]: activations after the forward pass, pre-activation grads after */
  float *c, *tc; /* LSTM: cell and tanh(cell), [T][B][H] */
  float *aux;    /* GRU: W_hn h + b_hn; GRU_RESET_BEFORE: r * h; [T][B][H] */
  float *dhh;    /* GRU: recurrent-side pre-activation gradients [T][B][3H] */
} dir_buffers;

typedef struct {
  float *y;    /* [T][B][D] output of the layer */
  float *in;   /* the layer's input after dropout ([T][B][nin]), NULL when there is no dropout */
  float *mask; /* the dropout mask of `in` (0 or 1/(1-p)) */
  dir_buffers dir[2];
} layer_buffers;

struct rnn_shard {
  int rows, T, nin;
  int len[RNN_SHARD_ROWS];
  const rnn_example *ex[RNN_SHARD_ROWS];
  float *x; /* [T][B][nin] normalised inputs, zero padded */
  size_t x_cap;
  float *seqstat; /* per-sequence normalisation of the row being loaded: mean, inverse std [nin] */
  size_t seqstat_cap;
  float *state; /* carried state for TBPTT: per layer h [B][H] then c [B][H] */
  size_t state_cap;
  float *arena; /* per-chunk buffers below */
  size_t arena_cap;
  int *nact;
  size_t nact_cap;

  layer_buffers layers[RNN_MAX_LAYERS];
  float *top, *top_mask; /* head input after dropout, [T][B][D] (NULL without dropout) */
  float *logits, *dlogits; /* [T][B][O] per frame, or [B][O] pooled */
  float *pooled, *dpooled; /* [B][D] */
  float *dy[2];            /* [T][B][Dmax] gradient w.r.t. a layer's output / input */
  float *dh, *dc, *tmp, *zeros, *bias; /* [B][GHmax] and [GHmax] */
  float *pack[2];                      /* packed recurrent weights */
  float *packbig;                      /* packed operand of the all-frames products */
};

rnn_shard *rnn_shard_new(void) { return calloc(1, sizeof(rnn_shard)); }

void rnn_shard_free(rnn_shard *s) {
  if (!s)
    return;
  rnn_aligned_free(s->x);
  rnn_aligned_free(s->seqstat);
  rnn_aligned_free(s->state);
  rnn_aligned_free(s->arena);
  free(s->nact);
  free(s);
}

static int grow(float **p, size_t *cap, size_t n) {
  if (n <= *cap)
    return RNN_OK;
  float *q = rnn_aligned_alloc(n * sizeof(float));
  if (!q)
    return RNN_ENOMEM;
  rnn_aligned_free(*p);
  *p = q;
  *cap = n;
  return RNN_OK;
}

static int loss_per_frame(const rnn_train_config *c) {
  return c->loss == RNN_LOSS_CE_FRAME || c->loss == RNN_LOSS_CTC ||
         ((c->loss == RNN_LOSS_BCE || c->loss == RNN_LOSS_MSE) && c->per_frame);
}

static int head_width(const rnn_model *m) {
  return m->head == RNN_HEAD_NONE ? rnn_model_top_size(m) : m->head_outputs;
}

/* Assigns every per-chunk buffer for T frames and B rows, growing the arena when needed. When
 * assign is 0 only the size is computed. */
static size_t layout(rnn_shard *s, const rnn_model *m, const rnn_train_config *c, int T, int B,
                     int dropout, int assign) {
  size_t off = 0;
  const size_t TB = (size_t)T * (size_t)B;
#define TAKE(ptr, count)                                                                           \
  do {                                                                                             \
    if (assign)                                                                                    \
      (ptr) = s->arena + off;                                                                      \
    off += ((size_t)(count) + 15) & ~(size_t)15;                                                   \
  } while (0)
  int dmax = m->input_size, ghmax = 1;
  for (int l = 0; l < m->num_layers; l++) {
    const rnn_layer *L = &m->layers[l];
    layer_buffers *lb = &s->layers[l];
    int D = rnn_layer_output_size(L), H = L->hidden_size, GH = L->gates * H;
    dmax = D > dmax ? D : dmax;
    ghmax = GH > ghmax ? GH : ghmax;
    TAKE(lb->y, TB * D);
    if (l > 0 && dropout) {
      TAKE(lb->in, TB * L->input_size);
      TAKE(lb->mask, TB * L->input_size);
    } else if (assign) {
      lb->in = lb->mask = NULL;
    }
    for (int d = 0; d < 1 + L->bidirectional; d++) {
      dir_buffers *db = &lb->dir[d];
      TAKE(db->gates, TB * GH);
      if (assign)
        db->c = db->tc = db->aux = db->dhh = NULL;
      if (L->cell == RNN_CELL_LSTM) {
        TAKE(db->c, TB * H);
        TAKE(db->tc, TB * H);
      }
      if (L->cell == RNN_CELL_GRU || L->cell == RNN_CELL_GRU_RESET_BEFORE)
        TAKE(db->aux, TB * H);
      if (L->cell == RNN_CELL_GRU)
        TAKE(db->dhh, TB * GH);
    }
  }
  int D = rnn_model_top_size(m), O = head_width(m);
  if (dropout) {
    TAKE(s->top, TB * D);
    TAKE(s->top_mask, TB * D);
  } else if (assign) {
    s->top = s->top_mask = NULL;
  }
  size_t rows_out = loss_per_frame(c) ? TB : (size_t)B;
  TAKE(s->logits, rows_out * O);
  TAKE(s->dlogits, rows_out * O);
  TAKE(s->pooled, (size_t)B * D);
  TAKE(s->dpooled, (size_t)B * D);
  TAKE(s->dy[0], TB * dmax);
  TAKE(s->dy[1], TB * dmax);
  TAKE(s->dh, (size_t)B * ghmax);
  TAKE(s->dc, (size_t)B * ghmax);
  TAKE(s->tmp, (size_t)B * ghmax);
  TAKE(s->zeros, (size_t)B * ghmax);
  TAKE(s->bias, (size_t)ghmax);
  size_t packmax = 0;
  for (int l = 0; l < m->num_layers; l++) {
    int H = m->layers[l].hidden_size, GH = m->layers[l].gates * H;
    size_t a = rnn_gemm_packed_size(H, GH), b = rnn_gemm_packed_size(GH, H);
    packmax = a > packmax ? a : packmax;
    packmax = b > packmax ? b : packmax;
  }
  TAKE(s->pack[0], packmax);
  TAKE(s->pack[1], packmax);
  size_t bigmax = 0;
  for (int l = 0; l < m->num_layers; l++) {
    int H = m->layers[l].hidden_size, GH = m->layers[l].gates * H, nin = m->layers[l].input_size;
    size_t cand[4] = {rnn_gemm_packed_size(nin, GH), rnn_gemm_packed_size(GH, nin),
                      rnn_gemm_packed_size((int)TB, nin), rnn_gemm_packed_size((int)TB, H)};
    for (int k = 0; k < 4; k++)
      bigmax = cand[k] > bigmax ? cand[k] : bigmax;
  }
  TAKE(s->packbig, bigmax);
#undef TAKE
  return off;
}

int rnn_shard_load(rnn_shard *s, const rnn_model *m, const rnn_example *const *ex, int rows,
                   const rnn_train_config *c, uint64_t *augment) {
  if (rows <= 0 || rows > RNN_SHARD_ROWS)
    return RNN_EINVAL;
  const int nin = m->input_size;
  int T = 0;
  for (int b = 0; b < rows; b++) {
    s->ex[b] = ex[b];
    s->len[b] = ex[b]->T;
    T = ex[b]->T > T ? ex[b]->T : T;
  }
  s->rows = rows;
  s->T = T;
  s->nin = nin;
  size_t need = (size_t)T * rows * nin;
  if (grow(&s->x, &s->x_cap, need))
    return RNN_ENOMEM;
  memset(s->x, 0, need * sizeof(float));
  if (m->seq_norm && grow(&s->seqstat, &s->seqstat_cap, 2 * (size_t)nin))
    return RNN_ENOMEM;
  const float *mean = m->norm_mean, *scale = m->norm_scale;
  const float *mu = m->seq_norm ? s->seqstat : NULL, *inv = mu ? s->seqstat + nin : NULL;
  for (int b = 0; b < rows; b++) {
    const float *src = ex[b]->x;
    /* Per-sequence statistics over this example's own T frames: the zero padding of the shard
     * and the SpecAugment masks (applied below, after normalisation) never enter them. */
    if (mu)
      rnn_seq_norm_stats(src, s->len[b], nin, s->seqstat, s->seqstat + nin);
    for (int t = 0; t < s->len[b]; t++) {
      float *dst = s->x + ((size_t)t * rows + b) * nin;
      const float *sr = src + (size_t)t * nin;
      for (int i = 0; i < nin; i++) {
        float v = sr[i];
        if (!isfinite(v))
          return RNN_ENUMERIC;
        if (mu)
          v = rnn_seq_norm_value(v, mu[i], inv[i]);
        if (mean)
          v -= mean[i];
        if (scale)
          v *= scale[i];
        dst[i] = v;
      }
    }
    /* SpecAugment: masked frames and bands become the normalised mean (0). */
    if (augment) {
      int len = s->len[b];
      for (int k = 0; k < c->time_masks && c->time_mask > 0; k++) {
        int w = rnn_rand_below(augment, c->time_mask + 1);
        if (w <= 0 || w >= len)
          continue;
        int t0 = rnn_rand_below(augment, len - w + 1);
        for (int t = t0; t < t0 + w; t++)
          memset(s->x + ((size_t)t * rows + b) * nin, 0, sizeof(float) * nin);
      }
      for (int k = 0; k < c->freq_masks && c->freq_mask > 0; k++) {
        int w = rnn_rand_below(augment, c->freq_mask + 1);
        if (w <= 0 || w >= nin)
          continue;
        int f0 = rnn_rand_below(augment, nin - w + 1);
        for (int t = 0; t < len; t++)
          memset(s->x + ((size_t)t * rows + b) * nin + f0, 0, sizeof(float) * w);
      }
    }
  }
  /* Carried recurrent state (TBPTT), per layer h then c, forward direction only. */
  size_t st = 0;
  for (int l = 0; l < m->num_layers; l++)
    st += 2 * (size_t)rows * m->layers[l].hidden_size;
  if (grow(&s->state, &s->state_cap, st))
    return RNN_ENOMEM;
  memset(s->state, 0, st * sizeof(float));
  return RNN_OK;
}

static float *state_h(rnn_shard *s, const rnn_model *m, int layer) {
  float *p = s->state;
  for (int l = 0; l < layer; l++)
    p += 2 * (size_t)s->rows * m->layers[l].hidden_size;
  return p;
}
static float *state_c(rnn_shard *s, const rnn_model *m, int layer) {
  return state_h(s, m, layer) + (size_t)s->rows * m->layers[layer].hidden_size;
}

/* Inverted dropout: keeps each value with probability 1-p and scales it by 1/(1-p). */
static void dropout_apply(float *out, float *mask, const float *in, size_t ldin, size_t rows,
                          int cols, float p, uint64_t seed) {
  uint64_t rng = seed;
  const float keep = 1.0f / (1.0f - p);
  const uint32_t threshold = (uint32_t)((double)p * 4294967296.0);
  for (size_t r = 0; r < rows; r++) {
    const float *src = in + r * ldin;
    float *dst = out + r * (size_t)cols, *mk = mask + r * (size_t)cols;
    for (int j = 0; j < cols; j += 2) {
      uint64_t u = rnn_rand64(&rng);
      mk[j] = (uint32_t)u >= threshold ? keep : 0.0f;
      if (j + 1 < cols)
        mk[j + 1] = (uint32_t)(u >> 32) >= threshold ? keep : 0.0f;
    }
    for (int j = 0; j < cols; j++)
      dst[j] = src[j] * mk[j];
  }
}

static void add_column_sums(float *dst, const float *src, size_t rows, int cols, size_t ld) {
  for (size_t r = 0; r < rows; r++) {
    const float *sr = src + r * ld;
    for (int j = 0; j < cols; j++)
      dst[j] += sr[j];
  }
}

/* ---------------------------------------------------------------------------------------------
 * One direction of one layer
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const rnn_model *m;
  const rnn_layer *L;
  int d;            /* 0 forward, 1 backward */
  int T, B;         /* chunk frames, rows */
  const int *nact;  /* running rows per frame */
  const float *x;   /* layer input [T][B][nin], row stride ldx */
  size_t ldx;
  float *y;         /* this direction's output column block: y + d*H, row stride ldy = D */
  size_t ldy;
  const float *h0, *c0; /* initial state [B][H] */
  int h0_carried;       /* h0 is a carried state (else zeros) */
  dir_buffers *buf;
} dir_pass;

static const float *prev_h(const dir_pass *p, int t, int first, size_t *ld) {
  if (first) {
    *ld = (size_t)p->L->hidden_size;
    return p->h0;
  }
  *ld = p->ldy;
  int tp = p->d == 0 ? t - 1 : t + 1;
  return p->y + (size_t)tp * p->B * p->ldy;
}

static const float *prev_c(const dir_pass *p, int t, int first) {
  if (first)
    return p->c0;
  int tp = p->d == 0 ? t - 1 : t + 1;
  return p->buf->c + (size_t)tp * p->B * p->L->hidden_size;
}

static void dir_forward(const dir_pass *p, float *tmp, float *bias, float *const pack[2],
                        float *packbig) {
  const rnn_layer *L = p->L;
  const float *P = p->m->params;
  const rnn_direction_params *dp = &L->dir[p->d];
  const int H = L->hidden_size, GH = L->gates * H, nin = L->input_size, B = p->B;
  const float *w_ih = P + dp->w_ih, *w_hh = P + dp->w_hh, *b_ih = P + dp->b_ih, *b_hh = P + dp->b_hh;
  dir_buffers *db = p->buf;

  /* Input projection of every frame at once: gates = x W_ih^T. */
  rnn_gemm_b wih;
  rnn_gemm_b_init(&wih, w_ih, (size_t)nin, 1, nin, GH, packbig);
  rnn_gemm(p->T * B, p->x, 0, p->ldx, &wih, db->gates, (size_t)GH, 0);
  /* Biases folded into the kernels; GRU keeps b_hn apart because r multiplies it. */
  for (int j = 0; j < GH; j++)
    bias[j] = b_ih[j] + b_hh[j];
  if (L->cell == RNN_CELL_GRU)
    for (int j = 2 * H; j < 3 * H; j++)
      bias[j] = b_ih[j];
  /* h W_hh^T: B = W_hh^T (K = H). GRU_RESET_BEFORE multiplies r|z rows by h, n rows by r*h. */
  rnn_gemm_b whh, whn;
  if (L->cell == RNN_CELL_GRU_RESET_BEFORE) {
    rnn_gemm_b_init(&whh, w_hh, (size_t)H, 1, H, 2 * H, pack[0]);
    rnn_gemm_b_init(&whn, w_hh + (size_t)2 * H * H, (size_t)H, 1, H, H, pack[1]);
  } else {
    rnn_gemm_b_init(&whh, w_hh, (size_t)H, 1, H, GH, pack[0]);
  }

  for (int s = 0; s < p->T; s++) {
    int t = p->d == 0 ? s : p->T - 1 - s;
    int nb = p->nact[t];
    if (nb == 0)
      continue;
    size_t ldh;
    const float *hp = prev_h(p, t, s == 0, &ldh);
    float *G = db->gates + (size_t)t * B * GH;
    float *y = p->y + (size_t)t * B * p->ldy;
    switch (L->cell) {
    case RNN_CELL_LSTM: {
      rec_gemm(nb, hp, ldh, &whh, G, (size_t)GH, 1);
      const float *cp = prev_c(p, t, s == 0);
      lstm_forward_rows(nb, H, G, bias, cp, (size_t)H, db->c + (size_t)t * B * H,
                        db->tc + (size_t)t * B * H, y, p->ldy);
      break;
    }
    case RNN_CELL_GRU:
      rec_gemm(nb, hp, ldh, &whh, tmp, (size_t)GH, 0);
      gru_forward_rows(nb, H, G, bias, b_hh + 2 * H, tmp, hp, ldh, db->aux + (size_t)t * B * H, y,
                       p->ldy);
      break;
    case RNN_CELL_GRU_RESET_BEFORE: {
      float *rh = db->aux + (size_t)t * B * H;
      rec_gemm(nb, hp, ldh, &whh, tmp, (size_t)2 * H, 0);
      grub_forward_gates(nb, H, G, bias, tmp, hp, ldh, rh);
      rec_gemm(nb, rh, (size_t)H, &whn, tmp, (size_t)H, 0);
      grub_forward_output(nb, H, G, bias, tmp, hp, ldh, y, p->ldy);
      break;
    }
    case RNN_CELL_RNN_TANH:
    case RNN_CELL_RNN_RELU:
    default:
      rec_gemm(nb, hp, ldh, &whh, G, (size_t)GH, 1);
      rnn_forward_rows(nb, H, L->cell == RNN_CELL_RNN_RELU, G, bias, y, p->ldy);
      break;
    }
  }
}

/* dy: gradient w.r.t. this direction's outputs (column block, stride lddy). Adds the parameter
 * gradients into grad; when dx is not NULL writes (beta 0) or adds (beta 1) the input gradient. */
static void dir_backward(const dir_pass *p, const float *dy, size_t lddy, float *grad, float *dx,
                         size_t lddx, int dx_accumulate, float *dh, float *dc, float *tmp,
                         float *const pack[2], float *packbig) {
  const rnn_layer *L = p->L;
  const float *P = p->m->params;
  const rnn_direction_params *dp = &L->dir[p->d];
  const int H = L->hidden_size, GH = L->gates * H, nin = L->input_size, B = p->B, T = p->T;
  const float *w_ih = P + dp->w_ih, *w_hh = P + dp->w_hh;
  dir_buffers *db = p->buf;
  const int relu = L->cell == RNN_CELL_RNN_RELU;

  /* dh_prev = d(pre-activations) W_hh: B = W_hh (K = GH rows, N = H). */
  rnn_gemm_b whh, whn;
  if (L->cell == RNN_CELL_GRU_RESET_BEFORE) {
    rnn_gemm_b_init(&whh, w_hh, (size_t)H, 0, 2 * H, H, pack[0]);
    rnn_gemm_b_init(&whn, w_hh + (size_t)2 * H * H, (size_t)H, 0, H, H, pack[1]);
  } else {
    rnn_gemm_b_init(&whh, w_hh, (size_t)H, 0, GH, H, pack[0]);
  }
  memset(dh, 0, sizeof(float) * (size_t)B * H);
  if (dc)
    memset(dc, 0, sizeof(float) * (size_t)B * H);
  for (int s = T - 1; s >= 0; s--) {
    int t = p->d == 0 ? s : T - 1 - s;
    int nb = p->nact[t];
    float *G = db->gates + (size_t)t * B * GH;
    /* Finished rows contribute nothing to the weight gradients. */
    memset(G + (size_t)nb * GH, 0, sizeof(float) * (size_t)(B - nb) * GH);
    if (db->dhh)
      memset(db->dhh + ((size_t)t * B + nb) * GH, 0, sizeof(float) * (size_t)(B - nb) * GH);
    if (nb == 0)
      continue;
    size_t ldh;
    const float *hp = prev_h(p, t, s == 0, &ldh);
    const float *dyt = dy + (size_t)t * B * lddy;
    switch (L->cell) {
    case RNN_CELL_LSTM:
      lstm_backward_rows(nb, H, G, db->tc + (size_t)t * B * H, prev_c(p, t, s == 0), (size_t)H, dyt,
                         lddy, dh, dc);
      rec_gemm(nb, G, (size_t)GH, &whh, dh, (size_t)H, 0);
      break;
    case RNN_CELL_GRU: {
      float *dhh = db->dhh + (size_t)t * B * GH;
      gru_backward_rows(nb, H, G, dhh, db->aux + (size_t)t * B * H, hp, ldh, dyt, lddy, dh);
      rec_gemm(nb, dhh, (size_t)GH, &whh, dh, (size_t)H, 1);
      break;
    }
    case RNN_CELL_GRU_RESET_BEFORE:
      grub_backward_zn(nb, H, G, hp, ldh, dyt, lddy, dh);
      /* d(r * h) = dan W_hn */
      rec_gemm(nb, G + 2 * H, (size_t)GH, &whn, tmp, (size_t)H, 0);
      grub_backward_r(nb, H, G, tmp, hp, ldh, dh);
      rec_gemm(nb, G, (size_t)GH, &whh, dh, (size_t)H, 1);
      break;
    case RNN_CELL_RNN_TANH:
    case RNN_CELL_RNN_RELU:
    default:
      rnn_backward_rows(nb, H, relu, G, dyt, lddy, dh);
      rec_gemm(nb, G, (size_t)GH, &whh, dh, (size_t)H, 0);
      break;
    }
    /* Rows that have not started yet (in processing order) start from a zero gradient. */
    memset(dh + (size_t)nb * H, 0, sizeof(float) * (size_t)(B - nb) * H);
    if (dc)
      memset(dc + (size_t)nb * H, 0, sizeof(float) * (size_t)(B - nb) * H);
  }

  /* Weight gradients of all frames at once, each a product with the frames as K. */
  const size_t TB = (size_t)T * B;
  float *g_wih = grad + dp->w_ih, *g_whh = grad + dp->w_hh, *g_bih = grad + dp->b_ih,
        *g_bhh = grad + dp->b_hh;
  rnn_gemm_b bm;
  rnn_gemm_b_init(&bm, p->x, p->ldx, 0, (int)TB, nin, packbig); /* dW_ih += dA^T x */
  rnn_gemm(GH, db->gates, 1, (size_t)GH, &bm, g_wih, (size_t)nin, 1);
  add_column_sums(g_bih, db->gates, TB, GH, (size_t)GH);
  const float *rec = L->cell == RNN_CELL_GRU ? db->dhh : db->gates; /* d(W_hh h + b_hh) */
  add_column_sums(g_bhh, rec, TB, GH, (size_t)GH);
  /* Rows of W_hh multiplied by h (all but n for GRU_RESET_BEFORE, whose n rows see r * h);
   * h_prev of frame t is the output of t-1 (forward) or t+1 (backward): a shifted view. */
  const int M = L->cell == RNN_CELL_GRU_RESET_BEFORE ? 2 * H : GH;
  if (T > 1) {
    const float *hprev = p->d == 0 ? p->y : p->y + (size_t)B * p->ldy;
    const float *drec = p->d == 0 ? rec + (size_t)B * GH : rec;
    rnn_gemm_b_init(&bm, hprev, p->ldy, 0, (T - 1) * B, H, packbig);
    rnn_gemm(M, drec, 1, (size_t)GH, &bm, g_whh, (size_t)H, 1);
  }
  if (p->h0_carried) {
    /* The first frame's h_prev is the state carried from the previous chunk. */
    rnn_gemm_b_init(&bm, p->h0, (size_t)H, 0, B, H, packbig);
    rnn_gemm(M, rec, 1, (size_t)GH, &bm, g_whh, (size_t)H, 1);
  }
  if (L->cell == RNN_CELL_GRU_RESET_BEFORE) {
    rnn_gemm_b_init(&bm, db->aux, (size_t)H, 0, (int)TB, H, packbig);
    rnn_gemm(H, db->gates + 2 * H, 1, (size_t)GH, &bm, g_whh + (size_t)2 * H * H, (size_t)H, 1);
  }
  if (dx) {
    rnn_gemm_b_init(&bm, w_ih, (size_t)nin, 0, GH, nin, packbig); /* dx = dA W_ih */
    rnn_gemm((int)TB, db->gates, 0, (size_t)GH, &bm, dx, lddx, dx_accumulate);
  }
}

/* ---------------------------------------------------------------------------------------------
 * The head and the loss
 * ------------------------------------------------------------------------------------------- */
double rnn_loss_terms(const rnn_model *m, const rnn_train_config *c, const rnn_example *ex, int t0,
                      int t1) {
  (void)m;
  int T = ex->T;
  if (c->loss == RNN_LOSS_CTC)
    return t0 == 0 ? 1.0 : 0.0;
  if (loss_per_frame(c)) {
    int a = t0, b = t1 < T ? t1 : T;
    return b > a ? (double)(b - a) : 0.0;
  }
  return (T - 1 >= t0 && T - 1 < t1) ? 1.0 : 0.0;
}

/* Loss of one row of logits against example ex (frame t for per-frame losses, -1 pooled). */
static double row_loss(const rnn_model *m, const rnn_train_config *c, const rnn_example *ex, int t,
                       const float *z, int O, float scale, float *dz, rnn_shard_stats *st) {
  int am = 0, ok = 0;
  double l;
  switch (c->loss) {
  case RNN_LOSS_CE:
    l = rnn_loss_softmax_ce(z, O, ex->label, scale, dz, &am);
    st->correct += am == ex->label;
    st->count += 1;
    return l;
  case RNN_LOSS_CE_FRAME:
    l = rnn_loss_softmax_ce(z, O, ex->frame_labels[t], scale, dz, &am);
    st->correct += am == ex->frame_labels[t];
    st->count += 1;
    return l;
  case RNN_LOSS_BCE:
    l = rnn_loss_bce(z, O, ex->target + (t >= 0 ? (size_t)t * O : 0), scale, dz, &ok);
    st->correct += ok;
    st->count += O;
    return l;
  case RNN_LOSS_MSE:
  default:
    return rnn_loss_mse(z, O, m->head, ex->target + (t >= 0 ? (size_t)t * O : 0), scale, dz);
  }
}

/* Head forward over n rows of input (stride D) into logits (stride O). */
static void head_forward(const rnn_model *m, const float *in, size_t n, float *logits) {
  const int D = rnn_model_top_size(m), O = head_width(m);
  if (m->head == RNN_HEAD_NONE) {
    memcpy(logits, in, sizeof(float) * n * D);
    return;
  }
  const float *w = m->params + m->head_w, *bv = m->params + m->head_b;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, O, D, 1.0f, in, D, w, D, 0.0f,
              logits, O);
  for (size_t r = 0; r < n; r++)
    for (int k = 0; k < O; k++)
      logits[r * O + k] += bv[k];
}

/* Head backward: parameter gradients and din = dlogits W (overwrites din). */
static void head_backward(const rnn_model *m, const float *in, size_t n, const float *dlogits,
                          float *grad, float *din) {
  const int D = rnn_model_top_size(m), O = head_width(m);
  if (m->head == RNN_HEAD_NONE) {
    memcpy(din, dlogits, sizeof(float) * n * D);
    return;
  }
  const float *w = m->params + m->head_w;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, D, (int)n, 1.0f, dlogits, O, in, D, 1.0f,
              grad + m->head_w, D);
  add_column_sums(grad + m->head_b, dlogits, n, O, (size_t)O);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, O, 1.0f, dlogits, O, w, D, 0.0f,
              din, D);
}

/* Per-frame losses over the chunk; dlogits zeroed first. */
static void frame_losses(rnn_shard *s, const rnn_model *m, const rnn_train_config *c, int t0, int T,
                         float scale, int want_grad, rnn_shard_stats *st) {
  const int B = s->rows, O = head_width(m);
  float *dl = want_grad ? s->dlogits : NULL;
  if (dl)
    memset(dl, 0, sizeof(float) * (size_t)T * B * O);
  if (c->loss == RNN_LOSS_CTC) {
    for (int b = 0; b < B; b++) {
      const rnn_example *ex = s->ex[b];
      double l = rnn_loss_ctc(s->logits + (size_t)b * O, (size_t)B * O, s->len[b], O, ex->tokens,
                              ex->n_tokens, scale, dl ? dl + (size_t)b * O : NULL, (size_t)B * O);
      int err = rnn_ctc_greedy_errors(s->logits + (size_t)b * O, (size_t)B * O, s->len[b], O,
                                      ex->tokens, ex->n_tokens);
      st->loss += l;
      st->terms += 1;
      st->correct += ex->n_tokens - err;
      st->count += ex->n_tokens;
    }
    return;
  }
  for (int t = 0; t < T; t++) {
    for (int b = 0; b < s->nact[t]; b++) {
      size_t r = (size_t)t * B + b;
      st->loss += row_loss(m, c, s->ex[b], t0 + t, s->logits + r * O, O, scale,
                           dl ? dl + r * O : NULL, st);
      st->terms += 1;
    }
  }
}

/* Pools the top layer's outputs of the rows whose sequence ends in this chunk; returns in
 * ends[b] the local end frame, or -1 when row b has no loss term in the chunk. */
static void pool_rows(rnn_shard *s, const rnn_model *m, const float *top, int t0, int T, int *ends) {
  const int B = s->rows, D = rnn_model_top_size(m);
  const rnn_layer *Lt = &m->layers[m->num_layers - 1];
  const int Hf = Lt->hidden_size;
  memset(s->pooled, 0, sizeof(float) * (size_t)B * D);
  for (int b = 0; b < B; b++) {
    int end = s->len[b] - 1 - t0;
    ends[b] = (end >= 0 && end < T) ? end : -1;
    if (ends[b] < 0)
      continue;
    float *pr = s->pooled + (size_t)b * D;
    if (m->pool == RNN_POOL_MEAN) {
      for (int t = 0; t <= end; t++) {
        const float *yr = top + ((size_t)t * B + b) * D;
        for (int j = 0; j < D; j++)
          pr[j] += yr[j];
      }
      float inv = 1.0f / (float)(end + 1);
      for (int j = 0; j < D; j++)
        pr[j] *= inv;
    } else {
      memcpy(pr, top + ((size_t)end * B + b) * D, sizeof(float) * Hf);
      if (Lt->bidirectional)
        memcpy(pr + Hf, top + (size_t)b * D + Hf, sizeof(float) * Hf);
    }
  }
}

static void unpool_rows(rnn_shard *s, const rnn_model *m, const int *ends, float *dtop, int T) {
  const int B = s->rows, D = rnn_model_top_size(m);
  const rnn_layer *Lt = &m->layers[m->num_layers - 1];
  const int Hf = Lt->hidden_size;
  memset(dtop, 0, sizeof(float) * (size_t)T * B * D);
  for (int b = 0; b < B; b++) {
    if (ends[b] < 0)
      continue;
    const float *dp = s->dpooled + (size_t)b * D;
    if (m->pool == RNN_POOL_MEAN) {
      float inv = 1.0f / (float)(ends[b] + 1);
      for (int t = 0; t <= ends[b]; t++) {
        float *dr = dtop + ((size_t)t * B + b) * D;
        for (int j = 0; j < D; j++)
          dr[j] = dp[j] * inv;
      }
    } else {
      float *dr = dtop + ((size_t)ends[b] * B + b) * D;
      for (int j = 0; j < Hf; j++)
        dr[j] += dp[j];
      if (Lt->bidirectional) {
        float *db = dtop + (size_t)b * D + Hf;
        for (int j = 0; j < Hf; j++)
          db[j] += dp[Hf + j];
      }
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * A whole chunk: forward, loss, backward
 * ------------------------------------------------------------------------------------------- */
static void make_pass(rnn_shard *s, const rnn_model *m, int l, int d, int T, const float *x,
                      size_t ldx, int t0, dir_pass *p) {
  const rnn_layer *L = &m->layers[l];
  p->m = m;
  p->L = L;
  p->d = d;
  p->T = T;
  p->B = s->rows;
  p->nact = s->nact;
  p->x = x;
  p->ldx = ldx;
  p->ldy = (size_t)rnn_layer_output_size(L);
  p->y = s->layers[l].y + (size_t)d * L->hidden_size;
  p->buf = &s->layers[l].dir[d];
  /* The backward direction never carries state; the forward one does after the first chunk. */
  p->h0_carried = d == 0 && t0 > 0;
  if (p->h0_carried) {
    p->h0 = state_h(s, m, l);
    p->c0 = state_c(s, m, l);
  } else {
    p->h0 = s->zeros;
    p->c0 = s->zeros;
  }
}

int rnn_shard_run(rnn_shard *s, const rnn_model *m, const rnn_train_config *c, int t0, int t1,
                  float loss_scale, float *grad, uint64_t dropout_seed, rnn_shard_stats *st) {
  const int B = s->rows;
  if (t1 > s->T)
    t1 = s->T;
  const int T = t1 - t0;
  if (T <= 0)
    return RNN_OK;
  const int dropout = dropout_seed != 0 && c->dropout > 0.0f;
  size_t need = layout(s, m, c, T, B, dropout, 0);
  if (grow(&s->arena, &s->arena_cap, need))
    return RNN_ENOMEM;
  if ((size_t)T > s->nact_cap) {
    int *q = malloc(sizeof(int) * (size_t)T);
    if (!q)
      return RNN_ENOMEM;
    free(s->nact);
    s->nact = q;
    s->nact_cap = (size_t)T;
  }
  layout(s, m, c, T, B, dropout, 1);
  for (int t = 0; t < T; t++) {
    int n = 0;
    while (n < B && s->len[n] > t0 + t)
      n++;
    s->nact[t] = n;
  }
  int ghmax = 1;
  for (int l = 0; l < m->num_layers; l++) {
    int gh = m->layers[l].gates * m->layers[l].hidden_size;
    ghmax = gh > ghmax ? gh : ghmax;
  }
  memset(s->zeros, 0, sizeof(float) * (size_t)B * ghmax);

  /* Forward through the layers. */
  const int I0 = m->input_size;
  const float *x = s->x + (size_t)t0 * B * I0;
  size_t ldx = (size_t)I0;
  const size_t TB = (size_t)T * B;
  for (int l = 0; l < m->num_layers; l++) {
    const rnn_layer *L = &m->layers[l];
    layer_buffers *lb = &s->layers[l];
    if (l > 0 && dropout) {
      dropout_apply(lb->in, lb->mask, x, ldx, TB, L->input_size, c->dropout,
                    dropout_seed ^ (0x51ED27ULL * (uint64_t)(l + 1)));
      x = lb->in;
      ldx = (size_t)L->input_size;
    }
    memset(lb->y, 0, sizeof(float) * TB * rnn_layer_output_size(L));
    for (int d = 0; d < 1 + L->bidirectional; d++) {
      dir_pass p;
      make_pass(s, m, l, d, T, x, ldx, t0, &p);
      dir_forward(&p, s->tmp, s->bias, s->pack, s->packbig);
    }
    x = lb->y;
    ldx = (size_t)rnn_layer_output_size(L);
  }

  /* Head input, with dropout before the head. */
  const int D = rnn_model_top_size(m), O = head_width(m);
  const float *top = s->layers[m->num_layers - 1].y;
  if (dropout) {
    dropout_apply(s->top, s->top_mask, top, (size_t)D, TB, D, c->dropout,
                  dropout_seed ^ 0xD0D0D0ULL);
    top = s->top;
  }
  float *dtop = s->dy[0];
  int ends[RNN_SHARD_ROWS];
  if (loss_per_frame(c)) {
    head_forward(m, top, TB, s->logits);
    frame_losses(s, m, c, t0, T, loss_scale, grad != NULL, st);
    if (grad)
      head_backward(m, top, TB, s->dlogits, grad, dtop);
  } else {
    pool_rows(s, m, top, t0, T, ends);
    head_forward(m, s->pooled, (size_t)B, s->logits);
    if (grad)
      memset(s->dlogits, 0, sizeof(float) * (size_t)B * O);
    for (int b = 0; b < B; b++) {
      if (ends[b] < 0)
        continue;
      st->loss += row_loss(m, c, s->ex[b], -1, s->logits + (size_t)b * O, O, loss_scale,
                           grad ? s->dlogits + (size_t)b * O : NULL, st);
      st->terms += 1;
    }
    if (grad) {
      head_backward(m, s->pooled, (size_t)B, s->dlogits, grad, s->dpooled);
      unpool_rows(s, m, ends, dtop, T);
    }
  }

  if (grad) {
    if (dropout) {
      const float *mk = s->top_mask;
      for (size_t i = 0; i < TB * D; i++)
        dtop[i] *= mk[i];
    }
    /* Backward through the layers, top down; dy[cur] is the gradient w.r.t. layer l's output. */
    int cur = 0;
    for (int l = m->num_layers - 1; l >= 0; l--) {
      const rnn_layer *L = &m->layers[l];
      layer_buffers *lb = &s->layers[l];
      const float *xin;
      size_t ldxin;
      if (l == 0) {
        xin = s->x + (size_t)t0 * B * I0;
        ldxin = (size_t)I0;
      } else if (lb->in) {
        xin = lb->in;
        ldxin = (size_t)L->input_size;
      } else {
        xin = s->layers[l - 1].y;
        ldxin = (size_t)L->input_size;
      }
      float *dx = l > 0 ? s->dy[1 - cur] : NULL;
      const size_t D_l = (size_t)rnn_layer_output_size(L);
      for (int d = 0; d < 1 + L->bidirectional; d++) {
        dir_pass p;
        make_pass(s, m, l, d, T, xin, ldxin, t0, &p);
        dir_backward(&p, s->dy[cur] + (size_t)d * L->hidden_size, D_l, grad, dx,
                     (size_t)L->input_size, d == 1, s->dh,
                     L->cell == RNN_CELL_LSTM ? s->dc : NULL, s->tmp, s->pack, s->packbig);
      }
      if (dx && lb->mask) {
        for (size_t i = 0; i < TB * L->input_size; i++)
          dx[i] *= lb->mask[i];
      }
      cur = 1 - cur;
    }
  }

  /* Carry the state of the rows still running into the next chunk (forward direction). */
  if (t1 < s->T) {
    for (int l = 0; l < m->num_layers; l++) {
      const rnn_layer *L = &m->layers[l];
      const int H = L->hidden_size;
      const size_t D_l = (size_t)rnn_layer_output_size(L);
      float *h = state_h(s, m, l), *cst = state_c(s, m, l);
      int nb = s->nact[T - 1];
      for (int b = 0; b < nb; b++) {
        memcpy(h + (size_t)b * H, s->layers[l].y + ((size_t)(T - 1) * B + b) * D_l,
               sizeof(float) * H);
        if (L->cell == RNN_CELL_LSTM)
          memcpy(cst + (size_t)b * H, s->layers[l].dir[0].c + ((size_t)(T - 1) * B + b) * H,
                 sizeof(float) * H);
      }
    }
  }
  return RNN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Per-frame outputs of the training forward pass (tests compare them with inference)
 * ------------------------------------------------------------------------------------------- */
int rnn_train_forward_frames(const rnn_model *m, const float *x, int T, float *out) {
  if (!m || !m->finalized || !x || T <= 0 || !out)
    return RNN_EINVAL;
  const int O = head_width(m);
  float *target = calloc((size_t)T * O, sizeof(float));
  rnn_shard *s = rnn_shard_new();
  if (!target || !s) {
    free(target);
    rnn_shard_free(s);
    return RNN_ENOMEM;
  }
  rnn_example ex;
  memset(&ex, 0, sizeof(ex));
  ex.x = x;
  ex.T = T;
  ex.target = target;
  const rnn_example *exs[1] = {&ex};
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_MSE;
  c.per_frame = 1;
  rnn_shard_stats st;
  memset(&st, 0, sizeof(st));
  int rc = rnn_shard_load(s, m, exs, 1, &c, NULL);
  if (rc == RNN_OK)
    rc = rnn_shard_run(s, m, &c, 0, T, 1.0f, NULL, 0, &st);
  if (rc == RNN_OK) {
    for (int t = 0; t < T; t++) {
      const float *z = s->logits + (size_t)t * O;
      float *o = out + (size_t)t * O;
      if (m->head == RNN_HEAD_SIGMOID) {
        for (int k = 0; k < O; k++)
          o[k] = (float)(1.0 / (1.0 + exp(-(double)z[k])));
      } else if (m->head == RNN_HEAD_SOFTMAX) {
        double mx = z[0], sum = 0.0;
        for (int k = 1; k < O; k++)
          mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < O; k++)
          sum += exp((double)z[k] - mx);
        for (int k = 0; k < O; k++)
          o[k] = (float)(exp((double)z[k] - mx) / sum);
      } else {
        memcpy(o, z, sizeof(float) * O);
      }
    }
  }
  free(target);
  rnn_shard_free(s);
  return rc;
}
