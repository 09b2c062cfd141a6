"""Fusion planning: which nodes are lowered together, decided before any instruction is emitted.

A GEMM-like anchor absorbs the single-user chain of elementwise ops after it into its PPU epilogue
(one requant + PWL instead of one identity GEMM per op), a convolution absorbs the batch norm that
directly follows it (folded into its weights), and every tensor read by a padded convolution or
pooling gets a zero border of the largest padding, so those consumers never copy their input.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch.fx import Node

from compiler.frontend import IDENTITY_OPS, UNARY_OPS, VIEW_OPS, Graph

aten = torch.ops.aten

# Comparisons with a scalar that a GEMM anchor computes in its own PPU, on the 14-bit PWL input
# (compiler/lower/ops/select.py): the step is decided before the int8 rounding of the anchor.
STEP_OPS = {aten.lt.Scalar, aten.le.Scalar, aten.gt.Scalar, aten.ge.Scalar}

# Ops whose result is computed by a GEMM that has a PPU epilogue to fuse into.
ANCHORS = {aten.addmm.default, aten.mm.default, aten.bmm.default, aten.convolution.default,
           aten.mean.dim, aten.sum.dim_IntList, aten.add.Tensor, aten.sub.Tensor,
           aten.avg_pool2d.default}


def is_const(g: Graph, a: Any) -> bool:
    """True for Python scalars and for nodes the frontend folded to a constant."""
    return not isinstance(a, Node) or a.name in g.const_nodes


def unary_operand(g: Graph, n: Node) -> Node | None:
    """If ``n`` is elementwise with exactly one activation operand (rest scalar-like), return it.

    Such an op can be a PWL of its operand; an op with a non-scalar constant operand (a per-channel
    scale) or two activations cannot.
    """
    if n.target not in UNARY_OPS:
        return None
    acts = [a for a in n.args if isinstance(a, Node) and not is_const(g, a)]
    if len(acts) != 1:
        return None
    for a in n.args:
        if isinstance(a, Node) and is_const(g, a) and g.consts[a.name].numel() != 1:
            return None
    return acts[0]


class FusionPlan:
    """Fusion groups and zero borders of one graph.

    ``chain[anchor]`` is the epilogue chain fused into the anchor, ``fused`` every node lowered as
    part of another one (skipped by the graph walk), ``bn_of[conv]`` the batch norm folded into a
    convolution, ``border[name]`` the zero border a tensor is allocated with.  ``fused`` keeps
    growing while lowering: a standalone unary op claims its own chain through :meth:`epilogue`.
    """

    def __init__(self, g: Graph, users: dict[str, list[Node]], out_names: set[str]) -> None:
        self.g = g
        self.users = users
        self.out_names = out_names
        self.chain: dict[str, list[Node]] = {}
        self.fused: set[str] = set()
        self.bn_of: dict[str, Node] = {}
        self.border: dict[str, int] = {}
        self.step_of: dict[str, Node] = {}       # anchor -> the comparison its PPU computes
        self.step_end: set[str] = set()          # group ends stored as that comparison's 0/1 mask
        self._plan_groups()
        self._plan_borders()

    def _plan_groups(self) -> None:
        """Fusion groups: anchor GEMM followed by single-user elementwise ops (and conv+BN)."""
        for n in self.g.nodes:
            if n.name in self.g.const_nodes or n.target not in ANCHORS or n.name in self.fused:
                continue
            if n.target in (aten.add.Tensor, aten.sub.Tensor) and unary_operand(self.g, n) is not None:
                continue
            cur = n
            if n.target == aten.convolution.default:
                us = self.users[n.name]
                if (len(us) == 1 and us[0].target == aten._native_batch_norm_legit_no_training.default
                        and us[0].args[0] is n and n.name not in self.out_names):
                    bn = us[0]
                    gi = list(bn.users)
                    if len(gi) == 1 and gi[0].target is operator.getitem and gi[0].args[1] == 0:
                        self.bn_of[n.name] = bn
                        self.fused.update({bn.name, gi[0].name})
                        cur = gi[0]
            self.chain[n.name] = self.epilogue(cur)
            self._plan_step(n, cur)

    def _plan_step(self, n: Node, cur: Node) -> None:
        """``anchor [identity ops] [views] <op> scalar`` with ``<op>`` in STEP_OPS and every link
        single-user: the anchor's PPU applies the step itself (a 0/1 int8 output, the views then
        act on the mask), so the comparison sees the 14-bit pre-activation, not its int8 rounding."""
        chain = self.chain[n.name]
        if any(u.target not in IDENTITY_OPS for u in chain):
            return
        last = chain[-1] if chain else cur
        x = last
        while x.name not in self.out_names:
            us = self.users[x.name]
            if len(us) != 1:
                return
            u = us[0]
            if u.target in VIEW_OPS and u.args[0] is x:
                x = u
                continue
            t = u.args[1] if len(u.args) > 1 else None
            if (u.target in STEP_OPS and u.args[0] is x and isinstance(t, (int, float))
                    and not isinstance(t, bool) and math.isfinite(t)):
                self.step_of[n.name] = u
                self.step_end.add(last.name)
            return

    def _plan_borders(self) -> None:
        """Zero borders needed by convolution / pooling consumers."""
        for n in self.g.nodes:
            if n.target == aten.convolution.default:
                p = max(n.args[4])
                src = n.args[0]
                self.border[src.name] = max(self.border.get(src.name, 0), p)
            if n.target in (aten.max_pool2d_with_indices.default, aten.avg_pool2d.default):
                pad = n.args[3] if len(n.args) > 3 else [0]
                p = max(pad) if pad else 0
                self.border[n.args[0].name] = max(self.border.get(n.args[0].name, 0), p)

    def epilogue(self, n: Node) -> list[Node]:
        """The single-user elementwise/identity ops after ``n`` that fuse into its epilogue
        (marked fused, so the graph walk skips them)."""
        out = []
        cur = n
        while cur.name not in self.out_names:
            us = self.users[cur.name]
            if len(us) != 1:
                break
            u = us[0]
            if u.target in IDENTITY_OPS or unary_operand(self.g, u) is cur:
                out.append(u)
                self.fused.add(u.name)
                cur = u
            else:
                break
        return out
