"""Held-out evaluation sets: the inputs and labels every accuracy of the study is measured on.

Why a module of its own: float, int8-emulated and accelerator accuracy must be judged on exactly the
same decisions, and the GNNs must be judged on their node split (nodes outside the training mask),
not on every node, or training nodes would inflate every figure alike and hide the loss.

Sizes: images and sequences use 500 held-out samples (the digits set holds exactly 500 held-out
images; the topic corpus is unbounded) except where golden simulation is too slow for the shared
machine: resnet18 (1.0 s per image) and bert_mini (1.1 s per sequence) use 200, ResNet-50 at 224x224
(about a minute per image) 4; every table states its count.  Karate has 16 test nodes:
32 seeded feature draws give 512 node decisions (correlated, since the graph is fixed: the table
says so); one SBM draw has 9 000 test nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from golden.models import ZOO

DEFAULT_SAMPLES: dict[str, int] = {"resnet18": 200, "bert_mini": 200, "resnet50": 4, "gcn_karate": 32,
                                   "sage_karate": 32, "gcn_sbm": 1, "sage_sbm": 1}
"""Inputs per model when not 500 (GNN: feature draws of the whole graph)."""
QUICK_SAMPLES: dict[str, int] = {"resnet_tiny": 200, "bert_tiny": 100, "gcn_karate": 16, "sage_karate": 16}


def classifiers() -> list[str]:
    """Every zoo classifier, small ones first (bert_base is an embedding model: no accuracy)."""
    names = [n for n, s in ZOO.items() if s.task == "classify"]
    return sorted(names, key=lambda n: (ZOO[n].size != "small", names.index(n)))


def judged_labels(name: str, n: int, seed: int) -> list[torch.Tensor]:
    """Labels aligned with ``ZOO[name].batch(n, seed)``, one int64 vector per input, -1 = not judged.

    Images / sequences: the zoo's targets.  GNNs: the node labels with the training nodes set to -1.
    """
    spec = ZOO[name]
    assert spec.targets is not None, f"{name} is not a classifier"
    ys = [torch.as_tensor(y).reshape(-1).to(torch.int64) for y in spec.targets(n, seed)]
    if spec.family == "gnn":
        from golden.models import gnn

        train = gnn.graph_of(name).train_mask
        ys = [torch.where(train, torch.full_like(y, -1), y) for y in ys]
    return ys


def correct(outputs: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]) -> np.ndarray:
    """Per judged decision: does the argmax over the last dim equal the label (bool array)?"""
    hits = []
    for o, y in zip(outputs, labels, strict=True):
        pred = o.reshape(-1, o.shape[-1]).argmax(-1)
        keep = y >= 0
        hits.append((pred[keep] == y[keep]).numpy())
    return np.concatenate(hits) if hits else np.zeros(0, dtype=bool)


@dataclass
class EvalSet:
    """``inputs[i]`` is one input tuple of the model (batch 1, or one whole graph)."""

    name: str
    family: str
    inputs: list[tuple[torch.Tensor, ...]]
    labels: list[torch.Tensor]
    seed: int = 0

    @property
    def decisions(self) -> int:
        return int(sum(int((y >= 0).sum()) for y in self.labels))

    def accuracy(self, outputs: Sequence[torch.Tensor]) -> float:
        return float(correct(outputs, self.labels).mean())

    def describe(self) -> str:
        if self.family == "gnn":
            return f"{self.decisions} test-node decisions ({len(self.inputs)} feature draws)"
        what = "images" if self.family == "resnet" else "sequences"
        return f"{self.decisions} held-out {what}"


def heldout(name: str, n: int | None = None, seed: int = 0) -> EvalSet:
    """The held-out evaluation set of ``name`` (``n`` inputs, default :data:`DEFAULT_SAMPLES` or 500)."""
    spec = ZOO[name]
    n = n if n is not None else DEFAULT_SAMPLES.get(name, 500)
    inputs = [tuple(x) for x in spec.batch(n, seed)]
    return EvalSet(name, spec.family, inputs, judged_labels(name, n, seed), seed)


@torch.no_grad()
def float_outputs(model: torch.nn.Module | Callable[..., torch.Tensor],
                  inputs: Sequence[tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """Eager float outputs, one per input tuple."""
    return [model(*x) for x in inputs]
