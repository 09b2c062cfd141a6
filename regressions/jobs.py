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
    "_test_sleep": _test_sleep,
    "_test_fail": _test_fail,
    "_test_raise": _test_raise,
}

DEFAULT_TIMEOUT_S: dict[str, float] = {
    "golden_gemm": 300,
    "model_fidelity": 1800,
    "rtl_random": 1800,
    "rtl_model": 1800,
    "rtl_top_suite": 3600,
    "rtl_test": 1800,
    "verify_model": 3600,
    "_test_sleep": 60,
    "_test_fail": 60,
    "_test_raise": 60,
}
"""Per-kind timeout when a suite entry gives no ``timeout_s``: a hang guard several times the longest
run measured on this 2-core machine (docs/regressions.md, "Running suites"), not a speed target."""
