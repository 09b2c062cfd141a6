"""Directed Programs for the top-level RTL tests (independent of the RTL and tb.bfm).

* :func:`gemm_resident_program` - a GEMM with A resident in INP and B tiles streamed through WGT slots.
* :func:`error_programs` - one directed Program per error path of docs/isa.md section 5, with
  the knobs (SLVERR windows) and the expected code and index (from the golden simulator).
* :func:`dispatch_fuzz_program` - one instruction with fields at the boundaries of the dispatcher's
  static checks (an error-path fuzzer, not a valid-program generator).

The constrained-random valid-Program generator is :func:`tb.seq_lib.program_gen.random_program`
(the project's only one). Everything here is reproducible from its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.isa import (
    ROW_LANES,
    Buffer,
    ErrorCode,
    HwConfig,
    Opcode,
    encode,
)
from golden.program import MEM_ALIGN, Program
from golden.sim import simulate

# --------------------------------------------------------------------------- dispatcher boundary fuzz

def dispatch_fuzz_program(seed: int, hw: HwConfig) -> Program:
    """0-3 token-free SYNCs, then one instruction with fields at the boundaries of the static checks
    (x_size 0/1/width/width+1, rows ending at depth or one past it, reserved bits, own-queue tokens,
    SYNC queue 3, PPUCFG rows of enabled and disabled stages, illegal opcodes), then FINISH. Whatever
    the golden simulator reports (a static error, a dynamic one, or none) the RTL must report too."""
    rng = np.random.default_rng(seed)

    def pick(*vals: int) -> int:
        return int(rng.choice(vals))

    ops = [Opcode.LOAD, Opcode.GEMM, Opcode.STORE, Opcode.PPUCFG, Opcode.SYNC, Opcode.FINISH]
    raw_op = pick(0, 7, 8, 15) if rng.random() < 0.08 else int(rng.choice(ops))
    f: dict[str, int] = {}
    if raw_op == Opcode.LOAD:
        buf = Buffer(pick(0, 1, 2, 3))
        d, w = hw.depth(buf), hw.width(buf)
        y = pick(0, 1, 2, 7)
        f = dict(buf_sel=buf, x_size=pick(0, 1, w, w + 1, min(255, w + 9)),
                 x_stride=pick(hw.elem_bytes(buf), 1, 5), y_size=y, y_stride=pick(0, 64, 100),
                 ext_addr=pick(0, 100, 4090),
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
    word = encode(Opcode(raw_op), **f) if raw_op in ops else raw_op
    r = rng.random()
    if r < 0.15:
        word |= 1 << int(rng.integers(126, 128))                     # a reserved bit (every format)
    elif r < 0.35 and raw_op in ops:
        word |= 1 << int(rng.integers(4, 10))                        # one token bit (own queue, FINISH...)
    pre = [encode(Opcode.SYNC, queue=pick(0, 1, 2)) for _ in range(pick(0, 1, 3))]
    mem = np.random.default_rng(seed + 1).integers(0, 256, size=8192, dtype=np.uint8).tobytes()
    return Program.create(f"fuzz_{seed}", [*pre, word, encode(Opcode.FINISH)], mem, hw)


# --------------------------------------------------------------------------- GEMM with resident operand

def gemm_resident_program(M: int, K: int, N: int, hw: HwConfig, seed: int = 0, wgt_slots: int = 8) -> Program:
    """C = A @ B (int32 out) with all of A resident in INP and B tiles streamed through WGT slots.

    A is loaded once, one K-block (M rows x ROWS) per LOAD, interleaved with the first column of
    B tiles; then for every N-block and K-block one B tile (ROWS x COLS) is loaded into one of
    ``wgt_slots`` WGT slots and one GEMM (m = M) accumulates into one of two ACC slots; a STORE
    writes each finished N-block. The GEMM engine never waits for a large LOAD, which is what a
    compiler does when INP can hold the operand (M * ceil(K/ROWS) <= INP depth). Tokens:
    LD->CMP per B tile, CMP->LD frees a WGT slot, CMP->ST hands over a finished ACC slot,
    ST->CMP frees it.
    """
    R, C = hw.rows, hw.cols
    kb_n, nb_n = -(-K // R), -(-N // C)
    if M * kb_n > hw.inp_depth or 2 * M > hw.acc_depth or wgt_slots * R > hw.wgt_depth:
        raise ValueError(f"{M}x{K}x{N} does not fit {hw} with A resident")
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    b = rng.integers(-128, 128, size=(K, N), dtype=np.int8)

    def al(n: int) -> int:
        return -(-n // MEM_ALIGN) * MEM_ALIGN

    a_addr, b_addr = 0, al(M * K)
    c_addr = al(b_addr + K * N)
    mem = bytearray(al(c_addr + 4 * M * N))
    mem[a_addr:a_addr + M * K] = a.tobytes()
    mem[b_addr:b_addr + K * N] = b.tobytes()
    L = Opcode
    insns = [encode(L.PPUCFG, out_int32=1)]
    total = nb_n * kb_n
    s = 0
    for nb in range(nb_n):
        n0, nv = nb * C, min(C, N - nb * C)
        aslot = (nb % 2) * M
        for kb in range(kb_n):
            k0, kv = kb * R, min(R, K - kb * R)
            if nb == 0:
                insns.append(encode(L.LOAD, buf_sel=Buffer.INP, sram_addr=kb * M, x_size=kv, x_stride=1,
                                    y_size=M, y_stride=K, ext_addr=a_addr + k0))
            slot = s % wgt_slots
            insns.append(encode(L.LOAD, buf_sel=Buffer.WGT, sram_addr=slot * R, x_size=nv, x_stride=1,
                                y_size=kv, y_stride=N, ext_addr=b_addr + k0 * N + n0,
                                pop_cmp=int(s >= wgt_slots), push_cmp=1))
            insns.append(encode(L.GEMM, inp_addr=kb * M, wgt_addr=slot * R, acc_addr=aslot, m=M,
                                accumulate=int(kb > 0), pop_ld=1, push_ld=int(s + wgt_slots < total),
                                pop_st=int(kb == 0 and nb >= 2), push_st=int(kb == kb_n - 1)))
            s += 1
        insns.append(encode(L.STORE, sram_addr=aslot, x_size=nv, x_stride=4, y_size=M, y_stride=4 * N,
                            ext_addr=c_addr + 4 * n0, pop_cmp=1, push_cmp=int(nb + 2 < nb_n)))
    insns.append(encode(L.FINISH))
    tensors = [
        {"name": "A", "role": "input", "addr": a_addr, "shape": [M, K], "strides": [K, 1], "dtype": "int8"},
        {"name": "B", "role": "input", "addr": b_addr, "shape": [K, N], "strides": [N, 1], "dtype": "int8"},
        {"name": "C", "role": "output", "addr": c_addr, "shape": [M, N], "strides": [4 * N, 4],
         "dtype": "int32", "check": True},
    ]
    return Program.create(f"gemm_resident_{M}x{K}x{N}", insns, mem, hw, tensors=tensors)


# --------------------------------------------------------------------------- directed error programs

@dataclass
class ErrorCase:
    name: str
    program: Program
    slverr: list[tuple[int, int]]
    code: ErrorCode
    index: int


def _prog(name: str, insns: list[int], hw: HwConfig, mem_size: int = 8192) -> Program:
    rng = np.random.default_rng(len(name))
    return Program.create(name, insns, rng.integers(0, 256, size=mem_size, dtype=np.uint8).tobytes(), hw)


def error_programs(hw: HwConfig) -> list[ErrorCase]:
    """One Program per error path (docs/isa.md section 5), each with its expected code and index."""
    L = Opcode
    ld_inp = dict(buf_sel=Buffer.INP, sram_addr=0, x_size=hw.rows, x_stride=1, y_size=2, y_stride=hw.rows,
                  ext_addr=64)
    good = [encode(L.LOAD, **ld_inp), encode(L.GEMM, m=2, pop_ld=0)]
    st = dict(sram_addr=0, x_size=hw.cols, x_stride=4, y_size=2, y_stride=4 * hw.cols, ext_addr=4096)
    cases: list[tuple[str, list[int], list[tuple[int, int]], int]] = []

    def add(name: str, insns: list[int], slverr: list[tuple[int, int]] | None = None, mem: int = 8192):
        cases.append((name, insns, slverr or [], mem))

    fin = encode(L.FINISH)
    # ILLEGAL_OPCODE: 0, 7, 15
    for op in (0, 7, 15):
        add(f"illegal_opcode_{op}", [*good, op | (1 << 5), fin])
    # ILLEGAL_FIELD
    add("reserved_bit_load", [*good, encode(L.LOAD, **ld_inp) | (1 << 127), fin])
    add("reserved_bit_sync", [*good, encode(L.SYNC, queue=1) | (1 << 12), fin])
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
        p = _prog(name, insns, hw, mem)
        g = simulate(p, bad_addresses=slverr or None)
        out.append(ErrorCase(name, p, slverr, g.error, g.error_index))
    return out


__all__ = ["ErrorCase", "dispatch_fuzz_program", "error_programs", "gemm_resident_program"]
