"""Frontend: torch.export -> core-ATen graph, constant folding, float evaluation and calibration."""

from __future__ import annotations

import contextlib
import logging
import operator
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.fx import Node

aten = torch.ops.aten
# Calibration keeps, per node and per calibration sample, this many randomly drawn float values:
# the PWL fits (golden.pwl, horizontal + vertical) are weighted and de-biased on them.
SAMPLES_PER_UPDATE = 2048
_SAMPLE_GEN = torch.Generator().manual_seed(0)

# Ops that only re-view memory (handled as stride changes, or a copy when not expressible).
VIEW_OPS = {
    aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.permute.default,
    aten.transpose.int, aten.t.default, aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims,
    aten.squeeze.default, aten.expand.default, aten.alias.default, aten.slice.Tensor, aten.select.int,
    aten.flatten.using_ints, aten.unflatten.int,
}
# Identity ops in inference.
IDENTITY_OPS = {aten.clone.default, aten.contiguous.default, aten.detach.default, aten.dropout.default,
                aten.lift_fresh_copy.default, aten._to_copy.default}
# Elementwise ops with one activation operand (others scalars or 1-element constants) -> PPU PWL.
UNARY_OPS = {
    aten.relu.default, aten.gelu.default, aten.tanh.default, aten.sigmoid.default, aten.exp.default,
    aten.erf.default, aten.silu.default, aten.hardtanh.default, aten.clamp.default, aten.neg.default,
    aten.leaky_relu.default, aten.elu.default, aten.hardsigmoid.default, aten.hardswish.default,
    aten.mul.Tensor, aten.mul.Scalar, aten.div.Tensor, aten.div.Scalar, aten.add.Tensor,
    aten.add.Scalar, aten.sub.Tensor, aten.sub.Scalar, aten.rsub.Scalar, aten.pow.Tensor_Scalar,
    aten.sqrt.default, aten.rsqrt.default, aten.abs.default,
}


def supported_targets() -> frozenset[Any]:
    """Every op the compiler lowers: the keys of the lowering registry (compiler/lower/registry.py).

    The registry is the one list; export checks against it, so an op is accepted exactly when some
    module of compiler/lower/ops/ registers a lowering for it.  Imported here, not at module level,
    because the lowering modules import this one.
    """
    import compiler.lower  # noqa: F401  (registers every op family)
    from compiler.lower.registry import REGISTRY

    return frozenset(REGISTRY)


def op_name(target: Any) -> str:
    if target is operator.getitem:
        return "getitem"
    return str(target).replace("aten.", "aten::", 1) if str(target).startswith("aten.") else str(target)


def supported_op_names() -> list[str]:
    return sorted({op_name(t).split(".")[0] for t in supported_targets()})


class CompileError(Exception):
    """A compile failure caused by the model or its inputs.  The first line of ``str(e)`` stands
    alone (``python -m compiler`` prints just that line; ``--debug`` shows the traceback)."""


class InputError(CompileError, ValueError):
    """An example or calibration input the compiler cannot use (dtype, NaN / infinite values)."""


class ExportError(CompileError, RuntimeError):
    """torch.export failed on the example inputs (e.g. an input shape the model does not accept);
    the message keeps the first line of torch's error, the original is the ``__cause__``."""


class UnsupportedOpError(CompileError, NotImplementedError):
    """A model uses an op NMX cannot lower; the message names the op, the user module it came
    from (if any) and its source line."""


def source_line(node: Node) -> str:
    """The innermost user-code frame of a node's stack trace ("file:line: code")."""
    st = node.meta.get("stack_trace") or ""
    lines = [ln.strip() for ln in st.splitlines() if ln.strip()]
    frames = []
    for i, ln in enumerate(lines):
        if ln.startswith("File "):
            code = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("File ") else ""
            frames.append((ln, code))
    if not frames:
        return "<unknown source>"
    torch_dir = os.path.dirname(torch.__file__)
    user = [f for f in frames if torch_dir not in f[0]]
    f = (user or frames)[-1]
    return f"{f[0]}: {f[1]}"


def module_of(node: Node) -> str:
    """``" in nn.LSTM 'rnn'"``: the innermost non-root module of the node's nn_module_stack (a
    torch.nn class shown as ``nn.Class``, a user class by its name), or "" if there is none."""
    stack = node.meta.get("nn_module_stack") or {}
    for v in reversed(list(stack.values())):
        if not (isinstance(v, tuple) and len(v) >= 2) or not v[0]:
            continue
        path, cls = v[0], v[1]
        cls = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        short = cls.rsplit(".", 1)[-1]
        return f" in {'nn.' + short if cls.startswith('torch.nn.') else short} '{path}'"
    return ""


def unsupported(node: Node, why: str = "") -> UnsupportedOpError:
    return UnsupportedOpError(
        f"NMX cannot lower op {op_name(node.target)} (node '{node.name}'){module_of(node)}"
        f"{': ' + why if why else ''}\n"
        f"  at {source_line(node)}\n"
        f"  supported ops: {', '.join(supported_op_names())}")


@dataclass
class Graph:
    """An exported model: the decomposed FX graph plus its parameter/constant values."""

    ep: Any
    nodes: list[Node]
    inputs: list[Node]            # user-input placeholders, in order
    outputs: list[Node | None]    # output nodes (None for non-tensor outputs)
    consts: dict[str, torch.Tensor] = field(default_factory=dict)   # node name -> value
    const_nodes: set[str] = field(default_factory=set)
    fixed: set[str] = field(default_factory=set)


def export(model: torch.nn.Module, example_inputs: tuple[Any, ...],
           fixed: dict[int, torch.Tensor] | None = None) -> Graph:
    """Export and decompose; user inputs listed in ``fixed`` (position -> value) are folded as
    constants (graph structure such as a GNN's edge_index)."""
    with eval_mode(model), torch.no_grad(), _quiet_torch_errors():
        try:
            ep = torch.export.export(model, tuple(example_inputs))
            ep = ep.run_decompositions()
        except Exception as e:
            first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            ins = describe_inputs(tuple(example_inputs))
            raise ExportError(f"torch.export failed on the example inputs ({ins}): {first}") from e
    g = ep.graph
    sig = ep.graph_signature
    consts: dict[str, torch.Tensor] = {}
    inputs: list[Node] = []
    specs = {s.arg.name: s for s in sig.input_specs}
    for n in g.nodes:
        if n.op != "placeholder":
            continue
        s = specs[n.name]
        kind = s.kind.name
        if kind == "USER_INPUT":
            if fixed and len(inputs) in fixed:
                consts[n.name] = fixed[len(inputs)]
            inputs.append(n)
        elif kind in ("PARAMETER", "BUFFER"):
            v = ep.state_dict[s.target] if s.target in ep.state_dict else ep.constants[s.target]
            consts[n.name] = v.detach()
        elif kind in ("CONSTANT_TENSOR", "CUSTOM_OBJ"):
            consts[n.name] = ep.constants[s.target].detach()
        else:
            raise NotImplementedError(f"unsupported placeholder kind {kind} for {n.name}")
    out_node = next(n for n in g.nodes if n.op == "output")
    outputs = [a if isinstance(a, Node) else None for a in out_node.args[0]]
    nodes = [n for n in g.nodes if n.op == "call_function"]
    graph = Graph(ep, nodes, inputs, outputs, consts)
    graph.fixed = {inputs[i].name for i in (fixed or {})}
    # constant folding: any node whose inputs are all constant, and any node whose value does not
    # depend on its runtime operands' values (full_like of an activation, a gather from a uniform
    # constant: value_free)
    const_names = set(consts)
    free: dict[str, torch.Tensor] = {}
    for n in nodes:
        ins = [a for a in n.all_input_nodes]
        if all(a.name in const_names for a in ins):
            const_names.add(n.name)
        elif (v := value_free(n, const_names, consts, free)) is not None:
            const_names.add(n.name)
            free[n.name] = v
    graph.const_nodes = const_names
    supported = supported_targets()
    for n in nodes:   # constant subgraphs are folded, so only runtime ops must be supported
        if n.name not in const_names and n.target not in supported:
            raise unsupported(n)
    env: dict[str, Any] = {**consts, **free}
    for n in nodes:
        if n.name in const_names and n.name not in env:
            env[n.name] = _call(n, env)
    for k in const_names:
        v = env.get(k)
        if isinstance(v, torch.Tensor):
            graph.consts[k] = v
    return graph


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode for the block, then restore every submodule's own mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, t in modes:
            m.training = t


class _DropErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@contextlib.contextmanager
def _quiet_torch_errors() -> Iterator[None]:
    """Mute torch's ERROR logs (fake_tensor logs the full traceback of a failed meta kernel, e.g. a
    shape mismatch, before re-raising): the exception itself is reported as an ExportError."""
    loggers = [logging.getLogger(n) for n in ("torch._subclasses.fake_tensor", "torch.export",
                                              "torch._export", "torch._dynamo")]
    f = _DropErrors()
    for lg in loggers:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(f)


def describe_inputs(inputs: tuple[Any, ...]) -> str:
    """``"input 0: float32[1, 7], input 1: int"``."""
    def one(x: Any) -> str:
        if isinstance(x, torch.Tensor):
            return f"{str(x.dtype).replace('torch.', '')}{list(x.shape)}"
        return type(x).__name__
    return ", ".join(f"input {i}: {one(x)}" for i, x in enumerate(inputs)) or "no inputs"


SHAPE_ONLY_OPS = {aten.full_like.default, aten.zeros_like.default, aten.ones_like.default}


def value_free(n: Node, const_names: set[str], consts: dict[str, torch.Tensor],
               free: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The value of ``n`` if it does not depend on the values of its runtime operands, else None:
    ``full_like`` / ``zeros_like`` / ``ones_like`` (shape only) and ``gather`` from a constant whose
    elements are all equal (RoBERTa's all-zero token-type buffer gathered by position ids)."""
    meta = n.meta.get("val")
    if not isinstance(meta, torch.Tensor):
        return None
    fill = None
    if n.target in SHAPE_ONLY_OPS:
        fill = {aten.zeros_like.default: 0, aten.ones_like.default: 1}.get(n.target)
        fill = n.args[1] if fill is None else fill
    elif n.target == aten.gather.default and isinstance(n.args[0], Node) and n.args[0].name in const_names:
        src = free.get(n.args[0].name, consts.get(n.args[0].name))
        if src is None:   # a constant computed later by the folding pass: evaluate its subgraph
            src = _eval_const(n.args[0], consts, free)
        if src.numel() and bool(torch.all(src == src.reshape(-1)[0])):
            fill = src.reshape(-1)[0].item()
    if fill is None:
        return None
    return torch.full(tuple(meta.shape), fill, dtype=meta.dtype)


def _eval_const(n: Node, consts: dict[str, torch.Tensor], free: dict[str, torch.Tensor]) -> Any:
    env: dict[str, Any] = {**consts, **free}

    def ev(m: Node) -> Any:
        if m.name not in env:
            for a in m.all_input_nodes:
                ev(a)
            env[m.name] = _call(m, env)
        return env[m.name]
    return ev(n)


def _arg(a: Any, env: dict[str, Any]) -> Any:
    if isinstance(a, Node):
        return env[a.name]
    if isinstance(a, (list, tuple)):
        return type(a)(_arg(x, env) for x in a)
    return a


def _call(n: Node, env: dict[str, Any]) -> Any:
    args = _arg(n.args, env)
    kwargs = {k: _arg(v, env) for k, v in n.kwargs.items()}
    with torch.no_grad():
        return n.target(*args, **kwargs)


def evaluate(graph: Graph, inputs: tuple[Any, ...]) -> dict[str, Any]:
    """Float values of every node for one input tuple."""
    env: dict[str, Any] = dict(graph.consts)
    for p, x in zip(graph.inputs, inputs, strict=True):
        if p.name not in graph.fixed:
            env[p.name] = x
    for n in graph.nodes:
        if n.name not in env:
            env[n.name] = _call(n, env)
    return env


@dataclass
class Range:
    """Calibrated range of a node's float value, plus a random subsample of its values."""

    lo: float = float("inf")
    hi: float = float("-inf")
    amax: float = 0.0
    parts: list[np.ndarray] = field(default_factory=list, repr=False)

    def update(self, t: torch.Tensor) -> None:
        if t.numel() == 0:
            return
        lo_t, hi_t = torch.aminmax(t)   # one pass (min() then max() took 2 passes, 6x slower)
        lo, hi = float(lo_t), float(hi_t)
        self.lo = min(self.lo, lo)
        self.hi = max(self.hi, hi)
        self.amax = max(self.amax, abs(lo), abs(hi))
        if t.is_floating_point():
            flat = t.detach().reshape(-1)
            if flat.numel() > SAMPLES_PER_UPDATE:
                flat = flat[torch.randint(0, flat.numel(), (SAMPLES_PER_UPDATE,), generator=_SAMPLE_GEN)]
            # kept in the tensor's own dtype (float32 for model values: half the memory of float64,
            # same values); widened to float64 once, when the samples are read
            keep = torch.float64 if flat.dtype == torch.float64 else torch.float32
            self.parts.append(flat.to(keep).numpy().copy())

    @property
    def samples(self) -> np.ndarray | None:
        """The kept calibration values (float64, at most SAMPLES_PER_UPDATE per update), or None."""
        if not self.parts:
            return None
        if len(self.parts) > 1 or self.parts[0].dtype != np.float64:
            self.parts = [np.concatenate(self.parts).astype(np.float64, copy=False)]
        return self.parts[0]


def calibrate(graph: Graph, samples: Iterable[tuple[Any, ...]],
              extra: dict[str, Any] | None = None) -> tuple[dict[str, Range], dict[str, Any]]:
    """Per-node float ranges over the calibration samples (and the env of the first sample).

    The subsample generator restarts at every call, so a model compiles to the same Program whatever
    was compiled before it in the same process (regressions compile several models in one).
    """
    _SAMPLE_GEN.manual_seed(0)
    ranges: dict[str, Range] = {}
    first: dict[str, Any] | None = None
    for s in samples:
        env = evaluate(graph, tuple(s))
        if first is None:
            first = env
        for p in graph.inputs:
            if p.name not in graph.fixed:
                _upd(ranges, p.name, env[p.name])
        for n in graph.nodes:
            if n.name in graph.const_nodes:
                continue
            _upd(ranges, n.name, env[n.name])
            if n.target == aten.native_layer_norm.default:
                _layernorm_stats(ranges, n, env)
            elif n.target == aten._softmax.default:
                _softmax_stats(ranges, n, env)
            elif n.target == aten.mul.Tensor:
                _mul_stats(ranges, n, env, graph.const_nodes)
    assert first is not None, "empty calibration set"
    return ranges, first


def _upd(ranges: dict[str, Range], name: str, v: Any) -> None:
    if isinstance(v, torch.Tensor):
        ranges.setdefault(name, Range()).update(v.detach())
    elif isinstance(v, (tuple, list)) and v and isinstance(v[0], torch.Tensor):
        ranges.setdefault(name, Range()).update(v[0].detach())


def _layernorm_stats(ranges: dict[str, Range], n: Node, env: dict[str, Any]) -> None:
    """Centred values, variance and normalised values of a layer norm (its PWL ranges)."""
    x = env[n.args[0].name].detach().to(torch.float64)
    eps = float(n.args[4])
    xc = x - x.mean(dim=-1, keepdim=True)
    var = (xc * xc).mean(dim=-1)
    ranges.setdefault(f"{n.name}#xc", Range()).update(xc)
    ranges.setdefault(f"{n.name}#var", Range()).update(var)
    ranges.setdefault(f"{n.name}#z", Range()).update(xc / torch.sqrt(var[..., None] + eps))


def _softmax_stats(ranges: dict[str, Range], n: Node, env: dict[str, Any]) -> None:
    """Inputs of the softmax's two PWLs: x - rowmax (exp) and 127 * row sums of exp (reciprocal)."""
    x = env[n.args[0].name].detach().to(torch.float64)
    d = x - x.amax(dim=int(n.args[1]), keepdim=True)
    ranges.setdefault(f"{n.name}#d", Range()).update(d)
    ranges.setdefault(f"{n.name}#sum", Range()).update(127.0 * torch.exp(d).sum(dim=int(n.args[1])))


def _mul_stats(ranges: dict[str, Range], n: Node, env: dict[str, Any], const_nodes: set[str]) -> None:
    """Operand pairs of a product of two activations (compiler/lower/ops/product.py): aligned
    subsamples of x and y (``#x``, ``#y``) and the vertices of the convex hull of all (x, y) pairs
    (``#hx``, ``#hy``).  The squares' inputs x/s_x +- y/s_y depend on scales known only after
    calibration; being linear in (x, y), their exact extremes are extremes over the hull vertices."""
    a, b = n.args[0], n.args[1]
    if not all(isinstance(v, Node) and v.name not in const_nodes for v in (a, b)):
        return
    va, vb = env[a.name], env[b.name]
    if not all(isinstance(v, torch.Tensor) and v.is_floating_point() for v in (va, vb)):
        return
    x, y = (t.detach().to(torch.float64).reshape(-1) for t in torch.broadcast_tensors(va, vb))
    k = x.numel()
    if k == 0:
        return
    idx = (torch.randint(0, k, (SAMPLES_PER_UPDATE,), generator=_SAMPLE_GEN) if k > SAMPLES_PER_UPDATE
           else torch.arange(k))
    ranges.setdefault(f"{n.name}#x", Range()).update(x[idx])
    ranges.setdefault(f"{n.name}#y", Range()).update(y[idx])
    pts = torch.stack([x, y], 1).numpy()
    from scipy.spatial import ConvexHull, QhullError
    try:
        hull = pts[ConvexHull(pts, qhull_options="QJ").vertices] if k > 3 else pts
    except QhullError:   # degenerate input: the bounding box corners contain every point
        lo, hi = pts.min(0), pts.max(0)
        hull = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]])
    for i in range(0, len(hull), SAMPLES_PER_UPDATE):   # chunks no longer than an update's subsample
        h = torch.from_numpy(np.ascontiguousarray(hull[i:i + SAMPLES_PER_UPDATE]))
        ranges.setdefault(f"{n.name}#hx", Range()).update(h[:, 0])
        ranges.setdefault(f"{n.name}#hy", Range()).update(h[:, 1])
