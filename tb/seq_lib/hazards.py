"""Buffer/memory footprints, token happens-before, the race-freedom checker and the auto-tokeniser.

docs/isa.md section 2 defines results only for *race-free* programs: tokens must order every pair of
instructions in different engines that touch the same buffer row.  The random generator emits plain
sequential code and lets :class:`Tokeniser` add the minimum pops/pushes (or SYNCs) that order every
cross-engine conflict; :func:`find_races` is the independent check of the result (it recomputes the
ordering from the final token bits) and works on any Program, compiled models included.

Ordering model (architecture.md, engine command interface): each engine *starts* its commands in
FIFO order and *completes* them in the same order; a pop of counter P->Q by the k-th popper pairs
with the k-th push of P->Q and orders ``end(pusher) -> start(popper)``; a SYNC starts only after every
earlier command of its engine completed.  Because completions are in order, knowing that
instruction ``j`` of queue P has completed implies every earlier P instruction has too, so a vector
clock of three instruction indices ("latest completed per queue") captures the whole partial order.
Those rules and the clocks are :mod:`golden.schedule`'s (the simulator's own); this module adds the
footprints and what to do with them.

External memory conflicts (a LOAD reading bytes a STORE writes) are treated like buffer conflicts:
the ISA leaves them just as undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from golden.isa import (
    DEP_FIELDS,
    POP_FIELD,
    PUSH_FIELD,
    ROW_LANES,
    Buffer,
    HwConfig,
    Insn,
    Opcode,
    Queue,
    decode,
    make,
    pops,
)
from golden.schedule import NO_CLOCK, VClock, clock_step, drains, vector_clocks, vmax

MEM = "MEM"
"""Pseudo-buffer name of external memory (units: bytes) in footprints."""
ACC = "ACC"
ADDR_MASK = 0xFFFFFFFF


@dataclass
class Footprint:
    """What one instruction reads and writes: ``(space, index array)`` pairs.

    Buffer spaces are ``Buffer`` names plus ``"ACC"`` (units: rows); ``"MEM"`` is external memory
    (units: bytes, exact element bytes of the strided grid, so gathers and transposes are precise).
    """

    reads: list[tuple[str, np.ndarray]] = field(default_factory=list)
    writes: list[tuple[str, np.ndarray]] = field(default_factory=list)


def _rows(a: int, n: int) -> np.ndarray:
    return np.arange(a, a + n, dtype=np.int64)


def mem_grid(ext: int, y: int, ys: int, x: int, xs: int, e: int) -> np.ndarray:
    """Byte addresses of a 2-D strided access (flattened, modulo 2**32)."""
    a = (
        ext
        + np.arange(y, dtype=np.int64)[:, None, None] * ys
        + np.arange(x, dtype=np.int64)[None, :, None] * xs
        + np.arange(e, dtype=np.int64)[None, None, :]
    )
    return (a & ADDR_MASK).reshape(-1)


class FootprintModel:
    """Computes footprints in program order (it tracks the PPU flags that decide what STORE reads)."""

    def __init__(self, hw: HwConfig, memory: bytes | bytearray | None = None) -> None:
        self.hw = hw
        self.row_en = False
        self.out_int32 = False
        self.memory = memory
        """The image GATHER indices are read from (None: a GATHER's footprint is its index bytes only)."""

    def footprint(self, ins: Insn) -> Footprint:
        f, hw, fp = ins.fields, self.hw, Footprint()
        op = ins.opcode
        if op == Opcode.LOAD:
            buf = Buffer(f["buf_sel"])
            e = HwConfig.elem_bytes(buf)
            fp.writes.append((buf.name, _rows(f["sram_addr"], f["y_size"])))
            fp.reads.append(
                (MEM, mem_grid(f["ext_addr"], f["y_size"], f["y_stride"], f["x_size"], f["x_stride"], e))
            )
        elif op == Opcode.GATHER:
            buf = Buffer(f["buf_sel"])
            e = HwConfig.elem_bytes(buf)
            y = f["y_size"]
            fp.writes.append((buf.name, _rows(f["sram_addr"], y)))
            idx = mem_grid(f["idx_addr"], y, 4, 1, 4, 4)
            fp.reads.append((MEM, idx))
            if self.memory is not None and int(idx.max()) < len(self.memory):
                ids = np.frombuffer(bytes(self.memory[i] for i in idx), dtype="<i4").astype(np.int64)
                rows = (f["ext_addr"] + ids * f["y_stride"]) & ADDR_MASK
                fp.reads.append((MEM, ((rows[:, None] + np.arange(f["x_size"] * e)) & ADDR_MASK).reshape(-1)))
        elif op == Opcode.GEMM:
            fp.reads.append((Buffer.INP.name, _rows(f["inp_addr"], f["m"])))
            fp.reads.append((Buffer.WGT.name, _rows(f["wgt_addr"], hw.rows)))
            fp.writes.append((ACC, _rows(f["acc_addr"], f["m"])))
        elif op == Opcode.PPUCFG:
            self.row_en, self.out_int32 = bool(f["row_en"]), bool(f["out_int32"])
            rows: list[int] = []
            if f["bias_en"]:
                rows.append(f["bias_row"])
            if f["requant_en"]:
                rows += [f["mult_row"], f["shift_row"]]
            if f["pwl_en"]:
                rows += range(f["pwl_row"], f["pwl_row"] + hw.pwl_rows)
            if rows:
                fp.reads.append((Buffer.VEC.name, np.array(sorted(set(rows)), dtype=np.int64)))
        elif op == Opcode.STORE:
            fp.reads.append((ACC, _rows(f["sram_addr"], f["y_size"])))
            if self.row_en:
                fp.reads.append((Buffer.ROW.name, _rows(f["sram_addr"], f["y_size"])))
            e = 4 if self.out_int32 else 1
            fp.writes.append(
                (MEM, mem_grid(f["ext_addr"], f["y_size"], f["y_stride"], f["x_size"], f["x_stride"], e))
            )
        return fp


class Shadow:
    """Per space and per queue: the last reader and last writer (instruction index) of every unit.

    Buffer spaces have their fixed depth; the MEM space grows on demand, so a generator can use it
    before it knows the final memory size.
    """

    def __init__(self, hw: HwConfig, mem_size: int = 0) -> None:
        sizes = {
            Buffer.INP.name: hw.inp_depth,
            Buffer.WGT.name: hw.wgt_depth,
            Buffer.VEC.name: hw.vec_depth,
            Buffer.ROW.name: hw.acc_depth,
            ACC: hw.acc_depth,
            MEM: max(min(mem_size, 1 << 20), 1),
        }
        self.last_read = {s: np.full((3, n), -1, dtype=np.int32) for s, n in sizes.items()}
        self.last_write = {s: np.full((3, n), -1, dtype=np.int32) for s, n in sizes.items()}

    def _fit(self, space: str, idx: np.ndarray) -> np.ndarray:
        n = self.last_read[space].shape[1]
        if space == MEM and idx.size:
            top = int(idx.max()) + 1
            if top > n:
                new = max(top, 2 * n)
                for d in (self.last_read, self.last_write):
                    grown = np.full((3, new), -1, dtype=np.int32)
                    grown[:, :n] = d[space]
                    d[space] = grown
                return idx
        return idx[idx < n]

    def needs_by_queue(self, fp: Footprint, q: Queue) -> dict[Queue, tuple[int, str, str]]:
        """For every other queue P: (latest conflicting index in P, kind, space) of this footprint."""
        out: dict[Queue, tuple[int, str, str]] = {}
        for space, idx in fp.reads:
            idx = self._fit(space, idx)
            arr = self.last_write[space]
            if idx.size:
                for p in Queue:
                    if p != q:
                        j = int(arr[p, idx].max())
                        if j >= 0 and (p not in out or j > out[p][0]):
                            out[p] = (j, "RAW", space)
        for space, idx in fp.writes:
            idx = self._fit(space, idx)
            if idx.size:
                for p in Queue:
                    if p != q:
                        for kind, arr in (("WAW", self.last_write[space]), ("WAR", self.last_read[space])):
                            j = int(arr[p, idx].max())
                            if j >= 0 and (p not in out or j > out[p][0]):
                                out[p] = (j, kind, space)
        return out

    def record(self, fp: Footprint, q: Queue, i: int) -> None:
        for space, idx in fp.reads:
            idx = self._fit(space, idx)
            self.last_read[space][q, idx] = i
        for space, idx in fp.writes:
            idx = self._fit(space, idx)
            self.last_write[space][q, idx] = i


# --------------------------------------------------------------------------- checker


@dataclass(frozen=True)
class Race:
    """Two instructions in different engines touching the same unit without token ordering."""

    first: int
    second: int
    kind: str
    space: str

    def __str__(self) -> str:
        return f"{self.kind} race on {self.space}: instruction {self.first} vs {self.second}"


def happens_before(insns: Sequence[Insn]) -> list[VClock] | None:
    """VClock at the *start* of every instruction (FINISH: NO_CLOCK); None if tokens deadlock.

    Pops pair with pushes by count (k-th pop of P->Q with the k-th push), whatever their program
    order; the clocks are :func:`golden.schedule.vector_clocks` (unbounded FIFOs).
    """
    clocks = vector_clocks(insns)
    return None if clocks is None else clocks[0]


def find_races(
    program_or_insns: object, hw: HwConfig | None = None, mem_size: int | None = None, limit: int = 20
) -> list[Race]:
    """Every (up to ``limit``) cross-engine conflict not ordered by tokens, in program order.

    Accepts a Program or a list of instruction words plus ``hw``/``mem_size``.  Instructions after
    FINISH are ignored.  Raises ValueError if the stream does not decode or its tokens deadlock.
    """
    if hasattr(program_or_insns, "insns"):
        words = program_or_insns.insns  # type: ignore[attr-defined]
        hw = program_or_insns.hw  # type: ignore[attr-defined]
        mem_size = program_or_insns.mem_size  # type: ignore[attr-defined]
    else:
        words = list(program_or_insns)  # type: ignore[call-overload]
    assert hw is not None and mem_size is not None
    insns: list[Insn] = []
    for w in words:
        ins = decode(w)
        insns.append(ins)
        if ins.opcode == Opcode.FINISH:
            break
    hb = happens_before(insns)
    if hb is None:
        raise ValueError("the program's tokens deadlock: no race analysis possible")
    fm, sh = FootprintModel(hw), Shadow(hw, mem_size)
    races: list[Race] = []
    for i, ins in enumerate(insns):
        q = ins.queue
        if q is None:
            continue
        fp = fm.footprint(ins)
        for p, (j, kind, space) in sh.needs_by_queue(fp, q).items():
            if hb[i][p] < j:
                races.append(Race(j, i, kind, space))
                if len(races) >= limit:
                    return races
        sh.record(fp, q, i)
    return races


# --------------------------------------------------------------------------- tokeniser

DEP_STYLES = ("tight", "late", "sync")
"""Where the push of a needed token goes: on the conflicting instruction itself (``tight``), on the
last instruction of the producer queue before the consumer (``late``), or on a new SYNC in the
producer queue right before the consumer (``sync``).  All three are race free; they exercise
different token distances and SYNC handling in the RTL."""


class Tokeniser:
    """Builds a race-free stream: append instructions without tokens, it adds the needed ones.

    Pushes of each counter are placed in nondecreasing program order and each pop is created together
    with its push, so the k-th pop always pairs with the k-th push and every pair points backwards
    in program order: the program can never deadlock and every conflict is ordered.
    """

    def __init__(
        self,
        hw: HwConfig,
        mem_size: int,
        rng: np.random.Generator | None = None,
        style_weights: dict[str, float] | None = None,
        extra_token_prob: float = 0.0,
    ) -> None:
        self.hw = hw
        self.rng = rng or np.random.default_rng(0)
        w = style_weights or {"tight": 1.0}
        self.styles = list(w)
        p = np.array([w[s] for s in self.styles], dtype=float)
        self.style_p = p / p.sum()
        self.extra_token_prob = extra_token_prob
        self.insns: list[Insn] = []
        self.fm = FootprintModel(hw)
        self.sh = Shadow(hw, mem_size)
        self.start: list[VClock] = []
        self.end: list[VClock] = []
        self.last_of: dict[Queue, int] = {}
        self.last_push_pos: dict[tuple[Queue, Queue], int] = {}
        self.tokens_added = 0
        self.syncs_added = 0

    def _pushable(self, j: int, p: Queue, q: Queue) -> bool:
        return not self.insns[j].fields.get(PUSH_FIELD[q]) and j >= self.last_push_pos.get((p, q), -1)

    def _append_raw(self, ins: Insn) -> int:
        """Append and compute clocks (tokens of ``ins`` must already pair with earlier pushes)."""
        i = len(self.insns)
        self.insns.append(ins)
        q = ins.queue
        if q is None:
            self.start.append(NO_CLOCK)
            self.end.append(NO_CLOCK)
            return i
        prev = self.last_of.get(q)
        prev_start, prev_end = (NO_CLOCK, NO_CLOCK) if prev is None else (self.start[prev], self.end[prev])
        pusher_ends = [self.end[self._paired_push(src, dst)] for src, dst in pops(ins)]
        st, en = clock_step(q, i, prev_start, prev_end, pusher_ends, drains(ins))
        self.start.append(st)
        self.end.append(en)
        self.last_of[q] = i
        return i

    def _paired_push(self, src: Queue, dst: Queue) -> int:
        # the pop being appended pairs with the push recorded most recently by _link
        return self._pending[(src, dst)]

    def _link(
        self, p: Queue, q: Queue, ins_fields: dict[str, int], j_needed: int, style: str, pre: list[Insn]
    ) -> int | None:
        """Arrange a push on P (>= j_needed) paired with a pop on the instruction being appended.

        Returns the pushing instruction, or None when a SYNC (queued in ``pre``) will push.
        """
        last_p = self.last_of.get(p)
        assert last_p is not None and last_p >= j_needed
        target: int | None = None
        if style == "tight" and self._pushable(j_needed, p, q):
            target = j_needed
        elif style in ("tight", "late") and self._pushable(last_p, p, q):
            target = last_p
        if target is None:
            pre.append(make(Opcode.SYNC, queue=int(p), **{PUSH_FIELD[q]: 1}))
            return None
        self.insns[target].fields[PUSH_FIELD[q]] = 1
        self.last_push_pos[(p, q)] = target
        self._pending[(p, q)] = target
        ins_fields[POP_FIELD[p]] = 1
        self.tokens_added += 1
        return target

    def append(self, ins: Insn, force: set[Queue] | frozenset[Queue] = frozenset()) -> int:
        """Append ``ins`` (its token bits are ignored and recomputed); return its final index.

        ``force`` names engines whose latest instruction must complete first even without a
        conflict (used to build SYNC token chains).
        """
        self._pending: dict[tuple[Queue, Queue], int] = {}
        q = ins.queue
        fields = dict(ins.fields)
        for d in DEP_FIELDS:
            if d in fields:
                fields[d] = 0
        if q is None:  # FINISH waits for everything by itself
            return self._append_raw(Insn(ins.opcode, fields))
        fp = self.fm.footprint(Insn(ins.opcode, fields))
        need = self.sh.needs_by_queue(fp, q)
        prev = self.last_of.get(q)
        have = self.start[prev] if prev is not None else NO_CLOCK
        pre: list[Insn] = []
        for p in Queue:
            if p == q or p not in self.last_of:
                continue
            j = need[p][0] if p in need else -1
            required = j > have[p]
            extra = (
                not required
                and self.last_of[p] > have[p]
                and (p in force or self.rng.random() < self.extra_token_prob)
            )
            if required or extra:
                style = str(self.rng.choice(self.styles, p=self.style_p))
                target = self._link(p, q, fields, j if required else self.last_of[p], style, pre)
                have = vmax(have, self.end[target if target is not None else self.last_of[p]])
        for s in pre:  # a SYNC in queue P pushing to q: then pop it
            p = Queue(s.fields["queue"])
            self._append_raw(s)
            self.syncs_added += 1
            i_s = len(self.insns) - 1
            self.last_push_pos[(p, q)] = i_s
            self._pending[(p, q)] = i_s
            fields[POP_FIELD[p]] = 1
            self.tokens_added += 1
        i = self._append_raw(Insn(ins.opcode, fields))
        self.sh.record(fp, q, i)
        return i

    def words(self) -> list[int]:
        return [ins.encode() for ins in self.insns]


__all__ = [
    "ACC",
    "DEP_STYLES",
    "MEM",
    "ROW_LANES",
    "Footprint",
    "FootprintModel",
    "Race",
    "Shadow",
    "Tokeniser",
    "find_races",
    "happens_before",
    "mem_grid",
]
