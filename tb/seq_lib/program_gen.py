"""Constrained-random Program generator: valid, race-free, reproducible from a seed.

``random_program(seed, hw)`` draws a chain of layers (tiled GEMMs, GEMMs that consume the previous
layer's int8 output through memory, and random instruction mixes), places every tensor in a fresh
memory image and lets the tokeniser insert the dependency tokens in one of several styles.  The same
``(seed, hw, knobs)`` always yields the same bytes: all randomness flows from one
``numpy.random.Generator(PCG64(seed))``.

Validity is checked where it is cheap to be sure: ``tests/test_tb_seq_lib.py`` runs every generated
program through the golden simulator (error NONE expected) and through
:func:`tb.seq_lib.hazards.find_races` (no unordered conflict expected) for many seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from golden.isa import HwConfig
from golden.program import Program
from tb.seq_lib import data
from tb.seq_lib.builder import ProgramBuilder
from tb.seq_lib.hazards import DEP_STYLES
from tb.seq_lib.idioms import LayerKnobs, gemm_layer, mix_block


@dataclass(frozen=True)
class GenKnobs:
    """Knobs of the random generator.  Defaults suit the 100-seed regression at 16x16."""

    layers: tuple[int, int] = (1, 4)
    """Number of layers (inclusive range)."""
    layer_weights: dict[str, float] = field(default_factory=lambda: {"gemm": 4.0, "chain": 2.0, "mix": 2.0})
    max_dim: int | None = None
    """Largest M/K/N of a GEMM layer; default 5 array sides plus a ragged part."""
    mix_ops: tuple[int, int] = (8, 40)
    dep_styles: tuple[str, ...] = DEP_STYLES
    extra_token_prob: tuple[float, float] = (0.0, 0.15)
    """Per program, the probability of an unneeded token pair is drawn from this range."""
    p_misalign: float = 0.3
    p_straddle_4k: float = 0.15
    dists: tuple[str, ...] = data.INT8_DISTS


def random_program(
    seed: int, hw: HwConfig | None = None, knobs: GenKnobs | None = None, name: str | None = None
) -> Program:
    """A valid, race-free random Program for ``hw``; identical for identical arguments."""
    hw = hw or HwConfig()
    k = knobs or GenKnobs()
    rng = np.random.Generator(np.random.PCG64(seed))
    styles = {s: float(rng.random()) + 0.05 for s in k.dep_styles}
    b = ProgramBuilder(
        hw,
        rng,
        dep_styles=styles,
        extra_token_prob=float(rng.uniform(*k.extra_token_prob)),
        p_misalign=k.p_misalign,
        p_straddle_4k=k.p_straddle_4k,
    )
    max_dim = k.max_dim or (5 * max(hw.rows, hw.cols) + max(hw.rows, hw.cols) // 2)
    lk = LayerKnobs(max_dim=max_dim, dists=k.dists)
    kinds = list(k.layer_weights)
    p = np.array([k.layer_weights[x] for x in kinds], dtype=float)
    prev = None
    for li in range(int(rng.integers(k.layers[0], k.layers[1] + 1))):
        kind = str(rng.choice(kinds, p=p / p.sum()))
        lname = f"L{li}_{kind}"
        if kind == "mix":
            mix_block(b, lname, int(rng.integers(k.mix_ops[0], k.mix_ops[1] + 1)))
            prev = None
            continue
        chain_in = prev if (kind == "chain" and prev is not None and prev[1].dtype == np.int8) else None
        layer_kn = replace(lk, p_int32_out=0.15) if kind == "chain" else lk
        prev = gemm_layer(b, lname, layer_kn, a_in=chain_in)
    return b.finish(name or f"random_s{seed}_{hw.rows}x{hw.cols}")


def seed_range(spec: str) -> list[int]:
    """Parse ``"0-99"``, ``"5"`` or ``"1,4,7-9"`` into a list of seeds."""
    out: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out
