/* gst-rnn engine: small matrix products with a packed right operand (see gemm.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Shared by training (train.c: every product of the forward and backward pass) and batched
 * inference (infer.c: the recurrent product of each timestep). The kernel and its packing were
 * measured on the training shapes (16-row recurrent products, all-frames products).
 */
#include "gemm.h"
#include "rnn.h"

#include <string.h>

#include <cblas.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RNN_GEMM_X86 1
#include <immintrin.h>
#else
#define RNN_GEMM_X86 0
#endif

/* See gemm.h. */
size_t rnn_gemm_packed_size(int K, int N) {
  return (size_t)((N + RNN_GEMM_PANEL - 1) / RNN_GEMM_PANEL) * RNN_GEMM_PANEL * (size_t)K;
}

static _Atomic int force_blas = 0;
void rnn_gemm_force_blas(int on) { force_blas = on ? 1 : 0; }

/* OpenBLAS's thread-pool controls. Weak, so that the engine links against any other CBLAS too;
 * with one that has no such controls rnn_blas_set_threads does nothing. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#pragma weak openblas_set_num_threads
#pragma weak openblas_get_num_threads

int rnn_blas_set_threads(int n) {
  if (!openblas_get_num_threads || !openblas_set_num_threads || n < 1)
    return 0;
  int previous = openblas_get_num_threads();
  openblas_set_num_threads(n);
  return previous;
}

#if RNN_GEMM_X86
static int have_avx512(void) {
  if (force_blas)
    return 0;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") ? 1 : 0;
}
#else
static int have_avx512(void) { return 0; }
#endif

/* See gemm.h. */
void rnn_gemm_b_init(rnn_gemm_b *b, const float *w, size_t ldw, int transposed, int K, int N,
                     float *space) {
  b->w = w;
  b->ldw = ldw;
  b->transposed = transposed;
  b->K = K;
  b->N = N;
  b->packed = NULL;
  b->panel_k = K;
  if (!have_avx512())
    return;
  const int np = (N + RNN_GEMM_PANEL - 1) / RNN_GEMM_PANEL;
  for (int p = 0; p < np; p++) {
    float *panel = space + (size_t)p * K * RNN_GEMM_PANEL;
    const int n0 = p * RNN_GEMM_PANEL, nc = N - n0 < RNN_GEMM_PANEL ? N - n0 : RNN_GEMM_PANEL;
    if (nc < RNN_GEMM_PANEL)
      memset(panel, 0, sizeof(float) * (size_t)K * RNN_GEMM_PANEL);
    if (transposed) {
      /* Read each row of w once, contiguously; the panel (K x 32) stays in L1. */
      for (int c = 0; c < nc; c++) {
        const float *src = w + (size_t)(n0 + c) * ldw;
        for (int k = 0; k < K; k++)
          panel[(size_t)k * RNN_GEMM_PANEL + c] = src[k];
      }
    } else {
      for (int k = 0; k < K; k++)
        memcpy(panel + (size_t)k * RNN_GEMM_PANEL, w + (size_t)k * ldw + n0,
               sizeof(float) * (size_t)nc);
    }
  }
  b->packed = space;
}

#if RNN_GEMM_X86
/* mr rows (a constant after inlining) of C against one panel. */
__attribute__((target("avx512f"), always_inline)) static inline void
block_avx512(const int mr, int K, const float *A, size_t rs, size_t ks, const float *bp, float *C,
             size_t ldc, __mmask16 m0, __mmask16 m1, int accumulate) {
  __m512 c0[8], c1[8];
  for (int r = 0; r < mr; r++) {
    if (accumulate) {
      c0[r] = _mm512_maskz_loadu_ps(m0, C + (size_t)r * ldc);
      c1[r] = _mm512_maskz_loadu_ps(m1, C + (size_t)r * ldc + 16);
    } else {
      c0[r] = _mm512_setzero_ps();
      c1[r] = _mm512_setzero_ps();
    }
  }
  for (int k = 0; k < K; k++) {
    const __m512 b0 = _mm512_loadu_ps(bp + (size_t)k * RNN_GEMM_PANEL);
    const __m512 b1 = _mm512_loadu_ps(bp + (size_t)k * RNN_GEMM_PANEL + 16);
    for (int r = 0; r < mr; r++) {
      const __m512 a = _mm512_set1_ps(A[(size_t)r * rs + (size_t)k * ks]);
      c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
    }
  }
  for (int r = 0; r < mr; r++) {
    _mm512_mask_storeu_ps(C + (size_t)r * ldc, m0, c0[r]);
    _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16, m1, c1[r]);
  }
}

/* Rows r0..r1-1 of C against panel p; A's element (r, k) is A[r * rs + k * ks]. */
__attribute__((target("avx512f"))) static void panel_avx512(int r0, int r1, const float *A,
                                                            size_t rs, size_t ks,
                                                            const rnn_gemm_b *b, int p, float *C,
                                                            size_t ldc, int accumulate) {
  const int K = b->K, cols = b->N - p * RNN_GEMM_PANEL;
  const __mmask16 m0 = cols >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << cols) - 1u);
  const __mmask16 m1 = cols >= 32  ? (__mmask16)0xFFFF
                       : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1u)
                                   : (__mmask16)0;
  const float *bp = b->packed + (size_t)p * b->panel_k * RNN_GEMM_PANEL;
  float *cp = C + (size_t)p * RNN_GEMM_PANEL;
  int r = r0;
  for (; r + 8 <= r1; r += 8)
    block_avx512(8, K, A + (size_t)r * rs, rs, ks, bp, cp + (size_t)r * ldc, ldc, m0, m1,
                 accumulate);
  if (r1 - r >= 4) {
    block_avx512(4, K, A + (size_t)r * rs, rs, ks, bp, cp + (size_t)r * ldc, ldc, m0, m1,
                 accumulate);
    r += 4;
  }
  if (r1 - r >= 2) {
    block_avx512(2, K, A + (size_t)r * rs, rs, ks, bp, cp + (size_t)r * ldc, ldc, m0, m1,
                 accumulate);
    r += 2;
  }
  if (r1 - r >= 1)
    block_avx512(1, K, A + (size_t)r * rs, rs, ks, bp, cp + (size_t)r * ldc, ldc, m0, m1,
                 accumulate);
}

/* Blocks of 16 rows, each against every panel: the rows' part of A stays in L1 while the panels
 * stream from L2 (measured best for both the 16-row recurrent products and the all-frames ones). */
__attribute__((target("avx512f"))) static void gemm_avx512(int M, const float *A, size_t rs,
                                                           size_t ks, const rnn_gemm_b *b, float *C,
                                                           size_t ldc, int accumulate) {
  const int np = (b->N + RNN_GEMM_PANEL - 1) / RNN_GEMM_PANEL;
  for (int r0 = 0; r0 < M; r0 += 16) {
    int r1 = r0 + 16 < M ? r0 + 16 : M;
    for (int p = 0; p < np; p++)
      panel_avx512(r0, r1, A, rs, ks, b, p, C, ldc, accumulate);
  }
}
#endif

/* C (M x N, ldc) = A B, or += when accumulate; A is M x K (lda) or, when a_trans, stored as its
 * transpose K x M (lda). */
void rnn_gemm(int M, const float *A, int a_trans, size_t lda, const rnn_gemm_b *b, float *C,
              size_t ldc, int accumulate) {
#if RNN_GEMM_X86
  if (b->packed && a_trans) {
    /* A transposed (the weight gradients, K = all frames): rows of A are columns in memory, so
     * K is cut into blocks of 256 that keep A's block and the panels' block in L1 (measured
     * 1.3-1.5x faster for K = 1600). */
    for (int k0 = 0; k0 < b->K; k0 += 256) {
      rnn_gemm_b view = *b;
      view.K = b->K - k0 < 256 ? b->K - k0 : 256;
      view.packed = b->packed + (size_t)k0 * RNN_GEMM_PANEL;
      gemm_avx512(M, A + (size_t)k0 * lda, 1, lda, &view, C, ldc, accumulate || k0 > 0);
    }
    return;
  }
  if (b->packed) {
    gemm_avx512(M, A, lda, 1, b, C, ldc, accumulate);
    return;
  }
#endif
  cblas_sgemm(CblasRowMajor, a_trans ? CblasTrans : CblasNoTrans,
              b->transposed ? CblasTrans : CblasNoTrans, M, b->N, b->K, 1.0f, A, (int)lda, b->w,
              (int)b->ldw, accumulate ? 1.0f : 0.0f, C, (int)ldc);
}
