/* One model shared by 8 threads, each with its own state: every thread's outputs are bit-identical
 * to a single thread's (the model is read-only, the kernels are deterministic, nothing is global).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"
#include "testutil.h"

enum { THREADS = 8, IN = 20, T = 60, REPEATS = 3 };

typedef struct {
  const rnn_model *stream_model; /* unidirectional */
  const rnn_model *bidir_model;
  const float *x;
  float *stream_out; /* T x O */
  float *seq_out;    /* T x O (bidirectional model) */
  float *batch_out[3];
  int ok;
} job;

static const int batch_lengths[3] = {T, T / 2, 7};

static void *run_job(void *arg) {
  job *j = arg;
  j->ok = 1;
  int O = rnn_model_output_size(j->stream_model);
  for (int rep = 0; rep < REPEATS; rep++) {
    rnn_state *s = rnn_state_new(j->stream_model);
    if (!s) {
      j->ok = 0;
      return NULL;
    }
    /* the first frames twice, with a reset between, to mix state handling into the run */
    for (int t = 0; t < 5; t++)
      rnn_step(s, j->x + t * IN);
    rnn_state_reset(s);
    for (int t = 0; t < T; t++) {
      const float *y = rnn_step(s, j->x + t * IN);
      if (!y)
        j->ok = 0;
      else
        memcpy(j->stream_out + t * O, y, sizeof(float) * (size_t)O);
    }
    rnn_state_free(s);
    if (rnn_forward_sequence(j->bidir_model, j->x, T, j->seq_out) != RNN_OK)
      j->ok = 0;
    const float *xs[3] = {j->x, j->x + IN, j->x + 2 * IN};
    if (rnn_forward_batch(j->bidir_model, xs, batch_lengths, 3, j->batch_out) != RNN_OK)
      j->ok = 0;
  }
  return NULL;
}

static void job_init(job *j, const rnn_model *sm, const rnn_model *bm, const float *x) {
  j->stream_model = sm;
  j->bidir_model = bm;
  j->x = x;
  j->stream_out = calloc((size_t)T * (size_t)rnn_model_output_size(sm), sizeof(float));
  j->seq_out = calloc((size_t)T * (size_t)rnn_model_output_size(bm), sizeof(float));
  for (int b = 0; b < 3; b++)
    j->batch_out[b] = calloc((size_t)T * (size_t)rnn_model_output_size(bm), sizeof(float));
}

static void job_free(job *j) {
  free(j->stream_out);
  free(j->seq_out);
  for (int b = 0; b < 3; b++)
    free(j->batch_out[b]);
}

static rnn_model *build(rnn_cell_kind cell, int bidir, uint64_t seed) {
  rnn_model *m = rnn_model_new(IN);
  rnn_model_add_layer(m, cell, 48, bidir);
  rnn_model_add_layer(m, cell, 33, bidir);
  rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 7, RNN_POOL_LAST);
  if (rnn_model_finalize(m) != RNN_OK)
    return NULL;
  rnn_model_init_weights(m, seed);
  return m;
}

int main(void) {
  const rnn_cell_kind cells[3] = {RNN_CELL_LSTM, RNN_CELL_GRU, RNN_CELL_GRU_RESET_BEFORE};
  unsigned long long seed = 2024;
  float *x = malloc(sizeof(float) * T * IN);
  for (int i = 0; i < T * IN; i++)
    x[i] = test_uniform(&seed, -1.0f, 1.0f);

  for (int ci = 0; ci < 3; ci++) {
    rnn_model *sm = build(cells[ci], 0, 1), *bm = build(cells[ci], 1, 2);
    CHECK(sm && bm);
    if (!sm || !bm)
      continue;
    /* a second reference keeps each model alive while the first is dropped mid-run */
    rnn_model *shared_s = rnn_model_ref(sm), *shared_b = rnn_model_ref(bm);
    size_t so = (size_t)T * (size_t)rnn_model_output_size(sm) * sizeof(float);
    size_t bo = (size_t)T * (size_t)rnn_model_output_size(bm) * sizeof(float);

    job ref;
    job_init(&ref, sm, bm, x);
    run_job(&ref);
    CHECK(ref.ok);

    job jobs[THREADS];
    pthread_t tid[THREADS];
    for (int i = 0; i < THREADS; i++) {
      job_init(&jobs[i], shared_s, shared_b, x);
      CHECK(pthread_create(&tid[i], NULL, run_job, &jobs[i]) == 0);
    }
    rnn_model_unref(sm);
    rnn_model_unref(bm);
    for (int i = 0; i < THREADS; i++) {
      pthread_join(tid[i], NULL);
      CHECK(jobs[i].ok);
      CHECK_MSG(memcmp(jobs[i].stream_out, ref.stream_out, so) == 0, "%s thread %d: streaming differs",
                rnn_cell_name(cells[ci]), i);
      CHECK_MSG(memcmp(jobs[i].seq_out, ref.seq_out, bo) == 0, "%s thread %d: sequence differs",
                rnn_cell_name(cells[ci]), i);
      for (int b = 0; b < 3; b++) {
        size_t n = (size_t)batch_lengths[b] * (size_t)rnn_model_output_size(bm) * sizeof(float);
        CHECK_MSG(memcmp(jobs[i].batch_out[b], ref.batch_out[b], n) == 0, "%s thread %d: batch %d differs",
                  rnn_cell_name(cells[ci]), i, b);
      }
      job_free(&jobs[i]);
    }
    job_free(&ref);
    rnn_model_unref(shared_s);
    rnn_model_unref(shared_b);
  }
  free(x);
  return test_summary("test_threads");
}
