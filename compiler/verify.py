"""Schedule-independence check: execute a Program in adversarial token-respecting orders.

The golden simulator runs one legal order (lowest runnable instruction index first).  A program
whose tokens miss a hazard can still pass in that order, so this helper re-executes it picking,
among the runnable FIFO heads, the *highest* index (engines run as far ahead as tokens allow) or a
random one, and the caller compares the resulting memory with the simulator's.  The orders are
``golden.schedule``'s policies; the execution is the golden simulator's.
"""

from __future__ import annotations

from golden.program import Program
from golden.sim import simulate


def run_schedule(program: Program, memory: bytearray | None = None, *, policy: str = "latest",
                 seed: int = 0) -> bytearray:
    """Final memory of ``program`` executed under ``policy`` ("latest" | "random" | "golden").

    Raises RuntimeError if the program stops with an error (a token deadlock, for instance).
    """
    r = simulate(program, memory, policy=policy, seed=seed)
    if not r.ok:
        raise RuntimeError(f"{r.error.name} at instruction {r.error_index} under policy {policy!r}: "
                           f"{r.error_message}")
    return r.memory
