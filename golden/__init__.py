"""NMX golden model: ISA definition, bit-exact arithmetic, Program format, ISA simulator.

``from golden import simulate, run_program, Program`` is the public entry point for the compiler,
the testbench and the regression scripts; the submodules hold the details.  Exports are resolved
lazily (PEP 562) so ``python -m golden.isa`` / ``golden.program_cli`` do not import their own module
twice (runpy warns about that) and importing one submodule stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# OpenMP threads (torch's CPU kernels) sleep instead of spinning at barriers.  On this project's
# 2-core machines two jobs run side by side; spinning threads then steal each other's cores (a
# resnet50 compile took 130 s instead of 40 s beside another job, docs/performance.md).  It must be
# set before torch loads libgomp, so every package of the project imports ``golden`` first; an
# explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "Counter": "golden.isa",
    "ErrorCode": "golden.isa",
    "HwConfig": "golden.isa",
    "Opcode": "golden.isa",
    "Program": "golden.program",
    "ProgramFormatError": "golden.program",
    "SimResult": "golden.sim",
    "run_program": "golden.sim",
    "simulate": "golden.sim",
}

__all__ = [
    "Counter",
    "ErrorCode",
    "HwConfig",
    "Opcode",
    "Program",
    "ProgramFormatError",
    "SimResult",
    "run_program",
    "simulate",
]

if TYPE_CHECKING:
    from golden.isa import Counter, ErrorCode, HwConfig, Opcode
    from golden.program import Program, ProgramFormatError
    from golden.sim import SimResult, run_program, simulate


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'golden' has no attribute {name!r}")
