"""Instruction driver: pulls InsnItems (blocks of instructions) and hands each to the block feed.

An item carries a block of consecutive instructions with the idle gap before each.  The driver
writes the whole block into the testbench top's block feed (``pb_*`` ports of
``tb/hdl/nmx_tb_top.sv``, through :class:`tb.bfm.tb_top.NmxTb`) and sleeps until the block was
taken - one wakeup per block instead of several per instruction (a compiled model has a million
instructions).  The feed has the timing of a driver that wiggles the pins word by word: each word
is offered after its gap (random gaps exercise the dispatcher with and without back-to-back
instructions), held until ``insn_ready``, and the next block follows the last accept of the
previous one without a bubble.  Once ``done`` rises (an error halted the machine) nothing more is
offered and the remaining items complete at once.  :meth:`abort` cancels a block in flight when the
watchdog fires, so the next run can never be offered a stale instruction after its reset.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import Event, First
from pyuvm import ConfigDB, uvm_driver

from golden.isa import disassemble
from tb.bfm.tb_top import BLOCK_WORDS
from tb.env.items import InsnItem


class InsnDriver(uvm_driver):
    def build_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.start_run()

    def start_run(self) -> None:
        self.halted = False
        self.sent = 0
        self._item: InsnItem | None = None
        """The item in the feed right now (None between items)."""
        self._base = 0
        """Program index of the first word of the block in the feed."""
        self._abort = Event()

    @property
    def offering(self) -> int | None:
        """Index of the instruction on the port right now (None between blocks)."""
        item = self._item
        if item is None:
            return None
        i = self._base + self.bfm.block_taken()
        return i if i < item.index + len(item.words) else None

    @property
    def pending(self) -> str | None:
        """The instruction being offered (for hang diagnosis)."""
        i = self.offering
        if i is None or self._item is None:
            return None
        w = self._item.words[i - self._item.index]
        try:
            return f"#{i} {disassemble(w)}"
        except ValueError:
            return f"#{i} {w:#034x}"

    def abort(self) -> None:
        """Stop driving (watchdog or end of run): a blocked block is cancelled, later items dropped."""
        self.halted = True
        self._abort.set()
        self.bfm.block_idle()

    async def _drive_block(self, item: InsnItem) -> None:
        self._item = item
        for lo in range(0, len(item.words), BLOCK_WORDS):  # items longer than the feed's block
            words = item.words[lo : lo + BLOCK_WORDS]
            self._base = item.index + lo
            taken, done = await self.bfm.send_block(words, item.gaps[lo : lo + BLOCK_WORDS])
            item.accepted += taken
            self.sent += taken
            if done or taken < len(words):
                self.halted = True
                break
        self._item = None

    async def run_phase(self) -> None:
        while True:
            item: InsnItem = await self.seq_item_port.get_next_item()
            if not self.halted:
                task = cocotb.start_soon(self._drive_block(item))
                await First(task.complete, self._abort.wait())
                if not task.done():
                    task.cancel()
            self.seq_item_port.item_done()
