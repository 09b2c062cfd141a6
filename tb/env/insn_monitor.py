"""Instruction monitor: publishes the instructions the dispatcher accepted, burst by burst.

Passive and cheap: it wakes only when ``insn_fire`` (valid && ready) rises, never per cycle or per
instruction.  While ``insn_fire`` stays high one instruction is accepted per clock edge; the
testbench top counts the accepts since reset (``insn_count``), so at each rise the monitor knows
how many instructions were accepted before it, which closes the previous high interval: that
interval is published as one :class:`~tb.env.items.AcceptedBurst` (first index, count, first
cycle) - a 1M-instruction Program must not cost one Python object, or one analysis-port call, per
instruction.  :meth:`flush` closes the last interval when the run ends.  The dispatcher accepts in
program order, so the k-th accepted instruction is ``program.insns[k]``; the word on the port is
checked against it at each rise (a cheap self-check that the feed offers what the sequence
intended).  The total is cross-checked against the DUT's INSNS counter by the scoreboard.

A stream that rarely keeps ``insn_fire`` high (a GNN's gathers: 1.6M intervals in 850k instructions)
would still cost one Python wake per interval, most of the simulation's time.  So once
:data:`EXACT_INTERVALS` intervals have been published and both feed bins are decided (a back-to-back
accept and a gap seen: all :class:`~tb.cov.run_bins.FeedTally` can learn), the monitor *samples*: it
wakes every :data:`SAMPLE_CYCLES` cycles and checks the word on the port whenever ``insn_fire`` is high
then, and :meth:`flush` publishes everything accepted since as one interval (the count stays exact: it
is the testbench top's ``insn_count``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cocotb.triggers import Event, First, ReadOnly, RisingEdge, Timer
from pyuvm import ConfigDB, uvm_analysis_port, uvm_monitor

from tb.cov.run_bins import FeedTally
from tb.env.items import AcceptedBurst

MAX_PORT_ERRORS = 20
"""Port mismatches kept per run (the scoreboard reports the first three)."""
EXACT_INTERVALS = int(os.environ.get("NMX_INSN_MONITOR_EXACT", "4096"))
"""Accept intervals published one by one before the monitor may switch to sampling
($NMX_INSN_MONITOR_EXACT: tests set it small to reach the sampling mode with a short Program)."""
SAMPLE_CYCLES = 256
"""Cycles between two looks at the port once sampling (module docstring)."""


class InsnMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.bfm = ConfigDB().get(self, "", "BFM")
        self._restart = Event()
        self.start_run(())

    def start_run(self, words: Sequence[int]) -> None:
        """Arm for a run that starts from reset (``insn_count`` counts from 0 again)."""
        self.words = words  # the Program's own list, never copied (it is not modified)
        self.count = 0
        """Instructions accepted in the closed intervals (all of them after :meth:`flush`)."""
        self.port_errors: list[str] = []
        self.last_cycle = -1
        self._open: tuple[int, int] | None = None
        """(accepted before it, first cycle) of the interval in progress."""
        self.intervals = 0
        self._feed = FeedTally()
        """The feed bins of what was published (the coverage collector folds the same bursts)."""
        self.sampling = False
        """Past :data:`EXACT_INTERVALS` with both feed bins decided: one look every SAMPLE_CYCLES."""
        self._restart.set()  # a sampling loop goes back to watching every edge

    def _close(self, accepted: int) -> None:
        if self._open is None:
            return
        before, cycle = self._open
        n = accepted - before
        self._open = None
        if n > 0:
            self._feed.add_burst(cycle, n)
            self.intervals += 1
            self.count = accepted
            self.last_cycle = cycle + n - 1
            self.ap.write(AcceptedBurst(before, n, cycle))

    def flush(self) -> int:
        """Close the interval in progress (the run ended); returns the number accepted."""
        self._close(int(self.bfm.dut.insn_count.value))
        return self.count

    def _check_port(self, k: int, word: int) -> None:
        if k < len(self.words) and word != self.words[k] and len(self.port_errors) < MAX_PORT_ERRORS:
            self.port_errors.append(
                f"instruction {k}: port carries {word:#034x}, program has {self.words[k]:#034x}"
            )

    async def run_phase(self) -> None:
        d = self.bfm.dut
        while True:
            if self.sampling:
                self._restart.clear()
                # a Timer, not ClockCycles: that one counts the edges in Python, one wake per cycle
                await First(Timer(SAMPLE_CYCLES * self.bfm.period_ns, unit="ns"), self._restart.wait())
                if not self.sampling:
                    continue
                await ReadOnly()
                if int(d.insn_fire.value):
                    self._check_port(int(d.insn_count.value), int(d.insn_data.value))
                await RisingEdge(d.clk)  # leave the read-only phase before the next wait
                continue
            await RisingEdge(d.insn_fire)
            await ReadOnly()
            if not int(d.insn_fire.value):
                continue
            k = int(d.insn_count.value)  # accepted before this cycle's edge
            self._close(k)
            self._check_port(k, int(d.insn_data.value))
            self._open = (k, int(d.cycle.value))
            if self.intervals >= EXACT_INTERVALS and self._feed.back_to_back and self._feed.gaps:
                self.sampling = True  # this interval stays open: flush() closes it with the exact count
