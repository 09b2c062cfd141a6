"""Block test of nmx_systolic_array alone: weight shift-in into both banks, skewed activations,
bank swap between two tiles in the running wavefront, tight reload of a drained bank.

The test builds a per-cycle schedule of the array's inputs in Python, plays it (one await per
cycle: the array has no handshake) and checks psum_out[c] in cycle t + ROWS + c against
golden.arith.gemm_tile for every row whose element 0 entered in cycle t.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden.arith import gemm_tile
from tb.blocks import block_hw
from tb.blocks.gemm_model import pack_row, unpack_row


class ArraySchedule:
    """Per-cycle inputs of the array and the expected outputs."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.act: dict[int, dict[int, tuple[int, int]]] = {}   # cycle -> row r -> (value, bank)
        self.wl: dict[int, tuple[int, np.ndarray]] = {}        # cycle -> (bank, WGT row)
        self.expect: dict[int, dict[int, int]] = {}            # cycle -> column -> value
        self.end = 0

    def load(self, t: int, bank: int, w: np.ndarray) -> int:
        """Shift tile w (ROWS x COLS) into ``bank`` starting in cycle t; return the first free cycle."""
        for j, k in enumerate(range(self.rows - 1, -1, -1)):
            assert t + j not in self.wl, f"weight load collision in cycle {t + j}"
            self.wl[t + j] = (bank, w[k])
        self.end = max(self.end, t + self.rows)
        return t + self.rows

    def stream(self, t: int, bank: int, x: np.ndarray, w: np.ndarray, gaps: list[int] | None = None) -> int:
        """Rows of x enter (element 0) in cycles t, t+1+gap, ...; return the cycle after the last row."""
        p = gemm_tile(x, w, None)
        for i, row in enumerate(x):
            for k in range(self.rows):
                self.act.setdefault(t + k, {})[k] = (int(row[k]), bank)
            for c in range(self.cols):
                self.expect.setdefault(t + self.rows + c, {})[c] = int(p[i, c])
            self.end = max(self.end, t + self.rows + self.cols + 1)
            t += 1 + (gaps[i] if gaps else 0)
        return t


async def play(dut, sch: ArraySchedule) -> int:
    rows, cols = sch.rows, sch.cols
    checked = 0
    for t in range(sch.end):
        acts = sch.act.get(t, {})
        dut.act_in.value = pack_row([acts.get(r, (0, 0))[0] for r in range(rows)], 8)
        dut.bank_in.value = sum(acts.get(r, (0, 0))[1] << r for r in range(rows))
        if t in sch.wl:
            bank, wrow = sch.wl[t]
            dut.wl_en.value, dut.wl_bank.value, dut.wl_data.value = 1, bank, pack_row(wrow, 8)
        else:
            dut.wl_en.value = 0
        await ReadOnly()
        if t in sch.expect:
            got = unpack_row(dut.psum_out.value.to_unsigned(), cols, 32)
            for c, v in sch.expect[t].items():
                assert got[c] == v, f"cycle {t}: psum_out[{c}] = {got[c]}, expected {v}"
                checked += 1
        await RisingEdge(dut.clk)
    return checked


@cocotb.test()
async def test_array_bank_swap(dut):
    cfg = block_hw()
    R, C = cfg.rows, cfg.cols
    nrng = np.random.default_rng(11)
    Clock(dut.clk, 10, unit="ns").start()
    dut.wl_en.value = 0
    dut.act_in.value = 0
    dut.bank_in.value = 0
    await RisingEdge(dut.clk)

    w = [nrng.integers(-128, 128, size=(R, C)) for _ in range(4)]
    w[3][:] = -128  # extreme products
    x = [nrng.integers(-128, 128, size=(n, R)) for n in (R + C + 2, 5, 3, 7)]
    x[3][:] = -128
    sch = ArraySchedule(R, C)
    t = sch.load(0, 0, w[0])
    sch.load(t, 1, w[1])                               # bank 1 loads while bank 0 streams
    t1 = sch.stream(t, 0, x[0], w[0])                  # tile 0, bank 0
    t2 = sch.stream(t1, 1, x[1], w[1])                 # tile 1, bank 1, no bubble after tile 0
    # reload bank 0 as early as allowed: first shift in the cycle the last tile-0 row uses
    # PE(ROWS-1, COLS-1) (the PE reads the old weight in that cycle)
    last0 = t1 - 1
    t3 = sch.load(last0 + R + C - 2, 0, w[2])
    t4 = sch.stream(max(t2, t3), 0, x[2], w[2], gaps=[2, 0, 1])
    t5 = sch.load(max(t2 - 1 + R + C - 2, t4), 1, w[3])
    sch.stream(t5, 1, x[3], w[3])
    checked = await play(dut, sch)
    assert checked == C * sum(len(v) for v in x), f"checked {checked} outputs"
