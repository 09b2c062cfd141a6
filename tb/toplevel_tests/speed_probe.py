"""cocotb test module: bare simulation speed of nmx_tb_top - clock running, reset released, Python idle.

Writes ``{"cycles": n, "seconds": s}`` to ``$NMX_SPEED_OUT`` (used by regressions/bench_rtl.py).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import cocotb
from cocotb.triggers import Timer

from golden.isa import HwConfig
from tb.bfm.tb_top import NmxTb


@cocotb.test()
async def idle_speed(dut) -> None:
    out = pathlib.Path(os.environ.get("NMX_SPEED_OUT", "speed.json"))
    tb = NmxTb(dut, HwConfig(), out.parent / "tmp")
    await tb.start()
    await tb.reset()
    n = int(os.environ.get("NMX_SPEED_CYCLES", "200000"))
    t0 = time.perf_counter()
    await Timer(n * tb.period_ns, unit="ns")
    dt = time.perf_counter() - t0
    out.write_text(json.dumps({"cycles": n, "seconds": dt}))
    dut._log.info("SPEED %d cycles in %.3f s: %.0f cycles/s", n, dt, n / dt)
