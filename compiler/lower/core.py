"""The Lowerer: graph walk, lowering state, memory allocation and the tensor manifest.

Op-specific code lives in ``compiler/lower/ops/`` and is found through the registry
(``compiler/lower/registry.py``); this module only owns what every op family shares: the values of
lowered nodes, the calibration ranges and float reference, memory and the manifest entries, and the
rules that pick an output's scale and dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import Emitter, GemmOp, KBlk, LayerRec, Memory, Run, Tiler
from compiler.frontend import IDENTITY_OPS, VIEW_OPS, Graph, Range, unsupported
from compiler.lower.act import Act, runs_of
from compiler.lower.plan import FusionPlan, is_const
from compiler.lower.post import Post, fit_pwl
from compiler.lower.registry import candidates, choose
from compiler.quantize import act_scale
from golden.isa import HwConfig

OUT32_BITS = 22        # int32 model outputs: absmax -> 2**OUT32_BITS


class Lazy:
    """A node value held symbolically rather than in memory (e.g. a GNN aggregation ``L @ x``).

    :meth:`Lowerer.val` materialises it on first use by a consumer that needs an :class:`Act`;
    consumers that can compose it further read it unmaterialised through :meth:`Lowerer.raw`.
    """

    def materialise(self, lw: Lowerer) -> Act:
        raise NotImplementedError


def _layer_op(target: Any) -> str:
    """Manifest ``op`` of a layer: the ATen op's name without namespace and overload."""
    return str(target).split(".")[1] if str(target).startswith("aten.") else str(target)


class Lowerer:
    """Lowers one exported graph to GemmOps, node by node, into ``em`` (instructions), ``mem``
    (memory image) and ``tensors`` (manifest)."""

    def __init__(self, graph: Graph, ranges: dict[str, Range], hw: HwConfig, name: str,
                 ref: dict[str, Any]) -> None:
        self.g = graph
        self.ref = ref
        self.ranges = ranges
        self.hw = hw
        self.name = name
        self.mem = Memory()
        self.em = Emitter(hw)
        self.tiler = Tiler(self.em, self.mem)
        self.vals: dict[str, Any] = {}
        self.tensors: list[dict[str, Any]] = []
        self.tensor_names: set[str] = set()
        self.layer_stats: list[dict[str, Any]] = []
        self.users: dict[str, list[Node]] = {n.name: list(n.users) for n in graph.nodes}
        for p in graph.inputs:
            self.users[p.name] = list(p.users)
        self.out_names = {o.name for o in graph.outputs if o is not None}
        self.pwl_stats: list[dict[str, Any]] = []
        self._cur_layer: LayerRec | None = None
        self.plan = FusionPlan(graph, self.users, self.out_names)

    # ------------------------------------------------------------------ driver
    def lower(self) -> None:
        for p in self.g.inputs:
            self.lower_input(p)
        for n in self.g.nodes:
            if n.name in self.g.const_nodes or n.name in self.plan.fused:
                continue
            self.lower_node(n)
        for o in self.g.outputs:     # a model output held lazily (a 0/1 mask) goes to memory
            if o is not None and isinstance(self.vals.get(o.name), Lazy):
                self.val(o)

    def lower_input(self, p: Node) -> None:
        v = p.meta.get("val")
        shape = tuple(v.shape)
        if v is not None and not v.dtype.is_floating_point:
            # integer inputs (token ids; folded graph structure) are stored as int32 with scale 1
            act = self.alloc(p.name, shape, 1.0, dtype="int32", role="input", check=False)
        else:
            col = 1 if len(shape) == 4 else -1
            act = self.alloc(p.name, shape, self.scale_of(p.name), col_dim=col,
                             border=self.plan.border.get(p.name, 0), role="input", check=False)
        self.vals[p.name] = act

    def lower_node(self, n: Node) -> None:
        """Lower one node with the registered lowering of its op; ops that emit instructions do it
        inside a manifest layer named after the node."""
        cands = candidates(n.target)
        if not cands:
            raise unsupported(n)
        if not cands[0].layer:
            c = choose(self, n, cands)
            if c is None:
                raise unsupported(n)
            c.fn(self, n)
            return
        layer = self.em.begin_layer(n.name, _layer_op(n.target))
        self._cur_layer = layer
        try:
            c = choose(self, n, cands)
            if c is None:
                raise unsupported(n)
            c.fn(self, n)
        finally:
            self.em.end_layer(layer)
            self._cur_layer = None

    # ------------------------------------------------------------------ values
    def is_const(self, a: Any) -> bool:
        return is_const(self.g, a)

    def const(self, a: Any) -> Any:
        if isinstance(a, Node):
            return self.g.consts[a.name]
        return a

    def raw(self, a: Any) -> Any:
        """Value of an argument as lowered so far (constants as tensors, lazy values unexpanded)."""
        if isinstance(a, Node):
            if a.name in self.g.const_nodes:
                return self.g.consts[a.name]
            return self.vals[a.name]
        return a

    def val(self, a: Any) -> Any:
        """Value of an argument, lazy values materialised (once) into memory."""
        v = self.raw(a)
        if isinstance(v, Lazy):
            v = v.materialise(self)
            self.vals[a.name] = v
        return v

    def shape_of(self, n: Node) -> tuple[int, ...]:
        v = self.ref.get(n.name)
        if isinstance(v, (tuple, list)):
            v = v[0]
        if isinstance(v, torch.Tensor):
            return tuple(v.shape)
        return tuple(int(d) for d in n.meta["val"].shape)

    def rng(self, name: str) -> Range:
        return self.ranges.get(name) or Range(-1.0, 1.0, 1.0)

    def scale_of(self, name: str) -> float:
        return act_scale(self.rng(name).amax)

    # ------------------------------------------------------------------ output scale / dtype
    def is_output_only(self, name: str) -> bool:
        """True if the node's value only flows (through views) into the model outputs."""
        seen = [name]
        while seen:
            nm = seen.pop()
            for u in self.users.get(nm, []):
                if u.op == "output":
                    continue
                if u.target in VIEW_OPS or u.target in IDENTITY_OPS:
                    seen.append(u.name)
                    continue
                return False
        return name in self.out_names or any(
            u.op == "output" for u in self.users.get(name, [])) or self._reaches_output(name)

    def _reaches_output(self, name: str) -> bool:
        for u in self.users.get(name, []):
            if u.op == "output" or u.name in self.out_names:
                return True
            if (u.target in VIEW_OPS or u.target in IDENTITY_OPS) and self._reaches_output(u.name):
                return True
        return False

    def out_spec(self, end: Node, shape: tuple[int, ...]) -> tuple[float, str]:
        """Scale and dtype of a group's output: model outputs reached only through views that
        need no copy are stored as int32 (finer scale); everything else is int8.  A group that
        computes a comparison (``plan.step_end``) stores its 0/1 mask: int8, scale 1."""
        if end.name in self.plan.step_end:
            return 1.0, "int8"
        if (self.is_output_only(end.name) and end.name in self.out_names | self._view_outputs(end)
                and self._views_ok(end, shape)):
            return max(self.rng(end.name).amax, 1e-6) / 2**OUT32_BITS, "int32"
        return self.scale_of(end.name), "int8"

    def _views_ok(self, end: Node, shape: tuple[int, ...]) -> bool:
        nd = len(shape)
        col = 1 if nd == 4 else nd - 1
        order = [d for d in range(nd) if d != col] + [col] if nd else []
        strides = [0] * nd
        st = 1
        for d in reversed(order):
            strides[d] = st
            st *= shape[d]
        todo = [(end, torch.empty_strided(shape, strides, dtype=torch.int8, device="meta"))]
        while todo:
            node, meta = todo.pop()
            for u in self.users.get(node.name, []):
                if u.op == "output":
                    continue
                try:
                    if u.target in VIEW_OPS:
                        r = u.target(meta, *u.args[1:], **u.kwargs)
                    else:
                        r = meta
                except RuntimeError:
                    return False
                todo.append((u, r))
        return True

    def _view_outputs(self, end: Node) -> set[str]:
        return {end.name} if self._reaches_output(end.name) else set()

    def role_of(self, end: Node) -> str:
        return "output" if end.name in self.out_names else "intermediate"

    # ------------------------------------------------------------------ memory and manifest
    def alloc(self, name: str, shape: tuple[int, ...], scale: float, *, col_dim: int = -1,
              border: int = 0, dtype: str = "int8", role: str = "intermediate", check: bool = True,
              init: bytes | None = None) -> Act:
        """Allocate a tensor whose ``col_dim`` is innermost; 4-D tensors get a zero border on H, W."""
        nd = len(shape)
        col_dim %= max(nd, 1)
        item = 1 if dtype == "int8" else 4
        order = [d for d in range(nd) if d != col_dim] + [col_dim] if nd else []
        psh = list(shape)
        if nd == 4 and border:
            psh[2] += 2 * border
            psh[3] += 2 * border
        strides = [0] * nd
        s = 1
        for d in reversed(order):
            strides[d] = s
            s *= psh[d]
        size = s * item
        reg = self.mem.alloc(size, name, init)
        off = 0
        if nd == 4 and border:
            off = border * strides[2] + border * strides[3]
        act = Act(name, reg.addr + off * item, tuple(shape), tuple(strides), scale, reg.rid, dtype, border)
        self.register(act, role, check)
        return act

    def unique_name(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``, ... if the manifest already has it (reserved)."""
        nm, k = name, 1
        while nm in self.tensor_names:
            k += 1
            nm = f"{name}_{k}"
        self.tensor_names.add(nm)
        return nm

    def register(self, act: Act, role: str, check: bool, name: str | None = None) -> str:
        """Add ``act`` to the manifest (and to the current layer's outputs); returns its name."""
        nm = self.unique_name(name or act.name)
        self.tensors.append({
            "name": nm, "role": role, "addr": act.addr, "shape": list(act.shape),
            "strides": [s * act.item for s in act.strides], "dtype": act.dtype, "scale": float(act.scale),
            "zero_point": 0, "check": bool(check),
            "layer": self._cur_layer.name if (self._cur_layer is not None and role != "input") else None,
        })
        if self._cur_layer is not None and role in ("intermediate", "output"):
            self._cur_layer.outputs.append(nm)
        return nm

    # ------------------------------------------------------------------ GEMM plumbing
    def out_runs(self, act: Act, row_dims: list[int]) -> list[Run]:
        return runs_of(act.addr, [(act.shape[d], act.bstride(d)) for d in row_dims])

    def src_runs(self, act: Act, row_dims: list[int]) -> list[Run]:
        return runs_of(act.addr, [(act.shape[d], act.bstride(d)) for d in row_dims])

    def kblocks_dim(self, src: int, act: Act, d: int, base_off: int = 0) -> list[KBlk]:
        R = self.hw.rows
        K = act.shape[d]
        st = act.bstride(d)
        return [KBlk(src, base_off + k0 * st, min(R, K - k0), st) for k0 in range(0, K, R)]

    def useful(self, M: int, K: int, N: int, *, a_bytes: int, w_bytes: int, o_bytes: int,
               macs: int | None = None, sparse: bool = False) -> None:
        """Record one of the float model's linear products in the current layer's manifest meta.

        ``macs`` (default ``M*K*N``; the edges x features of a sparse aggregation) add up to the
        layer's *useful* MACs (docs/performance.md: helper GEMMs for adds, copies, one-hot lookups
        and normalisation passes record nothing); ``gemms`` keeps the product's dimensions and its
        compulsory bytes (operand A, weights/operand B, output, each moved once) for the I/O lower
        bounds of ``compiler.perf``."""
        layer = self._cur_layer
        if layer is None:
            return
        mc = int(M * K * N if macs is None else macs)
        layer.meta["macs"] = int(layer.meta.get("macs", 0)) + mc
        layer.meta.setdefault("gemms", []).append(
            {"M": int(M), "K": int(K), "N": int(N), "macs": mc, "a_bytes": int(a_bytes),
             "w_bytes": int(w_bytes), "o_bytes": int(o_bytes), "sparse": bool(sparse)})

    def run(self, op: GemmOp) -> None:
        if op.M == 0 or op.N == 0:
            return
        self.tiler.run(op)
        self.layer_stats.append({"op": op.name, **op.stats})

    def fit_pwl(self, name: str, post: Post, s_mid: float, s_out: float) -> np.ndarray:
        """See :func:`compiler.lower.post.fit_pwl` (a method too, for callers holding a Lowerer)."""
        return fit_pwl(self, name, post, s_mid, s_out)
