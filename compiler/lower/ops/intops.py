"""Integer ops on runtime ids, in the NeuralMatrix way: comparisons are PWL steps on the id's bytes,
``cumsum`` is a GEMM with a triangular ones matrix, a product with a 0/1 mask is a ReLU-shaped PWL,
and the result is stored as int32 by the PPU, so it can index a GATHER (position embeddings).

RoBERTa's ``create_position_ids_from_input_ids``::

    m = ids.ne(pad).int(); pos = (cumsum(m, 1) + past) * m; return pos.long() + pad

lowers to two GEMMs, all on the array (nothing is prepared on the host):

1. ``m = notch(b0 + 256*b1 - pad)`` (int8 0/1): b0, b1 the signed low bytes of each int32 id
   (int8 views of the id words, the 256 spread over three K-blocks 127 + 127 + 2, as the one-hot
   embedding does); ``b0 + 256*b1 - v`` is 0 exactly when ``id == v`` for ids and v in [0, 65536),
   and the PWL "notch" (``ne``; "hat" for ``eq``) maps 0 -> 0 and every other integer -> 1;
2. ``pos = PWL(U^T m + B*m + past - B)`` (int32): ``U[s, t] = 1`` for ``s <= t`` (cumsum along the
   sequence), ``B = hi - lo + 1`` with [lo, hi] the exact bounds of ``cumsum + past`` ([past,
   T + past]), and the PWL ``x < lo -> pad, x >= lo -> x + pad``: the product with the 0/1 mask is
   exact because masked positions land strictly below ``lo`` (``relu(c - T(1 - m))`` when lo = 0).

Between the comparison and its consumer the integer expression is held lazily as :class:`IntLin`
(sums of 0/1 sources times constant integer matrices along one dimension, a per-position bias, an
optional 0/1 gate and a uniform offset after it), so ``add`` / ``sub`` / ``mul`` by integer scalars,
the gate product, ``masked_fill`` with a scalar and dtype casts between integer types emit nothing;
it is materialised (one GEMM, int32 out) where a consumer needs it in memory (the embedding's
GATHER).  Weights larger than int8 are split over several K-blocks of the same source.

Still unsupported (clear error): ordering comparisons (lt/le/gt/ge) of int32 ids (the signed bytes
preserve equality, not order), comparisons with a non-scalar, cumsum of an integer tensor that is not
0/1 or of a float activation, and integer expressions used other than as int32 values in memory
(e.g. cast to float).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, Ppu, pack_weight_tiles
from compiler.frontend import IDENTITY_OPS, unsupported
from compiler.lower.act import Act, broadcast
from compiler.lower.core import Lazy
from compiler.lower.ops.mask import Mask, is_binary, src_bytes
from compiler.lower.post import ppu_records
from compiler.lower.registry import lowers
from golden import pwl

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten

ID_LIMIT = 1 << 16
"""Equality of int32 values is decided on their two low bytes: exact for ids in [0, ID_LIMIT)."""

EQ_OPS = {aten.eq.Scalar: "eq", aten.ne.Scalar: "ne", aten.eq.Tensor: "eq", aten.ne.Tensor: "ne"}
ORDER_OPS = {aten.lt.Scalar, aten.le.Scalar, aten.gt.Scalar, aten.ge.Scalar, aten.lt.Tensor,
             aten.le.Tensor, aten.gt.Tensor, aten.ge.Tensor}


def _meta(n: Node) -> torch.Tensor:
    return n.meta["val"]


def _is_int(n: Any) -> bool:
    return isinstance(n, Node) and isinstance(n.meta.get("val"), torch.Tensor) and not (
        _meta(n).dtype.is_floating_point or _meta(n).dtype == torch.bool)


# ------------------------------------------------------------------ exact integer PWL tables
def _table(bps: list[float], slopes: list[float], icpts: list[float], name: str) -> np.ndarray:
    """A PWL on integers with unit scales through golden.pwl (breakpoints at half-integers)."""
    p = pwl.Pwl(np.array(bps, dtype=np.float64), np.array(slopes), np.array(icpts), name, "exact")
    return pwl.to_hw_table(p, 1.0, 1.0)


def indicator_table(kind: str) -> np.ndarray:
    """eq: 0 -> 1, other integers -> 0 (the one-hot "hat"); ne: 0 -> 0, others -> 1 ("notch")."""
    inside, outside = (1.0, 0.0) if kind == "eq" else (0.0, 1.0)
    return _table([-0.5, 0.5], [0.0, 0.0, 0.0], [outside, inside, outside], f"{kind}0")


def gate_table(lo: int, post: int) -> np.ndarray:
    """x < lo -> post, x >= lo -> x + post (the gated integer expression)."""
    return _table([lo - 0.5], [0.0, 1.0], [float(post), float(post)], "gate")


# ------------------------------------------------------------------ the integer GEMM
def int8_pieces(w: np.ndarray) -> list[np.ndarray]:
    """``w`` (integers) as a sum of int8 matrices (|entry| <= 127), as few as possible."""
    rem = np.asarray(w, dtype=np.int64).copy()
    k = max(1, -(-int(np.abs(rem).max(initial=0)) // 127))
    out = []
    for _ in range(k):
        p = np.clip(rem, -127, 127)
        rem -= p
        out.append(p.astype(np.int8))
    return out


def int_gemm(lw: Lowerer, name: str, shape: tuple[int, ...], dim: int,
             terms: list[tuple[Act, np.ndarray]], ppu: Ppu, out: Act) -> None:
    """``out[..., t] = PPU(sum_terms sum_s src[..., s] * W[s, t])`` along ``dim`` (T = shape[dim]),
    every other dimension a GEMM row; each W (T x T, integer) is split into int8 pieces, one group
    of K-blocks of its source per piece; all-zero tiles (a triangle's or a diagonal's) are skipped."""
    R = lw.hw.rows
    T = shape[dim]
    rows = [d for d in range(len(shape)) if d != dim]
    asrcs: list[ASrc] = []
    kbl: list[KBlk] = []
    blocks: list[tuple[int, int]] = []
    mats: list[np.ndarray] = []
    base = 0
    for i, (a, w) in enumerate(terms):
        a = broadcast(a, shape)
        asrcs.append(ASrc(lw.src_runs(a, rows), a.region))
        st = a.bstride(dim)
        for p in int8_pieces(w):
            for k0 in range(0, T, R):
                kbl.append(KBlk(i, k0 * st, min(R, T - k0), st))
                blocks.append((base + k0, min(R, T - k0)))
            mats.append(p)
            base += T
    wt = pack_weight_tiles(lw.mem, np.concatenate(mats, axis=0), lw.hw, f"{name}.w", blocks)
    M = int(np.prod([shape[d] for d in rows])) if rows else 1
    outs = [Out(lw.out_runs(out, rows), out.bstride(dim), out.region)]
    lw.run(GemmOp(name, M, T, asrcs, kbl, wt, ppu, outs))


def int_ppu(lw: Lowerer, name: str, N: int, bias: np.ndarray, table: np.ndarray | None, *,
            out_int32: bool) -> Ppu:
    """Bias, no requantisation (the accumulator is already in integer units), optional PWL."""
    recf, rid = ppu_records(lw, N, np.asarray(bias, dtype=np.int64), None, None, table, name)
    return Ppu(recf, rid, bias_en=True, pwl_en=table is not None, out_int32=out_int32)


# ------------------------------------------------------------------ 0/1 sources
@dataclass(frozen=True)
class Bits:
    """A 0/1 tensor as ``c + k * src`` with ``src`` an int8 view holding 0/1 ((c, k) = (0, 1) or
    (1, -1))."""

    src: Act
    c: int = 0
    k: int = 1

    def negated(self) -> Bits:
        return Bits(self.src, 1 - self.c, -self.k)


def byte_view(x: Act, byte: int = 0) -> Act:
    """Byte ``byte`` of every word of ``x`` as an int8 tensor of the same shape (signed)."""
    if x.dtype == "int8":
        assert byte == 0
        return x
    return replace(x, name=f"{x.name}.b{byte}", addr=x.addr + byte,
                   strides=tuple(s * x.item for s in x.strides), dtype="int8", border=0)


def bits_of(lw: Lowerer, a: Any, user: Node) -> Bits | None:
    """Operand ``a`` as 0/1 bits in memory, or None: a bool/int 0/1 activation (a comparison's result,
    an attention mask input) or a mask (``compiler.lower.ops.mask.Mask``) taking the values 0 and 1."""
    if not isinstance(a, Node) or lw.is_const(a):
        return None
    v = lw.raw(a)
    if isinstance(v, Act) and is_binary(lw, a):
        return Bits(byte_view(v))
    if isinstance(v, Mask) and v.src is not None:
        v0, v1 = v.v0.to(torch.int64), v.v1.to(torch.int64)
        uniform = v0.numel() and all(bool(torch.all(t == t.reshape(-1)[0])) for t in (v0, v1))
        if uniform:
            c0, c1 = int(v0.reshape(-1)[0]), int(v1.reshape(-1)[0])
            if {c0, c1} == {0, 1}:
                return Bits(src_bytes(lw, user, v, tuple(v.v0.shape)), c0, c1 - c0)
    return None


# ------------------------------------------------------------------ the lazy integer expression
@dataclass(eq=False)
class IntLin(Lazy):
    """``value[..., t] = g * (sum_terms (src^T W)[..., t] + bias[t]) + post`` along ``dim``, every
    ``src`` (and the gate g) 0/1; ``g`` None means 1."""

    node: Node
    shape: tuple[int, ...]
    dim: int
    terms: list[tuple[Bits, np.ndarray]]
    bias: np.ndarray
    gate: Bits | None = None
    post: int = 0

    def bounds(self) -> tuple[int, int]:
        """Exact [lo, hi] of the ungated sum over all 0/1 source values."""
        lo = self.bias.astype(np.int64).copy()
        hi = lo.copy()
        for b, w in self.terms:
            lo += np.minimum(b.k * w, 0).sum(axis=0) + b.c * w.sum(axis=0)
            hi += np.maximum(b.k * w, 0).sum(axis=0) + b.c * w.sum(axis=0)
        return int(lo.min()), int(hi.max())

    def scaled(self, node: Node, f: int) -> IntLin:
        return replace(self, node=node, terms=[(b, w * f) for b, w in self.terms], bias=self.bias * f,
                       post=self.post * f)

    def shifted(self, node: Node, c: int) -> IntLin:
        if self.gate is None:
            return replace(self, node=node, bias=self.bias + c)
        return replace(self, node=node, post=self.post + c)

    def materialise(self, lw: Lowerer) -> Act:
        """One GEMM, int32 out (scale 1): the sources' bytes times the integer weights, the constant
        parts of the 0/1 sources folded into the bias; a gate adds ``B * g - B`` with B = hi - lo + 1
        and a PWL keeps only x >= lo."""
        n = self.node
        lo, hi = self.bounds()
        if max(abs(lo), abs(hi)) + abs(self.post) >= 2**30:
            raise unsupported(n, "integer expression beyond int32")
        T = self.shape[self.dim]
        bias = self.bias.astype(np.int64).copy()
        terms = []
        for b, w in self.terms:
            bias += b.c * w.sum(axis=0)
            terms.append((b.src, b.k * w))
        table = None
        if self.gate is not None:
            B = hi - lo + 1
            g = self.gate
            terms.append((g.src, np.eye(T, dtype=np.int64) * (B * g.k)))
            bias += B * g.c - B
            table = gate_table(lo, self.post)
        else:
            bias += self.post
        out = lw.alloc(n.name, self.shape, 1.0, col_dim=self.dim, dtype="int32", role=lw.role_of(n))
        ppu = int_ppu(lw, f"{n.name}.int", T, bias, table, out_int32=True)
        int_gemm(lw, n.name, self.shape, self.dim, terms, ppu, out)
        return out


def _store(lw: Lowerer, n: Node, v: IntLin) -> None:
    """Keep ``v`` lazy, or materialise it now if ``n`` is a model output (an int32 output tensor)."""
    lw.vals[n.name] = v.materialise(lw) if n.name in lw.out_names else v


def _int_lazy(lw: Lowerer, a: Any) -> IntLin | None:
    v = lw.raw(a) if isinstance(a, Node) else None
    return v if isinstance(v, IntLin) else None


def _int_scalar(lw: Lowerer, a: Any) -> int | None:
    """``a`` as a Python int: an int literal, or a one-element integer constant."""
    if isinstance(a, bool):
        return int(a)
    if isinstance(a, int):
        return a
    if isinstance(a, Node) and lw.is_const(a):
        c = lw.const(a)
        if isinstance(c, torch.Tensor) and c.numel() == 1 and not c.is_floating_point():
            return int(c.reshape(-1)[0])
    return None


# ------------------------------------------------------------------ comparisons of integer values
def is_int_compare(lw: Lowerer, n: Node) -> bool:
    """eq/ne/lt/le/gt/ge of a runtime integer tensor that is not a 0/1 mask (token ids, an integer
    expression), which ``compiler.lower.ops.mask`` does not take."""
    if n.target not in EQ_OPS and n.target not in ORDER_OPS:
        return False
    a = n.args[0]
    if not _is_int(a) or lw.is_const(a):
        return False
    if _int_lazy(lw, a) is not None:
        return True
    return isinstance(lw.raw(a), Act) and not is_binary(lw, a)


@lowers(*EQ_OPS, *sorted(ORDER_OPS, key=str), when=is_int_compare, prio=1)
def lower_int_compare(lw: Lowerer, n: Node) -> None:
    """``ids == v`` / ``ids != v``: one GEMM on the two signed low bytes of each id word,
    ``acc = b0 + 256*b1 - v`` (0 exactly when id == v, ids in [0, 65536)), PWL hat / notch ->
    int8 0/1 (a mask ``compiler.lower.ops.mask`` and :class:`IntLin` can use)."""
    a = n.args[0]
    if n.target in ORDER_OPS:
        raise unsupported(n, "ordering comparison of integer ids that are not 0/1 (only eq / ne are "
                          "lowered: the id's signed bytes decide equality, not order)")
    v = _int_scalar(lw, n.args[1]) if len(n.args) > 1 else None
    if v is None:
        raise unsupported(n, "comparison of integer ids with a non-scalar or non-integer operand")
    lazy = _int_lazy(lw, a)
    if lazy is not None:
        lo, hi = lazy.bounds()
        lo, hi = (lo + lazy.post, hi + lazy.post) if lazy.gate is None else (
            min(lo, 0) + lazy.post, max(hi, 0) + lazy.post)
    else:
        r = lw.rng(a.name)
        lo, hi = int(r.lo), int(r.hi)
    if lo < 0 or hi >= ID_LIMIT or not 0 <= v < ID_LIMIT:
        raise unsupported(n, f"equality test of integers outside [0, {ID_LIMIT}) (range [{lo}, {hi}], "
                          f"value {v})")
    x = lw.val(a)
    shape = tuple(x.shape)
    if x.dtype != "int32" or not shape:
        raise unsupported(n, "comparison of an integer tensor that is not an int32 model value")
    dim = len(shape) - 1
    eye = np.eye(shape[dim], dtype=np.int64)
    out = lw.alloc(n.name, shape, 1.0, col_dim=dim, role=lw.role_of(n))
    ppu = int_ppu(lw, f"{n.name}.cmp", shape[dim], np.full(shape[dim], -v), indicator_table(EQ_OPS[n.target]),
                  out_int32=False)
    int_gemm(lw, n.name, shape, dim, [(byte_view(x, 0), eye), (byte_view(x, 1), 256 * eye)], ppu, out)
    lw.vals[n.name] = out


# ------------------------------------------------------------------ cumsum
def _cumsum_dim(n: Node) -> int:
    nd = len(_meta(n).shape)
    return int(n.args[1]) % max(nd, 1)


@lowers(aten.cumsum.default)
def lower_cumsum(lw: Lowerer, n: Node) -> None:
    """``cumsum(x, dim)``: a GEMM with the triangular ones matrix ``U[s, t] = [s <= t]`` along
    ``dim``, on 0/1 integer operands: a lazy :class:`IntLin` (exact, int32 when materialised)."""
    a = n.args[0]
    if lw.is_const(a):
        raise unsupported(n, "cumsum of a constant (should have been folded)")
    shape = tuple(_meta(n).shape)
    dim = _cumsum_dim(n)
    T = shape[dim]
    tri = np.triu(np.ones((T, T), dtype=np.int64))     # tri[s, t] = 1 for s <= t
    if _meta(a).dtype.is_floating_point:
        raise unsupported(n, "cumsum of a float activation (only of 0/1 integer tensors, e.g. "
                          "ids.ne(pad))")
    b = bits_of(lw, a, n)
    if b is None:
        raise unsupported(n, "cumsum of an integer tensor that is not 0/1 (only of masks, e.g. "
                          "ids.ne(pad) or an attention mask)")
    _store(lw, n, IntLin(n, shape, dim, [(b, tri)], np.zeros(T, dtype=np.int64)))


# ------------------------------------------------------------------ arithmetic on IntLin
def _has_int_lazy(lw: Lowerer, n: Node) -> bool:
    return any(_int_lazy(lw, a) is not None for a in n.args)


@lowers(*sorted(IDENTITY_OPS, key=str), when=lambda lw, n: _int_lazy(lw, n.args[0]) is not None, prio=2,
        layer=False)
def lower_int_identity(lw: Lowerer, n: Node) -> None:
    """Casts between integer dtypes (``.int()``, ``.long()``) and clones keep the expression lazy."""
    v = _int_lazy(lw, n.args[0])
    assert v is not None
    if not _is_int(n):
        raise unsupported(n, "integer expression (cumsum of a mask) cast to a float or bool tensor")
    _store(lw, n, replace(v, node=n))


@lowers(aten.add.Tensor, aten.sub.Tensor, aten.add.Scalar, aten.sub.Scalar, aten.mul.Tensor,
        aten.mul.Scalar, aten.neg.default, aten.masked_fill.Scalar, aten.where.self, when=_has_int_lazy,
        prio=3)
def lower_int_arith(lw: Lowerer, n: Node) -> None:
    """``e + c``, ``e - c``, ``e * c`` (integer scalars), ``-e``, ``e * m`` with a 0/1 tensor m (the
    gate: exact by the PWL of :meth:`IntLin.materialise`) and ``masked_fill(e, m, c)`` (= ``(e - c)
    * (1 - m) + c``; ``where(m, c, e)`` / ``where(m, e, c)``) on a lazy integer expression:
    bookkeeping, no instruction."""
    t = n.target
    if t == aten.where.self:
        cond, x, y = n.args
        e = _int_lazy(lw, x) or _int_lazy(lw, y)
        fill = _int_scalar(lw, y if _int_lazy(lw, x) is not None else x)
        m = bits_of(lw, cond, n)
        if e is None or fill is None or m is None or e.gate is not None:
            raise unsupported(n, "select of an integer expression other than with a 0/1 mask and a scalar")
        gate = m if _int_lazy(lw, x) is not None else m.negated()     # where e is kept
        _store(lw, n, replace(e.shifted(n, -fill), gate=gate, post=fill))
        return
    a0 = n.args[0]
    e = _int_lazy(lw, a0)
    other = n.args[1] if len(n.args) > 1 else None
    if e is None:                                   # c + e, c * e, m * e
        e, other = _int_lazy(lw, other), a0
        if t in (aten.sub.Tensor, aten.sub.Scalar):
            e = e.scaled(n, -1) if e is not None else None
            t = aten.add.Tensor
    assert e is not None
    if tuple(_meta(n).shape) != e.shape:
        raise unsupported(n, "broadcasting integer expression")
    alpha = n.kwargs.get("alpha", 1)
    if t == aten.neg.default:
        _store(lw, n, e.scaled(n, -1))
        return
    c = _int_scalar(lw, other)
    if t in (aten.add.Tensor, aten.add.Scalar, aten.sub.Tensor, aten.sub.Scalar) and c is not None:
        sign = -1 if t in (aten.sub.Tensor, aten.sub.Scalar) else 1
        _store(lw, n, e.shifted(n, sign * int(alpha) * c))
        return
    if t in (aten.mul.Tensor, aten.mul.Scalar) and c is not None:
        _store(lw, n, e.scaled(n, c))
        return
    if t == aten.mul.Tensor and (g := bits_of(lw, other, n)) is not None:
        if e.gate is not None:
            if e.gate != g:
                raise unsupported(n, "integer expression gated by two different masks")
            _store(lw, n, replace(e, node=n))
            return
        if e.post:
            raise unsupported(n, "gate of an integer expression with an offset after a gate")
        _store(lw, n, replace(e, node=n, gate=g))
        return
    if t == aten.masked_fill.Scalar and (m := bits_of(lw, other, n)) is not None:
        fill = _int_scalar(lw, n.args[2])
        if fill is None or e.gate is not None:
            raise unsupported(n, "masked_fill of an integer expression with a non-integer value or twice")
        ungated = e.shifted(n, -fill)
        _store(lw, n, replace(ungated, gate=m.negated(), post=fill))
        return
    raise unsupported(n, "arithmetic on an integer expression other than with integer scalars or a 0/1 mask")
