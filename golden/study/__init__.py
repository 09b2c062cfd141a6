"""The NeuralMatrix accuracy study on NMX (issue 14, docs/fidelity.md).

The paper (Sun et al., arXiv 2305.14405) claims that turning a whole network into GEMMs plus
piecewise-linear (PWL) nonlinear functions costs little task accuracy.  This package measures that
claim on this accelerator, with the numbers a reader of the paper compares:

* :mod:`golden.study.evalsets` - held-out inputs and labels per zoo classifier (>= 500 decisions
  where the data allows; GNNs judged on the nodes outside their training split);
* :mod:`golden.study.accel` - accelerator accuracy: the real compiler (with its PWL policy knob,
  ``compiler.compile_model(..., pwl_policy=...)``) and the golden ISA simulator, which is bit-exact
  with the RTL;
* :mod:`golden.study.emulate` - a float + fake-int8 forward of the same network with PWL (or exact)
  nonlinear ops: it separates quantisation loss from PWL loss, emulates budgets the 16-segment PPU
  table cannot hold (32, 64; always labelled "emulated") and is the forward pass of fine-tuning;
* :mod:`golden.study.finetune` - approximation-aware fine-tuning (PWL + int8 fake quantisation in
  the forward pass, straight-through estimator in the backward pass), then recompilation;
* :mod:`golden.study.ppu_cost` - what a larger PWL table costs in the PPU;
* :mod:`golden.study.sweep` / :mod:`golden.study.report` - the study and its tables and plots,
  ``python -m golden.study [--quick] [--out build/fidelity]``.
"""

from __future__ import annotations

SEGMENTS = (4, 8, 16, 32, 64)
"""PWL budgets of the sweep; the PPU table holds 16 (``golden.isa.PWL_SEGMENTS``)."""
METHODS = ("uniform", "horizontal", "vertical")
"""golden.pwl methods; "vertical" = horizontal breakpoints + vertical bias correction (the default)."""
PAPER_GRANULARITY = 0.25
"""The NeuralMatrix paper's uniform segment width: the baseline row of the sweep."""

__all__ = ["METHODS", "PAPER_GRANULARITY", "SEGMENTS"]
