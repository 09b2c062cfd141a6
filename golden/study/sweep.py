"""The study per model: accuracy table, PWL budget sweep, fine-tuning; one JSON record each.

Why per-model records (``<out>/models/<name>.json``): the large models take minutes to hours of golden
simulation, so each model is measured once and the report is assembled from whatever records exist
(``--models`` reruns some, ``--report-only`` only rewrites tables and plots).

Sources, always labelled in the records: "accelerator" = real compiler + golden simulator (budgets
<= 16, the PPU table), "emulated" = :mod:`golden.study.emulate` (every budget; the only source of 32
and 64 and of the int8-only figure).  Networks without a fitted PWL table (ReLU only: its table is
exact and does not depend on the policy) compile to the same Program under every policy, which
:func:`study_model` checks once per model by compiling one other policy and comparing the digests.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from golden.models import ZOO
from golden.study import METHODS, PAPER_GRANULARITY, SEGMENTS, accel, evalsets, finetune
from golden.study.zoo import emulation, load_back

HW_SEGMENTS = 16
SMALLEST = ("resnet_tiny", "bert_tiny", "gcn_karate")
"""The smallest model of each family: tests, ``--quick`` and fine-tuning."""
SWEEP_SAMPLES: dict[str, int] = {"bert_tiny": 100, "bert_mini": 0, "resnet50": 0}
"""Inputs of the accelerator sweep (<= 16 segments, every method) when it needs its own Programs
(models with PWL tables) and of the fine-tuning comparison; 0 = emulated sweep only.  Measured golden
simulation: bert_tiny 0.31 s, bert_mini 1.1 s per sequence on one core (11 Programs per sweep)."""
EMULATED_SAMPLES: dict[str, int] = {"bert_mini": 100}
"""Inputs of the emulated sweep when fewer than the accuracy table's (bert_mini: ~1.5 s per point
and 100 sequences on this machine)."""


@dataclass(frozen=True)
class Config:
    """What one study run measures."""

    quick: bool = False
    samples: dict[str, int] = field(default_factory=dict)
    """Evaluation inputs per model (default ``evalsets.DEFAULT_SAMPLES`` / 500; quick: QUICK_SAMPLES)."""
    sweep_samples: dict[str, int] = field(default_factory=dict)
    finetune_samples: dict[str, int] = field(default_factory=dict)
    """Held-out inputs of a BERT model's fine-tuning comparison (default: its sweep's)."""
    segments: tuple[int, ...] = SEGMENTS
    finetune_models: tuple[str, ...] = SMALLEST
    finetune_segments: tuple[int, ...] = (4, 8)

    def n(self, name: str) -> int:
        if name in self.samples:
            return self.samples[name]
        if self.quick:
            return evalsets.QUICK_SAMPLES.get(name, 64)
        return evalsets.DEFAULT_SAMPLES.get(name, 500)

    def sweep_n(self, name: str) -> int:
        if name in self.sweep_samples:
            return self.sweep_samples[name]
        n = self.n(name)
        return min(n, SWEEP_SAMPLES.get(name, n))

    def finetune_n(self, name: str) -> int:
        return self.finetune_samples.get(name, self.sweep_n(name))

    def emu_n(self, name: str) -> int:
        return min(self.n(name), EMULATED_SAMPLES.get(name, self.n(name)))

    def recipe(self, name: str) -> finetune.Recipe:
        fam = ZOO[name].family
        return (finetune.QUICK if self.quick else finetune.RECIPES)[fam]


def points(segments: Sequence[int]) -> list[tuple[str, int, float | None]]:
    """(method, segments, granularity) of the sweep: every method, and the paper's uniform 0.25."""
    paper = [("uniform", s, PAPER_GRANULARITY) for s in segments]
    return [(m, s, None) for s in segments for m in METHODS] + paper


def label(method: str, granularity: float | None) -> str:
    """Display name of a sweep line: vertical = horizontal + vertical correction."""
    if granularity is not None:
        return f"uniform g={granularity:g} (paper)"
    return {"vertical": "horizontal+vertical"}.get(method, method)


def paired(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Accuracy difference a - b in points and its paired standard error (McNemar: discordant pairs)."""
    n = len(a)
    fwd, back = int((a & ~b).sum()), int((~a & b).sum())
    return {"diff_points": 100.0 * (fwd - back) / n, "se_points": 100.0 * math.sqrt(fwd + back) / n,
            "only_first": fwd, "only_second": back}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def study_model(name: str, cfg: Config, log: Any = print) -> dict[str, Any]:
    """Accuracy table row, sweep and (for :attr:`Config.finetune_models`) fine-tuning of ``name``."""
    t0 = time.perf_counter()
    spec = ZOO[name]
    ev = evalsets.heldout(name, cfg.n(name))
    rec: dict[str, Any] = {"model": name, "family": spec.family, "eval": ev.describe(),
                           "decisions": ev.decisions, "inputs": len(ev.inputs)}
    wall: dict[str, float] = {}
    # float
    t = time.perf_counter()
    model, _ = spec.build()
    ok_float = evalsets.correct(evalsets.float_outputs(model, ev.inputs), ev.labels)
    rec["float"] = float(ok_float.mean())
    wall["float_s"] = time.perf_counter() - t
    # accelerator at the hardware default
    t = time.perf_counter()
    acc = accel.Accelerator()
    prog = accel.compile_zoo(name)
    rec["pwl_tables"] = len(getattr(prog, "compile_info", {}).get("pwl", []))
    rec["insns"] = len(prog.insns)
    wall["compile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    outs = acc.outputs(prog, ev.inputs)
    ok_acc = evalsets.correct(outs, ev.labels)
    wall["accel_s"] = time.perf_counter() - t
    rec["accel"] = float(ok_acc.mean())
    rec["loss_points"] = 100.0 * (rec["float"] - rec["accel"])
    rec["loss_paired"] = paired(ok_float, ok_acc)
    log(f"{name}: float {100 * rec['float']:.2f}%  accelerator {100 * rec['accel']:.2f}%  "
        f"({ev.describe()}, {wall['accel_s']:.0f} s)")
    # emulation: int8 only, and every sweep point
    t = time.perf_counter()
    z = emulation(name)
    ok_int8 = evalsets.correct(z.outputs(ev.inputs, "int8"), ev.labels)
    rec["int8"] = float(ok_int8.mean())
    rec["quant_loss_points"] = 100.0 * (rec["float"] - rec["int8"])
    rec["pwl_loss_points"] = 100.0 * (rec["int8"] - rec["accel"])
    rec["pwl_sites_emulated"] = len(z.em.sites)
    sweep: list[dict[str, Any]] = []
    emu_cache: dict[tuple[str, int, float | None], np.ndarray] = {}
    k_emu = cfg.emu_n(name)
    for method, seg, g in points(cfg.segments):
        if not z.em.sites:          # ReLU only: the int8 emulation is every PWL point
            ok = ok_int8
        else:
            z.em.set_pwl(method, seg, g)
            ok = evalsets.correct(z.outputs(ev.inputs[:k_emu], "pwl"), ev.labels[:k_emu])
        emu_cache[(method, seg, g)] = ok
        sweep.append({"method": method, "granularity": g, "segments": seg, "source": "emulated",
                      "accuracy": float(ok.mean()), "decisions": len(ok)})
    rec["emulated16"] = float(emu_cache[("vertical", HW_SEGMENTS, None)].mean())
    wall["emulate_s"] = time.perf_counter() - t
    # accelerator sweep (<= 16)
    t = time.perf_counter()
    sweep.extend(_accel_sweep(name, cfg, ev, acc, prog, ok_acc, rec, log))
    wall["accel_sweep_s"] = time.perf_counter() - t
    rec["sweep"] = sweep
    # fine-tuning
    if name in cfg.finetune_models:
        t = time.perf_counter()
        rec["finetune"] = [_finetune(name, seg, cfg, ev, acc, ok_float, log) for seg in cfg.finetune_segments]
        wall["finetune_s"] = time.perf_counter() - t
    wall["total_s"] = time.perf_counter() - t0
    rec["wall"] = {k: round(v, 1) for k, v in wall.items()}
    rec["peak_rss_mb"] = round(_peak_mb(), 0)
    return rec


def _accel_sweep(name: str, cfg: Config, ev: evalsets.EvalSet, acc: accel.Accelerator, prog: Any,
                 ok_acc: np.ndarray, rec: dict[str, Any], log: Any) -> list[dict[str, Any]]:
    """Accelerator points of the sweep; ReLU-only networks reuse the default Program (checked)."""
    hw_points = [(m, s, g) for m, s, g in points(cfg.segments) if s <= HW_SEGMENTS]
    out = []
    if rec["pwl_tables"] == 0:
        if ZOO[name].size == "small":   # large ones: by construction (fit_pwl alone reads the policy)
            other = accel.compile_zoo(name, accel.policy("uniform", 4))
            same = accel.digest(other) == accel.digest(prog)
            rec["policy_independent"] = same
            if not same:
                raise RuntimeError(f"{name}: no PWL table, yet the uniform-4 Program differs from the"
                                   " default")
        for m, s, g in hw_points:
            out.append({"method": m, "granularity": g, "segments": s, "source": "accelerator",
                        "accuracy": float(ok_acc.mean()), "decisions": len(ok_acc), "same_program": True})
        return out
    k = cfg.sweep_n(name)
    if k <= 0:
        out.append({"method": "vertical", "granularity": None, "segments": HW_SEGMENTS,
                    "source": "accelerator",
                    "accuracy": float(ok_acc.mean()), "decisions": len(ok_acc)})
        return out
    inputs, labels = ev.inputs[:k], ev.labels[:k]
    for m, s, g in hw_points:
        t = time.perf_counter()
        if (m, s, g) == ("vertical", HW_SEGMENTS, None):
            p = prog
        else:
            p = accel.compile_zoo(name, accel.policy(m, s, g))
        ok = evalsets.correct(acc.outputs(p, inputs), labels)
        out.append({"method": m, "granularity": g, "segments": s, "source": "accelerator",
                    "accuracy": float(ok.mean()), "decisions": len(ok)})
        log(f"  {name} accelerator {label(m, g)} {s} seg: {100 * ok.mean():.2f}% "
            f"({len(ok)} decisions, {time.perf_counter() - t:.0f} s)")
    return out


def _finetune(name: str, seg: int, cfg: Config, ev: evalsets.EvalSet, acc: accel.Accelerator,
              ok_float: np.ndarray, log: Any) -> dict[str, Any]:
    t = time.perf_counter()
    pol = accel.policy("vertical", seg)
    k = cfg.finetune_n(name) if ZOO[name].family == "bert" else len(ev.inputs)
    ev = evalsets.EvalSet(ev.name, ev.family, ev.inputs[:k], ev.labels[:k], ev.seed)
    before = evalsets.correct(acc.outputs(accel.compile_zoo(name, pol), ev.inputs), ev.labels)
    res = finetune.finetune(name, seg, cfg.recipe(name))
    tuned = load_back(name, res.state)
    after = evalsets.correct(acc.outputs(accel.compile_zoo(name, pol, model=tuned), ev.inputs), ev.labels)
    with torch.no_grad():
        ok_tuned_float = evalsets.correct(evalsets.float_outputs(tuned, ev.inputs), ev.labels)
    ok_float = ok_float[:len(after)] if ev.family != "gnn" else ok_float
    r = {"segments": seg, "method": "vertical", "source": "accelerator", "before": float(before.mean()),
         "after": float(after.mean()), "float": float(ok_float.mean()),
         "tuned_float": float(ok_tuned_float.mean()),
         "loss_before_points": 100.0 * float(ok_float.mean() - before.mean()),
         "loss_after_points": 100.0 * float(ok_float.mean() - after.mean()),
         "gain": paired(after, before), "best_step": res.best_step, "steps": res.recipe.steps,
         "lr": res.recipe.lr, "kd": res.recipe.kd, "val_before": res.val_before, "val_after": res.val_after,
         "history": res.history, "decisions": len(after), "wall_s": round(time.perf_counter() - t, 1)}
    log(f"  {name} fine-tuned at {seg} seg: accelerator {100 * r['before']:.2f}% -> {100 * r['after']:.2f}% "
        f"(best step {res.best_step}/{res.recipe.steps}, {r['wall_s']:.0f} s)")
    return r
