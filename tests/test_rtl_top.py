"""Whole Programs through the RTL top (nmx_tb_top, Verilator) in the pyuvm env, against the golden simulator.

One simulator process per configuration runs the whole batch of tb/top_suite.py (random programs of
every instruction type, the example GEMMs, every error path, pin-level feeding, dispatcher fuzz)
through :func:`tb.run.run_programs`; the tests below check their share of it. Configurations:
``$NMX_RTL_CONFIGS`` (comma-separated names of golden/hwcfg.py, default 4x4-narrow,8x16-small; "all"
for every registered one), see docs/rtl_top.md.
"""

from __future__ import annotations

import functools
import os

import pytest

from golden.hwcfg import CONFIGS, parse_hw
from golden.isa import Buffer, Counter, ErrorCode, Opcode, decode
from tb.run import ProgramRun, RunResult
from tb.seq_lib.errors import error_programs
from tb.seq_lib.hazards import find_races
from tb.top_suite import build_cases, run_cases

DEFAULT_CONFIGS = ("4x4-narrow", "8x16-small")
RANDOM_SEEDS = {"4x4-narrow": 10, "8x16-small": 6, "8x8-64b": 6, "16x16": 4}
FUZZ = {"4x4-narrow": 60, "8x16-small": 40, "8x8-64b": 20, "16x16": 20}


def selected_configs() -> list[str]:
    """Configurations named by $NMX_RTL_CONFIGS (comma separated, "all" for every registered one)."""
    env = os.environ.get("NMX_RTL_CONFIGS", "").strip()
    if not env:
        return list(DEFAULT_CONFIGS)
    names = list(CONFIGS) if env == "all" else [n.strip() for n in env.split(",") if n.strip()]
    for n in names:
        parse_hw(n)  # a clear error for an unknown name
    return names


CONFIGS_RUN = selected_configs()


@functools.cache
def _cases(cfg: str) -> tuple[ProgramRun, ...]:
    return tuple(build_cases(cfg, RANDOM_SEEDS.get(cfg, 4), n_fuzz=FUZZ.get(cfg, 20)))


@functools.cache
def batch(cfg: str) -> dict[str, RunResult]:
    res = run_cases(cfg, list(_cases(cfg)))
    runs = {r.name: r for r in res.runs}
    n = len(_cases(cfg))
    assert len(runs) == n, f"{cfg}: {len(runs)} results for {n} runs; {res.sim_error}"
    return runs


def _param(kind: str):  # type: ignore[no-untyped-def]
    pairs = [(cfg, c.name) for cfg in CONFIGS_RUN for c in _cases(cfg) if c.tags["kind"] == kind]
    return pytest.mark.parametrize(("cfg", "name"), pairs, ids=[f"{c}-{n}" for c, n in pairs])


def _check(cfg: str, name: str) -> RunResult:
    r = batch(cfg)[name]
    assert r.passed, r.report()
    return r


@_param("random")
def test_random_program_matches_golden(cfg: str, name: str) -> None:
    r = _check(cfg, name)
    assert r.error == "NONE" and r.counters[Counter.INSNS] == r.golden_counters[Counter.INSNS] > 1


@_param("example")
def test_example_program_matches_golden(cfg: str, name: str) -> None:
    r = _check(cfg, name)
    assert r.counters[Counter.MAC_CYCLES] == r.golden_counters[Counter.GEMM_ROWS] > 0
    assert r.outputs and all(v.size for v in r.outputs.values())


@_param("pins")
def test_pin_level_feed(cfg: str, name: str) -> None:
    _check(cfg, name)


@_param("error")
def test_error_path(cfg: str, name: str) -> None:
    r = _check(cfg, name)
    case = next(c for c in _cases(cfg) if c.name == name)
    assert case.expect_error is not None
    assert (r.error, r.error_index) == (case.expect_error.name, case.expect_index)
    assert r.sim_cycles <= case.knobs.watchdog_cycles


@_param("fuzz")
def test_dispatch_boundary_fuzz(cfg: str, name: str) -> None:
    _check(cfg, name)


def test_error_paths_cover_every_code() -> None:
    codes = {c.expect for c in error_programs(parse_hw(CONFIGS_RUN[0]))}
    assert codes == set(ErrorCode) - {ErrorCode.NONE}


@pytest.mark.parametrize("cfg", CONFIGS_RUN)
def test_random_programs_cover_every_instruction(cfg: str) -> None:
    """The suite's random Programs (tb.seq_lib.program_gen, incl. the pin-fed one) are race free and
    together hold every instruction type, every buffer, every PPU stage and output width, gathers,
    transposed STOREs and both GEMM modes."""
    hw = parse_hw(cfg)
    progs = [c.program for c in _cases(cfg) if c.tags["kind"] == "random" or c.name.startswith("pins_random")]
    assert len(progs) == RANDOM_SEEDS.get(cfg, 4) + 1
    seen: set = set()
    for p in progs:
        assert find_races(p) == [], p.manifest["name"]
        for w in p.insns:
            ins = decode(w)
            seen.add(ins.opcode)
            f = ins.fields
            if ins.opcode == Opcode.LOAD:
                buf = Buffer(f["buf_sel"])
                seen.add(("load", buf))
                if f["x_size"] > 1 and f["x_stride"] > hw.elem_bytes(buf):
                    seen.add("gather")
                if f["x_size"] > 1 and f["x_stride"] == 0:
                    seen.add("broadcast")
            elif ins.opcode == Opcode.GEMM:
                seen.add(("accumulate", f["accumulate"]))
            elif ins.opcode == Opcode.PPUCFG:
                seen |= {k for k in ("bias_en", "row_en", "requant_en", "pwl_en") if f[k]}
                seen.add(("out_int32", f["out_int32"]))
            elif ins.opcode == Opcode.STORE and f["x_size"] > 1 and f["y_size"] > 1 \
                    and 0 < f["y_stride"] < f["x_stride"]:
                seen.add("transposed_store")
    want = set(Opcode) | {("load", b) for b in Buffer} | {("accumulate", 0), ("accumulate", 1)} \
        | {"bias_en", "row_en", "requant_en", "pwl_en", ("out_int32", 0), ("out_int32", 1)} \
        | {"gather", "broadcast", "transposed_store"}
    assert want - seen == set(), f"{cfg}: random Programs never use {sorted(map(str, want - seen))}"
