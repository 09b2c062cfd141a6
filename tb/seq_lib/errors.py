"""Error-injection cases: a valid Program plus one fault, and the documented code it must raise.

Every ``ErrorCode`` of docs/isa.md section 5 and every ILLEGAL_FIELD cause has a case.  Faults are
injected into a random valid Program at a random position, so the machine is busy (engines
running, FIFOs non-empty) when the fault arrives:

* static faults (codes 1-3) replace instruction ``k`` with a corrupted copy: index = ``k``;
* AXI faults put an SLVERR window on bytes that only instruction ``k`` touches (reads: whole bus
  beats, writes: bytes - like the memory model), or point its address beyond ``mem_size`` (DECERR);
  exactly one instruction can fail, so the reported index cannot depend on timing;
* token faults drop a push (deadlock), build a circular wait, fill a FIFO behind a blocked head, or
  push past the counter maximum (overflow, streamed: 2**token_bits instructions).

The golden simulator predicts code and index for every case; :class:`ErrorCase` also records the
code the case *intends*, and the scoreboard fails the run if the two disagree (a testbench bug).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from golden.isa import FORMATS, INSN_BITS, Buffer, ErrorCode, HwConfig, Insn, Opcode, Queue, decode, make
from golden.program import Program
from tb.seq_lib.hazards import FootprintModel
from tb.seq_lib.program_gen import GenKnobs, random_program


@dataclass
class ErrorCase:
    name: str
    program: Program
    expect: ErrorCode
    slverr: list[tuple[int, int]] = field(default_factory=list)
    tags: dict[str, Any] = field(default_factory=dict)
    feed: str = "pins"


def _base(seed: int, hw: HwConfig) -> Program:
    """A small valid Program to inject into (fewer layers keep error runs short)."""
    return random_program(seed, hw, GenKnobs(layers=(1, 2), max_dim=3 * max(hw.rows, hw.cols)))


def _replace(p: Program, k: int, word: int, name: str) -> Program:
    insns = list(p.insns)
    insns[k] = word
    return Program(insns, bytearray(p.memory), dict(p.manifest, name=name), p.hw)


def _pick(p: Program, rng: random.Random, ops: tuple[Opcode, ...]) -> int:
    idx = [i for i, w in enumerate(p.insns) if decode(w).opcode in ops]
    if not idx:
        raise LookupError(f"no {ops} in program")
    return rng.choice(idx)


def _with(ins: Insn, **changes: int) -> int:
    f = dict(ins.fields)
    f.update(changes)
    word = int(ins.opcode)
    for fl in FORMATS[ins.opcode][1:]:
        word |= (f[fl.name] & fl.max) << fl.lsb
    return word


# ---- static faults: (field tag, code, mutate(insn, hw, rng) -> word or None if not applicable)


def _reserved(ins: Insn, hw: HwConfig, rng: random.Random) -> int:
    used = FORMATS[ins.opcode][-1].msb + 1
    return ins.encode() | (1 << rng.randrange(used, INSN_BITS))


def _own_queue(ins: Insn, hw: HwConfig, rng: random.Random) -> int | None:
    q = ins.queue
    if q is None:
        return None
    return ins.encode() | (1 << FORMATS[ins.opcode][0].width + rng.choice([0, 3]) + int(q))


STATIC: dict[str, tuple[ErrorCode, tuple[Opcode, ...], Callable[..., int | None]]] = {
    "opcode_zero": (ErrorCode.ILLEGAL_OPCODE, tuple(Opcode), lambda i, hw, r: i.encode() & ~0xF),
    "opcode_high": (
        ErrorCode.ILLEGAL_OPCODE,
        tuple(Opcode),
        lambda i, hw, r: (i.encode() & ~0xF) | r.randint(7, 15),
    ),
    "reserved_bits": (ErrorCode.ILLEGAL_FIELD, tuple(Opcode), _reserved),
    "own_queue": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.LOAD, Opcode.GEMM, Opcode.STORE, Opcode.PPUCFG),
        _own_queue,
    ),
    "finish_deps": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.FINISH,),
        lambda i, hw, r: i.encode() | (1 << (4 + r.randrange(6))),
    ),
    "sync_queue3": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.SYNC, Opcode.LOAD),
        lambda i, hw, r: make(Opcode.SYNC).encode() | (3 << FORMATS[Opcode.SYNC][-1].lsb),
    ),
    "x_size_zero": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.LOAD, Opcode.STORE),
        lambda i, hw, r: _with(i, x_size=0),
    ),
    "x_size_big": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.LOAD, Opcode.STORE),
        lambda i, hw, r: _with(
            i,
            x_size=(hw.width(Buffer(i.fields["buf_sel"])) if i.opcode == Opcode.LOAD else hw.cols)
            + r.randint(1, 3),
        ),
    ),
    "y_size_zero": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.LOAD, Opcode.STORE),
        lambda i, hw, r: _with(i, y_size=0),
    ),
    "m_zero": (ErrorCode.ILLEGAL_FIELD, (Opcode.GEMM,), lambda i, hw, r: _with(i, m=0)),
    "field_before_range": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.LOAD,),  # both faults: fields win
        lambda i, hw, r: _with(i, x_size=0, sram_addr=0xFFFF),
    ),
    "range_load": (
        ErrorCode.BUF_RANGE,
        (Opcode.LOAD,),
        lambda i, hw, r: _with(i, sram_addr=hw.depth(Buffer(i.fields["buf_sel"])) - i.fields["y_size"] + 1),
    ),
    "range_gemm": (
        ErrorCode.BUF_RANGE,
        (Opcode.GEMM,),
        lambda i, hw, r: _with(
            i,
            **r.choice(
                [
                    {"acc_addr": hw.acc_depth - i.fields["m"] + 1},
                    {"inp_addr": hw.inp_depth - i.fields["m"] + 1},
                    {"wgt_addr": hw.wgt_depth - hw.rows + 1},
                ]
            ),
        ),
    ),
    "range_store": (
        ErrorCode.BUF_RANGE,
        (Opcode.STORE,),
        lambda i, hw, r: _with(i, sram_addr=hw.acc_depth - i.fields["y_size"] + 1),
    ),
    "range_ppucfg": (
        ErrorCode.BUF_RANGE,
        (Opcode.PPUCFG,),
        lambda i, hw, r: _with(i, pwl_en=1, pwl_row=hw.vec_depth - hw.pwl_rows + 1),
    ),
}
FIELD_TAGS = (
    "reserved_bits",
    "own_queue",
    "finish_deps",
    "sync_queue3",
    "x_size_zero",
    "x_size_big",
    "y_size_zero",
    "m_zero",
)
"""Every ILLEGAL_FIELD cause of docs/isa.md section 5; also the bins of coverage point err.field."""


def static_case(kind: str, seed: int, hw: HwConfig) -> ErrorCase:
    code, ops, mutate = STATIC[kind]
    rng = random.Random(f"{kind}-{seed}")
    p = _base(seed, hw)
    for _ in range(50):
        k = _pick(p, rng, ops)
        word = mutate(decode(p.insns[k]), hw, rng)
        if word is not None:
            tags = {"field": kind} if kind in FIELD_TAGS else {}
            return ErrorCase(f"{kind}_s{seed}", _replace(p, k, word, f"err_{kind}_s{seed}"), code, tags=tags)
    raise LookupError(f"{kind}: no applicable instruction in seed {seed}")


# ---- AXI faults


def _mem_users(p: Program) -> list[tuple[int, Opcode, np.ndarray]]:
    fm = FootprintModel(p.hw)
    out = []
    for i, w in enumerate(p.insns):
        ins = decode(w)
        if ins.opcode == Opcode.FINISH:
            break
        fp = fm.footprint(ins)
        for space, idx in fp.reads + fp.writes:
            if space == "MEM":
                out.append((i, ins.opcode, idx))
    return out


def axi_case(kind: str, seed: int, hw: HwConfig) -> ErrorCase:
    """kind: read_slverr | write_slverr | read_decerr | write_decerr."""
    rng = random.Random(f"{kind}-{seed}")
    op = Opcode.LOAD if kind.startswith("read") else Opcode.STORE
    code = ErrorCode.AXI_READ if op == Opcode.LOAD else ErrorCode.AXI_WRITE
    bus = hw.axi_data_bits // 8
    for attempt in range(40):
        p = _base(seed * 41 + attempt, hw)
        users = _mem_users(p)
        cands = [u for u in users if u[1] == op]
        if not cands:
            continue
        k, _, idx = rng.choice(cands)
        if kind.endswith("decerr"):
            ins = decode(p.insns[k])
            word = _with(ins, ext_addr=p.mem_size + rng.randrange(0, 4 * bus))
            return ErrorCase(f"{kind}_s{seed}", _replace(p, k, word, f"err_{kind}_s{seed}"), code)
        # SLVERR: a byte of instruction k whose beat no other instruction touches
        others = np.concatenate([u[2] for u in users if u[0] != k] or [np.zeros(0, np.int64)])
        busy_beats = set((others // bus).tolist())
        mine = np.unique(idx)
        free = [int(a) for a in mine if int(a) // bus not in busy_beats]
        if free:
            a = rng.choice(free)
            return ErrorCase(
                f"{kind}_s{seed}",
                Program(
                    list(p.insns), bytearray(p.memory), dict(p.manifest, name=f"err_{kind}_s{seed}"), p.hw
                ),
                code,
                slverr=[(a, a + 1)],
            )
    raise LookupError(f"{kind}: no isolated access found for seed {seed}")


# ---- token faults


def _program(name: str, hw: HwConfig, insns: list[Insn]) -> Program:
    return Program.create(name, [i.encode() for i in insns], bytes(256), hw)


def token_case(kind: str, seed: int, hw: HwConfig) -> ErrorCase:
    rng = random.Random(f"{kind}-{seed}")
    if kind == "drop_push":  # remove one push from a valid program: its pop can never be satisfied
        for attempt in range(40):
            p = _base(seed * 37 + attempt, hw)
            pushers = [
                (i, d)
                for i, w in enumerate(p.insns)
                for d in ("push_ld", "push_cmp", "push_st")
                if decode(w).fields.get(d)
            ]
            if pushers:
                k, d = rng.choice(pushers)
                ins = decode(p.insns[k])
                return ErrorCase(
                    f"{kind}_s{seed}",
                    _replace(p, k, _with(ins, **{d: 0}), f"err_{kind}_s{seed}"),
                    ErrorCode.TOKEN_DEADLOCK,
                )
        raise LookupError("no push to drop")
    if kind == "circular":  # LOAD waits for GEMM, GEMM waits for LOAD
        insns = [
            make(Opcode.LOAD, buf_sel=0, x_size=1, x_stride=1, y_size=1, pop_cmp=1, push_cmp=1),
            make(Opcode.GEMM, m=1, pop_ld=1, push_ld=1),
            make(Opcode.FINISH),
        ]
        return ErrorCase(f"{kind}_s{seed}", _program(f"err_{kind}", hw, insns), ErrorCode.TOKEN_DEADLOCK)
    if kind == "full_fifo":  # a blocked head and a full FIFO, no FINISH needed
        q = rng.choice([Queue.LD, Queue.CMP, Queue.ST])
        other = next(x for x in Queue if x != q)
        head = make(Opcode.SYNC, queue=int(q), **{f"pop_{other.name.lower()}": 1})
        fill = [make(Opcode.SYNC, queue=int(q)) for _ in range(hw.queue_depth + 2)]
        return ErrorCase(
            f"{kind}_s{seed}", _program(f"err_{kind}", hw, [head, *fill]), ErrorCode.TOKEN_DEADLOCK
        )
    if kind == "overflow":  # push one counter 2**token_bits times
        src, dst = rng.sample(list(Queue), 2)
        n = 1 << hw.token_bits
        sync = make(Opcode.SYNC, queue=int(src), **{f"push_{dst.name.lower()}": 1})
        return ErrorCase(
            f"{kind}_s{seed}",
            _program(f"err_{kind}", hw, [sync] * n + [make(Opcode.FINISH)]),
            ErrorCode.TOKEN_OVERFLOW,
            feed="stream",
        )
    raise ValueError(kind)


KINDS: dict[str, Callable[[int, HwConfig], ErrorCase]] = {
    **{k: (lambda s, hw, k=k: static_case(k, s, hw)) for k in STATIC},
    **{
        k: (lambda s, hw, k=k: axi_case(k, s, hw))
        for k in ("read_slverr", "write_slverr", "read_decerr", "write_decerr")
    },
    **{
        k: (lambda s, hw, k=k: token_case(k, s, hw))
        for k in ("drop_push", "circular", "full_fifo", "overflow")
    },
}
SLOW = frozenset({"overflow"})
"""Left out of the smoke set: streams 2**token_bits instructions."""


def error_cases(
    seed: int, hw: HwConfig, only: list[str] | None = None, *, slow: bool = True
) -> list[ErrorCase]:
    names = only or [k for k in KINDS if slow or k not in SLOW]
    return [KINDS[k](seed, hw) for k in names]
