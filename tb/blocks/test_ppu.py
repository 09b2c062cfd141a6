"""Block tests of nmx_ppu against golden.arith.ppu (docs/isa.md section 4).

Every batch programs one configuration, streams rows through the unit (one per cycle when not
back-pressured) and compares each output row, in order, with the golden model. The meta side band
carries the row number, so lost, duplicated or reordered rows are caught too.

Configuration: the parameters it was built with (``COLS`` lanes, ``META_BITS``), via tb.blocks.block_param.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden.arith import I32_MAX, I32_MIN, PpuConfig, ppu
from golden.isa import PWL_BREAKPOINTS, PWL_ICPT_WORD, PWL_SEGMENTS, PWL_SHIFT_WORD, PWL_SLOPE_WORD, PWL_WORDS
from tb.blocks import block_param

COLS = block_param("COLS", 16)
META_BITS = block_param("META_BITS", 16)
LATENCY = 10


# ---------------------------------------------------------------------------- packing helpers
def pack32(vals) -> int:
    """Little-endian pack of int32 lanes into one integer (lane 0 in the low bits)."""
    return int.from_bytes(np.asarray(vals, dtype=np.int64).astype("<i4").tobytes(), "little")


def pack6(vals) -> int:
    out = 0
    for i, v in enumerate(vals):
        out |= (int(v) & 63) << (6 * i)
    return out


def unpack32(value: int, n: int) -> np.ndarray:
    return np.frombuffer(value.to_bytes(4 * n, "little"), dtype="<i4").astype(np.int64)


# ---------------------------------------------------------------------------- value generators
def rand_i32(rng: np.random.Generator, shape, spread: str = "mixed") -> np.ndarray:
    """int32 values: uniform, small, near the limits, powers of two +-1."""
    uni = rng.integers(I32_MIN, I32_MAX + 1, size=shape, dtype=np.int64)
    if spread == "uniform":
        return uni
    small = rng.integers(-300, 301, size=shape, dtype=np.int64)
    edges = np.array([I32_MIN, I32_MIN + 1, I32_MAX, I32_MAX - 1, 0, 1, -1], dtype=np.int64)
    edge = rng.choice(edges, size=shape)
    p2 = ((np.int64(1) << rng.integers(0, 31, size=shape)) * rng.choice([-1, 1], size=shape)
          + rng.integers(-1, 2, size=shape))
    pick = rng.integers(0, 4, size=shape)
    v = np.select([pick == 0, pick == 1, pick == 2], [uni, small, edge], p2)
    return np.clip(v, I32_MIN, I32_MAX)


def rand_pwl(rng: np.random.Generator, kind: str = "sorted") -> np.ndarray:
    """A 48-word PWL table: breakpoints (sorted / unsorted / duplicates), shift, slopes, intercepts."""
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    if kind == "sorted":
        bp = np.sort(rng.integers(-(1 << 20), 1 << 20, size=PWL_BREAKPOINTS))
    elif kind == "unsorted":
        bp = rng.integers(-(1 << 20), 1 << 20, size=PWL_BREAKPOINTS)
    elif kind == "dup":
        bp = np.sort(rng.choice(rng.integers(-1000, 1000, size=4), size=PWL_BREAKPOINTS))
    elif kind == "extreme":
        bp = rng.choice(np.array([I32_MIN, I32_MAX, 0, -1, 1], dtype=np.int64), size=PWL_BREAKPOINTS)
    else:
        raise ValueError(kind)
    t[:PWL_BREAKPOINTS] = bp
    t[PWL_SHIFT_WORD] = rng.integers(0, 64) | (rng.integers(0, 1 << 20) << 6)  # only low 6 bits count
    t[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = rand_i32(rng, PWL_SEGMENTS)
    t[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS] = rand_i32(rng, PWL_SEGMENTS)
    return t


# ---------------------------------------------------------------------------- harness
class PpuHarness:
    def __init__(self, dut) -> None:
        self.dut = dut
        self.meta_mask = (1 << META_BITS) - 1

    async def start(self) -> None:
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        d.rst_n.value = 0
        d.flush.value = 0
        d.in_valid.value = 0
        d.out_ready.value = 0
        d.in_acc.value = 0
        d.in_row_off.value = 0
        d.in_row_scale.value = 0
        d.in_meta.value = 0
        self.program(PpuConfig(cols=COLS))
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst_n.value = 1
        await FallingEdge(d.clk)

    def program(self, cfg: PpuConfig) -> None:
        d = self.dut
        d.cfg_bias_en.value = int(cfg.bias_en)
        d.cfg_row_en.value = int(cfg.row_en)
        d.cfg_requant_en.value = int(cfg.requant_en)
        d.cfg_pwl_en.value = int(cfg.pwl_en)
        d.cfg_out_int32.value = int(cfg.out_int32)
        d.cfg_row_shift.value = int(cfg.row_shift) & 63
        d.cfg_bias.value = pack32(cfg.bias)
        d.cfg_mult.value = pack32(cfg.mult)
        d.cfg_shift.value = pack6(cfg.shift)
        d.cfg_pwl.value = pack32(cfg.pwl)

    async def run(self, cfg: PpuConfig, acc: np.ndarray, off: np.ndarray, sc: np.ndarray, *,
                  in_prob: float = 1.0, out_prob: float = 1.0, rng: random.Random | None = None,
                  what: str = "") -> int:
        """Stream the rows of ``acc`` through the unit and check every output row; returns cycles.

        Inputs and ready are driven just after the falling edge; the settled values are sampled in
        the ReadOnly phase of the same cycle, so every handshake is seen exactly as the DUT sees it.
        """
        d = self.dut
        rng = rng or random.Random(0)
        n = acc.shape[0]
        assert acc.shape[1] == COLS
        self.program(cfg)
        exp = ppu(acc, cfg, off, sc)
        packed = [pack32(acc[i]) for i in range(n)]
        sent = got = cycles = 0
        limit = 50 * n + 200
        while got < n:
            if cycles > limit:
                raise AssertionError(f"watchdog ({what}): {sent}/{n} rows accepted, {got}/{n} rows out "
                                     f"after {cycles} cycles")
            want_in = sent < n and rng.random() < in_prob
            d.in_valid.value = int(want_in)
            if want_in:
                d.in_acc.value = packed[sent]
                d.in_row_off.value = int(off[sent]) & 0xFFFFFFFF
                d.in_row_scale.value = int(sc[sent]) & 0xFFFFFFFF
                d.in_meta.value = sent & self.meta_mask
            rdy = rng.random() < out_prob
            d.out_ready.value = int(rdy)
            await ReadOnly()
            ov = bool(d.out_valid.value)
            ir = bool(d.in_ready.value)
            assert ir == (rdy or not ov), f"in_ready must be out_ready || !out_valid ({what})"
            if ov and rdy:
                row = unpack32(d.out_data.value.to_unsigned(), COLS)
                meta = d.out_meta.value.to_unsigned()
                assert meta == got & self.meta_mask, f"{what}: row order: got meta {meta}, expected row {got}"
                if not np.array_equal(row, exp[got]):
                    bad = int(np.nonzero(row != exp[got])[0][0])
                    raise AssertionError(
                        f"{what}: row {got} lane {bad}: rtl {row[bad]} golden {exp[got][bad]} "
                        f"(acc {acc[got][bad]}, off {off[got]}, sc {sc[got]}, cfg {cfg})")
                got += 1
            if want_in and ir:
                sent += 1
            await FallingEdge(d.clk)
            cycles += 1
        d.in_valid.value = 0
        d.out_ready.value = 0
        assert not bool(d.busy.value) and not bool(d.out_valid.value), f"{what}: pipeline not empty"
        return cycles


def rand_cfg(rng: np.random.Generator, **force) -> PpuConfig:
    flags = {k: bool(rng.integers(0, 2)) for k in ("bias_en", "row_en", "requant_en", "pwl_en", "out_int32")}
    flags.update(force)
    shift = rng.integers(0, 64, size=COLS)
    shift = np.where(rng.random(COLS) < 0.6, rng.integers(0, 40, size=COLS), shift)
    row_shift = int(rng.choice([0, 1, 8, 16, 31, 40, 62, 63, int(rng.integers(0, 64))]))
    return PpuConfig(cols=COLS, **flags, row_shift=row_shift,
                     bias=rand_i32(rng, COLS), mult=rand_i32(rng, COLS), shift=shift,
                     pwl=rand_pwl(rng, str(rng.choice(["sorted", "sorted", "unsorted", "dup", "extreme"]))))


def rand_rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return rand_i32(rng, (n, COLS)), rand_i32(rng, n), rand_i32(rng, n)


async def setup(dut) -> tuple[PpuHarness, np.random.Generator, random.Random]:
    h = PpuHarness(dut)
    await h.start()
    seed = cocotb.RANDOM_SEED
    return h, np.random.default_rng(seed), random.Random(seed)


# ---------------------------------------------------------------------------- tests
@cocotb.test()
async def test_identity_and_latency(dut):
    """All stages off: int32 passes unchanged, int8 saturates; latency and 1 row/cycle throughput."""
    h, nrng, _rng = await setup(dut)
    acc, off, sc = rand_rows(nrng, 200)
    cyc = await h.run(PpuConfig(cols=COLS, out_int32=True), acc, off, sc, what="identity int32")
    assert cyc <= 200 + LATENCY + 1, f"throughput: 200 rows took {cyc} cycles"
    await h.run(PpuConfig(cols=COLS, out_int32=False), acc, off, sc, what="identity int8")
    # latency: a single row appears exactly LATENCY cycles after it is accepted
    cyc = await h.run(PpuConfig(cols=COLS, out_int32=True), acc[:1], off[:1], sc[:1], what="latency")
    assert cyc == LATENCY + 1, f"latency {cyc - 1}, expected {LATENCY}"


@cocotb.test()
async def test_each_stage_alone(dut):
    """Bias, row, requant, PWL each alone (random parameters, both output formats)."""
    h, nrng, rng = await setup(dut)
    for stage in ("bias_en", "row_en", "requant_en", "pwl_en"):
        for out32 in (True, False):
            for _ in range(3):
                base = rand_cfg(nrng)
                flags = {k: False for k in ("bias_en", "row_en", "requant_en", "pwl_en")}
                flags[stage] = True
                cfg = PpuConfig(cols=COLS, **flags, out_int32=out32, row_shift=base.row_shift, bias=base.bias,
                                mult=base.mult, shift=base.shift, pwl=base.pwl)
                acc, off, sc = rand_rows(nrng, 150)
                await h.run(cfg, acc, off, sc, out_prob=0.8, rng=rng, what=f"{stage} alone out32={out32}")


@cocotb.test()
async def test_saturation(dut):
    """Saturation at both ends in every stage: extreme operands, large multipliers, zero shifts."""
    h, nrng, rng = await setup(dut)
    ext = np.array([I32_MIN, I32_MIN + 1, -(1 << 30), -1, 0, 1, 1 << 30, I32_MAX - 1, I32_MAX],
                   dtype=np.int64)
    for trial in range(12):
        cfg = rand_cfg(nrng, out_int32=bool(trial % 2))
        cfg.bias = nrng.choice(ext, size=COLS)
        cfg.mult = nrng.choice(ext, size=COLS)
        cfg.shift = nrng.choice(np.array([0, 0, 1, 2, 31, 62, 63]), size=COLS)
        cfg.row_shift = int(nrng.choice([0, 1, 30, 62, 63]))
        cfg.pwl[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = nrng.choice(ext, size=PWL_SEGMENTS)
        cfg.pwl[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS] = nrng.choice(ext, size=PWL_SEGMENTS)
        cfg.pwl[PWL_SHIFT_WORD] = int(nrng.choice([0, 1, 31, 62, 63]))
        n = 120
        acc = nrng.choice(ext, size=(n, COLS))
        off, sc = nrng.choice(ext, size=n), nrng.choice(ext, size=n)
        await h.run(cfg, acc, off, sc, out_prob=0.7, rng=rng, what=f"saturation {trial}")


@cocotb.test()
async def test_shift_corners(dut):
    """Shifts 0, 1, 62, 63 (63 clamps to 62) in all three shifting stages."""
    h, nrng, _rng = await setup(dut)
    for s in (0, 1, 62, 63):
        for stage in ("row_en", "requant_en", "pwl_en"):
            flags = {k: False for k in ("bias_en", "row_en", "requant_en", "pwl_en")}
            flags[stage] = True
            pwl = rand_pwl(nrng)
            pwl[PWL_SHIFT_WORD] = s
            cfg = PpuConfig(cols=COLS, **flags, out_int32=True, row_shift=s, mult=rand_i32(nrng, COLS),
                            shift=np.full(COLS, s), pwl=pwl)
            acc, off, sc = rand_rows(nrng, 100)
            await h.run(cfg, acc, off, sc, what=f"shift {s} in {stage}")


@cocotb.test()
async def test_rounding_ties(dut):
    """Exact ties (x = (2k+1) * 2^(s-1)) round away from zero, positive and negative."""
    h, nrng, _rng = await setup(dut)
    n = 200
    # requant: mult = 1, per-column shift s_c, acc = +-(2k+1) << (s_c-1)
    s = nrng.integers(1, 31, size=COLS)
    k = nrng.integers(0, 1 << 10, size=(n, COLS))
    sign = nrng.choice([-1, 1], size=(n, COLS))
    acc = np.clip(sign * ((2 * k + 1) << (s - 1)), I32_MIN, I32_MAX)
    cfg = PpuConfig(cols=COLS, requant_en=True, out_int32=True, mult=np.ones(COLS, dtype=np.int64), shift=s)
    await h.run(cfg, acc, np.zeros(n, np.int64), np.ones(n, np.int64), what="requant ties")
    # also ties of a negative multiplier: (-acc) * (-1)
    cfg = PpuConfig(cols=COLS, requant_en=True, out_int32=True, mult=-np.ones(COLS, dtype=np.int64), shift=s)
    await h.run(cfg, acc, np.zeros(n, np.int64), np.ones(n, np.int64), what="requant ties mult -1")
    # row stage: sc = +-1, off = 0, row_shift rs
    for rs in (1, 2, 5, 17):
        odd = 2 * nrng.integers(0, 1 << 8, size=(n, COLS)) + 1
        acc = np.clip(nrng.choice([-1, 1], size=(n, COLS)) * (odd << (rs - 1)), I32_MIN, I32_MAX)
        cfg = PpuConfig(cols=COLS, row_en=True, out_int32=True, row_shift=rs)
        await h.run(cfg, acc, np.zeros(n, np.int64), nrng.choice([-1, 1], size=n), what=f"row ties rs={rs}")
    # PWL: slope 1, one segment, pwl_shift 3, intercept 0 and 5
    pwl = np.zeros(PWL_WORDS, dtype=np.int64)
    pwl[:PWL_BREAKPOINTS] = I32_MAX
    pwl[PWL_SHIFT_WORD] = 3
    pwl[PWL_SLOPE_WORD] = 1
    pwl[PWL_ICPT_WORD] = 5
    acc = nrng.choice([-1, 1], size=(n, COLS)) * ((2 * nrng.integers(0, 1000, size=(n, COLS)) + 1) << 2)
    cfg = PpuConfig(cols=COLS, pwl_en=True, out_int32=True, pwl=pwl)
    await h.run(cfg, acc, np.zeros(n, np.int64), np.ones(n, np.int64), what="pwl ties")


@cocotb.test()
async def test_pwl_segments(dut):
    """Every PWL segment is hit (values at, just below and just above each breakpoint);
    unsorted and duplicate breakpoints; ReLU."""
    h, nrng, rng = await setup(dut)
    for kind in ("sorted", "unsorted", "dup", "extreme"):
        for _ in range(3):
            pwl = rand_pwl(nrng, kind)
            pwl[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = nrng.integers(-1000, 1000, size=PWL_SEGMENTS)
            pwl[PWL_SHIFT_WORD] = int(nrng.integers(0, 8))
            bp = pwl[:PWL_BREAKPOINTS]
            probes = np.concatenate([bp - 1, bp, bp + 1, [I32_MIN, I32_MAX, 0]])
            probes = np.clip(probes, I32_MIN, I32_MAX)
            flat = nrng.choice(probes, size=160 * COLS)
            flat[:len(probes)] = probes
            vals = flat.reshape(160, COLS)
            cfg = PpuConfig(cols=COLS, pwl_en=True, out_int32=True, pwl=pwl)
            if kind == "sorted":  # every segment really is reached
                seg = (vals[..., None] >= bp).sum(-1)
                assert len(np.unique(seg)) == PWL_SEGMENTS, "probe set misses a segment"
            await h.run(cfg, vals, np.zeros(len(vals), np.int64), np.ones(len(vals), np.int64),
                        out_prob=0.9, rng=rng, what=f"pwl {kind}")
    # ReLU with k = 4 (docs/isa.md)
    pwl = np.zeros(PWL_WORDS, dtype=np.int64)
    pwl[PWL_SHIFT_WORD] = 4
    pwl[PWL_SLOPE_WORD + 1:PWL_SLOPE_WORD + PWL_SEGMENTS] = 1 << 4
    acc = rand_i32(nrng, (100, COLS))
    cfg = PpuConfig(cols=COLS, pwl_en=True, out_int32=True, pwl=pwl)
    await h.run(cfg, acc, np.zeros(100, np.int64), np.ones(100, np.int64), what="relu")
    exp = ppu(acc, cfg)
    assert np.array_equal(exp, np.maximum(acc, 0)), "golden ReLU sanity"


@cocotb.test()
async def test_random(dut):
    """Random configurations, all stages random on/off, random valid gaps and back-pressure."""
    h, nrng, rng = await setup(dut)
    total = 0
    for trial in range(40):
        cfg = rand_cfg(nrng)
        n = int(nrng.integers(1, 150))
        acc, off, sc = rand_rows(nrng, n)
        in_p, out_p = rng.choice([1.0, 1.0, 0.7, 0.3]), rng.choice([1.0, 1.0, 0.8, 0.3])
        await h.run(cfg, acc, off, sc, in_prob=in_p, out_prob=out_p, rng=rng, what=f"random {trial}")
        total += n
    dut._log.info("random: %d rows checked", total)


@cocotb.test()
async def test_all_stages_bulk(dut):
    """Thousands of rows with every stage enabled, full throughput."""
    h, nrng, _rng = await setup(dut)
    for out32 in (True, False):
        cfg = rand_cfg(nrng, bias_en=True, row_en=True, requant_en=True, pwl_en=True, out_int32=out32)
        # moderate parameters so values stay in the interesting (non-saturated) range
        cfg.mult = nrng.integers(1, 1 << 16, size=COLS) * nrng.choice([-1, 1], size=COLS)
        cfg.shift = nrng.integers(8, 24, size=COLS)
        cfg.row_shift = 12
        acc = nrng.integers(-(1 << 20), 1 << 20, size=(1500, COLS))
        off = nrng.integers(-1000, 1000, size=1500)
        sc = nrng.integers(1, 1 << 13, size=1500)
        cyc = await h.run(cfg, acc, off, sc, what=f"bulk out32={out32}")
        assert cyc <= 1500 + LATENCY + 1


@cocotb.test()
async def test_flush(dut):
    """flush empties the pipeline; the next batch is unaffected."""
    h, nrng, _rng = await setup(dut)
    d = dut
    cfg = rand_cfg(nrng)
    acc, off, sc = rand_rows(nrng, 5)
    d.in_valid.value = 1
    d.in_acc.value = pack32(acc[0])
    d.out_ready.value = 0
    for _ in range(LATENCY + 3):
        await FallingEdge(d.clk)
    d.in_valid.value = 0
    d.flush.value = 1
    await FallingEdge(d.clk)
    d.flush.value = 0
    await ReadOnly()
    assert not bool(d.busy.value) and not bool(d.out_valid.value), "flush did not empty the pipeline"
    await FallingEdge(d.clk)
    await h.run(cfg, acc, off, sc, what="after flush")
