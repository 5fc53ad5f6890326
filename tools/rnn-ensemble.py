#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Merges trained models into ONE model file that is exactly their ensemble.

    tools/rnn-ensemble.py [--dense] OUTPUT.rnn MEMBER.rnn MEMBER.rnn [MEMBER.rnn...]

--dense: zero-padded dense layers even when grouped layers apply (a model that can be trained
further, or read by software that predates grouped layers).

The members must be the same kind of model: the same features and labels (every `features.*`,
`labels`, `alphabet` and `task` key equal), the same number of layers with the same cell and
direction each (hidden sizes may differ), and the same head and pooling. For classification and
per-frame models the output averages the members' head logits (before the softmax or sigmoid; a
geometric mean of their probabilities), before or after mean pooling alike, since both are linear.

Transcription (CTC) members (`task` = `transcription`, or an `alphabet` without a `task`) are not
averaged: the output has a grouped head (`arch.head.groups` = the number of members,
docs/model-format.md), head k being member k's own head, weights and bias unchanged, so the merged
model outputs the members' posteriors side by side (N x the alphabet's size per frame; `alphabet`
still names one head's outputs) and a voting CTC decoder (rnn_ctc_decoder_new_voting, engine/rnn.h)
combines the members' decoded symbols. Why: CTC members put their symbol spikes on different
frames, so averaging their frames blurs each member's spikes into the others' blanks. Measured on
the digits-ctc george fold (models/README.md): the logit-averaged merge of three CTC members gave
37.9 % DER, against 18.3-19.7 % for the members alone. A grouped head needs grouped layers, so
transcription members must be equally shaped and are refused with --dense (a dense head over
block-diagonal layers would still apply one softmax across all the members' outputs).

Members may differ in per-sequence normalisation (`input.normalization`: absent or `none`, or
`sequence`). Why: members trained without it and members trained with it make different mistakes
(on unseen speakers, say), so an ensemble of both kinds can beat either kind alone. How: the output
then has `input.normalization` = `raw+sequence` (docs/model-format.md): its first layer reads each
frame twice, [x, seqnorm(x)] (2 x arch.input_size columns), and a member's layer-0 input weights
fill the columns of the view it was trained on (0 .. F-1 without per-sequence normalisation,
F .. 2F-1 with it), zeros elsewhere. A `sequence` member's stored normalisation applies after the
per-sequence one, so folding it into its columns (below) stays exact. Such a file is not
streamable and is inference-only, like any model with per-sequence normalisation. When all members
share the mode (absent and `none` are the same mode), the output is what it was before mixing was
possible, byte for byte. A member that is itself `raw+sequence` is refused: merge the models it was
made from.

Why one file and not N: rnnfeatures and rnninfer take one model, which carries its features,
labels and `infer.*` defaults; an ensemble merged this way works wherever a model works, with no
new element property. How: layer L of the output has the members' layer-L units side by side.
Its recurrent weights are block-diagonal (a member's units see only their own member's previous
state), its input weights map each member's block to that member's units of the layer below, and
the first layer takes the members' own input normalisations folded into its weights and biases
(W (x - m) s = (W diag(s)) x - W (s m)), so each member computes exactly what it computed alone.

Two encodings of that block structure:
  - grouped layers (when every member has the same hidden size at each layer): every layer has
    `groups` = the number of members (engine/rnn.h, docs/model-format.md, `arch.layer.N.groups`);
    only the blocks are stored and multiplied, so an N-member ensemble costs N times one member in
    parameters and compute. Group k is member k: its w_hh is member k's w_hh, and above layer 0
    its w_ih is member k's own w_ih (the group's slice of the layer below is member k's [fwd, bwd]
    output). Grouped models are inference-only (the engine refuses to train them).
  - dense layers (when hidden sizes differ between members): the zeros outside the blocks are
    stored and multiplied, so the recurrent and upper input weights cost N^2 times one member's.
Measured on the digits recipe's four bigru(128) x2 members (`rnn-ensemble.py` with and without
--dense, then `/usr/bin/time -f %U build/tools/rnn-model run MODEL x.f32 y.f32` over 20,000 random
frames, OPENBLAS_NUM_THREADS=1, on a busy 2-core machine): grouped 6,633,644 bytes and 1.05 s,
dense 25,507,948 bytes and 3.6 s, one member 1,660,948 bytes and 0.22 s.

The metadata is the first member's (with `input.normalization` = `raw+sequence`, first, when the
modes are mixed), except the `train.*` provenance: each member's `train.data`, `train.command`,
`train.accuracy` and `train.val_accuracy` are kept as `ensemble.<n>.*` and `ensemble.members`
lists the members' file names and sha256 prefixes.
"""

import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rnnfile  # noqa: E402

# Metadata that must agree: what the members compute from and what their outputs mean.
SHARED_PREFIXES = ("features.",)
SHARED_KEYS = ("labels", "alphabet", "task")
# Members' input normalisation modes that can be merged, with the columns of the output's layer-0
# input they read when the modes are mixed (in units of the input size): the raw frame, then its
# per-sequence normalisation.
MEMBER_NORMALIZATIONS = {"none": 0, "sequence": 1}


class EnsembleError(ValueError):
    pass


def _check_compatible(models, paths):
    first, fp = models[0], paths[0]
    for m, p in zip(models, paths):
        for n, layer in enumerate(m.layers):
            if layer.groups > 1:
                raise EnsembleError("%s: layer %d is grouped (%d groups): merge the models it was made "
                                    "from instead" % (p, n, layer.groups))
    for m, p in zip(models[1:], paths[1:]):
        def differ(what, a, b):
            raise EnsembleError("%s: %s is %r, but %r in %s" % (p, what, b, a, fp))
        if m.input_size != first.input_size:
            differ("the input size", first.input_size, m.input_size)
        if len(m.layers) != len(first.layers):
            differ("the number of layers", len(first.layers), len(m.layers))
        for n, (a, b) in enumerate(zip(first.layers, m.layers)):
            if a.cell != b.cell:
                differ("layer %d's cell" % n, a.cell, b.cell)
            if a.bidirectional != b.bidirectional:
                differ("layer %d's direction (bidirectional)" % n, a.bidirectional, b.bidirectional)
        if (m.head, m.outputs, m.pool) != (first.head, first.outputs, first.pool):
            differ("the head (kind, outputs, pooling)", (first.head, first.outputs, first.pool),
                   (m.head, m.outputs, m.pool))
        keys = set(k for k in list(first.meta) + list(m.meta)
                   if k in SHARED_KEYS or k.startswith(SHARED_PREFIXES))
        for k in sorted(keys):
            if first.meta.get(k) != m.meta.get(k):
                differ("metadata %s" % k, first.meta.get(k), m.meta.get(k))
    if first.head == "none":
        raise EnsembleError("%s: a model without a head has no logits to average" % fp)
    for m, p in zip(models, paths):
        _input_normalization(m, p)


def is_transcription(m):
    """Whether the model is a CTC transcriber (its frames' outputs are CTC posteriors)."""
    task = m.meta.get("task")
    return task == "transcription" or (task is None and "alphabet" in m.meta)


def _input_normalization(m, path):
    """The member's per-sequence normalisation mode, "none" (also when absent) or "sequence"."""
    mode = m.meta.get(rnnfile.INPUT_NORMALIZATION_KEY, "none")
    if mode == rnnfile.RAW_AND_SEQUENCE:
        raise EnsembleError("%s: metadata %s is '%s' (an ensemble of members with and without per-sequence "
                            "normalisation): merge the models it was made from instead"
                            % (path, rnnfile.INPUT_NORMALIZATION_KEY, mode))
    if not isinstance(mode, str) or mode not in MEMBER_NORMALIZATIONS:
        raise EnsembleError("%s: metadata %s is %r, it must be 'sequence' or 'none'"
                            % (path, rnnfile.INPUT_NORMALIZATION_KEY, mode))
    return mode


def _new_output(models):
    """The output model, empty, with the input normalisation mode its layer 0 is shaped by, and each
    member's first input column in layer 0: 0 unless the members' modes are mixed."""
    out = rnnfile.Model(models[0].input_size)
    modes = [_input_normalization(m, "member %d" % k) for k, m in enumerate(models)]
    if len(set(modes)) == 1:
        return out, [0] * len(models)
    out.meta[rnnfile.INPUT_NORMALIZATION_KEY] = rnnfile.RAW_AND_SEQUENCE
    return out, [MEMBER_NORMALIZATIONS[mode] * out.input_size for mode in modes]


def _folded_input_weights(m, name):
    """Layer 0's input weights and bias with the member's input normalisation folded in."""
    w = m.tensors[name + "w_ih"].astype(np.float64)
    b = m.tensors[name + "b_ih"].astype(np.float64)
    if m.norm_mean is not None:
        scale = m.norm_scale.astype(np.float64)
        b = b - w @ (scale * m.norm_mean.astype(np.float64))
        w = w * scale[None, :]
    return w, b


def _member_columns(layer, hidden, k):
    """Columns of the merged layer's output that hold member k's output ([fwd, bwd] each)."""
    start = sum(hidden[:k])
    cols = list(range(start, start + hidden[k]))
    if layer.bidirectional:
        total = sum(hidden)
        cols += list(range(total + start, total + start + hidden[k]))
    return np.array(cols)


def _same_shapes(models):
    """Whether every member has the same hidden size at each layer: grouped layers then apply."""
    return all(len(set(m.layers[n].hidden for m in models)) == 1 for n in range(len(models[0].layers)))


def _separate_heads(out, models):
    """Head k of the grouped head is member k's head, unchanged: rows k*O .. (k+1)*O-1 read group k
    of the top output, which is member k's [fwd, bwd] output, in the member's own column order."""
    o = models[0].outputs
    for k, m in enumerate(models):
        out.tensors["head.w"][k * o:(k + 1) * o] = m.tensors["head.w"]
        out.tensors["head.b"][k * o:(k + 1) * o] = m.tensors["head.b"]


def _average_heads(out, models, hidden):
    top = models[0].layers[-1]
    for k, m in enumerate(models):
        cols = _member_columns(top, hidden[-1], k)
        out.tensors["head.w"][:, cols] += m.tensors["head.w"] / len(models)
        out.tensors["head.b"] += m.tensors["head.b"] / len(models)


def merge_grouped(models):
    """The ensemble of equally shaped models as one rnnfile.Model of grouped layers (group k is
    member k); for transcription members also a grouped head (head k is member k's)."""
    first, n_members = models[0], len(models)
    hidden = [[m.layers[n].hidden for m in models] for n in range(len(first.layers))]
    separate = is_transcription(first)
    out, first_column = _new_output(models)
    for n, layer in enumerate(first.layers):
        out.add_layer(layer.cell, n_members * layer.hidden, layer.bidirectional, groups=n_members)
    if separate:
        out.set_head(first.head, n_members * first.outputs, first.pool, groups=n_members)
    else:
        out.set_head(first.head, first.outputs, first.pool)
    out.init_zeros()
    for n, layer in enumerate(first.layers):
        gates, h, total = layer.gates, layer.hidden, n_members * layer.hidden
        for d in ("fwd", "bwd") if layer.bidirectional else ("fwd",):
            name = "layer%d.%s." % (n, d)
            for k, m in enumerate(models):
                if n == 0:  # layer 0 reads the whole input: member k's view of it
                    mw_ih, mb_ih = _folded_input_weights(m, name)
                    in_cols = slice(first_column[k], first_column[k] + first.input_size)
                else:  # the group's slice of the layer below, member k's own output
                    mw_ih, mb_ih = m.tensors[name + "w_ih"], m.tensors[name + "b_ih"]
                    in_cols = slice(None)
                for g in range(gates):  # gate blocks of `total` rows; member k's rows in each
                    rows = slice(g * total + k * h, g * total + (k + 1) * h)
                    src = slice(g * h, (g + 1) * h)
                    out.tensors[name + "w_ih"][rows, in_cols] = mw_ih[src]
                    out.tensors[name + "w_hh"][rows] = m.tensors[name + "w_hh"][src]
                    out.tensors[name + "b_ih"][rows] = mb_ih[src]
                    out.tensors[name + "b_hh"][rows] = m.tensors[name + "b_hh"][src]
    if separate:
        _separate_heads(out, models)
    else:
        _average_heads(out, models, hidden)
    return out


def merge(models):
    """The ensemble of models (rnnfile.Model, already checked compatible) as one rnnfile.Model:
    grouped layers when the members are equally shaped, zero-padded dense layers otherwise."""
    if _same_shapes(models):
        return merge_grouped(models)
    return merge_dense(models)


def merge_dense(models):
    """The ensemble as one rnnfile.Model of dense layers with block-diagonal (zero-padded) weights.
    Not for transcription members: their heads must stay separate, which needs grouped layers."""
    first = models[0]
    if is_transcription(first):
        if _same_shapes(models):
            why = "--dense cannot keep them apart: merge without --dense"
        else:
            sizes = ["[%s]" % ", ".join(str(la.hidden) for la in m.layers) for m in models]
            why = "but the members' hidden sizes differ (%s): merge equally shaped members" % ", ".join(sizes)
        raise EnsembleError("transcription (CTC) members keep separate heads (a grouped head), which needs "
                            "grouped layers; %s" % why)
    hidden = [[m.layers[n].hidden for m in models] for n in range(len(first.layers))]
    out, first_column = _new_output(models)
    for n, layer in enumerate(first.layers):
        out.add_layer(layer.cell, sum(hidden[n]), layer.bidirectional)
    out.set_head(first.head, first.outputs, first.pool)
    out.init_zeros()
    for n, layer in enumerate(first.layers):
        gates, total = layer.gates, sum(hidden[n])
        for d in ("fwd", "bwd") if layer.bidirectional else ("fwd",):
            name = "layer%d.%s." % (n, d)
            w_ih, w_hh = out.tensors[name + "w_ih"], out.tensors[name + "w_hh"]
            b_ih, b_hh = out.tensors[name + "b_ih"], out.tensors[name + "b_hh"]
            for k, m in enumerate(models):
                h, start = hidden[n][k], sum(hidden[n][:k])
                if n == 0:
                    mw_ih, mb_ih = _folded_input_weights(m, name)
                    in_cols = first_column[k] + np.arange(first.input_size)
                else:
                    mw_ih, mb_ih = m.tensors[name + "w_ih"], m.tensors[name + "b_ih"]
                    in_cols = _member_columns(first.layers[n - 1], hidden[n - 1], k)
                for g in range(gates):  # PyTorch layout: gate blocks of `hidden` rows each
                    rows = np.arange(g * total + start, g * total + start + h)
                    src = slice(g * h, (g + 1) * h)
                    w_ih[np.ix_(rows, in_cols)] = mw_ih[src]
                    w_hh[np.ix_(rows, np.arange(start, start + h))] = m.tensors[name + "w_hh"][src]
                    b_ih[rows] = mb_ih[src]
                    b_hh[rows] = m.tensors[name + "b_hh"][src]
    _average_heads(out, models, hidden)
    return out


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(argv):
    command = " ".join(["tools/rnn-ensemble.py"] + argv[1:])
    dense = "--dense" in argv[1:]
    argv = [a for a in argv if a != "--dense"]
    if len(argv) < 4 or argv[1].startswith("-"):
        print("usage: rnn-ensemble.py [--dense] OUTPUT.rnn MEMBER.rnn MEMBER.rnn [MEMBER.rnn...]",
              file=sys.stderr)
        return 2
    output, paths = argv[1], argv[2:]
    try:
        if os.path.abspath(output) in (os.path.abspath(p) for p in paths):
            raise EnsembleError("%s: the output must not be one of the members" % output)
        models = [rnnfile.read(p) for p in paths]
        _check_compatible(models, paths)
        merged = merge_dense(models) if dense else merge(models)
    except (OSError, rnnfile.FormatError, EnsembleError) as e:
        print("rnn-ensemble: error: %s" % e, file=sys.stderr)
        return 1
    # The mode the merge chose (mixed members: "raw+sequence") first, as the engine writes it.
    meta = dict(merged.meta)
    meta.update((k, v) for k, v in models[0].meta.items()
                if not k.startswith(("train.", "ensemble.")) and k not in merged.meta)
    members = []
    for n, (m, p) in enumerate(zip(models, paths)):
        members.append("%s sha256:%s" % (os.path.basename(p), _sha256(p)[:16]))
        for key in ("data", "command", "accuracy", "val_accuracy", "date"):
            if "train." + key in m.meta:
                meta["ensemble.%d.%s" % (n, key)] = m.meta["train." + key]
    meta["ensemble.members"] = members
    meta["ensemble.command"] = command
    merged.meta = meta
    try:
        rnnfile.write(merged, output)
    except (OSError, rnnfile.FormatError) as e:
        print("rnn-ensemble: error: %s: %s" % (output, e), file=sys.stderr)
        return 1
    grouped = merged.layers[0].groups > 1
    print("%s: ensemble of %d models, %d parameters (%s layers%s)"
          % (output, len(models), merged.num_params(), "grouped" if grouped else "dense",
             ", %d heads side by side" % merged.head_groups if merged.head_groups > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
