"""Instruction driver: pulls InsnItems from the sequencer and offers them on the instruction port.

Pin access goes through :class:`tb.bfm.tb_top.NmxTb` (``send`` wakes Python only on handshakes, not
per stalled cycle).  Random idle cycles before an item (``item.gap``) exercise the dispatcher with
and without back-to-back instructions.  Once ``done`` rises (an error halted the machine), the
remaining items are completed without being driven: the sequence then ends normally and the
scoreboard judges the error.  :meth:`abort` unsticks a blocked ``send`` when the watchdog fires,
so the next run cannot be offered a stale instruction after its reset.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, First
from pyuvm import ConfigDB, uvm_driver

from tb.env.items import InsnItem


class InsnDriver(uvm_driver):
    def build_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.halted = False
        self.pending: InsnItem | None = None
        self.sent = 0
        self._abort = Event()

    def start_run(self) -> None:
        self.halted = False
        self.pending = None
        self.sent = 0
        self._abort = Event()

    def abort(self) -> None:
        """Stop driving (watchdog or end of run): blocked sends return, later items are dropped."""
        self.halted = True
        self._abort.set()
        self.bfm.idle()

    async def _send(self, word: int) -> bool:
        task = cocotb.start_soon(self.bfm.send(word))
        await First(task.complete, self._abort.wait())
        if not task.done():
            task.cancel()
            return False
        return bool(task.result())

    async def run_phase(self) -> None:
        clk = self.bfm.dut.clk
        while True:
            item: InsnItem = await self.seq_item_port.get_next_item()
            self.pending = item
            if not self.halted:
                if item.gap:
                    self.bfm.idle()
                    await First(ClockCycles(clk, item.gap), self._abort.wait())
                ok = not self.halted and await self._send(item.word)
                item.accepted = ok
                if ok:
                    self.sent += 1
                else:
                    self.halted = True
                if not ok:
                    await FallingEdge(clk)  # bfm.send returns from the ReadOnly phase when done rose
                if item.last or not ok:
                    self.bfm.idle()
            self.pending = None
            self.seq_item_port.item_done()
