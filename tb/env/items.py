"""Transaction objects that flow between the env's components (sequence items and analysis items)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyuvm import uvm_sequence_item

from golden.isa import Counter, ErrorCode, disassemble
from tb.bfm.translog import Transfer


class InsnItem(uvm_sequence_item):
    """A block of consecutive instructions for the driver: words, index of the first, and the idle
    cycles before each (one item per block keeps the sequencer cost per instruction small)."""

    def __init__(
        self,
        name: str = "insns",
        words: list[int] | None = None,
        index: int = 0,
        gaps: list[int] | None = None,
        last: bool = False,
    ) -> None:
        super().__init__(name)
        self.words = list(words or [])
        self.index = index
        self.gaps = list(gaps) if gaps is not None else [0] * len(self.words)
        self.last = last
        """The block ends the stream: the driver drops insn_valid after it."""
        self.accepted = 0

    def __str__(self) -> str:
        first = self.words[0] if self.words else 0
        try:
            text = disassemble(first)
        except ValueError:
            text = f"<undecodable {first:#034x}>"
        return f"#{self.index}..{self.index + len(self.words) - 1} (first: {text})"


@dataclass(frozen=True)
class AcceptedInsn:
    """Published by the instruction monitor: the dispatcher took instruction ``index`` at ``cycle``."""

    index: int
    word: int
    cycle: int


@dataclass
class RunStatus:
    """Published by the status monitor when a run ends (done, or the watchdog fired)."""

    done: bool
    timed_out: bool
    error: ErrorCode
    error_index: int
    counters: dict[Counter, int]
    cycles: int
    wall_time: float
    busy: bool = False
    diagnosis: str = ""


@dataclass
class BusActivity:
    """Published by the memory monitor at the end of a run: the parsed transfer log."""

    transfers: list[Transfer]
    violations: list[str]
    proto_errors: int
    knobs: dict[str, Any] = field(default_factory=dict)
