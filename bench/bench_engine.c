/* gst-rnn engine benchmark: the project's side of bench/run.sh.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   bench_engine [--seconds S] PART...     PART: stream, batch, train
 *
 * For LSTM and GRU, 2 layers of 128 and of 512, 40 inputs:
 *   stream  one frame at a time through rnn_step, batch 1 (us/frame)
 *   batch   rnn_forward_batch on 64 streams x 100 frames (frames/s)
 *   train   rnn_fit, batch 32 of 100-frame sequences, Adam, per-frame cross-entropy through a
 *           softmax head of 10 classes (frames/s)
 * Prints one line per figure: "ours CELL HIDDEN PART VALUE" (VALUE "n/a" when the engine refuses),
 * read by bench/table.py. Each figure is the best of 3 timed runs of >= S seconds (default 0.5),
 * after a warm-up run, so that other load on the machine inflates it as little as possible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rnn.h"

#define INPUTS 40
#define LAYERS 2
#define CLASSES 10
#define SEQ_FRAMES 100
#define BATCH_STREAMS 64
#define TRAIN_BATCH 32
#define REPEATS 3

static double min_seconds = 0.5;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill_uniform(float *v, size_t n, unsigned long long *seed) {
  for (size_t i = 0; i < n; i++) {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    unsigned long long r = *seed * 2685821657736338717ULL;
    v[i] = -2.0f + 4.0f * (float)((double)(r >> 40) / 16777216.0);
  }
}

static rnn_model *build_model(rnn_cell_kind cell, int hidden, int with_head) {
  rnn_model *m = rnn_model_new(INPUTS);
  if (!m)
    return NULL;
  for (int l = 0; l < LAYERS; l++)
    if (rnn_model_add_layer(m, cell, hidden, 0) != 0)
      goto fail;
  if (with_head && rnn_model_set_head(m, RNN_HEAD_SOFTMAX, CLASSES, RNN_POOL_LAST) != 0)
    goto fail;
  if (rnn_model_finalize(m) != 0)
    goto fail;
  rnn_model_init_weights(m, 1);
  return m;
fail:
  rnn_model_unref(m);
  return NULL;
}

/* ---- stream: us per frame ---- */
static double bench_stream(const rnn_model *m) {
  enum { POOL = 256 };
  float *frames = malloc(sizeof(float) * POOL * INPUTS);
  rnn_state *s = rnn_state_new(m);
  double best = -1;
  unsigned long long seed = 11;
  if (!frames || !s)
    goto done;
  fill_uniform(frames, (size_t)POOL * INPUTS, &seed);
  for (int r = 0; r <= REPEATS; r++) { /* run 0 warms up caches and the clock */
    long n = 0;
    double t0 = now(), t;
    do {
      for (int i = 0; i < POOL; i++)
        if (!rnn_step(s, frames + (size_t)i * INPUTS))
          goto done;
      n += POOL;
      t = now() - t0;
    } while (t < min_seconds);
    double us = 1e6 * t / (double)n;
    if (r > 0 && (best < 0 || us < best))
      best = us;
  }
done:
  rnn_state_free(s);
  free(frames);
  return best;
}

/* ---- batch: frames per second over 64 streams x 100 frames ---- */
static double bench_batch(const rnn_model *m) {
  int out_size = rnn_model_output_size(m);
  float *x = malloc(sizeof(float) * BATCH_STREAMS * SEQ_FRAMES * INPUTS);
  float *y = malloc(sizeof(float) * BATCH_STREAMS * SEQ_FRAMES * (size_t)out_size);
  const float *xs[BATCH_STREAMS];
  float *ys[BATCH_STREAMS];
  int lengths[BATCH_STREAMS];
  double best = -1;
  unsigned long long seed = 12;
  if (!x || !y)
    goto done;
  fill_uniform(x, (size_t)BATCH_STREAMS * SEQ_FRAMES * INPUTS, &seed);
  for (int b = 0; b < BATCH_STREAMS; b++) {
    xs[b] = x + (size_t)b * SEQ_FRAMES * INPUTS;
    ys[b] = y + (size_t)b * SEQ_FRAMES * out_size;
    lengths[b] = SEQ_FRAMES;
  }
  for (int r = 0; r <= REPEATS; r++) {
    long calls = 0;
    double t0 = now(), t;
    do {
      if (rnn_forward_batch(m, xs, lengths, BATCH_STREAMS, ys) != 0)
        goto done;
      calls++;
      t = now() - t0;
    } while (t < min_seconds);
    double fps = (double)calls * BATCH_STREAMS * SEQ_FRAMES / t;
    if (r > 0 && fps > best)
      best = fps;
  }
done:
  free(x);
  free(y);
  return best;
}

/* ---- train: frames per second of rnn_fit ---- */
static double fit_seconds(rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c) {
  double t0 = now();
  if (rnn_fit(m, ex, n, NULL, 0, c, NULL, NULL) != 0)
    return -1;
  return now() - t0;
}

static double bench_train(rnn_model *m) {
  enum { DISTINCT = TRAIN_BATCH, MAX_BATCHES = 64 };
  float *x = malloc(sizeof(float) * DISTINCT * SEQ_FRAMES * INPUTS);
  int *labels = malloc(sizeof(int) * DISTINCT * SEQ_FRAMES);
  rnn_example *ex = calloc((size_t)TRAIN_BATCH * MAX_BATCHES, sizeof *ex);
  double best = -1;
  unsigned long long seed = 13;
  if (!x || !labels || !ex)
    goto done;
  fill_uniform(x, (size_t)DISTINCT * SEQ_FRAMES * INPUTS, &seed);
  for (int i = 0; i < DISTINCT * SEQ_FRAMES; i++)
    labels[i] = (int)((unsigned)(i * 2654435761u) >> 16) % CLASSES;
  for (int i = 0; i < TRAIN_BATCH * MAX_BATCHES; i++) {
    ex[i].x = x + (size_t)(i % DISTINCT) * SEQ_FRAMES * INPUTS;
    ex[i].T = SEQ_FRAMES;
    ex[i].frame_labels = labels + (size_t)(i % DISTINCT) * SEQ_FRAMES;
  }
  rnn_train_config c;
  rnn_train_config_init(&c);
  c.loss = RNN_LOSS_CE_FRAME;
  c.optimizer = RNN_OPT_ADAM;
  c.batch_size = TRAIN_BATCH;
  c.epochs = 1;
  c.patience = 0;
  c.threads = 0;
  /* Warm-up with one batch also sizes the timed runs to about min_seconds each. */
  double t1 = fit_seconds(m, ex, TRAIN_BATCH, &c);
  if (t1 <= 0)
    goto done;
  int batches = (int)(min_seconds / t1) + 1;
  if (batches < 2)
    batches = 2;
  if (batches > MAX_BATCHES)
    batches = MAX_BATCHES;
  for (int r = 0; r < REPEATS; r++) {
    double t = fit_seconds(m, ex, TRAIN_BATCH * batches, &c);
    if (t <= 0) {
      best = -1;
      goto done;
    }
    double fps = (double)batches * TRAIN_BATCH * SEQ_FRAMES / t;
    if (fps > best)
      best = fps;
  }
done:
  free(x);
  free(labels);
  free(ex);
  return best;
}

static void report(const char *cell, int hidden, const char *part, double v) {
  if (v > 0)
    printf("ours %s %d %s %.6g\n", cell, hidden, part, v);
  else
    printf("ours %s %d %s n/a\n", cell, hidden, part);
  fflush(stdout);
}

int main(int argc, char **argv) {
  int do_stream = 0, do_batch = 0, do_train = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      min_seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "stream") == 0)
      do_stream = 1;
    else if (strcmp(argv[i], "batch") == 0)
      do_batch = 1;
    else if (strcmp(argv[i], "train") == 0)
      do_train = 1;
    else {
      fprintf(stderr, "usage: bench_engine [--seconds S] stream|batch|train...\n");
      return 2;
    }
  }
  if (!do_stream && !do_batch && !do_train)
    do_stream = do_batch = do_train = 1;
  static const struct {
    rnn_cell_kind cell;
    const char *name;
  } cells[] = {{RNN_CELL_LSTM, "lstm"}, {RNN_CELL_GRU, "gru"}};
  static const int sizes[] = {128, 512};
  for (size_t c = 0; c < 2; c++) {
    for (size_t s = 0; s < 2; s++) {
      rnn_model *m = build_model(cells[c].cell, sizes[s], 0);
      if (do_stream)
        report(cells[c].name, sizes[s], "stream", m ? bench_stream(m) : -1);
      if (do_batch)
        report(cells[c].name, sizes[s], "batch", m ? bench_batch(m) : -1);
      rnn_model_unref(m);
      if (do_train) {
        rnn_model *mh = build_model(cells[c].cell, sizes[s], 1);
        report(cells[c].name, sizes[s], "train", mh ? bench_train(mh) : -1);
        rnn_model_unref(mh);
      }
    }
  }
  return 0;
}
