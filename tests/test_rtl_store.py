"""RTL block tests of the ST engine (nmx_ppu, nmx_store_engine) and of the AXI burst splitter both
DMA engines use (nmx_axi_burst_split), all through tb.blocks.run_block.

Each configuration is built once (cached under build/sim/) and runs every cocotb test of its
module; a failing cocotb test raises tb.sim_env.SimFailure naming it.
"""

from __future__ import annotations

import pytest

from golden.isa import HwConfig
from tb.blocks import run_block

#: (COLS, AXI_DATA_BITS): the two array widths at the default bus, plus narrow/wide buses that
#: exercise multi-beat rows, 4 KiB splits and rows narrower than a beat.
STORE_CONFIGS = [(4, 128), (16, 128), (16, 32), (4, 512)]


@pytest.mark.parametrize("cols", [4, 16])
def test_ppu(cols: int) -> None:
    run_block("ppu", HwConfig(cols=cols))


@pytest.mark.parametrize("cols,bus", STORE_CONFIGS)
def test_store_engine(cols: int, bus: int) -> None:
    run_block("store_engine", HwConfig(cols=cols, acc_depth=64, vec_depth=32, axi_data_bits=bus))


def test_axi_burst_split() -> None:
    """Random and corner (address, bytes, beat size) requests at every beat size 1..128 bytes."""
    run_block("axi_burst_split")
