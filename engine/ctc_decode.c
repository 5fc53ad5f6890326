/* gst-rnn engine: streaming CTC decoding (greedy and prefix beam search).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Frames of posteriors (softmax outputs, symbol 0 = blank) arrive one at a time; the decoder keeps
 * the best hypotheses so far and can be asked for the current best at any frame, which is what a
 * streaming recogniser needs for partial results.
 *
 * Greedy (beam width 1) takes the most probable symbol of each frame, merges repeats and drops
 * blanks: a symbol's span is the run of frames where it was the best symbol.
 *
 * Prefix beam search (Hannun et al., 2014) keeps, for each of the beam_width best label prefixes,
 * the probability of all alignments ending in a blank (p_b) and ending in the prefix's last symbol
 * (p_nb), in the log domain. Spans and confidences of a prefix come from the single most probable
 * contribution that produced it at each frame (a Viterbi-style approximation of the alignment),
 * since summed alignments have no single span.
 *
 * Memory is allocated once in rnn_ctc_decoder_new(): every hypothesis holds at most
 * RNN_CTC_MAX_TOKENS symbols (extensions past that are not considered), so pushing frames never
 * allocates. Streaming users end utterances (and reset) long before that.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctc_internal.h"
/* Symbols whose posterior is below this are not considered as extensions in beam search: their
 * prefixes cannot enter a beam of peaky CTC outputs, and skipping them keeps the cost per frame
 * proportional to the few plausible symbols. */
#define RNN_CTC_PRUNE_LOG_PROB (-11.5f) /* ~1e-5 */
#define RNN_CTC_LOG_FLOOR (-1e30)

/* One token of a hypothesis while decoding: its frames and the sum of its posteriors. */
typedef struct {
  int symbol;
  int start_frame, end_frame;
  double posterior_sum;
} ctc_token;

/* One prefix of the beam. */
typedef struct {
  ctc_token *tokens; /* RNN_CTC_MAX_TOKENS */
  int length;
  uint64_t hash; /* of the symbol sequence, to find equal prefixes quickly */
  double log_p_blank, log_p_symbol;
} ctc_beam;

/* How a candidate's token spans derive from a beam of the previous frame. */
typedef enum {
  CTC_FROM_BLANK,  /* same prefix, this frame was a blank: spans unchanged */
  CTC_FROM_REPEAT, /* same prefix, this frame repeats the last symbol: the last span grows */
  CTC_FROM_EXTEND  /* prefix + symbol: a new token starts at this frame */
} ctc_origin;

typedef struct {
  int source;   /* beam of the previous frame whose symbols (plus maybe symbol) make the prefix */
  int symbol;   /* appended symbol, or -1 */
  uint64_t hash;
  int length;
  double log_p_blank, log_p_symbol;
  /* The most probable single contribution: where the spans come from. */
  double best_contribution;
  double total; /* log(p_blank + p_symbol), set before selection */
  int span_source;
  ctc_origin span_origin;
} ctc_candidate;

struct rnn_ctc_decoder {
  ctc_vote *vote; /* an ensemble's voting decoder (ctc_vote.c) takes every call; NULL otherwise */
  int num_symbols;
  int beam_width;
  int frame; /* frames pushed since the last reset */

  /* Greedy state. */
  ctc_token *greedy_tokens;
  int greedy_length;
  int greedy_previous; /* best symbol of the previous frame, or -1 */
  double greedy_log_prob;

  /* Beam state: two generations of beams, swapped each frame. */
  ctc_beam *beams, *next_beams;
  int num_beams;
  ctc_candidate *candidates;
  int max_candidates, num_candidates;
  int *table; /* open addressing: candidate index + 1, 0 = empty */
  int table_mask;
  int *used_slots; /* the table slots filled this frame (max_candidates), cleared after it */
  float *log_posteriors;
  int *order;
};

static double log_add(double a, double b) {
  if (a < b) {
    double t = a;
    a = b;
    b = t;
  }
  if (b <= RNN_CTC_LOG_FLOOR)
    return a;
  return a + log1p(exp(b - a));
}

static uint64_t hash_extend(uint64_t hash, int symbol) {
  return (hash ^ (uint64_t)(symbol + 1)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

static double beam_total(const ctc_beam *b) {
  return log_add(b->log_p_blank, b->log_p_symbol);
}

void rnn_ctc_decoder_free(rnn_ctc_decoder *d) {
  if (!d)
    return;
  ctc_vote_free(d->vote);
  free(d->greedy_tokens);
  if (d->beams)
    for (int i = 0; i < d->beam_width; i++)
      free(d->beams[i].tokens);
  if (d->next_beams)
    for (int i = 0; i < d->beam_width; i++)
      free(d->next_beams[i].tokens);
  free(d->beams);
  free(d->next_beams);
  free(d->candidates);
  free(d->table);
  free(d->used_slots);
  free(d->log_posteriors);
  free(d->order);
  free(d);
}

static int allocate_beams(ctc_beam **beams, int n) {
  *beams = calloc((size_t)n, sizeof(**beams));
  if (!*beams)
    return 0;
  for (int i = 0; i < n; i++) {
    (*beams)[i].tokens = malloc(RNN_CTC_MAX_TOKENS * sizeof(ctc_token));
    if (!(*beams)[i].tokens)
      return 0;
  }
  return 1;
}

rnn_ctc_decoder *rnn_ctc_decoder_new(int num_symbols, int beam_width) {
  /* The blank plus at least one symbol; beams beyond a few hundred are not a streaming use. */
  if (num_symbols < 2 || num_symbols > 65536 || beam_width < 1 || beam_width > 1024)
    return NULL;
  rnn_ctc_decoder *d = calloc(1, sizeof(*d));
  if (!d)
    return NULL;
  d->num_symbols = num_symbols;
  d->beam_width = beam_width;
  d->greedy_tokens = malloc(RNN_CTC_MAX_TOKENS * sizeof(ctc_token));
  d->log_posteriors = malloc((size_t)num_symbols * sizeof(float));
  if (!d->greedy_tokens || !d->log_posteriors)
    goto fail;
  if (beam_width > 1) {
    /* Each beam stays (blank or repeat) or extends by any non-blank symbol. */
    d->max_candidates = beam_width * num_symbols;
    int table_size = 1;
    while (table_size < 2 * d->max_candidates)
      table_size <<= 1;
    d->table_mask = table_size - 1;
    d->candidates = malloc((size_t)d->max_candidates * sizeof(ctc_candidate));
    d->table = calloc((size_t)table_size, sizeof(int));
    d->used_slots = malloc((size_t)d->max_candidates * sizeof(int));
    d->order = malloc((size_t)d->max_candidates * sizeof(int));
    if (!d->candidates || !d->table || !d->used_slots || !d->order || !allocate_beams(&d->beams, beam_width) ||
        !allocate_beams(&d->next_beams, beam_width))
      goto fail;
  }
  rnn_ctc_decoder_reset(d);
  return d;
fail:
  rnn_ctc_decoder_free(d);
  return NULL;
}

rnn_ctc_decoder *rnn_ctc_decoder_new_voting(int num_symbols, int beam_width, int members,
                                            int max_frames) {
  if (members == 1 && max_frames >= 1)
    return rnn_ctc_decoder_new(num_symbols, beam_width);
  /* The outer decoder only carries the vote (every call goes to it): no buffers of its own. The
   * vote's member decoders check num_symbols and beam_width. */
  ctc_vote *vote = ctc_vote_new(num_symbols, beam_width, members, max_frames);
  if (!vote)
    return NULL;
  rnn_ctc_decoder *d = calloc(1, sizeof(*d));
  if (!d) {
    ctc_vote_free(vote);
    return NULL;
  }
  d->vote = vote;
  d->num_symbols = num_symbols;
  d->beam_width = beam_width;
  return d;
}

void rnn_ctc_decoder_reset(rnn_ctc_decoder *d) {
  if (!d)
    return;
  if (d->vote)
    ctc_vote_reset(d->vote);
  d->frame = 0;
  d->greedy_length = 0;
  d->greedy_previous = -1;
  d->greedy_log_prob = 0.0;
  if (d->beams) {
    for (int i = 0; i < d->num_candidates; i++)
      d->table[d->used_slots[i]] = 0;
    d->num_candidates = 0;
    /* One empty prefix, reached with probability 1 through blanks. */
    d->num_beams = 1;
    d->beams[0].length = 0;
    d->beams[0].hash = 0;
    d->beams[0].log_p_blank = 0.0;
    d->beams[0].log_p_symbol = RNN_CTC_LOG_FLOOR;
  }
}

static void greedy_push(rnn_ctc_decoder *d, const float *posteriors) {
  int best = 0;
  float best_p = rnn_ctc_clean_posterior(posteriors[0]);
  for (int k = 1; k < d->num_symbols; k++) {
    float p = rnn_ctc_clean_posterior(posteriors[k]);
    if (p > best_p) {
      best_p = p;
      best = k;
    }
  }
  d->greedy_log_prob += log(best_p > 1e-30f ? best_p : 1e-30f);
  if (best != 0) {
    if (best == d->greedy_previous && d->greedy_length > 0) {
      ctc_token *t = &d->greedy_tokens[d->greedy_length - 1];
      t->end_frame = d->frame + 1;
      t->posterior_sum += best_p;
    } else if (d->greedy_length < RNN_CTC_MAX_TOKENS) {
      ctc_token *t = &d->greedy_tokens[d->greedy_length++];
      t->symbol = best;
      t->start_frame = d->frame;
      t->end_frame = d->frame + 1;
      t->posterior_sum = best_p;
    }
  }
  d->greedy_previous = best;
}

static int candidate_matches(const rnn_ctc_decoder *d, const ctc_candidate *c, int source,
                             int symbol) {
  /* Two (source, symbol) pairs name the same prefix. Compare through the beams' symbols. */
  const ctc_beam *a = &d->beams[source];
  const ctc_beam *b = &d->beams[c->source];
  int la = a->length + (symbol >= 0), lb = b->length + (c->symbol >= 0);
  if (la != lb)
    return 0;
  for (int i = 0; i < la; i++) {
    int sa = i < a->length ? a->tokens[i].symbol : symbol;
    int sb = i < b->length ? b->tokens[i].symbol : c->symbol;
    if (sa != sb)
      return 0;
  }
  return 1;
}

/* Adds probability mass to the candidate prefix (source beam + symbol, symbol -1 for the same
 * prefix), creating the candidate when it is new. */
static void add_candidate(rnn_ctc_decoder *d, int source, int symbol, double log_blank,
                          double log_symbol, ctc_origin origin) {
  const ctc_beam *b = &d->beams[source];
  uint64_t hash = symbol >= 0 ? hash_extend(b->hash, symbol) : b->hash;
  int length = b->length + (symbol >= 0);
  int slot = (int)(hash & (uint64_t)d->table_mask);
  ctc_candidate *c = NULL;
  while (d->table[slot]) {
    ctc_candidate *e = &d->candidates[d->table[slot] - 1];
    if (e->hash == hash && e->length == length && candidate_matches(d, e, source, symbol)) {
      c = e;
      break;
    }
    slot = (slot + 1) & d->table_mask;
  }
  if (!c) {
    /* Cannot overflow: there are at most beam_width * num_symbols distinct (source, symbol)
     * pairs, and the table is at least twice that size. */
    d->used_slots[d->num_candidates] = slot;
    c = &d->candidates[d->num_candidates++];
    d->table[slot] = d->num_candidates;
    c->source = source;
    c->symbol = symbol;
    c->hash = hash;
    c->length = length;
    c->log_p_blank = RNN_CTC_LOG_FLOOR;
    c->log_p_symbol = RNN_CTC_LOG_FLOOR;
    c->best_contribution = RNN_CTC_LOG_FLOOR;
    c->span_source = source;
    c->span_origin = origin;
  }
  double contribution = log_add(log_blank, log_symbol);
  c->log_p_blank = log_add(c->log_p_blank, log_blank);
  c->log_p_symbol = log_add(c->log_p_symbol, log_symbol);
  if (contribution > c->best_contribution) {
    c->best_contribution = contribution;
    c->span_source = source;
    c->span_origin = origin;
  }
}

/* Indices of the beam_width most probable candidates, best first, into d->order. Ties keep the
 * earlier candidate (candidates are created in beam order), so results are deterministic. */
static int select_best(rnn_ctc_decoder *d) {
  int n = d->num_candidates < d->beam_width ? d->num_candidates : d->beam_width;
  for (int i = 0; i < d->num_candidates; i++) {
    d->order[i] = i;
    d->candidates[i].total = log_add(d->candidates[i].log_p_blank, d->candidates[i].log_p_symbol);
  }
  for (int i = 0; i < n; i++) {
    int best = i;
    double best_total = d->candidates[d->order[i]].total;
    for (int j = i + 1; j < d->num_candidates; j++) {
      double t = d->candidates[d->order[j]].total;
      if (t > best_total) {
        best_total = t;
        best = j;
      }
    }
    int tmp = d->order[i];
    d->order[i] = d->order[best];
    d->order[best] = tmp;
  }
  return n;
}

/* Writes the candidate's prefix, with spans from its most probable contribution, into beam out. */
static void materialise(const rnn_ctc_decoder *d, const ctc_candidate *c, ctc_beam *out,
                        const float *posteriors) {
  const ctc_beam *from = &d->beams[c->span_source];
  /* The span source is either the candidate's own source or, for merged prefixes, another beam
   * whose symbols are the same prefix (same prefix: it is the prefix itself, or prefix minus its
   * last symbol when the contribution is an extension). */
  memcpy(out->tokens, from->tokens, (size_t)from->length * sizeof(ctc_token));
  out->length = from->length;
  if (c->span_origin == CTC_FROM_REPEAT && out->length > 0) {
    ctc_token *t = &out->tokens[out->length - 1];
    t->end_frame = d->frame + 1;
    t->posterior_sum += rnn_ctc_clean_posterior(posteriors[t->symbol]);
  } else if (c->span_origin == CTC_FROM_EXTEND) {
    /* The appended symbol is the prefix's last symbol, whichever beam contributed: the symbol
     * the candidate was created with, or the last symbol of the beam that is the prefix. */
    const ctc_beam *own = &d->beams[c->source];
    int symbol = c->symbol >= 0 ? c->symbol : own->tokens[own->length - 1].symbol;
    ctc_token *t = &out->tokens[out->length++];
    t->symbol = symbol;
    t->start_frame = d->frame;
    t->end_frame = d->frame + 1;
    t->posterior_sum = rnn_ctc_clean_posterior(posteriors[symbol]);
  }
  out->hash = c->hash;
  out->log_p_blank = c->log_p_blank;
  out->log_p_symbol = c->log_p_symbol;
}

static void beam_push(rnn_ctc_decoder *d, const float *posteriors) {
  for (int k = 0; k < d->num_symbols; k++) {
    float p = rnn_ctc_clean_posterior(posteriors[k]);
    d->log_posteriors[k] = p > 0.0f ? logf(p) : -1e30f;
  }
  /* Only the slots filled last frame need clearing: large alphabets keep a large table. */
  for (int i = 0; i < d->num_candidates; i++)
    d->table[d->used_slots[i]] = 0;
  d->num_candidates = 0;
  const double log_blank = d->log_posteriors[0];

  for (int i = 0; i < d->num_beams; i++) {
    const ctc_beam *b = &d->beams[i];
    double total = beam_total(b);
    int last = b->length > 0 ? b->tokens[b->length - 1].symbol : -1;
    /* The prefix stays: a blank after anything, or the last symbol again (collapsed). */
    add_candidate(d, i, -1, total + log_blank, RNN_CTC_LOG_FLOOR, CTC_FROM_BLANK);
    if (last > 0)
      add_candidate(d, i, -1, RNN_CTC_LOG_FLOOR, b->log_p_symbol + d->log_posteriors[last],
                    CTC_FROM_REPEAT);
    if (b->length >= RNN_CTC_MAX_TOKENS)
      continue;
    for (int k = 1; k < d->num_symbols; k++) {
      double lp = d->log_posteriors[k];
      if (lp < RNN_CTC_PRUNE_LOG_PROB)
        continue;
      /* The same symbol twice needs a blank between them: only the blank-ending paths extend. */
      double from = k == last ? b->log_p_blank : total;
      if (from <= RNN_CTC_LOG_FLOOR)
        continue;
      add_candidate(d, i, k, RNN_CTC_LOG_FLOOR, from + lp, CTC_FROM_EXTEND);
    }
  }

  int n = select_best(d);
  for (int i = 0; i < n; i++)
    materialise(d, &d->candidates[d->order[i]], &d->next_beams[i], posteriors);
  ctc_beam *t = d->beams;
  d->beams = d->next_beams;
  d->next_beams = t;
  d->num_beams = n;
}

void rnn_ctc_decoder_push(rnn_ctc_decoder *d, const float *posteriors) {
  if (!d || !posteriors)
    return;
  if (d->vote)
    ctc_vote_push(d->vote, posteriors);
  else if (d->beam_width == 1)
    greedy_push(d, posteriors);
  else
    beam_push(d, posteriors);
  d->frame++;
}

static int export_tokens(const ctc_token *in, int n, rnn_ctc_token *out, int max) {
  int count = n < max ? n : max;
  for (int i = 0; i < count; i++) {
    out[i].symbol = in[i].symbol;
    out[i].start_frame = in[i].start_frame;
    out[i].end_frame = in[i].end_frame;
    int frames = in[i].end_frame - in[i].start_frame;
    out[i].confidence = frames > 0 ? (float)(in[i].posterior_sum / frames) : 0.0f;
  }
  return count;
}

int rnn_ctc_decoder_best(const rnn_ctc_decoder *d, rnn_ctc_token *tokens, int max,
                         double *log_prob) {
  if (!d)
    return 0;
  if (max < 0 || !tokens)
    max = 0;
  if (d->vote)
    return ctc_vote_best(d->vote, tokens, max, log_prob);
  if (d->beam_width == 1) {
    if (log_prob)
      *log_prob = d->greedy_log_prob;
    return export_tokens(d->greedy_tokens, d->greedy_length, tokens, max);
  }
  const ctc_beam *b = &d->beams[0];
  if (log_prob)
    *log_prob = beam_total(b);
  return export_tokens(b->tokens, b->length, tokens, max);
}
