"""``python -m tb.power.cpu_baseline MODEL POWER_JSON``: the NeuralMatrix comparison on this machine.

Measures float PyTorch CPU inference of the same model (``MODEL``: a zoo name or
``module.path:factory``, as ``regressions.verify`` takes it), one input at a time like the
accelerator's Program, and sets its throughput per watt beside the accelerator's from a power
report (``POWER_JSON``, tb/power/report.py) of the compiled model.  Both count the same
operations: 2 x the model's linear-op MACs from the Program's manifest.

CPU power.  Where the kernel exposes RAPL energy counters (``/sys/class/powercap/*/energy_uj``)
they are read around the timed loop (package energy, the whole socket).  Otherwise, as on this
project's 2-core cloud VM (AMD EPYC, no powercap), the figure is an assumption stated in the
output: ``--watts-per-core`` (default 4.375 W: a 64-core 280 W EPYC 7763, TDP / cores) times the
cores torch uses.  TDP is an upper bound of sustained package power, so the CPU figure is
optimistic for the accelerator only if the CPU ran below TDP.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

DEFAULT_W_PER_CORE = 280.0 / 64
"""AMD EPYC 7763: TDP 280 W, 64 cores (AMD product page); this VM reports only 'AMD EPYC'."""


def _rapl_files() -> list[pathlib.Path]:
    root = pathlib.Path("/sys/class/powercap")
    return sorted(p for p in root.glob("*/energy_uj") if p.parent.name.count(":") == 1)  # packages only


def _rapl_uj(files: list[pathlib.Path]) -> int:
    return sum(int(f.read_text()) for f in files)


def measure(model: Any, inputs: tuple[Any, ...], seconds: float = 5.0, warmup: int = 3) -> dict[str, Any]:
    """Inferences per second of ``model(*inputs)`` under ``torch.inference_mode``, and the energy."""
    import torch

    threads = torch.get_num_threads()
    files = _rapl_files()
    with torch.inference_mode():
        for _ in range(warmup):
            model(*inputs)
        n = 0
        e0 = _rapl_uj(files) if files else 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 3:
            model(*inputs)
            n += 1
        dt = time.perf_counter() - t0
        e1 = _rapl_uj(files) if files else 0
    out: dict[str, Any] = {"inferences": n, "seconds": dt, "s_per_inference": dt / n, "threads": threads,
                           "cpu": _cpu_name()}
    if files and e1 > e0:
        out["watts"] = (e1 - e0) * 1e-6 / dt
        out["power_source"] = f"RAPL package energy ({', '.join(str(f) for f in files)})"
    return out


def _cpu_name() -> str:
    try:
        for ln in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def compare(model_spec: str, power_json: str | pathlib.Path, *, seconds: float = 5.0,
            watts_per_core: float = DEFAULT_W_PER_CORE) -> dict[str, Any]:
    from regressions.verify import resolve_model

    rep = json.loads(pathlib.Path(power_json).read_text())
    macs = int(rep["macs"]["model"] or rep["macs"]["array"])
    mut = resolve_model(model_spec, batch=1, calib=1)
    mut.model.eval()
    m = measure(mut.model, mut.example, seconds=seconds)
    if "watts" not in m:
        m["watts"] = watts_per_core * m["threads"]
        m["power_source"] = (f"assumption: no RAPL counters on this machine; {watts_per_core:.3f} W per core "
                             f"(TDP / cores of a 280 W 64-core EPYC 7763) x {m['threads']} torch threads")
    cpu_gops = 2 * macs / m["s_per_inference"] / 1e9
    cpu_gops_w = cpu_gops / m["watts"]
    cpu_uj = m["watts"] * m["s_per_inference"] * 1e6
    return {
        "model": mut.name, "macs": macs, "ops_counted": rep["macs"]["counted_for_gops"],
        "cpu": {**m, "gops": cpu_gops, "gops_per_w": cpu_gops_w,
                "uj_per_inference": cpu_uj},
        "accelerator": {"gops": rep["gops"], "gops_per_w": rep["gops_per_w"], "power_mw": rep["power_mw"],
                        "uj_per_inference": rep["energy_per_inference_uj"], "tech": rep["tech"]["name"],
                        "clock_mhz": rep["clock_mhz"], "cfg": f"{rep['hw']['rows']}x{rep['hw']['cols']}"},
        "ratio_gops_per_w": rep["gops_per_w"] / cpu_gops_w if cpu_gops_w else None,
        "ratio_energy_per_inference": (cpu_uj / rep["energy_per_inference_uj"]
                                       if rep["energy_per_inference_uj"] else None),
    }


def format_text(r: dict[str, Any]) -> str:
    c, a = r["cpu"], r["accelerator"]
    return "\n".join([
        f"{r['model']}: {r['macs']:,} MACs per inference ({r['ops_counted']} MACs, 2 ops each)",
        f"  CPU ({c['cpu']}, {c['threads']} threads, float PyTorch): {c['s_per_inference'] * 1e3:.3f} ms"
        f" per inference, {c['gops']:.2f} GOPS, {c['watts']:.2f} W -> {c['gops_per_w']:.3f} GOPS/W, "
        f"{c['uj_per_inference']:,.0f} uJ per inference",
        f"    power: {c['power_source']}",
        f"  accelerator ({a['cfg']}, {a['tech']}, {a['clock_mhz']:g} MHz, RTL toggles): {a['gops']:.2f}"
        f" GOPS, {a['power_mw']:.1f} mW -> {a['gops_per_w']:.1f} GOPS/W, {a['uj_per_inference']:,.2f} uJ per"
        " inference",
        f"  ratio: {r['ratio_gops_per_w']:,.0f}x GOPS/W, {r['ratio_energy_per_inference']:,.0f}x less energy "
        "per inference",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.power.cpu_baseline", description=__doc__.splitlines()[0])
    ap.add_argument("model", help="zoo name or module.path:factory (as regressions.verify)")
    ap.add_argument("power_json", help="power.json of the compiled model's --power run")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed loop length")
    ap.add_argument("--watts-per-core", type=float, default=DEFAULT_W_PER_CORE,
                    help="CPU power per busy core when there is no RAPL (default: EPYC 7763 TDP/cores)")
    ap.add_argument("--out", default=None, help="write the comparison as JSON here")
    a = ap.parse_args(argv)
    if not os.path.exists(a.power_json):
        print(f"python -m tb.power.cpu_baseline: error: {a.power_json}: no such power report",
              file=sys.stderr)
        return 2
    r = compare(a.model, a.power_json, seconds=a.seconds, watts_per_core=a.watts_per_core)
    print(format_text(r))
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
