"""Views, aliases, tuple indexing and concatenation: data movement, not arithmetic.

A view is only a new (addr, shape, strides) on the producer's memory, so it emits nothing and is
lowered outside any layer; only a view torch cannot express as strides costs an identity-GEMM copy.
"""

from __future__ import annotations

import operator
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch.fx import Node

from compiler.frontend import IDENTITY_OPS, VIEW_OPS, unsupported
from compiler.lower.act import Act, col_dim
from compiler.lower.post import Post
from compiler.lower.prims import const_act, copy, eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def view_of(lw: Lowerer, n: Node) -> Act:
    """The view ``n`` of its input, found by replaying the op on a meta tensor with the input's
    strides; copies the input to a contiguous layout first if torch refuses the view."""
    x = lw.val(n.args[0])
    assert isinstance(x, Act), n
    meta = torch.empty_strided(x.shape, x.strides, dtype=torch.int8, device="meta")
    try:
        with torch.no_grad():
            r = n.target(meta, *n.args[1:], **n.kwargs)
    except RuntimeError:
        if x.dtype != "int8":
            raise unsupported(n, "re-layout of an int32 tensor") from None
        x = copy(lw, x, f"{n.name}.contig")
        meta = torch.empty_strided(x.shape, x.strides, dtype=torch.int8, device="meta")
        r = n.target(meta, *n.args[1:], **n.kwargs)
    return replace(x, addr=x.addr + r.storage_offset() * x.item, shape=tuple(r.shape),
                   strides=tuple(r.stride()), border=x.border if r.dim() == 4 and r.shape == x.shape
                   and tuple(r.stride()) == x.strides else 0)


@lowers(*sorted(VIEW_OPS, key=str), layer=False)
def lower_view(lw: Lowerer, n: Node) -> None:
    lw.vals[n.name] = view_of(lw, n)


SPLIT_OPS = [aten.split_with_sizes.default, aten.split.Tensor, aten.split.sizes, aten.unbind.int,
             aten.unsafe_split.Tensor, aten.unsafe_split_with_sizes.default, aten.chunk.default,
             aten.tensor_split.sections, aten.tensor_split.indices]


@lowers(*SPLIT_OPS, layer=False)
def lower_split(lw: Lowerer, n: Node) -> None:
    """``chunk`` / ``split`` / ``split_with_sizes`` / ``unbind``: a tuple of views of the input (one
    new offset/shape/strides per part, found by replaying the op on a meta tensor with the input's
    strides), consumed by ``getitem``; no instruction."""
    x = lw.val(n.args[0])
    assert isinstance(x, Act), n
    meta = torch.empty_strided(x.shape, x.strides, dtype=torch.int8, device="meta")
    with torch.no_grad():
        parts = n.target(meta, *n.args[1:], **n.kwargs)
    lw.vals[n.name] = tuple(
        replace(x, addr=x.addr + r.storage_offset() * x.item, shape=tuple(r.shape), strides=tuple(r.stride()),
                border=x.border if r.dim() == 4 and r.shape == x.shape else 0) for r in parts)


@lowers(*sorted(IDENTITY_OPS, key=str), layer=False)
def lower_identity(lw: Lowerer, n: Node) -> None:
    """clone / dropout / detach / ... are the identity in inference: alias the input's value."""
    lw.vals[n.name] = lw.val(n.args[0])


@lowers(operator.getitem, layer=False)
def lower_getitem(lw: Lowerer, n: Node) -> None:
    """Element of a multi-output op's value (batch norm / layer norm / max pool / split tuples)."""
    v = lw.val(n.args[0])
    lw.vals[n.name] = v[n.args[1]] if isinstance(v, (tuple, list)) else v


@lowers(aten.cat.default)
def lower_cat(lw: Lowerer, n: Node) -> None:
    """Identity-GEMM copies of every part into its slice of one output (no strided DMA merge)."""
    xs = [lw.val(a) if not lw.is_const(a) else const_act(lw, lw.const(a), f"{n.name}.c{i}")
          for i, a in enumerate(n.args[0])]
    dim = n.args[1] if len(n.args) > 1 else 0
    shape = lw.shape_of(n)
    dim %= len(shape)
    s_out, dt = lw.out_spec(n, shape)
    col = col_dim(xs[0])
    out = lw.alloc(n.name, shape, s_out, col_dim=col, dtype=dt, role=lw.role_of(n),
                   border=lw.plan.border.get(n.name, 0))
    off = 0
    for i, x in enumerate(xs):
        part = replace(out, addr=out.addr + off * out.bstride(dim), shape=x.shape)
        eltwise(lw, f"{n.name}.part{i}", [(x, 1)], x.shape, Post(), s_out, x.scale, col=col, out=part,
                out_dtype=dt)
        off += x.shape[dim]
    lw.vals[n.name] = out
