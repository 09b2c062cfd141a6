"""Max and average pooling as GEMMs over strided tap views of a zero-bordered input."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import torch
from torch.fx import Node

from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.post import Post, post_for
from compiler.lower.prims import copy, eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def _taps(x: Act, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, Ho: int, Wo: int,
          i: int, j: int) -> Act:
    """Tap (i, j) of every pooling window as one strided view of the (bordered) input."""
    sN, sC, sH, sW = x.strides
    addr = x.addr + ((i - ph) * sH + (j - pw) * sW) * x.item
    return Act(x.name, addr, (x.shape[0], x.shape[1], Ho, Wo), (sN, sC, sH * sh, sW * sw), x.scale,
               x.region)


def _pool_geom(n: Node, x: Act) -> tuple[int, int, int, int, int, int, int, int]:
    """(kh, kw, sh, sw, ph, pw, Ho, Wo) of a pooling node; rejects what the tap views cannot do."""
    k = n.args[1]
    kh, kw = (k[0], k[-1])
    s = n.args[2] if len(n.args) > 2 and n.args[2] else k
    sh, sw = s[0], s[-1]
    p = n.args[3] if len(n.args) > 3 else [0, 0]
    ph, pw = (p[0], p[-1]) if p else (0, 0)
    if len(n.args) > 4 and n.target == aten.max_pool2d_with_indices.default:
        d = n.args[4]
        if d and max(d) != 1:
            raise unsupported(n, "dilated pooling")
    if len(n.args) > 5 and n.target == aten.max_pool2d_with_indices.default and n.args[5]:
        raise unsupported(n, "ceil_mode pooling")
    H, W_ = x.shape[2], x.shape[3]
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W_ + 2 * pw - kw) // sw + 1
    return kh, kw, sh, sw, ph, pw, Ho, Wo


@lowers(aten.max_pool2d_with_indices.default)
def lower_maxpool(lw: Lowerer, n: Node) -> None:
    """max over taps as a chain max(m, t) = m + relu(t - m); exact on the int8 grid."""
    x = lw.val(n.args[0])
    kh, kw, sh, sw, ph, pw, Ho, Wo = _pool_geom(n, x)
    if (ph or pw) and lw.rng(n.args[0].name).lo < 0:
        raise unsupported(n, "padded max pooling of a signed input")
    if x.border < max(ph, pw):
        x = copy(lw, x, f"{n.name}.pad", border=max(ph, pw))
    shape = (x.shape[0], x.shape[1], Ho, Wo)
    gi = [u for u in lw.users[n.name] if u.target is operator.getitem and u.args[1] == 0]
    end = gi[0] if gi else n
    taps = [_taps(x, kh, kw, sh, sw, ph, pw, Ho, Wo, i, j) for i in range(kh) for j in range(kw)]
    m = taps[0]
    for t_i, t in enumerate(taps[1:]):
        last = t_i == len(taps) - 2
        d = eltwise(lw, f"{n.name}.d{t_i}", [(t, 1), (m, -1)], shape, Post("relu"), x.scale, x.scale,
                    col=1, check=False, role="scratch")
        if last:
            m = eltwise(lw, end.name, [(m, 1), (d, 1)], shape, Post(), x.scale, x.scale, col=1,
                        border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
        else:
            m = eltwise(lw, f"{n.name}.m{t_i}", [(m, 1), (d, 1)], shape, Post(), x.scale, x.scale,
                        col=1, check=False, role="scratch")
    lw.vals[n.name] = (m, None)
    lw.vals[end.name] = m


@lowers(aten.avg_pool2d.default)
def lower_avgpool(lw: Lowerer, n: Node) -> None:
    """Sum of the kh*kw tap views in one GEMM (diagonal tiles), 1/(kh*kw) folded into requant."""
    x = lw.val(n.args[0])
    kh, kw, sh, sw, ph, pw, Ho, Wo = _pool_geom(n, x)
    if x.border < max(ph, pw):
        x = copy(lw, x, f"{n.name}.pad", border=max(ph, pw))
    shape = (x.shape[0], x.shape[1], Ho, Wo)
    post, end = post_for(lw, n, n.name)
    s_out, dt = lw.out_spec(end, shape)
    taps = [(_taps(x, kh, kw, sh, sw, ph, pw, Ho, Wo, i, j), 1)
            for i in range(kh) for j in range(kw)]
    out = eltwise(lw, end.name, taps, shape, post, s_out, x.scale / (kh * kw), col=1, out_dtype=dt,
                  border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    lw.vals[n.name] = out
    lw.vals[end.name] = out
