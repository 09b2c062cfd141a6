"""InsnStreamSeq: sends a Program's instruction words, in order, as InsnItems with random gaps.

The gaps come from a ``random.Random`` seeded by the run's seed, so the exact instruction timing
of a failing run is reproduced by its seed.  The sequence stops early when asked (the machine
halted on an error, or the watchdog fired): later items could never be accepted anyway.
"""

from __future__ import annotations

import random

from pyuvm import uvm_sequence

from tb.env.items import InsnItem


class InsnStreamSeq(uvm_sequence):
    def __init__(
        self, name: str, words: list[int], *, seed: int = 0, gap_prob: float = 0.0, gap_max: int = 0
    ) -> None:
        super().__init__(name)
        self.words = words
        self.seed = seed
        self.gap_prob = gap_prob
        self.gap_max = gap_max
        self.stop = False

    async def body(self) -> None:
        rng = random.Random(f"gaps-{self.seed}")
        n = len(self.words)
        for i, w in enumerate(self.words):
            if self.stop:
                break
            gap = rng.randint(1, self.gap_max) if self.gap_max and rng.random() < self.gap_prob else 0
            item = InsnItem(f"insn{i}", w, i, gap, last=(i == n - 1))
            await self.start_item(item)
            await self.finish_item(item)
            if not item.accepted:
                break
