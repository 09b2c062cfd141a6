"""Scoreboard: judges a run against the golden simulator when the Program ends.

* error status: code (and index, when an error is expected) must equal the golden prediction made
  with the same SLVERR windows; a run whose sequence intended a code the golden does not predict
  is a testbench bug and fails too;
* memory: on a clean run the RTL memory is read back through the backdoor and every ``check``/
  ``output`` tensor of the manifest is compared bit-exactly (``tb/env/compare.py``), first
  divergence in program order first, with its layer, element, expected/got and instruction range;
  bytes outside every checked tensor are diffed too (wrong-address writes);
* counters: ``tb/env/counters.py`` (exact ones must match; CYCLES ratio warns / fails when wildly off);
* bus: any AXI protocol violation flagged by the memory model fails the run;
* self-checks of the env: the instruction monitor's count must equal the INSNS counter.

Every failure report ends with a one-line command that reruns the run with an FST waveform.
"""

from __future__ import annotations

from pyuvm import ConfigDB, uvm_scoreboard

from golden.isa import Counter, ErrorCode
from tb.env.compare import compare_memories, untracked_diffs
from tb.env.counters import compare_counters
from tb.env.items import BusActivity, RunStatus
from tb.env.run_ctx import RunContext
from tb.env.verdict import RunVerdict


class Scoreboard(uvm_scoreboard):
    def build_phase(self) -> None:
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.env_cfg = ConfigDB().get(self, "", "ENV_CFG")
        self.verdicts: list[RunVerdict] = []

    async def judge(
        self, ctx: RunContext, status: RunStatus, bus: BusActivity, accepted: int, port_errors: list[str]
    ) -> RunVerdict:
        g = ctx.golden
        assert g is not None
        v = RunVerdict(
            name=ctx.name,
            seed=ctx.seed,
            passed=False,
            error=status.error.name,
            error_index=status.error_index,
            golden_error=g.error.name,
            golden_error_index=g.error_index,
            cycles=status.counters.get(Counter.CYCLES, 0),
            sim_cycles=status.cycles,
            wall_time=status.wall_time,
            accepted=accepted,
            rerun=ctx.rerun,
            tags=dict(ctx.tags),
            counters={c.name: n for c, n in status.counters.items()},
            golden_counters={c.name: int(n) for c, n in g.counters.items()},
        )
        f = v.failures
        # a Program with several faults (docs/isa.md section 5): any of the allowed reports, for each side
        allowed = ({(ctx.expect_error, ctx.expect_index), *ctx.alternatives}
                   if ctx.alternatives and ctx.expect_error is not None else None)
        if allowed is not None:
            if (g.error, g.error_index) not in allowed:
                f.append(f"testbench: the case allows {_fmt_allowed(allowed)} but golden reports "
                         f"{g.error.name}@{g.error_index} ({g.error_message})")
        elif ctx.expect_error is not None and g.error != ctx.expect_error:
            f.append(
                f"testbench: sequence intended {ctx.expect_error.name} but golden predicts "
                f"{g.error.name}@{g.error_index} ({g.error_message})"
            )
        elif ctx.expect_index is not None and g.error_index != ctx.expect_index:
            f.append(
                f"testbench: sequence intended {g.error.name}@{ctx.expect_index} but golden reports it at"
                f" instruction {g.error_index} ({g.error_message})"
            )
        if g.token_hazard:
            f.append(f"testbench: ill-formed Program: {g.token_hazard}")
        if status.timed_out:
            f.append(
                f"watchdog: no done after {status.cycles} cycles (limit {ctx.watchdog_cycles});"
                f" golden expects {g.error.name} after ~{g.counters.get(Counter.CYCLES, 0)} cycles"
            )
            v.diagnosis = status.diagnosis
        else:
            if allowed is not None:
                if (status.error, status.error_index) not in allowed:
                    f.append(f"error status: rtl {status.error.name}@{status.error_index}, allowed "
                             f"{_fmt_allowed(allowed)} (golden {g.error.name}@{g.error_index})")
            elif status.error != g.error or (g.error != ErrorCode.NONE
                                             and status.error_index != g.error_index):
                f.append(
                    f"error status: rtl {status.error.name}@{status.error_index}, golden "
                    f"{g.error.name}@{g.error_index}" + (f" ({g.error_message})" if g.error_message else "")
                )
            if g.ok and status.error == ErrorCode.NONE:
                mem = await self.bfm.mem_read_image(ctx.program.mem_size)
                mem_path = ctx.out_dir / "rtl_mem.bin"
                mem_path.write_bytes(bytes(mem))
                v.memory_file = str(mem_path)
                v.mismatches = compare_memories(ctx.program, g.memory, mem, limit=20)
                if v.mismatches:
                    f.append(
                        f"{len(v.mismatches)} checked tensor(s) differ; first: {v.mismatches[0].describe()}"
                    )
                if self.env_cfg.compare_untracked:
                    stray = untracked_diffs(ctx.program, g.memory, mem)
                    if stray:
                        f.append(
                            "bytes outside every checked tensor differ (wrong-address write?): "
                            + ", ".join(f"{a:#x}: exp {e} got {x}" for a, e, x in stray)
                        )
            crep = compare_counters(
                status.counters,
                g.counters,
                ok_run=g.ok and status.error == ErrorCode.NONE,
                judge_cycles=not ctx.knobs.stalls and ctx.knobs.gap_prob == 0,
            )
            f.extend(crep.failures)
            v.warnings.extend(crep.warnings)
            v.cycle_ratio = crep.cycle_ratio
            if status.error == ErrorCode.NONE and accepted != status.counters.get(Counter.INSNS, accepted):
                f.append(
                    f"env self-check: instruction monitor saw {accepted} accepted instructions, "
                    f"INSNS counter says {status.counters[Counter.INSNS]}"
                )
        if bus.proto_errors or bus.violations:
            f.append(
                f"AXI protocol: {bus.proto_errors} violations flagged by the memory model"
                + (f"; {bus.n_violations} logged, first: {bus.violations[0]}" if bus.violations else "")
            )
        f.extend(f"instruction port: {e}" for e in port_errors[:3])
        v.passed = not f
        self.verdicts.append(v)
        return v


def _fmt_allowed(allowed: set[tuple[ErrorCode, int | None]]) -> str:
    return " or ".join(sorted(f"{c.name}@{i}" for c, i in allowed))
