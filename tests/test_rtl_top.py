"""Whole Programs through the RTL top (nmx_tb_top, Verilator) against the golden simulator.

One simulator process per configuration runs the whole batch of tb/top_suite.py (random programs of
every instruction type, the golden examples, every error path, pin-level feeding); the tests below
check their share of it. Configurations: ``$NMX_RTL_CONFIGS`` (default 4x4,8x16; "all" adds 8x8 and
16x16), see tb/harness.py RTL_CONFIGS and docs/rtl_top.md.
"""

from __future__ import annotations

import functools

import pytest

from golden.isa import Counter, ErrorCode
from tb.harness import RTL_CONFIGS, selected_configs
from tb.progs import error_programs
from tb.top_suite import Case, build_cases, run_cases

CONFIGS = selected_configs()
RANDOM_SEEDS = {"4x4": 10, "8x16": 6, "8x8": 6, "16x16": 4}
FUZZ = {"4x4": 60, "8x16": 40, "8x8": 20, "16x16": 20}


@functools.cache
def _cases(cfg: str) -> tuple[Case, ...]:
    return tuple(build_cases(cfg, RANDOM_SEEDS.get(cfg, 4), n_fuzz=FUZZ.get(cfg, 20)))


@functools.cache
def batch(cfg: str) -> dict[str, Case]:
    return {c.name: c for c in run_cases(cfg, list(_cases(cfg)))}


def _param(kind: str):
    pairs = [(cfg, c.name) for cfg in CONFIGS for c in _cases(cfg) if c.kind == kind]
    return pytest.mark.parametrize(("cfg", "name"), pairs, ids=[f"{c}-{n}" for c, n in pairs])


def _check(cfg: str, name: str) -> Case:
    c = batch(cfg)[name]
    diffs = c.diffs()
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
    _check(cfg, name)


@_param("error")
def test_error_path(cfg: str, name: str) -> None:
    c = _check(cfg, name)
    assert not c.result.timed_out and c.result.cycles <= c.knobs.watchdog_cycles


@_param("fuzz")
def test_dispatch_boundary_fuzz(cfg: str, name: str) -> None:
    _check(cfg, name)


def test_error_paths_cover_every_code() -> None:
    codes = {c.code for c in error_programs(RTL_CONFIGS[CONFIGS[0]])}
    assert codes == set(ErrorCode) - {ErrorCode.NONE}
