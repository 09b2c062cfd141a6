"""Random tensor contents with named distributions.

Bugs in an int8 datapath hide at the edges (``-128 * -128``, all-zero rows, one-sided data that never
exercises a sign bit), so the generator draws every tensor from one of several distributions rather
than from a single uniform one.  Every draw goes through the caller's ``numpy`` Generator, so a seed
reproduces the data exactly.
"""

from __future__ import annotations

import numpy as np

INT8_DISTS = ("uniform", "small", "extreme", "sparse", "positive", "negative", "normal")
"""Distributions of int8 operand tensors (weights of the default mix in :class:`GenKnobs`)."""


def int8(rng: np.random.Generator, shape: tuple[int, ...], dist: str) -> np.ndarray:
    """An int8 array of ``shape`` drawn from ``dist`` (one of :data:`INT8_DISTS`)."""
    if dist == "uniform":
        a = rng.integers(-128, 128, size=shape)
    elif dist == "small":
        a = rng.integers(-4, 5, size=shape)
    elif dist == "extreme":
        a = rng.choice(
            np.array([-128, -127, 127, 0, -1, 1]), size=shape, p=[0.35, 0.1, 0.35, 0.1, 0.05, 0.05]
        )
    elif dist == "sparse":
        a = rng.integers(-128, 128, size=shape) * (rng.random(shape) < 0.1)
    elif dist == "positive":
        a = rng.integers(0, 128, size=shape)
    elif dist == "negative":
        a = rng.integers(-128, 0, size=shape)
    elif dist == "normal":
        a = np.clip(np.rint(rng.normal(0.0, 24.0, size=shape)), -128, 127)
    else:
        raise ValueError(f"unknown int8 distribution {dist!r}; known: {INT8_DISTS}")
    return np.asarray(a, dtype=np.int8)


def int32(
    rng: np.random.Generator, shape: tuple[int, ...], lo: int, hi: int, p_extreme: float = 0.0
) -> np.ndarray:
    """int32 values uniform in [lo, hi]; with probability ``p_extreme`` each is INT32_MIN/MAX instead."""
    a = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    if p_extreme > 0:
        ext = rng.random(shape) < p_extreme
        a = np.where(ext, rng.choice(np.array([-(1 << 31), (1 << 31) - 1]), size=shape), a)
    return np.clip(a, -(1 << 31), (1 << 31) - 1).astype(np.int32)
