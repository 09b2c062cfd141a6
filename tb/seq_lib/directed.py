"""Directed Programs: one or more per instruction and per documented corner of docs/isa.md.

Buffers are not visible from outside, so every directed LOAD/GEMM/PPU case ends in a *readout*
that makes the touched state observable in memory (identity GEMMs expose INP/WGT rows, a bias-only
PPU over zero accumulators exposes a VEC row, ...).  The scoreboard then compares every stored
tensor with the golden simulator.  Programs are built with :class:`~tb.seq_lib.builder.ProgramBuilder`
so tokens are inserted (and checked race free) exactly like for random programs; the few cases
about tokens themselves (SYNC chains) ask the tokeniser for explicit waits.

``DIRECTED`` maps case name -> builder; every case must give error NONE on the golden simulator
(``tests/test_tb_seq_lib.py``).  Slow cases are listed in ``SLOW`` and left out of the smoke set.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from golden.arith import pwl_table, pwl_vec_rows
from golden.isa import Buffer, HwConfig, Opcode, Queue, make
from golden.program import Program
from tb.seq_lib import data
from tb.seq_lib.builder import ProgramBuilder, TensorRef

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def _builder(hw: HwConfig, seed: int = 0) -> ProgramBuilder:
    return ProgramBuilder(
        hw,
        np.random.default_rng(seed),
        dep_styles={"tight": 1.0},
        extra_token_prob=0.0,
        p_misalign=0.0,
        p_straddle_4k=0.0,
    )


def _load(
    b: ProgramBuilder,
    buf: Buffer,
    sram: int,
    ref: TensorRef,
    *,
    x: int | None = None,
    y: int | None = None,
    xs: int | None = None,
    ys: int | None = None,
    off: int = 0,
) -> None:
    s0, s1 = ref.strides
    b.emit(
        Opcode.LOAD,
        buf_sel=int(buf),
        sram_addr=sram,
        x_size=x if x is not None else ref.shape[1],
        x_stride=s1 if xs is None else xs,
        y_size=y if y is not None else ref.shape[0],
        y_stride=s0 if ys is None else ys,
        ext_addr=ref.addr + off,
    )


def _store(
    b: ProgramBuilder,
    name: str,
    acc_row: int,
    rows: int,
    cols: int,
    *,
    int32: bool,
    transposed: bool = False,
    pad: int = 0,
) -> TensorRef:
    ref = b.reserve(name, (rows, cols), "int32" if int32 else "int8", transposed=transposed, pad=pad)
    s0, s1 = ref.strides
    b.emit(
        Opcode.STORE, sram_addr=acc_row, x_size=cols, x_stride=s1, y_size=rows, y_stride=s0, ext_addr=ref.addr
    )
    return ref


def _plain_ppu(b: ProgramBuilder, int32: bool = True) -> None:
    b.emit(Opcode.PPUCFG, out_int32=int(int32))


class _Readout:
    """Identity operands placed once per program, used to expose buffer contents."""

    def __init__(self, b: ProgramBuilder) -> None:
        hw = b.hw
        self.b = b
        r, c = hw.rows, hw.cols
        self.eye_inp = b.place("eye_inp", np.eye(r, r, dtype=np.int8), role="const")
        self.shifted = [
            b.place(f"eye_wgt{o}", np.eye(r, c, k=-o, dtype=np.int8), role="const") for o in range(0, r, c)
        ]
        self.zero_inp = b.place("zero_inp", np.zeros((1, r), dtype=np.int8), role="const")

    def inp_rows(self, inp_row: int, m: int, name: str, wgt_slot: int, acc_row: int) -> None:
        """Expose INP rows inp_row..+m: GEMM against shifted identities, STORE int32."""
        b, hw = self.b, self.b.hw
        _plain_ppu(b, True)
        for j, eye in enumerate(self.shifted):
            _load(b, Buffer.WGT, wgt_slot, eye)
            b.emit(Opcode.GEMM, inp_addr=inp_row, wgt_addr=wgt_slot, acc_addr=acc_row, m=m, accumulate=0)
            _store(b, f"{name}.k{j}", acc_row, m, min(hw.cols, hw.rows - j * hw.cols), int32=True)

    def wgt_rows(self, wgt_row: int, name: str, inp_slot: int, acc_row: int) -> None:
        """Expose the ROWS WGT rows at wgt_row: GEMM with identity activations, STORE int32."""
        b, hw = self.b, self.b.hw
        _plain_ppu(b, True)
        _load(b, Buffer.INP, inp_slot, self.eye_inp)
        b.emit(Opcode.GEMM, inp_addr=inp_slot, wgt_addr=wgt_row, acc_addr=acc_row, m=hw.rows, accumulate=0)
        _store(b, name, acc_row, hw.rows, hw.cols, int32=True)

    def zero_acc(self, acc_row: int, m: int, inp_slot: int, wgt_slot: int) -> None:
        b = self.b
        _load(b, Buffer.INP, inp_slot, self.zero_inp, y=m, ys=0)
        b.emit(Opcode.GEMM, inp_addr=inp_slot, wgt_addr=wgt_slot, acc_addr=acc_row, m=m, accumulate=0)

    def vec_row(self, vec_row: int, name: str, acc_row: int, inp_slot: int, wgt_slot: int) -> None:
        """Expose VEC row vec_row: bias-only PPU over a zero accumulator row, STORE int32."""
        b = self.b
        self.zero_acc(acc_row, 1, inp_slot, wgt_slot)
        b.emit(Opcode.PPUCFG, bias_en=1, bias_row=vec_row, out_int32=1)
        _store(b, name, acc_row, 1, b.hw.cols, int32=True)


# --------------------------------------------------------------------------- LOAD


def load_inp(hw: HwConfig) -> Program:
    """INP: full rows, a ragged row over stale data (zero padding), x_size 1, last rows, unaligned."""
    b = _builder(hw)
    ro = _Readout(b)
    r = hw.rows
    m = min(8, hw.inp_depth // 4)
    b.begin_layer("inp_full", "load")
    a = b.place("A", data.int8(b.rng, (m, r), "uniform"), role="input", pad=3)
    _load(b, Buffer.INP, 0, a)
    ro.inp_rows(0, m, "inp_full", 0, 0)
    b.end_layer()
    b.begin_layer("inp_ragged", "load")
    x = max(1, r - 1)
    _load(b, Buffer.INP, 0, a, x=x)  # rows 0..m-1 held full rows: the tail must become zero
    ro.inp_rows(0, m, "inp_ragged", 0, 0)
    _load(b, Buffer.INP, 0, a, x=1, y=2)
    ro.inp_rows(0, 2, "inp_one", 0, 0)
    b.end_layer()
    b.begin_layer("inp_last_rows", "load")
    addr = b.alloc(m * r + 7, exact=True) + 7  # unaligned source
    b.mem[addr : addr + m * r] = data.int8(b.rng, (m * r,), "extreme").tobytes()
    src = TensorRef("A_unaligned", addr, (m, r), (r, 1), "int8")
    b.add_tensor(src, role="input", check=False)
    _load(b, Buffer.INP, hw.inp_depth - m, src)
    ro.inp_rows(hw.inp_depth - m, m, "inp_last", 0, 0)
    b.end_layer()
    return b.finish("dir_load_inp")


def load_strides(hw: HwConfig) -> Program:
    """Gather, transposed operand (K^T), broadcast (x_stride 0), repeated row (y_stride 0)."""
    b = _builder(hw, 1)
    ro = _Readout(b)
    r, m = hw.rows, min(6, hw.inp_depth)
    b.begin_layer("gather", "load")
    big = b.place("G", data.int8(b.rng, (m, 3 * r), "uniform"), role="input")
    _load(b, Buffer.INP, 0, big, x=r, xs=3)  # every third element
    ro.inp_rows(0, m, "gather", 0, 0)
    b.end_layer()
    b.begin_layer("transposed", "load")
    at = b.place("AT", data.int8(b.rng, (m, r), "normal"), role="input", transposed=True, pad=2)
    _load(b, Buffer.INP, 0, at)  # strides (1, pitch): x_stride = pitch, y_stride = 1
    ro.inp_rows(0, m, "transposed", 0, 0)
    b.end_layer()
    b.begin_layer("broadcast", "load")
    _load(b, Buffer.INP, 0, big, x=r, xs=0)
    ro.inp_rows(0, m, "broadcast", 0, 0)
    b.end_layer()
    b.begin_layer("repeat_row", "load")
    _load(b, Buffer.INP, 0, big, x=r, ys=0)
    ro.inp_rows(0, m, "repeat_row", 0, 0)
    b.end_layer()
    b.begin_layer("cross_4k", "load")
    base = b.alloc(8192, align=4096, exact=True)
    start = base + 4096 - max(1, r // 2)
    b.mem[start : start + m * r] = data.int8(b.rng, (m * r,), "uniform").tobytes()
    ref = TensorRef("A4k", start, (m, r), (r, 1), "int8")
    b.add_tensor(ref, role="input", check=False)
    _load(b, Buffer.INP, 0, ref)
    ro.inp_rows(0, m, "cross_4k", 0, 0)
    b.end_layer()
    return b.finish("dir_load_strides")


def gather_rows(hw: HwConfig) -> Program:
    """GATHER: INP rows by index (repeated, first, last and negative-offset indices, ragged
    x_size over stale rows), a VEC gather of int32 words, exposed through identity GEMMs."""
    b = _builder(hw, 7)
    ro = _Readout(b)
    r = hw.rows
    n_rows, pitch = 40, r + 3           # an unaligned table pitch: rows straddle bus beats
    table = data.int8(b.rng, (n_rows * pitch,), "uniform")
    t_ref = b.place("table", table.reshape(n_rows, pitch), role="const")
    ids = np.array([5, 5, 0, n_rows - 1, 17, 3, 22, 9], dtype="<i4")
    m = len(ids)
    i_ref = b.place("ids", ids.view(np.int8).reshape(m, 4), role="input")
    b.begin_layer("gather_inp", "gather")
    b.emit(Opcode.GATHER, buf_sel=int(Buffer.INP), sram_addr=0, x_size=r, y_size=m, y_stride=pitch,
           ext_addr=t_ref.addr, idx_addr=i_ref.addr)
    ro.inp_rows(0, m, "gather_inp", 0, 0)
    # negative indices address rows before ext_addr; a ragged row zero-fills its tail
    b.emit(Opcode.GATHER, buf_sel=int(Buffer.INP), sram_addr=0, x_size=max(1, r - 5), y_size=m,
           y_stride=pitch, ext_addr=t_ref.addr + 20 * pitch + 1, idx_addr=i_ref.addr)
    ro.inp_rows(0, m, "gather_ragged", 0, 0)
    b.end_layer()
    b.begin_layer("gather_neg", "gather")
    neg = np.array([-20, -3, 0, 2], dtype="<i4")
    n_ref = b.place("ids_neg", neg.view(np.int8).reshape(len(neg), 4), role="input")
    b.emit(Opcode.GATHER, buf_sel=int(Buffer.INP), sram_addr=hw.inp_depth - len(neg), x_size=r,
           y_size=len(neg), y_stride=pitch, ext_addr=t_ref.addr + 20 * pitch, idx_addr=n_ref.addr)
    ro.inp_rows(hw.inp_depth - len(neg), len(neg), "gather_neg", 0, 0)
    b.end_layer()
    return b.finish("dir_gather_rows")


def load_wgt(hw: HwConfig) -> Program:
    """WGT: row-major, transposed (W^T gather), ragged columns over stale rows, last rows."""
    b = _builder(hw, 2)
    ro = _Readout(b)
    r, c = hw.rows, hw.cols
    b.begin_layer("wgt", "load")
    w = b.place("W", data.int8(b.rng, (r, c), "uniform"), role="const")
    _load(b, Buffer.WGT, 0, w)
    ro.wgt_rows(0, "wgt_full", 0, 0)
    wt = b.place("WT", data.int8(b.rng, (r, c), "extreme"), role="const", transposed=True)
    _load(b, Buffer.WGT, 0, wt, x=max(1, c - 1))
    ro.wgt_rows(0, "wgt_transposed_ragged", 0, 0)
    last = hw.wgt_depth - r
    _load(b, Buffer.WGT, last, w)
    ro.wgt_rows(last, "wgt_last", 0, 0)
    b.end_layer()
    return b.finish("dir_load_wgt")


def load_vec_row(hw: HwConfig) -> Program:
    """VEC rows (int32, ragged, overlapping sub-element stride) and ROW entries (x_size 1 and 2)."""
    b = _builder(hw, 3)
    ro = _Readout(b)
    c = hw.cols
    zw = b.place("Wz", np.zeros((hw.rows, c), dtype=np.int8), role="const")
    _load(b, Buffer.WGT, 0, zw)
    b.begin_layer("vec", "load")
    v = b.place("V", data.int32(b.rng, (3, c), -(1 << 30), 1 << 30, 0.1), role="const")
    _load(b, Buffer.VEC, 0, v)
    for i in range(3):
        ro.vec_row(i, f"vec{i}", 0, 0, 0)
    _load(b, Buffer.VEC, hw.vec_depth - 1, v, x=max(1, c - 1), y=1)
    ro.vec_row(hw.vec_depth - 1, "vec_last_ragged", 0, 0, 0)
    _load(b, Buffer.VEC, 5, v, xs=2, y=1)  # int32 elements overlapping by 2 bytes
    ro.vec_row(5, "vec_sub_element", 0, 0, 0)
    b.end_layer()
    b.begin_layer("row", "load")
    m = min(4, hw.acc_depth)
    rows = np.stack([data.int32(b.rng, (m,), -1000, 1000), data.int32(b.rng, (m,), -50, 50)], axis=1)
    rref = b.place("ROWP", rows.astype(np.int32), role="const")
    a = b.place("A", data.int8(b.rng, (m, hw.rows), "uniform"), role="input")
    w = b.place("W", data.int8(b.rng, (hw.rows, c), "uniform"), role="const")
    _load(b, Buffer.INP, 0, a)
    _load(b, Buffer.WGT, 0, w)
    for lanes in (2, 1):
        _load(b, Buffer.ROW, 0, rref, x=lanes)
        b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=m, accumulate=0)
        b.emit(Opcode.PPUCFG, row_en=1, row_shift=3, out_int32=1)
        _store(b, f"row_lanes{lanes}", 0, m, c, int32=True)
    b.end_layer()
    return b.finish("dir_load_vec_row")


# --------------------------------------------------------------------------- GEMM


def gemm_modes(hw: HwConfig) -> Program:
    """Overwrite vs accumulate chains, m = 1 / ROWS / long, extremes, back-to-back GEMMs, corners."""
    b = _builder(hw, 4)
    r, c = hw.rows, hw.cols
    mlong = min(hw.acc_depth, hw.inp_depth, 3 * r + 5)
    b.begin_layer("gemm_modes", "gemm")
    a = b.place("A", data.int8(b.rng, (mlong, r), "uniform"), role="input")
    ws = [
        b.place(f"W{i}", data.int8(b.rng, (r, c), d), role="const")
        for i, d in enumerate(("uniform", "extreme", "negative", "positive"))
    ]
    _load(b, Buffer.INP, 0, a)
    for i, w in enumerate(ws):
        _load(b, Buffer.WGT, i * r, w)
    _plain_ppu(b, True)
    # back-to-back accumulation chain into the same ACC rows (no token between the GEMMs)
    for i in range(len(ws)):
        b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=i * r, acc_addr=0, m=mlong, accumulate=int(i > 0))
    _store(b, "acc_chain", 0, mlong, c, int32=True)
    for m in (1, r):
        b.emit(Opcode.GEMM, inp_addr=1, wgt_addr=r, acc_addr=0, m=m, accumulate=0)
        _store(b, f"m{m}", 0, m, c, int32=True)
    # operands and result at the last rows of every buffer
    mm = min(4, hw.inp_depth, hw.acc_depth)
    _load(b, Buffer.INP, hw.inp_depth - mm, a, y=mm)
    _load(b, Buffer.WGT, hw.wgt_depth - r, ws[1])
    b.emit(
        Opcode.GEMM,
        inp_addr=hw.inp_depth - mm,
        wgt_addr=hw.wgt_depth - r,
        acc_addr=hw.acc_depth - mm,
        m=mm,
        accumulate=0,
    )
    _store(b, "corners", hw.acc_depth - mm, mm, c, int32=True)
    # -128 * -128 everywhere: the largest products
    ext = b.place("Aext", np.full((r, r), -128, dtype=np.int8), role="input")
    wext = b.place("Wext", np.full((r, c), -128, dtype=np.int8), role="const")
    _load(b, Buffer.INP, 0, ext)
    _load(b, Buffer.WGT, 0, wext)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=r, accumulate=0)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=r, accumulate=1)
    _store(b, "extreme", 0, r, c, int32=True)
    b.end_layer()
    return b.finish("dir_gemm_modes")


def gemm_acc_wrap(hw: HwConfig) -> Program:
    """Accumulate -128*-128 products until the int32 accumulator wraps (never saturates)."""
    b = _builder(hw, 5)
    r, c = hw.rows, hw.cols
    reps = (1 << 31) // (r * 128 * 128) + 2
    b.begin_layer("acc_wrap", "gemm")
    ext = b.place("Aext", np.full((1, r), -128, dtype=np.int8), role="input")
    wext = b.place("Wext", np.full((r, c), -128, dtype=np.int8), role="const")
    _load(b, Buffer.INP, 0, ext)
    _load(b, Buffer.WGT, 0, wext)
    _plain_ppu(b, True)
    for i in range(reps):
        b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=1, accumulate=int(i > 0))
    _store(b, "wrapped", 0, 1, c, int32=True)
    b.end_layer(reps=reps)
    return b.finish("dir_gemm_acc_wrap")


def gemm_forward(hw: HwConfig) -> Program:
    """A GEMM accumulating onto the last 1, 2 and 3 ACC rows the previous GEMM is still writing, and
    one accumulating into row 0 just after a GEMM wrote rows 1..m.

    The first GEMM streams m = ROWS + 2 rows (longer than the second one's weight preload, so the
    second follows without a bubble); the second starts ``off`` rows before the
    first one's end with accumulate=1.  Its first row meets the row written one cycle earlier
    (stage C forward, off 1), two cycles earlier (stage D forward, off 2) or already in ACC (off 3):
    nmx_gemm_engine's read-modify-write forwarding, which random Programs rarely line up.
    """
    b = _builder(hw, 12)
    r, c = hw.rows, hw.cols
    m = r + 2
    b.begin_layer("gemm_forward", "gemm")
    a = b.place("A", data.int8(b.rng, (m, r), "uniform"), role="input")
    w0 = b.place("W0", data.int8(b.rng, (r, c), "uniform"), role="const")
    w1 = b.place("W1", data.int8(b.rng, (r, c), "uniform"), role="const")
    _load(b, Buffer.INP, 0, a)
    _load(b, Buffer.WGT, 0, w0)
    _load(b, Buffer.WGT, r, w1)
    _plain_ppu(b, True)
    for off in (1, 2, 3):
        base = 0
        b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=base, m=m, accumulate=0)
        b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=r, acc_addr=base + m - off, m=m, accumulate=1)
        _store(b, f"fwd_off{off}", base, 2 * m - off, c, int32=True)
    # rows 1..m written, then an accumulation into rows 0..m-1 without a bubble: when its row 0 is in
    # stage B, stages C and D hold rows m and m-1, so only their address compares keep them out of
    # row 0 (a stage-D address that never follows stage C forwards row m-1's sum into row 0)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=1, m=m, accumulate=0)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=r, acc_addr=0, m=m, accumulate=1)
    _store(b, "fwd_row0", 0, m + 1, c, int32=True)
    b.end_layer()
    return b.finish("dir_gemm_forward")


# --------------------------------------------------------------------------- STORE


def store_layouts(hw: HwConfig) -> Program:
    """int8/int32, ragged and single columns, transposed, gather, broadcast and repeated targets."""
    b = _builder(hw, 6)
    r, c = hw.rows, hw.cols
    m = min(5, hw.acc_depth)
    b.begin_layer("store_layouts", "store")
    a = b.place("A", data.int8(b.rng, (m, r), "uniform"), role="input")
    w = b.place("W", data.int8(b.rng, (r, c), "small"), role="const")
    _load(b, Buffer.INP, 0, a)
    _load(b, Buffer.WGT, 0, w)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=m, accumulate=0)
    for int32 in (True, False):
        _plain_ppu(b, int32)
        tag = "i32" if int32 else "i8"
        e = 4 if int32 else 1
        _store(b, f"full_{tag}", 0, m, c, int32=int32, pad=1)
        _store(b, f"ragged_{tag}", 0, m, max(1, c - 1), int32=int32)
        _store(b, f"one_{tag}", 0, m, 1, int32=int32)
        _store(b, f"transposed_{tag}", 0, m, c, int32=int32, transposed=True)
        g = b.reserve(f"gather_{tag}", (m, c), "int32" if int32 else "int8")
        gat = TensorRef(g.name, g.addr, (m, c), (2 * c * e, 2 * e), g.dtype)
        b.tensors[-1].update(strides=list(gat.strides))
        b.alloc(2 * m * c * e)
        b.emit(
            Opcode.STORE, sram_addr=0, x_size=c, x_stride=2 * e, y_size=m, y_stride=2 * c * e, ext_addr=g.addr
        )
        # broadcast target: every column to the same element (last write wins)
        bc = b.reserve(f"broadcast_{tag}", (m, 1), "int32" if int32 else "int8")
        b.emit(
            Opcode.STORE,
            sram_addr=0,
            x_size=c,
            x_stride=0,
            y_size=m,
            y_stride=bc.strides[0],
            ext_addr=bc.addr,
        )
        rp = b.reserve(f"repeat_{tag}", (1, c), "int32" if int32 else "int8")
        b.emit(Opcode.STORE, sram_addr=0, x_size=c, x_stride=e, y_size=m, y_stride=0, ext_addr=rp.addr)
    # unaligned and 4 KiB crossing rows
    _plain_ppu(b, False)
    base = b.alloc(8192, align=4096, exact=True)
    start = base + 4096 - max(1, c // 2)
    cr = TensorRef("cross_4k", start, (m, c), (c + 3, 1), "int8")
    b.add_tensor(cr, role="output", check=True)
    b.alloc((m + 1) * (c + 3))
    b.emit(Opcode.STORE, sram_addr=0, x_size=c, x_stride=1, y_size=m, y_stride=c + 3, ext_addr=start)
    b.end_layer()
    return b.finish("dir_store_layouts")


# --------------------------------------------------------------------------- PPU


def _gemm_block(b: ProgramBuilder, m: int, dist: str = "uniform", scale: int = 1) -> np.ndarray:
    """Load random A (m x ROWS) and W (ROWS x COLS), GEMM into ACC rows 0..m-1; return A@W."""
    hw = b.hw
    a = data.int8(b.rng, (m, hw.rows), dist)
    w = data.int8(b.rng, (hw.rows, hw.cols), dist)
    if scale != 1:
        w = np.clip(w.astype(np.int64) * scale, -128, 127).astype(np.int8)
    ar = b.place(f"A{b.n_insns}", a, role="input")
    wr = b.place(f"W{b.n_insns}", w, role="const")
    _load(b, Buffer.INP, 0, ar)
    _load(b, Buffer.WGT, 0, wr)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=m, accumulate=0)
    return a.astype(np.int64) @ w.astype(np.int64)


def ppu_stages(hw: HwConfig) -> Program:
    """Every stage alone and all 16 stage combinations, with saturating and rounding corners."""
    b = _builder(hw, 7)
    c = hw.cols
    m = min(8, hw.acc_depth)
    b.begin_layer("ppu_stages", "ppu")
    acc = _gemm_block(b, m, "uniform")
    span = int(np.abs(acc).max()) + 1
    bias = data.int32(b.rng, (c,), -span, span)
    bias[0], bias[-1] = I32_MAX, I32_MIN  # saturate both ends in the bias stage
    mult = data.int32(b.rng, (c,), 1, 1 << 12)
    mult[0] = -mult[0]
    shift = np.full(c, 8, dtype=np.int32)
    shift[0], shift[-1] = 0, 63  # no rounding, clamped to 62
    if c > 2:
        shift[1] = 64 + 5  # bits above 6 are ignored
    table = pwl_table(
        sorted(int(v) for v in np.linspace(-200, 200, 15)), list(range(-8, 8)), list(range(-80, 80, 10)), 2
    )
    vec = np.zeros((3 + hw.pwl_rows, c), dtype=np.int64)
    vec[0], vec[1], vec[2] = bias, mult, shift
    vec[3:] = pwl_vec_rows(table, c)
    vref = b.place("vec", vec.astype(np.int32), role="const")
    _load(b, Buffer.VEC, 0, vref)
    rows = np.stack([data.int32(b.rng, (m,), -span, span), data.int32(b.rng, (m,), -(1 << 10), 1 << 10)], 1)
    _load(b, Buffer.ROW, 0, b.place("rowp", rows.astype(np.int32), role="const"))
    for combo in range(16):
        be, re_, qe, pe = (combo >> 3) & 1, (combo >> 2) & 1, (combo >> 1) & 1, combo & 1
        b.emit(
            Opcode.PPUCFG,
            bias_en=be,
            row_en=re_,
            requant_en=qe,
            pwl_en=pe,
            out_int32=combo % 3 == 0,
            row_shift=(0, 4, 62, 63)[combo % 4],
            bias_row=0,
            mult_row=1,
            shift_row=2,
            pwl_row=3,
        )
        _store(b, f"combo{combo:02d}", 0, m, c, int32=combo % 3 == 0)
    b.end_layer()
    return b.finish("dir_ppu_stages")


def ppu_pwl_segments(hw: HwConfig) -> Program:
    """A PWL table whose 16 segments are all hit by known accumulator values (identity GEMM)."""
    b = _builder(hw, 8)
    r, c = hw.rows, hw.cols
    m = 16 * 4
    b.begin_layer("pwl_segments", "ppu")
    bps = [-700 + 100 * i for i in range(15)]
    table = pwl_table(bps, [(-1) ** i * (i + 1) * 3 for i in range(16)], [5 * i - 40 for i in range(16)], 3)
    vals = np.array([[bp + d for bp in [-800, *bps] for d in (0, 1, 37, 99)]], dtype=np.int64).reshape(-1)
    vals = vals[:m]
    # ACC = INP @ eye: put the values through int8 pieces: v = 127*q + rest via two k lanes
    q, rest = np.divmod(vals, 127)
    a = np.zeros((m, r), dtype=np.int8)
    a[:, 0] = np.clip(q, -128, 127)
    a[:, min(1, r - 1)] += np.clip(rest, 0, 126).astype(np.int8) if r > 1 else 0
    w = np.zeros((r, c), dtype=np.int8)
    w[0, :] = 127
    if r > 1:
        w[1, :] = 1
    m_use = min(m, hw.acc_depth, hw.inp_depth)
    _load(b, Buffer.INP, 0, b.place("A", a[:m_use], role="input"))
    _load(b, Buffer.WGT, 0, b.place("W", w, role="const"))
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=m_use, accumulate=0)
    _load(b, Buffer.VEC, 0, b.place("pwl", pwl_vec_rows(table, c), role="const"))
    b.emit(Opcode.PPUCFG, pwl_en=1, pwl_row=0, out_int32=1)
    _store(b, "pwl_i32", 0, m_use, c, int32=True)
    b.emit(Opcode.PPUCFG, pwl_en=1, pwl_row=0, out_int32=0)
    _store(b, "pwl_i8", 0, m_use, c, int32=False)
    b.end_layer()
    return b.finish("dir_ppu_pwl_segments")


def ppu_persist(hw: HwConfig) -> Program:
    """PPUCFG applies to every later STORE until the next one; VEC may change after a PPUCFG."""
    b = _builder(hw, 9)
    c = hw.cols
    m = min(4, hw.acc_depth)
    b.begin_layer("ppu_persist", "ppu")
    _gemm_block(b, m, "small")
    v1 = b.place("bias1", data.int32(b.rng, (1, c), -100, 100), role="const")
    v2 = b.place("bias2", data.int32(b.rng, (1, c), -100, 100), role="const")
    _load(b, Buffer.VEC, 0, v1)
    b.emit(Opcode.PPUCFG, bias_en=1, bias_row=0, out_int32=1)
    _store(b, "first", 0, m, c, int32=True)
    _load(b, Buffer.VEC, 0, v2)  # after the PPUCFG: the latched bias must not change
    _store(b, "second_same_cfg", 0, m, c, int32=True)
    b.emit(Opcode.PPUCFG, bias_en=1, bias_row=0, out_int32=0)
    _store(b, "third_new_cfg", 0, m, c, int32=False)
    b.end_layer()
    return b.finish("dir_ppu_persist")


# --------------------------------------------------------------------------- SYNC / FINISH


def sync_chain(hw: HwConfig) -> Program:
    """SYNC on every engine, each waiting for the previous engine's SYNC (token ring, twice)."""
    b = _builder(hw, 10)
    b.begin_layer("sync_chain", "sync")
    a = b.place("A", data.int8(b.rng, (2, hw.rows), "uniform"), role="input")
    _load(b, Buffer.INP, 0, a)
    order = [Queue.LD, Queue.CMP, Queue.ST, Queue.LD, Queue.ST, Queue.CMP, Queue.LD]
    prev: Queue | None = None
    for q in order:
        b.emit_insn(
            make(Opcode.SYNC, queue=int(q)), force={prev} if prev is not None and prev != q else set()
        )
        prev = q
    w = b.place("W", data.int8(b.rng, (hw.rows, hw.cols), "uniform"), role="const")
    _load(b, Buffer.WGT, 0, w)
    b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=0, m=2, accumulate=0)
    _plain_ppu(b, True)
    _store(b, "out", 0, 2, hw.cols, int32=True)
    b.end_layer()
    return b.finish("dir_sync_chain")


def finish_only(hw: HwConfig) -> Program:
    """A program that is just FINISH: done must rise with no error and INSNS = 1."""
    return Program.create("dir_finish_only", [make(Opcode.FINISH).encode()], bytes(64), hw)


DIRECTED: dict[str, Callable[[HwConfig], Program]] = {
    "load_inp": load_inp,
    "load_strides": load_strides,
    "load_wgt": load_wgt,
    "gather_rows": gather_rows,
    "load_vec_row": load_vec_row,
    "gemm_modes": gemm_modes,
    "gemm_acc_wrap": gemm_acc_wrap,
    "gemm_forward": gemm_forward,
    "store_layouts": store_layouts,
    "ppu_stages": ppu_stages,
    "ppu_pwl_segments": ppu_pwl_segments,
    "ppu_persist": ppu_persist,
    "sync_chain": sync_chain,
    "finish_only": finish_only,
}
SLOW = frozenset({"gemm_acc_wrap"})
"""Cases left out of the smoke set (gemm_acc_wrap streams ~2**31 / (ROWS * 2**14) GEMMs)."""


def reset_clears_buffers(hw: HwConfig) -> Program:
    """Read rows this Program never writes: docs/isa.md says every buffer is zero after reset.

    GEMM over never-loaded INP/WGT rows, STORE of never-written ACC rows, a PPUCFG from a
    never-loaded VEC row and ROW entries: every output must be zero whatever ran before.
    """
    b = _builder(hw, 11)
    c = hw.cols
    b.begin_layer("unwritten", "reset")
    m = min(4, hw.acc_depth // 2)
    b.emit(Opcode.PPUCFG, bias_en=1, row_en=1, bias_row=hw.vec_depth - 1, row_shift=0, out_int32=1)
    _store(b, "acc_unwritten", hw.acc_depth - m, m, c, int32=True)
    b.emit(
        Opcode.GEMM, inp_addr=hw.inp_depth - m, wgt_addr=hw.wgt_depth - hw.rows, acc_addr=0, m=m, accumulate=0
    )
    _store(b, "gemm_of_unwritten", 0, m, c, int32=True)
    b.end_layer()
    return b.finish("dir_reset_clears_buffers")
