"""Max aggregation over a fixed graph: ``scatter_reduce(..., reduce="amax")`` with constant indices.

PyG's ``SAGEConv(aggr="max")`` and the segment softmax of ``GATConv`` reduce the rows of one
activation per destination node with ``amax``.  The array has no comparator; with the exact ReLU
table (same scale in and out) ``max(a, b) = b + relu(a - b)`` is exact on the int8 grid, so the
segment max is a pairwise tree of such steps over *neighbour slots*:

* slot k of destination i is its k-th neighbour row; a node with fewer than D (max in-degree)
  neighbours repeats its neighbours (``max`` is idempotent, so no -inf padding is needed), a node
  without neighbours selects nothing in every slot: all its slots are 0, which is what PyG returns
  for an empty neighbourhood (``include_self=False`` into a zero tensor);
* the graph is constant, so slot k is ``S_k @ x`` for a constant 0/1 selection matrix S_k.  A tree
  step over two slots never materialises them: ``d = relu((S_a - S_b) @ x)`` is one constant-left
  GEMM (graph.gemm_const_left: dense with zero tiles skipped, or gather-based when sparse), and
  ``m = S_b @ x + d`` another one, ``d`` entering the accumulator as an ``extra`` term with a
  diagonal weight.  Later levels combine node-aligned activations with diagonal-weight GEMMs
  (prims.eltwise).  D slots cost 2 (D - 1) GEMMs of N x F (N destinations), instead of D gathers
  plus 2 (D - 1) steps.

Why a selection GEMM and not the GATHER instruction: the indices are compile-time constants, so
the selection folds into the difference (``S_a - S_b``: gather and subtract in one pass, which a
GATHER into INP followed by a diagonal GEMM would need two sources for), the weights of a
16-destination block cost 1 byte per (row, neighbour) instead of a 4-byte index per row, and the
existing sparse path (graph._gather_aggregate) already fetches only the neighbour rows.

Range: codes a, b lie in [-127, 127], so ``a - b`` reaches 254 and the int8 ``relu(a - b)`` would
saturate at 127 for a signed input.  Then ``relu(u) = sat127(relu(u)) + relu(u - 127)`` (two
GEMMs; the second has bias -127 codes) keeps the step exact; a non-negative input (calibrated
lo >= 0, e.g. after a ReLU) needs only the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
from torch.fx import Node

from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.ops.graph import LRows, gemm_const_left
from compiler.lower.post import Post
from compiler.lower.prims import eltwise
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def is_segment_max(lw: Lowerer, n: Node) -> bool:
    """``scatter_reduce(const base, 0, const index, src, "amax")``: a max over fixed segments."""
    if len(n.args) < 5 or n.args[4] != "amax":
        return False
    base, dim, index = n.args[0], n.args[1], n.args[2]
    return lw.is_const(base) and lw.is_const(index) and isinstance(dim, int) and dim % 2 == 0


@dataclass
class Term:
    """One operand of a max step: ``S @ table`` (lazy selection, ``act is None``) or a node-aligned
    activation ``act`` (N, F) at the table's scale."""

    S: sp.csr_matrix | None = None
    act: Act | None = None


def segments(dst: np.ndarray, rows: np.ndarray, n_out: int) -> list[np.ndarray]:
    """Per destination node the table rows it reduces over (in edge order)."""
    order = np.argsort(dst, kind="stable")
    cuts = np.searchsorted(dst[order], np.arange(n_out + 1))
    return [rows[order[cuts[i]:cuts[i + 1]]] for i in range(n_out)]


def slot_matrices(segs: list[np.ndarray], n_table: int, extra_zero: bool = False) -> list[sp.csr_matrix]:
    """0/1 selection matrices S_k (n_out x n_table): row i selects neighbour k of node i, repeating
    its neighbours cyclically up to the max degree; empty rows select nothing (value 0).
    ``extra_zero`` adds an all-zero slot (``include_self`` with a zero base: max(0, ...))."""
    n_out = len(segs)
    D = max((len(s) for s in segs), default=0)
    mats = []
    for k in range(D):
        r = [i for i in range(n_out) if len(segs[i])]
        c = [int(segs[i][k % len(segs[i])]) for i in r]
        mats.append(sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n_out, n_table)))
    if extra_zero:
        mats.append(sp.csr_matrix((n_out, n_table)))
    return mats


def linear(lw: Lowerer, name: str, terms: list[tuple[Term, float]], table: Act, shape: tuple[int, int],
           post: Post, *, bias: float | None = None, out: Act | None = None) -> Act | None:
    """``PPU(sum_i c_i term_i + bias)`` at the table's scale (exact: integer coefficients, scales
    equal); None if the sum is identically zero and there is no bias."""
    s = table.scale
    L = None
    acts: list[tuple[Act, float]] = []
    for t, c in terms:
        if t.act is None:
            L = c * t.S if L is None else L + c * t.S
        else:
            acts.append((t.act, c))
    if L is not None:
        L = sp.csr_matrix(L)
        L.eliminate_zeros()
        if L.nnz == 0:
            L = None
    if L is None and not acts and bias is None:
        return None
    if out is None:
        out = lw.alloc(name, shape, s, check=False, role="scratch")
    b = None if bias is None else np.full(shape[1], bias * s)
    if L is None and acts:
        eltwise(lw, name, [(a, int(c)) for a, c in acts], shape, post, out.scale, s, bias=b, col=1,
                out_dtype=out.dtype, out=out)
    else:
        if L is None:   # a constant (the bias) only: multiply a zero selection
            L = sp.csr_matrix((shape[0], table.shape[0]))
        # L has integer entries of magnitude 1 (selection differences): quantised exactly to 127,
        # so the accumulator unit is s / 127 and the extra terms' diagonal weights are 127 c_i
        assert abs(L).max() == 1, name
        gemm_const_left(lw, name, L, table, b, post, out, extra=tuple(acts))
    return out


def max_tree(lw: Lowerer, name: str, table: Act, slots: list[sp.csr_matrix], signed: bool,
             out: Act) -> None:
    """``out[i] = max_k (S_k @ table)[i]`` by a pairwise tree of b + relu(a - b) steps (module doc);
    exact on the int8 grid of the table's scale (then requantised to ``out``'s scale/dtype)."""
    shape = (slots[0].shape[0], table.shape[1])
    terms = [Term(S=S) for S in slots]
    level = 0
    while len(terms) > 1:
        nxt = []
        last = len(terms) == 2
        for j in range(0, len(terms) - 1, 2):
            a, b = terms[j], terms[j + 1]
            tag = f"{name}.l{level}p{j // 2}"
            diff = [(a, 1.0), (b, -1.0)]
            d_lo = linear(lw, f"{tag}.d", diff, table, shape, Post("relu"))
            if d_lo is None and not last:      # a == b row for row (repeated neighbours)
                nxt.append(b)
                continue
            parts = [(b, 1.0)]
            if d_lo is not None:
                parts.append((Term(act=d_lo), 1.0))
                if signed:
                    d_hi = linear(lw, f"{tag}.dh", diff, table, shape, Post("relu"), bias=-127.0)
                    parts.append((Term(act=d_hi), 1.0))
            m = linear(lw, f"{tag}.m", parts, table, shape, Post(), out=out if last else None)
            nxt.append(Term(act=m))
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
        level += 1
    t = terms[0]
    if t.act is not out:     # a single slot (max degree 1), or an unpaired lazy term at the top
        linear(lw, f"{name}.sel", [(t, 1.0)], table, shape, Post(), out=out)


@lowers(aten.scatter_reduce.two, when=is_segment_max)
def lower_segment_max(lw: Lowerer, n: Node) -> None:
    """amax of the src rows into their destinations (fixed graph): the slot max tree."""
    base, _dim, index, src = n.args[:4]
    include_self = n.kwargs.get("include_self", True)
    b = lw.const(base)
    if torch.any(b != 0):
        raise unsupported(n, "amax scatter into a non-zero tensor")
    ix = lw.const(index).long().numpy()
    if ix.ndim == 2:
        if not np.all(ix == ix[:, :1]):
            raise unsupported(n, "amax scatter with per-column indices")
        ix = ix[:, 0]
    elif ix.ndim != 1:
        raise unsupported(n, "amax scatter of a tensor that is not 2-D")
    shape = lw.shape_of(n)
    if len(shape) != 2:
        raise unsupported(n, "amax scatter of a tensor that is not 2-D")
    v = lw.raw(src)
    rows = np.arange(len(ix))
    sel = _selection(v.L) if isinstance(v, LRows) else None
    if sel is not None:     # src = x[sel]: the slots select rows of x directly
        table, rows = v.x, sel
    else:
        table = lw.val(src)
    if not isinstance(table, Act) or len(table.shape) != 2 or table.dtype != "int8":
        raise unsupported(n, "amax scatter of a non-int8 2-D activation")
    segs = segments(ix, rows, shape[0])
    slots = slot_matrices(segs, table.shape[0], extra_zero=bool(include_self))
    if not slots:
        raise unsupported(n, "amax scatter without any edge")
    signed = min(lw.rng(src.name).lo, lw.rng(table.name).lo) < 0
    s_out, dt = lw.out_spec(n, shape)
    if dt == "int8":
        s_out = table.scale          # the tree is exact at the table's scale
    out = lw.alloc(n.name, shape, s_out, dtype=dt, role=lw.role_of(n))
    max_tree(lw, n.name, table, slots, signed, out)
    layer = lw._cur_layer
    if layer is not None:
        # the tree's GEMMs are helper work: the aggregation's useful work is edges x features
        layer.meta.pop("macs", None)
        layer.meta.pop("gemms", None)
        E, F = len(ix), shape[1]
        lw.useful(shape[0], table.shape[0], F, macs=E * F, a_bytes=5 * E, w_bytes=table.shape[0] * F,
                  o_bytes=shape[0] * F * out.item, sparse=True)
        layer.meta.update(max_slots=len(slots), max_signed=signed)
    lw.vals[n.name] = out


def _selection(L: sp.csr_matrix) -> np.ndarray | None:
    """The selected column of every row if L is a row gather (exactly one 1 per row), else None."""
    L = sp.csr_matrix(L)
    L.sum_duplicates()
    L.eliminate_zeros()
    if not (np.all(np.diff(L.indptr) == 1) and np.all(L.data == 1)):
        return None
    return L.indices.astype(np.int64)
