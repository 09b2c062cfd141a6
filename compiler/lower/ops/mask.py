"""Boolean / 0-1 masks and the attention masks built from them.

A runtime mask (an HF ``attention_mask``, an MHA ``key_padding_mask``, or a 0/1 tensor the array
computed, e.g. ``ne(ids, pad)``) is held lazily as a :class:`Mask`: a constant element map ``idx``
into a binary source tensor ``src`` (values 0/1 in memory) and the two constant values the mask
takes where ``src`` is 0 and where it is 1.  Every elementwise op whose other operands are
constant (``to(bool)``, ``index`` with constant indices, ``bitwise_and`` with a causal pattern,
``logical_not``, ``eq``, ``where(mask, 0, -inf)``, ...) is then evaluated at compile time on the
two constant values, and views act on ``idx``: no instruction is emitted.  A constant mask (a
causal ``attn_mask``) is a :class:`Mask` without source.

Its main runtime use is as an additive softmax bias ``softmax(scores + bias)`` with
``bias`` = 0 or <= -MASK_BIG (-inf, ``finfo.min``, -1e4); selects, integer gates and boolean
combinations of two runtime masks are ``compiler.lower.ops.select`` / ``intops``.  That add is
not quantised (its range is infinite); the softmax is lowered as a **masked softmax** in the
NeuralMatrix way, a select as mask arithmetic on the array:

1. penalty ``P`` (int8, scale 1) = ``c + s * src[idx]`` (+ a constant 0/1/2 tensor), one GEMM whose
   A operand is the mask's bytes (the low byte of each int32 word; docs/compiler.md), weight ``s``
   = +-1 and PPU bias ``c``: P >= 1 exactly at masked positions, 0 elsewhere;
2. ``y = relu((x - lo) / s_y + 1 - 256 * P)`` (``[lo, hi]`` the scores' calibrated range,
   ``s_y = (hi - lo) / 126``): unmasked scores in [1, 127], masked ones exactly 0, so the exact row
   max (a ``b + relu(a - b)`` tree, whose differences must fit int8) is the max over unmasked
   positions; softmax is shift invariant, so the softmax of y is that of x;
3. the softmax of ``y`` (``softmax.softmax_rows``) with one extra pass after the PWL exp,
   ``e' = relu(e - 127 * P)`` (exact ReLU table; e <= 127), so masked positions get exactly 0
   weight, and a fully masked row sums to 0 and gives probabilities 0 (what the SDPA guard
   below asks for).

The SDPA math decomposition's fully-masked-row guard ``where(~any(~eq(scores, -inf)), 0,
softmax)`` is recognised (:class:`Guard`) and lowered as the softmax itself; on unmasked scores
``eq(x, -inf)`` is the constant False (an int8 tensor is finite), so the guard folds away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.fx import Node

from compiler.frontend import IDENTITY_OPS, VIEW_OPS, unsupported
from compiler.lower.act import Act
from compiler.lower.core import Lazy
from compiler.lower.ops.softmax import softmax_rows
from compiler.lower.post import Post
from compiler.lower.prims import eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten

MASK_BIG = 1e4
"""An additive attention bias at or below -MASK_BIG masks its position (weight exactly 0)."""


class Opaque(Lazy):
    """A value only the recognised patterns may consume; any other use is an UnsupportedOpError."""

    def __init__(self, node: Node, why: str) -> None:
        self.node, self.why = node, why

    def materialise(self, lw: Lowerer) -> Act:
        raise unsupported(self.node, self.why)


@dataclass(eq=False)
class Mask(Lazy):
    """value[i] = v1[i] if src[idx[i]] else v0[i] (``src`` a 0/1 tensor in memory), or the constant
    ``v0`` (== ``v1``) when ``src`` is None."""

    node: Node
    src: Act | None
    idx: torch.Tensor | None
    v0: torch.Tensor
    v1: torch.Tensor

    def materialise(self, lw: Lowerer) -> Act:
        """A runtime mask with 0/1 values as an int8 0/1 tensor (one lookup GEMM,
        ``select.bool_lookup``); other masks have no int8 value of their own."""
        if self.src is not None:
            v0 = self.v0.to(torch.float64)
            v1 = self.v1.to(torch.float64)
            if bool(torch.all((v0 == 0) | (v0 == 1))) and bool(torch.all((v1 == 0) | (v1 == 1))):
                from compiler.lower.ops.select import bool_lookup
                shape = tuple(torch.broadcast_shapes(tuple(self.v0.shape), tuple(self.v1.shape)))
                combos = [torch.broadcast_to(v, shape).numpy().astype(np.int64) for v in (v0, v1)]
                return bool_lookup(lw, self.node, [self], combos, shape, f"{self.node.name}.bits")
        raise unsupported(self.node, "a mask used other than as an additive softmax bias (masked "
                          "softmax), a select condition or by mask arithmetic")


@dataclass(eq=False)
class MaskedScores(Lazy):
    """``x + bias`` with a mask bias (0 or <= -MASK_BIG): consumed by the masked softmax."""

    node: Node
    x: Act
    x_node: Node
    bias: Mask
    inf: bool          # masked positions are -inf (an SDPA guard may test them)

    def materialise(self, lw: Lowerer) -> Act:
        raise unsupported(self.node, "masked attention scores used other than by a softmax")


@dataclass(eq=False)
class Guard(Lazy):
    """A stage of the SDPA fully-masked-row guard on masked scores ``of``."""

    node: Node
    of: Node
    stage: str               # masked | unmasked | row_any_unmasked | row_all_masked
    dim: int | None = None

    def materialise(self, lw: Lowerer) -> Act:
        raise unsupported(self.node, "a test of masked attention scores other than the SDPA "
                          "fully-masked-row guard")


LAZY = (Mask, Opaque, MaskedScores, Guard)


# ------------------------------------------------------------------ bookkeeping ops
@lowers(aten._assert_tensor_metadata.default, layer=False)
def lower_assert_metadata(lw: Lowerer, n: Node) -> None:
    """A dtype/device assertion transformers emits for ``.to(dtype)``: no value, no instruction."""
    lw.vals[n.name] = None


# ------------------------------------------------------------------ operands as masks
def _meta(n: Node) -> torch.Tensor:
    return n.meta["val"]


def is_binary(lw: Lowerer, a: Node) -> bool:
    """A runtime integer/bool tensor whose values are 0/1: bool by dtype, or an integer input all of
    whose calibration values lie in [0, 1] (an HF ``attention_mask``)."""
    v = lw.raw(a)
    if not isinstance(v, Act) or _meta(a).dtype.is_floating_point:
        return False
    if _meta(a).dtype == torch.bool:
        return True
    r = lw.ranges.get(a.name)
    return r is not None and r.lo >= 0 and r.hi <= 1


def as_mask(lw: Lowerer, a: Any, user: Node) -> Mask | torch.Tensor | Any:
    """Operand ``a`` of ``user`` as a Mask (runtime), a constant tensor, or a Python scalar."""
    if not isinstance(a, Node):
        return a
    if lw.is_const(a):
        return lw.const(a)
    v = lw.raw(a)
    if isinstance(v, Mask):
        return v
    if isinstance(v, Act) and is_binary(lw, a):
        dt = _meta(a).dtype
        shape = tuple(v.shape)
        return Mask(a, v, torch.arange(int(np.prod(shape)), dtype=torch.int64).reshape(shape),
                    torch.zeros(shape, dtype=dt), torch.ones(shape, dtype=dt))
    raise unsupported(user, f"operand '{a.name}' is not 0/1 (masks must be bool, or integer inputs "
                      "whose calibration values are all 0 or 1; comparisons of token ids are not lowered)")


def _eval(n: Node, ops: list[Any], pick: str) -> Any:
    def sub(a: Any) -> Any:
        if isinstance(a, Mask):
            return getattr(a, pick)
        if isinstance(a, (list, tuple)):
            return type(a)(sub(x) for x in a)
        return a
    with torch.no_grad():
        return n.target(*sub(ops), **n.kwargs)


def _ops(lw: Lowerer, n: Node) -> list[Any]:
    def conv(a: Any) -> Any:
        if isinstance(a, (list, tuple)):
            return type(a)(conv(x) for x in a)
        return as_mask(lw, a, n)
    return [conv(a) for a in n.args]


def _masks(ops: list[Any]) -> list[Mask]:
    out = []
    for a in ops:
        if isinstance(a, Mask):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out += _masks(list(a))
    return out


def mask_apply(lw: Lowerer, n: Node, structural: bool) -> Mask:
    """``n`` applied to mask operands: on the two constant values (and, for a view or an index
    with constant indices, on the element map too)."""
    ops = _ops(lw, n)
    ms = _masks(ops)
    rt = [m for m in ms if m.src is not None]
    v0, v1 = _eval(n, ops, "v0"), _eval(n, ops, "v1")
    if not rt:
        return Mask(n, None, None, v0, v0)
    if structural:
        assert len(ms) == 1
        m = ms[0]
        idx = _eval(n, [m.idx if a is m else a for a in ops], "v0")
        return Mask(n, m.src, idx, v0, v1)
    shape = tuple(v0.shape)
    idxs = [torch.broadcast_to(m.idx, shape) for m in rt]
    if any(m.src is not rt[0].src for m in rt) or any(not torch.equal(i, idxs[0]) for i in idxs):
        # two runtime sources: a lookup GEMM makes the combination a new 0/1 source
        from compiler.lower.ops.select import combine_runtime
        return combine_runtime(lw, n, ops, rt)
    return Mask(n, rt[0].src, idxs[0].contiguous(), v0, v1)


# ------------------------------------------------------------------ elementwise mask ops
MASK_OPS = [
    aten.eq.Scalar, aten.eq.Tensor, aten.ne.Scalar, aten.ne.Tensor, aten.lt.Scalar, aten.lt.Tensor,
    aten.le.Scalar, aten.le.Tensor, aten.gt.Scalar, aten.gt.Tensor, aten.ge.Scalar, aten.ge.Tensor,
    aten.logical_not.default, aten.logical_and.default, aten.logical_or.default,
    aten.logical_xor.default, aten.bitwise_and.Tensor, aten.bitwise_or.Tensor,
    aten.bitwise_xor.Tensor, aten.bitwise_not.default, aten.where.self, aten.masked_fill.Scalar,
    aten.masked_fill.Tensor,
]
REDUCE_OPS = [aten.any.dim, aten.any.dims, aten.any.default, aten.all.dim, aten.all.dims,
              aten.all.default]


def _float_act(lw: Lowerer, a: Any) -> bool:
    return (isinstance(a, Node) and not lw.is_const(a) and isinstance(lw.raw(a), Act)
            and _meta(a).dtype.is_floating_point)


@lowers(*MASK_OPS, *REDUCE_OPS, aten.index.Tensor)
def lower_mask_op(lw: Lowerer, n: Node) -> None:
    """Comparisons, logical / bitwise ops, where / masked_fill, any / all and index on masks."""
    nodes = [a for a in n.args if isinstance(a, Node)]
    raws = [lw.raw(a) for a in nodes]
    if any(isinstance(v, (Guard, MaskedScores, Opaque)) for v in raws):
        lw.vals[n.name] = _guard(lw, n)
        return
    a0 = n.args[0]
    if (n.target in (aten.eq.Scalar, aten.ne.Scalar) and _float_act(lw, a0)
            and isinstance(n.args[1], float) and not math.isfinite(n.args[1])):
        # an int8 activation is finite: eq(x, +-inf / nan) is the constant False
        v = torch.zeros(_meta(n).shape, dtype=torch.bool) ^ (n.target == aten.ne.Scalar)
        lw.vals[n.name] = Mask(n, None, None, v, v)
        return
    if n.target == aten.where.self and any(_float_act(lw, a) for a in n.args[1:]):
        c = as_mask(lw, a0, n)
        c = c.v0 if isinstance(c, Mask) and c.src is None else c
        if isinstance(c, torch.Tensor) and bool(torch.all(c == c.reshape(-1)[0])):
            pick = n.args[1] if bool(c.reshape(-1)[0]) else n.args[2]
            if _float_act(lw, pick) and tuple(_meta(pick).shape) == tuple(_meta(n).shape):
                lw.vals[n.name] = lw.val(pick)    # a constant condition selects one operand
                return
    if any(_float_act(lw, a) for a in nodes):
        raise unsupported(n, "select / comparison on a float activation (only masks built from "
                          "0/1 tensors and constants are supported)")
    if n.target in REDUCE_OPS and any(isinstance(m, Mask) and m.src is not None
                                      for m in _masks(_ops(lw, n))):
        raise unsupported(n, "reduction over a runtime mask")
    lw.vals[n.name] = mask_apply(lw, n, structural=n.target == aten.index.Tensor)


def has_lazy_mask(lw: Lowerer, n: Node) -> bool:
    return bool(n.args) and isinstance(n.args[0], Node) and isinstance(lw.raw(n.args[0]), LAZY)


@lowers(*sorted(VIEW_OPS, key=str), *sorted(IDENTITY_OPS, key=str), when=has_lazy_mask, prio=1,
        layer=False)
def lower_mask_view(lw: Lowerer, n: Node) -> None:
    """Views and identity ops (``to(bool)``, ``clone``) of a mask: on its values and element map."""
    v = lw.raw(n.args[0])
    if isinstance(v, Mask):
        lw.vals[n.name] = mask_apply(lw, n, structural=n.target in VIEW_OPS)
    elif isinstance(v, (MaskedScores, Guard)) and n.target in IDENTITY_OPS:
        lw.vals[n.name] = v
    else:
        lw.vals[n.name] = Opaque(n, "view of masked attention scores")


# ------------------------------------------------------------------ the SDPA fully-masked-row guard
def _guard(lw: Lowerer, n: Node) -> Any:
    a = lw.raw(n.args[0]) if isinstance(n.args[0], Node) else None
    t = n.target
    if t == aten.eq.Scalar and isinstance(a, MaskedScores) and a.inf and n.args[1] == -math.inf:
        return Guard(n, a.node, "masked")
    if isinstance(a, Guard):
        flip = {"masked": "unmasked", "row_any_unmasked": "row_all_masked"}
        if t in (aten.logical_not.default, aten.bitwise_not.default) and a.stage in flip:
            return Guard(n, a.of, flip[a.stage], a.dim)
        if t == aten.any.dim and a.stage == "unmasked" and len(n.args) > 2 and n.args[2]:
            return Guard(n, a.of, "row_any_unmasked", n.args[1] % len(_meta(n).shape))
    if t == aten.where.self and isinstance(a, Guard) and a.stage == "row_all_masked":
        zero, sm = n.args[1], n.args[2]
        if (lw.is_const(zero) and isinstance(sm, Node) and sm.target == aten._softmax.default
                and sm.args[0] is a.of and sm.args[1] % len(_meta(sm).shape) == a.dim
                and not bool(torch.any(torch.as_tensor(lw.const(zero)) != 0))):
            # the masked softmax already gives 0 on a fully masked row
            return lw.val(sm)
    return Opaque(n, "a test of masked attention scores other than the SDPA fully-masked-row guard")


# ------------------------------------------------------------------ masked add + softmax
def _bias_of(lw: Lowerer, a: Any) -> Mask | None:
    """A mask bias operand: a Mask, or a constant with entries <= -MASK_BIG (a causal mask)."""
    if not isinstance(a, Node):
        return None
    if lw.is_const(a):
        c = lw.const(a)
        if c.is_floating_point() and c.numel() > 1 and bool(torch.any(c <= -MASK_BIG)):
            return Mask(a, None, None, c, c)
        return None
    v = lw.raw(a)
    if isinstance(v, Mask) and v.v0.is_floating_point():
        return v
    return None


def is_masked_add(lw: Lowerer, n: Node) -> bool:
    """``scores + mask_bias`` feeding only softmaxes (and their SDPA guard)."""
    if n.kwargs.get("alpha", 1) != 1 or len(n.args) != 2:
        return False
    a, b = n.args
    if not ((_float_act(lw, a) and _bias_of(lw, b)) or (_float_act(lw, b) and _bias_of(lw, a))):
        return False
    return all((u.target == aten._softmax.default and u.args[0] is n)
               or (u.target == aten.eq.Scalar and u.args[0] is n) for u in lw.users[n.name])


@lowers(aten.add.Tensor, when=is_masked_add, prio=2)
def lower_masked_add(lw: Lowerer, n: Node) -> None:
    """Held as :class:`MaskedScores` (no instruction): the softmax applies the mask."""
    a, b = n.args
    x_node, bn = (a, b) if _float_act(lw, a) else (b, a)
    bias = _bias_of(lw, bn)
    assert bias is not None
    lw.vals[n.name] = MaskedScores(n, lw.val(x_node), x_node, bias,
                                   bool(torch.any(torch.isinf(bias.v0)) or torch.any(torch.isinf(bias.v1))))


def src_bytes(lw: Lowerer, n: Node, m: Mask, shape: tuple[int, ...]) -> Act:
    """The mask's source as an int8 view of ``shape`` (the low byte of each int32 word): the
    element map must be a strided view of the source."""
    assert m.src is not None and m.idx is not None
    src = m.src
    idx = torch.broadcast_to(m.idx, shape).numpy()
    unr = np.unravel_index(idx, src.shape)
    mem = sum(u * st for u, st in zip(unr, src.strides, strict=True)) if src.shape else np.zeros(shape)
    mem = np.asarray(mem, dtype=np.int64).reshape(shape)
    nd = len(shape)
    off = int(mem.reshape(-1)[0]) if mem.size else 0
    st = []
    for d in range(nd):
        if shape[d] > 1:
            e = [0] * nd
            e[d] = 1
            st.append(int(mem[tuple(e)]) - off)
        else:
            st.append(0)
    grid = np.indices(shape).reshape(nd, *shape) if nd else np.zeros(0)
    recon = off + sum(grid[d] * st[d] for d in range(nd))
    if any(s < 0 for s in st) or not np.array_equal(recon, mem):
        raise unsupported(n, "mask element map is not a strided view of its source")
    return Act(f"{src.name}.bytes", src.addr + off * src.item, tuple(shape),
               tuple(s * src.item for s in st), 1.0, src.region, "int8")


def penalty(lw: Lowerer, n: Node, bias: Mask, shape: tuple[int, ...], dim: int) -> Act | None:
    """int8 P (scale 1): >= 1 exactly where the bias masks, 0 elsewhere; None if nothing is masked."""
    v0 = torch.broadcast_to(bias.v0, shape).to(torch.float64).numpy()
    v1 = torch.broadcast_to(bias.v1, shape).to(torch.float64).numpy()
    m0, m1 = v0 <= -MASK_BIG, v1 <= -MASK_BIG
    if np.any((~m0) & (v0 != 0)) or np.any((~m1) & (v1 != 0)):
        raise unsupported(n, "attention bias with nonzero finite values besides its mask")
    always = m0 & m1
    s = 0
    if bias.src is not None:
        d = m1.astype(int) - m0.astype(int)
        if np.any(d > 0) and np.any(d < 0):
            raise unsupported(n, "mask that is both the runtime mask and its complement")
        s = 1 if np.any(d > 0) else (-1 if np.any(d < 0) else 0)
        if s and not np.all((d == s) | always):
            raise unsupported(n, "runtime mask that applies to only part of the scores")
    a0 = (2 * always + (m0 & ~always)).astype(np.int8)
    if s == 0:
        if not a0.any():
            return None
        return _const_i8(lw, f"{n.name}.pen", a0, dim)
    srcs = [(src_bytes(lw, n, bias, shape), s)]
    c = float(a0.reshape(-1)[0])
    if not np.all(a0 == a0.reshape(-1)[0]):
        # a runtime mask combined with a constant one (padding + causal): the constant part of P
        # is a second source, an int8 0/1/2 tensor in the memory image
        c = 0.0
        srcs.append((_const_i8(lw, f"{n.name}.pen0", a0, dim), 1))
    return eltwise(lw, f"{n.name}.pen", srcs, shape, Post(), 1.0, 1.0,
                   bias=np.full(shape[dim], c), col=dim, check=False, role="scratch")


def _const_i8(lw: Lowerer, name: str, a: np.ndarray, dim: int) -> Act:
    """A constant int8 tensor (scale 1) in the memory image, ``dim`` innermost."""
    shape = tuple(a.shape)
    order = [k for k in range(len(shape)) if k != dim] + [dim]
    reg = lw.mem.const(np.ascontiguousarray(a.astype(np.int8).transpose(order)), name)
    st = [0] * len(shape)
    acc = 1
    for k in reversed(order):
        st[k] = acc
        acc *= shape[k]
    return Act(name, reg.addr, tuple(shape), tuple(st), 1.0, reg.rid)


def is_masked_softmax(lw: Lowerer, n: Node) -> bool:
    return isinstance(n.args[0], Node) and isinstance(lw.raw(n.args[0]), MaskedScores)


@lowers(aten._softmax.default, when=is_masked_softmax, prio=1)
def lower_masked_softmax(lw: Lowerer, n: Node) -> None:
    """softmax(x + mask bias): penalty P, y = relu((x - lo) / s_y + 1 - 256 P), softmax of y whose exp
    values are zeroed where P >= 1 (``e' = relu(e - 127 P)``)."""
    ms: MaskedScores = lw.raw(n.args[0])
    x = ms.x
    shape = lw.shape_of(n)
    dim = n.args[1] % len(shape)
    rng = lw.rng(ms.x_node.name)
    pen = penalty(lw, n, ms.bias, shape, dim)
    if pen is None:
        softmax_rows(lw, n, x, rng)
        return
    # y = relu((x - lo) / s_y + 1 - 256 P): unmasked scores in [1, 127], masked ones 0, so the row
    # max tree's differences stay within int8 (softmax is shift invariant: y * s_y = x - lo + s_y)
    s_y = max(rng.hi - rng.lo, 1e-6) / 126
    y = eltwise(lw, f"{n.name}.masked", [(x, 1), (pen, -128), (pen, -128)], shape, Post("relu"), s_y,
                x.scale, bias=np.full(shape[dim], s_y - rng.lo), col=dim, check=False, role="scratch")

    def keep(e: Act) -> Act:
        return eltwise(lw, f"{n.name}.keep", [(e, 1), (pen, -127)], e.shape, Post("relu"), e.scale,
                       e.scale, col=dim, check=False, role="scratch")
    d = lw.ranges.get(f"{n.name}#d")
    smp = d.samples if d is not None else None
    if smp is not None:
        smp = smp[np.isfinite(smp) & (smp > -MASK_BIG / 2)]
    softmax_rows(lw, n, y, rng, keep=keep, d_samples=smp)
