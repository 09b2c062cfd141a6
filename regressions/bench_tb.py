"""Testbench speed benchmark: the full pyuvm env vs the minimal harness on one large Program.

    .venv/bin/python -m regressions.bench_tb [--cfg 16x16] [--mnk 512,512,512]

Program: ``golden.examples.gemm_program(M, K, N)`` (default 512x512x512 on 16x16: ~3.1k
instructions, ~0.58 M cycles).  Configurations, all on the same cached Verilator build:

* (a)  full env, pyuvm driver ("pins": one item per instruction), instruction/status/memory
  monitors, scoreboard, counter check, coverage;
* (a') full env with the testbench top's built-in instruction streamer;
* (b)  minimal harness (tb/harness.py), its default streamer feed;
* (b') minimal harness, Python pin-by-pin feed.

"cycles/s" is simulated clock cycles per wall second from the first instruction offered to done
(both sides measure the same window inside the simulator process); "total s" is the whole call
(simulator start, preload, golden model, readback, checks, coverage).  The goal is (a)/(b) >= 0.5.
The machine may be shared, so each configuration runs ``--repeat`` times and the fastest counts.
Figures go to docs/testbench.md ("Speed").
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from golden.examples import gemm_program
from tb.env.cfg import RunKnobs, parse_cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.bench_tb", description=__doc__.splitlines()[0])
    ap.add_argument("--cfg", default="16x16")
    ap.add_argument("--mnk", default="512,512,512")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--repeat", type=int, default=3, help="runs per configuration; the fastest counts")
    a = ap.parse_args(argv)
    hw = parse_cfg(a.cfg)
    m, k, n = (int(v) for v in a.mnk.split(","))
    prog = gemm_program(m, k, n, hw=hw, out_int32=False)
    from tb.harness import run_program_on_rtl
    from tb.run import run_program

    rows = []
    # warm the build first so no configuration pays for it
    run_program_on_rtl(gemm_program(8, 8, 8, hw=hw), hw)

    def best(fn):  # the machine is shared: keep the fastest of N runs
        return min((fn() for _ in range(max(1, a.repeat))), key=lambda r: r["wall_s"])

    def env_run(label: str, feed: str) -> dict:
        t0 = time.perf_counter()
        r = run_program(prog, hw=hw, seed=1, knobs=RunKnobs(feed=feed))
        total = time.perf_counter() - t0
        if not r.passed:
            print(r.report())
        return {"config": label, "passed": r.passed, "sim_cycles": r.sim_cycles, "wall_s": r.wall_time,
                "cycles_per_s": r.cycles_per_s, "total_s": total}

    def harness_run(label: str, feed: str) -> dict:
        t0 = time.perf_counter()
        h = run_program_on_rtl(prog, hw, seed=1, feed=feed)
        total = time.perf_counter() - t0
        return {"config": label, "passed": h.ok, "sim_cycles": h.cycles, "wall_s": h.wall_time,
                "cycles_per_s": h.cycles / h.wall_time if h.wall_time else 0.0, "total_s": total}

    for label, feed in (("(a) full env, pyuvm driver", "pins"), ("(a') full env, streamer", "stream")):
        rows.append(best(lambda label=label, feed=feed: env_run(label, feed)))
    for label, feed in (("(b) harness, streamer", "stream"), ("(b') harness, pins", "pins")):
        rows.append(best(lambda label=label, feed=feed: harness_run(label, feed)))
    base = rows[2]["cycles_per_s"]
    print(f"Program gemm_program({m}, {k}, {n}) on {a.cfg}: {len(prog.insns)} instructions\n")
    print("| configuration | sim cycles | run wall s | cycles/s | vs (b) | total s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["cycles_per_s"] / base if base else 0.0
        r["ratio_vs_b"] = ratio
        print(f"| {r['config']} | {r['sim_cycles']:,} | {r['wall_s']:.2f} | {r['cycles_per_s']:,.0f} | "
              f"{ratio:.2f} | {r['total_s']:.1f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"program": [m, k, n], "cfg": a.cfg, "rows": rows}, f, indent=1)
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
