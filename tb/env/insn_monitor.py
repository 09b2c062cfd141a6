"""Instruction monitor: publishes every instruction the dispatcher accepted, with its cycle.

Passive and cheap: it wakes only when ``insn_fire`` (valid && ready) rises or falls, never per
cycle.  While ``insn_fire`` stays high one instruction is accepted per clock edge, so the number
accepted in a high interval is the difference of the testbench's cycle counter at the fall and at
the rise.  The dispatcher accepts in program order, so the k-th accepted instruction is
``program.insns[k]``; the word on the port is checked against it at each rising edge (a cheap
self-check that the driver offers what the sequence intended).  The total is cross-checked against
the DUT's INSNS counter by the scoreboard.
"""

from __future__ import annotations

from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from pyuvm import ConfigDB, uvm_analysis_port, uvm_monitor

from tb.env.items import AcceptedInsn


class InsnMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.words: list[int] = []
        self.count = 0
        self.port_errors: list[str] = []
        self.last_cycle = -1

    def start_run(self, words: list[int]) -> None:
        self.words = list(words)
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
            if k < len(self.words) and word != self.words[k]:
                self.port_errors.append(
                    f"instruction {k}: port carries {word:#034x}, program has {self.words[k]:#034x}"
                )
            await FallingEdge(d.insn_fire)
            await ReadOnly()
            c1 = int(d.cycle.value)
            for j in range(max(0, c1 - c0)):
                idx = self.count
                self.count += 1
                self.last_cycle = c0 + j
                self.ap.write(AcceptedInsn(idx, self.words[idx] if idx < len(self.words) else -1, c0 + j))
