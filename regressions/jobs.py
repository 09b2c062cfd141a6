"""Job kinds of the regression suites: each takes its YAML params and an output folder, returns a record.

A record is a dict with at least ``passed`` (bool) and ``figures`` (the few numbers the summary
table shows); anything else in it (per-seed results, coverage, counters) is kept in the job's JSON.
Heavy imports happen inside the jobs so a broken layer fails only the jobs that use it.  Every ``cfg``
parameter is a configuration name of golden/hwcfg.py (``16x16``, ``4x4-narrow``, ``8x16:acc_depth=256``).
Every RTL job runs through the one Program runner, tb/run.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Record = dict[str, Any]


def parse_seeds(spec: str | int | list[int]) -> list[int]:
    """'0-99' -> [0..99]; '3,5,8' -> [3,5,8]; 7 -> [7]."""
    if isinstance(spec, int):
        return [spec]
    if isinstance(spec, list):
        return [int(s) for s in spec]
    out: list[int] = []
    for part in str(spec).split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def golden_gemm(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """A ragged GEMM program on the golden simulator, checked against numpy."""
    from golden.hwcfg import parse_hw
    from golden.isa import Counter
    from golden.sim import simulate
    from tb.seq_lib.examples import gemm_expected, gemm_program

    hw = parse_hw(params.get("cfg", "16x16"))
    m, k, n = (int(params[d]) for d in ("M", "K", "N"))
    prog = gemm_program(m, k, n, hw, seed=int(params.get("seed", 0)))
    res = simulate(prog)
    a, b = prog.read_tensor(prog.memory, "A"), prog.read_tensor(prog.memory, "B")
    got = res.tensors["C"]
    ok = res.ok and np.array_equal(got, gemm_expected(a, b))
    util = res.counters[Counter.MAC_CYCLES] / max(1, res.counters[Counter.CYCLES])
    return {"passed": bool(ok), "reason": "" if ok else f"error={res.error.name} or C mismatch",
            "figures": {"insns": len(prog.insns), "pred_cycles": res.counters[Counter.CYCLES],
                        "pred_util": round(util, 3)}}


def model_fidelity(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Compile a zoo model and compare the golden simulator with float PyTorch over a batch."""
    from compiler import compile_model
    from compiler.fidelity import fidelity
    from golden.models import ZOO

    spec = ZOO[params["model"]]
    model, example = spec.build()
    prog = compile_model(model, example, calibration=spec.calibration(int(params.get("calib", 32))))
    outdir.mkdir(parents=True, exist_ok=True)
    prog.save(outdir / f"{spec.name}.nmxp")
    fid = fidelity(model, spec.batch(int(params.get("batch", 16)), int(params.get("seed", 0))), program=prog)
    min_cos = float(params.get("min_cosine", 0.99))
    min_top1 = float(params.get("min_top1", 0.97 if spec.task == "classify" else 0.0))
    ok = fid.cosine >= min_cos and fid.top1 >= min_top1
    return {"passed": bool(ok),
            "reason": "" if ok else f"cosine {fid.cosine:.4f} < {min_cos} or top-1 {fid.top1:.3f}"
                                    f" < {min_top1}",
            "figures": {"cosine_min": round(fid.cosine, 4), "top1": round(fid.top1, 3),
                        "max_abs_rel": round(fid.max_abs_rel, 4), "insns": len(prog.insns)}}


def rtl_random(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Constrained-random Programs on the RTL, bit-exact against the golden simulator, with coverage."""
    from tb.run import run_random

    return run_random(cfg=params["cfg"], seeds=parse_seeds(params["seeds"]), outdir=outdir)


def rtl_model(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Compile a zoo model and run its Program on the RTL, bit-exact against the golden simulator."""
    from compiler import compile_model
    from golden.hwcfg import parse_hw
    from golden.models import ZOO
    from tb.run import run_program_record

    spec = ZOO[params["model"]]
    model, example = spec.build()
    hw = parse_hw(params.get("cfg", "16x16"))
    prog = compile_model(model, example, calibration=spec.calibration(int(params.get("calib", 32))), hw=hw)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / f"{spec.name}.nmxp"
    prog.save(path)
    return run_program_record(path, cfg=params.get("cfg", "16x16"), seed=int(params.get("seed", 1)),
                              outdir=outdir)


def rtl_top_suite(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """The top-level RTL suite of tb/top_suite.py (random, example, pin-fed, error, fuzz Programs)."""
    from tb.run import suite_record
    from tb.top_suite import build_cases, run_cases

    cfg = params["cfg"]
    cases = build_cases(cfg, int(params.get("random", 20)), params.get("seed_base"),
                        errors=bool(params.get("errors", True)), n_fuzz=int(params.get("fuzz", 100)))
    rec = suite_record(run_cases(cfg, cases, out=str(outdir)))
    rec["figures"]["kinds"] = {k: sum(c.tags["kind"] == k for c in cases)
                               for k in sorted({c.tags["kind"] for c in cases})}
    return rec


def rtl_test(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """A generated-stimulus pyuvm test (random | directed | errors) over seeds, with coverage."""
    from tb.run import run_random

    return run_random(cfg=params["cfg"], seeds=parse_seeds(params.get("seeds", "1")), outdir=outdir,
                      test=params["test"], slow=bool(params.get("slow", False)))


def verify_model(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """One zoo model verified end to end (regressions/verify.py): RTL bit-exact against golden, golden
    against float, with the per-model figures.  Imported here, not at the top, so the other kinds (and
    suite validation) work while that module is missing or broken."""
    from regressions.verify import verify_job

    return verify_job(dict(params), outdir)


def fidelity_study(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """The NeuralMatrix accuracy study (golden/study, docs/fidelity.md) on ``models`` (comma-separated zoo
    classifiers, default the smallest per family), ``quick`` by default: accuracy loss per model at the
    hardware's 16 segments, the PWL budget sweep and fine-tuning.  Passes when every model's loss is at
    most ``max_loss_points`` (0.5, issue 14's goal) plus two paired standard errors (the noise of the
    batch); tables and plots go to ``outdir``."""
    from golden.study import evalsets, report, sweep

    names = [n for n in str(params.get("models", ",".join(sweep.SMALLEST))).split(",") if n]
    bad = [n for n in names if n not in evalsets.classifiers()]
    if bad:
        raise ValueError(f"fidelity_study: not zoo classifiers: {', '.join(bad)}")
    quick = bool(params.get("quick", True))
    cfg = sweep.Config(quick=quick, samples={n: int(params["samples"]) for n in names} if "samples" in params
                       else {}, finetune_models=tuple(n for n in names if n in sweep.SMALLEST))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "models").mkdir(exist_ok=True)
    recs = []
    for name in names:
        rec = sweep.study_model(name, cfg, log=lambda s: None)
        rec["quick"] = quick
        (outdir / "models" / f"{name}.json").write_text(json.dumps(rec, indent=1))
        recs.append(rec)
    report.write(outdir, recs, report.ppu_costs(outdir, synth=False), command=f"fidelity_study {names}")
    limit = float(params.get("max_loss_points", 0.5))
    over = [r for r in recs if r["loss_points"] > limit + 2 * r["loss_paired"]["se_points"]]
    figures: dict[str, Any] = {f"{r['model']}_loss_points": round(r["loss_points"], 3) for r in recs}
    figures.update({f"{r['model']}_accuracy": round(r["accel"], 4) for r in recs})
    return {"passed": not over,
            "reason": "; ".join(f"{r['model']}: accuracy loss {r['loss_points']:+.2f} points at 16 segments"
                                f" > {limit} (+2 SE {r['loss_paired']['se_points']:.2f})" for r in over),
            "figures": figures, "models": [{k: r[k] for k in ("model", "eval", "float", "int8", "accel",
                                                            "loss_points", "pwl_loss_points")} for r in recs]}


def formal(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """The SymbiYosys proofs of tb/formal (``make formal``): every task must PASS (docs/verification.md)."""
    from tb.formal import PROOFS, run

    names = params.get("proofs") or list(PROOFS)
    t0 = time.perf_counter()
    results = run(names, out=outdir / "formal", quiet=True)
    bad = [r for r in results if not r.passed]
    return {"passed": bool(results) and not bad,
            "reason": "; ".join(f"{r.name}:{r.task} {r.status}" for r in bad),
            "figures": {"proofs": len(results), "passed": len(results) - len(bad),
                        "wall_s": round(time.perf_counter() - t0, 1)},
            "proofs": [{"proof": r.name, "task": r.task, "status": r.status, "seconds": round(r.seconds, 1)}
                       for r in results],
            "failures": [{"name": f"{r.name}:{r.task}", "seed": 0, "signature": f"formal:{r.name} {r.status}",
                          "message": r.log[-2000:], "rerun": f".venv/bin/python -m tb.formal {r.name}"}
                         for r in bad]}


def mutation(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """A mutation campaign over rtl/ (regressions/mutate.py, docs/verification.md "Mutation testing"):
    sampled single-point mutants of the RTL, each run against the RTL jobs of ``suite``; passes when
    the mutation score reaches ``min_score``.  It starts its own jobs through the same executor."""
    from regressions.mutate import campaign_job

    return campaign_job(dict(params), outdir)


def _mutant(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Internal (regressions/mutate.py): one suite job run against a mutant copy of rtl/ (``rtl_dir``;
    ``kind`` and ``params`` of the suite job), with NMX_RTL_DIR set for the job's process tree."""
    from regressions.mutate import run_mutant_job

    return run_mutant_job(dict(params), outdir)


# --- test-only kinds --------------------------------------------------------------------------------
# Registered under names starting with "_test_" so tests/test_regress_runner.py can exercise the runner
# (parallelism, timeouts, kills, resume, Dask) in seconds; no suite of suites.yaml uses them.


def _test_seed_figures(params: dict[str, Any]) -> dict[str, Any]:
    seeds = parse_seeds(params.get("seeds", params.get("seed", 0)))
    return {"seeds": len(seeds), "seed_sum": sum(seeds), "slept_s": float(params.get("s", 0))}


def _test_sleep(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Test-only: sleep ``s`` seconds (in a grandchild ``sleep`` process with ``grandchild: true``),
    or until ``until_file`` exists; hold ``alloc_mb`` MB resident meanwhile.  Writes the pids of its
    process tree to ``pids.json`` first, so a test can check that a kill took all of them."""
    outdir.mkdir(parents=True, exist_ok=True)
    seconds = float(params.get("s", 0))
    ballast = bytearray(int(float(params.get("alloc_mb", 0)) * 2**20))
    for i in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[i] = 1
    pids = [os.getpid()]
    child = subprocess.Popen(["sleep", str(seconds)]) if params.get("grandchild") else None
    if child is not None:
        pids.append(child.pid)
    (outdir / "pids.json").write_text(json.dumps(pids))
    until = params.get("until_file")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and pathlib.Path(until).exists()):
        time.sleep(0.05)
    if child is not None:
        child.kill()  # ends with the job, whether the time ran out or the file appeared
        child.wait()
    return {"passed": True, "reason": "", "figures": _test_seed_figures(params)}


def _test_fail(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Test-only: a job that runs and fails (one failing run, with a signature and a rerun line)."""
    seed = int(params.get("seed", 0))
    return {"passed": False, "reason": f"asked to fail (seed {seed})", "figures": _test_seed_figures(params),
            "failures": [{"name": "fail_run", "seed": seed, "signature": "check:asked to fail",
                          "message": "asked to fail", "rerun": f"echo rerun {seed}"}]}


def _test_raise(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Test-only: a job that raises (the runner records status ``error`` with the traceback)."""
    where, n = params.get("where", "/tmp/nowhere"), params.get("n", 3)
    raise ValueError(f"asked to raise at {where} after {n} steps")


def _test_block(params: dict[str, Any], outdir: pathlib.Path) -> Record:
    """Test-only: one block-level cocotb test of tb/blocks (``block`` at configuration ``hw``, its extra
    Verilog parameters in ``params``), the cheapest RTL job a mutation test can kill (tests/test_mutate.py,
    and a survivor's triage: docs/verification.md "Mutation testing")."""
    from tb import sim_env
    from tb.blocks import run_block

    block = str(params["block"])
    try:
        run_block(block, str(params.get("hw", "16x16")),
                  params={k: int(v) for k, v in dict(params.get("params", {})).items()})
    except sim_env.SimFailure as e:
        return {"passed": False, "reason": f"block {block}: {e}"[:300], "figures": {}}
    except SystemExit as e:  # the cocotb runner exits on failing tests; the assertion is in the log
        return {"passed": False, "reason": f"block {block}: failing cocotb tests (exit {e.code})",
                "figures": {}}
    return {"passed": True, "reason": "", "figures": {}}


SEED_KEY: dict[str, str] = {"rtl_random": "seeds", "rtl_test": "seeds", "rtl_top_suite": "seed_base"}
"""The params key ``--seed N`` overrides, per kind ("seed" for every kind not listed)."""

KINDS: dict[str, Callable[[dict[str, Any], pathlib.Path], Record]] = {
    "golden_gemm": golden_gemm,
    "model_fidelity": model_fidelity,
    "rtl_random": rtl_random,
    "rtl_model": rtl_model,
    "rtl_top_suite": rtl_top_suite,
    "rtl_test": rtl_test,
    "verify_model": verify_model,
    "fidelity_study": fidelity_study,
    "formal": formal,
    "_test_sleep": _test_sleep,
    "_test_fail": _test_fail,
    "_test_raise": _test_raise,
    "_test_block": _test_block,
    "mutation": mutation,
    "_mutant": _mutant,
}

DEFAULT_TIMEOUT_S: dict[str, float] = {
    "golden_gemm": 300,
    "model_fidelity": 1800,
    "rtl_random": 1800,
    "rtl_model": 1800,
    "rtl_top_suite": 3600,
    "rtl_test": 1800,
    "verify_model": 3600,
    "fidelity_study": 3600,
    "formal": 1800,
    "_test_sleep": 60,
    "_test_fail": 60,
    "_test_raise": 60,
    "_test_block": 600,
    "mutation": 14400,
    "_mutant": 1800,
}
"""Per-kind timeout when a suite entry gives no ``timeout_s``: a hang guard several times the longest
run measured on this 2-core machine (docs/regressions.md, "Running suites"), not a speed target."""
