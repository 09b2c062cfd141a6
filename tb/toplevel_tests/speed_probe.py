"""cocotb module: bare simulation speed of nmx_tb_top (clock running, Python idle)."""
import os
import time

import cocotb
from cocotb.triggers import Timer

from golden.isa import HwConfig
from tb.bfm.tb_top import NmxTb


@cocotb.test()
async def idle_speed(dut) -> None:
    tb = NmxTb(dut, HwConfig(), "/tmp/nmx_speed")
    await tb.start()
    await tb.reset()
    n = int(os.environ.get("NMX_SPEED_CYCLES", "200000"))
    t0 = time.perf_counter()
    await Timer(n * tb.period_ns, unit="ns")
    dt = time.perf_counter() - t0
    dut._log.info("SPEED %d cycles in %.3f s: %.0f cycles/s", n, dt, n / dt)
