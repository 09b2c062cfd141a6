"""Comparisons of float activations, selects between activations, boolean ops on several runtime
masks and the cumulative sum of a float activation, all in the NeuralMatrix way (GEMMs + PWL):

* **comparison** ``x > t`` / ``x >= y`` / ... of int8 activations: one elementwise GEMM whose
  accumulator is ``q_x - t / s_x`` (a scalar threshold) or ``w_x q_x - w_y q_y`` (two activations in
  a common accumulator scale, as the residual add), and an exact step-shaped integer PWL
  (``intops.int_table``) giving an int8 0/1 mask.  The comparison is exact on the int8 grid: it
  decides on the quantised values, so it differs from float only for values within one
  quantisation step of the threshold.  ``eq`` / ``ne`` with a float are lowered for the threshold 0
  only (``x == 0`` after a ReLU); float equality elsewhere is not a quantised notion.
* **select** ``where(m, a, b)`` / ``masked_fill(x, m, v)`` with activation operands: mask
  arithmetic with exact ReLU tables, ``m * a = relu(q_a + 127 m - 127) - relu(-q_a + 127 m - 127)``
  (|q_a| <= 127, so the term vanishes exactly where m = 0) and ``(1 - m) * b`` alike, each part
  requantised to the select's output scale; one more GEMM sums the parts (and a constant operand
  as ``c * m``).  Up to five GEMMs, fewer for one-signed operands (calibrated range) or constants.
  A masked fill with -inf / a large negative value whose only users are softmaxes is the attention
  mask pattern and becomes the masked softmax of ``compiler.lower.ops.mask`` instead.
* **boolean combinations of two runtime masks** (a padding mask AND a mask computed from ids,
  ``logical_and/or/xor``, additive biases of two masks): one GEMM indexes an exact lookup table
  with ``t = s_0 + 2 s_1 (+ 4 p)`` (``s_j`` the 0/1 sources, ``p`` a constant pattern id where the
  constant operands vary by position, e.g. a causal mask), giving a new int8 0/1 mask
  (:func:`combine_runtime`, called by ``mask.mask_apply``).
* **float cumsum** along a dimension: one GEMM with the triangular ones matrix ``U[s, t] = [s <= t]``
  (int8 weights 1), requantised to the calibrated output scale with the fused epilogue.
* ``add`` / ``sub`` / ``mul`` / ``div`` of a runtime mask with constants (``kpm_bias + causal_bias``
  inside ``nn.MultiheadAttention``): evaluated on the mask's two constant values, no instruction.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.fx import Node

from compiler.frontend import unsupported
from compiler.lower.act import Act, col_dim
from compiler.lower.ops.intops import Bits, bits_of, int_gemm, int_ppu, int_table
from compiler.lower.ops.mask import (
    MASK_BIG,
    Guard,
    Mask,
    MaskedScores,
    Opaque,
    as_mask,
    is_binary,
    mask_apply,
    src_bytes,
)
from compiler.lower.post import Post, make_ppu, post_for
from compiler.lower.prims import const_act, eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten

CMP_OPS = [aten.eq.Scalar, aten.ne.Scalar, aten.lt.Scalar, aten.le.Scalar, aten.gt.Scalar, aten.ge.Scalar,
           aten.eq.Tensor, aten.ne.Tensor, aten.lt.Tensor, aten.le.Tensor, aten.gt.Tensor, aten.ge.Tensor]
_SWAP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_CMP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
        "ge": np.greater_equal}
K_SEL = 127
"""Penalty of the ReLU select: |q| <= 127, so ``relu(+-q - 127) = 0`` where the mask is 0."""


def _meta(n: Node) -> torch.Tensor:
    return n.meta["val"]


def _float_act(lw: Lowerer, a: Any) -> bool:
    return (isinstance(a, Node) and not lw.is_const(a) and isinstance(lw.raw(a), Act)
            and _meta(a).dtype.is_floating_point)


def _lazy_mask_operand(lw: Lowerer, n: Node) -> bool:
    return any(isinstance(lw.raw(a), (Guard, MaskedScores, Opaque)) for a in n.args if isinstance(a, Node))


def _scalar(lw: Lowerer, a: Any) -> float | None:
    """``a`` as a Python float: a number, or a one-element constant."""
    if isinstance(a, bool):
        return float(a)
    if isinstance(a, (int, float)):
        return float(a)
    if isinstance(a, Node) and lw.is_const(a):
        c = torch.as_tensor(lw.const(a))
        if c.numel() == 1:
            return float(c.reshape(-1)[0])
    return None


def _runtime_cond(lw: Lowerer, a: Any) -> bool:
    """A runtime 0/1 condition: a bool / 0-1 activation or a mask with a runtime source."""
    if not isinstance(a, Node) or lw.is_const(a):
        return False
    v = lw.raw(a)
    if isinstance(v, Mask):
        return v.src is not None
    if isinstance(v, Act) and not _meta(a).dtype.is_floating_point:
        return is_binary(lw, a)
    return False


def _col_of(shape: tuple[int, ...], acts: list[Act]) -> int:
    big = next((a for a in acts if tuple(a.shape) == shape), None)
    return col_dim(big) if big is not None else len(shape) - 1


# ------------------------------------------------------------------ comparisons of float activations
def is_float_compare(lw: Lowerer, n: Node) -> bool:
    """A comparison with a float int8 activation operand and a finite scalar or another activation."""
    if n.target not in CMP_OPS or len(n.args) < 2 or _lazy_mask_operand(lw, n):
        return False
    a, b = n.args[0], n.args[1]
    if _float_act(lw, a) and _float_act(lw, b):
        return True
    for x, y in ((a, b), (b, a)):
        t = _scalar(lw, y)
        if _float_act(lw, x) and t is not None and math.isfinite(t):
            return True
    return False


@lowers(*CMP_OPS, when=is_float_compare, prio=2)
def lower_float_compare(lw: Lowerer, n: Node) -> None:
    """``x <op> t`` / ``x <op> y`` on int8 activations: one elementwise GEMM and a step PWL (module
    doc) -> int8 0/1 mask, exact on the int8 grid."""
    if any(s is n for s in lw.plan.step_of.values()):
        # the producing GEMM's PPU computed this comparison on its 14-bit input (plan.step_of):
        # its output, seen through the views in between, is already the 0/1 mask
        lw.vals[n.name] = lw.val(n.args[0])
        return
    kind = str(n.target).split(".")[1]
    a, b = n.args[0], n.args[1]
    shape = tuple(_meta(n).shape)
    if not _float_act(lw, a):
        a, b, kind = b, a, _SWAP[kind]
    x = lw.val(a)
    if x.dtype != "int8":
        raise unsupported(n, "comparison of an int32 activation (only int8 activations)")
    if _float_act(lw, b):
        y = lw.val(b)
        if y.dtype != "int8":
            raise unsupported(n, "comparison of an int32 activation (only int8 activations)")
        s_acc = max(x.scale, y.scale) / 127
        wx, wy = round(x.scale / s_acc), round(y.scale / s_acc)
        srcs = [(x, wx), (y, -wy)]
        dom = 127 * (wx + wy)
        thr = 0.0
    else:
        t = _scalar(lw, b)
        assert t is not None
        if kind in ("eq", "ne") and t != 0.0:
            raise unsupported(n, "equality of a float activation with a nonzero value (only x == 0 / "
                              "x != 0: the int8 code of a float value is not exact)")
        srcs, dom, thr = [(x, 1)], 128, t / x.scale
    op = _CMP[kind]
    col = _col_of(shape, [s for s, _ in srcs])

    def step(acc: np.ndarray) -> np.ndarray:
        return op(acc.astype(np.float64), thr).astype(np.int64)
    N = shape[col]
    table = int_table(n, step, -dom, dom)
    ppu = int_ppu(lw, f"{n.name}.cmp", N, np.zeros(N, dtype=np.int64), table, out_int32=False)
    out = eltwise(lw, n.name, srcs, shape, Post(), 1.0, 1.0, col=col, role=lw.role_of(n), ppu=ppu)
    lw.vals[n.name] = out


# ------------------------------------------------------------------ the condition as 0/1 bits
def cond_bits(lw: Lowerer, a: Node, user: Node, shape: tuple[int, ...]) -> Bits:
    """Runtime condition ``a`` as ``c + k * src`` with ``src`` an int8 0/1 tensor broadcastable to
    ``shape``: a 0/1 activation or a uniform mask directly, any other mask (values varying by position)
    through one lookup GEMM (:func:`bool_lookup`)."""
    b = bits_of(lw, a, user)
    if b is not None:
        return b
    m = as_mask(lw, a, user)
    if not isinstance(m, Mask) or m.src is None:
        raise unsupported(user, "select condition that is not a runtime 0/1 mask")
    sh = tuple(torch.broadcast_shapes(tuple(m.v0.shape), shape))
    v0, v1 = (torch.broadcast_to(t, sh).to(torch.bool).numpy() for t in (m.v0, m.v1))
    return Bits(bool_lookup(lw, user, [m], [v0, v1], sh, f"{user.name}.cond"))


def bool_lookup(lw: Lowerer, n: Node, masks: list[Mask], combos: list[np.ndarray], shape: tuple[int, ...],
                name: str) -> Act:
    """int8 0/1 tensor ``out[i] = combos[j][i]`` where ``j = sum_k 2^k src_k[i]`` (the runtime bits of
    ``masks``): one GEMM, ``t = sum_k 2^k s_k + 2^K p[i]`` with ``p`` the id of position i's pattern
    (the tuple of its combo values; a constant int8 addend when it varies), and an exact integer
    table ``t -> combos[t mod 2^K][pattern t div 2^K]``."""
    K = len(masks)
    nd = len(shape)
    dim = nd - 1
    T = shape[dim]
    stack = np.stack([np.broadcast_to(c, shape) for c in combos]).reshape(len(combos), -1).astype(np.int64)
    pats, pid = np.unique(stack.T, axis=0, return_inverse=True)
    pid = pid.reshape(shape)
    eye = np.eye(T, dtype=np.int64)
    terms: list[tuple[Act, np.ndarray]] = [(src_bytes(lw, n, m, shape), (1 << k) * eye)
                                           for k, m in enumerate(masks)]
    bias = np.zeros(T, dtype=np.int64)
    if len(pats) > 1:
        addend = ((1 << K) * pid).astype(np.int8)
        reg = lw.mem.const(np.ascontiguousarray(addend), f"{name}.pat")
        strides = tuple(int(s) for s in np.array(addend.strides))
        terms.append((Act(f"{name}.pat", reg.addr, shape, strides, 1.0, reg.rid), eye))
    table_v = pats.astype(np.int64)                 # (patterns, 2^K)

    def h(t: np.ndarray) -> np.ndarray:
        p = np.clip(t >> K, 0, len(pats) - 1)
        return table_v[p, t & ((1 << K) - 1)]
    table = int_table(n, h, 0, (1 << K) * len(pats) - 1)
    out = lw.alloc(name, shape, 1.0, col_dim=dim, role="scratch", check=False)
    ppu = int_ppu(lw, name, T, bias, table, out_int32=False)
    int_gemm(lw, name, shape, dim, terms, ppu, out)
    return out


def combine_runtime(lw: Lowerer, n: Node, ops: list[Any], rt: list[Mask]) -> Mask:
    """``n`` applied to masks with two different runtime sources (and constants): evaluated on every
    combination of the sources' bits; a boolean result, or an additive bias whose values are 0 or
    <= -MASK_BIG, is materialised by :func:`bool_lookup` into a new 0/1 source."""
    groups: list[Mask] = []
    for m in rt:
        if not any(g.src is m.src and g.idx is not None and m.idx is not None and g.idx.shape == m.idx.shape
                   and torch.equal(g.idx, m.idx) for g in groups):
            groups.append(m)
    if len(groups) > 2:
        raise unsupported(n, "combination of more than two different runtime masks")

    def group_of(m: Mask) -> int:
        return next(k for k, g in enumerate(groups) if g.src is m.src and g.idx is not None
                    and m.idx is not None and g.idx.shape == m.idx.shape and torch.equal(g.idx, m.idx))

    def pick(a: Any, j: int) -> Any:
        if isinstance(a, Mask):
            if a.src is None:
                return a.v0
            return a.v1 if (j >> group_of(a)) & 1 else a.v0
        if isinstance(a, (list, tuple)):
            return type(a)(pick(x, j) for x in a)
        return a
    with torch.no_grad():
        vals = [n.target(*pick(ops, j), **n.kwargs) for j in range(1 << len(groups))]
    shape = tuple(vals[0].shape)
    if vals[0].dtype.is_floating_point:
        masked = [(v <= -MASK_BIG).numpy() for v in vals]
        if any(bool(torch.any((v > -MASK_BIG) & (v != 0))) for v in vals):
            raise unsupported(n, "combination of two runtime masks with values other than 0 and "
                              f"<= -{MASK_BIG:g} (an additive attention bias)")
        low = min(float(v.min()) for v in vals)
        src = bool_lookup(lw, n, groups, masked, shape, f"{n.name}.mask")
        return Mask(n, src, torch.arange(int(np.prod(shape))).reshape(shape),
                    torch.zeros(shape, dtype=vals[0].dtype), torch.full(shape, low, dtype=vals[0].dtype))
    bools = [v.to(torch.int64).numpy() for v in vals]
    if any(np.any((b != 0) & (b != 1)) for b in bools):
        raise unsupported(n, "combination of two runtime masks with values other than 0 and 1")
    src = bool_lookup(lw, n, groups, bools, shape, f"{n.name}.mask")
    dt = vals[0].dtype
    return Mask(n, src, torch.arange(int(np.prod(shape))).reshape(shape), torch.zeros(shape, dtype=dt),
                torch.ones(shape, dtype=dt))


# ------------------------------------------------------------------ arithmetic on masks
MASK_ARITH = [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.add.Scalar,
              aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.rsub.Scalar, aten.neg.default]


def is_mask_arith(lw: Lowerer, n: Node) -> bool:
    """Arithmetic whose operands are runtime masks and constants only (no activation)."""
    nodes = [a for a in n.args if isinstance(a, Node)]
    raws = [lw.raw(a) for a in nodes]
    if not any(isinstance(v, Mask) and v.src is not None for v in raws):
        return False
    return all(lw.is_const(a) or isinstance(v, Mask) for a, v in zip(nodes, raws, strict=True))


@lowers(*MASK_ARITH, when=is_mask_arith, prio=2)
def lower_mask_arith(lw: Lowerer, n: Node) -> None:
    """On the mask's two constant values (``mask.mask_apply``): no instruction."""
    lw.vals[n.name] = mask_apply(lw, n, structural=False)


# ------------------------------------------------------------------ where / masked_fill
SELECT_OPS = [aten.where.self, aten.masked_fill.Scalar, aten.masked_fill.Tensor]


def _select_parts(n: Node) -> tuple[Any, Any, Any]:
    """(condition, value where true, value where false)."""
    if n.target == aten.where.self:
        return n.args[0], n.args[1], n.args[2]
    return n.args[1], n.args[2], n.args[0]


def is_float_select(lw: Lowerer, n: Node) -> bool:
    """A select with a runtime condition and at least one float activation operand."""
    if n.target not in SELECT_OPS or _lazy_mask_operand(lw, n):
        return False
    cond, a, b = _select_parts(n)
    return _runtime_cond(lw, cond) and (_float_act(lw, a) or _float_act(lw, b))


def _softmax_only(lw: Lowerer, n: Node) -> bool:
    return bool(lw.users[n.name]) and all(
        u.target in (aten._softmax.default, aten.eq.Scalar) and u.args[0] is n for u in lw.users[n.name])


@lowers(*SELECT_OPS, when=is_float_select, prio=2)
def lower_float_select(lw: Lowerer, n: Node) -> None:
    """``where(m, a, b)`` / ``masked_fill(x, m, v)`` with activation operands (module doc): ReLU
    mask arithmetic, exact on the output's int8 grid; a -inf fill feeding softmaxes is a masked
    softmax."""
    cond, a, b = _select_parts(n)
    shape = tuple(_meta(n).shape)
    for val, keep_when in ((a, True), (b, False)):
        t = _scalar(lw, val)
        other = b if keep_when else a
        if t is not None and t <= -MASK_BIG and _float_act(lw, other) and _softmax_only(lw, n):
            m = as_mask(lw, cond, n)
            assert isinstance(m, Mask)
            mv0, mv1 = (v.to(torch.bool) if keep_when else ~v.to(torch.bool) for v in (m.v0, m.v1))
            bias = Mask(n, m.src, m.idx, torch.where(mv0, t, 0.0), torch.where(mv1, t, 0.0))
            x = lw.val(other)
            lw.vals[n.name] = MaskedScores(n, x, other, bias, not math.isfinite(t))
            return
    bits = cond_bits(lw, cond, n, shape)
    lw.plan.chain[n.name] = lw.plan.epilogue(n)        # a unary epilogue rides on the summing GEMM
    post, end = post_for(lw, n, n.name)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    s_p = lw.scale_of(n.name)                          # the parts: the select's own int8 grid
    acts = [lw.val(v) for v in (a, b) if _float_act(lw, v)]
    col = _col_of(shape, acts)
    src = bits.src
    parts: list[tuple[Act, int]] = []
    consts: list[tuple[float, int, int]] = []          # (value, c, k): value * (c + k * src)
    for val, (c, k) in ((a, (bits.c, bits.k)), (b, (1 - bits.c, -bits.k))):
        if isinstance(val, Node) and not lw.is_const(val) and not _float_act(lw, val):
            raise unsupported(n, "select of a non-float runtime operand")
        t = _scalar(lw, val)
        if t is not None:
            if not math.isfinite(t):
                raise unsupported(n, "select of an infinite value outside an attention mask")
            if t:
                consts.append((t, c, k))
            continue
        x = lw.val(val) if _float_act(lw, val) else const_act(lw, lw.const(val), f"{n.name}.c{len(parts)}")
        if x.dtype != "int8":
            raise unsupported(n, "select of an int32 activation")
        r = lw.rng(val.name) if _float_act(lw, val) else None
        for sign, needed in ((1, r is None or r.hi > 0), (-1, r is None or r.lo < 0)):
            if not needed:
                continue
            # relu(sign*q + 127*keep - 127), keep = c + k*src: 0 exactly where keep = 0
            p = eltwise(lw, f"{n.name}.sel{len(parts)}", [(x, sign), (src, K_SEL * k)], shape, Post("relu"),
                        s_p, x.scale, bias=np.full(shape[col], (K_SEL * c - K_SEL) * x.scale), col=col,
                        role="scratch", check=False)
            parts.append((p, sign))
    w = 1
    if consts:
        cmax = max(abs(t) for t, _, _ in consts)
        w = max(1, min(127, int(127 * s_p / cmax)))
    s_acc = s_p / w
    srcs = [(p, sign * w) for p, sign in parts]
    bias = np.zeros(shape[col])
    for t, c, k in consts:      # saturates like any int8 value if t lies outside the output range
        srcs.append((src, int(np.clip(round(t * k / s_acc), -127, 127))))
        bias += t * c
    if not srcs:
        srcs = [(src, 0)]
    out = eltwise(lw, end.name, srcs, shape, post, s_out, s_acc, bias=bias if consts else None, col=col,
                  out_dtype=dt, border=lw.plan.border.get(end.name, 0), role=lw.role_of(end))
    for u in (n, *lw.plan.chain[n.name]):
        lw.vals[u.name] = out


# ------------------------------------------------------------------ float cumsum
def is_float_cumsum(lw: Lowerer, n: Node) -> bool:
    return _float_act(lw, n.args[0])


@lowers(aten.cumsum.default, when=is_float_cumsum, prio=1)
def lower_float_cumsum(lw: Lowerer, n: Node) -> None:
    """``cumsum(x, dim)`` of a float activation: one GEMM with the triangular ones matrix along
    ``dim`` (int8 weights 1, exact int32 sums of the codes), requantised to the output scale with the
    fused epilogue."""
    x = lw.val(n.args[0])
    if x.dtype != "int8":
        raise unsupported(n, "cumsum of an int32 activation")
    shape = tuple(_meta(n).shape)
    dim = int(n.args[1]) % len(shape)
    T = shape[dim]
    lw.plan.chain[n.name] = lw.plan.epilogue(n)
    post, end = post_for(lw, n, n.name)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    ppu = make_ppu(lw, n.name, T, np.full(T, x.scale), None, post, s_out, out_int32=dt == "int32")
    out = lw.alloc(end.name, shape, s_out, col_dim=dim, dtype=dt, role=lw.role_of(end),
                   border=lw.plan.border.get(end.name, 0))
    tri = np.triu(np.ones((T, T), dtype=np.int64))      # tri[s, t] = 1 for s <= t
    int_gemm(lw, n.name, shape, dim, [(x, tri)], ppu, out)
    rows = int(np.prod(shape)) // T
    lw.useful(rows, T, T, a_bytes=rows * T, w_bytes=T * T, o_bytes=rows * T * (4 if dt == "int32" else 1),
              macs=rows * T * (T + 1) // 2)
    for u in (n, *lw.plan.chain[n.name]):
        lw.vals[u.name] = out
