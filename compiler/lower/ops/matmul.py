"""Linear layers and matrix products: addmm / mm / bmm, one GEMM per (batch element)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, Out, WTile, pack_weight_tiles
from compiler.frontend import unsupported
from compiler.lower.act import Act, select0
from compiler.lower.post import make_ppu, post_for
from compiler.lower.registry import lowers
from compiler.quantize import act_scale, quant, weight_scales

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


@lowers(aten.addmm.default, aten.mm.default, aten.bmm.default)
def lower_matmul(lw: Lowerer, n: Node) -> None:
    """Constant right operand: pre-tiled weights with per-column scales.  Activation right operand
    (attention): its tiles are DMA'd straight from memory with their own strides.  Constant left
    operand (a normalised adjacency): quantised per tensor, all-zero tiles skipped."""
    R, C = lw.hw.rows, lw.hw.cols
    if n.target == aten.addmm.default:
        bias_n, a, b = n.args[0], n.args[1], n.args[2]
        beta, alpha = n.kwargs.get("beta", 1), n.kwargs.get("alpha", 1)
    else:
        bias_n, a, b = None, n.args[0], n.args[1]
        beta, alpha = 1, 1
    post, end = post_for(lw, n, n.name)
    shape = lw.shape_of(n)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    out = lw.alloc(end.name, shape, s_out, border=0, dtype=dt, role=lw.role_of(end))
    bias = None
    if bias_n is not None:
        if not lw.is_const(bias_n):
            raise unsupported(n, "addmm with a runtime bias")
        bias = (beta * lw.const(bias_n).to(torch.float64)).numpy()
        bias = np.broadcast_to(bias, shape)
        if bias.ndim == 2 and not np.all(bias == bias[0:1]):
            raise unsupported(n, "addmm bias varying along rows")
        bias = np.array(bias.reshape(-1, shape[-1])[0])
    batched = n.target == aten.bmm.default
    nb_ = shape[0] if batched else 1
    for bi in range(nb_):
        A = lw.val(a) if not lw.is_const(a) else None
        B = lw.val(b) if not lw.is_const(b) else None
        Ac = lw.const(a) if A is None else None
        Bc = lw.const(b) if B is None else None
        if batched:
            A = select0(A, bi) if A is not None else None
            B = select0(B, bi) if B is not None else None
            Ac = Ac[bi] if Ac is not None else None
            Bc = Bc[bi] if Bc is not None else None
        o = select0(out, bi) if batched else out
        M, K = (A.shape if A is not None else tuple(Ac.shape))
        N = B.shape[1] if B is not None else Bc.shape[1]
        nm = f"{n.name}.b{bi}" if batched else n.name
        if Bc is not None:
            # constant weights: per-output-column scales
            w = (alpha * Bc.to(torch.float64)).numpy()
            ws = weight_scales(w, axis=0)
            wq = quant(w, ws[None, :]).astype(np.int8)
            wt = pack_weight_tiles(lw.mem, wq, lw.hw, f"{nm}.w")
            assert A is not None
            acc_scale = A.scale * ws
            srcs = [ASrc(lw.src_runs(A, [0]), A.region)]
            kbl = lw.kblocks_dim(0, A, 1)
            a_zero = None
        else:
            assert B is not None
            if A is None:
                # constant left operand (e.g. a normalised adjacency): per-tensor scale
                av = (alpha * Ac.to(torch.float64)).numpy()
                sa = act_scale(float(np.abs(av).max()))
                aq = quant(av, sa).astype(np.int8)
                A = Act(f"{nm}.a", 0, aq.shape, (aq.shape[1], 1), sa, -1)
                reg = lw.mem.const(aq, f"{nm}.a")
                A = replace(A, addr=reg.addr, region=reg.rid)
                nzb = np.zeros((M, -(-K // R)), dtype=bool)
                for kb in range(nzb.shape[1]):
                    nzb[:, kb] = np.any(aq[:, kb * R:(kb + 1) * R] != 0, axis=1)
                cums = np.vstack([np.zeros((1, nzb.shape[1]), dtype=np.int64), np.cumsum(nzb, axis=0)])

                def a_zero(m0: int, m1: int, kb: int, cums: np.ndarray = cums) -> bool:
                    return bool(cums[m1, kb] - cums[m0, kb] == 0)
                acc_scale = np.full(N, sa * B.scale)
            else:
                a_zero = None
                acc_scale = np.full(N, A.scale * B.scale * alpha)
            srcs = [ASrc(lw.src_runs(A, [0]), A.region)]
            kbl = lw.kblocks_dim(0, A, 1)
            sk, sn = B.bstride(0), B.bstride(1)

            def wtile(kb: int, nb: int, B: Act = B, K: int = K, N: int = N, sk: int = sk,
                      sn: int = sn) -> WTile:
                k0, n0 = kb * R, nb * C
                return WTile(B.addr + k0 * sk + n0 * sn, min(R, K - k0), min(C, N - n0), sn, sk, B.region)
            wt = wtile
        ppu = make_ppu(lw, nm, N, acc_scale, bias, post, s_out, out_int32=dt == "int32")
        if Ac is not None and a_zero is not None:   # constant sparse left operand: edges x features
            nnz = int(np.count_nonzero(aq))
            lw.useful(M, K, N, macs=nnz * N, a_bytes=5 * nnz, w_bytes=K * N * B.item,
                      o_bytes=M * N * o.item, sparse=True)
        else:
            lw.useful(M, K, N, a_bytes=M * K * A.item, w_bytes=K * N * (1 if B is None else B.item),
                      o_bytes=M * N * o.item)
        lw.run(GemmOp(nm, M, N, srcs, kbl, wt, ppu,
                      [Out(lw.out_runs(o, [0]), o.bstride(1), o.region)], a_zero=a_zero))
    lw.vals[end.name] = out
    lw.vals[n.name] = out
