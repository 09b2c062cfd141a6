"""Instruction agent: sequencer + driver (active) and the accepted-instruction monitor (always).

In ``feed="stream"`` runs the sequencer/driver stay idle and the testbench top's built-in streamer
feeds the port; the monitor observes the port either way, so coverage and the INSNS cross-check
do not depend on how instructions were fed.
"""

from __future__ import annotations

from pyuvm import uvm_agent, uvm_sequencer

from tb.env.insn_driver import InsnDriver
from tb.env.insn_monitor import InsnMonitor


class InsnAgent(uvm_agent):
    def build_phase(self) -> None:
        super().build_phase()
        self.monitor = InsnMonitor("monitor", self)
        if self.active():
            self.seqr = uvm_sequencer("seqr", self)
            self.driver = InsnDriver("driver", self)

    def connect_phase(self) -> None:
        if self.active():
            self.driver.seq_item_port.connect(self.seqr.seq_item_export)

    def start_run(self, words: list[int]) -> None:
        self.monitor.start_run(words)
        if self.active():
            self.driver.start_run()
