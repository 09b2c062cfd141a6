"""Block tests of nmx_store_engine: PPUCFG + STORE through the PPU onto an AXI write slave.

Harness (all Python): registered read-port models of ACC / ROW / VEC (rdata valid the cycle after
re, held while re is low, as nmx_sram), a command driver, monitors for cmpl/err/counters, and the
AXI write sink (tb/blocks/axi_write_sink.py) with random back-pressure. The reference executes the
same commands in order with golden.arith (PPU) and writes the bytes in (y, x) order into its own
copy of memory; the two memories must match byte for byte.

Checked on every run: memory contents, one completion per command in order (a STORE's completion
only after all its bytes were acknowledged on B), DMA byte count (wr_bytes), `idle` never high with
work outstanding, idle at the end, AXI protocol (in the sink). A watchdog names what is pending.

Configuration: the parameters it was built with (COLS, ACC_DEPTH, VEC_DEPTH, AXI_DATA_BITS), via
tb.blocks.block_param.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from golden.arith import I32_MAX, I32_MIN, PpuConfig, ppu
from golden.isa import (
    PWL_BREAKPOINTS,
    PWL_ICPT_WORD,
    PWL_SEGMENTS,
    PWL_SHIFT_WORD,
    PWL_SLOPE_WORD,
    PWL_WORDS,
    ErrorCode,
    Opcode,
    encode,
)
from tb.blocks import block_param
from tb.blocks.axi_write_sink import AxiWriteSink

COLS = block_param("COLS", 16)
ACC_DEPTH = block_param("ACC_DEPTH", 64)
VEC_DEPTH = block_param("VEC_DEPTH", 32)
BUS_BITS = block_param("AXI_DATA_BITS", 128)
BUS_BYTES = BUS_BITS // 8
PWL_ROWS = -(-PWL_WORDS // COLS)
MEM_SIZE = 1 << 16
FILL = 0xA5

# VEC layout used by the random programs (other rows are random words)
VEC_BIAS = (0, 4)
VEC_MULT = (4, 8)
VEC_SHIFT = (8, 12)
VEC_PWL = 12            # tables at 12, 12 + PWL_ROWS, ...


def pack32(vals) -> int:
    return int.from_bytes(np.asarray(vals, dtype=np.int64).astype("<i4").tobytes(), "little")


def rand_i32(rng: np.random.Generator, shape) -> np.ndarray:
    uni = rng.integers(I32_MIN, I32_MAX + 1, size=shape, dtype=np.int64)
    small = rng.integers(-3000, 3001, size=shape, dtype=np.int64)
    mid = rng.integers(-(1 << 22), 1 << 22, size=shape, dtype=np.int64)
    edge = rng.choice(np.array([I32_MIN, I32_MAX, 0, -1, 1], dtype=np.int64), size=shape)
    pick = rng.integers(0, 8, size=shape)
    return np.select([pick == 0, pick == 1, pick < 5], [uni, edge, mid], small)


# ---------------------------------------------------------------------------- commands
@dataclass
class Cmd:
    kind: str            # "store" / "cfg"
    fields: dict
    word: int = 0
    payload: int = 0     # bytes the ISA asks for (STORE)

    def encode(self, rng: random.Random) -> int:
        op = Opcode.STORE if self.kind == "store" else Opcode.PPUCFG
        # token bits are the top's business: set some at random, the engine must ignore them
        toks = {k: rng.randint(0, 1) for k in ("pop_ld", "pop_cmp", "push_ld", "push_cmp")}
        self.word = encode(op, **self.fields, **toks)
        return self.word


class RefModel:
    """In-order executor of PPUCFG / STORE with golden.arith."""

    def __init__(self, acc: np.ndarray, rows: np.ndarray, vec: np.ndarray) -> None:
        self.acc, self.rows, self.vec = acc, rows, vec
        self.cfg = PpuConfig(cols=COLS)
        self.mem = bytearray([FILL]) * MEM_SIZE

    def elem_bytes(self) -> int:
        return 4 if self.cfg.out_int32 else 1

    def ppucfg(self, f: dict) -> None:
        self.cfg.latch(f, np.asarray(self.vec))

    def store(self, f: dict) -> list[tuple[int, int]]:
        r0, ny, nx = f["sram_addr"], f["y_size"], f["x_size"]
        v = ppu(self.acc[r0:r0 + ny, :nx], self.cfg, self.rows[r0:r0 + ny, 0], self.rows[r0:r0 + ny, 1])
        e = self.elem_bytes()
        out = []
        for y in range(ny):
            for x in range(nx):
                a = (f["ext_addr"] + y * f["y_stride"] + x * f["x_stride"]) % (1 << 32)
                bs = int(v[y, x]).to_bytes(4, "little", signed=True)[:e]
                for k in range(e):
                    out.append(((a + k) % (1 << 32), bs[k]))
        return out


# ---------------------------------------------------------------------------- harness
class StoreHarness:
    def __init__(self, dut, seed: int) -> None:
        self.dut = dut
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)
        n = self.nrng
        self.acc = rand_i32(n, (ACC_DEPTH, COLS))
        self.rows = np.stack([n.integers(-5000, 5000, size=ACC_DEPTH),
                              np.where(n.random(ACC_DEPTH) < 0.1, rand_i32(n, ACC_DEPTH),
                                       n.integers(-(1 << 12), 1 << 12, size=ACC_DEPTH))], axis=1)
        self.vec = self._make_vec()
        self.acc_p = [pack32(r) for r in self.acc]
        self.row_p = [pack32(r) for r in self.rows]
        self.vec_p = [pack32(r) for r in self.vec]
        self.sink: AxiWriteSink | None = None

    def _make_vec(self) -> np.ndarray:
        n = self.nrng
        vec = rand_i32(n, (VEC_DEPTH, COLS))
        vec[VEC_BIAS[0]:VEC_BIAS[1]] = n.integers(-(1 << 16), 1 << 16, size=(VEC_BIAS[1] - VEC_BIAS[0], COLS))
        vec[VEC_MULT[0]:VEC_MULT[1]] = n.integers(-(1 << 16), 1 << 16, size=(VEC_MULT[1] - VEC_MULT[0], COLS))
        shifts = n.integers(0, 28, size=(VEC_SHIFT[1] - VEC_SHIFT[0], COLS))
        shifts = np.where(n.random(shifts.shape) < 0.1, n.integers(0, 64, size=shifts.shape), shifts)
        vec[VEC_SHIFT[0]:VEC_SHIFT[1]] = shifts + (n.integers(-(1 << 20), 1 << 20, size=shifts.shape) << 6)
        t = VEC_PWL
        while t + PWL_ROWS <= VEC_DEPTH:
            words = np.zeros(PWL_ROWS * COLS, dtype=np.int64)
            bp = n.integers(-(1 << 12), 1 << 12, size=PWL_BREAKPOINTS)
            words[:PWL_BREAKPOINTS] = np.sort(bp) if n.random() < 0.7 else bp
            words[PWL_SHIFT_WORD] = int(n.integers(0, 12)) + (int(n.integers(0, 1000)) << 6)
            slopes = n.integers(-(1 << 10), 1 << 10, size=PWL_SEGMENTS)
            icpts = n.integers(-(1 << 8), 1 << 8, size=PWL_SEGMENTS)
            words[PWL_SLOPE_WORD:PWL_SLOPE_WORD + PWL_SEGMENTS] = slopes
            words[PWL_ICPT_WORD:PWL_ICPT_WORD + PWL_SEGMENTS] = icpts
            vec[t:t + PWL_ROWS] = words.reshape(PWL_ROWS, COLS)
            t += PWL_ROWS
        return vec

    async def start(self, *, aw_prob=1.0, w_prob=1.0, b_prob=1.0, b_delay=0) -> AxiWriteSink:
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        d.rst_n.value = 0
        d.cmd_valid.value = 0
        d.cmd_insn.value = 0
        d.cmd_index.value = 0
        d.halt.value = 0
        d.acc_rdata.value = 0
        d.row_rdata.value = 0
        d.vec_rdata.value = 0
        self.sink = AxiWriteSink(d, d.clk, data_bits=BUS_BITS, mem_size=MEM_SIZE,
                                 rng=random.Random(self.rng.random()), aw_prob=aw_prob, w_prob=w_prob,
                                 b_prob=b_prob, b_delay=b_delay, fill=FILL)
        self.sink.start()
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst_n.value = 1
        await FallingEdge(d.clk)
        return self.sink

    # ------------------------------------------------------------------ random programs
    def rand_cfg_fields(self, out_int32: bool | None = None) -> dict:
        r = self.rng
        pwl_tables = (VEC_DEPTH - VEC_PWL) // PWL_ROWS
        f = dict(bias_en=r.randint(0, 1), row_en=r.randint(0, 1), requant_en=r.randint(0, 1),
                 pwl_en=r.randint(0, 1), out_int32=r.randint(0, 1) if out_int32 is None else int(out_int32),
                 row_shift=r.choice([0, 1, 4, 8, 12, 62, 63, r.randint(0, 63)]),
                 bias_row=r.randrange(*VEC_BIAS) if r.random() < 0.9 else r.randrange(VEC_DEPTH),
                 mult_row=r.randrange(*VEC_MULT) if r.random() < 0.9 else r.randrange(VEC_DEPTH),
                 shift_row=r.randrange(*VEC_SHIFT) if r.random() < 0.9 else r.randrange(VEC_DEPTH),
                 pwl_row=(VEC_PWL + PWL_ROWS * r.randrange(pwl_tables)) if pwl_tables and r.random() < 0.9
                 else r.randrange(VEC_DEPTH - PWL_ROWS + 1))
        return f

    def rand_store_fields(self, e: int, mode: str | None = None, ny_max: int = 12) -> dict:
        r = self.rng
        mode = mode or r.choice(["contig", "contig", "contig", "transposed", "strided", "page"])
        ny = r.randint(1, min(ny_max, ACC_DEPTH))
        nx = r.randint(1, COLS) if r.random() < 0.7 else COLS
        row_bytes = nx * e
        if mode in ("contig", "page"):
            xs = e
            ys = r.choice([row_bytes, row_bytes + r.randint(0, 40), r.randint(0, 3 * row_bytes + 8),
                           r.randint(BUS_BYTES, 4 * BUS_BYTES)])
        elif mode == "transposed":
            ys = e
            xs = r.choice([ny * e, ny * e + r.randint(0, 9), r.randint(e, 200)])
        else:  # arbitrary gather/scatter, including overlap and broadcast (x_stride 0)
            xs = r.choice([0, 1, 2, 3, 5, e + 1, r.randint(0, 300)])
            ys = r.randint(0, 400)
        span = (ny - 1) * ys + (nx - 1) * xs + e
        if mode == "page":  # straddle a 4 KiB boundary
            page = r.randrange(1, MEM_SIZE // 4096 - 1) * 4096
            ext = page - r.randint(1, max(1, min(span, 3 * BUS_BYTES)))
        else:
            ext = r.randrange(0, MEM_SIZE - span)
        ext = max(0, min(ext, MEM_SIZE - span))
        return dict(ext_addr=ext, y_stride=ys, y_size=ny, x_stride=xs, x_size=nx,
                    sram_addr=r.randrange(ACC_DEPTH - ny + 1))

    def rand_program(self, n: int, store_prob: float = 0.75, modes: list[str] | None = None,
                     ny_max: int = 12) -> list[Cmd]:
        cmds = [Cmd("cfg", self.rand_cfg_fields())]
        out32 = cmds[0].fields["out_int32"]
        for _ in range(n - 1):
            if self.rng.random() < store_prob:
                mode = self.rng.choice(modes) if modes else None
                cmds.append(Cmd("store", self.rand_store_fields(4 if out32 else 1, mode, ny_max)))
            else:
                cmds.append(Cmd("cfg", self.rand_cfg_fields()))
                out32 = cmds[-1].fields["out_int32"]
        return cmds

    # ------------------------------------------------------------------ execution
    async def run(self, cmds: list[Cmd], *, cmd_prob: float = 1.0, index_base: int = 0,
                  halt_at: int | None = None, expect_err: int | None = None,
                  max_cycles: int | None = None, what: str = "") -> dict:
        """Run ``cmds``; check everything; return statistics."""
        d, rng, sink = self.dut, self.rng, self.sink
        assert sink is not None
        ref = RefModel(self.acc, self.rows, self.vec)
        # expected memory, payload bytes, cumulative acknowledged bytes per completion
        cum, total = [], 0
        for c in cmds:
            c.encode(rng)
            if c.kind == "cfg":
                ref.ppucfg(c.fields)
            else:
                writes = ref.store(c.fields)
                for a, b in writes:
                    ref.mem[a] = b
                c.payload = len(writes)
                total += c.payload
            cum.append(total)
        sink.mem[:] = bytearray([FILL]) * MEM_SIZE
        acked0, strobed0 = sink.acked_bytes, sink.strobed_bytes

        slow = 1.0 / min(sink.aw_prob, sink.w_prob, sink.b_prob, cmd_prob)
        limit = max_cycles or int((3000 + 60 * len(cmds) + 4 * total + 4 * sink.b_delay * len(cmds)) * slow)
        sent = done = cycles = 0
        wr_bytes = stall_cycles = 0
        errors: list[tuple[int, int]] = []
        acc_pend = row_pend = vec_pend = None
        halted = False
        holding = False
        first_w = last_w = None
        while True:
            # ---------------- drive (after the falling edge)
            if acc_pend is not None:
                d.acc_rdata.value = acc_pend
            if row_pend is not None:
                d.row_rdata.value = row_pend
            if vec_pend is not None:
                d.vec_rdata.value = vec_pend
            acc_pend = row_pend = vec_pend = None
            if halt_at is not None and cycles >= halt_at:
                d.halt.value = 1
                halted = True
            want = sent < len(cmds) and not halted and (holding or rng.random() < cmd_prob)
            d.cmd_valid.value = int(want)
            if want:
                d.cmd_insn.value = cmds[sent].word
                d.cmd_index.value = (index_base + sent) & 0xFFFFFFFF
            await ReadOnly()
            # ---------------- sample
            if bool(d.acc_re.value):
                a = d.acc_raddr.value.to_unsigned()
                assert a < ACC_DEPTH, f"acc_raddr {a} out of range"
                acc_pend = self.acc_p[a]
            if bool(d.row_re.value):
                row_pend = self.row_p[d.row_raddr.value.to_unsigned()]
            if bool(d.vec_re.value):
                a = d.vec_raddr.value.to_unsigned()
                assert a < VEC_DEPTH, f"vec_raddr {a} out of range"
                vec_pend = self.vec_p[a]
            sent_before = sent
            holding = want
            if want and bool(d.cmd_ready.value):
                sent += 1
                holding = False
            if bool(d.cmpl_valid.value):
                assert not halted, f"{what}: completion after halt"
                assert done < sent, f"{what}: completion #{done} but only {sent} commands accepted"
                c = cmds[done]
                if c.kind == "store":
                    got = sink.acked_bytes - acked0
                    assert got >= cum[done], (f"{what}: STORE #{done} completed with only {got} of "
                                              f"{cum[done]} bytes acknowledged on B")
                done += 1
            if bool(d.err_valid.value):
                errors.append((d.err_code.value.to_unsigned(), d.err_index.value.to_unsigned()))
            if bool(d.wr_bytes_valid.value):
                wr_bytes += d.wr_bytes.value.to_unsigned()
                last_w = cycles
                if first_w is None:
                    first_w = cycles
            stall_cycles += int(bool(d.stall_mem.value))
            idle = bool(d.idle.value)
            if not errors and not halted:
                assert not (idle and done < sent_before), \
                    f"{what}: idle with {sent_before - done} command(s) outstanding"
            # ---------------- end conditions
            if expect_err is None and halt_at is None:
                if done == len(cmds) and idle and sink.quiet():
                    break
            elif idle and sink.quiet() and (halted or errors) and not bool(d.cmd_ready.value):
                break
            cycles += 1
            if cycles > limit:
                pend = [f"#{i} {cmds[i].kind} {cmds[i].fields}" for i in range(done, min(sent, done + 3))]
                raise AssertionError(
                    f"watchdog ({what}): {cycles} cycles; accepted {sent}/{len(cmds)}, completed {done}; "
                    f"oldest pending: {pend}; idle={idle}; {sink.pending()}; errors={errors}")
            await FallingEdge(d.clk)

        # ---------------- final checks
        await FallingEdge(d.clk)
        d.cmd_valid.value = 0
        stats = dict(cycles=cycles, wr_bytes=wr_bytes, stall=stall_cycles, done=done, sent=sent,
                     errors=errors, first_w=first_w, last_w=last_w)
        if expect_err is not None:
            assert errors, f"{what}: no err_valid (expected AXI_WRITE for index {expect_err})"
            assert len(errors) == 1, f"{what}: err_valid pulsed {len(errors)} times"
            assert errors[0] == (int(ErrorCode.AXI_WRITE), expect_err), \
                f"{what}: error {errors[0]}, expected {(int(ErrorCode.AXI_WRITE), expect_err)}"
            return stats
        assert not errors, f"{what}: unexpected errors {errors}"
        if halt_at is not None:
            return stats
        assert done == len(cmds)
        assert wr_bytes == total, f"{what}: wr_bytes counted {wr_bytes}, payload is {total}"
        assert sink.strobed_bytes - strobed0 == total, \
            f"{what}: {sink.strobed_bytes - strobed0} strobed bytes written, payload is {total}"
        if sink.mem != ref.mem:
            diff = [i for i in range(MEM_SIZE) if sink.mem[i] != ref.mem[i]]
            a = diff[0]
            raise AssertionError(f"{what}: {len(diff)} byte(s) differ, first at {a:#x}: "
                                 f"rtl {sink.mem[a]:#04x} ref {ref.mem[a]:#04x}; "
                                 f"program: {[(c.kind, c.fields) for c in cmds]}")
        return stats


async def setup(dut, **kw) -> StoreHarness:
    h = StoreHarness(dut, cocotb.RANDOM_SEED)
    await h.start(**kw)
    return h


def cfg_fields(**kw) -> dict:
    f = dict(bias_en=0, row_en=0, requant_en=0, pwl_en=0, out_int32=0, row_shift=0,
             bias_row=0, mult_row=0, shift_row=0, pwl_row=0)
    f.update(kw)
    return f


# ---------------------------------------------------------------------------- tests
@cocotb.test()
async def test_contiguous_throughput(dut):
    """Contiguous int8 / int32 stores without back-pressure: bytes, and W beats back to back
    (one ACC row per cycle when a row fits in one beat)."""
    h = await setup(dut)
    for out32 in (0, 1):
        e = 4 if out32 else 1
        ny = min(40, ACC_DEPTH)
        row_bytes = COLS * e
        beats_per_row = max(1, row_bytes // BUS_BYTES)
        rows_per_beat = max(1, BUS_BYTES // row_bytes)
        pitch = BUS_BYTES * -(-row_bytes // BUS_BYTES) if rows_per_beat == 1 else BUS_BYTES
        st = dict(ext_addr=0x1000, y_stride=pitch, y_size=ny, x_stride=e, x_size=COLS, sram_addr=0)
        cmds = [Cmd("cfg", cfg_fields(out_int32=out32, bias_en=1, requant_en=1, bias_row=0, mult_row=4,
                                      shift_row=8)), Cmd("store", st)]
        s = await h.run(cmds, what=f"throughput out32={out32}")
        span = s["last_w"] - s["first_w"] + 1
        dut._log.info("out32=%d: %d rows, %d W beats in %d cycles (first W at %d, total %d cycles)",
                      out32, ny, ny * beats_per_row, span, s["first_w"], s["cycles"])
        assert span <= ny * beats_per_row + 2, \
            f"W beats not back to back: {ny * beats_per_row} beats took {span} cycles"


@cocotb.test()
async def test_random_programs(dut):
    """Random PPUCFG / STORE programs (all modes), no back-pressure, then heavy back-pressure."""
    h = await setup(dut)
    for i in range(6):
        await h.run(h.rand_program(12), what=f"random {i}", index_base=h.rng.randrange(1 << 32))
    h.sink.aw_prob, h.sink.w_prob, h.sink.b_prob, h.sink.b_delay = 0.5, 0.4, 0.5, 3
    for i in range(6):
        await h.run(h.rand_program(12), cmd_prob=0.5, what=f"random bp {i}")


@cocotb.test()
async def test_transposed_and_strided(dut):
    """Element-wise stores: transposed, strided, overlapping (x_stride < element) and broadcast."""
    h = await setup(dut, aw_prob=0.7, w_prob=0.7, b_prob=0.8)
    for i in range(6):
        await h.run(h.rand_program(10, modes=["transposed", "strided"]), what=f"element-wise {i}")


@cocotb.test()
async def test_page_and_alignment(dut):
    """Rows straddling 4 KiB boundaries, every byte alignment of ext_addr, ragged x_size."""
    h = await setup(dut, aw_prob=0.8, w_prob=0.6)
    for i in range(4):
        await h.run(h.rand_program(12, store_prob=0.85, modes=["page"]), what=f"4k {i}")
    for out32 in (0, 1):
        e = 4 if out32 else 1
        cmds = [Cmd("cfg", cfg_fields(out_int32=out32))]
        for off in range(BUS_BYTES + 1):
            nx = 1 + off % COLS
            ext = 0x2000 - 2 * BUS_BYTES + off + 256 * off
            cmds.append(Cmd("store", dict(ext_addr=ext, y_stride=nx * e + 3, y_size=2, x_stride=e,
                                          x_size=nx, sram_addr=off % (ACC_DEPTH - 2))))
        await h.run(cmds, what=f"alignment out32={out32}")


@cocotb.test()
async def test_ppucfg_sequences(dut):
    """Back-to-back PPUCFGs (all enable combinations) between stores; completions stay in order."""
    h = await setup(dut, b_delay=6, b_prob=0.5)
    cmds = []
    for m in range(32):
        f = h.rand_cfg_fields()
        f.update(bias_en=m & 1, row_en=(m >> 1) & 1, requant_en=(m >> 2) & 1, pwl_en=(m >> 3) & 1,
                 out_int32=(m >> 4) & 1)
        cmds.append(Cmd("cfg", f))
        if h.rng.random() < 0.6:
            cmds.append(Cmd("cfg", h.rand_cfg_fields(out_int32=bool(f["out_int32"]))))
            f = cmds[-1].fields
        cmds.append(Cmd("store", h.rand_store_fields(4 if f["out_int32"] else 1, ny_max=4)))
    await h.run(cmds, what="ppucfg sequences")


@cocotb.test()
async def test_write_error(dut):
    """DECERR / SLVERR on B: err_valid once with AXI_WRITE and the index of the first failing STORE;
    outstanding responses are still accepted; no completion after the error; idle."""
    h = await setup(dut, aw_prob=0.7, w_prob=0.7, b_prob=0.7, b_delay=2)
    for trial in range(6):
        cmds = h.rand_program(10, store_prob=0.8, modes=["contig", "transposed"])
        stores = [i for i, c in enumerate(cmds) if c.kind == "store"]
        if not stores:
            continue
        bad = h.rng.choice(stores)
        f = cmds[bad].fields
        h.sink.error_ranges.clear()
        h.sink.slverr_fn = None
        if trial % 2:
            # DECERR: an address range covering the first byte of the failing STORE
            h.sink.add_error_range(f["ext_addr"], f["ext_addr"] + 1)
        else:
            lo = f["ext_addr"]
            h.sink.slverr_fn = lambda b, lo=lo: b.addr <= lo < b.addr + b.len * b.size
        # the reported store is the first one (in order) that touches the faulty byte
        ref = RefModel(h.acc, h.rows, h.vec)
        first = None
        for i, c in enumerate(cmds):
            if c.kind == "cfg":
                ref.ppucfg(c.fields)
            elif first is None:
                hit = any(a == f["ext_addr"] for a, _ in ref.store(c.fields))
                if trial % 2 == 0:  # SLVERR is per bus beat range: anything in the same bursts' beat
                    hit = any(a // BUS_BYTES == f["ext_addr"] // BUS_BYTES for a, _ in ref.store(c.fields))
                if hit:
                    first = i
        base = h.rng.randrange(1 << 31)
        try:
            await h.run(cmds, expect_err=(base + first) & 0xFFFFFFFF, index_base=base, what=f"error {trial}")
        finally:
            h.sink.error_ranges.clear()
            h.sink.slverr_fn = None
        # the engine stays stopped until reset
        await reset(h)


async def reset(h: StoreHarness) -> None:
    d = h.dut
    d.rst_n.value = 0
    d.halt.value = 0
    d.cmd_valid.value = 0
    for _ in range(2):
        await FallingEdge(d.clk)
    d.rst_n.value = 1
    await FallingEdge(d.clk)


@cocotb.test()
async def test_halt(dut):
    """halt in the middle of random programs: bursts on the bus complete, then idle, no completion
    after halt, no command accepted; after reset the engine works again."""
    h = await setup(dut, aw_prob=0.6, w_prob=0.5, b_prob=0.6, b_delay=2)
    for trial in range(8):
        cmds = h.rand_program(10, modes=["contig", "transposed", "page"])
        await h.run(cmds, halt_at=h.rng.randint(0, 120), what=f"halt {trial}")
        for _ in range(20):  # nothing moves afterwards
            await ReadOnly()
            assert not bool(dut.m_axi_awvalid.value) and not bool(dut.m_axi_wvalid.value), \
                "bus activity after idle"
            assert bool(dut.idle.value) and not bool(dut.cmd_ready.value)
            await FallingEdge(dut.clk)
        await reset(h)
        await h.run(h.rand_program(4), what=f"after halt {trial}")
