"""Grouped and depthwise convolution (``groups > 1``) as one implicit GEMM with a block-diagonal
weight.

A grouped convolution is the dense convolution whose (Co, Ci) weight is block diagonal: output
channel ``co`` of group ``j`` sees only the input channels of group ``j``.  The lowering expands
the weight to that dense form and emits the ordinary implicit GEMM (``conv.lower_dense_conv``:
one K-block per (kh, kw, ROWS-channel block), zero borders, input bands, folded BN, fused
epilogue).  ``pack_weight_tiles`` stores only the ROWS x COLS tiles that hold some group's weights
and the Tiler skips the others with their LOADs and GEMMs, so each group's channels sit on the
diagonal of the tiles of its channel block and all groups of a block share one GEMM:

* depthwise (``groups == Ci == Co``): per (tap, 16-channel block) one diagonal tile, i.e. one GEMM
  per tap and channel block for all channels at once; a GEMM row does ROWS useful MACs out of
  ROWS x COLS (1/COLS: 6.25 % on 16x16, 25 % on 4x4), against 9/256 = 3.5 % and one GemmOp per
  channel for a naive per-group GEMM with K = KH*KW, N = 1.
* ``Ci/g`` and ``Co/g`` multiples of ROWS / COLS: the diagonal tiles are dense (100 %), the
  off-diagonal ones are skipped; smaller groups fill ``min(1, Ci/g / ROWS)`` of a tile.

Weights stay int8 per output channel (the zeros outside the group do not change a channel's
absmax).  The layer meta records ``groups`` and ``mac_util`` (useful MACs over the MACs of the
issued GEMM rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.fx import Node

from compiler.lower.ops.conv import conv_weight, lower_dense_conv
from compiler.lower.registry import lowers

if TYPE_CHECKING:
    from compiler.lower.core import Lowerer

aten = torch.ops.aten


def block_diagonal(w: np.ndarray, groups: int) -> np.ndarray:
    """The dense (Co, Ci, KH, KW) weight of a grouped (Co, Ci/g, KH, KW) weight."""
    Co, Cig, KH, KW = w.shape
    Cog = Co // groups
    dense = np.zeros((Co, Cig * groups, KH, KW), dtype=w.dtype)
    for j in range(groups):
        dense[j * Cog:(j + 1) * Cog, j * Cig:(j + 1) * Cig] = w[j * Cog:(j + 1) * Cog]
    return dense


def _grouped(lw: Lowerer, n: Node) -> bool:
    return not n.args[6] and n.args[8] != 1


@lowers(aten.convolution.default, when=_grouped)
def lower_grouped_conv(lw: Lowerer, n: Node) -> None:
    """Grouped / depthwise convolution: the implicit GEMM of its block-diagonal dense weight."""
    groups = n.args[8]
    w = conv_weight(lw, n)
    _co, Cig, KH, KW = w.shape
    rows0 = lw.em.gemm_rows
    lower_dense_conv(lw, n, block_diagonal(w, groups), k_useful=KH * KW * Cig, w_useful=w.size)
    layer = lw._cur_layer
    if layer is not None:
        issued = (lw.em.gemm_rows - rows0) * lw.hw.rows * lw.hw.cols
        layer.meta.update(groups=int(groups),
                          mac_util=float(layer.meta.get("macs", 0)) / issued if issued else 0.0)
