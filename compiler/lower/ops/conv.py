"""2-D convolution as an implicit GEMM over NHWC activations (no im2col), batch norm folded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, Run, merge_runs, pack_weight_tiles
from compiler.frontend import unsupported
from compiler.lower.post import bn_end, make_ppu, post_for
from compiler.lower.prims import copy
from compiler.lower.registry import lowers
from compiler.quantize import quant, weight_scales

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


@lowers(aten.convolution.default)
def lower_conv(lw: Lowerer, n: Node) -> None:
    """Implicit GEMM: one K-block per (kh, kw, channel block) reading a strided window of the
    zero-bordered NHWC input, so padding costs no instructions and no im2col buffer exists."""
    R = lw.hw.rows
    x_n, w_n, b_n, stride, padding, dilation, transposed, _outpad, groups = n.args
    if transposed or groups != 1:
        raise unsupported(n, "only groups=1, non-transposed convolution")
    if len(stride) != 2:
        raise unsupported(n, "only 2-D convolution")
    x = lw.val(x_n)
    w = lw.const(w_n).to(torch.float64).numpy()
    b = lw.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(w.shape[0])
    bn = lw.plan.bn_of.get(n.name)
    if bn is not None:
        g_, be, mean, var = (lw.const(a).to(torch.float64).numpy() if a is not None else None
                             for a in bn.args[1:5])
        eps = bn.args[6]
        sc = (g_ if g_ is not None else 1.0) / np.sqrt(var + eps)
        w = w * sc[:, None, None, None]
        b = (b - mean) * sc + (be if be is not None else 0.0)
    pre = bn_end(lw, n).name if bn is not None else n.name
    post, end = post_for(lw, n, pre)
    Co, Ci, KH, KW = w.shape
    N_, _, H, W_ = x.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    if x.border < max(ph, pw) or x.strides[1] != 1:
        x = copy(lw, x, f"{n.name}.pad", border=max(ph, pw))
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W_ + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    shape = (N_, Co, Ho, Wo)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    out = lw.alloc(end.name, shape, s_out, col_dim=1, border=lw.plan.border.get(end.name, 0),
                   dtype=dt, role=lw.role_of(end))
    # weights as (kh, kw, c) x Co with K-blocks per (kh, kw, c-block)
    wk = w.transpose(2, 3, 1, 0).reshape(KH * KW * Ci, Co)
    ws = weight_scales(wk, axis=0)
    wq = quant(wk, ws[None, :]).astype(np.int8)
    sN, sH, sW = x.bstride(0), x.bstride(2), x.bstride(3)
    kbl: list[KBlk] = []
    rb: list[tuple[int, int]] = []
    for kh in range(KH):
        for kw in range(KW):
            for c0 in range(0, Ci, R):
                off = (kh * dh - ph) * sH + (kw * dw - pw) * sW + c0
                kbl.append(KBlk(0, off, min(R, Ci - c0), 1))
                rb.append(((kh * KW + kw) * Ci + c0, min(R, Ci - c0)))
    wt = pack_weight_tiles(lw.mem, wq, lw.hw, f"{n.name}.w", rb)
    a_runs, o_runs = [], []
    m = 0
    for ni in range(N_):
        for ho in range(Ho):
            a_runs.append(Run(m, Wo, x.addr + ni * sN + ho * sh * sH, sw * sW))
            o_runs.append(Run(m, Wo, out.addr + ni * out.bstride(0) + ho * out.bstride(2),
                              out.bstride(3)))
            m += Wo
    ppu = make_ppu(lw, n.name, Co, x.scale * ws, b, post, s_out, out_int32=dt == "int32")
    op = GemmOp(n.name, m, Co, [ASrc(merge_runs(a_runs), x.region)], kbl, wt, ppu,
                [Out(merge_runs(o_runs), out.bstride(1), out.region)])
    lw.run(op)
    lw.em.layers[-1].meta.update(macs=int(m * Co * KH * KW * Ci))
    lw.vals[end.name] = out
    lw.vals[n.name] = out
