"""Verify one model end to end: compile, golden vs float PyTorch, RTL vs golden, figures, one report.

``python -m regressions.verify MODEL [--cfg 16x16] [--seed N] [--batch B] [--calib C] [--feed pins|stream]
[--batch-seed S] [--out DIR] [--power]`` (or ``make verify MODEL=... [CFG=...] [SEED=...]``):

1. compile ``MODEL`` (:func:`compiler.compile_model`, calibrated on ``--calib`` samples) for ``--cfg``;
2. golden simulator against float PyTorch over ``--batch`` held-out inputs
   (:func:`compiler.fidelity.fidelity`: cosine, max error relative to the output range, top-1 agreement);
3. the Program on the RTL through the one runner (:func:`tb.run.run_programs`): the scoreboard checks every
   checked tensor of the manifest bit-exact against the golden simulator, errors, counters and the AXI
   protocol;
4. figures: RTL cycles, MAC utilisation and DMA bytes from the RTL's counters, the cycle ratio against the
   analytic model (the golden counters), functional coverage of the run.

It prints one report, writes the job record (docs/regressions.md, "Job record", with ``model`` filled) as
``<name>.json`` and the report as ``<name>.md`` into the out dir, and exits 1 on any failure (each failure
with the one line that reruns it), 2 on bad arguments.  With ``--power`` the RTL run is the activity
(SAIF) build and the record carries its power report (tb/power/report.py, docs/power.md): energy per
inference, average power, GOPS/W and the per-class split, with the report's files; without it those
figures stay ``null``.

``MODEL`` is a zoo name (:data:`golden.models.ZOO`) or ``module.path:factory``.  The factory protocol: a
callable taking no arguments that returns ``(model, example_inputs)``, ``(model, example_inputs,
calibration)``, ``(model, example_inputs, calibration, batch)`` or a dict with the keys ``model`` and
``example_inputs`` and optionally ``calibration``, ``batch``, ``name``, ``family`` and ``task``
(``"classify"``: top-1 agreement must reach ``min_top1``; anything else: top-1 is reported only).
``calibration`` is a list of input tuples or a callable ``n -> list``; ``batch`` a list of input tuples or a
callable ``(n, seed) -> list``.  Without ``calibration`` the compiler calibrates on the example input; without
``batch`` fidelity is measured on the calibration samples (in-sample, and the report says so).

:func:`verify_job` is the regression job kind ``verify_model`` (params: model, cfg, seed, batch, batch_seed,
calib, feed, min_cosine, min_top1; see :data:`DEFAULTS`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pathlib
import resource
import shlex
import socket
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from golden.program import Program

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULTS: dict[str, Any] = {"cfg": "16x16", "seed": 1, "batch": 64, "batch_seed": 0, "calib": 32,
                            "feed": "pins", "mem_profile": "fast", "min_cosine": None, "min_top1": 0.97,
                            "power": False}
"""Parameters of a verification run when not given (min_top1 applies to classify models only;
min_cosine None = the model's own bar: ``ModelSpec.min_cosine`` for zoo models, 0.99 otherwise).

``seed`` is the RTL run's seed (timing knobs), ``batch_seed`` the held-out fidelity batch's: the RTL
seed must not change the data golden is judged on against float, and 0 is the held-out batch of the
zoo's other fidelity checks (regressions/jobs.py ``model_fidelity``, tests/test_compiler_zoo.py)."""
POWER_NOTE = "not measured: run with --power (activity build, docs/power.md)"
Record = dict[str, Any]


class ModelSpecError(ValueError):
    """MODEL is neither a zoo name nor a usable ``module.path:factory``."""


@dataclass
class ModelUnderTest:
    """What a verification run needs of a model, whichever way it was named."""

    name: str
    family: str
    task: str
    model: Any
    example: tuple[Any, ...]
    calibration: list[tuple[Any, ...]]
    batch: list[tuple[Any, ...]]
    batch_source: str
    min_cosine: float = 0.99
    targets: list[Any] | None = None
    """Labels aligned with ``batch`` (zoo classifiers; GNNs: training nodes -1): the accuracy loss."""


def _as_inputs(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _samples(value: Any, args: tuple[int, ...], what: str, spec: str) -> list[tuple[Any, ...]] | None:
    if value is None:
        return None
    got = value(*args) if callable(value) else value
    if not isinstance(got, (list, tuple)) or not got:
        raise ModelSpecError(f"model {spec!r}: {what} must be a non-empty list of input tuples"
                             f" (or a callable returning one), got {type(got).__name__}")
    return [_as_inputs(s) for s in got]


def resolve_model(spec: str, *, batch: int, calib: int, seed: int = 0) -> ModelUnderTest:
    """A zoo name or ``module.path:factory`` -> the model, its inputs, calibration and fidelity batch."""
    from golden.models import ZOO

    if spec in ZOO:
        from golden.study.evalsets import judged_labels

        z = ZOO[spec]
        model, example = z.build()
        return ModelUnderTest(z.name, z.family, z.task, model, _as_inputs(example), z.calibration(calib),
                              z.batch(batch, seed), f"{batch} held-out zoo samples (seed {seed})",
                              z.min_cosine,
                              judged_labels(spec, batch, seed) if z.task == "classify" else None)
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ModelSpecError(f"model {spec!r}: not a zoo model ({', '.join(sorted(ZOO))}) and not of the"
                             " form module.path:factory")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # ImportError, or whatever the module raises while importing
        raise ModelSpecError(f"model {spec!r}: module {mod_name!r} cannot be imported"
                             f" ({type(e).__name__}: {e})") from e
    factory = getattr(mod, attr, None)
    if factory is None:
        raise ModelSpecError(f"model {spec!r}: module {mod_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise ModelSpecError(f"model {spec!r}: {mod_name}.{attr} is a {type(factory).__name__}, not callable")
    try:
        out = factory()
    except Exception as e:
        raise ModelSpecError(f"model {spec!r}: {mod_name}.{attr}() raised {type(e).__name__}: {e}") from e
    if isinstance(out, dict):
        d = dict(out)
    elif isinstance(out, tuple) and 2 <= len(out) <= 4:
        d = dict(zip(("model", "example_inputs", "calibration", "batch"), out, strict=False))
    else:
        raise ModelSpecError(f"model {spec!r}: {mod_name}.{attr}() returned {type(out).__name__}; expected"
                             " (model, example_inputs[, calibration[, batch]]) or a dict with those keys")
    import torch

    model = d.get("model")
    if not isinstance(model, torch.nn.Module):
        raise ModelSpecError(f"model {spec!r}: the factory's model is a {type(model).__name__},"
                             " not a torch.nn.Module")
    if d.get("example_inputs") is None:
        raise ModelSpecError(f"model {spec!r}: the factory gave no example_inputs")
    example = _as_inputs(d["example_inputs"])
    cal = _samples(d.get("calibration"), (calib,), "calibration", spec)
    bat = _samples(d.get("batch"), (batch, seed), "batch", spec)
    source = f"factory batch ({len(bat)})" if bat else (
        f"calibration samples ({len(cal)}; in-sample: the factory gave no batch)" if cal
        else "the example input only (the factory gave no batch or calibration)")
    name = str(d.get("name") or attr)
    return ModelUnderTest(_safe(name), str(d.get("family", "custom")), str(d.get("task", "embed")), model,
                          example, cal or [example], bat or cal or [example], source)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked before anything runs (a clear error names it)."""
    from golden.hwcfg import parse_hw
    from tb.env.cfg import FEEDS, MEM_PROFILES

    unknown = sorted(set(params) - set(DEFAULTS) - {"model"})
    if unknown:
        raise ValueError(f"verify: unknown parameter(s) {unknown}; known: model, {', '.join(DEFAULTS)}")
    if not params.get("model"):
        raise ValueError("verify: parameter 'model' (a zoo name or module.path:factory) is required")
    p = {**DEFAULTS, **params}
    parse_hw(p["cfg"])  # raises ValueError naming the configuration
    for key in ("seed", "batch_seed", "batch", "calib"):
        low = 0 if "seed" in key else 1
        if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < low:
            raise ValueError(f"verify: {key} must be an integer >= {low}, not {p[key]!r}")
    if p["feed"] not in FEEDS:
        raise ValueError(f"verify: feed must be one of {FEEDS}, not {p['feed']!r}")
    if not isinstance(p["power"], bool):
        raise ValueError(f"verify: power must be true or false, not {p['power']!r}")
    if p["mem_profile"] not in MEM_PROFILES:
        known = tuple(MEM_PROFILES)
        raise ValueError(f"verify: mem_profile must be one of {known}, not {p['mem_profile']!r}")
    return p


def _profile(name: str | None) -> str:
    """A memory profile with what it means: utilisation figures are only comparable at equal latency."""
    from tb.env.cfg import MEM_PROFILES

    if not name:
        return "-"
    k = MEM_PROFILES[name]
    return f"'{name}': {k['rd_latency']}-cycle reads, back-pressure {k['backpressure']}"


def rerun_line(p: dict[str, Any], power: bool = False) -> str:
    """The command that repeats this verification (with the RTL directory when NMX_RTL_DIR is set)."""
    from tb.sim_env import RTL_DIR_ENV

    args = [".venv/bin/python", "-m", "regressions.verify", str(p["model"]), "--cfg", str(p["cfg"]),
            "--seed", str(p["seed"]), "--batch", str(p["batch"]), "--batch-seed", str(p["batch_seed"]),
            "--calib", str(p["calib"]), "--feed", p["feed"], "--mem-profile", p["mem_profile"]]
    if power or p.get("power"):
        args.append("--power")
    rtl = os.environ.get(RTL_DIR_ENV, "")
    prefix = f"{RTL_DIR_ENV}={shlex.quote(str(pathlib.Path(rtl).resolve()))} " if rtl else ""
    return prefix + " ".join(shlex.quote(a) for a in args)


class TreePeak:
    """Peak resident memory of this process and its children (the simulator), sampled by a thread.

    ``getrusage(RUSAGE_CHILDREN)`` is no use here: a child forked from this (large) process reports
    the parent's pages as its own maximum.  Sampling the sum over the live process tree is what "peak
    RSS of the job's process tree" (docs/regressions.md) means; the period bounds what a spike shorter
    than it can hide.
    """

    def __init__(self, period_s: float = 0.2) -> None:
        self.period_s = period_s
        self.peak_tree = 0
        self.peak_children = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        kids = 0
        for c in me.children(recursive=True):
            try:
                kids += c.memory_info().rss
            except psutil.Error:  # a child that ended between listing and reading
                pass
        self.peak_children = max(self.peak_children, kids)
        self.peak_tree = max(self.peak_tree, me.memory_info().rss + kids)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __enter__(self) -> TreePeak:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def figures(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"peak_rss_mb": round(self.peak_tree / 2**20, 1), "peak_rss_self_mb": round(own, 1),
                "peak_rss_sim_mb": round(self.peak_children / 2**20, 1)}


def verify_job(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Verify ``params['model']`` end to end into ``outdir`` -> a job record (docs/regressions.md).

    Bad parameters and a bad model spec raise ValueError before any work.  Anything that raises later
    becomes a failure of the record (status ``error``, with the traceback) and the stages that do not
    depend on it still run, so nothing already computed is lost.
    """
    p = check_params(params)
    with TreePeak() as peak:
        return _verify(p, pathlib.Path(outdir), peak)


def _verify(p: dict[str, Any], outdir: pathlib.Path, peak: TreePeak) -> Record:
    from golden.hwcfg import hw_name, parse_hw

    hw = parse_hw(p["cfg"])
    started, t_start = dt.datetime.now().isoformat(timespec="seconds"), time.perf_counter()
    mut = resolve_model(str(p["model"]), batch=p["batch"], calib=p["calib"], seed=p["batch_seed"])
    wall: dict[str, float] = {"model_s": time.perf_counter() - t_start}
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model: Record = {"name": mut.name, "family": mut.family, "cfg": hw_name(hw), "insns": None,
                     "rtl_cycles": None, "golden_cycles": None, "cycle_ratio": None, "mac_util": None,
                     "useful_mac_util": None, "io_bound_ratio": None,
                     "mem_profile": None,
                     "dma_rd_bytes": None, "dma_wr_bytes": None, "cosine": None, "max_abs_err": None,
                     "top1": None, "coverage_pct": None, "energy_uj": None, "power_mw": None,
                     "acc_loss": None}
    checks: list[dict[str, Any]] = []
    failures: list[Record] = []
    errors: list[str] = []
    detail: Record = {"batch_source": mut.batch_source, "task": mut.task, "outdir": str(outdir)}
    verify_rerun = rerun_line(p)

    def stage_error(stage: str, exc: BaseException) -> None:
        from tb.env.verdict import exception_signature

        errors.append(f"{stage}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        failures.append({"name": f"{mut.name}:{stage}", "seed": p["seed"],
                         "signature": exception_signature(type(exc).__name__, str(exc)),
                         "message": f"{stage} raised {type(exc).__name__}: {exc}", "rerun": verify_rerun})
        checks.append({"check": stage, "ok": False, "detail": f"raised {type(exc).__name__}: {exc}"})

    prog = None
    t = time.perf_counter()
    try:
        prog = _compile(mut, hw, outdir, detail)
        model["insns"] = len(prog.insns)
    except Exception as exc:  # a model the compiler cannot take is a failure of this run, not a crash
        stage_error("compile", exc)
    wall["compile_s"] = time.perf_counter() - t
    if prog is not None:
        t = time.perf_counter()
        try:
            _fidelity(mut, prog, p, model, checks, failures, verify_rerun)
        except Exception as exc:
            stage_error("fidelity", exc)
        wall["fidelity_s"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            _rtl(prog, hw, p, outdir, model, checks, failures, detail)
        except Exception as exc:
            stage_error("rtl", exc)
        wall["rtl_s"] = time.perf_counter() - t
    status = "error" if errors else "pass" if all(c["ok"] for c in checks) and checks else "fail"
    peak._sample()
    mem = peak.figures()
    wall_s = round(time.perf_counter() - t_start, 2)
    figures = {k: model[k] for k in ("insns", "rtl_cycles", "golden_cycles", "cycle_ratio", "mac_util",
                                     "useful_mac_util", "io_bound_ratio",
                                     "dma_rd_bytes", "dma_wr_bytes", "cosine", "top1", "coverage_pct",
                                     "energy_uj", "power_mw", "acc_loss")}
    figures.update({k: round(v, 2) for k, v in wall.items()})
    figures.update(mem)
    bad = [c for c in checks if not c["ok"]]
    rec: Record = {
        "status": status,
        "passed": status == "pass",
        "reason": "" if status == "pass" else "; ".join(f"{c['check']}: {c['detail']}" for c in bad)[:500],
        "wall_s": wall_s,
        "started": started,
        "host": socket.gethostname(),
        "peak_rss_mb": mem["peak_rss_mb"],
        "figures": figures,
        "failures": failures[:50],
        "model": model,
        "checks": checks,
        "verify": {**detail, "params": p, "rerun": verify_rerun},
    }
    if "coverage" in detail:
        rec["coverage"] = detail.pop("coverage")
    if errors:
        rec["traceback"] = "\n".join(errors)
    return rec


def _compile(mut: ModelUnderTest, hw: Any, outdir: pathlib.Path, detail: Record) -> Any:
    from compiler import compile_model
    from compiler.compile import release_compile_state
    from tb.env.compare import checked_tensors

    prog = compile_model(mut.model, mut.example, calibration=mut.calibration, hw=hw, name=mut.name)
    release_compile_state(prog)   # the compiler's working state is not needed by fidelity or the RTL
    path = outdir / f"{mut.name}.nmxp"
    prog.save(path)
    checked = checked_tensors(prog)
    detail.update(program=str(path), checked_tensors=len(checked),
                  checked_bytes=int(sum(_tensor_bytes(t) for t in checked)))
    return prog


def _tensor_bytes(t: dict[str, Any]) -> int:
    import numpy as np

    n = 1
    for d in t["shape"]:
        n *= int(d)
    return n * np.dtype(t["dtype"]).itemsize


def _fidelity(mut: ModelUnderTest, prog: Any, p: dict[str, Any], model: Record, checks: list[dict[str, Any]],
              failures: list[Record], rerun: str) -> None:
    from compiler.fidelity import fidelity

    fid = fidelity(mut.model, mut.batch, program=prog, targets=mut.targets)
    model.update(cosine=round(fid.cosine, 6), max_abs_err=round(fid.max_abs_rel, 6), top1=round(fid.top1, 4))
    if fid.acc_float is not None and fid.acc_golden is not None:   # task accuracy, points (docs/fidelity.md)
        model["acc_loss"] = round(100.0 * (fid.acc_float - fid.acc_golden), 3)
    min_top1 = float(p["min_top1"]) if mut.task == "classify" else 0.0
    min_cos = float(p["min_cosine"]) if p["min_cosine"] is not None else mut.min_cosine
    for name, ok, text in (
        ("cosine", fid.cosine >= min_cos,
         f"golden vs float cosine {fid.cosine:.4f} (min over {fid.n} samples),"
         f" required >= {min_cos}"),
        ("top1", fid.top1 >= min_top1,
         f"golden vs float top-1 agreement {100 * fid.top1:.1f}% over {fid.n} samples, required"
         f" >= {100 * min_top1:.1f}%"),
    ):
        checks.append({"check": name, "ok": bool(ok), "detail": text})
        if not ok:
            failures.append({"name": f"{mut.name}:{name}", "seed": p["seed"], "message": text,
                             "signature": f"check:fidelity {name}", "rerun": rerun})


def _rtl(prog: Any, hw: Any, p: dict[str, Any], outdir: pathlib.Path, model: Record,
         checks: list[dict[str, Any]], failures: list[Record], detail: Record) -> None:
    from golden.isa import Counter
    from tb.env.cfg import RunKnobs
    from tb.run import PowerOpts, ProgramRun, run_programs

    path = pathlib.Path(detail["program"])
    knobs = RunKnobs.profile(p["mem_profile"], feed=p["feed"])
    run = ProgramRun(prog, knobs, name=prog.manifest["name"], program_file=path)
    res = run_programs([run], hw=hw, seed=p["seed"], out=outdir / "rtl",
                       power=PowerOpts() if p["power"] else None)
    detail.update(rtl_dir=res.out_dir, sim_wall_s=round(res.sim_wall_time, 2))
    if not res.runs:
        text = f"the simulator produced no result: {res.sim_error or 'no result.json'}"
        checks.append({"check": "rtl", "ok": False, "detail": text})
        failures.append({"name": prog.manifest["name"], "seed": p["seed"], "signature": "check:" + text[:40],
                         "message": text, "rerun": rerun_line(p)})
        return
    r = res.runs[0]
    cyc = r.counters.get(Counter.CYCLES, 0)
    model.update(rtl_cycles=cyc, golden_cycles=r.golden_counters.get(Counter.CYCLES, 0),
                 cycle_ratio=round(r.cycle_ratio, 4) if r.cycle_ratio else None,
                 mac_util=round(r.mac_utilisation, 4), dma_rd_bytes=r.counters.get(Counter.DMA_RD_BYTES, 0),
                 dma_wr_bytes=r.counters.get(Counter.DMA_WR_BYTES, 0),
                 coverage_pct=r.coverage.get("percent"), mem_profile=p["mem_profile"])
    model.update(_useful_and_bound(prog, cyc, model["dma_rd_bytes"] + model["dma_wr_bytes"]))
    detail.update(cycles_per_s=round(r.cycles_per_s), sim_cycles=r.sim_cycles, rtl_error=r.error,
                  golden_error=r.golden_error, warnings=list(r.warnings),
                  first_mismatch=r.mismatches[0].describe() if r.mismatches else None)
    cov = res.coverage.get("summary", {})
    detail["coverage"] = {"percent": cov.get("percent", 0.0), "hit": cov.get("hit", 0),
                          "total": cov.get("bins", 0), "holes": cov.get("holes", []),
                          "file": str(pathlib.Path(res.out_dir) / "coverage_merged.json")}
    if p["power"]:
        _power(r, model, checks, failures, detail)
    ok = bool(r.passed and not res.sim_error)
    text = (f"bit-exact on all {detail['checked_tensors']} checked tensors, error {r.error}"
            f" (golden {r.golden_error})" if ok
            else "; ".join(r.failures[:3]) or f"simulator: {res.sim_error}")
    checks.append({"check": "rtl", "ok": ok, "detail": text})
    if not ok:
        failures.append({"name": r.name, "seed": r.seed, "signature": r.verdict.signature,
                         "message": text, "rerun": r.rerun})
    for name, ok, why in (("rtl_cycles", cyc > 0, f"RTL CYCLES counter {cyc}"),
                          ("golden_status", r.golden_error == "NONE",
                           f"the compiled Program ends with golden error {r.golden_error}")):
        checks.append({"check": name, "ok": bool(ok), "detail": why})
        if not ok:
            failures.append({"name": r.name, "seed": r.seed, "signature": "check:" + why.split(" ")[0],
                             "message": why, "rerun": r.rerun})


def _useful_and_bound(prog: Program, cycles: int, traffic: int) -> dict[str, float | None]:
    """Useful MAC utilisation and traffic / I/O lower bound of a run (definitions: compiler.perf)."""
    from compiler.perf import bounds

    hw = prog.hw
    layers = prog.manifest["layers"]
    useful = sum(int(ly["meta"].get("macs", 0)) for ly in layers)
    bound = sum(bounds(ly["meta"].get("gemms", []), hw)["bound"] for ly in layers)
    return {"useful_mac_util": round(useful / (hw.rows * hw.cols * cycles), 4) if cycles and useful else None,
            "io_bound_ratio": round(traffic / bound, 3) if bound else None}


def _power(r: Any, model: Record, checks: list[dict[str, Any]], failures: list[Record],
           detail: Record) -> None:
    """The power report's headline figures into the record (a missing report is a failed check)."""
    rep = r.power
    if rep is None:
        why = f"no power report: {r.power_error or 'no activity captured'}"
        checks.append({"check": "power", "ok": False, "detail": why})
        failures.append({"name": r.name, "seed": r.seed, "signature": "check:power", "message": why,
                         "rerun": r.rerun})
        return
    model.update(energy_uj=round(rep["energy_per_inference_uj"], 3), power_mw=round(rep["power_mw"], 2))
    detail["power"] = {
        "tech": rep["tech"]["name"], "clock_mhz": rep["clock_mhz"], "gops": round(rep["gops"], 2),
        "gops_per_w": round(rep["gops_per_w"], 1), "dynamic_mw": round(rep["dynamic_mw"], 2),
        "leakage_mw": round(rep["leakage_mw"], 2),
        "classes_uj": {c: round(v["total_pj"] * 1e-6, 3) for c, v in rep["classes"].items()},
        "cross_check": {c: v["ratio_toggle_over_event"] for c, v in rep["cross_check"].items()},
        "timing_s": rep["timing_s"], "files": rep["files"],
    }
    err = rep["checks"]["layers_sum_rel_err"]
    checks.append({"check": "power", "ok": err < 0.01,
                   "detail": f"per-layer energies add up to the run within {err:.1e} (relative)"})


# --------------------------------------------------------------------------- report


def _fmt(v: Any, spec: str = ",") -> str:
    return "-" if v is None else format(v, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def report_lines(rec: Record, power: bool = False) -> list[tuple[str, str]]:
    """(label, text) rows of the report: the same content for the terminal and the markdown file."""
    m, v = rec["model"], rec["verify"]
    f = rec["figures"]
    cov = f" ({rec['coverage']['hit']}/{rec['coverage']['total']})" if "coverage" in rec else ""
    rows = [
        ("program", f"{_fmt(m['insns'])} instructions, {_fmt(v.get('checked_tensors'))} checked tensors"
                    f" ({_fmt(v.get('checked_bytes'))} bytes): {v.get('program', '-')}"),
        ("RTL vs golden", next((c["detail"] for c in rec["checks"] if c["check"] == "rtl"), "not run")),
        ("cycles", f"RTL {_fmt(m['rtl_cycles'])}, golden (analytic) {_fmt(m['golden_cycles'])},"
                   f" ratio {_fmt(m['cycle_ratio'], '.3f')}"),
        ("MAC utilisation", f"{_pct(m['mac_util'])} (RTL counters MAC_CYCLES / CYCLES,"
                            f" memory profile {_profile(m.get('mem_profile'))})"),
        ("useful MAC utilisation", f"{_pct(m.get('useful_mac_util'))} (the float model's linear-op MACs"
                                   " / (ROWS x COLS x RTL cycles), docs/performance.md)"),
        ("DMA bytes", f"read {_fmt(m['dma_rd_bytes'])}, write {_fmt(m['dma_wr_bytes'])};"
                      f" {_fmt(m.get('io_bound_ratio'), '.2f')}x the I/O lower bound"),
        ("golden vs float", f"cosine min {_fmt(m['cosine'], '.4f')},"
                            f" max|err|/range {_fmt(m['max_abs_err'], '.4f')},"
                            f" top-1 agreement {_pct(m['top1'])} over {v.get('batch_source', '-')}"),
        ("coverage", f"{_fmt(m['coverage_pct'])}% of the plan's bins in this run" + cov),
        ("power", _power_line(rec)),
        ("wall time", f"model {_fmt(f.get('model_s'))} s, compile {_fmt(f.get('compile_s'))} s,"
                      f" golden fidelity {_fmt(f.get('fidelity_s'))} s, RTL {_fmt(f.get('rtl_s'))} s"
                      f" ({_fmt(v.get('cycles_per_s'))} cycles/s), total {rec['wall_s']} s"),
        ("peak memory", f"{rec['peak_rss_mb']} MB resident (process tree), {f['peak_rss_self_mb']} MB"
                        f" this process, {f['peak_rss_sim_mb']} MB simulator"),
    ]
    for c in rec["checks"]:
        if not c["ok"]:
            rows.append(("FAILED", f"{c['check']}: {c['detail']}"))
    for fl in rec["failures"]:
        rows.append(("signature", fl["signature"]))
        rows.append(("rerun", fl["rerun"]))
    if not rec["passed"] and all(fl["rerun"] != rec["verify"]["rerun"] for fl in rec["failures"]):
        rows.append(("verify again", rec["verify"]["rerun"]))
    return rows


def _power_line(rec: Record) -> str:
    m, pw = rec["model"], rec["verify"].get("power")
    if m.get("energy_uj") is None or not pw:
        return POWER_NOTE
    split = ", ".join(f"{c} {v:.3g}" for c, v in sorted(pw["classes_uj"].items(), key=lambda kv: -kv[1]))
    return (f"{m['energy_uj']:,.2f} uJ per inference, {m['power_mw']:.1f} mW at {pw['clock_mhz']:g} MHz"
            f" ({pw['tech']}), {pw['gops']:.1f} GOPS, {pw['gops_per_w']:.0f} GOPS/W; uJ by class: {split};"
            f" report {pw['files']['markdown']}")


def _title(rec: Record) -> str:
    m, p = rec["model"], rec["verify"]["params"]
    return (f"verify {m['name']} on {m['cfg']} (seed {p['seed']}, feed {p['feed']}):"
            f" {rec['status'].upper()}")


def format_text(rec: Record, power: bool = False) -> str:
    rows = report_lines(rec, power)
    w = max(len(k) for k, _ in rows)
    return "\n".join([_title(rec), *(f"  {k:<{w}}  {t}" for k, t in rows)])


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(rec: Record, power: bool = False) -> str:
    lines = [f"# {_title(rec)}", "", f"`{rec['verify']['rerun']}`", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {_md_cell(t)} |" for k, t in report_lines(rec, power)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def _default_out(model: str, cfg: str, seed: int) -> pathlib.Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return REPO / "build" / "verify" / f"{_safe(model)}-{_safe(cfg)}-s{seed}-{stamp}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.verify", description=__doc__.splitlines()[0],
                                 epilog="MODEL: a zoo name of golden.models.ZOO (resnet_tiny, bert_tiny,"
                                        " gcn_karate, ...) or module.path:factory (protocol: this module's"
                                        " docstring)")
    ap.add_argument("model", metavar="MODEL")
    ap.add_argument("--cfg", default=DEFAULTS["cfg"], help="configuration name of golden/hwcfg.py")
    ap.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed of the RTL run (timing knobs)")
    ap.add_argument("--batch", type=int, default=DEFAULTS["batch"],
                    help="held-out inputs for golden vs float")
    ap.add_argument("--batch-seed", type=int, default=DEFAULTS["batch_seed"],
                    help="seed of the held-out batch (0: the zoo's held-out set of the fidelity jobs)")
    ap.add_argument("--calib", type=int, default=DEFAULTS["calib"],
                    help="calibration samples of the compiler")
    ap.add_argument("--feed", choices=("pins", "stream"), default=DEFAULTS["feed"],
                    help="instruction feed of the RTL run")
    ap.add_argument("--mem-profile", default=DEFAULTS["mem_profile"],
                    help="RTL memory model: fast (2-cycle reads), nominal (20), stress (30, stalls)")
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help="output directory (default build/verify/MODEL-CFG-sSEED-<time>/)")
    ap.add_argument("--power", action="store_true",
                    help="activity (SAIF) build: energy, power and GOPS/W in the record (docs/power.md)")
    a = ap.parse_args(argv)
    params = {"model": a.model, "cfg": a.cfg, "seed": a.seed, "batch": a.batch, "batch_seed": a.batch_seed,
              "calib": a.calib, "feed": a.feed, "mem_profile": a.mem_profile, "power": a.power}
    outdir = (a.out or _default_out(a.model, a.cfg, a.seed)).resolve()
    try:
        rec = verify_job(params, outdir)
    except ValueError as e:  # ModelSpecError included: bad input, said clearly, before any work
        print(f"python -m regressions.verify: error: {e}", file=sys.stderr)
        return 2
    name = f"verify_{_safe(rec['model']['name'])}_{_safe(rec['model']['cfg'])}"
    rec = {"name": name, "kind": "verify_model", "params": params, "tags": ["verify", rec["model"]["family"]],
           **rec}
    rec["verify"]["rerun"] = rerun_line(params, a.power)
    (outdir / f"{name}.json").write_text(json.dumps(rec, indent=1, default=str))
    (outdir / f"{name}.md").write_text(format_markdown(rec, a.power))
    print(format_text(rec, a.power))
    print(f"  {'results':<15}  {outdir / name}.json, .md")
    if rec.get("traceback"):
        print(rec["traceback"], file=sys.stderr)
    return 0 if rec["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DEFAULTS", "ModelSpecError", "ModelUnderTest", "check_params", "format_markdown", "format_text",
           "main", "rerun_line", "resolve_model", "verify_job"]
