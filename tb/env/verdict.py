"""RunVerdict: the judgement of one run, as written to ``result.json`` and returned by tb.run."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tb.env.compare import Mismatch

_VOLATILE = re.compile(r"(/[\w.\-/]+)|(0x[0-9a-fA-F]+)|(\d+(\.\d+)?)")


def normalise(message: str, words: int = 12) -> str:
    """A message with its paths, addresses and numbers replaced by ``#``: failures that differ only
    in where and how much group together (the dashboard's failure signatures)."""
    text = _VOLATILE.sub("#", message)
    return " ".join(text.split()[:words])


def exception_signature(exc_type: str, message: str) -> str:
    """Signature of a job that raised (docs/regressions.md, "Job record")."""
    return f"exception:{exc_type}:{normalise(message)}"


@dataclass
class RunVerdict:
    name: str
    seed: int
    passed: bool
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str = "NONE"
    error_index: int = -1
    golden_error: str = "NONE"
    golden_error_index: int = -1
    counters: dict[str, int] = field(default_factory=dict)
    golden_counters: dict[str, int] = field(default_factory=dict)
    cycle_ratio: float | None = None
    cycles: int = 0
    """The DUT's CYCLES counter (first accepted instruction to done)."""
    sim_cycles: int = 0
    """Clock cycles simulated for the run (from the first instruction offered, incl. the post-reset
    buffer sweep) - with ``wall_time`` this gives the simulation speed."""
    wall_time: float = 0.0
    accepted: int = 0
    rerun: str = ""
    coverage_file: str = ""
    memory_file: str = ""
    diagnosis: str = ""
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    @property
    def ending(self) -> str:
        """How the RTL run ended, for verdict lines: ``NONE``, or the error code with the index of the
        instruction it names (``BUF_RANGE at instruction 3``) - an expected error is only checked
        when its index is in sight too."""
        return self.error if self.error == "NONE" else f"{self.error} at instruction {self.error_index}"

    @property
    def signature(self) -> str:
        """What went wrong first, without the run-specific numbers: the grouping key of failures
        across seeds and jobs (docs/regressions.md, "Job record")."""
        if self.passed:
            return ""
        if self.mismatches:
            m = self.mismatches[0]
            return f"tensor:{m.tensor}@{m.layer or '-'}"
        if any(f.startswith("watchdog") for f in self.failures):
            return "watchdog"
        if self.error != self.golden_error:
            return f"error:{self.error} vs {self.golden_error}"
        first = self.failures[0] if self.failures else "no failure message"
        if first.startswith("testbench exception:"):
            kind, _, msg = first.removeprefix("testbench exception: ").partition(": ")
            return exception_signature(kind, msg)
        return "check:" + normalise(first, words=4)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict
        d["mismatches"] = [dict(asdict(m), describe=m.describe()) for m in self.mismatches]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunVerdict:
        d = dict(d)
        d.pop("verdict", None)
        mm = []
        for m in d.get("mismatches", []):
            m = dict(m)
            m.pop("describe", None)
            m["index"] = tuple(m["index"])
            m["insn_range"] = tuple(m["insn_range"]) if m.get("insn_range") else None
            mm.append(Mismatch(**m))
        d["mismatches"] = mm
        return cls(**d)

    def report(self) -> str:
        """Multi-line failure report: what diverged first, and how to rerun it with waves."""
        lines = [f"[{self.verdict}] {self.name} (seed {self.seed})"]
        lines += [f"  - {f}" for f in self.failures]
        if self.mismatches:
            lines.append(f"  first diverging tensor: {self.mismatches[0].describe()}")
            if len(self.mismatches) > 1:
                lines.append(
                    f"  ({len(self.mismatches) - 1} later tensors differ too: "
                    + ", ".join(m.tensor for m in self.mismatches[1:6])
                    + ")"
                )
        if self.diagnosis:
            lines += ["  diagnosis:"] + [f"    {ln}" for ln in self.diagnosis.splitlines()]
        lines += [f"  warning: {w}" for w in self.warnings]
        if not self.passed and self.rerun:
            lines.append(f"  rerun with waves: {self.rerun}")
        return "\n".join(lines)
