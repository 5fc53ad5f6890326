/* gst-rnn: rnntrain, a sink that fits a recurrent model to labelled sequences of frames.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-rnntrain
 * @title: rnntrain
 *
 * Collects labelled sequences of feature frames (the frames caps of rnnfeatures) and, at the end
 * of the stream, fits a recurrent model to them and saves it atomically to #GstRnnTrain:output.
 *
 * Sequences and labels:
 *
 * - A sequence ends at STREAM_START, at the custom `rnn-reset` event, at EOS, and whenever the
 *   label changes. Frames with the same label that arrive without such a boundary in between are one
 *   sequence.
 * - The label of a sequence is the `rnn-label` tag (a string tag this element registers) of the
 *   current stream, else its `title` tag, else the #GstRnnTrain:label property. Tags are per stream:
 *   STREAM_START forgets them.
 * - An optional `rnn-group` string tag groups sequences (say, the augmented copies of one
 *   recording, or one speaker): a group goes wholly to training or wholly to validation. A new
 *   group also ends the sequence.
 * - task=classification: labels are class names. The classes are #GstRnnTrain:classes when set
 *   (that order is the model's output order), else those of #GstRnnTrain:init-model, else every
 *   label seen, sorted by byte value (strcmp). The model's `labels` metadata lists them in output
 *   order. A binary `dense(1,sigmoid)` head stores the positive (second) class as `labels` and the
 *   negative one as `negative-label`.
 * - task=transcription: labels are transcripts and the loss is CTC. Each character of a transcript
 *   is one symbol; spaces are separators and are dropped unless #GstRnnTrain:alphabet contains a
 *   space. The default alphabet is every character of the transcripts but the space, sorted
 *   (e.g. "0123456789" for digit strings such as "3 1 4"). The model's `alphabet` metadata is
 *   `<blank>` followed by the symbols.
 *
 * Training runs when the final EOS arrives, in the streaming thread, before the EOS is handed to
 * the base class: so the EOS message (and gst-launch's exit) comes only after the model is saved,
 * and upstream naturally waits. The preroll lock is released while training, so the pipeline can
 * still be paused or stopped; stopping or flushing cancels training after the current batch and
 * leaves #GstRnnTrain:output untouched. Training uses every core (rnn_train_config.threads = 0).
 *
 * After each epoch the element posts an `rnn-train-progress` element message (`epoch`, `epochs`,
 * `loss`, `accuracy`, `val-loss`, `val-accuracy`). With #GstRnnTrain:progress it also prints a
 * Keras-like progress line per epoch to stderr, updated within the epoch when stderr is a terminal.
 *
 * The saved model carries: `task`, `labels` or `alphabet`, `features.*` (from the sticky
 * `rnn-feature-settings` event of rnnfeatures, so that `rnnfeatures model=...` reproduces the
 * features), the input normalisation (#GstRnnTrain:normalize), the per-sequence normalisation
 * mode (#GstRnnTrain:sequence-normalize), and `train.*` provenance and metrics
 * (`train.data`, `train.command`, `train.date`, `train.architecture`, `train.epochs`, `train.loss`,
 * `train.accuracy`, `train.val-loss`, `train.val-accuracy`, ...).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 concat name=c ! audioconvert ! audioresample ! audio/x-raw,rate=8000 ! \
 *     rnnfeatures ! rnntrain architecture="gru(32) dense(softmax)" output=yesno.rnn progress=true \
 *   filesrc location=yes1.wav ! wavparse ! taginject tags="title=yes" ! c. \
 *   filesrc location=no1.wav ! wavparse ! taginject tags="title=no" ! c. \
 *   filesrc location=yes2.wav ! wavparse ! taginject tags="title=yes" ! c.
 * ]| Three sequences, two classes; gst-launch exits once yesno.rnn is saved. tools/rnn-train
 * feeds a whole labelled data set through one such pipeline.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gstrnntrain.h"
#include "rnncaps.h"
#include "rnnelements.h"
#include "rnnresults.h"

GST_DEBUG_CATEGORY_STATIC (rnn_train_debug);
#define GST_CAT_DEFAULT rnn_train_debug

#define DEFAULT_ARCHITECTURE "gru(64) dense(softmax)"
#define DEFAULT_EPOCHS 20
#define DEFAULT_BATCH_SIZE 32
#define DEFAULT_OPTIMIZER RNN_OPT_ADAM
#define DEFAULT_LEARNING_RATE 1e-3
#define DEFAULT_LOSS GST_RNN_TRAIN_LOSS_AUTO
#define DEFAULT_VALIDATION_SPLIT 0.1
#define DEFAULT_PATIENCE 0
#define DEFAULT_SEED 1
#define DEFAULT_CLIP_NORM 5.0
#define DEFAULT_WEIGHT_DECAY 0.0
#define DEFAULT_DROPOUT 0.0
#define DEFAULT_NORMALIZE TRUE
#define DEFAULT_SEQUENCE_NORMALIZE FALSE
#define DEFAULT_TIME_MASK 0
#define DEFAULT_TIME_MASKS 2
#define DEFAULT_FREQ_MASK 0
#define DEFAULT_FREQ_MASKS 2
#define DEFAULT_SCHEDULE RNN_SCHED_CONSTANT
#define DEFAULT_TASK GST_RNN_TRAIN_TASK_CLASSIFICATION
#define DEFAULT_PROGRESS FALSE

enum
{
  PROP_0,
  PROP_ARCHITECTURE,
  PROP_EPOCHS,
  PROP_BATCH_SIZE,
  PROP_OPTIMIZER,
  PROP_LEARNING_RATE,
  PROP_SCHEDULE,
  PROP_LOSS,
  PROP_VALIDATION_SPLIT,
  PROP_PATIENCE,
  PROP_SEED,
  PROP_OUTPUT,
  PROP_INIT_MODEL,
  PROP_CLIP_NORM,
  PROP_WEIGHT_DECAY,
  PROP_DROPOUT,
  PROP_NORMALIZE,
  PROP_TIME_MASK,
  PROP_TIME_MASKS,
  PROP_FREQ_MASK,
  PROP_FREQ_MASKS,
  PROP_TASK,
  PROP_ALPHABET,
  PROP_CLASSES,
  PROP_LABEL,
  PROP_PROGRESS,
  PROP_COMMAND,
  PROP_DATA_DESCRIPTION,
  PROP_METADATA,
  PROP_SEQUENCE_NORMALIZE,
};

/* Every property, copied under the object lock when training starts. */
typedef struct
{
  gchar *architecture;
  gint epochs;
  gint batch_size;
  rnn_optim_kind optimizer;
  gdouble learning_rate;
  rnn_sched_kind schedule;
  GstRnnTrainLoss loss;
  gdouble validation_split;
  gint patience;
  guint64 seed;
  gchar *output;
  gchar *init_model;
  gdouble clip_norm;
  gdouble weight_decay;
  gdouble dropout;
  gboolean normalize;
  gboolean sequence_normalize;
  gint time_mask, time_masks;
  gint freq_mask, freq_masks;
  GstRnnTrainTask task;
  gchar *alphabet;
  gchar *classes;
  gchar *label;
  gboolean progress;
  gchar *command;
  gchar *data_description;
  GstStructure *metadata;
} GstRnnTrainSettings;

/* One collected sequence. */
typedef struct
{
  gchar *label;
  gchar *group;                 /* rnn-group tag, or NULL: a group of its own */
  gfloat *x;                    /* T x feature_size */
  gint T;
} GstRnnTrainSequence;

struct _GstRnnTrain
{
  GstBaseSink parent;

  GstRnnTrainSettings props;    /* OBJECT_LOCK */

  /* streaming thread */
  gint feature_size;            /* from caps; 0 before caps */
  gchar *tag_label;             /* label from the current stream's tags */
  gchar *tag_group;             /* rnn-group from the current stream's tags */
  gchar *seq_label;             /* label of the sequence being collected */
  GArray *frames;               /* floats of the sequence being collected */
  GPtrArray *sequences;         /* GstRnnTrainSequence */
  guint64 total_frames;
  GstStructure *feature_settings;       /* last rnn-feature-settings, or NULL */

  /* training */
  gboolean printing;            /* progress lines on stderr */
  gboolean tty;                 /* stderr is a terminal: update within the epoch */
  gdouble epoch_started_s;      /* elapsed seconds when the current epoch began */
  gint64 last_print_us;
  gboolean print_open;          /* a line without newline is on the terminal */
};

#define gst_rnn_train_parent_class parent_class
G_DEFINE_TYPE (GstRnnTrain, gst_rnn_train, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (rnntrain, "rnntrain", GST_RANK_NONE, GST_TYPE_RNN_TRAIN);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_RNN_FRAMES_CAPS_TEMPLATE));

/* ---------------------------------------------------------------------------------------------
 * Enumerations
 * ------------------------------------------------------------------------------------------- */
#define GST_TYPE_RNN_TRAIN_TASK (gst_rnn_train_task_get_type ())
static GType
gst_rnn_train_task_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_TRAIN_TASK_CLASSIFICATION, "One class per sequence (labels are class names)",
        "classification"},
    {GST_RNN_TRAIN_TASK_TRANSCRIPTION, "A symbol string per sequence (labels are transcripts; CTC)",
        "transcription"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstRnnTrainTask", values));
  return type;
}

#define GST_TYPE_RNN_TRAIN_LOSS (gst_rnn_train_loss_get_type ())
static GType
gst_rnn_train_loss_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_RNN_TRAIN_LOSS_AUTO,
        "From the head: softmax: ce (ctc for task=transcription), sigmoid: bce, linear: mse", "auto"},
    {GST_RNN_TRAIN_LOSS_CE, "Softmax cross-entropy per sequence", "ce"},
    {GST_RNN_TRAIN_LOSS_BCE, "Binary cross-entropy on sigmoid outputs", "bce"},
    {GST_RNN_TRAIN_LOSS_MSE, "Mean squared error", "mse"},
    {GST_RNN_TRAIN_LOSS_CTC, "Connectionist temporal classification", "ctc"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstRnnTrainLoss", values));
  return type;
}

#define GST_TYPE_RNN_TRAIN_OPTIMIZER (gst_rnn_train_optimizer_get_type ())
static GType
gst_rnn_train_optimizer_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {RNN_OPT_ADAM, "Adam", "adam"},
    {RNN_OPT_SGD, "Stochastic gradient descent with momentum 0.9", "sgd"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstRnnTrainOptimizer", values));
  return type;
}

#define GST_TYPE_RNN_TRAIN_SCHEDULE (gst_rnn_train_schedule_get_type ())
static GType
gst_rnn_train_schedule_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {RNN_SCHED_CONSTANT, "Constant learning rate", "constant"},
    {RNN_SCHED_STEP, "Halve the learning rate every 10 epochs", "step"},
    {RNN_SCHED_COSINE, "Cosine decay to 1% over the epochs", "cosine"},
    {RNN_SCHED_PLATEAU, "Halve the learning rate after 3 epochs without improvement", "plateau"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstRnnTrainSchedule", values));
  return type;
}

/* ---------------------------------------------------------------------------------------------
 * Architecture specs: "gru(128) gru(128) dense(softmax)", "lstm(64) bilstm(64) dense(softmax,mean)",
 * "simplernn(64) dense(1,sigmoid)". Layers are separated by spaces or commas; a recurrent layer
 * takes its width (and for simplernn an activation, tanh or relu); the optional final dense layer
 * takes, in any order, a width, an activation (softmax, sigmoid, linear) and a pooling (last, mean).
 * ------------------------------------------------------------------------------------------- */
typedef struct
{
  const gchar *spec;
  const gchar *p;
  gchar *err;
  gsize errlen;
} ArchParser;

static gboolean
arch_fail (ArchParser * ap, const gchar * at, gint len, const gchar * what)
{
  gint pos = (gint) (at - ap->spec) + 1;
  if (len <= 0)
    g_snprintf (ap->err, ap->errlen, "architecture \"%s\": %s at character %d", ap->spec, what,
        pos);
  else
    g_snprintf (ap->err, ap->errlen, "architecture \"%s\": %s '%.*s' at character %d", ap->spec,
        what, len, at, pos);
  return FALSE;
}

static void
arch_skip_separators (ArchParser * ap)
{
  while (*ap->p == ' ' || *ap->p == '\t' || *ap->p == '\n' || *ap->p == ',')
    ap->p++;
}

/* Reads the comma-separated arguments inside "( ... )" into args (pointers into spec). */
static gboolean
arch_read_args (ArchParser * ap, const gchar ** args, gint * lens, gint max, gint * n)
{
  *n = 0;
  if (*ap->p != '(')
    return TRUE;
  const gchar *open = ap->p;
  ap->p++;
  for (;;) {
    while (*ap->p == ' ')
      ap->p++;
    const gchar *start = ap->p;
    while (*ap->p && *ap->p != ',' && *ap->p != ')' && *ap->p != '(' && *ap->p != ' ')
      ap->p++;
    gint len = (gint) (ap->p - start);
    while (*ap->p == ' ')
      ap->p++;
    if (*ap->p == '\0')
      return arch_fail (ap, open, 1, "unclosed");
    if (*ap->p == '(')
      return arch_fail (ap, ap->p, 1, "unexpected");
    if (len == 0)
      return arch_fail (ap, start, 1, "empty argument before");
    if (*n == max)
      return arch_fail (ap, start, len, "too many arguments:");
    args[*n] = start;
    lens[*n] = len;
    (*n)++;
    if (*ap->p == ')') {
      ap->p++;
      return TRUE;
    }
    ap->p++;                    /* ',' */
  }
}

static gboolean
arch_token_is (const gchar * tok, gint len, const gchar * word)
{
  return (gint) strlen (word) == len && g_ascii_strncasecmp (tok, word, len) == 0;
}

static gboolean
arch_parse_int (const gchar * tok, gint len, gint * value)
{
  gint v = 0;
  if (len == 0 || len > 6)
    return FALSE;
  for (gint i = 0; i < len; i++) {
    if (!g_ascii_isdigit (tok[i]))
      return FALSE;
    v = v * 10 + (tok[i] - '0');
  }
  *value = v;
  return TRUE;
}

/* Recurrent layer names: simplernn/rnn, lstm, gru, gru_reset_before, each with an optional "bi"
 * prefix; the engine's own names (rnn_tanh, rnn_relu) work too. */
static gboolean
arch_cell_from_token (const gchar * tok, gint len, rnn_cell_kind * cell, gboolean * bidir)
{
  gchar name[32];
  if (len <= 0 || len >= (gint) sizeof (name))
    return FALSE;
  for (gint i = 0; i < len; i++)
    name[i] = g_ascii_tolower (tok[i]);
  name[len] = '\0';
  const gchar *base = name;
  *bidir = FALSE;
  if (g_str_has_prefix (name, "bi")) {
    *bidir = TRUE;
    base = name + 2;
  }
  if (strcmp (base, "simplernn") == 0 || strcmp (base, "rnn") == 0) {
    *cell = RNN_CELL_RNN_TANH;
    return TRUE;
  }
  gint k = rnn_cell_from_name (base);
  if (k < 0)
    return FALSE;
  *cell = (rnn_cell_kind) k;
  return TRUE;
}

gboolean
gst_rnn_architecture_parse (const gchar * spec, GstRnnArchitecture * arch, gchar * err,
    gsize errlen)
{
  ArchParser ap = { spec ? spec : "", spec ? spec : "", err, errlen };
  memset (arch, 0, sizeof (*arch));
  arch->pool = RNN_POOL_LAST;

  arch_skip_separators (&ap);
  while (*ap.p) {
    const gchar *tok = ap.p;
    while (g_ascii_isalnum (*ap.p) || *ap.p == '_')
      ap.p++;
    gint len = (gint) (ap.p - tok);
    if (len == 0)
      return arch_fail (&ap, tok, 1, "unexpected character");
    if (arch->has_head)
      return arch_fail (&ap, tok, len, "nothing may follow the dense head, found");

    const gchar *args[4];
    gint lens[4], n;
    if (!arch_read_args (&ap, args, lens, 4, &n))
      return FALSE;
    if (*ap.p && *ap.p != ' ' && *ap.p != '\t' && *ap.p != '\n' && *ap.p != ',')
      return arch_fail (&ap, ap.p, 1, "expected a space between layers, found");

    if (arch_token_is (tok, len, "dense")) {
      if (arch->n_layers == 0)
        return arch_fail (&ap, tok, len, "a recurrent layer must come before");
      arch->has_head = TRUE;
      arch->head = RNN_HEAD_SOFTMAX;
      for (gint i = 0; i < n; i++) {
        gint v, kind;
        if (arch_parse_int (args[i], lens[i], &v)) {
          if (v < 1)
            return arch_fail (&ap, args[i], lens[i], "the dense width must be at least 1, not");
          arch->head_outputs = v;
        } else if (arch_token_is (args[i], lens[i], "softmax")) {
          arch->head = RNN_HEAD_SOFTMAX;
        } else if (arch_token_is (args[i], lens[i], "sigmoid")) {
          arch->head = RNN_HEAD_SIGMOID;
        } else if (arch_token_is (args[i], lens[i], "linear")) {
          arch->head = RNN_HEAD_LINEAR;
        } else if (arch_token_is (args[i], lens[i], "last")
            || arch_token_is (args[i], lens[i], "mean")) {
          gchar pool[5];
          g_strlcpy (pool, args[i], MIN ((gsize) lens[i] + 1, sizeof (pool)));
          kind = rnn_pool_from_name (pool);
          arch->pool = kind >= 0 ? (rnn_pool_kind) kind :
              (args[i][0] == 'm' ? RNN_POOL_MEAN : RNN_POOL_LAST);
        } else {
          return arch_fail (&ap, args[i], lens[i],
              "unknown dense argument (expected a width, softmax, sigmoid, linear, last or mean)");
        }
      }
    } else {
      rnn_cell_kind cell;
      gboolean bidir;
      if (!arch_cell_from_token (tok, len, &cell, &bidir))
        return arch_fail (&ap, tok, len,
            "unknown layer (expected simplernn, lstm, gru, bisimplernn, bilstm, bigru or dense)");
      if (arch->n_layers == GST_RNN_ARCH_MAX_LAYERS)
        return arch_fail (&ap, tok, len, "too many layers (at most 16) at");
      if (n < 1)
        return arch_fail (&ap, tok, len, "missing width, e.g. gru(64), for");
      gint hidden;
      if (!arch_parse_int (args[0], lens[0], &hidden) || hidden < 1 || hidden > 65536)
        return arch_fail (&ap, args[0], lens[0], "the width must be an integer 1..65536, not");
      for (gint i = 1; i < n; i++) {
        if (cell == RNN_CELL_RNN_TANH && arch_token_is (args[i], lens[i], "relu"))
          cell = RNN_CELL_RNN_RELU;
        else if (!(cell == RNN_CELL_RNN_TANH && arch_token_is (args[i], lens[i], "tanh")))
          return arch_fail (&ap, args[i], lens[i], "unknown layer argument");
      }
      arch->layers[arch->n_layers].cell = cell;
      arch->layers[arch->n_layers].hidden = hidden;
      arch->layers[arch->n_layers].bidirectional = bidir;
      arch->n_layers++;
    }
    arch_skip_separators (&ap);
  }
  if (arch->n_layers == 0)
    return arch_fail (&ap, ap.p, 0, "no recurrent layer");
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------
 * Properties
 * ------------------------------------------------------------------------------------------- */
static void
settings_clear (GstRnnTrainSettings * s)
{
  g_clear_pointer (&s->architecture, g_free);
  g_clear_pointer (&s->output, g_free);
  g_clear_pointer (&s->init_model, g_free);
  g_clear_pointer (&s->alphabet, g_free);
  g_clear_pointer (&s->classes, g_free);
  g_clear_pointer (&s->label, g_free);
  g_clear_pointer (&s->command, g_free);
  g_clear_pointer (&s->data_description, g_free);
  g_clear_pointer (&s->metadata, gst_structure_free);
}

static void
settings_copy (GstRnnTrainSettings * dst, const GstRnnTrainSettings * src)
{
  *dst = *src;
  dst->architecture = g_strdup (src->architecture);
  dst->output = g_strdup (src->output);
  dst->init_model = g_strdup (src->init_model);
  dst->alphabet = g_strdup (src->alphabet);
  dst->classes = g_strdup (src->classes);
  dst->label = g_strdup (src->label);
  dst->command = g_strdup (src->command);
  dst->data_description = g_strdup (src->data_description);
  dst->metadata = src->metadata ? gst_structure_copy (src->metadata) : NULL;
}

static void
gst_rnn_train_set_property (GObject * object, guint prop_id, const GValue * value,
    GParamSpec * pspec)
{
  GstRnnTrain *self = GST_RNN_TRAIN (object);
  GstRnnTrainSettings *s = &self->props;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ARCHITECTURE:
      g_free (s->architecture);
      s->architecture = g_value_dup_string (value);
      break;
    case PROP_EPOCHS:
      s->epochs = g_value_get_int (value);
      break;
    case PROP_BATCH_SIZE:
      s->batch_size = g_value_get_int (value);
      break;
    case PROP_OPTIMIZER:
      s->optimizer = (rnn_optim_kind) g_value_get_enum (value);
      break;
    case PROP_LEARNING_RATE:
      s->learning_rate = g_value_get_double (value);
      break;
    case PROP_SCHEDULE:
      s->schedule = (rnn_sched_kind) g_value_get_enum (value);
      break;
    case PROP_LOSS:
      s->loss = (GstRnnTrainLoss) g_value_get_enum (value);
      break;
    case PROP_VALIDATION_SPLIT:
      s->validation_split = g_value_get_double (value);
      break;
    case PROP_PATIENCE:
      s->patience = g_value_get_int (value);
      break;
    case PROP_SEED:
      s->seed = g_value_get_uint64 (value);
      break;
    case PROP_OUTPUT:
      g_free (s->output);
      s->output = g_value_dup_string (value);
      break;
    case PROP_INIT_MODEL:
      g_free (s->init_model);
      s->init_model = g_value_dup_string (value);
      break;
    case PROP_CLIP_NORM:
      s->clip_norm = g_value_get_double (value);
      break;
    case PROP_WEIGHT_DECAY:
      s->weight_decay = g_value_get_double (value);
      break;
    case PROP_DROPOUT:
      s->dropout = g_value_get_double (value);
      break;
    case PROP_NORMALIZE:
      s->normalize = g_value_get_boolean (value);
      break;
    case PROP_SEQUENCE_NORMALIZE:
      s->sequence_normalize = g_value_get_boolean (value);
      break;
    case PROP_TIME_MASK:
      s->time_mask = g_value_get_int (value);
      break;
    case PROP_TIME_MASKS:
      s->time_masks = g_value_get_int (value);
      break;
    case PROP_FREQ_MASK:
      s->freq_mask = g_value_get_int (value);
      break;
    case PROP_FREQ_MASKS:
      s->freq_masks = g_value_get_int (value);
      break;
    case PROP_TASK:
      s->task = (GstRnnTrainTask) g_value_get_enum (value);
      break;
    case PROP_ALPHABET:
      g_free (s->alphabet);
      s->alphabet = g_value_dup_string (value);
      break;
    case PROP_CLASSES:
      g_free (s->classes);
      s->classes = g_value_dup_string (value);
      break;
    case PROP_LABEL:
      g_free (s->label);
      s->label = g_value_dup_string (value);
      break;
    case PROP_PROGRESS:
      s->progress = g_value_get_boolean (value);
      break;
    case PROP_COMMAND:
      g_free (s->command);
      s->command = g_value_dup_string (value);
      break;
    case PROP_DATA_DESCRIPTION:
      g_free (s->data_description);
      s->data_description = g_value_dup_string (value);
      break;
    case PROP_METADATA:{
      const GstStructure *st = gst_value_get_structure (value);
      g_clear_pointer (&s->metadata, gst_structure_free);
      s->metadata = st ? gst_structure_copy (st) : NULL;
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_rnn_train_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstRnnTrain *self = GST_RNN_TRAIN (object);
  GstRnnTrainSettings *s = &self->props;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_ARCHITECTURE:
      g_value_set_string (value, s->architecture);
      break;
    case PROP_EPOCHS:
      g_value_set_int (value, s->epochs);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_int (value, s->batch_size);
      break;
    case PROP_OPTIMIZER:
      g_value_set_enum (value, s->optimizer);
      break;
    case PROP_LEARNING_RATE:
      g_value_set_double (value, s->learning_rate);
      break;
    case PROP_SCHEDULE:
      g_value_set_enum (value, s->schedule);
      break;
    case PROP_LOSS:
      g_value_set_enum (value, s->loss);
      break;
    case PROP_VALIDATION_SPLIT:
      g_value_set_double (value, s->validation_split);
      break;
    case PROP_PATIENCE:
      g_value_set_int (value, s->patience);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, s->seed);
      break;
    case PROP_OUTPUT:
      g_value_set_string (value, s->output);
      break;
    case PROP_INIT_MODEL:
      g_value_set_string (value, s->init_model);
      break;
    case PROP_CLIP_NORM:
      g_value_set_double (value, s->clip_norm);
      break;
    case PROP_WEIGHT_DECAY:
      g_value_set_double (value, s->weight_decay);
      break;
    case PROP_DROPOUT:
      g_value_set_double (value, s->dropout);
      break;
    case PROP_NORMALIZE:
      g_value_set_boolean (value, s->normalize);
      break;
    case PROP_SEQUENCE_NORMALIZE:
      g_value_set_boolean (value, s->sequence_normalize);
      break;
    case PROP_TIME_MASK:
      g_value_set_int (value, s->time_mask);
      break;
    case PROP_TIME_MASKS:
      g_value_set_int (value, s->time_masks);
      break;
    case PROP_FREQ_MASK:
      g_value_set_int (value, s->freq_mask);
      break;
    case PROP_FREQ_MASKS:
      g_value_set_int (value, s->freq_masks);
      break;
    case PROP_TASK:
      g_value_set_enum (value, s->task);
      break;
    case PROP_ALPHABET:
      g_value_set_string (value, s->alphabet);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, s->classes);
      break;
    case PROP_LABEL:
      g_value_set_string (value, s->label);
      break;
    case PROP_PROGRESS:
      g_value_set_boolean (value, s->progress);
      break;
    case PROP_COMMAND:
      g_value_set_string (value, s->command);
      break;
    case PROP_DATA_DESCRIPTION:
      g_value_set_string (value, s->data_description);
      break;
    case PROP_METADATA:
      gst_value_set_structure (value, s->metadata);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---------------------------------------------------------------------------------------------
 * Collecting sequences
 * ------------------------------------------------------------------------------------------- */
static void
sequence_free (gpointer data)
{
  GstRnnTrainSequence *seq = data;
  g_free (seq->label);
  g_free (seq->group);
  g_free (seq->x);
  g_free (seq);
}

/* Closes the sequence being collected (if it has frames) and starts an empty one. */
static void
gst_rnn_train_end_sequence (GstRnnTrain * self)
{
  if (self->frames->len > 0 && self->seq_label && self->feature_size > 0) {
    GstRnnTrainSequence *seq = g_new0 (GstRnnTrainSequence, 1);
    seq->label = g_strdup (self->seq_label);
    seq->group = g_strdup (self->tag_group);
    seq->T = (gint) (self->frames->len / (guint) self->feature_size);
    seq->x = g_memdup2 (self->frames->data, self->frames->len * sizeof (gfloat));
    g_ptr_array_add (self->sequences, seq);
    GST_DEBUG_OBJECT (self, "sequence %u: '%s', %d frames", self->sequences->len, seq->label,
        seq->T);
  }
  g_array_set_size (self->frames, 0);
  g_clear_pointer (&self->seq_label, g_free);
}

static void
gst_rnn_train_reset_collection (GstRnnTrain * self)
{
  g_array_set_size (self->frames, 0);
  g_clear_pointer (&self->seq_label, g_free);
  g_clear_pointer (&self->tag_label, g_free);
  g_clear_pointer (&self->tag_group, g_free);
  g_ptr_array_set_size (self->sequences, 0);
  g_clear_pointer (&self->feature_settings, gst_structure_free);
  self->total_frames = 0;
  self->feature_size = 0;
}

static gboolean
gst_rnn_train_start (GstBaseSink * sink)
{
  GstRnnTrain *self = GST_RNN_TRAIN (sink);
  GstRnnArchitecture arch;
  gchar err[512];
  gboolean ok = TRUE;

  gst_rnn_train_reset_collection (self);

  /* Check the settings now, so a typo fails at once rather than after the data is in. */
  GST_OBJECT_LOCK (self);
  gboolean have_init = self->props.init_model && *self->props.init_model;
  if (!have_init)
    ok = gst_rnn_architecture_parse (self->props.architecture, &arch, err, sizeof (err));
  gchar *output = g_strdup (self->props.output);
  GST_OBJECT_UNLOCK (self);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Invalid %s", err), (NULL));
    g_free (output);
    return FALSE;
  }
  /* the model is written next to output (a temporary, then a rename): that folder must take it */
  if (output && *output) {
    gchar *dir = g_path_get_dirname (output);
    if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
      g_snprintf (err, sizeof (err), "the folder %s of output %s does not exist", dir, output);
      ok = FALSE;
    } else if (access (dir, W_OK) != 0) {
      g_snprintf (err, sizeof (err), "cannot write output %s: the folder %s is not writable",
          output, dir);
      ok = FALSE;
    }
    g_free (dir);
  }
  g_free (output);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, ("%s", err), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_rnn_train_stop (GstBaseSink * sink)
{
  gst_rnn_train_reset_collection (GST_RNN_TRAIN (sink));
  return TRUE;
}

/* Training stops (after the current batch) when the base class starts flushing: on FLUSH_START
 * and when the sink pad is deactivated (PAUSED->READY). The base class's unlock()/unlock_stop()
 * pair cannot carry this: it calls unlock_stop() as soon as it holds the preroll lock, which
 * training has released, and unlock() on every PLAYING->PAUSED, which must not cancel. */
static gboolean
gst_rnn_train_flushing (GstRnnTrain * self)
{
  return g_atomic_int_get (&GST_BASE_SINK (self)->flushing) != 0;
}

static gboolean
gst_rnn_train_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  GstRnnTrain *self = GST_RNN_TRAIN (sink);
  GError *error = NULL;
  gint size, rate_n, rate_d;

  if (!gst_rnn_frames_caps_parse (caps, &size, &rate_n, &rate_d, &error)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Unsupported frames caps: %s",
            error ? error->message : "unparsable caps"), (NULL));
    g_clear_error (&error);
    return FALSE;
  }
  if (self->feature_size > 0 && size != self->feature_size) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("The frame size changed from %d to %d: every "
            "sequence of one training run must have the same number of features",
            self->feature_size, size), (NULL));
    return FALSE;
  }
  self->feature_size = size;
  return TRUE;
}

/* The label that applies to data arriving now: tags first, then the property. */
static gchar *
gst_rnn_train_current_label (GstRnnTrain * self)
{
  gchar *label;
  if (self->tag_label)
    return g_strdup (self->tag_label);
  GST_OBJECT_LOCK (self);
  label = g_strdup (self->props.label);
  GST_OBJECT_UNLOCK (self);
  if (label && *label == '\0')
    g_clear_pointer (&label, g_free);
  return label;
}

static GstFlowReturn
gst_rnn_train_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstRnnTrain *self = GST_RNN_TRAIN (sink);
  GstMapInfo map;
  gsize frame_bytes = (gsize) self->feature_size * sizeof (gfloat);

  if (self->feature_size <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("frames before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  gchar *label = gst_rnn_train_current_label (self);
  if (!label) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Sequence %u has no label: send an '"
            GST_RNN_TAG_LABEL "' or 'title' tag, or set the label property",
            self->sequences->len + 1), (NULL));
    return GST_FLOW_ERROR;
  }
  if (self->seq_label && strcmp (self->seq_label, label) != 0)
    gst_rnn_train_end_sequence (self);
  if (!self->seq_label)
    self->seq_label = g_strdup (label);
  g_free (label);

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("cannot map a frame buffer"));
    return GST_FLOW_ERROR;
  }
  if (map.size == 0 || map.size % frame_bytes != 0) {
    gsize size = map.size;
    gst_buffer_unmap (buffer, &map);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("A buffer of %" G_GSIZE_FORMAT " bytes is not a "
            "whole number of %d-float frames", size, self->feature_size), (NULL));
    return GST_FLOW_ERROR;
  }
  const gfloat *f = (const gfloat *) map.data;
  gsize n = map.size / sizeof (gfloat);
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (f[i])) {
      gst_buffer_unmap (buffer, &map);
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("NaN or infinity in sequence %u ('%s'), frame %"
              G_GSIZE_FORMAT ", feature %d", self->sequences->len + 1, self->seq_label,
              (gsize) (self->frames->len / (guint) self->feature_size) + i / (gsize)
              self->feature_size, (gint) (i % (gsize) self->feature_size)), (NULL));
      return GST_FLOW_ERROR;
    }
  }
  g_array_append_vals (self->frames, f, (guint) n);
  self->total_frames += n / (gsize) self->feature_size;
  gst_buffer_unmap (buffer, &map);
  return GST_FLOW_OK;
}

static void
gst_rnn_train_handle_tags (GstRnnTrain * self, GstEvent * event)
{
  GstTagList *tags;
  gchar *label = NULL, *group = NULL;

  gst_event_parse_tag (event, &tags);
  if (gst_tag_list_get_string (tags, GST_RNN_TAG_GROUP, &group)) {
    /* a new group is a new sequence, even with the same label */
    if (g_strcmp0 (group, self->tag_group) != 0)
      gst_rnn_train_end_sequence (self);
    g_free (self->tag_group);
    self->tag_group = group;
  }
  if (!gst_tag_list_get_string (tags, GST_RNN_TAG_LABEL, &label))
    gst_tag_list_get_string (tags, GST_TAG_TITLE, &label);
  if (!label)
    return;
  GST_DEBUG_OBJECT (self, "label from tags: '%s'", label);
  g_free (self->tag_label);
  self->tag_label = label;
}

static gboolean gst_rnn_train_fit (GstRnnTrain * self);

static gboolean
gst_rnn_train_event (GstBaseSink * sink, GstEvent * event)
{
  GstRnnTrain *self = GST_RNN_TRAIN (sink);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      gst_rnn_train_end_sequence (self);
      g_clear_pointer (&self->tag_label, g_free);
      g_clear_pointer (&self->tag_group, g_free);
      break;
    case GST_EVENT_TAG:
      gst_rnn_train_handle_tags (self, event);
      break;
    case GST_EVENT_FLUSH_STOP:
      /* a flush drops the partial sequence; sequences already complete are kept */
      g_array_set_size (self->frames, 0);
      g_clear_pointer (&self->seq_label, g_free);
      break;
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_STICKY:{
      const GstStructure *s = gst_event_get_structure (event);
      if (gst_rnn_is_reset_event (event)) {
        gst_rnn_train_end_sequence (self);
      } else if (s && gst_structure_has_name (s, GST_RNN_FEATURE_SETTINGS_NAME)) {
        gint old_rate = 0, rate = 0;

        /* the model stores one rate (features.sample-frequency): frames of another are wrong */
        if (self->feature_settings && gst_structure_get_int (self->feature_settings,
                "sample-frequency", &old_rate)
            && gst_structure_get_int (s, "sample-frequency", &rate) && rate != old_rate)
          GST_ELEMENT_WARNING (self, STREAM, FORMAT, ("Training frames computed at %d Hz and "
                  "at %d Hz; the model stores %d Hz: put audioresample ! audio/x-raw,rate=N "
                  "before rnnfeatures", old_rate, rate, rate), (NULL));
        g_clear_pointer (&self->feature_settings, gst_structure_free);
        self->feature_settings = gst_structure_copy (s);
        GST_DEBUG_OBJECT (self, "feature settings: %" GST_PTR_FORMAT, s);
      }
      break;
    }
    case GST_EVENT_EOS:{
      gboolean ok;
      gst_rnn_train_end_sequence (self);
      /* Train with the preroll lock released (the base class holds it around this function), so a
       * state change or a flush can proceed meanwhile; going to READY or a flush cancels. */
      GST_BASE_SINK_PREROLL_UNLOCK (sink);
      ok = gst_rnn_train_fit (self);
      GST_BASE_SINK_PREROLL_LOCK (sink);
      if (!ok) {
        gst_event_unref (event);
        return FALSE;
      }
      break;
    }
    default:
      break;
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

/* ---------------------------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------------------------- */
static gchar *
format_duration (gdouble s)
{
  if (!isfinite (s) || s < 0)
    return g_strdup ("?");
  gint64 t = (gint64) (s + 0.5);
  if (t >= 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT ":%02d:%02d", t / 3600, (gint) (t / 60 % 60),
        (gint) (t % 60));
  return g_strdup_printf ("%d:%02d", (gint) (t / 60), (gint) (t % 60));
}

/* "Epoch 3/20  [==========>...] 12s 95ms/step  loss: 0.4123 - accuracy: 0.8750 - val_loss: 0.5012 -
 *  val_accuracy: 0.8400 - ETA 1:10" */
static void
gst_rnn_train_print (GstRnnTrain * self, const rnn_progress * p)
{
  enum { BAR = 30 };
  gchar bar[BAR + 1];
  gint done = p->end_of_epoch || p->batches <= 0 ? BAR : (gint) ((gint64) BAR * p->batch /
      p->batches);

  for (gint i = 0; i < BAR; i++)
    bar[i] = i < done ? '=' : '.';
  if (done > 0 && done < BAR)
    bar[done - 1] = '>';
  bar[BAR] = '\0';

  /* Time so far in this epoch and per batch, as Keras shows it ("4s 12ms/step"): whole seconds
   * alone would read "0s" for the small, fast models this element often trains. */
  gdouble epoch_s = MAX (p->elapsed_s - self->epoch_started_s, 0.0);
  gint steps = p->end_of_epoch ? p->batches : p->batch;
  GString *line = g_string_new (NULL);
  g_string_append_printf (line, "Epoch %d/%d  [%s] ", p->epoch, p->epochs, bar);
  if (epoch_s < 1.0)
    g_string_append_printf (line, "%dms", (gint) (epoch_s * 1000.0 + 0.5));
  else
    g_string_append_printf (line, "%ds", (gint) (epoch_s + 0.5));
  if (steps > 0)
    g_string_append_printf (line, " %dms/step", (gint) (epoch_s * 1000.0 / steps + 0.5));
  g_string_append_printf (line, "  loss: %.4f - accuracy: %.4f", p->loss, p->accuracy);
  if (p->end_of_epoch && !isnan (p->val_loss))
    g_string_append_printf (line, " - val_loss: %.4f - val_accuracy: %.4f", p->val_loss,
        p->val_accuracy);
  gchar *eta = format_duration (p->remaining_s);
  g_string_append_printf (line, " - ETA %s", eta);
  g_free (eta);

  if (self->tty)
    fprintf (stderr, "\r%s\033[K%s", line->str, p->end_of_epoch ? "\n" : "");
  else
    fprintf (stderr, "%s\n", line->str);
  fflush (stderr);
  self->print_open = self->tty && !p->end_of_epoch;
  g_string_free (line, TRUE);
}

static int
gst_rnn_train_on_progress (const rnn_progress * p, void *user)
{
  GstRnnTrain *self = user;

  if (p->end_of_epoch) {
    if (self->printing)
      gst_rnn_train_print (self, p);
    self->epoch_started_s = p->elapsed_s;
    gst_rnn_emit_result (GST_ELEMENT (self), NULL, gst_rnn_train_progress_new (p->epoch,
            p->epochs, p->loss, p->accuracy, p->val_loss, p->val_accuracy));
  } else if (self->printing && self->tty) {
    gint64 now = g_get_monotonic_time ();
    if (now - self->last_print_us >= 100000) {
      self->last_print_us = now;
      gst_rnn_train_print (self, p);
    }
  }
  return gst_rnn_train_flushing (self);
}

/* ---------------------------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------------------------- */

/* Everything one training run allocates, freed in one place. */
typedef struct
{
  GstRnnTrainSettings s;
  rnn_model *model;
  gchar **classes;              /* classification: class names in output order */
  gint n_classes;
  gunichar *symbols;            /* transcription: alphabet without the blank */
  gint n_symbols;
  gboolean space_is_symbol;
  gint *labels;                 /* per sequence: class index */
  gint **tokens;                /* per sequence: CTC symbols (1-based) */
  gint *n_tokens;
  gfloat *targets;              /* BCE/MSE targets, n x outputs */
  rnn_example *train, *val;
  gint n_train, n_val;
  rnn_loss_kind loss;
  gint outputs;
} FitJob;

static void
fit_job_clear (FitJob * job, guint n_sequences)
{
  settings_clear (&job->s);
  if (job->model)
    rnn_model_unref (job->model);
  g_strfreev (job->classes);
  g_free (job->symbols);
  g_free (job->labels);
  if (job->tokens)
    for (guint i = 0; i < n_sequences; i++)
      g_free (job->tokens[i]);
  g_free (job->tokens);
  g_free (job->n_tokens);
  g_free (job->targets);
  g_free (job->train);
  g_free (job->val);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* The classes, in output order (see the element's documentation). */
static gboolean
fit_job_classes (GstRnnTrain * self, FitJob * job, GPtrArray * seqs, gchar * err, gsize errlen)
{
  const char *const *init_labels = NULL;
  int n_init = 0;

  if (job->s.classes && *job->s.classes) {
    gchar **parts = g_strsplit (job->s.classes, ",", -1);
    GPtrArray *names = g_ptr_array_new ();
    for (gchar ** p = parts; *p; p++) {
      g_strstrip (*p);
      if (**p)
        g_ptr_array_add (names, g_strdup (*p));
    }
    g_strfreev (parts);
    g_ptr_array_add (names, NULL);
    job->classes = (gchar **) g_ptr_array_free (names, FALSE);
  } else if (job->model && rnn_model_meta_strings (job->model, "labels", &init_labels, &n_init)
      && n_init >= 2) {
    job->classes = g_new0 (gchar *, n_init + 1);
    for (gint i = 0; i < n_init; i++)
      job->classes[i] = g_strdup (init_labels[i]);
  } else {
    GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
    GPtrArray *names = g_ptr_array_new ();
    for (guint i = 0; i < seqs->len; i++) {
      GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
      if (g_hash_table_add (seen, seq->label))
        g_ptr_array_add (names, g_strdup (seq->label));
    }
    g_hash_table_unref (seen);
    g_ptr_array_sort (names, compare_strings);
    g_ptr_array_add (names, NULL);
    job->classes = (gchar **) g_ptr_array_free (names, FALSE);
  }
  job->n_classes = (gint) g_strv_length (job->classes);
  if (job->n_classes < 2) {
    g_snprintf (err, errlen, "only one class ('%s'): classification needs at least two "
        "different labels", job->n_classes ? job->classes[0] : "");
    return FALSE;
  }

  job->labels = g_new0 (gint, seqs->len);
  for (guint i = 0; i < seqs->len; i++) {
    GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
    gint k = -1;
    for (gint c = 0; c < job->n_classes && k < 0; c++)
      if (strcmp (job->classes[c], seq->label) == 0)
        k = c;
    if (k < 0) {
      g_snprintf (err, errlen, "sequence %u has label '%s', which is not one of the %d classes "
          "(set by the %s)", i + 1, seq->label, job->n_classes,
          job->s.classes && *job->s.classes ? "classes property" : "initial model");
      return FALSE;
    }
    job->labels[i] = k;
  }
  return TRUE;
}

static gint
symbol_index (const FitJob * job, gunichar c)
{
  for (gint i = 0; i < job->n_symbols; i++)
    if (job->symbols[i] == c)
      return i + 1;             /* 0 is the blank */
  return -1;
}

static gint
compare_unichars (gconstpointer a, gconstpointer b)
{
  gunichar x = *(const gunichar *) a, y = *(const gunichar *) b;
  return x < y ? -1 : x > y;
}

static void
fit_job_add_symbols (FitJob * job, const gchar * text)
{
  for (const gchar * p = text; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (symbol_index (job, c) > 0)
      continue;
    job->symbols = g_renew (gunichar, job->symbols, job->n_symbols + 1);
    job->symbols[job->n_symbols++] = c;
  }
}

/* The alphabet and each transcript's tokens. */
static gboolean
fit_job_transcripts (GstRnnTrain * self, FitJob * job, GPtrArray * seqs, gchar * err,
    gsize errlen)
{
  const char *const *init_alphabet = NULL;
  int n_init = 0;

  if (job->s.alphabet && *job->s.alphabet) {
    if (!g_utf8_validate (job->s.alphabet, -1, NULL)) {
      g_snprintf (err, errlen, "the alphabet is not valid UTF-8");
      return FALSE;
    }
    fit_job_add_symbols (job, job->s.alphabet);
  } else if (job->model && rnn_model_meta_strings (job->model, "alphabet", &init_alphabet,
          &n_init) && n_init >= 2) {
    for (gint i = 1; i < n_init; i++)
      fit_job_add_symbols (job, init_alphabet[i]);
  } else {
    for (guint i = 0; i < seqs->len; i++) {
      GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
      if (!g_utf8_validate (seq->label, -1, NULL)) {
        g_snprintf (err, errlen, "the transcript of sequence %u is not valid UTF-8", i + 1);
        return FALSE;
      }
      fit_job_add_symbols (job, seq->label);
    }
    /* spaces separate symbols unless the alphabet names the space */
    gint k = symbol_index (job, ' ');
    if (k > 0) {
      job->symbols[k - 1] = job->symbols[job->n_symbols - 1];
      job->n_symbols--;
    }
    qsort (job->symbols, (size_t) job->n_symbols, sizeof (gunichar), compare_unichars);
  }
  if (job->n_symbols < 1) {
    g_snprintf (err, errlen, "the alphabet is empty: the transcripts hold no symbols");
    return FALSE;
  }
  job->space_is_symbol = symbol_index (job, ' ') > 0;

  job->tokens = g_new0 (gint *, seqs->len);
  job->n_tokens = g_new0 (gint, seqs->len);
  for (guint i = 0; i < seqs->len; i++) {
    GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
    glong len = g_utf8_strlen (seq->label, -1);
    gint n = 0, repeats = 0, prev = -1;
    job->tokens[i] = g_new0 (gint, MAX (len, 1));
    for (const gchar * p = seq->label; *p; p = g_utf8_next_char (p)) {
      gunichar c = g_utf8_get_char (p);
      if (c == ' ' && !job->space_is_symbol)
        continue;
      gint k = symbol_index (job, c);
      if (k < 0) {
        gchar ch[8] = { 0 };
        g_unichar_to_utf8 (c, ch);
        g_snprintf (err, errlen, "the transcript '%s' of sequence %u has the symbol '%s', which "
            "is not in the alphabet", seq->label, i + 1, ch);
        return FALSE;
      }
      if (k == prev)
        repeats++;
      prev = k;
      job->tokens[i][n++] = k;
    }
    job->n_tokens[i] = n;
    /* CTC needs a frame per symbol and a blank between repeated symbols */
    if (seq->T < n + repeats) {
      g_snprintf (err, errlen, "sequence %u ('%s') has %d frames, too few for its %d symbols",
          i + 1, seq->label, seq->T, n);
      return FALSE;
    }
  }
  return TRUE;
}

/* Loads init-model, when set, and checks that it fits the frames (fit_job_build makes a new
 * model otherwise, once the classes or the alphabet are known). */
static gboolean
fit_job_load_init (GstRnnTrain * self, FitJob * job, gint input_size, gchar * err, gsize errlen)
{
  if (job->s.init_model && *job->s.init_model) {
    gchar lerr[512];
    job->model = rnn_model_load (job->s.init_model, lerr, sizeof (lerr));
    if (!job->model) {
      g_snprintf (err, errlen, "init-model: %s", lerr);
      return FALSE;
    }
    if (rnn_model_input_size (job->model) != input_size) {
      g_snprintf (err, errlen, "init-model %s takes %d inputs per frame, the frames have %d",
          job->s.init_model, rnn_model_input_size (job->model), input_size);
      return FALSE;
    }
    if (rnn_model_head (job->model) == RNN_HEAD_NONE) {
      g_snprintf (err, errlen, "init-model %s has no dense head to train", job->s.init_model);
      return FALSE;
    }
    /* The model's weights were learnt on inputs normalised its way: fine-tuning keeps it. */
    if (!rnn_model_sequence_normalization (job->model) != !job->s.sequence_normalize)
      GST_WARNING_OBJECT (self, "init-model %s %s per-sequence normalisation and keeps it; "
          "sequence-normalize=%s is ignored", job->s.init_model,
          rnn_model_sequence_normalization (job->model) ? "has" : "has no",
          job->s.sequence_normalize ? "true" : "false");
  }
  return TRUE;
}

/* A new model from the architecture property: the head gets as many outputs as the task needs
 * unless the spec says otherwise (one for a binary sigmoid head); seeded initial weights. */
static gboolean
fit_job_build (GstRnnTrain * self, FitJob * job, gint input_size, gchar * err, gsize errlen)
{
  GstRnnArchitecture arch;
  gint rc;

  if (job->model)
    return TRUE;
  if (!gst_rnn_architecture_parse (job->s.architecture, &arch, err, errlen))
    return FALSE;
  if (!arch.has_head) {
    arch.has_head = TRUE;
    arch.head = RNN_HEAD_SOFTMAX;
  }
  gint needed = job->s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION ? job->n_symbols + 1 :
      job->n_classes;
  gint outputs = arch.head_outputs ? arch.head_outputs : needed;
  if (arch.head == RNN_HEAD_SIGMOID && !arch.head_outputs && job->n_classes == 2)
    outputs = 1;

  job->model = rnn_model_new (input_size);
  if (!job->model) {
    g_snprintf (err, errlen, "out of memory");
    return FALSE;
  }
  for (gint i = 0; i < arch.n_layers; i++) {
    rc = rnn_model_add_layer (job->model, arch.layers[i].cell, arch.layers[i].hidden,
        arch.layers[i].bidirectional);
    if (rc != RNN_OK) {
      g_snprintf (err, errlen, "architecture \"%s\": layer %d: %s", job->s.architecture, i + 1,
          rnn_strerror (rc));
      return FALSE;
    }
  }
  rc = rnn_model_set_head (job->model, arch.head, outputs, arch.pool);
  if (rc == RNN_OK)
    rc = rnn_model_finalize (job->model);
  if (rc == RNN_OK)
    rc = rnn_model_set_sequence_normalization (job->model, job->s.sequence_normalize ? 1 : 0);
  if (rc != RNN_OK) {
    g_snprintf (err, errlen, "architecture \"%s\": %s", job->s.architecture, rnn_strerror (rc));
    return FALSE;
  }
  rnn_model_init_weights (job->model, job->s.seed);
  return TRUE;
}

/* The loss from the property or from the head, and the targets it needs. */
static gboolean
fit_job_loss (GstRnnTrain * self, FitJob * job, GPtrArray * seqs, gchar * err, gsize errlen)
{
  rnn_head_kind head = rnn_model_head (job->model);
  job->outputs = rnn_model_output_size (job->model);

  if (job->s.loss != GST_RNN_TRAIN_LOSS_AUTO)
    job->loss = (rnn_loss_kind) job->s.loss;
  else if (job->s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION)
    job->loss = RNN_LOSS_CTC;
  else if (head == RNN_HEAD_SIGMOID)
    job->loss = RNN_LOSS_BCE;
  else if (head == RNN_HEAD_LINEAR || head == RNN_HEAD_NONE)
    job->loss = RNN_LOSS_MSE;
  else
    job->loss = RNN_LOSS_CE;

  if ((job->loss == RNN_LOSS_CTC) != (job->s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION)) {
    g_snprintf (err, errlen, "loss %s does not fit task=%s", rnn_loss_name (job->loss),
        job->s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION ? "transcription" : "classification");
    return FALSE;
  }
  if ((job->loss == RNN_LOSS_CE || job->loss == RNN_LOSS_CTC) && head != RNN_HEAD_SOFTMAX) {
    g_snprintf (err, errlen, "loss %s needs a softmax head, the model's is %s",
        rnn_loss_name (job->loss), rnn_head_name (head));
    return FALSE;
  }
  if (job->loss == RNN_LOSS_CTC && job->outputs != job->n_symbols + 1) {
    g_snprintf (err, errlen, "the head has %d outputs; CTC over an alphabet of %d symbols "
        "needs %d (the blank and the symbols)", job->outputs, job->n_symbols, job->n_symbols + 1);
    return FALSE;
  }
  if (job->loss == RNN_LOSS_CE && job->outputs != job->n_classes) {
    g_snprintf (err, errlen, "the head has %d outputs but there are %d classes", job->outputs,
        job->n_classes);
    return FALSE;
  }
  if (job->loss == RNN_LOSS_BCE || job->loss == RNN_LOSS_MSE) {
    gboolean binary = job->outputs == 1 && job->n_classes == 2;
    if (!binary && job->outputs != job->n_classes) {
      g_snprintf (err, errlen, "the head has %d outputs; %s over %d classes needs %d (one per "
          "class)%s", job->outputs, rnn_loss_name (job->loss), job->n_classes, job->n_classes,
          job->n_classes == 2 ? " or 1" : "");
      return FALSE;
    }
    /* one-hot targets, or the class index (0/1) for a single binary output */
    job->targets = g_new0 (gfloat, (gsize) seqs->len * job->outputs);
    for (guint i = 0; i < seqs->len; i++) {
      if (binary)
        job->targets[i] = (gfloat) job->labels[i];
      else
        job->targets[(gsize) i * job->outputs + job->labels[i]] = 1.0f;
    }
  }
  return TRUE;
}

static guint64
splitmix64 (guint64 * state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void
fill_example (const FitJob * job, GPtrArray * seqs, guint i, rnn_example * ex)
{
  GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
  memset (ex, 0, sizeof (*ex));
  ex->x = seq->x;
  ex->T = seq->T;
  if (job->labels)
    ex->label = job->labels[i];
  if (job->targets)
    ex->target = job->targets + (gsize) i * job->outputs;
  if (job->tokens) {
    ex->tokens = job->tokens[i];
    ex->n_tokens = job->n_tokens[i];
  }
}

/* Seeded, stratified by class for classification: each class gives round(split * count) of its
 * groups (at least one when it has two or more) to validation. A group is the sequences that share
 * an rnn-group tag (a sequence without one is a group of its own); it goes wholly to one side, so
 * augmented copies of a recording never validate the model trained on it. A group's class is
 * that of its first sequence. */
static void
fit_job_split (FitJob * job, GPtrArray * seqs)
{
  guint n = seqs->len, n_units = 0;
  guint64 rng = job->s.seed ^ 0x5deece66dULL;
  gint *unit_of = g_new (gint, n);      /* sequence -> group index */
  gint *unit_class;
  gint *order;
  gboolean *unit_val;
  GHashTable *groups = g_hash_table_new (g_str_hash, g_str_equal);
  gint n_classes = job->labels ? job->n_classes : 1;

  for (guint i = 0; i < n; i++) {
    GstRnnTrainSequence *seq = g_ptr_array_index (seqs, i);
    gpointer found;
    if (seq->group && g_hash_table_lookup_extended (groups, seq->group, NULL, &found)) {
      unit_of[i] = GPOINTER_TO_INT (found);
    } else {
      unit_of[i] = (gint) n_units++;
      if (seq->group)
        g_hash_table_insert (groups, seq->group, GINT_TO_POINTER (unit_of[i]));
    }
  }
  g_hash_table_unref (groups);
  unit_class = g_new0 (gint, n_units);
  unit_val = g_new0 (gboolean, n_units);
  order = g_new (gint, n_units);
  for (guint i = n; i-- > 0;)
    unit_class[unit_of[i]] = job->labels ? job->labels[i] : 0;
  for (guint u = 0; u < n_units; u++)
    order[u] = (gint) u;
  for (guint u = n_units; u > 1; u--) {
    guint j = (guint) (splitmix64 (&rng) % u);
    gint t = order[u - 1];
    order[u - 1] = order[j];
    order[j] = t;
  }
  if (job->s.validation_split > 0) {
    for (gint c = 0; c < n_classes; c++) {
      gint count = 0, taken = 0;
      for (guint u = 0; u < n_units; u++)
        count += unit_class[u] == c;
      gint want = (gint) floor (job->s.validation_split * count + 0.5);
      if (want == 0 && count >= 2)
        want = 1;
      if (want >= count)
        want = count - 1;
      for (guint k = 0; k < n_units && taken < want; k++) {
        if (unit_class[order[k]] == c) {
          unit_val[order[k]] = TRUE;
          taken++;
        }
      }
    }
  }
  /* examples in shuffled group order (rnn_fit shuffles batches anyway) */
  gint *rank = g_new (gint, n_units);
  for (guint k = 0; k < n_units; k++)
    rank[order[k]] = (gint) k;
  gint *seq_order = g_new (gint, n);
  for (guint i = 0; i < n; i++)
    seq_order[i] = (gint) i;
  /* a stable pass per rank keeps the sequences of a group in arrival order */
  job->train = g_new0 (rnn_example, n);
  job->val = g_new0 (rnn_example, n);
  gint *by_rank_start = g_new0 (gint, n_units + 1);
  for (guint i = 0; i < n; i++)
    by_rank_start[rank[unit_of[i]] + 1]++;
  for (guint k = 0; k < n_units; k++)
    by_rank_start[k + 1] += by_rank_start[k];
  for (guint i = 0; i < n; i++)
    seq_order[by_rank_start[rank[unit_of[i]]]++] = (gint) i;
  for (guint k = 0; k < n; k++) {
    gint i = seq_order[k];
    if (unit_val[unit_of[i]])
      fill_example (job, seqs, (guint) i, &job->val[job->n_val++]);
    else
      fill_example (job, seqs, (guint) i, &job->train[job->n_train++]);
  }
  g_free (by_rank_start);
  g_free (seq_order);
  g_free (rank);
  g_free (order);
  g_free (unit_val);
  g_free (unit_class);
  g_free (unit_of);
}

/* Per-input mean and 1/std over every training frame, stored as the model's normalisation. The
 * stored normalisation comes after the per-sequence one (rnn.h), so with that mode the statistics
 * are those of the per-sequence normalised frames: what the normalisation is applied to. */
static gboolean
fit_job_normalize (FitJob * job, gint input_size, gchar * err, gsize errlen)
{
  const float *have_mean = NULL, *have_scale = NULL;
  if (!job->s.normalize)
    return TRUE;
  if (rnn_model_normalization (job->model, &have_mean, &have_scale) && have_mean)
    return TRUE;                /* fine-tuning keeps the statistics the model was built with */

  gboolean per_sequence = rnn_model_sequence_normalization (job->model);
  gdouble *sum = g_new0 (gdouble, input_size), *sq = g_new0 (gdouble, input_size);
  gfloat *mean = g_new (gfloat, input_size), *scale = g_new (gfloat, input_size);
  gfloat *normalised = NULL;
  gsize normalised_cap = 0;
  gdouble frames = 0;
  for (gint e = 0; e < job->n_train; e++) {
    const rnn_example *ex = &job->train[e];
    const float *xs = ex->x;
    if (per_sequence) {
      gsize need = (gsize) ex->T * input_size;
      if (need > normalised_cap) {
        g_free (normalised);
        normalised = g_new (gfloat, need);
        normalised_cap = need;
      }
      if (rnn_normalize_sequence (ex->x, ex->T, input_size, normalised) != RNN_OK) {
        g_snprintf (err, errlen, "per-sequence normalisation of training sequence %d failed", e);
        g_free (sum);
        g_free (sq);
        g_free (mean);
        g_free (scale);
        g_free (normalised);
        return FALSE;
      }
      xs = normalised;
    }
    for (gint t = 0; t < ex->T; t++) {
      const float *x = xs + (gsize) t * input_size;
      for (gint i = 0; i < input_size; i++) {
        sum[i] += x[i];
        sq[i] += (gdouble) x[i] * x[i];
      }
    }
    frames += ex->T;
  }
  for (gint i = 0; i < input_size; i++) {
    gdouble m = sum[i] / frames;
    gdouble var = sq[i] / frames - m * m;
    mean[i] = (gfloat) m;
    /* a constant input gets scale 1 instead of a division by zero */
    scale[i] = var > 1e-10 ? (gfloat) (1.0 / sqrt (var)) : 1.0f;
  }
  gint rc = rnn_model_set_normalization (job->model, mean, scale);
  g_free (sum);
  g_free (sq);
  g_free (mean);
  g_free (scale);
  g_free (normalised);
  if (rc != RNN_OK) {
    g_snprintf (err, errlen, "setting the normalisation: %s", rnn_strerror (rc));
    return FALSE;
  }
  return TRUE;
}

static void
fit_job_config (const FitJob * job, rnn_train_config * c)
{
  rnn_train_config_init (c);
  c->loss = job->loss;
  c->optimizer = job->s.optimizer;
  c->learning_rate = (float) job->s.learning_rate;
  if (job->s.optimizer == RNN_OPT_SGD)
    c->momentum = 0.9f;
  c->weight_decay = (float) job->s.weight_decay;
  c->clip_norm = (float) job->s.clip_norm;
  c->dropout = (float) job->s.dropout;
  c->schedule = job->s.schedule;
  if (job->s.schedule == RNN_SCHED_STEP || job->s.schedule == RNN_SCHED_PLATEAU) {
    c->gamma = 0.5f;
    c->step_epochs = job->s.schedule == RNN_SCHED_STEP ? 10 : 3;
  } else if (job->s.schedule == RNN_SCHED_COSINE) {
    c->min_factor = 0.01f;
  }
  c->batch_size = job->s.batch_size;
  c->epochs = job->s.epochs;
  c->patience = job->s.patience;
  c->time_mask = job->s.time_mask;
  c->time_masks = job->s.time_mask > 0 ? job->s.time_masks : 0;
  c->freq_mask = job->s.freq_mask;
  c->freq_masks = job->s.freq_mask > 0 ? job->s.freq_masks : 0;
  c->seed = job->s.seed;
  c->threads = 0;
}

/* One metadata entry from a GValue, typed as docs/model-format.md says: integers as int, floating
 * point as float, booleans as int 0/1, enums as their nick, strings as strings. */
static void
store_meta_value (rnn_model * m, const gchar * key, const GValue * value)
{
  GType t = G_VALUE_TYPE (value);

  if (t == G_TYPE_INT)
    rnn_model_set_meta_int (m, key, g_value_get_int (value));
  else if (t == G_TYPE_UINT)
    rnn_model_set_meta_int (m, key, g_value_get_uint (value));
  else if (t == G_TYPE_INT64)
    rnn_model_set_meta_int (m, key, g_value_get_int64 (value));
  else if (t == G_TYPE_UINT64)
    rnn_model_set_meta_int (m, key, (int64_t) g_value_get_uint64 (value));
  else if (t == G_TYPE_BOOLEAN)
    rnn_model_set_meta_int (m, key, g_value_get_boolean (value) ? 1 : 0);
  else if (t == G_TYPE_FLOAT)
    rnn_model_set_meta_float (m, key, g_value_get_float (value));
  else if (t == G_TYPE_DOUBLE)
    rnn_model_set_meta_float (m, key, g_value_get_double (value));
  else if (t == G_TYPE_STRING)
    rnn_model_set_meta_string (m, key, g_value_get_string (value));
  else if (G_TYPE_IS_ENUM (t)) {
    GEnumClass *klass = g_type_class_ref (t);
    GEnumValue *ev = g_enum_get_value (klass, g_value_get_enum (value));
    if (ev)
      rnn_model_set_meta_string (m, key, ev->value_nick);
    g_type_class_unref (klass);
  } else {
    GST_WARNING ("metadata %s has type %s, not stored in the model", key, g_type_name (t));
  }
}

/* features.<name> from the rnn-feature-settings structure. */
static gboolean
store_feature_field (GQuark field, const GValue * value, gpointer user_data)
{
  const gchar *name = g_quark_to_string (field);

  if (strcmp (name, "feature-size") == 0)
    return TRUE;                /* the model's input size already says it */
  gchar *key = g_strconcat ("features.", name, NULL);
  store_meta_value (user_data, key, value);
  g_free (key);
  return TRUE;
}

/* The metadata property's fields, except the keys this element owns. */
static gboolean
store_extra_field (GQuark field, const GValue * value, gpointer user_data)
{
  const gchar *key = g_quark_to_string (field);

  if (!strcmp (key, "task") || !strcmp (key, "labels") || !strcmp (key, "alphabet")
      || !strcmp (key, "negative-label") || g_str_has_prefix (key, "features.")
      || g_str_has_prefix (key, "train.")) {
    GST_WARNING ("metadata: %s is set by rnntrain itself; ignored", key);
    return TRUE;
  }
  if (!strcmp (key, "input.normalization")) {
    GST_WARNING ("metadata: %s is the model's per-sequence normalisation mode, set with the "
        "sequence-normalize property; ignored", key);
    return TRUE;
  }
  store_meta_value (user_data, key, value);
  return TRUE;
}

static void
fit_job_metadata (GstRnnTrain * self, FitJob * job, const rnn_progress * last,
    gdouble train_loss, gdouble train_acc, gdouble val_loss, gdouble val_acc)
{
  rnn_model *m = job->model;

  if (job->s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION) {
    rnn_model_set_meta_string (m, "task", "transcription");
    gchar **alphabet = g_new0 (gchar *, job->n_symbols + 2);
    alphabet[0] = g_strdup ("<blank>");
    for (gint i = 0; i < job->n_symbols; i++) {
      alphabet[i + 1] = g_new0 (gchar, 8);
      g_unichar_to_utf8 (job->symbols[i], alphabet[i + 1]);
    }
    rnn_model_set_meta_strings (m, "alphabet", (const char *const *) alphabet,
        job->n_symbols + 1);
    rnn_model_remove_meta (m, "labels");
    g_strfreev (alphabet);
  } else {
    rnn_model_set_meta_string (m, "task", "classification");
    if (job->outputs == 1 && job->n_classes == 2) {
      rnn_model_set_meta_strings (m, "labels", (const char *const *) job->classes + 1, 1);
      rnn_model_set_meta_string (m, "negative-label", job->classes[0]);
    } else {
      rnn_model_set_meta_strings (m, "labels", (const char *const *) job->classes,
          job->n_classes);
    }
    rnn_model_remove_meta (m, "alphabet");
  }

  if (self->feature_settings)
    gst_structure_foreach (self->feature_settings, store_feature_field, m);
  if (job->s.metadata)
    gst_structure_foreach (job->s.metadata, store_extra_field, m);

  GString *data = g_string_new (NULL);
  if (job->s.data_description && *job->s.data_description)
    g_string_append_printf (data, "%s; ", job->s.data_description);
  g_string_append_printf (data, "%d training and %d validation sequences, %" G_GUINT64_FORMAT
      " frames of %d features", job->n_train, job->n_val, self->total_frames,
      rnn_model_input_size (m));
  if (job->s.task == GST_RNN_TRAIN_TASK_CLASSIFICATION)
    g_string_append_printf (data, ", %d classes", job->n_classes);
  rnn_model_set_meta_string (m, "train.data", data->str);
  g_string_free (data, TRUE);
  if (job->s.command && *job->s.command)
    rnn_model_set_meta_string (m, "train.command", job->s.command);
  GDateTime *now = g_date_time_new_now_utc ();
  gchar *date = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  rnn_model_set_meta_string (m, "train.date", date);
  g_free (date);
  g_date_time_unref (now);
  if (job->s.init_model && *job->s.init_model)
    rnn_model_set_meta_string (m, "train.init-model", job->s.init_model);
  else
    rnn_model_set_meta_string (m, "train.architecture", job->s.architecture);
  rnn_model_set_meta_string (m, "train.loss-function", rnn_loss_name (job->loss));
  rnn_model_set_meta_string (m, "train.optimizer", job->s.optimizer == RNN_OPT_SGD ? "sgd" :
      "adam");
  rnn_model_set_meta_float (m, "train.learning-rate", job->s.learning_rate);
  rnn_model_set_meta_int (m, "train.batch-size", job->s.batch_size);
  rnn_model_set_meta_int (m, "train.seed", (int64_t) job->s.seed);
  rnn_model_set_meta_int (m, "train.epochs", last ? last->epoch : 0);
  rnn_model_set_meta_float (m, "train.loss", train_loss);
  rnn_model_set_meta_float (m, "train.accuracy", train_acc);
  if (job->n_val > 0) {
    rnn_model_set_meta_float (m, "train.val-loss", val_loss);
    rnn_model_set_meta_float (m, "train.val-accuracy", val_acc);
  } else {
    rnn_model_remove_meta (m, "train.val-loss");
    rnn_model_remove_meta (m, "train.val-accuracy");
  }
}

typedef struct
{
  GstRnnTrain *self;
  rnn_progress last;
  gboolean have_last;
} ProgressRelay;

static int
relay_progress (const rnn_progress * p, void *user)
{
  ProgressRelay *r = user;
  if (p->end_of_epoch) {
    r->last = *p;
    r->have_last = TRUE;
  }
  return gst_rnn_train_on_progress (p, r->self);
}

/* Fits and saves. Returns FALSE after posting an error, or when cancelled. */
static gboolean
gst_rnn_train_fit (GstRnnTrain * self)
{
  FitJob job = { 0 };
  GPtrArray *seqs = self->sequences;
  gchar err[1024] = "";
  gboolean ok = FALSE;
  gint input_size = self->feature_size;
  rnn_train_config config;
  ProgressRelay relay = { .self = self };
  gdouble train_loss = NAN, train_acc = NAN, val_loss = NAN, val_acc = NAN;
  gint rc;

  GST_OBJECT_LOCK (self);
  settings_copy (&job.s, &self->props);
  GST_OBJECT_UNLOCK (self);

  if (!job.s.output || !*job.s.output) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No output file: set the output property to "
            "the path of the model to write"), (NULL));
    goto done;
  }
  if (seqs->len == 0 || input_size <= 0) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("No training data: the stream ended without any "
            "labelled frames"), (NULL));
    goto done;
  }

  if (!fit_job_load_init (self, &job, input_size, err, sizeof (err)))
    goto settings_error;
  if (job.s.task == GST_RNN_TRAIN_TASK_TRANSCRIPTION) {
    if (!fit_job_transcripts (self, &job, seqs, err, sizeof (err)))
      goto data_error;
  } else if (!fit_job_classes (self, &job, seqs, err, sizeof (err))) {
    goto data_error;
  }
  if (!fit_job_build (self, &job, input_size, err, sizeof (err)))
    goto settings_error;
  if (!fit_job_loss (self, &job, seqs, err, sizeof (err)))
    goto settings_error;
  fit_job_split (&job, seqs);
  if (job.n_train == 0) {
    g_snprintf (err, sizeof (err), "no training sequences left after the validation split");
    goto data_error;
  }
  if (!fit_job_normalize (&job, input_size, err, sizeof (err)))
    goto settings_error;
  fit_job_config (&job, &config);
  if (rnn_train_validate (job.model, job.train, job.n_train, &config, err, sizeof (err)) != RNN_OK
      || (job.n_val > 0 && rnn_train_validate (job.model, job.val, job.n_val, &config, err,
              sizeof (err)) != RNN_OK))
    goto settings_error;

  GST_INFO_OBJECT (self, "training on %d sequences (%d for validation), %d inputs, %d outputs, "
      "loss %s", job.n_train, job.n_val, input_size, job.outputs, rnn_loss_name (job.loss));
  self->printing = job.s.progress;
  self->tty = job.s.progress && isatty (STDERR_FILENO);
  self->epoch_started_s = 0;
  self->last_print_us = 0;
  self->print_open = FALSE;

  rc = rnn_fit (job.model, job.train, job.n_train, job.n_val ? job.val : NULL, job.n_val,
      &config, relay_progress, &relay);
  if (self->print_open)
    fputc ('\n', stderr);
  if (gst_rnn_train_flushing (self)) {
    GST_INFO_OBJECT (self, "training cancelled; %s left as it was", job.s.output);
    goto done;
  }
  if (rc != RNN_OK) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED, ("Training failed: %s%s", rnn_strerror (rc),
            rc == RNN_ENUMERIC ? " (try a lower learning-rate or clip-norm)" : ""), (NULL));
    goto done;
  }

  /* metrics of the model being saved (the best epoch by validation loss) */
  rnn_evaluate (job.model, job.train, job.n_train, &config, &train_loss, &train_acc);
  if (job.n_val > 0)
    rnn_evaluate (job.model, job.val, job.n_val, &config, &val_loss, &val_acc);
  fit_job_metadata (self, &job, relay.have_last ? &relay.last : NULL, train_loss, train_acc,
      val_loss, val_acc);

  rc = rnn_model_save (job.model, job.s.output, err, sizeof (err));
  if (rc != RNN_OK) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("Could not save the model: %s", err), (NULL));
    goto done;
  }
  GST_INFO_OBJECT (self, "saved %s: loss %.4f accuracy %.4f val-loss %.4f val-accuracy %.4f",
      job.s.output, train_loss, train_acc, val_loss, val_acc);
  if (job.s.progress) {
    if (job.n_val > 0)
      fprintf (stderr, "Saved %s (accuracy %.4f, val_accuracy %.4f)\n", job.s.output,
          train_acc, val_acc);
    else
      fprintf (stderr, "Saved %s (accuracy %.4f)\n", job.s.output, train_acc);
  }
  ok = TRUE;
  goto done;

settings_error:
  GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("Cannot train: %s", err), (NULL));
  goto done;
data_error:
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot train: %s", err), (NULL));
done:
  fit_job_clear (&job, seqs->len);
  return ok;
}

/* ---------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------- */
static void
gst_rnn_train_finalize (GObject * object)
{
  GstRnnTrain *self = GST_RNN_TRAIN (object);
  settings_clear (&self->props);
  g_clear_pointer (&self->tag_label, g_free);
  g_clear_pointer (&self->tag_group, g_free);
  g_clear_pointer (&self->seq_label, g_free);
  g_clear_pointer (&self->feature_settings, gst_structure_free);
  g_array_unref (self->frames);
  g_ptr_array_unref (self->sequences);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_rnn_train_init (GstRnnTrain * self)
{
  GstRnnTrainSettings *s = &self->props;
  s->architecture = g_strdup (DEFAULT_ARCHITECTURE);
  s->epochs = DEFAULT_EPOCHS;
  s->batch_size = DEFAULT_BATCH_SIZE;
  s->optimizer = DEFAULT_OPTIMIZER;
  s->learning_rate = DEFAULT_LEARNING_RATE;
  s->schedule = DEFAULT_SCHEDULE;
  s->loss = DEFAULT_LOSS;
  s->validation_split = DEFAULT_VALIDATION_SPLIT;
  s->patience = DEFAULT_PATIENCE;
  s->seed = DEFAULT_SEED;
  s->clip_norm = DEFAULT_CLIP_NORM;
  s->weight_decay = DEFAULT_WEIGHT_DECAY;
  s->dropout = DEFAULT_DROPOUT;
  s->normalize = DEFAULT_NORMALIZE;
  s->sequence_normalize = DEFAULT_SEQUENCE_NORMALIZE;
  s->time_mask = DEFAULT_TIME_MASK;
  s->time_masks = DEFAULT_TIME_MASKS;
  s->freq_mask = DEFAULT_FREQ_MASK;
  s->freq_masks = DEFAULT_FREQ_MASKS;
  s->task = DEFAULT_TASK;
  s->progress = DEFAULT_PROGRESS;
  self->frames = g_array_new (FALSE, FALSE, sizeof (gfloat));
  self->sequences = g_ptr_array_new_with_free_func (sequence_free);
  /* frames are collected as fast as they come; nothing to render against the clock */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
  gst_base_sink_set_last_sample_enabled (GST_BASE_SINK (self), FALSE);
}

static void
gst_rnn_train_class_init (GstRnnTrainClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (rnn_train_debug, "rnntrain", 0, "RNN training sink");
  gst_rnn_register_tags ();

  gobject_class->set_property = gst_rnn_train_set_property;
  gobject_class->get_property = gst_rnn_train_get_property;
  gobject_class->finalize = gst_rnn_train_finalize;

  g_object_class_install_property (gobject_class, PROP_ARCHITECTURE,
      g_param_spec_string ("architecture", "Architecture",
          "Layers bottom-up, Keras-like: simplernn(N[,relu]) lstm(N) gru(N), 'bi' prefix for "
          "bidirectional, then dense([N][,softmax|sigmoid|linear][,last|mean]); e.g. "
          "\"gru(128) gru(128) dense(softmax)\". Ignored with init-model",
          DEFAULT_ARCHITECTURE, rw));
  g_object_class_install_property (gobject_class, PROP_EPOCHS,
      g_param_spec_int ("epochs", "Epochs", "Passes over the training data", 1, 100000,
          DEFAULT_EPOCHS, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size", "Sequences per gradient step", 1, 65536,
          DEFAULT_BATCH_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_OPTIMIZER,
      g_param_spec_enum ("optimizer", "Optimizer", "Optimizer", GST_TYPE_RNN_TRAIN_OPTIMIZER,
          DEFAULT_OPTIMIZER, rw));
  g_object_class_install_property (gobject_class, PROP_LEARNING_RATE,
      g_param_spec_double ("learning-rate", "Learning rate", "Initial learning rate", 1e-9, 10.0,
          DEFAULT_LEARNING_RATE, rw));
  g_object_class_install_property (gobject_class, PROP_SCHEDULE,
      g_param_spec_enum ("schedule", "Schedule", "Learning-rate schedule",
          GST_TYPE_RNN_TRAIN_SCHEDULE, DEFAULT_SCHEDULE, rw));
  g_object_class_install_property (gobject_class, PROP_LOSS,
      g_param_spec_enum ("loss", "Loss", "Loss function (auto: from the head and the task)",
          GST_TYPE_RNN_TRAIN_LOSS, DEFAULT_LOSS, rw));
  g_object_class_install_property (gobject_class, PROP_VALIDATION_SPLIT,
      g_param_spec_double ("validation-split", "Validation split",
          "Fraction of the sequences (or rnn-group groups) held out for validation, stratified by "
          "class, seeded; the saved model is the best epoch by validation loss", 0.0, 0.9,
          DEFAULT_VALIDATION_SPLIT, rw));
  g_object_class_install_property (gobject_class, PROP_PATIENCE,
      g_param_spec_int ("patience", "Patience",
          "Stop after this many epochs without a better validation loss (0: never)", 0, 100000,
          DEFAULT_PATIENCE, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the initial weights, the validation split, shuffling and augmentation", 0,
          G_MAXUINT64, DEFAULT_SEED, rw));
  g_object_class_install_property (gobject_class, PROP_OUTPUT,
      g_param_spec_string ("output", "Output", "Path of the model to write (atomically: an "
          "existing file is replaced only by a complete new model)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_INIT_MODEL,
      g_param_spec_string ("init-model", "Initial model",
          "Fine-tune this model (same input size) instead of building one from architecture",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_CLIP_NORM,
      g_param_spec_double ("clip-norm", "Clip norm",
          "Clip the global gradient norm to this (0: off)", 0.0, 1e6, DEFAULT_CLIP_NORM, rw));
  g_object_class_install_property (gobject_class, PROP_WEIGHT_DECAY,
      g_param_spec_double ("weight-decay", "Weight decay", "L2 weight decay", 0.0, 1.0,
          DEFAULT_WEIGHT_DECAY, rw));
  g_object_class_install_property (gobject_class, PROP_DROPOUT,
      g_param_spec_double ("dropout", "Dropout",
          "Dropout between layers and before the head, while training", 0.0, 0.95,
          DEFAULT_DROPOUT, rw));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_boolean ("normalize", "Normalize",
          "Store each input's mean and 1/std over the training frames as the model's input "
          "normalisation (an init-model keeps its own)", DEFAULT_NORMALIZE, rw));
  /**
   * GstRnnTrain:sequence-normalize:
   *
   * Make per-sequence normalisation (CMVN) part of the new model: the engine normalises each
   * input of every whole sequence by that sequence's own mean and standard deviation, in training
   * and in rnninfer (over each utterance, so a live utterance is normalised by its own frames),
   * before the stored #GstRnnTrain:normalize statistics, which are then computed over the
   * per-sequence normalised frames. Makes a model robust to gain and channel (microphone,
   * speaker) differences, at the price of streaming: rnninfer runs such a model once per
   * utterance, as a bidirectional one. Stored as the model's `input.normalization` = "sequence".
   * An init-model keeps its own mode.
   */
  g_object_class_install_property (gobject_class, PROP_SEQUENCE_NORMALIZE,
      g_param_spec_boolean ("sequence-normalize", "Sequence normalize",
          "Per-sequence normalisation (CMVN) as part of the new model: each input of a whole "
          "sequence (training sequence, or rnninfer utterance) is normalised by that sequence's "
          "own mean and standard deviation, before the normalize statistics (then computed over "
          "normalised frames); the model is then run once per utterance, not streamed (an "
          "init-model keeps its own mode)", DEFAULT_SEQUENCE_NORMALIZE, rw));
  g_object_class_install_property (gobject_class, PROP_TIME_MASK,
      g_param_spec_int ("time-mask", "Time mask",
          "SpecAugment: mask up to this many consecutive frames (0: off)", 0, 100000,
          DEFAULT_TIME_MASK, rw));
  g_object_class_install_property (gobject_class, PROP_TIME_MASKS,
      g_param_spec_int ("time-masks", "Time masks", "SpecAugment: time masks per sequence", 0,
          100, DEFAULT_TIME_MASKS, rw));
  g_object_class_install_property (gobject_class, PROP_FREQ_MASK,
      g_param_spec_int ("freq-mask", "Frequency mask",
          "SpecAugment: mask up to this many consecutive features (0: off)", 0, 100000,
          DEFAULT_FREQ_MASK, rw));
  g_object_class_install_property (gobject_class, PROP_FREQ_MASKS,
      g_param_spec_int ("freq-masks", "Frequency masks",
          "SpecAugment: frequency masks per sequence", 0, 100, DEFAULT_FREQ_MASKS, rw));
  g_object_class_install_property (gobject_class, PROP_TASK,
      g_param_spec_enum ("task", "Task", "What the labels are", GST_TYPE_RNN_TRAIN_TASK,
          DEFAULT_TASK, rw));
  g_object_class_install_property (gobject_class, PROP_ALPHABET,
      g_param_spec_string ("alphabet", "Alphabet",
          "task=transcription: the symbols, one character each (a space only if spaces are "
          "symbols); default: every character of the transcripts but the space, sorted", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Comma-separated class names in output order (default: the labels seen, sorted)", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_LABEL,
      g_param_spec_string ("label", "Label",
          "Label of data whose stream has no rnn-label or title tag; changing it ends the "
          "current sequence", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_PROGRESS,
      g_param_spec_boolean ("progress", "Progress",
          "Print a Keras-like progress line per epoch on stderr", DEFAULT_PROGRESS, rw));
  g_object_class_install_property (gobject_class, PROP_COMMAND,
      g_param_spec_string ("command", "Command",
          "The command line that trains, stored as the model's train.command", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_METADATA,
      g_param_spec_boxed ("metadata", "Metadata",
          "More metadata for the model, e.g. \"meta, infer.vad=(string)off, "
          "infer.max-utterance=(int)3000\" (ints, floats, booleans as 0/1, strings); task, "
          "labels, alphabet, features.* and train.* are the element's own", GST_TYPE_STRUCTURE,
          rw));
  g_object_class_install_property (gobject_class, PROP_DATA_DESCRIPTION,
      g_param_spec_string ("data-description", "Data description",
          "What the data is, stored in the model's train.data", NULL, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class, "RNN trainer", "Sink/Analyzer",
      "Fits a recurrent model (RNN, LSTM, GRU) to labelled sequences of feature frames",
      "gst-rnn");

  sink_class->start = GST_DEBUG_FUNCPTR (gst_rnn_train_start);
  sink_class->stop = GST_DEBUG_FUNCPTR (gst_rnn_train_stop);
  sink_class->set_caps = GST_DEBUG_FUNCPTR (gst_rnn_train_set_caps);
  sink_class->render = GST_DEBUG_FUNCPTR (gst_rnn_train_render);
  sink_class->event = GST_DEBUG_FUNCPTR (gst_rnn_train_event);

  gst_type_mark_as_plugin_api (GST_TYPE_RNN_TRAIN_TASK, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_RNN_TRAIN_LOSS, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_RNN_TRAIN_OPTIMIZER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_RNN_TRAIN_SCHEDULE, 0);
}
