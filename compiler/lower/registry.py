"""The op registry: which function lowers which ATen op.

Each op family module registers its lowerings with ``@lowers(target, ...)``; ``Lowerer.lower_node``
only looks the node's target up here.  Adding an op therefore means adding (or editing) one module
under ``compiler/lower/ops/``.

Some targets are lowered differently depending on their operands (``aten.add.Tensor`` is a lazy
aggregation update, a two-source GEMM or a fused unary epilogue).  Such lowerings carry a ``when``
guard and a ``prio``: candidates of one target are tried from the highest ``prio`` down, in
registration order within a ``prio``, and the first whose guard holds wins.  Two candidates of one
target at the same ``prio`` must both be guarded (and the guards are meant to be disjoint), so the
outcome never depends on which module was imported first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch.fx import Node

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

LowerFn = Callable[["Lowerer", Node], None]
Guard = Callable[["Lowerer", Node], bool]


@dataclass(frozen=True)
class Lowering:
    """One registered lowering of an op.

    ``layer`` is False for ops that are pure bookkeeping (views, aliases, tuple indexing): they are
    lowered outside any manifest layer, exactly as the value they alias.
    """

    fn: LowerFn
    when: Guard | None
    prio: int
    layer: bool


REGISTRY: dict[Any, list[Lowering]] = {}


def lowers(*targets: Any, when: Guard | None = None, prio: int = 0,
           layer: bool = True) -> Callable[[LowerFn], LowerFn]:
    """Register the decorated ``fn(lw, node)`` as the lowering of every op in ``targets``."""
    def deco(fn: LowerFn) -> LowerFn:
        for t in targets:
            cands = REGISTRY.setdefault(t, [])
            for c in cands:
                if c.layer != layer:
                    raise ValueError(f"lowerings of {t} disagree on whether they open a layer")
                if c.prio == prio and (c.when is None or when is None):
                    raise ValueError(f"{fn.__name__} and {c.fn.__name__} both lower {t} at prio {prio}; "
                                     "give one a guard or a different prio")
            cands.append(Lowering(fn, when, prio, layer))
            cands.sort(key=lambda c: -c.prio)       # stable: registration order within a prio
        return fn
    return deco


def candidates(target: Any) -> list[Lowering]:
    """The lowerings registered for ``target``, in the order they are tried (empty if none)."""
    return REGISTRY.get(target, [])


def choose(lw: Lowerer, n: Node, cands: list[Lowering]) -> Lowering | None:
    """The first candidate whose guard accepts ``n``, or None if none applies."""
    for c in cands:
        if c.when is None or c.when(lw, n):
            return c
    return None
