/* Runs the loader's fuzz target without libFuzzer (any compiler): over every file given on the
 * command line (files or folders: the checked-in corpus; *.rnn seeds must load), then over inputs made at run time from a
 * small valid model: the file itself, every truncation, and every byte replaced by a few values.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rnn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open\n", path);
    exit(1);
  }
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0, k;
  do {
    if (n == cap) {
      cap = cap ? 2 * cap : 4096;
      buf = realloc(buf, cap);
    }
    k = fread(buf + n, 1, cap - n, f);
    n += k;
  } while (k > 0);
  fclose(f);
  /* An exact-size copy, so that a sanitizer sees reads past the end. */
  uint8_t *exact = malloc(n ? n : 1);
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  /* Seeds named *.rnn are valid models (written by tools/rnnfile.py, an independent writer): they
   * must load. Other files (inputs that once crashed) only have to be survived. */
  size_t len = strlen(path);
  if (len > 4 && strcmp(path + len - 4, ".rnn") == 0) {
    char err[512];
    rnn_model *m = rnn_model_load_memory(exact, n, err, sizeof err);
    if (!m) {
      fprintf(stderr, "%s: a valid seed does not load: %s\n", path, err);
      exit(1);
    }
    rnn_model_unref(m);
  }
  free(exact);
  return 1;
}

static long run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "%s: not found\n", path);
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  struct dirent *e;
  long n = 0;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    n += run_path(sub);
  }
  if (d) closedir(d);
  return n;
}

static long run_generated(void) {
  rnn_model *m = rnn_model_new(2);
  rnn_model_add_layer(m, RNN_CELL_LSTM, 2, 1);
  rnn_model_add_layer(m, RNN_CELL_GRU, 2, 0);
  rnn_model_set_head(m, RNN_HEAD_SOFTMAX, 2, RNN_POOL_MEAN);
  rnn_model_finalize(m);
  rnn_model_init_weights(m, 1);
  const float mean[2] = {0.5f, -1.0f}, scale[2] = {2.0f, 0.25f};
  const char *labels[2] = {"no", "yes"};
  rnn_model_set_normalization(m, mean, scale);
  rnn_model_set_meta_strings(m, "labels", labels, 2);
  rnn_model_set_meta_string(m, "task", "classification");
  rnn_model_set_meta_int(m, "features.num-mel-bins", 2);
  rnn_model_set_meta_float(m, "train.accuracy", 0.5);
  void *data = NULL;
  size_t size = 0;
  if (rnn_model_save_memory(m, &data, &size) != RNN_OK) {
    fprintf(stderr, "cannot serialise the seed model\n");
    exit(1);
  }
  rnn_model_unref(m);
  long n = 0;
  uint8_t *c = malloc(size);
  for (size_t len = 0; len <= size; len++, n++) {
    memcpy(c, data, len);
    LLVMFuzzerTestOneInput(c, len);
  }
  static const uint8_t values[] = {0x00, 0x01, 0x7F, 0x80, 0xFF};
  for (size_t i = 0; i < size; i++)
    for (size_t v = 0; v < sizeof values; v++, n++) {
      memcpy(c, data, size);
      c[i] = values[v];
      LLVMFuzzerTestOneInput(c, size);
    }
  free(c);
  free(data);
  return n;
}

int main(int argc, char **argv) {
  long n = 0;
  for (int i = 1; i < argc; i++) n += run_path(argv[i]);
  long g = run_generated();
  fprintf(stderr, "fuzz_load: %ld corpus inputs and %ld generated inputs, no crash\n", n, g);
  return 0;
}
