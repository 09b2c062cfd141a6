"""Embedding lookup as a one-hot GEMM built on the array from runtime int32 ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, Ppu, Run, WTile, pack_weight_tiles
from compiler.frontend import unsupported
from compiler.lower.act import runs_of
from compiler.lower.post import hat_table, make_ppu, post_for, ppu_records
from compiler.lower.registry import lowers
from compiler.quantize import quant, weight_scales

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


@lowers(aten.embedding.default)
def lower_embedding(lw: Lowerer, n: Node) -> None:
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
