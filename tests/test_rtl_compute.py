"""RTL compute datapath: lint, block simulations and synthesis checks of nmx_sram, nmx_fifo,
nmx_pe, nmx_systolic_array and nmx_gemm_engine.

Simulations go through tb.blocks.run_block, lint through tb.flows.lint and synthesis through
tb.flows.synth: no command line is built here. Configurations (ROWS x COLS): 4x4 and 8x16 with
1k-row buffers by default. The full-size 16x16 array (slower Verilator build) is opt-in:
``NMX_RTL_COMPUTE_16X16=1 pytest tests/test_rtl_compute.py``. The Yosys checks are marked ``slow``.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from golden.hwcfg import parse_hw
from golden.isa import HwConfig
from tb import sim_env
from tb.blocks import run_block
from tb.flows import lint, synth

COMPUTE_RTL = ["nmx_sram", "nmx_fifo", "nmx_pe", "nmx_systolic_array", "nmx_gemm_engine"]

# The 16x16 configuration is collected only when asked for, so `make test` never reports a skip.
CONFIGS = [pytest.param(parse_hw("4x4:inp_depth=1024,wgt_depth=1024,acc_depth=512"), id="4x4"),
           pytest.param(parse_hw("8x16-small"), id="8x16")]
if os.environ.get("NMX_RTL_COMPUTE_16X16") == "1":
    CONFIGS.append(pytest.param(parse_hw("16x16:inp_depth=1024,wgt_depth=1024,acc_depth=512"), id="16x16"))


@pytest.mark.parametrize("hw", CONFIGS)
def test_systolic_array(hw: HwConfig) -> None:
    run_block("array", hw)


@pytest.mark.parametrize("hw", CONFIGS)
def test_gemm_engine(hw: HwConfig) -> None:
    run_block("gemm_engine", hw)


@pytest.mark.parametrize("depth", [1, 3, 4])
def test_fifo(depth: int) -> None:
    run_block("fifo", params={"WIDTH": 16, "DEPTH": depth})


@pytest.mark.parametrize("top,params", [
    ("nmx_sram", {}), ("nmx_fifo", {}), ("nmx_fifo", {"DEPTH": 1}), ("nmx_fifo", {"DEPTH": 5}),
    ("nmx_systolic_array", {"ROWS": 4, "COLS": 3}),
    ("nmx_gemm_engine", {}), ("nmx_gemm_engine", {"ROWS": 4, "COLS": 4}),
    ("nmx_gemm_engine", {"ROWS": 8, "COLS": 16, "ACC_DEPTH": 512}),
    ("nmx_gemm_engine", {"ROWS": 1, "COLS": 1}),
])
def test_lint(top: str, params: dict[str, int]) -> None:
    """Verilator -Wall of the compute files alone: no warnings (waivers only in rtl/lint_waivers.vlt)."""
    clean, out = lint.lint(top, params, sim_env.rtl_sources(COMPUTE_RTL))
    assert clean, out


@pytest.mark.slow
@pytest.mark.parametrize("top,params,memories", [
    ("nmx_sram", {"WIDTH": 128, "DEPTH": 256}, 1), ("nmx_fifo", {}, 1),
    ("nmx_gemm_engine", {"ROWS": 4, "COLS": 4, "INP_DEPTH": 256, "WGT_DEPTH": 256, "ACC_DEPTH": 64}, 0),
])
def test_synth(top: str, params: dict[str, int], memories: int, tmp_path: pathlib.Path) -> None:
    """Yosys generic synthesis: no latches, no combinational loops; the SRAM/FIFO storage stays a memory."""
    ok, log = synth.structural_check(sim_env.rtl_sources(COMPUTE_RTL), top, tmp_path, params=params,
                                     memories=memories, map_gates=True)
    assert ok, log[-3000:]
