"""Analytic timing model of the NMX engines (cost model documented in docs/golden_sim.md).

It is deliberately separate from the functional simulator: it takes the decoded instructions the
dispatcher accepted (program order) and schedules the three engines with time stamps, honouring the
dispatcher's one-instruction-per-cycle intake, the FIFO depth and the dependency tokens.  The
result feeds every performance counter of :class:`golden.isa.Counter`: DMA byte counts, INSNS,
MAC_CYCLES and GEMM_ROWS are exact (they do not depend on timing); CYCLES and the stall counters are
estimates to be cross-checked against the RTL, so the constants live in :class:`TimingParams`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from golden.isa import Buffer, Counter, HwConfig, Insn, Opcode, Queue

_POP = (("pop_ld", Queue.LD), ("pop_cmp", Queue.CMP), ("pop_st", Queue.ST))
_PUSH = (("push_ld", Queue.LD), ("push_cmp", Queue.CMP), ("push_st", Queue.ST))


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


def estimate(insns: Sequence[Insn], hw: HwConfig, params: TimingParams | None = None) -> Timing:
    """Schedule ``insns`` (the accepted prefix of a stream, program order, FINISH included)."""
    p = params or TimingParams()
    n = len(insns)
    bus = hw.axi_data_bits // 8
    D = hw.queue_depth
    counters = dict.fromkeys(Counter, 0)
    counters[Counter.INSNS] = n
    disp = [-1] * n
    start = [-1] * n
    end = [-1] * n

    # static partition into queues
    qlist: dict[Queue, list[int]] = {q: [] for q in Queue}
    qpos = [-1] * n
    for i, ins in enumerate(insns):
        q = ins.queue
        if q is not None:
            qpos[i] = len(qlist[q])
            qlist[q].append(i)

    pushes: dict[tuple[Queue, Queue], list[int]] = {(a, b): [] for a in Queue for b in Queue if a != b}
    pops_done: dict[tuple[Queue, Queue], int] = dict.fromkeys(pushes, 0)
    ptr = dict.fromkeys(Queue, 0)
    free = dict.fromkeys(Queue, 0)  # engine fully idle from this time
    busy = dict.fromkeys(Queue, 0)
    cmp_stream_free = 0  # array can accept the next input stream
    cmp_stream_start = -(1 << 60)
    out_int32 = False
    dptr = 0
    last_disp = -1
    scheduled = 0
    stall_token = {Queue.LD: Counter.STALL_LD_TOKEN, Queue.CMP: Counter.STALL_CMP_TOKEN,
                   Queue.ST: Counter.STALL_ST_TOKEN}

    progress = True
    while progress:
        progress = False
        # dispatcher: one instruction per cycle, blocked while the target FIFO is full
        while dptr < n:
            q = insns[dptr].queue
            t = last_disp + 1
            if q is not None and qpos[dptr] >= D:
                pred = qlist[q][qpos[dptr] - D]
                if start[pred] < 0:
                    break
                if start[pred] + 1 > t:
                    counters[Counter.STALL_DISPATCH] += start[pred] + 1 - t
                    t = start[pred] + 1
            disp[dptr] = last_disp = t
            dptr += 1
        for q in Queue:
            while ptr[q] < len(qlist[q]):
                i = qlist[q][ptr[q]]
                if i >= dptr:
                    break
                ins = insns[i]
                f = ins.fields
                token_ready = 0
                blocked = False
                for name, src in _POP:
                    if f.get(name):
                        k = pops_done[(src, q)]
                        if k >= len(pushes[(src, q)]):
                            blocked = True
                            break
                        token_ready = max(token_ready, pushes[(src, q)][k])
                if blocked:
                    break
                for name, src in _POP:
                    if f.get(name):
                        pops_done[(src, q)] += 1
                op = ins.opcode
                eng_free = cmp_stream_free if op == Opcode.GEMM else free[q]
                ready = max(disp[i] + 1, eng_free)
                t0 = max(ready, token_ready)
                counters[stall_token[q]] += t0 - ready
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
                    rows = (f["bias_en"] + 2 * f["requant_en"] + f["pwl_en"] * hw.pwl_rows)
                    t1 = t0 + 1 + rows
                    free[q] = t1
                else:  # SYNC: waits until its engine is idle, so its push orders everything before it
                    t0 = max(t0, free[q])
                    t1 = t0 + 1
                    free[q] = t1
                if op == Opcode.GEMM:
                    busy[q] += cmp_stream_free - t0
                else:
                    busy[q] += t1 - t0
                start[i], end[i] = t0, t1
                for name, dst in _PUSH:
                    if f.get(name):
                        pushes[(q, dst)].append(t1)
                ptr[q] += 1
                scheduled += 1
                progress = True
    for i in range(n):  # FINISH: done when its dispatch happened and every engine is idle
        if insns[i].opcode == Opcode.FINISH and disp[i] >= 0:
            start[i] = disp[i]
            end[i] = max([disp[i] + 1, *(e for e in end[:i] if e >= 0)])
            scheduled += 1
    cycles = max([0, *(e for e in end if e >= 0), *(d + 1 for d in disp if d >= 0)])
    counters[Counter.CYCLES] = cycles
    return Timing(counters, disp, start, end, scheduled, cycles, busy)
