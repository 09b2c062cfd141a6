"""ProgramBuilder: memory allocation, tensors, layers and race-free instruction emission.

Idioms (``tb/seq_lib/idioms.py``) describe *what* a block computes in plain sequential code; the
builder places tensors in external memory, records them in the manifest, and passes every
instruction through :class:`~tb.seq_lib.hazards.Tokeniser` so the final stream is race free by
construction whatever the idioms do.  Layers are the idiom blocks, so a scoreboard mismatch names
the block (and instruction range) that produced the wrong tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.isa import HwConfig, Insn, Opcode, Queue, make
from golden.program import DTYPES, Program
from tb.seq_lib.hazards import Tokeniser

MEM_CAP = 64 << 20
"""Upper bound of a generated memory image (the Tokeniser's shadow arrays are sized from it)."""


@dataclass
class TensorRef:
    """Where a tensor lives: base address, shape, byte strides and dtype (like a manifest entry)."""

    name: str
    addr: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: str

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype].itemsize


class ProgramBuilder:
    """Accumulates memory, manifest tensors, layers and a tokenised instruction stream."""

    def __init__(
        self,
        hw: HwConfig,
        rng: np.random.Generator,
        *,
        dep_styles: dict[str, float],
        extra_token_prob: float,
        p_misalign: float = 0.3,
        p_straddle_4k: float = 0.15,
        mem_cap: int = MEM_CAP,
    ) -> None:
        self.hw = hw
        self.rng = rng
        self.mem = bytearray()
        self.p_misalign = p_misalign
        self.p_straddle_4k = p_straddle_4k
        self.tensors: list[dict[str, object]] = []
        self.layers: list[dict[str, object]] = []
        self.tok = Tokeniser(hw, mem_cap, rng, dep_styles, extra_token_prob)
        self.tok.fm.memory = self.mem   # GATHER footprints follow the indices placed in the image
        self.mem_cap = mem_cap
        self._layer: tuple[str, str, int] | None = None
        self._layer_outputs: list[str] = []
        self.ppu_out_int32 = False
        """out_int32 of the last PPUCFG emitted (what the next STORE writes)."""
        self.ppu_row_en = False
        self.expected: dict[str, np.ndarray] = {}
        """Values the idioms predict for their outputs (tests compare them with the golden simulator)."""

    # ---- memory
    def alloc(self, nbytes: int, *, align: int = 64, exact: bool = False) -> int:
        """Reserve ``nbytes``; the start may be deliberately misaligned or placed across a 4 KiB page."""
        base = len(self.mem)
        base = -(-base // align) * align
        if not exact:
            if self.rng.random() < self.p_straddle_4k and nbytes > 1:
                page = (base // 4096 + 1) * 4096
                base = max(base, page - int(self.rng.integers(1, min(nbytes, 256) + 1)))
            elif self.rng.random() < self.p_misalign:
                base += int(self.rng.integers(1, align))
        end = base + max(nbytes, 1)
        if end > self.mem_cap:
            raise MemoryError(f"generated program needs more than {self.mem_cap} bytes")
        self.mem.extend(bytes(end - len(self.mem)))
        return base

    def place(
        self,
        name: str,
        array: np.ndarray,
        *,
        role: str,
        transposed: bool = False,
        pad: int = 0,
        check: bool = False,
        exact: bool = False,
    ) -> TensorRef:
        """Allocate a 2-D tensor (row-major, or column-major if ``transposed``), write ``array``;
        ``exact``: aligned to 64 bytes, never deliberately misaligned (e.g. GATHER indices)."""
        a = np.asarray(array)
        assert a.ndim == 2
        dtype = "int8" if a.dtype == np.int8 else "int32"
        e = DTYPES[dtype].itemsize
        rows, cols = a.shape
        if transposed:
            pitch = (rows + pad) * e
            strides = (e, pitch)
            nbytes = cols * pitch
        else:
            pitch = (cols + pad) * e
            strides = (pitch, e)
            nbytes = rows * pitch
        addr = self.alloc(nbytes, exact=exact)
        ref = TensorRef(name, addr, (rows, cols), strides, dtype)
        view = np.ndarray(shape=a.shape, dtype=DTYPES[dtype], buffer=self.mem, offset=addr, strides=strides)
        view[...] = a
        self.add_tensor(ref, role=role, check=check)
        return ref

    def reserve(
        self,
        name: str,
        shape: tuple[int, int],
        dtype: str,
        *,
        transposed: bool = False,
        pad: int = 0,
        role: str = "output",
        check: bool = True,
    ) -> TensorRef:
        """Allocate an output tensor (left zero) and record it for checking."""
        e = DTYPES[dtype].itemsize
        rows, cols = shape
        if transposed:
            pitch = (rows + pad) * e
            strides, nbytes = (e, pitch), cols * pitch
        else:
            pitch = (cols + pad) * e
            strides, nbytes = (pitch, e), rows * pitch
        ref = TensorRef(name, self.alloc(nbytes), shape, strides, dtype)
        self.add_tensor(ref, role=role, check=check)
        return ref

    def add_tensor(self, ref: TensorRef, *, role: str, check: bool) -> None:
        layer = self._layer[0] if self._layer else None
        self.tensors.append(
            {
                "name": ref.name,
                "role": role,
                "addr": ref.addr,
                "shape": list(ref.shape),
                "strides": list(ref.strides),
                "dtype": ref.dtype,
                "check": check,
                "layer": layer,
            }
        )
        if check and layer is not None:
            self._layer_outputs.append(ref.name)

    # ---- instructions
    def emit(self, opcode: int, **fields: int) -> int:
        ins = make(Opcode(opcode), **fields)
        if ins.opcode == Opcode.PPUCFG:
            self.ppu_out_int32 = bool(fields.get("out_int32", 0))
            self.ppu_row_en = bool(fields.get("row_en", 0))
        return self.tok.append(ins)

    def emit_insn(self, ins: Insn, force: set[Queue] | frozenset[Queue] = frozenset()) -> int:
        """Append a prepared instruction; ``force`` adds a token wait on those engines' last work."""
        return self.tok.append(ins, force=force)

    @property
    def n_insns(self) -> int:
        return len(self.tok.insns)

    # ---- layers
    def begin_layer(self, name: str, op: str) -> None:
        assert self._layer is None, "layers do not nest"
        self._layer = (name, op, self.n_insns)
        self._layer_outputs = []

    def end_layer(self, **meta: object) -> None:
        assert self._layer is not None
        name, op, start = self._layer
        self.layers.append(
            {
                "name": name,
                "op": op,
                "insn_start": start,
                "insn_end": self.n_insns,
                "outputs": list(self._layer_outputs),
                "meta": dict(meta),
            }
        )
        self._layer = None

    def finish(self, name: str) -> Program:
        self.emit(Opcode.FINISH)
        for t in self.tensors:  # manifest wants tensors of layers that exist
            if t["layer"] is not None and t["layer"] not in {ly["name"] for ly in self.layers}:
                t["layer"] = None
        return Program.create(
            name, self.tok.words(), self.mem, self.hw, tensors=self.tensors, layers=self.layers
        )
