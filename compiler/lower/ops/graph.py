"""GNN message passing: gathers and scatters with constant indices, held lazily as ``L @ x``.

PyG aggregations decompose into index_select (gather rows), per-edge scaling, scatter_add /
index_add (sum into destinations) and per-node normalisation.  With the graph structure constant,
each step is a constant matrix applied to the rows of one activation, so the whole chain composes
into a single sparse ``L`` and costs one GEMM (L as the INP operand, zero tiles skipped) when a
consumer needs the value, instead of one data-dependent gather per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.fx import Node

from compiler.codegen import ASrc, GemmOp, KBlk, Out, Run, WTile
from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.core import Lazy
from compiler.lower.ops.eltwise import lower_add
from compiler.lower.post import Post, make_ppu, post_for
from compiler.lower.registry import lowers
from compiler.quantize import act_scale, quant

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


@dataclass
class LRows(Lazy):
    """A lazily-held ``L @ x``: constant (R x n) matrix L times the rows of activation x (n x F).
    Produced by gathers/scatters with constant indices (GNN message passing) and materialised as
    one GEMM with a constant left operand when a non-linear consumer needs it."""

    L: sp.csr_matrix
    x: Act
    node: str

    def materialise(self, lw: Lowerer) -> Act:
        # emitted inside the consumer's layer (layers are disjoint instruction ranges)
        shape = (self.L.shape[0], self.x.shape[1])
        ref = lw.ref.get(self.node)
        nd_shape = tuple(ref.shape) if isinstance(ref, torch.Tensor) and ref.dim() > 2 else shape
        out = lw.alloc(self.node, nd_shape, lw.scale_of(self.node))
        gemm_const_left(lw, self.node, self.L, self.x, None, Post(), rows_2d(out))
        return out


def has_lazy_operand(lw: Lowerer, n: Node) -> bool:
    """An operand is an unmaterialised aggregation: the op composes into its ``L`` (or its bias)."""
    return any(isinstance(lw.raw(a), LRows) for a in n.args if isinstance(a, Node))


def rows_2d(v: Act) -> Act | None:
    """An N-D activation as (rows = dim 0, columns = the other dims flattened), or None if its
    trailing dims are not one contiguous run."""
    if len(v.shape) == 2:
        return v
    inner = int(np.prod(v.shape[1:]))
    st = 1
    for d in range(len(v.shape) - 1, 0, -1):
        if v.shape[d] != 1 and v.strides[d] != st:
            return None
        st *= v.shape[d]
    return Act(v.name, v.addr, (v.shape[0], inner), (v.strides[0], 1), v.scale, v.region, v.dtype)


def _as_lrows(v: Any, name: str) -> LRows:
    """An activation as the trivial aggregation ``I @ x`` (the start of a gather chain); N-D
    activations aggregate along dim 0 with the other dims flattened into columns."""
    if isinstance(v, LRows):
        return v
    v2 = rows_2d(v) if isinstance(v, Act) and len(v.shape) >= 2 else None
    assert v2 is not None, name
    return LRows(sp.identity(v2.shape[0], format="csr"), v2, name)


def _row_factor(c: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray | None:
    """A constant that only varies along the rows of a 2-D result -> the per-row factors."""
    cb = torch.broadcast_to(c.to(torch.float64), shape)
    if len(shape) != 2 or not torch.all(cb == cb[:, :1]):
        return None
    return cb[:, 0].numpy()


def gemm_const_left(lw: Lowerer, name: str, L: sp.spmatrix, x: Act, bias: np.ndarray | None, post: Post,
                    out: Act, extra: tuple[tuple[Act, float], ...] = ()) -> None:
    """out = PPU(L @ x + sum_i c_i e_i) with L a constant (sparse) matrix quantised per tensor to
    int8 and stored dense; (M-tile, K-block) tiles of L that are all zero are skipped.  ``extra``:
    (e_i, c_i), activations shaped like ``out`` (rows = rows of L) added in the same accumulator
    with diagonal weights round(c_i s_e / (s_L s_x)) (:func:`_extra_terms`)."""
    R, C = lw.hw.rows, lw.hw.cols
    M, K = L.shape
    N = x.shape[1]
    coo = sp.coo_matrix(L)
    coo.sum_duplicates()
    sa = act_scale(float(np.abs(coo.data).max()) if coo.nnz else 1.0)
    qv = quant(coo.data, sa).astype(np.int8)
    nnz = int(np.count_nonzero(qv))
    # useful work and compulsory traffic of the sparse product: one int8 value + one int32 index
    # per edge, x and the output once (the edge-based bound, docs/performance.md)
    lw.useful(M, K, N, macs=nnz * N, a_bytes=5 * nnz, w_bytes=K * N * x.item, o_bytes=M * N * out.item,
              sparse=True)
    if M >= 2 * GATHER_ROWS and nnz < GATHER_DENSITY * M * K:
        keep = qv != 0
        csr = sp.csr_matrix((qv[keep], (coo.row[keep], coo.col[keep])), shape=(M, K))
        _gather_aggregate(lw, name, csr, x, sa, bias, post, out, extra)
        return
    aq = np.zeros((M, K), dtype=np.int8)
    aq[coo.row, coo.col] = qv
    reg = lw.mem.const(aq, f"{name}.adj")
    nkb = -(-K // R)
    nzb = np.zeros((M, nkb), dtype=bool)
    keep = qv != 0
    nzb[coo.row[keep], coo.col[keep] // R] = True
    cums = np.vstack([np.zeros((1, nkb), dtype=np.int64), np.cumsum(nzb, axis=0)])

    def a_zero(m0: int, m1: int, kb: int) -> bool:
        return bool(cums[m1, kb] - cums[m0, kb] == 0)
    sk, sn = x.bstride(0), x.bstride(1)

    def wtile(kb: int, nb: int) -> WTile:
        k0, n0 = kb * R, nb * C
        return WTile(x.addr + k0 * sk + n0 * sn, min(R, K - k0), min(C, N - n0), sn, sk, x.region)
    kbl = [KBlk(0, k0, min(R, K - k0), 1) for k0 in range(0, K, R)]
    xreg = _extra_tiles(lw, name, extra, sa * x.scale)
    xsrc, xkbl, xtile = _extra_terms(lw, extra, xreg, N, 0, M, 1, nkb)

    def wtile_all(kb: int, nb: int) -> WTile | None:
        return wtile(kb, nb) if kb < nkb else xtile(kb, nb)

    def a_zero_all(m0: int, m1: int, kb: int) -> bool:
        return kb < nkb and a_zero(m0, m1, kb)
    ppu = make_ppu(lw, name, N, np.full(N, sa * x.scale), bias, post, out.scale,
                   out_int32=out.dtype == "int32")
    op = GemmOp(name, M, N, [ASrc([Run(0, M, reg.addr, K)], reg.rid), *xsrc], kbl + xkbl, wtile_all, ppu,
                [Out(lw.out_runs(out, [0]), out.bstride(1), out.region)], a_zero=a_zero_all)
    lw.run(op)
    if lw._cur_layer is not None:
        lw._cur_layer.meta.update(tiles_total=op.stats["tiles_total"],
                                  tiles_skipped=op.stats["tiles_skipped"],
                                  adjacency_density=float(np.count_nonzero(qv)) / max(1, aq.size))


def _extra_tiles(lw: Lowerer, name: str, extra: tuple[tuple[Act, float], ...], acc_scale: float) -> Any:
    """The diagonal weight tiles of the ``extra`` terms of :func:`gemm_const_left` (one per term):
    weight round(c_i s_e / acc_scale), exact when that ratio is an integer; must fit int8."""
    R, C = lw.hw.rows, lw.hw.cols
    if not extra:
        return None
    if R != C:
        raise NotImplementedError("diagonal extra terms assume ROWS == COLS")
    ws = []
    for e, c in extra:
        w = round(c * e.scale / acc_scale)
        if not -128 <= w <= 127 or w == 0:
            raise ValueError(f"{name}: extra term weight {c * e.scale / acc_scale} does not fit int8")
        ws.append(w)
    return lw.mem.const(np.stack([np.eye(R, C, dtype=np.int64) * w for w in ws]).astype(np.int8),
                        f"{name}.xeye")


def _extra_terms(lw: Lowerer, extra: tuple[tuple[Act, float], ...], reg: Any, N: int, m0: int, tb: int,
                 src0: int, kb0: int) -> tuple[list[ASrc], list[KBlk], Callable[[int, int], WTile | None]]:
    """A-sources (rows m0 .. m0+tb of each (M, N) term), K-blocks (numbered from ``kb0``, sources
    from ``src0``) and weight tiles (``reg`` from :func:`_extra_tiles`) adding the extra terms."""
    R, C = lw.hw.rows, lw.hw.cols
    srcs, kbl, owner = [], [], []
    for i, (e, _c) in enumerate(extra):
        assert len(e.shape) == 2 and e.shape[1] == N, (e.name, e.shape, N)
        srcs.append(ASrc([Run(0, tb, e.addr + m0 * e.bstride(0), e.bstride(0))], e.region))
        for cb in range(-(-N // R)):
            kbl.append(KBlk(src0 + i, cb * R * e.bstride(1), min(R, N - cb * R), e.bstride(1)))
            owner.append((i, cb))

    def tile(kb: int, nb: int) -> WTile | None:
        i, cb = owner[kb - kb0]
        return WTile(reg.addr + i * R * C, R, C, 1, C, reg.rid) if cb == nb else None
    return srcs, kbl, tile


GATHER_ROWS = 16
"""Destination nodes per block of a gather-based aggregation (one GEMM row block)."""
GATHER_DENSITY = 0.02
"""Aggregation matrices sparser than this run gather-based (work ~ edges) instead of dense."""


def _gather_aggregate(lw: Lowerer, name: str, csr: sp.csr_matrix, x: Act, sa: float,
                      bias: np.ndarray | None, post: Post, out: Act,
                      extra: tuple[tuple[Act, float], ...] = ()) -> None:
    """out = PPU(L @ x) with work and traffic proportional to the edges, not to N^2.

    The graph is constant, so a gather needs no indexed load: for each block of GATHER_ROWS
    destination nodes the compiler takes the sorted set U of their neighbours, stores the block's
    int8 weights against U only (K = |U|, K-block-major, zero-padded to ROWS) and gathers the x
    rows of U into WGT with one LOAD per run of consecutive neighbour ids.  Each block is a GemmOp
    of GATHER_ROWS rows and ceil(|U| / ROWS) K-blocks; all blocks share one PPU record."""
    R, C = lw.hw.rows, lw.hw.cols
    M, _K = csr.shape
    N = x.shape[1]
    sk, sn = x.bstride(0), x.bstride(1)
    ppu = make_ppu(lw, name, N, np.full(N, sa * x.scale), bias, post, out.scale,
                   out_int32=out.dtype == "int32")
    xreg = _extra_tiles(lw, name, extra, sa * x.scale)
    blocks = 0
    kblocks = 0
    for b0 in range(0, M, GATHER_ROWS):
        rows = csr[b0:b0 + GATHER_ROWS]
        tb = rows.shape[0]
        U = np.unique(rows.indices) if rows.nnz else np.zeros(1, dtype=np.int64)
        nkb = -(-len(U) // R)
        pos = np.searchsorted(U, rows.indices)
        owner = np.repeat(np.arange(tb), np.diff(rows.indptr))
        A = np.zeros((nkb, tb, R), dtype=np.int8)
        A[pos // R, owner, pos % R] = rows.data
        reg = lw.mem.const(A, f"{name}.adj{b0}")
        # runs of consecutive neighbour ids per K-block: (first tile row, first id, rows)
        runs_of_kb: list[list[tuple[int, int, int]]] = []
        for kb in range(nkb):
            ids = U[kb * R:(kb + 1) * R]
            cut = np.flatnonzero(np.diff(ids) != 1) + 1
            starts = np.concatenate([[0], cut])
            ends = np.concatenate([cut, [len(ids)]])
            runs_of_kb.append([(int(a), int(ids[a]), int(e - a)) for a, e in zip(starts, ends, strict=True)])

        def wtile(kb: int, nb: int, runs_of_kb: list = runs_of_kb) -> WTile:
            n0 = nb * C
            runs = [(r0, x.addr + i0 * sk + n0 * sn, n) for r0, i0, n in runs_of_kb[kb]]
            return WTile(runs[0][1], sum(n for _, _, n in runs), min(C, N - n0), sn, sk, x.region, runs)

        kbl = [KBlk(0, kb * tb * R, R, 1) for kb in range(nkb)]
        xsrc, xkbl, xtile = _extra_terms(lw, extra, xreg, N, b0, tb, 1, nkb)

        def wtile_all(kb: int, nb: int, wtile: Callable = wtile, xtile: Callable = xtile,
                      nkb: int = nkb) -> WTile | None:
            return wtile(kb, nb) if kb < nkb else xtile(kb, nb)
        outs = [Out([Run(0, tb, out.addr + b0 * out.bstride(0), out.bstride(0))], out.bstride(1),
                    out.region)]
        lw.run(GemmOp(f"{name}.g{b0}", tb, N, [ASrc([Run(0, tb, reg.addr, R)], reg.rid), *xsrc],
                      kbl + xkbl, wtile_all, ppu, outs))
        blocks += 1
        kblocks += nkb
    if lw._cur_layer is not None:
        lw._cur_layer.meta.update(gather_blocks=blocks, gather_kblocks=kblocks,
                                  adjacency_density=float(csr.nnz) / max(1, csr.shape[0] * csr.shape[1]))


@lowers(aten.index_select.default)
def lower_index_select(lw: Lowerer, n: Node) -> None:
    """Row gather: ``x[idx]`` is ``P @ x`` for a 0/1 selection matrix P."""
    x, dim, idx = n.args
    if not lw.is_const(idx) or lw.is_const(x):
        raise unsupported(n, "index_select needs constant indices")
    v = lw.raw(x)
    if dim % len(lw.shape_of(n)) != 0 or (isinstance(v, Act) and (len(v.shape) < 2 or rows_2d(v) is None)):
        raise unsupported(n, "index_select only along dim 0 of a tensor with contiguous rows")
    lr = _as_lrows(v, x.name)
    ix = lw.const(idx).long().numpy()
    lw.vals[n.name] = LRows(sp.csr_matrix(lr.L[ix]), lr.x, n.name)


@lowers(aten.scatter_add.default, aten.index_add.default)
def lower_scatter_add(lw: Lowerer, n: Node) -> None:
    """Sum of rows into destinations of a zero tensor: ``S @ L`` for a 0/1 scatter matrix S."""
    if n.target == aten.scatter_add.default:
        base, dim, index, src = n.args
        ix = lw.const(index).long().numpy()
        if ix.ndim >= 2:
            ix = ix.reshape(len(ix), -1)
            if not np.all(ix == ix[:, :1]):
                raise unsupported(n, "scatter_add with per-column indices")
            ix = ix[:, 0]
    else:
        base, dim, index, src = n.args[:4]
        ix = lw.const(index).long().numpy()
    if not lw.is_const(base) or not lw.is_const(index) or dim % lw.const(base).dim() != 0:
        raise unsupported(n, "scatter/index add needs constant indices along dim 0")
    b = lw.const(base)
    if torch.any(b != 0):
        raise unsupported(n, "scatter/index add into a non-zero tensor")
    lr = _as_lrows(lw.raw(src), src.name)
    S = sp.csr_matrix((np.ones(len(ix)), (ix, np.arange(len(ix)))), shape=(b.shape[0], lr.L.shape[0]))
    lw.vals[n.name] = LRows(sp.csr_matrix(S @ lr.L), lr.x, n.name)


def lazy_times_const(lw: Lowerer, n: Node) -> bool:
    """An aggregation times / over a constant (a product with a runtime tensor is ops/product.py,
    which materialises the aggregation)."""
    return has_lazy_operand(lw, n) and any(not isinstance(a, Node) or lw.is_const(a) for a in n.args[:2])


@lowers(aten.mul.Tensor, aten.div.Tensor, when=lazy_times_const, prio=1)
def lower_lrows_scale(lw: Lowerer, n: Node) -> None:
    """Per-row (per-edge / per-node) constant factor: ``diag(f) @ L``."""
    a, b = n.args[0], n.args[1]
    lrn, cn = (a, b) if isinstance(lw.raw(a), LRows) else (b, a)
    if not lw.is_const(cn):
        raise unsupported(n, "product of two activations")
    lr = lw.raw(lrn)
    shape = lw.shape_of(n)
    f = _row_factor(lw.const(cn), shape) if isinstance(cn, Node) else np.full(shape[0], float(cn))
    if f is None:
        raise unsupported(n, "per-column scaling of an aggregation")
    if n.target == aten.div.Tensor:
        if cn is a:
            raise unsupported(n, "division by an activation")
        f = 1.0 / f
    lw.vals[n.name] = LRows(sp.csr_matrix(sp.diags(f) @ lr.L), lr.x, n.name)


@lowers(aten.add.Tensor, aten.sub.Tensor, when=has_lazy_operand, prio=1)
def lower_lrows_add(lw: Lowerer, n: Node) -> None:
    """Sum of two aggregations of one x composes; a row-constant bias makes it the GEMM's bias
    (the aggregation is materialised here, with the epilogue fused); anything else is a plain add."""
    a, b = n.args[0], n.args[1]
    sign = -1.0 if n.target == aten.sub.Tensor else 1.0
    va, vb = lw.raw(a), lw.raw(b)
    if isinstance(va, LRows) and isinstance(vb, LRows) and va.x is vb.x:
        lw.vals[n.name] = LRows(sp.csr_matrix(va.L + sign * vb.L), va.x, n.name)
        return
    lrn, other = (a, b) if isinstance(va, LRows) else (b, a)
    lr = lw.raw(lrn)
    if lw.is_const(other):
        shape = lw.shape_of(n)
        c = torch.broadcast_to(torch.as_tensor(lw.const(other), dtype=torch.float64), shape)
        if not torch.all(c == c[:1]):
            raise unsupported(n, "constant varying along rows added to an aggregation")
        bias = (sign if other is b else 1.0) * c[0].reshape(-1).numpy()
        L = lr.L if lrn is a or sign > 0 else -lr.L
        post, end = post_for(lw, n, n.name)
        s_out, dt = lw.out_spec(end, shape)
        if post.kind == "relu" and dt == "int8":
            s_out = lw.scale_of(end.name)
        out = lw.alloc(end.name, shape, s_out, dtype=dt, role=lw.role_of(end))
        gemm_const_left(lw, n.name, L, lr.x, bias, post, rows_2d(out))
        lw.vals[end.name] = out
        lw.vals[n.name] = out
        return
    # activation + aggregation: materialise and add
    lw.val(lrn)
    lower_add(lw, n)
