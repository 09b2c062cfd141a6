"""The functional coverage plan as data: every coverpoint, its bins and why it matters.

This table is the single definition: ``tb/cov/model.py`` turns it into cocotb-coverage
``CoverPoint`` objects, ``tb/testplan.yaml`` refers to bins as ``point/bin`` and
``tb/testplan_check.py`` fails if a referenced bin is not defined here.  Bin labels are plain
strings so reports and merges across runs are stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.isa import DEP_COUNTER, QUEUE_OF, Counter, ErrorCode, Opcode, Queue
from tb.seq_lib.errors import FIELD_TAGS

PREFIX = "nmx"


@dataclass(frozen=True)
class Point:
    name: str
    bins: tuple[str, ...]
    doc: str


_BUFS = ("INP", "WGT", "VEC", "ROW")


def _legal_dep_bits(q: Queue) -> tuple[str, ...]:
    """The token bits an instruction of queue ``q`` may set (golden.isa's counter table)."""
    return tuple(f for (own, f) in DEP_COUNTER if own == q)


_DEP = {
    **{op.name: _legal_dep_bits(q) for op, q in QUEUE_OF.items()},
    **{f"SYNC_{q.name}": _legal_dep_bits(q) for q in Queue},
}
BURST_BINS = ("len1", "len2_16", "len17_255", "len256")
STALL_COUNTERS = (
    Counter.STALL_LD_TOKEN,
    Counter.STALL_CMP_TOKEN,
    Counter.STALL_ST_TOKEN,
    Counter.STALL_LD_MEM,
    Counter.STALL_ST_MEM,
    Counter.STALL_DISPATCH,
)

POINTS: tuple[Point, ...] = (
    # ---- instruction stream (what the dispatcher accepted)
    Point("insn.opcode", tuple(o.name for o in Opcode), "every opcode reaches the dispatcher"),
    Point("insn.sync_queue", ("LD", "CMP", "ST"), "SYNC executed by each engine"),
    Point(
        "dep.bits",
        tuple(f"{op}.{b}" for op, bits in _DEP.items() for b in bits),
        "every legal pop/push bit on every instruction kind (token paths between all engine pairs)",
    ),
    Point(
        "dep.shape",
        ("none", "pop1", "pop2", "push1", "push2", "pop_and_push"),
        "instructions with several tokens at once (multi-counter wait / multi-push on completion)",
    ),
    # ---- LOAD
    Point("load.buf", _BUFS, "LOAD into every buffer"),
    Point(
        "load.x_size",
        tuple(
            f"{b}.{k}" for b in _BUFS for k in ("one", "ragged", "full") if not (b == "ROW" and k == "ragged")
        ),
        "row widths: single element, ragged (zero-padded row) and full rows per buffer",
    ),
    Point(
        "load.x_stride",
        ("contig", "gather", "broadcast", "transposed", "sub_element"),
        "contiguous bursts, element gathers, x_stride=0 broadcast, transposed operands (K^T),"
        " overlapping int32 elements",
    ),
    Point(
        "load.y_stride",
        ("zero", "interleaved", "exact", "gap"),
        "row pitch: repeated row, rows interleaving, packed, padded",
    ),
    Point("load.y_size", ("one", "few", "many"), "1, 2..15 and >= 16 rows per LOAD"),
    Point("load.sram", ("first_row", "last_row", "middle"), "buffer address corners"),
    Point("load.align", ("aligned", "unaligned"), "ext_addr on / off the AXI beat boundary"),
    Point("load.cross_4k", ("no", "yes"), "a contiguous row that crosses a 4 KiB page (burst split)"),
    # ---- GEMM
    Point("gemm.accumulate", ("overwrite", "accumulate"), "ACC = product vs ACC += product"),
    Point("gemm.m", ("one", "lt_rows", "eq_rows", "gt_rows"), "streamed rows vs array side"),
    Point(
        "gemm.corner",
        ("inp_last", "wgt_last", "acc_last", "all_zero_addr"),
        "buffer address corners of the three operands",
    ),
    Point(
        "gemm.issue",
        ("back_to_back", "after_pop"),
        "GEMM following a GEMM without a token wait (weight preload overlaps) vs after a wait",
    ),
    Point("gemm.acc_wrap", ("wrapped",), "accumulation wrapped modulo 2**32 (never saturates)"),
    # ---- STORE / PPU
    Point("store.x_size", ("one", "ragged", "full"), "columns per stored row"),
    Point("store.out", ("int8", "int32"), "output element type"),
    Point(
        "store.stride",
        ("contig", "transposed", "gather", "broadcast", "repeat"),
        "output layouts; broadcast/repeat overwrite bytes (last write wins)",
    ),
    Point("store.align", ("aligned", "unaligned"), "ext_addr on / off the AXI beat boundary"),
    Point("store.cross_4k", ("no", "yes"), "a contiguous row that crosses a 4 KiB page"),
    Point(
        "ppucfg.flags",
        ("bias", "row", "requant", "pwl", "out_int32", "none"),
        "each PPU stage enabled at least once, and a PPUCFG with every stage off",
    ),
    Point(
        "ppucfg.combo",
        tuple(f"b{b}r{r}q{q}p{p}" for b in (0, 1) for r in (0, 1) for q in (0, 1) for p in (0, 1)),
        "all 16 combinations of the four PPU stages seen by a STORE",
    ),
    Point("ppu.pwl_segment", tuple(f"seg{i}" for i in range(16)), "every PWL segment used by a stored value"),
    Point("ppu.sat8", ("low", "high"), "int8 output saturation at both ends"),
    Point(
        "ppu.sat32",
        tuple(f"{s}.{e}" for s in ("bias", "row", "requant", "pwl") for e in ("low", "high")),
        "int32 saturation at both ends in every stage",
    ),
    Point(
        "ppu.shift",
        (
            "requant.zero",
            "requant.mid",
            "requant.clamp",
            "row.zero",
            "row.mid",
            "row.clamp",
            "pwl.zero",
            "pwl.mid",
            "pwl.clamp",
            "requant.masked",
        ),
        "rounding shifts: none, ordinary, clamped to 62, and shift words with bits above 6 set",
    ),
    # ---- errors and status
    Point("err.code", tuple(e.name for e in ErrorCode), "every architectural error code observed on the RTL"),
    Point("err.field", FIELD_TAGS, "every ILLEGAL_FIELD cause of docs/isa.md section 5"),
    Point(
        "status.stall",
        tuple(c.name for c in STALL_COUNTERS),
        "every stall counter observed non-zero (engine waits actually happened)",
    ),
    Point("driver.gap", ("back_to_back", "gaps"), "instruction stream with and without idle cycles"),
    # ---- AXI (from the memory model's transfer log)
    Point("axi.rd_len", BURST_BINS, "read burst lengths"),
    Point("axi.wr_len", BURST_BINS, "write burst lengths"),
    Point("axi.rd_resp", ("OKAY", "SLVERR", "DECERR"), "read responses"),
    Point("axi.wr_resp", ("OKAY", "SLVERR", "DECERR"), "write responses"),
    Point(
        "axi.backpressure",
        ("ar_stall", "r_gap", "aw_stall", "w_stall", "b_delay"),
        "the slave held off every channel at least once",
    ),
    Point(
        "axi.outstanding",
        ("rd_1", "rd_multi", "wr_1", "wr_multi"),
        "one vs several transactions in flight per direction",
    ),
    Point("axi.wstrb", ("full", "partial"), "full and partial write strobes"),
)

BY_NAME: dict[str, Point] = {p.name: p for p in POINTS}


def all_bins() -> set[str]:
    """Every ``point/bin`` identifier of the plan."""
    return {f"{p.name}/{b}" for p in POINTS for b in p.bins}
