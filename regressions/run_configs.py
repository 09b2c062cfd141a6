"""``python -m regressions.run_configs``: the top-level RTL suite (tb/top_suite.py) at more sizes and seeds.

    python -m regressions.run_configs                       # 4x4, 8x16, 8x8, 16x16; 20 random seeds each
    python -m regressions.run_configs --configs 16x16 --seeds 100
    NMX_RTL_CONFIGS=8x8,16x16 python -m pytest tests/test_rtl_top.py   # the make-test set at other sizes

One simulator process per configuration; prints one line per failing case and a summary table,
writes build/regress/rtl_configs.json, exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tb import sim_env
from tb.harness import RTL_CONFIGS
from tb.top_suite import build_cases, run_cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.run_configs",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(RTL_CONFIGS),
                    help="comma-separated names of tb.harness.RTL_CONFIGS")
    ap.add_argument("--seeds", type=int, default=20, help="random programs per configuration")
    ap.add_argument("--seed-base", type=int, default=None,
                    help="first random seed (default: per configuration)")
    ap.add_argument("--no-errors", action="store_true", help="skip the directed error programs")
    ap.add_argument("--fuzz", type=int, default=100,
                    help="dispatcher boundary-fuzz programs per configuration")
    a = ap.parse_args(argv)
    summary = []
    failed = 0
    for cfg in [c.strip() for c in a.configs.split(",") if c.strip()]:
        t0 = time.perf_counter()
        cases = run_cases(cfg, build_cases(cfg, a.seeds, a.seed_base, errors=not a.no_errors, n_fuzz=a.fuzz))
        bad = [(c, c.diffs()) for c in cases]
        bad = [(c, d) for c, d in bad if d]
        for c, d in bad:
            print(f"FAIL {cfg} {c.name}: {'; '.join(d)}")
        cycles = sum(c.result.cycles for c in cases)
        summary.append({"config": cfg, "cases": len(cases), "failed": len(bad), "cycles": cycles,
                        "seconds": round(time.perf_counter() - t0, 1)})
        failed += len(bad)
    print(f"\n{'config':8s} {'cases':>6s} {'failed':>7s} {'cycles':>10s} {'seconds':>8s}")
    for s in summary:
        print(f"{s['config']:8s} {s['cases']:6d} {s['failed']:7d} {s['cycles']:10d} {s['seconds']:8.1f}")
    out = sim_env.BUILD / "regress"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rtl_configs.json").write_text(json.dumps(summary, indent=1))
    total = sum(s["cases"] for s in summary)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
