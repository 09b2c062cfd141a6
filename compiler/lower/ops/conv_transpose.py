"""Transposed convolution (``ConvTranspose2d``) by sub-pixel (phase) decomposition.

``out[oh] += x[ih] * w[kh]`` for ``oh = ih * s - p + kh * d``.  Split the output by phase
``r = oh mod s``: output row ``oh = s * j + r`` receives exactly the taps ``kh`` with
``(r + p - kh * d) mod s == 0``, from input row ``ih = j + (r + p - kh * d) / s``.  So each of the
``sh * sw`` phases is an ordinary stride-1 convolution of the *original* input with a sub-kernel
(those taps, flipped: ``ceil(K / s)`` of them per dimension), dilation ``d / gcd(s, d)`` and
padding ``-min_kh (r + p - kh * d) / s`` (negative: an offset), whose outputs are stored into the
phase's strided view of the output (pixel stride ``s``).  Every phase is one
``conv.conv_gemm`` (implicit GEMM or input bands over the zero-bordered NHWC input); no zero is
inserted into the input and no MAC multiplies an inserted zero, unlike an implicit GEMM over the
zero-inserted input (which wastes ``1 - 1/(sh*sw)`` of its MACs: 75 % at stride 2).
``output_padding`` only lengthens the last phases' outputs (read from the zero border).

Weights are quantised once, int8 per output channel over the whole kernel, so all phases share
one PPU configuration (bias, requant, epilogue table).  Grouped transposed convolutions use the
block-diagonal weight of ``conv_grouped``.  A phase with no tap (kernel smaller than the stride)
is bias (and epilogue) only.
"""

from __future__ import annotations

from dataclasses import replace
from math import gcd
from typing import TYPE_CHECKING

import torch
from torch.fx import Node

from compiler.codegen import Ppu
from compiler.frontend import unsupported
from compiler.lower.ops.conv import conv_bias_bn, conv_gemm, conv_output, quant_conv_weight
from compiler.lower.ops.conv_grouped import block_diagonal
from compiler.lower.post import make_ppu
from compiler.lower.prims import copy
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


Phase = tuple[int, list[int], int, int, int]
"""(r, taps, pad, dil, J) of one output phase (see :func:`phases`)."""


def phases(n_in: int, k: int, s: int, p: int, d: int, op: int) -> tuple[int, list[Phase]]:
    """Output length and, per phase ``r`` with outputs, ``(r, taps, pad, dil, J)``: the kernel
    taps of the phase in sub-kernel order (ascending input offset), the stride-1 convolution's
    padding and dilation, and the phase's output count."""
    n_out = (n_in - 1) * s - 2 * p + d * (k - 1) + op + 1
    dil = d // gcd(s, d)
    out = []
    for r in range(s):
        J = len(range(r, n_out, s))
        if J == 0:
            continue
        taps = sorted((t for t in range(k) if (r + p - t * d) % s == 0), reverse=True)
        pad = -((r + p - taps[0] * d) // s) if taps else 0
        out.append((r, taps, pad, dil, J))
    return n_out, out


def _border_need(n_in: int, ph: list[Phase]) -> int:
    """Zero border the phases' reads need around an input of length ``n_in``."""
    need = 0
    for _r, taps, pad, dil, J in ph:
        if taps:
            need = max(need, pad, (J - 1 - pad + (len(taps) - 1) * dil) - (n_in - 1))
    return need


def _transposed(lw: Lowerer, n: Node) -> bool:
    return bool(n.args[6])


@lowers(aten.convolution.default, when=_transposed)
def lower_conv_transpose(lw: Lowerer, n: Node) -> None:
    """ConvTranspose2d: sh * sw stride-1 phase convolutions into strided views of the output."""
    x_n, w_n, _b, stride, padding, dilation, _t, outpad, groups = n.args
    if len(stride) != 2:
        raise unsupported(n, "only 2-D transposed convolution")
    x = lw.val(x_n)
    wt = lw.const(w_n).to(torch.float64).numpy()        # (Ci, Co/g, KH, KW)
    Ci, Cog, KH, KW = wt.shape
    Cig = Ci // groups
    # the equivalent direct (grouped) weight (Co, Ci/g, KH, KW), then its dense block diagonal
    wg = wt.reshape(groups, Cig, Cog, KH, KW).transpose(0, 2, 1, 3, 4).reshape(groups * Cog, Cig, KH, KW)
    w, b = conv_bias_bn(lw, n, block_diagonal(wg, groups) if groups != 1 else wg)
    Co = w.shape[0]
    N_, _, H, W_ = x.shape
    Ho, ph_h = phases(H, KH, stride[0], padding[0], dilation[0], outpad[0])
    Wo, ph_w = phases(W_, KW, stride[1], padding[1], dilation[1], outpad[1])
    need = max(_border_need(H, ph_h), _border_need(W_, ph_w))
    if x.border < need or x.strides[1] != 1:
        x = copy(lw, x, f"{n.name}.pad", border=need)
    out, post, end, s_out, dt = conv_output(lw, n, (N_, Co, Ho, Wo))
    wq, ws = quant_conv_weight(w)
    ppu: list[Ppu] = []

    def get_ppu() -> Ppu:
        if not ppu:
            ppu.append(make_ppu(lw, n.name, Co, x.scale * ws, b, post, s_out, out_int32=dt == "int32"))
        return ppu[0]

    rows0 = lw.em.gemm_rows
    bands, macs = [], 0
    for rh, th, padh, dilh, Jh in ph_h:
        for rw, tw, padw, dilw, Jw in ph_w:
            view = replace(out, addr=out.addr + rh * out.bstride(2) + rw * out.bstride(3),
                           shape=(N_, Co, Jh, Jw), border=0,
                           strides=(out.strides[0], out.strides[1], stride[0] * out.strides[2],
                                    stride[1] * out.strides[3]))
            sub = wq[:, :, th][:, :, :, tw]
            bands.append(conv_gemm(lw, f"{n.name}.p{rh}{rw}", x, sub, get_ppu, view, (1, 1),
                                   (padh, padw), (dilh, dilw)))
            macs += N_ * Jh * Jw * len(th) * len(tw) * Cig * Co
    layer = lw._cur_layer
    if layer is not None:
        issued = (lw.em.gemm_rows - rows0) * lw.hw.rows * lw.hw.cols
        layer.meta.update(conv_band=any(bands), phases=len(bands), groups=int(groups),
                          mac_util=macs / issued if issued else 0.0)
    M = N_ * Ho * Wo
    lw.useful(M, max(1, round(macs / max(1, M * Co))), Co, macs=macs, a_bytes=N_ * Ci * H * W_ * x.item,
              w_bytes=wt.size, o_bytes=N_ * Co * Ho * Wo * out.item)
    lw.vals[end.name] = out
    lw.vals[n.name] = out
