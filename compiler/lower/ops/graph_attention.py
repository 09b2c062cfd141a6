"""Graph attention (PyG ``GATConv``) over a fixed graph: per-head attention logits and the segment
softmax over each node's neighbours.

GATConv decomposes (core ATen) into

1. ``a_src[i, h] = sum_c x'[i, h, c] * att_src[h, c]`` (and ``a_dst``): a multiply by a (1, H, C)
   constant and a sum over the last dim.  Lowered as ONE GEMM ``x'(N, H*C) @ W(H*C, H)`` with the
   block-diagonal constant W (per-column weight scales): the multiply is held lazily
   (:class:`HeadScaled`) and the sum consumes it;
2. per-edge logits ``leaky_relu(a_src[j] + a_dst[i])`` (graph.py gathers + add + PWL), the segment
   max (graph_max.py) and ``exp(e - max_i)`` (PWL);
3. ``alpha = exp(u) / (S @ exp(u) + eps)[dst]``: the division by a runtime per-node sum.  Instead
   of a reciprocal and a product of two activations, the softmax is taken in the log domain:
   ``alpha = exp(e - max_i - log s_i)``, ``log s_i`` the PWL log of the segment-sum GEMM's
   accumulator (14-bit PWL input), gathered per edge; one 3-source GEMM + PWL exp produces alpha.
   Three GEMMs, no squares, and alpha is int8 at scale 1/127 (alpha <= 1);
4. ``alpha[e, h] * x'[src_e, h, :]`` (compiler/lower/ops/product.py, two activations) summed into
   the destinations (graph.py scatter_add, N-D rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, Out, pack_weight_tiles
from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.core import Lazy
from compiler.lower.ops.graph import LRows, gemm_const_left, has_lazy_operand, rows_2d
from compiler.lower.post import Post, make_ppu
from compiler.lower.prims import eltwise
from compiler.lower.registry import lowers
from compiler.quantize import act_scale, quant, weight_scales

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def const_right(lw: Lowerer, name: str, x: Act, W: np.ndarray, post: Post, out: Act) -> None:
    """out(M, N) = PPU(x(M, K) @ W) for a constant W, per-output-column weight scales."""
    ws = weight_scales(W, axis=0)
    wq = quant(W, ws[None, :]).astype(np.int8)
    wt = pack_weight_tiles(lw.mem, wq, lw.hw, f"{name}.w")
    N = W.shape[1]
    ppu = make_ppu(lw, name, N, x.scale * ws, None, post, out.scale, out_int32=out.dtype == "int32")
    lw.run(GemmOp(name, x.shape[0], N, [ASrc(lw.src_runs(x, [0]), x.region)], lw.kblocks_dim(0, x, 1),
                  wt, ppu, [Out(lw.out_runs(out, [0]), out.bstride(1), out.region)]))


# ------------------------------------------------------------------ 1. per-head dot products
@dataclass
class HeadScaled(Lazy):
    """``x * c`` for an N-D activation x (rows = dim 0) and a constant c varying along the other
    dims only; ``gamma`` = c flattened over them.  A following sum over the last dim is one GEMM."""

    x: Act
    gamma: np.ndarray
    node: str

    def materialise(self, lw: Lowerer) -> Act:
        ref = lw.ref[self.node]
        out = lw.alloc(self.node, tuple(ref.shape), lw.scale_of(self.node))
        const_right(lw, self.node, rows_2d(self.x), np.diag(self.gamma), Post(), rows_2d(out))
        return out


def _head_scale_operands(lw: Lowerer, n: Node) -> tuple[Node, torch.Tensor] | None:
    if n.target != aten.mul.Tensor or has_lazy_operand(lw, n):
        return None
    a, b = n.args[0], n.args[1]
    if not (isinstance(a, Node) and isinstance(b, Node)) or lw.is_const(a) == lw.is_const(b):
        return None
    xn, cn = (a, b) if lw.is_const(b) else (b, a)
    v = lw.raw(xn)
    shape = lw.shape_of(n)
    c = lw.const(cn)
    if not isinstance(v, Act) or len(shape) < 3 or tuple(v.shape) != shape or rows_2d(v) is None:
        return None
    if c.dim() != len(shape) or c.shape[0] != 1:
        return None
    users = list(lw.users[n.name])
    if len(users) != 1 or users[0].target != aten.sum.dim_IntList:
        return None
    return xn, c


def is_head_scale(lw: Lowerer, n: Node) -> bool:
    """activation (rows, ...) * constant (1, ...) whose only user is a sum (GAT's attention dot)."""
    return _head_scale_operands(lw, n) is not None


@lowers(aten.mul.Tensor, when=is_head_scale, prio=2)
def lower_head_scale(lw: Lowerer, n: Node) -> None:
    """Held lazily for the sum (:func:`lower_head_dot`)."""
    ops = _head_scale_operands(lw, n)
    assert ops is not None
    xn, c = ops
    shape = lw.shape_of(n)
    gamma = torch.broadcast_to(c.to(torch.float64), shape)[0].reshape(-1).numpy()
    lw.vals[n.name] = HeadScaled(lw.val(xn), gamma, n.name)


def is_head_dot(lw: Lowerer, n: Node) -> bool:
    """sum over the last dim of a :class:`HeadScaled` value."""
    x = n.args[0]
    if not isinstance(x, Node) or not isinstance(lw.raw(x), HeadScaled):
        return False
    dims = n.args[1] if len(n.args) > 1 else None
    nd = len(lw.shape_of(x))
    keep = n.args[2] if len(n.args) > 2 else n.kwargs.get("keepdim", False)
    return dims is not None and [d % nd for d in dims] == [nd - 1] and not keep


@lowers(aten.sum.dim_IntList, when=is_head_dot, prio=1)
def lower_head_dot(lw: Lowerer, n: Node) -> None:
    """sum_c x[i, h, c] * c[h, c]: one GEMM x(N, H*C) @ blockdiag(c)(H*C, H)."""
    hs: HeadScaled = lw.raw(n.args[0])
    in_shape = lw.shape_of(n.args[0])
    Cl = in_shape[-1]
    G = int(np.prod(in_shape[1:-1]))
    W = np.zeros((G * Cl, G))
    for g in range(G):
        W[g * Cl:(g + 1) * Cl, g] = hs.gamma[g * Cl:(g + 1) * Cl]
    shape = lw.shape_of(n)
    s_out, dt = lw.out_spec(n, shape)
    out = lw.alloc(n.name, shape, s_out, dtype=dt, role=lw.role_of(n))
    o2 = rows_2d(out) if len(shape) >= 2 else None
    if o2 is None:
        raise unsupported(n, "attention dot product with a 1-D result")
    const_right(lw, n.name, rows_2d(hs.x), W, Post(), o2)
    lw.vals[n.name] = out


# ------------------------------------------------------------------ 3. segment softmax division
@dataclass
class _SoftmaxParts:
    G: object            # (E x N) gather of per-node values to the edges (the destination)
    S: object            # (N x E) segment sum
    e: Act               # exp(u), (E, H)
    eps: float
    u_terms: list[Act]   # u = u_terms[0] - u_terms[1] (logit, gathered segment max)
    s_node: Node         # the per-node sum (its calibration range)


def _softmax_parts(lw: Lowerer, n: Node) -> _SoftmaxParts | None:
    """``exp(l - m[dst]) / (scatter_add(exp(...)) + eps)[dst]`` with constant dst, else None."""
    if n.target != aten.div.Tensor or len(n.args) != 2:
        return None
    a, b = n.args
    if not (isinstance(a, Node) and isinstance(b, Node)) or a.target != aten.exp.default:
        return None
    if b.target != aten.index_select.default or not lw.is_const(b.args[2]):
        return None
    sn, eps = b.args[0], 0.0
    if isinstance(sn, Node) and sn.target == aten.add.Tensor and not isinstance(sn.args[1], Node):
        sn, eps = sn.args[0], float(sn.args[1])
    if not isinstance(sn, Node) or sn.target != aten.scatter_add.default:
        return None
    lr = lw.raw(sn)
    un = a.args[0]
    if not isinstance(lr, LRows) or not isinstance(un, Node) or un.target != aten.sub.Tensor:
        return None
    e = lw.raw(a)
    t0, t1 = (lw.raw(x) for x in un.args[:2])
    if not all(isinstance(v, Act) for v in (e, t0, t1)):
        return None
    if lr.x is not e and lr.x.addr != e.addr:
        return None
    ix = lw.const(b.args[2]).long().numpy()
    import scipy.sparse as sp
    Nn = lr.L.shape[0]
    G = sp.csr_matrix((np.ones(len(ix)), (np.arange(len(ix)), ix)), shape=(len(ix), Nn))
    return _SoftmaxParts(G, lr.L, e, eps, [t0, t1], b.args[0])


def is_segment_softmax(lw: Lowerer, n: Node) -> bool:
    return _softmax_parts(lw, n) is not None


@lowers(aten.div.Tensor, when=is_segment_softmax, prio=2)
def lower_segment_softmax(lw: Lowerer, n: Node) -> None:
    """alpha = exp(l - m[dst] - log(s)[dst]), s = segment sum of exp(l - m[dst]) (module doc)."""
    p = _softmax_parts(lw, n)
    assert p is not None
    shape = lw.shape_of(n)
    H = shape[1]
    rs = lw.rng(p.s_node.name)
    lo = max(rs.lo, 0.5)
    hi = max(rs.hi, lo * 1.001)
    s_lg = act_scale(max(abs(np.log(lo)), abs(np.log(hi))))
    lg = lw.alloc(f"{n.name}.logsum", (p.S.shape[0], H), s_lg, check=False, role="scratch")
    post = Post("pwl", lambda v: np.log(np.maximum(v, 1e-3)), lo, hi, {"outer": ("clamp", "clamp")},
                rs.samples, "log")
    gemm_const_left(lw, f"{n.name}.logsum", p.S, p.e, np.full(H, p.eps), post, lg)
    glg = lw.alloc(f"{n.name}.glog", shape, s_lg, check=False, role="scratch")
    gemm_const_left(lw, f"{n.name}.glog", p.G, lg, None, Post(), glg)
    # alpha = exp(t0 - t1 - glg): common accumulator scale, PWL exp on [lo_u, 0]
    t0, t1 = p.u_terms
    s_acc = max(t0.scale, t1.scale, s_lg) / 127
    w0, w1, w_l = (round(s / s_acc) for s in (t0.scale, t1.scale, s_lg))
    ra = lw.rng(n.name)
    smp = None if ra.samples is None else np.log(np.maximum(ra.samples, 1e-30))
    lo_u = float(np.log(max(ra.lo, 1e-6))) if ra.lo > 0 else -12.0
    lo_u = max(lo_u, -12.0)
    if smp is not None:
        smp = np.maximum(smp, lo_u)
    s_out, dt = lw.out_spec(n, shape)
    out = eltwise(lw, n.name, [(t0, w0), (t1, -w1), (glg, -w_l)], shape,
                  Post("pwl", np.exp, lo_u, 0.0, {"outer": ("clamp", "extend")}, smp, "exp(log-softmax)"),
                  s_out, s_acc, col=1, out_dtype=dt, role=lw.role_of(n))
    lw.vals[n.name] = out
