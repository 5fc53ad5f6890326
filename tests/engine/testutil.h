/* Minimal assertions for the engine's C tests (no GLib on the engine side).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A failed CHECK prints file:line and the expression, counts the failure and carries on, so one run
 * shows every broken property; main() returns test_summary(), non-zero when anything failed. */
#ifndef GST_RNN_TESTUTIL_H
#define GST_RNN_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_failures = 0;
static int test_checks = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    test_checks++;                                                                                 \
    if (!(cond)) {                                                                                 \
      test_failures++;                                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                    \
    }                                                                                              \
  } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
  do {                                                                                             \
    test_checks++;                                                                                 \
    if (!(cond)) {                                                                                 \
      test_failures++;                                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);                    \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

/* |a - b| <= tol, with the values printed on failure. */
#define CHECK_NEAR(a, b, tol)                                                                      \
  do {                                                                                             \
    double check_a_ = (double)(a), check_b_ = (double)(b);                                         \
    CHECK_MSG(fabs(check_a_ - check_b_) <= (tol), "%.9g vs %.9g (tol %.3g)", check_a_, check_b_,   \
              (double)(tol));                                                                      \
  } while (0)

static inline int test_summary(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, test_checks, test_failures);
  return test_failures ? 1 : 0;
}

/* Deterministic uniform floats in [lo, hi) (xorshift64*), for test inputs. */
static inline float test_uniform(unsigned long long *s, float lo, float hi) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  unsigned long long r = *s * 2685821657736338717ULL;
  return lo + (hi - lo) * (float)((r >> 40) * (1.0 / 16777216.0));
}

#endif
