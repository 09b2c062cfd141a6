"""Instruction monitor: publishes the instructions the dispatcher accepted, burst by burst.

Passive and cheap: it wakes only when ``insn_fire`` (valid && ready) rises or falls, never per
cycle or per instruction.  While ``insn_fire`` stays high one instruction is accepted per clock
edge, so the number accepted in a high interval is the difference of the testbench's cycle counter
at the fall and at the rise; that interval is published as one
:class:`~tb.env.items.AcceptedBurst` (a 1M-instruction Program must not cost one Python object, or
one analysis-port call, per instruction).  The dispatcher accepts in program order, so the k-th
accepted instruction is ``program.insns[k]``; the word on the port is checked against it at each
rising edge (a cheap self-check that the feed offers what the sequence intended).  The total is
cross-checked against the DUT's INSNS counter by the scoreboard.
"""

from __future__ import annotations

from collections.abc import Sequence

from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from pyuvm import ConfigDB, uvm_analysis_port, uvm_monitor

from tb.env.items import AcceptedBurst

MAX_PORT_ERRORS = 20
"""Port mismatches kept per run (the scoreboard reports the first three)."""


class InsnMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.words: Sequence[int] = ()
        self.count = 0
        self.port_errors: list[str] = []
        self.last_cycle = -1

    def start_run(self, words: Sequence[int]) -> None:
        self.words = words  # the Program's own list, never copied (it is not modified)
        self.count = 0
        self.port_errors = []
        self.last_cycle = -1

    async def run_phase(self) -> None:
        d = self.bfm.dut
        while True:
            await RisingEdge(d.insn_fire)
            await ReadOnly()
            if not int(d.insn_fire.value):
                continue
            c0 = int(d.cycle.value)
            word = int(d.insn_data.value)
            k = self.count
            if k < len(self.words) and word != self.words[k] and len(self.port_errors) < MAX_PORT_ERRORS:
                self.port_errors.append(
                    f"instruction {k}: port carries {word:#034x}, program has {self.words[k]:#034x}"
                )
            await FallingEdge(d.insn_fire)
            await ReadOnly()
            n = max(0, int(d.cycle.value) - c0)
            if n:
                self.count += n
                self.last_cycle = c0 + n - 1
                self.ap.write(AcceptedBurst(k, n, c0))
