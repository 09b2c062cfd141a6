"""Instruction emission: memory image, race-free dependency tokens and the GEMM tiler.

Everything the accelerator runs is a :class:`GemmOp`: ``out[M, N] = PPU(sum_kb A_kb @ W_kb)``.
The A operand (INP side) is a set of strided row runs in external memory plus a list of K-blocks
(each a byte offset, a length <= ROWS and an element stride), which covers dense activations,
implicit-GEMM convolution (one K-block per kernel tap and channel block) and sums of several
tensors (residual adds).  The W operand (WGT side) is given per (K-block, N-block) tile, either a
pre-tiled constant or a strided view of an activation (attention's K^T and V); an absent tile is
all zero and is skipped together with its LOADs.

Dependency tokens are derived, not hand-placed: :class:`Emitter` records which buffer rows and
memory regions every instruction reads and writes, and when an instruction depends on an earlier
one of another engine it pops a token that the earlier instruction (the producer itself) pushes.
Producers always precede consumers in program order, which makes the program deadlock free, and
every cross-engine RAW/WAR/WAW pair on a buffer row or memory region is ordered, which makes it
race free (docs/isa.md section 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from golden import isa
from golden.isa import Buffer, HwConfig, Opcode, Queue

ACC = 4  # pseudo buffer id for ACC in the hazard tables
ENGINES = (Queue.LD, Queue.CMP, Queue.ST)
_ENGINE = {op: int(q) for op, q in isa.QUEUE_OF.items() if q is not None}
_PUSH = {int(q): isa.PUSH_FIELD[q] for q in Queue}
_POP = {int(q): isa.POP_FIELD[q] for q in Queue}


# --------------------------------------------------------------------------- memory image

@dataclass
class Region:
    rid: int
    name: str
    addr: int
    size: int


class Memory:
    """Bump allocator over the external-memory image; every allocation is a hazard region."""

    ALIGN = 64

    def __init__(self) -> None:
        self.data = bytearray()
        self.regions: list[Region] = []

    def alloc(self, size: int, name: str, init: bytes | None = None) -> Region:
        addr = -(-len(self.data) // self.ALIGN) * self.ALIGN
        size = max(int(size), 1)
        self.data.extend(bytes(addr + size - len(self.data)))
        if init is not None:
            self.data[addr:addr + len(init)] = init
        r = Region(len(self.regions), name, addr, size)
        self.regions.append(r)
        return r

    def const(self, arr: np.ndarray, name: str, dtype: str = "int8") -> Region:
        a = np.ascontiguousarray(arr, dtype=np.int8 if dtype == "int8" else "<i4")
        return self.alloc(a.nbytes, name, a.tobytes())


# --------------------------------------------------------------------------- emitter

@dataclass
class LayerRec:
    name: str
    op: str
    start: int
    end: int = 0
    outputs: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


class Emitter:
    """Collects instructions in program order and inserts dependency tokens."""

    def __init__(self, hw: HwConfig) -> None:
        self.hw = hw
        self.ops: list[Opcode] = []
        self.fields: list[dict[str, int]] = []
        depth = {Buffer.INP: hw.inp_depth, Buffer.WGT: hw.wgt_depth, Buffer.VEC: hw.vec_depth,
                 Buffer.ROW: hw.acc_depth, ACC: hw.acc_depth}
        self._depth = {int(b): d for b, d in depth.items()}
        self._w: dict[int, list[np.ndarray | None]] = {int(b): [None, None, None] for b in depth}
        self._r: dict[int, list[np.ndarray | None]] = {int(b): [None, None, None] for b in depth}
        self._mw: dict[int, list[int]] = {}
        self._mr: dict[int, list[int]] = {}
        self._last_push = [[-1, -1, -1] for _ in range(3)]  # [src engine][dst engine]
        self.layers: list[LayerRec] = []
        # rotating buffer halves / slots shared by all ops so consecutive ops also overlap
        self.inp_half = 0
        self.wgt_half = 0
        self.acc_half = 0
        self.vec_slot = 0
        self.gemm_rows = 0
        self.macs = 0

    def __len__(self) -> int:
        return len(self.ops)

    # ---- layers
    def begin_layer(self, name: str, op: str, **meta: object) -> LayerRec:
        rec = LayerRec(name, op, len(self.ops), meta=dict(meta))
        self.layers.append(rec)
        return rec

    def end_layer(self, rec: LayerRec) -> None:
        rec.end = len(self.ops)

    # ---- emission with hazard tracking
    def _last(self, tab: dict[int, list[np.ndarray | None]], b: int, lo: int, n: int, e: int,
              dep: list[int]) -> None:
        """dep[a] = max(dep[a], last access by engine a != e of rows [lo, lo+n) of buffer b)."""
        per = tab[b]
        for a in range(3):
            arr = per[a]
            if a != e and arr is not None and n > 0:
                m = int(arr[lo:lo + n].max()) if n > 1 else int(arr[lo])
                if m > dep[a]:
                    dep[a] = m

    def _mark(self, tab: dict[int, list[np.ndarray | None]], b: int, lo: int, n: int, e: int,
              idx: int) -> None:
        per = tab[b]
        arr = per[e]
        if arr is None:
            arr = per[e] = np.full(self._depth[b], -1, dtype=np.int64)
        arr[lo:lo + n] = idx

    def emit(self, op: Opcode, fields: dict[str, int], *,
             reads: tuple[tuple[int, int, int], ...] = (), writes: tuple[tuple[int, int, int], ...] = (),
             mem_reads: tuple[int, ...] = (), mem_writes: tuple[int, ...] = ()) -> int:
        """Append an instruction; ``reads``/``writes`` are (buffer, first row, rows).

        Per buffer row and engine the last reader / writer index is kept (arrays allocated only for
        engines that touch the buffer, so the usual single-writer / single-reader buffers cost one
        slice maximum per access)."""
        idx = len(self.ops)
        e = _ENGINE[op]
        dep = [-1, -1, -1]
        for b, lo, n in reads:
            self._last(self._w, b, lo, n, e, dep)
        for b, lo, n in writes:
            self._last(self._w, b, lo, n, e, dep)
            self._last(self._r, b, lo, n, e, dep)
        for rid in mem_reads:
            lw = self._mw.get(rid)
            if lw:
                for a in range(3):
                    if a != e and lw[a] > dep[a]:
                        dep[a] = lw[a]
        for rid in mem_writes:
            for tab in (self._mw, self._mr):
                lw = tab.get(rid)
                if lw:
                    for a in range(3):
                        if a != e and lw[a] > dep[a]:
                            dep[a] = lw[a]
        f = dict(fields)
        lp = self._last_push
        for a in range(3):
            d = dep[a]
            if d >= 0 and d > lp[a][e]:
                self.fields[d][_PUSH[e]] = 1
                f[_POP[a]] = 1
                lp[a][e] = d
        self.ops.append(op)
        self.fields.append(f)
        for b, lo, n in reads:
            self._mark(self._r, b, lo, n, e, idx)
        for b, lo, n in writes:
            self._mark(self._w, b, lo, n, e, idx)
        for rid in mem_reads:
            self._mr.setdefault(rid, [-1, -1, -1])[e] = idx
        for rid in mem_writes:
            self._mw.setdefault(rid, [-1, -1, -1])[e] = idx
        return idx

    # ---- instruction helpers
    def load(self, buf: Buffer, sram: int, ext: int, x_size: int, x_stride: int, y_size: int,
             y_stride: int, region: int) -> int:
        return self.emit(Opcode.LOAD, dict(buf_sel=int(buf), sram_addr=sram, x_size=x_size,
                                           x_stride=x_stride, y_size=y_size, y_stride=y_stride,
                                           ext_addr=ext),
                         writes=((int(buf), sram, y_size),), mem_reads=(region,))

    def gather(self, buf: Buffer, sram: int, ext: int, x_size: int, y_size: int, y_stride: int,
               idx_addr: int, region: int, idx_region: int) -> int:
        """GATHER: buffer row sram+y = x_size elements of table row idx[y] (int32 at idx_addr+4y)."""
        return self.emit(Opcode.GATHER, dict(buf_sel=int(buf), sram_addr=sram, x_size=x_size, y_size=y_size,
                                             y_stride=y_stride, ext_addr=ext, idx_addr=idx_addr),
                         writes=((int(buf), sram, y_size),), mem_reads=(region, idx_region))

    def gemm(self, inp: int, wgt: int, acc: int, m: int, accumulate: bool) -> int:
        self.gemm_rows += m
        self.macs += m * self.hw.rows * self.hw.cols
        reads = [(int(Buffer.INP), inp, m), (int(Buffer.WGT), wgt, self.hw.rows)]
        if accumulate:
            reads.append((ACC, acc, m))
        return self.emit(Opcode.GEMM, dict(inp_addr=inp, wgt_addr=wgt, acc_addr=acc, m=m,
                                           accumulate=int(accumulate)),
                         reads=tuple(reads), writes=((ACC, acc, m),))

    def ppucfg(self, vec_rows: tuple[int, ...], **flags: int) -> int:
        reads = tuple((int(Buffer.VEC), r, n) for r, n in _merge_rows(vec_rows))
        return self.emit(Opcode.PPUCFG, flags, reads=reads)

    def store(self, sram: int, ext: int, x_size: int, x_stride: int, y_size: int, y_stride: int,
              region: int, row_en: bool) -> int:
        reads = [(ACC, sram, y_size)]
        if row_en:
            reads.append((int(Buffer.ROW), sram, y_size))
        return self.emit(Opcode.STORE, dict(sram_addr=sram, x_size=x_size, x_stride=x_stride,
                                            y_size=y_size, y_stride=y_stride, ext_addr=ext),
                         reads=tuple(reads), mem_writes=(region,))

    def finish(self) -> list[int]:
        words = [_fast_encode(op, f) for op, f in zip(self.ops, self.fields, strict=True)]
        words.append(isa.encode(Opcode.FINISH))
        return words


# Field layout per opcode, taken from golden.isa.FORMATS (the one definition of the encoding):
# name -> (lsb, max).  ``_fast_encode`` equals ``isa.encode`` (tests check it on whole programs)
# without building an Insn per instruction, which dominated the compile time of large models.
_LAYOUT: dict[Opcode, dict[str, tuple[int, int]]] = {
    op: {f.name: (f.lsb, f.max) for f in fmt[1:]} for op, fmt in isa.FORMATS.items()}


def _fast_encode(op: Opcode, fields: dict[str, int]) -> int:
    lay = _LAYOUT[op]
    word = int(op)
    for name, v in fields.items():
        lsb_max = lay.get(name)
        if lsb_max is None:
            raise ValueError(f"{op.name} has no field(s) {[name]}")
        v = int(v)
        if not 0 <= v <= lsb_max[1]:
            raise ValueError(f"{op.name}.{name}={v} does not fit the field")
        word |= v << lsb_max[0]
    return word


def _merge_rows(rows: tuple[int, ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if out and out[-1][0] + out[-1][1] == r:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((r, 1))
    return out


# --------------------------------------------------------------------------- GEMM operation

@dataclass
class Run:
    """``n`` consecutive logical rows starting at row ``m0``: row ``m0 + i`` is at ``addr + i*stride``."""

    m0: int
    n: int
    addr: int
    stride: int


def slice_runs(runs: list[Run], lo: int, hi: int) -> list[Run]:
    """Sub-runs covering logical rows [lo, hi) (``runs`` sorted by m0 and contiguous)."""
    out = []
    for r in runs:
        a, b = max(lo, r.m0), min(hi, r.m0 + r.n)
        if a < b:
            out.append(Run(a, b - a, r.addr + (a - r.m0) * r.stride, r.stride))
    return out


def merge_runs(runs: list[Run]) -> list[Run]:
    out: list[Run] = []
    for r in runs:
        if out:
            p = out[-1]
            if p.m0 + p.n == r.m0 and (p.n == 1 or p.stride == r.stride or r.n == 1):
                st = p.stride if p.n > 1 else (r.addr - p.addr)
                if r.addr == p.addr + p.n * st and (r.n == 1 or r.stride == st):
                    out[-1] = Run(p.m0, p.n + r.n, p.addr, st)
                    continue
        out.append(Run(r.m0, r.n, r.addr, r.stride))
    return out


@dataclass
class ASrc:
    runs: list[Run]
    region: int


@dataclass
class KBlk:
    src: int
    off: int
    size: int
    xstride: int


@dataclass
class WTile:
    """How to load one WGT tile: ``rows`` rows of ``cols`` int8 from ``addr``."""

    addr: int
    rows: int
    cols: int
    xstride: int
    ystride: int
    region: int
    runs: list[tuple[int, int, int]] | None = None
    """A gathered tile: (first tile row, address, rows) per run of ``ystride``-spaced rows
    (sparse aggregation: the neighbour rows of a block of nodes); None: one strided run."""


@dataclass
class Out:
    runs: list[Run]
    col_stride: int
    region: int
    col0: int = 0        # first output column this destination takes
    ncols: int = -1      # columns (default: all N)


@dataclass
class Ppu:
    """PPU configuration of an op.  ``records`` gives, per N-block, the address of a VEC record of
    ``3 + pwl_rows`` rows (bias, mult, shift, PWL table) in memory."""

    records: Callable[[int], int]
    region: int
    bias_en: bool = False
    requant_en: bool = False
    pwl_en: bool = False
    out_int32: bool = False
    row_en: bool = False
    row_shift: int = 0
    row_addr: int = 0           # ROW parameters: M x 2 int32, contiguous
    row_region: int = -1


@dataclass
class BandLoad:
    """One LOAD of an input band into INP: ``rows`` rows of ``size`` bytes (x stride 1) from
    ``addr``, ``stride`` bytes apart, at INP row ``row`` of the band."""

    row: int
    addr: int
    size: int
    rows: int
    stride: int
    idx_addr: int = -1
    """>= 0: a GATHER of ``rows`` table rows (``stride`` bytes apart) by the int32 indices there."""
    idx_region: int = -1


@dataclass
class Band:
    """On-chip input reuse (convolution): each M tile loads one input band into INP once and
    every K-block (filter tap x channel block) reads it at its own row offset, instead of
    fetching a shifted copy of the input from memory per tap.

    GEMM row ``i`` of tile ``t`` and K-block ``kb`` reads INP row ``band base + kb_off[kb] +
    (i - tiles[t][0])``; ``loads[t]`` fill the band; ``rows`` is the INP rows one band takes."""

    tiles: list[tuple[int, int]]
    loads: list[list[BandLoad]]
    kb_off: list[int]
    rows: int
    region: int
    segs: list[list[tuple[int, int, int]]] | None = None
    """Per tile, the GEMMs of one K-block as (INP row offset, ACC row offset, m): one per output
    row when the band's rows are wider than the output rows (None: one GEMM over the tile)."""
    whole_inp: bool = False
    """Each band takes the whole of INP (from row 0) instead of one half: a convolution whose image
    fits INP but not a half loads its input once (weights stream once) at the price of not
    overlapping a band's load with the computes before it (row-exact hazards keep it correct)."""


@dataclass
class GemmOp:
    name: str
    M: int
    N: int
    srcs: list[ASrc]
    kblocks: list[KBlk]
    wtile: Callable[[int, int], WTile | None]
    ppu: Ppu
    outs: list[Out]
    a_zero: Callable[[int, int, int], bool] | None = None
    band: Band | None = None
    stats: dict = field(default_factory=dict)


SHORT_OP_KN = 8
"""GemmOps with at most this many (K-block x N-block) tiles per row block are memory bound..."""
SHORT_OP_M_TILE = 128
"""...and run with M tiles of at most this many rows (measured on resnet20: docs/performance.md)."""


def _interleave(loads: list[Callable[[], None]], computes: list[Callable[[], None]]) -> None:
    """Run two emission lists merged evenly, each in its own order: the next step's loads spread
    between this step's GEMMs, so the in-order dispatcher never holds a run of GEMMs behind a long
    run of LOADs waiting for the LD FIFO (or the reverse)."""
    nl, nc = len(loads), len(computes)
    i = j = 0
    while i < nl or j < nc:
        if j >= nc or (i < nl and i * nc <= j * nl):
            loads[i]()
            i += 1
        else:
            computes[j]()
            j += 1


def m_tile(M: int, nk: int, nn: int, hw: HwConfig) -> tuple[int, bool]:
    """(M tile, input resident) the Tiler uses for M rows, nk non-zero K-blocks and nn N-blocks.

    Resident: the tile's nk input K-blocks all fit one INP half and are loaded once per tile;
    otherwise the tile streams input chunks (output resident, :meth:`Tiler._streamed_steps`)."""
    inp_half, acc_half = hw.inp_depth // 2, hw.acc_depth // 2
    mt = min(M, acc_half)
    resident = nk * mt <= inp_half
    if not resident:
        cand = min(M, inp_half // nk)
        if cand >= min(M, 64):
            mt, resident = cand, True
        else:
            mt = min(M, 128, acc_half)
    if nk * nn <= SHORT_OP_KN:
        # little compute per loaded row (adds, copies, pooling): small M tiles keep the
        # load -> GEMM -> store pipeline full instead of paying a large tile's fill and drain
        mt = min(mt, SHORT_OP_M_TILE)
    return mt, resident


def acc_groups(mrows: int, nn: int, hw: HwConfig) -> tuple[int, bool]:
    """(N-blocks per group, whole ACC) of an output-resident M tile of ``mrows`` rows and ``nn``
    N-blocks (:meth:`Tiler._streamed_steps`); one rule for the tiler and the cost model.

    Each group reloads the tile's whole input, so fewer groups move fewer bytes.  A group normally
    takes one ACC half (the other half drains through the PPU meanwhile); where all of ACC gives
    fewer groups, a group takes all of it: its stores then hold up the next group's first GEMMs
    (one drain per group, about 2% of BERT-base's FFN groups) and the input is read half as often."""
    g_half = max(1, (hw.acc_depth // 2) // mrows)
    g_whole = max(1, hw.acc_depth // mrows)
    if -(-nn // g_whole) < -(-nn // g_half):
        return g_whole, True
    return g_half, False


def tile_cost(M: int, nk: int, nn: int, hw: HwConfig) -> float:
    """Cycles of a GemmOp in the Tiler's plain (per-K-block) form, from the analytic model's view:
    per M tile, max(array rows, 16-byte beats of its input and weight loads) plus a fill of
    TILE_FILL cycles (the loads of a tile and the drain of its stores do not fully overlap)."""
    mt, resident = m_tile(M, nk, nn, hw)
    R = hw.rows
    cost = 0.0
    for m0 in range(0, M, mt):
        rows = min(mt, M - m0)
        g, whole = acc_groups(rows, nn, hw)
        groups = 1 if resident else -(-nn // g)
        drain = groups * rows * min(g, nn) if whole and not resident else 0   # stores not overlapped
        cost += max(rows * nk * nn, groups * nk * rows + nk * nn * R) + TILE_FILL + drain
    return cost


TILE_FILL = 64
"""Cycles per M tile the cost model adds for pipeline fill and drain (read latency, PPU, stores)."""


class Tiler:
    """Turns GemmOps into instructions on an Emitter."""

    def __init__(self, em: Emitter, mem: Memory) -> None:
        self.em = em
        self.mem = mem
        hw = em.hw
        self.hw = hw
        self.zero_tile = mem.alloc(hw.rows * hw.cols, "zero_tile")
        self.rec_rows = 3 + hw.pwl_rows
        self.n_vec_slots = max(1, hw.vec_depth // self.rec_rows)
        self._vec_cache: dict[int, int] = {}   # record addr -> slot currently holding it
        self._slot_rec: dict[int, int] = {}

    # ---- VEC records
    def _vec_record(self, rec_addr: int, region: int) -> int:
        slot = self._vec_cache.get(rec_addr)
        if slot is not None:
            return slot * self.rec_rows
        slot = self.em.vec_slot
        self.em.vec_slot = (slot + 1) % self.n_vec_slots
        old = self._slot_rec.pop(slot, None)
        if old is not None:
            self._vec_cache.pop(old, None)
        self._vec_cache[rec_addr] = slot
        self._slot_rec[slot] = rec_addr
        base = slot * self.rec_rows
        self.em.load(Buffer.VEC, base, rec_addr, self.hw.cols, 4, self.rec_rows, 4 * self.hw.cols, region)
        return base

    def invalidate_vec(self) -> None:
        self._vec_cache.clear()
        self._slot_rec.clear()

    # ---- the tiler
    def run(self, op: GemmOp) -> None:
        em, hw = self.em, self.hw
        R, C = hw.rows, hw.cols
        nk, nn = len(op.kblocks), -(-op.N // C)
        inp_half, wgt_half, acc_half = hw.inp_depth // 2, hw.wgt_depth // 2, hw.acc_depth // 2
        wt = {(kb, nb): op.wtile(kb, nb) for nb in range(nn) for kb in range(nk)}
        w_nz = [[kb for kb in range(nk) if wt[kb, nb] is not None] for nb in range(nn)]
        union = sorted({kb for ks in w_nz for kb in ks})
        nu = max(1, len(union))
        mt, resident = m_tile(op.M, nu, nn, hw)
        band = op.band
        if band is not None:
            mt, resident = max(b - a for a, b in band.tiles), True
            tiles = band.tiles
        else:
            tiles = [(m0, min(op.M, m0 + mt)) for m0 in range(0, op.M, mt)]
        kc = min(wgt_half // R, max(1, inp_half // mt))
        skipped = 0
        total = 0
        # Software pipeline: the work is cut into steps (one weight chunk of one N-block), each a
        # list of loads and a list of computes; the loads of step s+1 are emitted before the
        # computes of step s, and a tile's input loads ride with the second step of the tile
        # before it, so the in-order LD engine fetches ahead of the array instead of behind it.
        # Buffer halves alternate per step (WGT) and per tile (INP): a load into a half is always
        # emitted after every compute that read the half's previous contents (program order).
        steps: list[tuple[list[Callable[[], None]], list[Callable[[], None]]]] = []
        first_step: list[int] = []
        tile_loads: list[list[Callable[[], None]]] = []
        for ti, (m0, m1) in enumerate(tiles):
            mrows = m1 - m0
            sub = [slice_runs(s.runs, m0, m1) for s in op.srcs]
            klists = []
            for nb in range(nn):
                kl = w_nz[nb]
                total += nk
                if op.a_zero is not None:
                    kl = [kb for kb in kl if not op.a_zero(m0, m1, kb)]
                skipped += nk - len(kl)
                klists.append(kl)
            ctx: dict = {"inp_pos": {}, "base": 0}
            segs = band.segs[ti] if band is not None and band.segs else [(0, 0, mrows)]

            def tile_base(ctx: dict = ctx) -> None:
                ctx["base"] = 0 if band is not None and band.whole_inp else em.inp_half * inp_half
                em.inp_half ^= 1

            def band_load(ld: BandLoad, ctx: dict = ctx) -> None:
                base = ctx["base"]
                if ld.idx_addr >= 0:
                    em.gather(Buffer.INP, base + ld.row, ld.addr, ld.size, ld.rows, ld.stride,
                              ld.idx_addr, band.region, ld.idx_region)
                else:
                    em.load(Buffer.INP, base + ld.row, ld.addr, ld.size, 1, ld.rows, ld.stride,
                            band.region)

            def kb_load(i: int, kb: int, ctx: dict = ctx, sub: list = sub, m0: int = m0,
                        mrows: int = mrows) -> None:
                ctx["inp_pos"][kb] = ctx["base"] + i * mrows
                self._load_inp(op, sub, kb, ctx["base"] + i * mrows, m0)

            def band_pos(ctx: dict = ctx) -> None:
                ctx["inp_pos"].update({kb: ctx["base"] + off for kb, off in enumerate(band.kb_off)})

            tl: list[Callable[[], None]] = [tile_base]
            if band is not None:
                tl += [lambda ld=ld, f=band_load: f(ld) for ld in band.loads[ti]] + [band_pos]
            else:
                need = sorted({kb for kl in klists for kb in kl})
                tl += [lambda i=i, kb=kb, f=kb_load: f(i, kb) for i, kb in enumerate(need)]
            tile_loads.append(tl if resident else [])
            first_step.append(len(steps))
            if not resident:
                steps.extend(self._streamed_steps(op, wt, klists, sub, m0, m1, kc))
                continue
            for nb in range(nn):
                kl = klists[nb]
                nbx: dict = {}

                def start_nb(nbx: dict = nbx, kl: list = kl, ctx: dict = ctx, mrows: int = mrows) -> None:
                    nbx["acc"] = acc = em.acc_half * acc_half
                    em.acc_half ^= 1
                    if not kl:
                        # every tile is zero: write zeros into ACC with a zero weight tile
                        wbase = em.wgt_half * wgt_half
                        em.wgt_half ^= 1
                        em.load(Buffer.WGT, wbase, self.zero_tile.addr, C, 1, R, C, self.zero_tile.rid)
                        inp0 = em.inp_half * inp_half if not resident else ctx["base"]
                        em.gemm(inp0, wbase, acc, mrows, False)

                chunks = [kl[c0:c0 + kc] for c0 in range(0, len(kl), kc)] or [[]]
                for ci, chunk in enumerate(chunks):
                    st: dict = {}

                    def load_chunk(chunk: list = chunk, st: dict = st, nb: int = nb, ctx: dict = ctx,
                                   sub: list = sub, m0: int = m0, mrows: int = mrows) -> None:
                        if not chunk:
                            return
                        if not resident:
                            ibase = em.inp_half * inp_half
                            em.inp_half ^= 1
                            for i, kb in enumerate(chunk):
                                ctx["inp_pos"][kb] = ibase + i * mrows
                                self._load_inp(op, sub, kb, ibase + i * mrows, m0)
                        st["wbase"] = em.wgt_half * wgt_half
                        em.wgt_half ^= 1
                        self._load_wgt(chunk, nb, wt, st["wbase"])

                    def compute(i: int, kb: int, st: dict = st, nbx: dict = nbx, ctx: dict = ctx,
                                segs: list = segs, first: bool = ci == 0) -> None:
                        pos = ctx["inp_pos"]
                        for di, da, mm in segs:
                            em.gemm(pos[kb] + di, st["wbase"] + i * R, nbx["acc"] + da, mm,
                                    not (first and i == 0))

                    comps: list[Callable[[], None]] = [lambda i=i, kb=kb, f=compute: f(i, kb)
                                                       for i, kb in enumerate(chunk)]
                    if ci == 0:
                        comps.insert(0, start_nb)
                    if ci == len(chunks) - 1:
                        comps.append(lambda nb=nb, nbx=nbx, m0=m0, m1=m1, mrows=mrows:
                                     self._post_store(op, nb, nbx["acc"], m0, m1, mrows))
                    steps.append(([load_chunk], comps))
        # a tile's input loads: with the second step of the tile before it (see above)
        for ti in range(len(tiles)):
            prev = first_step[ti - 1] if ti else -1
            if ti and first_step[ti] - prev >= 2:
                steps[prev + 1][0].extend(tile_loads[ti])
            else:
                steps[first_step[ti]][0][:0] = tile_loads[ti]
        for fn in steps[0][0] if steps else []:
            fn()
        for si in range(len(steps)):
            _interleave(steps[si + 1][0] if si + 1 < len(steps) else [], steps[si][1])
        op.stats.update(tiles_total=total, tiles_skipped=skipped, m_tile=mt, k_chunk=kc,
                        resident=resident, band=band is not None)

    def _streamed_steps(self, op: GemmOp, wt: dict, klists: list[list[int]], sub: list[list[Run]],
                        m0: int, m1: int, kc: int) -> list[tuple[list[Callable[[], None]],
                                                                  list[Callable[[], None]]]]:
        """Steps of an M tile whose K-blocks do not all fit INP (large K, small M: late CNN
        layers, long reductions): output resident.  N-blocks are grouped so that the group's
        accumulators fit one ACC half; each input chunk is loaded once per group and used by
        every N-block of the group, instead of once per N-block."""
        em, hw = self.em, self.hw
        R, C = hw.rows, hw.cols
        inp_half, wgt_half, acc_half = hw.inp_depth // 2, hw.wgt_depth // 2, hw.acc_depth // 2
        mrows = m1 - m0
        nn = len(klists)
        G, whole_acc = acc_groups(mrows, nn, hw)
        steps: list[tuple[list[Callable[[], None]], list[Callable[[], None]]]] = []
        for g0 in range(0, nn, G):
            group = list(range(g0, min(nn, g0 + G)))
            gx: dict = {"started": set(), "pos": {}}
            union = sorted({kb for nb in group for kb in klists[nb]})
            chunks = [union[c0:c0 + kc] for c0 in range(0, len(union), kc)]

            def start_group(gx: dict = gx, group: list = group) -> None:
                base = 0 if whole_acc else em.acc_half * acc_half
                em.acc_half ^= 1
                gx["acc"] = {nb: base + j * mrows for j, nb in enumerate(group)}
                for nb in group:
                    if not klists[nb]:
                        # every tile is zero: write zeros into ACC with a zero weight tile
                        wbase = em.wgt_half * wgt_half
                        em.wgt_half ^= 1
                        em.load(Buffer.WGT, wbase, self.zero_tile.addr, C, 1, R, C, self.zero_tile.rid)
                        em.gemm(em.inp_half * inp_half, wbase, gx["acc"][nb], mrows, False)

            pending = [start_group]
            for chunk in chunks:
                cset = set(chunk)
                users = [nb for nb in group if cset.intersection(klists[nb])]
                for ui, nb in enumerate(users):
                    kl = [kb for kb in klists[nb] if kb in cset]
                    st: dict = {}

                    def load(kl: list = kl, chunk: list = chunk, st: dict = st, nb: int = nb,
                             gx: dict = gx, first: bool = ui == 0) -> None:
                        if first:
                            ibase = em.inp_half * inp_half
                            em.inp_half ^= 1
                            for i, kb in enumerate(chunk):
                                gx["pos"][kb] = ibase + i * mrows
                                self._load_inp(op, sub, kb, ibase + i * mrows, m0)
                        st["wbase"] = em.wgt_half * wgt_half
                        em.wgt_half ^= 1
                        self._load_wgt(kl, nb, wt, st["wbase"])

                    def compute(kl: list = kl, st: dict = st, nb: int = nb, gx: dict = gx) -> None:
                        for i, kb in enumerate(kl):
                            em.gemm(gx["pos"][kb], st["wbase"] + i * R, gx["acc"][nb], mrows,
                                    nb in gx["started"])
                            gx["started"].add(nb)

                    steps.append(([load], [*pending, compute]))
                    pending = []
            post = [lambda nb=nb, gx=gx: self._post_store(op, nb, gx["acc"][nb], m0, m1, mrows)
                    for nb in group]
            if steps and not pending:
                steps[-1][1].extend(post)
            else:
                steps.append(([], [*pending, *post]))
        return steps

    def _post_store(self, op: GemmOp, nb: int, acc: int, m0: int, m1: int, mrows: int) -> None:
        """PPU configuration and the STOREs of one (M tile, N-block) accumulator block."""
        em, hw, ppu = self.em, self.hw, op.ppu
        C = hw.cols
        ncols = min(C, op.N - nb * C)
        vbase = self._vec_record(ppu.records(nb), ppu.region)
        if ppu.row_en:
            em.load(Buffer.ROW, acc, ppu.row_addr + 8 * m0, 2, 4, mrows, 8, ppu.row_region)
        em.ppucfg(
            tuple(r for r, on in ((vbase, ppu.bias_en), (vbase + 1, ppu.requant_en),
                                  (vbase + 2, ppu.requant_en)) if on)
            + (tuple(range(vbase + 3, vbase + 3 + hw.pwl_rows)) if ppu.pwl_en else ()),
            bias_en=int(ppu.bias_en), row_en=int(ppu.row_en), requant_en=int(ppu.requant_en),
            pwl_en=int(ppu.pwl_en), out_int32=int(ppu.out_int32), row_shift=ppu.row_shift,
            bias_row=vbase, mult_row=vbase + 1, shift_row=vbase + 2, pwl_row=vbase + 3)
        for o in op.outs:
            oc = op.N if o.ncols < 0 else o.ncols
            lo_c, hi_c = max(nb * C, o.col0), min(nb * C + ncols, o.col0 + oc)
            if lo_c >= hi_c:
                continue
            if lo_c != nb * C:
                raise NotImplementedError("output column split inside an N-block")
            for r in slice_runs(o.runs, m0, m1):
                em.store(acc + (r.m0 - m0), r.addr + (lo_c - o.col0) * o.col_stride,
                         hi_c - lo_c, o.col_stride, r.n, r.stride, o.region, ppu.row_en)

    def _load_inp(self, op: GemmOp, sub: list[list[Run]], kb: int, pos: int, m0: int) -> None:
        k = op.kblocks[kb]
        src = op.srcs[k.src]
        for r in sub[k.src]:
            self.em.load(Buffer.INP, pos + (r.m0 - m0), r.addr + k.off, k.size, k.xstride, r.n,
                         r.stride, src.region)

    def _load_wgt(self, chunk: list[int], nb: int, wt: dict, wbase: int) -> None:
        R = self.hw.rows
        i = 0
        while i < len(chunk):
            t = wt[chunk[i], nb]
            if t.runs is not None:
                for r0, addr, n in t.runs:
                    self.em.load(Buffer.WGT, wbase + i * R + r0, addr, t.cols, t.xstride, n, t.ystride,
                                 t.region)
                i += 1
                continue
            j = i + 1
            # merge consecutive pre-tiled constant tiles that are contiguous in memory
            if t.rows == R and t.xstride == 1 and t.ystride == t.cols == self.hw.cols:
                while j < len(chunk):
                    u = wt[chunk[j], nb]
                    if (u.addr == t.addr + (j - i) * R * t.cols and u.rows == R and u.xstride == 1
                            and u.ystride == t.ystride and u.cols == t.cols and u.region == t.region):
                        j += 1
                    else:
                        break
            self.em.load(Buffer.WGT, wbase + i * R, t.addr, t.cols, t.xstride, t.rows * (j - i) if j > i + 1
                         else t.rows, t.ystride, t.region)
            i = j


def pack_weight_tiles(mem: Memory, w: np.ndarray, hw: HwConfig, name: str,
                      row_blocks: list[tuple[int, int]] | None = None) -> Callable[[int, int], WTile | None]:
    """Lay a constant int8 (K x N) weight out as tiles [nb][kb][ROWS][COLS]; zero tiles are omitted.

    ``row_blocks`` gives the (first row, rows) of W that each K-block uses (default: consecutive
    blocks of ROWS).  Returns the ``wtile`` function of a GemmOp.
    """
    R, C = hw.rows, hw.cols
    K, N = w.shape
    if row_blocks is None:
        row_blocks = [(k0, min(R, K - k0)) for k0 in range(0, K, R)]
    nn = -(-N // C)
    nk = len(row_blocks)
    if row_blocks == [(k0, min(R, K - k0)) for k0 in range(0, K, R)]:
        # consecutive K-blocks: pad and view as [nb][kb][R][C] in one go
        pad = np.zeros((nk * R, nn * C), dtype=np.int8)
        pad[:K, :N] = w
        grid = pad.reshape(nk, R, nn, C).transpose(2, 0, 1, 3)
    else:
        grid = np.zeros((nn, nk, R, C), dtype=np.int8)
        for kb, (k0, kn) in enumerate(row_blocks):
            for nb in range(nn):
                t = w[k0:k0 + kn, nb * C:nb * C + C]
                grid[nb, kb, :kn, :t.shape[1]] = t
    nz = grid.reshape(nn, nk, R * C).any(axis=2)
    order = [(int(kb), int(nb)) for nb, kb in zip(*np.nonzero(nz), strict=True)]   # (nb, kb) order
    if not order:
        return lambda kb, nb: None
    blob = np.ascontiguousarray(grid[nz])
    reg = mem.const(blob, name)
    addr = {k: reg.addr + i * R * C for i, k in enumerate(order)}

    def wtile(kb: int, nb: int) -> WTile | None:
        a = addr.get((kb, nb))
        return None if a is None else WTile(a, R, C, 1, C, reg.rid)

    return wtile


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)

