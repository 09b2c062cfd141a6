"""``python -m golden.study [--quick] [--out build/fidelity] [--models a,b] [--report-only]``.

Measures every zoo classifier (``--quick``: the smallest of each family, fewer samples, short
fine-tuning; what the nightly job runs), one JSON record per model in ``<out>/models/``, then writes
``fidelity.md``, ``fidelity.json`` and one plot per family into ``<out>``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import torch

from golden.study import evalsets, report, sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m golden.study", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smallest model per family, fewer samples")
    ap.add_argument("--out", default="build/fidelity", help="output directory (default build/fidelity)")
    ap.add_argument("--models", default="", help="comma-separated zoo classifiers (default: all, or the"
                    " smallest per family with --quick)")
    ap.add_argument("--samples", type=int, default=0, help="evaluation inputs per model (default per model)")
    ap.add_argument("--sweep-samples", type=int, default=-1, metavar="N",
                    help="inputs of the accelerator sweep and the fine-tuning comparison per model (default"
                    " per model: sweep.SWEEP_SAMPLES, e.g. bert_tiny 100; 0 = emulated sweep only)")
    ap.add_argument("--finetune-samples", type=int, default=0, metavar="N",
                    help="held-out inputs of the fine-tuning comparison of BERT models (default: as the"
                    " accelerator sweep)")
    ap.add_argument("--report-only", action="store_true", help="rewrite tables and plots from the records")
    ap.add_argument("--no-ppu-synth", action="store_true", help="skip the Yosys count of larger PWL tables")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = pathlib.Path(a.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    default = list(sweep.SMALLEST) if a.quick else evalsets.classifiers()
    names = [n for n in a.models.split(",") if n] or default
    bad = [n for n in names if n not in evalsets.classifiers()]
    if bad:
        print(f"python -m golden.study: error: not zoo classifiers: {', '.join(bad)}", file=sys.stderr)
        return 2
    if a.samples < 0 or a.sweep_samples < -1 or a.finetune_samples < 0:
        print("python -m golden.study: error: --samples, --sweep-samples and --finetune-samples must be"
              " >= 0", file=sys.stderr)
        return 2
    cfg = sweep.Config(quick=a.quick, samples={n: a.samples for n in names} if a.samples else {},
                       sweep_samples={n: a.sweep_samples for n in names} if a.sweep_samples >= 0 else {},
                       finetune_samples={n: a.finetune_samples for n in names} if a.finetune_samples else {})
    if not a.report_only:
        for name in names:
            t = time.perf_counter()
            rec = sweep.study_model(name, cfg, log=lambda s: print(s, flush=True))
            rec["quick"] = a.quick
            (out / "models" / f"{name}.json").write_text(json.dumps(rec, indent=1))
            print(f"{name}: done in {time.perf_counter() - t:.0f} s, peak RSS {rec['peak_rss_mb']:.0f} MB",
                  flush=True)
    recs = report.load(out)
    cost = report.ppu_costs(out, synth=not a.no_ppu_synth and not a.report_only)
    command = " ".join(["python -m golden.study", *(argv if argv is not None else sys.argv[1:])])
    paths = report.write(out, recs, cost, command=command)
    for p in paths:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
