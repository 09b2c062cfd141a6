"""``python -m compiler.perf MODEL``: per-layer performance table (utilisation, DMA traffic, I/O bounds).

MODEL is a zoo name (``golden.models.ZOO``), ``module.path:factory`` (as ``python -m compiler``) or a
compiled ``.nmxp`` Program.  Every per-layer figure comes from the golden timing model
(``golden.timing.estimate``) under each requested memory profile: cycles attributed like
``compiler.report.layer_table`` (end of a layer's last instruction minus the previous layer's end),
useful MACs (the float model's linear products the compiler records in the manifest) against array
MACs (what the ROWS x COLS array actually does, padding and helper GEMMs included), exact DMA bytes,
and the I/O lower bounds of the layer's products (compulsory traffic and the Hong-Kung capacity
bound).  ``--rtl`` also runs the whole Program on the RTL once per profile (whole-model figures
only; per-layer figures stay golden).

Writes ``perf.json``, ``perf.md``, ``perf.png`` and ``perf.svg`` into ``--out``
(default ``build/perf/<model>``) and prints the first profile's table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from golden.hwcfg import ConfigNameError, hw_name, parse_hw
from golden.isa import Counter, DecodeError, HwConfig, Insn, Opcode, decode
from golden.program import Program, ProgramFormatError
from golden.timing import MEM_PROFILES, Timing, TimingParams, dma_bytes, estimate

PROG = "python -m compiler.perf"
OUTSIDE = "(outside layers)"
"""Name of the pseudo-row holding instructions no manifest layer covers (shown only if any do work)."""


class PerfError(ValueError):
    """A user error (bad model, profile, configuration or file, a Program that cannot be timed):
    :func:`main` turns it into a non-zero exit with the message."""


# --------------------------------------------------------------------------- I/O lower bounds


def buffer_bytes(hw: HwConfig) -> int:
    """On-chip capacity S of the Hong-Kung bound, in bytes: INP and WGT hold int8, ACC int32.

    VEC and ROW hold per-column/per-row parameters, not operands, so they do not count."""
    return hw.inp_depth * hw.rows + hw.wgt_depth * hw.cols + hw.acc_depth * hw.cols * 4


def capacity_bound(M: int, K: int, N: int, S: int) -> float:
    """Red-blue pebble (Hong-Kung) I/O lower bound of a dense M x K x N product with S bytes of fast
    memory: any schedule moves at least 2*M*K*N/sqrt(S) bytes (elements are int8)."""
    return 2.0 * M * K * N / math.sqrt(S)


def bounds(gemms: Sequence[dict[str, Any]], hw: HwConfig) -> dict[str, float]:
    """I/O lower bounds of one layer's linear products (``meta["gemms"]``).

    Per product: compulsory = a_bytes + w_bytes + o_bytes (everything moved once); capacity = the
    Hong-Kung bound for dense products, 0 for sparse ones (an aggregation over edges has no reuse to
    exploit beyond reading each edge once, which a_bytes already counts: Gleinig, Ben-Nun, Hoefler
    2023); bound = max(compulsory, capacity).  ``rd_bound`` is the same for the reads alone,
    max(a_bytes + w_bytes, capacity): approximate, since the capacity term bounds reads and writes
    together (outputs leave the array once, so it is nearly all reads).  Layer values are sums.
    """
    S = buffer_bytes(hw)
    out = {"compulsory": 0.0, "compulsory_rd": 0.0, "capacity": 0.0, "bound": 0.0, "rd_bound": 0.0}
    for g in gemms:
        rd = float(g["a_bytes"] + g["w_bytes"])
        comp = rd + g["o_bytes"]
        cap = 0.0 if g.get("sparse") else capacity_bound(g["M"], g["K"], g["N"], S)
        out["compulsory"] += comp
        out["compulsory_rd"] += rd
        out["capacity"] += cap
        out["bound"] += max(comp, cap)
        out["rd_bound"] += max(rd, cap)
    return out


# --------------------------------------------------------------------------- per-layer figures


def decode_program(program: Program) -> list[Insn]:
    """The accepted instruction stream, decoded once for every profile: up to and including the
    first FINISH (the dispatcher accepts nothing after it)."""
    insns: list[Insn] = []
    for i, w in enumerate(program.insns):
        try:
            ins = decode(w)
        except DecodeError as e:
            raise PerfError(f"instruction {i} does not decode: {e}") from None
        insns.append(ins)
        if ins.opcode == Opcode.FINISH:
            break
    return insns


def _prefix_sums(insns: Sequence[Insn], hw: HwConfig) -> tuple[list[int], list[int], list[int]]:
    """Running DMA read bytes, DMA write bytes and GEMM rows before each instruction index (n + 1
    entries), so any instruction range costs three subtractions.  One light pass: a STORE's
    element size is that of the last PPUCFG before it (both run on the ST engine, in order)."""
    rd = wr = rows = 0
    out32 = False
    crd, cwr, crows = [0], [0], [0]
    for ins in insns:
        op, f = ins.opcode, ins.fields
        if op == Opcode.GEMM:
            rows += f["m"]
        elif op == Opcode.PPUCFG:
            out32 = bool(f["out_int32"])
        else:
            r, w = dma_bytes(ins, hw, out32)
            rd += r
            wr += w
        crd.append(rd)
        cwr.append(wr)
        crows.append(rows)
    return crd, cwr, crows


def layer_static(program: Program, insns: Sequence[Insn]) -> list[dict[str, Any]]:
    """Profile-independent figures of every manifest layer: useful and array MACs, exact DMA bytes,
    I/O bounds.  A pseudo-layer :data:`OUTSIDE` collects work outside every layer so the rows always
    sum to the whole stream."""
    hw = program.hw
    n = len(insns)
    crd, cwr, crows = _prefix_sums(insns, hw)
    rc = hw.rows * hw.cols
    rows: list[dict[str, Any]] = []
    for ly in program.manifest["layers"]:
        s, e = min(ly["insn_start"], n), min(ly["insn_end"], n)
        meta = ly.get("meta", {})
        gemms = list(meta.get("gemms", []))
        rows.append({
            "layer": ly["name"], "op": ly["op"], "insn_start": s, "insn_end": e,
            "useful_macs": int(meta.get("macs", 0)), "array_macs": (crows[e] - crows[s]) * rc,
            "dma_rd": crd[e] - crd[s], "dma_wr": cwr[e] - cwr[s],
            "products": len(gemms), "sparse": any(g.get("sparse") for g in gemms), **bounds(gemms, hw),
        })
    rest = {k: tot - sum(r[k] for r in rows)
            for k, tot in (("dma_rd", crd[n]), ("dma_wr", cwr[n]), ("array_macs", crows[n] * rc))}
    if any(v < 0 for v in rest.values()):
        raise PerfError("manifest layers overlap (their instruction ranges count some work twice)")
    if any(rest.values()):
        rows.append({"layer": OUTSIDE, "op": "", "insn_start": -1, "insn_end": -1, "useful_macs": 0,
                     **rest, "products": 0, "sparse": False, **bounds([], hw)})
    return rows


def layer_cycles(static: Sequence[dict[str, Any]], timing: Timing) -> list[int]:
    """Cycles of each layer as ``compiler.report.layer_table`` counts them: the end of the layer's
    last instruction minus the previous layer's end (at least 1; engines overlap across layer
    boundaries, so this is the wall-clock advance the layer causes, not its busy time)."""
    prev = 0
    out = []
    for r in static:
        s, e = r["insn_start"], r["insn_end"]
        if r["layer"] == OUTSIDE:
            out.append(max(0, timing.cycles - prev))
            continue
        end = max(prev, max(timing.end[s:e])) if e > s else prev
        out.append(max(1, end - prev))
        prev = end
    return out


def layer_rows(program: Program, timing: Timing, insns: Sequence[Insn],
               static: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per layer under one timing estimate: the static figures plus cycles, utilisations
    and traffic/bound ratios (None where the layer has no linear product: pure overhead)."""
    hw = program.hw
    rc = hw.rows * hw.cols
    static = layer_static(program, insns) if static is None else static
    rows = []
    for r, cyc in zip(static, layer_cycles(static, timing), strict=True):
        traffic = r["dma_rd"] + r["dma_wr"]
        rows.append({
            **r, "cycles": cyc,
            "useful_util": r["useful_macs"] / (rc * cyc) if cyc else 0.0,
            "total_util": r["array_macs"] / (rc * cyc) if cyc else 0.0,
            "traffic": traffic,
            "traffic_ratio": traffic / r["bound"] if r["bound"] else None,
            "rd_ratio": r["dma_rd"] / r["rd_bound"] if r["rd_bound"] else None,
        })
    return rows


def total_row(rows: Sequence[dict[str, Any]], timing: Timing, hw: HwConfig) -> dict[str, Any]:
    """Whole-model row: sums over the layers, utilisation over the Program's CYCLES counter, and
    the model's bounds (sums of the layer bounds).  Asserts the per-layer DMA bytes and array MACs
    add up to the golden counters exactly (they are timing-independent)."""
    c = timing.counters
    rc = hw.rows * hw.cols
    cyc = c[Counter.CYCLES]
    s = {k: sum(r[k] for r in rows) for k in ("useful_macs", "array_macs", "dma_rd", "dma_wr",
                                               "compulsory", "compulsory_rd", "capacity", "bound",
                                               "rd_bound", "products")}
    assert s["dma_rd"] == c[Counter.DMA_RD_BYTES], (s["dma_rd"], c[Counter.DMA_RD_BYTES])
    assert s["dma_wr"] == c[Counter.DMA_WR_BYTES], (s["dma_wr"], c[Counter.DMA_WR_BYTES])
    assert s["array_macs"] == c[Counter.MAC_CYCLES] * rc, (s["array_macs"], c[Counter.MAC_CYCLES])
    traffic = s["dma_rd"] + s["dma_wr"]
    return {
        "layer": "TOTAL", "op": "", **s, "cycles": cyc,
        "useful_util": s["useful_macs"] / (rc * cyc) if cyc else 0.0,
        "total_util": c[Counter.MAC_CYCLES] / cyc if cyc else 0.0,
        "traffic": traffic,
        "traffic_ratio": traffic / s["bound"] if s["bound"] else None,
        "rd_ratio": s["dma_rd"] / s["rd_bound"] if s["rd_bound"] else None,
        "insns": c[Counter.INSNS],
    }


def profile_params(name: str) -> dict[str, Any]:
    """The memory profile as both sides see it: the shared table entry and the timing constants."""
    return {**MEM_PROFILES[name], "timing": dataclasses.asdict(TimingParams.profile(name))}


def profile_report(program: Program, insns: Sequence[Insn], profile: str,
                   static: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Estimate the stream under one memory profile -> {profile, params, rows, total}."""
    tm = estimate(insns, program.hw, TimingParams.profile(profile))
    if tm.scheduled < len(insns):
        raise PerfError(f"the golden timing model scheduled only {tm.scheduled}/{len(insns)} "
                        "instructions (the Program deadlocks on its tokens)")
    static = layer_static(program, insns) if static is None else static
    rows = layer_rows(program, tm, insns, static)
    return {"profile": profile, "params": profile_params(profile), "rows": rows,
            "total": total_row(rows, tm, program.hw)}


# --------------------------------------------------------------------------- formatting


def _int(v: float) -> str:
    return f"{round(v):,}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def _ratio(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


MD_COLUMNS = ("layer", "op", "useful MACs", "array MACs", "cycles", "useful util %", "total util %",
              "DMA rd B", "DMA wr B", "compulsory B", "capacity B", "traffic/bound")


def _md_cells(r: dict[str, Any]) -> list[str]:
    has = bool(r["products"])
    return [r["layer"], r["op"], _int(r["useful_macs"]), _int(r["array_macs"]), _int(r["cycles"]),
            _pct(r["useful_util"]), _pct(r["total_util"]), _int(r["dma_rd"]), _int(r["dma_wr"]),
            _int(r["compulsory"]) if has else "", _int(r["capacity"]) if has and r["capacity"] else "",
            _ratio(r["traffic_ratio"])]


def format_table(report: dict[str, Any]) -> str:
    """The markdown table of one profile: one row per layer, then TOTAL (bold)."""
    lines = ["| " + " | ".join(MD_COLUMNS) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * (len(MD_COLUMNS) - 2)) + "|"]
    for r in report["rows"]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _md_cells(r)) + " |")
    t = _md_cells(report["total"])
    lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in t) + " |")
    return "\n".join(lines)


def format_total(report: dict[str, Any]) -> str:
    """One line: the TOTAL row of a profile in words (stdout summary, markdown heading notes)."""
    t = report["total"]
    return (f"{report['profile']}: {t['cycles']:,} cycles, useful util {_pct(t['useful_util'])} %, "
            f"total util {_pct(t['total_util'])} %, DMA rd {t['dma_rd']:,} B + wr {t['dma_wr']:,} B "
            f"= {_ratio(t['traffic_ratio'])}x the bound ({_int(t['bound'])} B), "
            f"reads {_ratio(t['rd_ratio'])}x the read bound ({_int(t['rd_bound'])} B)")


def format_rtl(rtl: Sequence[dict[str, Any]]) -> str:
    """Markdown table of the whole-model RTL runs (one per profile)."""
    cols = ("profile", "result", "RTL cycles", "golden cycles", "golden/RTL", "useful util %",
            "total util %", "DMA rd B", "DMA wr B")
    lines = ["| " + " | ".join(cols) + " |", "|---|---|" + "---:|" * (len(cols) - 2)]
    for r in rtl:
        lines.append("| " + " | ".join([
            r["profile"], "PASS" if r["passed"] else "FAIL", _int(r["cycles"]), _int(r["golden_cycles"]),
            _ratio(r["golden_over_rtl"]), _pct(r["useful_util"]), _pct(r["total_util"]),
            _int(r["dma_rd"]), _int(r["dma_wr"])]) + " |")
    return "\n".join(lines)


def format_md(doc: dict[str, Any]) -> str:
    """perf.md: what was measured and how, then one table per profile and the RTL section."""
    s = doc["summary"]
    out = [
        f"# Performance of {s['model']} on {s['cfg']}",
        "",
        f"{s['insns']:,} instructions, {s['layers']} layers; on-chip buffer S = {s['buffer_bytes']:,} B "
        "(INP + WGT int8, ACC int32). Per-layer figures are the golden timing model's "
        "(`golden.timing.estimate`); cycles are the advance of the layer's last instruction end over "
        "the previous layer's, so overlapped work is charged to the layer that finishes it. "
        "Useful MACs are the float model's linear products, array MACs every GEMM row x ROWS x COLS. "
        "DMA bytes are exact. Bound = sum over the layer's products of max(compulsory, capacity), "
        "capacity = 2MKN/sqrt(S) for dense products (Hong-Kung), sparse aggregations count their edge "
        "traffic only; traffic/bound is blank for layers without a linear product (helper layers).",
    ]
    for rep in doc["profiles"]:
        p = rep["params"]
        out += ["", f"## Profile `{rep['profile']}` (read latency {p['rd_latency']}, write latency "
                f"{p['wr_latency']}, bandwidth {p['bw_bytes'] or 'one bus beat'} B/cycle)", "",
                format_table(rep), "", format_total(rep)]
    if doc.get("rtl"):
        out += ["", "## RTL (whole model)", "",
                "The whole Program on the RTL (stream feed, one run per profile, judged by the "
                "scoreboard against the golden simulator). Per-layer figures above stay from the "
                "golden model.", "", format_rtl(doc["rtl"])]
    return "\n".join(out) + "\n"


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


# --------------------------------------------------------------------------- plot


def plot(doc: dict[str, Any], stem: pathlib.Path) -> list[pathlib.Path]:
    """perf.png / perf.svg: traffic and bound per layer (log bars) above useful and total utilisation
    (first profile as bars, further profiles' total utilisation as lines).  The x axis is the layer
    index; with many layers only every Nth index is labelled so hundreds of layers stay readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    reps = doc["profiles"]
    rows = reps[0]["rows"]
    n = len(rows)
    x = list(range(n))
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(max(8.0, min(24.0, 0.25 * n + 4)), 7), sharex=True)
    w = 0.42
    traffic = [r["traffic"] for r in rows]
    colours = ["tab:blue" if r["products"] else "tab:gray" for r in rows]
    ax0.bar([i - w / 2 for i in x], [t if t > 0 else float("nan") for t in traffic], w, color=colours)
    bx = [i + w / 2 for i, r in enumerate(rows) if r["bound"] > 0]
    ax0.bar(bx, [r["bound"] for r in rows if r["bound"] > 0], w, color="tab:orange")
    ax0.set_yscale("log")
    ax0.set_ylabel("bytes")
    ax0.legend(handles=[Patch(color="tab:blue", label="DMA traffic (rd + wr)"),
                        Patch(color="tab:gray", label="DMA traffic, helper layer (no bound)"),
                        Patch(color="tab:orange", label="I/O lower bound")], fontsize=8, loc="upper left",
               ncol=3)
    lo, hi = ax0.get_ylim()
    ax0.set_ylim(lo, hi * 6)  # headroom for the legend on the log axis
    s = doc["summary"]
    ax0.set_title(f"{s['model']} on {s['cfg']}: per-layer traffic vs bound and utilisation "
                  f"(golden model)", fontsize=10)
    ax1.bar(x, [100 * r["total_util"] for r in rows], 0.8, color="tab:blue", alpha=0.35,
            label=f"total util ({reps[0]['profile']})")
    ax1.bar(x, [100 * r["useful_util"] for r in rows], 0.8, color="tab:blue",
            label=f"useful util ({reps[0]['profile']})")
    for k, rep in enumerate(reps[1:]):
        ax1.plot(x, [100 * r["total_util"] for r in rep["rows"]], marker=".", lw=1,
                 color=f"C{k + 1}", label=f"total util ({rep['profile']})")
    ax1.set_ylabel("utilisation %")
    ax1.set_ylim(0, 125)
    ax1.set_yticks(range(0, 101, 20))
    ax1.legend(fontsize=8, loc="upper left", ncol=2 + len(reps[1:]))
    ax1.set_xlabel("layer index")
    if n <= 40:
        ax1.set_xticks(x)
        ax1.set_xticklabels([f"{i} {r['layer']}"[:24] for i, r in enumerate(rows)], rotation=90, fontsize=7)
    else:
        ax1.xaxis.set_major_locator(MaxNLocator(nbins=25, integer=True))
    ax1.set_xlim(-0.8, n - 0.2)
    fig.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------- inputs and RTL


def parse_profiles(specs: Sequence[str] | None) -> list[str]:
    """``--profile`` values (repeatable, comma-separated) -> profile names in order, no duplicates."""
    names: list[str] = []
    for spec in specs or ["nominal"]:
        for name in filter(None, (s.strip() for s in spec.split(","))):
            if name not in MEM_PROFILES:
                raise PerfError(f"unknown memory profile {name!r} (known: {', '.join(MEM_PROFILES)})")
            if name not in names:
                names.append(name)
    if not names:
        raise PerfError("--profile names no profile")
    return names


def _is_program_file(spec: str) -> bool:
    return spec.endswith(".nmxp") or pathlib.Path(spec).is_file()


def batched(inputs: tuple[Any, ...], batch: int) -> tuple[Any, ...]:
    """``inputs`` with every tensor's leading (batch) dimension repeated ``batch`` times.

    How a zoo model is compiled for batch N: the compiler takes the batch size from the example
    input's shape, so a batch-1 image N x C x H x W becomes batch x C x H x W (same weights)."""
    import torch

    if batch == 1:
        return inputs
    return tuple(torch.cat([x] * batch) if isinstance(x, torch.Tensor) else x for x in inputs)


def load_program(spec: str, cfg: str | None, n_calib: int, batch: int = 1) -> tuple[Program, str]:
    """(Program, model name) from a ``.nmxp`` file, a zoo name or ``module.path:factory``.

    A file keeps its own configuration (``--cfg`` must agree if given); a model is compiled for
    ``--cfg`` (default 16x16)."""
    try:
        hw = parse_hw(cfg) if cfg else None
    except ConfigNameError as e:
        raise PerfError(str(e)) from None
    if _is_program_file(spec):
        try:
            prog = Program.load(spec)
        except ProgramFormatError as e:
            raise PerfError(f"{spec}: {e}") from None
        if hw is not None and hw != prog.hw:
            raise PerfError(f"{spec}: compiled for {hw_name(prog.hw)}, not --cfg {cfg}")
        return prog, str(prog.manifest.get("name") or pathlib.Path(spec).stem)
    from compiler import compile_model
    from compiler.cli import load_model
    from compiler.compile import release_compile_state
    from compiler.frontend import CompileError

    try:
        model, example, calib, _ = load_model(spec, n_calib)
    except CompileError as e:  # unknown zoo name, bad module:factory: compiler.cli's message
        raise PerfError(str(e)) from None
    except (ImportError, AttributeError, ValueError, TypeError) as e:
        raise PerfError(f"cannot load model {spec!r}: {type(e).__name__}: {e}") from None
    name = spec.split(":")[-1] + (f"_b{batch}" if batch > 1 else "")
    if batch > 1:
        example, calib = batched(example, batch), calib and [batched(c, batch) for c in calib]
    t0 = time.perf_counter()
    prog = compile_model(model, example, calibration=calib, hw=hw or parse_hw("16x16"), name=name)
    print(f"compiled {spec} in {time.perf_counter() - t0:.1f} s: {len(prog.insns):,} instructions",
          file=sys.stderr)
    release_compile_state(prog)
    return prog, name


def rtl_runs(program: Program, profiles: Sequence[str], golden: dict[str, dict[str, Any]],
             out: pathlib.Path, name: str) -> list[dict[str, Any]]:
    """Run the whole Program on the RTL once per profile (stream feed, one simulator process) and
    report each run's counters next to the golden estimate of the same profile."""
    from tb.env.cfg import RunKnobs
    from tb.run import ProgramRun, run_programs

    hw = program.hw
    rc = hw.rows * hw.cols
    items = [ProgramRun(program, RunKnobs.profile(p, feed="stream"), name=f"{name}_{p}") for p in profiles]
    res = run_programs(items, hw=hw, seed=1, coverage=False, transfer_log=False, out=out)
    by_name = {r.name: r for r in res.runs}
    useful = golden[profiles[0]]["total"]["useful_macs"]
    rows = []
    for item, p in zip(items, profiles, strict=True):
        r = by_name.get(item.name or "")
        g = golden[p]["total"]["cycles"]
        if r is None:  # the simulator died before this run wrote its result
            rows.append({"profile": p, "passed": False, "cycles": 0, "golden_cycles": g,
                         "golden_over_rtl": None, "useful_util": 0.0, "total_util": 0.0, "dma_rd": 0,
                         "dma_wr": 0, "mac_cycles": 0, "failures": [res.sim_error or "no result"],
                         "result_dir": res.out_dir})
            continue
        c = r.counters
        cyc = c.get(Counter.CYCLES, 0)
        rows.append({
            "profile": p, "passed": bool(r.passed), "cycles": cyc, "golden_cycles": g,
            "golden_over_rtl": g / cyc if cyc else None,
            "useful_util": useful / (rc * cyc) if cyc else 0.0,
            "total_util": c.get(Counter.MAC_CYCLES, 0) / cyc if cyc else 0.0,
            "mac_cycles": c.get(Counter.MAC_CYCLES, 0),
            "dma_rd": c.get(Counter.DMA_RD_BYTES, 0), "dma_wr": c.get(Counter.DMA_WR_BYTES, 0),
            "scoreboard_golden_cycles": r.golden_counters.get(Counter.CYCLES, 0),
            "failures": list(r.failures), "result_dir": r.result_dir,
        })
    return rows


# --------------------------------------------------------------------------- command line


def perf_doc(program: Program, name: str, profiles: Sequence[str]) -> dict[str, Any]:
    """Everything perf.json holds except the RTL section: a summary and one report per profile."""
    insns = decode_program(program)
    static = layer_static(program, insns)
    hw = program.hw
    return {
        "summary": {"model": name, "cfg": hw_name(hw), "hw": hw.to_dict(), "insns": len(insns),
                    "layers": len(program.manifest["layers"]), "buffer_bytes": buffer_bytes(hw),
                    "profiles": {p: profile_params(p) for p in profiles}},
        "profiles": [profile_report(program, insns, p, static) for p in profiles],
    }


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("model", help="zoo name (golden.models.ZOO), module.path:factory, or a .nmxp Program")
    ap.add_argument("--profile", action="append", default=None, metavar="NAME",
                    help=f"memory profile(s): {', '.join(MEM_PROFILES)}; repeatable or comma-separated "
                         "(default nominal)")
    ap.add_argument("--cfg", default=None,
                    help="configuration (golden/hwcfg.py) to compile for (default 16x16; "
                         "a .nmxp keeps its own)")
    ap.add_argument("--out", default=None, help="output directory (default build/perf/<model>)")
    ap.add_argument("--calib", type=int, default=32, help="calibration samples for zoo models")
    ap.add_argument("--batch", type=int, default=1,
                    help="compile a model for this batch size (its example inputs repeated along dim 0)")
    ap.add_argument("--rtl", action="store_true", help="also run the whole Program on the RTL per profile")
    ap.add_argument("--no-plot", action="store_true", help="skip perf.png / perf.svg")
    a = ap.parse_args(argv)
    try:
        profiles = parse_profiles(a.profile)  # before any compile: a typo fails fast
        if a.batch < 1:
            raise PerfError(f"--batch must be >= 1, not {a.batch}")
        if a.batch > 1 and _is_program_file(a.model):
            raise PerfError("--batch applies to a model, not to a compiled .nmxp Program")
        program, name = load_program(a.model, a.cfg, a.calib, a.batch)
        out = pathlib.Path(a.out) if a.out else pathlib.Path("build") / "perf" / _safe(name)
        out.mkdir(parents=True, exist_ok=True)
        doc = perf_doc(program, name, profiles)
    except PerfError as e:
        raise SystemExit(f"{PROG}: error: {e}") from None
    if a.rtl:
        golden = {rep["profile"]: rep for rep in doc["profiles"]}
        doc["rtl"] = rtl_runs(program, profiles, golden, out / "rtl", _safe(name))
    paths = [out / "perf.json", out / "perf.md"]
    paths[0].write_text(json.dumps(_jsonable(doc), indent=1) + "\n")
    paths[1].write_text(format_md(doc))
    if not a.no_plot:
        paths += plot(doc, out / "perf")
    first = doc["profiles"][0]
    print(f"{name} on {doc['summary']['cfg']}, profile {first['profile']} (golden timing model)")
    print(format_table(first))
    for rep in doc["profiles"]:
        print(format_total(rep))
    if doc.get("rtl"):
        print(format_rtl(doc["rtl"]))
    for pth in paths:
        print(f"wrote {pth}")
    return 0 if all(r["passed"] for r in doc.get("rtl", [])) else 1


if __name__ == "__main__":
    sys.exit(main())
