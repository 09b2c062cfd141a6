"""Analytic timing model of the NMX engines (cost model documented in docs/golden_sim.md).

It is deliberately separate from the functional simulator: it takes the decoded instructions the
dispatcher accepted (program order) and puts time stamps on the three engines, honouring the
dispatcher's one-instruction-per-cycle intake, the FIFO depth and the dependency tokens.  Which
instruction waits for which (FIFO entries, token pairs) is ``golden.schedule``'s: the model walks
its ``golden`` event order, in which every predecessor of an event comes before it, so each time
stamp is computed once from time stamps already known.  The
result feeds every performance counter of :class:`golden.isa.Counter`: DMA byte counts, INSNS,
MAC_CYCLES, GEMM_ROWS and the buffer accesses (:func:`sram_accesses`) are exact (they do not depend
on timing); CYCLES and the stall counters are estimates to be cross-checked against the RTL, so the
constants live in :class:`TimingParams`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from golden.isa import Buffer, Counter, DecodeError, HwConfig, Insn, Opcode, Queue
from golden.schedule import Event, Scheduler, Step, drains

MEM_PROFILES: dict[str, dict[str, float]] = {
    "fast": {"rd_latency": 2, "wr_latency": 2, "bw_bytes": 0, "backpressure": 0.0},
    "nominal": {"rd_latency": 20, "wr_latency": 20, "bw_bytes": 0, "backpressure": 0.0},
    "stress": {"rd_latency": 30, "wr_latency": 10, "bw_bytes": 0, "backpressure": 0.3},
    "dram": {"rd_latency": 100, "wr_latency": 100, "bw_bytes": 8, "backpressure": 0.0},
}
"""Named external-memory profiles, one table for the testbench's AXI memory model
(``tb/hdl/nmx_axi_mem.sv`` via ``tb.env.cfg.RunKnobs.profile``) and this model
(:meth:`TimingParams.profile`): read / write latency in cycles, bandwidth in bytes per cycle and
direction (0: one full bus beat per cycle, i.e. 16 B at 128 bits) and the per-channel stall
probability (testbench only).  "dram" is DRAM-like: 100 cycles to the first read beat and half the
bus's bandwidth; every utilisation or speed figure names the profile it was measured with."""


LD_MIN_ISSUE = 2
"""Cycles the LD engine's issue path spends on a LOAD at least (command register hand-over; measured
on the RTL: 512 one-row LOADs take 1,052 cycles)."""


@dataclass(frozen=True)
class TimingParams:
    """Latency constants of the model (cycles)."""

    rd_latency: int = 20
    """AXI read latency: address accepted to first data beat of each burst."""
    wr_latency: int = 20
    """Last write beat to last write response of a STORE."""
    ppu_latency: int = 4
    """PPU pipeline depth: first ACC row read to first PPU result."""
    bw_bytes: int = 0
    """Memory bandwidth per direction in bytes per cycle (0: one bus beat per cycle)."""
    rd_outstanding: int = 32
    """Read bursts the LD engine keeps in flight (nmx_load_engine RD_OUTSTANDING)."""
    wr_outstanding: int = 16
    """Write bursts the ST engine keeps between AW and B (nmx_store_engine OUTSTANDING)."""

    @classmethod
    def profile(cls, name: str) -> TimingParams:
        """The parameters of a named memory profile (:data:`MEM_PROFILES`)."""
        if name not in MEM_PROFILES:
            raise ValueError(f"unknown memory profile {name!r} (known: {', '.join(MEM_PROFILES)})")
        p = MEM_PROFILES[name]
        return cls(rd_latency=int(p["rd_latency"]), wr_latency=int(p["wr_latency"]),
                   bw_bytes=int(p["bw_bytes"]))


@dataclass
class Timing:
    """Counters and per-instruction times (indexed like the input list)."""

    counters: dict[Counter, int]
    dispatch: list[int]
    start: list[int]
    end: list[int]
    scheduled: int
    """How many instructions could be scheduled (fewer than given only if tokens never arrive)."""
    cycles: int = 0
    busy: dict[Queue, int] = field(default_factory=dict)


def _xfer_beats(addr: int, x_size: int, x_stride: int, y_size: int, y_stride: int, E: int,
                bus: int) -> tuple[int, int]:
    """(bus beats, AXI bursts) of a 2-D strided transfer, as the DMA engines cut it: one segment
    per row when the row is contiguous (else one per element), bursts split at 4 KiB pages."""
    if x_stride == E or x_size == 1:
        row = x_size * E
        beats = _row_beats(addr, y_size, y_stride, row, bus)
        # a row is cut at every 4 KiB page (256 beats of 16 B never exceed one page)
        per_row = 1 + (row - 1 + addr % 4096) // 4096 if y_size == 1 else -(-row // 4096)
        return beats, max(1, y_size * per_row)
    n = y_size * x_size
    return n, max(1, n)


def _row_beats(addr: int, y_size: int, y_stride: int, row_bytes: int, bus: int) -> int:
    """Bus beats of y_size contiguous rows of row_bytes each (misalignment counted per row)."""
    if y_stride % bus == 0 or y_size == 1:
        return y_size * ((addr % bus + row_bytes + bus - 1) // bus)
    total = 0
    for y in range(y_size):
        a = (addr + y * y_stride) & 0xFFFFFFFF
        total += (a % bus + row_bytes + bus - 1) // bus
    return total


_LOAD_WR = {Buffer.INP: Counter.INP_WR, Buffer.WGT: Counter.WGT_WR, Buffer.VEC: Counter.VEC_WR,
            Buffer.ROW: Counter.ROW_WR}


def sram_accesses(ins: Insn, hw: HwConfig) -> dict[Counter, int]:
    """Buffer SRAM word accesses of one instruction, as the RTL engines make them (exact).

    The ``<BUF>_RD`` / ``<BUF>_WR`` counters of :class:`golden.isa.Counter` (one word = one buffer
    row at full width): the LD engine writes one row per LOAD row; the CMP engine reads the ROWS WGT
    rows of the tile once (preload), streams ``m`` INP rows and writes ``m`` ACC rows, reading each
    first when accumulating (the read is issued even when the engine forwards a row it just wrote);
    the ST engine reads one ACC row and one ROW entry per STORE row (ROW whether or not ``row_en``),
    and a PPUCFG reads only the VEC rows of its enabled parts.  Only counters that move are keys.
    """
    f = ins.fields
    op = ins.opcode
    if op in (Opcode.LOAD, Opcode.GATHER):
        return {_LOAD_WR[Buffer(f["buf_sel"])]: f["y_size"]}
    if op == Opcode.GEMM:
        m = f["m"]
        out = {Counter.WGT_RD: hw.rows, Counter.INP_RD: m, Counter.ACC_WR: m}
        if f["accumulate"]:
            out[Counter.ACC_GEMM_RD] = m
        return out
    if op == Opcode.STORE:
        return {Counter.ACC_STORE_RD: f["y_size"], Counter.ROW_RD: f["y_size"]}
    if op == Opcode.PPUCFG:
        rows = f["bias_en"] + 2 * f["requant_en"] + f["pwl_en"] * hw.pwl_rows
        return {Counter.VEC_RD: rows} if rows else {}
    return {}


def dma_bytes(ins: Insn, hw: HwConfig, out_int32: bool) -> tuple[int, int]:
    """(read, write) payload bytes of one instruction on the AXI port (exact, DMA_RD/WR_BYTES).

    LOAD reads ``y_size*x_size`` elements; GATHER also its ``y_size`` int32 indices; STORE writes
    ``y_size*x_size`` elements of the size the last PPUCFG set (``out_int32``)."""
    f, op = ins.fields, ins.opcode
    if op == Opcode.LOAD:
        return f["y_size"] * f["x_size"] * hw.elem_bytes(Buffer(f["buf_sel"])), 0
    if op == Opcode.GATHER:
        return f["y_size"] * (f["x_size"] * hw.elem_bytes(Buffer(f["buf_sel"])) + 4), 0
    if op == Opcode.STORE:
        return 0, f["y_size"] * f["x_size"] * (4 if out_int32 else 1)
    return 0, 0


def estimate(insns: Sequence[Insn], hw: HwConfig, params: TimingParams | None = None) -> Timing:
    """Schedule ``insns`` (the accepted prefix of a stream, program order, FINISH included).

    Like the dispatcher, the model stops at a FINISH: instructions after one are never dispatched.
    """
    return estimate_along(insns, hw, Scheduler(insns, depth=hw.queue_depth).events(), params)


def estimate_along(insns: Sequence[Insn | DecodeError], hw: HwConfig, events: Iterable[Event],
                   params: TimingParams | None = None) -> Timing:
    """:func:`estimate` along ``events``: those of a ``golden.schedule.Scheduler`` over ``insns``
    with ``depth=hw.queue_depth``, any policy.

    Every time stamp depends only on its predecessors (dispatch order, FIFO order, token pairs), all
    of which come earlier in any legal order, so the result does not depend on the policy.  This
    lets the simulator drive the functional machine and this model from one event stream.
    """
    p = params or TimingParams()
    n = len(insns)
    bus = hw.axi_data_bits // 8
    D = hw.queue_depth
    counters = dict.fromkeys(Counter, 0)
    counters[Counter.INSNS] = n
    disp = [-1] * n
    start = [-1] * n
    end = [-1] * n

    qlist: dict[Queue, list[int]] = {q: [] for q in Queue}  # dispatched instructions per queue
    free = dict.fromkeys(Queue, 0)  # engine fully idle from this time
    busy = dict.fromkeys(Queue, 0)
    cmp_stream_free = 0  # array can accept the next input stream
    cmp_stream_start = -(1 << 60)
    cmp_stream_end2 = -(1 << 60)  # stream end of the command before the previous one
    bank_reuse = hw.rows + hw.cols - 1
    out_int32 = False
    last_disp = -1
    scheduled = 0
    rate = min(1.0, p.bw_bytes / bus) if p.bw_bytes > 0 else 1.0  # beats per cycle
    ld_issue_free = 0.0  # LD: AR issue path free for the next LOAD
    ld_data_free = 0.0  # LD: R channel delivered the previous LOAD's last beat
    st_w_free = 0.0  # ST: W channel sent the previous STORE's last beat
    end_prev = dict.fromkeys(Queue, 0)  # completions retire in order (LD, ST)
    stall_token = {Queue.LD: Counter.STALL_LD_TOKEN, Queue.CMP: Counter.STALL_CMP_TOKEN,
                   Queue.ST: Counter.STALL_ST_TOKEN}

    # Tokens never overflow here and a deadlock just leaves the rest unscheduled (start = -1).
    for step, i, q, pushers in events:
        if step == Step.DISPATCH:
            # one instruction per cycle; into a full FIFO only after the entry D places ahead started
            t = last_disp + 1
            if q is not None:
                ql = qlist[q]
                if len(ql) >= D:
                    pred = ql[len(ql) - D]
                    if start[pred] + 1 > t:
                        counters[Counter.STALL_DISPATCH] += start[pred] + 1 - t
                        t = start[pred] + 1
                ql.append(i)
            disp[i] = last_disp = t
            continue
        assert q is not None
        ins = insns[i]
        assert isinstance(ins, Insn)
        f = ins.fields
        token_ready = 0  # the paired pushes land at their pushers' ends
        for j in pushers:
            token_ready = max(token_ready, end[j])
        op = ins.opcode
        # GEMM: the preload unit takes the next command once the previous one streams (two
        # weight banks, docs/rtl_compute.md)
        eng_free = max(0, cmp_stream_start) if op == Opcode.GEMM else free[q]
        ready = max(disp[i] + 1, eng_free)
        t0 = max(ready, token_ready)
        counters[stall_token[q]] += t0 - ready
        for c, k in sram_accesses(ins, hw).items():
            counters[c] += k
        if op == Opcode.LOAD:
            buf = Buffer(f["buf_sel"])
            E = hw.elem_bytes(buf)
            counters[Counter.DMA_RD_BYTES] += dma_bytes(ins, hw, out_int32)[0]
            beats, bursts = _xfer_beats(f["ext_addr"], f["x_size"], f["x_stride"], f["y_size"],
                                        f["y_stride"], E, bus)
            # AR issue path: one burst per cycle, at most rd_outstanding in flight; R beats in
            # order at the memory's rate; the LOAD completes with its last row's write.
            a0 = max(t0, ld_issue_free)
            per = beats / bursts
            thr = min(1.0, p.rd_outstanding / (p.rd_latency + 1 + per / rate))
            d_start = max(a0 + p.rd_latency + 1, ld_data_free)
            d_end = max(d_start + beats / rate, a0 + (bursts - 1) / thr + p.rd_latency + 1 + per / rate)
            counters[Counter.STALL_LD_MEM] += int(max(0.0, d_start - max(a0, ld_data_free)))
            ld_issue_free = a0 + max(LD_MIN_ISSUE, bursts / thr)
            busy[q] += int(max(0.0, d_end - max(a0, ld_data_free)))
            ld_data_free = d_end
            t1 = max(int(d_end + 0.999999) + 1, end_prev[q])
            free[q] = int(ld_issue_free + 0.999999)
        elif op == Opcode.GATHER:
            # per row: a one-beat index read, then (once the index is back) the row's bursts; the
            # next row's index read follows the row's last burst (docs/rtl_top.md, "GATHER")
            E = hw.elem_bytes(Buffer(f["buf_sel"]))
            y, row = f["y_size"], f["x_size"] * E
            counters[Counter.DMA_RD_BYTES] += dma_bytes(ins, hw, out_int32)[0]
            a0 = max(t0, ld_issue_free)
            row_beats = (row + bus - 1) // bus + (1 if row % bus else 0)  # rows may be unaligned
            per_row = p.rd_latency + 4 + max(1.0, 1 / rate)   # measured on the RTL: docs/performance.md
            d_start = max(a0 + per_row, ld_data_free)
            d_end = max(d_start + y * (row_beats + 1) / rate, a0 + y * per_row + row_beats / rate)
            counters[Counter.STALL_LD_MEM] += int(y * p.rd_latency)
            ld_issue_free = d_end - row_beats / rate
            busy[q] += int(max(0.0, d_end - max(a0, ld_data_free)))
            ld_data_free = d_end
            t1 = max(int(d_end + 0.999999) + 1, end_prev[q])
            free[q] = int(ld_issue_free + 0.999999)
        elif op == Opcode.GEMM:
            m = f["m"]
            counters[Counter.MAC_CYCLES] += m
            counters[Counter.GEMM_ROWS] += m
            # Preload (ROWS cycles) overlaps the previous command's stream: two weight banks,
            # alternating per command; a bank is reloaded only once the last row of the command
            # before the previous one has left the array (bank reuse rule, docs/rtl_compute.md:
            # ROWS + COLS - 2 cycles after its last row), so short commands (m below about
            # 2*ROWS + COLS) cannot stream back to back.
            s0 = max(cmp_stream_free, t0 + hw.rows, cmp_stream_end2 + bank_reuse + hw.rows)
            cmp_stream_end2 = cmp_stream_free
            cmp_stream_start = s0
            cmp_stream_free = s0 + m
            t1 = s0 + m + hw.rows + hw.cols
            free[q] = max(free[q], t1)
            busy[q] += cmp_stream_free - t0
        elif op == Opcode.STORE:
            E = 4 if out_int32 else 1
            counters[Counter.DMA_WR_BYTES] += dma_bytes(ins, hw, out_int32)[1]
            beats, bursts = _xfer_beats(f["ext_addr"], f["x_size"], f["x_stride"], f["y_size"],
                                        f["y_stride"], E, bus)
            # front end reads one ACC row per cycle into the PPU; W beats follow at the memory's
            # rate, at most wr_outstanding bursts wait for their B; completion on the last B,
            # retired in acceptance order.
            per = beats / bursts
            thr = min(1.0, p.wr_outstanding / (p.wr_latency + 1 + per / rate))
            w_start = max(t0 + p.ppu_latency, st_w_free)
            w_end = max(w_start + beats / rate, t0 + p.ppu_latency + (bursts - 1) / thr + per / rate,
                        t0 + f["y_size"] + p.ppu_latency)
            st_w_free = w_end
            counters[Counter.STALL_ST_MEM] += p.wr_latency
            t1 = max(int(w_end + 0.999999) + p.wr_latency, end_prev[q])
            free[q] = max(t0 + f["y_size"], int(w_end + 0.999999) - p.ppu_latency)
            busy[q] += free[q] - t0
        elif op == Opcode.PPUCFG:
            out_int32 = bool(f["out_int32"])
            t1 = t0 + 1 + sram_accesses(ins, hw).get(Counter.VEC_RD, 0)  # one VEC row per cycle
            free[q] = t1
            busy[q] += t1 - t0
            t1 = max(t1, end_prev[q])
        else:  # SYNC
            assert drains(ins)  # waits until its engine is idle, so its push orders everything before it
            t0 = max(t0, free[q], end_prev[q])
            t1 = t0 + 1
            free[q] = t1
            busy[q] += 1
        if op != Opcode.GEMM:
            end_prev[q] = t1
        start[i], end[i] = t0, t1
        scheduled += 1
    for i in range(n):  # FINISH: done when its dispatch happened and every engine is idle
        if disp[i] >= 0 and insns[i].opcode == Opcode.FINISH:  # type: ignore[union-attr]
            start[i] = disp[i]
            end[i] = max([disp[i] + 1, *(e for e in end[:i] if e >= 0)])
            scheduled += 1
    cycles = max([0, *(e for e in end if e >= 0), *(d + 1 for d in disp if d >= 0)])
    counters[Counter.CYCLES] = cycles
    return Timing(counters, disp, start, end, scheduled, cycles, busy)
