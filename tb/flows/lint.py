"""``python -m tb.flows.lint``: Verilator ``--lint-only -Wall`` on every file of ``rtl/``.

The design is linted with ``nmx_top`` as the top at every distinct configuration of the registry
:data:`golden.hwcfg.CONFIGS` (the default accelerator is one of them), so width warnings that
depend on parameter values are caught too. Waivers live in ``rtl/lint_waivers.vlt`` (one per
line, each with its reason). Exits non-zero on any warning or error.

:func:`lint` is also the block-level lint of the tests (any top, any subset of ``rtl/``).
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from golden.hwcfg import CONFIGS
from tb import sim_env
from tb.flows import top_params

WAIVERS = sim_env.RTL / "lint_waivers.vlt"


def lint(top: str = "nmx_top", params: Mapping[str, int] | None = None,
         sources: Sequence[pathlib.Path] | None = None) -> tuple[bool, str]:
    """Lint ``sources`` (default: all of ``rtl/``) with ``top`` at ``params``; (clean, output).

    Clean means exit status 0 and no ``%Warning``/``%Error`` line: Verilator exits 0 on some
    warnings once they are demoted, so the text is checked too.
    """
    files = list(sources) if sources is not None else sim_env.rtl_sources()
    cmd = [sim_env.verilator_bin(), "--lint-only", "-Wall", "--top-module", top, str(WAIVERS),
           *(str(p) for p in files), *(f"-G{k}={v}" for k, v in (params or {}).items())]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=sim_env.REPO)
    out = (proc.stdout + proc.stderr).strip()
    clean = proc.returncode == 0 and "%Warning" not in out and "%Error" not in out
    return clean, out


def configs() -> dict[str, dict[str, int]]:
    """``nmx_top`` parameters of each distinct registered configuration, by its first name."""
    out: dict[str, dict[str, int]] = {}
    for name, hw in CONFIGS.items():
        params = top_params(hw)
        if params not in out.values():
            out[name] = params
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.flows.lint", description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", choices=list(configs()),
                    help="lint only these named configurations (default: all)")
    a = ap.parse_args(argv)
    cfgs = configs()
    ok = True
    for name in a.config or list(cfgs):
        t = time.perf_counter()
        clean, out = lint(params=cfgs[name])
        print(f"lint {name:12s} {'clean' if clean else 'FAILED'} ({time.perf_counter() - t:.1f} s)")
        if not clean:
            ok = False
            print(out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
