"""golden/schedule.py and the queue/token tables of golden/isa.py: the one home of the token rules.

* the tables name the six counters once and every pop/push bit maps to the right one;
* the ``golden`` policy is the simulator's order; deadlock and overflow come with the simulator's
  code and index;
* every policy yields a *legal* order (program-order dispatch, FIFO depth, in-order engines, k-th
  pop consumes the k-th push) and, on race-free Programs, the golden memory and cycle counters;
* every compiled zoo Program is race free under the one checker, and a Program with one token
  removed is reported as a race (and can compute a different result when engines run ahead).
"""

from __future__ import annotations

import dataclasses
from collections import Counter as Tally

import pytest

from compiler import compile_model
from golden.hwcfg import CONFIGS
from golden.isa import (
    DEP_COUNTER,
    DEP_FIELDS,
    POP_FIELD,
    PUSH_FIELD,
    TOKEN_COUNTERS,
    ErrorCode,
    HwConfig,
    Insn,
    Opcode,
    Queue,
    TokenCounter,
    decode,
    encode,
    make,
    pops,
    pushes,
)
from golden.models import ZOO
from golden.program import Program
from golden.schedule import POLICIES, Scheduler, Step, decode_stream, schedule_all
from golden.sim import simulate
from tb.seq_lib.examples import gemm_program
from tb.seq_lib.hazards import Race, find_races
from tb.seq_lib.program_gen import random_program

LD, CMP, ST = Queue.LD, Queue.CMP, Queue.ST
SMALL = HwConfig(rows=4, cols=4, inp_depth=64, wgt_depth=32, acc_depth=32, vec_depth=32, queue_depth=2)
FIN = encode(Opcode.FINISH)
ZOO_NAMES = ("resnet_tiny", "bert_tiny", "gcn_karate", "sage_karate")


def prog(insns: list[int], hw: HwConfig = SMALL) -> Program:
    return Program.create("t", insns, bytearray(256), hw)


def deep_fifos(p: Program) -> Program:
    """``p`` on a machine whose FIFOs hold the whole stream, so engines may run arbitrarily far ahead."""
    return dataclasses.replace(p, hw=dataclasses.replace(p.hw, queue_depth=len(p.insns) + 1))


# --------------------------------------------------------------------------- tables


def test_six_counters_and_field_table() -> None:
    assert TOKEN_COUNTERS == ((LD, CMP), (LD, ST), (CMP, LD), (CMP, ST), (ST, LD), (ST, CMP))
    assert DEP_FIELDS == (*POP_FIELD.values(), *PUSH_FIELD.values())
    assert len(DEP_COUNTER) == 12  # 3 queues x (2 pop + 2 push) legal bits
    assert DEP_COUNTER[(CMP, "pop_ld")] == (LD, CMP)
    assert DEP_COUNTER[(CMP, "push_st")] == (CMP, ST)
    assert DEP_COUNTER[(ST, "pop_cmp")] == (CMP, ST)
    assert (LD, "pop_ld") not in DEP_COUNTER  # own-queue bits are ILLEGAL_FIELD
    for (q, name), c in DEP_COUNTER.items():  # one bit set -> exactly that counter
        ins = make(Opcode.SYNC, queue=int(q), **{name: 1})
        assert (pops(ins) + pushes(ins)) == (c,), (q, name)


def test_pops_and_pushes_of_instructions() -> None:
    g = make(Opcode.GEMM, m=1, pop_ld=1, pop_st=1, push_st=1, push_ld=1)
    assert pops(g) == ((LD, CMP), (ST, CMP))
    assert pushes(g) == ((CMP, LD), (CMP, ST))
    assert pops(make(Opcode.PPUCFG, pop_cmp=1)) == ((CMP, ST),)
    assert pushes(make(Opcode.LOAD)) == () and pops(make(Opcode.FINISH)) == ()


# --------------------------------------------------------------------------- the golden policy


@pytest.mark.parametrize("cfg", ["16x16", "4x4-narrow", "8x16"])
def test_golden_order_is_the_simulators(cfg: str) -> None:
    hw = CONFIGS[cfg]
    for seed in range(15):
        p = random_program(seed, hw)
        s = schedule_all(decode_stream(p.insns, hw), depth=hw.queue_depth, token_max=(1 << hw.token_bits) - 1)
        r = simulate(p)
        assert s.error == ErrorCode.NONE and r.ok
        assert s.order == r.order and len(s.order) == len(p.insns) - 1  # everything but FINISH
        assert s.dispatched == len(p.insns) and s.tokens == dict.fromkeys(TOKEN_COUNTERS, 0)


def test_deadlock_and_overflow_like_the_simulator() -> None:
    ld = encode(Opcode.LOAD, buf_sel=0, x_size=1, y_size=1)
    push = encode(Opcode.LOAD, buf_sel=0, x_size=1, y_size=1, push_cmp=1)
    gemm_wait = encode(Opcode.GEMM, m=1, pop_ld=1)
    g = encode(Opcode.GEMM, m=1)
    cases = [
        ([ld, gemm_wait, FIN], SMALL, ErrorCode.TOKEN_DEADLOCK, 1),
        ([gemm_wait, g, g, push, FIN], SMALL, ErrorCode.TOKEN_DEADLOCK, 0),  # LOAD stuck behind a full FIFO
        ([push, gemm_wait, g, g, FIN], SMALL, ErrorCode.NONE, -1),
        ([push] * 5 + [FIN], dataclasses.replace(SMALL, token_bits=2), ErrorCode.TOKEN_OVERFLOW, 3),
        ([ld, 0xF, FIN], SMALL, ErrorCode.ILLEGAL_OPCODE, 1),
    ]
    for words, hw, code, index in cases:
        s = schedule_all(decode_stream(words, hw), depth=hw.queue_depth, token_max=(1 << hw.token_bits) - 1)
        r = simulate(prog(words, hw))
        assert (s.error, s.error_index) == (code, index) == (r.error, r.error_index)
        assert s.error_message == r.error_message
    s = schedule_all(decode_stream([gemm_wait, g, g, push, FIN], SMALL), depth=None)
    assert s.error == ErrorCode.NONE  # the same tokens with unbounded FIFOs: no deadlock
    s = schedule_all(decode_stream([ld, gemm_wait, FIN], SMALL), depth=2)
    assert s.error_message == ("token deadlock: blocked heads GEMM@1; counters "
                               "LD->CMP=0, LD->ST=0, CMP->LD=0, CMP->ST=0, ST->LD=0, ST->CMP=0")


def test_unknown_policy_rejected() -> None:
    with pytest.raises(ValueError, match="golden, latest, random"):
        Scheduler([], depth=None, policy="fastest")


# --------------------------------------------------------------------------- every policy is legal


def _check_legal(insns: list[Insn], s: Scheduler, depth: int | None) -> list[int]:
    """Replay ``s``'s events against the rules; return the execution order."""
    dispatched: list[int] = []
    waiting = Tally[Queue]()
    done: list[int] = []
    pushed: dict[TokenCounter, list[int]] = {c: [] for c in TOKEN_COUNTERS}
    popped = Tally[TokenCounter]()
    last_of: dict[Queue, int] = {}
    for ev in s.events():
        ins = insns[ev.index]
        if ev.step == Step.DISPATCH:
            assert ev.index == len(dispatched), "dispatch in program order"
            dispatched.append(ev.index)
            if ev.queue is not None:
                waiting[ev.queue] += 1
                assert depth is None or waiting[ev.queue] <= depth, "FIFO overfilled"
            continue
        q = ev.queue
        assert q == ins.queue and ev.index in dispatched and ev.index not in done
        assert last_of.get(q, -1) < ev.index, "an engine runs its FIFO in order"
        for c, j in zip(pops(ins), ev.pushers, strict=True):
            assert pushed[c][popped[c]] == j, "the k-th pop consumes the k-th push"
            popped[c] += 1
        for c in pushes(ins):
            pushed[c].append(ev.index)
        last_of[q] = ev.index
        waiting[q] -= 1
        done.append(ev.index)
    assert s.error == ErrorCode.NONE and done == s.order
    assert sorted(done) == [i for i, x in enumerate(insns) if x.opcode != Opcode.FINISH]
    return done


@pytest.mark.parametrize("cfg", ["4x4-narrow", "8x16"])
def test_every_policy_yields_a_legal_order(cfg: str) -> None:
    hw = CONFIGS[cfg]
    differs = 0
    for seed in range(10):
        p = random_program(seed, hw)
        insns = [decode(w) for w in p.insns]
        golden = _check_legal(insns, Scheduler(insns, depth=hw.queue_depth), hw.queue_depth)
        for policy in POLICIES:
            for depth in (hw.queue_depth, None):
                order = _check_legal(insns, Scheduler(insns, depth=depth, policy=policy, seed=seed), depth)
                again = Scheduler(insns, depth=depth, policy=policy, seed=seed)
                assert _check_legal(insns, again, depth) == order, "reproducible from the seed"
                differs += policy != "golden" and order != golden
    assert differs >= 35  # of the 40 latest/random runs: the policies really interleave differently


# --------------------------------------------------------------------------- race freedom


@pytest.mark.parametrize("cfg", ["16x16", "4x4-narrow", "8x16"])
def test_random_policy_gives_the_golden_memory(cfg: str) -> None:
    """What race freedom promises: any legal order computes the same memory (and, the timing model
    being order independent, the same counters)."""
    hw = CONFIGS[cfg]
    orders = set()
    for seed in range(20):
        p = random_program(seed, hw)
        assert find_races(p) == []
        gold = simulate(p)
        assert gold.ok
        for k in range(2):
            r = simulate(p, policy="random", seed=100 * seed + k)
            assert r.ok and bytes(r.memory) == bytes(gold.memory), (seed, k)
            assert r.counters == gold.counters, (seed, k)
            orders.add(tuple(r.order))
            d = simulate(deep_fifos(p), policy="random", seed=100 * seed + k)
            assert d.ok and bytes(d.memory) == bytes(gold.memory), (seed, k, "deep")
        lat = simulate(deep_fifos(p), policy="latest")
        assert lat.ok and bytes(lat.memory) == bytes(gold.memory), (seed, "latest")
    assert len(orders) >= 35  # 40 random runs, (nearly) all different interleavings


@pytest.fixture(scope="module", params=ZOO_NAMES)
def zoo_program(request: pytest.FixtureRequest) -> Program:
    spec = ZOO[request.param]
    model, example = spec.build()
    return compile_model(model, example, calibration=spec.calibration(16), name=request.param)


def test_zoo_programs_race_free(zoo_program: Program) -> None:
    assert len(zoo_program.insns) > 30
    assert find_races(zoo_program) == []
    gold = simulate(zoo_program)
    assert gold.ok, gold.error_message
    r = simulate(deep_fifos(zoo_program), policy="random", seed=1)
    assert r.ok and bytes(r.memory) == bytes(gold.memory)


def _token_pairs(insns: list[Insn]) -> list[tuple[int, int, TokenCounter]]:
    """(pusher, popper, counter) of every token, paired the way the scheduler pairs them."""
    out = []
    for ev in Scheduler(insns, depth=None).events():
        if ev.step == Step.EXECUTE:
            out += [(j, ev.index, c) for c, j in zip(pops(insns[ev.index]), ev.pushers, strict=True)]
    return out


def _without(p: Program, pusher: int, popper: int, c: TokenCounter) -> Program:
    """``p`` with one token removed: the push bit of ``pusher`` and the pop bit of ``popper`` for ``c``
    (the other tokens still pair as before, so the Program cannot deadlock)."""
    insns = [decode(w) for w in p.insns]
    assert insns[pusher].fields[PUSH_FIELD[c[1]]] and insns[popper].fields[POP_FIELD[c[0]]]
    insns[pusher].fields[PUSH_FIELD[c[1]]] = 0
    insns[popper].fields[POP_FIELD[c[0]]] = 0
    return dataclasses.replace(p, insns=[x.encode() for x in insns])


def test_removed_token_is_a_race() -> None:
    load = encode(Opcode.LOAD, buf_sel=0, x_size=4, x_stride=1, y_size=4, y_stride=4, push_cmp=1)
    gemm = encode(Opcode.GEMM, m=4, pop_ld=1)
    p = prog([load, gemm, FIN])
    assert find_races(p) == []
    assert find_races(_without(p, 0, 1, (LD, CMP))) == [Race(0, 1, "RAW", "INP")]


def test_every_removed_token_of_a_tiled_gemm_is_a_race() -> None:
    hw = HwConfig(rows=4, cols=4)
    p = gemm_program(9, 12, 8, hw, seed=1)
    insns = [decode(w) for w in p.insns]
    pairs = _token_pairs(insns)
    assert len(pairs) == 12 and find_races(p) == []
    gold = simulate(p)
    wrong = 0
    for j, i, c in pairs:
        races = find_races(_without(p, j, i, c))
        assert races and races[0].first == j and races[0].second >= i, (j, i, c, races)
        r = simulate(deep_fifos(_without(p, j, i, c)), policy="latest")
        wrong += r.ok and bytes(r.memory) != bytes(gold.memory)
    assert find_races(_without(p, *pairs[0])) == [Race(2, 3, "RAW", "WGT")]
    assert wrong >= 4  # with engines running ahead, a missing token really changes the result
