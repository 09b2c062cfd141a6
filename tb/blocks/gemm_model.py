"""Reusable pieces of the compute block tests: row packing, GEMM commands and the golden model.

The golden arithmetic is :func:`golden.arith.gemm_tile`; this module only sequences it the way
the engine writes ACC (command by command, row by row) so a monitor can check every ACC write as
it happens, not only the final buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.arith import gemm_tile
from golden.isa import Opcode, encode


def pack_row(values, bits: int) -> int:
    """Pack signed elements, element k at bits [k*bits +: bits] (docs/architecture.md row layout)."""
    mask = (1 << bits) - 1
    word = 0
    for k, v in enumerate(np.asarray(values, dtype=np.int64).tolist()):
        word |= (int(v) & mask) << (k * bits)
    return word


def unpack_row(word: int, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_row`: n signed elements."""
    mask, sign = (1 << bits) - 1, 1 << (bits - 1)
    out = np.empty(n, dtype=np.int64)
    for k in range(n):
        v = (word >> (k * bits)) & mask
        out[k] = v - (1 << bits) if v & sign else v
    return out


@dataclass(frozen=True)
class GemmCmd:
    inp_addr: int
    wgt_addr: int
    acc_addr: int
    m: int
    accumulate: int

    def encode(self, **tokens: int) -> int:
        return encode(Opcode.GEMM, inp_addr=self.inp_addr, wgt_addr=self.wgt_addr, acc_addr=self.acc_addr,
                      m=self.m, accumulate=self.accumulate, **tokens)

    def __str__(self) -> str:
        return (f"GEMM(inp={self.inp_addr}, wgt={self.wgt_addr}, acc={self.acc_addr}, m={self.m}, "
                f"acc={'+=' if self.accumulate else '='})")


class GemmGolden:
    """Buffer contents and the expected sequence of ACC writes of a command stream."""

    def __init__(self, rows: int, cols: int, inp_depth: int, wgt_depth: int, acc_depth: int) -> None:
        self.rows, self.cols = rows, cols
        self.inp = np.zeros((inp_depth, rows), dtype=np.int64)
        self.wgt = np.zeros((wgt_depth, cols), dtype=np.int64)
        self.acc = np.zeros((acc_depth, cols), dtype=np.int64)

    def execute(self, cmd: GemmCmd) -> list[tuple[int, np.ndarray]]:
        """Apply one GEMM to the model ACC; return its ACC writes [(row address, values)] in order."""
        inp = self.inp[cmd.inp_addr:cmd.inp_addr + cmd.m]
        wgt = self.wgt[cmd.wgt_addr:cmd.wgt_addr + self.rows]
        assert inp.shape[0] == cmd.m and wgt.shape[0] == self.rows, f"{cmd} out of range"
        rows = slice(cmd.acc_addr, cmd.acc_addr + cmd.m)
        res = gemm_tile(inp, wgt, self.acc[rows] if cmd.accumulate else None)
        self.acc[rows] = res
        return [(cmd.acc_addr + i, res[i].copy()) for i in range(cmd.m)]
