"""Hand-written example Programs: small, readable, real schedules with known results.

These are the Programs a person writes to show how the ISA is used, and the reference the tests,
benchmarks and RTL suites measure against:

* :func:`gemm_program` - a minimal but real tiler (double-buffered INP/WGT/ACC slots with the VTA
  token pattern), so it doubles as a reference of correct token usage; :func:`gemm_expected` is
  what it stores, computed with numpy.
* :func:`relu_program` - the tiny GEMM + PWL ReLU + STORE example of docs/isa.md.
* :func:`gemm_resident_program` - a GEMM with A resident in INP and B tiles streamed through
  WGT slots (the compute-bound schedule a compiler emits when A fits INP).
* :func:`pwl_load` - put a PWL table's VEC image in memory and return the LOAD that fetches it.

They live in the sequence library beside the random, directed, error and fuzz builders so that
every hand-built Program has one home; the table layout itself (:func:`golden.arith.pwl_table`,
:func:`~golden.arith.relu_table`, :func:`~golden.arith.pwl_vec_rows`) is arithmetic and stays in
golden/.  Every builder is reproducible from its arguments.
"""

from __future__ import annotations

import math

import numpy as np

from golden import arith
from golden.arith import pwl_vec_rows, relu_table
from golden.isa import Buffer, HwConfig, Opcode, encode
from golden.program import MEM_ALIGN, Program


def _align(n: int, a: int = MEM_ALIGN) -> int:
    return -(-n // a) * a


# --------------------------------------------------------------------------- PWL table LOAD

def pwl_load(table: np.ndarray, hw: HwConfig, mem: bytearray, ext_addr: int, vec_row: int,
             **deps: int) -> int:
    """Write the table's VEC image into ``mem`` at ``ext_addr`` and return the LOAD that fetches it."""
    img = pwl_vec_rows(table, hw.cols)
    data = img.astype("<i4").tobytes()
    mem[ext_addr:ext_addr + len(data)] = data
    return encode(Opcode.LOAD, buf_sel=Buffer.VEC, sram_addr=vec_row, x_size=hw.cols, x_stride=4,
                  y_size=img.shape[0], y_stride=4 * hw.cols, ext_addr=ext_addr, **deps)


# --------------------------------------------------------------------------- GEMM tiler

def gemm_requant(K: int) -> tuple[int, int]:
    """(mult, shift) that maps a K-deep random int8 dot product to a useful int8 range."""
    mult = 1 << 14
    sigma = 73.0 * 73.0 * math.sqrt(K)  # std of a sum of K products of uniform int8
    shift = max(0, round(math.log2(mult * sigma / 40.0)))
    return mult, shift


def gemm_expected(a: np.ndarray, b: np.ndarray, out_int32: bool = True) -> np.ndarray:
    """What gemm_program stores: the exact product (int32 wrap), or requantised int8."""
    # float64 BLAS is exact here (|dot| <= K * 2**14 < 2**53) and far faster than int64 matmul
    exact = (np.asarray(a, np.float64) @ np.asarray(b, np.float64)).astype(np.int64)
    acc = arith.wrap32(exact)
    if out_int32:
        return acc.astype(np.int32)
    mult, shift = gemm_requant(a.shape[1])
    return arith.sat(arith.rshift(acc * mult, shift), 8).astype(np.int8)


def gemm_program(M: int, K: int, N: int, hw: HwConfig | None = None, seed: int = 0,
                 out_int32: bool = True, double_buffer: bool = True) -> Program:
    """C = A @ B for random int8 A (M x K) and B (K x N), tiled for ``hw``.

    Loop order (m-block, n-block, k-block); each step loads one A block (m rows x ROWS) into an INP
    slot and one B tile (ROWS x COLS) into a WGT slot, then one GEMM accumulates into the block's
    ACC slot; the last k step pushes to ST, which stores the block (int32, or requantised int8).
    Tokens: LD->CMP per step (the WGT load pushes), CMP->LD frees an INP/WGT slot, CMP->ST hands a
    finished ACC block to the store, ST->CMP frees the ACC slot.  Ragged edges are handled by
    x_size/y_size (the LOAD zero-pads, so stale WGT rows meet zero activations).
    """
    hw = hw or HwConfig()
    R, C = hw.rows, hw.cols
    if min(M, K, N) < 1:
        raise ValueError("M, K, N must be >= 1")
    nslots = 2 if double_buffer else 1
    nacc = 2 if double_buffer else 1
    mt = min(M, hw.acc_depth // nacc, hw.inp_depth // nslots)
    if mt < 1 or hw.wgt_depth < nslots * R:
        raise ValueError(f"{hw} too small for this tiler")
    e_out = 4 if out_int32 else 1
    if N * e_out >= 1 << 24 or K >= 1 << 24 or N >= 1 << 24:
        raise ValueError("row pitch exceeds the 24-bit y_stride field")

    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    b = rng.integers(-128, 128, size=(K, N), dtype=np.int8)
    a_addr = 0
    b_addr = _align(a_addr + M * K)
    c_addr = _align(b_addr + K * N)
    p_addr = _align(c_addr + M * N * e_out)
    end = _align(p_addr + 2 * C * 4)
    mem = bytearray(end)
    mem[a_addr:a_addr + M * K] = a.tobytes()
    mem[b_addr:b_addr + K * N] = b.tobytes()
    mult, shift = gemm_requant(K)
    mem[p_addr:p_addr + 8 * C] = np.array([mult] * C + [shift] * C, dtype="<i4").tobytes()

    insns: list[int] = []
    if out_int32:
        insns.append(encode(Opcode.PPUCFG, out_int32=1))
    else:
        insns.append(encode(Opcode.LOAD, buf_sel=Buffer.VEC, sram_addr=0, x_size=C, x_stride=4, y_size=2,
                            y_stride=4 * C, ext_addr=p_addr, push_st=1))
        insns.append(encode(Opcode.PPUCFG, requant_en=1, mult_row=0, shift_row=1, pop_ld=1))

    mblocks, nblocks, kblocks = -(-M // mt), -(-N // C), -(-K // R)
    total = mblocks * nblocks * kblocks
    nout = mblocks * nblocks
    s = 0
    blk = 0
    for mb in range(mblocks):
        m0 = mb * mt
        mrows = min(mt, M - m0)
        for nb in range(nblocks):
            n0 = nb * C
            nvalid = min(C, N - n0)
            aslot = (blk % nacc) * mt
            for kb in range(kblocks):
                k0 = kb * R
                kvalid = min(R, K - k0)
                slot = s % nslots
                insns.append(encode(Opcode.LOAD, buf_sel=Buffer.INP, sram_addr=slot * mt, x_size=kvalid,
                                    x_stride=1, y_size=mrows, y_stride=K, ext_addr=a_addr + m0 * K + k0,
                                    pop_cmp=int(s >= nslots)))
                insns.append(encode(Opcode.LOAD, buf_sel=Buffer.WGT, sram_addr=slot * R, x_size=nvalid,
                                    x_stride=1, y_size=kvalid, y_stride=N, ext_addr=b_addr + k0 * N + n0,
                                    push_cmp=1))
                insns.append(encode(Opcode.GEMM, inp_addr=slot * mt, wgt_addr=slot * R, acc_addr=aslot,
                                    m=mrows, accumulate=int(kb > 0), pop_ld=1,
                                    pop_st=int(kb == 0 and blk >= nacc),
                                    push_ld=int(s + nslots < total), push_st=int(kb == kblocks - 1)))
                s += 1
            insns.append(encode(Opcode.STORE, sram_addr=aslot, x_size=nvalid, x_stride=e_out, y_size=mrows,
                                y_stride=N * e_out, ext_addr=c_addr + (m0 * N + n0) * e_out, pop_cmp=1,
                                push_cmp=int(blk + nacc < nout)))
            blk += 1
    insns.append(encode(Opcode.FINISH))
    dt = "int32" if out_int32 else "int8"
    tensors = [
        {"name": "A", "role": "input", "addr": a_addr, "shape": [M, K], "strides": [K, 1], "dtype": "int8"},
        {"name": "B", "role": "input", "addr": b_addr, "shape": [K, N], "strides": [N, 1], "dtype": "int8"},
        {"name": "C", "role": "output", "addr": c_addr, "shape": [M, N], "strides": [N * e_out, e_out],
         "dtype": dt, "check": True, "layer": "gemm"},
    ]
    layers = [{"name": "gemm", "op": "gemm", "insn_start": 0, "insn_end": len(insns), "outputs": ["C"],
               "meta": {"M": M, "K": K, "N": N, "m_tile": mt, "double_buffer": double_buffer,
                        "out_int32": out_int32, "mult": mult, "shift": shift}}]
    return Program.create(f"gemm_{M}x{K}x{N}", insns, mem, hw, tensors=tensors, layers=layers)


# --------------------------------------------------------------------------- GEMM + ReLU example

def relu_inputs(M: int, hw: HwConfig) -> tuple[np.ndarray, np.ndarray]:
    """The fixed operands of relu_program: small values so the int8 saturation is exercised mildly."""
    i = np.arange(M)[:, None]
    k = np.arange(hw.rows)[None, :]
    a = ((i * 5 + k * 3) % 11 - 5).astype(np.int8)
    kk = np.arange(hw.rows)[:, None]
    c = np.arange(hw.cols)[None, :]
    b = ((kk * 7 + c * 2) % 9 - 4).astype(np.int8)
    return a, b


def relu_program(hw: HwConfig | None = None, M: int = 8) -> Program:
    """One tile: Y = sat8(relu(X @ W)) with X (M x ROWS) and W (ROWS x COLS) from relu_inputs.

    Instruction stream (index: instruction):
      0 LOAD INP X; 1 LOAD WGT W [push_cmp]; 2 LOAD VEC ReLU table [push_st];
      3 PPUCFG pwl_en, int8 out [pop_ld]; 4 GEMM [pop_ld push_st]; 5 STORE Y [pop_cmp]; 6 FINISH
    """
    hw = hw or HwConfig()
    R, C = hw.rows, hw.cols
    x, w = relu_inputs(M, hw)
    x_addr = 0
    w_addr = _align(M * R)
    t_addr = _align(w_addr + R * C)
    y_addr = _align(t_addr + hw.pwl_rows * C * 4)
    mem = bytearray(_align(y_addr + M * C))
    mem[x_addr:x_addr + M * R] = x.tobytes()
    mem[w_addr:w_addr + R * C] = w.tobytes()
    insns = [
        encode(Opcode.LOAD, buf_sel=Buffer.INP, x_size=R, x_stride=1, y_size=M, y_stride=R, ext_addr=x_addr),
        encode(Opcode.LOAD, buf_sel=Buffer.WGT, x_size=C, x_stride=1, y_size=R, y_stride=C, ext_addr=w_addr,
               push_cmp=1),
        pwl_load(relu_table(), hw, mem, t_addr, 0, push_st=1),
        encode(Opcode.PPUCFG, pwl_en=1, pwl_row=0, out_int32=0, pop_ld=1),
        encode(Opcode.GEMM, m=M, pop_ld=1, push_st=1),
        encode(Opcode.STORE, x_size=C, x_stride=1, y_size=M, y_stride=C, ext_addr=y_addr, pop_cmp=1),
        encode(Opcode.FINISH),
    ]
    tensors = [
        {"name": "X", "role": "input", "addr": x_addr, "shape": [M, R], "strides": [R, 1], "dtype": "int8"},
        {"name": "W", "role": "const", "addr": w_addr, "shape": [R, C], "strides": [C, 1], "dtype": "int8"},
        {"name": "relu_pwl", "role": "const", "addr": t_addr, "shape": [hw.pwl_rows, C],
         "strides": [4 * C, 4], "dtype": "int32"},
        {"name": "Y", "role": "output", "addr": y_addr, "shape": [M, C], "strides": [C, 1], "dtype": "int8",
         "check": True, "layer": "linear_relu"},
    ]
    layers = [{"name": "linear_relu", "op": "linear+relu", "insn_start": 0, "insn_end": len(insns),
               "outputs": ["Y"], "meta": {}}]
    return Program.create("relu_example", insns, mem, hw, tensors=tensors, layers=layers)


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

    a_addr, b_addr = 0, _align(M * K)
    c_addr = _align(b_addr + K * N)
    mem = bytearray(_align(c_addr + 4 * M * N))
    mem[a_addr:a_addr + M * K] = a.tobytes()
    mem[b_addr:b_addr + K * N] = b.tobytes()
    insns = [encode(Opcode.PPUCFG, out_int32=1)]
    total = nb_n * kb_n
    s = 0
    for nb in range(nb_n):
        n0, nv = nb * C, min(C, N - nb * C)
        aslot = (nb % 2) * M
        for kb in range(kb_n):
            k0, kv = kb * R, min(R, K - kb * R)
            if nb == 0:
                insns.append(encode(Opcode.LOAD, buf_sel=Buffer.INP, sram_addr=kb * M, x_size=kv, x_stride=1,
                                    y_size=M, y_stride=K, ext_addr=a_addr + k0))
            slot = s % wgt_slots
            insns.append(encode(Opcode.LOAD, buf_sel=Buffer.WGT, sram_addr=slot * R, x_size=nv, x_stride=1,
                                y_size=kv, y_stride=N, ext_addr=b_addr + k0 * N + n0,
                                pop_cmp=int(s >= wgt_slots), push_cmp=1))
            insns.append(encode(Opcode.GEMM, inp_addr=kb * M, wgt_addr=slot * R, acc_addr=aslot, m=M,
                                accumulate=int(kb > 0), pop_ld=1, push_ld=int(s + wgt_slots < total),
                                pop_st=int(kb == 0 and nb >= 2), push_st=int(kb == kb_n - 1)))
            s += 1
        insns.append(encode(Opcode.STORE, sram_addr=aslot, x_size=nv, x_stride=4, y_size=M, y_stride=4 * N,
                            ext_addr=c_addr + 4 * n0, pop_cmp=1, push_cmp=int(nb + 2 < nb_n)))
    insns.append(encode(Opcode.FINISH))
    tensors = [
        {"name": "A", "role": "input", "addr": a_addr, "shape": [M, K], "strides": [K, 1], "dtype": "int8"},
        {"name": "B", "role": "input", "addr": b_addr, "shape": [K, N], "strides": [N, 1], "dtype": "int8"},
        {"name": "C", "role": "output", "addr": c_addr, "shape": [M, N], "strides": [4 * N, 4],
         "dtype": "int32", "check": True},
    ]
    return Program.create(f"gemm_resident_{M}x{K}x{N}", insns, mem, hw, tensors=tensors)


__all__ = [
    "gemm_expected",
    "gemm_program",
    "gemm_requant",
    "gemm_resident_program",
    "pwl_load",
    "relu_inputs",
    "relu_program",
]
