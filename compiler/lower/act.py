"""Activation tensors in external memory and the pure layout arithmetic on them.

Kept apart from the Lowerer so that every op family can reshape, slice and broadcast activations
(stride changes only, no instructions) without depending on lowering state.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from compiler.codegen import Run, merge_runs


@dataclass
class Act:
    """An activation tensor in external memory (logical torch shape, element strides)."""

    name: str
    addr: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    scale: float
    region: int
    dtype: str = "int8"
    border: int = 0

    @property
    def item(self) -> int:
        return 1 if self.dtype == "int8" else 4

    def bstride(self, d: int) -> int:
        return self.strides[d] * self.item


def runs_of(addr: int, dims: list[tuple[int, int]]) -> list[Run]:
    """Rows of a tensor enumerated over ``dims`` [(size, byte stride)] outer -> inner."""
    if not dims:
        return [Run(0, 1, addr, 0)]
    inner_n, inner_s = dims[-1]
    outer = dims[:-1]
    runs = []
    m = 0
    for idx in itertools.product(*[range(n) for n, _ in outer]):
        a = addr + sum(i * s for i, (_, s) in zip(idx, outer, strict=True))
        runs.append(Run(m, inner_n, a, inner_s))
        m += inner_n
    return merge_runs(runs)


def col_dim(x: Act) -> int:
    """The dimension a GEMM should stream as columns: the unit-stride one (else the finest)."""
    nd = len(x.shape)
    best = nd - 1
    for d in range(nd - 1, -1, -1):
        if x.strides[d] == 1 and x.shape[d] > 1:
            return d
        if x.strides[d] < x.strides[best] and x.shape[d] > 1:
            best = d
    return best


def broadcast(a: Act, shape: tuple[int, ...]) -> Act:
    """``a`` viewed with torch broadcasting to ``shape`` (zero strides on expanded dims)."""
    if tuple(a.shape) == tuple(shape):
        return a
    nd = len(shape)
    sh = (1,) * (nd - len(a.shape)) + tuple(a.shape)
    st = (0,) * (nd - len(a.shape)) + tuple(a.strides)
    st = tuple(0 if sh[d] == 1 and shape[d] != 1 else st[d] for d in range(nd))
    return replace(a, shape=tuple(shape), strides=st, border=0)


def select0(x: Act, i: int) -> Act:
    """``x[i]``: drop the leading dimension (one batch element of a bmm)."""
    return replace(x, addr=x.addr + i * x.bstride(0), shape=x.shape[1:], strides=x.strides[1:], border=0)


def narrow(x: Act, dim: int, lo: int, hi: int) -> Act:
    """``x`` restricted to ``lo:hi`` along ``dim`` (same strides)."""
    sh = list(x.shape)
    sh[dim] = hi - lo
    return replace(x, addr=x.addr + lo * x.bstride(dim), shape=tuple(sh), border=0)
