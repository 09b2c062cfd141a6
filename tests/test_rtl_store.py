"""RTL block tests of the ST engine: nmx_ppu and nmx_store_engine (cocotb via tb.sim_env).

Each configuration is built once (cached under build/sim/) and runs every cocotb test of its
module; a failing cocotb test raises tb.sim_env.SimFailure naming it.
"""

from __future__ import annotations

import pytest

from tb import sim_env

RTL = sim_env.RTL
PPU_SOURCES = [RTL / "nmx_isa_pkg.sv", RTL / "nmx_ppu.sv"]
STORE_SOURCES = [RTL / "nmx_isa_pkg.sv", RTL / "nmx_fifo.sv", RTL / "nmx_ppu.sv", RTL / "nmx_store_engine.sv"]

#: (COLS, AXI_DATA_BITS): the two array widths at the default bus, plus narrow/wide buses that
#: exercise multi-beat rows, 4 KiB splits and rows narrower than a beat.
STORE_CONFIGS = [(4, 128), (16, 128), (16, 32), (4, 512)]


@pytest.mark.parametrize("cols", [4, 16])
def test_ppu(cols: int) -> None:
    sim_env.run_cocotb(toplevel="nmx_ppu", test_module="tb.blocks.test_ppu", sources=PPU_SOURCES,
                       parameters={"COLS": cols, "META_BITS": 16},
                       extra_env={"NMX_COLS": str(cols), "NMX_META_BITS": "16"})


@pytest.mark.parametrize("cols,bus", STORE_CONFIGS)
def test_store_engine(cols: int, bus: int) -> None:
    acc_depth, vec_depth = 64, 32
    sim_env.run_cocotb(toplevel="nmx_store_engine", test_module="tb.blocks.test_store_engine",
                       sources=STORE_SOURCES,
                       parameters={"COLS": cols, "ACC_DEPTH": acc_depth, "VEC_DEPTH": vec_depth,
                                   "AXI_DATA_BITS": bus, "AXI_ADDR_BITS": 32, "AXI_ID_BITS": 4},
                       extra_env={"NMX_COLS": str(cols), "NMX_ACC_DEPTH": str(acc_depth),
                                  "NMX_VEC_DEPTH": str(vec_depth), "NMX_AXI_DATA_BITS": str(bus)})
