"""Elementwise ops: unary PWL epilogues, two-source adds, per-channel scales, batch norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.frontend import IDENTITY_OPS, UNARY_OPS, unsupported
from compiler.lower.act import col_dim
from compiler.lower.plan import unary_operand
from compiler.lower.post import Post, chain_label, composed, fit_opts, post_for
from compiler.lower.prims import channel_affine, const_act, eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def is_unary(lw: Lowerer, n: Node) -> bool:
    """The op is a function of one activation (scalar-like other operands): a PWL epilogue."""
    return unary_operand(lw.g, n) is not None


def not_unary(lw: Lowerer, n: Node) -> bool:
    """Two activations, or an activation and a non-scalar constant: a GEMM of its own."""
    return unary_operand(lw.g, n) is None


@lowers(*sorted(UNARY_OPS, key=str), when=is_unary)
def lower_pointwise(lw: Lowerer, n: Node) -> None:
    """A unary op no GEMM epilogue absorbed (its producer is an input, a view, a multi-output op
    or has several users): an identity GEMM whose PPU applies the op and the single-user chain
    after it as one PWL."""
    op = unary_operand(lw.g, n)
    x = lw.val(op)
    chain = [n, *lw.plan.epilogue(n)]
    end = chain[-1]
    real = [u for u in chain if u.target not in IDENTITY_OPS]
    s_out, dtype = lw.out_spec(end, x.shape)
    if len(real) == 1 and real[0].target == aten.relu.default:
        post = Post("relu")
        if dtype == "int8":
            s_out = x.scale         # the exact ReLU table needs equal scales in and out
    else:
        r = lw.rng(op.name)
        post = Post("pwl", composed(lw, real), r.lo, r.hi, fit_opts(real), r.samples, chain_label(real))
    out = eltwise(lw, end.name, [(x, 1)], x.shape, post, s_out, x.scale, out_dtype=dtype,
                  border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    lw.vals[end.name] = out
    for u in chain:
        lw.vals[u.name] = out


@lowers(aten.add.Tensor, aten.sub.Tensor, when=not_unary)
def lower_add(lw: Lowerer, n: Node) -> None:
    """a + alpha * b (or a - alpha * b): one GEMM accumulating both sources with diagonal weights
    in a common accumulator scale; a constant operand is quantised into the image first."""
    a, b = n.args[0], n.args[1]
    alpha = n.kwargs.get("alpha", 1)
    sign = -1.0 if n.target == aten.sub.Tensor else 1.0
    av = lw.val(a) if not lw.is_const(a) else const_act(lw, lw.const(a), f"{n.name}.c0")
    bv = lw.val(b) if not lw.is_const(b) else const_act(lw, lw.const(b), f"{n.name}.c1")
    shape = lw.shape_of(n)
    s_acc = max(av.scale, bv.scale * abs(alpha)) / 127
    wa = round(av.scale / s_acc)
    wb = round(sign * alpha * bv.scale / s_acc)
    post, end = post_for(lw, n, n.name)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    big = av if len(av.shape) == len(shape) and tuple(av.shape) == shape else bv
    col = col_dim(big)
    out = eltwise(lw, end.name, [(av, wa), (bv, wb)], shape, post, s_out, s_acc, col=col,
                  out_dtype=dt, border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    lw.vals[end.name] = out
    lw.vals[n.name] = out


def const_factor(lw: Lowerer, n: Node) -> bool:
    """activation * non-scalar constant (the product of two activations is ops/product.py)."""
    return not_unary(lw, n) and any(lw.is_const(a) for a in n.args[:2])


@lowers(aten.mul.Tensor, when=const_factor)
def lower_mul_const(lw: Lowerer, n: Node) -> None:
    """activation * constant tensor broadcast along the columns (per-channel scale)."""
    a, b = n.args
    x, c = (a, b) if not lw.is_const(a) else (b, a)
    xv = lw.val(x)
    cv = lw.const(c).to(torch.float64)
    shape = lw.shape_of(n)
    col = col_dim(xv)
    cb = torch.broadcast_to(cv, shape)
    # must vary only along col
    vec = cb.movedim(col, -1).reshape(-1, shape[col])
    if not torch.all(vec == vec[0:1]):
        raise unsupported(n, "constant factor varies along more than the channel dimension")
    channel_affine(lw, n, xv, vec[0].numpy(), np.zeros(shape[col]), col)


@lowers(aten._native_batch_norm_legit_no_training.default)
def lower_batchnorm(lw: Lowerer, n: Node) -> None:
    """A batch norm no convolution absorbed: its per-channel affine map as a diagonal GEMM."""
    x = lw.val(n.args[0])
    w, b, mean, var = (lw.const(a).to(torch.float64).numpy() if a is not None else None
                       for a in n.args[1:5])
    eps = n.args[6]
    g = (w if w is not None else 1.0) / np.sqrt(var + eps)
    beta = (b if b is not None else 0.0) - mean * g
    gi = next(iter(lw.users[n.name]))
    out = channel_affine(lw, n, x, g, beta, 1, end=gi)
    lw.vals[n.name] = (out,)
