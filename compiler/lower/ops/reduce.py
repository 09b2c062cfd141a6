"""Sums and means over dimensions (mean.dim also covers adaptive average pooling to 1)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, WTile
from compiler.lower.act import col_dim
from compiler.lower.post import make_ppu, post_for
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


@lowers(aten.mean.dim, aten.sum.dim_IntList)
def lower_reduce(lw: Lowerer, n: Node) -> None:
    """Reduced dims other than the contiguous one become extra K-blocks of an identity GEMM (the
    contiguous dim stays the output columns); reducing the contiguous dim itself is a ones-vector
    GEMM with one output column.  A mean's 1/count goes into the requant scale."""
    x = lw.val(n.args[0])
    dims = sorted(d % len(x.shape) for d in n.args[1])
    keep = n.args[2] if len(n.args) > 2 else n.kwargs.get("keepdim", False)
    is_mean = n.target == aten.mean.dim
    count = int(np.prod([x.shape[d] for d in dims]))
    post, end = post_for(lw, n, n.name)
    oshape = lw.shape_of(n)
    s_out, dt = lw.out_spec(end, oshape)
    R, C = lw.hw.rows, lw.hw.cols
    col = col_dim(x)
    kept = [d for d in range(len(x.shape)) if d not in dims]
    red_other = [d for d in dims if d != col]
    offs = [sum(i * x.bstride(d) for i, d in zip(idx, red_other, strict=True))
            for idx in itertools.product(*[range(x.shape[d]) for d in red_other])]
    # output logical shape with keepdim -> allocate full keepdim shape then view
    kshape = tuple(1 if d in dims else x.shape[d] for d in range(len(x.shape)))
    if col in kept:
        ocol = col
        out = lw.alloc(end.name, kshape, s_out, col_dim=ocol, dtype=dt, role=lw.role_of(end))
        rows = [d for d in kept if d != col]
        Ncol = x.shape[col]
        nblk = -(-Ncol // R)
        kbl, tiles = [], {}
        for o in offs:
            for cb in range(nblk):
                tiles[len(kbl), cb] = True
                kbl.append(KBlk(0, o + cb * R, min(R, Ncol - cb * R), 1))
        reg = lw.mem.const(np.eye(R, C, dtype=np.int8), f"{n.name}.eye")

        def wtile(kb: int, nb: int) -> WTile | None:
            return WTile(reg.addr, R, C, 1, C, reg.rid) if (kb, nb) in tiles else None
        Nout = Ncol
        o_runs = lw.out_runs(out, rows)
        ostride = out.bstride(col)
    else:
        # reduce over the contiguous dim: ones-vector GEMM, one output column
        out = lw.alloc(end.name, kshape, s_out, dtype=dt, role=lw.role_of(end))
        rows = kept
        Kc = x.shape[col]
        kbl = [KBlk(0, o + k0 * x.bstride(col), min(R, Kc - k0), x.bstride(col))
               for o in offs for k0 in range(0, Kc, R)]
        ones = np.zeros((R, C), dtype=np.int8)
        ones[:, 0] = 1
        reg = lw.mem.const(ones, f"{n.name}.ones")

        def wtile(kb: int, nb: int) -> WTile | None:
            return WTile(reg.addr, R, C, 1, C, reg.rid)
        Nout = 1
        o_runs = lw.out_runs(out, rows)
        ostride = out.item
    acc_scale = x.scale / count if is_mean else x.scale
    ppu = make_ppu(lw, n.name, Nout, np.full(Nout, acc_scale), None, post, s_out,
                   out_int32=dt == "int32")
    M = int(np.prod([x.shape[d] for d in rows])) if rows else 1
    lw.run(GemmOp(n.name, M, Nout, [ASrc(lw.src_runs(x, rows), x.region)], kbl, wtile, ppu,
                  [Out(o_runs, ostride, out.region)]))
    if not keep:
        out = replace(out, shape=oshape, border=0,
                      strides=tuple(s for d, s in enumerate(out.strides) if d not in dims))
    lw.vals[end.name] = out
    lw.vals[n.name] = out
