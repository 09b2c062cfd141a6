"""The RTL's static flows: Verilator lint (:mod:`tb.flows.lint`) and Yosys synthesis (:mod:`tb.flows.synth`).

These two modules are the only code that builds a Verilator ``--lint-only`` or a Yosys command
line: ``make lint``/``make synth``, the pytest checks of the whole design and the block-level
checks all call them, so a flag, a waiver file or a Yosys quirk is handled in one place.
"""

from __future__ import annotations

from golden.isa import HwConfig


def top_params(hw: HwConfig) -> dict[str, int]:
    """``nmx_top`` parameters of a configuration: the HwConfig field names in upper case."""
    return {k.upper(): v for k, v in hw.to_dict().items()}
