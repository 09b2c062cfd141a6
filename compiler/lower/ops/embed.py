"""Embedding lookup: a DMA gather of table rows by the runtime int32 ids (GATHER), or, where the
gather does not apply, a one-hot GEMM built on the array from the ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, Band, BandLoad, GemmOp, KBlk, Out, Ppu, Run, WTile, pack_weight_tiles
from compiler.frontend import unsupported
from compiler.lower.act import runs_of
from compiler.lower.post import hat_table, make_ppu, post_for, ppu_records
from compiler.lower.registry import lowers
from compiler.quantize import quant, weight_scales
from golden import isa

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


GATHER_MAX_ROWS = 2048
"""Table rows per GATHER (its y_size field holds up to 4095; one ACC half takes 512 rows)."""


@lowers(aten.embedding.default)
def lower_embedding(lw: Lowerer, n: Node) -> None:
    """table[ids]: gathered when the ids are contiguous int32 and the table pitch fits GATHER's
    y_stride field, else the one-hot GEMM (:func:`_onehot_embedding`)."""
    w_n, ids_n = n.args[0], n.args[1]
    if not lw.is_const(w_n) or lw.is_const(ids_n):
        raise unsupported(n, "embedding needs a constant table and runtime ids")
    ids = lw.val(ids_n)
    H = lw.const(w_n).shape[1]
    contiguous = all(ids.bstride(d) == 4 * int(np.prod(ids.shape[d + 1:])) for d in range(len(ids.shape)))
    ystride_max = next(f for f in isa.FORMATS[isa.Opcode.GATHER] if f.name == "y_stride").max
    if ids.dtype == "int32" and contiguous and H <= ystride_max:
        _gather_embedding(lw, n)
    else:
        _onehot_embedding(lw, n)


def _gather_embedding(lw: Lowerer, n: Node) -> None:
    """The table (int8, per-column scales) stays in memory; per 16-column slice one GemmOp whose
    INP rows are GATHERed table rows (one per token) and whose weight is the identity, the PPU
    requantising each column to the output scale.  Work and traffic: tokens x H, not
    tokens x vocabulary x H as the one-hot GEMM."""
    R, C = lw.hw.rows, lw.hw.cols
    w_n, ids_n = n.args[0], n.args[1]
    ids = lw.val(ids_n)
    table = lw.const(w_n).to(torch.float64).numpy()
    H = table.shape[1]
    M = int(np.prod(ids.shape))
    ws = weight_scales(table, axis=0)
    wq = quant(table, ws[None, :]).astype(np.int8)
    treg = lw.mem.const(wq, f"{n.name}.table")
    post, end = post_for(lw, n, n.name)
    oshape = lw.shape_of(n)
    s_out, dt = lw.out_spec(end, oshape)
    out = lw.alloc(end.name, oshape, s_out, dtype=dt, role=lw.role_of(end))
    eye = pack_weight_tiles(lw.mem, np.eye(R, C, dtype=np.int8), lw.hw, f"{n.name}.eye")
    orows = list(range(len(oshape) - 1))
    cst = out.bstride(len(oshape) - 1)
    tiles = [(m0, min(M, m0 + GATHER_MAX_ROWS)) for m0 in range(0, M, GATHER_MAX_ROWS)]
    for c0 in range(0, H, min(R, C)):
        w = min(R, C, H - c0)
        loads = [[BandLoad(0, treg.addr + c0, w, m1 - m0, H, ids.addr + 4 * m0, ids.region)]
                 for m0, m1 in tiles]
        band = Band(tiles, loads, [0], max(m1 - m0 for m0, m1 in tiles), treg.rid)
        ppu = make_ppu(lw, f"{n.name}.c{c0}", w, ws[c0:c0 + w], None, post, s_out, out_int32=dt == "int32")
        runs = [Run(r.m0, r.n, r.addr + c0 * cst, r.stride) for r in lw.out_runs(out, orows)]
        lw.run(GemmOp(f"{n.name}.c{c0}", M, w, [ASrc([Run(0, M, treg.addr, 0)], treg.rid)],
                      [KBlk(0, 0, w, 1)], eye, ppu, [Out(runs, cst, out.region)], band=band))
    lw.vals[end.name] = out
    lw.vals[n.name] = out


def _onehot_embedding(lw: Lowerer, n: Node) -> None:
    """table[ids] as a one-hot GEMM; the one-hot is built on the array from the int32 ids:
    acc[t, v] = b0 + 256*b1 - code(v) is 0 exactly when ids[t] == v (b0, b1 = signed low
    bytes of the id), and a PWL "hat" maps 0 -> 1, anything else -> 0."""
    R, C = lw.hw.rows, lw.hw.cols
    w_n, ids_n = n.args[0], n.args[1]
    if not lw.is_const(w_n) or lw.is_const(ids_n):
        raise unsupported(n, "embedding needs a constant table and runtime ids")
    ids = lw.val(ids_n)
    table = lw.const(w_n).to(torch.float64).numpy()
    V, H = table.shape
    if V > 32767:
        raise unsupported(n, "vocabulary larger than 32767")
    if ids.dtype != "int32":
        raise unsupported(n, "ids must be an integer model input")
    ishape = ids.shape
    nd = len(ishape)
    rows = list(range(nd))
    M = int(np.prod(ishape))
    onehot = lw.alloc(f"{n.name}.onehot", (M, V), 1.0, check=False, role="scratch")
    tile_a = np.zeros((R, C), dtype=np.int8)
    tile_a[0, :] = 1
    tile_a[1, :] = 127
    tile_b = np.zeros((R, C), dtype=np.int8)
    tile_b[0, :] = 127
    tile_c = np.zeros((R, C), dtype=np.int8)
    tile_c[0, :] = 2
    reg = lw.mem.const(np.stack([tile_a, tile_b, tile_c]), f"{n.name}.bytes")
    kbl = [KBlk(0, 0, 2, 1), KBlk(0, 1, 1, 1), KBlk(0, 1, 1, 1)]

    def wtile(kb: int, nb: int) -> WTile:
        return WTile(reg.addr + kb * R * C, R, C, 1, C, reg.rid)
    v = np.arange(V)
    lowb = ((v & 0xFF) ^ 0x80) - 0x80
    code = lowb + 256 * (v >> 8)
    hat = hat_table()
    recf, rid = ppu_records(lw, V, -code, None, None, hat, f"{n.name}.onehot")
    ppu = Ppu(recf, rid, bias_en=True, pwl_en=True)
    id_runs = runs_of(ids.addr, [(ishape[d], ids.bstride(d)) for d in rows])
    lw.run(GemmOp(f"{n.name}.onehot", M, V, [ASrc(id_runs, ids.region)], kbl, wtile, ppu,
                  [Out([Run(0, M, onehot.addr, V)], 1, onehot.region)]))
    # table GEMM
    post, end = post_for(lw, n, n.name)
    oshape = lw.shape_of(n)
    s_out, dt = lw.out_spec(end, oshape)
    out = lw.alloc(end.name, oshape, s_out, dtype=dt, role=lw.role_of(end))
    ws = weight_scales(table, axis=0)
    wq = quant(table, ws[None, :]).astype(np.int8)
    wt = pack_weight_tiles(lw.mem, wq, lw.hw, f"{n.name}.w")
    ppu = make_ppu(lw, n.name, H, ws, None, post, s_out, out_int32=dt == "int32")
    kbl2 = [KBlk(0, k0, min(R, V - k0), 1) for k0 in range(0, V, R)]
    orows = list(range(len(oshape) - 1))
    lw.run(GemmOp(n.name, M, H, [ASrc([Run(0, M, onehot.addr, V)], onehot.region)], kbl2, wt, ppu,
                  [Out(lw.out_runs(out, orows), out.bstride(len(oshape) - 1), out.region)]))
    lw.vals[end.name] = out
    lw.vals[n.name] = out
