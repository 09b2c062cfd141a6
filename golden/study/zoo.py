"""Zoo models as emulations: batching, the dense GNN form, and loading trained weights back.

Why: the zoo's inputs are batch-1 tuples (what the compiler takes), while the emulation is batched
(its exported graph has the batch baked into its views) and a GNN is emulated in its dense form
(``gnn.build_dense``: the propagation matrix as a constant operand, which the compiler also folds
the graph into).  Fine-tuned emulation weights must come back as the zoo's own module so that the
real compiler compiles them exactly like the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from golden.models import ZOO, gnn
from golden.study.emulate import Emulator

BATCH = 32
"""Emulation batch: the compiler's 32 calibration samples are exactly one batch."""
CALIBRATION = 32


@dataclass
class ZooEmulation:
    """An :class:`Emulator` of zoo model ``name`` with the zoo's input conventions."""

    name: str
    em: Emulator
    batch: int

    @property
    def graph(self) -> bool:
        return ZOO[self.name].family == "gnn"

    def batches(self, inputs: Sequence[tuple[torch.Tensor, ...]]) -> list[tuple[torch.Tensor, ...]]:
        """Zoo input tuples -> emulator inputs (GNN: x only; others: groups of ``batch``, last padded)."""
        if self.graph:
            return [(x[0],) for x in inputs]
        out = []
        for i in range(0, len(inputs), self.batch):
            grp = [x[0] for x in inputs[i:i + self.batch]]
            grp += [grp[-1]] * (self.batch - len(grp))
            out.append((torch.cat(grp),))
        return out

    @torch.no_grad()
    def outputs(self, inputs: Sequence[tuple[torch.Tensor, ...]], mode: str) -> list[torch.Tensor]:
        """Output per zoo input in ``mode`` ("float" | "int8" | "pwl")."""
        self.em.mode = mode
        outs = [self.em(*b) for b in self.batches(inputs)]
        if self.graph:
            return outs
        flat = [o for ob in outs for o in ob.split(1)]
        return flat[:len(inputs)]

    def calibrate(self, n: int = CALIBRATION) -> None:
        self.em.calibrate(self.batches(ZOO[self.name].calibration(n)))


def float_module(name: str) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
    """The module the emulation is built from: the zoo model, or a GNN's dense form."""
    if ZOO[name].family == "gnn":
        return gnn.build_dense(name)
    return ZOO[name].build()


def emulation(name: str, batch: int = BATCH, calibrate: bool = True) -> ZooEmulation:
    """An emulation of ``name`` (calibrated on the compiler's calibration set unless told not to)."""
    model, ex = float_module(name)
    b = 1 if ZOO[name].family == "gnn" else batch
    if b > 1:
        ex = (torch.cat([ex[0]] * b),)
    z = ZooEmulation(name, Emulator(model, ex, samples_per_call=b), b)
    if calibrate:
        z.calibrate()
    return z


def load_back(name: str, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The zoo module of ``name`` with emulation weights ``state`` (dense GNN weights mapped to PyG)."""
    model, _ = ZOO[name].build()
    if ZOO[name].family != "gnn":
        _, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        return model
    with torch.no_grad():
        for i, conv in enumerate((model.conv1, model.conv2)):
            if hasattr(conv, "lin_l"):
                conv.lin_l.weight.copy_(state[f"lins.{i}.0.weight"])
                conv.lin_l.bias.copy_(state[f"lins.{i}.0.bias"])
                conv.lin_r.weight.copy_(state[f"lins.{i}.1.weight"])
            else:
                conv.lin.weight.copy_(state[f"lins.{i}.weight"])
                conv.bias.copy_(state[f"lins.{i}.bias"])
    return model
