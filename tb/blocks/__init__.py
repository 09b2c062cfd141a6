"""Block-level cocotb tests of the NMX RTL, and the one helper that builds and runs them.

Every block test goes through :func:`run_block`: it looks the block up in :data:`BLOCKS` (top,
cocotb module, RTL modules, simulation-only wrappers, the Verilog parameters it takes from a
:class:`~golden.isa.HwConfig`), builds it with Verilator (cached per parameter set by
:func:`tb.sim_env.run_cocotb`) and runs its cocotb module. The test module sees the same
configuration through the environment, set here and nowhere else:

* ``NMX_HW``: the HwConfig, spelled by :func:`golden.hwcfg.hw_name` (read it with :func:`block_hw`);
* ``NMX_<PARAM>``: every Verilog parameter the block was built with (read it with :func:`block_param`).

Run them through ``tests/test_rtl_compute.py`` / ``tests/test_rtl_store.py`` (pytest) or directly::

    python -m tb.blocks 8x16-small array gemm_engine    # configuration name of golden.hwcfg
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from golden.hwcfg import hw_name, parse_hw
from golden.isa import HwConfig
from tb import sim_env

HERE = pathlib.Path(__file__).resolve().parent


@dataclass(frozen=True)
class Block:
    """One block-level testbench: what to build and which HwConfig fields become parameters."""

    toplevel: str
    test_module: str
    modules: tuple[str, ...]
    """RTL modules (``rtl/<name>.sv``) of the block, submodules included; packages are implicit."""
    params: Callable[[HwConfig], dict[str, int]] = field(default=lambda hw: {})
    tb_hdl: tuple[str, ...] = ()
    """Simulation-only wrappers in ``tb/blocks/`` (compiled after the RTL)."""

    def sources(self) -> list[pathlib.Path]:
        return [*sim_env.rtl_sources(self.modules), *sim_env.sva_sources(self.modules),
                *(HERE / f for f in self.tb_hdl)]


_ARRAY = ("nmx_pe", "nmx_systolic_array")

BLOCKS: dict[str, Block] = {
    "array": Block("nmx_systolic_array", "tb.blocks.test_array", _ARRAY,
                   lambda hw: {"ROWS": hw.rows, "COLS": hw.cols}),
    "gemm_engine": Block("nmx_gemm_tb", "tb.blocks.test_gemm_engine",
                         ("nmx_sram", *_ARRAY, "nmx_gemm_engine"),
                         lambda hw: {"ROWS": hw.rows, "COLS": hw.cols, "INP_DEPTH": hw.inp_depth,
                                     "WGT_DEPTH": hw.wgt_depth, "ACC_DEPTH": hw.acc_depth},
                         tb_hdl=("nmx_gemm_tb.sv",)),
    # WIDTH/DEPTH are FIFO instance parameters, not machine ones: these defaults, or overrides
    "fifo": Block("nmx_fifo", "tb.blocks.test_fifo", ("nmx_fifo",), lambda hw: {"WIDTH": 16, "DEPTH": 4}),
    # META_BITS is the PPU's side band; the test carries the row number in it
    "ppu": Block("nmx_ppu", "tb.blocks.test_ppu", ("nmx_ppu",),
                 lambda hw: {"COLS": hw.cols, "META_BITS": 16}),
    "store_engine": Block("nmx_store_engine", "tb.blocks.test_store_engine",
                          ("nmx_fifo", "nmx_ppu", "nmx_axi_burst_split", "nmx_store_engine"),
                          lambda hw: {"COLS": hw.cols, "ACC_DEPTH": hw.acc_depth, "VEC_DEPTH": hw.vec_depth,
                                      "AXI_DATA_BITS": hw.axi_data_bits}),
    # one instance per beat size, so a single build covers every bus width (see the wrapper)
    "axi_burst_split": Block("nmx_axi_burst_split_tb", "tb.blocks.test_axi_burst_split",
                             ("nmx_axi_burst_split",), tb_hdl=("nmx_axi_burst_split_tb.sv",)),
}
"""Every block-level testbench, by the name :func:`run_block` takes."""


def block_params(name: str, hw: HwConfig, params: Mapping[str, int] | None = None) -> dict[str, int]:
    """The Verilog parameters block ``name`` is built with: from ``hw``, then ``params`` on top."""
    return {**BLOCKS[name].params(hw), **(params or {})}


def run_block(name: str, hw: HwConfig | str = "16x16", params: Mapping[str, int] | None = None,
              testcase: str | None = None, seed: int | None = None) -> None:
    """Build (cached per parameter set) and run the cocotb tests of block ``name``; raise on failure.

    ``hw`` is a HwConfig or a configuration name of :mod:`golden.hwcfg`; ``params`` adds or
    overrides Verilog parameters (e.g. a FIFO's DEPTH).
    """
    if name not in BLOCKS:
        raise ValueError(f"unknown block test {name!r}; known: {', '.join(BLOCKS)}")
    hw = parse_hw(hw)
    blk = BLOCKS[name]
    built = block_params(name, hw, params)
    env = {"NMX_HW": hw_name(hw), **{f"NMX_{k}": str(v) for k, v in built.items()}}
    sim_env.run_cocotb(toplevel=blk.toplevel, test_module=blk.test_module, parameters=built,
                       sources=blk.sources(), extra_env=env, testcase=testcase, seed=seed)


def block_hw() -> HwConfig:
    """Inside a block test: the HwConfig :func:`run_block` built the block for."""
    return parse_hw(os.environ.get("NMX_HW", "16x16"))


def block_param(name: str, default: int) -> int:
    """Inside a block test: Verilog parameter ``name`` of the build (``default`` outside run_block)."""
    return int(os.environ.get(f"NMX_{name}", default))
