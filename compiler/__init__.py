"""NMX compiler: PyTorch models -> NMX Programs (int8 GEMMs + PPU piecewise-linear functions).

``compile_model(model, example_inputs, calibration=..., hw=...)`` is the entry point;
``fidelity(...)`` compares the golden simulator against float PyTorch.  See docs/compiler.md.
"""

import golden  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads, see golden/__init__.py)
from compiler.compile import compile_model
from compiler.frontend import CompileError, ExportError, InputError, UnsupportedOpError

__all__ = ["CompileError", "ExportError", "InputError", "UnsupportedOpError", "compile_model"]
