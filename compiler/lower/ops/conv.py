"""2-D convolution as an implicit GEMM over NHWC activations (no im2col), batch norm folded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.codegen import (
    TILE_FILL,
    ASrc,
    Band,
    BandLoad,
    GemmOp,
    KBlk,
    Out,
    Run,
    merge_runs,
    pack_weight_tiles,
    tile_cost,
)
from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.post import bn_end, make_ppu, post_for
from compiler.lower.prims import copy
from compiler.lower.registry import lowers
from compiler.quantize import quant, weight_scales

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten

BAND_SLACK = 1.1
"""A band is chosen unless the analytic model predicts it more than this factor slower than the
per-tap form: it moves several times fewer bytes, which the cycle model at 16 B/cycle undervalues
(energy, and any slower memory, docs/performance.md)."""

PER_ROW_MIN = 99
"""Output rows at least this many ROWS wide run one GEMM per row of a band (no wasted rows)."""


@lowers(aten.convolution.default)
def lower_conv(lw: Lowerer, n: Node) -> None:
    """Implicit GEMM: one K-block per (kh, kw, channel block) reading a strided window of the
    zero-bordered NHWC input, so padding costs no instructions and no im2col buffer exists."""
    R = lw.hw.rows
    x_n, w_n, b_n, stride, padding, dilation, transposed, _outpad, groups = n.args
    if transposed or groups != 1:
        raise unsupported(n, "only groups=1, non-transposed convolution")
    if len(stride) != 2:
        raise unsupported(n, "only 2-D convolution")
    x = lw.val(x_n)
    w = lw.const(w_n).to(torch.float64).numpy()
    b = lw.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(w.shape[0])
    bn = lw.plan.bn_of.get(n.name)
    if bn is not None:
        g_, be, mean, var = (lw.const(a).to(torch.float64).numpy() if a is not None else None
                             for a in bn.args[1:5])
        eps = bn.args[6]
        sc = (g_ if g_ is not None else 1.0) / np.sqrt(var + eps)
        w = w * sc[:, None, None, None]
        b = (b - mean) * sc + (be if be is not None else 0.0)
    pre = bn_end(lw, n).name if bn is not None else n.name
    post, end = post_for(lw, n, pre)
    Co, Ci, KH, KW = w.shape
    N_, _, H, W_ = x.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    if x.border < max(ph, pw) or x.strides[1] != 1:
        x = copy(lw, x, f"{n.name}.pad", border=max(ph, pw))
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W_ + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    shape = (N_, Co, Ho, Wo)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    out = lw.alloc(end.name, shape, s_out, col_dim=1, border=lw.plan.border.get(end.name, 0),
                   dtype=dt, role=lw.role_of(end))
    # weights as (kh, kw, c) x Co with K-blocks per (kh, kw, c-block)
    wk = w.transpose(2, 3, 1, 0).reshape(KH * KW * Ci, Co)
    ws = weight_scales(wk, axis=0)
    wq = quant(wk, ws[None, :]).astype(np.int8)
    sN, sH, sW = x.bstride(0), x.bstride(2), x.bstride(3)
    # K-blocks: one per (kh, kw, channel block); with fewer channels than ROWS and contiguous
    # pixels, several kw taps share one K-block (the stem's 7x7x3 taps: 14 K-blocks, not 49)
    g = max(1, R // Ci) if Ci < R and sW == Ci * x.item and dw == 1 else 1
    kbl: list[KBlk] = []
    rb: list[tuple[int, int]] = []
    taps: list[tuple[int, int, int]] = []   # (kh, kw, c0) of each K-block
    for kh in range(KH):
        for kw in range(0, KW, g):
            nt = min(g, KW - kw)
            for c0 in range(0, Ci, R):
                off = (kh * dh - ph) * sH + (kw * dw - pw) * sW + c0
                size = nt * Ci if g > 1 else min(R, Ci - c0)
                kbl.append(KBlk(0, off, size, 1))
                rb.append(((kh * KW + kw) * Ci + c0, size))
                taps.append((kh, kw, c0))
    wt = pack_weight_tiles(lw.mem, wq, lw.hw, f"{n.name}.w", rb)
    band = _band(lw, x, n.name, (KH, KW), (sh, sw), (dh, dw), (ph, pw), Ho, Wo, Ci, N_, taps, Co)
    a_runs, o_runs = [], []
    if band is not None:
        band_op, pitch = band
        m = 0
        for ni in range(N_):
            for ho in range(Ho):
                o_runs.append(Run(m, Wo, out.addr + ni * out.bstride(0) + ho * out.bstride(2),
                                  out.bstride(3)))
                m += pitch
        m = band_op.tiles[-1][1]
        a_runs = [Run(0, m, x.addr, 0)]   # unused: the band loads feed INP
    else:
        band_op = None
        m = 0
        for ni in range(N_):
            for ho in range(Ho):
                a_runs.append(Run(m, Wo, x.addr + ni * sN + ho * sh * sH, sw * sW))
                o_runs.append(Run(m, Wo, out.addr + ni * out.bstride(0) + ho * out.bstride(2),
                                  out.bstride(3)))
                m += Wo
    ppu = make_ppu(lw, n.name, Co, x.scale * ws, b, post, s_out, out_int32=dt == "int32")
    op = GemmOp(n.name, m, Co, [ASrc(merge_runs(a_runs), x.region)], kbl, wt, ppu,
                [Out(merge_runs(o_runs), out.bstride(1), out.region)], band=band_op)
    lw.run(op)
    if lw._cur_layer is not None:
        lw._cur_layer.meta.update(conv_band=band_op is not None)
    # compulsory input: the input pixels some tap reads (a strided 1x1 conv skips the others)
    rows_used = len({ho * sh + kh * dh - ph for ho in range(Ho) for kh in range(KH)} & set(range(H)))
    cols_used = len({wo * sw + kw * dw - pw for wo in range(Wo) for kw in range(KW)} & set(range(W_)))
    lw.useful(N_ * Ho * Wo, KH * KW * Ci, Co, a_bytes=N_ * Ci * rows_used * cols_used * x.item,
              w_bytes=wq.size, o_bytes=N_ * Co * Ho * Wo * out.item)
    lw.vals[end.name] = out
    lw.vals[n.name] = out


def _band(lw: Lowerer, x: Act, name: str, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
          p: tuple[int, int], Ho: int, Wo: int, Ci: int, N_: int, taps: list[tuple[int, int, int]],
          Co: int) -> tuple[Band, int] | None:
    """Input-band reuse plan of a stride-1 convolution, or None where it does not apply or the
    analytic model says the per-tap implicit GEMM is cheaper.

    A band is ``B`` output rows: the ``B + KH - 1`` input rows they need, at the full width ``Wp``
    of the zero-bordered tensor in memory, loaded once per channel block (INP row = channel block
    x band pixels + pixel).  GEMM row ``j = (ho - ho0) * Wp + wo`` then reads tap ``(kh, kw)`` at
    band pixel ``j + kh * Wp + kw + border - pw``: every tap is a contiguous run of band rows, so
    the taps cost no memory traffic.  The price is ``Wp - Wo`` over-computed rows per output row
    (never stored)."""
    hw = lw.hw
    R = hw.rows
    (KH, KW), (sh, sw), (dh, dw), (ph, pw) = k, s, d, p
    b = x.border
    if KH * KW == 1:
        return None   # no taps to share: the plain GEMM reads each input row once already
    if (sh, sw) != (1, 1) or (dh, dw) != (1, 1) or x.strides[1] != 1 or x.item != 1 or b < max(ph, pw):
        return None
    W = x.shape[3]
    sN, sH, sW = x.bstride(0), x.bstride(2), x.bstride(3)
    Wp = W + 2 * b
    if sW != Ci or sH != Wp * sW or any(c0 % R for _, _, c0 in taps):
        return None
    if len(taps) != KH * KW * -(-Ci // R):
        return None   # kw-packed K-blocks (few channels) keep the per-tap form
    ncb = -(-Ci // R)
    inp_half, acc_half = hw.inp_depth // 2, hw.acc_depth // 2
    # one GEMM per output row (no over-compute) when a row fills the array's pipeline
    per_row = Wo >= PER_ROW_MIN * R
    acc_rows = acc_half // Wo if per_row else (acc_half - Wo) // Wp + 1
    B = min(Ho, acc_rows, inp_half // (ncb * Wp) - KH + 1)
    if B < 1:
        return None
    segs: list[list[tuple[int, int, int]]] = []
    tiles: list[tuple[int, int]] = []
    loads: list[list[BandLoad]] = []
    bp = (B + KH - 1) * Wp
    m = 0
    for ni in range(N_):
        for ho0 in range(0, Ho, B):
            nb_ = min(B, Ho - ho0)
            r0 = ho0 - ph          # first input row of the band (unpadded coordinates)
            base = x.addr + ni * sN + r0 * sH - b * sW
            rows = (nb_ + KH - 1) * Wp
            loads.append([BandLoad(cb * bp, base + cb * R, min(R, Ci - cb * R), rows, sW)
                          for cb in range(ncb)])
            if per_row:
                tiles.append((m + ho0 * Wo, m + (ho0 + nb_) * Wo))
                segs.append([(r * Wp, r * Wo, Wo) for r in range(nb_)])
            else:
                tiles.append((m + ho0 * Wp, m + ho0 * Wp + (nb_ - 1) * Wp + Wo))
        m += Ho * (Wo if per_row else Wp)
    kb_off = [(c0 // R) * bp + kh * Wp + kw + b - pw for kh, kw, c0 in taps]
    # Band or per-tap form, whichever the analytic model (codegen.tile_cost) says is faster: the
    # band moves fewer bytes but computes Wp - Wo wasted rows per output row; the per-tap form
    # computes no waste but refetches the input per tap.
    nk, nn = len(taps), -(-Co // hw.cols)
    band_cost = sum(max((t1 - t0) * nk * nn, ncb * ld[0].rows + nk * nn * R) + TILE_FILL
                    for (t0, t1), ld in zip(tiles, loads, strict=True))
    if band_cost > BAND_SLACK * tile_cost(N_ * Ho * Wo, nk, nn, hw):
        return None
    return Band(tiles, loads, kb_off, ncb * bp, x.region, segs or None), Wo if per_row else Wp


