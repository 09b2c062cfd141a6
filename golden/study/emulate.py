"""A float + fake-int8 forward of a zoo network: the study's emulation of the accelerator.

Why an emulation next to the bit-exact golden simulator:

* **int8-only accuracy**: the same quantisation points with *exact* nonlinear functions separate the
  quantisation loss from the PWL loss (the hardware cannot evaluate exact GELU, so no Program can);
* **budgets beyond the PPU table** (32, 64 segments): ``golden.pwl.fit`` refuses more than the 16
  the hardware holds; the emulation evaluates such PWLs in float.  Every figure that comes from here
  is labelled "emulated" in tables, plots and docs;
* **fine-tuning** needs a differentiable forward: fake quantisation and the PWLs use the
  straight-through estimator (forward: rounded / PWL value, backward: identity / exact derivative).

What is emulated (mirroring docs/compiler.md, "Quantisation scheme"): the network is the core-ATen
graph ``torch.export`` gives the compiler; weights of GEMM operands are int8 per output channel (per
column for embedding tables, per tensor for a constant left operand such as a GNN's adjacency);
every materialised activation is int8 per tensor with ``scale = calibrated absmax / 127``, except
where a single-user elementwise epilogue is fused into its producer and the model output (int32 in
the compiler); softmax is ``exp(x - rowmax)`` as int8 (scale 1/127), a row sum and a reciprocal;
layer norm is centring, ``square`` (int8), a mean, ``rsqrt(var + eps)`` and an int8 normalised
value, then the affine.  PWL tables are fitted with golden.pwl on the same kind of calibration
samples and ranges as the compiler's.  Not emulated: intermediate integer widths (accumulators,
the PWL's 14-bit input grid), requantisation rounding of multipliers, composed-chain PWLs (one PWL
per op here).  The study reports the emulation next to the accelerator at 4, 8 and 16 segments so
its error is visible.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.fx import Node

from golden import pwl

aten = torch.ops.aten

VIEW_OPS = {aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.permute.default,
            aten.transpose.int, aten.t.default, aten.expand.default, aten.slice.Tensor, aten.select.int,
            aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.clone.default,
            aten.alias.default, aten.detach.default, aten._to_copy.default, aten.dropout.default,
            aten.lift_fresh_copy.default}
TUPLE_OPS = {aten._native_batch_norm_legit_no_training.default, aten.native_layer_norm.default,
             aten.max_pool2d_with_indices.default}
"""Ops returning a tuple whose item 0 is the value (the getitem is where it is quantised)."""
UNARY = {aten.relu.default, aten.gelu.default, aten.tanh.default, aten.sigmoid.default, aten.exp.default,
         aten.erf.default, aten.silu.default, aten.rsqrt.default, aten.reciprocal.default, aten.neg.default}
BINARY_SCALAR = {aten.mul.Tensor, aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar, aten.add.Tensor,
                 aten.add.Scalar, aten.sub.Tensor, aten.sub.Scalar}
PWL_OPS = {aten.gelu.default: "gelu", aten.tanh.default: "tanh", aten.sigmoid.default: "sigmoid",
           aten.erf.default: "erf", aten.silu.default: "silu", aten.exp.default: "exp",
           aten.rsqrt.default: "rsqrt", aten.reciprocal.default: "reciprocal"}
SAMPLES_PER_CALL = 2048
"""Calibration values kept per PWL input per forward (the compiler keeps 2048 per node per sample)."""


@dataclass(frozen=True)
class Fn:
    """A nonlinear function: numpy reference (fits), torch exact form (int8 mode, STE backward)."""

    np_fn: Callable[[np.ndarray], np.ndarray]
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    outer: tuple[str, str] = ("extend", "extend")
    spacing: str = "linear"


FNS: dict[str, Fn] = {
    "gelu": Fn(pwl.FUNCTIONS["gelu"].fn, F.gelu),
    "silu": Fn(pwl.FUNCTIONS["silu"].fn, F.silu),
    "tanh": Fn(np.tanh, torch.tanh, ("clamp", "clamp")),
    "sigmoid": Fn(pwl.FUNCTIONS["sigmoid"].fn, torch.sigmoid, ("clamp", "clamp")),
    "erf": Fn(pwl.FUNCTIONS["erf"].fn, torch.erf, ("clamp", "clamp")),
    "exp": Fn(np.exp, torch.exp, ("clamp", "extend")),
    # numpy forms clamp x > 0 like the compiler's (a fixed-granularity uniform window may reach x <= 0)
    "reciprocal": Fn(lambda x: 1.0 / np.maximum(x, 0.5), torch.reciprocal, ("clamp", "clamp"), "log"),
    "rsqrt": Fn(lambda x: 1.0 / np.sqrt(np.maximum(x, 1e-12)), torch.rsqrt, ("clamp", "clamp"), "log"),
    "square": Fn(np.square, torch.square),
}


def fit_any(fn: str, samples: np.ndarray | None, lo: float, hi: float, method: str, segments: int,
            granularity: float | None = None) -> pwl.Pwl:
    """golden.pwl's fitters without ``fit``'s 16-segment hardware assertion (same result for <= 16)."""
    f = FNS[fn]
    spacing = f.spacing if lo > 0 else "linear"
    info = pwl.FnInfo(f.np_fn, (lo, hi), f.outer, spacing, label=fn)
    if method == "uniform":
        return pwl.fit_uniform(info, samples, segments, lo=lo, hi=hi, granularity=granularity)
    h = pwl.fit_horizontal(info, samples, segments, lo=lo, hi=hi)
    if method == "horizontal" or samples is None or len(samples) == 0:
        return h
    return pwl.vertical_correct(h, samples, f.np_fn)


def ste(exact: torch.Tensor, approx: torch.Tensor) -> torch.Tensor:
    """Forward ``approx``, backward the gradient of ``exact`` (straight-through estimator)."""
    return exact + (approx - exact).detach()


def fake_quant(x: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric int8 rounding (codes -128..127), straight-through in the backward pass."""
    q = torch.clamp(torch.round(x / scale), -128, 127) * scale
    return ste(x, q)


def quant_weight(w: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Per-channel (``axis``) or per-tensor (None) symmetric int8 weights, straight-through."""
    if axis is None:
        s = w.detach().abs().max().clamp(min=1e-12) / 127.0
    else:
        dims = [d for d in range(w.dim()) if d != axis]
        s = w.detach().abs().amax(dim=dims, keepdim=True).clamp(min=1e-12) / 127.0
    return fake_quant(w, s)


@dataclass
class Site:
    """One PWL of the network: its function, calibrated range and input samples."""

    fn: str
    lo: float = math.inf
    hi: float = -math.inf
    samples: list[np.ndarray] = field(default_factory=list)
    top: float = 0.0
    """Upper end fixed by the lowering (softmax reciprocal: 127 x row length), 0 = calibrated."""

    def record(self, x: torch.Tensor, gen: torch.Generator, keep: int = SAMPLES_PER_CALL) -> None:
        v = x.detach().reshape(-1).to(torch.float64)
        v = v[torch.isfinite(v)]
        if v.numel() == 0:
            return
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        if v.numel() > keep:
            v = v[torch.randint(0, v.numel(), (keep,), generator=gen)]
        self.samples.append(v.numpy())

    def all_samples(self) -> np.ndarray:
        return np.concatenate(self.samples) if self.samples else np.zeros(0)


class _TorchPwl:
    """A fitted PWL as torch tensors: ``slopes[s] * x + intercepts[s]``, s = #{breakpoints <= x}."""

    def __init__(self, p: pwl.Pwl) -> None:
        self.p = p
        self.bp = torch.tensor(p.breakpoints, dtype=torch.float32)
        self.k = torch.tensor(p.slopes, dtype=torch.float32)
        self.c = torch.tensor(p.intercepts, dtype=torch.float32)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.searchsorted(self.bp, x.detach().contiguous(), right=True)
        return self.k[s] * x + self.c[s]


class Emulator:
    """Fake-int8 / PWL interpreter of ``torch.export(model, example).run_decompositions()``.

    ``mode``: "float" (the exported graph as is), "int8" (quantisation, exact nonlinear ops) or "pwl"
    (quantisation and the PWL tables of :meth:`set_pwl`).  Parameters are held by their state-dict
    names (:attr:`params`), trainable, so :meth:`state_dict` loads back into the original model.
    The example's batch size is baked into the exported views: call with inputs of that shape.
    """

    def __init__(self, model: torch.nn.Module, example: Sequence[torch.Tensor],
                 samples_per_call: int = 1) -> None:
        """``samples_per_call``: inputs per forward (the batch), so calibration keeps as many PWL input
        values per calibration sample as the compiler does."""
        self.keep = SAMPLES_PER_CALL * samples_per_call
        with torch.no_grad():
            ep = torch.export.export(model, tuple(example)).run_decompositions()
        self.graph = ep.graph
        self.params: dict[str, torch.nn.Parameter] = {}
        self._ph: dict[str, tuple[str, Any]] = {}   # placeholder -> ("param", fqn) | ("const", tensor)
        self.user_inputs: list[str] = []
        for s in ep.graph_signature.input_specs:
            kind = s.kind.name
            if kind == "USER_INPUT":
                self.user_inputs.append(s.arg.name)
            elif kind == "PARAMETER":
                self.params[s.target] = torch.nn.Parameter(ep.state_dict[s.target].detach().clone().float())
                self._ph[s.arg.name] = ("param", s.target)
            else:
                v = ep.state_dict[s.target] if s.target in ep.state_dict else ep.constants[s.target]
                self._ph[s.arg.name] = ("const", v.detach().clone())
        self.nodes = list(self.graph.nodes)
        self._analyse()
        self.act_amax: dict[str, float] = {}
        self.sites: dict[str, Site] = {}
        self.tables: dict[str, _TorchPwl] = {}
        self.mode = "float"
        self.ste = False
        self._calibrating = False
        self._gen = torch.Generator().manual_seed(0)

    # ------------------------------------------------------------------------------ graph analysis
    def _analyse(self) -> None:
        users: dict[str, list[Node]] = {n.name: list(n.users) for n in self.nodes}
        active: set[str] = set(self.user_inputs)
        for n in self.nodes:
            if n.op == "call_function" and any(isinstance(a, Node) and a.name in active
                                               for a in _flat(n.args) + _flat(list(n.kwargs.values()))):
                active.add(n.name)
        self.active = active

        def eff_users(n: Node) -> list[Node]:
            out: list[Node] = []
            for u in users[n.name]:
                if u.op == "call_function" and (u.target in VIEW_OPS or
                                                (u.target is operator.getitem and n.target not in TUPLE_OPS)):
                    out.extend(eff_users(u))
                else:
                    out.append(u)
            return out

        def fusable(u: Node, n: Node) -> bool:
            if u.op != "call_function":
                return False
            if u.target in UNARY or u.target is aten._native_batch_norm_legit_no_training.default:
                return True
            if u.target in BINARY_SCALAR:
                others = [a for a in u.args[:2] if a is not n]
                return len(others) == 1 and (not isinstance(others[0], Node) or others[0].name not in active)
            return False

        self.quantised: set[str] = set()
        self.weight_axis: dict[str, int | None] = {}
        for n in self.nodes:
            if n.op != "call_function" or n.name not in active:
                continue
            if n.target in VIEW_OPS or n.target in TUPLE_OPS:
                continue
            src = n.args[0] if n.target is operator.getitem else None
            if n.target is operator.getitem and (not isinstance(src, Node) or src.target not in TUPLE_OPS
                                                 or n.args[1] != 0):
                continue
            eu = eff_users(n)
            if any(u.op == "output" for u in eu):
                continue
            if len(eu) == 1 and fusable(eu[0], n):
                continue
            self.quantised.add(n.name)
        # weights: constant operands of GEMM-like ops
        for n in self.nodes:
            if n.op != "call_function":
                continue
            t = n.target
            slots: list[tuple[Any, int | None]] = []
            if t is aten.convolution.default:
                slots = [(n.args[1], 0)]
            elif t is aten.addmm.default:
                slots = [(n.args[2], 0), (n.args[1], None)]
            elif t in (aten.mm.default, aten.bmm.default):
                slots = [(n.args[1], 0), (n.args[0], None)]
            elif t is aten.embedding.default:
                slots = [(n.args[0], 1)]
            for a, axis in slots:
                ph = _root_placeholder(a)
                if ph is not None and ph.name in self._ph and ph.name not in self.weight_axis:
                    self.weight_axis[ph.name] = axis

    # -------------------------------------------------------------------------------- parameters
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Trained parameters by state-dict name (``model.load_state_dict(..., strict=False)``)."""
        return {k: v.detach().clone() for k, v in self.params.items()}

    def _value(self, ph: str) -> torch.Tensor:
        kind, v = self._ph[ph]
        t = self.params[v] if kind == "param" else v
        if self.mode != "float" and ph in self.weight_axis and t.dim() >= 2 and t.is_floating_point():
            t = quant_weight(t, self.weight_axis[ph])
        return t

    # ------------------------------------------------------------------------------- calibration
    @torch.no_grad()
    def calibrate(self, batches: Sequence[Sequence[torch.Tensor]]) -> None:
        """Float forward over ``batches``: activation absmax per quantised tensor, PWL inputs."""
        self.act_amax, self.sites = {}, {}
        mode, self.mode, self._calibrating = self.mode, "float", True
        try:
            for b in batches:
                self.forward(*b)
        finally:
            self.mode, self._calibrating = mode, False

    def set_pwl(self, method: str, segments: int, granularity: float | None = None) -> None:
        """Fit every PWL site (after :meth:`calibrate`) with ``method`` under ``segments``."""
        self.tables = {}
        for key, s in self.sites.items():
            lo, hi = _site_range(s)
            smp = s.all_samples()
            self.tables[key] = _TorchPwl(fit_any(s.fn, smp, lo, hi, method, segments, granularity))

    def _site(self, key: str, fn: str, x: torch.Tensor, top: float = 0.0) -> None:
        site = self.sites.setdefault(key, Site(fn))
        site.record(x, self._gen, self.keep)
        site.top = max(site.top, top)

    def _amax(self, key: str, v: torch.Tensor) -> None:
        self.act_amax[key] = max(self.act_amax.get(key, 0.0), float(v.detach().abs().max()))

    def _q(self, key: str, v: torch.Tensor) -> torch.Tensor:
        """Quantise activation ``key`` (calibration: record its absmax)."""
        if self._calibrating:
            self._amax(key, v)
            return v
        if self.mode == "float":
            return v
        return fake_quant(v, max(self.act_amax.get(key, 0.0), 1e-12) / 127.0)

    def _fn(self, key: str, fn: str, x: torch.Tensor, top: float = 0.0) -> torch.Tensor:
        """A nonlinear function: exact (float, int8) or the site's PWL (straight-through if training)."""
        exact = FNS[fn].torch_fn(x)
        if self._calibrating:
            self._site(key, fn, x, top)
            return exact
        if self.mode != "pwl":
            return exact
        approx = self.tables[key](x)
        return ste(exact, approx) if self.ste else approx

    # ----------------------------------------------------------------------------------- forward
    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        env: dict[str, Any] = {}
        it = iter(inputs)
        out: Any = None
        for n in self.nodes:
            if n.op == "placeholder":
                if n.name in self._ph:
                    env[n.name] = self._value(n.name)
                else:
                    x = next(it)
                    env[n.name] = self._q(n.name, x.float()) if x.is_floating_point() else x
                continue
            if n.op == "output":
                out = _map(n.args[0], env)
                break
            if n.op != "call_function":
                raise NotImplementedError(n.op)
            args, kwargs = _map(n.args, env), _map(n.kwargs, env)
            if n.name not in self.active or (self.mode == "float" and not self._calibrating):
                v = n.target(*args, **kwargs)
            elif n.target is aten._softmax.default:
                v = self._softmax(n.name, args[0], int(args[1]))
            elif n.target is aten.native_layer_norm.default:
                v = self._layer_norm(n.name, *args)
            elif n.target in PWL_OPS:
                v = self._fn(n.name, PWL_OPS[n.target], args[0])
                if n.target is aten.gelu.default and kwargs.get("approximate", "none") != "none":
                    raise NotImplementedError("tanh-approximate GELU")
            else:
                v = n.target(*args, **kwargs)
            if n.name in self.quantised:
                v = self._q(n.name, v)
            env[n.name] = v
        return out[0] if isinstance(out, (tuple, list)) and len(out) == 1 else out

    __call__ = forward

    def _softmax(self, key: str, x: torch.Tensor, dim: int) -> torch.Tensor:
        d = x - x.detach().amax(dim=dim, keepdim=True)
        e = self._fn(f"{key}#exp", "exp", d)
        if not self._calibrating and self.mode != "float":
            e = fake_quant(e, 1.0 / 127.0)
        s = 127.0 * e.sum(dim=dim, keepdim=True)          # the compiler's row sum, in e codes
        r = self._fn(f"{key}#recip", "reciprocal", s, top=127.0 * x.shape[dim])
        return e * r * 127.0

    def _layer_norm(self, key: str, x: torch.Tensor, shape: list[int], w: torch.Tensor | None,
                    b: torch.Tensor | None, eps: float) -> tuple[torch.Tensor, None, None]:
        dims = tuple(range(-len(shape), 0))
        c = x - x.mean(dim=dims, keepdim=True)
        sq = self._fn(f"{key}#sq", "square", c)
        if self._calibrating:
            self._amax(f"{key}#sq", sq)
        elif self.mode != "float":
            sq = fake_quant(sq, max(self.act_amax.get(f"{key}#sq", 0.0), 1e-12) / 127.0)
        var = sq.mean(dim=dims, keepdim=True)
        r = self._fn(f"{key}#rsqrt", "rsqrt", var + eps)
        z = self._q(f"{key}#z", c * r)
        y = z * w if w is not None else z
        return (y + b if b is not None else y), None, None


def _site_range(s: Site) -> tuple[float, float]:
    """Fit range per function, as the compiler chooses it (docs/compiler.md, lowering recipes)."""
    lo, hi = s.lo, s.hi
    if s.fn == "exp":                      # softmax: [-span, 0], span = min(12, calibrated spread)
        return -min(12.0, max(1e-3, -lo)), 0.0
    if s.fn == "reciprocal":               # row sums in e codes: [100, 127 T]
        return min(100.0, lo), max(hi, s.top, 101.0)
    if s.fn == "rsqrt":                    # variances: [lo/2, 2 hi]
        return max(lo * 0.5, 1e-12), max(hi * 2.0, lo)
    if s.fn == "square":                   # centred values: [-amax, amax]
        a = max(abs(lo), abs(hi), 1e-6)
        return -a, a
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-3 + 1e-6
    return lo, hi


def _root_placeholder(a: Any) -> Node | None:
    """The placeholder a constant operand is a view of (``t(weight)``, ``expand(adj)``), if any."""
    while isinstance(a, Node):
        if a.op == "placeholder":
            return a
        if a.op == "call_function" and a.target in VIEW_OPS:
            a = a.args[0]
            continue
        return None
    return None


def _flat(xs: Any) -> list[Any]:
    if isinstance(xs, (tuple, list)):
        return [y for x in xs for y in _flat(x)]
    return [xs]


def _map(a: Any, env: dict[str, Any]) -> Any:
    if isinstance(a, Node):
        return env[a.name]
    if isinstance(a, (tuple, list)):
        return type(a)(_map(x, env) for x in a)
    if isinstance(a, dict):
        return {k: _map(v, env) for k, v in a.items()}
    return a
