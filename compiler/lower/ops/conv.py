"""2-D convolution as an implicit GEMM over NHWC activations (no im2col), batch norm folded."""

from __future__ import annotations

from collections.abc import Callable
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
    Ppu,
    Run,
    merge_runs,
    pack_weight_tiles,
    tile_cost,
)
from compiler.frontend import unsupported
from compiler.lower.act import Act
from compiler.lower.post import Post, bn_end, make_ppu, post_for
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

WHOLE_BAND_SLACK = 1.3
"""The same for a whole-INP band (one band per image): it moves the weights once instead of once per
band.  On ResNet-50 (stage-3 and stage-4 3x3 convolutions) 13% fewer bytes read in all, 1.5% more
cycles with the 20-cycle memory and 4% fewer with the DRAM-like one (docs/performance.md)."""

PER_ROW_MIN = 99
"""Output rows at least this many ROWS wide run one GEMM per row of a band (no wasted rows)."""


def _plain(lw: Lowerer, n: Node) -> bool:
    """groups=1, non-transposed: this module (grouped: conv_grouped.py, transposed: conv_transpose.py)."""
    return not n.args[6] and n.args[8] == 1


@lowers(aten.convolution.default, when=_plain)
def lower_conv(lw: Lowerer, n: Node) -> None:
    """Implicit GEMM: one K-block per (kh, kw, channel block) reading a strided window of the
    zero-bordered NHWC input, so padding costs no instructions and no im2col buffer exists."""
    lower_dense_conv(lw, n, conv_weight(lw, n))


def conv_weight(lw: Lowerer, n: Node) -> np.ndarray:
    """The (Co, Ci, KH, KW) float64 weight of a non-transposed convolution."""
    if len(n.args[3]) != 2:
        raise unsupported(n, "only 2-D convolution")
    return lw.const(n.args[1]).to(torch.float64).numpy()


def conv_bias_bn(lw: Lowerer, n: Node, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of a convolution with the batch norm that follows it folded in; ``w`` is the
    (Co, Ci, KH, KW) weight of the equivalent direct convolution (output channels first)."""
    b_n = n.args[2]
    b = lw.const(b_n).to(torch.float64).numpy() if b_n is not None else np.zeros(w.shape[0])
    bn = lw.plan.bn_of.get(n.name)
    if bn is not None:
        g_, be, mean, var = (lw.const(a).to(torch.float64).numpy() if a is not None else None
                             for a in bn.args[1:5])
        eps = bn.args[6]
        sc = (g_ if g_ is not None else 1.0) / np.sqrt(var + eps)
        w = w * sc[:, None, None, None]
        b = (b - mean) * sc + (be if be is not None else 0.0)
    return w, b


def conv_output(lw: Lowerer, n: Node, shape: tuple[int, ...]) -> tuple[Act, Post, Node, float, str]:
    """Epilogue of a convolution node and its allocated NHWC output: (out, post, end, s_out, dtype)."""
    bn = lw.plan.bn_of.get(n.name)
    pre = bn_end(lw, n).name if bn is not None else n.name
    post, end = post_for(lw, n, pre)
    s_out, dt = lw.out_spec(end, shape)
    if post.kind == "relu" and dt == "int8":
        s_out = lw.scale_of(end.name)
    out = lw.alloc(end.name, shape, s_out, col_dim=1, border=lw.plan.border.get(end.name, 0),
                   dtype=dt, role=lw.role_of(end))
    return out, post, end, s_out, dt


def quant_conv_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel int8 (Co, Ci, KH, KW) weight and its scales."""
    Co = w.shape[0]
    ws = weight_scales(w.reshape(Co, -1), axis=1)
    return quant(w, ws[:, None, None, None]).astype(np.int8), ws


def lower_dense_conv(lw: Lowerer, n: Node, w: np.ndarray, *, k_useful: int | None = None,
                     w_useful: int | None = None) -> None:
    """A (non-transposed) convolution node with the dense (Co, Ci, KH, KW) float weight ``w``
    (a grouped convolution passes its block-diagonal expansion: its all-zero weight tiles are
    skipped).  ``k_useful`` / ``w_useful``: the useful reduction length and weight count (default:
    those of ``w``)."""
    x_n, _w, _b, stride, padding, dilation = n.args[:6]
    x = lw.val(x_n)
    w, b = conv_bias_bn(lw, n, w)
    Co, Ci, KH, KW = w.shape
    N_, _, H, W_ = x.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    if x.border < max(ph, pw) or x.strides[1] != 1:
        x = copy(lw, x, f"{n.name}.pad", border=max(ph, pw))
    Ho = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    Wo = (W_ + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    out, post, end, s_out, dt = conv_output(lw, n, (N_, Co, Ho, Wo))
    wq, ws = quant_conv_weight(w)
    band = conv_gemm(lw, n.name, x, wq, lambda: make_ppu(lw, n.name, Co, x.scale * ws, b, post, s_out,
                                                         out_int32=dt == "int32"),
                     out, stride, padding, dilation)
    if lw._cur_layer is not None:
        lw._cur_layer.meta.update(conv_band=band)
    # compulsory input: the input pixels some tap reads (a strided 1x1 conv skips the others)
    rows_used = len({ho * sh + kh * dh - ph for ho in range(Ho) for kh in range(KH)} & set(range(H)))
    cols_used = len({wo * sw + kw * dw - pw for wo in range(Wo) for kw in range(KW)} & set(range(W_)))
    lw.useful(N_ * Ho * Wo, KH * KW * Ci if k_useful is None else k_useful, Co,
              a_bytes=N_ * Ci * rows_used * cols_used * x.item,
              w_bytes=wq.size if w_useful is None else w_useful, o_bytes=N_ * Co * Ho * Wo * out.item)
    lw.vals[end.name] = out
    lw.vals[n.name] = out


def conv_gemm(lw: Lowerer, name: str, x: Act, wq: np.ndarray, ppu: Callable[[], Ppu], out: Act,
              stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]) -> bool:
    """Emit ``out = PPU(conv(x, wq))``: the int8 (Co, Ci, KH, KW) weight over the zero-bordered
    NHWC input ``x`` (border >= the reads' overhang), output pixel (ho, wo) reading input pixel
    (ho * sh + kh * dh - ph, wo * sw + kw * dw - pw).  ``out`` may be a strided view (its shape
    gives Ho, Wo; a padding may be negative, i.e. an offset).  Weight tiles that are all zero are
    skipped.  ``ppu`` builds the PPU configuration (called once, after the weights are laid out).
    Returns whether the input-band form was chosen."""
    R = lw.hw.rows
    Co, Ci, KH, KW = wq.shape
    N_, _, Ho, Wo = out.shape
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    # weights as (kh, kw, c) x Co with K-blocks per (kh, kw, c-block)
    wk = wq.transpose(2, 3, 1, 0).reshape(KH * KW * Ci, Co)
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
    wt = pack_weight_tiles(lw.mem, wk, lw.hw, f"{name}.w", rb)
    band = (_band(lw, x, name, (KH, KW), (sh, sw), (dh, dw), (ph, pw), Ho, Wo, Ci, N_, taps, Co)
            if kbl else None)   # no taps (a transposed conv's empty phase): bias only
    a_runs, o_runs = [], []
    oN, oH, oW = out.bstride(0), out.bstride(2), out.bstride(3)
    if band is not None:
        band_op, pitch = band
        m = 0
        for ni in range(N_):
            for ho in range(Ho):
                o_runs.append(Run(m, Wo, out.addr + ni * oN + ho * oH, oW))
                m += pitch
        m = band_op.tiles[-1][1]
        a_runs = [Run(0, m, x.addr, 0)]   # unused: the band loads feed INP
    else:
        band_op = None
        m = 0
        for ni in range(N_):
            for ho in range(Ho):
                a_runs.append(Run(m, Wo, x.addr + ni * sN + ho * sh * sH, sw * sW))
                o_runs.append(Run(m, Wo, out.addr + ni * oN + ho * oH, oW))
                m += Wo
    op = GemmOp(name, m, Co, [ASrc(merge_runs(a_runs), x.region)], kbl, wt, ppu(),
                [Out(merge_runs(o_runs), out.bstride(1), out.region)], band=band_op)
    lw.run(op)
    return band_op is not None


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
    # A whole image that fits INP but not a half: one band per image in all of INP, so the weights
    # stream once per image instead of once per band (the stage-3 3x3 convolutions of ResNet-50)
    whole = B < Ho and min(Ho, acc_rows, hw.inp_depth // (ncb * Wp) - KH + 1) == Ho
    if whole:
        B = Ho
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
    # (a whole-INP band's load does not overlap the computes before it: its beats add)
    band_cost = sum(max((t1 - t0) * nk * nn, ncb * ld[0].rows + nk * nn * R) + TILE_FILL
                    + (ncb * ld[0].rows if whole else 0)
                    for (t0, t1), ld in zip(tiles, loads, strict=True))
    if band_cost > (WHOLE_BAND_SLACK if whole else BAND_SLACK) * tile_cost(N_ * Ho * Wo, nk, nn, hw):
        return None
    return (Band(tiles, loads, kb_off, ncb * bp, x.region, segs or None, whole_inp=whole),
            Wo if per_row else Wp)


