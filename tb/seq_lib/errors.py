"""Error Programs: every documented error path, each with the code (and index) it must raise.

Two kinds of case, one :class:`ErrorCase`:

* :func:`error_programs` - one small directed Program per error path and corner of docs/isa.md
  section 5 (illegal opcodes, every ILLEGAL_FIELD cause, every BUF_RANGE check, DECERR and SLVERR on
  reads and writes, deadlocks, counter overflow), with the SLVERR windows it needs and the code
  *and* index the golden simulator predicts; short enough to run on the RTL for every configuration.
* :func:`error_cases` - seeded: a random valid Program plus one fault injected at a random
  position, so the machine is busy (engines running, FIFOs non-empty) when the fault arrives:

  - static faults (codes 1-3) replace instruction ``k`` with a corrupted copy: index = ``k``;
  - AXI faults put an SLVERR window on bytes that only instruction ``k`` touches (reads: whole bus
    beats, writes: bytes - like the memory model), or point its address beyond ``mem_size``
    (DECERR); exactly one instruction can fail, so the reported index cannot depend on timing;
  - token faults drop a push (deadlock), build a circular wait, fill a FIFO behind a blocked head,
    or push past the counter maximum (overflow, streamed: 2**token_bits instructions).

  Here :attr:`ErrorCase.expect` is the code the case *intends*; the golden simulator predicts code
  and index, and the scoreboard fails the run if the two codes disagree (a testbench bug).

Instruction words are built with the ISA's encoder (:func:`golden.isa.make` / ``encode``); the
words the encoder refuses to build on purpose (illegal opcodes, reserved bits) come from
:func:`illegal_word`, which works on the ISA's field table rather than on literal bit positions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from golden.isa import (
    DEP_FIELDS,
    FORMATS,
    INSN_BITS,
    POP_FIELD,
    PUSH_FIELD,
    ROW_LANES,
    Buffer,
    DecodeError,
    ErrorCode,
    HwConfig,
    Insn,
    Opcode,
    Queue,
    decode,
    encode,
    make,
)
from golden.program import Program
from golden.sim import simulate
from tb.seq_lib.hazards import FootprintModel
from tb.seq_lib.program_gen import GenKnobs, random_program


@dataclass
class ErrorCase:
    """A Program that must stop with error ``expect`` (at instruction ``index`` when pinned)."""

    name: str
    program: Program
    expect: ErrorCode
    index: int | None = None
    """The expected error_index; None when the case does not pin it (the golden simulator's is used)."""
    slverr: list[tuple[int, int]] = field(default_factory=list)
    """[start, end) byte windows of external memory that answer SLVERR."""
    tags: dict[str, Any] = field(default_factory=dict)
    """Coverage tags (``{"field": cause}`` for ILLEGAL_FIELD causes, see :data:`FIELD_TAGS`)."""
    feed: str = "pins"
    """How the RTL receives the instructions: ``"pins"`` or ``"stream"`` (long Programs)."""
    alternatives: tuple[tuple[ErrorCode, int], ...] = ()
    """Other (code, index) reports the ISA allows for this Program (docs/isa.md section 5, "Several
    faults"): a Program with a runtime fault and a later dispatch-time fault may report either; the
    scoreboard accepts the golden simulator's report or any of these, never anything else."""


# ---- illegal instruction words (what the encoder refuses to build)

_OPCODE = FORMATS[Opcode.FINISH][0]
"""The opcode field; every format starts with the same header, so any format's first field."""
_LEGAL_OPCODES = frozenset(int(op) for op in Opcode)


def reserved_bits(opcode: Opcode | None = None) -> range:
    """Bit positions no field of ``opcode``'s format uses (of any format when None); they must be 0."""
    fmts = [FORMATS[Opcode(opcode)]] if opcode is not None else list(FORMATS.values())
    return range(max(fmt[-1].msb for fmt in fmts) + 1, INSN_BITS)


def illegal_word(base: int = 0, *, opcode: int | None = None, reserved_bit: int | None = None) -> int:
    """``base`` (an encoded word) made illegal: a raw illegal ``opcode`` value, and/or a reserved bit set.

    The ISA's encoder only builds words that decode, which is right everywhere except in the cases
    that test the decoder's rejection; this is the one place such words are made, from the field
    table (:data:`golden.isa.FORMATS`), so a layout change in golden/isa.py moves them too.  The
    reserved bit must be unused by ``base``'s format (by every format when ``base``'s opcode is
    illegal), and the result is checked not to decode.
    """
    word = base
    if opcode is not None:
        if opcode in _LEGAL_OPCODES or not 0 <= opcode <= _OPCODE.max:
            raise ValueError(f"opcode {opcode} is not an illegal {_OPCODE.width}-bit opcode")
        word = (word & ~(_OPCODE.max << _OPCODE.lsb)) | (opcode << _OPCODE.lsb)
    if reserved_bit is not None:
        raw = (word >> _OPCODE.lsb) & _OPCODE.max
        fmt = Opcode(raw) if raw in _LEGAL_OPCODES else None
        if reserved_bit not in reserved_bits(fmt):
            raise ValueError(f"bit {reserved_bit} is not reserved in {fmt.name if fmt else 'every format'}")
        word |= 1 << reserved_bit
    try:
        decode(word)
    except DecodeError:
        return word
    raise ValueError(f"{word:#x} decodes: not an illegal word")


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
    """``ins`` with some fields changed, encoded (the encoder rejects values that do not fit)."""
    return make(ins.opcode, **{**ins.fields, **changes}).encode()


# ---- static faults: (field tag, code, mutate(insn, hw, rng) -> word or None if not applicable)


def _reserved(ins: Insn, hw: HwConfig, rng: random.Random) -> int:
    return illegal_word(ins.encode(), reserved_bit=rng.choice(reserved_bits(ins.opcode)))


def _own_queue(ins: Insn, hw: HwConfig, rng: random.Random) -> int | None:
    q = ins.queue
    if q is None:
        return None
    return _with(ins, **{rng.choice((POP_FIELD, PUSH_FIELD))[q]: 1})


STATIC: dict[str, tuple[ErrorCode, tuple[Opcode, ...], Callable[..., int | None]]] = {
    "opcode_zero": (
        ErrorCode.ILLEGAL_OPCODE,
        tuple(Opcode),
        lambda i, hw, r: illegal_word(i.encode(), opcode=0),
    ),
    "opcode_high": (
        ErrorCode.ILLEGAL_OPCODE,
        tuple(Opcode),
        lambda i, hw, r: illegal_word(i.encode(), opcode=r.randint(max(Opcode) + 1, 15)),
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
        lambda i, hw, r: _with(i, **{DEP_FIELDS[r.randrange(len(DEP_FIELDS))]: 1}),
    ),
    "sync_queue3": (
        ErrorCode.ILLEGAL_FIELD,
        (Opcode.SYNC, Opcode.LOAD),
        lambda i, hw, r: encode(Opcode.SYNC, queue=3),
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


EARLY_MIN_ROWS = 4
"""``write_slverr_early``: the STORE has at least this many rows and the error hits its first quarter,
so the engine's own error arrives while later rows are still being issued."""


def axi_case(kind: str, seed: int, hw: HwConfig) -> ErrorCase:
    """kind: read_slverr | write_slverr | write_slverr_early | read_decerr | write_decerr.

    ``write_slverr_early``: a SLVERR on an early byte of a STORE of several rows, so the store engine
    stops in the middle of its STORE (a stop that leaves its front end busy never goes idle: a hang)."""
    rng = random.Random(f"{kind}-{seed}")
    op = Opcode.LOAD if kind.startswith("read") else Opcode.STORE
    code = ErrorCode.AXI_READ if op == Opcode.LOAD else ErrorCode.AXI_WRITE
    bus = hw.axi_data_bits // 8
    early = kind.endswith("_early")
    for attempt in range(40):
        p = _base(seed * 41 + attempt, hw)
        users = _mem_users(p)
        cands = [u for u in users if u[1] == op
                 and (not early or decode(p.insns[u[0]]).fields.get("y_size", 0) >= EARLY_MIN_ROWS)]
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
        if early:
            mine = mine[: max(1, len(mine) // EARLY_MIN_ROWS)]
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


# ---- several faults in one Program (docs/isa.md section 5, "Several faults")


def _illegal_at(p: Program, k: int, name: str) -> Program:
    return _replace(p, k, illegal_word(p.insns[k], opcode=0), name)


def multi_case(kind: str, seed: int, hw: HwConfig) -> ErrorCase:
    """kind: two_static | read_slverr_then_static.

    two_static: illegal opcodes at two instructions k1 < k2: the dispatcher checks in program order,
    so k1 is reported, always (index pinned).  read_slverr_then_static: a LOAD j whose read answers
    SLVERR and an illegal opcode at a later instruction k: which is found first depends on timing
    (the dispatcher may reach k before j's read data returns, or be held by a full FIFO), so the case
    allows AXI_READ@j and ILLEGAL_OPCODE@k and nothing else.
    """
    rng = random.Random(f"{kind}-{seed}")
    name = f"err_{kind}_s{seed}"
    if kind == "two_static":
        p = _base(seed, hw)
        body = [i for i, w in enumerate(p.insns) if decode(w).opcode != Opcode.FINISH]
        k1, k2 = sorted(rng.sample(body, 2))
        q = _illegal_at(_illegal_at(p, k2, name), k1, name)
        return ErrorCase(f"{kind}_s{seed}", q, ErrorCode.ILLEGAL_OPCODE, index=k1)
    if kind != "read_slverr_then_static":
        raise ValueError(f"unknown multi-fault kind {kind!r}")
    c = axi_case("read_slverr", seed, hw)
    a = c.slverr[0][0]
    j = next(i for i, op, idx in _mem_users(c.program) if op == Opcode.LOAD and a in set(idx.tolist()))
    fin = next(i for i, w in enumerate(c.program.insns) if decode(w).opcode == Opcode.FINISH)
    k = rng.randrange(j + 1, fin + 1)
    return ErrorCase(f"{kind}_s{seed}", _illegal_at(c.program, k, name), ErrorCode.AXI_READ, index=j,
                     slverr=list(c.slverr), alternatives=((ErrorCode.ILLEGAL_OPCODE, k),))


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
                for d in PUSH_FIELD.values()
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
        head = make(Opcode.SYNC, queue=int(q), **{POP_FIELD[other]: 1})
        fill = [make(Opcode.SYNC, queue=int(q)) for _ in range(hw.queue_depth + 2)]
        return ErrorCase(
            f"{kind}_s{seed}", _program(f"err_{kind}", hw, [head, *fill]), ErrorCode.TOKEN_DEADLOCK
        )
    if kind == "overflow":  # push one counter 2**token_bits times
        src, dst = rng.sample(list(Queue), 2)
        n = 1 << hw.token_bits
        sync = make(Opcode.SYNC, queue=int(src), **{PUSH_FIELD[dst]: 1})
        # first, a head that waits for ever on the third queue (dst never pushes): the overflowing push
        # (index n) is then not the oldest head (index 0), so a token unit that reports the deadlock
        # path's index for an overflow is caught (mutation testing, docs/verification.md)
        third = next(q for q in Queue if q not in (src, dst))
        blocked = make(Opcode.SYNC, queue=int(third), **{POP_FIELD[dst]: 1})
        return ErrorCase(
            f"{kind}_s{seed}",
            _program(f"err_{kind}", hw, [blocked] + [sync] * n + [make(Opcode.FINISH)]),
            ErrorCode.TOKEN_OVERFLOW,
            feed="stream",
        )
    raise ValueError(kind)


KINDS: dict[str, Callable[[int, HwConfig], ErrorCase]] = {
    **{k: (lambda s, hw, k=k: static_case(k, s, hw)) for k in STATIC},
    **{
        k: (lambda s, hw, k=k: axi_case(k, s, hw))
        for k in ("read_slverr", "write_slverr", "write_slverr_early", "read_decerr", "write_decerr")
    },
    **{k: (lambda s, hw, k=k: multi_case(k, s, hw)) for k in ("two_static", "read_slverr_then_static")},
    **{
        k: (lambda s, hw, k=k: token_case(k, s, hw))
        for k in ("drop_push", "circular", "full_fifo", "overflow")
    },
}
SLOW = frozenset({"overflow"})
"""Left out of the smoke set: streams 2**token_bits instructions (65,536 with 16-bit tokens)."""
FAST_OVERFLOW_TOKEN_BITS = 10
"""With token counters this narrow (4x4-narrow: 8 bits, 257 instructions) the overflow case is fast
and runs with ``slow=False`` too: the default suite's error job then reaches TOKEN_OVERFLOW (the
token unit's overflow detection had no code coverage without it; docs/verification.md)."""


def error_cases(
    seed: int, hw: HwConfig, only: list[str] | None = None, *, slow: bool = True
) -> list[ErrorCase]:
    """One seeded case per kind of :data:`KINDS` (or of ``only``); ``slow=False`` drops :data:`SLOW`."""
    names = only or [k for k in KINDS if slow or k not in SLOW
                     or (k == "overflow" and hw.token_bits <= FAST_OVERFLOW_TOKEN_BITS)]
    return [KINDS[k](seed, hw) for k in names]


# ---- directed error Programs


def _directed(name: str, insns: list[int], hw: HwConfig, mem_size: int = 8192) -> Program:
    """A directed error Program over random memory (seeded by the name's length: reproducible)."""
    rng = np.random.default_rng(len(name))
    return Program.create(name, insns, rng.integers(0, 256, size=mem_size, dtype=np.uint8).tobytes(), hw)


def error_programs(hw: HwConfig) -> list[ErrorCase]:
    """One directed Program per error path (docs/isa.md section 5) with its expected code and index.

    Most cases run a LOAD and a GEMM first (``good``) so the error arrives with engines busy; the
    code and index are the golden simulator's prediction, which the RTL must reproduce exactly
    (``ppucfg_disabled_rows_ok``: the out-of-range rows of disabled stages pass, the GEMM after
    it is the instruction that fails).
    """
    L = Opcode
    ld_inp = dict(buf_sel=Buffer.INP, sram_addr=0, x_size=hw.rows, x_stride=1, y_size=2, y_stride=hw.rows,
                  ext_addr=64)
    good = [encode(L.LOAD, **ld_inp), encode(L.GEMM, m=2, pop_ld=0)]
    st = dict(sram_addr=0, x_size=hw.cols, x_stride=4, y_size=2, y_stride=4 * hw.cols, ext_addr=4096)
    cases: list[tuple[str, list[int], list[tuple[int, int]], int]] = []

    def add(name: str, insns: list[int], slverr: list[tuple[int, int]] | None = None,
            mem: int = 8192) -> None:
        cases.append((name, insns, slverr or [], mem))

    fin = encode(L.FINISH)
    # ILLEGAL_OPCODE: 0, the first unassigned value, 15
    for op in (0, max(L) + 1, 15):
        add(f"illegal_opcode_{op}", [*good, illegal_word(encode(L.FINISH, pop_cmp=1), opcode=op), fin])
    # ILLEGAL_FIELD
    add("reserved_bit_load", [*good, illegal_word(encode(L.LOAD, **ld_inp), reserved_bit=INSN_BITS - 1), fin])
    first_free = reserved_bits(L.SYNC)[0]
    add("reserved_bit_sync", [*good, illegal_word(encode(L.SYNC, queue=1), reserved_bit=first_free), fin])
    add("sync_queue3", [*good, encode(L.SYNC, queue=3), fin])
    add("finish_with_deps", [*good, encode(L.FINISH, push_cmp=1)])
    add("own_queue_pop", [*good, encode(L.GEMM, m=1, pop_cmp=1), fin])
    add("own_queue_push", [*good, encode(L.LOAD, **{**ld_inp, "push_ld": 1}), fin])
    add("load_x_size_0", [*good, encode(L.LOAD, **{**ld_inp, "x_size": 0}), fin])
    wide = {**ld_inp, "buf_sel": Buffer.ROW, "x_size": ROW_LANES + 1, "x_stride": 4}
    add("load_x_size_wide", [*good, encode(L.LOAD, **wide), fin])
    add("load_y_size_0", [*good, encode(L.LOAD, **{**ld_inp, "y_size": 0}), fin])
    add("gemm_m_0", [*good, encode(L.GEMM, m=0), fin])
    add("store_x_size_wide", [*good, encode(L.STORE, **{**st, "x_size": hw.cols + 1}), fin])
    add("store_y_size_0", [*good, encode(L.STORE, **{**st, "y_size": 0}), fin])
    add("field_before_range", [*good, encode(L.LOAD, **{**ld_inp, "y_size": 0, "sram_addr": 0xFFFF}), fin])
    # BUF_RANGE
    for b in Buffer:
        d = hw.depth(b)
        f = {**ld_inp, "buf_sel": b, "x_size": 1, "x_stride": hw.elem_bytes(b), "sram_addr": d - 1,
             "y_size": 2}
        add(f"load_range_{b.name}", [*good, encode(L.LOAD, **f), fin])
    add("gemm_range_inp", [*good, encode(L.GEMM, inp_addr=hw.inp_depth - 1, m=2), fin])
    add("gemm_range_wgt", [*good, encode(L.GEMM, wgt_addr=hw.wgt_depth - hw.rows + 1, m=1), fin])
    add("gemm_range_acc", [*good, encode(L.GEMM, acc_addr=hw.acc_depth - 1, m=2), fin])
    add("store_range", [*good, encode(L.STORE, **{**st, "sram_addr": hw.acc_depth - 1}), fin])
    add("ppucfg_range_bias", [*good, encode(L.PPUCFG, bias_en=1, bias_row=hw.vec_depth), fin])
    add("ppucfg_range_shift", [*good, encode(L.PPUCFG, requant_en=1, shift_row=hw.vec_depth), fin])
    add("ppucfg_range_pwl", [*good, encode(L.PPUCFG, pwl_en=1, pwl_row=hw.vec_depth - hw.pwl_rows + 1), fin])
    off_rows = encode(L.PPUCFG, bias_row=0xFFFF, mult_row=0xFFFF, shift_row=0xFFFF, pwl_row=0xFFFF)
    add("ppucfg_disabled_rows_ok", [*good, off_rows, encode(L.GEMM, m=0x7FFF), fin])
    # AXI_READ: DECERR beyond mem_size, SLVERR window, gather element, second LOAD of several
    add("axi_read_decerr", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 8192 - hw.rows}), fin])
    add("axi_read_decerr_wrap", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 0xFFFFFFF0, "y_size": 1}),
                                 fin])
    add("axi_read_slverr", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 1000}), encode(L.LOAD, **ld_inp),
                            fin],
        slverr=[(1000 + hw.rows, 1000 + hw.rows + 1)])
    add("axi_read_slverr_gather", [encode(L.LOAD, **{**ld_inp, "x_stride": 37, "ext_addr": 300}), fin],
        slverr=[(300 + 37 * (hw.rows - 1), 300 + 37 * (hw.rows - 1) + 1)])
    # GATHER: misaligned index array (field), index read beyond mem_size / in a SLVERR window, a
    # table row beyond mem_size (the random image's first int32 is a huge index)
    ga = dict(buf_sel=Buffer.INP, sram_addr=0, x_size=hw.rows, y_size=4, y_stride=hw.rows, ext_addr=512,
              idx_addr=1024)
    add("gather_idx_misaligned", [*good, encode(L.GATHER, **{**ga, "idx_addr": 1026}), fin])
    add("gather_y_size_0", [*good, encode(L.GATHER, **{**ga, "y_size": 0}), fin])
    add("gather_range", [*good, encode(L.GATHER, **{**ga, "sram_addr": hw.inp_depth - 3}), fin])
    add("gather_idx_decerr", [*good, encode(L.GATHER, **{**ga, "idx_addr": 8192 - 8}), fin])
    add("gather_idx_slverr", [*good, encode(L.GATHER, **ga), fin], slverr=[(1024 + 9, 1024 + 10)])
    add("gather_row_decerr", [*good, encode(L.GATHER, **{**ga, "y_stride": 0x3FFF, "idx_addr": 0}), fin])
    # AXI_WRITE: DECERR and SLVERR; the STORE waits for the GEMM
    gemm_st = [encode(L.LOAD, **ld_inp, push_cmp=1), encode(L.GEMM, m=2, pop_ld=1, push_st=1),
               encode(L.PPUCFG, out_int32=1)]
    st_end = {**st, "ext_addr": 8192 - 4 * hw.cols, "pop_cmp": 1}
    add("axi_write_decerr", [*gemm_st, encode(L.STORE, **st_end), fin])
    add("axi_write_slverr", [*gemm_st, encode(L.STORE, **{**st, "pop_cmp": 1}), fin],
        slverr=[(4096 + 4 * hw.cols + 5, 4096 + 4 * hw.cols + 6)])
    # TOKEN_DEADLOCK: pops nobody pushes; index = smallest blocked head
    add("deadlock_simple", [*good, encode(L.GEMM, m=1, pop_st=1), fin])
    add("deadlock_two_heads", [encode(L.LOAD, **ld_inp), encode(L.STORE, **st, pop_cmp=1),
                               encode(L.GEMM, m=1, pop_st=1), fin])
    add("deadlock_full_fifo",
        [encode(L.SYNC, queue=0, pop_cmp=1)] + [encode(L.LOAD, **ld_inp)] * (hw.queue_depth + 3))
    add("deadlock_cycle", [encode(L.SYNC, queue=0, pop_st=1, push_st=1), encode(L.SYNC, queue=2, pop_ld=1,
                                                                                 push_ld=1), fin])
    # TOKEN_OVERFLOW: 2**token_bits SYNC pushes LD->CMP, never popped
    n = 1 << hw.token_bits
    if n <= 1 << 16:
        add("token_overflow", [encode(L.SYNC, queue=0, push_cmp=1)] * n + [fin])
        add("token_overflow_gemm", [encode(L.SYNC, queue=1, push_st=1)] * (n - 1)
            + [encode(L.GEMM, m=1, push_st=1), fin])
    out = []
    for name, insns, slverr, mem in cases:
        p = _directed(name, insns, hw, mem)
        g = simulate(p, bad_addresses=slverr or None)
        out.append(ErrorCase(name, p, g.error, g.error_index, slverr=slverr))
    return out


__all__ = [
    "FIELD_TAGS",
    "KINDS",
    "SLOW",
    "STATIC",
    "ErrorCase",
    "axi_case",
    "error_cases",
    "error_programs",
    "illegal_word",
    "reserved_bits",
    "static_case",
    "token_case",
]
