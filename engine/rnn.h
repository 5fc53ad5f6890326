/* gst-rnn recurrent engine: public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * C11, libm and a BLAS only: no GStreamer, no GLib.
 *
 * Two objects, as in RNNoise:
 *   rnn_model  architecture + weights + metadata. Built (or loaded) once, then shared read-only by
 *              any number of threads; reference counted.
 *   rnn_state  the per-stream recurrent state (h, and c for LSTM) of one stream. Small, owned by one
 *              thread at a time.
 *
 * Conventions
 *   - Frames are row-major float32: a sequence of T frames of I inputs is T*I floats.
 *   - Weights follow PyTorch's layout and gate order so that imported modules need no reshuffling:
 *       simple RNN  G = 1
 *       LSTM        G = 4, gates i, f, g, o
 *       GRU         G = 3, gates r, z, n
 *     per layer and direction: w_ih [G*H][in], w_hh [G*H][H], b_ih [G*H], b_hh [G*H].
 *   - A bidirectional layer outputs [forward H | backward H] per frame, as PyTorch does.
 *   - The optional dense head maps each frame's top-layer output (D values) to O outputs:
 *     w [O][D], b [O], then the head's activation.
 *   - Every trainable parameter lives in one contiguous float vector (rnn_model_params); named
 *     tensors are views into it. Gradients and optimizer moments use the same layout.
 *   - Functions that can fail return 0 on success and a negative RNN_E* code otherwise; functions
 *     that take (char *err, size_t errlen) also write a message naming the problem.
 */
#ifndef GST_RNN_ENGINE_RNN_H
#define GST_RNN_ENGINE_RNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------- */
enum {
  RNN_OK = 0,
  RNN_EINVAL = -1,  /* an argument is out of range or inconsistent */
  RNN_ENOMEM = -2,  /* allocation failed */
  RNN_EIO = -3,     /* reading or writing a file failed */
  RNN_EFORMAT = -4, /* a model file is damaged or not a model file */
  RNN_ESTATE = -5,  /* the operation does not apply to this model (e.g. streaming a bidirectional one) */
  RNN_ENUMERIC = -6 /* a NaN or Inf appeared (loss, gradient or input) */
};
const char *rnn_strerror(int code);

/* Sets the BLAS library's own thread pool (OpenBLAS) to n threads and returns the previous count,
 * or 0 (and does nothing) when the BLAS has no such control or n < 1. Process-wide. Inference
 * products are small (one utterance or chunk), so extra BLAS threads mostly spin and take CPU from
 * the rest of the application: the GStreamer plugin sets 1 when it loads unless the user chose
 * (OPENBLAS_NUM_THREADS); training always runs the BLAS single-threaded beside its own threads. */
int rnn_blas_set_threads(int n);

/* ---------------------------------------------------------------------------------------------
 * Architecture
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RNN_CELL_RNN_TANH = 0,
  RNN_CELL_RNN_RELU = 1,
  RNN_CELL_LSTM = 2,
  RNN_CELL_GRU = 3,             /* reset gate applied after the recurrent product (PyTorch, Keras default) */
  RNN_CELL_GRU_RESET_BEFORE = 4 /* reset gate applied to h before the product (Cho et al. 2014) */
} rnn_cell_kind;

typedef enum {
  RNN_HEAD_NONE = 0, /* the output is the top layer's hidden output */
  RNN_HEAD_LINEAR = 1,
  RNN_HEAD_SIGMOID = 2,
  RNN_HEAD_SOFTMAX = 3
} rnn_head_kind;

/* How a whole sequence becomes one output (classification, per-sequence losses). The head is
 * affine before its activation, so pooling is applied to the head's logits. */
typedef enum {
  RNN_POOL_LAST = 0, /* the last frame (forward) / first frame (backward half of a bidirectional top) */
  RNN_POOL_MEAN = 1  /* the mean over frames */
} rnn_pool_kind;

/* Names used in model files and specs: "rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before";
 * "none", "linear", "sigmoid", "softmax"; "last", "mean". Parsers return -1 for unknown names. */
const char *rnn_cell_name(rnn_cell_kind k);
int rnn_cell_from_name(const char *name);
const char *rnn_head_name(rnn_head_kind k);
int rnn_head_from_name(const char *name);
const char *rnn_pool_name(rnn_pool_kind k);
int rnn_pool_from_name(const char *name);
int rnn_cell_gates(rnn_cell_kind k); /* G: 1, 4 or 3 */

typedef struct rnn_model rnn_model;

/* Building. A new model has no layers; add layers bottom-up, then an optional head, then
 * rnn_model_finalize() allocates the parameter vector (zeros). Weights are then set with
 * rnn_model_init_weights() or by writing into tensors. After finalize the architecture is fixed. */
rnn_model *rnn_model_new(int input_size);
int rnn_model_add_layer(rnn_model *m, rnn_cell_kind cell, int hidden_size, int bidirectional);
int rnn_model_set_head(rnn_model *m, rnn_head_kind head, int outputs, rnn_pool_kind pool);
int rnn_model_finalize(rnn_model *m);
/* Grouped layers (G-LSTM style, Kuchaiev & Ginsburg 2017), inference only. A layer with g groups
 * splits its H units into g groups of H/g consecutive units (group j: units j*H/g .. (j+1)*H/g-1).
 * Group j's recurrent weights see only group j's previous state; in a layer above layer 0 group j's
 * input weights see only group j's part of the layer below's output (for a bidirectional layer
 * below: group j's forward units, then group j's backward units). Layer 0's groups all read the
 * whole input. This is exactly a block-diagonal dense layer without the stored zeros: an ensemble
 * of g equally shaped models side by side (tools/rnn-ensemble.py).
 * Tensor layout of a grouped layer (per direction; rows as in a dense layer: gate-major, row r of
 * gate block q is unit r - q*H, in group (r - q*H) / (H/g)):
 *   w_hh [G*H][H/g]         columns: the H/g units of the row's own group
 *   w_ih [G*H][IN]          layer 0: unchanged, the whole input
 *   w_ih [G*H][D_below/g]   layer > 0: the row's group's slice of the layer below's output,
 *                           [fwd units of group j | bwd units of group j] (bwd only if bidirectional)
 *   b_ih, b_hh [G*H]        unchanged
 * Set after rnn_model_add_layer and before rnn_model_finalize, bottom-up: groups must divide the
 * layer's hidden size, and a layer > 0 with groups > 1 needs the layer below to have the same
 * groups (RNN_EINVAL otherwise; RNN_ESTATE after finalize). rnn_model_finalize refuses
 * (RNN_EINVAL) a layer above a grouped layer that is not grouped the same way; the head stays
 * dense over the whole top output. The training functions refuse a grouped model (RNN_ESTATE,
 * "grouped layers are inference-only"). Stored as "arch.layer.N.groups" (docs/model-format.md). */
int rnn_model_set_layer_groups(rnn_model *m, int layer, int groups);
int rnn_model_layer_groups(const rnn_model *m, int layer); /* 1 for a dense layer; 0 for a bad index */
/* Grouped head, inference only: the head splits into g heads side by side, head j reading only
 * group j of the top layer's output (as a grouped layer above reads it) and writing outputs
 * j*O/g .. (j+1)*O/g-1; the activation (softmax, sigmoid) applies to each head's O/g outputs on
 * its own. The model's outputs are then g members' outputs side by side, not their average: what
 * an ensemble of CTC transcribers needs, whose members place their symbol spikes on different
 * frames, so that averaging their frames blurs the spikes (rnn_ctc_decoder_new_voting combines
 * their decoded symbols instead). head.w is [O][D/g]: row r reads group r / (O/g)'s slice of the
 * top output, [fwd units of the group | bwd units of the group]. Set after rnn_model_set_head and
 * the top layer's groups, before finalize: g must divide O, the head must not be none and the top
 * layer must have g groups (RNN_EINVAL otherwise; RNN_ESTATE after finalize). Stored as
 * "arch.head.groups" (docs/model-format.md). */
int rnn_model_set_head_groups(rnn_model *m, int groups);
int rnn_model_head_groups(const rnn_model *m); /* 1 for a dense head (or none) */

/* PyTorch's default init (uniform +-1/sqrt(H)) for cells, Glorot-uniform for the head; seeded. */
void rnn_model_init_weights(rnn_model *m, uint64_t seed);

/* A deep copy (parameters, normalisation and metadata); refcount 1. */
rnn_model *rnn_model_clone(const rnn_model *m);

/* Reference counting (atomic: safe across threads). rnn_model_new/load/clone return refcount 1. */
rnn_model *rnn_model_ref(rnn_model *m);
void rnn_model_unref(rnn_model *m);

/* Queries. */
int rnn_model_input_size(const rnn_model *m);
int rnn_model_output_size(const rnn_model *m); /* O with a head, else D of the top layer */
int rnn_model_num_layers(const rnn_model *m);
rnn_cell_kind rnn_model_layer_cell(const rnn_model *m, int layer);
int rnn_model_layer_hidden(const rnn_model *m, int layer);
int rnn_model_layer_bidirectional(const rnn_model *m, int layer);
rnn_head_kind rnn_model_head(const rnn_model *m);
rnn_pool_kind rnn_model_pool(const rnn_model *m);
int rnn_model_streamable(const rnn_model *m); /* 1 when no layer is bidirectional and no
                                                  per-sequence normalisation (below) */

/* Parameters: one contiguous vector; named tensors are views.
 * Tensor names: "layer{L}.{fwd|bwd}.{w_ih|w_hh|b_ih|b_hh}", "head.w", "head.b". */
float *rnn_model_params(rnn_model *m);
const float *rnn_model_params_const(const rnn_model *m);
size_t rnn_model_num_params(const rnn_model *m);
int rnn_model_num_tensors(const rnn_model *m);
/* i-th tensor: name, shape (ndim <= 2; dims[1] = 1 for vectors), offset into params. */
int rnn_model_tensor_info(const rnn_model *m, int i, const char **name, int *ndim, int dims[2],
                          size_t *offset);
float *rnn_model_tensor(rnn_model *m, const char *name, size_t *count);

/* Input normalisation applied by the engine before the first layer: x' = (x - mean) * scale.
 * Not trainable, stored in the file; absent by default. Pass NULL to remove. */
int rnn_model_set_normalization(rnn_model *m, const float *mean, const float *scale);
int rnn_model_normalization(const rnn_model *m, const float **mean, const float **scale);

/* Per-sequence normalisation (CMVN), a property of the model, applied by the engine to every whole
 * sequence it runs (rnn_forward_*, training and validation sequences in rnn_fit and the other
 * training functions) BEFORE the stored normalisation above: each input dimension i of a
 * sequence of T frames becomes
 *     x'[t][i] = (x[t][i] - mu[i]) / sqrt(var[i] + RNN_SEQUENCE_NORM_EPS)
 * with mu and var the mean and the biased (divide by T) variance of that dimension over the
 * sequence's own T frames (computed in double). A constant dimension, and so any length-1
 * sequence, gives 0. Training and inference see exactly the same inputs, and a sequence is
 * normalised by its own frames only (no padding, no frames of other sequences).
 * Such a model is not streamable: rnn_model_streamable() returns 0 and rnn_state_new() returns
 * NULL, since one frame at a time cannot know the statistics of the whole sequence.
 * Stored in the file as the metadata key "input.normalization" = "sequence" (docs/model-format.md).
 * Off by default. */
#define RNN_SEQUENCE_NORM_EPS 1e-5
/* The modes. RNN_SEQUENCE_NORM_APPEND ("raw+sequence" in the file) gives the first layer BOTH
 * views of each frame: the 2 x input_size vector [x[t], x'[t]] (the features as they are, then
 * their per-sequence normalisation above). It exists for ensembles (tools/rnn-ensemble.py) of
 * members trained with and without per-sequence normalisation: each member's layer-0 weights read
 * their own half. Layer 0's w_ih has 2 x input_size columns; everything else (rnn_model_input_size,
 * the frames callers pass) stays input_size. Such a model has no stored normalisation (fold it into
 * layer 0's weights: rnn_model_set_normalization refuses it, and this mode refuses a model that
 * has one), is not streamable, and is inference-only (the training functions refuse it,
 * RNN_ESTATE). Switching to or from it changes layer 0's shape: only before rnn_model_finalize
 * (RNN_ESTATE after). */
enum { RNN_SEQUENCE_NORM_OFF = 0, RNN_SEQUENCE_NORM_ON = 1, RNN_SEQUENCE_NORM_APPEND = 2 };
int rnn_model_set_sequence_normalization(rnn_model *m, int mode);
int rnn_model_sequence_normalization(const rnn_model *m); /* the mode: 0 when off */
/* The per-sequence normalisation above alone (without the stored normalisation), exactly as the
 * engine computes it: T frames of n inputs from x into out (out may be x). For callers that need
 * statistics of what the model's first layer sees, e.g. the global mean and scale of a new model
 * computed over per-sequence normalised training data. */
int rnn_normalize_sequence(const float *x, int T, int n, float *out);

/* Typed metadata: key -> string | int | float | list of strings. Setting a key replaces it.
 * Well-known keys (docs/model-format.md):
 *   "task"                "classification" | "transcription" | "sequence"
 *   "labels"              strings: class names, in output order
 *   "alphabet"            strings: CTC symbols, index 0 is the blank
 *   "features.<name>"     one per rnnfeatures property, named as the property, typed as it is
 *                         (int, float, boolean as int 0/1, enum as its nick string)
 *   "train.*"             provenance and metrics: data, command, date, epochs, accuracy, ...
 *   "input.normalization" reserved to the format: the per-sequence normalisation mode (below) is
 *                         written and read under this key; the setters refuse it (RNN_EINVAL). */
typedef enum { RNN_META_STRING = 1, RNN_META_INT = 2, RNN_META_FLOAT = 3, RNN_META_STRINGS = 4 } rnn_meta_type;
int rnn_model_set_meta_string(rnn_model *m, const char *key, const char *value);
int rnn_model_set_meta_int(rnn_model *m, const char *key, int64_t value);
int rnn_model_set_meta_float(rnn_model *m, const char *key, double value);
int rnn_model_set_meta_strings(rnn_model *m, const char *key, const char *const *values, int n);
int rnn_model_remove_meta(rnn_model *m, const char *key);
/* Getters return 1 when the key exists with that type, 0 otherwise. */
int rnn_model_meta_string(const rnn_model *m, const char *key, const char **value);
int rnn_model_meta_int(const rnn_model *m, const char *key, int64_t *value);
int rnn_model_meta_float(const rnn_model *m, const char *key, double *value);
int rnn_model_meta_strings(const rnn_model *m, const char *key, const char *const **values, int *n);
/* Enumeration, in insertion order. */
int rnn_model_meta_count(const rnn_model *m);
int rnn_model_meta_at(const rnn_model *m, int i, const char **key, rnn_meta_type *type);

/* ---------------------------------------------------------------------------------------------
 * Model files (.rnn, docs/model-format.md)
 * ------------------------------------------------------------------------------------------- */
/* Validates everything (magic, version, sizes, offsets, shapes against the architecture, checksum);
 * on failure returns NULL and writes a message naming the file and what is wrong. */
rnn_model *rnn_model_load(const char *path, char *err, size_t errlen);
rnn_model *rnn_model_load_memory(const void *data, size_t size, char *err, size_t errlen);
/* Atomic: writes PATH.tmp.XXXXXX, fsyncs, renames over PATH. An existing PATH survives any failure. */
int rnn_model_save(const rnn_model *m, const char *path, char *err, size_t errlen);
/* Serialises into a malloc'd buffer (caller frees). */
int rnn_model_save_memory(const rnn_model *m, void **data, size_t *size);

/* ---------------------------------------------------------------------------------------------
 * Inference
 * ------------------------------------------------------------------------------------------- */
typedef struct rnn_state rnn_state;

/* Streaming state for a streamable model; NULL for a bidirectional model or one with per-sequence
 * normalisation. The state keeps a reference to the model. */
rnn_state *rnn_state_new(const rnn_model *m);
void rnn_state_free(rnn_state *s);
void rnn_state_reset(rnn_state *s);
int rnn_state_copy(rnn_state *dst, const rnn_state *src); /* same model */
size_t rnn_state_size(const rnn_state *s);                  /* floats needed by save/restore */
void rnn_state_save(const rnn_state *s, float *out);
void rnn_state_restore(rnn_state *s, const float *in);

/* One frame in (input_size floats), one frame out (output_size floats, head applied). The returned
 * pointer is owned by the state and valid until the next call. No allocation. */
const float *rnn_step(rnn_state *s, const float *frame);

/* A whole sequence, any model (bidirectional too). out: T x output_size per-frame outputs.
 * Uses the batched path (input projection of all frames as one GEMM). */
int rnn_forward_sequence(const rnn_model *m, const float *x, int T, float *out);

/* Pooled per-sequence output (output_size floats): pooling then head activation. */
int rnn_forward_pooled(const rnn_model *m, const float *x, int T, float *out);

/* A batch of sequences of different lengths: xs[b] has lengths[b] frames; outs[b] receives
 * lengths[b] x output_size. */
int rnn_forward_batch(const rnn_model *m, const float *const *xs, const int *lengths, int batch,
                      float *const *outs);

/* ---------------------------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RNN_LOSS_CE = 0,       /* softmax cross-entropy per sequence (pooled output, example.label) */
  RNN_LOSS_CE_FRAME = 1, /* softmax cross-entropy per frame (example.frame_labels) */
  RNN_LOSS_BCE = 2,      /* binary cross-entropy on sigmoid outputs (example.target) */
  RNN_LOSS_MSE = 3,      /* mean squared error (example.target) */
  RNN_LOSS_CTC = 4       /* CTC (example.tokens), blank = 0, on per-frame softmax outputs */
} rnn_loss_kind;
const char *rnn_loss_name(rnn_loss_kind k); /* "ce", "ce_frame", "bce", "mse", "ctc" */
int rnn_loss_from_name(const char *name);

typedef enum { RNN_OPT_ADAM = 0, RNN_OPT_SGD = 1 } rnn_optim_kind;      /* "adam", "sgd" */
typedef enum {
  RNN_SCHED_CONSTANT = 0, /* "constant" */
  RNN_SCHED_STEP = 1,     /* "step": lr *= gamma every step_epochs */
  RNN_SCHED_COSINE = 2,   /* "cosine": cosine decay to lr*min_factor over the epochs */
  RNN_SCHED_PLATEAU = 3   /* "plateau": lr *= gamma after step_epochs epochs without val improvement */
} rnn_sched_kind;

typedef struct {
  const float *x; /* T x input_size frames */
  int T;
  int label;                /* RNN_LOSS_CE: class index */
  const int *frame_labels;  /* RNN_LOSS_CE_FRAME: T class indices */
  const float *target;      /* RNN_LOSS_BCE / MSE: output_size values (per sequence) or
                               T x output_size (when config.per_frame) */
  const int *tokens;        /* RNN_LOSS_CTC: symbols 1..O-1 */
  int n_tokens;
} rnn_example;

typedef struct {
  rnn_loss_kind loss;
  int per_frame; /* BCE/MSE targets are per frame */
  rnn_optim_kind optimizer;
  float learning_rate;
  float beta1, beta2, epsilon; /* Adam */
  float momentum;              /* SGD */
  float weight_decay;          /* L2, added to the gradient */
  float clip_norm;             /* global gradient norm clip; 0 = off */
  float dropout;               /* between layers (and before the head), training only */
  rnn_sched_kind schedule;
  float gamma;       /* step/plateau factor */
  int step_epochs;   /* step/plateau period */
  float min_factor;  /* cosine floor */
  int batch_size;
  int epochs;
  int patience;      /* early stopping on val loss; 0 = off */
  int tbptt;         /* truncated BPTT chunk in frames (state carried across chunks); 0 = whole */
  int time_mask, time_masks;  /* SpecAugment: up to time_mask frames, time_masks times */
  int freq_mask, freq_masks;  /* SpecAugment: up to freq_mask inputs, freq_masks times */
  uint64_t seed;
  int threads;       /* 0 = all cores */
} rnn_train_config;

/* Sensible defaults: CE, Adam(1e-3, 0.9, 0.999, 1e-8), clip 5, batch 32, 10 epochs, seed 1. */
void rnn_train_config_init(rnn_train_config *c);

/* Loss of a set of examples, and the gradient of the mean loss w.r.t. every parameter
 * (grad: rnn_model_num_params floats, overwritten; may be NULL). Dropout and augmentation off.
 * The mean is over loss terms: sequences for CE, BCE, MSE (per sequence) and CTC; frames for
 * CE_FRAME and per-frame BCE/MSE (as PyTorch's 'mean' over flattened frames). BCE and MSE average
 * over the outputs; CTC is -log p per sequence (PyTorch's 'sum' divided by the sequences).
 * With config.tbptt the gradient is the truncated one (state carried, gradients cut at chunk
 * borders); the loss is unchanged. */
int rnn_loss_and_grad(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                      double *loss, float *grad);

/* Loss and accuracy over a set (accuracy: argmax vs label for CE, per frame for CE_FRAME, threshold
 * 0.5 for BCE, 1 - token error rate (greedy decode) for CTC, 0 for MSE). */
int rnn_evaluate(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                 double *loss, double *accuracy);

/* The checks the training functions make (config ranges, loss vs head, each example's labels,
 * targets and tokens, CTC lengths, tbptt restrictions), with a message naming the example, field
 * and value. Returns 0, RNN_EINVAL, or RNN_ESTATE for a model no training function takes (grouped
 * layers, input.normalization = raw+sequence). */
int rnn_train_validate(const rnn_model *m, const rnn_example *ex, int n, const rnn_train_config *c,
                       char *err, size_t errlen);

typedef struct {
  int epoch, epochs;        /* 1-based epoch just finished (or running, for batch updates) */
  int batch, batches;       /* batch progress inside the epoch */
  double loss, accuracy;    /* training figures of the epoch so far */
  double val_loss, val_accuracy; /* NaN when there is no validation set */
  double learning_rate;
  double elapsed_s, remaining_s;
  int end_of_epoch;         /* 1 on the per-epoch report, 0 on per-batch reports */
  int improved;             /* end of epoch: this epoch is the best so far */
} rnn_progress;
/* Return nonzero to stop training (after the current batch). */
typedef int (*rnn_progress_fn)(const rnn_progress *p, void *user);

/* Fits m in place. With a validation set, m ends with the parameters of the best epoch by val loss
 * (early stopping by config.patience). Uses config.threads cores. */
int rnn_fit(rnn_model *m, const rnn_example *train, int n_train, const rnn_example *val, int n_val,
            const rnn_train_config *c, rnn_progress_fn progress, void *user);

/* ---------------------------------------------------------------------------------------------
 * CTC decoding (for transcription models; per-frame posteriors, blank = 0)
 * ------------------------------------------------------------------------------------------- */
/* Greedy: best symbol per frame, merge repeats, drop blanks. Writes up to max_out symbols and
 * their frame spans; returns the count. Streaming use: see rnn_ctc_decoder. */
typedef struct {
  int symbol;
  int start_frame, end_frame; /* inclusive first, exclusive last frame where the symbol is emitted */
  float confidence;           /* mean posterior of the symbol over its frames */
} rnn_ctc_token;

typedef struct rnn_ctc_decoder rnn_ctc_decoder;
/* beam_width 1 = greedy. */
rnn_ctc_decoder *rnn_ctc_decoder_new(int num_symbols, int beam_width);
void rnn_ctc_decoder_free(rnn_ctc_decoder *d);
void rnn_ctc_decoder_reset(rnn_ctc_decoder *d);
/* Feed one frame of posteriors (softmax outputs, num_symbols). No allocation. */
void rnn_ctc_decoder_push(rnn_ctc_decoder *d, const float *posteriors);
/* Current best hypothesis; returns the count (<= max), tokens with spans and confidences. */
int rnn_ctc_decoder_best(const rnn_ctc_decoder *d, rnn_ctc_token *tokens, int max,
                         double *log_prob);

/* Voting over the members of an ensemble of transcribers (a model with a grouped head: each frame
 * is `members` posterior vectors of num_symbols side by side). Each member is decoded on its own
 * (beam_width as above); rnn_ctc_decoder_best then combines their best hypotheses position by
 * position, ROVER-style without time alignment, since CTC members of one recipe nearly always
 * agree on how many symbols were said and disagree on which:
 *   1. the length said by most members wins (a tie: the first member's among the tied lengths);
 *   2. each member of that length describes its i-th symbol by its mean posteriors over the
 *      symbol's frames, renormalised over the non-blank symbols; the sum of these descriptions
 *      over the members names the i-th symbol (a tie: the first such member's symbol);
 *   3. its span is the union of those members' spans, its confidence the members' mean posterior
 *      of the chosen symbol over their spans; log_prob is the first chosen member's.
 * max_frames frames of posteriors are kept for steps 2 and 3 (allocated here: push never
 * allocates); a symbol past them votes for itself alone, with its own confidence. Streaming users
 * reset at each utterance. rnn_ctc_decoder_push/best/reset/free work on it as on any decoder; best
 * uses scratch memory inside the decoder, so one decoder is not for two threads at once. NULL on a
 * bad argument (members outside 1..256, max_frames < 1, or as rnn_ctc_decoder_new) or out of
 * memory; members == 1 gives a plain decoder. */
rnn_ctc_decoder *rnn_ctc_decoder_new_voting(int num_symbols, int beam_width, int members,
                                            int max_frames);

#ifdef __cplusplus
}
#endif
#endif
