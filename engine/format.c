/* gst-rnn engine: the .rnn model file format (docs/model-format.md): validated load, atomic save.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The loader treats the file as hostile: every length and count is compared with the bytes that
 * remain before it is used or added to anything, so a damaged file can only produce an error
 * message, never an out-of-bounds read, an overflow or a huge allocation. Allocations are bounded
 * by the file's own size because every tensor must lie, without overlap, inside the data section.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Constants of format version 1
 * ------------------------------------------------------------------------------------------- */
static const uint8_t file_magic[8] = {0x89, 'R', 'N', 'N', '\r', '\n', 0x1a, '\n'};
#define FILE_VERSION 1u
#define HEADER_SIZE 80u
#define CRC_SIZE 4u
#define DATA_ALIGN 64u
#define MAX_META_COUNT 65536u
#define MAX_KEY_BYTES 256u
#define MAX_STRING_BYTES (16u << 20)
#define MAX_LIST_COUNT (1u << 24)
#define MAX_FILE_TENSORS (RNN_MAX_TENSORS + 2) /* + norm.mean, norm.scale */
#define MAX_TENSOR_NAME (RNN_MAX_TENSOR_NAME - 1)
#define MAX_DIM 2147483647u
#define MAX_ARCH_SIZE 65536
#define ARCH_PREFIX "arch."

enum { DTYPE_F32 = 0, DTYPE_F16 = 1, DTYPE_BF16 = 2, DTYPE_Q8_ROW = 3 };

static const char *dtype_name(uint32_t dtype) {
  switch (dtype) {
  case DTYPE_F32: return "f32";
  case DTYPE_F16: return "f16";
  case DTYPE_BF16: return "bf16";
  case DTYPE_Q8_ROW: return "q8_row";
  default: return NULL;
  }
}

static const char *meta_type_name(uint32_t type) {
  switch (type) {
  case RNN_META_STRING: return "a string";
  case RNN_META_INT: return "an int";
  case RNN_META_FLOAT: return "a float";
  case RNN_META_STRINGS: return "a list of strings";
  default: return "of unknown type";
  }
}

/* ---------------------------------------------------------------------------------------------
 * Little-endian encoding, CRC-32, UTF-8
 * ------------------------------------------------------------------------------------------- */
static uint32_t rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd_u64(const uint8_t *p) { return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32; }
static void wr_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static void wr_u64(uint8_t *p, uint64_t v) {
  wr_u32(p, (uint32_t)v);
  wr_u32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32/ISO-HDLC (zlib's crc32): reflected polynomial 0xEDB88320, computed 8 bytes at a time
 * ("slicing-by-8": about four times the speed of the byte-wise table, which matters for models of
 * tens of megabytes). The tables are built per call (2,048 entries, microseconds) so that the
 * engine keeps no global state. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
  uint32_t t[8][256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int k = 1; k < 8; k++) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  uint32_t crc = 0xFFFFFFFFu;
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo = crc ^ rd_u32(p), hi = rd_u32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
          t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; n--, p++) crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

/* Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (len > n - i) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

static int has_byte_below(const uint8_t *s, size_t n, uint8_t limit) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < limit) return 1;
  return 0;
}

/* Keys: 1..256 bytes of UTF-8 without control characters. */
static int key_valid(const uint8_t *s, size_t n) {
  if (n == 0 || n > MAX_KEY_BYTES || has_byte_below(s, n, 0x20)) return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == 0x7F) return 0;
  return utf8_valid(s, n);
}

/* String values: UTF-8 without NUL (C strings in memory). */
static int value_valid(const uint8_t *s, size_t n) { return !memchr(s, 0, n) && utf8_valid(s, n); }

static int tensor_name_valid(const uint8_t *s, size_t n) {
  if (n == 0 || n > MAX_TENSOR_NAME) return 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_')) return 0;
  }
  return 1;
}

static int bytes_equal_str(const uint8_t *s, size_t n, const char *z) {
  return strlen(z) == n && memcmp(s, z, n) == 0;
}

static int has_prefix(const uint8_t *s, size_t n, const char *prefix) {
  size_t k = strlen(prefix);
  return n >= k && memcmp(s, prefix, k) == 0;
}

static int cell_gates(rnn_cell_kind k) {
  switch (k) {
  case RNN_CELL_LSTM: return 4;
  case RNN_CELL_GRU:
  case RNN_CELL_GRU_RESET_BEFORE: return 3;
  default: return 1;
  }
}

/* ---------------------------------------------------------------------------------------------
 * The architecture and the tensors it needs (shared by reader and writer)
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int input_size;
  int layers;
  rnn_cell_kind cell[RNN_MAX_LAYERS];
  int hidden[RNN_MAX_LAYERS];
  int bidirectional[RNN_MAX_LAYERS];
  int groups[RNN_MAX_LAYERS]; /* 1 unless "arch.layer.N.groups" says otherwise */
  rnn_head_kind head;
  int outputs;
  rnn_pool_kind pool;
  int head_groups; /* 1 unless "arch.head.groups" says otherwise */
  int seq_norm; /* RNN_SEQUENCE_NORM_*: "input.normalization", which shapes layer 0's w_ih */
} arch_desc;

enum { PART_W_IH, PART_W_HH, PART_B_IH, PART_B_HH, PART_HEAD_W, PART_HEAD_B, PART_NORM_MEAN, PART_NORM_SCALE };

typedef struct {
  char name[RNN_MAX_TENSOR_NAME];
  int part, layer, dir;
  uint32_t ndim;
  uint64_t dims[2];
  uint64_t count;
} tensor_spec;

static int arch_top_size(const arch_desc *a) {
  int l = a->layers - 1;
  return a->hidden[l] * (a->bidirectional[l] ? 2 : 1);
}

static void spec_set(tensor_spec *s, const char *name, int part, int layer, int dir, uint32_t ndim,
                     uint64_t d0, uint64_t d1) {
  snprintf(s->name, sizeof s->name, "%s", name);
  s->part = part, s->layer = layer, s->dir = dir, s->ndim = ndim;
  s->dims[0] = d0;
  s->dims[1] = ndim == 2 ? d1 : 1;
  s->count = d0 * s->dims[1];
}

/* The tensors of an architecture in file order (normalisation excluded); returns the count. */
static int arch_tensor_specs(const arch_desc *a, tensor_spec *specs) {
  static const char *const dir_names[2] = {"fwd", "bwd"};
  int n = 0, in = rnn_first_layer_input_size(a->input_size, a->seq_norm);
  for (int l = 0; l < a->layers; l++) {
    uint64_t gh = (uint64_t)cell_gates(a->cell[l]) * (uint64_t)a->hidden[l];
    /* grouped layers (rnn.h): w_hh has H/g columns, and above layer 0 w_ih has D_below/g */
    uint64_t g = (uint64_t)(a->groups[l] > 1 ? a->groups[l] : 1);
    uint64_t ih_cols = l > 0 ? (uint64_t)in / g : (uint64_t)in;
    for (int d = 0; d < (a->bidirectional[l] ? 2 : 1); d++) {
      char name[RNN_MAX_TENSOR_NAME];
      snprintf(name, sizeof name, "layer%d.%s.w_ih", l, dir_names[d]);
      spec_set(&specs[n++], name, PART_W_IH, l, d, 2, gh, ih_cols);
      snprintf(name, sizeof name, "layer%d.%s.w_hh", l, dir_names[d]);
      spec_set(&specs[n++], name, PART_W_HH, l, d, 2, gh, (uint64_t)a->hidden[l] / g);
      snprintf(name, sizeof name, "layer%d.%s.b_ih", l, dir_names[d]);
      spec_set(&specs[n++], name, PART_B_IH, l, d, 1, gh, 1);
      snprintf(name, sizeof name, "layer%d.%s.b_hh", l, dir_names[d]);
      spec_set(&specs[n++], name, PART_B_HH, l, d, 1, gh, 1);
    }
    in = a->hidden[l] * (a->bidirectional[l] ? 2 : 1);
  }
  if (a->head != RNN_HEAD_NONE) {
    /* a grouped head (rnn.h): each row reads its group's slice of the top output */
    uint64_t hg = (uint64_t)(a->head_groups > 1 ? a->head_groups : 1);
    spec_set(&specs[n++], "head.w", PART_HEAD_W, 0, 0, 2, (uint64_t)a->outputs, (uint64_t)in / hg);
    spec_set(&specs[n++], "head.b", PART_HEAD_B, 0, 0, 1, (uint64_t)a->outputs, 1);
  }
  return n;
}

/* Where a tensor lives in a finalized model (floats into params), or NULL for normalisation. */
static size_t spec_param_offset(const rnn_model *m, const tensor_spec *s) {
  const rnn_direction_params *d = &m->layers[s->layer].dir[s->dir];
  switch (s->part) {
  case PART_W_IH: return d->w_ih;
  case PART_W_HH: return d->w_hh;
  case PART_B_IH: return d->b_ih;
  case PART_B_HH: return d->b_hh;
  case PART_HEAD_W: return m->head_w;
  default: return m->head_b;
  }
}

static void format_shape(char *buf, size_t n, uint32_t ndim, const uint64_t *dims) {
  if (ndim == 2)
    snprintf(buf, n, "%llux%llu", (unsigned long long)dims[0], (unsigned long long)dims[1]);
  else
    snprintf(buf, n, "%llu", (unsigned long long)dims[0]);
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const char *name; /* the file's path, for messages */
  char *err;
  size_t errlen;
} loader;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(loader *ld, const char *fmt, ...) {
  if (ld->err && ld->errlen) {
    int k = snprintf(ld->err, ld->errlen, "%s: ", ld->name);
    if (k >= 0 && (size_t)k < ld->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(ld->err + k, ld->errlen - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return RNN_EFORMAT;
}

typedef struct {
  const uint8_t *p;
  size_t left;
} cursor;

static const uint8_t *take(cursor *c, size_t n) {
  if (n > c->left) return NULL;
  const uint8_t *p = c->p;
  c->p += n;
  c->left -= n;
  return p;
}
static int take_u32(cursor *c, uint32_t *v) {
  const uint8_t *p = take(c, 4);
  if (p) *v = rd_u32(p);
  return p != NULL;
}
static int take_u64(cursor *c, uint64_t *v) {
  const uint8_t *p = take(c, 8);
  if (p) *v = rd_u64(p);
  return p != NULL;
}

typedef struct {
  const uint8_t *key;
  uint32_t key_len;
  uint32_t type;
  const uint8_t *str; /* string: bytes; strings: the first (u32 length, bytes) pair */
  uint32_t str_len;   /* string: length; strings: count */
  int64_t i;
  double f;
} meta_view;

typedef struct {
  const uint8_t *name;
  uint32_t name_len;
  uint32_t dtype, ndim;
  uint64_t dims[2];
  uint64_t offset, size;
  int used;
} tensor_view;

/* Reads one string (u32 length + bytes) of at most max bytes. */
static int take_string(cursor *c, uint32_t max, const uint8_t **s, uint32_t *len) {
  if (!take_u32(c, len) || *len > max) return 0;
  *s = take(c, *len);
  return *s != NULL;
}

static int parse_meta_entry(loader *ld, cursor *c, uint32_t index, meta_view *v) {
  if (!take_u32(c, &v->key_len) || v->key_len > c->left)
    return fail(ld, "metadata entry %u: the key's length runs past the metadata section", index);
  v->key = take(c, v->key_len);
  if (!key_valid(v->key, v->key_len))
    return fail(ld, "metadata entry %u: the key is not 1..%u bytes of UTF-8 without control characters",
                index, MAX_KEY_BYTES);
  int kl = (int)v->key_len;
  if (!take_u32(c, &v->type)) return fail(ld, "metadata '%.*s': truncated before its type", kl, v->key);
  switch (v->type) {
  case RNN_META_STRING:
    if (!take_string(c, MAX_STRING_BYTES, &v->str, &v->str_len))
      return fail(ld, "metadata '%.*s': the string's length runs past the metadata section (or exceeds %u bytes)",
                  kl, v->key, MAX_STRING_BYTES);
    if (!value_valid(v->str, v->str_len))
      return fail(ld, "metadata '%.*s': the string is not UTF-8 without NUL bytes", kl, v->key);
    return RNN_OK;
  case RNN_META_INT: {
    uint64_t u;
    if (!take_u64(c, &u)) return fail(ld, "metadata '%.*s': truncated int value", kl, v->key);
    memcpy(&v->i, &u, sizeof u);
    return RNN_OK;
  }
  case RNN_META_FLOAT: {
    uint64_t u;
    if (!take_u64(c, &u)) return fail(ld, "metadata '%.*s': truncated float value", kl, v->key);
    memcpy(&v->f, &u, sizeof u);
    return RNN_OK;
  }
  case RNN_META_STRINGS: {
    if (!take_u32(c, &v->str_len) || v->str_len > MAX_LIST_COUNT || v->str_len > c->left / 4)
      return fail(ld, "metadata '%.*s': the list's count runs past the metadata section (or exceeds %u)", kl,
                  v->key, MAX_LIST_COUNT);
    v->str = c->p;
    for (uint32_t k = 0; k < v->str_len; k++) {
      const uint8_t *s;
      uint32_t n;
      if (!take_string(c, MAX_STRING_BYTES, &s, &n))
        return fail(ld, "metadata '%.*s': string %u of the list runs past the metadata section", kl, v->key, k);
      if (!value_valid(s, n))
        return fail(ld, "metadata '%.*s': string %u of the list is not UTF-8 without NUL bytes", kl, v->key, k);
    }
    return RNN_OK;
  }
  default:
    return fail(ld, "metadata '%.*s' has unknown type %u", kl, v->key, v->type);
  }
}

static int compare_meta_keys(const void *a, const void *b) {
  const meta_view *x = *(const meta_view *const *)a, *y = *(const meta_view *const *)b;
  uint32_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  if (c) return c;
  return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int check_duplicate_keys(loader *ld, const meta_view *views, uint32_t n) {
  if (n < 2) return RNN_OK;
  const meta_view **sorted = malloc(n * sizeof *sorted);
  if (!sorted) return RNN_ENOMEM;
  for (uint32_t i = 0; i < n; i++) sorted[i] = &views[i];
  qsort(sorted, n, sizeof *sorted, compare_meta_keys);
  int rc = RNN_OK;
  for (uint32_t i = 1; i < n && rc == RNN_OK; i++)
    if (compare_meta_keys(&sorted[i - 1], &sorted[i]) == 0)
      rc = fail(ld, "metadata key '%.*s' appears more than once", (int)sorted[i]->key_len, sorted[i]->key);
  free(sorted);
  return rc;
}

static const meta_view *find_meta(const meta_view *views, uint32_t n, const char *key) {
  for (uint32_t i = 0; i < n; i++)
    if (bytes_equal_str(views[i].key, views[i].key_len, key)) return &views[i];
  return NULL;
}

static int arch_int(loader *ld, const meta_view *views, uint32_t n, const char *key, int64_t lo, int64_t hi,
                    int *out) {
  const meta_view *v = find_meta(views, n, key);
  if (!v) return fail(ld, "architecture key '%s' is missing", key);
  if (v->type != RNN_META_INT) return fail(ld, "'%s' must be an int, it is %s", key, meta_type_name(v->type));
  if (v->i < lo || v->i > hi)
    return fail(ld, "'%s' is %lld, it must be %lld..%lld", key, (long long)v->i, (long long)lo, (long long)hi);
  *out = (int)v->i;
  return RNN_OK;
}

/* An architecture name (cell, head, pool) parsed by the engine's own name parser. */
static int arch_name(loader *ld, const meta_view *views, uint32_t n, const char *key, int (*parse)(const char *),
                     const char *choices, int *out) {
  const meta_view *v = find_meta(views, n, key);
  if (!v) return fail(ld, "architecture key '%s' is missing", key);
  if (v->type != RNN_META_STRING) return fail(ld, "'%s' must be a string, it is %s", key, meta_type_name(v->type));
  char buf[32];
  int k = -1;
  if (v->str_len < sizeof buf) {
    memcpy(buf, v->str, v->str_len);
    buf[v->str_len] = '\0';
    k = parse(buf);
  }
  if (k < 0) /* at most 40 bytes of the bad value: it may be megabytes long */
    return fail(ld, "'%s' is '%.*s%s', it must be one of %s", key, v->str_len > 40 ? 40 : (int)v->str_len, v->str,
                v->str_len > 40 ? "..." : "", choices);
  *out = k;
  return RNN_OK;
}

/* Whether an "arch." key is one this version defines for an architecture of `layers` layers. */
static int arch_key_known(const uint8_t *key, uint32_t len, int layers) {
  static const char *const top[] = {"arch.input_size", "arch.layers", "arch.head", "arch.outputs", "arch.pool",
                                    "arch.head.groups"};
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
    if (bytes_equal_str(key, len, top[i])) return 1;
  if (!has_prefix(key, len, "arch.layer.")) return 0;
  size_t i = strlen("arch.layer."), start = i;
  long idx = 0;
  while (i < len && key[i] >= '0' && key[i] <= '9' && i - start < 3) idx = idx * 10 + (key[i++] - '0');
  if (i == start || (key[start] == '0' && i - start > 1) || idx >= layers || i >= len || key[i] != '.')
    return 0;
  i++;
  return bytes_equal_str(key + i, len - i, "cell") || bytes_equal_str(key + i, len - i, "hidden") ||
         bytes_equal_str(key + i, len - i, "bidirectional") || bytes_equal_str(key + i, len - i, "groups");
}

/* "arch.layer.N.groups": optional (absent = 1), divides the layer's hidden size, and a layer above
 * a grouped layer is grouped the same way (rnn.h, grouped layers). */
static int parse_groups(loader *ld, const meta_view *v, uint32_t n, arch_desc *a, int l) {
  char key[64];
  snprintf(key, sizeof key, "arch.layer.%d.groups", l);
  a->groups[l] = 1;
  if (find_meta(v, n, key)) {
    int rc = arch_int(ld, v, n, key, 1, a->hidden[l], &a->groups[l]);
    if (rc) return rc;
    if (a->hidden[l] % a->groups[l] != 0)
      return fail(ld, "'%s' is %d, which does not divide the layer's hidden size %d", key, a->groups[l],
                  a->hidden[l]);
  }
  if (l > 0 && (a->groups[l] > 1 || a->groups[l - 1] > 1) && a->groups[l] != a->groups[l - 1])
    return fail(ld, "'%s' is %d, but the layer below has %d groups: a layer above a grouped layer must have "
                "the same groups",
                key, a->groups[l], a->groups[l - 1]);
  return RNN_OK;
}

/* "arch.head.groups": optional (absent = 1); a grouped head needs a head, divides the outputs, and
 * sits on a top layer with as many groups (rnn.h, grouped head). */
static int parse_head_groups(loader *ld, const meta_view *v, uint32_t n, arch_desc *a) {
  static const char key[] = "arch.head.groups";
  a->head_groups = 1;
  if (!find_meta(v, n, key))
    return RNN_OK;
  int rc = arch_int(ld, v, n, key, 1, MAX_ARCH_SIZE, &a->head_groups);
  if (rc) return rc;
  if (a->head_groups == 1)
    return RNN_OK;
  if (a->head == RNN_HEAD_NONE)
    return fail(ld, "'%s' is %d, but 'arch.head' is none: only a head can be grouped", key, a->head_groups);
  if (a->outputs % a->head_groups != 0)
    return fail(ld, "'%s' is %d, which does not divide 'arch.outputs' %d", key, a->head_groups, a->outputs);
  if (a->groups[a->layers - 1] != a->head_groups)
    return fail(ld, "'%s' is %d, but the top layer has %d groups: a grouped head needs the top layer grouped "
                "the same way",
                key, a->head_groups, a->groups[a->layers - 1]);
  return RNN_OK;
}

static int parse_arch(loader *ld, const meta_view *v, uint32_t n, arch_desc *a) {
  int rc, k;
  memset(a, 0, sizeof *a);
  if ((rc = arch_int(ld, v, n, "arch.input_size", 1, MAX_ARCH_SIZE, &a->input_size))) return rc;
  if ((rc = arch_int(ld, v, n, "arch.layers", 1, RNN_MAX_LAYERS, &a->layers))) return rc;
  for (uint32_t i = 0; i < n; i++)
    if (has_prefix(v[i].key, v[i].key_len, ARCH_PREFIX) && !arch_key_known(v[i].key, v[i].key_len, a->layers))
      return fail(ld, "unknown architecture key '%.*s' (arch.layers is %d)", (int)v[i].key_len, v[i].key,
                  a->layers);
  for (int l = 0; l < a->layers; l++) {
    char key[64];
    snprintf(key, sizeof key, "arch.layer.%d.cell", l);
    if ((rc = arch_name(ld, v, n, key, rnn_cell_from_name, "rnn_tanh, rnn_relu, lstm, gru, gru_reset_before", &k)))
      return rc;
    a->cell[l] = (rnn_cell_kind)k;
    snprintf(key, sizeof key, "arch.layer.%d.hidden", l);
    if ((rc = arch_int(ld, v, n, key, 1, MAX_ARCH_SIZE, &a->hidden[l]))) return rc;
    snprintf(key, sizeof key, "arch.layer.%d.bidirectional", l);
    if ((rc = arch_int(ld, v, n, key, 0, 1, &a->bidirectional[l]))) return rc;
    if ((rc = parse_groups(ld, v, n, a, l))) return rc;
  }
  if ((rc = arch_name(ld, v, n, "arch.head", rnn_head_from_name, "none, linear, sigmoid, softmax", &k))) return rc;
  a->head = (rnn_head_kind)k;
  if ((rc = arch_name(ld, v, n, "arch.pool", rnn_pool_from_name, "last, mean", &k))) return rc;
  a->pool = (rnn_pool_kind)k;
  if ((rc = arch_int(ld, v, n, "arch.outputs", 1, 2 * MAX_ARCH_SIZE, &a->outputs))) return rc;
  if (a->head == RNN_HEAD_NONE && a->outputs != arch_top_size(a))
    return fail(ld, "'arch.outputs' is %d, but without a head the output is the top layer's %d values",
                a->outputs, arch_top_size(a));
  if (a->head != RNN_HEAD_NONE && a->outputs > MAX_ARCH_SIZE)
    return fail(ld, "'arch.outputs' is %d, it must be 1..%d", a->outputs, MAX_ARCH_SIZE);
  return parse_head_groups(ld, v, n, a);
}

static int parse_tensor_entry(loader *ld, cursor *c, uint64_t data_size, uint32_t index, tensor_view *t) {
  if (!take_u32(c, &t->name_len) || t->name_len > c->left)
    return fail(ld, "tensor directory entry %u: the name's length runs past the directory", index);
  t->name = take(c, t->name_len);
  if (!tensor_name_valid(t->name, t->name_len))
    return fail(ld, "tensor directory entry %u: the name is not 1..%d characters of [a-z0-9._]", index,
                MAX_TENSOR_NAME);
  int nl = (int)t->name_len;
  if (!take_u32(c, &t->dtype) || !take_u32(c, &t->ndim))
    return fail(ld, "tensor '%.*s': the directory entry is truncated", nl, t->name);
  if (t->dtype != DTYPE_F32) {
    if (dtype_name(t->dtype))
      return fail(ld, "tensor '%.*s' has dtype %s, which this reader does not support (it reads f32)", nl,
                  t->name, dtype_name(t->dtype));
    return fail(ld, "tensor '%.*s' has unknown dtype %u", nl, t->name, t->dtype);
  }
  if (t->ndim < 1 || t->ndim > 2) return fail(ld, "tensor '%.*s' has %u dimensions, it must be 1 or 2", nl, t->name, t->ndim);
  t->dims[1] = 1;
  for (uint32_t d = 0; d < t->ndim; d++) {
    if (!take_u64(c, &t->dims[d])) return fail(ld, "tensor '%.*s': the directory entry is truncated", nl, t->name);
    if (t->dims[d] < 1 || t->dims[d] > MAX_DIM)
      return fail(ld, "tensor '%.*s': dimension %u is %llu, it must be 1..%u", nl, t->name, d,
                  (unsigned long long)t->dims[d], MAX_DIM);
  }
  if (!take_u64(c, &t->offset) || !take_u64(c, &t->size))
    return fail(ld, "tensor '%.*s': the directory entry is truncated", nl, t->name);
  uint64_t count = t->dims[0] * t->dims[1]; /* both <= 2^31: no overflow */
  if (t->size % 4 != 0 || t->size / 4 != count)
    return fail(ld, "tensor '%.*s' has %llu bytes, its %llu f32 values need %llu", nl, t->name,
                (unsigned long long)t->size, (unsigned long long)count, (unsigned long long)(4 * count));
  if (t->offset > data_size || t->size > data_size - t->offset)
    return fail(ld, "tensor '%.*s' (offset %llu, %llu bytes) lies past the end of the data section (%llu bytes)",
                nl, t->name, (unsigned long long)t->offset, (unsigned long long)t->size,
                (unsigned long long)data_size);
  if (t->offset % DATA_ALIGN != 0)
    return fail(ld, "tensor '%.*s' is at offset %llu, not a multiple of %u", nl, t->name,
                (unsigned long long)t->offset, DATA_ALIGN);
  return RNN_OK;
}

static int compare_tensor_offsets(const void *a, const void *b) {
  const tensor_view *x = *(const tensor_view *const *)a, *y = *(const tensor_view *const *)b;
  return (x->offset > y->offset) - (x->offset < y->offset);
}

static int check_tensor_directory(loader *ld, tensor_view *t, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    for (uint32_t j = 0; j < i; j++)
      if (t[i].name_len == t[j].name_len && !memcmp(t[i].name, t[j].name, t[i].name_len))
        return fail(ld, "tensor '%.*s' appears more than once", (int)t[i].name_len, t[i].name);
  const tensor_view *sorted[MAX_FILE_TENSORS];
  for (uint32_t i = 0; i < n; i++) sorted[i] = &t[i];
  qsort(sorted, n, sizeof sorted[0], compare_tensor_offsets);
  for (uint32_t i = 1; i < n; i++)
    if (sorted[i - 1]->offset + sorted[i - 1]->size > sorted[i]->offset)
      return fail(ld, "tensors '%.*s' and '%.*s' overlap", (int)sorted[i - 1]->name_len, sorted[i - 1]->name,
                  (int)sorted[i]->name_len, sorted[i]->name);
  return RNN_OK;
}

static tensor_view *find_tensor(tensor_view *t, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (bytes_equal_str(t[i].name, t[i].name_len, name)) return &t[i];
  return NULL;
}

static int match_tensor(loader *ld, tensor_view *t, uint32_t n, const tensor_spec *s, tensor_view **out) {
  tensor_view *v = find_tensor(t, n, s->name);
  if (!v) return fail(ld, "tensor '%s' is missing", s->name);
  if (v->ndim != s->ndim || v->dims[0] != s->dims[0] || v->dims[1] != s->dims[1]) {
    char have[48], need[48];
    format_shape(have, sizeof have, v->ndim, v->dims);
    format_shape(need, sizeof need, s->ndim, s->dims);
    return fail(ld, "tensor '%s' has shape %s, the architecture needs %s", s->name, have, need);
  }
  v->used = 1;
  *out = v;
  return RNN_OK;
}

/* Decodes little-endian f32 values, refusing NaN and infinities (a model holding them only ever
 * produces garbage, and the file is then better rejected with a name than run). */
static int decode_floats(loader *ld, const char *name, const uint8_t *src, uint64_t count, float *dst) {
  for (uint64_t i = 0; i < count; i++) {
    uint32_t u = rd_u32(src + 4 * i);
    float f;
    memcpy(&f, &u, sizeof f);
    if (!isfinite(f))
      return fail(ld, "tensor '%s' holds a non-finite value (%g) at index %llu", name, (double)f,
                  (unsigned long long)i);
    dst[i] = f;
  }
  return RNN_OK;
}

/* "input.normalization": absent or "none" = off, "sequence" = per-sequence normalisation,
 * "raw+sequence" = the first layer reads both (rnn.h). Any other value is an error, never ignored:
 * a model run without the normalisation it was trained with gives confident garbage. */
static int parse_input_normalization(loader *ld, const meta_view *v, uint32_t n, int *seq_norm) {
  const meta_view *e = find_meta(v, n, RNN_SEQ_NORM_KEY);
  *seq_norm = 0;
  if (!e) return RNN_OK;
  if (e->type != RNN_META_STRING)
    return fail(ld, "'%s' must be a string, it is %s", RNN_SEQ_NORM_KEY, meta_type_name(e->type));
  if (bytes_equal_str(e->str, e->str_len, RNN_SEQ_NORM_VALUE))
    *seq_norm = RNN_SEQUENCE_NORM_ON;
  else if (bytes_equal_str(e->str, e->str_len, RNN_SEQ_NORM_APPEND_VALUE))
    *seq_norm = RNN_SEQUENCE_NORM_APPEND;
  else if (!bytes_equal_str(e->str, e->str_len, "none"))
    return fail(ld, "'%s' is '%.*s%s', it must be '%s', '%s' or 'none'", RNN_SEQ_NORM_KEY,
                e->str_len > 40 ? 40 : (int)e->str_len, e->str, e->str_len > 40 ? "..." : "", RNN_SEQ_NORM_VALUE,
                RNN_SEQ_NORM_APPEND_VALUE);
  return RNN_OK;
}

static int check_well_known(loader *ld, const meta_view *v, uint32_t n, const arch_desc *a) {
  const meta_view *task = find_meta(v, n, "task");
  if (task && task->type != RNN_META_STRING)
    return fail(ld, "'task' must be a string, it is %s", meta_type_name(task->type));
  static const char *const lists[] = {"labels", "alphabet"};
  for (int i = 0; i < 2; i++) {
    const meta_view *e = find_meta(v, n, lists[i]);
    if (!e) continue;
    if (e->type != RNN_META_STRINGS)
      return fail(ld, "'%s' must be a list of strings, it is %s", lists[i], meta_type_name(e->type));
    /* a grouped head: the same labels for each head */
    int per_head = a->head_groups > 1 ? a->outputs / a->head_groups : a->outputs;
    if ((int64_t)e->str_len != per_head && a->head_groups > 1)
      return fail(ld, "'%s' has %u entries, the model's %d heads have %d outputs each", lists[i], e->str_len,
                  a->head_groups, per_head);
    if ((int64_t)e->str_len != per_head)
      return fail(ld, "'%s' has %u entries, the model has %d outputs", lists[i], e->str_len, a->outputs);
  }
  return RNN_OK;
}

static int build_fail(loader *ld, int rc, const char *what) {
  fail(ld, "cannot build the model (%s): %s", what, rnn_strerror(rc));
  return rc < 0 ? rc : RNN_EINVAL;
}

static int copy_meta(loader *ld, rnn_model *m, const meta_view *v) {
  int rc;
  char *key = malloc((size_t)v->key_len + 1);
  if (!key) return build_fail(ld, RNN_ENOMEM, "metadata");
  memcpy(key, v->key, v->key_len);
  key[v->key_len] = '\0';
  switch (v->type) {
  case RNN_META_INT: rc = rnn_model_set_meta_int(m, key, v->i); break;
  case RNN_META_FLOAT: rc = rnn_model_set_meta_float(m, key, v->f); break;
  case RNN_META_STRING: {
    char *s = malloc((size_t)v->str_len + 1);
    if (!s) {
      rc = RNN_ENOMEM;
      break;
    }
    memcpy(s, v->str, v->str_len);
    s[v->str_len] = '\0';
    rc = rnn_model_set_meta_string(m, key, s);
    free(s);
    break;
  }
  default: { /* RNN_META_STRINGS, already validated: walk the (length, bytes) pairs again */
    char **list = calloc(v->str_len ? v->str_len : 1, sizeof *list);
    rc = list ? RNN_OK : RNN_ENOMEM;
    const uint8_t *p = v->str;
    for (uint32_t k = 0; k < v->str_len && rc == RNN_OK; k++) {
      uint32_t len = rd_u32(p);
      list[k] = malloc((size_t)len + 1);
      if (!list[k]) {
        rc = RNN_ENOMEM;
        break;
      }
      memcpy(list[k], p + 4, len);
      list[k][len] = '\0';
      p += 4 + (size_t)len;
    }
    if (rc == RNN_OK) rc = rnn_model_set_meta_strings(m, key, (const char *const *)list, (int)v->str_len);
    for (uint32_t k = 0; list && k < v->str_len; k++) free(list[k]);
    free(list);
    break;
  }
  }
  if (rc != RNN_OK) {
    fail(ld, "cannot store metadata '%s': %s", key, rnn_strerror(rc));
    free(key);
    return rc < 0 ? rc : RNN_EINVAL;
  }
  free(key);
  return RNN_OK;
}

static int build_model(loader *ld, const arch_desc *a, const meta_view *meta, uint32_t n_meta,
                       const tensor_spec *specs, tensor_view *const *views, int n_specs, tensor_view *norm[2],
                       const uint8_t *data_section, rnn_model **out) {
  int rc;
  rnn_model *m = rnn_model_new(a->input_size);
  if (!m) return build_fail(ld, RNN_ENOMEM, "new");
  /* before the layers: the mode sets layer 0's input width */
  if ((rc = rnn_model_set_sequence_normalization(m, a->seq_norm))) {
    build_fail(ld, rc, "input normalisation");
    goto error;
  }
  for (int l = 0; l < a->layers; l++)
    if ((rc = rnn_model_add_layer(m, a->cell[l], a->hidden[l], a->bidirectional[l]))) {
      build_fail(ld, rc, "layers");
      goto error;
    }
  for (int l = 0; l < a->layers; l++)
    if (a->groups[l] > 1 && (rc = rnn_model_set_layer_groups(m, l, a->groups[l]))) {
      build_fail(ld, rc, "layer groups");
      goto error;
    }
  if (a->head != RNN_HEAD_NONE || a->pool != RNN_POOL_LAST) {
    rc = rnn_model_set_head(m, a->head, a->head == RNN_HEAD_NONE ? 0 : a->outputs, a->pool);
    if (rc) {
      build_fail(ld, rc, "head");
      goto error;
    }
  }
  if (a->head_groups > 1 && (rc = rnn_model_set_head_groups(m, a->head_groups))) {
    build_fail(ld, rc, "head groups");
    goto error;
  }
  if ((rc = rnn_model_finalize(m))) {
    build_fail(ld, rc, "parameters");
    goto error;
  }
  for (int i = 0; i < n_specs; i++) {
    float *dst = m->params + spec_param_offset(m, &specs[i]);
    if ((rc = decode_floats(ld, specs[i].name, data_section + views[i]->offset, specs[i].count, dst))) goto error;
  }
  if (norm[0]) {
    float *buf = malloc(2 * (size_t)a->input_size * sizeof *buf);
    if (!buf) {
      rc = build_fail(ld, RNN_ENOMEM, "normalisation");
      goto error;
    }
    rc = decode_floats(ld, "norm.mean", data_section + norm[0]->offset, (uint64_t)a->input_size, buf);
    if (!rc)
      rc = decode_floats(ld, "norm.scale", data_section + norm[1]->offset, (uint64_t)a->input_size,
                         buf + a->input_size);
    if (!rc && (rc = rnn_model_set_normalization(m, buf, buf + a->input_size))) build_fail(ld, rc, "normalisation");
    free(buf);
    if (rc) goto error;
  }
  /* The format's own keys (the architecture, the per-sequence normalisation mode) became the
   * model's structure above; they are not user metadata. */
  for (uint32_t i = 0; i < n_meta; i++)
    if (!has_prefix(meta[i].key, meta[i].key_len, ARCH_PREFIX) &&
        !bytes_equal_str(meta[i].key, meta[i].key_len, RNN_SEQ_NORM_KEY) && (rc = copy_meta(ld, m, &meta[i])))
      goto error;
  *out = m;
  return RNN_OK;
error:
  rnn_model_unref(m);
  return rc;
}

typedef struct {
  uint32_t version, header_size, meta_count, tensor_count;
  uint64_t file_size, meta_offset, meta_size, dir_offset, dir_size, data_offset, data_size;
} file_header;

static int parse_header(loader *ld, const uint8_t *data, size_t size, file_header *h) {
  if (size == 0) return fail(ld, "empty (0 bytes), not a model file");
  if (size < 8 && memcmp(data, file_magic, size) == 0)
    return fail(ld, "truncated: %zu bytes, shorter than the %u-byte header and checksum", size, HEADER_SIZE + CRC_SIZE);
  if (size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0)
    return fail(ld, "not a gst-rnn model file but a zip archive (a PyTorch .pt file? convert it with "
                    "tools/import_torch.py)");
  if (size < 8 || memcmp(data, file_magic, 8) != 0)
    return fail(ld, "not a gst-rnn model file (wrong magic bytes)");
  if (size < HEADER_SIZE + CRC_SIZE)
    return fail(ld, "truncated: %zu bytes, shorter than the %u-byte header and checksum", size, HEADER_SIZE + CRC_SIZE);
  h->version = rd_u32(data + 8);
  h->header_size = rd_u32(data + 12);
  h->file_size = rd_u64(data + 16);
  h->meta_count = rd_u32(data + 24);
  h->tensor_count = rd_u32(data + 28);
  h->meta_offset = rd_u64(data + 32);
  h->meta_size = rd_u64(data + 40);
  h->dir_offset = rd_u64(data + 48);
  h->dir_size = rd_u64(data + 56);
  h->data_offset = rd_u64(data + 64);
  h->data_size = rd_u64(data + 72);
  if (h->version > FILE_VERSION)
    return fail(ld, "format version %u is newer than this reader (%u): update gst-rnn", h->version, FILE_VERSION);
  if (h->version != FILE_VERSION) return fail(ld, "format version %u is not a valid version", h->version);
  if (h->header_size != HEADER_SIZE) return fail(ld, "header size is %u, version 1 has %u", h->header_size, HEADER_SIZE);
  if (h->file_size > size)
    return fail(ld, "truncated: the header says %llu bytes, the file has %zu", (unsigned long long)h->file_size, size);
  if (h->file_size < size)
    return fail(ld, "%zu bytes of trailing garbage after the %llu bytes the header declares",
                size - (size_t)h->file_size, (unsigned long long)h->file_size);
  uint32_t stored = rd_u32(data + size - CRC_SIZE), actual = crc32_ieee(data, size - CRC_SIZE);
  if (stored != actual)
    return fail(ld, "checksum mismatch (stored %08x, computed %08x): the file is damaged", stored, actual);

  /* Sections: contiguous and in order; each bound is compared with what remains before adding. */
  uint64_t body = size - CRC_SIZE; /* bytes before the CRC */
  if (h->meta_offset != HEADER_SIZE)
    return fail(ld, "the metadata section starts at %llu, it must follow the header at %u",
                (unsigned long long)h->meta_offset, HEADER_SIZE);
  if (h->meta_size > body - h->meta_offset)
    return fail(ld, "the metadata section (%llu bytes) runs past the end of the file", (unsigned long long)h->meta_size);
  if (h->dir_offset != h->meta_offset + h->meta_size)
    return fail(ld, "the tensor directory starts at %llu, it must follow the metadata at %llu",
                (unsigned long long)h->dir_offset, (unsigned long long)(h->meta_offset + h->meta_size));
  if (h->dir_size > body - h->dir_offset)
    return fail(ld, "the tensor directory (%llu bytes) runs past the end of the file", (unsigned long long)h->dir_size);
  uint64_t dir_end = h->dir_offset + h->dir_size;
  uint64_t aligned = (dir_end + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN; /* dir_end < 2^63: no overflow */
  if (h->data_offset != aligned)
    return fail(ld, "the data section starts at %llu, it must start at %llu (the directory's end rounded up to %u)",
                (unsigned long long)h->data_offset, (unsigned long long)aligned, DATA_ALIGN);
  if (h->data_offset > body || h->data_size != body - h->data_offset)
    return fail(ld, "the data section (%llu bytes at %llu) does not end where the checksum starts (%llu)",
                (unsigned long long)h->data_size, (unsigned long long)h->data_offset, (unsigned long long)body);
  for (uint64_t i = dir_end; i < h->data_offset; i++)
    if (data[i] != 0) return fail(ld, "the padding before the data section is not zero");
  if (h->meta_count > MAX_META_COUNT)
    return fail(ld, "%u metadata entries, at most %u are allowed", h->meta_count, MAX_META_COUNT);
  if (h->tensor_count < 1 || h->tensor_count > MAX_FILE_TENSORS)
    return fail(ld, "%u tensors, it must be 1..%d", h->tensor_count, MAX_FILE_TENSORS);
  return RNN_OK;
}

static int load_buffer(loader *ld, const uint8_t *data, size_t size, rnn_model **out) {
  file_header h = {0};
  meta_view *meta = NULL;
  tensor_view tensors[MAX_FILE_TENSORS];
  tensor_spec specs[RNN_MAX_TENSORS];
  tensor_view *matched[RNN_MAX_TENSORS];
  tensor_view *norm[2] = {NULL, NULL};
  arch_desc arch;
  int rc;

  if ((rc = parse_header(ld, data, size, &h))) return rc;

  /* Metadata: the smallest entry takes 13 bytes (key length, a 1-byte key, type, an empty string
   * or list), so a count the section cannot hold is rejected before allocating for it. */
  if (h.meta_count > h.meta_size / 13)
    return fail(ld, "%u metadata entries cannot fit in a %llu-byte metadata section", h.meta_count,
                (unsigned long long)h.meta_size);
  meta = calloc(h.meta_count ? h.meta_count : 1, sizeof *meta);
  if (!meta) return fail(ld, "out of memory"), RNN_ENOMEM;
  cursor c = {data + h.meta_offset, (size_t)h.meta_size};
  for (uint32_t i = 0; i < h.meta_count; i++)
    if ((rc = parse_meta_entry(ld, &c, i, &meta[i]))) goto done;
  if (c.left != 0) {
    rc = fail(ld, "%zu unused bytes at the end of the metadata section", c.left);
    goto done;
  }
  if ((rc = check_duplicate_keys(ld, meta, h.meta_count))) {
    if (rc == RNN_ENOMEM) fail(ld, "out of memory");
    goto done;
  }
  if ((rc = parse_arch(ld, meta, h.meta_count, &arch))) goto done;
  if ((rc = parse_input_normalization(ld, meta, h.meta_count, &arch.seq_norm))) goto done;

  /* Tensor directory. */
  c.p = data + h.dir_offset;
  c.left = (size_t)h.dir_size;
  for (uint32_t i = 0; i < h.tensor_count; i++) {
    tensors[i].used = 0;
    if ((rc = parse_tensor_entry(ld, &c, h.data_size, i, &tensors[i]))) goto done;
  }
  if (c.left != 0) {
    rc = fail(ld, "%zu unused bytes at the end of the tensor directory", c.left);
    goto done;
  }
  if ((rc = check_tensor_directory(ld, tensors, h.tensor_count))) goto done;

  tensor_view *mean = find_tensor(tensors, h.tensor_count, "norm.mean");
  tensor_view *scale = find_tensor(tensors, h.tensor_count, "norm.scale");
  /* Said before any shape: the layer 0 shapes are what the mode doubles. */
  if ((mean || scale) && arch.seq_norm == RNN_SEQUENCE_NORM_APPEND) {
    rc = fail(ld, "tensor '%s' with '%s' = '%s': such a model keeps its normalisation folded into layer 0",
              mean ? "norm.mean" : "norm.scale", RNN_SEQ_NORM_KEY, RNN_SEQ_NORM_APPEND_VALUE);
    goto done;
  }

  /* The tensors the architecture needs, exactly. */
  int n_specs = arch_tensor_specs(&arch, specs);
  for (int i = 0; i < n_specs; i++)
    if ((rc = match_tensor(ld, tensors, h.tensor_count, &specs[i], &matched[i]))) goto done;
  if (mean || scale) {
    tensor_spec ns[2];
    spec_set(&ns[0], "norm.mean", PART_NORM_MEAN, 0, 0, 1, (uint64_t)arch.input_size, 1);
    spec_set(&ns[1], "norm.scale", PART_NORM_SCALE, 0, 0, 1, (uint64_t)arch.input_size, 1);
    if ((rc = match_tensor(ld, tensors, h.tensor_count, &ns[0], &norm[0]))) goto done;
    if ((rc = match_tensor(ld, tensors, h.tensor_count, &ns[1], &norm[1]))) goto done;
  }
  for (uint32_t i = 0; i < h.tensor_count; i++)
    if (!tensors[i].used) {
      rc = fail(ld, "unexpected tensor '%.*s': this architecture has no such tensor", (int)tensors[i].name_len,
                tensors[i].name);
      goto done;
    }
  if ((rc = check_well_known(ld, meta, h.meta_count, &arch))) goto done;

  rc = build_model(ld, &arch, meta, h.meta_count, specs, matched, n_specs, norm, data + h.data_offset, out);
done:
  free(meta);
  return rc;
}

rnn_model *rnn_model_load_memory(const void *data, size_t size, char *err, size_t errlen) {
  loader ld = {"model data", err, errlen};
  rnn_model *m = NULL;
  if (!data && size) {
    fail(&ld, "no data");
    return NULL;
  }
  if (load_buffer(&ld, data ? data : (const void *)"", size, &m) != RNN_OK) return NULL;
  return m;
}

rnn_model *rnn_model_load(const char *path, char *err, size_t errlen) {
  loader ld = {path ? path : "(null)", err, errlen};
  if (!path) {
    fail(&ld, "no path given");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fail(&ld, "cannot open: %s", strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fail(&ld, "cannot stat: %s", strerror(errno));
    close(fd);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(&ld, "not a regular file");
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
    fail(&ld, "too large to load");
    close(fd);
    return NULL;
  }
  size_t size = (size_t)st.st_size, got = 0;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fail(&ld, "out of memory reading %zu bytes", size);
    close(fd);
    return NULL;
  }
  int read_failed = 0;
  while (got < size) {
    ssize_t k = read(fd, buf + got, size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      fail(&ld, "read error: %s", strerror(errno));
      read_failed = 1;
      break;
    }
    if (k == 0) break; /* the file shrank while reading: reported as truncated by the checks */
    got += (size_t)k;
  }
  close(fd);
  rnn_model *m = NULL;
  if (!read_failed) load_buffer(&ld, buf, got, &m);
  free(buf);
  return m;
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  uint8_t *p;
  size_t len, cap;
  int failed;
} wbuf;

static uint8_t *wb_grow(wbuf *b, size_t n) {
  if (b->failed) return NULL;
  if (n > SIZE_MAX - b->len) {
    b->failed = 1;
    return NULL;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) {
      if (cap > SIZE_MAX / 2) {
        cap = b->len + n;
        break;
      }
      cap *= 2;
    }
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
      b->failed = 1;
      return NULL;
    }
    b->p = q;
    b->cap = cap;
  }
  uint8_t *at = b->p + b->len;
  b->len += n;
  return at;
}
static void wb_u32(wbuf *b, uint32_t v) {
  uint8_t *p = wb_grow(b, 4);
  if (p) wr_u32(p, v);
}
static void wb_u64(wbuf *b, uint64_t v) {
  uint8_t *p = wb_grow(b, 8);
  if (p) wr_u64(p, v);
}
static void wb_bytes(wbuf *b, const void *s, size_t n) {
  uint8_t *p = wb_grow(b, n);
  if (p && n) memcpy(p, s, n);
}
static void wb_string(wbuf *b, const char *s) {
  size_t n = strlen(s);
  wb_u32(b, (uint32_t)n);
  wb_bytes(b, s, n);
}
static void wb_meta_int(wbuf *b, const char *key, int64_t v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  wb_string(b, key);
  wb_u32(b, RNN_META_INT);
  wb_u64(b, u);
}
static void wb_meta_string(wbuf *b, const char *key, const char *v) {
  wb_string(b, key);
  wb_u32(b, RNN_META_STRING);
  wb_string(b, v);
}

typedef struct {
  char *msg;
  size_t len;
} save_error;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int save_fail(save_error *e, int rc, const char *fmt, ...) {
  if (e && e->msg && e->len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, e->len, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static int string_ok(const char *s) { return strlen(s) <= MAX_STRING_BYTES && utf8_valid((const uint8_t *)s, strlen(s)); }

static void model_arch(const rnn_model *m, arch_desc *a) {
  memset(a, 0, sizeof *a);
  a->input_size = m->input_size;
  a->layers = m->num_layers;
  for (int l = 0; l < m->num_layers; l++) {
    a->cell[l] = m->layers[l].cell;
    a->hidden[l] = m->layers[l].hidden_size;
    a->bidirectional[l] = m->layers[l].bidirectional;
    a->groups[l] = m->layers[l].groups;
  }
  a->head = m->head;
  a->pool = m->pool;
  a->outputs = m->head == RNN_HEAD_NONE ? rnn_model_top_size(m) : m->head_outputs;
  a->head_groups = m->head_groups;
  a->seq_norm = m->seq_norm;
}

static void write_arch_meta(wbuf *b, const arch_desc *a) {
  wb_meta_int(b, "arch.input_size", a->input_size);
  wb_meta_int(b, "arch.layers", a->layers);
  for (int l = 0; l < a->layers; l++) {
    char key[64];
    snprintf(key, sizeof key, "arch.layer.%d.cell", l);
    wb_meta_string(b, key, rnn_cell_name(a->cell[l]));
    snprintf(key, sizeof key, "arch.layer.%d.hidden", l);
    wb_meta_int(b, key, a->hidden[l]);
    snprintf(key, sizeof key, "arch.layer.%d.bidirectional", l);
    wb_meta_int(b, key, a->bidirectional[l]);
    if (a->groups[l] > 1) { /* only then: files of dense models stay as they were */
      snprintf(key, sizeof key, "arch.layer.%d.groups", l);
      wb_meta_int(b, key, a->groups[l]);
    }
  }
  wb_meta_string(b, "arch.head", rnn_head_name(a->head));
  wb_meta_int(b, "arch.outputs", a->outputs);
  wb_meta_string(b, "arch.pool", rnn_pool_name(a->pool));
  if (a->head_groups > 1) /* only then, as for the layers' groups */
    wb_meta_int(b, "arch.head.groups", a->head_groups);
}

/* User metadata in insertion order; "arch." keys and "input.normalization" are the format's own and are
 * written from the model, not from its metadata. */
static int write_user_meta(wbuf *b, const rnn_model *m, uint32_t *count, save_error *e) {
  for (int i = 0; i < m->num_meta; i++) {
    const rnn_meta_entry *x = &m->meta[i];
    size_t kl = strlen(x->key);
    if (has_prefix((const uint8_t *)x->key, kl, ARCH_PREFIX) || strcmp(x->key, RNN_SEQ_NORM_KEY) == 0) continue;
    if (!key_valid((const uint8_t *)x->key, kl))
      return save_fail(e, RNN_EINVAL, "metadata key '%s' is not 1..%u bytes of UTF-8 without control characters",
                       x->key, MAX_KEY_BYTES);
    if (*count >= MAX_META_COUNT) return save_fail(e, RNN_EINVAL, "more than %u metadata entries", MAX_META_COUNT);
    wb_string(b, x->key);
    wb_u32(b, (uint32_t)x->type);
    switch (x->type) {
    case RNN_META_STRING:
      if (!string_ok(x->str)) return save_fail(e, RNN_EINVAL, "metadata '%s' is not UTF-8 of at most 16 MiB", x->key);
      wb_string(b, x->str);
      break;
    case RNN_META_INT: {
      uint64_t u;
      memcpy(&u, &x->i, sizeof u);
      wb_u64(b, u);
      break;
    }
    case RNN_META_FLOAT: {
      uint64_t u;
      memcpy(&u, &x->f, sizeof u);
      wb_u64(b, u);
      break;
    }
    case RNN_META_STRINGS:
      if (x->n_strs < 0 || (uint64_t)x->n_strs > MAX_LIST_COUNT)
        return save_fail(e, RNN_EINVAL, "metadata '%s' has %d strings", x->key, x->n_strs);
      wb_u32(b, (uint32_t)x->n_strs);
      for (int k = 0; k < x->n_strs; k++) {
        if (!string_ok(x->strs[k]))
          return save_fail(e, RNN_EINVAL, "metadata '%s': string %d is not UTF-8 of at most 16 MiB", x->key, k);
        wb_string(b, x->strs[k]);
      }
      break;
    default:
      return save_fail(e, RNN_EINVAL, "metadata '%s' has unknown type %d", x->key, (int)x->type);
    }
    (*count)++;
  }
  return RNN_OK;
}

static uint64_t align_up(uint64_t v) { return (v + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN; }

static int serialize(const rnn_model *m, void **data, size_t *size, save_error *e) {
  if (!m || !data || !size) return save_fail(e, RNN_EINVAL, "no model or no output");
  if (!m->finalized) return save_fail(e, RNN_EINVAL, "the model is not finalized");
  arch_desc a;
  model_arch(m, &a);
  /* The engine can build models larger than version 1 files describe: refuse to write a file that
   * no reader would accept. */
  if (a.input_size > MAX_ARCH_SIZE)
    return save_fail(e, RNN_EINVAL, "input size %d exceeds the file format's limit (%d)", a.input_size, MAX_ARCH_SIZE);
  for (int l = 0; l < a.layers; l++)
    if (a.hidden[l] > MAX_ARCH_SIZE)
      return save_fail(e, RNN_EINVAL, "layer %d has %d units, more than the file format's limit (%d)", l, a.hidden[l],
                       MAX_ARCH_SIZE);
  if (a.head != RNN_HEAD_NONE && a.outputs > MAX_ARCH_SIZE)
    return save_fail(e, RNN_EINVAL, "%d outputs exceed the file format's limit (%d)", a.outputs, MAX_ARCH_SIZE);
  tensor_spec specs[RNN_MAX_TENSORS + 2];
  const float *src[RNN_MAX_TENSORS + 2];
  int n = arch_tensor_specs(&a, specs);
  for (int i = 0; i < n; i++) src[i] = m->params + spec_param_offset(m, &specs[i]);
  if (m->norm_mean && m->norm_scale) {
    spec_set(&specs[n], "norm.mean", PART_NORM_MEAN, 0, 0, 1, (uint64_t)a.input_size, 1);
    src[n++] = m->norm_mean;
    spec_set(&specs[n], "norm.scale", PART_NORM_SCALE, 0, 0, 1, (uint64_t)a.input_size, 1);
    src[n++] = m->norm_scale;
  }

  wbuf meta = {0}, dir = {0};
  uint32_t meta_count = (uint32_t)(5 + 3 * a.layers);
  for (int l = 0; l < a.layers; l++)
    if (a.groups[l] > 1) meta_count++; /* arch.layer.N.groups */
  if (a.head_groups > 1) meta_count++;  /* arch.head.groups */
  write_arch_meta(&meta, &a);
  /* Written only when on, right after the architecture: a model without the mode gives the same
   * bytes as before the key existed. */
  if (m->seq_norm) {
    wb_meta_string(&meta, RNN_SEQ_NORM_KEY,
                   m->seq_norm == RNN_SEQUENCE_NORM_APPEND ? RNN_SEQ_NORM_APPEND_VALUE : RNN_SEQ_NORM_VALUE);
    meta_count++;
  }
  int rc = write_user_meta(&meta, m, &meta_count, e);
  uint64_t data_size = 0;
  for (int i = 0; i < n && rc == RNN_OK; i++) {
    for (uint64_t k = 0; k < specs[i].count; k++)
      if (!isfinite(src[i][k])) {
        rc = save_fail(e, RNN_ENUMERIC, "tensor '%s' holds a non-finite value at index %llu", specs[i].name,
                       (unsigned long long)k);
        break;
      }
    uint64_t offset = align_up(data_size);
    wb_string(&dir, specs[i].name);
    wb_u32(&dir, DTYPE_F32);
    wb_u32(&dir, specs[i].ndim);
    for (uint32_t d = 0; d < specs[i].ndim; d++) wb_u64(&dir, specs[i].dims[d]);
    wb_u64(&dir, offset);
    wb_u64(&dir, 4 * specs[i].count);
    data_size = offset + 4 * specs[i].count;
  }
  if (rc == RNN_OK && (meta.failed || dir.failed)) rc = save_fail(e, RNN_ENOMEM, "out of memory");
  uint64_t data_offset = align_up(HEADER_SIZE + (uint64_t)meta.len + dir.len);
  uint64_t total = data_offset + data_size + CRC_SIZE;
  if (rc == RNN_OK && total > SIZE_MAX) rc = save_fail(e, RNN_ENOMEM, "the model is too large for memory");
  uint8_t *out = rc == RNN_OK ? calloc(1, (size_t)total) : NULL;
  if (rc == RNN_OK && !out) rc = save_fail(e, RNN_ENOMEM, "out of memory (%llu bytes)", (unsigned long long)total);
  if (rc == RNN_OK) {
    memcpy(out, file_magic, 8);
    wr_u32(out + 8, FILE_VERSION);
    wr_u32(out + 12, HEADER_SIZE);
    wr_u64(out + 16, total);
    wr_u32(out + 24, meta_count);
    wr_u32(out + 28, (uint32_t)n);
    wr_u64(out + 32, HEADER_SIZE);
    wr_u64(out + 40, meta.len);
    wr_u64(out + 48, HEADER_SIZE + meta.len);
    wr_u64(out + 56, dir.len);
    wr_u64(out + 64, data_offset);
    wr_u64(out + 72, data_size);
    memcpy(out + HEADER_SIZE, meta.p, meta.len);
    memcpy(out + HEADER_SIZE + meta.len, dir.p, dir.len);
    uint8_t *dst = out + data_offset;
    for (int i = 0; i < n; i++) {
      dst = out + data_offset + align_up((uint64_t)(dst - (out + data_offset)));
      for (uint64_t k = 0; k < specs[i].count; k++, dst += 4) {
        uint32_t u;
        memcpy(&u, &src[i][k], sizeof u);
        wr_u32(dst, u);
      }
    }
    wr_u32(out + total - CRC_SIZE, crc32_ieee(out, (size_t)total - CRC_SIZE));
    *data = out;
    *size = (size_t)total;
  }
  free(meta.p);
  free(dir.p);
  return rc;
}

int rnn_model_save_memory(const rnn_model *m, void **data, size_t *size) { return serialize(m, data, size, NULL); }

/* The directory part of a path ("." when there is none), for the fsync after rename. */
static char *path_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int save_error_msg(char *err, size_t errlen, int rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

int rnn_model_save(const rnn_model *m, const char *path, char *err, size_t errlen) {
  if (!path || !*path) return save_error_msg(err, errlen, RNN_EINVAL, "no path given");
  void *data = NULL;
  size_t size = 0;
  char why[256] = "";
  save_error e = {why, sizeof why};
  int rc = serialize(m, &data, &size, &e);
  if (rc != RNN_OK) return save_error_msg(err, errlen, rc, "%s: cannot save the model: %s", path, why);

  size_t plen = strlen(path);
  char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
  if (!tmp) {
    free(data);
    return save_error_msg(err, errlen, RNN_ENOMEM, "%s: out of memory", path);
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = save_error_msg(err, errlen, RNN_EIO, "%s: cannot create a temporary file in its folder: %s", path,
                        strerror(errno));
    free(tmp);
    free(data);
    return rc;
  }
  /* mkstemp creates the file 0600: give the model the existing file's mode, or an ordinary 0644. */
  struct stat st;
  mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
  const char *step = "write";
  FILE *f = NULL;
  if (fchmod(fd, mode) != 0) {
    step = "chmod";
  } else if (!(f = fdopen(fd, "wb"))) {
    step = "open";
  } else {
    fd = -1; /* owned by f now */
    if (fwrite(data, 1, size, f) != size) step = "write";
    else if (fflush(f) != 0) step = "write";
    else if (fsync(fileno(f)) != 0) step = "sync";
    else step = NULL;
  }
  int saved_errno = errno;
  if (f && fclose(f) != 0 && !step) {
    step = "close";
    saved_errno = errno;
  }
  if (fd >= 0) close(fd);
  if (!step && rename(tmp, path) != 0) {
    step = "rename";
    saved_errno = errno;
  }
  free(data);
  if (step) {
    unlink(tmp);
    free(tmp);
    return save_error_msg(err, errlen, RNN_EIO, "%s: cannot save the model (%s failed): %s", path, step,
                          strerror(saved_errno));
  }
  free(tmp);
  /* Make the rename itself durable; a failure here leaves a complete file, so it is not an error. */
  char *dir = path_dirname(path);
  int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  free(dir);
  return RNN_OK;
}
