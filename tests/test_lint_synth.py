"""RTL lint (Verilator -Wall) and synthesis (Yosys) checks of the whole design.

The flows are tb/flows/lint.py and tb/flows/synth.py; this file only calls them.
"""

from __future__ import annotations

import pathlib

import pytest

from tb.flows import lint, synth

SMALL = {"ROWS": 4, "COLS": 4, "INP_DEPTH": 256, "WGT_DEPTH": 256, "ACC_DEPTH": 128, "VEC_DEPTH": 64}
EXPECTED = {"nmx_top", "nmx_dispatcher", "nmx_token_unit", "nmx_load_engine", "nmx_gemm_engine",
            "nmx_systolic_array", "nmx_pe", "nmx_store_engine", "nmx_ppu", "nmx_sram", "nmx_fifo",
            "nmx_axi_burst_split"}


@pytest.mark.parametrize("cfg", list(lint.configs()))
def test_lint_clean(cfg: str) -> None:
    clean, out = lint.lint(params=lint.configs()[cfg])
    assert clean, out


@pytest.fixture(scope="module")
def small_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return synth.run(SMALL, tmp_path_factory.mktemp("synth"), quiet=True)


def test_synth_small_config(small_report: dict) -> None:
    r = small_report
    assert not r["problems"]
    assert {m["module"] for m in r["modules"]} == EXPECTED
    assert r["total"]["ge"] > 0 and r["total"]["ff_bits"] > 0


def test_synth_keeps_buffers_as_memories(small_report: dict) -> None:
    srams = [m for m in small_report["modules"] if m["module"] == "nmx_sram"]
    insts = sorted(i.split(".")[-1] for m in srams for i in m["instances"])
    assert insts == ["u_acc_gemm", "u_acc_store", "u_inp", "u_row", "u_vec", "u_wgt"]
    for m in srams:
        assert len(m["own"]["memories"]) == 1
    p = small_report["params"]
    bits = sum(m["own"]["memories"][0]["bits"] * len(m["instances"]) for m in srams)
    assert bits == (p["INP_DEPTH"] * p["ROWS"] * 8 + p["WGT_DEPTH"] * p["COLS"] * 8
                    + (2 * p["ACC_DEPTH"] + p["VEC_DEPTH"]) * p["COLS"] * 32 + p["ACC_DEPTH"] * 64)


def test_synth_report_files(small_report: dict) -> None:
    assert small_report["modules"][0]["module"] == "nmx_top"
    assert small_report["modules"][0]["instances"] == ["nmx_top"]


@pytest.mark.parametrize(("name", "body", "ok"), [
    ("good", "always_ff @(posedge clk) q <= d;", True),
    ("latch", "always_latch if (clk) q <= d;", False),
    ("latch_comb", "always @* if (d) q = 1'b1;", False),
    ("loop", "logic a, b; assign a = b ^ d; assign b = a; always_ff @(posedge clk) q <= a;", False),
])
def test_structural_checks_catch_latches_and_loops(tmp_path: pathlib.Path, name: str, body: str,
                                                   ok: bool) -> None:
    f = tmp_path / f"{name}.sv"
    f.write_text(f"module {name} (input logic clk, input logic d, output logic q);\n  {body}\nendmodule\n")
    passed, log = synth.structural_check([f], name, tmp_path)
    assert passed == ok, log[-2000:]
