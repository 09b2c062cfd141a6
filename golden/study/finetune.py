"""Approximation-aware fine-tuning: train with the accelerator's PWLs and int8 rounding in the loop.

The NeuralMatrix paper's third ingredient.  Why it helps: post-training, the network sees PWL and
rounding errors it was never trained with; a few steps with them in the forward pass let the weights
move to where those errors matter less (e.g. away from the kinks of a 4-segment GELU).

Recipe (:func:`finetune`; every number in :data:`RECIPES`):

1. start from the zoo's float weights; emulate the network (:mod:`golden.study.emulate`) with int8
   fake quantisation of weights and activations and every nonlinear op replaced by its PWL, fitted
   with the compiler's method ("vertical") at the target budget on the compiler's 32 calibration
   samples;
2. backward pass by the straight-through estimator: rounding is the identity, a PWL has the exact
   function's derivative;
3. loss = cross-entropy on training labels + ``kd`` x KL divergence to the float model's own
   predictions (distillation keeps the fine-tuned model close to the original);
4. Adam, constant learning rate, training-side data only (digits training split, fresh topic
   sequences from the training seed range, the GNN's training nodes); every ``recal_every`` steps the
   activation scales and PWL tables are recalibrated on the current weights (what the compiler will
   do when it recompiles them);
5. keep the checkpoint with the best emulated accuracy on a validation set drawn from the training
   side; only a strict improvement replaces the earlier one and the starting weights are a
   candidate, so selection never picks a model that is worse on validation, and where nothing is
   to be recovered (ReLU networks: their PWL is exact; a saturated validation set) the recipe
   leaves the weights alone instead of fitting noise;
6. load the weights back into the zoo module and recompile with the real compiler at the target
   budget (:func:`golden.study.accel.compile_zoo`): the accuracy reported is the accelerator's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from golden.models import ZOO, bert, data, gnn, resnet
from golden.models._util import seeded
from golden.study.zoo import ZooEmulation, emulation


@dataclass(frozen=True)
class Recipe:
    """Fine-tuning hyper-parameters of one family."""

    steps: int
    lr: float
    kd: float = 1.0
    recal_every: int = 25
    val_every: int = 25
    method: str = "vertical"


RECIPES: dict[str, Recipe] = {
    "resnet": Recipe(steps=150, lr=3e-4),
    "bert": Recipe(steps=80, lr=1e-4, recal_every=20, val_every=20),
    "gnn": Recipe(steps=100, lr=3e-3),
}
QUICK: dict[str, Recipe] = {
    "resnet": Recipe(steps=40, lr=3e-4, recal_every=20, val_every=20),
    "bert": Recipe(steps=40, lr=1e-4, recal_every=20, val_every=20),
    "gnn": Recipe(steps=40, lr=3e-3, recal_every=20, val_every=20),
}


@dataclass
class Result:
    """What fine-tuning did: steps, the selected checkpoint, validation figures, the weights."""

    name: str
    segments: int
    recipe: Recipe
    best_step: int
    val_before: float
    val_after: float
    state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)


# ----------------------------------------------------------------------------------- training data
class _Data:
    """Training batches and a validation set of one model, all from the training side of its data."""

    def __init__(self, z: ZooEmulation) -> None:
        self.z, self.name = z, z.name
        fam = ZOO[z.name].family
        self.fam = fam
        if fam == "resnet":
            x, y = resnet._images(z.name, "train")
            self.x, self.y = x[:-4 * z.batch], y[:-4 * z.batch]
            start = len(y) - 4 * z.batch
            self.val = [((x[i:i + z.batch],), y[i:i + z.batch]) for i in range(start, len(y), z.batch)]
        elif fam == "bert":
            r = bert.RECIPES[z.name]
            ids, y = data.topic_sequences(8 * z.batch, r.seq_len, r.vocab, r.num_labels, seed=30_000)
            self.val = [((ids[i:i + z.batch],), y[i:i + z.batch]) for i in range(0, len(y), z.batch)]
        else:
            g = gnn.graph_of(z.name)
            self.g = g
            lab = torch.where(g.train_mask, g.y, torch.full_like(g.y, -1))
            self.val = [((self._draw(50_000 + k),), lab) for k in range(8)]
            self.train_labels = lab

    def _draw(self, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return self.g.x + self.g.feature_sigma * torch.randn(self.g.x.shape, generator=gen)

    def batch(self, step: int, gen: torch.Generator) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        if self.fam == "resnet":
            idx = torch.randint(0, len(self.y), (self.z.batch,), generator=gen)
            return (self.x[idx],), self.y[idx]
        if self.fam == "bert":
            r = bert.RECIPES[self.name]
            ids, y = data.topic_sequences(self.z.batch, r.seq_len, r.vocab, r.num_labels, seed=20_000 + step)
            return (ids,), y
        x = self.g.x if step % 4 == 0 else self._draw(40_000 + step)
        return (x,), self.train_labels


def _loss(logits: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None, kd: float) -> torch.Tensor:
    logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    keep = y >= 0
    loss = F.cross_entropy(logits[keep], y[keep])
    if teacher is not None and kd > 0:
        t = teacher.reshape(-1, teacher.shape[-1])
        loss = loss + kd * F.kl_div(F.log_softmax(logits, -1), F.log_softmax(t, -1), log_target=True,
                                    reduction="batchmean")
    return loss


@torch.no_grad()
def _validate(z: ZooEmulation, d: _Data) -> tuple[float, float]:
    z.em.mode, z.em.ste = "pwl", False
    hits, total, loss = 0, 0, 0.0
    for x, y in d.val:
        out = z.em(*x)
        o, yy = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        keep = yy >= 0
        hits += int((o[keep].argmax(-1) == yy[keep]).sum())
        total += int(keep.sum())
        loss += float(F.cross_entropy(o[keep], yy[keep])) * int(keep.sum())
    return hits / max(total, 1), loss / max(total, 1)


def _refit(z: ZooEmulation, recipe: Recipe, segments: int) -> None:
    z.calibrate()
    z.em.set_pwl(recipe.method, segments)


def finetune(name: str, segments: int, recipe: Recipe | None = None, seed: int = 0) -> Result:
    """Fine-tune zoo model ``name`` for a ``segments``-segment PWL budget (module docstring)."""
    recipe = recipe or RECIPES[ZOO[name].family]
    z = emulation(name, calibrate=False)
    d = _Data(z)
    _refit(z, recipe, segments)
    val0, loss0 = _validate(z, d)
    best = (val0, -loss0, 0, z.em.state_dict())
    history = [{"step": 0, "val_acc": val0, "val_loss": loss0}]
    params = list(z.em.params.values())
    opt = torch.optim.Adam(params, lr=recipe.lr)
    with seeded(seed, threads=None) as gen:
        for step in range(1, recipe.steps + 1):
            x, y = d.batch(step, gen)
            z.em.mode, z.em.ste = "float", False
            with torch.no_grad():
                teacher = z.em(*x) if recipe.kd > 0 else None
            z.em.mode, z.em.ste = "pwl", True
            loss = _loss(z.em(*x), y, teacher, recipe.kd)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % recipe.recal_every == 0 or step == recipe.steps:
                _refit(z, recipe, segments)
            if step % recipe.val_every == 0 or step == recipe.steps:
                acc, vl = _validate(z, d)
                history.append({"step": step, "val_acc": acc, "val_loss": vl, "train_loss": loss.item()})
                if acc > best[0]:   # strictly better on validation; ties keep the earlier weights
                    best = (acc, -vl, step, z.em.state_dict())
    z.em.ste = False
    return Result(name, segments, recipe, best[2], val0, best[0], best[3], history)
