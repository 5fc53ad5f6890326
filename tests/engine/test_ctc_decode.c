/* Streaming CTC decoding: greedy and prefix beam search on hand-made posteriors.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Linked with -Wl,--wrap=malloc,calloc,realloc so that the test can count the engine's
 * allocations: pushing frames and asking for the best hypothesis must never allocate.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

/* Allocation counting through the linker's --wrap. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static long allocations = 0;
void *__wrap_malloc(size_t n) {
  allocations++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  allocations++;
  return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  allocations++;
  return __real_realloc(p, n);
}

#define K 4 /* blank, a=1, b=2, c=3 */

/* Feeds T frames of K posteriors. */
static void push_all(rnn_ctc_decoder *d, const float (*frames)[K], int T) {
  for (int t = 0; t < T; t++)
    rnn_ctc_decoder_push(d, frames[t]);
}

static void test_arguments(void) {
  CHECK(rnn_ctc_decoder_new(1, 1) == NULL); /* a blank alone cannot spell anything */
  CHECK(rnn_ctc_decoder_new(4, 0) == NULL);
  CHECK(rnn_ctc_decoder_new(0, 4) == NULL);
  rnn_ctc_decoder_free(NULL); /* harmless */
  rnn_ctc_token t[2];
  CHECK(rnn_ctc_decoder_best(NULL, t, 2, NULL) == 0);
}

/* A peaky sequence: both decoders agree on symbols, spans and confidences. */
static void test_spans(int beam) {
  static const float frames[][K] = {
      {0.90f, 0.05f, 0.03f, 0.02f}, /* blank */
      {0.10f, 0.80f, 0.05f, 0.05f}, /* a */
      {0.20f, 0.70f, 0.05f, 0.05f}, /* a (repeat, same token) */
      {0.90f, 0.04f, 0.03f, 0.03f}, /* blank */
      {0.05f, 0.05f, 0.85f, 0.05f}, /* b */
      {0.90f, 0.04f, 0.03f, 0.03f}, /* blank */
      {0.05f, 0.05f, 0.85f, 0.05f}, /* b again after a blank: a second b */
      {0.05f, 0.05f, 0.05f, 0.85f}, /* c directly after b */
  };
  rnn_ctc_decoder *d = rnn_ctc_decoder_new(K, beam);
  CHECK(d != NULL);
  if (!d)
    return;
  push_all(d, frames, 8);
  rnn_ctc_token tok[8];
  double lp = 0;
  int n = rnn_ctc_decoder_best(d, tok, 8, &lp);
  CHECK_MSG(n == 4, "beam %d: %d tokens", beam, n);
  if (n == 4) {
    const int symbols[4] = {1, 2, 2, 3}, starts[4] = {1, 4, 6, 7}, ends[4] = {3, 5, 7, 8};
    const float conf[4] = {0.75f, 0.85f, 0.85f, 0.85f};
    for (int i = 0; i < 4; i++) {
      CHECK_MSG(tok[i].symbol == symbols[i], "beam %d token %d: symbol %d", beam, i, tok[i].symbol);
      CHECK_MSG(tok[i].start_frame == starts[i] && tok[i].end_frame == ends[i],
                "beam %d token %d: [%d, %d)", beam, i, tok[i].start_frame, tok[i].end_frame);
      CHECK_NEAR(tok[i].confidence, conf[i], 1e-5);
    }
  }
  CHECK(isfinite(lp) && lp < 0.0);
  if (beam == 1) {
    /* Greedy's log probability is the best path's. */
    double expect = log(0.9) + log(0.8) + log(0.7) + log(0.9) + log(0.85) + log(0.9) + log(0.85) +
                    log(0.85);
    CHECK_NEAR(lp, expect, 1e-5);
  }
  /* Fewer slots than tokens: the first ones. */
  CHECK(rnn_ctc_decoder_best(d, tok, 2, NULL) == 2 && tok[1].symbol == 2);
  /* After a reset the decoder starts from nothing, with frame numbers from 0 again. */
  rnn_ctc_decoder_reset(d);
  CHECK(rnn_ctc_decoder_best(d, tok, 8, &lp) == 0);
  CHECK_NEAR(lp, 0.0, 1e-12);
  push_all(d, frames + 4, 1);
  n = rnn_ctc_decoder_best(d, tok, 8, NULL);
  CHECK(n == 1 && tok[0].symbol == 2 && tok[0].start_frame == 0 && tok[0].end_frame == 1);
  rnn_ctc_decoder_free(d);
}

/* Two frames of P(blank)=0.6, P(a)=0.4: the best single path is blank-blank (0.36), so greedy
 * outputs nothing, but "a" has total probability 0.24 + 0.24 + 0.16 = 0.64: beam search finds it. */
static void test_beam_beats_greedy(void) {
  static const float frames[][K] = {{0.6f, 0.4f, 0.0f, 0.0f}, {0.6f, 0.4f, 0.0f, 0.0f}};
  rnn_ctc_decoder *g = rnn_ctc_decoder_new(K, 1);
  rnn_ctc_decoder *b = rnn_ctc_decoder_new(K, 4);
  CHECK(g && b);
  if (!g || !b)
    return;
  push_all(g, frames, 2);
  push_all(b, frames, 2);
  rnn_ctc_token tok[4];
  double lp = 0;
  CHECK(rnn_ctc_decoder_best(g, tok, 4, &lp) == 0);
  CHECK_NEAR(lp, log(0.36), 1e-6);
  int n = rnn_ctc_decoder_best(b, tok, 4, &lp);
  CHECK(n == 1 && tok[0].symbol == 1);
  CHECK_NEAR(lp, log(0.64), 1e-6);
  CHECK(n == 1 && tok[0].confidence > 0.39f && tok[0].confidence < 0.41f);
  rnn_ctc_decoder_free(g);
  rnn_ctc_decoder_free(b);
}

/* A longer case where the prefixes merge across frames: "ab" spread over ambiguous frames. Greedy
 * reads "a" (b never wins a frame); beam search sums b's alignments and reads "ab". */
static void test_beam_merges_alignments(void) {
  static const float frames[][K] = {
      {0.05f, 0.90f, 0.05f, 0.00f}, {0.50f, 0.05f, 0.45f, 0.00f}, {0.50f, 0.05f, 0.45f, 0.00f},
      {0.50f, 0.05f, 0.45f, 0.00f}, {0.90f, 0.05f, 0.05f, 0.00f}};
  rnn_ctc_decoder *g = rnn_ctc_decoder_new(K, 1);
  rnn_ctc_decoder *b = rnn_ctc_decoder_new(K, 8);
  CHECK(g && b);
  if (!g || !b)
    return;
  push_all(g, frames, 5);
  push_all(b, frames, 5);
  rnn_ctc_token tok[4];
  int n = rnn_ctc_decoder_best(g, tok, 4, NULL);
  CHECK(n == 1 && tok[0].symbol == 1);
  n = rnn_ctc_decoder_best(b, tok, 4, NULL);
  CHECK_MSG(n == 2, "beam: %d tokens", n);
  if (n == 2) {
    CHECK(tok[0].symbol == 1 && tok[1].symbol == 2);
    CHECK(tok[0].start_frame == 0 && tok[0].end_frame == 1);
    /* b's span lies inside the ambiguous frames, after a. */
    CHECK(tok[1].start_frame >= 1 && tok[1].end_frame <= 4 && tok[1].start_frame < tok[1].end_frame);
    CHECK(tok[1].confidence > 0.44f && tok[1].confidence < 0.46f);
  }
  rnn_ctc_decoder_free(g);
  rnn_ctc_decoder_free(b);
}

/* A repeated symbol needs a blank between its copies; without one the copies collapse. */
static void test_repeats(int beam) {
  static const float collapse[][K] = {{0.01f, 0.97f, 0.01f, 0.01f}, {0.01f, 0.97f, 0.01f, 0.01f}};
  static const float twice[][K] = {
      {0.01f, 0.97f, 0.01f, 0.01f}, {0.97f, 0.01f, 0.01f, 0.01f}, {0.01f, 0.97f, 0.01f, 0.01f}};
  rnn_ctc_decoder *d = rnn_ctc_decoder_new(K, beam);
  CHECK(d != NULL);
  if (!d)
    return;
  rnn_ctc_token tok[4];
  push_all(d, collapse, 2);
  int n = rnn_ctc_decoder_best(d, tok, 4, NULL);
  CHECK_MSG(n == 1 && tok[0].end_frame == 2, "beam %d: %d tokens", beam, n);
  rnn_ctc_decoder_reset(d);
  push_all(d, twice, 3);
  n = rnn_ctc_decoder_best(d, tok, 4, NULL);
  CHECK_MSG(n == 2 && tok[0].symbol == 1 && tok[1].symbol == 1 && tok[1].start_frame == 2,
            "beam %d: %d tokens", beam, n);
  rnn_ctc_decoder_free(d);
}

/* Garbage posteriors (NaN, negative, > 1) never make the hypothesis' probability NaN. */
static void test_bad_posteriors(int beam) {
  const float bad[K] = {NAN, -1.0f, 2.0f, INFINITY};
  rnn_ctc_decoder *d = rnn_ctc_decoder_new(K, beam);
  CHECK(d != NULL);
  if (!d)
    return;
  for (int t = 0; t < 5; t++)
    rnn_ctc_decoder_push(d, bad);
  rnn_ctc_token tok[8];
  double lp = 0;
  int n = rnn_ctc_decoder_best(d, tok, 8, &lp);
  CHECK(n >= 0 && n <= 8);
  CHECK(!isnan(lp));
  for (int i = 0; i < n; i++)
    CHECK(!isnan(tok[i].confidence));
  rnn_ctc_decoder_free(d);
}

/* Long streams: thousands of frames, bounded memory and no allocation per frame. */
static void test_no_allocation(int beam) {
  rnn_ctc_decoder *d = rnn_ctc_decoder_new(12, beam);
  CHECK(d != NULL);
  if (!d)
    return;
  unsigned long long seed = 42;
  float p[12];
  rnn_ctc_token tok[64];
  long before = allocations;
  for (int t = 0; t < 5000; t++) {
    double sum = 0;
    for (int k = 0; k < 12; k++) {
      p[k] = test_uniform(&seed, 0.0f, 1.0f);
      p[k] = p[k] * p[k] * p[k] * p[k];
      sum += p[k];
    }
    for (int k = 0; k < 12; k++)
      p[k] = (float)(p[k] / sum);
    rnn_ctc_decoder_push(d, p);
    if (t % 50 == 0)
      rnn_ctc_decoder_best(d, tok, 64, NULL);
    if (t % 1000 == 999)
      rnn_ctc_decoder_reset(d);
  }
  CHECK_MSG(allocations == before, "beam %d: %ld allocations while decoding", beam,
            allocations - before);
  rnn_ctc_decoder_free(d);
}

/* Exactness: with a beam wider than the number of possible prefixes, prefix beam search is exact,
 * so its best labelling and probability must equal a brute-force sum over every alignment. */
#define BF_T 5
#define BF_K 3
static int collapse(const int *path, int T, int *labels) {
  int n = 0, prev = -1;
  for (int t = 0; t < T; t++) {
    if (path[t] != 0 && path[t] != prev)
      labels[n++] = path[t];
    prev = path[t];
  }
  return n;
}

static void test_beam_exact(void) {
  unsigned long long seed = 7;
  for (int trial = 0; trial < 20; trial++) {
    float post[BF_T][BF_K];
    for (int t = 0; t < BF_T; t++) {
      float sum = 0;
      for (int k = 0; k < BF_K; k++)
        sum += post[t][k] = test_uniform(&seed, 0.05f, 1.0f);
      for (int k = 0; k < BF_K; k++)
        post[t][k] /= sum;
    }
    /* Sum the probability of every labelling over all K^T alignments; labellings are keyed by
     * their symbols in base K (length <= T, symbols 1..K-1, so keys are unique). */
    static double prob[1 << 12];
    memset(prob, 0, sizeof(prob));
    int total = 1;
    for (int t = 0; t < BF_T; t++)
      total *= BF_K;
    for (int a = 0; a < total; a++) {
      int path[BF_T], labels[BF_T], x = a;
      double p = 1;
      for (int t = 0; t < BF_T; t++) {
        path[t] = x % BF_K;
        x /= BF_K;
        p *= post[t][path[t]];
      }
      int n = collapse(path, BF_T, labels), key = 0;
      for (int i = 0; i < n; i++)
        key = key * BF_K + labels[i];
      prob[key] += p;
    }
    int best_key = 0;
    for (int key = 1; key < (int)(sizeof(prob) / sizeof(prob[0])); key++)
      if (prob[key] > prob[best_key])
        best_key = key;

    rnn_ctc_decoder *d = rnn_ctc_decoder_new(BF_K, 64);
    CHECK(d != NULL);
    if (!d)
      return;
    for (int t = 0; t < BF_T; t++)
      rnn_ctc_decoder_push(d, post[t]);
    rnn_ctc_token tok[BF_T];
    double lp = 0;
    int n = rnn_ctc_decoder_best(d, tok, BF_T, &lp), key = 0;
    for (int i = 0; i < n; i++)
      key = key * BF_K + tok[i].symbol;
    CHECK_MSG(key == best_key, "trial %d: beam labelling %d, exact %d", trial, key, best_key);
    CHECK_NEAR(lp, log(prob[best_key]), 1e-6);
    /* Spans are ordered, inside the sequence, and non-empty. */
    for (int i = 0; i < n; i++) {
      CHECK(tok[i].start_frame < tok[i].end_frame && tok[i].end_frame <= BF_T);
      CHECK(i == 0 || tok[i].start_frame >= tok[i - 1].end_frame);
    }
    rnn_ctc_decoder_free(d);
  }
}

/* ---------------------------------------------------------------------------------------------
 * Voting over an ensemble's members (rnn_ctc_decoder_new_voting): frames are M x K posteriors.
 * ------------------------------------------------------------------------------------------- */
#define VT 7 /* frames per test sequence */

/* One member's frames from a symbol per frame: the symbol gets p, the rest shares 1 - p. */
static void member_frames(float (*frames)[K], const int *symbols, const float *p) {
  for (int t = 0; t < VT; t++)
    for (int k = 0; k < K; k++)
      frames[t][k] = k == symbols[t] ? p[t] : (1.0f - p[t]) / (K - 1);
}

/* Three members' frames, from a symbol per frame each, all with the same p per frame. */
static void three_members(float (*frames)[VT][K], const int *a, const int *b, const int *c, const float *p) {
  member_frames(frames[0], a, p);
  member_frames(frames[1], b, p);
  member_frames(frames[2], c, p);
}

/* Decodes M members' frames ([member][frame][K]) by voting; returns the token count. */
static int vote(int M, float (*frames)[VT][K], int beam, int max_frames, rnn_ctc_token *tok, int max) {
  rnn_ctc_decoder *d = rnn_ctc_decoder_new_voting(K, beam, M, max_frames);
  CHECK(d != NULL);
  if (!d)
    return -1;
  float row[8 * K];
  for (int t = 0; t < VT; t++) {
    for (int m = 0; m < M; m++)
      memcpy(row + m * K, frames[m][t], sizeof(float) * K);
    rnn_ctc_decoder_push(d, row);
  }
  int n = rnn_ctc_decoder_best(d, tok, max, NULL);
  rnn_ctc_decoder_free(d);
  return n;
}

static void test_vote_arguments(void) {
  CHECK(rnn_ctc_decoder_new_voting(K, 1, 0, 10) == NULL);
  CHECK(rnn_ctc_decoder_new_voting(K, 1, 3, 0) == NULL);
  CHECK(rnn_ctc_decoder_new_voting(K, 0, 3, 10) == NULL);
  CHECK(rnn_ctc_decoder_new_voting(1, 1, 3, 10) == NULL);
  rnn_ctc_decoder *d = rnn_ctc_decoder_new_voting(K, 1, 1, 10); /* one member: a plain decoder */
  CHECK(d != NULL);
  rnn_ctc_decoder_free(d);
}

/* Identical members decode as one member alone: same symbols, spans and confidences. */
static void test_vote_identical(int beam) {
  static const int sym[VT] = {0, 1, 1, 0, 2, 0, 3};
  static const float p[VT] = {0.9f, 0.8f, 0.7f, 0.9f, 0.85f, 0.9f, 0.6f};
  float frames[3][VT][K];
  for (int m = 0; m < 3; m++)
    member_frames(frames[m], sym, p);
  rnn_ctc_token one[8], three[8];
  rnn_ctc_decoder *d = rnn_ctc_decoder_new(K, beam);
  push_all(d, frames[0], VT);
  int n1 = rnn_ctc_decoder_best(d, one, 8, NULL);
  rnn_ctc_decoder_free(d);
  int n3 = vote(3, frames, beam, 100, three, 8);
  CHECK_MSG(n1 == 3 && n3 == n1, "beam %d: %d and %d tokens", beam, n1, n3);
  for (int i = 0; i < n1 && i < n3; i++) {
    CHECK(three[i].symbol == one[i].symbol);
    CHECK(three[i].start_frame == one[i].start_frame && three[i].end_frame == one[i].end_frame);
    CHECK_NEAR(three[i].confidence, one[i].confidence, 1e-6);
  }
}

/* Two members against one: the majority's symbol, the union of the voters' spans, and their mean
 * posterior of the chosen symbol as the confidence. */
static void test_vote_majority(void) {
  static const int a[VT] = {0, 1, 0, 0, 2, 2, 0}; /* "a b" */
  static const int b[VT] = {1, 0, 0, 2, 2, 0, 0}; /* "a b", a frame earlier */
  static const int c[VT] = {0, 1, 0, 0, 3, 0, 0}; /* "a c" */
  static const float p[VT] = {0.8f, 0.8f, 0.8f, 0.8f, 0.8f, 0.8f, 0.8f};
  float frames[3][VT][K];
  three_members(frames, a, b, c, p);
  rnn_ctc_token tok[8];
  int n = vote(3, frames, 1, 100, tok, 8);
  CHECK(n == 2);
  if (n != 2)
    return;
  CHECK(tok[0].symbol == 1 && tok[1].symbol == 2);
  CHECK(tok[0].start_frame == 0 && tok[0].end_frame == 2); /* members: [1,2), [0,1), [1,2) */
  CHECK(tok[1].start_frame == 3 && tok[1].end_frame == 6); /* [4,6), [3,5), [4,5) */
  /* b over the members' spans: 0.8 (a), 0.8 (b), and c's [4,5): 0.2/3 */
  CHECK_NEAR(tok[1].confidence, (0.8 + 0.8 + 0.2 / 3) / 3, 1e-6);
}

/* The vote weighs what each member heard, not only its best symbol: two members that hesitated
 * between b and c (b by a hair) lose to one that is sure of c. */
static void test_vote_soft(void) {
  float frames[3][VT][K];
  for (int m = 0; m < 3; m++)
    for (int t = 0; t < VT; t++) {
      float *f = frames[m][t];
      if (t != 3) {
        f[0] = 0.97f, f[1] = f[2] = f[3] = 0.01f;
      } else if (m < 2) {
        f[0] = 0.02f, f[1] = 0.02f, f[2] = 0.50f, f[3] = 0.46f;
      } else {
        f[0] = 0.01f, f[1] = 0.01f, f[2] = 0.02f, f[3] = 0.96f;
      }
    }
  rnn_ctc_token tok[4];
  int n = vote(3, frames, 1, 100, tok, 4);
  CHECK(n == 1 && tok[0].symbol == 3);
  /* Without the sure member, the hesitant pair decides: b. */
  n = vote(2, frames, 1, 100, tok, 4);
  CHECK(n == 1 && tok[0].symbol == 2);
}

/* The length most members decoded wins, and only they vote; a tie goes to the first member. */
static void test_vote_lengths(void) {
  static const int two[VT] = {0, 1, 0, 0, 2, 0, 0};   /* "a b" */
  static const int three[VT] = {0, 3, 0, 3, 0, 3, 0}; /* "c c c" */
  static const int three2[VT] = {0, 1, 0, 2, 0, 3, 0}; /* "a b c" */
  static const float p[VT] = {0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.9f};
  float frames[3][VT][K];
  three_members(frames, two, three, three2, p);
  rnn_ctc_token tok[8];
  int n = vote(3, frames, 1, 100, tok, 8);
  CHECK(n == 3); /* "a b" was outvoted on length; "c c c" and "a b c" tie on each symbol... */
  if (n == 3)
    CHECK(tok[0].symbol == 3 && tok[1].symbol == 3 && tok[2].symbol == 3); /* ...and the first wins */
  n = vote(2, frames, 1, 100, tok, 8); /* "a b" against "c c c": the first member's length */
  CHECK(n == 2 && tok[0].symbol == 1 && tok[1].symbol == 2);
  CHECK(vote(3, frames, 1, 100, tok, 1) == 1); /* at most max tokens */
}

/* Past max_frames, the members' symbols still decode; a token there votes for its own symbol. */
static void test_vote_past_history(void) {
  static const int a[VT] = {0, 1, 0, 0, 0, 2, 0};
  static const int c[VT] = {0, 1, 0, 0, 0, 3, 0};
  static const float p[VT] = {0.9f, 0.9f, 0.9f, 0.9f, 0.9f, 0.6f, 0.9f};
  float frames[3][VT][K];
  three_members(frames, a, c, c, p);
  rnn_ctc_token tok[4];
  int n = vote(3, frames, 1, 4, tok, 4); /* frames 4.. are not kept */
  CHECK(n == 2 && tok[0].symbol == 1 && tok[1].symbol == 3);
  if (n == 2) /* the first member's "b" has no posterior of c to show */
    CHECK_NEAR(tok[1].confidence, (0.0 + 0.6 + 0.6) / 3, 1e-6);
}

static void test_vote_no_allocation(int beam) {
  rnn_ctc_decoder *d = rnn_ctc_decoder_new_voting(K, beam, 3, 500);
  CHECK(d != NULL);
  if (!d)
    return;
  unsigned long long seed = 7;
  float p[3 * K];
  rnn_ctc_token tok[64];
  long before = allocations;
  for (int t = 0; t < 2000; t++) {
    for (int i = 0; i < 3 * K; i++)
      p[i] = test_uniform(&seed, 0.0f, 1.0f);
    rnn_ctc_decoder_push(d, p);
    if (t % 10 == 0)
      rnn_ctc_decoder_best(d, tok, 64, NULL);
    if (t % 700 == 699)
      rnn_ctc_decoder_reset(d);
  }
  CHECK_MSG(allocations == before, "beam %d: %ld allocations while voting", beam, allocations - before);
  rnn_ctc_decoder_free(d);
}

int main(void) {
  test_arguments();
  for (int beam = 1; beam <= 16; beam *= 2) {
    test_spans(beam);
    test_repeats(beam);
    test_bad_posteriors(beam);
    test_no_allocation(beam);
  }
  test_beam_beats_greedy();
  test_beam_merges_alignments();
  test_beam_exact();
  test_vote_arguments();
  for (int beam = 1; beam <= 4; beam *= 2) {
    test_vote_identical(beam);
    test_vote_no_allocation(beam);
  }
  test_vote_majority();
  test_vote_soft();
  test_vote_lengths();
  test_vote_past_history();
  return test_summary("test_ctc_decode");
}
