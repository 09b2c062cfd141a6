"""Bit-exact arithmetic of the NMX datapath (docs/isa.md sections 3-4), vectorised with numpy.

Pure functions over int64 arrays.  The golden simulator, the compiler (to predict quantised
values) and the RTL block tests all call these, so the arithmetic is written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from golden.isa import (
    PWL_BREAKPOINTS,
    PWL_ICPT_WORD,
    PWL_SEGMENTS,
    PWL_SHIFT_WORD,
    PWL_SLOPE_WORD,
    PWL_WORDS,
    SHIFT_MAX,
)

I8_MIN, I8_MAX = -(1 << 7), (1 << 7) - 1
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def sat(v: np.ndarray, bits: int) -> np.ndarray:
    """Clamp to the signed ``bits``-bit range."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.asarray(v, dtype=np.int64), lo, hi)


def wrap32(v: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32 (kept as int64)."""
    return np.asarray(v, dtype=np.int64).astype(np.int32).astype(np.int64)


def rshift(x: np.ndarray, s: np.ndarray | int) -> np.ndarray:
    """Round-half-away-from-zero arithmetic right shift; shift clamped to SHIFT_MAX.

    ``x`` must satisfy |x| <= 2**62 (true for any product of two int32 values).
    """
    x = np.asarray(x, dtype=np.int64)
    s = np.minimum(np.asarray(s, dtype=np.int64), SHIFT_MAX)
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    mag = (np.abs(x) + half) >> s
    return np.where(x < 0, -mag, mag)


def gemm_tile(inp: np.ndarray, wgt: np.ndarray, acc: np.ndarray | None) -> np.ndarray:
    """One GEMM instruction: ``inp`` (m x ROWS int8), ``wgt`` (ROWS x COLS int8).

    ``acc`` is the previous ACC content (accumulate) or None (overwrite).  The product of a
    ROWS-long int8 dot product is exact in float64 (|p| < 2**53), which lets BLAS do the work.
    """
    p = (np.asarray(inp, dtype=np.float64) @ np.asarray(wgt, dtype=np.float64)).astype(np.int64)
    return p if acc is None else wrap32(np.asarray(acc, dtype=np.int64) + p)


@dataclass
class PpuConfig:
    """State latched by PPUCFG (all zero after reset)."""

    cols: int
    bias_en: bool = False
    row_en: bool = False
    requant_en: bool = False
    pwl_en: bool = False
    out_int32: bool = False
    row_shift: int = 0
    bias: np.ndarray = field(default=None)  # type: ignore[assignment]
    mult: np.ndarray = field(default=None)  # type: ignore[assignment]
    shift: np.ndarray = field(default=None)  # type: ignore[assignment]
    pwl: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        z = np.zeros(self.cols, dtype=np.int64)
        self.bias = z.copy() if self.bias is None else np.asarray(self.bias, dtype=np.int64)
        self.mult = z.copy() if self.mult is None else np.asarray(self.mult, dtype=np.int64)
        self.shift = z.copy() if self.shift is None else np.asarray(self.shift, dtype=np.int64) & 63
        self.pwl = (np.zeros(3 * PWL_SEGMENTS, dtype=np.int64) if self.pwl is None
                    else np.asarray(self.pwl, dtype=np.int64))

    def latch(self, f: Mapping[str, int], vec: np.ndarray) -> None:
        """Execute a PPUCFG with fields ``f`` against the VEC buffer ``vec`` (vec_depth x cols int32).

        Flags are always latched; vectors and the PWL table are copied only when enabled, so the
        others keep their previous values (docs/isa.md section 3).
        """
        self.bias_en, self.row_en = bool(f["bias_en"]), bool(f["row_en"])
        self.requant_en, self.pwl_en = bool(f["requant_en"]), bool(f["pwl_en"])
        self.out_int32, self.row_shift = bool(f["out_int32"]), int(f["row_shift"])
        vec = np.asarray(vec, dtype=np.int64)
        if self.bias_en:
            self.bias = vec[f["bias_row"]].copy()
        if self.requant_en:
            self.mult = vec[f["mult_row"]].copy()
            self.shift = vec[f["shift_row"]] & 63
        if self.pwl_en:
            rows = -(-PWL_WORDS // self.cols)
            self.pwl = vec[f["pwl_row"]:f["pwl_row"] + rows].reshape(-1)[:PWL_WORDS].copy()


def pwl_eval(v: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The PWL stage on int32 inputs with a 48-word table (breakpoints, shift, slopes, intercepts)."""
    v = np.asarray(v, dtype=np.int64)
    bp = table[:PWL_BREAKPOINTS]
    seg = (v[..., None] >= bp).sum(axis=-1)
    slope = table[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS][seg]
    icpt = table[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS][seg]
    return sat(rshift(v * slope, int(table[PWL_SHIFT_WORD]) & 63) + icpt, 32)


def pwl_table(breakpoints: Sequence[int], slopes: Sequence[int], intercepts: Sequence[int],
              shift: int) -> np.ndarray:
    """The 48-word PWL table of docs/isa.md section 3, the layout :func:`pwl_eval` reads.

    Missing breakpoints are padded with 2**31-1, which no int32 input reaches, so a table with
    fewer segments behaves as if the unused ones did not exist.
    """
    if len(breakpoints) > PWL_BREAKPOINTS or len(slopes) > PWL_SEGMENTS or len(intercepts) > PWL_SEGMENTS:
        raise ValueError("at most 15 breakpoints, 16 slopes and 16 intercepts")
    if list(breakpoints) != sorted(breakpoints):
        raise ValueError("breakpoints must be non-decreasing")
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    t[:PWL_BREAKPOINTS] = I32_MAX
    t[:len(breakpoints)] = breakpoints
    t[PWL_SHIFT_WORD] = shift
    t[PWL_SLOPE_WORD:PWL_SLOPE_WORD + len(slopes)] = slopes
    t[PWL_ICPT_WORD:PWL_ICPT_WORD + len(intercepts)] = intercepts
    return t


def relu_table(k: int = 0) -> np.ndarray:
    """ReLU as in docs/isa.md: all breakpoints 0, slope 0 below and 1<<k above, pwl_shift k."""
    return pwl_table([0] * PWL_BREAKPOINTS, [0] + [1 << k] * PWL_BREAKPOINTS, [0] * PWL_SEGMENTS, k)


def pwl_vec_rows(table: np.ndarray, cols: int) -> np.ndarray:
    """VEC-row image of a table: T[j] at row j // cols, lane j % cols (int32, zero padded).

    This is the inverse of what PPUCFG latches (:meth:`PpuConfig.latch`), so a Program that LOADs
    this image into VEC and enables pwl_row there evaluates exactly ``table``.
    """
    rows = -(-PWL_WORDS // cols)
    out = np.zeros(rows * cols, dtype=np.int32)
    out[:PWL_WORDS] = np.asarray(table, dtype=np.int64)
    return out.reshape(rows, cols)


def ppu(acc: np.ndarray, cfg: PpuConfig, row_off: np.ndarray | None = None,
        row_scale: np.ndarray | None = None) -> np.ndarray:
    """Post-process an (m x n) block of accumulators, n <= COLS columns starting at column 0.

    ``row_off``/``row_scale`` hold ROW[r][0] and ROW[r][1] for each of the m rows.  Returns int64
    values: int32 range, or int8 range unless ``out_int32``.
    """
    v = np.asarray(acc, dtype=np.int64)
    n = v.shape[-1]
    if cfg.bias_en:
        v = sat(v + cfg.bias[:n], 32)
    if cfg.row_en:
        assert row_off is not None and row_scale is not None, "row_en needs ROW values"
        off = np.asarray(row_off, dtype=np.int64)[:, None]
        sc = np.asarray(row_scale, dtype=np.int64)[:, None]
        v = sat(rshift(sat(v + off, 32) * sc, cfg.row_shift), 32)
    if cfg.requant_en:
        v = sat(rshift(v * cfg.mult[:n], cfg.shift[:n]), 32)
    if cfg.pwl_en:
        v = pwl_eval(v, cfg.pwl)
    return v if cfg.out_int32 else sat(v, 8)
