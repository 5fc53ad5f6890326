/* rnn-train: trains a recurrent model on a whole labelled data set with one GStreamer pipeline.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   rnn-train [OPTION...] DATASET OUTPUT.rnn
 *
 * DATASET is either a manifest, one "path<TAB>label" per line (a class name, or a transcript with
 * --task transcription; relative paths are relative to the manifest; blank lines and lines starting
 * with '#' are skipped), or a folder whose subfolders name the classes and hold the files (as
 * Keras' audio_dataset_from_directory).
 *
 * Audio files go through ONE training pipeline,
 *
 *   appsrc ! audioconvert ! audioresample ! audio/x-raw,rate=R,channels=1 ! rnnfeatures ... !
 *   rnntrain ...
 *
 * and sensor logs (every file *.csv) through
 *
 *   appsrc ! sensorparse rate=S ! rnnfeatures kind=raw ... ! rnntrain ...
 *
 * so the features are computed by the very element that computes them at inference time. Each
 * file is decoded by a small separate pipeline (filesrc ! decodebin ! audioconvert ! audioresample
 * ! appsink) and pushed into the appsrc after an `rnn-reset` event and a tag event carrying its
 * label (`rnn-label`), so rnntrain sees one labelled sequence per file.
 *
 * With --augment N each audio file is also fed N more times with seeded random perturbations of
 * the waveform, before rnnfeatures: speed (resampling by a factor, as Kaldi's speed perturbation:
 * pitch and tempo change together), gain, and white noise at a random SNR.
 *
 * With --vtln-warp LO:HI each augmented copy also gets a random vocal tract length warp of the mel
 * bins (VTLP, Jaitly & Hinton 2013: rnnfeatures' vtln-warp, Kaldi's VTLN warp). The factor
 * travels with the data: it is a "vtln-warp" field of the rnn-reset event that precedes the
 * copy's samples in appsrc's queue, so rnnfeatures switches the warp exactly between the previous
 * file's last frame and this copy's first, whatever is still queued; the originals' rnn-reset has
 * no field, so they get the vtln-warp property's factor (1, or --features vtln-warp=X), which is
 * also the one the model stores as features.vtln-warp.
 *
 * With --sequence-normalize the model normalises each whole sequence (here: each file or copy, in
 * rnninfer: each utterance) by its own per-input mean and standard deviation, applied by the
 * engine (rnntrain's sequence-normalize, docs/model-format.md "input.normalization"), so that a
 * live utterance is normalised by its own speech frames exactly as the training files were.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#define RESET_EVENT_NAME "rnn-reset"
#define LABEL_TAG "rnn-label"
#define GROUP_TAG "rnn-group"

typedef struct
{
  gchar *path;
  gchar *label;
} Item;

typedef struct
{
  gdouble lo, hi;
  gboolean set;
} Range;

static struct
{
  gchar *arch, *optimizer, *loss, *init_model, *task, *classes, *alphabet, *features, *schedule;
  gint epochs, batch_size, patience, time_mask, freq_mask;
  gdouble learning_rate, validation_split, clip_norm, weight_decay, dropout;
  gint64 seed;
  gboolean no_normalize, quiet;
  gboolean sequence_normalize;
  gint rate, sensor_rate, augment;
  gchar *speed, *gain, *noise_snr;
  gchar *vtln_warp;
  gchar **props;
  gchar **meta;
} opt = {
  .epochs = -1,.batch_size = -1,.patience = -1,.time_mask = -1,.freq_mask = -1,
  .learning_rate = -1,.validation_split = -1,.clip_norm = -1,.weight_decay = -1,.dropout = -1,
  .seed = -1,.rate = 16000,.sensor_rate = 0,.augment = 0,
};

static const GOptionEntry entries[] = {
  {"arch", 'a', 0, G_OPTION_ARG_STRING, &opt.arch,
      "Architecture, e.g. \"gru(128) dense(softmax)\" (rnntrain architecture)", "SPEC"},
  {"epochs", 'e', 0, G_OPTION_ARG_INT, &opt.epochs, "Epochs", "N"},
  {"batch-size", 'b', 0, G_OPTION_ARG_INT, &opt.batch_size, "Sequences per batch", "N"},
  {"optimizer", 0, 0, G_OPTION_ARG_STRING, &opt.optimizer, "adam or sgd", "NAME"},
  {"learning-rate", 'l', 0, G_OPTION_ARG_DOUBLE, &opt.learning_rate, "Learning rate", "X"},
  {"schedule", 0, 0, G_OPTION_ARG_STRING, &opt.schedule,
      "Learning-rate schedule: constant, step, cosine, plateau", "NAME"},
  {"loss", 0, 0, G_OPTION_ARG_STRING, &opt.loss, "auto, ce, bce, mse or ctc", "NAME"},
  {"validation-split", 'v', 0, G_OPTION_ARG_DOUBLE, &opt.validation_split,
      "Fraction held out for validation (stratified)", "X"},
  {"patience", 0, 0, G_OPTION_ARG_INT, &opt.patience, "Early stopping patience (epochs)", "N"},
  {"seed", 0, 0, G_OPTION_ARG_INT64, &opt.seed, "Seed (weights, split, shuffling, augmentation)",
      "N"},
  {"init-model", 0, 0, G_OPTION_ARG_FILENAME, &opt.init_model, "Fine-tune this model", "PATH"},
  {"clip-norm", 0, 0, G_OPTION_ARG_DOUBLE, &opt.clip_norm, "Gradient norm clip (0: off)", "X"},
  {"weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &opt.weight_decay, "L2 weight decay", "X"},
  {"dropout", 0, 0, G_OPTION_ARG_DOUBLE, &opt.dropout, "Dropout", "X"},
  {"no-normalize", 0, 0, G_OPTION_ARG_NONE, &opt.no_normalize,
      "Do not store input normalisation in the model", NULL},
  {"sequence-normalize", 0, 0, G_OPTION_ARG_NONE, &opt.sequence_normalize,
        "Make per-sequence normalisation (CMVN) part of the model: each input of every whole "
        "sequence (each file here, each utterance in rnninfer) is normalised by that sequence's "
        "own mean and standard deviation, by the engine, in training and inference alike; the "
        "model is then run once per utterance, not streamed (rnntrain sequence-normalize)", NULL},
  {"time-mask", 0, 0, G_OPTION_ARG_INT, &opt.time_mask, "SpecAugment: max masked frames", "N"},
  {"freq-mask", 0, 0, G_OPTION_ARG_INT, &opt.freq_mask, "SpecAugment: max masked features", "N"},
  {"task", 0, 0, G_OPTION_ARG_STRING, &opt.task,
      "classification (labels are classes) or transcription (labels are transcripts, CTC)",
      "NAME"},
  {"classes", 0, 0, G_OPTION_ARG_STRING, &opt.classes,
      "Comma-separated classes in output order (default: sorted)", "LIST"},
  {"alphabet", 0, 0, G_OPTION_ARG_STRING, &opt.alphabet, "CTC symbols (transcription)", "CHARS"},
  {"features", 'f', 0, G_OPTION_ARG_STRING, &opt.features,
      "rnnfeatures properties, e.g. \"kind=fbank num-mel-bins=40\"", "PROPS"},
  {"rate", 'r', 0, G_OPTION_ARG_INT, &opt.rate,
      "Sample rate the audio is converted to before rnnfeatures (default 16000)", "HZ"},
  {"sensor-rate", 0, 0, G_OPTION_ARG_INT, &opt.sensor_rate,
      "Sample rate of CSV sensor logs (sensorparse rate; needed for *.csv data)", "HZ"},
  {"augment", 0, 0, G_OPTION_ARG_INT, &opt.augment,
      "Also feed N perturbed copies of each audio file", "N"},
  {"speed", 0, 0, G_OPTION_ARG_STRING, &opt.speed,
      "Augmentation: speed factor range (default 0.9:1.1; 1 disables)", "LO:HI"},
  {"gain", 0, 0, G_OPTION_ARG_STRING, &opt.gain,
      "Augmentation: gain range in dB (default -6:6; 0 disables)", "LO:HI"},
  {"noise-snr", 0, 0, G_OPTION_ARG_STRING, &opt.noise_snr,
      "Augmentation: white-noise SNR range in dB (default 10:40; off disables)", "LO:HI"},
  {"vtln-warp", 0, 0, G_OPTION_ARG_STRING, &opt.vtln_warp,
      "Augmentation: vocal tract length warp factor range of the mel bins (VTLP; rnnfeatures "
      "vtln-warp, within 0.5:2), e.g. 0.9:1.1 (default off; 1 disables)", "LO:HI"},
  {"property", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &opt.props,
      "Any other rnntrain property (repeatable)", "KEY=VALUE"},
  {"meta", 'm', 0, G_OPTION_ARG_STRING_ARRAY, &opt.meta,
      "More metadata for the model (repeatable): an integer, a number or a string, e.g. "
      "infer.vad=off", "KEY=VALUE"},
  {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt.quiet, "No progress lines", NULL},
  {NULL, 0, 0, 0, NULL, NULL, NULL}
};

static G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN
     void die (const gchar * fmt, ...)
{
  va_list ap;
  fputs ("rnn-train: error: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (2);
}

/* "lo:hi" or a single value; "off" leaves the range unset. */
static Range
parse_range (const gchar * text, const gchar * option, gdouble def_lo, gdouble def_hi)
{
  Range r = { def_lo, def_hi, TRUE };
  gchar *end;
  if (!text)
    return r;
  if (g_ascii_strcasecmp (text, "off") == 0) {
    r.set = FALSE;
    return r;
  }
  r.lo = g_ascii_strtod (text, &end);
  if (end == text)
    die ("--%s: '%s' is not LO:HI", option, text);
  if (*end == ':') {
    const gchar *p = end + 1;
    r.hi = g_ascii_strtod (p, &end);
    if (end == p)
      die ("--%s: '%s' is not LO:HI", option, text);
  } else {
    r.hi = r.lo;
  }
  if (*end != '\0' || r.hi < r.lo)
    die ("--%s: '%s' is not LO:HI with LO <= HI", option, text);
  return r;
}

/* ---------------------------------------------------------------------------------------------
 * The data set
 * ------------------------------------------------------------------------------------------- */
static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

static GPtrArray *
sorted_entries (const gchar * dir)
{
  GError *error = NULL;
  GDir *d = g_dir_open (dir, 0, &error);
  const gchar *name;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  if (!d)
    die ("cannot read the folder %s: %s", dir, error->message);
  while ((name = g_dir_read_name (d)))
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (d);
  g_ptr_array_sort (names, compare_strings);
  return names;
}

static void
add_item (GPtrArray * items, const gchar * path, const gchar * label)
{
  Item *it = g_new0 (Item, 1);
  it->path = g_strdup (path);
  it->label = g_strdup (label);
  g_ptr_array_add (items, it);
}

static void
item_free (gpointer p)
{
  Item *it = p;
  g_free (it->path);
  g_free (it->label);
  g_free (it);
}

static GPtrArray *
read_folder (const gchar * dir)
{
  GPtrArray *items = g_ptr_array_new_with_free_func (item_free);
  GPtrArray *classes = sorted_entries (dir);
  for (guint c = 0; c < classes->len; c++) {
    const gchar *cls = g_ptr_array_index (classes, c);
    gchar *sub = g_build_filename (dir, cls, NULL);
    if (g_file_test (sub, G_FILE_TEST_IS_DIR)) {
      GPtrArray *files = sorted_entries (sub);
      for (guint f = 0; f < files->len; f++) {
        gchar *path = g_build_filename (sub, g_ptr_array_index (files, f), NULL);
        if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
          add_item (items, path, cls);
        g_free (path);
      }
      g_ptr_array_unref (files);
    }
    g_free (sub);
  }
  g_ptr_array_unref (classes);
  return items;
}

static GPtrArray *
read_manifest (const gchar * manifest)
{
  GError *error = NULL;
  gchar *text = NULL;
  GPtrArray *items = g_ptr_array_new_with_free_func (item_free);
  gchar *base = g_path_get_dirname (manifest);

  if (!g_file_get_contents (manifest, &text, NULL, &error))
    die ("cannot read the manifest %s: %s", manifest, error->message);
  gchar **lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    gchar *line = lines[i];
    gsize len = strlen (line);
    if (len && line[len - 1] == '\r')
      line[len - 1] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    gchar *tab = strchr (line, '\t');
    if (!tab)
      die ("%s:%u: expected \"path<TAB>label\", found \"%s\"", manifest, i + 1, line);
    *tab = '\0';
    const gchar *label = tab + 1;
    if (line[0] == '\0' || label[0] == '\0')
      die ("%s:%u: empty %s", manifest, i + 1, line[0] ? "label" : "path");
    gchar *path = g_path_is_absolute (line) ? g_strdup (line) :
        g_build_filename (base, line, NULL);
    if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
      die ("%s:%u: no such file: %s", manifest, i + 1, path);
    add_item (items, path, label);
    g_free (path);
  }
  g_strfreev (lines);
  g_free (text);
  g_free (base);
  return items;
}

/* ---------------------------------------------------------------------------------------------
 * Decoding one file
 * ------------------------------------------------------------------------------------------- */

/* Decodes path to mono S16 at the given rate. NULL (and *err) when it cannot. */
static GBytes *
decode_audio (const gchar * path, gint rate, gchar ** err)
{
  GError *error = NULL;
  GstElement *src, *sink, *pipe;
  gchar *desc = g_strdup_printf ("filesrc name=src ! decodebin ! audioconvert ! audioresample ! "
      "audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=%d ! "
      "appsink name=sink sync=false", rate);
  pipe = gst_parse_launch (desc, &error);
  g_free (desc);
  if (!pipe) {
    *err = g_strdup (error->message);
    g_error_free (error);
    return NULL;
  }
  src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  g_object_set (src, "location", path, NULL);
  gst_object_unref (src);

  GByteArray *data = g_byte_array_new ();
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = NULL;
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  /* appsink never sees EOS when decoding fails: watch the bus between samples */
  for (;;) {
    GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_MSECOND);
    if (sample) {
      GstBuffer *buf = gst_sample_get_buffer (sample);
      GstMapInfo map;
      if (buf && gst_buffer_map (buf, &map, GST_MAP_READ)) {
        g_byte_array_append (data, map.data, (guint) map.size);
        gst_buffer_unmap (buf, &map);
      }
      gst_sample_unref (sample);
      continue;
    }
    if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
      break;
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg)
      break;
  }
  if (msg) {
    gchar *debug = NULL;
    gst_message_parse_error (msg, &error, &debug);
    *err = g_strdup (error->message);
    g_error_free (error);
    g_free (debug);
    gst_message_unref (msg);
    g_byte_array_unref (data);
    data = NULL;
  } else if (data->len < 2) {
    *err = g_strdup ("no audio in it");
    g_byte_array_unref (data);
    data = NULL;
  }
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  return data ? g_byte_array_free_to_bytes (data) : NULL;
}

/* Gain and white noise at a random SNR, in place, seeded. */
static void
perturb (gint16 * s, gsize n, GRand * rng, Range gain, Range snr)
{
  gdouble g = gain.set ? pow (10.0, g_rand_double_range (rng, gain.lo, gain.hi + 1e-12) / 20.0) :
      1.0;
  gdouble power = 0;
  for (gsize i = 0; i < n; i++)
    power += (gdouble) s[i] * s[i];
  power = power / (gdouble) MAX (n, 1) * g * g;
  gdouble sigma = 0;
  if (snr.set && power > 0)
    sigma = sqrt (power / pow (10.0, g_rand_double_range (rng, snr.lo, snr.hi + 1e-12) / 10.0));
  for (gsize i = 0; i < n; i++) {
    gdouble v = s[i] * g;
    if (sigma > 0) {
      /* Box-Muller */
      gdouble u1 = g_rand_double_range (rng, 1e-12, 1.0), u2 = g_rand_double (rng);
      v += sigma * sqrt (-2.0 * log (u1)) * cos (2 * G_PI * u2);
    }
    s[i] = (gint16) CLAMP (lrint (v), -32768, 32767);
  }
}

/* ---------------------------------------------------------------------------------------------
 * The training pipeline
 * ------------------------------------------------------------------------------------------- */
static void
set_property_arg (GstElement * e, const gchar * key, const gchar * value, const gchar * where)
{
  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), key);
  if (!pspec || !(pspec->flags & G_PARAM_WRITABLE))
    die ("%s: %s has no property '%s' (see gst-inspect-1.0 %s)", where,
        GST_OBJECT_NAME (gst_element_get_factory (e)), key,
        GST_OBJECT_NAME (gst_element_get_factory (e)));
  /* check the value by parsing it into a GValue of the property's type first */
  GValue v = G_VALUE_INIT;
  g_value_init (&v, G_PARAM_SPEC_VALUE_TYPE (pspec));
  if (!gst_value_deserialize (&v, value))
    die ("%s: '%s' is not a valid value for %s's %s", where, value,
        GST_OBJECT_NAME (gst_element_get_factory (e)), key);
  if (g_param_value_validate (pspec, &v))
    die ("%s: %s=%s is out of range", where, key, value);
  g_object_set_property (G_OBJECT (e), key, &v);
  g_value_unset (&v);
}

static void
set_key_value (GstElement * e, const gchar * kv, const gchar * where)
{
  const gchar *eq = strchr (kv, '=');
  if (!eq || eq == kv)
    die ("%s: expected KEY=VALUE, found '%s'", where, kv);
  gchar *key = g_strndup (kv, (gsize) (eq - kv));
  gchar *value = g_strdup (eq + 1);
  gsize len = strlen (value);
  if (len >= 2 && (value[0] == '"' || value[0] == '\'') && value[len - 1] == value[0]) {
    memmove (value, value + 1, len - 2);
    value[len - 2] = '\0';
  }
  set_property_arg (e, key, value, where);
  g_free (key);
  g_free (value);
}

static GstElement *
make (const gchar * factory, const gchar * name)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e)
    die ("the GStreamer element '%s' is missing%s", factory, g_str_has_prefix (factory, "rnn")
        || !strcmp (factory, "sensorparse") ? " (set GST_PLUGIN_PATH to the build folder)" : "");
  return e;
}

static gchar *
shell_command (gint argc, gchar ** argv)
{
  GString *s = g_string_new (NULL);
  for (gint i = 0; i < argc; i++) {
    gchar *q = g_shell_quote (argv[i]);
    gboolean plain = strpbrk (argv[i], " \t\"'\\$`()*?[]{}<>|&;!#~") == NULL && argv[i][0];
    g_string_append (s, i ? " " : "");
    g_string_append (s, plain ? argv[i] : q);
    g_free (q);
  }
  return g_string_free (s, FALSE);
}

static gboolean
check_bus (GstElement * pipe, gboolean block)
{
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = block ?
      gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_ERROR | GST_MESSAGE_EOS) :
      gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  gboolean ok = TRUE;
  gst_object_unref (bus);
  if (!msg)
    return TRUE;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *error = NULL;
    gchar *debug = NULL;
    gst_message_parse_error (msg, &error, &debug);
    /* the debug part (source file and line) only when GST_DEBUG asks for details */
    gboolean details = debug && *debug && g_getenv ("GST_DEBUG");
    fprintf (stderr, "rnn-train: error: %s: %s%s%s\n", GST_OBJECT_NAME (msg->src),
        error->message, details ? "\n  " : "", details ? debug : "");
    g_error_free (error);
    g_free (debug);
    ok = FALSE;
  }
  gst_message_unref (msg);
  return ok;
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  GOptionContext *ctx;
  gchar *command = shell_command (argc, argv);

  ctx = g_option_context_new ("DATASET OUTPUT.rnn");
  g_option_context_set_summary (ctx,
      "Trains a recurrent model on a labelled data set through one GStreamer pipeline:\n"
      "appsrc ! audioconvert ! audioresample ! rnnfeatures ! rnntrain.\n\n"
      "DATASET: a manifest (\"path<TAB>label\" per line, paths relative to it) or a folder\n"
      "whose subfolders name the classes.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die ("%s (see --help)", error->message);
  if (argc != 3)
    die ("expected DATASET and OUTPUT.rnn (see --help)");
  const gchar *dataset = argv[1], *output = argv[2];
  if (opt.augment < 0 || opt.rate <= 0 || opt.sensor_rate < 0)
    die ("--augment, --rate and --sensor-rate must be positive");
  Range speed = parse_range (opt.speed, "speed", 0.9, 1.1);
  Range gain = parse_range (opt.gain, "gain", -6.0, 6.0);
  Range snr = parse_range (opt.noise_snr, "noise-snr", 10.0, 40.0);
  /* off unless asked for: a default would change every existing recipe's features */
  Range vtln = parse_range (opt.vtln_warp, "vtln-warp", 1.0, 1.0);
  if (!opt.vtln_warp || (vtln.lo == 1.0 && vtln.hi == 1.0))
    vtln.set = FALSE;
  if (vtln.set && (vtln.lo < 0.5 || vtln.hi > 2.0))
    die ("--vtln-warp: '%s' is outside 0.5:2 (rnnfeatures' vtln-warp range)", opt.vtln_warp);
  if (vtln.set && opt.augment == 0)
    die ("--vtln-warp warps the augmented copies only: give --augment N too");
  if (speed.set && speed.lo <= 0.1)
    die ("--speed: factors must be above 0.1");
  if (speed.set && speed.lo == 1.0 && speed.hi == 1.0)
    speed.set = FALSE;
  if (gain.set && gain.lo == 0.0 && gain.hi == 0.0)
    gain.set = FALSE;

  /* the data set */
  GPtrArray *items;
  if (g_file_test (dataset, G_FILE_TEST_IS_DIR))
    items = read_folder (dataset);
  else if (g_file_test (dataset, G_FILE_TEST_IS_REGULAR))
    items = read_manifest (dataset);
  else
    die ("no such data set: %s (a manifest file or a folder of class folders)", dataset);
  if (items->len == 0)
    die ("the data set %s is empty", dataset);
  GHashTable *labels = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_csv = 0;
  for (guint i = 0; i < items->len; i++) {
    Item *it = g_ptr_array_index (items, i);
    g_hash_table_add (labels, it->label);
    n_csv += g_str_has_suffix (it->path, ".csv") || g_str_has_suffix (it->path, ".CSV");
  }
  gboolean transcription = opt.task && strcmp (opt.task, "transcription") == 0;
  if (!transcription && !opt.init_model && g_hash_table_size (labels) < 2)
    die ("the data set %s has a single class ('%s'): classification needs at least two",
        dataset, ((Item *) g_ptr_array_index (items, 0))->label);
  gboolean sensors = n_csv > 0;
  if (sensors && n_csv != items->len)
    die ("the data set mixes CSV sensor logs and audio files");
  if (sensors && opt.sensor_rate <= 0)
    die ("the data set holds CSV sensor logs: give their sample rate with --sensor-rate HZ");
  if (sensors && vtln.set)
    die ("--vtln-warp warps mel bins: it does not apply to CSV sensor logs");

  /* the training pipeline */
  GstElement *pipe = gst_pipeline_new ("train");
  GstElement *appsrc = make ("appsrc", "src");
  GstElement *features = make ("rnnfeatures", "features");
  GstElement *train = make ("rnntrain", "train");
  GstCaps *caps;
  if (sensors) {
    GstElement *parse = make ("sensorparse", "parse");
    g_object_set (parse, "rate", opt.sensor_rate, NULL);
    set_property_arg (features, "kind", "raw", "sensor data");
    caps = gst_caps_new_empty_simple ("text/csv");
    gst_bin_add_many (GST_BIN (pipe), appsrc, parse, features, train, NULL);
    if (!gst_element_link_many (appsrc, parse, features, train, NULL))
      die ("cannot link appsrc ! sensorparse ! rnnfeatures ! rnntrain");
  } else {
    GstElement *conv = make ("audioconvert", NULL), *res = make ("audioresample", NULL);
    GstElement *filter = make ("capsfilter", NULL);
    GstCaps *fc = gst_caps_new_simple ("audio/x-raw", "rate", G_TYPE_INT, opt.rate,
        "channels", G_TYPE_INT, 1, NULL);
    g_object_set (filter, "caps", fc, NULL);
    gst_caps_unref (fc);
    caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "S16LE",
        "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, opt.rate,
        "channels", G_TYPE_INT, 1, NULL);
    gst_bin_add_many (GST_BIN (pipe), appsrc, conv, res, filter, features, train, NULL);
    if (!gst_element_link_many (appsrc, conv, res, filter, features, train, NULL))
      die ("cannot link appsrc ! audioconvert ! audioresample ! capsfilter ! rnnfeatures ! "
          "rnntrain");
  }
  g_object_set (appsrc, "caps", caps, "format", GST_FORMAT_TIME, "block", TRUE,
      "max-bytes", (guint64) 4 << 20, NULL);
  gst_caps_unref (caps);

  if (opt.features) {
    gchar **kvs = NULL;
    if (!g_shell_parse_argv (opt.features, NULL, &kvs, &error))
      die ("--features: %s", error->message);
    for (gchar ** kv = kvs; *kv; kv++)
      set_key_value (features, *kv, "--features");
    g_strfreev (kvs);
  }

  /* rnntrain's properties: options first, then -p KEY=VALUE */
  struct
  {
    const gchar *key;
    gchar *value;
  } set[32];
  gint n_set = 0;
#define SET_STR(k, v) do { if (v) { set[n_set].key = k; set[n_set++].value = g_strdup (v); } } while (0)
#define SET_NUM(k, fmt, v, unset) do { if ((v) != (unset)) { set[n_set].key = k; \
      set[n_set++].value = g_strdup_printf (fmt, v); } } while (0)
  SET_STR ("architecture", opt.arch);
  SET_STR ("optimizer", opt.optimizer);
  SET_STR ("schedule", opt.schedule);
  SET_STR ("loss", opt.loss);
  SET_STR ("init-model", opt.init_model);
  SET_STR ("task", opt.task);
  SET_STR ("classes", opt.classes);
  SET_STR ("alphabet", opt.alphabet);
  SET_NUM ("epochs", "%d", opt.epochs, -1);
  SET_NUM ("batch-size", "%d", opt.batch_size, -1);
  SET_NUM ("patience", "%d", opt.patience, -1);
  SET_NUM ("time-mask", "%d", opt.time_mask, -1);
  SET_NUM ("freq-mask", "%d", opt.freq_mask, -1);
  SET_NUM ("seed", "%" G_GINT64_FORMAT, opt.seed, -1);
  for (gint i = 0; i < n_set; i++) {
    set_property_arg (train, set[i].key, set[i].value, "options");
    g_free (set[i].value);
  }
  /* doubles are set directly: their text form depends on the locale */
  if (opt.learning_rate != -1)
    g_object_set (train, "learning-rate", opt.learning_rate, NULL);
  if (opt.validation_split != -1)
    g_object_set (train, "validation-split", opt.validation_split, NULL);
  if (opt.clip_norm != -1)
    g_object_set (train, "clip-norm", opt.clip_norm, NULL);
  if (opt.weight_decay != -1)
    g_object_set (train, "weight-decay", opt.weight_decay, NULL);
  if (opt.dropout != -1)
    g_object_set (train, "dropout", opt.dropout, NULL);
  if (opt.no_normalize)
    g_object_set (train, "normalize", FALSE, NULL);
  if (opt.sequence_normalize)
    g_object_set (train, "sequence-normalize", TRUE, NULL);
  for (gchar ** kv = opt.props; kv && *kv; kv++)
    set_key_value (train, *kv, "-p");
  if (opt.meta) {
    GstStructure *meta = gst_structure_new_empty ("meta");
    for (gchar ** kv = opt.meta; *kv; kv++) {
      const gchar *eq = strchr (*kv, '=');
      if (!eq || eq == *kv)
        die ("--meta: expected KEY=VALUE, found '%s'", *kv);
      gchar *key = g_strndup (*kv, (gsize) (eq - *kv));
      const gchar *value = eq + 1;
      gchar *end;
      gint64 i = g_ascii_strtoll (value, &end, 10);
      if (*value && *end == '\0' && i >= G_MININT && i <= G_MAXINT) {
        gst_structure_set (meta, key, G_TYPE_INT, (gint) i, NULL);
      } else {
        gdouble d = g_ascii_strtod (value, &end);
        if (*value && *end == '\0')
          gst_structure_set (meta, key, G_TYPE_DOUBLE, d, NULL);
        else
          gst_structure_set (meta, key, G_TYPE_STRING, value, NULL);
      }
      g_free (key);
    }
    g_object_set (train, "metadata", meta, NULL);
    gst_structure_free (meta);
  }

  guint64 seed;
  g_object_get (train, "seed", &seed, NULL);
  gchar *description = opt.augment ?
      g_strdup_printf ("%s: %u files, %u labels, %d augmented copies each (speed %s, gain %s dB, "
      "noise SNR %s dB)", dataset, items->len, g_hash_table_size (labels), opt.augment,
      opt.speed ? opt.speed : "0.9:1.1", opt.gain ? opt.gain : "-6:6",
      opt.noise_snr ? opt.noise_snr : "10:40") :
      g_strdup_printf ("%s: %u files, %u labels", dataset, items->len,
      g_hash_table_size (labels));
  if (vtln.set) {
    gchar *with_warp = g_strdup_printf ("%s, VTLN warp %s", description, opt.vtln_warp);
    g_free (description);
    description = with_warp;
  }
  g_object_set (train, "output", output, "command", command, "data-description", description,
      "progress", !opt.quiet, NULL);

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    check_bus (pipe, FALSE);
    die ("the training pipeline does not start");
  }

  /* feed every file, one sequence each */
  gint64 t0 = g_get_monotonic_time ();
  guint64 samples = 0;
  gint sample_rate = sensors ? opt.sensor_rate : opt.rate;
  gint copies = sensors ? 1 : 1 + opt.augment;
  if (!opt.quiet)
    fprintf (stderr, "Feeding %u files x %d from %s ...\n", items->len, copies, dataset);
  for (guint i = 0; i < items->len; i++) {
    Item *it = g_ptr_array_index (items, i);
    for (gint copy = 0; copy < copies; copy++) {
      GBytes *data;
      gchar *err = NULL;
      GRand *rng = g_rand_new_with_seed_array ((const guint32[]) {
          (guint32) seed, (guint32) (seed >> 32), i, (guint32) copy}, 4);
      if (sensors) {
        gchar *text = NULL;
        gsize len;
        if (!g_file_get_contents (it->path, &text, &len, &error))
          die ("cannot read %s: %s", it->path, error->message);
        /* sensorparse skips a header only at the start of a stream: drop each file's own */
        gchar *body = text;
        while (*body == '\n' || *body == '\r')
          body++;
        gchar *nl = strchr (body, '\n');
        gchar *first = g_strndup (body, nl ? (gsize) (nl - body) : strlen (body));
        gboolean header = FALSE;
        gchar **fields = g_strsplit_set (first, ",;\t ", -1);
        for (gchar ** f = fields; *f; f++) {
          gchar *end;
          if (**f && (g_ascii_strtod (*f, &end), *end != '\0' && *end != '\r'))
            header = TRUE;
        }
        g_strfreev (fields);
        g_free (first);
        if (header)
          body = nl ? nl + 1 : body + strlen (body);
        GString *s = g_string_new (body);
        if (s->len && s->str[s->len - 1] != '\n')
          g_string_append_c (s, '\n');
        data = g_string_free_to_bytes (s);
        g_free (text);
      } else {
        gdouble factor = copy > 0 && speed.set ?
            g_rand_double_range (rng, speed.lo, speed.hi + 1e-12) : 1.0;
        /* decoded at rate/factor and played at rate: factor times faster */
        data = decode_audio (it->path, (gint) lrint (opt.rate / factor), &err);
        if (!data)
          die ("cannot decode %s: %s", it->path, err);
        if (copy > 0 && (gain.set || snr.set)) {
          gsize size;
          gint16 *s = g_memdup2 (g_bytes_get_data (data, &size), g_bytes_get_size (data));
          perturb (s, size / 2, rng, gain, snr);
          g_bytes_unref (data);
          data = g_bytes_new_take (s, size);
        }
      }
      /* drawn last, so the other perturbations are those of a run without --vtln-warp */
      gdouble warp = copy > 0 && vtln.set ?
          CLAMP (g_rand_double_range (rng, vtln.lo, vtln.hi + 1e-12), vtln.lo, vtln.hi) : 0.0;
      g_rand_free (rng);

      /* the warp rides on the rnn-reset event, queued in appsrc in order with the samples: it
       * cannot reach rnnfeatures before the previous file's samples or after this one's */
      GstStructure *reset = gst_structure_new_empty (RESET_EVENT_NAME);
      if (warp > 0.0)
        gst_structure_set (reset, "vtln-warp", G_TYPE_DOUBLE, warp, NULL);
      gst_element_send_event (appsrc, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, reset));
      /* the copies of one file are one group: they never straddle the validation split */
      gchar *group = g_strdup_printf ("%u", i);
      GstTagList *tags = gst_tag_list_new (LABEL_TAG, it->label, GROUP_TAG, group, NULL);
      g_free (group);
      gst_tag_list_set_scope (tags, GST_TAG_SCOPE_STREAM);
      gst_element_send_event (appsrc, gst_event_new_tag (tags));
      GstBuffer *buf = gst_buffer_new_wrapped_bytes (data);
      guint64 n = sensors ? 0 : g_bytes_get_size (data) / 2;
      if (!sensors) {
        GST_BUFFER_PTS (buf) = gst_util_uint64_scale (samples, GST_SECOND, sample_rate);
        GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (samples + n, GST_SECOND,
            sample_rate) - GST_BUFFER_PTS (buf);
        samples += n;
      }
      g_bytes_unref (data);
      if (gst_app_src_push_buffer (GST_APP_SRC (appsrc), buf) != GST_FLOW_OK || !check_bus (pipe,
              FALSE)) {
        check_bus (pipe, FALSE);
        fprintf (stderr, "rnn-train: error: the training pipeline stopped while feeding %s\n",
            it->path);
        gst_element_set_state (pipe, GST_STATE_NULL);
        return 1;
      }
    }
  }
  gst_app_src_end_of_stream (GST_APP_SRC (appsrc));
  if (!opt.quiet)
    fprintf (stderr, "Fed %u sequences in %.1f s; training ...\n", items->len * copies,
        (g_get_monotonic_time () - t0) / 1e6);

  gboolean ok = check_bus (pipe, TRUE);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_hash_table_unref (labels);
  g_ptr_array_unref (items);
  g_free (description);
  g_free (command);
  g_option_context_free (ctx);
  return ok ? 0 : 1;
}
