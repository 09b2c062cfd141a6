"""Activity capture of a power run, the simulator-process side (docs/power.md, "Capture").

A power build (tb/top.py POWER_BUILD_ARGS) traces the DUT into SAIF files, one per activity
window, under the control of nmx_tb_top's window controller.  This module writes what the
controller reads before a run (``bounds.hex``: the instruction index where each layer of the
manifest starts) and chooses the time-series period; ``tb.power.saif`` reads the result.

Layout of ``<run>/power/``::

    bounds.hex        count, then the first instruction index of each layer (hex, one per line)
    windows.tsv       index start_cycle end_cycle insn_lo insn_hi end_reason, one row per window
    windows/wNNNNNN.saif
"""

from __future__ import annotations

import pathlib
from typing import Any

POWER_DIR = "power"
"""Folder of a run's result directory that holds its activity and power report."""
MIN_PERIOD = 500
"""Shortest automatic window (cycles): shorter windows cost more SAIF files than they show."""
SERIES_POINTS = 200
"""Windows the automatic period aims at over a whole run."""
TB_CLOCK_PS = 10_000
"""The testbench's simulated clock period (tb/bfm/tb_top.py default, 10 ns): SAIF times are in
simulation time.  Energies use the technology file's clock frequency instead (cycles are cycles)."""


def layer_bounds(manifest: dict[str, Any]) -> list[int]:
    """First instruction index of every non-empty layer, ascending and distinct."""
    starts = sorted({int(ly["insn_start"]) for ly in manifest.get("layers", [])
                     if int(ly["insn_end"]) > int(ly["insn_start"])})
    return starts


def auto_period(expected_cycles: int) -> int:
    """Window period for about SERIES_POINTS windows over ``expected_cycles`` (at least MIN_PERIOD)."""
    return max(MIN_PERIOD, int(expected_cycles) // SERIES_POINTS)


def prepare(folder: str | pathlib.Path, manifest: dict[str, Any], *, max_bounds: int = 65535) -> pathlib.Path:
    """Create ``folder`` (emptied of an earlier capture) and write its ``bounds.hex``."""
    d = pathlib.Path(folder)
    (d / "windows").mkdir(parents=True, exist_ok=True)
    for old in (d / "windows").glob("w*.saif"):
        old.unlink()
    b = layer_bounds(manifest)
    if len(b) > max_bounds:
        raise ValueError(f"{len(b)} layers: the activity window controller holds at most {max_bounds}")
    (d / "bounds.hex").write_text("".join(f"{v:08x}\n" for v in [len(b), *b]))
    return d
