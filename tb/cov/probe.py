"""Derive coverage bins of a Program from its instructions and a replay of the golden machine.

Instruction-field bins only need the decoded stream, but the interesting datapath bins (which PWL
segment a stored value used, which stage saturated, whether an accumulation wrapped) depend on the
values, so the probe replays the executed instructions on :class:`golden.sim.Machine` in the golden
simulator's execution order (``SimResult.order``, a legal token order, hence the architectural
state) and evaluates the PPU stage by stage.  Every instrumented evaluation is asserted equal to
``golden.arith.ppu``, so the probe can never silently disagree with the reference.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter as Tally
from collections.abc import Iterable

import numpy as np

from golden import arith
from golden.isa import (
    POP_FIELD,
    PUSH_FIELD,
    PWL_BREAKPOINTS,
    PWL_ICPT_WORD,
    PWL_SEGMENTS,
    PWL_SHIFT_WORD,
    PWL_SLOPE_WORD,
    SHIFT_MAX,
    Buffer,
    ErrorCode,
    HwConfig,
    Insn,
    Opcode,
    decode,
    pops,
)
from golden.isa import Counter as HwCounter
from golden.program import Program
from golden.sim import Machine, SimResult

I32_MIN, I32_MAX = arith.I32_MIN, arith.I32_MAX
Bins = dict[str, Tally]
CACHE_WORDS = 1 << 17
"""Distinct instruction words whose decoding and static bins :func:`program_bins` memoises."""
REJECTED = frozenset({ErrorCode.ILLEGAL_OPCODE, ErrorCode.ILLEGAL_FIELD, ErrorCode.BUF_RANGE})
"""Static errors: the offending instruction is refused by the dispatcher, so it samples no field bins
(its fields may lie outside every legal bin, e.g. a ROW load wider than a ROW row)."""


def _hit(out: Bins, point: str, label: str, n: int = 1) -> None:
    t = out.get(point)
    if t is None:  # not setdefault: that builds a throw-away Counter on every hit
        t = out[point] = Tally()
    t[label] += n


def _stride_kind(xs: int, ys: int, x: int, e: int) -> str:
    if xs == 0:
        return "broadcast"
    if 0 < xs < e:
        return "sub_element"
    if xs == e or x == 1:
        return "contig"
    if ys == e:
        return "transposed"
    return "gather"


def _cross_4k(ext: int, y: int, ys: int, row_bytes: int) -> bool:
    rows = np.arange(min(y, 4096), dtype=np.int64)
    a = (ext + rows * ys) & 0xFFFFFFFF
    return bool(((a % 4096) + row_bytes > 4096).any())


def static_bins(ins: Insn, hw: HwConfig, out: Bins, *, out_int32: bool, prev_cmp: Insn | None) -> None:
    """Bins that depend only on the instruction (and the PPU's current out_int32 for STORE)."""
    f, op = ins.fields, ins.opcode
    bus = hw.axi_data_bits // 8
    _hit(out, "insn.opcode", op.name)
    kind = op.name if op != Opcode.SYNC else f"SYNC_{ins.queue.name}"  # type: ignore[union-attr]
    if op == Opcode.SYNC:
        _hit(out, "insn.sync_queue", ins.queue.name)  # type: ignore[union-attr]
    if op != Opcode.FINISH:
        popped = [d for d in POP_FIELD.values() if f.get(d)]
        pushed = [d for d in PUSH_FIELD.values() if f.get(d)]
        for d in popped + pushed:
            _hit(out, "dep.bits", f"{kind}.{d}")
        shape = (
            "pop_and_push"
            if popped and pushed
            else f"pop{len(popped)}"
            if popped
            else f"push{len(pushed)}"
            if pushed
            else "none"
        )
        _hit(out, "dep.shape", shape)
    if op == Opcode.LOAD:
        buf = Buffer(f["buf_sel"])
        e, w, depth = hw.elem_bytes(buf), hw.width(buf), hw.depth(buf)
        x, y, xs, ys = f["x_size"], f["y_size"], f["x_stride"], f["y_stride"]
        _hit(out, "load.buf", buf.name)
        _hit(out, "load.x_size", f"{buf.name}.{'one' if x == 1 else 'full' if x == w else 'ragged'}")
        sk = _stride_kind(xs, ys, x, e)
        _hit(out, "load.x_stride", sk)
        span = (x - 1) * xs + e
        _hit(
            out,
            "load.y_stride",
            "zero" if ys == 0 else "interleaved" if ys < span else "exact" if ys == span else "gap",
        )
        _hit(out, "load.y_size", "one" if y == 1 else "few" if y < 16 else "many")
        _hit(
            out,
            "load.sram",
            "first_row" if f["sram_addr"] == 0 else "last_row" if f["sram_addr"] + y == depth else "middle",
        )
        _hit(out, "load.align", "aligned" if f["ext_addr"] % bus == 0 else "unaligned")
        if sk == "contig":
            _hit(out, "load.cross_4k", "yes" if _cross_4k(f["ext_addr"], y, ys, x * e) else "no")
    elif op == Opcode.GEMM:
        m = f["m"]
        _hit(out, "gemm.accumulate", "accumulate" if f["accumulate"] else "overwrite")
        _hit(
            out,
            "gemm.m",
            "one" if m == 1 else "lt_rows" if m < hw.rows else "eq_rows" if m == hw.rows else "gt_rows",
        )
        if f["inp_addr"] + m == hw.inp_depth:
            _hit(out, "gemm.corner", "inp_last")
        if f["wgt_addr"] + hw.rows == hw.wgt_depth:
            _hit(out, "gemm.corner", "wgt_last")
        if f["acc_addr"] + m == hw.acc_depth:
            _hit(out, "gemm.corner", "acc_last")
        if f["inp_addr"] == f["wgt_addr"] == f["acc_addr"] == 0:
            _hit(out, "gemm.corner", "all_zero_addr")
        if prev_cmp is not None and prev_cmp.opcode == Opcode.GEMM:
            waits = bool(pops(ins))
            _hit(out, "gemm.issue", "after_pop" if waits else "back_to_back")
    elif op == Opcode.STORE:
        e = 4 if out_int32 else 1
        x, y, xs, ys = f["x_size"], f["y_size"], f["x_stride"], f["y_stride"]
        _hit(out, "store.x_size", "one" if x == 1 else "full" if x == hw.cols else "ragged")
        _hit(out, "store.out", "int32" if out_int32 else "int8")
        if ys == 0 and y > 1:
            sk = "repeat"
        else:
            sk = _stride_kind(xs, ys, x, e)
            sk = "gather" if sk == "sub_element" else sk
        _hit(out, "store.stride", sk)
        _hit(out, "store.align", "aligned" if f["ext_addr"] % bus == 0 else "unaligned")
        if sk == "contig":
            _hit(out, "store.cross_4k", "yes" if _cross_4k(f["ext_addr"], y, ys, x * e) else "no")
    elif op == Opcode.PPUCFG:
        names = (
            ("bias_en", "bias"),
            ("row_en", "row"),
            ("requant_en", "requant"),
            ("pwl_en", "pwl"),
            ("out_int32", "out_int32"),
        )
        on = [label for key, label in names if f[key]]
        for label in on:
            _hit(out, "ppucfg.flags", label)
        if not on:
            _hit(out, "ppucfg.flags", "none")


def _sat_hits(out: Bins, stage: str, v: np.ndarray) -> None:
    if v.size:
        if (v < I32_MIN).any():
            _hit(out, "ppu.sat32", f"{stage}.low")
        if (v > I32_MAX).any():
            _hit(out, "ppu.sat32", f"{stage}.high")


def _shift_label(stage: str, s: int) -> str:
    return f"{stage}.{'zero' if s == 0 else 'clamp' if s >= SHIFT_MAX else 'mid'}"


def ppu_bins(
    acc: np.ndarray, cfg: arith.PpuConfig, off: np.ndarray | None, sc: np.ndarray | None, out: Bins
) -> np.ndarray:
    """Evaluate the PPU stage by stage, recording saturation and PWL segments; returns the result."""
    v = np.asarray(acc, dtype=np.int64)
    n = v.shape[-1]
    if cfg.bias_en:
        t = v + cfg.bias[:n]
        _sat_hits(out, "bias", t)
        v = arith.sat(t, 32)
    if cfg.row_en:
        assert off is not None and sc is not None
        t = v + off[:, None]
        _sat_hits(out, "row", t)
        t = arith.rshift(arith.sat(t, 32) * sc[:, None], cfg.row_shift)
        _sat_hits(out, "row", t)
        v = arith.sat(t, 32)
    if cfg.requant_en:
        t = arith.rshift(v * cfg.mult[:n], cfg.shift[:n])
        _sat_hits(out, "requant", t)
        v = arith.sat(t, 32)
    if cfg.pwl_en:
        tab = cfg.pwl
        seg = (v[..., None] >= tab[:PWL_BREAKPOINTS]).sum(axis=-1)
        for s in np.unique(seg):
            _hit(out, "ppu.pwl_segment", f"seg{int(s)}", int((seg == s).sum()))
        slope = tab[PWL_SLOPE_WORD : PWL_SLOPE_WORD + PWL_SEGMENTS][seg]
        icpt = tab[PWL_ICPT_WORD : PWL_ICPT_WORD + PWL_SEGMENTS][seg]
        t = arith.rshift(v * slope, int(tab[PWL_SHIFT_WORD]) & 63) + icpt
        _sat_hits(out, "pwl", t)
        v = arith.sat(t, 32)
    if not cfg.out_int32 and v.size:
        if (v < -128).any():
            _hit(out, "ppu.sat8", "low")
        if (v > 127).any():
            _hit(out, "ppu.sat8", "high")
        v = arith.sat(v, 8)
    return v


def program_bins(program: Program, result: SimResult, *, accepted: int | None = None) -> Bins:
    """All program-derived bins of one run.

    ``result`` is the golden run of ``program``; its ``order`` drives the replay.  ``accepted`` (the
    number of instructions the RTL's dispatcher accepted, FINISH included) limits the instruction
    bins to what the hardware actually saw; by default the golden count is used.
    """
    hw = program.hw
    out: Bins = {}
    n_acc = result.counters.get(HwCounter.INSNS, len(program.insns)) if accepted is None else accepted
    if result.error in REJECTED and 0 <= result.error_index < n_acc:
        n_acc = result.error_index  # the dispatcher rejected it: its fields were never executed
    # Compiled models repeat their instruction words (resnet50: 127k distinct in 918k): decoding is
    # memoised per word in a bounded cache that lives for this call only, and the static bins of
    # each distinct (word, PPU output type, previous CMP instruction a GEMM) are evaluated once and
    # counted as often as that combination occurs.  One instruction is decoded at a time (a list
    # of decoded instructions costs ~1 KB each).
    dec = functools.lru_cache(maxsize=CACHE_WORDS)(decode)

    @functools.lru_cache(maxsize=CACHE_WORDS)
    def effect(w: int) -> tuple[int, int] | None:
        """(out_int32 a PPUCFG sets or -1, 0 / 1 CMP-queue / 2 GEMM), None when undecodable."""
        try:
            ins = dec(w)
        except ValueError:
            return None
        q = ins.queue
        ppu = int(ins.fields["out_int32"]) if ins.opcode == Opcode.PPUCFG else -1
        return ppu, (2 if ins.opcode == Opcode.GEMM else 1) if q is not None and q.name == "CMP" else 0

    # static bins in program order, tracking the PPU output type the ST engine sees in order
    seen: Tally = Tally()
    out_int32 = False
    after_gemm = False
    for w in itertools.islice(program.insns, n_acc):
        eff = effect(w)
        if eff is None:
            continue
        seen[(w, out_int32, after_gemm)] += 1
        ppu, cmp_kind = eff
        if ppu >= 0:
            out_int32 = bool(ppu)
        if cmp_kind:
            after_gemm = cmp_kind == 2
    gemm_before = Insn(Opcode.GEMM)  # static_bins reads the previous CMP instruction only as "a GEMM?"
    for (w, o32, ag), times in seen.items():
        tmp: Bins = {}
        static_bins(dec(w), hw, tmp, out_int32=o32, prev_cmp=gemm_before if ag else None)
        for pt, t in tmp.items():
            for label, n in t.items():
                _hit(out, pt, label, n * times)
    # value bins: replay in the golden execution order
    m = Machine(hw, bytearray(program.memory))
    for i in result.order:
        ins = dec(program.insns[i])
        f = ins.fields
        if ins.opcode == Opcode.GEMM and f["accumulate"]:
            aa, mm = f["acc_addr"], f["m"]
            ia, wa = f["inp_addr"], f["wgt_addr"]
            p = arith.gemm_tile(m.inp[ia : ia + mm], m.wgt[wa : wa + hw.rows], None)
            s = m.acc[aa : aa + mm] + p
            if ((s > I32_MAX) | (s < I32_MIN)).any():
                _hit(out, "gemm.acc_wrap", "wrapped")
        elif ins.opcode == Opcode.PPUCFG:
            m.execute(ins)
            c = m.ppu
            if c.requant_en:
                raw = m.vec[f["shift_row"]]
                for s in np.unique(c.shift):
                    _hit(out, "ppu.shift", _shift_label("requant", int(s)))
                if (raw & ~np.int64(63)).any():
                    _hit(out, "ppu.shift", "requant.masked")
            if c.row_en:
                _hit(out, "ppu.shift", _shift_label("row", c.row_shift))
            if c.pwl_en:
                _hit(out, "ppu.shift", _shift_label("pwl", int(c.pwl[PWL_SHIFT_WORD]) & 63))
            continue
        elif ins.opcode == Opcode.STORE:
            c = m.ppu
            y, x, sa = f["y_size"], f["x_size"], f["sram_addr"]
            combo = f"b{int(c.bias_en)}r{int(c.row_en)}q{int(c.requant_en)}p{int(c.pwl_en)}"
            _hit(out, "ppucfg.combo", combo)
            acc = m.acc[sa : sa + y, :x]
            off, sc = m.row[sa : sa + y, 0], m.row[sa : sa + y, 1]
            got = ppu_bins(acc, c, off, sc, out)
            ref = arith.ppu(acc, c, off, sc) if c.row_en else arith.ppu(acc, c)
            assert np.array_equal(got, ref), "coverage probe disagrees with golden.arith.ppu"
        m.execute(ins)
    return out


def merge_bins(parts: Iterable[Bins]) -> Bins:
    out: Bins = {}
    for p in parts:
        for k, t in p.items():
            out.setdefault(k, Tally()).update(t)
    return out
