"""The bit-exact golden ISA simulator of NMX (docs/isa.md is the contract; docs/golden_sim.md the notes).

Functional execution follows the architectural rules exactly: the dispatcher decodes and range-checks
in program order and fills the three engine FIFOs eagerly (as far as their depth allows); then the
runnable FIFO head with the lowest instruction index executes (tokens respected), and dispatch
resumes.  That order, the token counters, deadlock and overflow are ``golden.schedule``'s (policy
``golden``; others on request).  It is one legal execution of the token graph, so race-free programs
produce their architectural result, deadlocks are found independently of timing, and static errors
are reported at the same instruction as the RTL dispatcher.  Each instruction is executed with
vectorised numpy; the arithmetic is ``golden.arith`` (shared with the compiler and RTL block tests),
the encodings are ``golden.isa``, and the cycle counters come from the separate model in
``golden.timing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from golden import arith
from golden.isa import (
    ROW_LANES,
    Buffer,
    Counter,
    DecodeError,
    ErrorCode,
    HwConfig,
    Insn,
    Opcode,
    opcode_bits,
)
from golden.program import Program
from golden.schedule import Event, Scheduler, Step, decode_stream, overflow_hazard
from golden.timing import Timing, TimingParams, estimate, estimate_along

if TYPE_CHECKING:
    import torch

ADDR_MASK = 0xFFFFFFFF

BadAddresses = Iterable[int | range | tuple[int, int]]
"""Addresses whose accesses fail with SLVERR: ints, ``range`` objects or half-open (start, end) pairs."""


@dataclass
class SimResult:
    """Outcome of :func:`simulate`.  Memory after an error is unspecified (docs/isa.md section 5)."""

    memory: bytearray
    error: ErrorCode
    error_index: int
    error_message: str
    counters: dict[Counter, int]
    tensors: dict[str, np.ndarray]
    executed: int
    layer_cycles: dict[str, int] = field(default_factory=dict)
    timing: Timing | None = None
    order: list[int] = field(default_factory=list)
    """Instruction indices in the order the simulator executed them (FINISH excluded)."""
    token_hazard: str | None = None
    """Why the Program is ill-formed (a token counter that may or may not overflow depending on
    timing, docs/isa.md section 2; :func:`golden.schedule.overflow_hazard`), or None."""

    @property
    def ok(self) -> bool:
        return self.error == ErrorCode.NONE


class _Fault(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class _BadSet:
    """Fault-injection address set.  Reads fail per AXI beat (the memory model only sees whole beats:
    a beat fails if it holds a bad byte and a byte the instruction asked for); writes fail per byte
    (write strobes tell the memory model exactly which bytes are written)."""

    def __init__(self, spec: BadAddresses | None, bus: int) -> None:
        iv: list[tuple[int, int]] = []
        for s in spec or ():
            if isinstance(s, range):
                if s.step != 1:
                    iv.extend((a, a + 1) for a in s)
                elif len(s):
                    iv.append((s.start, s.stop))
            elif isinstance(s, tuple):
                if s[1] > s[0]:
                    iv.append((int(s[0]), int(s[1])))
            else:
                iv.append((int(s), int(s) + 1))
        self.byte = self._merge(iv)
        self.beat = self._merge([(a // bus, (b - 1) // bus + 1) for a, b in iv])
        self.bus = bus

    @staticmethod
    def _merge(iv: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray] | None:
        if not iv:
            return None
        iv.sort()
        out = [list(iv[0])]
        for a, b in iv[1:]:
            if a <= out[-1][1]:
                out[-1][1] = max(out[-1][1], b)
            else:
                out.append([a, b])
        arr = np.array(out, dtype=np.int64)
        return arr[:, 0].copy(), arr[:, 1].copy()

    def __bool__(self) -> bool:
        return self.byte is not None

    @staticmethod
    def _first_hit(iv: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> int | None:
        starts, ends = iv
        flat = idx.reshape(-1)
        pos = np.searchsorted(starts, flat, side="right") - 1
        hit = (pos >= 0) & (flat < ends[np.maximum(pos, 0)])
        if hit.any():
            return int(flat[int(np.argmax(hit))])
        return None

    def read_hit(self, idx: np.ndarray) -> int | None:
        assert self.beat is not None
        w = self._first_hit(self.beat, idx // self.bus)
        return None if w is None else w * self.bus

    def write_hit(self, idx: np.ndarray) -> int | None:
        assert self.byte is not None
        return self._first_hit(self.byte, idx)


def _injective(y: int, ys: int, x: int, xs: int, e: int) -> bool:
    """Sufficient condition for a (y, x) grid of e-byte elements to touch every byte at most once."""
    row_major = (x == 1 or xs >= e) and (y == 1 or ys >= (x - 1) * xs + e)
    col_major = (y == 1 or ys >= e) and (x == 1 or xs >= (y - 1) * ys + e)
    return row_major or col_major


class Machine:
    """Architectural state (buffers, PPU configuration) and per-instruction semantics.

    The token counters belong to the schedule (``golden.schedule.Scheduler``), not to the machine.
    """

    def __init__(self, hw: HwConfig, memory: bytearray, bad: _BadSet | None = None) -> None:
        self.hw = hw
        self.memory = memory
        self.mem8 = np.frombuffer(memory, dtype=np.uint8) if len(memory) else np.zeros(0, np.uint8)
        self.mem_size = len(memory)
        self.bad = bad if bad is not None else _BadSet(None, hw.axi_data_bits // 8)
        self.inp = np.zeros((hw.inp_depth, hw.rows), dtype=np.int8)
        self.wgt = np.zeros((hw.wgt_depth, hw.cols), dtype=np.int8)
        self.vec = np.zeros((hw.vec_depth, hw.cols), dtype=np.int64)
        self.row = np.zeros((hw.acc_depth, ROW_LANES), dtype=np.int64)
        self.acc = np.zeros((hw.acc_depth, hw.cols), dtype=np.int64)
        self.ppu = arith.PpuConfig(hw.cols)
        self.bufs = {Buffer.INP: self.inp, Buffer.WGT: self.wgt, Buffer.VEC: self.vec, Buffer.ROW: self.row}

    # ---- addresses
    @staticmethod
    def _grid(ext: int, y: int, ys: int, x: int, xs: int, e: int) -> np.ndarray:
        """Byte addresses (y, x, e) of a 2-D strided access, modulo 2**32."""
        a = (ext + np.arange(y, dtype=np.int64)[:, None, None] * ys
             + np.arange(x, dtype=np.int64)[None, :, None] * xs
             + np.arange(e, dtype=np.int64)[None, None, :])
        return a & ADDR_MASK

    def _out_of_range(self, idx: np.ndarray) -> int | None:
        over = idx >= self.mem_size
        if over.any():
            return int(idx.reshape(-1)[int(np.argmax(over.reshape(-1)))])
        return None

    def _check_access(self, f: dict[str, int], e: int, *, write: bool) -> tuple[int, np.ndarray | None]:
        """Fault checks shared by LOAD (read) and STORE (write) of a 2-D strided access.

        Returns the highest byte address and, when it had to be built, the (y, x, e) byte-address
        grid.  Bytes at or beyond mem_size (or wrapping past 2**32) are DECERR; injected bad
        addresses are SLVERR, per bus beat on reads and per byte on writes (the strobes tell).
        """
        y, x, ys, xs, ext = f["y_size"], f["x_size"], f["y_stride"], f["x_stride"], f["ext_addr"]
        code, op, verb = ((ErrorCode.AXI_WRITE, "STORE", "writes") if write
                          else (ErrorCode.AXI_READ, "LOAD", "reads"))
        hi = ext + (y - 1) * ys + (x - 1) * xs + e - 1
        idx = None
        if hi >= self.mem_size:  # out of range, or wraps around 2**32: check byte by byte
            idx = self._grid(ext, y, ys, x, xs, e)
            a = self._out_of_range(idx)
            if a is not None:
                raise _Fault(code, f"{op} {verb} byte {a:#x} at or beyond mem_size "
                             f"{self.mem_size:#x} (DECERR)")
        if self.bad:
            if idx is None:
                idx = self._grid(ext, y, ys, x, xs, e)
            a = self.bad.write_hit(idx) if write else self.bad.read_hit(idx)
            if a is not None:
                what = (f"writes injected bad address {a:#x}" if write
                        else f"reads the bus beat at {a:#x} holding an injected bad address")
                raise _Fault(code, f"{op} {what} (SLVERR)")
        return hi, idx

    # ---- instructions
    def load(self, f: dict[str, int]) -> None:
        buf = Buffer(f["buf_sel"])
        e = HwConfig.elem_bytes(buf)
        y, x, ys, xs = f["y_size"], f["x_size"], f["y_stride"], f["x_stride"]
        ext, sa = f["ext_addr"], f["sram_addr"]
        hi, idx = self._check_access(f, e, write=False)
        dt = np.int8 if e == 1 else np.dtype("<i4")
        if idx is None or hi < self.mem_size:
            vals = np.ndarray(shape=(y, x), dtype=dt, buffer=self.memory, offset=ext, strides=(ys, xs))
        else:
            vals = np.ascontiguousarray(self.mem8[idx]).view(dt).reshape(y, x)
        dst = self.bufs[buf]
        dst[sa:sa + y, :x] = vals
        dst[sa:sa + y, x:] = 0

    def gather(self, f: dict[str, int]) -> None:
        """GATHER: row y of the buffer = x_size contiguous elements at ext_addr + idx[y]*y_stride,
        idx[y] the int32 at idx_addr + 4y (docs/isa.md); index and row reads fault like a LOAD's."""
        buf = Buffer(f["buf_sel"])
        e = HwConfig.elem_bytes(buf)
        y, x, ys = f["y_size"], f["x_size"], f["y_stride"]
        ia, ext, sa = f["idx_addr"], f["ext_addr"], f["sram_addr"]
        iv = self._read_grid(self._grid(ia, y, 4, 1, 4, 4), "index")
        ids = iv.reshape(-1).view("<i4").astype(np.int64)
        rows = (ext + ids * ys) & ADDR_MASK
        grid = (rows[:, None] + np.arange(x * e, dtype=np.int64)[None, :]) & ADDR_MASK
        vals = self._read_grid(grid, "table row").reshape(y, x * e)
        dt = np.int8 if e == 1 else np.dtype("<i4")
        dst = self.bufs[buf]
        dst[sa:sa + y, :x] = np.ascontiguousarray(vals).view(dt).reshape(y, x)
        dst[sa:sa + y, x:] = 0

    def _read_grid(self, idx: np.ndarray, what: str) -> np.ndarray:
        """The bytes at the addresses ``idx`` (uint8, same shape), with a LOAD's fault checks."""
        a = self._out_of_range(idx)
        if a is not None:
            raise _Fault(ErrorCode.AXI_READ, f"GATHER reads {what} byte {a:#x} at or beyond mem_size "
                         f"{self.mem_size:#x} (DECERR)")
        if self.bad:
            a = self.bad.read_hit(idx)
            if a is not None:
                raise _Fault(ErrorCode.AXI_READ, f"GATHER reads the bus beat at {a:#x} holding an "
                             f"injected bad address ({what}, SLVERR)")
        return self.mem8[idx]

    def gemm(self, f: dict[str, int]) -> None:
        m, ia, wa, aa = f["m"], f["inp_addr"], f["wgt_addr"], f["acc_addr"]
        prev = self.acc[aa:aa + m] if f["accumulate"] else None
        self.acc[aa:aa + m] = arith.gemm_tile(self.inp[ia:ia + m], self.wgt[wa:wa + self.hw.rows], prev)

    def ppucfg(self, f: dict[str, int]) -> None:
        self.ppu.latch(f, self.vec)

    def store(self, f: dict[str, int]) -> None:
        y, x, ys, xs = f["y_size"], f["x_size"], f["y_stride"], f["x_stride"]
        ext, sa = f["ext_addr"], f["sram_addr"]
        c = self.ppu
        e = 4 if c.out_int32 else 1
        hi, idx = self._check_access(f, e, write=True)
        if c.row_en:
            v = arith.ppu(self.acc[sa:sa + y, :x], c, self.row[sa:sa + y, 0], self.row[sa:sa + y, 1])
        else:
            v = arith.ppu(self.acc[sa:sa + y, :x], c)
        dt = np.dtype("<i4") if e == 4 else np.dtype(np.int8)
        vals = v.astype(dt)
        if hi < self.mem_size and _injective(y, ys, x, xs, e):
            np.ndarray(shape=(y, x), dtype=dt, buffer=self.memory, offset=ext, strides=(ys, xs))[...] = vals
            return
        if idx is None:
            idx = self._grid(ext, y, ys, x, xs, e)
        flat_idx = idx.reshape(-1)
        flat_val = np.ascontiguousarray(vals).view(np.uint8).reshape(-1)
        # bytes are written in increasing (y, x) order: keep the last write of every address
        _, last_rev = np.unique(flat_idx[::-1], return_index=True)
        keep = flat_idx.size - 1 - last_rev
        self.mem8[flat_idx[keep]] = flat_val[keep]

    def execute(self, insn: Insn) -> None:
        op = insn.opcode
        if op == Opcode.LOAD:
            self.load(insn.fields)
        elif op == Opcode.GATHER:
            self.gather(insn.fields)
        elif op == Opcode.GEMM:
            self.gemm(insn.fields)
        elif op == Opcode.STORE:
            self.store(insn.fields)
        elif op == Opcode.PPUCFG:
            self.ppucfg(insn.fields)
        # SYNC: tokens only


def _executed(m: Machine, insns: Sequence[Insn | DecodeError], events: Iterable[Event],
              fault: list[tuple[ErrorCode, int, str]]) -> Iterator[Event]:
    """Run every EXECUTE event on the machine and pass the events on (to the timing model); stop at
    the first AXI fault, recorded in ``fault``, before the faulting instruction's pushes land."""
    for ev in events:
        if ev.step == Step.EXECUTE:
            try:
                m.execute(insns[ev.index])  # type: ignore[arg-type]
            except _Fault as e:
                fault.append((e.code, ev.index, str(e)))
                return
        yield ev


def simulate(program: Program, memory: bytes | bytearray | None = None, *, max_insns: int | None = None,
             bad_addresses: BadAddresses | None = None,
             timing_params: TimingParams | None = None, policy: str = "golden", seed: int = 0) -> SimResult:
    """Run ``program`` on the golden model.

    ``memory`` replaces the program's initial image (same size); ``max_insns`` streams only that
    many instructions (end of stream acts like FINISH); ``bad_addresses`` injects SLVERR on reads
    and writes touching them (reads per AXI beat, writes per byte - see :class:`_BadSet`).
    ``policy``/``seed`` choose the execution order among runnable engines (``golden.schedule``);
    only ``"golden"`` is the reference order, the others exist to check schedule independence
    (results of race-free programs, timing included, do not depend on it).
    """
    hw = program.hw
    mem = bytearray(program.memory if memory is None else memory)
    if len(mem) != program.mem_size:
        raise ValueError(f"memory image has {len(mem)} bytes, the program's mem_size is {program.mem_size}")
    words = program.insns if max_insns is None else program.insns[:max_insns]
    m = Machine(hw, mem, _BadSet(bad_addresses, hw.axi_data_bits // 8))
    decoded = decode_stream(words, hw)
    hazard = overflow_hazard(decoded, hw)
    sched = Scheduler(decoded, depth=hw.queue_depth, token_max=(1 << hw.token_bits) - 1,
                      policy=policy, seed=seed)
    fault: list[tuple[ErrorCode, int, str]] = []
    # one event stream drives the machine and the timing model
    tm = estimate_along(decoded, hw, _executed(m, decoded, sched.events(), fault), timing_params)
    err, err_idx, err_msg = fault[0] if fault else (sched.error, sched.error_index, sched.error_message)
    order = sched.order

    # ---- timing: the executed instructions (and FINISH if reached) in program order.  Without an
    # error that is the whole decoded stream, timed above; after one, the executed part is re-timed
    # as a stream of its own.
    pos: range | dict[int, int] = range(len(decoded))  # instruction index -> index in the timing
    if err:
        done = set(order)
        timed = [i for i in range(len(decoded)) if i in done]
        tm = estimate([decoded[i] for i in timed], hw, timing_params)  # type: ignore[misc]
        pos = {i: k for k, i in enumerate(timed)}
    counters = dict(tm.counters)
    counters[Counter.INSNS] = sched.dispatched
    layer_cycles: dict[str, int] = {}
    prev_end = 0
    for ly in program.manifest.get("layers", []):
        ends = [tm.end[pos[i]] for i in range(ly["insn_start"], ly["insn_end"]) if i in pos]
        e_l = max([prev_end, *ends])
        layer_cycles[ly["name"]] = e_l - prev_end
        prev_end = e_l

    tensors = {t["name"]: program.read_tensor(mem, t["name"]) for t in program.manifest["tensors"]
               if t.get("check") or t["role"] == "output"}
    del m  # release the numpy views on mem so callers may resize it
    return SimResult(memory=mem, error=ErrorCode(err), error_index=err_idx, error_message=err_msg,
                     counters=counters, tensors=tensors, executed=len(order), layer_cycles=layer_cycles,
                     timing=tm, order=order, token_hazard=hazard)


def missing_finish(program: Program, result: SimResult | None = None) -> str | None:
    """Why ``program`` can never complete on the accelerator, or None: a stream without a FINISH
    word whose instructions all execute without an error leaves the RTL waiting for more and never
    raises ``done`` (docs/isa.md, FINISH), so every entry point reports it instead of running into a
    watchdog.  A Program that ends in an error first (a deadlock on a full FIFO needs no FINISH) is
    fine.  ``result``: the golden run of the whole stream when the caller already has it."""
    if any(opcode_bits(w) == Opcode.FINISH for w in program.insns):
        return None
    res = result if result is not None else simulate(program)
    if not res.ok:
        return None
    return (f"no FINISH instruction: all {len(program.insns)} instructions execute without an error and"
            " the stream ends, so the accelerator never raises done (append FINISH)")


def quantize(x: np.ndarray, scale: float, dtype: str) -> np.ndarray:
    """Float -> integer: round half away from zero of x/scale, saturated to dtype."""
    v = np.asarray(x, dtype=np.float64) / scale
    r = np.sign(v) * np.floor(np.abs(v) + 0.5)
    info = np.iinfo(np.int8 if dtype == "int8" else np.int32)
    return np.clip(r, info.min, info.max).astype(np.int8 if dtype == "int8" else np.int32)


def run_program(program: Program, inputs: tuple[torch.Tensor, ...] | list[Any]) -> tuple[torch.Tensor, ...]:
    """Run a compiled model like a function: float tensors in, dequantised float tensors out.

    Each input is quantised with its manifest scale and written at its address; outputs are read in
    manifest ``outputs`` order and multiplied by their scale.  Any error code raises RuntimeError.
    """
    import torch

    names = program.manifest["inputs"]
    if len(inputs) != len(names):
        raise ValueError(f"program {program.manifest['name']!r} takes {len(names)} inputs {names}, "
                         f"got {len(inputs)}")
    mem = bytearray(program.memory)
    for name, x in zip(names, inputs, strict=True):
        t = program.tensor(name)
        a = x.detach().cpu().to(torch.float64).numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if tuple(a.shape) != tuple(t["shape"]):
            raise ValueError(f"input {name!r}: shape {tuple(a.shape)} != manifest shape {tuple(t['shape'])}")
        program.write_tensor(mem, name, quantize(a, float(t["scale"]), t["dtype"]))
    res = simulate(program, mem)
    if not res.ok:
        raise RuntimeError(f"program {program.manifest['name']!r} failed: {res.error.name} at instruction"
                           f" {res.error_index}: {res.error_message}")
    outs = []
    for name in program.manifest["outputs"]:
        t = program.tensor(name)
        v = program.read_tensor(res.memory, name).astype(np.float32) * np.float32(t["scale"])
        outs.append(torch.from_numpy(np.ascontiguousarray(v)))
    return tuple(outs)
