"""Performance-counter comparison of the RTL against the golden analytic model (golden/timing.py).

Thresholds (documented in docs/testbench.md, "Counter check"):

* ``EXACT`` counters (DMA byte counts, MAC_CYCLES, GEMM_ROWS, INSNS and every buffer-access counter
  ``<BUF>_RD`` / ``<BUF>_WR`` of ``golden.isa.SRAM_ACCESS``) do not depend on timing: any difference
  fails.  Only checked when the run ended without error (after an error they depend on
  when the engines stopped).
* ``CYCLES`` is an estimate.  The ratio rtl/golden is always reported; it *warns* outside
  ``WARN = [0.5, 2.0]`` and *fails* only when wildly off, outside ``FAIL = [0.25, 4.0]``, and only for
  runs where the estimate is meaningful: at least ``MIN_CYCLES`` golden cycles (fixed latencies
  dominate tiny programs) and a memory model without random back-pressure (the analytic model does
  not know about stalls).  The golden model is given the memory model's latencies.
* Stall counters are reported (both values) but never judged: the golden model is coarse there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from golden.isa import SRAM_ACCESS, Counter

EXACT = (Counter.DMA_RD_BYTES, Counter.DMA_WR_BYTES, Counter.MAC_CYCLES, Counter.GEMM_ROWS, Counter.INSNS,
         *SRAM_ACCESS)
WARN = (0.5, 2.0)
FAIL = (0.25, 4.0)
MIN_CYCLES = 2000


@dataclass
class CounterReport:
    rows: list[tuple[str, int, int, float | None, str]] = field(default_factory=list)
    """(counter, rtl, golden, ratio rtl/golden or None, verdict: ok / warn / FAIL / info)."""
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def cycle_ratio(self) -> float | None:
        for name, _, _, ratio, _ in self.rows:
            if name == "CYCLES":
                return ratio
        return None

    def table(self) -> str:
        lines = [f"{'counter':<16}{'rtl':>14}{'golden':>14}{'ratio':>8}  verdict"]
        for name, r, g, ratio, v in self.rows:
            rs = f"{ratio:.3f}" if ratio is not None else "-"
            lines.append(f"{name:<16}{r:>14}{g:>14}{rs:>8}  {v}")
        return "\n".join(lines)


def compare_counters(
    rtl: Mapping[Counter, int], golden: Mapping[Counter, int], *, ok_run: bool, judge_cycles: bool
) -> CounterReport:
    """Judge RTL counters; ``judge_cycles`` False turns a CYCLES failure into a warning."""
    rep = CounterReport()
    for c in Counter:
        r, g = int(rtl.get(c, 0)), int(golden.get(c, 0))
        ratio = (r / g) if g else None
        verdict = "info"
        if c in EXACT and ok_run:
            verdict = "ok" if r == g else "FAIL"
            if r != g:
                rep.failures.append(f"{c.name}: rtl {r} != golden {g} (exact counter)")
        elif c == Counter.CYCLES and ratio is not None:
            verdict = "ok"
            if not FAIL[0] <= ratio <= FAIL[1] and judge_cycles and g >= MIN_CYCLES:
                verdict = "FAIL"
                rep.failures.append(f"CYCLES ratio {ratio:.3f} outside {list(FAIL)} (rtl {r}, golden {g})")
            elif not WARN[0] <= ratio <= WARN[1]:
                verdict = "warn"
                rep.warnings.append(f"CYCLES ratio {ratio:.3f} outside {list(WARN)} (rtl {r}, golden {g})")
        rep.rows.append((c.name, r, g, ratio, verdict))
    return rep
