"""Two tiny cocotb tests of nmx_fifo for tests/test_code_coverage.py (code-coverage builds).

``fill_only`` pushes until the FIFO is full and never pops; ``fill_and_drain`` also pops it empty and
pushes and pops in the same cycle.  Their coverage differs (the pop-side branches), so merging the
two runs' coverage.dat files must cover more than either run alone.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


async def _reset(dut) -> None:  # type: ignore[no-untyped-def]
    Clock(dut.clk, 10, unit="ns").start()
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    dut.in_data.value = 0
    dut.rst_n.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst_n.value = 1


async def _push(dut, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        dut.in_valid.value = 1
        dut.in_data.value = (0x5A + 37 * i) & 0xFF
        await RisingEdge(dut.clk)
    dut.in_valid.value = 0


@cocotb.test()
async def fill_only(dut) -> None:  # type: ignore[no-untyped-def]
    await _reset(dut)
    await _push(dut, 6)  # DEPTH 4: the last two are refused (full)
    await ReadOnly()
    assert not int(dut.in_ready.value), "FIFO not full after 6 pushes"


@cocotb.test()
async def fill_and_drain(dut) -> None:  # type: ignore[no-untyped-def]
    await _reset(dut)
    await _push(dut, 2)
    dut.in_valid.value = 1
    dut.out_ready.value = 1  # push and pop in the same cycle
    await RisingEdge(dut.clk)
    dut.in_valid.value = 0
    for _ in range(4):  # drain past empty
        await RisingEdge(dut.clk)
    dut.out_ready.value = 0
    await ReadOnly()
    assert not int(dut.out_valid.value), "FIFO not empty after draining"
