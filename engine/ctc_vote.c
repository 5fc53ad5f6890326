/* gst-rnn engine: CTC decoding of an ensemble by voting over its members' hypotheses.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Why not average the members' posteriors frame by frame, as a classifier ensemble does: CTC
 * members trained alike still emit a symbol's spike on different frames, a frame or two apart, so
 * the averaged frames hold two half-height spikes, and the blank wins between (measured on FSDD
 * strings: 37.9 % digit errors for an averaged ensemble of members at 18.3-19.7 %). Their decoded
 * symbols, on the other hand, line up: members nearly always agree on how many digits were said,
 * and disagree on which. So each member is decoded on its own and the hypotheses are combined
 * position by position (the rule is in rnn.h, rnn_ctc_decoder_new_voting).
 *
 * A symbol is described by the member's mean posteriors over the symbol's frames, not by its one
 * best symbol: a member that hesitated between "five" and "nine" still tells the others so. For
 * that, the posteriors of every member are kept as running sums (one row per frame), so a span's
 * mean is one subtraction, whatever its length, and asking for the best hypothesis at every frame
 * (partial results) stays cheap.
 */
#include <stdlib.h>
#include <string.h>

#include "ctc_internal.h"

struct ctc_vote {
  int num_symbols, members, max_frames;
  rnn_ctc_decoder **member;
  /* (max_frames + 1) rows of members x num_symbols: row t holds the sums of frames 0 .. t-1. */
  double *running_sums;
  int frames; /* frames pushed since the reset */
  /* Scratch for ctc_vote_best. */
  rnn_ctc_token *member_tokens; /* members x RNN_CTC_MAX_TOKENS */
  int *lengths;
  double *log_probs;
  double *description, *votes; /* num_symbols each */
};

void ctc_vote_free(ctc_vote *v) {
  if (!v)
    return;
  if (v->member)
    for (int m = 0; m < v->members; m++)
      rnn_ctc_decoder_free(v->member[m]);
  free(v->member);
  free(v->running_sums);
  free(v->member_tokens);
  free(v->lengths);
  free(v->log_probs);
  free(v->description);
  free(v->votes);
  free(v);
}

static size_t row_size(const ctc_vote *v) { return (size_t)v->members * (size_t)v->num_symbols; }

ctc_vote *ctc_vote_new(int num_symbols, int beam_width, int members, int max_frames) {
  /* num_symbols as rnn_ctc_decoder_new takes them, checked first: they size the running sums. */
  if (num_symbols < 2 || num_symbols > 65536 || members < 2 || members > 256 || max_frames < 1 ||
      max_frames > (1 << 24))
    return NULL;
  ctc_vote *v = calloc(1, sizeof(*v));
  if (!v)
    return NULL;
  v->num_symbols = num_symbols;
  v->members = members;
  v->max_frames = max_frames;
  v->member = calloc((size_t)members, sizeof(*v->member));
  v->running_sums = malloc(((size_t)max_frames + 1) * row_size(v) * sizeof(double));
  v->member_tokens = malloc((size_t)members * RNN_CTC_MAX_TOKENS * sizeof(rnn_ctc_token));
  v->lengths = malloc((size_t)members * sizeof(int));
  v->log_probs = malloc((size_t)members * sizeof(double));
  v->description = malloc((size_t)num_symbols * sizeof(double));
  v->votes = malloc((size_t)num_symbols * sizeof(double));
  if (!v->member || !v->running_sums || !v->member_tokens || !v->lengths || !v->log_probs ||
      !v->description || !v->votes)
    goto fail;
  for (int m = 0; m < members; m++)
    if (!(v->member[m] = rnn_ctc_decoder_new(num_symbols, beam_width)))
      goto fail;
  ctc_vote_reset(v);
  return v;
fail:
  ctc_vote_free(v);
  return NULL;
}

void ctc_vote_reset(ctc_vote *v) {
  for (int m = 0; m < v->members; m++)
    rnn_ctc_decoder_reset(v->member[m]);
  memset(v->running_sums, 0, row_size(v) * sizeof(double)); /* row 0: nothing summed yet */
  v->frames = 0;
}

void ctc_vote_push(ctc_vote *v, const float *posteriors) {
  for (int m = 0; m < v->members; m++)
    rnn_ctc_decoder_push(v->member[m], posteriors + (size_t)m * (size_t)v->num_symbols);
  if (v->frames < v->max_frames) {
    size_t n = row_size(v);
    const double *prev = v->running_sums + (size_t)v->frames * n;
    double *row = v->running_sums + (size_t)(v->frames + 1) * n;
    for (size_t i = 0; i < n; i++)
      row[i] = prev[i] + rnn_ctc_clean_posterior(posteriors[i]);
  }
  v->frames++;
}

/* Member m's sum of symbol k's posteriors over frames [start, end), within the kept frames;
 * *frames is how many of them were kept. */
static double span_sum(const ctc_vote *v, int m, int k, int start, int end, int *frames) {
  int kept = v->frames < v->max_frames ? v->frames : v->max_frames;
  if (end > kept)
    end = kept;
  if (start >= end) {
    *frames = 0;
    return 0.0;
  }
  *frames = end - start;
  size_t n = row_size(v), col = (size_t)m * (size_t)v->num_symbols + (size_t)k;
  return v->running_sums[(size_t)end * n + col] - v->running_sums[(size_t)start * n + col];
}

/* Adds member m's description of its token t to votes: its mean posteriors over the token's frames,
 * renormalised over the non-blank symbols; a token past the kept frames votes for its own symbol
 * alone. */
static void add_description(ctc_vote *v, int m, const rnn_ctc_token *t) {
  double total = 0.0;
  int frames = 0;
  for (int k = 1; k < v->num_symbols; k++) {
    v->description[k] = span_sum(v, m, k, t->start_frame, t->end_frame, &frames);
    total += v->description[k];
  }
  if (frames == 0 || !(total > 0.0)) {
    v->votes[t->symbol] += 1.0;
    return;
  }
  for (int k = 1; k < v->num_symbols; k++)
    v->votes[k] += v->description[k] / total;
}

/* Member m's mean posterior of symbol k over its token t's frames (t's own confidence when they
 * were not kept and k is t's symbol). */
static double member_confidence(const ctc_vote *v, int m, const rnn_ctc_token *t, int k) {
  int frames;
  double sum = span_sum(v, m, k, t->start_frame, t->end_frame, &frames);
  if (frames == 0)
    return k == t->symbol ? t->confidence : 0.0;
  return sum / frames;
}

/* The length most members decoded; among equally frequent lengths, the first member's. */
static int majority_length(const ctc_vote *v) {
  int length = v->lengths[0], best_count = 0;
  for (int m = 0; m < v->members; m++) {
    int count = 0;
    for (int o = 0; o < v->members; o++)
      count += v->lengths[o] == v->lengths[m];
    if (count > best_count) {
      best_count = count;
      length = v->lengths[m];
    }
  }
  return length;
}

int ctc_vote_best(ctc_vote *v, rnn_ctc_token *tokens, int max, double *log_prob) {
  for (int m = 0; m < v->members; m++)
    v->lengths[m] = rnn_ctc_decoder_best(v->member[m], v->member_tokens + (size_t)m * RNN_CTC_MAX_TOKENS,
                                         RNN_CTC_MAX_TOKENS, &v->log_probs[m]);
  int length = majority_length(v), first = 0;
  while (v->lengths[first] != length)
    first++;
  if (log_prob)
    *log_prob = v->log_probs[first];
  int count = length < max ? length : max;
  for (int i = 0; i < count; i++) {
    memset(v->votes, 0, (size_t)v->num_symbols * sizeof(double));
    int start = 0, end = 0, voters = 0;
    for (int m = first; m < v->members; m++) {
      if (v->lengths[m] != length)
        continue;
      const rnn_ctc_token *t = &v->member_tokens[(size_t)m * RNN_CTC_MAX_TOKENS + (size_t)i];
      add_description(v, m, t);
      if (voters++ == 0 || t->start_frame < start)
        start = t->start_frame;
      if (t->end_frame > end)
        end = t->end_frame;
    }
    /* A tie goes to the first voter's symbol. */
    int symbol = v->member_tokens[(size_t)first * RNN_CTC_MAX_TOKENS + (size_t)i].symbol;
    for (int k = 1; k < v->num_symbols; k++)
      if (v->votes[k] > v->votes[symbol])
        symbol = k;
    double confidence = 0.0;
    for (int m = first; m < v->members; m++)
      if (v->lengths[m] == length)
        confidence += member_confidence(v, m, &v->member_tokens[(size_t)m * RNN_CTC_MAX_TOKENS + (size_t)i],
                                        symbol);
    tokens[i].symbol = symbol;
    tokens[i].start_frame = start;
    tokens[i].end_frame = end;
    tokens[i].confidence = (float)(confidence / voters);
  }
  return count;
}
