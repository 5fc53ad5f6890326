/* gst-rnn engine: the model's representation, shared by the engine's own files only.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_ENGINE_MODEL_INTERNAL_H
#define GST_RNN_ENGINE_MODEL_INTERNAL_H

#include <stdatomic.h>

#include "rnn.h"

#define RNN_MAX_LAYERS 16
#define RNN_MAX_TENSORS (RNN_MAX_LAYERS * 8 + 2)
#define RNN_MAX_TENSOR_NAME 32

/* One direction of one layer: offsets (in floats) into model->params. */
typedef struct {
  size_t w_ih, w_hh, b_ih, b_hh;
} rnn_direction_params;

typedef struct {
  rnn_cell_kind cell;
  int input_size;    /* I of this layer: model input or the layer below's output */
  int hidden_size;   /* H */
  int bidirectional; /* 0 or 1 */
  int gates;         /* G */
  int groups;        /* g >= 1: units in g groups of H/g, block-diagonal (rnn.h, grouped layers) */
  rnn_direction_params dir[2]; /* [0] forward, [1] backward (bidirectional only) */
} rnn_layer;

typedef struct {
  char name[RNN_MAX_TENSOR_NAME];
  int ndim;
  int dims[2];
  size_t offset; /* floats into params */
  size_t count;
} rnn_tensor;

typedef struct {
  char *key;
  rnn_meta_type type;
  char *str;       /* RNN_META_STRING */
  int64_t i;       /* RNN_META_INT */
  double f;        /* RNN_META_FLOAT */
  char **strs;     /* RNN_META_STRINGS */
  int n_strs;
} rnn_meta_entry;

struct rnn_model {
  atomic_int refcount;
  int finalized;

  int input_size;
  int num_layers;
  rnn_layer layers[RNN_MAX_LAYERS];

  rnn_head_kind head;
  int head_outputs; /* O */
  int head_groups;  /* g: 1, or the top layer's groups (grouped head, rnn.h) */
  rnn_pool_kind pool;
  size_t head_w, head_b; /* offsets into params, valid when head != NONE */

  float *params; /* every trainable parameter, 64-byte aligned */
  size_t num_params;
  rnn_tensor tensors[RNN_MAX_TENSORS];
  int num_tensors;

  float *norm_mean;  /* input_size, or NULL */
  float *norm_scale; /* input_size, or NULL */
  int seq_norm;      /* RNN_SEQUENCE_NORM_*: per-sequence normalisation before norm_mean/norm_scale (rnn.h) */

  rnn_meta_entry *meta;
  int num_meta, cap_meta;
};

/* Columns of a layer's w_ih: the whole input (ungrouped layer, or layer 0), else the row's group's
 * slice of the layer below's output, D_below / g. */
static inline int rnn_layer_ih_cols(const rnn_layer *l, int index) {
  return (index > 0 && l->groups > 1) ? l->input_size / l->groups : l->input_size;
}
/* Columns of a layer's w_hh: H / g. */
static inline int rnn_layer_hh_cols(const rnn_layer *l) { return l->hidden_size / l->groups; }

/* Output width of the top layer (D): H, or 2H when bidirectional. */
static inline int rnn_layer_output_size(const rnn_layer *l) {
  return l->hidden_size * (l->bidirectional ? 2 : 1);
}
static inline int rnn_model_top_size(const rnn_model *m) {
  return rnn_layer_output_size(&m->layers[m->num_layers - 1]);
}

/* 1 when some layer has groups > 1 (such a model is inference-only: training refuses it). */
int rnn_model_grouped(const rnn_model *m);

/* The metadata key under which the file stores the per-sequence normalisation mode. */
#define RNN_SEQ_NORM_KEY "input.normalization"
#define RNN_SEQ_NORM_VALUE "sequence"
#define RNN_SEQ_NORM_APPEND_VALUE "raw+sequence"

/* Width of the first layer's input: the model's input, twice over when the first layer reads the
 * raw and the per-sequence normalised frame side by side (RNN_SEQUENCE_NORM_APPEND). */
static inline int rnn_first_layer_input_size(int input_size, int seq_norm) {
  return seq_norm == RNN_SEQUENCE_NORM_APPEND ? 2 * input_size : input_size;
}

/* Per-sequence normalisation statistics of T frames of n inputs (row-major): mu[i] the mean and
 * inv[i] = 1 / sqrt(var[i] + RNN_SEQUENCE_NORM_EPS) of dimension i, computed in double (two
 * passes) then rounded to float. Every engine path uses these with rnn_seq_norm_value, so training
 * and inference agree bit for bit. */
void rnn_seq_norm_stats(const float *x, int T, int n, float *mu, float *inv);
static inline float rnn_seq_norm_value(float x, float mu, float inv) { return (x - mu) * inv; }

/* 64-byte aligned allocation (zeroed) and its release. */
void *rnn_aligned_alloc(size_t bytes);
void rnn_aligned_free(void *p);

#endif
