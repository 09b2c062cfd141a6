"""``nmx-prog`` / ``python -m golden.program_cli``: inspect and run NMX Program files.

  dis FILE        disassembly with instruction index and layer annotations
  manifest FILE   summary tables of tensors and layers (--json for the raw manifest)
  run FILE        run on the golden simulator: error status, counters, --dump NAME, --out-mem PATH

A bad file prints one line on stderr and exits with status 2 (no traceback), so scripts and CI logs
show what is wrong with the file rather than where the reader failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from golden.isa import DecodeError, ErrorCode, disassemble
from golden.program import Program, ProgramFormatError


def _cmd_dis(prog: Program, a: argparse.Namespace) -> int:
    layer_of = prog.layer_of()
    width = len(str(max(len(prog.insns) - 1, 0)))
    cur: str | None = None
    for i, w in enumerate(prog.insns):
        ly = layer_of[i]
        if ly != cur and ly is not None:
            meta = next(x for x in prog.manifest["layers"] if x["name"] == ly)
            print(f"; ---- layer {ly} ({meta['op']}) insns [{meta['insn_start']}, {meta['insn_end']})")
        cur = ly
        try:
            text = disassemble(w)
        except DecodeError as e:
            text = f".word {w:#034x}  ; {ErrorCode(e.code).name}: {e}"
        print(f"{i:>{width}}  {text}")
    return 0


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _cmd_manifest(prog: Program, a: argparse.Namespace) -> int:
    m = prog.manifest
    if a.json:
        print(json.dumps(m, indent=2))
        return 0
    hw = ", ".join(f"{k}={v}" for k, v in m["hw"].items())
    print(f"program {m['name']!r}: {len(prog.insns)} instructions, mem_size {m['mem_size']} bytes")
    print(f"hw: {hw}")
    print(f"inputs: {', '.join(m['inputs']) or '-'}   outputs: {', '.join(m['outputs']) or '-'}\n")
    rows = [[t["name"], t["role"], t["dtype"], "x".join(map(str, t["shape"])) or "scalar",
             f"{t['addr']:#x}", ",".join(map(str, t["strides"])), f"{t['scale']:.6g}",
             "y" if t["check"] else "", t["layer"] or ""] for t in m["tensors"]]
    print(_table(rows, ["tensor", "role", "dtype", "shape", "addr", "strides", "scale", "check", "layer"]))
    print()
    rows = [[ly["name"], ly["op"], str(ly["insn_start"]), str(ly["insn_end"]),
             str(ly["insn_end"] - ly["insn_start"]), ",".join(ly["outputs"])] for ly in m["layers"]]
    print(_table(rows, ["layer", "op", "start", "end", "insns", "outputs"]))
    return 0


def _cmd_run(prog: Program, a: argparse.Namespace) -> int:
    from golden.sim import missing_finish, simulate

    res = simulate(prog, max_insns=a.max_insns)
    # --max-insns cuts the stream on purpose (its end acts like FINISH); the whole stream must finish
    problem = missing_finish(prog, res) if a.max_insns is None else None
    if problem:
        print(f"nmx-prog: {a.file}: {problem}", file=sys.stderr)
        return 2
    if res.ok:
        print(f"status: OK ({res.executed} instructions executed)")
    else:
        print(f"status: ERROR {res.error.name} ({int(res.error)}) at instruction {res.error_index}: "
              f"{res.error_message}")
    print("counters:")
    for c, v in res.counters.items():
        print(f"  {c.name:<16} {v}")
    if res.layer_cycles:
        print("layer cycles (estimate):")
        for name, v in res.layer_cycles.items():
            print(f"  {name:<24} {v}")
    for name in a.dump or []:
        try:
            t = prog.read_tensor(res.memory, name)
        except KeyError:
            print(f"nmx-prog: no tensor {name!r} in the manifest", file=sys.stderr)
            return 2
        print(f"tensor {name} {t.dtype} {list(t.shape)}:")
        with np.printoptions(threshold=a.threshold, linewidth=120):
            print(t)
    if a.out_mem:
        Path(a.out_mem).write_bytes(bytes(res.memory))
        print(f"wrote final memory ({len(res.memory)} bytes) to {a.out_mem}")
    return 0 if res.ok else 1


def _count(text: str) -> int:
    """argparse type of --max-insns: a count is a non-negative integer (a negative one would slice
    the stream from its end)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative; give a number of instructions >= 0")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nmx-prog", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dis", help="disassemble with layer annotations")
    d.add_argument("file")
    mf = sub.add_parser("manifest", help="tensor and layer tables")
    mf.add_argument("file")
    mf.add_argument("--json", action="store_true", help="print the manifest as JSON")
    r = sub.add_parser("run", help="run on the golden simulator")
    r.add_argument("file")
    r.add_argument("--dump", action="append", metavar="NAME", help="print tensor NAME after the run")
    r.add_argument("--out-mem", metavar="PATH", help="write the final memory image")
    r.add_argument("--max-insns", type=_count, default=None, metavar="N",
                   help="stream only the first N instructions (N >= 0)")
    r.add_argument("--threshold", type=int, default=1000, help="numpy print threshold for --dump")
    a = ap.parse_args(argv)
    try:
        prog = Program.load(a.file)
    except ProgramFormatError as e:
        print(f"nmx-prog: {a.file}: {e}", file=sys.stderr)
        return 2
    cmd = {"dis": _cmd_dis, "manifest": _cmd_manifest, "run": _cmd_run}[a.cmd]
    try:
        return cmd(prog, a)
    except BrokenPipeError:  # e.g. `nmx-prog dis big.nmx | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
