"""Buffer scrubbing: make the rows a Program reads before writing them zero, the architectural way.

docs/isa.md section 1 says every buffer is zero after reset, and the golden simulator models that.
The RTL buffers are SRAMs without reset (``rtl/nmx_sram.sv``), so when one simulator process runs
many Programs, a Program that reads a row it never wrote sees the previous Program's data.  Until
the RTL (or the ISA) is changed, the env can run a short *scrub* Program after reset that zeroes
exactly those rows with ordinary instructions (LOADs from a zero region; GEMMs with zero
activations for ACC), then resets again and runs the real Program.  ``EnvCfg.scrub`` controls it;
the directed case ``reset_clears_buffers`` runs without scrubbing and keeps the discrepancy visible.
"""

from __future__ import annotations

import numpy as np

from golden.isa import Buffer, HwConfig, Opcode, decode
from golden.program import Program
from tb.seq_lib.builder import ProgramBuilder
from tb.seq_lib.hazards import ACC, FootprintModel

SPACES = (Buffer.INP.name, Buffer.WGT.name, Buffer.VEC.name, Buffer.ROW.name, ACC)


def uninitialised_reads(program: Program) -> dict[str, np.ndarray]:
    """Rows of each buffer that the Program reads before any write to them (program order)."""
    hw = program.hw
    depth = {
        Buffer.INP.name: hw.inp_depth,
        Buffer.WGT.name: hw.wgt_depth,
        Buffer.VEC.name: hw.vec_depth,
        Buffer.ROW.name: hw.acc_depth,
        ACC: hw.acc_depth,
    }
    written = {s: np.zeros(n, dtype=bool) for s, n in depth.items()}
    need = {s: np.zeros(n, dtype=bool) for s, n in depth.items()}
    fm = FootprintModel(hw)
    for w in program.insns:
        try:
            ins = decode(w)
        except ValueError:
            break
        if ins.opcode == Opcode.FINISH:
            break
        fp = fm.footprint(ins)
        for space, idx in fp.reads:
            if space in need:
                idx = idx[idx < depth[space]]
                need[space][idx[~written[space][idx]]] = True
        if ins.opcode == Opcode.GEMM and ins.fields["accumulate"]:  # reads the ACC rows it writes
            a, m = ins.fields["acc_addr"], ins.fields["m"]
            rows = np.arange(a, min(a + m, depth[ACC]))
            need[ACC][rows[~written[ACC][rows]]] = True
        for space, idx in fp.writes:
            if space in written:
                written[space][idx[idx < depth[space]]] = True
    return {s: np.flatnonzero(v) for s, v in need.items() if v.any()}


def _ranges(rows: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Contiguous [start, count) runs of sorted rows, each at most ``limit`` long."""
    out: list[tuple[int, int]] = []
    if rows.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for run in np.split(rows, breaks):
        s = int(run[0])
        n = len(run)
        while n > 0:
            k = min(n, limit)
            out.append((s, k))
            s += k
            n -= k
    return out


def scrub_program(hw: HwConfig, rows: dict[str, np.ndarray]) -> Program | None:
    """A race-free Program that zeroes the given rows (None if there is nothing to do)."""
    if not rows:
        return None
    b = ProgramBuilder(
        hw,
        np.random.default_rng(0),
        dep_styles={"late": 1.0},
        extra_token_prob=0.0,
        p_misalign=0.0,
        p_straddle_4k=0.0,
    )
    zero = b.alloc(4 * max(hw.rows, hw.cols, 2), exact=True)
    if ACC in rows:  # zero activations x anything = 0
        chunk = min(hw.inp_depth, 256)
        b.emit(
            Opcode.LOAD,
            buf_sel=int(Buffer.INP),
            sram_addr=0,
            x_size=hw.rows,
            x_stride=1,
            y_size=chunk,
            y_stride=0,
            ext_addr=zero,
        )
        for s, n in _ranges(rows[ACC], chunk):
            b.emit(Opcode.GEMM, inp_addr=0, wgt_addr=0, acc_addr=s, m=n, accumulate=0)
    for buf in (Buffer.INP, Buffer.WGT, Buffer.VEC, Buffer.ROW):
        r = rows.get(buf.name)
        if r is None:
            continue
        e = hw.elem_bytes(buf)
        for s, n in _ranges(r, 4096):
            b.emit(
                Opcode.LOAD,
                buf_sel=int(buf),
                sram_addr=s,
                x_size=hw.width(buf),
                x_stride=e,
                y_size=n,
                y_stride=0,
                ext_addr=zero,
            )
    return b.finish("scrub")
