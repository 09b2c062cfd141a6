"""Softmax on the array: exact row max, PWL exp, GEMM row sums, PWL reciprocal."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.lower.act import Act, narrow
from compiler.lower.post import Post, make_ppu
from compiler.lower.prims import eltwise, row_tensor, rowsum_gemm, scaled_copy
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.frontend import Range
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def row_max(lw: Lowerer, name: str, x: Act, dim: int) -> Act:
    """Exact max over ``dim`` by a pairwise tree, max(a, b) = b + relu(a - b) (same scale)."""
    cur = x
    level = 0
    while cur.shape[dim] > 1:
        w = cur.shape[dim]
        h = w // 2
        sh = list(cur.shape)
        sh[dim] = h + (w % 2)
        nxt = lw.alloc(f"{name}.max{level}", tuple(sh), x.scale, col_dim=dim, check=False,
                       role="scratch")
        a = narrow(cur, dim, 0, h)
        b = narrow(cur, dim, h, 2 * h)
        d = eltwise(lw, f"{name}.maxd{level}", [(a, 1), (b, -1)], a.shape, Post("relu"), x.scale,
                    x.scale, col=dim, check=False, role="scratch")
        eltwise(lw, f"{name}.maxs{level}", [(b, 1), (d, 1)], a.shape, Post(), x.scale, x.scale,
                col=dim, out=narrow(nxt, dim, 0, h))
        if w % 2:
            eltwise(lw, f"{name}.maxc{level}", [(narrow(cur, dim, w - 1, w), 1)],
                    narrow(cur, dim, w - 1, w).shape, Post(), x.scale, x.scale,
                    col=dim, out=narrow(nxt, dim, h, h + 1))
        cur = nxt
        level += 1
    return cur


@lowers(aten._softmax.default)
def lower_softmax(lw: Lowerer, n: Node) -> None:
    """softmax(x) = e / sum(e), e = exp(x - rowmax(x)): exact row max (pairwise PWL tree) into
    the ROW offset, PWL exp, GEMM row sums + PWL reciprocal into the ROW scale, then a
    row-scaled identity GEMM."""
    softmax_rows(lw, n, lw.val(n.args[0]), lw.rng(n.args[0].name))


def softmax_rows(lw: Lowerer, n: Node, x: Act, rng: Range, keep: Callable[[Act], Act] | None = None,
                 d_samples: np.ndarray | None = None) -> None:
    """The softmax of ``x`` along ``n.args[1]`` (``rng``: calibrated range of the input, for the exp
    span).  ``keep`` (masked softmax, ops/mask.py) rewrites the int8 exp values before the row sums
    (masked positions -> exactly 0); ``d_samples`` replaces the calibration samples of x - rowmax."""
    dim = n.args[1] % len(x.shape)
    shape = x.shape
    rows = [d for d in range(len(shape)) if d != dim]
    M = int(np.prod([shape[d] for d in rows])) if rows else 1
    T = shape[dim]
    WID = 64
    # 1. -WID * rowmax -> ROW lane 0 (lane 1 = 1)
    mx = row_max(lw, n.name, x, dim)
    rowm = row_tensor(lw, f"{n.name}.rowm", M, lane1=1)
    rowsum_gemm(lw, f"{n.name}.negmax", mx, rows, dim, Post(), 1.0, 1.0, -WID, rowm, 0)
    # 2. e = exp(x - max) as int8 (scale 1/127), input range [-span, 0]
    span = min(12.0, max(1e-3, rng.hi - rng.lo))
    d_rng, sum_rng = lw.ranges.get(f"{n.name}#d"), lw.ranges.get(f"{n.name}#sum")
    if d_samples is None and d_rng is not None:
        d_samples = d_rng.samples
    s_e = 1.0 / 127
    e = lw.alloc(f"{n.name}.exp", shape, s_e, col_dim=dim, check=False, role="scratch")
    ppu = make_ppu(lw, f"{n.name}.exp", T, np.full(T, x.scale / WID), None,
                   Post("pwl", np.exp, -span, 0.0, {"outer": ("clamp", "extend")},
                        d_samples, "exp"), s_e,
                   row=(rowm[0], rowm[1], 0))
    scaled_copy(lw, f"{n.name}.exp", x, rows, dim, WID, ppu, e)
    if keep is not None:
        e = keep(e)
    # 3. row sums (in [127, 127*T]) -> PWL reciprocal -> ROW lane 1
    s_p, dt = lw.out_spec(n, shape)
    smin, smax = 100.0, 127.0 * T
    rs = max(0, min(40, math.floor(math.log2(2.0**30 * smin * s_p))))
    rowt = row_tensor(lw, f"{n.name}.rows", M)
    rscale = 2.0**rs / s_p          # ROW scale = rscale / sum  (sum in e units)
    rowsum_gemm(lw, f"{n.name}.sum", e, rows, dim,
                Post("pwl", lambda v: rscale / np.maximum(v, 0.5), smin, smax,
                     {"spacing": "log", "outer": ("clamp", "clamp")},
                     sum_rng.samples if sum_rng else None, "reciprocal"),
                1.0, 1.0, 1, rowt, 1)
    # 4. p = e * ROW scale >> rs
    out = lw.alloc(n.name, shape, s_p, col_dim=dim, dtype=dt, role=lw.role_of(n))
    one = (np.full(T, 1, dtype=np.int64), np.zeros(T, dtype=np.int64))
    ppu = make_ppu(lw, f"{n.name}.norm", T, np.ones(T), None, Post(), 1.0, out_int32=dt == "int32",
                   row=(rowt[0], rowt[1], rs), mult_override=one)
    scaled_copy(lw, f"{n.name}.norm", e, rows, dim, 1, ppu, out)
    lw.vals[n.name] = out
