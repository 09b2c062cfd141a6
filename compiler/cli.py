"""``python -m compiler MODEL -o out.nmxp``: compile a zoo model or ``module.path:factory``.

An error (bad model spec, input, unsupported op) prints one line on stderr and exits with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Any

import torch

from compiler.frontend import CompileError, UnsupportedOpError
from golden.isa import HwConfig

Loaded = tuple[torch.nn.Module, tuple[Any, ...], list[tuple[Any, ...]] | None, Any]


def load_model(spec: str, n_calib: int) -> Loaded:
    """(model, example inputs, calibration set or None, zoo spec or None)."""
    if ":" in spec:
        mod, fn = spec.split(":", 1)
        try:
            m = importlib.import_module(mod)
        except ImportError as e:
            raise CompileError(f"cannot import module {mod!r} of model spec {spec!r}: {e}") from e
        if not callable(getattr(m, fn, None)):
            raise CompileError(f"module {mod!r} has no factory {fn!r} (model spec {spec!r})")
        out = getattr(m, fn)()
        model, example = out[0], out[1]
        calib = out[2] if len(out) > 2 else None
        return model, tuple(example) if isinstance(example, (tuple, list)) else (example,), calib, None
    from golden.models import ZOO

    if spec not in ZOO:
        raise CompileError(f"unknown model {spec!r}: not a zoo name ({', '.join(ZOO)}) nor module:factory")
    z = ZOO[spec]
    model, example = z.build()
    return model, example, z.calibration(n_calib), z


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compiler", description=__doc__.splitlines()[0])
    p.add_argument("model", help="zoo name (golden.models.ZOO) or module.path:factory")
    p.add_argument("-o", "--output", help="write the Program here (.nmxp)")
    p.add_argument("--calib", type=int, default=32, help="calibration samples for zoo models")
    p.add_argument("--no-sim", action="store_true", help="skip the golden-simulator error columns")
    p.add_argument("--fidelity", type=int, default=0, metavar="N",
                   help="also run fidelity over N held-out samples (zoo models)")
    p.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    for f in ("rows", "cols", "inp_depth", "wgt_depth", "acc_depth", "vec_depth"):
        p.add_argument(f"--{f.replace('_', '-')}", type=int, default=None)
    a = p.parse_args(argv)
    try:
        return _run(a)
    except Exception as e:
        if a.debug:
            raise
        print(f"python -m compiler: error: {one_line(e)}", file=sys.stderr)
        return 2


def one_line(e: BaseException) -> str:
    """A CompileError's first line (an UnsupportedOpError's with its source line); any other
    error as ``Type: first line`` with a pointer to ``--debug``."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    first = lines[0] if lines else ""
    if isinstance(e, UnsupportedOpError):
        at = next((ln for ln in lines[1:] if ln.startswith("at ")), None)
        return f"{first} ({at})" if at else first
    if isinstance(e, CompileError):
        return first
    return f"{type(e).__name__}: {first} (--debug for the traceback)"


def _run(a: argparse.Namespace) -> int:
    hw_kw = {f: getattr(a, f) for f in ("rows", "cols", "inp_depth", "wgt_depth", "acc_depth", "vec_depth")
             if getattr(a, f) is not None}
    hw = HwConfig(**hw_kw)
    from compiler import compile_model
    from compiler.compile import release_compile_state
    from compiler.report import format_pwl_table, format_table, layer_table

    model, example, calib, zspec = load_model(a.model, a.calib)
    t0 = time.perf_counter()
    prog = compile_model(model, example, calibration=calib, hw=hw, name=a.model.split(":")[-1])
    dt = time.perf_counter() - t0
    info = prog.compile_info  # type: ignore[attr-defined]
    print(f"compiled {a.model} in {dt:.2f} s: {len(prog.insns)} instructions, {len(prog.memory):,} bytes "
          f"of memory image", file=sys.stderr)
    release_compile_state(prog, keep_graph=not a.no_sim)
    rows = layer_table(prog, None if a.no_sim else example)
    print(format_table(rows))
    if info["pwl"]:
        print(f"\nPWL tables (golden.pwl vertical fit; hardware-table error on the calibration samples, "
              f"per op): {len(info['pwl'])}")
        print(format_pwl_table(info["pwl"]))
    skipped = [(s["op"], s["tiles_skipped"], s["tiles_total"]) for s in info["layer_stats"]
               if s.get("tiles_skipped")]
    if skipped:
        tot = sum(t for _, _, t in skipped)
        sk = sum(k for _, k, _ in skipped)
        print(f"zero-tile skipping: {sk}/{tot} (K-block, N-block) tiles skipped in {len(skipped)} GEMMs")
    if a.fidelity and zspec is not None:
        from compiler.fidelity import fidelity
        print("fidelity:", fidelity(model, zspec.batch(a.fidelity, 0), program=prog))
    if a.output:
        prog.save(a.output)
        print(f"wrote {a.output}", file=sys.stderr)
    return 0
