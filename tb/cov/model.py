"""cocotb-coverage objects for the plan in ``tb/cov/bins.py``, and plain-dict snapshots of them.

cocotb-coverage keeps one process-wide database; a simulator process that runs many seeds keeps
accumulating into it.  :meth:`CoverageModel.snapshot` turns the database into a plain
``{point: {bin: hits}}`` dict, and :func:`diff` of two snapshots gives the coverage of one run, so
every run can be reported on its own and merged later (``tb/cov/merge.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from cocotb_coverage.coverage import CoverPoint, coverage_db

from tb.cov.bins import BY_NAME, POINTS, PREFIX

Snapshot = dict[str, dict[str, int]]


def _identity(label: str) -> str:
    return label


class CoverageModel:
    """Creates (once per process) one CoverPoint per plan point and samples labels into it."""

    def __init__(self) -> None:
        self._samplers = {}
        for p in POINTS:
            full = f"{PREFIX}.{p.name}"
            cp = CoverPoint(full, xf=_identity, bins=list(p.bins))

            def sampler(label: str) -> None:
                return None

            self._samplers[p.name] = (cp(sampler), coverage_db[full])

    def sample(self, point: str, label: str, n: int = 1) -> None:
        """Record ``n`` hits of ``point/label``; unknown names raise (typos must not pass silently)."""
        if point not in BY_NAME or label not in BY_NAME[point].bins:
            raise KeyError(f"coverage bin {point}/{label} is not in tb/cov/bins.py")
        if n <= 0:
            return
        fn, item = self._samplers[point]
        fn(label)  # the official path: updates the parent coverage on the first hit
        if n > 1:
            item._hits[label] += n - 1  # cocotb-coverage counts one hit per call

    def sample_bins(self, bins: Mapping[str, Mapping[str, int]]) -> None:
        for point, tally in bins.items():
            for label, n in tally.items():
                self.sample(point, label, int(n))

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for p in POINTS:
            item = coverage_db[f"{PREFIX}.{p.name}"]
            out[p.name] = {str(k): int(v) for k, v in item.detailed_coverage.items()}
        return out


def diff(after: Snapshot, before: Snapshot) -> Snapshot:
    """Hits added between two snapshots."""
    return {p: {b: n - before.get(p, {}).get(b, 0) for b, n in bins.items()} for p, bins in after.items()}


def empty() -> Snapshot:
    return {p.name: dict.fromkeys(p.bins, 0) for p in POINTS}


def from_bins(bins: Mapping[str, Mapping[str, int]]) -> Snapshot:
    """A snapshot built directly from probe tallies (no cocotb-coverage involved)."""
    out = empty()
    for point, tally in bins.items():
        for label, n in tally.items():
            if point not in out or label not in out[point]:
                raise KeyError(f"coverage bin {point}/{label} is not in tb/cov/bins.py")
            out[point][label] += int(n)
    return out
