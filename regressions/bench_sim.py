"""Benchmark of the golden simulator: a 1024 x 1024 x 1024 int8 GEMM on the default 16x16 config.

Not a test (it takes seconds); run ``python -m regressions.bench_sim`` (``make bench``) and record
the figure in docs/golden_sim.md.  The result is verified against numpy so a fast-but-wrong
simulator fails.  It lives in regressions/ because the Program comes from the sequence library
(:func:`tb.seq_lib.examples.gemm_program`) and golden/ never imports tb/.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from golden.isa import Counter, HwConfig
from golden.sim import simulate
from tb.seq_lib.examples import gemm_expected, gemm_program


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.bench_sim", description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=3, default=[1024, 1024, 1024], metavar=("M", "K", "N"))
    ap.add_argument("--int8", action="store_true", help="requantised int8 output instead of int32")
    ap.add_argument("--single-buffer", action="store_true")
    a = ap.parse_args(argv)
    M, K, N = a.size
    hw = HwConfig()
    t0 = time.perf_counter()
    prog = gemm_program(M, K, N, hw, seed=0, out_int32=not a.int8, double_buffer=not a.single_buffer)
    t1 = time.perf_counter()
    res = simulate(prog)
    t2 = time.perf_counter()
    if not res.ok:
        print(f"FAIL: {res.error.name} at {res.error_index}: {res.error_message}")
        return 1
    want = gemm_expected(prog.read_tensor(None, "A"), prog.read_tensor(None, "B"), not a.int8)
    if not np.array_equal(res.tensors["C"], want):
        print("FAIL: C differs from numpy")
        return 1
    c = res.counters
    print(f"{M}x{K}x{N} GEMM, {len(prog.insns)} instructions: build {t1 - t0:.2f} s, "
          f"simulate {t2 - t1:.2f} s; C verified against numpy")
    print(f"  est. cycles {c[Counter.CYCLES]}, MAC utilisation "
          f"{c[Counter.MAC_CYCLES] / max(1, c[Counter.CYCLES]):.2%}, "
          f"DMA rd {c[Counter.DMA_RD_BYTES]} B, wr {c[Counter.DMA_WR_BYTES]} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
