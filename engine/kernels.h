/* gst-rnn engine: the hot numeric kernels (engine-internal).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Matrix-vector products and the activations of the cells, on plain float arrays. No cell logic
 * here: infer.c (and train.c) compose these.
 *
 * One binary runs everywhere: each kernel exists as an AVX-512, an AVX2+FMA and a portable scalar
 * variant, and the best one the CPU supports is chosen once, on first use (thread-safe). The
 * environment variable RNN_KERNELS=scalar|avx2|avx512 forces a (supported) variant, for tests and
 * benchmarks.
 *
 * Accuracy: sigmoid, tanh and exp stay within a few float ulps of the exact function (well under
 * 1e-6 absolute), so results match PyTorch to ~1e-6. Every variant is deterministic: the same
 * inputs give bit-identical outputs on every call and every thread.
 */
#ifndef GST_RNN_ENGINE_KERNELS_H
#define GST_RNN_ENGINE_KERNELS_H

typedef struct {
  const char *name; /* "avx512", "avx2" or "scalar" */

  /* y[r] += sum_{c<cols} W[r*ld + c] * x[c] for r < rows (W row-major, row stride ld >= cols). */
  void (*gemv_acc)(const float *W, int ld, int rows, int cols, const float *x, float *y);

  /* Two matrices sharing the output rows, in one pass (one reduction per row):
   * y[r] += W1[r*ld1 + .] . x1 (cols1) + W2[r*ld2 + .] . x2 (cols2). The streaming step uses it for
   * W_ih x + W_hh h. */
  void (*gemv2_acc)(const float *W1, int ld1, int cols1, const float *x1, const float *W2, int ld2,
                    int cols2, const float *x2, int rows, float *y);

  /* In place, n elements. */
  void (*sigmoid)(float *x, int n);
  void (*tanh)(float *x, int n);
  void (*relu)(float *x, int n);
  void (*exp)(float *x, int n);
} rnn_kernel_ops;

/* The variant chosen for this CPU (never NULL). */
const rnn_kernel_ops *rnn_kernels(void);

/* A named variant ("avx512", "avx2", "scalar"), or NULL when unknown or the CPU lacks it. */
const rnn_kernel_ops *rnn_kernels_get(const char *name);

#endif
