"""Whole Programs through the RTL top (nmx_tb_top, Verilator) against the golden simulator.

One simulator process per configuration runs the whole batch (random programs of every
instruction type, the golden examples, every error path, pin-level feeding); the tests below
check their share of it. Configurations: ``$NMX_RTL_CONFIGS`` (default 4x4,8x16; "all" adds 8x8 and
16x16), see tb/harness.py RTL_CONFIGS and docs/rtl_top.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from golden.examples import gemm_program, relu_program
from golden.isa import Counter, ErrorCode, HwConfig
from golden.program import Program
from golden.sim import SimResult, simulate
from tb.harness import (
    RTL_CONFIGS,
    RtlResult,
    RunKnobs,
    check_against_golden,
    run_programs_on_rtl,
    selected_configs,
)
from tb.progs import error_programs, random_program

CONFIGS = selected_configs()
RANDOM_SEEDS = {"4x4": 10, "8x16": 6, "8x8": 6, "16x16": 4}
ERROR_SLACK = 3000
"""An error must be reported within this many cycles (after the reset-time buffer clear)."""


@dataclass
class Case:
    name: str
    kind: str            # random | example | error | pins
    program: Program
    knobs: RunKnobs
    gold: SimResult
    expect: tuple[ErrorCode, int] | None = None
    result: RtlResult | None = None


def _max_depth(hw: HwConfig) -> int:
    return max(hw.inp_depth, hw.wgt_depth, hw.acc_depth, hw.vec_depth)


def _cases(cfg: str) -> list[Case]:
    hw = RTL_CONFIGS[cfg]
    out: list[Case] = []
    for i in range(RANDOM_SEEDS.get(cfg, 4)):
        seed = 1000 * (list(RTL_CONFIGS).index(cfg) + 1) + i
        p = random_program(seed, hw)
        k = RunKnobs(rd_latency=i % 9, wr_latency=(3 * i) % 7, backpressure=[0.0, 0.25, 0.5][i % 3],
                     watchdog_cycles=200_000)
        out.append(Case(f"random_{seed}", "random", p, k, simulate(p)))
    examples = [gemm_program(2 * hw.rows + 3, 3 * hw.rows - 1, 2 * hw.cols + 5, hw, seed=1),
                gemm_program(hw.rows + 1, 2 * hw.rows, hw.cols - 1, hw, seed=2, out_int32=False),
                relu_program(hw, M=hw.rows + 3)]
    for p in examples:
        out.append(Case(p.manifest["name"], "example", p, RunKnobs(backpressure=0.1), simulate(p)))
    for i, p in enumerate([random_program(77, hw), relu_program(hw)]):
        k = RunKnobs(feed="pins", backpressure=0.2 * i, watchdog_cycles=200_000)
        out.append(Case(f"pins_{p.manifest['name']}", "pins", p, k, simulate(p)))
    for c in error_programs(hw):
        budget = _max_depth(hw) + ERROR_SLACK + (4 << hw.token_bits if "overflow" in c.name else 0)
        k = RunKnobs(slverr=c.slverr, watchdog_cycles=budget, backpressure=0.2, rd_latency=3)
        g = simulate(c.program, bad_addresses=c.slverr or None)
        out.append(Case(c.name, "error", c.program, k, g, expect=(c.code, c.index)))
    # an error in the middle of a pin-fed stream: the feeder must stop when done rises
    dl = next(c for c in error_programs(hw) if c.name == "deadlock_full_fifo")
    out.append(Case("pins_deadlock_full_fifo", "pins", dl.program,
                    RunKnobs(feed="pins", watchdog_cycles=_max_depth(hw) + ERROR_SLACK), simulate(dl.program),
                    expect=(dl.code, dl.index)))
    return out


@functools.cache
def batch(cfg: str) -> dict[str, Case]:
    cases = _cases(cfg)
    results = run_programs_on_rtl([(c.program, c.knobs) for c in cases], RTL_CONFIGS[cfg], seed=7)
    for c, r in zip(cases, results, strict=True):
        c.result = r
    return {c.name: c for c in cases}


def _ids(kind: str) -> list[tuple[str, str]]:
    return [(cfg, c.name) for cfg in CONFIGS for c in _cases_light(cfg) if c[1] == kind]


@functools.cache
def _cases_light(cfg: str) -> list[tuple[str, str]]:
    """(name, kind) of a configuration's cases without simulating (for parametrisation)."""
    return [(c.name, c.kind) for c in _cases(cfg)]


def _param(kind: str):
    pairs = [(cfg, name) for cfg in CONFIGS for name, k in _cases_light(cfg) if k == kind]
    return pytest.mark.parametrize(("cfg", "name"), pairs, ids=[f"{c}-{n}" for c, n in pairs])


def _check(cfg: str, name: str) -> Case:
    c = batch(cfg)[name]
    r = c.result
    assert r is not None
    diffs = check_against_golden(c.program, r, c.gold, bad_addresses=c.knobs.slverr or None)
    assert not diffs, f"{cfg} {name}: " + "; ".join(diffs)
    return c


@_param("random")
def test_random_program_matches_golden(cfg: str, name: str) -> None:
    c = _check(cfg, name)
    assert c.gold.error == ErrorCode.NONE and c.result.error == ErrorCode.NONE


@_param("example")
def test_example_program_matches_golden(cfg: str, name: str) -> None:
    c = _check(cfg, name)
    assert c.result.counters[Counter.MAC_CYCLES] == c.gold.counters[Counter.GEMM_ROWS]


@_param("pins")
def test_pin_level_feed(cfg: str, name: str) -> None:
    c = _check(cfg, name)
    if c.expect:
        assert (c.result.error, c.result.error_index) == c.expect


@_param("error")
def test_error_path(cfg: str, name: str) -> None:
    c = _check(cfg, name)
    r = c.result
    assert (r.error, r.error_index) == c.expect, f"expected {c.expect[0].name}@{c.expect[1]}"
    assert not r.timed_out and r.cycles <= c.knobs.watchdog_cycles


def test_error_paths_cover_every_code() -> None:
    hw = RTL_CONFIGS[CONFIGS[0]]
    codes = {c.code for c in error_programs(hw)}
    assert codes == set(ErrorCode) - {ErrorCode.NONE}
