"""ProgramVseq: the virtual sequence that runs one Program from reset to verdict.

Steps: configure the memory model for the run's knobs and seed, reset, preload memory through the
backdoor, open the transfer log, feed the instructions (pyuvm driver with gaps, or the built-in
streamer, refilled in chunks while it runs when the Program is longer than its ring), wait for
``done`` under the watchdog, stop feeding, close the log (and, in a power build, arm the activity
windows before feeding and close the last one after the run, tb/power/capture.py), let the
scoreboard judge and the coverage collector sample, and write ``result.json`` for the parent.
"""

from __future__ import annotations

import json

import cocotb
from cocotb.triggers import ClockCycles, First, Timer
from pyuvm import uvm_sequence

from golden.isa import Counter
from tb.bfm.tb_top import StreamFeed
from tb.env.cfg import RunKnobs
from tb.env.diagnose import describe_hang, mem_model_queues
from tb.env.env import NmxEnv
from tb.env.run_ctx import RunContext
from tb.env.verdict import RunVerdict
from tb.power import capture
from tb.seq_lib.insn_seq import InsnStreamSeq
from tb.seq_lib.scrub import scrub_program, uninitialised_reads


class ProgramVseq(uvm_sequence):
    def __init__(self, name: str, env: NmxEnv, ctx: RunContext) -> None:
        super().__init__(name)
        self.env = env
        self.ctx = ctx
        self.verdict: RunVerdict | None = None

    async def body(self) -> None:
        env, ctx = self.env, self.ctx
        bfm = env.insn_agent.monitor.bfm
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        if ctx.golden is None:
            ctx.compute_golden()
        env.start_run(ctx)
        if self.env.scoreboard.env_cfg.scrub and not ctx.tags.get("no_scrub"):
            await self._scrub(bfm)
        if ctx.knobs.warm_reset_at:
            await self._warm_reset_prefix(bfm)
        env.mem_agent.configure(ctx.knobs, ctx.program.mem_size, ctx.seed)
        await bfm.reset()
        env.insn_agent.monitor.start_run(ctx.program.insns)  # counts from this reset (not a scrub's)
        await env.mem_agent.preload(ctx.program.memory)
        await env.mem_agent.open_log(ctx.out_dir / "transfers.log")
        power = self.env.scoreboard.env_cfg.power
        if power:
            await self._power_start(bfm)
        feeder = None
        seq = None
        stream: StreamFeed | None = None
        if ctx.knobs.feed == "stream":
            k = ctx.knobs
            stream = StreamFeed(bfm, ctx.program.insns, ring=k.stream_ring, chunk=k.stream_chunk)
            await stream.begin()
            start = bfm.cycle  # begin() started the streamer in this very time step
            feeder = cocotb.start_soon(stream.refill())
        else:
            start = bfm.cycle
            seq = InsnStreamSeq(
                "insns",
                ctx.program.insns,
                seed=ctx.seed,
                gap_prob=ctx.knobs.gap_prob,
                gap_max=ctx.knobs.gap_max,
            )
            feeder = cocotb.start_soon(seq.start(env.insn_agent.seqr))
        status = await env.status_monitor.wait_run(ctx.watchdog_cycles, start)
        env.insn_agent.monitor.flush()
        if seq is not None:
            seq.stop = True
            env.insn_agent.driver.abort()
        if stream is not None:  # let a refill in flight finish: it shares the backdoor's file port
            stream.stop()
            await First(feeder.complete, Timer(100, unit="us"))
            if not feeder.done():
                raise RuntimeError("the streamer refill did not stop within 100 us after the run ended")
        if status.timed_out:
            growing = await env.status_monitor.counters_delta(256)
            await env.mem_agent.close_log()
            bus = env.mem_agent.monitor.last
            drv = env.insn_agent.driver if seq is not None else None
            status.diagnosis = describe_hang(
                ctx.program,
                accepted=env.insn_agent.monitor.count,
                pending=drv.pending if drv is not None else None,
                insn_ready=int(bfm.dut.insn_ready.value),
                growing=growing,
                transfers=bus.last_transfers if bus else [],
                mem_queues=mem_model_queues(bfm.dut),
                beat_bytes=bfm.bus_bytes,
            )
        else:
            await env.mem_agent.close_log()
        if power:
            await bfm.activity_stop()
        if feeder is not None and seq is not None:
            await First(feeder.complete, Timer(1, unit="us"))
            if not feeder.done():
                feeder.cancel()
        bus = env.mem_agent.monitor.last
        assert bus is not None
        v = await env.scoreboard.judge(
            ctx, status, bus, env.insn_agent.monitor.count, env.insn_agent.monitor.port_errors
        )
        _, cov_path = env.coverage.finish_run(ctx, v.passed)
        v.coverage_file = cov_path
        (ctx.out_dir / "result.json").write_text(json.dumps(v.to_json(), indent=1, default=str))
        self.verdict = v

    async def _power_start(self, bfm: object) -> None:
        """Arm the activity windows of a power build (tb/power/capture.py) for this run."""
        ctx = self.ctx
        assert ctx.golden is not None
        folder = capture.prepare(ctx.out_dir / capture.POWER_DIR, ctx.program.manifest)
        period = self.env.scoreboard.env_cfg.power_window or capture.auto_period(
            ctx.golden.counters.get(Counter.CYCLES, 0))
        await bfm.activity_start(folder, period)  # type: ignore[attr-defined]
        idle = self.env.scoreboard.env_cfg.power_idle
        if idle > 0:
            await ClockCycles(bfm.dut.clk, idle)  # type: ignore[attr-defined]

    async def _warm_reset_prefix(self, bfm: object) -> None:
        """Start this Program on the built-in streamer and leave it busy after ``knobs.warm_reset_at``
        of the golden cycle estimate: the run's own reset, next, is then a warm reset of an
        accelerator in mid-flight (engines busy, FIFOs and AXI transactions outstanding), and the judged
        run checks that nothing survives it (also the assertion ``a_reset_state``)."""
        ctx = self.ctx
        self.env.mem_agent.configure(ctx.knobs, ctx.program.mem_size, ctx.seed)
        await bfm.reset()  # type: ignore[attr-defined]
        await bfm.mem_write_image(ctx.program.memory)  # type: ignore[attr-defined]
        await bfm.imem_load(ctx.program.insns[: bfm.imem_depth])  # type: ignore[attr-defined]
        bfm.stream()  # type: ignore[attr-defined]
        assert ctx.golden is not None
        cycles = max(1, int(ctx.knobs.warm_reset_at * ctx.golden.counters.get(Counter.CYCLES, 0)))
        await ClockCycles(bfm.dut.clk, cycles)  # type: ignore[attr-defined]
        ctx.tags["warm_reset"] = cycles

    async def _scrub(self, bfm: object) -> None:
        """Zero the buffer rows the Program reads before writing (see tb/seq_lib/scrub.py)."""
        prog = scrub_program(self.ctx.program.hw, uninitialised_reads(self.ctx.program))
        if prog is None:
            return
        self.env.mem_agent.configure(RunKnobs(), prog.mem_size, 1)
        await bfm.reset()  # type: ignore[attr-defined]
        await bfm.mem_write_image(prog.memory)  # type: ignore[attr-defined]
        await bfm.imem_load(prog.insns)  # type: ignore[attr-defined]
        bfm.stream()  # type: ignore[attr-defined]
        ok = await bfm.wait_done(200_000)  # type: ignore[attr-defined]
        st = bfm.status()  # type: ignore[attr-defined]
        if not ok or st.error:
            raise RuntimeError(
                f"buffer scrub program failed: done={ok} error={st.error_code.name}@{st.error_index}"
            )
        self.ctx.tags["scrubbed"] = int(sum(1 for _ in prog.insns) - 1)
