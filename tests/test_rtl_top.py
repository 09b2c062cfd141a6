"""Whole Programs through the RTL top (nmx_tb_top, Verilator) against the golden simulator.

One simulator process per configuration runs the whole batch of tb/top_suite.py (random programs of
every instruction type, the golden examples, every error path, pin-level feeding); the tests below
check their share of it. Configurations: ``$NMX_RTL_CONFIGS`` (default 4x4,8x16; "all" adds 8x8 and
16x16), see tb/harness.py RTL_CONFIGS and docs/rtl_top.md.
"""

from __future__ import annotations

import functools

import pytest

from golden.isa import Buffer, Counter, ErrorCode, HwConfig, Opcode, decode
from tb.harness import RTL_CONFIGS, selected_configs
from tb.progs import error_programs
from tb.seq_lib.hazards import find_races
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


@pytest.mark.parametrize("cfg", CONFIGS)
def test_random_programs_cover_every_instruction(cfg: str) -> None:
    """The suite's random Programs (tb.seq_lib.program_gen, incl. the pin-fed one) are race free and
    together hold every instruction type, every buffer, every PPU stage and output width, gathers,
    transposed STOREs and both GEMM modes."""
    hw: HwConfig = RTL_CONFIGS[cfg]
    progs = [c.program for c in _cases(cfg) if c.kind == "random" or c.name.startswith("pins_random")]
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
