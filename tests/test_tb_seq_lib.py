"""Stimulus of the pyuvm testbench, checked without a simulator.

* every random Program is valid (golden error NONE), race free (hazards.find_races), reproducible
  from its seed, and computes what the generator meant (its own prediction == golden);
* an independent dynamic check of race freedom: executing the engines in a *random* legal order
  (``golden.schedule``'s random policy, FIFOs deep enough to hold the stream) gives the golden
  result bit for bit;
* directed Programs are valid and race free; error cases raise the code they intend; the directed
  error Programs pin code and index; illegal words are illegal; the dispatcher fuzzer is reproducible;
* the race checker finds races in token-stripped programs and none in the hand-written examples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from golden.hwcfg import CONFIGS
from golden.isa import DEP_FIELDS, FORMATS, DecodeError, ErrorCode, HwConfig, Opcode, decode, encode
from golden.program import Program
from golden.sim import simulate
from tb.seq_lib import builder as builder_mod
from tb.seq_lib.directed import DIRECTED, SLOW, reset_clears_buffers
from tb.seq_lib.errors import KINDS, error_cases, error_programs, illegal_word, reserved_bits
from tb.seq_lib.examples import gemm_program, relu_program
from tb.seq_lib.fuzz import dispatch_fuzz_program
from tb.seq_lib.hazards import find_races
from tb.seq_lib.program_gen import random_program, seed_range
from tb.seq_lib.scrub import scrub_program, uninitialised_reads

CFGS = [HwConfig(rows=4, cols=4), HwConfig(rows=8, cols=16), HwConfig()]


@pytest.fixture
def capture_builders(monkeypatch: pytest.MonkeyPatch) -> list[builder_mod.ProgramBuilder]:
    caught: list[builder_mod.ProgramBuilder] = []
    orig = builder_mod.ProgramBuilder.finish

    def finish(self: builder_mod.ProgramBuilder, name: str):  # type: ignore[no-untyped-def]
        caught.append(self)
        return orig(self, name)

    monkeypatch.setattr(builder_mod.ProgramBuilder, "finish", finish)
    return caught


@pytest.mark.parametrize("hw", CFGS, ids=lambda h: f"{h.rows}x{h.cols}")
def test_random_programs_valid(hw: HwConfig, capture_builders: list) -> None:
    for seed in range(40):
        p = random_program(seed, hw)
        r = simulate(p)
        assert r.ok, f"seed {seed}: {r.error.name}@{r.error_index} {r.error_message}"
        b = capture_builders[-1]
        for name, want in b.expected.items():
            np.testing.assert_array_equal(r.tensors[name], want, err_msg=f"seed {seed} tensor {name}")


@pytest.mark.parametrize("hw", CFGS, ids=lambda h: f"{h.rows}x{h.cols}")
def test_random_programs_race_free(hw: HwConfig) -> None:
    for seed in range(40):
        assert find_races(random_program(seed, hw)) == [], f"seed {seed}"


def test_random_programs_reproducible() -> None:
    hw = HwConfig(rows=8, cols=8)
    for seed in (0, 7, 123):
        a, b = random_program(seed, hw), random_program(seed, hw)
        assert a.to_bytes() == b.to_bytes()
    assert random_program(1, hw).to_bytes() != random_program(2, hw).to_bytes()


def deep_fifos(p: Program) -> Program:
    """``p`` on a machine whose FIFOs hold the whole stream, so engines may run arbitrarily far ahead."""
    return dataclasses.replace(p, hw=dataclasses.replace(p.hw, queue_depth=len(p.insns) + 1))


@pytest.mark.parametrize("hw", CFGS[:2], ids=lambda h: f"{h.rows}x{h.cols}")
def test_random_schedule_agrees(hw: HwConfig) -> None:
    for seed in range(25):
        p = random_program(seed, hw)
        gold = simulate(p)
        for k in range(3):
            r = simulate(deep_fifos(p), policy="random", seed=seed * 10 + k)
            assert r.ok, f"seed {seed} schedule {k}: {r.error.name}@{r.error_index} {r.error_message}"
            for t in p.manifest["tensors"]:
                if t["check"]:
                    np.testing.assert_array_equal(
                        p.read_tensor(r.memory, t["name"]),
                        gold.tensors[t["name"]],
                        err_msg=f"seed {seed} schedule {k} tensor {t['name']}",
                    )


def test_race_checker_finds_races() -> None:
    hw = HwConfig(rows=4, cols=4)
    found = 0
    for seed in range(10):
        p = random_program(seed, hw)
        words = []
        for w in p.insns:
            ins = decode(w)
            if ins.opcode == Opcode.SYNC:
                continue
            for d in DEP_FIELDS:
                ins.fields[d] = 0
            words.append(ins.encode())
        found += bool(find_races(words, hw, p.mem_size))
    assert found >= 8
    for p in (gemm_program(37, 45, 29, hw=hw), relu_program(hw)):
        assert find_races(p) == []


@pytest.mark.parametrize("hw", CFGS, ids=lambda h: f"{h.rows}x{h.cols}")
def test_directed_programs_valid(hw: HwConfig) -> None:
    for name, fn in [*DIRECTED.items(), ("reset_clears_buffers", reset_clears_buffers)]:
        if name in SLOW and hw != CFGS[0]:
            continue
        p = fn(hw)
        r = simulate(p)
        assert r.ok, f"{name}: {r.error.name}@{r.error_index} {r.error_message}"
        assert find_races(p) == [], name


@pytest.mark.parametrize("hw", CFGS[:2], ids=lambda h: f"{h.rows}x{h.cols}")
def test_error_cases_raise_their_code(hw: HwConfig) -> None:
    for seed in (1, 2, 3):
        for c in error_cases(seed, hw, slow=False):
            r = simulate(c.program, bad_addresses=c.slverr or None)
            msg = f"{c.name}: golden {r.error.name}@{r.error_index} {r.error_message}"
            if c.alternatives:
                assert (r.error, r.error_index) in {(c.expect, c.index), *c.alternatives}, msg
            else:
                assert r.error == c.expect, msg
                assert c.index is None or r.error_index == c.index, msg
    assert set(KINDS) >= {"overflow", "drop_push", "read_slverr", "write_decerr"}


def _decodes(word: int) -> bool:
    try:
        decode(word)
    except DecodeError:
        return False
    return True


def test_several_faults_cases() -> None:
    """docs/isa.md section 5, "Several faults": two dispatch-time faults report the first in program
    order; a runtime fault and a later dispatch-time fault each alone give one allowed report, and
    the golden simulator's eager dispatch lands on both across seeds (so both branches are run)."""
    hw = HwConfig(rows=4, cols=4)
    seen = set()
    for seed in range(1, 9):
        (two,) = error_cases(seed, hw, ["two_static"])
        bad = [i for i, w in enumerate(two.program.insns) if not _decodes(w)]
        assert len(bad) == 2 and two.index == bad[0]
        r = simulate(two.program)
        assert (r.error, r.error_index) == (ErrorCode.ILLEGAL_OPCODE, bad[0])
        (mix,) = error_cases(seed, hw, ["read_slverr_then_static"])
        ((code, k),) = mix.alternatives
        assert code == ErrorCode.ILLEGAL_OPCODE and k > mix.index
        alone_static = simulate(mix.program)  # no SLVERR window: only the illegal opcode
        assert (alone_static.error, alone_static.error_index) == (ErrorCode.ILLEGAL_OPCODE, k)
        r = simulate(mix.program, bad_addresses=mix.slverr)
        assert (r.error, r.error_index) in {(ErrorCode.AXI_READ, mix.index), (code, k)}
        seen.add(r.error)
    assert seen == {ErrorCode.AXI_READ, ErrorCode.ILLEGAL_OPCODE}


def test_overflow_case() -> None:
    """2**16 pushes overflow a 16-bit counter at the last of them (index 2**16: the Program starts
    with a head blocked for ever on the third queue, the oldest head, index 0)."""
    (c,) = error_cases(1, HwConfig(rows=4, cols=4), ["overflow"])
    r = simulate(c.program)
    assert r.error == ErrorCode.TOKEN_OVERFLOW and r.error_index == 1 << 16
    assert decode(c.program.insns[0]).opcode == Opcode.SYNC and decode(c.program.insns[1]).queue != \
        decode(c.program.insns[0]).queue


def test_error_programs_pin_code_and_index() -> None:
    """Every directed error Program reproduces its pinned (code, index), and together they cover
    every error code of docs/isa.md section 5."""
    hw = CONFIGS["4x4-narrow"]  # 8-bit tokens: the overflow cases stay short
    cases = error_programs(hw)
    assert len({c.name for c in cases}) == len(cases)
    for c in cases:
        assert c.index is not None and c.feed == "pins", c.name
        r = simulate(c.program, bad_addresses=c.slverr or None)
        assert (r.error, r.error_index) == (c.expect, c.index), c.name
    assert {c.expect for c in cases} == set(ErrorCode) - {ErrorCode.NONE}


def test_illegal_word() -> None:
    """The one builder of deliberately illegal words: only illegal results, on the ISA's field table."""
    for op in Opcode:
        word = encode(op)
        assert reserved_bits(op).start == FORMATS[op][-1].msb + 1
        for bit in (reserved_bits(op).start, 127):
            with pytest.raises(DecodeError) as e:
                decode(illegal_word(word, reserved_bit=bit))
            assert e.value.code == ErrorCode.ILLEGAL_FIELD
        with pytest.raises(ValueError, match="not reserved"):
            illegal_word(word, reserved_bit=FORMATS[op][-1].msb)
    load = encode(Opcode.LOAD, x_size=3, y_size=2, push_cmp=1)
    bad = illegal_word(load, opcode=0)
    opcode_mask = FORMATS[Opcode.LOAD][0].max
    assert bad & ~opcode_mask == load & ~opcode_mask
    with pytest.raises(DecodeError) as e:
        decode(bad)
    assert e.value.code == ErrorCode.ILLEGAL_OPCODE
    with pytest.raises(ValueError, match="not an illegal"):
        illegal_word(load, opcode=int(Opcode.GEMM))
    assert illegal_word(opcode=15, reserved_bit=127) == 15 | 1 << 127


def test_dispatch_fuzz_reproducible_and_mixed() -> None:
    hw = CONFIGS["4x4-narrow"]
    codes = set()
    for seed in range(60):
        p = dispatch_fuzz_program(seed, hw)
        assert p.to_bytes() == dispatch_fuzz_program(seed, hw).to_bytes()
        codes.add(simulate(p).error)
    assert {ErrorCode.NONE, ErrorCode.ILLEGAL_OPCODE, ErrorCode.ILLEGAL_FIELD, ErrorCode.BUF_RANGE} <= codes


def test_scrub_program_zeroes_what_is_read_uninitialised() -> None:
    hw = HwConfig(rows=4, cols=4)
    for seed in range(20):
        p = random_program(seed, hw)
        rows = uninitialised_reads(p)
        sp = scrub_program(hw, rows)
        if sp is None:
            continue
        assert simulate(sp).ok and find_races(sp) == []


def test_seed_range() -> None:
    assert seed_range("0-3") == [0, 1, 2, 3]
    assert seed_range("1,5,7-8") == [1, 5, 7, 8]
