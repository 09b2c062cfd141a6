"""Memory monitor: folds the memory model's transfer log into the run's bus facts.

The SV model writes one line per completed AXI burst (``tb/bfm/translog.py`` documents the format),
so the monitor costs no Python wakeup during the run.  When the run ends the log is streamed in
chunks of numpy columns into a :class:`~tb.cov.run_bins.BusTally` (a full-size model writes tens of
millions of lines: never one Python object per transfer) and published as a
:class:`~tb.env.items.BusActivity` (coverage, diagnosis).  Protocol violations flagged by the
model (``PROTO`` lines, ``proto_errors``) are errors of the DUT's AXI master and fail the run in
the scoreboard.
"""

from __future__ import annotations

import pathlib
from collections import deque

from pyuvm import uvm_analysis_port, uvm_monitor

from tb.bfm import translog
from tb.cov.run_bins import BusTally
from tb.env.cfg import RunKnobs
from tb.env.items import MAX_VIOLATIONS, BusActivity


def fold_log(
    log_path: pathlib.Path | None, chunk_bytes: int = translog.CHUNK_BYTES
) -> tuple[BusTally, list[translog.Transfer], list[str], int]:
    """Stream a transfer log: (tally, last transfers, first violations, number of violations)."""
    tally = BusTally()
    tail: deque[translog.Transfer] = deque(maxlen=translog.TAIL)
    bad: list[str] = []
    n_bad = 0
    if log_path is not None:
        for b in translog.scan(log_path, chunk_bytes):
            tally.add_batch(b, str(log_path))
            tail.extend(b.tail)
            n_bad += len(b.violations)
            bad.extend(b.violations[: MAX_VIOLATIONS - len(bad)])
    return tally, list(tail), bad, n_bad


class MemMonitor(uvm_monitor):
    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)
        self.knobs: RunKnobs | None = None
        self.last: BusActivity | None = None

    def start_run(self, knobs: RunKnobs) -> None:
        self.knobs = knobs
        self.last = None

    def publish(self, log_path: pathlib.Path | None, stats: dict[str, int]) -> BusActivity:
        tally, tail, bad, n_bad = fold_log(log_path)
        act = BusActivity(
            tally=tally,
            last_transfers=tail,
            violations=bad,
            n_violations=n_bad,
            proto_errors=int(stats.get("proto_errors", 0)),
            knobs=self.knobs.to_json() if self.knobs else {},
        )
        self.last = act
        self.ap.write(act)
        return act
