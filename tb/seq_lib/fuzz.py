"""Dispatcher boundary fuzz: single instructions at the edges of the static checks.

This is an error-path fuzzer, not a valid-program generator (that is
:func:`tb.seq_lib.program_gen.random_program`): each Program holds one instruction whose fields sit
on either side of a check of docs/isa.md section 5 (x_size 0/1/width/width+1, rows ending at the
buffer depth or one past it, reserved bits, own-queue tokens, SYNC queue 3, PPUCFG rows of enabled
and disabled stages, illegal opcodes).  No expected result is attached: whatever the golden
simulator reports (a static error, a dynamic one, or none), the RTL must report the same, which is
what makes random boundary values a useful cross-check of the two decoders.
"""

from __future__ import annotations

import numpy as np

from golden.isa import DEP_FIELDS, Buffer, HwConfig, Opcode, encode
from golden.program import Program
from tb.seq_lib.errors import illegal_word


def dispatch_fuzz_program(seed: int, hw: HwConfig) -> Program:
    """0-3 token-free SYNCs, then one boundary instruction, then FINISH; reproducible from ``seed``.

    About 8 % of the boundary instructions carry an illegal opcode (0, 8, 9 or 15), 15 % a reserved
    bit and 20 % one extra token bit (which may name the instruction's own queue, or be on FINISH).
    """
    rng = np.random.default_rng(seed)

    def pick(*vals: int) -> int:
        return int(rng.choice(vals))

    ops = list(Opcode)
    raw_op = pick(0, 8, 9, 15) if rng.random() < 0.08 else int(rng.choice(ops))
    f: dict[str, int] = {}
    if raw_op == Opcode.LOAD:
        buf = Buffer(pick(0, 1, 2, 3))
        d, w = hw.depth(buf), hw.width(buf)
        y = pick(0, 1, 2, 7)
        f = dict(buf_sel=buf, x_size=pick(0, 1, w, w + 1, min(255, w + 9)),
                 x_stride=pick(hw.elem_bytes(buf), 1, 5), y_size=y, y_stride=pick(0, 64, 100),
                 ext_addr=pick(0, 100, 4090),
                 sram_addr=pick(0, max(0, d - y), max(0, d - y + 1), d - 1, 0xFFFF) & 0xFFFF)
    elif raw_op == Opcode.GATHER:
        buf = Buffer(pick(0, 1, 2, 3))
        d, w = hw.depth(buf), hw.width(buf)
        y = pick(0, 1, 2, 7)
        f = dict(buf_sel=buf, x_size=pick(0, 1, w, w + 1), y_size=y, y_stride=pick(0, 16, 100),
                 ext_addr=pick(0, 100, 4090), idx_addr=pick(0, 64, 66, 4092),
                 sram_addr=pick(0, max(0, d - y), max(0, d - y + 1), d - 1, 0xFFFF) & 0xFFFF)
    elif raw_op == Opcode.GEMM:
        m = pick(0, 1, 5)
        f = dict(m=m, inp_addr=pick(0, max(0, hw.inp_depth - m), hw.inp_depth - m + 1) & 0xFFFF,
                 wgt_addr=pick(0, hw.wgt_depth - hw.rows, hw.wgt_depth - hw.rows + 1),
                 acc_addr=pick(0, max(0, hw.acc_depth - m), hw.acc_depth - m + 1) & 0xFFFF,
                 accumulate=pick(0, 1))
    elif raw_op == Opcode.STORE:
        y = pick(0, 1, 3)
        f = dict(x_size=pick(0, 1, hw.cols, hw.cols + 1), x_stride=pick(1, 4), y_size=y,
                 y_stride=pick(64, 128), ext_addr=pick(1024, 2000),
                 sram_addr=pick(0, max(0, hw.acc_depth - y), hw.acc_depth - y + 1) & 0xFFFF)
    elif raw_op == Opcode.PPUCFG:
        vd, pr = hw.vec_depth, hw.pwl_rows
        f = {k: pick(0, 1) for k in ("bias_en", "row_en", "requant_en", "pwl_en", "out_int32")}
        f.update(bias_row=pick(0, vd - 1, vd, 0xFFFF), mult_row=pick(0, vd - 1, vd),
                 shift_row=pick(0, vd - 1, vd), pwl_row=pick(0, vd - pr, vd - pr + 1, 0xFFFF))
    elif raw_op == Opcode.SYNC:
        f = dict(queue=pick(0, 1, 2, 3))
    legal = raw_op in ops
    r = rng.random()
    if r < 0.15:  # a bit no format uses (126 or 127), on a legal or an illegal opcode
        bit = int(rng.integers(126, 128))
        base = encode(Opcode(raw_op), **f) if legal else illegal_word(opcode=raw_op)
        word = illegal_word(base, reserved_bit=bit)
    elif r < 0.35 and legal:  # one token bit: legal, or the own queue's, or any on FINISH
        f[DEP_FIELDS[int(rng.integers(0, len(DEP_FIELDS)))]] = 1
        word = encode(Opcode(raw_op), **f)
    else:
        word = encode(Opcode(raw_op), **f) if legal else illegal_word(opcode=raw_op)
    pre = [encode(Opcode.SYNC, queue=pick(0, 1, 2)) for _ in range(pick(0, 1, 3))]
    mem = np.random.default_rng(seed + 1).integers(0, 256, size=8192, dtype=np.uint8).tobytes()
    return Program.create(f"fuzz_{seed}", [*pre, word, encode(Opcode.FINISH)], mem, hw)


__all__ = ["dispatch_fuzz_program"]
