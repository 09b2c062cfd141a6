"""Block tests of nmx_gemm_engine (harness ``nmx_gemm_tb``: engine + nmx_sram INP/WGT/ACC).

Every ACC write is checked against golden.arith.gemm_tile sequenced command by command
(:class:`GemmHarness`), then the whole ACC is read back through the store-side copy.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np

from tb.blocks.gemm_harness import GemmHarness
from tb.blocks.gemm_model import GemmCmd

I8_LO, I8_HI = -128, 127


def rand_i8(nrng: np.random.Generator, shape) -> np.ndarray:
    """Random int8 with extra weight on the extremes (largest products)."""
    v = nrng.integers(I8_LO, I8_HI + 1, size=shape, dtype=np.int64)
    ext = nrng.random(shape) < 0.1
    return np.where(ext, nrng.choice([I8_LO, I8_HI], size=shape), v)


async def setup(dut, seed: int) -> tuple[GemmHarness, random.Random, np.random.Generator]:
    h = GemmHarness(dut)
    await h.start()
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    c = h.cfg
    await h.write_inp(0, rand_i8(nrng, (c.inp_depth, c.rows)))
    await h.write_wgt(0, rand_i8(nrng, (c.wgt_depth, c.cols)))
    await h.write_acc(0, nrng.integers(-(1 << 31), 1 << 31, size=(c.acc_depth, c.cols), dtype=np.int64))
    return h, rng, nrng


def rand_m(rng: random.Random, h: GemmHarness, big: int = 80) -> int:
    r, c = h.cfg.rows, h.cfg.cols
    pick = rng.random()
    if pick < 0.2:
        m = 1
    elif pick < 0.4:
        m = rng.randint(2, 4)
    elif pick < 0.7:
        m = rng.randint(5, 20)
    elif pick < 0.85:
        m = rng.randint(21, big)
    else:  # around the array's fill/drain and preload distances
        m = max(1, rng.choice([r, c, r + c]) + rng.randint(-2, 2))
    return min(m, h.cfg.acc_depth, h.cfg.inp_depth)


def rand_cmd(rng: random.Random, h: GemmHarness, m: int, acc_addr: int | None = None,
             accumulate: int | None = None) -> GemmCmd:
    c = h.cfg
    return GemmCmd(inp_addr=rng.randrange(c.inp_depth - m + 1),
                   wgt_addr=rng.randrange(c.wgt_depth - c.rows + 1),
                   acc_addr=rng.randrange(c.acc_depth - m + 1) if acc_addr is None else acc_addr,
                   m=m, accumulate=rng.randint(0, 1) if accumulate is None else accumulate)


@cocotb.test()
async def test_single_commands(dut):
    """One command at a time (engine idle in between): m = 1, ROWS, 3; overwrite and accumulate."""
    h, rng, _ = await setup(dut, 1)
    for m in (1, h.cfg.rows, 3, h.cfg.cols + 1):
        for acc in (0, 1):
            await h.run([rand_cmd(rng, h, m, accumulate=acc)])
            assert int(dut.idle.value) == 1
    await h.check_acc()


@cocotb.test()
async def test_random_stream(dut):
    """Random commands, random gaps, random m (incl. 1), k-loops into the same ACC rows."""
    h, rng, _ = await setup(dut, 2)
    cmds: list[GemmCmd] = []
    while len(cmds) < 60:
        m = rand_m(rng, h)
        if rng.random() < 0.4:  # a k-loop: same rows, accumulate (first one may overwrite)
            base = rng.randrange(h.cfg.acc_depth - m + 1)
            for j in range(rng.randint(2, 6)):
                cmds.append(rand_cmd(rng, h, m, acc_addr=base, accumulate=int(j > 0 or rng.random() < 0.5)))
        else:
            cmds.append(rand_cmd(rng, h, m))
    for gap_prob in (0.0, 0.3):
        await h.run(cmds, gap_prob=gap_prob, rng=rng)
    await h.check_acc()


@cocotb.test()
async def test_accumulate_raw_hazard(dut):
    """Back-to-back accumulation into the same / partly overlapping ACC rows with tiny m:
    the rows a command reads were written 1..4 cycles earlier by the previous command."""
    h, rng, _ = await setup(dut, 3)
    base = 17
    cmds = []
    for _ in range(120):
        m = rng.choice([1, 1, 2, 3, 4, 5])
        cmds.append(rand_cmd(rng, h, m, acc_addr=base + rng.choice([0, 0, 0, 1, 2, 3]), accumulate=1))
    # plus the k-loop shape at a size that spans the pipeline several times
    for m in (h.cfg.rows + h.cfg.cols, 2 * (h.cfg.rows + h.cfg.cols) + 1):
        cmds += [rand_cmd(rng, h, m, acc_addr=300 % (h.cfg.acc_depth - m), accumulate=int(j > 0))
                 for j in range(6)]
    await h.run(cmds)
    await h.check_acc()


@cocotb.test()
async def test_accumulate_boundary_overlap(dut):
    """Streams long enough to run back to back, each command's first rows being the previous
    command's last rows (overlap 1..3 rows, accumulate): a row is read 1, 2 or 3 cycles after it
    was computed, so the ACC read-modify-write must forward from its own pipeline."""
    h, rng, _ = await setup(dut, 8)
    c = h.cfg
    lo = 2 * c.rows + c.cols + 4  # long enough that the next command's weights are preloaded
    for gaps in (0.0, 0.2):
        cmds: list[GemmCmd] = []
        addr = 0
        while len(cmds) < 24:
            m = rng.randint(lo, lo + 20)
            if addr + m > c.acc_depth:
                addr = 0
            cmds.append(rand_cmd(rng, h, m, acc_addr=addr, accumulate=int(rng.random() < 0.9)))
            addr += m - rng.choice([1, 1, 2, 3, 0])
        st = await h.run(cmds, gap_prob=gaps, rng=rng)
        if not gaps:
            assert st.mac_bubbles == 0, f"{st.mac_bubbles} bubbles: the hazard was not exercised"
    await h.check_acc()


@cocotb.test()
async def test_small_m_weight_swap(dut):
    """m = 1..3 back to back with a new weight tile each: the weight bank of command n+2 is
    reloaded while command n's last activations still cross the array (bank drain timing)."""
    h, rng, _ = await setup(dut, 4)
    cmds = [rand_cmd(rng, h, rng.choice([1, 2, 3]), accumulate=rng.randint(0, 1)) for _ in range(80)]
    await h.run(cmds)
    await h.check_acc()


@cocotb.test()
async def test_wrap32(dut):
    """Accumulation wraps modulo 2**32: ACC preset near the int32 limits, extreme operands."""
    h, _, nrng = await setup(dut, 5)
    c = h.cfg
    await h.write_inp(0, np.full((8, c.rows), I8_LO))
    await h.write_inp(8, np.full((8, c.rows), I8_HI))
    await h.write_wgt(0, np.full((c.rows, c.cols), I8_LO))
    near = np.where(nrng.random((16, c.cols)) < 0.5, (1 << 31) - 1 - nrng.integers(0, 1000, (16, c.cols)),
                    -(1 << 31) + nrng.integers(0, 1000, (16, c.cols)))
    await h.write_acc(0, near)
    cmds = [GemmCmd(inp_addr=0, wgt_addr=0, acc_addr=0, m=16, accumulate=1) for _ in range(3)]
    cmds += [GemmCmd(inp_addr=0, wgt_addr=0, acc_addr=0, m=8, accumulate=1),
             GemmCmd(inp_addr=0, wgt_addr=0, acc_addr=8, m=8, accumulate=0)]
    await h.run(cmds)
    got = await h.read_acc(0, 16)
    assert np.array_equal(got, h.golden.acc[:16])
    # rows 0..7 add a positive product to values near +2**31: they must have wrapped negative
    assert ((near[:8] > 0) & (got[:8] < 0)).any(), "test did not wrap"


@cocotb.test()
async def test_utilisation_back_to_back(dut):
    """Back-to-back m=256 GEMMs (a K loop into the same 256 ACC rows, new weights each):
    the array must be busy >= 95 % of the cycles from first accept to last completion."""
    h, rng, _ = await setup(dut, 6)
    m, n = 256, 8
    cmds = [GemmCmd(inp_addr=rng.randrange(h.cfg.inp_depth - m + 1),
                    wgt_addr=(j * h.cfg.rows) % (h.cfg.wgt_depth - h.cfg.rows), acc_addr=0, m=m,
                    accumulate=int(j > 0)) for j in range(n)]
    st = await h.run(cmds)
    await h.check_acc(0, m)
    overhead = st.cycles - st.mac_cycles
    dut._log.info(f"UTILISATION ROWS={h.cfg.rows} COLS={h.cfg.cols}: {n} x GEMM m={m}: mac_cycles="
                  f"{st.mac_cycles} cycles={st.cycles} utilisation={st.utilisation:.4f} "
                  f"(overhead {overhead} cycles = first preload + fill/drain; "
                  f"bubbles between commands: {st.mac_bubbles})")
    assert st.mac_bubbles == 0, f"{st.mac_bubbles} bubble cycles between back-to-back GEMMs"
    assert st.utilisation >= 0.95, f"utilisation {st.utilisation:.4f} < 0.95"


@cocotb.test()
async def test_min_m_without_bubbles(dut):
    """Back-to-back GEMMs stream without a bubble from m = 2*ROWS + COLS - 1 on (command n+1's
    preload waits until command n-1's last row drained, ROWS+COLS-3 cycles, then takes ROWS+2).
    Bubbles obey b[n+1] = max(0, 2*ROWS + COLS - 1 - m - b[n]): one row less gives 1,0,1,0..."""
    h, rng, _ = await setup(dut, 9)
    m_min = 2 * h.cfg.rows + h.cfg.cols - 1
    n = 6
    for m, bubbles in ((m_min, 0), (m_min - 1, (n - 1) // 2)):
        cmds = [rand_cmd(rng, h, m, acc_addr=0, accumulate=int(j > 0)) for j in range(n)]
        st = await h.run(cmds)
        dut._log.info(f"m={m}: {st.mac_bubbles} bubbles over {n} commands")
        assert st.mac_bubbles == bubbles, f"m={m}: {st.mac_bubbles} bubbles, expected {bubbles}"
    await h.check_acc()


@cocotb.test()
async def test_halt(dut):
    """halt: stop accepting and issuing, no completion afterwards, idle rises; after a reset the
    engine works again."""
    from cocotb.triggers import ReadOnly, RisingEdge

    h, rng, _ = await setup(dut, 7)
    d = dut
    cmd = GemmCmd(0, 0, 0, 200, 0)
    d.cmd_valid.value, d.cmd_insn.value = 1, cmd.encode()
    for _ in range(8):
        await ReadOnly()
        accepted = int(d.cmd_ready.value)
        await RisingEdge(d.clk)
        if accepted:
            break
    else:
        raise AssertionError(f"watchdog: first command {cmd} not accepted (cmd_ready low)")
    d.cmd_insn.value = GemmCmd(0, 0, 0, 50, 1).encode()  # second command offered, still valid
    for _ in range(h.cfg.rows + 30):
        await RisingEdge(d.clk)
    d.halt.value = 1
    for cyc in range(4 * (h.cfg.rows + h.cfg.cols) + 20):
        await ReadOnly()
        assert not int(d.cmd_ready.value), "cmd_ready while halted"
        assert not int(d.cmpl_valid.value), "completion after halt"
        if cyc > 0:
            assert not int(d.mac_active.value), "rows still issued after halt"
        if int(d.idle.value):
            break
        await RisingEdge(d.clk)
    else:
        raise AssertionError("watchdog: engine not idle after halt (rows of the halted GEMM in flight)")
    await RisingEdge(d.clk)
    d.cmd_valid.value = 0
    d.halt.value = 0
    d.rst_n.value = 0
    await RisingEdge(d.clk)
    d.rst_n.value = 1
    await RisingEdge(d.clk)
    # ACC rows of the abandoned commands are unspecified: continue with overwriting commands
    cmds = [rand_cmd(rng, h, rng.randint(1, 40), accumulate=0) for _ in range(6)]
    await h.run(cmds)
