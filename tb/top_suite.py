"""The top-level RTL suite: which Programs run on ``nmx_tb_top`` per configuration, and how each is judged.

Shared by ``tests/test_rtl_top.py`` (make test) and ``regressions/run_configs.py`` (more seeds, every
configuration). A suite is one batch per configuration - a single simulator process:

* ``random``  - :func:`tb.seq_lib.program_gen.random_program` seeds (the project's one constrained-random
  generator, shared with the pyuvm env) under varied memory latency and back-pressure;
* ``example`` - golden/examples GEMMs (int32 and requantised int8, ragged), GEMM+ReLU, and the
  resident-operand GEMM of :func:`tb.progs.gemm_resident_program`;
* ``pins``    - Programs fed pin by pin from Python (tb.bfm NmxTb.send), incl. an error mid-stream;
* ``error``   - every error path of :func:`tb.progs.error_programs` with its expected code and index,
  each under a cycle watchdog (the reset-time buffer clear plus ERROR_SLACK cycles);
* ``fuzz``    - :func:`tb.progs.dispatch_fuzz_program`: one instruction with fields at the boundaries of
  the dispatcher's static checks; code and index must equal the golden simulator's.

Every case is compared with the golden simulator by :func:`tb.harness.check_against_golden`.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.examples import gemm_program, relu_program
from golden.isa import ErrorCode, HwConfig
from golden.program import Program
from golden.sim import SimResult, simulate
from tb.harness import RTL_CONFIGS, RtlResult, RunKnobs, check_against_golden, run_programs_on_rtl
from tb.progs import dispatch_fuzz_program, error_programs, gemm_resident_program
from tb.seq_lib.program_gen import random_program

ERROR_SLACK = 3000
"""An error must be reported within this many cycles after the reset-time buffer clear."""
RANDOM_WATCHDOG = 2_000_000
"""Cycle budget of a random or pin-fed Program (layered seq_lib Programs can hold large GEMMs)."""


@dataclass
class Case:
    name: str
    kind: str            # random | example | error | pins
    program: Program
    knobs: RunKnobs
    gold: SimResult
    expect: tuple[ErrorCode, int] | None = None
    result: RtlResult | None = None

    def diffs(self) -> list[str]:
        """Disagreements with golden (and with the expected error); empty when the case passes."""
        assert self.result is not None, "case not run"
        r = self.result
        d = check_against_golden(self.program, r, self.gold, bad_addresses=self.knobs.slverr or None)
        if self.expect and (r.error, r.error_index) != self.expect:
            d.append(f"expected {self.expect[0].name}@{self.expect[1]}, got {r.error.name}@{r.error_index}")
        return d


def max_depth(hw: HwConfig) -> int:
    return max(hw.inp_depth, hw.wgt_depth, hw.acc_depth, hw.vec_depth)


def build_cases(cfg: str, n_random: int, seed_base: int | None = None, errors: bool = True,
                n_fuzz: int = 0) -> list[Case]:
    """The cases of one configuration (deterministic)."""
    hw = RTL_CONFIGS[cfg]
    base = seed_base if seed_base is not None else 1000 * (list(RTL_CONFIGS).index(cfg) + 1)
    out: list[Case] = []
    for i in range(n_random):
        seed = base + i
        p = random_program(seed, hw)
        k = RunKnobs(rd_latency=i % 9, wr_latency=(3 * i) % 7, backpressure=[0.0, 0.25, 0.5][i % 3],
                     watchdog_cycles=RANDOM_WATCHDOG)
        out.append(Case(f"random_{seed}", "random", p, k, simulate(p)))
    examples = [gemm_program(2 * hw.rows + 3, 3 * hw.rows - 1, 2 * hw.cols + 5, hw, seed=1),
                gemm_program(hw.rows + 1, 2 * hw.rows, hw.cols - 1, hw, seed=2, out_int32=False),
                relu_program(hw, M=hw.rows + 3),
                gemm_resident_program(min(40, hw.acc_depth // 2), 2 * hw.rows + 5, 3 * hw.cols - 2, hw,
                                      seed=3, wgt_slots=3)]
    for p in examples:
        out.append(Case(p.manifest["name"], "example", p, RunKnobs(backpressure=0.1), simulate(p)))
    for i, p in enumerate([random_program(base + 777, hw), relu_program(hw)]):
        k = RunKnobs(feed="pins", backpressure=0.2 * i, watchdog_cycles=RANDOM_WATCHDOG)
        out.append(Case(f"pins_{p.manifest['name']}", "pins", p, k, simulate(p)))
    if errors:
        ecases = error_programs(hw)
        for c in ecases:
            budget = max_depth(hw) + ERROR_SLACK + (4 << hw.token_bits if "overflow" in c.name else 0)
            k = RunKnobs(slverr=c.slverr, watchdog_cycles=budget, backpressure=0.2, rd_latency=3)
            g = simulate(c.program, bad_addresses=c.slverr or None)
            out.append(Case(c.name, "error", c.program, k, g, expect=(c.code, c.index)))
        # an error in the middle of a pin-fed stream: the feeder must stop when done rises
        dl = next(c for c in ecases if c.name == "deadlock_full_fifo")
        out.append(Case("pins_deadlock_full_fifo", "pins", dl.program,
                        RunKnobs(feed="pins", watchdog_cycles=max_depth(hw) + ERROR_SLACK),
                        simulate(dl.program), expect=(dl.code, dl.index)))
    for i in range(n_fuzz):
        p = dispatch_fuzz_program(base + i, hw)
        g = simulate(p)
        k = RunKnobs(watchdog_cycles=max_depth(hw) + ERROR_SLACK, rd_latency=i % 4)
        exp = (g.error, g.error_index) if g.error else None
        out.append(Case(f"fuzz_{base + i}", "fuzz", p, k, g, expect=exp))
    return out


def run_cases(cfg: str, cases: list[Case], seed: int = 7) -> list[Case]:
    """Run a configuration's cases in one simulator process; fills ``Case.result``."""
    results = run_programs_on_rtl([(c.program, c.knobs) for c in cases], RTL_CONFIGS[cfg], seed=seed)
    for c, r in zip(cases, results, strict=True):
        c.result = r
    return cases
