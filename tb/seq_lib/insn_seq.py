"""InsnStreamSeq: sends a Program's instruction words, in order, as blocks with random gaps.

The gaps come from a ``random.Random`` seeded by the run's seed, so the exact instruction timing
of a failing run is reproduced by its seed.  Instructions travel in blocks of ``block`` words per
sequence item (the driver offers them one by one), which keeps the sequencer overhead per
instruction small.  The sequence stops early when asked (the machine halted on an error, or the
watchdog fired): later items could never be accepted anyway.
"""

from __future__ import annotations

import random

from pyuvm import uvm_sequence

from tb.env.items import InsnItem


class InsnStreamSeq(uvm_sequence):
    def __init__(
        self,
        name: str,
        words: list[int],
        *,
        seed: int = 0,
        gap_prob: float = 0.0,
        gap_max: int = 0,
        block: int = 32,
    ) -> None:
        super().__init__(name)
        self.words = words
        self.seed = seed
        self.gap_prob = gap_prob
        self.gap_max = gap_max
        self.block = max(1, block)
        self.stop = False

    async def body(self) -> None:
        rng = random.Random(f"gaps-{self.seed}")
        n = len(self.words)
        for i in range(0, n, self.block):
            if self.stop:
                break
            words = self.words[i : i + self.block]
            gaps = [
                rng.randint(1, self.gap_max) if self.gap_max and rng.random() < self.gap_prob else 0
                for _ in words
            ]
            item = InsnItem(f"insn{i}", words, i, gaps, last=(i + len(words) >= n))
            await self.start_item(item)
            await self.finish_item(item)
            if item.accepted < len(words):
                break
