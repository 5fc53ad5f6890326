#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Imports a PyTorch recurrent module into a gst-rnn model file.

    tools/import_torch.py IN.pt OUT.rnn

IN.pt is `torch.save()` of an `nn.LSTM`, `nn.GRU` or `nn.RNN` (tanh or relu): any number of layers,
bidirectional or not, batch_first or not (batch_first changes only the tensor layout of calls, not
the weights). The model has no head: its per-frame output is the top layer's hidden output, forward
then backward half for a bidirectional top layer, exactly what the module returns as `output`.

The engine uses PyTorch's gate order and weight layout, so weights are copied as they are.
Not supported (an error naming the setting): LSTM `proj_size` > 0. `bias=False` imports zero
biases (the same function); `dropout` is a training-time setting and is ignored (with a note).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rnnfile  # noqa: E402

MODES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}


class UnsupportedModule(Exception):
    """A module this importer cannot convert; the message names the file and the setting."""


def module_to_model(module, source="<module>", notes=None):
    """Converts an nn.LSTM / nn.GRU / nn.RNN into an rnnfile.Model (no head)."""
    import numpy as np
    import torch

    notes = notes if notes is not None else []
    if not isinstance(module, torch.nn.RNNBase):
        what = type(module).__module__ + "." + type(module).__qualname__
        hint = ""
        if isinstance(module, dict):
            hint = " (a state_dict: save the module itself, torch.save(module, path))"
        elif isinstance(module, torch.nn.RNNCellBase):
            hint = " (a single cell: wrap it as an nn.LSTM/nn.GRU/nn.RNN with the same weights)"
        raise UnsupportedModule("%s holds a %s, not an nn.LSTM, nn.GRU or nn.RNN%s" % (source, what, hint))
    mode = getattr(module, "mode", None)
    if mode not in MODES:
        raise UnsupportedModule("%s: recurrent mode '%s' is not supported (LSTM, GRU, RNN_TANH, RNN_RELU are)"
                           % (source, mode))
    proj = getattr(module, "proj_size", 0) or 0
    if proj > 0:
        raise UnsupportedModule("%s: nn.LSTM with proj_size=%d (projected hidden state) is not supported by "
                           "the engine; retrain with proj_size=0" % (source, proj))
    cell = MODES[mode]
    layers, hidden, bidi = module.num_layers, module.hidden_size, bool(module.bidirectional)
    if layers > rnnfile.MAX_LAYERS:
        raise UnsupportedModule("%s: %d layers, the format holds at most %d" % (source, layers, rnnfile.MAX_LAYERS))
    if hidden > rnnfile.MAX_SIZE or module.input_size > rnnfile.MAX_SIZE:
        raise UnsupportedModule("%s: input_size %d / hidden_size %d: the format allows at most %d"
                           % (source, module.input_size, hidden, rnnfile.MAX_SIZE))
    if module.dropout:
        notes.append("dropout=%g between layers is a training-time setting: ignored (inference has none)"
                     % module.dropout)
    if not module.bias:
        notes.append("bias=False: importing zero biases (the same function)")

    model = rnnfile.Model(module.input_size)
    for _ in range(layers):
        model.add_layer(cell, hidden, bidi)
    params = dict(module.named_parameters())
    for n in range(layers):
        for d, suffix in (("fwd", ""), ("bwd", "_reverse"))[: 2 if bidi else 1]:
            for ours, theirs in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"),
                                 ("b_hh", "bias_hh")):
                name = "layer%d.%s.%s" % (n, d, ours)
                key = "%s_l%d%s" % (theirs, n, suffix)
                shape = dict(model.tensor_shapes())[name]
                if key in params:
                    t = params[key].detach().to("cpu")
                    if t.dtype != torch.float32:
                        notes.append("%s is %s: converted to float32" % (key, t.dtype))
                    a = t.float().numpy().astype(np.float32)
                elif ours.startswith("b_") and not module.bias:
                    a = np.zeros(shape, dtype=np.float32)
                else:
                    raise UnsupportedModule("%s: parameter '%s' is missing from the module" % (source, key))
                if tuple(a.shape) != tuple(shape):
                    raise UnsupportedModule("%s: parameter '%s' has shape %s, expected %s"
                                       % (source, key, tuple(a.shape), shape))
                model.tensors[name] = a
    if not np.all([np.isfinite(a).all() for a in model.tensors.values()]):
        raise UnsupportedModule("%s: the module has NaN or infinite weights" % source)

    model.meta["task"] = "sequence"
    model.meta["import.from"] = "pytorch %s" % torch.__version__
    model.meta["import.module"] = repr(module)
    model.meta["import.source"] = os.path.basename(source)
    model.meta["import.batch_first"] = int(bool(module.batch_first))
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Import a torch.save()d nn.LSTM, nn.GRU or nn.RNN into a gst-rnn .rnn model file "
                    "(no head: the output is the top layer's hidden output).")
    ap.add_argument("input", metavar="IN.pt", help="torch.save() of an nn.LSTM, nn.GRU or nn.RNN")
    ap.add_argument("output", metavar="OUT.rnn", help="model file to write (atomically)")
    args = ap.parse_args(argv)

    import torch

    try:
        # Full unpickling of an nn.Module (weights_only cannot load a module): only import files you trust.
        module = torch.load(args.input, map_location="cpu")
    except FileNotFoundError:
        print("import_torch.py: %s: no such file" % args.input, file=sys.stderr)
        return 1
    except Exception as e:  # torch raises many kinds for a damaged file
        print("import_torch.py: %s: cannot load with torch.load: %s: %s"
              % (args.input, type(e).__name__, e), file=sys.stderr)
        return 1
    notes = []
    try:
        model = module_to_model(module, args.input, notes)
        rnnfile.write(model, args.output)
    except UnsupportedModule as e:
        print("import_torch.py: %s" % e, file=sys.stderr)
        return 1
    except rnnfile.FormatError as e:
        print("import_torch.py: %s: %s" % (args.output, e), file=sys.stderr)
        return 1
    except OSError as e:
        print("import_torch.py: cannot write %s: %s" % (args.output, e.strerror or e), file=sys.stderr)
        return 1
    for n in notes:
        print("import_torch.py: note: %s" % n, file=sys.stderr)
    layer = model.layers[0]
    print("%s -> %s: %s, %d layer(s) of %d%s, input %d, output %d, %d parameters"
          % (args.input, args.output, layer.cell, len(model.layers), layer.hidden,
             ", bidirectional" if layer.bidirectional else "", model.input_size, model.outputs,
             model.num_params()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
