"""The NMX model zoo: float PyTorch reference networks the compiler lowers and the fidelity runs
compare against.

``ZOO`` maps a name to a :class:`ModelSpec`.  Every model is built deterministically from a seed
(some are trained for a few seconds on download-free data, see docs/models.md), is in eval mode
with gradients off, and exports with ``torch.export.export(model, example_inputs)``.  Building is
lazy and cached per process (the first ``build()`` of a trained model pays the training time; later
calls return a fresh copy of the same weights).

Usage::

    from golden.models import ZOO
    spec = ZOO["resnet_tiny"]
    model, example = spec.build()
    ep = torch.export.export(model, example)
    calib = spec.calibration(64)          # list of input tuples (training-side data)
    inputs = spec.batch(100, seed=0)      # held-out inputs for fidelity
    labels = spec.targets(100, seed=0)    # ground truth aligned with batch() (may be None)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from golden.models import bert, gnn, resnet

Inputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry.

    ``task``: "classify" = compare top-1 over the last output dim (per image / sequence / node);
    "embed" = compare the output tensor itself (e.g. cosine similarity, relative error).
    ``size``: "small" models are built in ``make test``; "large" ones are only built on demand.
    """

    name: str
    family: str  # "resnet" | "bert" | "gnn"
    build: Callable[[], tuple[torch.nn.Module, Inputs]]
    calibration: Callable[[int], list[Inputs]]
    batch: Callable[[int, int], list[Inputs]]
    task: str  # "classify" | "embed"
    size: str  # "small" | "large"
    targets: Callable[[int, int], list[torch.Tensor]] | None = None
    """Ground-truth labels aligned with ``batch(n, seed)`` (None for embed models)."""
    description: str = ""
    min_cosine: float = 0.99
    """The golden-vs-float cosine bar of this model's verification (``regressions.verify``).  Below
    0.99 only where the float model itself is too sensitive for any int8 deployment to track its
    logits: the measurement that justifies it is in docs/models.md."""


def _spec(name: str, family: str, mod: object, task: str, size: str, description: str,
          min_cosine: float = 0.99) -> ModelSpec:
    m = mod
    return ModelSpec(
        name=name, family=family,
        build=lambda: m.build(name),  # type: ignore[attr-defined]
        calibration=lambda n: m.calibration(name, n),  # type: ignore[attr-defined]
        batch=lambda n, seed: m.batch(name, n, seed),  # type: ignore[attr-defined]
        task=task, size=size,
        targets=(lambda n, seed: m.targets(name, n, seed)) if task == "classify" else None,  # type: ignore[attr-defined]
        description=description, min_cosine=min_cosine,
    )


ZOO: dict[str, ModelSpec] = {
    s.name: s for s in [
        _spec("resnet_tiny", "resnet", resnet, "classify", "small",
              "1x16x16 digits, stem 3x3/2 + 2 basic blocks (8, 16 ch), ~136k MACs, trained"),
        _spec("resnet20", "resnet", resnet, "classify", "small",
              "CIFAR ResNet-20 on 3x32x32 coloured digits, ~41M MACs, trained"),
        _spec("resnet18", "resnet", resnet, "classify", "small",
              "ImageNet-layout ResNet-18 (7x7 stem + max-pool), 3x32x32 coloured digits, ~37M MACs, trained"),
        _spec("resnet50", "resnet", resnet, "classify", "large",
              "ImageNet ResNet-50, 3x224x224 grey digits, random features, BN calibrated, fitted head",
              min_cosine=0.80),   # the float model amplifies 1% noise to logits cosine 0.77: docs/models.md
        _spec("bert_tiny", "bert", bert, "classify", "small",
              "BERT 2L/128H/2 heads/512 FFN, seq 32, vocab 2048, 4-way topic classification, trained"),
        _spec("bert_mini", "bert", bert, "classify", "small",
              "BERT 4L/256H/4 heads/1024 FFN, seq 64, vocab 4096, 4-way topic classification, trained"),
        _spec("bert_base", "bert", bert, "embed", "large",
              "BERT-base 12L/768H/12 heads, seq 128, vocab 30522, seeded HF init, last hidden state"),
        _spec("gcn_karate", "gnn", gnn, "classify", "small",
              "2-layer GCN (16 hidden) on Karate Club, trained"),
        _spec("sage_karate", "gnn", gnn, "classify", "small",
              "2-layer GraphSAGE-mean (16 hidden) on Karate Club, trained"),
        _spec("gcn_sbm", "gnn", gnn, "classify", "large",
              "2-layer GCN (64 hidden) on a 10k-node SBM, trained"),
        _spec("sage_sbm", "gnn", gnn, "classify", "large",
              "2-layer GraphSAGE-mean (64 hidden) on a 10k-node SBM, trained"),
    ]
}


def accuracy(name: str) -> float:
    """Float top-1 accuracy on the model's held-out data (classify models only)."""
    spec = ZOO[name]
    mod = {"resnet": resnet, "bert": bert, "gnn": gnn}[spec.family]
    return float(mod.accuracy(name))  # type: ignore[attr-defined]


__all__ = ["ZOO", "Inputs", "ModelSpec", "accuracy"]
