/* Tests of the .rnn model file format (engine/format.c, docs/model-format.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Round trips of every architecture feature and metadata type (bit-identical), every truncation
 * and every single-byte flip of a small file (run under ASan in the sanitizer build), specific
 * damages with their specific messages, and atomic saves that keep an existing file through a
 * read-only folder, a failing write and a failing rename.
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rnn.h"
#include "testutil.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers: models, an independent CRC-32, file access
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rnn_cell_kind cell;
  int hidden, bidirectional;
} layer_cfg;

static rnn_model *make_model(int input, int n_layers, const layer_cfg *layers, rnn_head_kind head, int outputs,
                             rnn_pool_kind pool, int with_norm, unsigned long long seed) {
  rnn_model *m = rnn_model_new(input);
  if (!m) return NULL;
  for (int l = 0; l < n_layers; l++)
    if (rnn_model_add_layer(m, layers[l].cell, layers[l].hidden, layers[l].bidirectional) != RNN_OK) goto bad;
  if ((head != RNN_HEAD_NONE || pool != RNN_POOL_LAST) && rnn_model_set_head(m, head, outputs, pool) != RNN_OK)
    goto bad;
  if (rnn_model_finalize(m) != RNN_OK) goto bad;
  float *p = rnn_model_params(m);
  size_t n = rnn_model_num_params(m);
  unsigned long long s = seed;
  for (size_t i = 0; i < n; i++) p[i] = test_uniform(&s, -1.0f, 1.0f);
  /* Values whose bits a sloppy encoder would change. */
  if (n > 4) {
    p[0] = -0.0f;
    p[1] = 1e-40f; /* subnormal */
    p[2] = FLT_MAX;
    p[3] = -FLT_MIN;
  }
  if (with_norm) {
    float *mean = malloc((size_t)input * sizeof *mean), *scale = malloc((size_t)input * sizeof *scale);
    for (int i = 0; i < input; i++) {
      mean[i] = test_uniform(&s, -5.0f, 5.0f);
      scale[i] = test_uniform(&s, 0.1f, 3.0f);
    }
    int rc = rnn_model_set_normalization(m, mean, scale);
    free(mean);
    free(scale);
    if (rc != RNN_OK) goto bad;
  }
  return m;
bad:
  rnn_model_unref(m);
  return NULL;
}

static rnn_model *small_model(void) {
  layer_cfg l[2] = {{RNN_CELL_GRU, 6, 0}, {RNN_CELL_LSTM, 4, 1}};
  rnn_model *m = make_model(3, 2, l, RNN_HEAD_SOFTMAX, 4, RNN_POOL_MEAN, 1, 7);
  const char *labels[4] = {"zero", "one", "two", "three"};
  rnn_model_set_meta_string(m, "task", "classification");
  rnn_model_set_meta_strings(m, "labels", labels, 4);
  rnn_model_set_meta_int(m, "features.num-mel-bins", 3);
  rnn_model_set_meta_float(m, "train.accuracy", 0.975);
  rnn_model_set_meta_string(m, "train.aaa", "x");
  rnn_model_set_meta_string(m, "train.bbb", "y");
  return m;
}

static uint32_t ref_crc32(const uint8_t *p, size_t n) { /* bitwise, independent of the engine's table */
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}
static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void fix_crc(uint8_t *b, size_t n) { put_u32(b + n - 4, ref_crc32(b, n - 4)); }

/* Loads exactly n bytes from a fresh heap copy, so that ASan sees any read past the end. */
static rnn_model *load_copy(const uint8_t *b, size_t n, char *err, size_t errlen) {
  uint8_t *c = malloc(n ? n : 1);
  memcpy(c, b, n);
  err[0] = '\0';
  rnn_model *m = rnn_model_load_memory(n ? c : NULL, n, err, errlen);
  free(c);
  return m;
}

static int meta_equal(const rnn_model *a, const rnn_model *b) {
  if (rnn_model_meta_count(a) != rnn_model_meta_count(b)) return 0;
  for (int i = 0; i < rnn_model_meta_count(a); i++) {
    const char *ka, *kb;
    rnn_meta_type ta, tb;
    if (rnn_model_meta_at(a, i, &ka, &ta) || rnn_model_meta_at(b, i, &kb, &tb)) return 0;
    if (strcmp(ka, kb) || ta != tb) return 0;
    switch (ta) {
    case RNN_META_STRING: {
      const char *x, *y;
      if (!rnn_model_meta_string(a, ka, &x) || !rnn_model_meta_string(b, kb, &y) || strcmp(x, y)) return 0;
      break;
    }
    case RNN_META_INT: {
      int64_t x, y;
      if (!rnn_model_meta_int(a, ka, &x) || !rnn_model_meta_int(b, kb, &y) || x != y) return 0;
      break;
    }
    case RNN_META_FLOAT: {
      double x, y;
      if (!rnn_model_meta_float(a, ka, &x) || !rnn_model_meta_float(b, kb, &y) || memcmp(&x, &y, sizeof x)) return 0;
      break;
    }
    case RNN_META_STRINGS: {
      const char *const *x, *const *y;
      int nx, ny;
      if (!rnn_model_meta_strings(a, ka, &x, &nx) || !rnn_model_meta_strings(b, kb, &y, &ny) || nx != ny) return 0;
      for (int k = 0; k < nx; k++)
        if (strcmp(x[k], y[k])) return 0;
      break;
    }
    default: return 0;
    }
  }
  return 1;
}

static int arch_and_params_identical(const rnn_model *a, const rnn_model *b) {
  if (rnn_model_input_size(a) != rnn_model_input_size(b) || rnn_model_output_size(a) != rnn_model_output_size(b) ||
      rnn_model_num_layers(a) != rnn_model_num_layers(b) || rnn_model_head(a) != rnn_model_head(b) ||
      rnn_model_pool(a) != rnn_model_pool(b) || rnn_model_num_params(a) != rnn_model_num_params(b))
    return 0;
  for (int l = 0; l < rnn_model_num_layers(a); l++)
    if (rnn_model_layer_cell(a, l) != rnn_model_layer_cell(b, l) ||
        rnn_model_layer_hidden(a, l) != rnn_model_layer_hidden(b, l) ||
        rnn_model_layer_bidirectional(a, l) != rnn_model_layer_bidirectional(b, l) ||
        rnn_model_layer_groups(a, l) != rnn_model_layer_groups(b, l))
      return 0;
  if (memcmp(rnn_model_params_const(a), rnn_model_params_const(b), rnn_model_num_params(a) * sizeof(float)))
    return 0;
  if (rnn_model_sequence_normalization(a) != rnn_model_sequence_normalization(b)) return 0;
  const float *ma, *sa, *mb, *sb;
  int na = rnn_model_normalization(a, &ma, &sa), nb = rnn_model_normalization(b, &mb, &sb);
  if (na != nb) return 0;
  if (na) {
    size_t bytes = (size_t)rnn_model_input_size(a) * sizeof(float);
    if (memcmp(ma, mb, bytes) || memcmp(sa, sb, bytes)) return 0;
  }
  return 1;
}

static int models_identical(const rnn_model *a, const rnn_model *b) {
  return arch_and_params_identical(a, b) && meta_equal(a, b);
}

static rnn_model *round_trip(const rnn_model *m, char *err, size_t errlen) {
  void *data = NULL;
  size_t size = 0;
  if (rnn_model_save_memory(m, &data, &size) != RNN_OK) {
    snprintf(err, errlen, "save_memory failed");
    return NULL;
  }
  rnn_model *r = load_copy(data, size, err, errlen);
  free(data);
  return r;
}

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  *size = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static int write_file(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t k = fwrite(b, 1, n, f);
  return (fclose(f) == 0 && k == n) ? 0 : -1;
}

/* Files left in a folder other than the expected ones (temporaries must not survive). */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

static int file_equals(const char *path, const uint8_t *b, size_t n) {
  size_t k = 0;
  uint8_t *c = read_file(path, &k);
  int eq = c && k == n && memcmp(c, b, n) == 0;
  free(c);
  return eq;
}

/* ---------------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------------- */
static void test_round_trip_architectures(void) {
  static const rnn_cell_kind cells[] = {RNN_CELL_RNN_TANH, RNN_CELL_RNN_RELU, RNN_CELL_LSTM, RNN_CELL_GRU,
                                        RNN_CELL_GRU_RESET_BEFORE};
  static const rnn_head_kind heads[] = {RNN_HEAD_NONE, RNN_HEAD_LINEAR, RNN_HEAD_SIGMOID, RNN_HEAD_SOFTMAX};
  int n = 0;
  for (int c = 0; c < 5; c++)
    for (int bidir = 0; bidir < 2; bidir++)
      for (int h = 0; h < 4; h++)
        for (int pool = 0; pool < 2; pool++) {
          layer_cfg l[3] = {{cells[c], 5, bidir}, {cells[(c + 1) % 5], 3, 0}, {cells[c], 4, bidir}};
          int layers = 1 + (c + h) % 3;
          rnn_model *m = make_model(2 + c, layers, l, heads[h], 3, (rnn_pool_kind)pool, (c + h + pool) % 2, 100 + n);
          CHECK(m != NULL);
          if (!m) continue;
          char err[256];
          rnn_model *r = round_trip(m, err, sizeof err);
          CHECK_MSG(r != NULL, "cell %s bidir %d head %s pool %d: %s", rnn_cell_name(cells[c]), bidir,
                    rnn_head_name(heads[h]), pool, err);
          if (r) CHECK_MSG(models_identical(m, r), "cell %s bidir %d head %s", rnn_cell_name(cells[c]), bidir,
                           rnn_head_name(heads[h]));
          /* Saving the loaded model gives the same bytes: the writer is deterministic. */
          void *d1 = NULL, *d2 = NULL;
          size_t s1 = 0, s2 = 0;
          if (r) {
            CHECK(rnn_model_save_memory(m, &d1, &s1) == RNN_OK && rnn_model_save_memory(r, &d2, &s2) == RNN_OK);
            CHECK(s1 == s2 && d1 && d2 && memcmp(d1, d2, s1) == 0);
          }
          free(d1);
          free(d2);
          rnn_model_unref(r);
          rnn_model_unref(m);
          n++;
        }
  CHECK(n == 80);
}

static void test_round_trip_metadata(void) {
  layer_cfg l = {RNN_CELL_LSTM, 3, 0};
  rnn_model *m = make_model(2, 1, &l, RNN_HEAD_LINEAR, 2, RNN_POOL_LAST, 0, 3);
  const char *labels[2] = {"café ✓", ""};
  const char *empty[1] = {NULL};
  rnn_model_set_meta_string(m, "task", "sequence");
  rnn_model_set_meta_string(m, "empty", "");
  rnn_model_set_meta_string(m, "train.command", "rnntrain epochs=3\nline two\ttab");
  rnn_model_set_meta_int(m, "int.min", INT64_MIN);
  rnn_model_set_meta_int(m, "int.max", INT64_MAX);
  rnn_model_set_meta_int(m, "features.snip-edges", 1);
  rnn_model_set_meta_float(m, "float.nan", NAN);
  rnn_model_set_meta_float(m, "float.negzero", -0.0);
  rnn_model_set_meta_float(m, "float.inf", -INFINITY);
  rnn_model_set_meta_float(m, "float.tiny", 4.9e-324);
  rnn_model_set_meta_strings(m, "labels", labels, 2);
  rnn_model_set_meta_strings(m, "list.empty", empty, 0);
  rnn_model_set_meta_string(m, "clé avec espace", "unicode key");
  /* "arch." is the format's own prefix: a user key there is not written. */
  rnn_model_set_meta_int(m, "arch.user", 5);
  char err[256];
  rnn_model *r = round_trip(m, err, sizeof err);
  CHECK_MSG(r != NULL, "%s", err);
  if (r) {
    rnn_model_remove_meta(m, "arch.user");
    CHECK(models_identical(m, r));
    int64_t v;
    CHECK(!rnn_model_meta_int(r, "arch.layers", &v)); /* architecture keys are not user metadata */
    const char *s;
    CHECK(rnn_model_meta_string(r, "clé avec espace", &s) && strcmp(s, "unicode key") == 0);
  }
  rnn_model_unref(r);
  rnn_model_unref(m);
}

static void test_save_and_load_file(const char *dir) {
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/model.rnn", dir);
  rnn_model *m = small_model();
  CHECK_MSG(rnn_model_save(m, path, err, sizeof err) == RNN_OK, "%s", err);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
  rnn_model *r = rnn_model_load(path, err, sizeof err);
  CHECK_MSG(r != NULL, "%s", err);
  if (r) CHECK(models_identical(m, r));
  /* The file is what save_memory produces, with the CRC the spec defines. */
  void *data = NULL;
  size_t size = 0, fsize = 0;
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  uint8_t *f = read_file(path, &fsize);
  CHECK(f && fsize == size && memcmp(f, data, size) == 0);
  CHECK(f && fsize > 84 && get_u32(f + fsize - 4) == ref_crc32(f, fsize - 4));
  CHECK(f && get_u64(f + 64) % 64 == 0 && get_u64(f + 16) == fsize);
  CHECK(count_entries(dir) == 1);
  free(f);
  free(data);
  unlink(path);
  rnn_model_unref(r);
  rnn_model_unref(m);

  char missing[600];
  snprintf(missing, sizeof missing, "%s/no-such-model.rnn", dir);
  CHECK(rnn_model_load(missing, err, sizeof err) == NULL);
  CHECK_MSG(strstr(err, missing) && strstr(err, "No such file"), "%s", err);
  CHECK(rnn_model_load(dir, err, sizeof err) == NULL);
  CHECK_MSG(strstr(err, "not a regular file"), "%s", err);
  CHECK(ref_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u);
}

/* ---------------------------------------------------------------------------------------------
 * Damage
 * ------------------------------------------------------------------------------------------- */
static void test_truncation_and_flips(void) {
  rnn_model *m = small_model();
  void *data = NULL;
  size_t size = 0;
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  uint8_t *b = data;
  char err[512];

  int truncated_ok = 1;
  for (size_t n = 0; n < size; n++) {
    rnn_model *r = load_copy(b, n, err, sizeof err);
    if (r || !err[0]) {
      truncated_ok = 0;
      fprintf(stderr, "truncation to %zu bytes was accepted (%s)\n", n, err);
    }
    rnn_model_unref(r);
  }
  CHECK(truncated_ok);
  /* A byte too many is damage as well. */
  uint8_t *longer = malloc(size + 1);
  memcpy(longer, b, size);
  longer[size] = 0;
  CHECK(load_copy(longer, size + 1, err, sizeof err) == NULL && strstr(err, "trailing"));
  free(longer);

  /* Every byte flipped (three patterns): the CRC catches all of them. Then the same flips with the
   * CRC recomputed, so that the structural checks see the damage: no crash, no out-of-bounds read
   * (ASan), and a flip in the header, metadata or directory is rejected (a flip inside the float
   * data may be a valid, different model). */
  static const uint8_t patterns[3] = {0xFF, 0x01, 0x80};
  uint8_t *c = malloc(size);
  int flips_rejected = 1, structure_rejected = 1, accepted_data = 0;
  uint64_t data_offset = get_u64(b + 64);
  for (size_t i = 0; i < size; i++)
    for (int k = 0; k < 3; k++) {
      memcpy(c, b, size);
      c[i] ^= patterns[k];
      rnn_model *r = load_copy(c, size, err, sizeof err);
      if (r || !err[0]) flips_rejected = 0;
      rnn_model_unref(r);
      if (i >= size - 4) continue;
      fix_crc(c, size);
      r = load_copy(c, size, err, sizeof err);
      if (r && i < data_offset && !arch_and_params_identical(m, r)) {
        /* Only a user metadata value may change and still be valid (a label's letter, an int). */
        structure_rejected = 0;
        fprintf(stderr, "flip of byte %zu (^%02x) changed the architecture or weights unnoticed\n", i, patterns[k]);
      }
      if (r && i >= data_offset) accepted_data++;
      if (!r && !err[0]) structure_rejected = 0;
      rnn_model_unref(r);
    }
  CHECK(flips_rejected);
  CHECK(structure_rejected);
  CHECK(accepted_data > 0); /* sanity: flipping a weight's low bit gives another valid model */
  free(c);
  free(data);
  rnn_model_unref(m);
}

/* Where a tensor's directory entry keeps its fields. */
typedef struct {
  size_t dtype, ndim, dims, offset, size;
} dir_fields;

static int find_tensor_entry(const uint8_t *b, const char *name, dir_fields *f) {
  size_t p = (size_t)get_u64(b + 48);
  uint32_t count = get_u32(b + 28);
  for (uint32_t i = 0; i < count; i++) {
    uint32_t len = get_u32(b + p);
    int match = len == strlen(name) && memcmp(b + p + 4, name, len) == 0;
    p += 4 + len;
    f->dtype = p;
    f->ndim = p + 4;
    uint32_t ndim = get_u32(b + p + 4);
    f->dims = p + 8;
    f->offset = f->dims + 8 * ndim;
    f->size = f->offset + 8;
    p = f->size + 8;
    if (match) return 1;
  }
  return 0;
}

/* Offset of the value of a metadata entry (just after its type field). */
static size_t find_meta_value(const uint8_t *b, size_t size, const char *key) {
  size_t klen = strlen(key);
  for (size_t p = 80; p + 4 + klen + 4 < size; p++)
    if (get_u32(b + p) == klen && memcmp(b + p + 4, key, klen) == 0) return p + 4 + klen + 4;
  return 0;
}

#define EXPECT_ERROR(buf, n, fragment)                                                             \
  do {                                                                                             \
    char e_[512];                                                                                  \
    rnn_model *r_ = load_copy((buf), (n), e_, sizeof e_);                                          \
    CHECK_MSG(r_ == NULL && strstr(e_, (fragment)) != NULL, "expected \"%s\", got \"%s\"", (fragment), e_); \
    rnn_model_unref(r_);                                                                           \
  } while (0)

static void test_specific_damage(void) {
  layer_cfg l[2] = {{RNN_CELL_GRU, 32, 0}, {RNN_CELL_GRU, 64, 0}};
  rnn_model *m = make_model(8, 2, l, RNN_HEAD_SOFTMAX, 4, RNN_POOL_LAST, 1, 11);
  const char *labels[4] = {"a", "b", "c", "d"};
  rnn_model_set_meta_strings(m, "labels", labels, 4);
  rnn_model_set_meta_string(m, "train.aaa", "x");
  rnn_model_set_meta_string(m, "train.bbb", "y");
  void *data = NULL;
  size_t size = 0;
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  const uint8_t *orig = data;
  uint8_t *b = malloc(size);
  dir_fields f;

#define RESET() memcpy(b, orig, size)
  RESET();
  b[1] = 'X';
  EXPECT_ERROR(b, size, "model data: not a gst-rnn model file (wrong magic bytes)");
  RESET();
  put_u32(b + 8, 2);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "format version 2 is newer than this reader (1)");
  RESET();
  b[size - 1] ^= 0x10;
  EXPECT_ERROR(b, size, "checksum mismatch");
  RESET();
  b[size / 2] ^= 0x10;
  EXPECT_ERROR(b, size, "checksum mismatch");
  EXPECT_ERROR(b, 40, "truncated");
  EXPECT_ERROR(b, 5, "model data: truncated: 5 bytes");
  EXPECT_ERROR(b, 0, "model data: empty (0 bytes), not a model file");
  static const char zip[] = "PK\x03\x04 archive/data.pkl", text[] = "# a text file\n";
  EXPECT_ERROR((const uint8_t *)zip, sizeof zip - 1, "a zip archive (a PyTorch .pt file?");
  EXPECT_ERROR((const uint8_t *)text, sizeof text - 1, "not a gst-rnn model file (wrong magic bytes)");

  /* The architecture says layer 1 has 128 units; the tensors are those of 64. */
  RESET();
  size_t v = find_meta_value(b, size, "arch.layer.1.hidden");
  CHECK(v != 0 && get_u64(b + v) == 64);
  put_u64(b + v, 128);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "model data: tensor 'layer1.fwd.w_ih' has shape 192x32, the architecture needs 384x32");
  RESET();
  v = find_meta_value(b, size, "arch.layers");
  put_u64(b + v, 17);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layers' is 17, it must be 1..16");
  RESET();
  v = find_meta_value(b, size, "arch.layer.0.cell");
  memcpy(b + v + 4, "grx", 3);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.0.cell' is 'grx', it must be one of");
  RESET();
  v = find_meta_value(b, size, "arch.layer.1.bidirectional");
  b[v - 4 - strlen("arch.layer.1.bidirectional") + strlen("arch.layer.")] = '7'; /* no layer 7 */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "unknown architecture key 'arch.layer.7.bidirectional'");
  RESET();
  v = find_meta_value(b, size, "train.bbb");
  memcpy(b + v - 4 - 3, "aaa", 3);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "metadata key 'train.aaa' appears more than once");
  RESET();
  v = find_meta_value(b, size, "train.bbb");
  put_u32(b + v - 4, 9);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "metadata 'train.bbb' has unknown type 9");
  RESET();
  v = find_meta_value(b, size, "train.bbb");
  put_u32(b + v, 0xFFFFFFF0u);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "metadata 'train.bbb': the string's length runs past the metadata section");
  RESET();
  v = find_meta_value(b, size, "train.bbb");
  b[v + 4] = 0xC0; /* an overlong UTF-8 lead byte */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "metadata 'train.bbb': the string is not UTF-8 without NUL bytes");

  /* Tensor directory damage. */
  RESET();
  CHECK(find_tensor_entry(b, "head.b", &f));
  put_u64(b + f.offset, get_u64(b + 72) + 64);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' (offset ");
  EXPECT_ERROR(b, size, "lies past the end of the data section");
  RESET();
  put_u64(b + f.offset, get_u64(b + f.offset) + 4);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' is at offset");
  RESET();
  put_u32(b + f.dtype, 1);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' has dtype f16, which this reader does not support");
  RESET();
  put_u32(b + f.dtype, 7);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' has unknown dtype 7");
  RESET();
  put_u64(b + f.size, get_u64(b + f.size) + 4);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' has 20 bytes, its 4 f32 values need 16");
  RESET();
  dir_fields w;
  CHECK(find_tensor_entry(b, "head.w", &w));
  put_u64(b + f.offset, get_u64(b + w.offset));
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "overlap");
  RESET();
  memcpy(b + f.dtype - 1, "x", 1); /* head.b -> head.x */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.b' is missing");
  RESET();
  CHECK(find_tensor_entry(b, "norm.scale", &f));
  memcpy(b + f.dtype - 5, "xxxxx", 5); /* norm.scale -> norm.xxxxx */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'norm.scale' is missing");
  RESET();
  CHECK(find_tensor_entry(b, "head.w", &f));
  memcpy(b + f.dtype - 6, "xead.w", 6);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'head.w' is missing");
  RESET();
  CHECK(find_tensor_entry(b, "norm.mean", &f));
  memcpy(b + f.dtype - 9, "norm.meen", 9);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'norm.mean' is missing");
  RESET();
  CHECK(find_tensor_entry(b, "layer0.fwd.b_hh", &f));
  put_u32(b + (size_t)get_u64(b + 64) + (size_t)get_u64(b + f.offset), 0x7FC00000u); /* NaN */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'layer0.fwd.b_hh' holds a non-finite value (nan) at index 0");
  RESET();
  put_u32(b + 28, 200);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "200 tensors, it must be 1..");
  RESET();
  put_u32(b + 24, 0xFFFFFFFFu);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "metadata entries");
  RESET();
  put_u64(b + 40, get_u64(b + 40) + 1u);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "the tensor directory starts at");
  RESET();
  put_u64(b + 40, UINT64_MAX - 8);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "the metadata section (");
  RESET();
  CHECK(find_tensor_entry(b, "norm.mean", &f));
  memcpy(b + f.dtype - 4, "meen", 4);
  CHECK(find_tensor_entry(b, "norm.scale", &f));
  memcpy(b + f.dtype - 5, "scalx", 5); /* no normalisation any more, but two tensors nobody needs */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "unexpected tensor 'norm.meen': this architecture has no such tensor");
  RESET();
  put_u32(b + 24, get_u32(b + 24) - 1); /* the last metadata entry becomes unexplained bytes */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "unused bytes at the end of the metadata section");
  RESET();
  put_u32(b + 28, get_u32(b + 28) - 1);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "unused bytes at the end of the tensor directory");
  RESET();
  b[get_u64(b + 64) - 1] = 1; /* padding before the data */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "the padding before the data section is not zero");
  RESET();
  put_u64(b + 16, size + 10);
  EXPECT_ERROR(b, size, "truncated: the header says");
  free(b);
  free(data);

  /* Without a head, arch.outputs must be the top layer's width. */
  {
    layer_cfg one = {RNN_CELL_LSTM, 5, 1};
    rnn_model *plain = make_model(2, 1, &one, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 0, 5);
    void *pd = NULL;
    size_t ps = 0;
    CHECK(rnn_model_save_memory(plain, &pd, &ps) == RNN_OK);
    size_t at = find_meta_value(pd, ps, "arch.outputs");
    CHECK(at && get_u64((uint8_t *)pd + at) == 10);
    put_u64((uint8_t *)pd + at, 5);
    fix_crc(pd, ps);
    EXPECT_ERROR((uint8_t *)pd, ps, "'arch.outputs' is 5, but without a head the output is the top layer's 10 values");
    free(pd);
    rnn_model_unref(plain);
  }

  /* labels that do not match the outputs: saved (the writer keeps what it is given), refused on load. */
  const char *three[3] = {"a", "b", "c"};
  rnn_model_set_meta_strings(m, "labels", three, 3);
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  EXPECT_ERROR((const uint8_t *)data, size, "'labels' has 3 entries, the model has 4 outputs");
  free(data);
  rnn_model_set_meta_int(m, "labels", 3);
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  EXPECT_ERROR((const uint8_t *)data, size, "'labels' must be a list of strings, it is an int");
  free(data);
  rnn_model_remove_meta(m, "labels");

  rnn_model_set_meta_int(m, "task", 1);
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  EXPECT_ERROR((const uint8_t *)data, size, "'task' must be a string, it is an int");
  free(data);
  rnn_model_remove_meta(m, "task");

  /* The writer refuses what the reader would refuse: keys and strings that are not UTF-8. */
  char err[512];
  data = NULL;
  rnn_model_set_meta_string(m, "bad\xff", "x");
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_EINVAL && data == NULL);
  CHECK(rnn_model_save(m, "/nonexistent-folder/x.rnn", err, sizeof err) == RNN_EINVAL);
  CHECK_MSG(strstr(err, "metadata key 'bad"), "%s", err);
  rnn_model_remove_meta(m, "bad\xff");
  const char *bad_list[2] = {"ok", "\xc0\xaf"}; /* overlong '/' */
  rnn_model_set_meta_strings(m, "list", bad_list, 2);
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_EINVAL && data == NULL);
  rnn_model_remove_meta(m, "list");
  rnn_model_set_meta_string(m, "str", "\xed\xa0\x80"); /* a surrogate */
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_EINVAL && data == NULL);
  rnn_model_remove_meta(m, "str");

  /* The engine builds models wider than the format's limits; the writer says so instead of
   * writing a file no reader accepts. */
  {
    layer_cfg one = {RNN_CELL_RNN_TANH, 1, 0};
    rnn_model *wide = make_model(70000, 1, &one, RNN_HEAD_NONE, 0, RNN_POOL_LAST, 0, 5);
    CHECK(wide != NULL);
    data = NULL;
    if (wide) CHECK(rnn_model_save_memory(wide, &data, &size) == RNN_EINVAL && data == NULL);
    if (wide) CHECK(rnn_model_save(wide, "/nonexistent-folder/x.rnn", err, sizeof err) == RNN_EINVAL);
    CHECK_MSG(strstr(err, "input size 70000 exceeds the file format's limit (65536)"), "%s", err);
    rnn_model_unref(wide);
  }

  /* A model holding NaN is refused by the writer too, with the tensor named. */
  rnn_model_params(m)[5] = NAN;
  data = NULL;
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_ENUMERIC && data == NULL);
  CHECK(rnn_model_save(m, "/nonexistent-folder/x.rnn", err, sizeof err) == RNN_ENUMERIC);
  CHECK_MSG(strstr(err, "/nonexistent-folder/x.rnn") && strstr(err, "layer0.fwd.w_ih") && strstr(err, "non-finite"),
            "%s", err);
  rnn_model_unref(m);
}

/* ---------------------------------------------------------------------------------------------
 * Atomic saves
 * ------------------------------------------------------------------------------------------- */
/* Runs fn in a child process (so that setuid / rlimits stay there); returns its exit status. */
static int in_child(int (*fn)(const char *, const char *), const char *a, const char *b) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) _exit(fn(a, b));
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

/* Exit 0 when the save failed with a message that names the path. */
static int expect_save_failure(const char *path, const char *fragment) {
  rnn_model *m = small_model();
  char err[512] = "";
  int rc = rnn_model_save(m, path, err, sizeof err);
  rnn_model_unref(m);
  fprintf(stderr, "  save %s -> %d: %s\n", path, rc, err);
  if (rc == RNN_OK) return 1;
  if (!strstr(err, path)) return 2;
  if (fragment && !strstr(err, fragment)) return 3;
  return 0;
}

static int save_as_nobody(const char *path, const char *unused) {
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
    /* A container may forbid changing users; root would ignore the folder's mode, so skip. */
    fprintf(stderr, "  read-only folder: SKIPPED (running as root and cannot become nobody)\n");
    return 0;
  }
  return expect_save_failure(path, "Permission denied");
}

static int save_with_small_fsize_limit(const char *path, const char *unused) {
  signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG instead of killing the process */
  struct rlimit rl = {1000, 1000};
  if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 10;
  return expect_save_failure(path, "File too large");
}

static void test_atomic_save(const char *dir) {
  char folder[512], path[600], err[512];
  const uint8_t old[] = "an existing model that must survive";

  /* Read-only folder (as an unprivileged user: root ignores permissions). */
  snprintf(folder, sizeof folder, "%s/ro", dir);
  snprintf(path, sizeof path, "%s/model.rnn", folder);
  CHECK(mkdir(folder, 0755) == 0 && write_file(path, old, sizeof old) == 0);
  chmod(path, 0644);
  chmod(folder, 0555);
  CHECK(chmod(dir, 0755) == 0);
  CHECK(in_child(save_as_nobody, path, NULL) == 0);
  CHECK(file_equals(path, old, sizeof old));
  CHECK(count_entries(folder) == 1);
  chmod(folder, 0755);

  /* A write that fails part-way (file size limit). The model file is > 1000 bytes. */
  CHECK(in_child(save_with_small_fsize_limit, path, NULL) == 0);
  CHECK(file_equals(path, old, sizeof old));
  CHECK(count_entries(folder) == 1);

  /* A rename that fails: PATH is a non-empty folder. */
  char sub[700], inner[800];
  snprintf(sub, sizeof sub, "%s/taken.rnn", folder);
  snprintf(inner, sizeof inner, "%s/keep", sub);
  CHECK(mkdir(sub, 0755) == 0 && write_file(inner, old, sizeof old) == 0);
  CHECK(expect_save_failure(sub, "rename failed") == 0);
  CHECK(file_equals(inner, old, sizeof old));
  CHECK(count_entries(folder) == 2);

  /* A folder that does not exist. */
  char nowhere[700];
  snprintf(nowhere, sizeof nowhere, "%s/missing/model.rnn", dir);
  CHECK(expect_save_failure(nowhere, "No such file or directory") == 0);

  /* And a save that works replaces the old file, keeping its mode. */
  chmod(path, 0640);
  rnn_model *m = small_model();
  CHECK_MSG(rnn_model_save(m, path, err, sizeof err) == RNN_OK, "%s", err);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
  rnn_model *r = rnn_model_load(path, err, sizeof err);
  CHECK_MSG(r && models_identical(m, r), "%s", err);
  CHECK(count_entries(folder) == 2);
  rnn_model_unref(r);
  rnn_model_unref(m);

  unlink(inner);
  rmdir(sub);
  unlink(path);
  rmdir(folder);
}

/* The per-sequence normalisation mode: stored as "input.normalization" = "sequence" right after
 * the architecture, read back as the model's mode (not as user metadata); absent and "none" mean
 * off; a model without the mode writes the same bytes as before the key existed; any other value
 * or type is an error naming the key and the value. */
static void test_sequence_normalization_key(void) {
  layer_cfg l[1] = {{RNN_CELL_GRU, 6, 1}};
  rnn_model *m = make_model(5, 1, l, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN, 1, 21);
  rnn_model_set_meta_string(m, "task", "classification");
  char err[512];
  void *plain = NULL, *data = NULL;
  size_t plain_size = 0, size = 0;
  CHECK(rnn_model_save_memory(m, &plain, &plain_size) == RNN_OK);
  CHECK(find_meta_value(plain, plain_size, "input.normalization") == 0);

  CHECK(rnn_model_set_sequence_normalization(m, 1) == RNN_OK);
  rnn_model *r = round_trip(m, err, sizeof err);
  CHECK_MSG(r != NULL, "%s", err);
  CHECK(r && rnn_model_sequence_normalization(r) == 1);
  CHECK(r && models_identical(m, r));
  CHECK(r && !rnn_model_meta_string(r, "input.normalization", NULL)); /* the mode, not user metadata */
  CHECK(r && rnn_model_meta_count(r) == 1);
  /* Saving the loaded model gives the same bytes: the key is not duplicated from metadata. */
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  void *again = NULL;
  size_t again_size = 0;
  CHECK(r && rnn_model_save_memory(r, &again, &again_size) == RNN_OK);
  CHECK(again && again_size == size && memcmp(again, data, size) == 0);
  free(again);
  rnn_model_unref(r);
  size_t v = find_meta_value(data, size, "input.normalization");
  CHECK(v != 0 && get_u32((uint8_t *)data + v - 4) == RNN_META_STRING && get_u32((uint8_t *)data + v) == 8 &&
        memcmp((uint8_t *)data + v + 4, "sequence", 8) == 0);
  /* Written right after the architecture keys (5 + 3 per layer), before "task". */
  CHECK(find_meta_value(data, size, "arch.pool") < v && v < find_meta_value(data, size, "task"));

  /* Off again: the bytes of a model that never had it. */
  CHECK(rnn_model_set_sequence_normalization(m, 0) == RNN_OK);
  void *off = NULL;
  size_t off_size = 0;
  CHECK(rnn_model_save_memory(m, &off, &off_size) == RNN_OK);
  CHECK(off && off_size == plain_size && memcmp(off, plain, plain_size) == 0);
  free(off);
  CHECK(rnn_model_set_sequence_normalization(m, 3) == RNN_EINVAL);
  /* raw+sequence doubles layer 0's input: not once the weights exist */
  CHECK(rnn_model_set_sequence_normalization(m, RNN_SEQUENCE_NORM_APPEND) == RNN_ESTATE);
  CHECK(rnn_model_set_sequence_normalization(NULL, 1) == RNN_EINVAL);
  /* The metadata setters refuse the key: it could only disagree with the model's mode. */
  CHECK(rnn_model_set_meta_string(m, "input.normalization", "sequence") == RNN_EINVAL);
  CHECK(rnn_model_set_meta_int(m, "input.normalization", 1) == RNN_EINVAL);

  uint8_t *b = malloc(size);
  memcpy(b, data, size);
  memcpy(b + v + 4, "sequencx", 8);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "model data: 'input.normalization' is 'sequencx', it must be 'sequence', 'raw+sequence' or 'none'");
  /* A file written by another writer (tools/rnnfile.py keeps the key as plain metadata, anywhere
   * in the section): a user key renamed in place to "input.normalization". */
  rnn_model *u = make_model(5, 1, l, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN, 1, 21);
  rnn_model_set_meta_string(u, "task", "classification");
  rnn_model_set_meta_string(u, "input.normalizatioX", "none");
  rnn_model_set_meta_string(u, "input.normalizatioY", "sequence");
  void *ud = NULL;
  size_t us = 0;
  rnn_model_set_meta_int(u, "input.normalizatioZ", 1);
  CHECK(rnn_model_save_memory(u, &ud, &us) == RNN_OK);
  uint8_t *ub = malloc(us);
  static const char *const renamed[3] = {"input.normalizatioX", "input.normalizatioY", "input.normalizatioZ"};
  for (int k = 0; k < 3; k++) {
    memcpy(ub, ud, us);
    size_t kv = find_meta_value(ub, us, renamed[k]);
    CHECK(kv > 5);
    if (kv <= 5 || kv > us)
      continue;
    ub[kv - 5] = 'n'; /* the key's last byte, before the u32 type */
    fix_crc(ub, us);
    if (k == 2) {
      EXPECT_ERROR(ub, us, "model data: 'input.normalization' must be a string, it is an int");
      continue;
    }
    r = load_copy(ub, us, err, sizeof err);
    CHECK_MSG(r != NULL, "%s", err);
    CHECK(r && rnn_model_sequence_normalization(r) == (k == 1));
    CHECK(r && !rnn_model_meta_string(r, "input.normalization", NULL));
    CHECK(r && rnn_model_meta_count(r) == 3); /* task and the two keys not renamed */
    rnn_model_unref(r);
  }
  free(ub);
  free(ud);
  rnn_model_unref(u);
  free(b);
  free(data);
  free(plain);
  rnn_model_unref(m);
}

/* ---------------------------------------------------------------------------------------------
 * "input.normalization" = "raw+sequence": layer 0 reads 2 x input_size values; no stored
 * normalisation
 * ------------------------------------------------------------------------------------------- */
static rnn_model *make_raw_plus_sequence(int groups) {
  rnn_model *m = rnn_model_new(5);
  /* set after the first layer: the mode must still reshape it */
  int ok = rnn_model_add_layer(m, RNN_CELL_GRU, 8, 1) == RNN_OK &&
           rnn_model_set_sequence_normalization(m, RNN_SEQUENCE_NORM_APPEND) == RNN_OK &&
           rnn_model_add_layer(m, RNN_CELL_LSTM, 4, 0) == RNN_OK &&
           rnn_model_set_layer_groups(m, 0, groups) == RNN_OK && rnn_model_set_layer_groups(m, 1, groups) == RNN_OK &&
           rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN) == RNN_OK && rnn_model_finalize(m) == RNN_OK;
  CHECK(ok);
  if (!ok) {
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, 9);
  return m;
}

static void test_raw_plus_sequence_key(void) {
  for (int g = 1; g <= 2; g++) {
    rnn_model *m = make_raw_plus_sequence(g);
    if (!m) continue;
    int ndim = 0, dims[2] = {0, 0};
    const char *name = NULL;
    CHECK(rnn_model_tensor_info(m, 0, &name, &ndim, dims, NULL) == RNN_OK);
    CHECK(name && strcmp(name, "layer0.fwd.w_ih") == 0 && dims[0] == 24 && dims[1] == 10);
    CHECK(rnn_model_input_size(m) == 5 && !rnn_model_streamable(m));
    const float mean[5] = {0}, scale[5] = {1, 1, 1, 1, 1};
    CHECK(rnn_model_set_normalization(m, mean, scale) == RNN_EINVAL);
    CHECK(rnn_model_set_sequence_normalization(m, RNN_SEQUENCE_NORM_ON) == RNN_ESTATE);
    char err[256];
    rnn_model *r = round_trip(m, err, sizeof err);
    CHECK_MSG(r != NULL, "groups %d: %s", g, err);
    if (r) CHECK(models_identical(m, r) && rnn_model_sequence_normalization(r) == RNN_SEQUENCE_NORM_APPEND);
    void *d1 = NULL, *d2 = NULL;
    size_t s1 = 0, s2 = 0;
    CHECK(rnn_model_save_memory(m, &d1, &s1) == RNN_OK);
    if (r) CHECK(rnn_model_save_memory(r, &d2, &s2) == RNN_OK && s1 == s2 && memcmp(d1, d2, s1) == 0);
    size_t v = find_meta_value(d1, s1, "input.normalization");
    CHECK(v != 0 && get_u32((uint8_t *)d1 + v) == 12 && memcmp((uint8_t *)d1 + v + 4, "raw+sequence", 12) == 0);
    free(d1);
    free(d2);
    rnn_model_unref(r);
    rnn_model_unref(m);
  }
  /* A stored normalisation beside the mode: a file renamed into that state (another writer). */
  layer_cfg l[1] = {{RNN_CELL_GRU, 4, 0}};
  rnn_model *u = make_model(5, 1, l, RNN_HEAD_SOFTMAX, 3, RNN_POOL_MEAN, 1, 23);
  rnn_model_set_meta_string(u, "input.normalizatioX", "raw+sequence");
  void *ud = NULL;
  size_t us = 0;
  CHECK(rnn_model_save_memory(u, &ud, &us) == RNN_OK);
  size_t kv = find_meta_value(ud, us, "input.normalizatioX");
  CHECK(kv > 5);
  if (kv > 5) {
    ((uint8_t *)ud)[kv - 5] = 'n';
    fix_crc(ud, us);
    EXPECT_ERROR(ud, us, "tensor 'norm.mean' with 'input.normalization' = 'raw+sequence': such a model keeps its "
                         "normalisation folded into layer 0");
  }
  free(ud);
  rnn_model_unref(u);
}

/* ---------------------------------------------------------------------------------------------
 * Grouped layers: "arch.layer.N.groups", written only when > 1, validated on load
 * ------------------------------------------------------------------------------------------- */
static rnn_model *make_grouped(int groups, int bidir0) {
  rnn_model *m = rnn_model_new(3);
  int ok = rnn_model_add_layer(m, RNN_CELL_GRU, 8, bidir0) == RNN_OK &&
           rnn_model_add_layer(m, RNN_CELL_LSTM, 8, 1) == RNN_OK &&
           rnn_model_add_layer(m, RNN_CELL_RNN_TANH, 4, 0) == RNN_OK &&
           rnn_model_set_layer_groups(m, 0, groups) == RNN_OK && rnn_model_set_layer_groups(m, 1, groups) == RNN_OK &&
           rnn_model_set_layer_groups(m, 2, groups) == RNN_OK &&
           rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_MEAN) == RNN_OK && rnn_model_finalize(m) == RNN_OK;
  CHECK(ok);
  if (!ok) {
    rnn_model_unref(m);
    return NULL;
  }
  rnn_model_init_weights(m, 5);
  return m;
}

static void test_grouped_layers(void) {
  for (int bidir0 = 0; bidir0 <= 1; bidir0++)
    for (int g = 1; g <= 4; g *= 2) {
      rnn_model *m = make_grouped(g, bidir0);
      if (!m) continue;
      char err[256];
      rnn_model *r = round_trip(m, err, sizeof err);
      CHECK_MSG(r != NULL, "groups %d: %s", g, err);
      if (r) CHECK(models_identical(m, r) && rnn_model_layer_groups(r, 2) == g);
      void *d1 = NULL, *d2 = NULL;
      size_t s1 = 0, s2 = 0;
      CHECK(rnn_model_save_memory(m, &d1, &s1) == RNN_OK);
      if (r) CHECK(rnn_model_save_memory(r, &d2, &s2) == RNN_OK && s1 == s2 && memcmp(d1, d2, s1) == 0);
      /* the key exists exactly when the layers are grouped: dense files are as before */
      CHECK((find_meta_value(d1, s1, "arch.layer.0.groups") != 0) == (g > 1));
      CHECK((find_meta_value(d1, s1, "arch.layer.2.groups") != 0) == (g > 1));
      free(d1);
      free(d2);
      rnn_model_unref(r);
      rnn_model_unref(m);
    }

  rnn_model *m = make_grouped(4, 1);
  if (!m) return;
  void *data = NULL;
  size_t size = 0;
  CHECK(rnn_model_save_memory(m, &data, &size) == RNN_OK);
  uint8_t *b = malloc(size);
  size_t v;
#define GRESET() memcpy(b, data, size)
  GRESET();
  v = find_meta_value(b, size, "arch.layer.0.groups");
  CHECK(v != 0 && get_u64(b + v) == 4);
  put_u64(b + v, 3);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.0.groups' is 3, which does not divide the layer's hidden size 8");
  GRESET();
  put_u64(b + v, 0);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.0.groups' is 0, it must be 1..8");
  GRESET();
  put_u64(b + v, 16);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.0.groups' is 16, it must be 1..8");
  /* layer 0 with 2 groups under layer 1 with 4 */
  GRESET();
  put_u64(b + v, 2);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.1.groups' is 4, but the layer below has 2 groups");
  /* layer 2 dense above grouped layers: its key renamed away */
  GRESET();
  v = find_meta_value(b, size, "arch.layer.2.groups");
  put_u64(b + v, 1);
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "'arch.layer.2.groups' is 1, but the layer below has 4 groups");
  /* groups that agree with each other but not with the tensors */
  GRESET();
  for (int l = 0; l < 3; l++) {
    char key[32];
    snprintf(key, sizeof key, "arch.layer.%d.groups", l);
    put_u64(b + find_meta_value(b, size, key), 2);
  }
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "tensor 'layer0.fwd.w_hh' has shape 24x2, the architecture needs 24x4");
  /* a groups key for a layer that does not exist */
  GRESET();
  v = find_meta_value(b, size, "arch.layer.2.groups");
  b[v - 4 - strlen("arch.layer.2.groups") + strlen("arch.layer.")] = '7';
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "unknown architecture key 'arch.layer.7.groups'");
  /* a string where an int belongs */
  GRESET();
  v = find_meta_value(b, size, "arch.layer.1.groups");
  put_u32(b + v - 4, 1); /* type: string */
  fix_crc(b, size);
  EXPECT_ERROR(b, size, "model data: ");
#undef GRESET
  free(b);
  free(data);
  rnn_model_unref(m);
}

int main(void) {
  char dir[] = "/tmp/test-format-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip_architectures();
  test_round_trip_metadata();
  test_save_and_load_file(dir);
  test_truncation_and_flips();
  test_specific_damage();
  test_sequence_normalization_key();
  test_raw_plus_sequence_key();
  test_atomic_save(dir);
  test_grouped_layers();
  rmdir(dir);
  return test_summary("test_format");
}
