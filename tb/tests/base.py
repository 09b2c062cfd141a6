"""NmxBaseTest: builds the env from the job file and runs a list of Programs, one reset each.

The parent process (``tb/run.py``) writes a job file and passes its path in ``$NMX_TB_JOB``::

    {"env": EnvCfg, "args": {test-specific}, "runs": [{"name", "program", "seed", "knobs", ...}]}

Subclasses only decide *which* runs to make (:meth:`make_runs`); everything else - BFM, env,
per-run virtual sequence, the summary file and the final pass/fail - is shared.  Many runs share
one simulator process (and its cached build), which is what makes 100-seed regressions cheap.
"""

from __future__ import annotations

import json
import os
import pathlib
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

import cocotb
from pyuvm import ConfigDB, uvm_test

from golden.isa import ErrorCode
from golden.program import Program
from tb.bfm.tb_top import NmxTb
from tb.env.cfg import EnvCfg, RunKnobs, load_json
from tb.env.env import NmxEnv
from tb.env.run_ctx import RunContext
from tb.env.verdict import RunVerdict
from tb.seq_lib.program_vseq import ProgramVseq


class NmxBaseTest(uvm_test):
    """Runs :meth:`make_runs`; fails in check_phase if any run failed."""

    def build_phase(self) -> None:
        job_path = os.environ.get("NMX_TB_JOB")
        if not job_path:
            raise RuntimeError("NMX_TB_JOB is not set: run tests through tb.run / tb.run.run_program")
        self.job: dict[str, Any] = load_json(job_path)
        self.env_cfg = EnvCfg.from_json(self.job["env"])
        self.args: dict[str, Any] = self.job.get("args", {})
        self.out_dir = pathlib.Path(self.env_cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.bfm = NmxTb(cocotb.top, self.env_cfg.hw, self.out_dir / "tmp")
        ConfigDB().set(None, "*", "BFM", self.bfm)
        ConfigDB().set(None, "*", "ENV_CFG", self.env_cfg)
        self.env = NmxEnv("env", self)
        self.verdicts: list[RunVerdict] = []

    # ---- subclasses
    def make_runs(self) -> Iterator[RunContext]:
        """Default: the runs listed in the job file (Program files)."""
        for r in self.job.get("runs", []):
            yield self.context(
                r["name"],
                Program.load(r["program"]),
                int(r.get("seed", 1)),
                RunKnobs.from_json(r.get("knobs", {})),
                rerun=r.get("rerun", ""),
                expect_error=r.get("expect_error"),
                expect_index=r.get("expect_index"),
                tags=r.get("tags", {}),
            )

    # ---- helpers
    def context(
        self,
        name: str,
        program: Program,
        seed: int,
        knobs: RunKnobs,
        *,
        rerun: str = "",
        expect_error: str | None = None,
        expect_index: int | None = None,
        alternatives: Sequence[tuple[ErrorCode, int]] = (),
        tags: dict[str, Any] | None = None,
    ) -> RunContext:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        return RunContext(
            name=name,
            program=program,
            seed=seed,
            knobs=knobs,
            out_dir=self.out_dir / safe,
            rerun=rerun,
            expect_error=ErrorCode[expect_error] if expect_error else None,
            expect_index=expect_index,
            alternatives=tuple(alternatives),
            tags=dict(tags or {}),
        )

    async def run_phase(self) -> None:
        self.raise_objection()
        try:
            await self.bfm.start()
            for ctx in self.make_runs():
                v = await self._run_one(ctx)
                self.verdicts.append(v)
                log = self.logger.info if v.passed else self.logger.error
                log(
                    v.report()
                    if not v.passed
                    else f"[PASS] {v.name} seed={v.seed} cycles={v.cycles} ratio={v.cycle_ratio}"
                    f" err={v.ending}"
                )
        finally:
            self._write_summary()
            self.drop_objection()

    async def _run_one(self, ctx: RunContext) -> RunVerdict:
        """One run; a testbench exception fails this run (with its traceback) and the next run
        starts from reset, so one broken case never loses the results of the others."""
        try:
            vseq = ProgramVseq(f"vseq_{ctx.name}", self.env, ctx)
            await vseq.start()
            assert vseq.verdict is not None, "the program sequence returned no verdict"
            return vseq.verdict
        except Exception as e:  # reported as this run's failure
            v = RunVerdict(name=ctx.name, seed=ctx.seed, passed=False, rerun=ctx.rerun, tags=dict(ctx.tags))
            v.failures.append(f"testbench exception: {type(e).__name__}: {e}")
            v.diagnosis = traceback.format_exc()
            ctx.out_dir.mkdir(parents=True, exist_ok=True)
            (ctx.out_dir / "result.json").write_text(json.dumps(v.to_json(), indent=1, default=str))
            return v

    def _write_summary(self) -> None:
        summary = {
            "test": type(self).__name__,
            "runs": len(self.verdicts),
            "passed": sum(v.passed for v in self.verdicts),
            "failed": [v.name for v in self.verdicts if not v.passed],
            "results": [str(self.out_dir / v.name / "result.json") for v in self.verdicts],
        }
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if self.env.coverage.model is not None:
            from cocotb_coverage.coverage import coverage_db

            coverage_db.export_to_yaml(str(self.out_dir / "coverage_db.yml"))

    def check_phase(self) -> None:
        bad = [v for v in self.verdicts if not v.passed]
        if bad:
            raise AssertionError(
                f"{len(bad)}/{len(self.verdicts)} runs failed:\n" + "\n".join(v.report() for v in bad[:5])
            )
