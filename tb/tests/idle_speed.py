"""cocotb test module: bare simulation speed of nmx_tb_top - clock running, reset released, Python idle.

The ceiling any testbench on this build can reach; :func:`tb.run.measure_idle_speed` runs it and
regressions/bench/rtl.py reports it beside the full env's speed.  Writes ``{"cycles": n,
"seconds": s}`` to ``$NMX_SPEED_OUT``.
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
    spec = os.environ.get("NMX_SPEED_HW")
    hw = HwConfig.from_dict(json.loads(spec)) if spec else HwConfig()
    tb = NmxTb(dut, hw, out.parent / "tmp")
    await tb.start()
    await tb.reset()
    n = int(os.environ.get("NMX_SPEED_CYCLES", "200000"))
    t0 = time.perf_counter()
    await Timer(n * tb.period_ns, unit="ns")
    dt = time.perf_counter() - t0
    out.write_text(json.dumps({"cycles": n, "seconds": dt}))
    dut._log.info("SPEED %d cycles in %.3f s: %.0f cycles/s", n, dt, n / dt)
