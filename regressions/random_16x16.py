"""The 100-seed constrained-random regression at 16x16 in the full pyuvm env.

``python -m regressions.random_16x16`` runs it stand-alone; regressions/suites.yaml runs the same
thing as job kind ``rtl_random`` (``{cfg: 16x16, seeds: "0-99"}``, see regressions/jobs.py).
One simulator process runs all seeds on the cached 16x16 build; every seed draws its Program and
its timing (memory latency, per-channel back-pressure, instruction gaps) from the seed, so a
failure is reproduced by the rerun command printed with it.
"""

from __future__ import annotations

import json
import sys

JOB = {"name": "rtl_random_16x16", "kind": "rtl_random", "params": {"cfg": "16x16", "seeds": "0-99"}}


def main() -> int:
    from tb.run import run_random

    rec = run_random(cfg=JOB["params"]["cfg"], seeds=JOB["params"]["seeds"])
    print(json.dumps({k: rec[k] for k in ("passed", "reason", "figures", "failures", "out_dir")}, indent=1))
    return 0 if rec["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
