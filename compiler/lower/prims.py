"""GEMM building blocks shared by several op families.

The array only multiplies; elementwise work (adds, copies, re-layouts, per-channel affine maps, row
sums) becomes a GEMM with a constant diagonal, identity or ones weight.  These builders are used by
eltwise, pooling, gather, softmax and layer norm alike, so they live here rather than in any one
op module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, Ppu, Run, WTile, pack_weight_tiles
from compiler.lower.act import Act, broadcast, col_dim
from compiler.lower.post import Post, make_ppu
from compiler.quantize import act_scale, quant

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer


def eltwise(lw: Lowerer, name: str, srcs: list[tuple[Act, int]], shape: tuple[int, ...], post: Post,
            s_out: float, acc_scale: float, *, bias: np.ndarray | None = None, col: int | None = None,
            out_dtype: str = "int8", border: int = 0, out: Act | None = None,
            role: str = "intermediate", check: bool = True, ppu: Ppu | None = None) -> Act:
    """out = PPU(sum_i w_i * src_i) elementwise (srcs broadcast to ``shape``), on the array.

    ``ppu`` replaces the requantising PPU built from ``post`` / ``s_out`` / ``acc_scale`` / ``bias``
    (the exact integer tables of comparisons and selects, compiler/lower/ops/select.py)."""
    R, C = lw.hw.rows, lw.hw.cols
    nd = len(shape)
    first = srcs[0][0]
    if col is None:
        col = col_dim(first) if len(first.shape) == nd else nd - 1
    rows = [d for d in range(nd) if d != col]
    if out is None:
        out = lw.alloc(name, shape, s_out, col_dim=col, border=border, dtype=out_dtype, role=role,
                       check=check)
    asrcs: list[ASrc] = []
    kbl: list[KBlk] = []
    Ncol = shape[col] if nd else 1
    nblk = -(-Ncol // R)
    tiles: dict[tuple[int, int], int] = {}
    for i, (a, _w) in enumerate(srcs):
        a = broadcast(a, shape)
        asrcs.append(ASrc(lw.src_runs(a, rows), a.region))
        st = a.bstride(col) if nd else 1
        for cb in range(nblk):
            tiles[len(kbl), cb] = i
            kbl.append(KBlk(i, cb * R * st, min(R, Ncol - cb * R), st))
    # one diagonal tile per (source weight), shared by every N-block
    diag: dict[int, int] = {}
    blobs = []
    for i, (_a, w) in enumerate(srcs):
        t = np.zeros((R, C), dtype=np.int8)
        for j in range(min(R, C)):
            t[j, j] = w
        diag[i] = len(blobs)
        blobs.append(t)
    reg = lw.mem.const(np.stack(blobs), f"{name}.eye")
    if R != C:
        raise NotImplementedError("elementwise GEMMs assume ROWS == COLS")

    def wtile(kb: int, nb: int) -> WTile | None:
        i = tiles.get((kb, nb))
        if i is None:
            return None
        return WTile(reg.addr + diag[i] * R * C, R, C, 1, C, reg.rid)

    M = int(np.prod([shape[d] for d in rows])) if rows else 1
    if ppu is None:
        ppu = make_ppu(lw, name, Ncol, np.full(Ncol, acc_scale), bias, post, s_out,
                       out_int32=out_dtype == "int32")
    lw.run(GemmOp(name, M, Ncol, asrcs, kbl, wtile, ppu,
                  [Out(lw.out_runs(out, rows), out.bstride(col) if nd else 1, out.region)]))
    return out


def copy(lw: Lowerer, x: Act, name: str, border: int = 0) -> Act:
    """A fresh (unchecked) copy of ``x`` in the default layout, optionally with a zero border."""
    return eltwise(lw, name, [(x, 1)], x.shape, Post(), x.scale, x.scale, border=border, check=False)


def const_act(lw: Lowerer, t: torch.Tensor, name: str) -> Act:
    """A constant operand of an activation op, quantised per tensor into the memory image."""
    v = t.detach().to(torch.float64).numpy()
    s = act_scale(float(np.abs(v).max()) if v.size else 1.0)
    q = quant(v, s).astype(np.int8)
    reg = lw.mem.const(q, name)
    strides = tuple(int(x) for x in np.array(q.strides))
    return Act(name, reg.addr, tuple(q.shape), strides, s, reg.rid)


def channel_affine(lw: Lowerer, n: Node, x: Act, gamma: np.ndarray, beta: np.ndarray, col: int,
                   end: Node | None = None) -> Act:
    """y = x * gamma[c] + beta[c] via a diagonal-weight GEMM (per-column weight scales)."""
    end = end or n
    shape = x.shape
    D = shape[col]
    ws = np.maximum(np.abs(gamma) / 127, 1e-12)
    W = np.diag(np.round(gamma / ws)).astype(np.int8)
    s_out, dt = lw.out_spec(end, shape)
    rows = [d for d in range(len(shape)) if d != col]
    out = lw.alloc(end.name, shape, s_out, col_dim=col, border=lw.plan.border.get(end.name, 0),
                   dtype=dt, role=lw.role_of(end))
    wt = pack_weight_tiles(lw.mem, W, lw.hw, f"{n.name}.w")
    kbl = lw.kblocks_dim(0, x, col)
    ppu = make_ppu(lw, n.name, D, x.scale * ws, beta, Post(), s_out, out_int32=dt == "int32")
    M = int(np.prod([shape[d] for d in rows])) if rows else 1
    lw.run(GemmOp(n.name, M, D, [ASrc(lw.src_runs(x, rows), x.region)], kbl, wt, ppu,
                  [Out(lw.out_runs(out, rows), out.bstride(col), out.region)]))
    lw.vals[end.name] = out
    lw.vals[n.name] = out
    return out


# ------------------------------------------------------------------ per-row parameters (ROW buffer)
def row_tensor(lw: Lowerer, name: str, M: int, lane1: int | None = None) -> tuple[int, int]:
    """An (M, 2) int32 scratch array for the PPU's per-row offset (lane 0) and scale (lane 1)."""
    arr = np.zeros((M, 2), dtype="<i4")
    if lane1 is not None:
        arr[:, 1] = lane1
    reg = lw.mem.alloc(arr.nbytes, name, arr.tobytes())
    layer = lw._cur_layer
    lw.tensors.append({"name": lw.unique_name(name), "role": "scratch", "addr": reg.addr, "shape": [M, 2],
                       "strides": [8, 4], "dtype": "int32", "scale": 1.0, "zero_point": 0,
                       "check": False, "layer": layer.name if layer else None})
    return reg.addr, reg.rid


def rowsum_gemm(lw: Lowerer, name: str, x: Act, rows: list[int], col: int, post: Post, s_out: float,
                acc_scale: float, weight: int, dst: tuple[int, int], lane: int, *,
                out_int32: bool = True, row: tuple[int, int, int] | None = None) -> None:
    """dst[m, lane] = PPU(weight * sum_k x[m, k]) as int32, rows in ``rows`` order."""
    R, C = lw.hw.rows, lw.hw.cols
    Kc = x.shape[col]
    kbl = [KBlk(0, k0 * x.bstride(col), min(R, Kc - k0), x.bstride(col)) for k0 in range(0, Kc, R)]
    ones = np.zeros((R, C), dtype=np.int8)
    ones[:, 0] = weight
    reg = lw.mem.const(ones, f"{name}.ones")
    M = int(np.prod([x.shape[d] for d in rows])) if rows else 1
    ppu = make_ppu(lw, name, 1, np.array([acc_scale]), None, post, s_out, out_int32=out_int32, row=row)
    outs = [Out([Run(0, M, dst[0] + 4 * lane, 8)], 4, dst[1])]
    lw.run(GemmOp(name, M, 1, [ASrc(lw.src_runs(x, rows), x.region)], kbl,
                  lambda kb, nb: WTile(reg.addr, R, C, 1, C, reg.rid), ppu, outs))


def scaled_copy(lw: Lowerer, name: str, x: Act, rows: list[int], col: int, weight: int, ppu: Ppu,
                out: Act) -> None:
    """out = PPU(weight * x) with a diagonal weight (identity GEMM), rows in ``rows`` order."""
    R, C = lw.hw.rows, lw.hw.cols
    Ncol = x.shape[col]
    kbl = [KBlk(0, cb * R * x.bstride(col), min(R, Ncol - cb * R), x.bstride(col))
           for cb in range(-(-Ncol // R))]
    reg = lw.mem.const((np.eye(R, C) * weight).astype(np.int8), f"{name}.eye")
    M = int(np.prod([x.shape[d] for d in rows])) if rows else 1

    def wtile(kb: int, nb: int) -> WTile | None:
        return WTile(reg.addr, R, C, 1, C, reg.rid) if kb == nb else None
    lw.run(GemmOp(name, M, Ncol, [ASrc(lw.src_runs(x, rows), x.region)], kbl, wtile, ppu,
                  [Out(lw.out_runs(out, rows), out.bstride(col), out.region)]))
