/* gst-rnn engine: model construction, parameters and named tensors, metadata, reference counting.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Parameter layout (one contiguous float vector, no padding between tensors, so that gradients,
 * optimizer moments and the model file all use the same flat indexing):
 *   for each layer L bottom-up, for each direction (fwd, then bwd when bidirectional):
 *     layer{L}.{dir}.w_ih [G*H][in]
 *     layer{L}.{dir}.w_hh [G*H][H]
 *     layer{L}.{dir}.b_ih [G*H]
 *     layer{L}.{dir}.b_hh [G*H]
 *   head.w [O][D], head.b [O]   (when there is a head)
 * The vector itself starts on a 64-byte boundary (one cache line, one AVX-512 register).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Upper bound on any single dimension: keeps every product of two or three dimensions far from
 * size_t overflow, and rejects garbage sizes from files before they reach malloc. */
#define RNN_MAX_DIM (1 << 20)

/* ---------------------------------------------------------------------------------------------
 * Errors and names
 * ------------------------------------------------------------------------------------------- */
const char *rnn_strerror(int code) {
  switch (code) {
  case RNN_OK: return "success";
  case RNN_EINVAL: return "invalid argument";
  case RNN_ENOMEM: return "out of memory";
  case RNN_EIO: return "input/output error";
  case RNN_EFORMAT: return "not a valid model file";
  case RNN_ESTATE: return "operation does not apply to this model";
  case RNN_ENUMERIC: return "NaN or infinity encountered";
  default: return "unknown error";
  }
}

static const char *const cell_names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before"};
static const char *const head_names[] = {"none", "linear", "sigmoid", "softmax"};
static const char *const pool_names[] = {"last", "mean"};
static const char *const loss_names[] = {"ce", "ce_frame", "bce", "mse", "ctc"};

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int n, int k) {
  return (k >= 0 && k < n) ? names[k] : NULL;
}

static int index_of(const char *const *names, int n, const char *name) {
  if (!name)
    return -1;
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return i;
  return -1;
}

const char *rnn_cell_name(rnn_cell_kind k) { return name_of(cell_names, N_ELEMS(cell_names), (int)k); }
int rnn_cell_from_name(const char *name) { return index_of(cell_names, N_ELEMS(cell_names), name); }
const char *rnn_head_name(rnn_head_kind k) { return name_of(head_names, N_ELEMS(head_names), (int)k); }
int rnn_head_from_name(const char *name) { return index_of(head_names, N_ELEMS(head_names), name); }
const char *rnn_pool_name(rnn_pool_kind k) { return name_of(pool_names, N_ELEMS(pool_names), (int)k); }
int rnn_pool_from_name(const char *name) { return index_of(pool_names, N_ELEMS(pool_names), name); }
const char *rnn_loss_name(rnn_loss_kind k) { return name_of(loss_names, N_ELEMS(loss_names), (int)k); }
int rnn_loss_from_name(const char *name) { return index_of(loss_names, N_ELEMS(loss_names), name); }

int rnn_cell_gates(rnn_cell_kind k) {
  switch (k) {
  case RNN_CELL_RNN_TANH:
  case RNN_CELL_RNN_RELU: return 1;
  case RNN_CELL_LSTM: return 4;
  case RNN_CELL_GRU:
  case RNN_CELL_GRU_RESET_BEFORE: return 3;
  default: return 0;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Aligned memory
 * ------------------------------------------------------------------------------------------- */
void *rnn_aligned_alloc(size_t bytes) {
  /* aligned_alloc wants a size that is a multiple of the alignment; never ask for 0 bytes so
   * that a NULL return always means failure. */
  size_t rounded = (bytes + 63) & ~(size_t)63;
  if (rounded < bytes)
    return NULL;
  if (rounded == 0)
    rounded = 64;
  void *p = aligned_alloc(64, rounded);
  if (p)
    memset(p, 0, rounded);
  return p;
}

void rnn_aligned_free(void *p) { free(p); }

/* ---------------------------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------------------------- */
rnn_model *rnn_model_new(int input_size) {
  if (input_size <= 0 || input_size > RNN_MAX_DIM)
    return NULL;
  rnn_model *m = calloc(1, sizeof(*m));
  if (!m)
    return NULL;
  atomic_init(&m->refcount, 1);
  m->input_size = input_size;
  m->head = RNN_HEAD_NONE;
  m->head_groups = 1;
  m->pool = RNN_POOL_LAST;
  return m;
}

int rnn_model_add_layer(rnn_model *m, rnn_cell_kind cell, int hidden_size, int bidirectional) {
  if (!m)
    return RNN_EINVAL;
  if (m->finalized)
    return RNN_ESTATE;
  if (rnn_cell_gates(cell) == 0 || hidden_size <= 0 || hidden_size > RNN_MAX_DIM ||
      (bidirectional != 0 && bidirectional != 1) || m->num_layers >= RNN_MAX_LAYERS)
    return RNN_EINVAL;
  rnn_layer *l = &m->layers[m->num_layers];
  memset(l, 0, sizeof(*l));
  l->cell = cell;
  l->input_size = m->num_layers == 0 ? rnn_first_layer_input_size(m->input_size, m->seq_norm)
                                      : rnn_layer_output_size(&m->layers[m->num_layers - 1]);
  l->hidden_size = hidden_size;
  l->bidirectional = bidirectional;
  l->gates = rnn_cell_gates(cell);
  l->groups = 1;
  m->num_layers++;
  return RNN_OK;
}

/* Grouped layers (rnn.h). A layer above layer 0 reads only its own group's slice of the layer
 * below, which means the same thing only when the layer below is split into the same groups:
 * checked here for the layer below, and in finalize for the layer above (set bottom-up). */
int rnn_model_set_layer_groups(rnn_model *m, int layer, int groups) {
  if (!m)
    return RNN_EINVAL;
  if (m->finalized)
    return RNN_ESTATE;
  if (layer < 0 || layer >= m->num_layers || groups < 1)
    return RNN_EINVAL;
  rnn_layer *l = &m->layers[layer];
  if (l->hidden_size % groups != 0)
    return RNN_EINVAL;
  if (layer > 0 && groups > 1 && m->layers[layer - 1].groups != groups)
    return RNN_EINVAL;
  l->groups = groups;
  return RNN_OK;
}

int rnn_model_layer_groups(const rnn_model *m, int layer) {
  if (!m || layer < 0 || layer >= m->num_layers)
    return 0;
  return m->layers[layer].groups;
}

int rnn_model_grouped(const rnn_model *m) {
  if (!m)
    return 0;
  for (int i = 0; i < m->num_layers; i++)
    if (m->layers[i].groups > 1)
      return 1;
  return 0;
}

int rnn_model_set_head(rnn_model *m, rnn_head_kind head, int outputs, rnn_pool_kind pool) {
  if (!m)
    return RNN_EINVAL;
  if (m->finalized)
    return RNN_ESTATE;
  if (!rnn_head_name(head) || !rnn_pool_name(pool))
    return RNN_EINVAL;
  if (head != RNN_HEAD_NONE && (outputs <= 0 || outputs > RNN_MAX_DIM))
    return RNN_EINVAL;
  m->head = head;
  m->head_outputs = head == RNN_HEAD_NONE ? 0 : outputs;
  m->pool = pool;
  return RNN_OK;
}

int rnn_model_set_head_groups(rnn_model *m, int groups) {
  if (!m)
    return RNN_EINVAL;
  if (m->finalized)
    return RNN_ESTATE;
  if (groups < 1 || m->num_layers == 0)
    return RNN_EINVAL;
  if (groups > 1 && (m->head == RNN_HEAD_NONE || m->head_outputs % groups != 0 ||
                     m->layers[m->num_layers - 1].groups != groups))
    return RNN_EINVAL;
  m->head_groups = groups;
  return RNN_OK;
}

int rnn_model_head_groups(const rnn_model *m) { return m ? m->head_groups : 1; }

/* Columns of head.w: the whole top output, or one group's slice of it (rnn.h). */
static int head_cols(const rnn_model *m) { return rnn_model_top_size(m) / m->head_groups; }

/* Appends a tensor view at *offset: a matrix [rows][cols] (ndim 2) or a vector [rows] (ndim 1,
 * cols 1). */
static void add_tensor(rnn_model *m, const char *name, int ndim, int rows, int cols, size_t *offset) {
  rnn_tensor *t = &m->tensors[m->num_tensors++];
  snprintf(t->name, sizeof(t->name), "%s", name);
  t->ndim = ndim;
  t->dims[0] = rows;
  t->dims[1] = cols;
  t->offset = *offset;
  t->count = (size_t)rows * (size_t)cols;
  *offset += t->count;
}

int rnn_model_finalize(rnn_model *m) {
  if (!m)
    return RNN_EINVAL;
  if (m->finalized)
    return RNN_ESTATE;
  if (m->num_layers == 0)
    return RNN_EINVAL;
  /* a layer above a grouped layer must be grouped the same way (the head stays dense) */
  for (int li = 1; li < m->num_layers; li++)
    if (m->layers[li - 1].groups > 1 && m->layers[li].groups != m->layers[li - 1].groups)
      return RNN_EINVAL;
  /* a grouped head needs a head and the top layer grouped the same way (layers may have changed
   * since rnn_model_set_head_groups) */
  if (m->head_groups > 1 && (m->head == RNN_HEAD_NONE || m->head_outputs % m->head_groups != 0 ||
                             m->layers[m->num_layers - 1].groups != m->head_groups))
    return RNN_EINVAL;

  size_t off = 0;
  m->num_tensors = 0;
  static const char *const dir_names[2] = {"fwd", "bwd"};
  for (int li = 0; li < m->num_layers; li++) {
    rnn_layer *l = &m->layers[li];
    int gh = l->gates * l->hidden_size;
    for (int d = 0; d < 1 + l->bidirectional; d++) {
      char name[RNN_MAX_TENSOR_NAME];
      rnn_direction_params *p = &l->dir[d];
      snprintf(name, sizeof(name), "layer%d.%s.w_ih", li, dir_names[d]);
      p->w_ih = off;
      add_tensor(m, name, 2, gh, rnn_layer_ih_cols(l, li), &off);
      snprintf(name, sizeof(name), "layer%d.%s.w_hh", li, dir_names[d]);
      p->w_hh = off;
      add_tensor(m, name, 2, gh, rnn_layer_hh_cols(l), &off);
      snprintf(name, sizeof(name), "layer%d.%s.b_ih", li, dir_names[d]);
      p->b_ih = off;
      add_tensor(m, name, 1, gh, 1, &off);
      snprintf(name, sizeof(name), "layer%d.%s.b_hh", li, dir_names[d]);
      p->b_hh = off;
      add_tensor(m, name, 1, gh, 1, &off);
    }
  }
  if (m->head != RNN_HEAD_NONE) {
    m->head_w = off;
    add_tensor(m, "head.w", 2, m->head_outputs, head_cols(m), &off);
    m->head_b = off;
    add_tensor(m, "head.b", 1, m->head_outputs, 1, &off);
  }
  if (off > SIZE_MAX / sizeof(float)) {
    m->num_tensors = 0;
    return RNN_ENOMEM;
  }
  m->params = rnn_aligned_alloc(off * sizeof(float));
  if (!m->params) {
    m->num_tensors = 0;
    return RNN_ENOMEM;
  }
  m->num_params = off;
  m->finalized = 1;
  return RNN_OK;
}

/* splitmix64: tiny, seedable with any value (including 0), good enough for weight init. */
static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform in [-limit, limit). */
static void fill_uniform(float *p, size_t n, double limit, uint64_t *rng) {
  for (size_t i = 0; i < n; i++) {
    double u = (double)(splitmix64(rng) >> 11) * (1.0 / 9007199254740992.0);
    p[i] = (float)((2.0 * u - 1.0) * limit);
  }
}

void rnn_model_init_weights(rnn_model *m, uint64_t seed) {
  if (!m || !m->finalized)
    return;
  uint64_t rng = seed;
  for (int li = 0; li < m->num_layers; li++) {
    const rnn_layer *l = &m->layers[li];
    /* PyTorch: every weight and bias of a recurrent layer ~ U(-1/sqrt(H), 1/sqrt(H)). */
    double k = 1.0 / sqrt((double)l->hidden_size);
    size_t gh = (size_t)l->gates * (size_t)l->hidden_size;
    for (int d = 0; d < 1 + l->bidirectional; d++) {
      const rnn_direction_params *p = &l->dir[d];
      fill_uniform(m->params + p->w_ih, gh * (size_t)rnn_layer_ih_cols(l, li), k, &rng);
      fill_uniform(m->params + p->w_hh, gh * (size_t)rnn_layer_hh_cols(l), k, &rng);
      fill_uniform(m->params + p->b_ih, gh, k, &rng);
      fill_uniform(m->params + p->b_hh, gh, k, &rng);
    }
  }
  if (m->head != RNN_HEAD_NONE) {
    /* Glorot (Xavier) uniform: limit sqrt(6 / (fan_in + fan_out)); bias zero. */
    int d = head_cols(m);
    double limit = sqrt(6.0 / (double)(d + m->head_outputs / m->head_groups));
    fill_uniform(m->params + m->head_w, (size_t)m->head_outputs * (size_t)d, limit, &rng);
    memset(m->params + m->head_b, 0, (size_t)m->head_outputs * sizeof(float));
  }
}

/* ---------------------------------------------------------------------------------------------
 * Metadata helpers
 * ------------------------------------------------------------------------------------------- */
static void meta_entry_clear_value(rnn_meta_entry *e) {
  free(e->str);
  e->str = NULL;
  for (int i = 0; i < e->n_strs; i++)
    free(e->strs[i]);
  free(e->strs);
  e->strs = NULL;
  e->n_strs = 0;
  e->i = 0;
  e->f = 0.0;
}

static void meta_free_all(rnn_model *m) {
  for (int i = 0; i < m->num_meta; i++) {
    meta_entry_clear_value(&m->meta[i]);
    free(m->meta[i].key);
  }
  free(m->meta);
  m->meta = NULL;
  m->num_meta = m->cap_meta = 0;
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static char **dup_strings(const char *const *values, int n) {
  char **v = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
  if (!v)
    return NULL;
  for (int i = 0; i < n; i++) {
    v[i] = dup_string(values[i]);
    if (!v[i]) {
      for (int j = 0; j < i; j++)
        free(v[j]);
      free(v);
      return NULL;
    }
  }
  return v;
}

static rnn_meta_entry *meta_find(const rnn_model *m, const char *key) {
  for (int i = 0; i < m->num_meta; i++)
    if (strcmp(m->meta[i].key, key) == 0)
      return &m->meta[i];
  return NULL;
}

/* The entry for key: the existing one (value cleared, position kept) or a new one at the end. */
static rnn_meta_entry *meta_slot(rnn_model *m, const char *key) {
  rnn_meta_entry *e = meta_find(m, key);
  if (e) {
    meta_entry_clear_value(e);
    return e;
  }
  if (m->num_meta == m->cap_meta) {
    int cap = m->cap_meta ? m->cap_meta * 2 : 8;
    rnn_meta_entry *grown = realloc(m->meta, (size_t)cap * sizeof(*grown));
    if (!grown)
      return NULL;
    m->meta = grown;
    m->cap_meta = cap;
  }
  char *k = dup_string(key);
  if (!k)
    return NULL;
  e = &m->meta[m->num_meta++];
  memset(e, 0, sizeof(*e));
  e->key = k;
  return e;
}

/* The per-sequence normalisation mode is stored in the file under a metadata key, but it is a
 * property of the model (rnn_model_set_sequence_normalization): the setters refuse the key, so that
 * metadata can never disagree with what the engine computes. */
static int meta_key_reserved(const char *key) { return strcmp(key, RNN_SEQ_NORM_KEY) == 0; }

/* Values are built before the slot is touched, so a failed allocation leaves the model as it was
 * (except that a replaced key keeps its old value). */
int rnn_model_set_meta_string(rnn_model *m, const char *key, const char *value) {
  if (!m || !key || !*key || !value || meta_key_reserved(key))
    return RNN_EINVAL;
  char *v = dup_string(value);
  if (!v)
    return RNN_ENOMEM;
  rnn_meta_entry *e = meta_slot(m, key);
  if (!e) {
    free(v);
    return RNN_ENOMEM;
  }
  e->type = RNN_META_STRING;
  e->str = v;
  return RNN_OK;
}

int rnn_model_set_meta_int(rnn_model *m, const char *key, int64_t value) {
  if (!m || !key || !*key || meta_key_reserved(key))
    return RNN_EINVAL;
  rnn_meta_entry *e = meta_slot(m, key);
  if (!e)
    return RNN_ENOMEM;
  e->type = RNN_META_INT;
  e->i = value;
  return RNN_OK;
}

int rnn_model_set_meta_float(rnn_model *m, const char *key, double value) {
  if (!m || !key || !*key || meta_key_reserved(key))
    return RNN_EINVAL;
  rnn_meta_entry *e = meta_slot(m, key);
  if (!e)
    return RNN_ENOMEM;
  e->type = RNN_META_FLOAT;
  e->f = value;
  return RNN_OK;
}

int rnn_model_set_meta_strings(rnn_model *m, const char *key, const char *const *values, int n) {
  if (!m || !key || !*key || n < 0 || (n > 0 && !values) || meta_key_reserved(key))
    return RNN_EINVAL;
  for (int i = 0; i < n; i++)
    if (!values[i])
      return RNN_EINVAL;
  char **v = dup_strings(values, n);
  if (!v)
    return RNN_ENOMEM;
  rnn_meta_entry *e = meta_slot(m, key);
  if (!e) {
    for (int i = 0; i < n; i++)
      free(v[i]);
    free(v);
    return RNN_ENOMEM;
  }
  e->type = RNN_META_STRINGS;
  e->strs = v;
  e->n_strs = n;
  return RNN_OK;
}

int rnn_model_remove_meta(rnn_model *m, const char *key) {
  if (!m || !key)
    return RNN_EINVAL;
  rnn_meta_entry *e = meta_find(m, key);
  if (!e)
    return RNN_EINVAL;
  int idx = (int)(e - m->meta);
  meta_entry_clear_value(e);
  free(e->key);
  memmove(&m->meta[idx], &m->meta[idx + 1], (size_t)(m->num_meta - idx - 1) * sizeof(*e));
  m->num_meta--;
  return RNN_OK;
}

int rnn_model_meta_string(const rnn_model *m, const char *key, const char **value) {
  const rnn_meta_entry *e = (m && key) ? meta_find(m, key) : NULL;
  if (!e || e->type != RNN_META_STRING)
    return 0;
  if (value)
    *value = e->str;
  return 1;
}

int rnn_model_meta_int(const rnn_model *m, const char *key, int64_t *value) {
  const rnn_meta_entry *e = (m && key) ? meta_find(m, key) : NULL;
  if (!e || e->type != RNN_META_INT)
    return 0;
  if (value)
    *value = e->i;
  return 1;
}

int rnn_model_meta_float(const rnn_model *m, const char *key, double *value) {
  const rnn_meta_entry *e = (m && key) ? meta_find(m, key) : NULL;
  if (!e || e->type != RNN_META_FLOAT)
    return 0;
  if (value)
    *value = e->f;
  return 1;
}

int rnn_model_meta_strings(const rnn_model *m, const char *key, const char *const **values, int *n) {
  const rnn_meta_entry *e = (m && key) ? meta_find(m, key) : NULL;
  if (!e || e->type != RNN_META_STRINGS)
    return 0;
  if (values)
    *values = (const char *const *)e->strs;
  if (n)
    *n = e->n_strs;
  return 1;
}

int rnn_model_meta_count(const rnn_model *m) { return m ? m->num_meta : 0; }

int rnn_model_meta_at(const rnn_model *m, int i, const char **key, rnn_meta_type *type) {
  if (!m || i < 0 || i >= m->num_meta)
    return RNN_EINVAL;
  if (key)
    *key = m->meta[i].key;
  if (type)
    *type = m->meta[i].type;
  return RNN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Normalisation
 * ------------------------------------------------------------------------------------------- */
int rnn_model_set_normalization(rnn_model *m, const float *mean, const float *scale) {
  if (!m)
    return RNN_EINVAL;
  if (!mean && !scale) {
    rnn_aligned_free(m->norm_mean);
    rnn_aligned_free(m->norm_scale);
    m->norm_mean = m->norm_scale = NULL;
    return RNN_OK;
  }
  /* Which half of the doubled first-layer input would it apply to? Neither: fold it into layer 0. */
  if (m->seq_norm == RNN_SEQUENCE_NORM_APPEND)
    return RNN_EINVAL;
  int n = m->input_size;
  for (int i = 0; i < n; i++)
    if ((mean && !isfinite(mean[i])) || (scale && !isfinite(scale[i])))
      return RNN_EINVAL;
  float *nm = rnn_aligned_alloc((size_t)n * sizeof(float));
  float *ns = rnn_aligned_alloc((size_t)n * sizeof(float));
  if (!nm || !ns) {
    rnn_aligned_free(nm);
    rnn_aligned_free(ns);
    return RNN_ENOMEM;
  }
  /* A missing half is the identity: mean 0 or scale 1. */
  for (int i = 0; i < n; i++) {
    nm[i] = mean ? mean[i] : 0.0f;
    ns[i] = scale ? scale[i] : 1.0f;
  }
  rnn_aligned_free(m->norm_mean);
  rnn_aligned_free(m->norm_scale);
  m->norm_mean = nm;
  m->norm_scale = ns;
  return RNN_OK;
}

int rnn_model_normalization(const rnn_model *m, const float **mean, const float **scale) {
  if (!m || !m->norm_mean) {
    if (mean)
      *mean = NULL;
    if (scale)
      *scale = NULL;
    return 0;
  }
  if (mean)
    *mean = m->norm_mean;
  if (scale)
    *scale = m->norm_scale;
  return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Per-sequence normalisation
 * ------------------------------------------------------------------------------------------- */
int rnn_model_set_sequence_normalization(rnn_model *m, int mode) {
  if (!m || (mode != RNN_SEQUENCE_NORM_OFF && mode != RNN_SEQUENCE_NORM_ON && mode != RNN_SEQUENCE_NORM_APPEND))
    return RNN_EINVAL;
  int width = rnn_first_layer_input_size(m->input_size, mode);
  if (width != rnn_first_layer_input_size(m->input_size, m->seq_norm)) {
    /* layer 0's weights are shaped by the mode: fixed once finalize has allocated them */
    if (m->finalized)
      return RNN_ESTATE;
    if (mode == RNN_SEQUENCE_NORM_APPEND && m->norm_mean)
      return RNN_EINVAL;
    if (m->num_layers > 0)
      m->layers[0].input_size = width;
  }
  m->seq_norm = mode;
  return RNN_OK;
}

int rnn_model_sequence_normalization(const rnn_model *m) { return m ? m->seq_norm : 0; }

/* Two passes per dimension (mean, then the mean squared deviation) in double: no cancellation
 * even when the mean is large against the spread (log energies, raw sensor offsets). A dimension
 * is read with stride n; sequences are short (an utterance is a few hundred frames), so the
 * strided reads cost nothing next to the layers. */
void rnn_seq_norm_stats(const float *x, int T, int n, float *mu, float *inv) {
  for (int i = 0; i < n; i++) {
    double sum = 0.0;
    for (int t = 0; t < T; t++)
      sum += x[(size_t)t * (size_t)n + (size_t)i];
    double mean = sum / T;
    double ss = 0.0;
    for (int t = 0; t < T; t++) {
      double d = x[(size_t)t * (size_t)n + (size_t)i] - mean;
      ss += d * d;
    }
    mu[i] = (float)mean;
    inv[i] = (float)(1.0 / sqrt(ss / T + RNN_SEQUENCE_NORM_EPS));
  }
}

int rnn_normalize_sequence(const float *x, int T, int n, float *out) {
  if (T < 0 || n <= 0 || n > RNN_MAX_DIM || (T > 0 && (!x || !out)))
    return RNN_EINVAL;
  if (T == 0)
    return RNN_OK;
  float *stats = malloc(2 * (size_t)n * sizeof(float));
  if (!stats)
    return RNN_ENOMEM;
  float *mu = stats, *inv = stats + n;
  rnn_seq_norm_stats(x, T, n, mu, inv);
  for (size_t t = 0; t < (size_t)T; t++)
    for (int i = 0; i < n; i++)
      out[t * (size_t)n + (size_t)i] = rnn_seq_norm_value(x[t * (size_t)n + (size_t)i], mu[i], inv[i]);
  free(stats);
  return RNN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Lifetime
 * ------------------------------------------------------------------------------------------- */
static void model_free(rnn_model *m) {
  rnn_aligned_free(m->params);
  rnn_aligned_free(m->norm_mean);
  rnn_aligned_free(m->norm_scale);
  meta_free_all(m);
  free(m);
}

rnn_model *rnn_model_ref(rnn_model *m) {
  if (m)
    atomic_fetch_add_explicit(&m->refcount, 1, memory_order_relaxed);
  return m;
}

void rnn_model_unref(rnn_model *m) {
  if (!m)
    return;
  /* acq_rel: the thread that frees must see every other thread's last use of the model. */
  if (atomic_fetch_sub_explicit(&m->refcount, 1, memory_order_acq_rel) == 1)
    model_free(m);
}

rnn_model *rnn_model_clone(const rnn_model *m) {
  if (!m)
    return NULL;
  rnn_model *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  /* Copy the plain fields, then replace every owned pointer with a deep copy. */
  memcpy((char *)c + sizeof(c->refcount), (const char *)m + sizeof(m->refcount),
         sizeof(*c) - sizeof(c->refcount));
  atomic_init(&c->refcount, 1);
  c->params = NULL;
  c->norm_mean = c->norm_scale = NULL;
  c->meta = NULL;
  c->num_meta = c->cap_meta = 0;

  if (m->params) {
    c->params = rnn_aligned_alloc(m->num_params * sizeof(float));
    if (!c->params)
      goto fail;
    memcpy(c->params, m->params, m->num_params * sizeof(float));
  }
  if (m->norm_mean && rnn_model_set_normalization(c, m->norm_mean, m->norm_scale) != RNN_OK)
    goto fail;
  for (int i = 0; i < m->num_meta; i++) {
    const rnn_meta_entry *e = &m->meta[i];
    int rc = RNN_EINVAL;
    switch (e->type) {
    case RNN_META_STRING: rc = rnn_model_set_meta_string(c, e->key, e->str); break;
    case RNN_META_INT: rc = rnn_model_set_meta_int(c, e->key, e->i); break;
    case RNN_META_FLOAT: rc = rnn_model_set_meta_float(c, e->key, e->f); break;
    case RNN_META_STRINGS:
      rc = rnn_model_set_meta_strings(c, e->key, (const char *const *)e->strs, e->n_strs);
      break;
    }
    if (rc != RNN_OK)
      goto fail;
  }
  return c;
fail:
  model_free(c);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------------------------- */
int rnn_model_input_size(const rnn_model *m) { return m ? m->input_size : 0; }

int rnn_model_output_size(const rnn_model *m) {
  if (!m)
    return 0;
  if (m->head != RNN_HEAD_NONE)
    return m->head_outputs;
  return m->num_layers > 0 ? rnn_model_top_size(m) : 0;
}

int rnn_model_num_layers(const rnn_model *m) { return m ? m->num_layers : 0; }

static const rnn_layer *layer_at(const rnn_model *m, int layer) {
  return (m && layer >= 0 && layer < m->num_layers) ? &m->layers[layer] : NULL;
}

rnn_cell_kind rnn_model_layer_cell(const rnn_model *m, int layer) {
  const rnn_layer *l = layer_at(m, layer);
  return l ? l->cell : (rnn_cell_kind)-1;
}

int rnn_model_layer_hidden(const rnn_model *m, int layer) {
  const rnn_layer *l = layer_at(m, layer);
  return l ? l->hidden_size : 0;
}

int rnn_model_layer_bidirectional(const rnn_model *m, int layer) {
  const rnn_layer *l = layer_at(m, layer);
  return l ? l->bidirectional : 0;
}

rnn_head_kind rnn_model_head(const rnn_model *m) { return m ? m->head : RNN_HEAD_NONE; }
rnn_pool_kind rnn_model_pool(const rnn_model *m) { return m ? m->pool : RNN_POOL_LAST; }

int rnn_model_streamable(const rnn_model *m) {
  /* Per-sequence normalisation needs the statistics of the whole sequence before its first frame
   * can be normalised, as a backward direction needs its last frame. */
  if (!m || m->num_layers == 0 || m->seq_norm)
    return 0;
  for (int i = 0; i < m->num_layers; i++)
    if (m->layers[i].bidirectional)
      return 0;
  return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Parameters and tensors
 * ------------------------------------------------------------------------------------------- */
float *rnn_model_params(rnn_model *m) { return m ? m->params : NULL; }
const float *rnn_model_params_const(const rnn_model *m) { return m ? m->params : NULL; }
size_t rnn_model_num_params(const rnn_model *m) { return m ? m->num_params : 0; }
int rnn_model_num_tensors(const rnn_model *m) { return m ? m->num_tensors : 0; }

int rnn_model_tensor_info(const rnn_model *m, int i, const char **name, int *ndim, int dims[2],
                          size_t *offset) {
  if (!m || i < 0 || i >= m->num_tensors)
    return RNN_EINVAL;
  const rnn_tensor *t = &m->tensors[i];
  if (name)
    *name = t->name;
  if (ndim)
    *ndim = t->ndim;
  if (dims) {
    dims[0] = t->dims[0];
    dims[1] = t->dims[1];
  }
  if (offset)
    *offset = t->offset;
  return RNN_OK;
}

float *rnn_model_tensor(rnn_model *m, const char *name, size_t *count) {
  if (!m || !name || !m->params)
    return NULL;
  for (int i = 0; i < m->num_tensors; i++) {
    if (strcmp(m->tensors[i].name, name) == 0) {
      if (count)
        *count = m->tensors[i].count;
      return m->params + m->tensors[i].offset;
    }
  }
  return NULL;
}
