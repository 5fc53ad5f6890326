#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Training conformance: rnn_fit against PyTorch, update for update.

For each case a small model (PyTorch modules: nn.LSTM / nn.GRU / nn.RNN layers, then nn.Linear) is
written as a .rnn file, trained by the engine (tests/engine/fit_tool.c: one batch holding every
example, so each epoch is one optimizer step) and by PyTorch on the same variable-length
examples with the same loss, optimizer (Adam or SGD with momentum, weight decay) and gradient
clipping. After three updates every parameter must agree to 1e-4: forward pass, pooling, loss
normalisation, backpropagation, clipping and the optimizer all take part.

usage: test_train_torch.py PATH/TO/fit_tool
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.environ.get("RNN_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "tools"))
import rnnfile  # noqa: E402

LOSS = {"ce": 0, "ce_frame": 1, "bce": 2, "mse": 3, "ctc": 4}
OPT = {"adam": 0, "sgd": 1}
EPOCHS = 3


def make_layers(cell, specs, n_in):
    """specs: list of (hidden, bidirectional). Returns torch modules, one per layer."""
    mods = []
    for hidden, bidir in specs:
        if cell == "lstm":
            mod = torch.nn.LSTM(n_in, hidden, bidirectional=bidir)
        elif cell == "gru":
            mod = torch.nn.GRU(n_in, hidden, bidirectional=bidir)
        else:
            mod = torch.nn.RNN(n_in, hidden, bidirectional=bidir,
                               nonlinearity="relu" if cell == "rnn_relu" else "tanh")
        mods.append(mod)
        n_in = hidden * (2 if bidir else 1)
    return mods, n_in


def to_rnnfile(cell, specs, n_in, mods, head_kind, head, pool, mean, scale):
    m = rnnfile.Model(input_size=n_in)
    for hidden, bidir in specs:
        m.add_layer(cell, hidden, bidirectional=bidir)
    m.set_head(head_kind, head.out_features, pool=pool)
    m.init_zeros()
    names = {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}
    for l, mod in enumerate(mods):
        sd = mod.state_dict()
        for d, sfx in enumerate(["", "_reverse"][: 2 if mod.bidirectional else 1]):
            for tn, short in names.items():
                m.tensors[f"layer{l}.{['fwd', 'bwd'][d]}.{short}"] = sd[f"{tn}_l0{sfx}"].numpy().copy()
    m.tensors["head.w"] = head.weight.detach().numpy().copy()
    m.tensors["head.b"] = head.bias.detach().numpy().copy()
    m.set_normalization(mean, scale)
    return m


def torch_loss(case, mods, head, examples, mean, scale):
    total, terms = 0.0, 0
    for ex in examples:
        x = (torch.from_numpy(ex["x"]) - torch.from_numpy(mean)) * torch.from_numpy(scale)
        h = x.unsqueeze(1)  # (T, 1, I)
        for mod in mods:
            h, _ = mod(h)
        h = h.squeeze(1)  # (T, D)
        loss = case["loss"]
        per_frame = loss in ("ce_frame", "ctc") or case.get("per_frame", 0)
        if per_frame:
            z = head(h)  # (T, O)
        else:
            if case["pool"] == "mean":
                pooled = h.mean(dim=0)
            else:
                hf = mods[-1].hidden_size
                pooled = torch.cat([h[-1, :hf], h[0, hf:]]) if mods[-1].bidirectional else h[-1]
            z = head(pooled)
        if loss == "ce":
            total = total + F.cross_entropy(z.unsqueeze(0), torch.tensor([ex["label"]]), reduction="sum")
            terms += 1
        elif loss == "ce_frame":
            total = total + F.cross_entropy(z, torch.from_numpy(ex["frame_labels"]).long(), reduction="sum")
            terms += z.shape[0]
        elif loss == "bce":
            tgt = torch.from_numpy(ex["target"]).reshape(z.shape)
            total = total + F.binary_cross_entropy_with_logits(z, tgt, reduction="sum") / z.shape[-1]
            terms += z.shape[0] if per_frame else 1
        elif loss == "mse":
            tgt = torch.from_numpy(ex["target"]).reshape(z.shape)
            total = total + F.mse_loss(z, tgt, reduction="sum") / z.shape[-1]
            terms += z.shape[0] if per_frame else 1
        elif loss == "ctc":
            lp = F.log_softmax(z, dim=-1).unsqueeze(1)
            tok = torch.tensor([ex["tokens"]], dtype=torch.long)
            total = total + F.ctc_loss(lp, tok, torch.tensor([z.shape[0]]), torch.tensor([len(ex["tokens"])]),
                                       blank=0, reduction="sum")
            terms += 1
    return total / terms


def write_data(path, case, examples, n_in, outputs):
    with open(path, "wb") as f:
        per_frame = int(case.get("per_frame", 0))
        np.array([len(examples), n_in, outputs, LOSS[case["loss"]], per_frame, OPT[case["opt"]], EPOCHS,
                  len(examples)], dtype="<i4").tofile(f)
        np.array([case["lr"], case["clip"], case["wd"], case.get("momentum", 0.0)], dtype="<f4").tofile(f)
        for ex in examples:
            np.array([ex["x"].shape[0], ex["label"], len(ex["tokens"])], dtype="<i4").tofile(f)
            ex["x"].astype("<f4").tofile(f)
            ex["frame_labels"].astype("<i4").tofile(f)
            ex["target"].astype("<f4").tofile(f)
            np.array(ex["tokens"], dtype="<i4").tofile(f)


def run_case(tool, case, rng, tmp):
    torch.manual_seed(case["seed"])
    n_in, outputs = 5, case["outputs"]
    mods, top = make_layers(case["cell"], case["layers"], n_in)
    head = torch.nn.Linear(top, outputs)
    mean = rng.uniform(-0.3, 0.3, n_in).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, n_in).astype(np.float32)
    examples = []
    for i, T in enumerate([9, 4, 12, 7, 10, 6]):
        L = 1 + i % 3
        examples.append({
            "x": rng.normal(0, 1, (T, n_in)).astype(np.float32),
            "label": i % outputs,
            "frame_labels": rng.integers(0, outputs, T).astype(np.int32),
            "target": rng.uniform(0, 1, ((T if case.get("per_frame", 0) else 1) * outputs,)).astype(np.float32),
            "tokens": [int(t) for t in rng.integers(1, outputs, L)],
        })
    model = to_rnnfile(case["cell"], case["layers"], n_in, mods, case["head"], head, case["pool"], mean, scale)
    rnn_in, rnn_out, data = (os.path.join(tmp, f) for f in ("in.rnn", "out.rnn", "data.bin"))
    rnnfile.write(model, rnn_in)
    write_data(data, case, examples, n_in, outputs)
    out = subprocess.run([tool, rnn_in, data, rnn_out], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"FAIL {case['name']}: fit_tool: {out.stderr.strip()}")
        return False

    params = [p for mod in mods for p in mod.parameters()] + list(head.parameters())
    if case["opt"] == "adam":
        opt = torch.optim.Adam(params, lr=case["lr"], weight_decay=case["wd"])
    else:
        opt = torch.optim.SGD(params, lr=case["lr"], momentum=case["momentum"], weight_decay=case["wd"])
    for _ in range(EPOCHS):
        opt.zero_grad()
        loss = torch_loss(case, mods, head, examples, mean, scale)
        loss.backward()
        if case["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, case["clip"])
        opt.step()

    trained = rnnfile.read(rnn_out)
    ref = to_rnnfile(case["cell"], case["layers"], n_in, mods, case["head"], head, case["pool"], mean, scale)
    init = model
    worst, moved = 0.0, 0.0
    for name, value in ref.tensors.items():
        worst = max(worst, float(np.abs(trained.tensors[name] - value).max()))
        moved = max(moved, float(np.abs(value - init.tensors[name]).max()))
    ok = worst <= 1e-4 and moved > 1e-3
    print(f"{'ok  ' if ok else 'FAIL'} {case['name']}: largest parameter difference {worst:.2e} "
          f"(largest update {moved:.2e}), final torch loss {loss.item():.5f}")
    return ok


CASES = [
    dict(name="bi-GRU x2, ce_frame, Adam + weight decay + clip", cell="gru", layers=[(6, True), (5, True)],
         head="softmax", outputs=4, pool="last", loss="ce_frame", opt="adam", lr=0.01, clip=0.5, wd=0.01, seed=1),
    dict(name="LSTM then bi-LSTM, ce (last), Adam", cell="lstm", layers=[(6, False), (4, True)],
         head="softmax", outputs=3, pool="last", loss="ce", opt="adam", lr=0.01, clip=5.0, wd=0.0, seed=2),
    dict(name="bi-RNN tanh, ce (mean), SGD momentum", cell="rnn_tanh", layers=[(7, True)],
         head="softmax", outputs=3, pool="mean", loss="ce", opt="sgd", lr=0.1, clip=1.0, wd=0.001,
         momentum=0.9, seed=3),
    dict(name="RNN relu, bce (last), Adam", cell="rnn_relu", layers=[(8, False)],
         head="sigmoid", outputs=2, pool="last", loss="bce", opt="adam", lr=0.01, clip=0.0, wd=0.0, seed=4),
    dict(name="GRU, mse per frame, SGD", cell="gru", layers=[(6, False)], head="linear", outputs=3,
         pool="last", loss="mse", per_frame=1, opt="sgd", lr=0.05, clip=0.0, wd=0.0, momentum=0.5, seed=5),
    dict(name="bi-LSTM, ctc, Adam + clip", cell="lstm", layers=[(5, True)], head="softmax", outputs=4,
         pool="last", loss="ctc", opt="adam", lr=0.01, clip=1.0, wd=0.0, seed=6),
]


def main():
    tool = sys.argv[1]
    rng = np.random.default_rng(2024)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            failures += not run_case(tool, case, rng, tmp)
    if failures:
        print(f"{failures} case(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
