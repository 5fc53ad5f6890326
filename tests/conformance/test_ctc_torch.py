#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The engine's CTC loss and its gradient against torch.nn.functional.ctc_loss.

For random logits and targets of several lengths (repeats, empty targets, tight alignments, long
sequences), the C loss must equal PyTorch's (reduction 'sum', blank 0) and the C gradient w.r.t.
the logits must equal autograd's through log_softmax, both to about 1e-4.

usage: test_ctc_torch.py PATH/TO/ctc_loss_tool
"""
import math
import subprocess
import sys

import torch
import torch.nn.functional as F


def c_ctc(tool, logits, targets):
    T, O = logits.shape
    lines = [f"{T} {O} {len(targets)}"]
    lines += [" ".join(f"{v:.9g}" for v in row) for row in logits.tolist()]
    lines.append(" ".join(str(t) for t in targets))
    out = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"ctc_loss_tool failed ({out.returncode}): {out.stderr}")
    vals = out.stdout.split()
    loss = math.inf if vals[0] == "inf" else float(vals[0])
    grad = torch.tensor([float(v) for v in vals[1:]], dtype=torch.float64).reshape(T, O)
    return loss, grad


def torch_ctc(logits, targets):
    z = logits.detach().clone().to(torch.float64).requires_grad_(True)
    lp = F.log_softmax(z, dim=-1).unsqueeze(1)  # (T, N=1, C)
    tgt = torch.tensor([targets], dtype=torch.long)
    loss = F.ctc_loss(lp, tgt, torch.tensor([z.shape[0]]), torch.tensor([len(targets)]), blank=0,
                      reduction="sum", zero_infinity=False)
    if torch.isfinite(loss):
        loss.backward()
        return loss.item(), z.grad.detach()
    return math.inf, None


def main():
    tool = sys.argv[1]
    gen = torch.Generator().manual_seed(1234)
    cases = [  # (T, O, target length, note)
        (1, 2, 0, "one frame, empty target"),
        (1, 3, 1, "one frame, one symbol"),
        (5, 4, 0, "empty target"),
        (6, 5, 3, "short"),
        (3, 3, 3, "tight: T == L"),
        (4, 3, 2, "repeat needs a blank"),
        (12, 6, 4, "medium"),
        (20, 11, 8, "digits-like"),
        (50, 29, 12, "letters"),
        (200, 12, 30, "long"),
        (400, 30, 60, "very long"),
    ]
    failures = 0
    worst_loss = worst_grad = 0.0
    for k, (T, O, L, note) in enumerate(cases):
        for rep in range(3):
            scale = [1.0, 3.0, 8.0][rep]  # peaky logits push the sums to the edge of exp's range
            logits = (torch.randn(T, O, generator=gen) * scale).to(torch.float32)
            targets = torch.randint(1, O, (L,), generator=gen).tolist()
            if note == "repeat needs a blank":
                targets = [1, 1]
            cl, cg = c_ctc(tool, logits, targets)
            tl, tg = torch_ctc(logits, targets)
            label = f"T={T} O={O} L={L} scale={scale} ({note})"
            if math.isinf(tl):
                if not math.isinf(cl):
                    print(f"FAIL {label}: torch says infeasible, C loss {cl}")
                    failures += 1
                continue
            dl = abs(cl - tl) / max(1.0, abs(tl))
            dg = (cg - tg).abs().max().item()
            worst_loss, worst_grad = max(worst_loss, dl), max(worst_grad, dg)
            ok = dl <= 1e-4 and dg <= 1e-4
            print(f"{'ok  ' if ok else 'FAIL'} {label}: loss C {cl:.6f} torch {tl:.6f}, "
                  f"max grad diff {dg:.2e}")
            failures += not ok
    # An alignment that cannot exist: both report an infinite loss.
    logits = torch.randn(3, 4, generator=gen)
    cl, _ = c_ctc(tool, logits, [1, 1, 2])
    tl, _ = torch_ctc(logits, [1, 1, 2])
    if not (math.isinf(cl) and math.isinf(tl)):
        print(f"FAIL infeasible target: C {cl}, torch {tl}")
        failures += 1
    print(f"worst relative loss difference {worst_loss:.2e}, worst gradient difference {worst_grad:.2e}")
    if failures:
        print(f"{failures} case(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
