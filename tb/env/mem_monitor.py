"""Memory monitor: turns the memory model's transfer log into transaction objects.

The SV model writes one line per completed AXI burst (``tb/bfm/translog.py`` documents and parses
the format), so the monitor costs no Python wakeup during the run: the log is parsed once, when the
run ends, and published as a :class:`~tb.env.items.BusActivity` (coverage, diagnosis).  Protocol
violations flagged by the model (``PROTO`` lines, ``proto_errors``) are errors of the DUT's AXI
master and fail the run in the scoreboard.
"""

from __future__ import annotations

import pathlib

from pyuvm import uvm_analysis_port, uvm_monitor

from tb.bfm import translog
from tb.env.cfg import RunKnobs
from tb.env.items import BusActivity


class MemMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.knobs: RunKnobs | None = None
        self.last: BusActivity | None = None

    def start_run(self, knobs: RunKnobs) -> None:
        self.knobs = knobs
        self.last = None

    def publish(self, log_path: pathlib.Path | None, stats: dict[str, int]) -> BusActivity:
        log = translog.read(log_path) if log_path is not None else translog.TransferLog([], [])
        act = BusActivity(
            transfers=log.transfers,
            violations=log.violations,
            proto_errors=int(stats.get("proto_errors", 0)),
            knobs=self.knobs.to_json() if self.knobs else {},
        )
        self.last = act
        self.ap.write(act)
        return act
