"""Lowering of the exported graph to GemmOps (see docs/compiler.md, "Where the lowering lives").

``core`` walks the graph and owns the state, ``plan`` decides fusion, ``post`` builds PPU
epilogues, ``prims`` holds the GEMM building blocks, and ``ops/`` has one module per op family,
each registering its lowerings by ATen op in ``registry``.
"""

from compiler.lower import ops as _ops  # noqa: F401  (registers every op lowering)
from compiler.lower.act import Act
from compiler.lower.core import Lowerer
from compiler.lower.post import Post, hat_table
from compiler.lower.registry import REGISTRY, lowers

__all__ = ["REGISTRY", "Act", "Lowerer", "Post", "hat_table", "lowers"]
