"""Instruction driver: pulls InsnItems (blocks of instructions) and offers them on the port.

Pin access goes through :class:`tb.bfm.tb_top.NmxTb` (``send`` wakes Python only on handshakes, not
per stalled cycle).  An item carries a block of consecutive instructions with the idle gap before
each, so the pyuvm sequencer handshake is paid once per block, not once per instruction (the
per-item cost dominated large Programs).  Random gaps exercise the dispatcher with and without
back-to-back instructions.  Once ``done`` rises (an error halted the machine) nothing more is
driven and the remaining items complete at once.  :meth:`abort` cancels a blocked block when the
watchdog fires, so the next run can never be offered a stale instruction after its reset.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First
from pyuvm import ConfigDB, uvm_driver

from golden.isa import disassemble
from tb.env.items import InsnItem


class InsnDriver(uvm_driver):
    def build_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.start_run()

    def start_run(self) -> None:
        self.halted = False
        self.sent = 0
        self.offering: int | None = None
        """Index of the instruction on the port right now (None between blocks)."""
        self._abort = Event()

    @property
    def pending(self) -> str | None:
        """The instruction being offered (for hang diagnosis)."""
        if self.offering is None or self._words is None:
            return None
        w = self._words.get(self.offering)
        try:
            return f"#{self.offering} {disassemble(w)}" if w is not None else f"#{self.offering}"
        except ValueError:
            return f"#{self.offering} {w:#034x}"

    _words: dict[int, int] | None = None

    def abort(self) -> None:
        """Stop driving (watchdog or end of run): a blocked block is cancelled, later items dropped."""
        self.halted = True
        self._abort.set()
        self.bfm.idle()

    async def _drive_block(self, item: InsnItem) -> None:
        clk = self.bfm.dut.clk
        self._words = dict(zip(range(item.index, item.index + len(item.words)), item.words, strict=True))
        for k, (word, gap) in enumerate(zip(item.words, item.gaps, strict=True)):
            self.offering = item.index + k
            if gap:
                self.bfm.idle()
                await ClockCycles(clk, gap)
            if not await self.bfm.send(word):
                self.halted = True
                await FallingEdge(clk)  # send returns from the ReadOnly phase when done rose
                self.bfm.idle()
                return
            item.accepted += 1
            self.sent += 1
        if item.last:
            self.bfm.idle()
        self.offering = None

    async def run_phase(self) -> None:
        while True:
            item: InsnItem = await self.seq_item_port.get_next_item()
            if not self.halted:
                task = cocotb.start_soon(self._drive_block(item))
                await First(task.complete, self._abort.wait())
                if not task.done():
                    task.cancel()
            self.seq_item_port.item_done()
