"""Transaction objects that flow between the env's components (sequence items and analysis items)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyuvm import uvm_sequence_item

from golden.isa import Counter, ErrorCode, disassemble
from tb.bfm.translog import Transfer
from tb.cov.run_bins import BusTally


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
class AcceptedBurst:
    """Published by the instruction monitor: the dispatcher took instructions ``index`` ..
    ``index + count - 1``, one per cycle, at cycles ``cycle`` .. ``cycle + count - 1`` (one item per
    interval of ``insn_fire`` high, not one per instruction: a 1M-instruction Program must not cost
    a Python object per instruction)."""

    index: int
    count: int
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
    """Published by the memory monitor at the end of a run: the transfer log, folded.

    The log is streamed in chunks into ``tally`` (every AXI coverage fact); only its last
    transfers (hang diagnosis) and its first protocol violations are kept as objects.
    """

    tally: BusTally
    last_transfers: list[Transfer]
    violations: list[str]
    """The first :data:`MAX_VIOLATIONS` PROTO lines of the log."""
    n_violations: int
    proto_errors: int
    knobs: dict[str, Any] = field(default_factory=dict)


MAX_VIOLATIONS = 20
