"""RunContext: everything the env's components need to know about the Program being run.

One context per run (a run = one Program with one seed and one set of knobs, started from reset).
The virtual sequence creates it and hands it to every component at the start of the run, so the
components stay free of test-specific logic.  The golden result is computed here, once, with the
same SLVERR windows and memory latencies as the memory model.
"""

from __future__ import annotations

import os
import pathlib
import shlex
from array import array
from dataclasses import dataclass, field
from typing import Any

from golden.isa import ErrorCode
from golden.program import Program
from golden.sim import SimResult, simulate
from tb.env.cfg import RunKnobs, watchdog_for
from tb.sim_env import RTL_DIR_ENV


@dataclass
class RunContext:
    name: str
    program: Program
    seed: int
    knobs: RunKnobs
    out_dir: pathlib.Path
    rerun: str = ""
    """One-line shell command that reruns exactly this run with an FST waveform."""
    expect_error: ErrorCode | None = None
    """What the sequence intends to provoke (None: whatever golden says); a mismatch between
    intention and golden is a testbench bug and fails the run too."""
    expect_index: int | None = None
    """The instruction index the intended error must be reported at (None: not pinned)."""
    alternatives: tuple[tuple[ErrorCode, int], ...] = ()
    """Other (code, index) reports allowed besides expect_error@expect_index (a Program with several
    faults, docs/isa.md section 5): golden and RTL must each report one of the allowed, not the same."""
    tags: dict[str, Any] = field(default_factory=dict)
    """Free-form labels from the sequence (e.g. the ILLEGAL_FIELD cause, for coverage)."""
    golden: SimResult | None = None

    def compute_golden(self) -> SimResult:
        """The golden run of this Program, kept for the whole run: only what the env reads.

        The scoreboard needs memory, error and counters and the coverage probe the execution order;
        the per-instruction timing lists and the copies of the checked tensors are dropped (a
        1M-instruction Program: ~100 MB), and the order is kept as a compact array.
        """
        g = simulate(self.program, bad_addresses=list(self.knobs.slverr) or None,
                     timing_params=self.knobs.timing_params())
        g.timing = None
        g.tensors = {}
        g.order = array("I", g.order)  # type: ignore[assignment]  # iterated like the list
        self.golden = g
        return g

    @property
    def watchdog_cycles(self) -> int:
        if self.knobs.watchdog_cycles:
            return self.knobs.watchdog_cycles
        assert self.golden is not None
        from golden.isa import Counter

        return watchdog_for(self.golden.counters.get(Counter.CYCLES, 0), self.knobs, self.program.hw,
                            len(self.program.insns))


def rerun_command(
    *, program_file: str | None = None, test: str | None = None, seed: int, cfg: str, extra: str = ""
) -> str:
    """The command line that reproduces a run with waves (printed on every failure).

    When ``NMX_RTL_DIR`` selects another RTL directory the command starts with that assignment:
    a failure of a modified RTL copy must rerun on the same copy, not on the repo's ``rtl/``.
    """
    rtl = os.environ.get(RTL_DIR_ENV, "")
    prefix = f"{RTL_DIR_ENV}={shlex.quote(str(pathlib.Path(rtl).resolve()))} " if rtl else ""
    parts = [".venv/bin/python", "-m", "tb.run"]
    if program_file:
        parts.append(str(program_file))
    if test:
        parts += ["--test", test]
    parts += ["--seed" if program_file else "--seeds", str(seed), "--cfg", cfg, "--waves"]
    cmd = prefix + " ".join(shlex.quote(p) for p in parts)
    return f"{cmd} {extra}".strip()
