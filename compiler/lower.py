"""Lowering of the exported graph to GemmOps (see docs/compiler.md for the op-by-op recipes)."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.fx import Node

from compiler.codegen import (
    ASrc,
    Emitter,
    GemmOp,
    KBlk,
    Memory,
    Out,
    Ppu,
    Run,
    Tiler,
    WTile,
    merge_runs,
    pack_weight_tiles,
)
from compiler.frontend import (
    IDENTITY_OPS,
    UNARY_OPS,
    VIEW_OPS,
    Graph,
    Range,
    unsupported,
)
from compiler.quantize import act_scale, mult_shift, quant, weight_scales
from golden import pwl
from golden.isa import HwConfig

aten = torch.ops.aten
I32 = 2**31 - 1
MID_BITS = 14          # PWL input resolution: pre-activation absmax -> 2**MID_BITS
OUT32_BITS = 22        # int32 model outputs: absmax -> 2**OUT32_BITS


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


@dataclass
class LRows:
    """A lazily-held ``L @ x``: constant (R x n) matrix L times the rows of activation x (n x F).
    Produced by gathers/scatters with constant indices (GNN message passing) and materialised as
    one GEMM with a constant left operand when a non-linear consumer needs it."""

    L: sp.csr_matrix
    x: Act
    node: str


@dataclass
class Post:
    """What the PPU does after requantisation: nothing, exact ReLU, or a PWL fit of ``fn``.

    ``fit`` holds golden.pwl.FnInfo options (``outer``, ``spacing``, ``kinks``); ``samples`` are
    calibration values of the PWL's real input (the fit's weights and vertical bias correction).
    """

    kind: str = "none"                        # none | relu | pwl
    fn: Callable[[np.ndarray], np.ndarray] | None = None
    lo: float = 0.0
    hi: float = 0.0
    fit: dict[str, Any] = field(default_factory=dict)
    samples: np.ndarray | None = None
    label: str = ""


_KINKED = {aten.relu.default, aten.hardtanh.default, aten.clamp.default, aten.leaky_relu.default,
           aten.abs.default, aten.hardsigmoid.default, aten.hardswish.default, aten.elu.default}


def _fit_opts(chain: list[Node]) -> dict[str, Any]:
    """golden.pwl.FnInfo options for a composed chain of unary ops: flat (clamped) outer segments
    for saturating functions, a forced breakpoint candidate at 0 for ReLU-like kinks."""
    names = {n.target for n in chain}
    left, right = "extend", "extend"
    if names & {aten.sigmoid.default, aten.tanh.default, aten.hardtanh.default, aten.clamp.default,
                aten.hardsigmoid.default, aten.erf.default}:
        left, right = "clamp", "clamp"
    if aten.exp.default in names:
        left = "clamp"
    return {"outer": (left, right), "kinks": (0.0,) if names & _KINKED else ()}


def _chain_label(chain: list[Node]) -> str:
    return "+".join(str(getattr(n.target, "__name__", n.target)).split(".")[0] for n in chain)


_RELU_TABLE = pwl.to_hw_table(pwl.fit("relu"), 1.0, 1.0)   # bit-exact when in and out scales agree


def hat_table() -> np.ndarray:
    """Compiler-only one-hot indicator for integers, quantised by golden.pwl.to_hw_table:
    v == 0 -> 1, any other integer -> 0 (breakpoints at -1/2 and 1/2, unit scales)."""
    p = pwl.Pwl(np.array([-0.5, 0.5]), np.zeros(3), np.array([0.0, 1.0, 0.0]), "hat", "exact")
    return pwl.to_hw_table(p, 1.0, 1.0)


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


class Lowerer:
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
        self.host_ops: list[dict[str, Any]] = []
        self.pwl_stats: list[dict[str, Any]] = []
        self._cur_layer: Any = None
        self._plan()

    # ------------------------------------------------------------------ planning
    def is_const(self, a: Any) -> bool:
        return not isinstance(a, Node) or a.name in self.g.const_nodes

    def const(self, a: Any) -> Any:
        if isinstance(a, Node):
            return self.g.consts[a.name]
        return a

    def _unary_operand(self, n: Node) -> Node | None:
        """If ``n`` is elementwise with exactly one activation operand (rest scalar-like), return it."""
        if n.target not in UNARY_OPS:
            return None
        acts = [a for a in n.args if isinstance(a, Node) and not self.is_const(a)]
        if len(acts) != 1:
            return None
        for a in n.args:
            if isinstance(a, Node) and self.is_const(a) and self.g.consts[a.name].numel() != 1:
                return None
        return acts[0]

    def _plan(self) -> None:
        """Fusion groups: anchor GEMM followed by single-user elementwise ops (and conv+BN)."""
        self.chain: dict[str, list[Node]] = {}
        self.fused: set[str] = set()
        self.bn_of: dict[str, Node] = {}
        anchors = {aten.addmm.default, aten.mm.default, aten.bmm.default, aten.convolution.default,
                   aten.mean.dim, aten.sum.dim_IntList, aten.add.Tensor, aten.sub.Tensor,
                   aten.avg_pool2d.default}
        for n in self.g.nodes:
            if n.name in self.g.const_nodes or n.target not in anchors or n.name in self.fused:
                continue
            if n.target in (aten.add.Tensor, aten.sub.Tensor) and self._unary_operand(n) is not None:
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
            self.chain[n.name] = self._standalone_chain(cur)
        # zero borders needed by convolution / pooling consumers
        self.border: dict[str, int] = {}
        for n in self.g.nodes:
            if n.target == aten.convolution.default:
                p = max(n.args[4])
                src = n.args[0]
                self.border[src.name] = max(self.border.get(src.name, 0), p)
            if n.target in (aten.max_pool2d_with_indices.default, aten.avg_pool2d.default):
                pad = n.args[3] if len(n.args) > 3 else [0]
                p = max(pad) if pad else 0
                self.border[n.args[0].name] = max(self.border.get(n.args[0].name, 0), p)

    # ------------------------------------------------------------------ helpers
    def rng(self, name: str) -> Range:
        return self.ranges.get(name) or Range(-1.0, 1.0, 1.0)

    def scale_of(self, name: str) -> float:
        return act_scale(self.rng(name).amax)

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

    def register(self, act: Act, role: str, check: bool, name: str | None = None) -> str:
        nm = name or act.name
        base, k = nm, 1
        while nm in self.tensor_names:
            k += 1
            nm = f"{base}_{k}"
        self.tensor_names.add(nm)
        self.tensors.append({
            "name": nm, "role": role, "addr": act.addr, "shape": list(act.shape),
            "strides": [s * act.item for s in act.strides], "dtype": act.dtype, "scale": float(act.scale),
            "zero_point": 0, "check": bool(check),
            "layer": self._cur_layer.name if (self._cur_layer is not None and role != "input") else None,
        })
        if self._cur_layer is not None and role in ("intermediate", "output"):
            self._cur_layer.outputs.append(nm)
        return nm

    def records(self, N: int, bias: np.ndarray | None, mult: np.ndarray | None, shift: np.ndarray | None,
                table: np.ndarray | None, name: str) -> tuple[Callable[[int], int], int]:
        C = self.hw.cols
        nn = -(-N // C)
        rows = 3 + self.hw.pwl_rows
        recs = []
        for nb in range(nn):
            r = np.zeros((rows, C), dtype=np.int64)
            sl = slice(nb * C, min(N, nb * C + C))
            w = sl.stop - sl.start
            if bias is not None:
                r[0, :w] = bias[sl]
            if mult is not None:
                r[1, :w] = mult[sl]
                r[2, :w] = shift[sl]  # type: ignore[index]
            if table is not None:
                flat = np.zeros(self.hw.pwl_rows * C, dtype=np.int64)
                flat[:len(table)] = table
                r[3:] = flat.reshape(self.hw.pwl_rows, C)
            recs.append(r)
        uniq: dict[bytes, int] = {}
        idx = []
        blobs = []
        for r in recs:
            b = r.astype("<i4").tobytes()
            if b not in uniq:
                uniq[b] = len(blobs)
                blobs.append(r)
            idx.append(uniq[b])
        reg = self.mem.const(np.stack(blobs), f"{name}.ppu", dtype="int32")
        step = rows * C * 4
        return (lambda nb: reg.addr + idx[nb] * step), reg.rid

    def make_ppu(self, name: str, N: int, acc_scale: np.ndarray, bias: np.ndarray | None, post: Post,
                 s_out: float, *, out_int32: bool = False, row: tuple[int, int, int] | None = None,
                 mult_override: tuple[np.ndarray, np.ndarray] | None = None) -> Ppu:
        acc_scale = np.broadcast_to(np.asarray(acc_scale, dtype=np.float64), (N,))
        table = None
        if post.kind == "none":
            ratio = acc_scale / s_out
        elif post.kind == "relu":
            ratio = acc_scale / s_out
            table = _RELU_TABLE
        else:
            amax = max(abs(post.lo), abs(post.hi), 1e-6)
            s_mid = amax / 2**MID_BITS
            ratio = acc_scale / s_mid
            table = self.fit_pwl(name, post, s_mid, s_out)
        if mult_override is not None:
            mult, shift = mult_override
        else:
            mult, shift = mult_shift(ratio)
        b = None
        if bias is not None:
            b = np.clip(np.round(np.asarray(bias, dtype=np.float64) / acc_scale), -I32 - 1, I32)
            b = b.astype(np.int64)
        recf, rid = self.records(N, b, mult, shift, table, name)
        ppu = Ppu(recf, rid, bias_en=b is not None, requant_en=True, pwl_en=table is not None,
                  out_int32=out_int32)
        if row is not None:
            ppu.row_en, ppu.row_addr, ppu.row_region = True, row[0], row[1]
            ppu.row_shift = row[2]
        return ppu

    def fit_pwl(self, name: str, post: Post, s_mid: float, s_out: float) -> np.ndarray:
        """48-word table for ``post.fn`` from golden.pwl (vertical = horizontal breakpoints + bias
        correction, on the calibration samples of the PWL input), and its error on those samples
        (hardware table, bit-exact) recorded in ``self.pwl_stats`` and the layer's meta."""
        assert post.fn is not None
        lo, hi = float(post.lo), float(post.hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"PWL range [{lo}, {hi}] of {name} is not finite")
        if hi <= lo:
            hi = lo + max(abs(lo), 1.0) * 1e-3 + 1e-6
        opts = dict(post.fit)
        spacing = opts.pop("spacing", "linear") if lo > 0 else "linear"
        opts.pop("spacing", None)
        info = pwl.FnInfo(post.fn, (lo, hi), spacing=spacing, label=post.label or name, **opts)
        smp = post.samples
        if smp is not None:
            smp = smp[np.isfinite(smp)]
        p = pwl.fit(info, smp, "vertical", lo=lo, hi=hi)
        table = pwl.to_hw_table(p, s_mid, s_out)
        x = smp if smp is not None and len(smp) else np.linspace(lo, hi, 4097)
        q = np.clip(np.round(x / s_mid), -I32 - 1, I32)
        y = pwl.hw_eval(table, q).astype(np.float64) * s_out
        f = np.asarray(post.fn(x), dtype=np.float64)
        e = y - f
        fmax = float(np.abs(f).max()) or 1.0
        st = {"layer": self._cur_layer.name if self._cur_layer is not None else name, "table": name,
              "fn": info.label, "lo": lo, "hi": hi, "samples": len(x) if smp is not None else 0,
              "max_err": float(np.abs(e).max()), "mean_abs_err": float(np.abs(e).mean()),
              "mean_err": float(e.mean()), "max_rel": float(np.abs(e).max()) / fmax,
              "max_lsb": float(np.abs(e).max()) / s_out}
        self.pwl_stats.append(st)
        if self._cur_layer is not None:
            m = self._cur_layer.meta
            m["pwl_max_rel"] = max(m.get("pwl_max_rel", 0.0), st["max_rel"])
            m["pwl_mean_rel"] = max(m.get("pwl_mean_rel", 0.0), st["mean_abs_err"] / fmax)
        return table

    def out_runs(self, act: Act, row_dims: list[int]) -> list[Run]:
        return runs_of(act.addr, [(act.shape[d], act.bstride(d)) for d in row_dims])

    def src_runs(self, act: Act, row_dims: list[int]) -> list[Run]:
        return runs_of(act.addr, [(act.shape[d], act.bstride(d)) for d in row_dims])

    def kblocks_dim(self, src: int, act: Act, d: int, base_off: int = 0) -> list[KBlk]:
        R = self.hw.rows
        K = act.shape[d]
        st = act.bstride(d)
        return [KBlk(src, base_off + k0 * st, min(R, K - k0), st) for k0 in range(0, K, R)]

    def run(self, op: GemmOp) -> None:
        if op.M == 0 or op.N == 0:
            return
        self.tiler.run(op)
        self.layer_stats.append({"op": op.name, **op.stats})

    # ------------------------------------------------------------------ post-processing of a group
    def post_for(self, anchor: Node, pre_name: str) -> tuple[Post, Node]:
        chain = self.chain.get(anchor.name, [])
        end = chain[-1] if chain else (self._bn_get(anchor) or anchor)
        real = [u for u in chain if u.target not in IDENTITY_OPS]
        if not real:
            return Post(), end
        if len(real) == 1 and real[0].target == aten.relu.default:
            return Post("relu"), end
        r = self.rng(pre_name)

        def fn(x: np.ndarray, chain: list[Node] = real) -> np.ndarray:
            t = torch.as_tensor(np.asarray(x), dtype=torch.float64)
            for u in chain:
                t = self._apply_unary(u, t)
            return t.numpy()

        return Post("pwl", fn, r.lo, r.hi, _fit_opts(real), r.samples, _chain_label(real)), end

    def _bn_get(self, anchor: Node) -> Node | None:
        bn = self.bn_of.get(anchor.name)
        if bn is None:
            return None
        return next(iter(bn.users))

    def _apply_unary(self, u: Node, x: torch.Tensor) -> torch.Tensor:
        act = self._unary_operand(u)
        args = [x if a is act else (self.const(a).to(torch.float64) if isinstance(a, Node) else a)
                for a in u.args]
        with torch.no_grad():
            return u.target(*args, **u.kwargs)

    # ------------------------------------------------------------------ driver
    def lower(self) -> None:
        for p in self.g.inputs:
            self.lower_input(p)
        for n in self.g.nodes:
            if n.name in self.g.const_nodes or n.name in self.fused:
                continue
            self.lower_node(n)

    def lower_input(self, p: Node) -> None:
        v = p.meta.get("val")
        shape = tuple(v.shape)
        if v is not None and not v.dtype.is_floating_point:
            # integer inputs (token ids; folded graph structure) are stored as int32 with scale 1
            act = self.alloc(p.name, shape, 1.0, dtype="int32", role="input", check=False)
        else:
            col = 1 if len(shape) == 4 else -1
            act = self.alloc(p.name, shape, self.scale_of(p.name), col_dim=col,
                             border=self.border.get(p.name, 0), role="input", check=False)
        self.vals[p.name] = act

    def raw(self, a: Any) -> Any:
        if isinstance(a, Node):
            if a.name in self.g.const_nodes:
                return self.g.consts[a.name]
            return self.vals[a.name]
        return a

    def val(self, a: Any) -> Any:
        v = self.raw(a)
        if isinstance(v, LRows):
            v = self.materialise(v, a)
            self.vals[a.name] = v
        return v

    def materialise(self, lr: LRows, node: Node) -> Act:
        # emitted inside the consumer's layer (layers are disjoint instruction ranges)
        shape = (lr.L.shape[0], lr.x.shape[1])
        out = self.alloc(lr.node, shape, self.scale_of(lr.node))
        self.gemm_const_left(lr.node, lr.L, lr.x, None, Post(), out)
        return out

    def gemm_const_left(self, name: str, L: sp.spmatrix, x: Act, bias: np.ndarray | None, post: Post,
                        out: Act) -> None:
        """out = PPU(L @ x) with L a constant (sparse) matrix quantised per tensor to int8 and
        stored dense; (M-tile, K-block) tiles of L that are all zero are skipped."""
        R, C = self.hw.rows, self.hw.cols
        M, K = L.shape
        N = x.shape[1]
        coo = sp.coo_matrix(L)
        coo.sum_duplicates()
        sa = act_scale(float(np.abs(coo.data).max()) if coo.nnz else 1.0)
        aq = np.zeros((M, K), dtype=np.int8)
        qv = quant(coo.data, sa).astype(np.int8)
        aq[coo.row, coo.col] = qv
        reg = self.mem.const(aq, f"{name}.adj")
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
        ppu = self.make_ppu(name, N, np.full(N, sa * x.scale), bias, post, out.scale,
                            out_int32=out.dtype == "int32")
        op = GemmOp(name, M, N, [ASrc([Run(0, M, reg.addr, K)], reg.rid)], kbl, wtile, ppu,
                    [Out(self.out_runs(out, [0]), out.bstride(1), out.region)], a_zero=a_zero)
        self.run(op)
        if self._cur_layer is not None:
            self._cur_layer.meta.update(tiles_total=op.stats["tiles_total"],
                                        tiles_skipped=op.stats["tiles_skipped"],
                                        adjacency_density=float(np.count_nonzero(qv)) / max(1, aq.size))

    # ------------------------------------------------------------------ gather / scatter
    def _as_lrows(self, v: Any, name: str) -> LRows:
        if isinstance(v, LRows):
            return v
        assert isinstance(v, Act) and len(v.shape) == 2, name
        return LRows(sp.identity(v.shape[0], format="csr"), v, name)

    def lower_index_select(self, n: Node) -> None:
        x, dim, idx = n.args
        if not self.is_const(idx) or self.is_const(x):
            raise unsupported(n, "index_select needs constant indices")
        v = self.raw(x)
        if (dim % 2) != 0 or (isinstance(v, Act) and len(v.shape) != 2):
            raise unsupported(n, "index_select only along the rows of a 2-D tensor")
        lr = self._as_lrows(v, x.name)
        ix = self.const(idx).long().numpy()
        self.vals[n.name] = LRows(sp.csr_matrix(lr.L[ix]), lr.x, n.name)

    def lower_scatter_add(self, n: Node) -> None:
        if n.target == aten.scatter_add.default:
            base, dim, index, src = n.args
            ix = self.const(index).long().numpy()
            if ix.ndim == 2:
                if not np.all(ix == ix[:, :1]):
                    raise unsupported(n, "scatter_add with per-column indices")
                ix = ix[:, 0]
        else:
            base, dim, index, src = n.args[:4]
            ix = self.const(index).long().numpy()
        if not self.is_const(base) or not self.is_const(index) or (dim % 2) != 0:
            raise unsupported(n, "scatter/index add needs constant indices along dim 0")
        b = self.const(base)
        if torch.any(b != 0):
            raise unsupported(n, "scatter/index add into a non-zero tensor")
        lr = self._as_lrows(self.raw(src), src.name)
        S = sp.csr_matrix((np.ones(len(ix)), (ix, np.arange(len(ix)))), shape=(b.shape[0], lr.L.shape[0]))
        self.vals[n.name] = LRows(sp.csr_matrix(S @ lr.L), lr.x, n.name)

    def lower_lrows_scale(self, n: Node) -> None:
        a, b = n.args[0], n.args[1]
        lrn, cn = (a, b) if isinstance(self.raw(a), LRows) else (b, a)
        if not self.is_const(cn):
            raise unsupported(n, "product of two activations")
        lr = self.raw(lrn)
        shape = self.shape_of(n)
        f = self._row_factor(self.const(cn), shape) if isinstance(cn, Node) else np.full(shape[0], float(cn))
        if f is None:
            raise unsupported(n, "per-column scaling of an aggregation")
        if n.target == aten.div.Tensor:
            if cn is a:
                raise unsupported(n, "division by an activation")
            f = 1.0 / f
        self.vals[n.name] = LRows(sp.csr_matrix(sp.diags(f) @ lr.L), lr.x, n.name)

    def lower_lrows_add(self, n: Node) -> None:
        a, b = n.args[0], n.args[1]
        sign = -1.0 if n.target == aten.sub.Tensor else 1.0
        va, vb = self.raw(a), self.raw(b)
        if isinstance(va, LRows) and isinstance(vb, LRows) and va.x is vb.x:
            self.vals[n.name] = LRows(sp.csr_matrix(va.L + sign * vb.L), va.x, n.name)
            return
        lrn, other = (a, b) if isinstance(va, LRows) else (b, a)
        lr = self.raw(lrn)
        if self.is_const(other):
            shape = self.shape_of(n)
            c = torch.broadcast_to(self.const(other).to(torch.float64), shape)
            if not torch.all(c == c[:1]):
                raise unsupported(n, "constant varying along rows added to an aggregation")
            bias = (sign if other is b else 1.0) * c[0].numpy()
            L = lr.L if lrn is a or sign > 0 else -lr.L
            post, end = self.post_for(n, n.name)
            s_out, dt = self.out_spec(end, shape)
            if post.kind == "relu" and dt == "int8":
                s_out = self.scale_of(end.name)
            out = self.alloc(end.name, shape, s_out, dtype=dt, role=self.role_of(end))
            self.gemm_const_left(n.name, L, lr.x, bias, post, out)
            self.vals[end.name] = out
            self.vals[n.name] = out
            return
        # activation + aggregation: materialise and add
        self.val(lrn)
        self.lower_add(n)

    def shape_of(self, n: Node) -> tuple[int, ...]:
        v = self.ref.get(n.name)
        if isinstance(v, (tuple, list)):
            v = v[0]
        if isinstance(v, torch.Tensor):
            return tuple(v.shape)
        return tuple(int(d) for d in n.meta["val"].shape)

    def _row_factor(self, c: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray | None:
        """A constant that only varies along the rows of a 2-D result -> the per-row factors."""
        cb = torch.broadcast_to(c.to(torch.float64), shape)
        if len(shape) != 2 or not torch.all(cb == cb[:, :1]):
            return None
        return cb[:, 0].numpy()

    def lower_node(self, n: Node) -> None:
        t = n.target
        if t in VIEW_OPS:
            self.vals[n.name] = self.lower_view(n)
            return
        if t in IDENTITY_OPS:
            self.vals[n.name] = self.val(n.args[0])
            return
        if t is operator.getitem:
            v = self.val(n.args[0])
            self.vals[n.name] = v[n.args[1]] if isinstance(v, (tuple, list)) else v
            return
        layer = self.em.begin_layer(n.name, str(t).split(".")[1] if str(t).startswith("aten.") else str(t))
        self._cur_layer = layer
        try:
            if t == aten.index_select.default:
                self.lower_index_select(n)
            elif t in (aten.scatter_add.default, aten.index_add.default):
                self.lower_scatter_add(n)
            elif t in (aten.mul.Tensor, aten.div.Tensor) and any(
                    isinstance(self.raw(a), LRows) for a in n.args if isinstance(a, Node)):
                self.lower_lrows_scale(n)
            elif t in (aten.add.Tensor, aten.sub.Tensor) and any(
                    isinstance(self.raw(a), LRows) for a in n.args if isinstance(a, Node)):
                self.lower_lrows_add(n)
            elif t in (aten.addmm.default, aten.mm.default, aten.bmm.default):
                self.lower_matmul(n)
            elif t == aten.convolution.default:
                self.lower_conv(n)
            elif t in (aten.add.Tensor, aten.sub.Tensor) and self._unary_operand(n) is None:
                self.lower_add(n)
            elif t == aten.mul.Tensor and self._unary_operand(n) is None:
                self.lower_mul_const(n)
            elif self._unary_operand(n) is not None:
                self.lower_pointwise(n)
            elif t in (aten.mean.dim, aten.sum.dim_IntList):
                self.lower_reduce(n)
            elif t == aten._softmax.default:
                self.lower_softmax(n)
            elif t == aten.native_layer_norm.default:
                self.lower_layernorm(n)
            elif t == aten.embedding.default:
                self.lower_embedding(n)
            elif t == aten._native_batch_norm_legit_no_training.default:
                self.lower_batchnorm(n)
            elif t == aten.max_pool2d_with_indices.default:
                self.lower_maxpool(n)
            elif t == aten.avg_pool2d.default:
                self.lower_avgpool(n)
            elif t == aten.cat.default:
                self.lower_cat(n)
            else:
                raise unsupported(n)
        finally:
            self.em.end_layer(layer)
            self._cur_layer = None

    # ------------------------------------------------------------------ views
    def lower_view(self, n: Node) -> Act:
        x = self.val(n.args[0])
        assert isinstance(x, Act), n
        meta = torch.empty_strided(x.shape, x.strides, dtype=torch.int8, device="meta")
        try:
            with torch.no_grad():
                r = n.target(meta, *n.args[1:], **n.kwargs)
        except RuntimeError:
            if x.dtype != "int8":
                raise unsupported(n, "re-layout of an int32 tensor") from None
            x = self.copy(x, f"{n.name}.contig")
            meta = torch.empty_strided(x.shape, x.strides, dtype=torch.int8, device="meta")
            r = n.target(meta, *n.args[1:], **n.kwargs)
        return replace(x, addr=x.addr + r.storage_offset() * x.item, shape=tuple(r.shape),
                       strides=tuple(r.stride()), border=x.border if r.dim() == 4 and r.shape == x.shape
                       and tuple(r.stride()) == x.strides else 0)

    def col_dim(self, x: Act) -> int:
        nd = len(x.shape)
        best = nd - 1
        for d in range(nd - 1, -1, -1):
            if x.strides[d] == 1 and x.shape[d] > 1:
                return d
            if x.strides[d] < x.strides[best] and x.shape[d] > 1:
                best = d
        return best

    # ------------------------------------------------------------------ identity-style GEMMs
    def eltwise(self, name: str, srcs: list[tuple[Act, int]], shape: tuple[int, ...], post: Post,
                s_out: float, acc_scale: float, *, bias: np.ndarray | None = None, col: int | None = None,
                out_dtype: str = "int8", border: int = 0, out: Act | None = None,
                role: str = "intermediate", check: bool = True) -> Act:
        """out = PPU(sum_i w_i * src_i) elementwise (srcs broadcast to ``shape``), on the array."""
        R, C = self.hw.rows, self.hw.cols
        nd = len(shape)
        first = srcs[0][0]
        if col is None:
            col = self.col_dim(first) if len(first.shape) == nd else nd - 1
        rows = [d for d in range(nd) if d != col]
        if out is None:
            out = self.alloc(name, shape, s_out, col_dim=col, border=border, dtype=out_dtype, role=role,
                             check=check)
        asrcs: list[ASrc] = []
        kbl: list[KBlk] = []
        Ncol = shape[col] if nd else 1
        nblk = -(-Ncol // R)
        tiles: dict[tuple[int, int], int] = {}
        for i, (a, _w) in enumerate(srcs):
            a = self.broadcast(a, shape)
            asrcs.append(ASrc(self.src_runs(a, rows), a.region))
            st = a.bstride(col) if nd else 1
            for cb in range(nblk):
                tiles[len(kbl), cb] = i
                kbl.append(KBlk(i, cb * R * st, min(R, Ncol - cb * R), st))
        # one diagonal tile per (source weight), shared by every N-block
        diag: dict[int, int] = {}
        blobs = []
        for i, (_a, w) in enumerate(srcs):
            t = np.zeros((R, C), dtype=np.int8)
            for j in range(min(R, C)):
                t[j, j] = w
            diag[i] = len(blobs)
            blobs.append(t)
        reg = self.mem.const(np.stack(blobs), f"{name}.eye")
        if R != C:
            raise NotImplementedError("elementwise GEMMs assume ROWS == COLS")

        def wtile(kb: int, nb: int) -> WTile | None:
            i = tiles.get((kb, nb))
            if i is None:
                return None
            return WTile(reg.addr + diag[i] * R * C, R, C, 1, C, reg.rid)

        M = int(np.prod([shape[d] for d in rows])) if rows else 1
        ppu = self.make_ppu(name, Ncol, np.full(Ncol, acc_scale), bias, post, s_out,
                            out_int32=out_dtype == "int32")
        self.run(GemmOp(name, M, Ncol, asrcs, kbl, wtile, ppu,
                        [Out(self.out_runs(out, rows), out.bstride(col) if nd else 1, out.region)]))
        return out

    def broadcast(self, a: Act, shape: tuple[int, ...]) -> Act:
        if tuple(a.shape) == tuple(shape):
            return a
        nd = len(shape)
        sh = (1,) * (nd - len(a.shape)) + tuple(a.shape)
        st = (0,) * (nd - len(a.shape)) + tuple(a.strides)
        st = tuple(0 if sh[d] == 1 and shape[d] != 1 else st[d] for d in range(nd))
        return replace(a, shape=tuple(shape), strides=st, border=0)

    def copy(self, x: Act, name: str, border: int = 0) -> Act:
        return self.eltwise(name, [(x, 1)], x.shape, Post(), x.scale, x.scale, border=border, check=False)

    def const_act(self, t: torch.Tensor, name: str) -> Act:
        v = t.detach().to(torch.float64).numpy()
        s = act_scale(float(np.abs(v).max()) if v.size else 1.0)
        q = quant(v, s).astype(np.int8)
        reg = self.mem.const(q, name)
        strides = tuple(int(x) for x in np.array(q.strides))
        return Act(name, reg.addr, tuple(q.shape), strides, s, reg.rid)

    def out_spec(self, end: Node, shape: tuple[int, ...]) -> tuple[float, str]:
        """Scale and dtype of a group's output: model outputs reached only through views that
        need no copy are stored as int32 (finer scale); everything else is int8."""
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

    # ------------------------------------------------------------------ elementwise
    def lower_pointwise(self, n: Node) -> None:
        x = self.val(self._unary_operand(n))
        chain = [n, *self._standalone_chain(n)]
        end = chain[-1]
        real = [u for u in chain if u.target not in IDENTITY_OPS]
        r = self.rng(self._unary_operand(n).name)
        if len(real) == 1 and real[0].target == aten.relu.default:
            post = Post("relu")
            s_out = x.scale
            pre_scale = x.scale
        else:
            def fn(v: np.ndarray, chain: list[Node] = real) -> np.ndarray:
                t = torch.as_tensor(np.asarray(v), dtype=torch.float64)
                for u in chain:
                    t = self._apply_unary(u, t)
                return t.numpy()
            post = Post("pwl", fn, r.lo, r.hi, _fit_opts(real), r.samples, _chain_label(real))
            s_out, _ = self.out_spec(end, x.shape)
            pre_scale = x.scale
        dtype = self.out_spec(end, x.shape)[1]
        if post.kind == "relu" and dtype == "int32":
            s_out = self.out_spec(end, x.shape)[0]
        elif post.kind == "relu":
            s_out = x.scale
        out = self.eltwise(end.name, [(x, 1)], x.shape, post, s_out, pre_scale, out_dtype=dtype,
                           border=self.border.get(end.name, 0), role=self.role_of(end))
        self.vals[end.name] = out
        for u in chain:
            self.vals[u.name] = out

    def _standalone_chain(self, n: Node) -> list[Node]:
        """The single-user elementwise/identity ops after ``n`` that fuse into its epilogue."""
        out = []
        cur = n
        while cur.name not in self.out_names:
            us = self.users[cur.name]
            if len(us) != 1:
                break
            u = us[0]
            if u.target in IDENTITY_OPS or self._unary_operand(u) is cur:
                out.append(u)
                self.fused.add(u.name)
                cur = u
            else:
                break
        return out

    def lower_add(self, n: Node) -> None:
        a, b = n.args[0], n.args[1]
        alpha = n.kwargs.get("alpha", 1)
        sign = -1.0 if n.target == aten.sub.Tensor else 1.0
        av = self.val(a) if not self.is_const(a) else self.const_act(self.const(a), f"{n.name}.c0")
        bv = self.val(b) if not self.is_const(b) else self.const_act(self.const(b), f"{n.name}.c1")
        shape = self.shape_of(n)
        s_acc = max(av.scale, bv.scale * abs(alpha)) / 127
        wa = round(av.scale / s_acc)
        wb = round(sign * alpha * bv.scale / s_acc)
        post, end = self.post_for(n, n.name)
        s_out, dt = self.out_spec(end, shape)
        if post.kind == "relu" and dt == "int8":
            s_out = self.scale_of(end.name)
        big = av if len(av.shape) == len(shape) and tuple(av.shape) == shape else bv
        col = self.col_dim(big)
        out = self.eltwise(end.name, [(av, wa), (bv, wb)], shape, post, s_out, s_acc, col=col,
                           out_dtype=dt, border=self.border.get(end.name, 0), role=self.role_of(end))
        self.vals[end.name] = out
        self.vals[n.name] = out

    def lower_mul_const(self, n: Node) -> None:
        """activation * constant tensor broadcast along the columns (per-channel scale)."""
        a, b = n.args
        x, c = (a, b) if not self.is_const(a) else (b, a)
        if not self.is_const(c):
            raise unsupported(n, "product of two activations")
        xv = self.val(x)
        cv = self.const(c).to(torch.float64)
        shape = self.shape_of(n)
        col = self.col_dim(xv)
        cb = torch.broadcast_to(cv, shape)
        # must vary only along col
        vec = cb.movedim(col, -1).reshape(-1, shape[col])
        if not torch.all(vec == vec[0:1]):
            raise unsupported(n, "constant factor varies along more than the channel dimension")
        self.channel_affine(n, xv, vec[0].numpy(), np.zeros(shape[col]), col)

    def channel_affine(self, n: Node, x: Act, gamma: np.ndarray, beta: np.ndarray, col: int,
                       end: Node | None = None) -> Act:
        """y = x * gamma[c] + beta[c] via a diagonal-weight GEMM (per-column weight scales)."""
        end = end or n
        shape = x.shape
        D = shape[col]
        ws = np.maximum(np.abs(gamma) / 127, 1e-12)
        W = np.diag(np.round(gamma / ws)).astype(np.int8)
        s_out, dt = self.out_spec(end, shape)
        rows = [d for d in range(len(shape)) if d != col]
        out = self.alloc(end.name, shape, s_out, col_dim=col, border=self.border.get(end.name, 0),
                         dtype=dt, role=self.role_of(end))
        wt = pack_weight_tiles(self.mem, W, self.hw, f"{n.name}.w")
        kbl = self.kblocks_dim(0, x, col)
        ppu = self.make_ppu(n.name, D, x.scale * ws, beta, Post(), s_out, out_int32=dt == "int32")
        M = int(np.prod([shape[d] for d in rows])) if rows else 1
        self.run(GemmOp(n.name, M, D, [ASrc(self.src_runs(x, rows), x.region)], kbl, wt, ppu,
                        [Out(self.out_runs(out, rows), out.bstride(col), out.region)]))
        self.vals[end.name] = out
        self.vals[n.name] = out
        return out

    def lower_batchnorm(self, n: Node) -> None:
        x = self.val(n.args[0])
        w, b, mean, var = (self.const(a).to(torch.float64).numpy() if a is not None else None
                           for a in n.args[1:5])
        eps = n.args[6]
        g = (w if w is not None else 1.0) / np.sqrt(var + eps)
        beta = (b if b is not None else 0.0) - mean * g
        gi = next(iter(self.users[n.name]))
        out = self.channel_affine(n, x, g, beta, 1, end=gi)
        self.vals[n.name] = (out,)

    # ------------------------------------------------------------------ matmul / linear
    def lower_matmul(self, n: Node) -> None:
        R, C = self.hw.rows, self.hw.cols
        if n.target == aten.addmm.default:
            bias_n, a, b = n.args[0], n.args[1], n.args[2]
            beta, alpha = n.kwargs.get("beta", 1), n.kwargs.get("alpha", 1)
        else:
            bias_n, a, b = None, n.args[0], n.args[1]
            beta, alpha = 1, 1
        post, end = self.post_for(n, n.name)
        shape = self.shape_of(n)
        s_out, dt = self.out_spec(end, shape)
        if post.kind == "relu" and dt == "int8":
            s_out = self.scale_of(end.name)
        out = self.alloc(end.name, shape, s_out, border=0, dtype=dt, role=self.role_of(end))
        bias = None
        if bias_n is not None:
            if not self.is_const(bias_n):
                raise unsupported(n, "addmm with a runtime bias")
            bias = (beta * self.const(bias_n).to(torch.float64)).numpy()
            bias = np.broadcast_to(bias, shape)
            if bias.ndim == 2 and not np.all(bias == bias[0:1]):
                raise unsupported(n, "addmm bias varying along rows")
            bias = np.array(bias.reshape(-1, shape[-1])[0])
        batched = n.target == aten.bmm.default
        nb_ = shape[0] if batched else 1
        for bi in range(nb_):
            A = self.val(a) if not self.is_const(a) else None
            B = self.val(b) if not self.is_const(b) else None
            Ac = self.const(a) if A is None else None
            Bc = self.const(b) if B is None else None
            if batched:
                A = self._sel(A, bi) if A is not None else None
                B = self._sel(B, bi) if B is not None else None
                Ac = Ac[bi] if Ac is not None else None
                Bc = Bc[bi] if Bc is not None else None
            o = self._sel(out, bi) if batched else out
            M, K = (A.shape if A is not None else tuple(Ac.shape))
            N = B.shape[1] if B is not None else Bc.shape[1]
            nm = f"{n.name}.b{bi}" if batched else n.name
            if Bc is not None:
                # constant weights: per-output-column scales
                w = (alpha * Bc.to(torch.float64)).numpy()
                ws = weight_scales(w, axis=0)
                wq = quant(w, ws[None, :]).astype(np.int8)
                wt = pack_weight_tiles(self.mem, wq, self.hw, f"{nm}.w")
                assert A is not None
                acc_scale = A.scale * ws
                srcs = [ASrc(self.src_runs(A, [0]), A.region)]
                kbl = self.kblocks_dim(0, A, 1)
                a_zero = None
            else:
                assert B is not None
                if A is None:
                    # constant left operand (e.g. a normalised adjacency): per-tensor scale
                    av = (alpha * Ac.to(torch.float64)).numpy()
                    sa = act_scale(float(np.abs(av).max()))
                    aq = quant(av, sa).astype(np.int8)
                    A = Act(f"{nm}.a", 0, aq.shape, (aq.shape[1], 1), sa, -1)
                    reg = self.mem.const(aq, f"{nm}.a")
                    A = replace(A, addr=reg.addr, region=reg.rid)
                    nzb = np.zeros((M, -(-K // R)), dtype=bool)
                    for kb in range(nzb.shape[1]):
                        nzb[:, kb] = np.any(aq[:, kb * R:(kb + 1) * R] != 0, axis=1)
                    cums = np.vstack([np.zeros((1, nzb.shape[1]), dtype=np.int64), np.cumsum(nzb, axis=0)])

                    def a_zero(m0: int, m1: int, kb: int, cums: np.ndarray = cums) -> bool:
                        return bool(cums[m1, kb] - cums[m0, kb] == 0)
                    acc_scale = np.full(N, sa * B.scale)
                else:
                    a_zero = None
                    acc_scale = np.full(N, A.scale * B.scale * alpha)
                srcs = [ASrc(self.src_runs(A, [0]), A.region)]
                kbl = self.kblocks_dim(0, A, 1)
                sk, sn = B.bstride(0), B.bstride(1)

                def wtile(kb: int, nb: int, B: Act = B, K: int = K, N: int = N, sk: int = sk,
                          sn: int = sn) -> WTile:
                    k0, n0 = kb * R, nb * C
                    return WTile(B.addr + k0 * sk + n0 * sn, min(R, K - k0), min(C, N - n0), sn, sk, B.region)
                wt = wtile
            ppu = self.make_ppu(nm, N, acc_scale, bias, post, s_out, out_int32=dt == "int32")
            self.run(GemmOp(nm, M, N, srcs, kbl, wt, ppu,
                            [Out(self.out_runs(o, [0]), o.bstride(1), o.region)], a_zero=a_zero))
        self.vals[end.name] = out
        self.vals[n.name] = out

    def _sel(self, x: Act, i: int) -> Act:
        return replace(x, addr=x.addr + i * x.bstride(0), shape=x.shape[1:], strides=x.strides[1:], border=0)

    # ------------------------------------------------------------------ convolution
    def lower_conv(self, n: Node) -> None:
        R = self.hw.rows
        x_n, w_n, b_n, stride, padding, dilation, transposed, _outpad, groups = n.args
        if transposed or groups != 1:
            raise unsupported(n, "only groups=1, non-transposed convolution")
        if len(stride) != 2:
            raise unsupported(n, "only 2-D convolution")
        x = self.val(x_n)
        w = self.const(w_n).to(torch.float64).numpy()
        b = self.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(w.shape[0])
        bn = self.bn_of.get(n.name)
        if bn is not None:
            g_, be, mean, var = (self.const(a).to(torch.float64).numpy() if a is not None else None
                                 for a in bn.args[1:5])
            eps = bn.args[6]
            sc = (g_ if g_ is not None else 1.0) / np.sqrt(var + eps)
            w = w * sc[:, None, None, None]
            b = (b - mean) * sc + (be if be is not None else 0.0)
        pre = self._bn_get(n).name if bn is not None else n.name
        post, end = self.post_for(n, pre)
        Co, Ci, KH, KW = w.shape
        N_, _, H, W_ = x.shape
        sh, sw = stride
        ph, pw = padding
        dh, dw = dilation
        if x.border < max(ph, pw) or x.strides[1] != 1:
            x = self.copy(x, f"{n.name}.pad", border=max(ph, pw))
        Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
        Wo = (W_ + 2 * pw - dw * (KW - 1) - 1) // sw + 1
        shape = (N_, Co, Ho, Wo)
        s_out, dt = self.out_spec(end, shape)
        if post.kind == "relu" and dt == "int8":
            s_out = self.scale_of(end.name)
        out = self.alloc(end.name, shape, s_out, col_dim=1, border=self.border.get(end.name, 0),
                         dtype=dt, role=self.role_of(end))
        # weights as (kh, kw, c) x Co with K-blocks per (kh, kw, c-block)
        wk = w.transpose(2, 3, 1, 0).reshape(KH * KW * Ci, Co)
        ws = weight_scales(wk, axis=0)
        wq = quant(wk, ws[None, :]).astype(np.int8)
        sN, sH, sW = x.bstride(0), x.bstride(2), x.bstride(3)
        kbl: list[KBlk] = []
        rb: list[tuple[int, int]] = []
        for kh in range(KH):
            for kw in range(KW):
                for c0 in range(0, Ci, R):
                    off = (kh * dh - ph) * sH + (kw * dw - pw) * sW + c0
                    kbl.append(KBlk(0, off, min(R, Ci - c0), 1))
                    rb.append(((kh * KW + kw) * Ci + c0, min(R, Ci - c0)))
        wt = pack_weight_tiles(self.mem, wq, self.hw, f"{n.name}.w", rb)
        a_runs, o_runs = [], []
        m = 0
        for ni in range(N_):
            for ho in range(Ho):
                a_runs.append(Run(m, Wo, x.addr + ni * sN + ho * sh * sH, sw * sW))
                o_runs.append(Run(m, Wo, out.addr + ni * out.bstride(0) + ho * out.bstride(2),
                                  out.bstride(3)))
                m += Wo
        ppu = self.make_ppu(n.name, Co, x.scale * ws, b, post, s_out, out_int32=dt == "int32")
        op = GemmOp(n.name, m, Co, [ASrc(merge_runs(a_runs), x.region)], kbl, wt, ppu,
                    [Out(merge_runs(o_runs), out.bstride(1), out.region)])
        self.run(op)
        self.em.layers[-1].meta.update(macs=int(m * Co * KH * KW * Ci))
        self.vals[end.name] = out
        self.vals[n.name] = out

    # ------------------------------------------------------------------ reductions
    def lower_reduce(self, n: Node) -> None:
        x = self.val(n.args[0])
        dims = sorted(d % len(x.shape) for d in n.args[1])
        keep = n.args[2] if len(n.args) > 2 else n.kwargs.get("keepdim", False)
        is_mean = n.target == aten.mean.dim
        count = int(np.prod([x.shape[d] for d in dims]))
        post, end = self.post_for(n, n.name)
        oshape = self.shape_of(n)
        s_out, dt = self.out_spec(end, oshape)
        R, C = self.hw.rows, self.hw.cols
        col = self.col_dim(x)
        kept = [d for d in range(len(x.shape)) if d not in dims]
        red_other = [d for d in dims if d != col]
        offs = [sum(i * x.bstride(d) for i, d in zip(idx, red_other, strict=True))
                for idx in itertools.product(*[range(x.shape[d]) for d in red_other])]
        # output logical shape with keepdim -> allocate full keepdim shape then view
        kshape = tuple(1 if d in dims else x.shape[d] for d in range(len(x.shape)))
        if col in kept:
            ocol = col
            out = self.alloc(end.name, kshape, s_out, col_dim=ocol, dtype=dt, role=self.role_of(end))
            rows = [d for d in kept if d != col]
            Ncol = x.shape[col]
            nblk = -(-Ncol // R)
            kbl, tiles = [], {}
            for o in offs:
                for cb in range(nblk):
                    tiles[len(kbl), cb] = True
                    kbl.append(KBlk(0, o + cb * R, min(R, Ncol - cb * R), 1))
            reg = self.mem.const(np.eye(R, C, dtype=np.int8), f"{n.name}.eye")

            def wtile(kb: int, nb: int) -> WTile | None:
                return WTile(reg.addr, R, C, 1, C, reg.rid) if (kb, nb) in tiles else None
            Nout = Ncol
            o_runs = self.out_runs(out, rows)
            ostride = out.bstride(col)
        else:
            # reduce over the contiguous dim: ones-vector GEMM, one output column
            out = self.alloc(end.name, kshape, s_out, dtype=dt, role=self.role_of(end))
            rows = kept
            Kc = x.shape[col]
            kbl = [KBlk(0, o + k0 * x.bstride(col), min(R, Kc - k0), x.bstride(col))
                   for o in offs for k0 in range(0, Kc, R)]
            ones = np.zeros((R, C), dtype=np.int8)
            ones[:, 0] = 1
            reg = self.mem.const(ones, f"{n.name}.ones")

            def wtile(kb: int, nb: int) -> WTile | None:
                return WTile(reg.addr, R, C, 1, C, reg.rid)
            Nout = 1
            o_runs = self.out_runs(out, rows)
            ostride = out.item
        acc_scale = x.scale / count if is_mean else x.scale
        ppu = self.make_ppu(n.name, Nout, np.full(Nout, acc_scale), None, post, s_out,
                            out_int32=dt == "int32")
        M = int(np.prod([x.shape[d] for d in rows])) if rows else 1
        self.run(GemmOp(n.name, M, Nout, [ASrc(self.src_runs(x, rows), x.region)], kbl, wtile, ppu,
                        [Out(o_runs, ostride, out.region)]))
        if not keep:
            out = replace(out, shape=oshape, border=0,
                          strides=tuple(s for d, s in enumerate(out.strides) if d not in dims))
        self.vals[end.name] = out
        self.vals[n.name] = out

    # ------------------------------------------------------------------ softmax
    def row_tensor(self, name: str, M: int, lane1: int | None = None) -> tuple[int, int]:
        arr = np.zeros((M, 2), dtype="<i4")
        if lane1 is not None:
            arr[:, 1] = lane1
        reg = self.mem.alloc(arr.nbytes, name, arr.tobytes())
        self.tensors.append({"name": self._uniq(name), "role": "scratch", "addr": reg.addr, "shape": [M, 2],
                             "strides": [8, 4], "dtype": "int32", "scale": 1.0, "zero_point": 0,
                             "check": False, "layer": self._cur_layer.name if self._cur_layer else None})
        return reg.addr, reg.rid

    def _uniq(self, name: str) -> str:
        nm, k = name, 1
        while nm in self.tensor_names:
            k += 1
            nm = f"{name}_{k}"
        self.tensor_names.add(nm)
        return nm

    def rowsum_gemm(self, name: str, x: Act, rows: list[int], col: int, post: Post, s_out: float,
                    acc_scale: float, weight: int, dst: tuple[int, int], lane: int, *,
                    out_int32: bool = True, row: tuple[int, int, int] | None = None) -> None:
        """dst[m, lane] = PPU(weight * sum_k x[m, k]) as int32, rows in ``rows`` order."""
        R, C = self.hw.rows, self.hw.cols
        Kc = x.shape[col]
        kbl = [KBlk(0, k0 * x.bstride(col), min(R, Kc - k0), x.bstride(col)) for k0 in range(0, Kc, R)]
        ones = np.zeros((R, C), dtype=np.int8)
        ones[:, 0] = weight
        reg = self.mem.const(ones, f"{name}.ones")
        M = int(np.prod([x.shape[d] for d in rows])) if rows else 1
        ppu = self.make_ppu(name, 1, np.array([acc_scale]), None, post, s_out, out_int32=out_int32, row=row)
        outs = [Out([Run(0, M, dst[0] + 4 * lane, 8)], 4, dst[1])]
        self.run(GemmOp(name, M, 1, [ASrc(self.src_runs(x, rows), x.region)], kbl,
                        lambda kb, nb: WTile(reg.addr, R, C, 1, C, reg.rid), ppu, outs))

    def scaled_copy(self, name: str, x: Act, rows: list[int], col: int, weight: int, ppu: Ppu,
                    out: Act) -> None:
        """out = PPU(weight * x) with a diagonal weight (identity GEMM), rows in ``rows`` order."""
        R, C = self.hw.rows, self.hw.cols
        Ncol = x.shape[col]
        kbl = [KBlk(0, cb * R * x.bstride(col), min(R, Ncol - cb * R), x.bstride(col))
               for cb in range(-(-Ncol // R))]
        reg = self.mem.const((np.eye(R, C) * weight).astype(np.int8), f"{name}.eye")
        M = int(np.prod([x.shape[d] for d in rows])) if rows else 1

        def wtile(kb: int, nb: int) -> WTile | None:
            return WTile(reg.addr, R, C, 1, C, reg.rid) if kb == nb else None
        self.run(GemmOp(name, M, Ncol, [ASrc(self.src_runs(x, rows), x.region)], kbl, wtile, ppu,
                        [Out(self.out_runs(out, rows), out.bstride(col), out.region)]))

    def _slice_last(self, x: Act, dim: int, lo: int, hi: int) -> Act:
        sh = list(x.shape)
        sh[dim] = hi - lo
        return replace(x, addr=x.addr + lo * x.bstride(dim), shape=tuple(sh), border=0)

    def row_max(self, name: str, x: Act, dim: int) -> Act:
        """Exact max over ``dim`` by a pairwise tree, max(a, b) = b + relu(a - b) (same scale)."""
        cur = x
        level = 0
        while cur.shape[dim] > 1:
            w = cur.shape[dim]
            h = w // 2
            sh = list(cur.shape)
            sh[dim] = h + (w % 2)
            nxt = self.alloc(f"{name}.max{level}", tuple(sh), x.scale, col_dim=dim, check=False,
                             role="scratch")
            a = self._slice_last(cur, dim, 0, h)
            b = self._slice_last(cur, dim, h, 2 * h)
            d = self.eltwise(f"{name}.maxd{level}", [(a, 1), (b, -1)], a.shape, Post("relu"), x.scale,
                             x.scale, col=dim, check=False, role="scratch")
            self.eltwise(f"{name}.maxs{level}", [(b, 1), (d, 1)], a.shape, Post(), x.scale, x.scale,
                         col=dim, out=self._slice_last(nxt, dim, 0, h))
            if w % 2:
                self.eltwise(f"{name}.maxc{level}", [(self._slice_last(cur, dim, w - 1, w), 1)],
                             self._slice_last(cur, dim, w - 1, w).shape, Post(), x.scale, x.scale,
                             col=dim, out=self._slice_last(nxt, dim, h, h + 1))
            cur = nxt
            level += 1
        return cur

    def lower_softmax(self, n: Node) -> None:
        """softmax(x) = e / sum(e), e = exp(x - rowmax(x)): exact row max (pairwise PWL tree) into
        the ROW offset, PWL exp, GEMM row sums + PWL reciprocal into the ROW scale, then a
        row-scaled identity GEMM."""
        x = self.val(n.args[0])
        dim = n.args[1] % len(x.shape)
        shape = x.shape
        rows = [d for d in range(len(shape)) if d != dim]
        M = int(np.prod([shape[d] for d in rows])) if rows else 1
        T = shape[dim]
        WID = 64
        # 1. -WID * rowmax -> ROW lane 0 (lane 1 = 1)
        mx = self.row_max(n.name, x, dim)
        rowm = self.row_tensor(f"{n.name}.rowm", M, lane1=1)
        self.rowsum_gemm(f"{n.name}.negmax", mx, rows, dim, Post(), 1.0, 1.0, -WID, rowm, 0)
        # 2. e = exp(x - max) as int8 (scale 1/127), input range [-span, 0]
        span = min(12.0, max(1e-3, self.rng(n.args[0].name).hi - self.rng(n.args[0].name).lo))
        d_rng, sum_rng = self.ranges.get(f"{n.name}#d"), self.ranges.get(f"{n.name}#sum")
        s_e = 1.0 / 127
        e = self.alloc(f"{n.name}.exp", shape, s_e, col_dim=dim, check=False, role="scratch")
        ppu = self.make_ppu(f"{n.name}.exp", T, np.full(T, x.scale / WID), None,
                            Post("pwl", np.exp, -span, 0.0, {"outer": ("clamp", "extend")},
                                 d_rng.samples if d_rng else None, "exp"), s_e,
                            row=(rowm[0], rowm[1], 0))
        self.scaled_copy(f"{n.name}.exp", x, rows, dim, WID, ppu, e)
        # 3. row sums (in [127, 127*T]) -> PWL reciprocal -> ROW lane 1
        s_p, dt = self.out_spec(n, shape)
        smin, smax = 100.0, 127.0 * T
        rs = max(0, min(40, math.floor(math.log2(2.0**30 * smin * s_p))))
        rowt = self.row_tensor(f"{n.name}.rows", M)
        rscale = 2.0**rs / s_p          # ROW scale = rscale / sum  (sum in e units)
        self.rowsum_gemm(f"{n.name}.sum", e, rows, dim,
                         Post("pwl", lambda v: rscale / np.maximum(v, 0.5), smin, smax,
                              {"spacing": "log", "outer": ("clamp", "clamp")},
                              sum_rng.samples if sum_rng else None, "reciprocal"),
                         1.0, 1.0, 1, rowt, 1)
        # 4. p = e * ROW scale >> rs
        out = self.alloc(n.name, shape, s_p, col_dim=dim, dtype=dt, role=self.role_of(n))
        one = (np.full(T, 1, dtype=np.int64), np.zeros(T, dtype=np.int64))
        ppu = self.make_ppu(f"{n.name}.norm", T, np.ones(T), None, Post(), 1.0, out_int32=dt == "int32",
                            row=(rowt[0], rowt[1], rs), mult_override=one)
        self.scaled_copy(f"{n.name}.norm", e, rows, dim, 1, ppu, out)
        self.vals[n.name] = out

    # ------------------------------------------------------------------ layer norm
    def lower_layernorm(self, n: Node) -> None:
        x_n, nshape, w_n, b_n, eps = n.args
        x = self.val(x_n)
        if len(nshape) != 1:
            raise unsupported(n, "layer_norm over more than the last dimension")
        col = len(x.shape) - 1
        D = x.shape[col]
        rows = list(range(col))
        M = int(np.prod(x.shape[:col])) if rows else 1
        WID = 64        # identity weight: acc = 64 * q_x, so the mean is kept to 1/64 of a step
        rowa = self.row_tensor(f"{n.name}.rowa", M, lane1=1)
        rowb = self.row_tensor(f"{n.name}.rowb", M)
        # G1: -WID * mean (int32, acc units of G2/G4) -> lane 0 of both ROW tensors
        for dst in (rowa, rowb):
            self.rowsum_gemm(f"{n.name}.mean", x, rows, col, Post(), 1.0, WID / D, -1, dst, 0)
        # G2: (x - mean) -> PWL square -> int8
        xc = torch.as_tensor(self._float(x_n))
        xc = xc - xc.mean(dim=-1, keepdim=True)
        # calibration of the centred values and variance from the reference run
        cr = self.ranges.get(f"{n.name}#xc") or Range(float(xc.min()), float(xc.max()), float(xc.abs().max()))
        vr = self.ranges.get(f"{n.name}#var")
        var = (xc * xc).mean(dim=-1)
        vlo = float(var.min()) if vr is None else vr.lo
        vhi = float(var.max()) if vr is None else vr.hi
        amax_c = max(cr.amax, 1e-6)
        s_sq = amax_c**2 / 127
        sq = self.alloc(f"{n.name}.sq", x.shape, s_sq, col_dim=col, check=False, role="scratch")
        ppu = self.make_ppu(f"{n.name}.sq", D, np.full(D, x.scale / WID), None,
                            Post("pwl", lambda v: v * v, -amax_c, amax_c, {},
                                 cr.samples, "square"), s_sq,
                            row=(rowa[0], rowa[1], 0))
        self.scaled_copy(f"{n.name}.sq", x, rows, col, WID, ppu, sq)
        # G3: variance -> PWL rsqrt -> ROW lane 1 of rowb
        s_z = self.scale_of(f"{n.name}#z") if f"{n.name}#z" in self.ranges else 4.0 / 127
        rs = 24
        # row scale = 2**rs * (x.scale/WID) / (s_z * sqrt(var + eps)), var = sum * s_sq / D
        k = 2.0**rs * (x.scale / WID) / s_z
        lo_v = max(vlo * 0.5, 1e-12) + eps
        hi_v = vhi * 2 + eps
        self.rowsum_gemm(f"{n.name}.var", sq, rows, col,
                         Post("pwl", lambda v: k / np.sqrt(np.maximum(v, 0) + eps), lo_v - eps, hi_v,
                              {"spacing": "log", "outer": ("clamp", "clamp")},
                              vr.samples if vr else None, "rsqrt"),
                         1.0, s_sq / D, 1, rowb, 1)
        # G4: z = (x - mean) * rsqrt(var + eps), int8
        z = self.alloc(f"{n.name}.z", x.shape, s_z, col_dim=col, check=False, role="scratch")
        one = (np.full(D, 1, dtype=np.int64), np.zeros(D, dtype=np.int64))
        ppu = self.make_ppu(f"{n.name}.z", D, np.ones(D), None, Post(), 1.0, row=(rowb[0], rowb[1], rs),
                            mult_override=one)
        self.scaled_copy(f"{n.name}.z", x, rows, col, WID, ppu, z)
        # G5: y = z * gamma + beta
        gamma = self.const(w_n).to(torch.float64).numpy() if w_n is not None else np.ones(D)
        beta = self.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(D)
        gi = [u for u in self.users[n.name] if u.target is operator.getitem and u.args[1] == 0]
        end = gi[0] if gi else n
        y = self.channel_affine(n, z, gamma, beta, col, end=end)
        self.vals[n.name] = (y, None, None)

    def _float(self, node: Node) -> torch.Tensor:
        return self.ref[node.name].detach().to(torch.float64)

    # ------------------------------------------------------------------ embedding
    def lower_embedding(self, n: Node) -> None:
        """table[ids] as a one-hot GEMM; the one-hot is built on the array from the int32 ids:
        acc[t, v] = b0 + 256*b1 - code(v) is 0 exactly when ids[t] == v (b0, b1 = signed low
        bytes of the id), and a PWL "hat" maps 0 -> 1, anything else -> 0."""
        R, C = self.hw.rows, self.hw.cols
        w_n, ids_n = n.args[0], n.args[1]
        if not self.is_const(w_n) or self.is_const(ids_n):
            raise unsupported(n, "embedding needs a constant table and runtime ids")
        ids = self.val(ids_n)
        table = self.const(w_n).to(torch.float64).numpy()
        V, H = table.shape
        if V > 32767:
            raise unsupported(n, "vocabulary larger than 32767")
        if ids.dtype != "int32":
            raise unsupported(n, "ids must be an integer model input")
        ishape = ids.shape
        nd = len(ishape)
        rows = list(range(nd))
        M = int(np.prod(ishape))
        onehot = self.alloc(f"{n.name}.onehot", (M, V), 1.0, check=False, role="scratch")
        tile_a = np.zeros((R, C), dtype=np.int8)
        tile_a[0, :] = 1
        tile_a[1, :] = 127
        tile_b = np.zeros((R, C), dtype=np.int8)
        tile_b[0, :] = 127
        tile_c = np.zeros((R, C), dtype=np.int8)
        tile_c[0, :] = 2
        reg = self.mem.const(np.stack([tile_a, tile_b, tile_c]), f"{n.name}.bytes")
        kbl = [KBlk(0, 0, 2, 1), KBlk(0, 1, 1, 1), KBlk(0, 1, 1, 1)]

        def wtile(kb: int, nb: int) -> WTile:
            return WTile(reg.addr + kb * R * C, R, C, 1, C, reg.rid)
        v = np.arange(V)
        lowb = ((v & 0xFF) ^ 0x80) - 0x80
        code = lowb + 256 * (v >> 8)
        hat = hat_table()
        recf, rid = self.records(V, -code, None, None, hat, f"{n.name}.onehot")
        ppu = Ppu(recf, rid, bias_en=True, pwl_en=True)
        id_runs = runs_of(ids.addr, [(ishape[d], ids.bstride(d)) for d in rows])
        self.run(GemmOp(f"{n.name}.onehot", M, V, [ASrc(id_runs, ids.region)], kbl, wtile, ppu,
                        [Out([Run(0, M, onehot.addr, V)], 1, onehot.region)]))
        # table GEMM
        post, end = self.post_for(n, n.name)
        oshape = self.shape_of(n)
        s_out, dt = self.out_spec(end, oshape)
        out = self.alloc(end.name, oshape, s_out, dtype=dt, role=self.role_of(end))
        ws = weight_scales(table, axis=0)
        wq = quant(table, ws[None, :]).astype(np.int8)
        wt = pack_weight_tiles(self.mem, wq, self.hw, f"{n.name}.w")
        ppu = self.make_ppu(n.name, H, ws, None, post, s_out, out_int32=dt == "int32")
        kbl2 = [KBlk(0, k0, min(R, V - k0), 1) for k0 in range(0, V, R)]
        orows = list(range(len(oshape) - 1))
        self.run(GemmOp(n.name, M, H, [ASrc([Run(0, M, onehot.addr, V)], onehot.region)], kbl2, wt, ppu,
                        [Out(self.out_runs(out, orows), out.bstride(len(oshape) - 1), out.region)]))
        self.vals[end.name] = out
        self.vals[n.name] = out

    # ------------------------------------------------------------------ pooling
    def _taps(self, x: Act, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, Ho: int, Wo: int,
              i: int, j: int) -> Act:
        sN, sC, sH, sW = x.strides
        addr = x.addr + ((i - ph) * sH + (j - pw) * sW) * x.item
        return Act(x.name, addr, (x.shape[0], x.shape[1], Ho, Wo), (sN, sC, sH * sh, sW * sw), x.scale,
                   x.region)

    def _pool_geom(self, n: Node, x: Act) -> tuple[int, int, int, int, int, int, int, int]:
        k = n.args[1]
        kh, kw = (k[0], k[-1])
        s = n.args[2] if len(n.args) > 2 and n.args[2] else k
        sh, sw = s[0], s[-1]
        p = n.args[3] if len(n.args) > 3 else [0, 0]
        ph, pw = (p[0], p[-1]) if p else (0, 0)
        if len(n.args) > 4 and n.target == aten.max_pool2d_with_indices.default:
            d = n.args[4]
            if d and max(d) != 1:
                raise unsupported(n, "dilated pooling")
        if len(n.args) > 5 and n.target == aten.max_pool2d_with_indices.default and n.args[5]:
            raise unsupported(n, "ceil_mode pooling")
        H, W_ = x.shape[2], x.shape[3]
        Ho = (H + 2 * ph - kh) // sh + 1
        Wo = (W_ + 2 * pw - kw) // sw + 1
        return kh, kw, sh, sw, ph, pw, Ho, Wo

    def lower_maxpool(self, n: Node) -> None:
        """max over taps as a chain max(m, t) = m + relu(t - m); exact on the int8 grid."""
        x = self.val(n.args[0])
        kh, kw, sh, sw, ph, pw, Ho, Wo = self._pool_geom(n, x)
        if (ph or pw) and self.rng(n.args[0].name).lo < 0:
            raise unsupported(n, "padded max pooling of a signed input")
        if x.border < max(ph, pw):
            x = self.copy(x, f"{n.name}.pad", border=max(ph, pw))
        shape = (x.shape[0], x.shape[1], Ho, Wo)
        gi = [u for u in self.users[n.name] if u.target is operator.getitem and u.args[1] == 0]
        end = gi[0] if gi else n
        taps = [self._taps(x, kh, kw, sh, sw, ph, pw, Ho, Wo, i, j) for i in range(kh) for j in range(kw)]
        m = taps[0]
        for t_i, t in enumerate(taps[1:]):
            last = t_i == len(taps) - 2
            d = self.eltwise(f"{n.name}.d{t_i}", [(t, 1), (m, -1)], shape, Post("relu"), x.scale, x.scale,
                             col=1, check=False, role="scratch")
            if last:
                m = self.eltwise(end.name, [(m, 1), (d, 1)], shape, Post(), x.scale, x.scale, col=1,
                                 border=self.border.get(end.name, 0), role=self.role_of(end))
            else:
                m = self.eltwise(f"{n.name}.m{t_i}", [(m, 1), (d, 1)], shape, Post(), x.scale, x.scale,
                                 col=1, check=False, role="scratch")
        self.vals[n.name] = (m, None)
        self.vals[end.name] = m

    def lower_avgpool(self, n: Node) -> None:
        x = self.val(n.args[0])
        kh, kw, sh, sw, ph, pw, Ho, Wo = self._pool_geom(n, x)
        if x.border < max(ph, pw):
            x = self.copy(x, f"{n.name}.pad", border=max(ph, pw))
        shape = (x.shape[0], x.shape[1], Ho, Wo)
        post, end = self.post_for(n, n.name)
        s_out, dt = self.out_spec(end, shape)
        taps = [(self._taps(x, kh, kw, sh, sw, ph, pw, Ho, Wo, i, j), 1)
                for i in range(kh) for j in range(kw)]
        out = self.eltwise(end.name, taps, shape, post, s_out, x.scale / (kh * kw), col=1, out_dtype=dt,
                           border=self.border.get(end.name, 0), role=self.role_of(end))
        self.vals[n.name] = out
        self.vals[end.name] = out

    def lower_cat(self, n: Node) -> None:
        xs = [self.val(a) if not self.is_const(a) else self.const_act(self.const(a), f"{n.name}.c{i}")
              for i, a in enumerate(n.args[0])]
        dim = n.args[1] if len(n.args) > 1 else 0
        shape = self.shape_of(n)
        dim %= len(shape)
        s_out, dt = self.out_spec(n, shape)
        col = self.col_dim(xs[0])
        out = self.alloc(n.name, shape, s_out, col_dim=col, dtype=dt, role=self.role_of(n),
                         border=self.border.get(n.name, 0))
        off = 0
        for i, x in enumerate(xs):
            part = replace(out, addr=out.addr + off * out.bstride(dim), shape=x.shape)
            self.eltwise(f"{n.name}.part{i}", [(x, 1)], x.shape, Post(), s_out, x.scale, col=col, out=part,
                         out_dtype=dt)
            off += x.shape[dim]
        self.vals[n.name] = out
