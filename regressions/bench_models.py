"""Benchmark: compile a zoo model and run it once on the golden simulator, with wall times and peak RSS.

``python -m regressions.bench_models resnet50 bert_base`` — the issue's "the golden simulator runs
each in minutes" figure for the large models; results are recorded in docs/golden_sim.md.
"""

from __future__ import annotations

import argparse
import resource
import time


def bench(name: str, calib: int = 4) -> str:
    from compiler import compile_model
    from golden.models import ZOO
    from golden.sim import run_program

    spec = ZOO[name]
    model, example = spec.build()
    t0 = time.perf_counter()
    prog = compile_model(model, example, calibration=spec.calibration(calib))
    t1 = time.perf_counter()
    run_program(prog, tuple(spec.batch(1, 0)[0]))
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"| {name} | {len(prog.insns):,} | {t1 - t0:.1f} | {t2 - t1:.1f} | {rss:.0f} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m regressions.bench_models",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    a = ap.parse_args(argv)
    print("| model | instructions | compile s | golden simulation s | peak RSS MB |\n|---|---|---|---|---|")
    for name in a.models:
        print(bench(name), flush=True)


if __name__ == "__main__":
    main()
