"""Compile-time / memory benchmark of the zoo: ``python -m compiler.bench [names...]``.

Each model is compiled in a fresh subprocess (so peak RSS is per model); model construction
(including the zoo's own training) is excluded from the compile time.  Results go to stdout as a
markdown table (copied into docs/compiler.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

DEFAULT = ["resnet_tiny", "resnet20", "resnet18", "resnet50", "bert_tiny", "bert_mini", "bert_base",
           "gcn_karate", "sage_karate", "gcn_sbm", "sage_sbm"]

_CHILD = r"""
import json, resource, sys, time
from golden.models import ZOO
from compiler import compile_model
spec = ZOO[sys.argv[1]]
model, ex = spec.build()
calib = spec.calibration(int(sys.argv[2]))
t = time.perf_counter()
p = compile_model(model, ex, calibration=calib, name=sys.argv[1])
dt = time.perf_counter() - t
ci = p.compile_info
st = ci["layer_stats"]
print(json.dumps({"model": sys.argv[1], "compile_s": dt, "export_s": ci["export_s"],
                  "calibrate_s": ci["calibrate_s"], "lower_s": ci["lower_s"], "insns": len(p.insns),
                  "mem_bytes": len(p.memory), "gemm_rows": ci["gemm_rows"],
                  "tiles_total": sum(s.get("tiles_total", 0) for s in st),
                  "tiles_skipped": sum(s.get("tiles_skipped", 0) for s in st),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bench(name: str, n_calib: int = 4, timeout: int = 1800) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, name, str(n_calib)], capture_output=True, text=True,
                       timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        return {"model": name, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or DEFAULT
    print("| model | compile s (export / calib / lower) | instructions | memory image MB | "
          "array cycles (GEMM rows) | zero tiles skipped | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        b = bench(n)
        if "error" in b:
            print(f"| {n} | FAILED: {b['error']} | | | | | |", flush=True)
            continue
        skip = f"{b['tiles_skipped']:,}/{b['tiles_total']:,}" if b["tiles_skipped"] else "-"
        print(f"| {n} | {b['compile_s']:.1f} ({b['export_s']:.1f} / {b['calibrate_s']:.1f} / "
              f"{b['lower_s']:.1f}) | {b['insns']:,} | {b['mem_bytes'] / 2**20:.1f} | {b['gemm_rows']:,} | "
              f"{skip} | {b['peak_rss_mb']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
