/* gst-rnn engine: small matrix products with a packed right operand (engine-internal).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * C (M x N) = A (M x K) B, or C += A B, where B is a weight matrix that stays fixed across many
 * products (the recurrent weights over all the frames of a chunk or batch). B is described once
 * by an rnn_gemm_b and, on AVX-512 CPUs, copied into panels of RNN_GEMM_PANEL columns; an AVX-512
 * kernel then keeps an 8 x 32 block of C in registers. A general GEMM repacks B on every call,
 * which for the per-timestep products (M = a few to 64 rows) costs about as much as the
 * arithmetic; the Debian OpenBLAS 0.3.21 build also picks AVX2 kernels on CPUs it does not know.
 *
 * Without AVX-512 (or when forced with rnn_gemm_force_blas, for tests) nothing is packed and every
 * product goes to cblas_sgemm. Both paths are deterministic; they differ from each other only by
 * float rounding (summation order).
 *
 * Thread safety: an rnn_gemm_b and its packed space belong to the caller; once initialised they
 * are only read, so any number of threads may multiply with them.
 */
#ifndef GST_RNN_ENGINE_GEMM_H
#define GST_RNN_ENGINE_GEMM_H

#include <stddef.h>

#define RNN_GEMM_PANEL 32

typedef struct {
  const float *w; /* the weights as stored: B itself (ld ldw) or its transpose */
  size_t ldw;
  int transposed; /* B[k][n] = w[n * ldw + k] when set, w[k * ldw + n] otherwise */
  int K, N;
  float *packed; /* panels, or NULL when the BLAS is used */
  int panel_k;   /* rows of each panel (K, or more for a view of some rows) */
} rnn_gemm_b;

/* Floats of packed space rnn_gemm_b_init needs for a K x N matrix (whether or not it packs). */
size_t rnn_gemm_packed_size(int K, int N);

/* Describes B (K x N) stored in w (row stride ldw, or as its transpose when `transposed`), and
 * packs it into `space` (rnn_gemm_packed_size(K, N) floats) when the kernel will be used. w and
 * space must stay valid, and w unchanged, while b is used. */
void rnn_gemm_b_init(rnn_gemm_b *b, const float *w, size_t ldw, int transposed, int K, int N,
                     float *space);

/* C (M x N, row stride ldc) = A B, or C += A B when accumulate. A is M x K with row stride lda,
 * or, when a_trans, stored as its transpose (K x M, row stride lda). */
void rnn_gemm(int M, const float *A, int a_trans, size_t lda, const rnn_gemm_b *b, float *C,
              size_t ldc, int accumulate);

/* Tests: 1 makes every later rnn_gemm_b_init choose the BLAS (process-wide, all threads). */
void rnn_gemm_force_blas(int on);

#endif
