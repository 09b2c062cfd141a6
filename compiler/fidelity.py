"""Fidelity of compiled programs: golden-simulator outputs vs float PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from golden.program import Program
from golden.sim import run_program


@dataclass
class Fidelity:
    cosine: float                 # min over samples of the cosine similarity of the outputs
    cosine_mean: float
    max_abs_rel: float            # max |sim - float| / (max - min of float output), worst sample
    top1: float                   # fraction of argmax agreement over the last dim (all rows, all samples)
    n: int
    per_sample: list[dict[str, float]] = field(default_factory=list)
    acc_float: float | None = None  # top-1 accuracy against ``targets`` (when given): float model
    acc_golden: float | None = None  # ... and golden simulator; labels < 0 are not judged

    def __str__(self) -> str:
        return (f"cosine min {self.cosine:.4f} mean {self.cosine_mean:.4f}, max|err|/range "
                f"{self.max_abs_rel:.4f}, top-1 agreement {100 * self.top1:.1f}% over {self.n} samples")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def fidelity(model_or_spec: Any, inputs: Sequence[tuple[Any, ...]], *, program: Program | None = None,
             calibration: Sequence[tuple[Any, ...]] | None = None, targets: Sequence[Any] | None = None,
             **compile_kw: Any) -> Fidelity:
    """Compare the golden simulator with float PyTorch over ``inputs`` (a list of input tuples).

    ``targets`` (labels aligned with ``inputs``, one int tensor per input, -1 = not judged) adds the
    task accuracy of both, from the same runs (``acc_float``, ``acc_golden``).

    ``model_or_spec`` is a torch module or a zoo ``ModelSpec``; ``program`` is compiled if absent
    (calibrating on ``calibration``, the spec's calibration set, or the inputs).
    """
    if hasattr(model_or_spec, "build") and hasattr(model_or_spec, "calibration"):
        model, example = model_or_spec.build()
        if calibration is None:
            calibration = model_or_spec.calibration(32)
    else:
        model, example = model_or_spec, inputs[0]
    if program is None:
        from compiler import compile_model
        program = compile_model(model, example, calibration=calibration or list(inputs), **compile_kw)
    cos, rel, agree, total = [], [], 0, 0
    per = []
    hits = [0, 0, 0]   # float correct, golden correct, judged
    for i, x in enumerate(inputs):
        x = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        with torch.no_grad():
            ref = model(*x)
        refs = ref if isinstance(ref, (tuple, list)) else (ref,)
        outs = run_program(program, x)
        c_s, r_s = [], []
        for o, r in zip(outs, refs, strict=True):
            a = o.detach().double().numpy().ravel()
            b = r.detach().double().numpy().ravel()
            c_s.append(_cos(a, b))
            rng = float(b.max() - b.min()) or 1.0
            r_s.append(float(np.abs(a - b).max()) / rng)
            if r.dim() >= 1 and r.shape[-1] > 1:
                ao = o.reshape(-1, o.shape[-1]).argmax(-1)
                ar = r.reshape(-1, r.shape[-1]).argmax(-1)
                agree += int((ao == ar).sum())
                total += int(ar.numel())
                if targets is not None and o is outs[0]:
                    y = torch.as_tensor(targets[i]).reshape(-1)
                    keep = y >= 0
                    hits[0] += int((ar[keep] == y[keep]).sum())
                    hits[1] += int((ao[keep] == y[keep]).sum())
                    hits[2] += int(keep.sum())
        cos.append(min(c_s))
        rel.append(max(r_s))
        per.append({"cosine": cos[-1], "max_abs_rel": rel[-1]})
    accs = (hits[0] / hits[2], hits[1] / hits[2]) if hits[2] else (None, None)
    return Fidelity(float(min(cos)), float(np.mean(cos)), float(max(rel)),
                    agree / total if total else 1.0, len(cos), per, *accs)
