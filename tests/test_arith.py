"""golden/arith.py against an independent pure-Python reference (Python ints, no numpy), written
straight from docs/isa.md section 4, so a vectorisation or dtype bug in arith cannot hide."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import arith

I32 = st.integers(-(1 << 31), (1 << 31) - 1)
I62 = st.integers(-(1 << 62), 1 << 62)
SHIFT = st.integers(0, 63)


# --------------------------------------------------------------------------- reference (Python ints)

def r_sat(v: int, bits: int) -> int:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lo if v < lo else hi if v > hi else v


def r_wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def r_rshift(x: int, s: int) -> int:
    s = min(s, 62)
    if s == 0:
        return x
    mag = (abs(x) + (1 << (s - 1))) >> s
    return -mag if x < 0 else mag


def r_pwl(v: int, table: list[int]) -> int:
    seg = sum(1 for j in range(15) if v >= table[j])
    return r_sat(r_rshift(v * table[16 + seg], table[15] & 63) + table[32 + seg], 32)


def r_ppu(a: int, c: int, cfg: dict, off: int, sc: int) -> int:
    v = a
    if cfg["bias_en"]:
        v = r_sat(v + cfg["bias"][c], 32)
    if cfg["row_en"]:
        v = r_sat(r_rshift(r_sat(v + off, 32) * sc, cfg["row_shift"]), 32)
    if cfg["requant_en"]:
        v = r_sat(r_rshift(v * cfg["mult"][c], cfg["shift"][c] & 63), 32)
    if cfg["pwl_en"]:
        v = r_pwl(v, cfg["pwl"])
    return v if cfg["out_int32"] else r_sat(v, 8)


# --------------------------------------------------------------------------- rshift / sat / wrap

@pytest.mark.parametrize("x,s,want", [
    (5, 1, 3), (-5, 1, -3), (-3, 1, -2), (3, 1, 2), (-1, 1, -1), (1, 1, 1), (-2, 2, -1),
    (6, 2, 2), (-6, 2, -2), (7, 0, 7), (-7, 0, -7), (1 << 62, 62, 1), (-(1 << 62), 63, -1),
    ((1 << 61) - 1, 62, 0), (1 << 61, 62, 1), (-(1 << 61), 62, -1), (12345, 63, 0),
])
def test_rshift_known(x: int, s: int, want: int) -> None:
    assert r_rshift(x, s) == want  # the reference itself is right
    assert int(arith.rshift(np.int64(x), s)) == want


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(I62, SHIFT), min_size=1, max_size=40))
def test_rshift_matches_reference(pairs: list[tuple[int, int]]) -> None:
    xs = np.array([p[0] for p in pairs], dtype=np.int64)
    ss = np.array([p[1] for p in pairs], dtype=np.int64)
    got = arith.rshift(xs, ss)
    assert [int(g) for g in got] == [r_rshift(x, s) for x, s in pairs]
    assert [int(arith.rshift(np.int64(x), s)) for x, s in pairs] == [r_rshift(x, s) for x, s in pairs]


def test_rshift_63_is_62() -> None:
    xs = np.array([(1 << 62), -(1 << 62), 3 << 60, -(3 << 60), 1 << 61, -(1 << 61)], dtype=np.int64)
    assert (arith.rshift(xs, 63) == arith.rshift(xs, 62)).all()
    assert list(arith.rshift(xs, 63)) == [1, -1, 1, -1, 1, -1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 62), 1 << 62), min_size=1, max_size=30), st.sampled_from([8, 32]))
def test_sat_matches_reference(vs: list[int], bits: int) -> None:
    assert [int(x) for x in arith.sat(np.array(vs, dtype=np.int64), bits)] == [r_sat(v, bits) for v in vs]


def test_sat_ends() -> None:
    v = np.array([-(1 << 40), -129, -128, 127, 128, 1 << 40], dtype=np.int64)
    assert list(arith.sat(v, 8)) == [-128, -128, -128, 127, 127, 127]
    v = np.array([-(1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 1 << 31], dtype=np.int64)
    assert list(arith.sat(v, 32)) == [-(1 << 31), -(1 << 31), (1 << 31) - 1, (1 << 31) - 1]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(1 << 40), 1 << 40), min_size=1, max_size=30))
def test_wrap32(vs: list[int]) -> None:
    assert [int(x) for x in arith.wrap32(np.array(vs, dtype=np.int64))] == [r_wrap32(v) for v in vs]


# --------------------------------------------------------------------------- gemm_tile

@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**32 - 1), st.booleans())
def test_gemm_tile(m: int, rows: int, cols: int, seed: int, big_acc: bool) -> None:
    rng = np.random.default_rng(seed)
    inp = rng.integers(-128, 128, (m, rows), dtype=np.int8)
    wgt = rng.integers(-128, 128, (rows, cols), dtype=np.int8)
    lim = 1 << 31 if big_acc else 1000
    acc = rng.integers(-lim, lim, (m, cols), dtype=np.int64)
    prod = [[sum(int(inp[i, k]) * int(wgt[k, c]) for k in range(rows)) for c in range(cols)]
            for i in range(m)]
    got = arith.gemm_tile(inp, wgt, None)
    assert got.tolist() == prod
    got = arith.gemm_tile(inp, wgt, acc)
    assert got.tolist() == [[r_wrap32(int(acc[i, c]) + prod[i][c]) for c in range(cols)] for i in range(m)]


def test_gemm_tile_wraps() -> None:
    inp = np.full((1, 4), -128, dtype=np.int8)
    wgt = np.full((4, 1), -128, dtype=np.int8)
    acc = np.array([[(1 << 31) - 1]], dtype=np.int64)
    assert int(arith.gemm_tile(inp, wgt, acc)[0, 0]) == r_wrap32((1 << 31) - 1 + 4 * 16384)
    assert int(arith.gemm_tile(inp, wgt, acc)[0, 0]) < 0


# --------------------------------------------------------------------------- PWL and PPU

@st.composite
def pwl_tables(draw: st.DrawFn) -> list[int]:
    bp = sorted(draw(st.lists(I32, min_size=15, max_size=15)))
    shift = draw(I32)  # only the low 6 bits count, negative words included
    slopes = draw(st.lists(I32, min_size=16, max_size=16))
    icpt = draw(st.lists(I32, min_size=16, max_size=16))
    return [*bp, shift, *slopes, *icpt]


@settings(max_examples=150, deadline=None)
@given(pwl_tables(), st.lists(I32, min_size=1, max_size=20))
def test_pwl_matches_reference(table: list[int], vs: list[int]) -> None:
    # include the breakpoints themselves: v == bp selects the segment above
    vs = vs + table[:3]
    got = arith.pwl_eval(np.array(vs, dtype=np.int64), np.array(table, dtype=np.int64))
    assert [int(g) for g in got] == [r_pwl(v, table) for v in vs]


def test_relu_table() -> None:
    from golden.arith import relu_table

    t = relu_table(3)
    v = np.array([-(1 << 31), -1, 0, 1, 100, (1 << 31) - 1], dtype=np.int64)
    assert list(arith.pwl_eval(v, t)) == [0, 0, 0, 1, 100, (1 << 31) - 1]
    assert [r_pwl(int(x), [int(y) for y in t]) for x in v] == [0, 0, 0, 1, 100, (1 << 31) - 1]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_ppu_matches_reference(data: st.DataObject) -> None:
    cols = data.draw(st.integers(1, 6))
    m = data.draw(st.integers(1, 4))
    n = data.draw(st.integers(1, cols))
    cfg = {
        "bias_en": data.draw(st.booleans()), "row_en": data.draw(st.booleans()),
        "requant_en": data.draw(st.booleans()), "pwl_en": data.draw(st.booleans()),
        "out_int32": data.draw(st.booleans()), "row_shift": data.draw(st.integers(0, 63)),
        "bias": data.draw(st.lists(I32, min_size=cols, max_size=cols)),
        "mult": data.draw(st.lists(I32, min_size=cols, max_size=cols)),
        "shift": data.draw(st.lists(st.integers(0, 63), min_size=cols, max_size=cols)),
        "pwl": data.draw(pwl_tables()),
    }
    acc = data.draw(st.lists(st.lists(I32, min_size=n, max_size=n), min_size=m, max_size=m))
    off = data.draw(st.lists(I32, min_size=m, max_size=m))
    sc = data.draw(st.lists(I32, min_size=m, max_size=m))
    pc = arith.PpuConfig(cols, bias_en=cfg["bias_en"], row_en=cfg["row_en"], requant_en=cfg["requant_en"],
                         pwl_en=cfg["pwl_en"], out_int32=cfg["out_int32"], row_shift=cfg["row_shift"],
                         bias=np.array(cfg["bias"]), mult=np.array(cfg["mult"]), shift=np.array(cfg["shift"]),
                         pwl=np.array(cfg["pwl"]))
    got = arith.ppu(np.array(acc, dtype=np.int64), pc, np.array(off), np.array(sc))
    want = [[r_ppu(acc[i][c], c, cfg, off[i], sc[i]) for c in range(n)] for i in range(m)]
    assert got.tolist() == want


def test_ppu_reset_state_saturates_to_int8() -> None:
    pc = arith.PpuConfig(4)
    acc = np.array([[-1000, -128, 127, 1000]], dtype=np.int64)
    assert arith.ppu(acc, pc).tolist() == [[-128, -128, 127, 127]]


def test_ppu_extreme_products() -> None:
    """int32 * int32 at both extremes stays exact (|product| <= 2**62) and saturates correctly."""
    lo, hi = -(1 << 31), (1 << 31) - 1
    cfg = {"bias_en": False, "row_en": True, "requant_en": True, "pwl_en": False, "out_int32": True,
           "row_shift": 0, "bias": [0], "mult": [lo], "shift": [62], "pwl": [0] * 48}
    pc = arith.PpuConfig(1, row_en=True, requant_en=True, out_int32=True, mult=np.array([lo]),
                         shift=np.array([62]))
    for a, off, sc in [(lo, lo, lo), (hi, hi, hi), (lo, 0, hi), (hi, 0, lo), (-5, 0, 1)]:
        got = int(arith.ppu(np.array([[a]]), pc, np.array([off]), np.array([sc]))[0, 0])
        assert got == r_ppu(a, 0, cfg, off, sc)
