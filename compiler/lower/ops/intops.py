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

Ordering comparisons and arithmetic on ids use the exact id value ``b0 + 256 [b0 < 0] + 256 b1``
(:func:`id_value`: one sign-bit GEMM, ids in [-2^15, 2^15)) as an :class:`IntLin`; any comparison of
an :class:`IntLin` is one GEMM whose PWL is the step (:meth:`IntLin.apply`).

Still unsupported (clear error): ids outside [-2^15, 2^15) in an ordering comparison or arithmetic,
comparisons of broadcast integer tensors, cumsum of an integer tensor that is not 0/1 (the float
cumsum is ``compiler.lower.ops.select``), and integer expressions used other than as int32 values
in memory or 0/1 comparison results (e.g. cast to float).
"""

from __future__ import annotations

from collections.abc import Callable
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
from golden.isa import PWL_SEGMENTS

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
    (1, -1)); or, with ``vlo`` / ``vhi`` other than 0 / 1, an int8 integer source whose values lie
    in [vlo, vhi] (a byte of an id word: the exact id value of :func:`id_value` is a sum of them)."""

    src: Act
    c: int = 0
    k: int = 1
    vlo: int = 0
    vhi: int = 1

    def negated(self) -> Bits:
        return Bits(self.src, 1 - self.c, -self.k, self.vlo, self.vhi)


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
            a0, a1 = b.k * w * b.vlo, b.k * w * b.vhi
            lo += np.minimum(a0, a1).sum(axis=0) + b.c * w.sum(axis=0)
            hi += np.maximum(a0, a1).sum(axis=0) + b.c * w.sum(axis=0)
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
            _, gterms, gbias = gate_terms(lw, n, self.gate, hi - lo + 1, self.shape, self.dim)
            terms += gterms
            bias += gbias
            table = gate_table(lo, self.post)
        else:
            bias += self.post
        out = lw.alloc(n.name, self.shape, 1.0, col_dim=self.dim, dtype="int32", role=lw.role_of(n))
        ppu = int_ppu(lw, f"{n.name}.int", T, bias, table, out_int32=True)
        int_gemm(lw, n.name, self.shape, self.dim, terms, ppu, out)
        return out


    def apply(self, lw: Lowerer, n: Node, fn: Callable[[np.ndarray], np.ndarray], *, out_int8: bool) -> Act:
        """``fn(value)`` in one GEMM: the accumulator of :meth:`materialise` (sources times integer
        weights, the gate's ``B * g - B``), and one exact integer PWL for ``fn`` composed with the
        gate (:func:`int_table`, built by scanning the accumulator's whole integer domain): a
        comparison with a constant is a step, so ``pos < 7`` costs the one GEMM that ``pos`` would
        have cost.  Out int8 (a 0/1 mask: ``out_int8``) or int32."""
        lo, hi = self.bounds()
        if max(abs(lo), abs(hi)) + abs(self.post) >= 2**30:
            raise unsupported(n, "integer expression beyond int32")
        T = self.shape[self.dim]
        bias = self.bias.astype(np.int64).copy()
        terms = []
        for b, w in self.terms:
            bias += b.c * w.sum(axis=0)
            terms.append((b.src, b.k * w))
        post = self.post
        if self.gate is not None:
            B, gterms, gbias = gate_terms(lw, n, self.gate, hi - lo + 1, self.shape, self.dim)
            terms += gterms
            bias += gbias
            dom = (lo - B, hi)

            def value(acc: np.ndarray) -> np.ndarray:
                return np.where(acc >= lo, acc + post, post)
        else:
            bias += post
            dom = (lo + post, hi + post)

            def value(acc: np.ndarray) -> np.ndarray:
                return acc
        table = int_table(n, lambda acc: fn(value(acc)), *dom)
        shape = self.shape
        out = lw.alloc(n.name, shape, 1.0, col_dim=self.dim, dtype="int8" if out_int8 else "int32",
                       role=lw.role_of(n))
        ppu = int_ppu(lw, f"{n.name}.int", T, bias, table, out_int32=not out_int8)
        int_gemm(lw, n.name, shape, self.dim, terms, ppu, out)
        return out


GATE_WIDE = 4 * 127
"""A gate weight B above this many int8 pieces' worth goes through a scaled gate (:func:`gate_terms`)."""


def gate_terms(lw: Lowerer, n: Node, g: Bits, B: int, shape: tuple[int, ...],
               dim: int) -> tuple[int, list[tuple[Act, np.ndarray]], int]:
    """The gate's ``B * g - B`` as (B used, terms, bias).  B splits into ceil(B / 127) int8 weight
    pieces, one K-block group each; a wide value (the exact value of raw ids spans 2^16) would need
    hundreds, so for B > GATE_WIDE the gate is first scaled to ``G = 127 g`` (int8 0/127, one GEMM)
    and B rounded up to a multiple of 127: ``(B / 127) * G`` needs ceil(B / 127^2) pieces."""
    T = shape[dim]
    eye = np.eye(T, dtype=np.int64)
    if B <= GATE_WIDE:
        return B, [(g.src, eye * (B * g.k))], B * g.c - B
    B = 127 * -(-B // 127)
    G = lw.alloc(f"{n.name}.gate127", shape, 1.0, col_dim=dim, role="scratch", check=False)
    ppu = int_ppu(lw, f"{n.name}.gate127", T, np.full(T, 127 * g.c), None, out_int32=False)
    int_gemm(lw, f"{n.name}.gate127", shape, dim, [(g.src, eye * (127 * g.k))], ppu, G)
    return B, [(G, eye * (B // 127))], -B


def int_table(n: Node, h: Callable[[np.ndarray], np.ndarray], lo: int, hi: int) -> np.ndarray:
    """The exact PWL table of an integer function ``h`` on the integers of [lo, hi]: maximal runs of
    constant slope become segments (breakpoints at half-integers, unit scales), so the hardware
    table equals ``h`` at every integer of the domain; beyond it the end segments extend."""
    if hi - lo > 1 << 20:
        raise unsupported(n, f"integer function on a domain of {hi - lo + 1} values (at most 2^20)")
    x = np.arange(lo, hi + 1, dtype=np.int64)
    y = np.asarray(h(x), dtype=np.int64)
    d = np.diff(y)
    bps: list[float] = []
    slopes: list[float] = []
    icpts: list[float] = []
    i = 0
    while i < len(x):
        s = int(d[i]) if i < len(d) else 0
        rest = np.flatnonzero(d[i:] != s) if i < len(d) else np.zeros(0, dtype=np.int64)
        j = i + int(rest[0]) if len(rest) else len(x) - 1          # the run covers x[i..j]
        if i:
            bps.append(float(x[i]) - 0.5)
        slopes.append(float(s))
        icpts.append(float(y[i] - s * x[i]))
        i = j + 1
    if len(slopes) > PWL_SEGMENTS:
        raise unsupported(n, f"integer function with {len(slopes)} linear pieces (the PWL has "
                          f"{PWL_SEGMENTS})")
    return _table(bps, slopes, icpts, "int")


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
ORDER_LIMIT = 1 << 15
"""Ordering comparisons read the exact id value from its two low bytes: ids in [-2^15, 2^15)."""

_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
        "ge": np.greater_equal}
_SWAP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def _cmp_kind(n: Node) -> str:
    return str(n.target).split(".")[1]


def _int_runtime(lw: Lowerer, a: Any) -> bool:
    """A runtime integer operand that is not a 0/1 mask: token ids, or a lazy integer expression."""
    if not _is_int(a) or lw.is_const(a):
        return False
    if _int_lazy(lw, a) is not None:
        return True
    return isinstance(lw.raw(a), Act) and not is_binary(lw, a)


def is_int_compare(lw: Lowerer, n: Node) -> bool:
    """eq/ne/lt/le/gt/ge with a runtime integer operand that is not a 0/1 mask (token ids, an integer
    expression), which ``compiler.lower.ops.mask`` does not take; either operand may be it."""
    if n.target not in EQ_OPS and n.target not in ORDER_OPS:
        return False
    return any(_int_runtime(lw, a) for a in n.args[:2])


def _signed16(v: int) -> int:
    """``b0 + 256*b1`` of an int32 word with signed bytes b0, b1: what the byte GEMM reads for ``v``."""
    b0, b1 = v & 0xFF, (v >> 8) & 0xFF
    return (b0 - 256 * (b0 >= 128)) + 256 * (b1 - 256 * (b1 >= 128))


def id_value(lw: Lowerer, a: Node, user: Node) -> IntLin:
    """The exact value of the int32 ids ``a`` (in [-2^15, 2^15)) as a lazy :class:`IntLin`:
    ``id = b0 + 256 * [b0 < 0] + 256 * b1`` (b0, b1 the signed low bytes; the unsigned low byte is
    ``b0 + 256 * [b0 < 0]``), where the sign bit ``[b0 < 0]`` is one GEMM with a step PWL (cached
    per tensor).  Equality needs no sign bit (``b0 + 256*b1`` is injective); order does."""
    key = f"{a.name}#idval"
    if isinstance(lw.vals.get(key), IntLin):
        return lw.vals[key]
    r = lw.rng(a.name)
    if r.lo < -ORDER_LIMIT or r.hi >= ORDER_LIMIT:
        raise unsupported(user, f"ordering comparison or arithmetic of integers outside [-{ORDER_LIMIT}, "
                          f"{ORDER_LIMIT}) (calibrated range [{r.lo:g}, {r.hi:g}]; the value is read from "
                          "two bytes)")
    x = lw.val(a)
    shape = tuple(x.shape)
    if x.dtype != "int32" or not shape:
        raise unsupported(user, "comparison of an integer tensor that is not an int32 model value")
    dim = len(shape) - 1
    T = shape[dim]
    eye = np.eye(T, dtype=np.int64)
    sign = lw.alloc(f"{a.name}.sign", shape, 1.0, col_dim=dim, role="scratch", check=False)
    ppu = int_ppu(lw, f"{a.name}.sign", T, np.zeros(T), _table([-0.5], [0.0, 0.0], [1.0, 0.0], "sign"),
                  out_int32=False)
    int_gemm(lw, f"{a.name}.sign", shape, dim, [(byte_view(x, 0), eye)], ppu, sign)
    v = IntLin(a, shape, dim, [(Bits(byte_view(x, 0), vlo=-128, vhi=127), eye), (Bits(sign), 256 * eye),
                               (Bits(byte_view(x, 1), vlo=-128, vhi=127), 256 * eye)],
               np.zeros(T, dtype=np.int64))
    lw.vals[key] = v
    return v


def _as_intlin(lw: Lowerer, a: Node, user: Node) -> IntLin:
    e = _int_lazy(lw, a)
    return e if e is not None else id_value(lw, a, user)


def _const_vec(lw: Lowerer, a: Any, shape: tuple[int, ...], dim: int) -> np.ndarray | None:
    """An integer scalar or constant broadcast to ``shape`` that varies only along ``dim``, as the
    vector along ``dim`` (a per-column bias), or None."""
    c = _int_scalar(lw, a)
    if c is not None:
        return np.full(shape[dim], c, dtype=np.int64)
    if not (isinstance(a, Node) and lw.is_const(a)):
        return None
    t = torch.as_tensor(lw.const(a))
    if t.is_floating_point() and not bool(torch.all(t == t.round())):
        return None
    try:
        b = torch.broadcast_to(t.to(torch.int64), shape).movedim(dim, -1).reshape(-1, shape[dim])
    except RuntimeError:
        return None
    return b[0].numpy().astype(np.int64) if bool(torch.all(b == b[0:1])) else None


@lowers(*EQ_OPS, *sorted(ORDER_OPS, key=str), when=is_int_compare, prio=1)
def lower_int_compare(lw: Lowerer, n: Node) -> None:
    """Comparisons of integer values, NeuralMatrix style (a comparison is a step-shaped PWL), exact:

    * ``ids == v`` / ``ids != v`` (v a scalar): one GEMM on the two signed low bytes of each id word,
      ``acc = b0 + 256*b1 - f(v)`` (``f`` the same byte form of v: 0 exactly when id == v, ids in
      [0, 65536)), PWL hat / notch -> int8 0/1;
    * everything else (``lt/le/gt/ge``; an integer expression such as ``cumsum(mask)``; a constant
      tensor varying along the last dim; two runtime integer tensors): the difference of the exact
      values as an :class:`IntLin` (ids through :func:`id_value`), one GEMM whose PWL is the step
      (:meth:`IntLin.apply`).  The result is an int8 0/1 mask for ``compiler.lower.ops.mask``,
      :class:`IntLin` gates and ``compiler.lower.ops.select``."""
    kind = _cmp_kind(n)
    a, b = n.args[0], n.args[1] if len(n.args) > 1 else None
    if not _int_runtime(lw, a):
        a, b, kind = b, a, _SWAP[kind]
    shape = tuple(_meta(n).shape)
    v = _int_scalar(lw, b)
    r = lw.rng(a.name)
    if (kind in ("eq", "ne") and v is not None and _int_lazy(lw, a) is None
            and ((0 <= r.lo and r.hi < ID_LIMIT and 0 <= v < ID_LIMIT) or r.hi >= ORDER_LIMIT)):
        _bytes_equal(lw, n, a, v, kind)      # no sign GEMM; negative ids go the exact-value way
        return
    e = _as_intlin(lw, a, n)
    if tuple(e.shape) != shape:
        raise unsupported(n, "comparison of a broadcast integer tensor")
    vec = _const_vec(lw, b, shape, e.dim)
    if vec is not None:
        if e.gate is not None and not np.all(vec == vec[0]):
            raise unsupported(n, "comparison of a gated integer expression with a non-uniform constant")
        d = e.shifted(n, -int(vec[0])) if e.gate is not None else replace(e, node=n, bias=e.bias - vec)
    elif isinstance(b, Node) and _int_runtime(lw, b):
        f = _as_intlin(lw, b, n)
        if e.gate is not None or f.gate is not None or f.shape != e.shape or f.dim != e.dim:
            raise unsupported(n, "comparison of two integer tensors that are gated or laid out differently")
        d = replace(e, node=n, terms=[*e.terms, *((bb, -w) for bb, w in f.terms)], bias=e.bias - f.bias,
                    post=e.post - f.post)
    else:
        raise unsupported(n, "comparison of an integer tensor with a float or non-integer operand")
    op = _CMP[kind]
    lw.vals[n.name] = d.apply(lw, n, lambda t: op(t, 0).astype(np.int64), out_int8=True)


def _bytes_equal(lw: Lowerer, n: Node, a: Node, v: int, kind: str) -> None:
    """``ids == v`` / ``ids != v`` on the id's two signed low bytes (see :func:`lower_int_compare`)."""
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
    ppu = int_ppu(lw, f"{n.name}.cmp", shape[dim], np.full(shape[dim], -_signed16(v)), indicator_table(kind),
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
    """An operand is a lazy integer expression or runtime integer ids (not a 0/1 mask): ``ids + 1``,
    ``ids - other_ids`` and ``pos * 2`` are bookkeeping on :class:`IntLin` (ids through
    :func:`id_value`)."""
    return any(_int_lazy(lw, a) is not None or (isinstance(a, Node) and _int_runtime(lw, a)) for a in n.args)


def _lazy_or_ids(lw: Lowerer, a: Any, user: Node) -> IntLin | None:
    e = _int_lazy(lw, a)
    if e is None and isinstance(a, Node) and _int_runtime(lw, a):
        e = id_value(lw, a, user)
    return e


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
    """See :func:`_int_arith`; then the scalar ops the fusion plan chained after ``n`` (``e - f + 1``:
    ``sub`` is a GEMM anchor whose epilogue claims the ``+ 1``), which stay bookkeeping too."""
    _int_arith(lw, n)
    for u in lw.plan.chain.get(n.name, []):
        if u.target in IDENTITY_OPS:
            lower_int_identity(lw, u)
        else:
            _int_arith(lw, u)


def _int_arith(lw: Lowerer, n: Node) -> None:
    """``e + c``, ``e - c``, ``e * c`` (integer scalars), ``-e``, ``e * m`` with a 0/1 tensor m (the
    gate: exact by the PWL of :meth:`IntLin.materialise`) and ``masked_fill(e, m, c)`` (= ``(e - c)
    * (1 - m) + c``; ``where(m, c, e)`` / ``where(m, e, c)``) on a lazy integer expression:
    bookkeeping, no instruction."""
    t = n.target
    if t == aten.where.self:
        cond, x, y = n.args
        ex = _lazy_or_ids(lw, x, n)
        e = ex or _lazy_or_ids(lw, y, n)
        fill = _int_scalar(lw, y if ex is not None else x)
        m = bits_of(lw, cond, n)
        if e is None or fill is None or m is None or e.gate is not None:
            raise unsupported(n, "select of an integer expression other than with a 0/1 mask and a scalar")
        gate = m if ex is not None else m.negated()     # where e is kept
        _store(lw, n, replace(e.shifted(n, -fill), gate=gate, post=fill))
        return
    a0 = n.args[0]
    e = _lazy_or_ids(lw, a0, n)
    other = n.args[1] if len(n.args) > 1 else None
    if e is None:                                   # c + e, c * e, m * e
        e, other = _lazy_or_ids(lw, other, n), a0
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
    f = _lazy_or_ids(lw, other, n)
    if t in (aten.add.Tensor, aten.sub.Tensor) and f is not None:
        # the sum of two integer expressions (``ids_a - ids_b``, ``pos + offset_ids``)
        if e.gate is not None or f.gate is not None or f.shape != e.shape or f.dim != e.dim:
            raise unsupported(n, "sum of integer expressions that are gated or laid out differently")
        k = (-1 if t == aten.sub.Tensor else 1) * int(alpha)
        _store(lw, n, replace(e, node=n, terms=[*e.terms, *((b, k * w) for b, w in f.terms)],
                              bias=e.bias + k * f.bias, post=e.post + k * f.post))
        return
    if (t in (aten.add.Tensor, aten.sub.Tensor) and e.gate is None
            and (m := bits_of(lw, other, n)) is not None):
        # ``e + m`` with a 0/1 tensor m: one more 0/1 source term
        k = (-1 if t == aten.sub.Tensor else 1) * int(alpha)
        _store(lw, n, replace(e, node=n, terms=[*e.terms, (m, k * np.eye(e.shape[e.dim], dtype=np.int64))]))
        return
    if t == aten.masked_fill.Scalar and (m := bits_of(lw, other, n)) is not None:
        fill = _int_scalar(lw, n.args[2])
        if fill is None or e.gate is not None:
            raise unsupported(n, "masked_fill of an integer expression with a non-integer value or twice")
        ungated = e.shifted(n, -fill)
        _store(lw, n, replace(ungated, gate=m.negated(), post=fill))
        return
    raise unsupported(n, "arithmetic on an integer expression other than with integer scalars or a 0/1 mask")
