"""``python -m tb.lint``: Verilator ``--lint-only -Wall`` on every file of ``rtl/``.

The design is linted with ``nmx_top`` as the top at the default parameters and at every named RTL
test configuration (tb/harness.py RTL_CONFIGS), so width warnings that depend on parameter values
are caught too. Waivers live in ``rtl/lint_waivers.vlt`` (one per line, each with its reason).
Exits non-zero on any warning or error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from golden.isa import HwConfig
from tb import sim_env

WAIVERS = sim_env.RTL / "lint_waivers.vlt"


def lint_config(params: dict[str, int] | None = None, top: str = "nmx_top") -> tuple[bool, str]:
    """Lint the RTL with the given top-level parameters; (clean, output)."""
    cmd = [sim_env.verilator_bin(), "--lint-only", "-Wall", "--top-module", top, str(WAIVERS),
           *(str(p) for p in sim_env.rtl_sources())]
    cmd += [f"-G{k}={v}" for k, v in (params or {}).items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=sim_env.REPO)
    out = (proc.stdout + proc.stderr).strip()
    clean = proc.returncode == 0 and "%Warning" not in out and "%Error" not in out
    return clean, out


def configs() -> dict[str, dict[str, int]]:
    from tb.harness import RTL_CONFIGS

    out: dict[str, dict[str, int]] = {"default": {}}
    for name, hw in RTL_CONFIGS.items():
        if hw != HwConfig():
            out[name] = {k.upper(): v for k, v in hw.to_dict().items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.lint", description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", help="lint only these named configurations")
    a = ap.parse_args(argv)
    cfgs = configs()
    names = a.config or list(cfgs)
    ok = True
    for name in names:
        t = time.perf_counter()
        clean, out = lint_config(cfgs[name])
        status = "clean" if clean else "FAILED"
        print(f"lint {name:8s} {status} ({time.perf_counter() - t:.1f} s)")
        if not clean:
            ok = False
            print(out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
