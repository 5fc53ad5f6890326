/* gst-rnn engine: what the CTC decoder and its voting ensemble share (engine-internal).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_RNN_ENGINE_CTC_INTERNAL_H
#define GST_RNN_ENGINE_CTC_INTERNAL_H

#include "rnn.h"

/* Symbols a hypothesis holds at most (extensions past that are not considered). */
#define RNN_CTC_MAX_TOKENS 1024

/* Negative or NaN posteriors carry no evidence, and none is above 1: the value every sum uses. */
static inline float rnn_ctc_clean_posterior(float p) {
  if (!(p > 0.0f))
    return 0.0f;
  return p > 1.0f ? 1.0f : p;
}

/* The voting ensemble behind rnn_ctc_decoder_new_voting (ctc_vote.c): a decoder with a vote
 * delegates every call to it. */
typedef struct ctc_vote ctc_vote;
ctc_vote *ctc_vote_new(int num_symbols, int beam_width, int members, int max_frames);
void ctc_vote_free(ctc_vote *v);
void ctc_vote_reset(ctc_vote *v);
void ctc_vote_push(ctc_vote *v, const float *posteriors);
int ctc_vote_best(ctc_vote *v, rnn_ctc_token *tokens, int max, double *log_prob);

#endif
