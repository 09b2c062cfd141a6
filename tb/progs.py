"""Seeded random and directed Programs for the top-level RTL tests (independent of the RTL and tb.bfm).

* :func:`random_program` - a valid, race-free Program using every instruction type: LOAD into all
  four buffers (contiguous, gathers incl. x_stride 0, unaligned, 4 KiB crossings, int8/int32),
  GEMM (overwrite/accumulate), PPUCFG (every stage combination, int8/int32 output), STORE
  (contiguous, strided, transposed, overlapping), SYNC on every queue, FINISH. Dependency tokens
  are inserted by :func:`tokenize` from each instruction's footprint (buffer rows, memory
  granules, PPU state), so every cross-engine RAW/WAR/WAW pair is ordered; extra token pairs and
  token-relaying SYNCs are added at random.
* :func:`error_programs` - one directed Program per error path of docs/isa.md section 5, with
  the knobs (SLVERR windows) and the expected code and index (from the golden simulator).

Everything is reproducible from ``(seed, hw)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.examples import pwl_table, pwl_vec_rows
from golden.isa import (
    ROW_LANES,
    Buffer,
    ErrorCode,
    HwConfig,
    Opcode,
    Queue,
    encode,
)
from golden.program import MEM_ALIGN, Program
from golden.sim import simulate

GRANULE = 16
"""Memory footprint resolution of the tokenizer (bytes)."""
QNAME = {Queue.LD: "ld", Queue.CMP: "cmp", Queue.ST: "st"}


@dataclass
class Op:
    """One instruction before tokenization, with its footprint."""

    opcode: Opcode
    fields: dict[str, int]
    queue: Queue | None
    reads: set = field(default_factory=set)
    writes: set = field(default_factory=set)


# --------------------------------------------------------------------------- tokenizer

def tokenize(ops: list[Op], extra_pairs: list[tuple[int, int]] = ()) -> None:
    """Set pop_*/push_* so every conflicting cross-engine pair runs in program order.

    For instruction B (queue d) and each other queue s, A = the latest earlier instruction of s
    that conflicts with B (or is named by an extra pair). If the last push s->d already comes from
    A or later, B is ordered behind it transitively; else A pushes to d and B pops from s. Pairs
    are monotone in both queues, all waits point backwards in program order: race free and
    deadlock free for any FIFO depth.
    """
    extra: dict[int, set[int]] = {}
    for a, b in extra_pairs:
        extra.setdefault(b, set()).add(a)
    last_push: dict[tuple[Queue, Queue], int] = {}
    by_queue: dict[Queue, list[int]] = {q: [] for q in Queue}
    for bi, b in enumerate(ops):
        d = b.queue
        if d is None:
            continue
        for s in Queue:
            if s == d:
                continue
            a_idx = None
            for ai in reversed(by_queue[s]):
                a = ops[ai]
                if (a.writes & (b.reads | b.writes)) or (b.writes & a.reads) or ai in extra.get(bi, ()):
                    a_idx = ai
                    break
            if a_idx is None or last_push.get((s, d), -1) >= a_idx:
                continue
            ops[a_idx].fields[f"push_{QNAME[d]}"] = 1
            b.fields[f"pop_{QNAME[s]}"] = 1
            last_push[(s, d)] = a_idx
        by_queue[d].append(bi)


def token_pushes(ops: list[Op]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for o in ops:
        if o.queue is None:
            continue
        for q in Queue:
            if o.fields.get(f"push_{QNAME[q]}"):
                k = (QNAME[o.queue], QNAME[q])
                out[k] = out.get(k, 0) + 1
    return out


# --------------------------------------------------------------------------- footprints

def _gran(lo: int, hi: int) -> set:
    """Memory granules of bytes [lo, hi]."""
    return {("M", g) for g in range(lo // GRANULE, hi // GRANULE + 1)}


def _mem_touch(ext: int, y: int, ys: int, x: int, xs: int, e: int) -> set:
    out: set = set()
    for yy in range(y):
        row = ext + yy * ys
        if xs == e or x == 1:
            out |= _gran(row, row + x * e - 1)
        else:
            for xx in range(x):
                a = row + xx * xs
                out |= _gran(a, a + e - 1)
    return out


def _rows(buf: str, lo: int, n: int) -> set:
    return {(buf, r) for r in range(lo, lo + n)}


# --------------------------------------------------------------------------- random program

@dataclass
class GenKnobs:
    n_ops: tuple[int, int] = (30, 70)
    mem_size: int = 48 * 1024
    p_extra_token: float = 0.05
    p_sync: float = 0.06


class _Gen:
    def __init__(self, hw: HwConfig, rng: np.random.Generator, k: GenKnobs) -> None:
        self.hw, self.rng, self.k = hw, rng, k
        self.ops: list[Op] = []
        self.out_int32 = True
        self.row_en = False
        m = k.mem_size
        # regions: [0, in_end) random bytes, [in_end, cfg_end) PPU-friendly words, rest: outputs
        self.in_end = (m * 3 // 8) // MEM_ALIGN * MEM_ALIGN
        self.cfg_end = self.in_end + (m // 8) // MEM_ALIGN * MEM_ALIGN
        self.mem = bytearray(rng.integers(0, 256, size=m, dtype=np.uint8).tobytes())
        self._fill_cfg_region()

    def r(self, lo: int, hi: int) -> int:
        """Uniform int in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def p(self, prob: float) -> bool:
        return bool(self.rng.random() < prob)

    def _fill_cfg_region(self) -> None:
        """int32 words useful as PPU configuration: small biases, row offsets/scales, multipliers,
        shifts 0..40, and whole PWL tables with sorted breakpoints (at 64-byte aligned spots)."""
        n = (self.cfg_end - self.in_end) // 4
        rng = self.rng
        kind = rng.integers(0, 4, size=n)
        w = np.where(kind == 0, rng.integers(-3000, 3000, size=n),
            np.where(kind == 1, rng.integers(0, 41, size=n),
            np.where(kind == 2, rng.integers(-(1 << 16), 1 << 16, size=n),
                     rng.integers(-(1 << 31), 1 << 31, size=n))))
        words = w.astype("<i4")
        cols = self.hw.cols
        tables = []
        step = self.hw.pwl_rows * cols * 4
        for start in range(0, n * 4 - step, max(step, 1024)):
            bp = np.sort(rng.integers(-20000, 20000, size=rng.integers(1, 16)))
            t = pwl_table(list(bp), list(rng.integers(-600, 600, size=16)),
                          list(rng.integers(-5000, 5000, size=16)), int(rng.integers(0, 12)))
            img = pwl_vec_rows(t, cols).reshape(-1)
            words[start // 4:start // 4 + img.size] = img
            tables.append(self.in_end + start)
        self.pwl_tables = tables
        self.mem[self.in_end:self.cfg_end] = words.tobytes()

    # ---- instruction makers (each appends one Op with its footprint)
    def load(self) -> None:
        hw = self.hw
        buf = Buffer(self.r(0, 3))
        if buf in (Buffer.VEC,) and self.p(0.3) and self.pwl_tables:
            # a whole PWL table
            y = hw.pwl_rows
            sa = self.r(0, hw.vec_depth - y)
            ext = int(self.rng.choice(self.pwl_tables))
            f = dict(buf_sel=buf, sram_addr=sa, x_size=hw.cols, x_stride=4, y_size=y, y_stride=4 * hw.cols,
                     ext_addr=ext)
            self._push_load(f)
            return
        e = hw.elem_bytes(buf)
        w = hw.width(buf)
        depth = hw.depth(buf)
        x = w if self.p(0.6) else self.r(1, w)
        y = self.r(1, min(depth, 12))
        sa = self.r(0, depth - y)
        style = self.r(0, 9)
        if style <= 5:
            xs = e                                   # contiguous
        elif style == 6:
            xs = 0                                   # broadcast
        elif style == 7:
            xs = e * self.r(2, 5)                    # strided gather
        else:
            xs = self.r(1, 3 * e + 7)                # arbitrary (incl. unaligned int32)
        span_x = (x - 1) * xs + e
        ys = self.r(0, 3) if self.p(0.1) else self.r(max(1, span_x), span_x + 200)
        span = (y - 1) * ys + span_x
        # source: the cfg region for 32-bit buffers mostly, else anywhere (incl. outputs: RAW)
        if e == 4 and self.p(0.7):
            lo, hi = self.in_end, self.cfg_end
        else:
            lo, hi = 0, self.k.mem_size
        hi_start = hi - span
        if hi_start < lo:
            return
        if self.p(0.15):                              # straddle a 4 KiB boundary
            pages = [a for a in range(4096, hi, 4096) if lo <= a - span // 2 <= hi_start]
            ext = (int(self.rng.choice(pages)) - self.r(1, max(1, span - 1))) if pages \
                else self.r(lo, hi_start)
            ext = min(max(ext, lo), hi_start)
        else:
            ext = self.r(lo, hi_start)
        f = dict(buf_sel=buf, sram_addr=sa, x_size=x, x_stride=xs, y_size=y, y_stride=ys, ext_addr=ext)
        self._push_load(f)

    def _push_load(self, f: dict[str, int]) -> None:
        buf = Buffer(f["buf_sel"])
        e = self.hw.elem_bytes(buf)
        op = Op(Opcode.LOAD, f, Queue.LD)
        op.reads = _mem_touch(f["ext_addr"], f["y_size"], f["y_stride"], f["x_size"], f["x_stride"], e)
        op.writes = _rows(buf.name, f["sram_addr"], f["y_size"])
        self.ops.append(op)

    def gemm(self) -> None:
        hw = self.hw
        m = self.r(1, min(24, hw.acc_depth, hw.inp_depth))
        f = dict(inp_addr=self.r(0, hw.inp_depth - m), wgt_addr=self.r(0, hw.wgt_depth - hw.rows),
                 acc_addr=self.r(0, hw.acc_depth - m), m=m, accumulate=int(self.p(0.5)))
        op = Op(Opcode.GEMM, f, Queue.CMP)
        op.reads = _rows("INP", f["inp_addr"], m) | _rows("WGT", f["wgt_addr"], hw.rows)
        if f["accumulate"]:
            op.reads |= _rows("ACC", f["acc_addr"], m)
        op.writes = _rows("ACC", f["acc_addr"], m)
        self.ops.append(op)

    def ppucfg(self) -> None:
        hw = self.hw
        en = {k: int(self.p(0.45)) for k in ("bias_en", "row_en", "requant_en", "pwl_en")}
        f = dict(**en, out_int32=int(self.p(0.5)), row_shift=self.r(0, 63) if self.p(0.2) else self.r(0, 24),
                 bias_row=self.r(0, hw.vec_depth - 1), mult_row=self.r(0, hw.vec_depth - 1),
                 shift_row=self.r(0, hw.vec_depth - 1), pwl_row=self.r(0, hw.vec_depth - hw.pwl_rows))
        for k in ("bias_row", "mult_row", "shift_row", "pwl_row"):
            if self.p(0.2):
                f[k] = 0 if k != "pwl_row" else f[k]
        op = Op(Opcode.PPUCFG, f, Queue.ST)
        if f["bias_en"]:
            op.reads |= {("VEC", f["bias_row"])}
        if f["requant_en"]:
            op.reads |= {("VEC", f["mult_row"]), ("VEC", f["shift_row"])}
        if f["pwl_en"]:
            op.reads |= _rows("VEC", f["pwl_row"], hw.pwl_rows)
        self.out_int32 = bool(f["out_int32"])
        self.row_en = bool(f["row_en"])
        self.ops.append(op)

    def store(self) -> None:
        hw = self.hw
        e = 4 if self.out_int32 else 1
        y = self.r(1, min(12, hw.acc_depth))
        x = hw.cols if self.p(0.5) else self.r(1, hw.cols)
        style = self.r(0, 9)
        if style <= 5:
            xs, ys = e, None                                 # contiguous rows
        elif style == 6:
            xs, ys = y * e, e                                # transpose
        elif style == 7:
            xs, ys = 0, None                                 # all elements on one spot
        else:
            xs, ys = self.r(1, 3 * e + 5), None              # arbitrary (overlaps possible)
        span_x = (x - 1) * xs + e
        if ys is None:
            ys = self.r(0, span_x) if self.p(0.1) else self.r(span_x, span_x + 100)
        span = (y - 1) * ys + span_x
        lo, hi = self.cfg_end, self.k.mem_size
        if hi - span < lo:
            return
        ext = self.r(lo, hi - span)
        if self.p(0.15):
            pages = [a for a in range(4096, hi, 4096) if lo <= a - span // 2 <= hi - span]
            if pages:
                ext = min(max(int(self.rng.choice(pages)) - self.r(1, max(1, span - 1)), lo), hi - span)
        sa = self.r(0, hw.acc_depth - y)
        f = dict(sram_addr=sa, x_size=x, x_stride=xs, y_size=y, y_stride=ys, ext_addr=ext)
        op = Op(Opcode.STORE, f, Queue.ST)
        op.reads = _rows("ACC", sa, y) | _rows("ROW", sa, y)
        op.writes = _mem_touch(ext, y, ys, x, xs, e)
        self.ops.append(op)

    def sync(self) -> None:
        q = Queue(self.r(0, 2))
        self.ops.append(Op(Opcode.SYNC, {"queue": int(q)}, q))

    def build(self) -> list[Op]:
        # start with the PPU in a known state and data in every buffer type
        self.ppucfg()
        n = self.r(*self.k.n_ops)
        kinds = ["load"] * 5 + ["gemm"] * 3 + ["store"] * 3 + ["ppucfg"]
        for _ in range(n):
            if self.p(self.k.p_sync):
                self.sync()
                continue
            getattr(self, str(self.rng.choice(kinds)))()
        self.store()
        return self.ops


def random_program(seed: int, hw: HwConfig, knobs: GenKnobs | None = None) -> Program:
    """A valid race-free random Program for ``hw`` (identical for identical arguments)."""
    k = knobs or GenKnobs()
    rng = np.random.default_rng(seed)
    g = _Gen(hw, rng, k)
    ops = g.build()
    # extra token pairs: an unneeded ordering between random earlier/later instructions
    extra: list[tuple[int, int]] = []
    idx = [i for i, o in enumerate(ops) if o.queue is not None]
    for _ in range(int(len(idx) * k.p_extra_token)):
        a, b = sorted(rng.choice(idx, size=2, replace=False))
        if ops[a].queue != ops[b].queue:
            extra.append((int(a), int(b)))
    # SYNCs relay tokens: make each one wait for a random earlier op and be waited on by a later one
    for i, o in enumerate(ops):
        if o.opcode != Opcode.SYNC:
            continue
        before = [j for j in idx if j < i and ops[j].queue != o.queue]
        after = [j for j in idx if j > i and ops[j].queue != o.queue]
        if before:
            extra.append((int(rng.choice(before)), i))
        if after:
            extra.append((i, int(rng.choice(after))))
    tokenize(ops, extra)
    limit = (1 << hw.token_bits) - 1
    for (s, d), n in token_pushes(ops).items():
        if n > limit:
            raise ValueError(f"seed {seed}: {n} pushes {s}->{d} could overflow {hw.token_bits}-bit tokens")
    insns = [encode(o.opcode, **o.fields) for o in ops] + [encode(Opcode.FINISH)]
    return Program.create(f"rand_{seed}", insns, g.mem, hw)


# --------------------------------------------------------------------------- dispatcher boundary fuzz

def dispatch_fuzz_program(seed: int, hw: HwConfig) -> Program:
    """0-3 token-free SYNCs, then one instruction with fields at the boundaries of the static checks
    (x_size 0/1/width/width+1, rows ending at depth or one past it, reserved bits, own-queue tokens,
    SYNC queue 3, PPUCFG rows of enabled and disabled stages, illegal opcodes), then FINISH. Whatever
    the golden simulator reports (a static error, a dynamic one, or none) the RTL must report too."""
    rng = np.random.default_rng(seed)

    def pick(*vals: int) -> int:
        return int(rng.choice(vals))

    ops = [Opcode.LOAD, Opcode.GEMM, Opcode.STORE, Opcode.PPUCFG, Opcode.SYNC, Opcode.FINISH]
    raw_op = pick(0, 7, 8, 15) if rng.random() < 0.08 else int(rng.choice(ops))
    f: dict[str, int] = {}
    if raw_op == Opcode.LOAD:
        buf = Buffer(pick(0, 1, 2, 3))
        d, w = hw.depth(buf), hw.width(buf)
        y = pick(0, 1, 2, 7)
        f = dict(buf_sel=buf, x_size=pick(0, 1, w, w + 1, min(255, w + 9)),
                 x_stride=pick(hw.elem_bytes(buf), 1, 5), y_size=y, y_stride=pick(0, 64, 100),
                 ext_addr=pick(0, 100, 4090),
                 sram_addr=pick(0, max(0, d - y), max(0, d - y + 1), d - 1, 0xFFFF) & 0xFFFF)
    elif raw_op == Opcode.GEMM:
        m = pick(0, 1, 5)
        f = dict(m=m, inp_addr=pick(0, max(0, hw.inp_depth - m), hw.inp_depth - m + 1) & 0xFFFF,
                 wgt_addr=pick(0, hw.wgt_depth - hw.rows, hw.wgt_depth - hw.rows + 1),
                 acc_addr=pick(0, max(0, hw.acc_depth - m), hw.acc_depth - m + 1) & 0xFFFF,
                 accumulate=pick(0, 1))
    elif raw_op == Opcode.STORE:
        y = pick(0, 1, 3)
        f = dict(x_size=pick(0, 1, hw.cols, hw.cols + 1), x_stride=pick(1, 4), y_size=y,
                 y_stride=pick(64, 128), ext_addr=pick(1024, 2000),
                 sram_addr=pick(0, max(0, hw.acc_depth - y), hw.acc_depth - y + 1) & 0xFFFF)
    elif raw_op == Opcode.PPUCFG:
        vd, pr = hw.vec_depth, hw.pwl_rows
        f = {k: pick(0, 1) for k in ("bias_en", "row_en", "requant_en", "pwl_en", "out_int32")}
        f.update(bias_row=pick(0, vd - 1, vd, 0xFFFF), mult_row=pick(0, vd - 1, vd),
                 shift_row=pick(0, vd - 1, vd), pwl_row=pick(0, vd - pr, vd - pr + 1, 0xFFFF))
    elif raw_op == Opcode.SYNC:
        f = dict(queue=pick(0, 1, 2, 3))
    word = encode(Opcode(raw_op), **f) if raw_op in ops else raw_op
    r = rng.random()
    if r < 0.15:
        word |= 1 << int(rng.integers(126, 128))                     # a reserved bit (every format)
    elif r < 0.35 and raw_op in ops:
        word |= 1 << int(rng.integers(4, 10))                        # one token bit (own queue, FINISH...)
    pre = [encode(Opcode.SYNC, queue=pick(0, 1, 2)) for _ in range(pick(0, 1, 3))]
    mem = np.random.default_rng(seed + 1).integers(0, 256, size=8192, dtype=np.uint8).tobytes()
    return Program.create(f"fuzz_{seed}", [*pre, word, encode(Opcode.FINISH)], mem, hw)


# --------------------------------------------------------------------------- GEMM with resident operand

def gemm_resident_program(M: int, K: int, N: int, hw: HwConfig, seed: int = 0, wgt_slots: int = 8) -> Program:
    """C = A @ B (int32 out) with all of A resident in INP and B tiles streamed through WGT slots.

    A is loaded once, one K-block (M rows x ROWS) per LOAD, interleaved with the first column of
    B tiles; then for every N-block and K-block one B tile (ROWS x COLS) is loaded into one of
    ``wgt_slots`` WGT slots and one GEMM (m = M) accumulates into one of two ACC slots; a STORE
    writes each finished N-block. The GEMM engine never waits for a large LOAD, which is what a
    compiler does when INP can hold the operand (M * ceil(K/ROWS) <= INP depth). Tokens:
    LD->CMP per B tile, CMP->LD frees a WGT slot, CMP->ST hands over a finished ACC slot,
    ST->CMP frees it.
    """
    R, C = hw.rows, hw.cols
    kb_n, nb_n = -(-K // R), -(-N // C)
    if M * kb_n > hw.inp_depth or 2 * M > hw.acc_depth or wgt_slots * R > hw.wgt_depth:
        raise ValueError(f"{M}x{K}x{N} does not fit {hw} with A resident")
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(M, K), dtype=np.int8)
    b = rng.integers(-128, 128, size=(K, N), dtype=np.int8)

    def al(n: int) -> int:
        return -(-n // MEM_ALIGN) * MEM_ALIGN

    a_addr, b_addr = 0, al(M * K)
    c_addr = al(b_addr + K * N)
    mem = bytearray(al(c_addr + 4 * M * N))
    mem[a_addr:a_addr + M * K] = a.tobytes()
    mem[b_addr:b_addr + K * N] = b.tobytes()
    L = Opcode
    insns = [encode(L.PPUCFG, out_int32=1)]
    total = nb_n * kb_n
    s = 0
    for nb in range(nb_n):
        n0, nv = nb * C, min(C, N - nb * C)
        aslot = (nb % 2) * M
        for kb in range(kb_n):
            k0, kv = kb * R, min(R, K - kb * R)
            if nb == 0:
                insns.append(encode(L.LOAD, buf_sel=Buffer.INP, sram_addr=kb * M, x_size=kv, x_stride=1,
                                    y_size=M, y_stride=K, ext_addr=a_addr + k0))
            slot = s % wgt_slots
            insns.append(encode(L.LOAD, buf_sel=Buffer.WGT, sram_addr=slot * R, x_size=nv, x_stride=1,
                                y_size=kv, y_stride=N, ext_addr=b_addr + k0 * N + n0,
                                pop_cmp=int(s >= wgt_slots), push_cmp=1))
            insns.append(encode(L.GEMM, inp_addr=kb * M, wgt_addr=slot * R, acc_addr=aslot, m=M,
                                accumulate=int(kb > 0), pop_ld=1, push_ld=int(s + wgt_slots < total),
                                pop_st=int(kb == 0 and nb >= 2), push_st=int(kb == kb_n - 1)))
            s += 1
        insns.append(encode(L.STORE, sram_addr=aslot, x_size=nv, x_stride=4, y_size=M, y_stride=4 * N,
                            ext_addr=c_addr + 4 * n0, pop_cmp=1, push_cmp=int(nb + 2 < nb_n)))
    insns.append(encode(L.FINISH))
    tensors = [
        {"name": "A", "role": "input", "addr": a_addr, "shape": [M, K], "strides": [K, 1], "dtype": "int8"},
        {"name": "B", "role": "input", "addr": b_addr, "shape": [K, N], "strides": [N, 1], "dtype": "int8"},
        {"name": "C", "role": "output", "addr": c_addr, "shape": [M, N], "strides": [4 * N, 4],
         "dtype": "int32", "check": True},
    ]
    return Program.create(f"gemm_resident_{M}x{K}x{N}", insns, mem, hw, tensors=tensors)


# --------------------------------------------------------------------------- directed error programs

@dataclass
class ErrorCase:
    name: str
    program: Program
    slverr: list[tuple[int, int]]
    code: ErrorCode
    index: int


def _prog(name: str, insns: list[int], hw: HwConfig, mem_size: int = 8192) -> Program:
    rng = np.random.default_rng(len(name))
    return Program.create(name, insns, rng.integers(0, 256, size=mem_size, dtype=np.uint8).tobytes(), hw)


def error_programs(hw: HwConfig) -> list[ErrorCase]:
    """One Program per error path (docs/isa.md section 5), each with its expected code and index."""
    L = Opcode
    ld_inp = dict(buf_sel=Buffer.INP, sram_addr=0, x_size=hw.rows, x_stride=1, y_size=2, y_stride=hw.rows,
                  ext_addr=64)
    good = [encode(L.LOAD, **ld_inp), encode(L.GEMM, m=2, pop_ld=0)]
    st = dict(sram_addr=0, x_size=hw.cols, x_stride=4, y_size=2, y_stride=4 * hw.cols, ext_addr=4096)
    cases: list[tuple[str, list[int], list[tuple[int, int]], int]] = []

    def add(name: str, insns: list[int], slverr: list[tuple[int, int]] | None = None, mem: int = 8192):
        cases.append((name, insns, slverr or [], mem))

    fin = encode(L.FINISH)
    # ILLEGAL_OPCODE: 0, 7, 15
    for op in (0, 7, 15):
        add(f"illegal_opcode_{op}", [*good, op | (1 << 5), fin])
    # ILLEGAL_FIELD
    add("reserved_bit_load", [*good, encode(L.LOAD, **ld_inp) | (1 << 127), fin])
    add("reserved_bit_sync", [*good, encode(L.SYNC, queue=1) | (1 << 12), fin])
    add("sync_queue3", [*good, encode(L.SYNC, queue=3), fin])
    add("finish_with_deps", [*good, encode(L.FINISH, push_cmp=1)])
    add("own_queue_pop", [*good, encode(L.GEMM, m=1, pop_cmp=1), fin])
    add("own_queue_push", [*good, encode(L.LOAD, **{**ld_inp, "push_ld": 1}), fin])
    add("load_x_size_0", [*good, encode(L.LOAD, **{**ld_inp, "x_size": 0}), fin])
    wide = {**ld_inp, "buf_sel": Buffer.ROW, "x_size": ROW_LANES + 1, "x_stride": 4}
    add("load_x_size_wide", [*good, encode(L.LOAD, **wide), fin])
    add("load_y_size_0", [*good, encode(L.LOAD, **{**ld_inp, "y_size": 0}), fin])
    add("gemm_m_0", [*good, encode(L.GEMM, m=0), fin])
    add("store_x_size_wide", [*good, encode(L.STORE, **{**st, "x_size": hw.cols + 1}), fin])
    add("store_y_size_0", [*good, encode(L.STORE, **{**st, "y_size": 0}), fin])
    add("field_before_range", [*good, encode(L.LOAD, **{**ld_inp, "y_size": 0, "sram_addr": 0xFFFF}), fin])
    # BUF_RANGE
    for b in Buffer:
        d = hw.depth(b)
        f = {**ld_inp, "buf_sel": b, "x_size": 1, "x_stride": hw.elem_bytes(b), "sram_addr": d - 1,
             "y_size": 2}
        add(f"load_range_{b.name}", [*good, encode(L.LOAD, **f), fin])
    add("gemm_range_inp", [*good, encode(L.GEMM, inp_addr=hw.inp_depth - 1, m=2), fin])
    add("gemm_range_wgt", [*good, encode(L.GEMM, wgt_addr=hw.wgt_depth - hw.rows + 1, m=1), fin])
    add("gemm_range_acc", [*good, encode(L.GEMM, acc_addr=hw.acc_depth - 1, m=2), fin])
    add("store_range", [*good, encode(L.STORE, **{**st, "sram_addr": hw.acc_depth - 1}), fin])
    add("ppucfg_range_bias", [*good, encode(L.PPUCFG, bias_en=1, bias_row=hw.vec_depth), fin])
    add("ppucfg_range_shift", [*good, encode(L.PPUCFG, requant_en=1, shift_row=hw.vec_depth), fin])
    add("ppucfg_range_pwl", [*good, encode(L.PPUCFG, pwl_en=1, pwl_row=hw.vec_depth - hw.pwl_rows + 1), fin])
    off_rows = encode(L.PPUCFG, bias_row=0xFFFF, mult_row=0xFFFF, shift_row=0xFFFF, pwl_row=0xFFFF)
    add("ppucfg_disabled_rows_ok", [*good, off_rows, encode(L.GEMM, m=0x7FFF), fin])
    # AXI_READ: DECERR beyond mem_size, SLVERR window, gather element, second LOAD of several
    add("axi_read_decerr", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 8192 - hw.rows}), fin])
    add("axi_read_decerr_wrap", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 0xFFFFFFF0, "y_size": 1}),
                                 fin])
    add("axi_read_slverr", [*good, encode(L.LOAD, **{**ld_inp, "ext_addr": 1000}), encode(L.LOAD, **ld_inp),
                            fin],
        slverr=[(1000 + hw.rows, 1000 + hw.rows + 1)])
    add("axi_read_slverr_gather", [encode(L.LOAD, **{**ld_inp, "x_stride": 37, "ext_addr": 300}), fin],
        slverr=[(300 + 37 * (hw.rows - 1), 300 + 37 * (hw.rows - 1) + 1)])
    # AXI_WRITE: DECERR and SLVERR; the STORE waits for the GEMM
    gemm_st = [encode(L.LOAD, **ld_inp, push_cmp=1), encode(L.GEMM, m=2, pop_ld=1, push_st=1),
               encode(L.PPUCFG, out_int32=1)]
    st_end = {**st, "ext_addr": 8192 - 4 * hw.cols, "pop_cmp": 1}
    add("axi_write_decerr", [*gemm_st, encode(L.STORE, **st_end), fin])
    add("axi_write_slverr", [*gemm_st, encode(L.STORE, **{**st, "pop_cmp": 1}), fin],
        slverr=[(4096 + 4 * hw.cols + 5, 4096 + 4 * hw.cols + 6)])
    # TOKEN_DEADLOCK: pops nobody pushes; index = smallest blocked head
    add("deadlock_simple", [*good, encode(L.GEMM, m=1, pop_st=1), fin])
    add("deadlock_two_heads", [encode(L.LOAD, **ld_inp), encode(L.STORE, **st, pop_cmp=1),
                               encode(L.GEMM, m=1, pop_st=1), fin])
    add("deadlock_full_fifo",
        [encode(L.SYNC, queue=0, pop_cmp=1)] + [encode(L.LOAD, **ld_inp)] * (hw.queue_depth + 3))
    add("deadlock_cycle", [encode(L.SYNC, queue=0, pop_st=1, push_st=1), encode(L.SYNC, queue=2, pop_ld=1,
                                                                                 push_ld=1), fin])
    # TOKEN_OVERFLOW: 2**token_bits SYNC pushes LD->CMP, never popped
    n = 1 << hw.token_bits
    if n <= 1 << 16:
        add("token_overflow", [encode(L.SYNC, queue=0, push_cmp=1)] * n + [fin])
        add("token_overflow_gemm", [encode(L.SYNC, queue=1, push_st=1)] * (n - 1)
            + [encode(L.GEMM, m=1, push_st=1), fin])
    out = []
    for name, insns, slverr, mem in cases:
        p = _prog(name, insns, hw, mem)
        g = simulate(p, bad_addresses=slverr or None)
        out.append(ErrorCase(name, p, slverr, g.error, g.error_index))
    return out


__all__ = ["ErrorCase", "GenKnobs", "dispatch_fuzz_program", "error_programs", "gemm_resident_program",
           "random_program", "tokenize"]
