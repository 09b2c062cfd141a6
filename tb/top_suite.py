"""The top-level RTL suite: which hand-built Programs run on the whole accelerator per configuration.

Shared by ``tests/test_rtl_top.py`` (make test) and the ``rtl_top_suite`` regression job (more seeds,
every configuration). A suite is one batch of :class:`tb.run.ProgramRun` per configuration, run in
one simulator process by :func:`tb.run.run_programs` and judged by the env's scoreboard against the
golden simulator. Every run carries ``tags["kind"]``:

* ``random``  - :func:`tb.seq_lib.program_gen.random_program` seeds (the project's one constrained-random
  generator) under varied memory latency and back-pressure, built-in streamer;
* ``example`` - example GEMMs (int32 and requantised int8, ragged), GEMM+ReLU, and the resident-operand
  GEMM of :func:`tb.seq_lib.examples.gemm_resident_program`;
* ``pins``    - Programs fed pin by pin by the pyuvm driver, incl. an error mid-stream;
* ``error``   - every error path of :func:`tb.seq_lib.errors.error_programs`, each pinned to its
  expected code and instruction index, under a cycle watchdog (post-reset buffer sweep + ERROR_SLACK);
* ``fuzz``    - :func:`tb.seq_lib.fuzz.dispatch_fuzz_program`: one instruction with fields at the
  boundaries of the dispatcher's static checks; code and index must equal the golden simulator's.
"""

from __future__ import annotations

from typing import Any

from golden.hwcfg import CONFIGS, parse_hw
from golden.isa import HwConfig
from golden.program import Program
from tb.env.cfg import RunKnobs
from tb.run import ProgramRun, SuiteResult, run_programs
from tb.seq_lib.errors import error_programs
from tb.seq_lib.examples import gemm_program, gemm_resident_program, relu_program
from tb.seq_lib.fuzz import dispatch_fuzz_program
from tb.seq_lib.program_gen import random_program

ERROR_SLACK = 3000
"""An error must be reported within this many cycles after the reset-time buffer clear."""
RANDOM_WATCHDOG = 2_000_000
"""Cycle budget of a random or pin-fed Program (layered seq_lib Programs can hold large GEMMs)."""
SEED_BASE = {"4x4-narrow": 1000, "8x16-small": 2000, "8x8-64b": 3000, "16x16": 4000}
"""First random seed per configuration (kept from the first milestone so its seeds reproduce)."""
KINDS = ("random", "example", "pins", "error", "fuzz")


def seed_base(cfg: str) -> int:
    if cfg in SEED_BASE:
        return SEED_BASE[cfg]
    names = list(CONFIGS)
    return 10_000 * (names.index(cfg) + 1) if cfg in names else 90_000


def max_depth(hw: HwConfig) -> int:
    return max(hw.inp_depth, hw.wgt_depth, hw.acc_depth, hw.vec_depth)


def _run(name: str, kind: str, program: Program, knobs: RunKnobs, **kw: Any) -> ProgramRun:
    return ProgramRun(program, knobs, name=name, tags={"kind": kind}, **kw)


def build_cases(cfg: str, n_random: int, base: int | None = None, errors: bool = True,
                n_fuzz: int = 0) -> list[ProgramRun]:
    """The runs of one configuration (deterministic in its arguments)."""
    hw = parse_hw(cfg)
    base = seed_base(cfg) if base is None else base
    out: list[ProgramRun] = []
    for i in range(n_random):
        seed = base + i
        k = RunKnobs(rd_latency=i % 9, wr_latency=(3 * i) % 7, backpressure=[0.0, 0.25, 0.5][i % 3],
                     watchdog_cycles=RANDOM_WATCHDOG, feed="stream")
        out.append(_run(f"random_{seed}", "random", random_program(seed, hw), k))
    examples = [gemm_program(2 * hw.rows + 3, 3 * hw.rows - 1, 2 * hw.cols + 5, hw, seed=1),
                gemm_program(hw.rows + 1, 2 * hw.rows, hw.cols - 1, hw, seed=2, out_int32=False),
                relu_program(hw, M=hw.rows + 3),
                gemm_resident_program(min(40, hw.acc_depth // 2), 2 * hw.rows + 5, 3 * hw.cols - 2, hw,
                                      seed=3, wgt_slots=3)]
    for p in examples:
        out.append(_run(p.manifest["name"], "example", p, RunKnobs(backpressure=0.1, feed="stream")))
    for i, p in enumerate([random_program(base + 777, hw), relu_program(hw)]):
        k = RunKnobs(feed="pins", backpressure=0.2 * i, watchdog_cycles=RANDOM_WATCHDOG)
        out.append(_run(f"pins_{p.manifest['name']}", "pins", p, k))
    if errors:
        ecases = error_programs(hw)
        for c in ecases:
            budget = max_depth(hw) + ERROR_SLACK + (4 << hw.token_bits if "overflow" in c.name else 0)
            k = RunKnobs(slverr=list(c.slverr), watchdog_cycles=budget, backpressure=0.2, rd_latency=3,
                         feed="stream")
            out.append(_run(c.name, "error", c.program, k, expect_error=c.expect, expect_index=c.index))
        # an error in the middle of a pin-fed stream: the feeder must stop when done rises
        dl = next(c for c in ecases if c.name == "deadlock_full_fifo")
        out.append(_run("pins_deadlock_full_fifo", "pins", dl.program,
                        RunKnobs(feed="pins", watchdog_cycles=max_depth(hw) + ERROR_SLACK),
                        expect_error=dl.expect, expect_index=dl.index))
    for i in range(n_fuzz):
        k = RunKnobs(watchdog_cycles=max_depth(hw) + ERROR_SLACK, rd_latency=i % 4, feed="stream")
        out.append(_run(f"fuzz_{base + i}", "fuzz", dispatch_fuzz_program(base + i, hw), k))
    return out


def run_cases(cfg: str, cases: list[ProgramRun], seed: int = 7, out: str | None = None,
              coverage: bool = True) -> SuiteResult:
    """Run a configuration's cases in one simulator process (run i gets seed ``seed + i``)."""
    return run_programs(cases, hw=cfg, seed=seed, out=out, coverage=coverage)
