"""Coverage collector: subscribes to the monitors and samples the plan's bins once per run.

During the run it only folds the accepted-instruction bursts into a running tally (no list of
per-instruction cycles); at the end of the run it
samples the program-derived bins (``tb/cov/probe.py``: instruction fields in the order the
dispatcher accepted them, and the datapath values of a golden replay), the status and bus bins
(``tb/cov/run_bins.py``), feeds them into the cocotb-coverage database and writes the run's own
coverage report next to its result.
"""

from __future__ import annotations

import itertools

from pyuvm import ConfigDB, uvm_component, uvm_subscriber

from golden.isa import ErrorCode
from tb.cov import report
from tb.cov.model import CoverageModel, from_bins
from tb.cov.probe import Bins, _hit, merge_bins, program_bins
from tb.cov.run_bins import FeedTally, status_bins, wstrb_bins
from tb.env.items import AcceptedBurst, BusActivity, RunStatus
from tb.env.run_ctx import RunContext


class CoverageCollector(uvm_component):
    def build_phase(self) -> None:
        self.env_cfg = ConfigDB().get(self, "", "ENV_CFG")
        self.insn_export = uvm_subscriber.uvm_AnalysisImp("insn_export", self, self._on_insn)
        self.status_export = uvm_subscriber.uvm_AnalysisImp("status_export", self, self._on_status)
        self.bus_export = uvm_subscriber.uvm_AnalysisImp("bus_export", self, self._on_bus)
        self.model = CoverageModel() if self.env_cfg.coverage else None
        self._feed = FeedTally()
        self._status: RunStatus | None = None
        self._bus: BusActivity | None = None

    def start_run(self) -> None:
        self._feed = FeedTally()
        self._status = None
        self._bus = None

    def _on_insn(self, a: AcceptedBurst) -> None:
        self._feed.add_burst(a.cycle, a.count)

    def _on_status(self, s: RunStatus) -> None:
        self._status = s

    def _on_bus(self, b: BusActivity) -> None:
        self._bus = b

    def finish_run(self, ctx: RunContext, passed: bool) -> tuple[Bins, str]:
        """Sample the run's bins; returns them and the path of the run's coverage report."""
        if self.model is None or self._status is None or ctx.golden is None:
            return {}, ""
        s = self._status
        accepted = self._feed.count
        parts: list[Bins] = []
        if not s.timed_out:
            parts.append(program_bins(ctx.program, ctx.golden, accepted=accepted))
            parts.append(wstrb_bins(itertools.islice(ctx.program.insns, accepted), ctx.program.hw))
        rtl_bins: Bins = {}
        if passed and not s.timed_out:  # observed behaviour counts only when it was right
            status_bins(s.error, s.counters, rtl_bins)
            if s.error == ErrorCode.ILLEGAL_FIELD and ctx.tags.get("field"):
                _hit(rtl_bins, "err.field", str(ctx.tags["field"]))
        if self._bus is not None:
            self._bus.tally.bins(self._bus.knobs, rtl_bins)
        self._feed.bins(rtl_bins)
        parts.append(rtl_bins)
        bins = merge_bins(parts)
        self.model.sample_bins(bins)
        path = ctx.out_dir / "coverage.json"
        report.write(
            path,
            from_bins(bins),
            meta={
                "name": ctx.name,
                "seed": ctx.seed,
                "program": ctx.program.manifest.get("name"),
                "cfg": self.env_cfg.cfg_name,
                "passed": passed,
            },
        )
        return bins, str(path)
