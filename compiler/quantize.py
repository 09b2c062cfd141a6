"""int8 post-training quantisation helpers (scheme documented in docs/compiler.md).

* activations: per-tensor symmetric, ``scale = absmax / 127`` over the calibration set;
* weights: per-output-channel symmetric, ``scale_c = max_k |W[k, c]| / 127``;
* biases: int32 in accumulator units, ``scale_c = in_scale * w_scale_c``;
* requantisation: ``rshift(acc * mult, shift) ~= acc * ratio`` with ``mult < 2**31`` holding 30-31
  significant bits (golden.arith.rshift rounds half away from zero).
"""

from __future__ import annotations

import math

import numpy as np

from golden.arith import I32_MAX
from golden.isa import SHIFT_MAX

QMAX = 127
EPS_SCALE = 1e-8


def act_scale(absmax: float) -> float:
    """Per-tensor symmetric int8 scale for a calibrated absolute maximum."""
    a = float(absmax)
    if not math.isfinite(a) or a <= 0:
        a = 1.0
    return max(a / QMAX, EPS_SCALE)


def quant(x: np.ndarray, scale: float | np.ndarray, bits: int = 8) -> np.ndarray:
    lim = (1 << (bits - 1)) - 1
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale), -lim - (bits > 8), lim).astype(np.int64)


def weight_scales(w: np.ndarray, axis: int = 0) -> np.ndarray:
    """Per-column scales of a (K x N) weight (reduce over ``axis``)."""
    amax = np.abs(np.asarray(w, dtype=np.float64)).max(axis=axis)
    return np.maximum(amax / QMAX, EPS_SCALE)


def mult_shift(ratio: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element (mult, shift) with ``rshift(a * mult, shift) ~= a * ratio`` (ratio > 0)."""
    r = np.atleast_1d(np.asarray(ratio, dtype=np.float64))
    mult = np.zeros(r.shape, dtype=np.int64)
    shift = np.zeros(r.shape, dtype=np.int64)
    for i, x in enumerate(r):
        if x <= 0 or not math.isfinite(x):
            continue
        e = math.frexp(x)[1]              # x = m * 2**e, m in [0.5, 1)
        s = 31 - e                         # mult = x * 2**s in [2**30, 2**31)
        s = min(max(s, 0), SHIFT_MAX)
        m = round(x * 2.0 ** s)
        while m > I32_MAX and s > 0:
            s -= 1
            m = round(x * 2.0 ** s)
        mult[i] = min(m, I32_MAX)
        shift[i] = s
    return mult, shift
