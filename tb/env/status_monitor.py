"""Status monitor: waits for ``done`` under a cycle watchdog, then reads error status and counters.

One wakeup per run (``done`` rising, or the watchdog timer), plus one per counter read.  The
watchdog is counted in clock cycles from when the run is armed; a timeout is published as a
RunStatus with ``timed_out`` so the scoreboard turns it into a failure with a diagnosis instead of
the simulation hanging forever.
"""

from __future__ import annotations

import time

from cocotb.triggers import FallingEdge, ReadOnly
from pyuvm import ConfigDB, uvm_analysis_port, uvm_monitor

from golden.isa import Counter, ErrorCode
from tb.env.items import RunStatus


class StatusMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.bfm = ConfigDB().get(self, "", "BFM")

    async def wait_run(self, watchdog_cycles: int, start_cycle: int) -> RunStatus:
        """Block until done (or the watchdog); publish and return the run's status."""
        t0 = time.perf_counter()
        ok = await self.bfm.wait_done(watchdog_cycles)
        await ReadOnly()
        wall = time.perf_counter() - t0
        cycles = self.bfm.cycle - start_cycle
        await FallingEdge(self.bfm.dut.clk)
        st = self.bfm.status()
        counters = await self.bfm.read_counters()
        status = RunStatus(
            done=st.done,
            timed_out=not ok,
            error=st.error_code if st.error else ErrorCode.NONE,
            error_index=st.error_index if st.error else -1,
            counters=counters,
            cycles=cycles,
            wall_time=wall,
            busy=st.busy,
        )
        self.ap.write(status)
        return status

    async def counters_delta(self, cycles: int) -> dict[Counter, int]:
        """How much every counter grows over ``cycles`` (used to diagnose a hang)."""
        a = await self.bfm.read_counters()
        for _ in range(cycles):
            await FallingEdge(self.bfm.dut.clk)
        b = await self.bfm.read_counters()
        return {c: b[c] - a[c] for c in Counter}
