"""What happens after the array: PPU records (bias, requant, PWL table) and fused epilogues.

Every GEMM of every op family ends in one PPU pass; this module turns "float scale of the
accumulator, float bias, float function" into the int32 records the PPU reads, fits the PWL tables
with golden.pwl (the only fitter), and decides which epilogue a fusion group gets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import Ppu
from compiler.frontend import IDENTITY_OPS
from compiler.lower.plan import unary_operand
from compiler.quantize import mult_shift
from golden import pwl

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten
I32 = 2**31 - 1
MID_BITS = 14          # PWL input resolution: pre-activation absmax -> 2**MID_BITS


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
    mid_scale: float | None = None            # PWL input scale; default absmax / 2**MID_BITS
    table: np.ndarray | None = None           # an exact table instead of a fit (a fused comparison)


@dataclass(frozen=True)
class PwlPolicy:
    """How ``fit_pwl`` fits every table of a compile: the default (vertical, 16 segments) is the
    hardware's; smaller budgets, ``uniform`` / ``horizontal`` and a fixed uniform ``granularity`` (the
    NeuralMatrix paper's 0.25) exist for the fidelity study (golden/study, docs/fidelity.md)."""

    method: str = "vertical"                  # golden.pwl.METHODS
    segments: int = pwl.PWL_SEGMENTS          # 2..16 (the PPU table's size)
    granularity: float | None = None          # uniform only: fixed segment width


DEFAULT_PWL = PwlPolicy()

_KINKED = {aten.relu.default, aten.hardtanh.default, aten.clamp.default, aten.leaky_relu.default,
           aten.abs.default, aten.hardsigmoid.default, aten.hardswish.default, aten.elu.default}


def fit_opts(chain: list[Node]) -> dict[str, Any]:
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


def chain_label(chain: list[Node]) -> str:
    """Short name of a composed chain ("gelu+mul") for the PWL report."""
    return "+".join(str(getattr(n.target, "__name__", n.target)).split(".")[0] for n in chain)


RELU_TABLE = pwl.to_hw_table(pwl.fit("relu"), 1.0, 1.0)   # bit-exact when in and out scales agree


def hat_table() -> np.ndarray:
    """Compiler-only one-hot indicator for integers, quantised by golden.pwl.to_hw_table:
    v == 0 -> 1, any other integer -> 0 (breakpoints at -1/2 and 1/2, unit scales)."""
    p = pwl.Pwl(np.array([-0.5, 0.5]), np.zeros(3), np.array([0.0, 1.0, 0.0]), "hat", "exact")
    return pwl.to_hw_table(p, 1.0, 1.0)


STEP_FNS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}


def step_table(kind: str, thr: float) -> np.ndarray:
    """Exact 0/1 table of ``q <kind> thr`` on integer inputs q (unit scales): one breakpoint at the
    half-integer between the last integer on one side of ``thr`` and the first on the other."""
    strict_above = kind in ("gt", "le")          # gt: q > thr; le = not gt
    b = (math.floor(thr) + 0.5) if strict_above else (math.ceil(thr) - 0.5)
    below, above = (0.0, 1.0) if kind in ("gt", "ge") else (1.0, 0.0)
    p = pwl.Pwl(np.array([b]), np.zeros(2), np.array([below, above]), f"step_{kind}", "exact")
    return pwl.to_hw_table(p, 1.0, 1.0)


def step_post(lw: Lowerer, step: Node, pre_name: str) -> Post:
    """The epilogue of an anchor that computes the comparison ``step`` (``plan.step_of``): requant to
    the 14-bit PWL input scale of the pre-activation, then the exact step -> 0/1."""
    kind = str(step.target).split(".")[1]
    thr = float(step.args[1])
    r = lw.rng(pre_name)
    s_mid = max(abs(r.lo), abs(r.hi), 1e-6) / 2**MID_BITS
    fn = STEP_FNS[kind]
    return Post("pwl", lambda t: fn(t, thr).astype(np.float64), r.lo, r.hi, label=f"{kind} {thr:g}",
                mid_scale=s_mid, table=step_table(kind, thr / s_mid))


def ppu_records(lw: Lowerer, N: int, bias: np.ndarray | None, mult: np.ndarray | None,
                shift: np.ndarray | None, table: np.ndarray | None,
                name: str) -> tuple[Callable[[int], int], int]:
    """One PPU record per N-block, stored once per distinct content: (address of block nb, region)."""
    C = lw.hw.cols
    nn = -(-N // C)
    rows = 3 + lw.hw.pwl_rows
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
            flat = np.zeros(lw.hw.pwl_rows * C, dtype=np.int64)
            flat[:len(table)] = table
            r[3:] = flat.reshape(lw.hw.pwl_rows, C)
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
    reg = lw.mem.const(np.stack(blobs), f"{name}.ppu", dtype="int32")
    step = rows * C * 4
    return (lambda nb: reg.addr + idx[nb] * step), reg.rid


def make_ppu(lw: Lowerer, name: str, N: int, acc_scale: np.ndarray, bias: np.ndarray | None, post: Post,
             s_out: float, *, out_int32: bool = False, row: tuple[int, int, int] | None = None,
             mult_override: tuple[np.ndarray, np.ndarray] | None = None) -> Ppu:
    """PPU configuration for ``N`` output columns: accumulator (``acc_scale`` per column) -> bias
    -> requant to ``s_out`` (or to the PWL's input scale) -> ``post``; ``row`` = (addr, region,
    shift) of a per-row offset/scale array (softmax, layer norm)."""
    acc_scale = np.broadcast_to(np.asarray(acc_scale, dtype=np.float64), (N,))
    table = None
    if post.kind == "none":
        ratio = acc_scale / s_out
    elif post.kind == "relu":
        ratio = acc_scale / s_out
        table = RELU_TABLE
    else:
        amax = max(abs(post.lo), abs(post.hi), 1e-6)
        s_mid = post.mid_scale or amax / 2**MID_BITS
        ratio = acc_scale / s_mid
        table = post.table if post.table is not None else fit_pwl(lw, name, post, s_mid, s_out)
    if mult_override is not None:
        mult, shift = mult_override
    else:
        mult, shift = mult_shift(ratio)
    b = None
    if bias is not None:
        b = np.clip(np.round(np.asarray(bias, dtype=np.float64) / acc_scale), -I32 - 1, I32)
        b = b.astype(np.int64)
    recf, rid = ppu_records(lw, N, b, mult, shift, table, name)
    ppu = Ppu(recf, rid, bias_en=b is not None, requant_en=True, pwl_en=table is not None,
              out_int32=out_int32)
    if row is not None:
        ppu.row_en, ppu.row_addr, ppu.row_region = True, row[0], row[1]
        ppu.row_shift = row[2]
    return ppu


def fit_pwl(lw: Lowerer, name: str, post: Post, s_mid: float, s_out: float) -> np.ndarray:
    """48-word table for ``post.fn`` from golden.pwl (vertical = horizontal breakpoints + bias
    correction, on the calibration samples of the PWL input), and its error on those samples
    (hardware table, bit-exact) recorded in ``lw.pwl_stats`` and the layer's meta.

    Reads only ``lw.pwl_stats`` and ``lw._cur_layer``, so it also works on a bare Lowerer.
    """
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
    pol: PwlPolicy = getattr(lw, "pwl_policy", None) or DEFAULT_PWL
    if pol == DEFAULT_PWL:
        p = pwl.fit(info, smp, "vertical", lo=lo, hi=hi)
    else:
        kw = {"granularity": pol.granularity} if pol.granularity is not None else {}
        p = pwl.fit(info, smp, pol.method, pol.segments, lo=lo, hi=hi, **kw)
    table = pwl.to_hw_table(p, s_mid, s_out)
    x = smp if smp is not None and len(smp) else np.linspace(lo, hi, 4097)
    q = np.clip(np.round(x / s_mid), -I32 - 1, I32)
    y = pwl.hw_eval(table, q).astype(np.float64) * s_out
    f = np.asarray(post.fn(x), dtype=np.float64)
    e = y - f
    fmax = float(np.abs(f).max()) or 1.0
    layer = lw._cur_layer
    st = {"layer": layer.name if layer is not None else name, "table": name,
          "fn": info.label, "lo": lo, "hi": hi, "samples": len(x) if smp is not None else 0,
          "max_err": float(np.abs(e).max()), "mean_abs_err": float(np.abs(e).mean()),
          "mean_err": float(e.mean()), "max_rel": float(np.abs(e).max()) / fmax,
          "max_lsb": float(np.abs(e).max()) / s_out, "segments": p.segments, "method": p.method}
    lw.pwl_stats.append(st)
    if layer is not None:
        m = layer.meta
        m["pwl_max_rel"] = max(m.get("pwl_max_rel", 0.0), st["max_rel"])
        m["pwl_mean_rel"] = max(m.get("pwl_mean_rel", 0.0), st["mean_abs_err"] / fmax)
    return table


# ------------------------------------------------------------------ epilogue of a fusion group
def apply_unary(lw: Lowerer, u: Node, x: torch.Tensor) -> torch.Tensor:
    """Float value of unary op ``u`` with its activation operand replaced by ``x``."""
    act = unary_operand(lw.g, u)
    args = [x if a is act else (lw.const(a).to(torch.float64) if isinstance(a, Node) else a)
            for a in u.args]
    with torch.no_grad():
        return u.target(*args, **u.kwargs)


def composed(lw: Lowerer, chain: list[Node]) -> Callable[[np.ndarray], np.ndarray]:
    """The float function a chain of unary ops computes, for the PWL fit of the whole chain."""
    def fn(x: np.ndarray, chain: list[Node] = chain) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        for u in chain:
            t = apply_unary(lw, u, t)
        return t.numpy()
    return fn


def bn_end(lw: Lowerer, anchor: Node) -> Node | None:
    """The getitem that ends a conv's folded batch norm (the group's real output), if any."""
    bn = lw.plan.bn_of.get(anchor.name)
    if bn is None:
        return None
    return next(iter(bn.users))


def post_for(lw: Lowerer, anchor: Node, pre_name: str) -> tuple[Post, Node]:
    """Epilogue of ``anchor``'s fusion group and the node whose value the group produces.

    ``pre_name`` names the node whose calibration range is the PWL's input (the anchor, or its
    folded batch norm)."""
    chain = lw.plan.chain.get(anchor.name, [])
    end = chain[-1] if chain else (bn_end(lw, anchor) or anchor)
    step = lw.plan.step_of.get(anchor.name)
    if step is not None:
        return step_post(lw, step, pre_name), end
    real = [u for u in chain if u.target not in IDENTITY_OPS]
    if not real:
        return Post(), end
    if len(real) == 1 and real[0].target == aten.relu.default:
        return Post("relu"), end
    r = lw.rng(pre_name)
    return Post("pwl", composed(lw, real), r.lo, r.hi, fit_opts(real), r.samples, chain_label(real)), end
