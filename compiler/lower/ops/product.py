"""The elementwise product of two activations, ``x * y`` (broadcasting allowed).

The array only multiplies by weights, and weights are constants, so a runtime product is made of
additions and squares (the PWL stage squares exactly enough):

    x * y = s_x s_y q_x q_y = s_x s_y ((q_x + q_y)^2 - (q_x - q_y)^2) / 4

(q = the int8 codes, s = their scales).  Three elementwise GEMMs (prims.eltwise):

1. ``P = PWL_sq(q_x + q_y)``: diagonal weights (1, 1), the PPU squares (16-segment vertical fit of
   ``s_x s_y (t^2 / 4 - c)``, c = max t^2 / 8 so that all 255 int8 codes are used) into int8;
2. ``Q = PWL_sq(q_x - q_y)``: weights (1, -1), same output scale as P;
3. ``out = P - Q``: weights (1, -1), requantised to the product's scale (and the product's fused
   unary epilogue, if any).

Summing the integer codes (not the real values) balances the two operands whatever their scales:
in real units ``x + y`` with ``|y| << |x|`` would square to nearly equal P and Q and the product
would drown in their rounding.  The squares' ranges are exact: calibration keeps the convex hull of
the (x, y) pairs (frontend._mul_stats), and ``x/s_x +- y/s_y`` is extremal on its vertices.

A product whose operands are both elementwise functions of one tensor ``r`` (``x * sigmoid(x)``,
which is how torch decomposes SiLU, ``x * x``, ``tanh(r) * sigmoid(r)``) is a unary function of
``r``: one identity GEMM with a single PWL, no squares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.frontend import IDENTITY_OPS, unsupported
from compiler.lower.act import Act, col_dim
from compiler.lower.ops.eltwise import not_unary
from compiler.lower.plan import unary_operand
from compiler.lower.post import Post, chain_label, composed, fit_opts, post_for
from compiler.lower.prims import eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten
MAX_DEPTH = 8          # elementwise ops walked back when looking for a common operand


def two_activations(lw: Lowerer, n: Node) -> bool:
    """Both factors are runtime tensors (disjoint from eltwise.const_factor / is_unary)."""
    return not_unary(lw, n) and all(isinstance(a, Node) and not lw.is_const(a) for a in n.args[:2])


def _ancestors(lw: Lowerer, node: Node) -> list[tuple[Node, list[Node]]]:
    """``node`` and the tensors it is an elementwise function of, nearest first, each with the
    chain of unary / identity ops from it to ``node``."""
    out = [(node, [])]
    cur, chain = node, []
    for _ in range(MAX_DEPTH):
        prev = cur.args[0] if cur.target in IDENTITY_OPS else unary_operand(lw.g, cur)
        if not isinstance(prev, Node) or lw.is_const(prev):
            break
        chain = [cur, *chain]
        cur = prev
        out.append((cur, chain))
    return out


def _common_root(lw: Lowerer, a: Node, b: Node) -> tuple[Node, list[Node], list[Node]] | None:
    """The nearest tensor both factors are elementwise functions of, and the two chains."""
    anc_b = dict(_ancestors(lw, b))
    for r, ca in _ancestors(lw, a):
        if r in anc_b:
            return r, ca, anc_b[r]
    return None


def _gated(lw: Lowerer, n: Node, root: Node, ca: list[Node], cb: list[Node]) -> None:
    """``f(r) * g(r)`` (and the product's epilogue chain) as one PWL of ``r``."""
    r = lw.val(root)
    epi = lw.plan.epilogue(n)
    end = epi[-1] if epi else n
    ra = [u for u in ca if u.target not in IDENTITY_OPS]
    rb = [u for u in cb if u.target not in IDENTITY_OPS]
    re_ = [u for u in epi if u.target not in IDENTITY_OPS]
    fa, fb, fe = composed(lw, ra), composed(lw, rb), composed(lw, re_)

    def fn(t: np.ndarray) -> np.ndarray:
        return fe(fa(t) * fb(t))

    kinks = fit_opts([*ra, *rb, *re_])["kinks"]
    rng = lw.rng(root.name)
    label = f"({chain_label(ra) or 'x'})*({chain_label(rb) or 'x'})" + (f"+{chain_label(re_)}" if re_ else "")
    post = Post("pwl", fn, rng.lo, rng.hi, {"kinks": kinks}, rng.samples, label)
    s_out, dt = lw.out_spec(end, lw.shape_of(n))
    out = eltwise(lw, end.name, [(r, 1)], r.shape, post, s_out, r.scale, out_dtype=dt,
                  border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    for u in (n, *epi):
        lw.vals[u.name] = out


def _extremes(lw: Lowerer, n: Node, xs: float, ys: float, sign: float) -> tuple[float, float]:
    """min / max of ``x/xs + sign * y/ys`` over the calibration set (hull vertices), or a bound."""
    hx, hy = lw.ranges.get(f"{n.name}#hx"), lw.ranges.get(f"{n.name}#hy")
    if hx is not None and hy is not None and hx.samples is not None:
        t = hx.samples / xs + sign * hy.samples / ys
        return float(t.min()), float(t.max())
    b = lw.rng(n.args[0].name).amax / xs + lw.rng(n.args[1].name).amax / ys
    return -b, b


def _samples(lw: Lowerer, n: Node, xs: float, ys: float, sign: float) -> np.ndarray | None:
    """Calibration samples of ``x/xs + sign * y/ys`` (aligned operand subsamples)."""
    sx, sy = lw.ranges.get(f"{n.name}#x"), lw.ranges.get(f"{n.name}#y")
    if sx is None or sy is None or sx.samples is None or sy.samples is None:
        return None
    return sx.samples / xs + sign * sy.samples / ys


@lowers(aten.mul.Tensor, when=two_activations)
def lower_mul_act(lw: Lowerer, n: Node) -> None:
    """x * y of two activations: ((q_x + q_y)^2 - (q_x - q_y)^2) / 4 with PWL squares (module doc),
    or a single PWL when both factors are elementwise functions of one tensor."""
    a, b = n.args[0], n.args[1]
    common = _common_root(lw, a, b)
    if common is not None:
        _gated(lw, n, *common)
        return
    xv, yv = lw.val(a), lw.val(b)
    if not (isinstance(xv, Act) and isinstance(yv, Act)) or xv.dtype != "int8" or yv.dtype != "int8":
        raise unsupported(n, "product of non-int8 activations")
    shape = lw.shape_of(n)
    big = xv if tuple(xv.shape) == shape else yv
    col = col_dim(big) if len(big.shape) == len(shape) else len(shape) - 1
    kxy = xv.scale * yv.scale                   # real value of one unit of q_x * q_y
    ext = {sg: _extremes(lw, n, xv.scale, yv.scale, sg) for sg in (1.0, -1.0)}
    amax = max(max(abs(lo), abs(hi)) for lo, hi in ext.values()) + 1.0   # +1: rounding of q_x, q_y
    # t^2/4 lies in [0, amax^2/4]; shifted by -amax^2/8 it uses all int8 codes (twice the
    # resolution), and the shift cancels in P - Q.  P and Q share the scale: weights +-1 in step 3.
    off = amax * amax / 8
    s_sq = kxy * off / 127
    sq: list[Act] = []
    for sg, tag in ((1.0, "sum"), (-1.0, "diff")):
        lo, hi = ext[sg]
        post = Post("pwl", lambda t: kxy * (t * t / 4 - off), lo - 1.0, hi + 1.0, {},
                    _samples(lw, n, xv.scale, yv.scale, sg), f"square({tag})")
        sq.append(eltwise(lw, f"{n.name}.{tag}_sq", [(xv, 1), (yv, int(sg))], shape, post, s_sq, 1.0,
                          col=col, role="scratch", check=False))
    lw.plan.chain[n.name] = lw.plan.epilogue(n)  # the product's unary epilogue rides on step 3
    post, end = post_for(lw, n, n.name)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    out = eltwise(lw, end.name, [(sq[0], 1), (sq[1], -1)], shape, post, s_out, s_sq, col=col,
                  out_dtype=dt, border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    for u in (n, *lw.plan.chain[n.name]):
        lw.vals[u.name] = out
