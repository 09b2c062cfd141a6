"""A minimal AXI4 write slave for block tests: AW/W/B channels into a byte-array memory.

* random ``awready`` / ``wready`` / B-response back-pressure (probabilities per cycle);
* W beats may arrive before their AW (AXI allows it): beats are queued and matched to AWs in order;
* byte strobes applied per beat; a burst is committed to memory when its last beat and its AW are
  both in, so memory changes in AW order;
* B responses in order (single ID): OKAY, or DECERR when any strobed byte of the burst is at or
  beyond ``mem_size`` or inside an address range registered with :meth:`add_error_range` (then the
  whole burst is dropped, as the ISA leaves memory unspecified after an error), or SLVERR for
  bursts matching ``slverr_fn``;
* protocol checks (raise AssertionError): AW/W/B valid/payload stable until accepted, INCR bursts
  of full-width beats aligned to the bus, at most 256 beats, no 4 KiB crossing, WLAST exactly on
  the last beat, no B response the master was not owed.

Drive/sample discipline: outputs of the slave are driven just after the falling edge, the master's
signals are sampled in the ReadOnly phase of the same cycle, so every handshake is seen exactly as
the RTL sees it at the next rising edge.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

AXI_OKAY, AXI_SLVERR, AXI_DECERR = 0, 2, 3
PAGE = 4096


@dataclass
class Burst:
    addr: int
    len: int            # beats
    size: int           # bytes per beat
    beats: list[tuple[int, int, int]] = field(default_factory=list)  # (data, strb, last)


class AxiWriteSink:
    def __init__(self, dut, clk, *, data_bits: int, mem_size: int, prefix: str = "m_axi_",
                 rng: random.Random | None = None, aw_prob: float = 1.0, w_prob: float = 1.0,
                 b_prob: float = 1.0, b_delay: int = 0, fill: int = 0) -> None:
        self.dut, self.clk, self.p = dut, clk, prefix
        self.data_bits = data_bits
        self.bus_bytes = data_bits // 8
        self.mem_size = mem_size
        self.mem = bytearray([fill & 0xFF]) * mem_size
        self.rng = rng or random.Random(1)
        self.aw_prob, self.w_prob, self.b_prob, self.b_delay = aw_prob, w_prob, b_prob, b_delay
        self.error_ranges: list[tuple[int, int]] = []
        self.slverr_fn: Callable[[Burst], bool] | None = None
        self.aws: deque[Burst] = deque()          # accepted AWs waiting for their W beats
        self.wbeats: deque[tuple[int, int, int]] = deque()   # W beats not yet matched to an AW
        self.bq: deque[list[int]] = deque()       # [resp, ready_cycle]
        self.b_cur: int | None = None             # response currently driven (held until bready)
        self.cycle = 0
        self.aw_count = self.w_count = self.b_count = 0
        self.acked_bytes = 0                      # strobed bytes of bursts whose B was delivered
        self.strobed_bytes = 0
        self.write_log: list[tuple[int, bytes]] = []   # (first byte address, bytes) per strobed run
        self._pending_bytes: deque[int] = deque()  # strobed bytes per burst awaiting B
        self._aw_hold = None
        self._w_hold = None
        self._running = False

    # -------------------------------------------------------------- configuration
    def add_error_range(self, lo: int, hi: int) -> None:
        """Bytes in [lo, hi) answer DECERR."""
        self.error_ranges.append((lo, hi))

    def sig(self, name: str):
        return getattr(self.dut, self.p + name)

    def start(self) -> None:
        self.sig("awready").value = 0
        self.sig("wready").value = 0
        self.sig("bvalid").value = 0
        self.sig("bresp").value = 0
        self.sig("bid").value = 0
        self._running = True
        cocotb.start_soon(self._run())

    def stop(self) -> None:
        self._running = False

    # -------------------------------------------------------------- state for watchdogs
    def pending(self) -> str:
        return (f"sink: {len(self.aws)} AW(s) waiting for W, {len(self.wbeats)} W beat(s) without AW, "
                f"{len(self.bq) + (self.b_cur is not None)} B response(s) not yet accepted")

    def quiet(self) -> bool:
        return not self.aws and not self.wbeats and not self.bq and self.b_cur is None

    # -------------------------------------------------------------- main loop
    async def _run(self) -> None:
        awready = self.sig("awready")
        wready = self.sig("wready")
        bvalid, bresp = self.sig("bvalid"), self.sig("bresp")
        awvalid, awaddr, awlen = self.sig("awvalid"), self.sig("awaddr"), self.sig("awlen")
        awsize, awburst = self.sig("awsize"), self.sig("awburst")
        wvalid, wdata = self.sig("wvalid"), self.sig("wdata")
        wstrb, wlast = self.sig("wstrb"), self.sig("wlast")
        bready = self.sig("bready")
        while self._running:
            await FallingEdge(self.clk)
            self.cycle += 1
            ar = self.rng.random() < self.aw_prob
            wr = self.rng.random() < self.w_prob
            awready.value = int(ar)
            wready.value = int(wr)
            b_due = bool(self.bq) and self.bq[0][1] <= self.cycle
            if self.b_cur is None and b_due and self.rng.random() < self.b_prob:
                self.b_cur = self.bq.popleft()[0]
            bvalid.value = int(self.b_cur is not None)
            bresp.value = self.b_cur or 0
            await ReadOnly()
            # ---- AW
            if bool(awvalid.value):
                aw = (awaddr.value.to_unsigned(), awlen.value.to_unsigned(), awsize.value.to_unsigned(),
                      awburst.value.to_unsigned())
                if self._aw_hold is not None:
                    assert aw == self._aw_hold, \
                        f"AW payload changed while waiting for awready: {self._aw_hold} -> {aw}"
                if ar:
                    self._accept_aw(*aw)
                    self._aw_hold = None
                else:
                    self._aw_hold = aw
            else:
                assert self._aw_hold is None, "awvalid dropped before awready"
            # ---- W
            if bool(wvalid.value):
                w = (wdata.value.to_unsigned(), wstrb.value.to_unsigned(), int(wlast.value))
                if self._w_hold is not None:
                    assert w == self._w_hold, "W payload changed while waiting for wready"
                if wr:
                    self.wbeats.append(w)
                    self.w_count += 1
                    self._w_hold = None
                else:
                    self._w_hold = w
            else:
                assert self._w_hold is None, "wvalid dropped before wready"
            # ---- B
            if self.b_cur is not None and bool(bready.value):
                self.b_cur = None
                self.b_count += 1
                self.acked_bytes += self._pending_bytes.popleft()
            self._match()

    def _accept_aw(self, addr: int, alen: int, size: int, burst: int) -> None:
        beats = alen + 1
        assert burst == 1, f"AWBURST {burst}: only INCR is used"
        assert (1 << size) == self.bus_bytes, f"AWSIZE {size}: beats must be full width ({self.bus_bytes} B)"
        assert addr % self.bus_bytes == 0, f"AWADDR {addr:#x} not aligned to the bus width"
        assert beats <= 256, f"burst of {beats} beats"
        assert addr // PAGE == (addr + beats * self.bus_bytes - 1) // PAGE, \
            f"burst {addr:#x}+{beats} beats crosses a 4 KiB boundary"
        self.aws.append(Burst(addr, beats, self.bus_bytes))
        self.aw_count += 1

    def _match(self) -> None:
        while self.aws and len(self.wbeats) >= self.aws[0].len:
            b = self.aws.popleft()
            b.beats = [self.wbeats.popleft() for _ in range(b.len)]
            for i, (_, _, last) in enumerate(b.beats):
                assert last == (i == b.len - 1), f"WLAST wrong on beat {i} of {b.len} (burst at {b.addr:#x})"
            self._commit(b)
        # beats beyond all known AWs must not carry a WLAST that contradicts anything: checked on match

    def _commit(self, b: Burst) -> None:
        writes = []
        for i, (data, strb, _) in enumerate(b.beats):
            base = b.addr + i * self.bus_bytes
            for k in range(self.bus_bytes):
                if (strb >> k) & 1:
                    writes.append((base + k, (data >> (8 * k)) & 0xFF))
        resp = AXI_OKAY
        for a, _ in writes:
            if a >= self.mem_size or any(lo <= a < hi for lo, hi in self.error_ranges):
                resp = AXI_DECERR
                break
        if resp == AXI_OKAY and self.slverr_fn is not None and self.slverr_fn(b):
            resp = AXI_SLVERR
        if resp == AXI_OKAY:
            for a, v in writes:
                self.mem[a] = v
            # log contiguous runs
            run_start, run = None, bytearray()
            for a, v in writes:
                if run_start is not None and a == run_start + len(run):
                    run.append(v)
                else:
                    if run_start is not None:
                        self.write_log.append((run_start, bytes(run)))
                    run_start, run = a, bytearray([v])
            if run_start is not None:
                self.write_log.append((run_start, bytes(run)))
        self.strobed_bytes += len(writes)
        self._pending_bytes.append(len(writes))
        self.bq.append([resp, self.cycle + self.b_delay])
