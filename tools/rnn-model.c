/* rnn-model: inspect a .rnn model and run it on raw float32 frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   rnn-model info MODEL
 *   rnn-model run [--stream] MODEL IN.f32 OUT.f32
 *
 * Uses only the engine's public API (engine/rnn.h), so it shows exactly what an application sees.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnn.h"

static const char *prog = "rnn-model";

static void usage(FILE *f) {
  fprintf(f,
          "Usage:\n"
          "  %s info MODEL\n"
          "      Print what MODEL is: architecture, parameter count, task, labels or alphabet,\n"
          "      feature settings, normalisation, training provenance and metrics.\n"
          "  %s run [--stream] MODEL IN.f32 OUT.f32\n"
          "      Read raw little-endian float32 frames (T x input size) from IN.f32 and write the\n"
          "      model's per-frame outputs (T x output size) to OUT.f32. A bidirectional layer\n"
          "      outputs its forward then its backward half, as PyTorch does.\n"
          "      --stream  feed one frame at a time through the streaming path (rnn_step) that\n"
          "                rnninfer uses; only for models without bidirectional layers and\n"
          "                without per-sequence normalisation.\n"
          "  %s --help\n"
          "Exit status: 0 on success, 1 on an error (the message names the file and the problem),\n"
          "2 on a usage error.\n",
          prog, prog, prog);
}

/* ------------------------------------------------------------------------------------------------
 * Raw float32 files. The format is little-endian whatever the host, so swap on big-endian hosts.
 * ---------------------------------------------------------------------------------------------- */
static int host_is_big_endian(void) {
  const uint32_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 0;
}

static void swap_floats(float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
    memcpy(&v[i], &u, 4);
  }
}

/* Reads the whole of PATH. Returns a malloc'd buffer (NULL and a message on failure). */
static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = malloc(cap);
  while (buf) {
    if (len == cap) {
      unsigned char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0)
      break;
  }
  if (!buf) {
    fprintf(stderr, "%s: %s: out of memory\n", prog, path);
    fclose(f);
    return NULL;
  }
  if (ferror(f)) {
    fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *size = len;
  return buf;
}

static int write_floats(const char *path, float *v, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  if (host_is_big_endian())
    swap_floats(v, n);
  int ok = fwrite(v, sizeof(float), n, f) == n;
  int saved_errno = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    saved_errno = errno;
  }
  if (!ok) {
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(saved_errno));
    return -1;
  }
  return 0;
}

static rnn_model *load_model(const char *path) {
  char err[512] = "";
  rnn_model *m = rnn_model_load(path, err, sizeof err);
  if (!m) {
    /* The engine's message names the file already; keep ours for when it is empty. */
    if (err[0])
      fprintf(stderr, "%s: %s\n", prog, err);
    else
      fprintf(stderr, "%s: cannot load model %s\n", prog, path);
  }
  return m;
}

/* ------------------------------------------------------------------------------------------------
 * info
 * ---------------------------------------------------------------------------------------------- */
static int has_prefix(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void print_human_bytes(size_t bytes) {
  if (bytes >= 10u * 1024 * 1024)
    printf("%.1f MiB", bytes / (1024.0 * 1024.0));
  else if (bytes >= 10u * 1024)
    printf("%.1f KiB", bytes / 1024.0);
  else
    printf("%zu bytes", bytes);
}

/* Strings are printed quoted when they would be ambiguous in a comma-separated list. */
static void print_string_value(const char *s) {
  int plain = s[0] != '\0';
  for (const char *p = s; *p; p++)
    if (*p == ',' || *p == '"' || *p == ' ' || (unsigned char)*p < 0x20)
      plain = 0;
  if (plain) {
    fputs(s, stdout);
    return;
  }
  putchar('"');
  for (const char *p = s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", stdout);
    else if (*p == '\t')
      fputs("\\t", stdout);
    else if ((unsigned char)*p < 0x20)
      printf("\\x%02x", (unsigned char)*p);
    else
      putchar(*p);
  }
  putchar('"');
}

static void print_meta_value(const rnn_model *m, const char *key, rnn_meta_type type) {
  switch (type) {
  case RNN_META_STRING: {
    const char *s = NULL;
    rnn_model_meta_string(m, key, &s);
    /* Free text (commands, descriptions) reads better unquoted when it is one line. */
    if (s && !strchr(s, '\n') && !strchr(s, '"'))
      fputs(s, stdout);
    else
      print_string_value(s ? s : "");
    break;
  }
  case RNN_META_INT: {
    int64_t v = 0;
    rnn_model_meta_int(m, key, &v);
    printf("%" PRId64, v);
    break;
  }
  case RNN_META_FLOAT: {
    double v = 0;
    rnn_model_meta_float(m, key, &v);
    /* Keep floats recognisable as floats: 10.0, not 10. */
    char num[64];
    snprintf(num, sizeof num, "%.9g", v);
    printf("%s%s", num, strspn(num, "-0123456789") == strlen(num) ? ".0" : "");
    break;
  }
  case RNN_META_STRINGS: {
    const char *const *v = NULL;
    int n = 0;
    rnn_model_meta_strings(m, key, &v, &n);
    printf("[%d] ", n);
    for (int i = 0; i < n; i++) {
      if (i)
        fputs(", ", stdout);
      print_string_value(v[i]);
    }
    break;
  }
  default:
    printf("(unknown type %d)", (int)type);
  }
}

/* Prints every metadata key that matches the group (prefix, or "everything else" when NULL). */
static int print_meta_group(const rnn_model *m, const char *title, const char *prefix,
                            int strip_prefix) {
  static const char *const grouped[] = {"task", "labels", "alphabet", "features.", "train.",
                                        "ensemble."};
  int printed = 0;
  for (int i = 0; i < rnn_model_meta_count(m); i++) {
    const char *key = NULL;
    rnn_meta_type type = 0;
    if (rnn_model_meta_at(m, i, &key, &type) != 0 || !key)
      continue;
    if (prefix) {
      if (!has_prefix(key, prefix))
        continue;
    } else {
      int known = 0;
      for (size_t g = 0; g < sizeof grouped / sizeof grouped[0]; g++) {
        size_t len = strlen(grouped[g]);
        if (grouped[g][len - 1] == '.' ? has_prefix(key, grouped[g]) : strcmp(key, grouped[g]) == 0)
          known = 1;
      }
      if (known)
        continue;
    }
    if (!printed)
      printf("\n%s\n", title);
    printed++;
    printf("  %-28s ", strip_prefix && prefix ? key + strlen(prefix) : key);
    print_meta_value(m, key, type);
    putchar('\n');
  }
  return printed;
}

static size_t layer_params(const rnn_model *m, int l) {
  int in = l == 0 ? rnn_model_input_size(m)
                  : rnn_model_layer_hidden(m, l - 1) * (rnn_model_layer_bidirectional(m, l - 1) ? 2 : 1);
  int g = rnn_model_layer_groups(m, l); /* grouped: w_ih (above layer 0) and w_hh are g times narrower */
  if (l > 0)
    in /= g;
  size_t gh = (size_t)rnn_cell_gates(rnn_model_layer_cell(m, l)) * rnn_model_layer_hidden(m, l);
  size_t per_dir = gh * (size_t)in + gh * (size_t)(rnn_model_layer_hidden(m, l) / g) + 2 * gh;
  return per_dir * (rnn_model_layer_bidirectional(m, l) ? 2 : 1);
}

static void print_architecture(const rnn_model *m) {
  int layers = rnn_model_num_layers(m);
  printf("Architecture\n");
  printf("  input size                   %d\n", rnn_model_input_size(m));
  printf("  layers                       %d\n", layers);
  for (int l = 0; l < layers; l++) {
    int bidi = rnn_model_layer_bidirectional(m, l);
    int h = rnn_model_layer_hidden(m, l);
    int g = rnn_model_layer_groups(m, l);
    char groups[64] = "";
    if (g > 1)
      snprintf(groups, sizeof groups, ", %d groups of %d", g, h / g);
    printf("    layer %-2d                   %s, hidden %d%s, %s -> %d outputs (%zu parameters)\n", l,
           rnn_cell_name(rnn_model_layer_cell(m, l)), h, groups, bidi ? "bidirectional" : "unidirectional",
           bidi ? 2 * h : h, layer_params(m, l));
  }
  rnn_head_kind head = rnn_model_head(m);
  if (head == RNN_HEAD_NONE)
    printf("  head                         none (output = top layer's hidden output)\n");
  else if (rnn_model_head_groups(m) > 1)
    printf("  head                         %d heads side by side (one per group), %s, %d outputs each\n",
           rnn_model_head_groups(m), rnn_head_name(head), rnn_model_output_size(m) / rnn_model_head_groups(m));
  else
    printf("  head                         dense, %s, %d outputs\n", rnn_head_name(head),
           rnn_model_output_size(m));
  printf("  pooling                      %s (per-sequence output)\n",
         rnn_pool_name(rnn_model_pool(m)));
  printf("  output size                  %d per frame\n", rnn_model_output_size(m));
  printf("  streamable                   %s\n",
         rnn_model_streamable(m) ? "yes (no bidirectional layer)"
         : rnn_model_sequence_normalization(m)
             ? "no (per-sequence normalisation needs the whole sequence)"
             : "no (a bidirectional layer needs the whole sequence)");
  size_t n = rnn_model_num_params(m);
  printf("  parameters                   %zu (", n);
  print_human_bytes(n * sizeof(float));
  printf(" as float32)\n");

  if (rnn_model_sequence_normalization(m) == RNN_SEQUENCE_NORM_APPEND)
    printf("  per-sequence normalisation   beside the raw input (input.normalization = raw+sequence):\n"
           "                               layer 0 reads [x, x'] (%d values) with, per input,\n"
           "                               x' = (x - mean) / sqrt(var + %g), mean and variance of\n"
           "                               each whole sequence\n",
           2 * rnn_model_input_size(m), RNN_SEQUENCE_NORM_EPS);
  else if (rnn_model_sequence_normalization(m))
    printf("  per-sequence normalisation   yes (input.normalization = sequence): per input,\n"
           "                               x' = (x - mean) / sqrt(var + %g), mean and variance of\n"
           "                               each whole sequence; before the input normalisation\n",
           RNN_SEQUENCE_NORM_EPS);
  else
    printf("  per-sequence normalisation   none\n");
  const float *mean = NULL, *scale = NULL;
  rnn_model_normalization(m, &mean, &scale); /* 1 when present; the pointers say it too */
  int has_norm = mean && scale;
  printf("  input normalisation          %s\n",
         has_norm ? "yes, x' = (x - mean) * scale per input" : "none");
  if (has_norm) {
    int in = rnn_model_input_size(m), shown = in < 4 ? in : 4;
    printf("    mean                       ");
    for (int i = 0; i < shown; i++)
      printf("%s%.6g", i ? ", " : "", mean[i]);
    printf("%s\n", in > shown ? ", ..." : "");
    printf("    scale                      ");
    for (int i = 0; i < shown; i++)
      printf("%s%.6g", i ? ", " : "", scale[i]);
    printf("%s\n", in > shown ? ", ..." : "");
  }
}

static void print_tensors(const rnn_model *m) {
  printf("\nTensors\n");
  for (int i = 0; i < rnn_model_num_tensors(m); i++) {
    const char *name = NULL;
    int ndim = 0, dims[2] = {0, 0};
    size_t offset = 0;
    if (rnn_model_tensor_info(m, i, &name, &ndim, dims, &offset) != 0)
      continue;
    if (ndim == 2)
      printf("  %-28s [%d x %d]\n", name, dims[0], dims[1]);
    else
      printf("  %-28s [%d]\n", name, dims[0]);
  }
}

static void print_task(const rnn_model *m) {
  const char *task = NULL;
  const char *const *labels = NULL;
  int n = 0;
  printf("\nTask\n");
  printf("  task                         %s\n",
         rnn_model_meta_string(m, "task", &task) ? task : "(not set)");
  char title[64];
  if (rnn_model_meta_strings(m, "labels", &labels, &n)) {
    snprintf(title, sizeof title, "labels (%d)", n);
    printf("  %-28s ", title);
    for (int i = 0; i < n; i++) {
      fputs(i ? ", " : "", stdout);
      print_string_value(labels[i]);
    }
    putchar('\n');
  }
  if (rnn_model_meta_strings(m, "alphabet", &labels, &n)) {
    snprintf(title, sizeof title, "alphabet (%d, 0 = blank)", n);
    printf("  %-28s ", title);
    for (int i = 0; i < n; i++) {
      fputs(i ? ", " : "", stdout);
      print_string_value(labels[i]);
    }
    putchar('\n');
  }
  /* Typed wrongly (e.g. labels as a string): still show it rather than hide it. */
  rnn_meta_type type;
  for (int i = 0; i < rnn_model_meta_count(m); i++) {
    const char *key = NULL;
    if (rnn_model_meta_at(m, i, &key, &type) != 0 || !key)
      continue;
    if ((strcmp(key, "labels") == 0 || strcmp(key, "alphabet") == 0) && type != RNN_META_STRINGS) {
      printf("  %-28s ", key);
      print_meta_value(m, key, type);
      printf("   (expected a list of strings)\n");
    } else if (strcmp(key, "task") == 0 && type != RNN_META_STRING) {
      printf("  task (raw)                   ");
      print_meta_value(m, key, type);
      printf("   (expected a string)\n");
    }
  }
}

static int cmd_info(int argc, char **argv) {
  if (argc != 1) {
    fprintf(stderr, "%s info: expected one MODEL argument\n", prog);
    usage(stderr);
    return 2;
  }
  rnn_model *m = load_model(argv[0]);
  if (!m)
    return 1;
  printf("Model %s\n\n", argv[0]);
  print_architecture(m);
  print_tensors(m);
  print_task(m);
  if (!print_meta_group(m, "Feature settings (rnnfeatures properties)", "features.", 1))
    printf("\nFeature settings\n  (none: frames are fed as they are)\n");
  /* A merged ensemble (tools/rnn-ensemble.py) keeps each member's provenance as ensemble.N.* */
  int provenance = print_meta_group(m, "Training provenance and metrics", "train.", 1);
  provenance += print_meta_group(m, "Ensemble members and their training", "ensemble.", 1);
  if (!provenance)
    printf("\nTraining provenance and metrics\n  (none recorded)\n");
  print_meta_group(m, "Other metadata", NULL, 0);
  rnn_model_unref(m);
  return 0;
}

/* ------------------------------------------------------------------------------------------------
 * run
 * ---------------------------------------------------------------------------------------------- */
static int first_bidirectional_layer(const rnn_model *m) {
  for (int l = 0; l < rnn_model_num_layers(m); l++)
    if (rnn_model_layer_bidirectional(m, l))
      return l;
  return -1;
}

static int run_stream(const rnn_model *m, const char *model_path, const float *x, size_t T,
                      float *out) {
  int in = rnn_model_input_size(m), on = rnn_model_output_size(m);
  rnn_state *s = rnn_state_new(m);
  if (!s) {
    fprintf(stderr, "%s: cannot create a streaming state for %s\n", prog, model_path);
    return -1;
  }
  for (size_t t = 0; t < T; t++) {
    const float *y = rnn_step(s, x + t * (size_t)in);
    if (!y) {
      fprintf(stderr, "%s: %s: streaming step failed at frame %zu\n", prog, model_path, t);
      rnn_state_free(s);
      return -1;
    }
    memcpy(out + t * (size_t)on, y, (size_t)on * sizeof(float));
  }
  rnn_state_free(s);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  int stream = 0;
  const char *args[3];
  int nargs = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--stream") == 0) {
      stream = 1;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      fprintf(stderr, "%s run: unknown option %s\n", prog, argv[i]);
      usage(stderr);
      return 2;
    } else if (nargs < 3) {
      args[nargs++] = argv[i];
    } else {
      fprintf(stderr, "%s run: too many arguments (%s)\n", prog, argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (nargs != 3) {
    fprintf(stderr, "%s run: expected MODEL IN.f32 OUT.f32\n", prog);
    usage(stderr);
    return 2;
  }
  const char *model_path = args[0], *in_path = args[1], *out_path = args[2];

  rnn_model *m = load_model(model_path);
  if (!m)
    return 1;
  int bidi = first_bidirectional_layer(m);
  if (stream && bidi < 0 && rnn_model_sequence_normalization(m)) {
    fprintf(stderr,
            "%s: %s: cannot --stream: the model normalises each whole sequence by its own mean and "
            "variance (input.normalization = %s), which one frame at a time cannot know; run "
            "without --stream\n",
            prog, model_path,
            rnn_model_sequence_normalization(m) == RNN_SEQUENCE_NORM_APPEND ? "raw+sequence" : "sequence");
    rnn_model_unref(m);
    return 1;
  }
  if (stream && (bidi >= 0 || !rnn_model_streamable(m))) {
    fprintf(stderr,
            "%s: %s: cannot --stream: layer %d is bidirectional, and its backward direction needs "
            "the whole sequence before the first output; run without --stream\n",
            prog, model_path, bidi);
    rnn_model_unref(m);
    return 1;
  }

  size_t bytes = 0;
  unsigned char *raw = read_file(in_path, &bytes);
  if (!raw) {
    rnn_model_unref(m);
    return 1;
  }
  int in = rnn_model_input_size(m), on = rnn_model_output_size(m);
  size_t frame_bytes = (size_t)in * sizeof(float);
  int status = 1;
  float *x = NULL, *out = NULL;
  if (bytes == 0) {
    fprintf(stderr, "%s: %s: empty: no frames (expected T x %d float32 values)\n", prog, in_path,
            in);
    goto done;
  }
  if (bytes % frame_bytes != 0) {
    fprintf(stderr,
            "%s: %s: size %zu bytes is not a whole number of frames: the model %s takes %d "
            "float32 inputs per frame (%zu bytes), which leaves %zu bytes over\n",
            prog, in_path, bytes, model_path, in, frame_bytes, bytes % frame_bytes);
    goto done;
  }
  size_t T = bytes / frame_bytes;
  if (T > (size_t)0x7fffffff) {
    fprintf(stderr, "%s: %s: %zu frames is more than this tool handles (2^31 - 1)\n", prog,
            in_path, T);
    goto done;
  }
  x = malloc(bytes);
  out = malloc(T * (size_t)on * sizeof(float));
  if (!x || !out) {
    fprintf(stderr, "%s: %s: out of memory for %zu frames\n", prog, in_path, T);
    goto done;
  }
  memcpy(x, raw, bytes);
  if (host_is_big_endian())
    swap_floats(x, bytes / sizeof(float));
  for (size_t i = 0; i < bytes / sizeof(float); i++) {
    if (x[i] != x[i] || x[i] - x[i] != 0.0f) { /* NaN or +-Inf */
      fprintf(stderr, "%s: %s: value %zu (frame %zu, input %zu) is not finite\n", prog, in_path,
              i, i / (size_t)in, i % (size_t)in);
      goto done;
    }
  }

  if (stream) {
    if (run_stream(m, model_path, x, T, out) != 0)
      goto done;
  } else {
    int rc = rnn_forward_sequence(m, x, (int)T, out);
    if (rc != 0) {
      fprintf(stderr, "%s: %s on %s: forward pass failed: %s\n", prog, model_path, in_path,
              rnn_strerror(rc));
      goto done;
    }
  }
  if (write_floats(out_path, out, T * (size_t)on) != 0)
    goto done;
  status = 0;
done:
  free(raw);
  free(x);
  free(out);
  rnn_model_unref(m);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
  if (strcmp(cmd, "info") == 0)
    return cmd_info(argc - 2, argv + 2);
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 2, argv + 2);
  fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
  usage(stderr);
  return 2;
}
