"""Layer norm over the last dimension as five GEMM passes with per-row (ROW) parameters."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.frontend import Range, unsupported
from compiler.lower.post import MID_BITS, Post, make_ppu
from compiler.lower.prims import channel_affine, row_tensor, rowsum_gemm, scaled_copy
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def _float(lw: Lowerer, node: Node) -> torch.Tensor:
    """Float reference value of ``node`` (fallback calibration when no range was recorded)."""
    return lw.ref[node.name].detach().to(torch.float64)


@lowers(aten.native_layer_norm.default)
def lower_layernorm(lw: Lowerer, n: Node) -> None:
    """Mean and rstd go to the PPU's per-row (ROW) offset and scale, so every pass is a GEMM:
    mean, square of the centred input (PWL), rsqrt of the variance (PWL), normalise, affine."""
    x_n, nshape, w_n, b_n, eps = n.args
    x = lw.val(x_n)
    if len(nshape) != 1:
        raise unsupported(n, "layer_norm over more than the last dimension")
    col = len(x.shape) - 1
    D = x.shape[col]
    rows = list(range(col))
    M = int(np.prod(x.shape[:col])) if rows else 1
    WID = 64        # identity weight: acc = 64 * q_x, so the mean is kept to 1/64 of a step
    rowa = row_tensor(lw, f"{n.name}.rowa", M, lane1=1)
    rowb = row_tensor(lw, f"{n.name}.rowb", M)
    # G1: -WID * mean (int32, acc units of G2/G4) -> lane 0 of both ROW tensors
    for dst in (rowa, rowb):
        rowsum_gemm(lw, f"{n.name}.mean", x, rows, col, Post(), 1.0, WID / D, -1, dst, 0)
    # G2: (x - mean) -> PWL square -> int8
    xc = torch.as_tensor(_float(lw, x_n))
    xc = xc - xc.mean(dim=-1, keepdim=True)
    # calibration of the centred values and variance from the reference run
    cr = lw.ranges.get(f"{n.name}#xc") or Range(float(xc.min()), float(xc.max()), float(xc.abs().max()))
    vr = lw.ranges.get(f"{n.name}#var")
    var = (xc * xc).mean(dim=-1)
    vlo = float(var.min()) if vr is None else vr.lo
    vhi = float(var.max()) if vr is None else vr.hi
    amax_c = max(cr.amax, 1e-6)
    s_sq = amax_c**2 / 127
    sq = lw.alloc(f"{n.name}.sq", x.shape, s_sq, col_dim=col, check=False, role="scratch")
    ppu = make_ppu(lw, f"{n.name}.sq", D, np.full(D, x.scale / WID), None,
                   Post("pwl", lambda v: v * v, -amax_c, amax_c, {},
                        cr.samples, "square"), s_sq,
                   row=(rowa[0], rowa[1], 0))
    scaled_copy(lw, f"{n.name}.sq", x, rows, col, WID, ppu, sq)
    # G3: variance -> PWL rsqrt -> ROW lane 1 of rowb
    s_z = lw.scale_of(f"{n.name}#z") if f"{n.name}#z" in lw.ranges else 4.0 / 127
    # row scale = 2**rs * (x.scale/WID) / (s_z * sqrt(var + eps)), var = sum * s_sq / D.  The sum
    # is exact on a grid of s_sq / D: the PWL input scale is never coarser than that grid, its range
    # starts at one grid step (smaller variances are that step or 0, clamped flat), and rs keeps the
    # largest row scale (at the smallest variance) within int32 whatever the variance spread.
    s_var = s_sq / D
    lo_v = max(vlo * 0.5, 1e-12, s_var) + eps
    hi_v = max(vhi * 2, 2 * lo_v) + eps
    s_mid = min(s_var, hi_v / 2**MID_BITS)
    rs = int(min(24, np.floor(30 - np.log2((x.scale / WID) / (s_z * np.sqrt(lo_v))))))
    k = 2.0**rs * (x.scale / WID) / s_z
    rowsum_gemm(lw, f"{n.name}.var", sq, rows, col,
                Post("pwl", lambda v: k / np.sqrt(np.maximum(v, 0) + eps), lo_v - eps, hi_v,
                     {"spacing": "log", "outer": ("clamp", "clamp")},
                     vr.samples if vr else None, "rsqrt", mid_scale=s_mid),
                1.0, s_var, 1, rowb, 1)
    # G4: z = (x - mean) * rsqrt(var + eps), int8
    z = lw.alloc(f"{n.name}.z", x.shape, s_z, col_dim=col, check=False, role="scratch")
    one = (np.full(D, 1, dtype=np.int64), np.zeros(D, dtype=np.int64))
    ppu = make_ppu(lw, f"{n.name}.z", D, np.ones(D), None, Post(), 1.0, row=(rowb[0], rowb[1], rs),
                   mult_override=one)
    scaled_copy(lw, f"{n.name}.z", x, rows, col, WID, ppu, z)
    # G5: y = z * gamma + beta
    gamma = lw.const(w_n).to(torch.float64).numpy() if w_n is not None else np.ones(D)
    beta = lw.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(D)
    gi = [u for u in lw.users[n.name] if u.target is operator.getitem and u.args[1] == 0]
    end = gi[0] if gi else n
    y = channel_affine(lw, n, z, gamma, beta, col, end=end)
    lw.vals[n.name] = (y, None, None)
