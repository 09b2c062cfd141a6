"""Transaction objects that flow between the env's components (sequence items and analysis items)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyuvm import uvm_sequence_item

from golden.isa import Counter, ErrorCode, disassemble
from tb.bfm.translog import Transfer


class InsnItem(uvm_sequence_item):
    """One instruction for the driver: the word, its program index, and idle cycles before it."""

    def __init__(
        self, name: str = "insn", word: int = 0, index: int = 0, gap: int = 0, last: bool = False
    ) -> None:
        super().__init__(name)
        self.word = word
        self.index = index
        self.gap = gap
        self.last = last
        """The driver drops insn_valid after the last item (the port must not stay valid)."""
        self.accepted = False

    def __str__(self) -> str:
        try:
            text = disassemble(self.word)
        except ValueError:
            text = f"<undecodable {self.word:#034x}>"
        return f"#{self.index} {text}"


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
