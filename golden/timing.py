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


@dataclass(frozen=True)
class TimingParams:
    """Latency constants of the model (cycles)."""

    rd_latency: int = 20
    """AXI read latency: address issue to first data beat; paid once per LOAD (rows are pipelined)."""
    wr_latency: int = 20
    """Last write beat to last write response of a STORE."""
    ppu_latency: int = 4
    """PPU pipeline depth: first ACC row read to first PPU result."""


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
    if op == Opcode.LOAD:
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
    out_int32 = False
    last_disp = -1
    scheduled = 0
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
        eng_free = cmp_stream_free if op == Opcode.GEMM else free[q]
        ready = max(disp[i] + 1, eng_free)
        t0 = max(ready, token_ready)
        counters[stall_token[q]] += t0 - ready
        for c, k in sram_accesses(ins, hw).items():
            counters[c] += k
        if op == Opcode.LOAD:
            buf = Buffer(f["buf_sel"])
            E = hw.elem_bytes(buf)
            counters[Counter.DMA_RD_BYTES] += f["y_size"] * f["x_size"] * E
            if f["x_stride"] == E or f["x_size"] == 1:
                beats = _row_beats(f["ext_addr"], f["y_size"], f["y_stride"], f["x_size"] * E, bus)
            else:
                beats = f["y_size"] * f["x_size"]
            t1 = t0 + p.rd_latency + max(beats, f["y_size"])
            counters[Counter.STALL_LD_MEM] += p.rd_latency
            free[q] = t1
        elif op == Opcode.GEMM:
            m = f["m"]
            counters[Counter.MAC_CYCLES] += m
            counters[Counter.GEMM_ROWS] += m
            if t0 >= free[q]:  # array idle: preload, then fill
                s0 = t0 + hw.rows
            else:  # preload overlaps the previous GEMM's stream (double-buffered weights)
                s0 = max(cmp_stream_free, max(t0, cmp_stream_start) + hw.rows)
            cmp_stream_start = s0
            cmp_stream_free = s0 + m
            t1 = s0 + m + hw.rows + hw.cols
            free[q] = max(free[q], t1)
        elif op == Opcode.STORE:
            E = 4 if out_int32 else 1
            counters[Counter.DMA_WR_BYTES] += f["y_size"] * f["x_size"] * E
            if f["x_stride"] == E or f["x_size"] == 1:
                beats = _row_beats(f["ext_addr"], f["y_size"], f["y_stride"], f["x_size"] * E, bus)
            else:
                beats = f["y_size"] * f["x_size"]
            t1 = t0 + p.ppu_latency + max(beats, f["y_size"]) + p.wr_latency
            counters[Counter.STALL_ST_MEM] += p.wr_latency
            free[q] = t1
        elif op == Opcode.PPUCFG:
            out_int32 = bool(f["out_int32"])
            t1 = t0 + 1 + sram_accesses(ins, hw).get(Counter.VEC_RD, 0)  # one VEC row per cycle
            free[q] = t1
        else:  # SYNC
            assert drains(ins)  # waits until its engine is idle, so its push orders everything before it
            t0 = max(t0, free[q])
            t1 = t0 + 1
            free[q] = t1
        if op == Opcode.GEMM:
            busy[q] += cmp_stream_free - t0
        else:
            busy[q] += t1 - t0
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
