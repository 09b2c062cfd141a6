"""Program building blocks ("idioms") for the constrained-random generator.

Each idiom appends one layer to a :class:`~tb.seq_lib.builder.ProgramBuilder` as plain sequential
code; the builder's tokeniser makes it race free.  The idioms are chosen so that, together, the
coverage model's bins are reachable:

* :func:`gemm_layer` - a tiled GEMM ``C = PPU(A @ W)`` with ragged M/K/N, row-major / transposed /
  padded layouts of every operand, ring-buffered INP/WGT/ACC slots (so WAR hazards and token
  distances vary) and a PPU configuration whose parameters are fitted to the actual accumulator
  values (so every PWL segment and both saturation ends are reachable, not just possible).
* :func:`mix_block` - random individual instructions with field corners: last buffer rows, broadcast
  and overlapping strides, gathers, 4 KiB crossings, random PPU flags over random VEC content, SYNCs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden import arith
from golden.isa import (
    FORMATS,
    PWL_BREAKPOINTS,
    PWL_ICPT_WORD,
    PWL_SLOPE_WORD,
    PWL_WORDS,
    Buffer,
    HwConfig,
    Opcode,
    Queue,
    make,
)
from tb.seq_lib import data
from tb.seq_lib.builder import ProgramBuilder, TensorRef

I32_MAX = (1 << 31) - 1


P_GATHER = 0.15
"""Probability that a contiguous-row LOAD of a random layer is emitted as the equivalent GATHER."""
GATHER_YSTRIDE_MAX = next(f for f in FORMATS[Opcode.GATHER] if f.name == "y_stride").max


@dataclass(frozen=True)
class LayerKnobs:
    """Probabilities and bounds of one GEMM layer (drawn per layer from :class:`GenKnobs`)."""

    max_dim: int
    p_transposed: float = 0.25
    p_pad: float = 0.3
    p_int32_out: float = 0.3
    p_bias: float = 0.5
    p_row: float = 0.25
    p_requant: float = 0.6
    p_pwl: float = 0.4
    p_weights_resident: float = 0.3
    dists: tuple[str, ...] = data.INT8_DISTS


def _pick(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo, hi + 1))


def _dim(rng: np.random.Generator, max_dim: int, block: int) -> int:
    """A dimension: exact multiples of the array side, tiny ones and ragged ones all likely."""
    r = rng.random()
    if r < 0.25:
        return block * _pick(rng, 1, max(1, max_dim // block))
    if r < 0.4:
        return _pick(rng, 1, min(3, max_dim))
    return _pick(rng, 1, max_dim)


def _load2d(
    b: ProgramBuilder, buf: Buffer, sram: int, ref: TensorRef, r0: int, c0: int, nrows: int, ncols: int
) -> None:
    """LOAD rows r0.. (one buffer row per tensor row) of columns c0..c0+ncols of a 2-D tensor.

    With probability P_GATHER (contiguous rows only) the same rows come from a GATHER instead:
    indices r0 + k .. (k random, negative too) against a table base k rows before the rows, so
    the buffer contents, and the layer's expected values, are the LOAD's."""
    s0, s1 = ref.strides
    E = HwConfig.elem_bytes(buf)
    if s1 == E and 0 < s0 <= GATHER_YSTRIDE_MAX and nrows < 4096 and b.rng.random() < P_GATHER:
        k = int(b.rng.integers(-r0 - 3, 40))
        ids = np.arange(nrows, dtype="<i4") + (r0 + k)   # table row r0 + k + i starts at row r0 + i
        idx = b.place(f"{ref.name}.idx{b.n_insns}", ids.astype(np.int32).reshape(nrows, 1), role="const",
                      exact=True)
        b.emit(Opcode.GATHER, buf_sel=int(buf), sram_addr=sram, x_size=ncols, y_size=nrows, y_stride=s0,
               ext_addr=(ref.addr + c0 * s1 - k * s0) & 0xFFFFFFFF, idx_addr=idx.addr)
        return
    b.emit(
        Opcode.LOAD,
        buf_sel=int(buf),
        sram_addr=sram,
        x_size=ncols,
        x_stride=s1,
        y_size=nrows,
        y_stride=s0,
        ext_addr=ref.addr + r0 * s0 + c0 * s1,
    )


def _pwl_table(rng: np.random.Generator, v: np.ndarray) -> np.ndarray:
    """A 48-word PWL table whose breakpoints are quantiles of the values it will see."""
    t = np.zeros(PWL_WORDS, dtype=np.int64)
    flat = np.sort(v.reshape(-1))
    nbp = PWL_BREAKPOINTS if rng.random() < 0.8 else _pick(rng, 1, PWL_BREAKPOINTS)
    q = np.sort(rng.random(nbp)) if rng.random() < 0.5 else (np.arange(1, nbp + 1) / (nbp + 1))
    bps = flat[np.minimum((q * flat.size).astype(int), flat.size - 1)] if flat.size else np.zeros(nbp)
    t[:nbp] = bps
    t[nbp:PWL_BREAKPOINTS] = I32_MAX  # unused breakpoints
    shift = _pick(rng, 0, 12)
    t[PWL_BREAKPOINTS] = shift + 64 * _pick(rng, 0, 3)  # only the low 6 bits count
    t[PWL_SLOPE_WORD : PWL_SLOPE_WORD + 16] = rng.integers(-(2 << shift), (2 << shift) + 1, size=16)
    span = int(max(1, np.abs(flat).max() if flat.size else 1))
    t[PWL_ICPT_WORD : PWL_ICPT_WORD + 16] = rng.integers(-min(span, I32_MAX), min(span, I32_MAX) + 1, size=16)
    return t


def _requant(rng: np.random.Generator, v: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column multiplier and shift scaling |v| to about 2**(3..10): some columns saturate."""
    mult = rng.integers(1, 1 << 14, size=n).astype(np.int64)
    mult = np.where(rng.random(n) < 0.1, -mult, mult)
    peak = np.abs(v).max(axis=0) if v.size else np.zeros(n)
    target = np.where(rng.random(n) < 0.1, 34, rng.integers(3, 11, size=n))  # 34: int32 saturation
    need = np.log2(np.maximum(peak * np.abs(mult), 1)) - target
    shift = np.clip(np.ceil(need), 0, 62).astype(np.int64)
    shift = np.where(rng.random(n) < 0.03, 63, shift)  # clamped to SHIFT_MAX
    return mult, shift


def gemm_layer(
    b: ProgramBuilder, name: str, kn: LayerKnobs, *, a_in: tuple[TensorRef, np.ndarray] | None = None
) -> tuple[TensorRef, np.ndarray]:
    """Append a tiled GEMM layer; returns the output tensor and its expected values."""
    rng, hw = b.rng, b.hw
    R, C = hw.rows, hw.cols
    b.begin_layer(name, "gemm")
    # ---- operands
    if a_in is None:
        M, K = _dim(rng, kn.max_dim, R), _dim(rng, kn.max_dim, R)
        a = data.int8(rng, (M, K), str(rng.choice(kn.dists)))
        a_ref = b.place(
            f"{name}.A",
            a,
            role="input",
            transposed=rng.random() < kn.p_transposed,
            pad=_pick(rng, 1, 9) if rng.random() < kn.p_pad else 0,
        )
    else:
        a_ref, a = a_in
        M, K = a.shape
    N = _dim(rng, kn.max_dim, C)
    w = data.int8(rng, (K, N), str(rng.choice(kn.dists)))
    w_ref = b.place(
        f"{name}.W",
        w,
        role="const",
        transposed=rng.random() < kn.p_transposed,
        pad=_pick(rng, 1, 9) if rng.random() < kn.p_pad else 0,
    )
    acc = a.astype(np.int64) @ w.astype(np.int64)

    # ---- PPU configuration fitted to the data
    en = {
        k: rng.random() < p
        for k, p in (("bias", kn.p_bias), ("row", kn.p_row), ("requant", kn.p_requant), ("pwl", kn.p_pwl))
    }
    out_int32 = rng.random() < kn.p_int32_out
    cfg = arith.PpuConfig(N, out_int32=True)
    v = acc
    span = int(max(1, np.abs(acc).max()))
    if en["bias"]:
        cfg.bias = data.int32(rng, (N,), -span, span, p_extreme=0.05).astype(np.int64)
        cfg.bias_en = True
        v = arith.ppu(acc, cfg)
    row_off = row_scale = None
    if en["row"]:
        row_off = data.int32(rng, (M,), -span, span).astype(np.int64)
        row_scale = data.int32(rng, (M,), -(1 << 12), 1 << 12).astype(np.int64)
        cfg.row_shift = int(rng.choice([0, _pick(rng, 1, 14), 62, 63]))
        cfg.row_en = True
        v = arith.ppu(acc, cfg, row_off, row_scale)
    if en["requant"]:
        cfg.mult, shift = _requant(rng, v, N)
        cfg.shift = shift
        cfg.requant_en = True
        v = arith.ppu(acc, cfg, row_off, row_scale)
    if en["pwl"]:
        cfg.pwl = _pwl_table(rng, v)
        cfg.pwl_en = True
    cfg.out_int32 = out_int32
    expected = arith.ppu(acc, cfg, row_off, row_scale) if en["row"] else arith.ppu(acc, cfg)

    # ---- VEC parameter block: per n-block bias / mult / shift rows, then the PWL table
    NB, KB = -(-N // C), -(-K // R)
    vec_rows: list[np.ndarray] = []
    rows_of: dict[str, int] = {}

    def vec_block(key: str, vec: np.ndarray) -> None:
        rows_of[key] = len(vec_rows)
        padded = np.zeros(NB * C, dtype=np.int64)
        padded[: vec.size] = vec
        vec_rows.extend(padded.reshape(NB, C))

    if en["bias"]:
        vec_block("bias", cfg.bias)
    if en["requant"]:
        vec_block("mult", cfg.mult)
        vec_block("shift", cfg.shift + 64 * rng.integers(0, 4, size=N) * (rng.random() < 0.2))
    if en["pwl"]:
        rows_of["pwl"] = len(vec_rows)
        padded = np.zeros(hw.pwl_rows * C, dtype=np.int64)
        padded[:PWL_WORDS] = cfg.pwl
        vec_rows.extend(padded.reshape(hw.pwl_rows, C))
    vbase = 0
    if vec_rows:
        vec = np.clip(np.array(vec_rows), -(1 << 31), I32_MAX).astype(np.int32)
        vref = b.place(f"{name}.vec", vec, role="const")
        vbase = _pick(rng, 0, hw.vec_depth - len(vec_rows))
        if rng.random() < 0.5:
            _load2d(b, Buffer.VEC, vbase, vref, 0, 0, len(vec_rows), C)
        else:  # one LOAD per row, ragged widths where the data is ragged
            for r in range(len(vec_rows)):
                _load2d(b, Buffer.VEC, vbase + r, vref, r, 0, 1, C)
    row_ref = None
    if en["row"]:
        assert row_off is not None and row_scale is not None
        rows = np.stack([row_off, row_scale], axis=1).astype(np.int32)
        row_ref = b.place(f"{name}.row", rows, role="const")

    # ---- tiling: ring slots in INP / WGT / ACC
    n_acc = _pick(rng, 1, 3)
    n_inp = _pick(rng, 1, 2)
    n_wgt = _pick(rng, 1, 3)
    mt_max = max(1, min(M, hw.acc_depth // n_acc, hw.inp_depth // (KB * n_inp)))
    mt = mt_max if rng.random() < 0.5 else _pick(rng, 1, mt_max)
    acc_base = _pick(rng, 0, hw.acc_depth - n_acc * mt)
    inp_base = _pick(rng, 0, hw.inp_depth - n_inp * KB * mt)
    resident = rng.random() < kn.p_weights_resident and KB * NB * R <= hw.wgt_depth
    wslots = KB * NB if resident else n_wgt
    wgt_base = _pick(rng, 0, hw.wgt_depth - wslots * R)
    out_ref = b.reserve(
        f"{name}.C",
        (M, N),
        "int32" if out_int32 else "int8",
        transposed=rng.random() < kn.p_transposed,
        pad=_pick(rng, 1, 9) if rng.random() < kn.p_pad else 0,
    )
    if resident:
        for kb in range(KB):
            for nb in range(NB):
                _load2d(
                    b,
                    Buffer.WGT,
                    wgt_base + (kb * NB + nb) * R,
                    w_ref,
                    kb * R,
                    nb * C,
                    min(R, K - kb * R),
                    min(C, N - nb * C),
                )
    flags = {
        "bias_en": int(en["bias"]),
        "row_en": int(en["row"]),
        "requant_en": int(en["requant"]),
        "pwl_en": int(en["pwl"]),
        "out_int32": int(out_int32),
        "row_shift": cfg.row_shift,
    }
    last_cfg: dict[str, int] | None = None
    ia = iw = 0
    for m0 in range(0, M, mt):
        mr = min(mt, M - m0)
        ibase = inp_base + (ia % n_inp) * KB * mt
        ia += 1
        for kb in range(KB):
            _load2d(b, Buffer.INP, ibase + kb * mt, a_ref, m0, kb * R, mr, min(R, K - kb * R))
        for nb in range(NB):
            abase = acc_base + ((m0 // mt * NB + nb) % n_acc) * mt
            nc = min(C, N - nb * C)
            if row_ref is not None:
                _load2d(b, Buffer.ROW, abase, row_ref, m0, 0, mr, 2)
            for kb in range(KB):
                if resident:
                    wb = wgt_base + (kb * NB + nb) * R
                else:
                    wb = wgt_base + (iw % n_wgt) * R
                    iw += 1
                    _load2d(b, Buffer.WGT, wb, w_ref, kb * R, nb * C, min(R, K - kb * R), nc)
                b.emit(
                    Opcode.GEMM,
                    inp_addr=ibase + kb * mt,
                    wgt_addr=wb,
                    acc_addr=abase,
                    m=mr,
                    accumulate=int(kb > 0),
                )
            pc = dict(flags)
            pc["bias_row"] = vbase + rows_of.get("bias", 0) + nb if en["bias"] else 0
            pc["mult_row"] = vbase + rows_of.get("mult", 0) + nb if en["requant"] else 0
            pc["shift_row"] = vbase + rows_of.get("shift", 0) + nb if en["requant"] else 0
            pc["pwl_row"] = vbase + rows_of.get("pwl", 0) if en["pwl"] else 0
            if pc != last_cfg:
                b.emit(Opcode.PPUCFG, **pc)
                last_cfg = pc
            s0, s1 = out_ref.strides
            b.emit(
                Opcode.STORE,
                sram_addr=abase,
                x_size=nc,
                x_stride=s1,
                y_size=mr,
                y_stride=s0,
                ext_addr=out_ref.addr + m0 * s0 + nb * C * s1,
            )
    b.end_layer(M=M, K=K, N=N, m_tile=mt, ppu={k: bool(x) for k, x in en.items()}, out_int32=out_int32)
    out = expected.astype(np.int32 if out_int32 else np.int8)
    b.expected[out_ref.name] = out
    return out_ref, out


# --------------------------------------------------------------------------- random instruction mix


def _stride_pattern(rng: np.random.Generator, x: int, e: int) -> tuple[int, int, str]:
    """(x_stride, y_stride, kind) of a random 2-D access of x elements of e bytes per row."""
    kinds = ["contig", "contig", "gather", "broadcast", "transposed", "overlap", "repeat"]
    kind = str(rng.choice(kinds + (["sub_element"] if e > 1 else [])))
    if kind == "sub_element":  # int32 elements overlapping in memory
        return _pick(rng, 1, e - 1), x * e, kind
    if kind == "contig":
        return e, x * e + _pick(rng, 0, 3) * e, kind
    if kind == "gather":
        xs = e * _pick(rng, 2, 5)
        return xs, x * xs + _pick(rng, 0, 7), kind
    if kind == "broadcast":
        return 0, e * _pick(rng, 1, 4), kind
    if kind == "transposed":
        return e * _pick(rng, 8, 40), e, kind
    if kind == "overlap":
        return e, max(1, (x * e) // 2), kind
    return e, 0, kind  # repeat: every row reads/writes the same bytes


def _span(y: int, ys: int, x: int, xs: int, e: int) -> int:
    return (y - 1) * ys + (x - 1) * xs + e


def mix_block(b: ProgramBuilder, name: str, n_ops: int, *, max_rows: int = 24) -> None:
    """Append a layer of ``n_ops`` random instructions with field corners."""
    rng, hw = b.rng, b.hw
    b.begin_layer(name, "mix")
    n_store = 0
    ops = ["LOAD"] * 8 + ["GEMM"] * 5 + ["STORE"] * 4 + ["PPUCFG"] * 2 + ["SYNC"] * 1
    for i in range(n_ops):
        op = str(rng.choice(ops))
        if op == "LOAD":
            buf = Buffer(int(rng.choice([0, 0, 1, 1, 2, 3])))
            e, width, depth = hw.elem_bytes(buf), hw.width(buf), hw.depth(buf)
            x = int(rng.choice([1, width, _pick(rng, 1, width)]))
            y = _pick(rng, 1, min(max_rows, depth))
            sram = int(rng.choice([0, depth - y, _pick(rng, 0, depth - y)]))
            xs, ys, _ = _stride_pattern(rng, x, e)
            nbytes = _span(y, ys, x, xs, e)
            addr = b.alloc(nbytes)
            if e == 1:
                vals = data.int8(rng, (nbytes,), str(rng.choice(data.INT8_DISTS))).view(np.uint8)
            else:
                vals = data.int32(rng, (-(-nbytes // 4),), -(1 << 20), 1 << 20, 0.05).view(np.uint8)[:nbytes]
            b.mem[addr : addr + nbytes] = vals.tobytes()
            b.tensors.append(
                {
                    "name": f"{name}.src{i}",
                    "role": "input",
                    "addr": addr,
                    "shape": [nbytes],
                    "strides": [1],
                    "dtype": "int8",
                    "check": False,
                    "layer": name,
                }
            )
            b.emit(
                Opcode.LOAD,
                buf_sel=int(buf),
                sram_addr=sram,
                x_size=x,
                x_stride=xs,
                y_size=y,
                y_stride=ys,
                ext_addr=addr,
            )
        elif op == "GEMM":
            m = _pick(rng, 1, min(max_rows, hw.acc_depth))

            def corner(top: int) -> int:
                return int(rng.choice([0, top, _pick(rng, 0, top)]))

            b.emit(
                Opcode.GEMM,
                inp_addr=corner(hw.inp_depth - m),
                wgt_addr=corner(hw.wgt_depth - hw.rows),
                acc_addr=corner(hw.acc_depth - m),
                m=m,
                accumulate=int(rng.random() < 0.5),
            )
        elif op == "STORE":
            e = 4 if b.ppu_out_int32 else 1
            x = int(rng.choice([1, hw.cols, _pick(rng, 1, hw.cols)]))
            y = _pick(rng, 1, min(max_rows, hw.acc_depth))
            sram = int(rng.choice([0, hw.acc_depth - y, _pick(rng, 0, hw.acc_depth - y)]))
            xs, ys, _ = _stride_pattern(rng, x, e)
            ref = TensorRef(
                f"{name}.out{n_store}",
                b.alloc(_span(y, ys, x, xs, e)),
                (y, x),
                (ys, xs),
                "int32" if e == 4 else "int8",
            )
            b.add_tensor(ref, role="output", check=True)
            n_store += 1
            b.emit(
                Opcode.STORE, sram_addr=sram, x_size=x, x_stride=xs, y_size=y, y_stride=ys, ext_addr=ref.addr
            )
        elif op == "PPUCFG":
            vd = hw.vec_depth
            b.emit(
                Opcode.PPUCFG,
                bias_en=int(rng.random() < 0.5),
                row_en=int(rng.random() < 0.3),
                requant_en=int(rng.random() < 0.5),
                pwl_en=int(rng.random() < 0.4),
                out_int32=int(rng.random() < 0.4),
                row_shift=_pick(rng, 0, 63),
                bias_row=_pick(rng, 0, vd - 1),
                mult_row=_pick(rng, 0, vd - 1),
                shift_row=_pick(rng, 0, vd - 1),
                pwl_row=_pick(rng, 0, vd - hw.pwl_rows),
            )
        else:  # a SYNC that also waits for another engine (token ping-pong through a SYNC)
            q = Queue(int(rng.choice(list(Queue))))
            others = [p for p in Queue if p != q]
            force = {others[int(rng.integers(0, 2))]} if rng.random() < 0.6 else set()
            b.emit_insn(make(Opcode.SYNC, queue=int(q)), force=force)
    b.end_layer(n_ops=n_ops)
