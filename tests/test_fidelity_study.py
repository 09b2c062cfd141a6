"""The NeuralMatrix accuracy study (golden/study, docs/fidelity.md) on the smallest model per family.

Asserted on measured accuracies (nothing hard-coded): more PWL segments never lose accuracy by more
than noise, horizontal+vertical is never worse than uniform at the same budget, and approximation-aware
fine-tuning does not lower accuracy.  "Noise" of a paired accuracy difference = 2 x sqrt(discordant
decisions) / N (McNemar), at least one decision.  Also: the compiler's PWL policy knob leaves the
default Programs byte-identical, and the study's program-order runner equals the golden simulator.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from compiler import compile_model
from compiler.lower.post import PwlPolicy
from golden.models import ZOO, gnn
from golden.sim import run_program
from golden.study import METHODS, PAPER_GRANULARITY, SEGMENTS, accel, evalsets, finetune
from golden.study.emulate import FNS, _site_range, fit_any
from golden.study.sweep import SMALLEST, paired
from golden.study.zoo import emulation, load_back

N_EVAL = {"resnet_tiny": 200, "bert_tiny": 128, "gcn_karate": 16}


def noise(a: np.ndarray, b: np.ndarray) -> float:
    """Tolerance of ``mean(a) - mean(b)`` (fraction): 2 paired standard errors, >= one decision."""
    p = paired(a, b)
    return max(2.0 * p["se_points"] / 100.0, 1.0 / len(a))


@pytest.fixture(scope="module")
def emulated() -> dict[str, dict[tuple[str, int, float | None], np.ndarray]]:
    """Per model, per (method, segments, granularity): correct/incorrect per held-out decision."""
    torch.set_num_threads(1)
    out = {}
    for name in SMALLEST:
        z = emulation(name)
        ev = evalsets.heldout(name, N_EVAL[name])
        res = {("int8", 0, None): evalsets.correct(z.outputs(ev.inputs, "int8"), ev.labels)}
        lines = [(m, None) for m in METHODS] + [("uniform", PAPER_GRANULARITY)]
        for (m, g), s in itertools.product(lines, SEGMENTS):
            z.em.set_pwl(m, s, g)
            res[(m, s, g)] = evalsets.correct(z.outputs(ev.inputs, "pwl"), ev.labels)
        out[name] = res
    return out


@pytest.mark.parametrize("name", SMALLEST)
def test_more_segments_never_lose_more_than_noise(emulated: dict, name: str) -> None:
    res = emulated[name]
    for m, g in [(m, None) for m in METHODS] + [("uniform", PAPER_GRANULARITY)]:
        for s1, s2 in itertools.combinations(SEGMENTS, 2):
            lo, hi = res[(m, s1, g)], res[(m, s2, g)]
            assert hi.mean() >= lo.mean() - noise(hi, lo), (name, m, g, s1, s2, lo.mean(), hi.mean())


@pytest.mark.parametrize("name", SMALLEST)
def test_horizontal_vertical_never_worse_than_uniform(emulated: dict, name: str) -> None:
    res = emulated[name]
    for s in SEGMENTS:
        v = res[("vertical", s, None)]
        for base in (res[("uniform", s, None)], res[("uniform", s, PAPER_GRANULARITY)]):
            assert v.mean() >= base.mean() - noise(v, base), (name, s, v.mean(), base.mean())


def test_bert_tiny_pwl_error_shrinks_and_64_segments_match_exact(emulated: dict) -> None:
    """BERT has real PWL sites: every site's fitted error falls with the budget, and at 64 segments the
    emulated accuracy equals the int8-only (exact nonlinear ops) accuracy within noise."""
    res = emulated["bert_tiny"]
    v64, exact = res[("vertical", 64, None)], res[("int8", 0, None)]
    assert abs(v64.mean() - exact.mean()) <= noise(v64, exact)
    z = emulation("bert_tiny")
    assert len(z.em.sites) >= 10
    for s in z.em.sites.values():
        lo, hi = _site_range(s)
        smp = s.all_samples()
        err = [float(np.abs(fit_any(s.fn, smp, lo, hi, "vertical", k)(smp) - FNS[s.fn].np_fn(smp)).mean())
               for k in SEGMENTS]
        assert all(b <= a * 1.05 for a, b in itertools.pairwise(err)), (s.fn, err)


def test_accelerator_sweep_bert_tiny() -> None:
    """The real compiler + golden simulator at 4 segments: horizontal+vertical >= uniform, 16 >= 4."""
    ev = evalsets.heldout("bert_tiny", 32)
    acc = accel.Accelerator()
    ok = {}
    for pol in (None, accel.policy("uniform", 4), accel.policy("vertical", 4)):
        prog = accel.compile_zoo("bert_tiny", pol, calibration=16)
        ok[pol] = evalsets.correct(acc.outputs(prog, ev.inputs), ev.labels)
        if pol is not None:   # every fitted table uses at most 4 segments
            assert prog.compile_info["pwl"] and max(s["segments"] for s in prog.compile_info["pwl"]) <= 4
    u4, v4, v16 = ok[accel.policy("uniform", 4)], ok[accel.policy("vertical", 4)], ok[None]
    assert v4.mean() >= u4.mean() - noise(v4, u4)
    assert v16.mean() >= v4.mean() - noise(v16, v4)


class _Gelu(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.a = torch.nn.Linear(24, 32)
        self.b = torch.nn.Linear(32, 8)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.nn.functional.gelu(self.a(x)))


def test_pwl_policy_default_is_byte_identical() -> None:
    m = _Gelu().eval()
    g = torch.Generator().manual_seed(0)
    cal = [(torch.randn(4, 24, generator=g),) for _ in range(4)]
    progs = {k: compile_model(m, cal[0], calibration=cal, pwl_policy=p) for k, p in
             [("none", None), ("default", PwlPolicy()), ("explicit", PwlPolicy("vertical", 16)),
              ("u4", PwlPolicy("uniform", 4)), ("g", PwlPolicy("uniform", 16, PAPER_GRANULARITY))]}
    base = progs["none"].to_bytes()
    assert progs["default"].to_bytes() == base and progs["explicit"].to_bytes() == base
    assert progs["u4"].to_bytes() != base and progs["g"].to_bytes() != base
    assert [s["segments"] for s in progs["none"].compile_info["pwl"]] == [16]
    assert [(s["segments"], s["method"]) for s in progs["u4"].compile_info["pwl"]] == [(4, "uniform")]
    x = cal[1]
    y16, y4 = run_program(progs["none"], x)[0], run_program(progs["u4"], x)[0]
    with torch.no_grad():
        ref = m(*x)
    assert float((y16 - ref).abs().max()) <= float((y4 - ref).abs().max())


def test_relu_network_is_policy_independent_and_runner_exact() -> None:
    a = accel.compile_zoo("gcn_karate", calibration=8)
    b = accel.compile_zoo("gcn_karate", accel.policy("uniform", 4), calibration=8)
    assert accel.digest(a) == accel.digest(b)
    x = ZOO["gcn_karate"].batch(2, 0)[1]
    run = accel.FastRunner(a)
    assert torch.equal(run(x)[0], run_program(a, x)[0]) and run.checked


@pytest.mark.parametrize("name", SMALLEST)
def test_finetuning_does_not_lower_accuracy(name: str) -> None:
    """Fine-tune briefly for 4 segments; the recompiled Program is judged on the accelerator."""
    torch.set_num_threads(1)
    fam = ZOO[name].family
    recipe = finetune.Recipe(steps=10, lr=finetune.RECIPES[fam].lr, recal_every=5, val_every=5)
    res = finetune.finetune(name, 4, recipe)
    assert res.val_after >= res.val_before
    n = {"resnet_tiny": 100, "bert_tiny": 24, "gcn_karate": 8}[name]
    ev = evalsets.heldout(name, n)
    acc, pol = accel.Accelerator(), accel.policy("vertical", 4)
    prog = accel.compile_zoo(name, pol, calibration=16)
    before = evalsets.correct(acc.outputs(prog, ev.inputs), ev.labels)
    tuned = load_back(name, res.state)
    prog = accel.compile_zoo(name, pol, model=tuned, calibration=16)
    after = evalsets.correct(acc.outputs(prog, ev.inputs), ev.labels)
    assert after.mean() >= before.mean() - noise(after, before), (before.mean(), after.mean())


def test_fidelity_accuracy_from_targets() -> None:
    """compiler.fidelity with ``targets`` (what regressions.verify records as ``acc_loss``)."""
    from compiler.fidelity import fidelity

    prog = accel.compile_zoo("gcn_karate", calibration=8)
    xs = ZOO["gcn_karate"].batch(4, 0)
    ys = evalsets.judged_labels("gcn_karate", 4, 0)
    fid = fidelity(ZOO["gcn_karate"].build()[0], xs, program=prog, targets=ys)
    ev = evalsets.EvalSet("gcn_karate", "gnn", [tuple(x) for x in xs], ys)
    assert fid.acc_golden == pytest.approx(ev.accuracy(accel.Accelerator().outputs(prog, ev.inputs)))
    model = ZOO["gcn_karate"].build()[0]
    assert fid.acc_float == pytest.approx(ev.accuracy(evalsets.float_outputs(model, xs)))
    assert ev.decisions == 4 * int((~gnn.graph_of("gcn_karate").train_mask).sum())


def test_nightly_runs_the_study_on_small_models(tmp_path) -> None:
    from regressions import jobs
    from regressions.suite import load_suites

    study = [j for j in load_suites()["nightly"] if j.kind == "fidelity_study"]
    assert len(study) == 1
    names = study[0].params["models"].split(",")
    assert set(SMALLEST) <= set(names)
    assert all(ZOO[n].size == "small" and ZOO[n].task == "classify" for n in names)
    with pytest.raises(ValueError, match="not zoo classifiers"):
        jobs.KINDS["fidelity_study"]({"models": "bert_base"}, tmp_path)
