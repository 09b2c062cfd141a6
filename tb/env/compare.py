"""Bit-exact comparison of an RTL memory image with the golden one, tensor by tensor.

Pure functions (no simulator) so the scoreboard's judgement is unit-tested with two byte arrays.
The manifest tells which tensors matter: every tensor with ``check`` true and every ``output``.  They
are compared in *program order* (the order of the layers that produce them), so the first reported
mismatch is the earliest divergence - later ones are usually its consequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from golden.program import Program


@dataclass(frozen=True)
class Mismatch:
    """One diverging tensor: where it was produced, the first wrong element, how many are wrong."""

    tensor: str
    layer: str | None
    insn_range: tuple[int, int] | None
    index: tuple[int, ...]
    expected: int
    got: int
    n_wrong: int
    n_total: int
    address: int

    def describe(self) -> str:
        where = (
            f"layer {self.layer} (instructions {self.insn_range[0]}..{self.insn_range[1] - 1})"
            if self.layer and self.insn_range
            else "no layer"
        )
        return (
            f"tensor {self.tensor!r} [{where}]: element {list(self.index)} at {self.address:#x}"
            f" expected {self.expected} got {self.got} ({self.n_wrong}/{self.n_total} elements differ)"
        )


def checked_tensors(program: Program) -> list[dict[str, Any]]:
    """Tensors the scoreboard compares, in program order of the layer that produces them."""
    start = {ly["name"]: ly["insn_start"] for ly in program.manifest.get("layers", [])}
    ts = [t for t in program.manifest["tensors"] if t.get("check") or t["role"] == "output"]
    big = len(program.insns) + 1
    return sorted(ts, key=lambda t: (start.get(t.get("layer"), big), program.manifest["tensors"].index(t)))


def compare_memories(
    program: Program, expected: bytes | bytearray, got: bytes | bytearray, limit: int | None = None
) -> list[Mismatch]:
    """Every checked tensor whose bytes differ (up to ``limit``), first divergence first."""
    layers = {ly["name"]: ly for ly in program.manifest.get("layers", [])}
    out: list[Mismatch] = []
    for t in checked_tensors(program):
        exp = program.read_tensor(expected, t["name"])
        act = program.read_tensor(got, t["name"])
        if np.array_equal(exp, act):
            continue
        wrong = np.argwhere(exp != act)
        idx = tuple(int(i) for i in wrong[0])
        addr = t["addr"] + sum(i * s for i, s in zip(idx, t["strides"], strict=True))
        ly = layers.get(t.get("layer") or "")
        out.append(
            Mismatch(
                tensor=t["name"],
                layer=t.get("layer"),
                insn_range=(ly["insn_start"], ly["insn_end"]) if ly else None,
                index=idx,
                expected=int(exp[idx]),
                got=int(act[idx]),
                n_wrong=len(wrong),
                n_total=int(exp.size),
                address=int(addr),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def untracked_diffs(
    program: Program, expected: bytes | bytearray, got: bytes | bytearray, limit: int = 8
) -> list[tuple[int, int, int]]:
    """Bytes that differ outside every checked tensor: (address, expected, got).

    A write to the wrong address shows up here even when every checked tensor is right.
    """
    e = np.frombuffer(expected, dtype=np.uint8)  # views, not copies of two whole memory images
    g = np.frombuffer(got, dtype=np.uint8)
    n = min(e.size, g.size)
    diff = np.flatnonzero(e[:n] != g[:n])
    if diff.size == 0:
        return []
    covered = np.zeros(n, dtype=bool)
    for t in checked_tensors(program):
        shape, strides = t["shape"], t["strides"]
        if any(s == 0 for s in shape):
            continue
        item = 4 if t["dtype"] == "int32" else 1
        grids = np.ix_(*[np.arange(k, dtype=np.int64) * s for k, s in zip(shape, strides, strict=True)])
        base = t["addr"] + sum(grids)
        for b in range(item):
            a = (np.asarray(base) + b).reshape(-1)
            covered[a[a < n]] = True
    out = [(int(a), int(e[a]), int(g[a])) for a in diff if not covered[a]]
    return out[:limit]
