"""Block test of nmx_fifo: random push/pop pressure against a Python deque (count, full, empty,
first-word fall-through, simultaneous push and pop, reset)."""

from __future__ import annotations

import random
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from tb.blocks import block_param


@cocotb.test()
async def test_fifo_random(dut):
    depth = block_param("DEPTH", 4)
    width = block_param("WIDTH", 16)
    rng = random.Random(5)
    Clock(dut.clk, 10, unit="ns").start()
    dut.in_valid.value = 0
    dut.out_ready.value = 0
    dut.in_data.value = 0
    dut.rst_n.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst_n.value = 1
    model: deque[int] = deque()
    pushes = 0
    for cyc in range(3000):
        phase = (cyc // 300) % 3  # fill-heavy, drain-heavy, balanced
        p_push, p_pop = [(0.8, 0.3), (0.3, 0.8), (0.6, 0.6)][phase]
        dut.in_valid.value = int(rng.random() < p_push)
        dut.in_data.value = data = rng.getrandbits(width)
        dut.out_ready.value = int(rng.random() < p_pop)
        await ReadOnly()
        assert dut.count.value.to_unsigned() == len(model), f"cycle {cyc}: count"
        assert int(dut.in_ready.value) == (len(model) < depth), f"cycle {cyc}: in_ready"
        assert int(dut.out_valid.value) == (len(model) > 0), f"cycle {cyc}: out_valid"
        if model:
            assert dut.out_data.value.to_unsigned() == model[0], f"cycle {cyc}: out_data"
        pop = int(dut.out_valid.value) and int(dut.out_ready.value)
        push = int(dut.in_valid.value) and int(dut.in_ready.value)
        if pop:
            model.popleft()
        if push:
            model.append(data)
            pushes += 1
        await RisingEdge(dut.clk)
    assert pushes > 500, f"only {pushes} pushes"
    dut.rst_n.value = 0
    await RisingEdge(dut.clk)
    dut.rst_n.value = 1
    await ReadOnly()
    assert dut.count.value.to_unsigned() == 0 and not int(dut.out_valid.value), "reset does not empty"
