"""Driver/monitor for the ``nmx_gemm_tb`` harness (nmx_gemm_engine + its nmx_sram buffers).

Buffer contents live in the real ``nmx_sram`` instances; Python only writes them through the
harness's testbench ports and keeps the golden copy (:class:`GemmGolden`). :meth:`run` drives a
command stream (with optional random gaps), checks every ACC write of the engine against the
golden write sequence as it happens, checks completions (one per command, in order, after the
command's last write) and stops with a message naming what is pending if the cycle watchdog
expires.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden.isa import HwConfig
from tb.blocks import block_hw
from tb.blocks.gemm_model import GemmCmd, GemmGolden, pack_row, unpack_row


@dataclass
class RunStats:
    commands: int
    mac_cycles: int
    cycles: int          # first command accepted .. last completion, inclusive
    first_accept: int
    last_cmpl: int
    mac_bubbles: int     # cycles without mac_active between the first and the last mac_active

    @property
    def utilisation(self) -> float:
        return self.mac_cycles / self.cycles if self.cycles else 0.0


class GemmHarness:
    def __init__(self, dut, cfg: HwConfig | None = None) -> None:
        self.dut = dut
        self.cfg = cfg or block_hw()
        c = self.cfg
        self.golden = GemmGolden(c.rows, c.cols, c.inp_depth, c.wgt_depth, c.acc_depth)
        self.cycle = 0

    # ------------------------------------------------------------------ basic sequencing
    async def start(self) -> None:
        d = self.dut
        Clock(d.clk, 10, unit="ns").start()
        for s in ("cmd_valid", "halt", "tb_inp_we", "tb_wgt_we", "tb_acc_we", "tb_acc_re"):
            getattr(d, s).value = 0
        d.cmd_insn.value = 0
        d.cmd_index.value = 0
        d.rst_n.value = 0
        for _ in range(3):
            await RisingEdge(d.clk)
        d.rst_n.value = 1
        await RisingEdge(d.clk)

    async def tick(self) -> None:
        await RisingEdge(self.dut.clk)
        self.cycle += 1

    # ------------------------------------------------------------------ buffer access
    async def write_inp(self, addr: int, rows: np.ndarray) -> None:
        d = self.dut
        for i, r in enumerate(np.asarray(rows, dtype=np.int64)):
            d.tb_inp_we.value, d.tb_inp_waddr.value, d.tb_inp_wdata.value = 1, addr + i, pack_row(r, 8)
            self.golden.inp[addr + i] = r
            await self.tick()
        d.tb_inp_we.value = 0

    async def write_wgt(self, addr: int, rows: np.ndarray) -> None:
        d = self.dut
        for i, r in enumerate(np.asarray(rows, dtype=np.int64)):
            d.tb_wgt_we.value, d.tb_wgt_waddr.value, d.tb_wgt_wdata.value = 1, addr + i, pack_row(r, 8)
            self.golden.wgt[addr + i] = r
            await self.tick()
        d.tb_wgt_we.value = 0

    async def write_acc(self, addr: int, rows: np.ndarray) -> None:
        """Preset accumulators (only while the engine is idle)."""
        d = self.dut
        assert int(d.idle.value) == 1, "ACC preset while the engine is busy"
        for i, r in enumerate(np.asarray(rows, dtype=np.int64)):
            d.tb_acc_we.value, d.tb_acc_waddr.value, d.tb_acc_wdata.value = 1, addr + i, pack_row(r, 32)
            self.golden.acc[addr + i] = r
            await self.tick()
        d.tb_acc_we.value = 0

    async def read_acc(self, addr: int, n: int) -> np.ndarray:
        """Read n ACC rows through the store-side copy (pipelined: one row per cycle)."""
        d, cols = self.dut, self.cfg.cols
        out = np.zeros((n, cols), dtype=np.int64)
        if n == 0:
            return out
        d.tb_acc_re.value, d.tb_acc_raddr.value = 1, addr
        for j in range(n):
            await self.tick()                       # this edge captures row addr+j
            if j + 1 < n:
                d.tb_acc_raddr.value = addr + j + 1
            else:
                d.tb_acc_re.value = 0
            await ReadOnly()
            out[j] = unpack_row(d.tb_acc_rdata.value.to_unsigned(), cols, 32)
        await self.tick()
        return out

    async def check_acc(self, addr: int = 0, n: int | None = None) -> None:
        n = self.cfg.acc_depth - addr if n is None else n
        got = await self.read_acc(addr, n)
        exp = self.golden.acc[addr:addr + n]
        bad = np.argwhere(got != exp)
        assert bad.size == 0, (f"ACC mismatch in {len(bad)} elements; first at row {addr + bad[0][0]} col "
                               f"{bad[0][1]}: got {got[tuple(bad[0])]} expected {exp[tuple(bad[0])]}")

    # ------------------------------------------------------------------ command stream
    async def run(self, cmds: list[GemmCmd], gap_prob: float = 0.0, max_gap: int = 4,
                  rng: random.Random | None = None, watchdog: int | None = None) -> RunStats:
        """Issue ``cmds`` in order, check every ACC write and completion, wait until idle."""
        d, cols = self.dut, self.cfg.cols
        rng = rng or random.Random(0)
        # expected writes per command (golden executes in order, as the engine must)
        expected = [self.golden.execute(c) for c in cmds]
        if watchdog is None:
            watchdog = 200 + sum(c.m + 4 * (self.cfg.rows + self.cfg.cols) for c in cmds)
            watchdog += len(cmds) * (max_gap + 1) if gap_prob else 0
        mac0 = d.cnt_mac.value.to_unsigned()
        sent = cmpl = 0                # commands accepted / completed
        wr_cmd, wr_row = 0, 0          # next expected write: command index, row in it
        gap = 0
        first_accept = last_cmpl = first_mac = last_mac = -1
        start = self.cycle
        while cmpl < len(cmds) or int(d.idle.value) == 0:
            # drive this cycle's command
            if sent < len(cmds) and gap == 0:
                d.cmd_valid.value = 1
                d.cmd_insn.value = cmds[sent].encode()
                d.cmd_index.value = sent
            else:
                d.cmd_valid.value = 0
            await ReadOnly()
            accept = int(d.cmd_valid.value) and int(d.cmd_ready.value)
            if int(d.acc_we.value):
                assert wr_cmd < len(cmds), f"cycle {self.cycle}: ACC write after all rows were written"
                addr, row = expected[wr_cmd][wr_row]
                got_addr = d.acc_waddr.value.to_unsigned()
                got = unpack_row(d.acc_wdata.value.to_unsigned(), cols, 32)
                assert got_addr == addr and np.array_equal(got, row), (
                    f"cycle {self.cycle}: {cmds[wr_cmd]} (#{wr_cmd}) row {wr_row}: wrote ACC[{got_addr}]="
                    f"{got.tolist()}, expected ACC[{addr}]={row.tolist()}")
                wr_row += 1
                if wr_row == cmds[wr_cmd].m:
                    wr_cmd, wr_row = wr_cmd + 1, 0
            if int(d.cmpl_valid.value):
                assert cmpl < sent, f"cycle {self.cycle}: completion without an outstanding command"
                assert wr_cmd > cmpl, (f"cycle {self.cycle}: completion of {cmds[cmpl]} (#{cmpl}) before all "
                                       f"its ACC rows were written ({wr_row} of {cmds[cmpl].m})")
                cmpl += 1
                last_cmpl = self.cycle
            if int(d.mac_active.value):
                first_mac = self.cycle if first_mac < 0 else first_mac
                last_mac = self.cycle
            assert not int(d.err_valid.value), f"cycle {self.cycle}: err_valid raised"
            if accept:
                if first_accept < 0:
                    first_accept = self.cycle
                sent += 1
                gap = rng.randint(1, max_gap) if (gap_prob and rng.random() < gap_prob) else 0
            elif gap:
                gap -= 1
            if self.cycle - start > watchdog:
                pend = (f"{sent}/{len(cmds)} commands accepted, {cmpl} completed, ACC writes done for "
                        f"{wr_cmd} commands (+{wr_row} rows), idle={int(d.idle.value)}, "
                        f"cmd_ready={int(d.cmd_ready.value)}")
                nxt = f"; oldest pending: {cmds[cmpl]} (#{cmpl})" if cmpl < len(cmds) else ""
                raise AssertionError(f"watchdog: {watchdog} cycles elapsed; {pend}{nxt}")
            await self.tick()
        d.cmd_valid.value = 0
        assert wr_cmd == len(cmds), f"only {wr_cmd} of {len(cmds)} commands wrote all their rows"
        mac = d.cnt_mac.value.to_unsigned() - mac0
        rows_total = sum(c.m for c in cmds)
        assert mac == rows_total, f"mac_active counted {mac} rows, the commands stream {rows_total}"
        return RunStats(len(cmds), mac, last_cmpl - first_accept + 1, first_accept, last_cmpl,
                        last_mac - first_mac + 1 - mac)
