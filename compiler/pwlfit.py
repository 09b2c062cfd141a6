"""Piecewise-linear fits of scalar functions, converted to the PPU's 48-word integer table.

The PPU evaluates ``out = rshift(v * slope[s], pwl_shift) + icpt[s]`` where ``v`` is the (integer)
value after requantisation and ``s`` the segment (docs/isa.md section 4).  A table is built from a
float function ``f`` and the two scales: real input ``x = v * in_scale``, real output
``y = out * out_scale``.  Breakpoints are placed uniformly or geometrically over the calibrated
input range; each segment is the chord of ``f`` between its ends, so the fit is continuous and
exact at every breakpoint (piecewise-linear functions such as ReLU are reproduced exactly when
their kinks are breakpoints).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from golden.arith import I32_MAX, I32_MIN, pwl_eval
from golden.isa import PWL_BREAKPOINTS, PWL_ICPT_WORD, PWL_SEGMENTS, PWL_SHIFT_WORD, PWL_SLOPE_WORD, PWL_WORDS

Fn = Callable[[np.ndarray], np.ndarray]


def relu_table() -> np.ndarray:
    """Exact ReLU with input and output in the same units."""
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    t[:PWL_BREAKPOINTS] = 0
    t[PWL_SHIFT_WORD] = 0
    t[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = 1
    t[PWL_SLOPE_WORD] = 0
    return t


def identity_table() -> np.ndarray:
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    t[:PWL_BREAKPOINTS] = I32_MAX
    t[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = 1
    return t


def breakpoints(lo: float, hi: float, n: int, mode: str) -> np.ndarray:
    if mode == "geometric" and lo > 0:
        return np.geomspace(lo, hi, n)
    return np.linspace(lo, hi, n)


def fit_table(f: Fn, lo: float, hi: float, in_scale: float, out_scale: float, *,
              mode: str = "uniform", const_below: bool = False, const_above: bool = False,
              kinks: tuple[float, ...] = ()) -> np.ndarray:
    """48-word PWL table approximating ``f`` over ``[lo, hi]`` (real input units).

    ``const_below``/``const_above`` make the outer segments flat (f(lo) / f(hi)) instead of
    extending the outer chords (use for saturating functions: exp below, sigmoid, reciprocal...).
    ``kinks`` are points that must be breakpoints (e.g. 0 for ReLU-like functions).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"PWL range [{lo}, {hi}] is not finite")
    if hi <= lo:
        hi = lo + max(abs(lo), 1.0) * 1e-3 + 1e-6
    # segment ends e_0..e_n; the table has PWL_SEGMENTS segments in total.
    n_inner = PWL_SEGMENTS - int(const_below) - int(const_above)
    inner_kinks = sorted(k for k in kinks if lo < k < hi)
    if inner_kinks:
        # split the interior segments between the kink-delimited pieces in proportion to length
        edges = [lo, *inner_kinks, hi]
        lens = np.diff(edges)
        counts = np.maximum(1, np.floor(lens / lens.sum() * n_inner).astype(int))
        while counts.sum() > n_inner:
            counts[np.argmax(counts)] -= 1
        while counts.sum() < n_inner:
            counts[np.argmax(lens / counts)] += 1
        ends = [lo]
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True):
            ends.extend(breakpoints(a, b, int(c) + 1, mode)[1:].tolist())
        e = np.array(ends)
    else:
        e = breakpoints(lo, hi, n_inner + 1, mode)
    fe = np.asarray(f(e.astype(np.float64)), dtype=np.float64)
    # real-unit lines per segment (slope a, value at left end) -> integer units
    slopes: list[float] = []
    icpts: list[float] = []
    bps: list[float] = []
    if const_below:
        slopes.append(0.0)
        icpts.append(fe[0] / out_scale)
        bps.append(e[0])
    for j in range(n_inner):
        a = (fe[j + 1] - fe[j]) / (e[j + 1] - e[j])
        a_int = a * in_scale / out_scale           # out units per in unit
        b_int = fe[j] / out_scale - a_int * (e[j] / in_scale)
        slopes.append(a_int)
        icpts.append(b_int)
        if j > 0:
            bps.append(e[j])
    if const_above:
        bps.append(e[-1])
        slopes.append(0.0)
        icpts.append(fe[-1] / out_scale)
    assert len(slopes) == PWL_SEGMENTS and len(bps) == PWL_BREAKPOINTS, (len(slopes), len(bps))
    smax = max(abs(s) for s in slopes)
    if smax == 0:
        shift = 0
    else:
        shift = math.floor(math.log2((I32_MAX - 1) / smax))
        shift = max(0, min(shift, 40))
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    bp_int = [math.ceil(b / in_scale - 1e-9) for b in bps]
    for i in range(1, len(bp_int)):
        bp_int[i] = max(bp_int[i], bp_int[i - 1])
    t[:PWL_BREAKPOINTS] = np.clip(bp_int, I32_MIN, I32_MAX)
    t[PWL_SHIFT_WORD] = shift
    t[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = np.clip(
        np.round(np.array(slopes) * 2.0 ** shift), I32_MIN, I32_MAX)
    t[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS] = np.clip(np.round(icpts), I32_MIN, I32_MAX)
    return t


def eval_table(table: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bit-exact evaluation (golden.arith.pwl_eval)."""
    return pwl_eval(np.asarray(v, dtype=np.int64), np.asarray(table, dtype=np.int64))
