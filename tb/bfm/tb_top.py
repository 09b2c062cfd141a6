"""Bus-functional layer of the NMX top-level testbench: the only Python code that touches pins.

:class:`NmxTb` wraps a ``tb/hdl/nmx_tb_top.sv`` instance (cocotb ``dut``):

* clock and reset;
* memory-model configuration (:class:`MemConfig`: mem_size, latencies, back-pressure
  probabilities, seed, SLVERR windows);
* the backdoor: whole-memory preload / readout and instruction-memory load through hex files
  ($readmemh / $writememh executed inside the simulator), transfer-log open/close;
* instruction feeding, either from Python pin by pin (:meth:`NmxTb.send`, two wakeups per
  instruction, none per stalled cycle), in blocks with idle gaps (:meth:`NmxTb.send_block`, the
  pyuvm driver's feed: one wakeup per block of 32) or by the built-in streamer (:meth:`NmxTb.stream`, zero
  wakeups per instruction; :class:`StreamFeed` refills its ring in chunks, one wakeup per chunk,
  so a Program of any length streams);
* status and counters (:meth:`NmxTb.status`, :meth:`NmxTb.read_counters`), and
  :meth:`NmxTb.wait_done` with a watchdog in clock cycles.

Nothing here waits per clock cycle in the common path. See docs/rtl_top.md.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, First, ReadOnly, RisingEdge, Timer

from golden.isa import SV_COUNTER_BITS, Counter, ErrorCode, HwConfig
from tb.bfm import memfile
from tb.top import IMEM_DEPTH

NUM_WIN = 4
"""SLVERR injection windows of the memory model (tb top parameter NUM_WIN)."""
FILE_CHARS = 256
"""Longest backdoor file path (tb top parameter FILE_CHARS)."""

BLOCK_WORDS = 32
"""Instructions per block of the block feed (tb top localparam PB)."""

BD_LOAD, BD_DUMP, BD_LOG_OPEN, BD_LOG_CLOSE = 1, 2, 3, 4
BD_ACT_START, BD_ACT_STOP = 5, 6
"""Activity capture of the power build (nmx_tb_top.sv, "activity windows")."""
_uid = itertools.count()


def _prob(p: float) -> int:
    """Probability 0..1 -> the model's 8-bit threshold (stall when rand8 < threshold)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} outside 0..1")
    return min(255, round(p * 256))


@dataclass
class MemConfig:
    """Memory-model knobs, applied by :meth:`NmxTb.configure` (static during a run)."""

    mem_size: int
    rd_latency: int = 2
    wr_latency: int = 2
    bw_bytes: int = 0
    """Bytes per cycle per direction (0: one beat per cycle)."""
    p_ar: float = 0.0
    p_r: float = 0.0
    p_aw: float = 0.0
    p_w: float = 0.0
    p_b: float = 0.0
    seed: int = 1
    slverr: list[tuple[int, int]] = field(default_factory=list)
    """Half-open byte ranges [lo, hi) answering SLVERR (at most NUM_WIN)."""

    @classmethod
    def backpressure(cls, mem_size: int, p: float, seed: int = 1, **kw) -> MemConfig:
        """The same stall probability on every channel."""
        return cls(mem_size=mem_size, p_ar=p, p_r=p, p_aw=p, p_w=p, p_b=p, seed=seed, **kw)


@dataclass(frozen=True)
class Status:
    done: bool
    error: bool
    error_code: ErrorCode
    error_index: int
    busy: bool


class NmxTb:
    """Pin-level access to ``nmx_tb_top``; ``hw`` must match the build parameters."""

    def __init__(self, dut, hw: HwConfig, workdir: str | pathlib.Path, clock_period_ns: int = 10,
                 imem_depth: int = IMEM_DEPTH) -> None:
        self.dut = dut
        self.hw = hw
        self.imem_depth = imem_depth
        """Slots of the streamer's instruction memory (tb top parameter IMEM_DEPTH)."""
        self.bus_bytes = hw.axi_data_bits // 8
        self.period_ns = clock_period_ns
        self.workdir = pathlib.Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._bd_seq = 0
        self._im_seq = 0
        self._clock: Clock | None = None
        self._src = -1
        """Last value written to insn_src (-1: unknown)."""
        self._pb_seq = 0

    # ------------------------------------------------------------------ clock, reset, config
    async def start(self) -> None:
        """Start the clock and drive every input to its idle value."""
        d = self.dut
        if self._clock is None:
            self._clock = Clock(d.clk, self.period_ns, unit="ns")
            self._clock.start()
        d.rst_n.value = 0
        d.insn_src.value = self._src = 0
        d.py_insn_valid.value = 0
        d.py_insn_data.value = 0
        d.pb_data.value = 0
        d.pb_gaps.value = 0
        d.pb_n.value = 0
        d.pb_seq.value = self._pb_seq
        d.im_seq.value = self._im_seq
        d.im_count.value = 0
        d.im_base.value = 0
        d.im_mask.value = self.imem_depth - 1
        d.im_wake.value = 0
        d.im_go.value = 0
        d.cnt_sel.value = 0
        d.bd_seq.value = self._bd_seq
        d.bd_cmd.value = 0
        d.bd_words.value = 0
        d.bd_file.value = 0
        self.configure(MemConfig(mem_size=0))
        await RisingEdge(d.clk)

    def configure(self, cfg: MemConfig) -> None:
        """Apply memory-model knobs; takes effect at the next reset for the seed."""
        d = self.dut
        if len(cfg.slverr) > NUM_WIN:
            raise ValueError(f"at most {NUM_WIN} SLVERR windows")
        d.mem_size.value = cfg.mem_size
        d.rd_latency.value = cfg.rd_latency
        d.wr_latency.value = cfg.wr_latency
        d.bw_bytes.value = cfg.bw_bytes
        d.p_ar.value = _prob(cfg.p_ar)
        d.p_r.value = _prob(cfg.p_r)
        d.p_aw.value = _prob(cfg.p_aw)
        d.p_w.value = _prob(cfg.p_w)
        d.p_b.value = _prob(cfg.p_b)
        d.seed.value = cfg.seed & 0xFFFFFFFF
        lo = hi = 0
        for i, (a, b) in enumerate(cfg.slverr):
            lo |= (a & 0xFFFFFFFF) << (32 * i)
            hi |= (min(b, 0xFFFFFFFF) & 0xFFFFFFFF) << (32 * i)
        d.err_lo.value = lo
        d.err_hi.value = hi

    async def reset(self, cycles: int = 4) -> None:
        """Synchronous active-low reset of the DUT and the memory model (not the memory array)."""
        d = self.dut
        d.rst_n.value = 0
        d.im_go.value = 0
        d.py_insn_valid.value = 0
        for _ in range(cycles):
            await RisingEdge(d.clk)
        d.rst_n.value = 1
        await RisingEdge(d.clk)

    @property
    def cycle(self) -> int:
        """Clock cycles since the last reset (memory model's counter)."""
        return int(self.dut.cycle.value)

    # ------------------------------------------------------------------ backdoor
    def _set_file(self, path: pathlib.Path) -> None:
        s = str(path).encode()
        if len(s) > FILE_CHARS:
            raise ValueError(f"backdoor path longer than {FILE_CHARS} characters: {path}")
        self.dut.bd_file.value = int.from_bytes(s, "big")

    async def _backdoor(self, cmd: int, path: pathlib.Path, words: int = 0) -> None:
        d = self.dut
        self._set_file(path)
        d.bd_cmd.value = cmd
        d.bd_words.value = words
        self._bd_seq = (self._bd_seq + 1) & 0xFF
        d.bd_seq.value = self._bd_seq
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if int(d.bd_ack.value) == self._bd_seq:
                break
        await FallingEdge(d.clk)

    def _tmp(self, stem: str) -> pathlib.Path:
        return self.workdir / f"{stem}_{next(_uid)}.hex"

    async def mem_write_image(self, data: bytes | bytearray, keep_file: bool = False) -> None:
        """Preload external memory bytes [0, len(data)) (rounded up to whole bus words)."""
        path = self._tmp("mem_in")
        words = memfile.write_image(path, data, self.bus_bytes)  # streamed: no whole-image text
        await self._backdoor(BD_LOAD, path, words)
        if not keep_file:
            path.unlink()

    async def mem_read_image(self, nbytes: int, keep_file: bool = False) -> bytearray:
        """Read external memory bytes [0, nbytes)."""
        path = self._tmp("mem_out")
        words = memfile.words_of(nbytes, self.bus_bytes)
        await self._backdoor(BD_DUMP, path, words)
        data = memfile.read_image(path, self.bus_bytes, words, nbytes)
        if not keep_file:
            path.unlink()
        return data

    async def log_open(self, path: str | pathlib.Path) -> None:
        """Start writing the transfer log (tb.bfm.translog) to ``path``."""
        await self._backdoor(BD_LOG_OPEN, pathlib.Path(path).resolve())

    async def log_close(self) -> None:
        await self._backdoor(BD_LOG_CLOSE, self.workdir / "none")

    async def activity_start(self, folder: str | pathlib.Path, period: int) -> None:
        """Arm the activity capture of a power build: SAIF windows into ``folder``.

        ``folder`` holds ``bounds.hex`` (tb.power.capture.prepare); ``period`` is the cycles per
        time-series window (0: cut at layer boundaries only).
        """
        if not 0 <= period < 1 << 32:
            raise ValueError(f"activity window period {period} is not a 32-bit cycle count")
        await self._backdoor(BD_ACT_START, pathlib.Path(folder).resolve(), period)

    async def activity_stop(self) -> None:
        """Close the last activity window (its SAIF and ``windows.tsv`` are complete afterwards)."""
        await self._backdoor(BD_ACT_STOP, self.workdir / "none")
        await FallingEdge(self.dut.clk)  # the window closes 1 ns after the falling edge after the command
        await Timer(2, unit="ns")

    async def imem_load(self, words: Sequence[int]) -> None:
        """Load a whole instruction stream into the streamer (then :meth:`stream` runs it); longer
        streams than the instruction memory go through :class:`StreamFeed`."""
        if len(words) > self.imem_depth:
            raise ValueError(f"imem_load: {len(words)} instructions exceed the streamer's {self.imem_depth};"
                             " use StreamFeed (refilled in chunks)")
        self.dut.im_mask.value = self.imem_depth - 1
        self.dut.im_wake.value = 0
        await self.imem_load_chunk(words, 0, len(words))

    async def imem_load_chunk(self, words: Sequence[int], start: int, count: int) -> None:
        """Load ``words[start:start+count]`` as program indices ``start``.. into their ring slots.

        The caller keeps the chunk inside one turn of the ring and off slots not yet streamed.
        """
        d = self.dut
        path = self._tmp("imem")
        n = memfile.write_insns(path, words, start, count)
        self._set_file(path)
        d.im_base.value = start
        d.im_count.value = n
        self._im_seq = (self._im_seq + 1) & 0xFF
        d.im_seq.value = self._im_seq
        while True:
            await RisingEdge(d.clk)
            await ReadOnly()
            if int(d.im_ack.value) == self._im_seq:
                break
        await FallingEdge(d.clk)
        path.unlink()

    # ------------------------------------------------------------------ instruction feeding
    def stream(self) -> None:
        """Let the built-in streamer feed the loaded instruction memory (no Python wakeups)."""
        self.dut.insn_src.value = self._src = 1
        self.dut.im_go.value = 1

    async def send(self, word: int) -> bool:
        """Drive one instruction on the port until it is accepted; False if done rose first.

        Leaves ``insn_valid`` high (the next :meth:`send` follows without a bubble); call
        :meth:`idle` after the last instruction.
        """
        d = self.dut
        if self._src != 0:  # one write per run, not per instruction
            d.insn_src.value = self._src = 0
        d.py_insn_data.value = word
        d.py_insn_valid.value = 1
        while True:
            await ReadOnly()
            if int(d.done.value):
                await FallingEdge(d.clk)    # leave the ReadOnly phase: the caller may write
                return False
            if int(d.insn_ready.value):
                await RisingEdge(d.clk)
                return True
            # wait for a change instead of polling every cycle: insn_wake = insn_ready | done, so
            # its rising edge is the first rising edge of either (both are low here), one trigger
            # instead of First(...) of two
            await RisingEdge(d.insn_wake)

    async def send_block(self, words: Sequence[int], gaps: Sequence[int]) -> tuple[int, bool]:
        """Offer a block through the block feed (``words[j]`` after ``gaps[j]`` idle cycles, each
        held until taken); returns (words taken, done rose).  One wakeup per block.

        Call it in the time step of the previous block's last accept (as :meth:`send_block`
        returns) or on the following falling edge: the feed then continues without a bubble.
        """
        d = self.dut
        n = len(words)
        if not 0 < n <= BLOCK_WORDS or len(gaps) != n:
            raise ValueError(
                f"send_block: {n} words with {len(gaps)} gaps (1..{BLOCK_WORDS} words, one gap each)"
            )
        if any(not 0 <= g <= 255 for g in gaps):
            raise ValueError(f"send_block: idle gaps must be 0..255 cycles, got {max(gaps)}")
        data = 0
        for w in reversed(words):
            data = (data << 128) | w
        gap_bits = int.from_bytes(bytes(gaps), "little")
        if self._src != 2:
            d.insn_src.value = self._src = 2
        d.pb_data.value = data
        d.pb_gaps.value = gap_bits
        d.pb_n.value = n
        self._pb_seq = (self._pb_seq + 1) & 0xFF
        d.pb_seq.value = self._pb_seq
        await ReadOnly()
        while not int(d.pb_wake.value):
            await RisingEdge(d.pb_wake)
            await ReadOnly()
        taken, done = int(d.pb_taken.value), bool(int(d.done.value))
        await FallingEdge(d.clk)  # leave the ReadOnly phase: the next block is written here
        return min(taken, n), done

    def block_taken(self) -> int:
        """Words of the block in the feed taken so far."""
        return int(self.dut.pb_taken.value)

    def block_idle(self) -> None:
        """Withdraw the block in the feed (nothing more is offered until the next block)."""
        self.dut.pb_n.value = 0

    async def send_all(self, words: list[int]) -> int:
        """Feed a stream pin by pin; returns how many instructions were accepted."""
        n = 0
        for w in words:
            if not await self.send(w):
                break
            n += 1
        self.idle()
        return n

    def idle(self) -> None:
        self.dut.py_insn_valid.value = 0

    # ------------------------------------------------------------------ status
    async def wait_done(self, watchdog_cycles: int) -> bool:
        """Wait for done; False if the watchdog (in clock cycles) expired first."""
        d = self.dut
        if int(d.done.value):
            return True
        t = await First(RisingEdge(d.done), Timer(watchdog_cycles * self.period_ns, unit="ns"))
        return isinstance(t, RisingEdge) or bool(int(d.done.value))

    def status(self) -> Status:
        d = self.dut
        return Status(done=bool(int(d.done.value)), error=bool(int(d.error.value)),
                      error_code=ErrorCode(int(d.error_code.value)),
                      error_index=int(d.error_index.value), busy=bool(int(d.busy.value)))

    async def read_counters(self) -> dict[Counter, int]:
        """All performance counters through the cnt_sel/cnt_value status port."""
        d = self.dut
        out: dict[Counter, int] = {}
        for c in Counter:
            d.cnt_sel.value = int(c)
            await FallingEdge(d.clk)
            out[c] = int(d.cnt_value.value)
        unused = (1 << SV_COUNTER_BITS) - 1
        if unused >= len(Counter):  # rtl/nmx_top.sv: "0 for unused selects" (that arm is code-covered too)
            d.cnt_sel.value = unused
            await FallingEdge(d.clk)
            if int(d.cnt_value.value) != 0:
                raise AssertionError(f"cnt_value of the unused counter select {unused} is"
                                     f" {int(d.cnt_value.value)}, not 0")
        return out

    def bus_stats(self) -> dict[str, int]:
        d = self.dut
        return {"proto_errors": int(d.proto_errors.value), "rd_bursts": int(d.rd_bursts.value),
                "wr_bursts": int(d.wr_bursts.value)}

    def mem_queues(self) -> dict[str, int]:
        """Memory-model occupancy (hang diagnosis): read bursts accepted and not fully answered,
        write bursts without all W beats, buffered W beats, pending B responses."""
        d = self.dut
        return {"rd": int(d.mem_q_rd.value), "wr": int(d.mem_q_wr.value),
                "wbeats": int(d.mem_q_wbeats.value), "b": int(d.mem_q_b.value)}


class StreamFeed:
    """Feeds a Program of any length through the streamer's ring of instruction slots.

    :meth:`begin` loads the first ``ring`` instructions and starts the streamer; :meth:`refill`
    (run as a task) then waits - one wakeup per chunk, on ``im_room`` - until the streamer has
    passed the slots of the next chunk, loads it, and repeats until the whole Program is loaded,
    ``done`` rose (an error halted the machine) or :meth:`stop` was called.  A refill is never
    left half done: callers stop it and await it before using the backdoor for anything else
    (the file name port is shared).
    """

    def __init__(self, tb: NmxTb, words: Sequence[int], *, ring: int | None = None,
                 chunk: int | None = None) -> None:
        self.tb = tb
        self.words = words
        self.ring = ring or tb.imem_depth
        if self.ring & (self.ring - 1) or not 0 < self.ring <= tb.imem_depth:
            raise ValueError(f"StreamFeed: ring {self.ring} must be a power of two <= {tb.imem_depth}")
        self.chunk = max(1, min(chunk or self.ring // 2, self.ring))
        self.loaded = 0
        self.loads = 0
        self._stop = Event()

    async def begin(self) -> None:
        d = self.tb.dut
        d.im_mask.value = self.ring - 1
        d.im_wake.value = 0
        first = min(len(self.words), self.ring)
        await self.tb.imem_load_chunk(self.words, 0, first)
        self.loaded, self.loads = first, 1
        self.tb.stream()

    def stop(self) -> None:
        self._stop.set()

    async def refill(self) -> None:
        d = self.tb.dut
        n = len(self.words)
        while self.loaded < n and not self._stop.is_set():
            size = min(self.chunk, n - self.loaded, self.ring - self.loaded % self.ring)
            d.im_wake.value = max(0, self.loaded + size - self.ring)  # those slots are streamed
            await FallingEdge(d.clk)
            await ReadOnly()
            while not int(d.im_room.value) and not int(d.done.value) and not self._stop.is_set():
                await First(RisingEdge(d.im_room), RisingEdge(d.done), self._stop.wait())
                await ReadOnly()
            halted = bool(int(d.done.value))  # the machine stopped: nothing more is taken
            await FallingEdge(d.clk)
            if halted or self._stop.is_set():
                return
            await self.tb.imem_load_chunk(self.words, self.loaded, size)
            self.loaded += size
            self.loads += 1
