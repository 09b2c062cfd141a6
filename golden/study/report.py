"""Tables (markdown, JSON) and plots (one per family) of the study, from the per-model records.

Why separate from the measurement: the records are expensive, the presentation is not; tables and
plots are rebuilt from ``<out>/models/*.json`` (``python -m golden.study --report-only``).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import subprocess
from typing import Any

from golden.study import PAPER_GRANULARITY, SEGMENTS, evalsets, ppu_cost
from golden.study.sweep import HW_SEGMENTS, label, points

GOAL_POINTS = 0.5
"""Issue 14's goals: loss <= 0.5 points at 16 segments, and at 8 segments after fine-tuning."""
LINES = [("uniform", None), ("horizontal", None), ("vertical", None), ("uniform", PAPER_GRANULARITY)]


def load(out: pathlib.Path) -> list[dict[str, Any]]:
    order = {n: i for i, n in enumerate(evalsets.classifiers())}
    recs = [json.loads(p.read_text()) for p in sorted((out / "models").glob("*.json"))]
    return sorted(recs, key=lambda r: order.get(r["model"], 99))


def ppu_costs(out: pathlib.Path, synth: bool = True) -> list[dict[str, Any]]:
    """Analytic counts per budget, with Yosys' coarse cell counts (cached in ``ppu_cost.json``)."""
    path = out / "ppu_cost.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    rows = []
    for s in (16, 32, 64):
        row: dict[str, Any] = dict(ppu_cost.analytic(s))
        y = cached.get(str(s))
        if y is None and synth:
            try:
                y = ppu_cost.measure(s)
            except (OSError, subprocess.SubprocessError):
                y = None
            cached[str(s)] = y
        row["yosys"] = y
        rows.append(row)
    path.write_text(json.dumps(cached, indent=1))
    return rows


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _pts(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}"


def _se(r: dict[str, Any]) -> str:
    se = r.get("loss_paired", {}).get("se_points")
    return "-" if se is None else f"{se:.2f}"


def _find(rec: dict[str, Any], method: str, g: float | None, seg: int, source: str) -> dict[str, Any] | None:
    for p in rec.get("sweep", []):
        if p["method"] == method and p["granularity"] == g and p["segments"] == seg and p["source"] == source:
            return p
    return None


def goals(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each issue goal: met or not, with the figures it rests on."""
    g16 = [{"model": r["model"], "loss_points": r["loss_points"],
            "se_points": r["loss_paired"].get("se_points"),
            "met": r["loss_points"] <= GOAL_POINTS} for r in recs]
    g8 = []
    for r in recs:
        for f in r.get("finetune", []):
            if f["segments"] == 8:
                g8.append({"model": r["model"], "loss_before_points": f["loss_before_points"],
                           "loss_after_points": f["loss_after_points"],
                           "met": f["loss_after_points"] <= GOAL_POINTS})
    return {"loss_16": {"goal": f"accuracy loss <= {GOAL_POINTS} points at 16 segments, every zoo classifier",
                        "met": bool(g16) and all(x["met"] for x in g16), "rows": g16,
                        "models_measured": len(g16), "classifiers": len(evalsets.classifiers())},
            "loss_8_finetuned": {"goal": f"accuracy loss <= {GOAL_POINTS} points at 8 segments, fine-tuned",
                                 "met": bool(g8) and all(x["met"] for x in g8), "rows": g8}}


def markdown(recs: list[dict[str, Any]], cost: list[dict[str, Any]], command: str) -> str:
    L: list[str] = [f"# NeuralMatrix accuracy study (`{command}`)", "",
                    f"Generated {dt.datetime.now().isoformat(timespec='seconds')}.  Accelerator = real"
                    " compiler + golden ISA simulator (bit-exact with the RTL); **emulated** = float +"
                    " fake-int8 forward"
                    " (golden/study/emulate.py), the only source of 32/64 segments and of int8-only"
                    " accuracy.", ""]
    L += ["## Accuracy per model (16 segments, horizontal+vertical: the hardware default)", "",
          "| model | held-out set | float | int8 only (emulated) | accelerator | loss (points) | paired SE"
          " | quantisation loss | PWL loss | emulated 16 seg | PWL tables | loss <= 0.5 |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        L.append(f"| {r['model']}{' (quick)' if r.get('quick') else ''} | {r['eval']} | {_pct(r['float'])}"
                 f" | {_pct(r['int8'])} | {_pct(r['accel'])} | {_pts(r['loss_points'])}"
                 f" | {_se(r)} | {_pts(r['quant_loss_points'])}"
                 f" | {_pts(r['pwl_loss_points'])} | {_pct(r['emulated16'])} | {r['pwl_tables']}"
                 f" | {'met' if r['loss_points'] <= GOAL_POINTS else 'NOT met'} |")
    L += ["", "Loss = float - accelerator in accuracy points (positive = the accelerator is worse);"
          " paired SE ="
          " sqrt(discordant decisions) / N, the noise of that difference.  Quantisation loss = float - int8"
          " only; PWL loss = int8 only - accelerator.", ""]
    L += ["## PWL budget sweep", "", "Accuracy per method and segment budget.  A = accelerator"
          " (<= 16 segments),"
          " E = emulated.  Networks without PWL tables (ReLU only) compile to the same Program under every"
          " policy (checked), so their lines are flat.", ""]
    segs = sorted({p["segments"] for r in recs for p in r.get("sweep", [])}) or list(SEGMENTS)
    flat = [r for r in recs if r.get("pwl_tables") == 0 and not r.get("pwl_sites_emulated")]
    if flat:
        L += ["ReLU-only networks (no fitted PWL table; accelerator and emulation flat at every budget and"
              " method): " + ", ".join(f"{r['model']} {100 * r['accel']:.2f}% (A) /"
                                       f" {100 * r['int8']:.2f}% (E)" for r in flat) + ".", ""]
    for r in recs:
        if r in flat:
            continue
        n_a = next((p["decisions"] for p in r["sweep"] if p["source"] == "accelerator"), None)
        n_e = next((p["decisions"] for p in r["sweep"] if p["source"] == "emulated"), None)
        L += [f"### {r['model']} (A: {n_a} decisions, E: {n_e})", "",
              "| method | source | " + " | ".join(f"{s}" for s in segs) + " |",
              "|---|---|" + "---|" * len(segs)]
        for m, g in LINES:
            for src in ("accelerator", "emulated"):
                cells = []
                for s in segs:
                    p = _find(r, m, g, s, src)
                    cells.append("-" if p is None else f"{100 * p['accuracy']:.2f}")
                if any(c != "-" for c in cells):
                    tag = "A" if src == "accelerator" else "E"
                    L.append(f"| {label(m, g)} | {tag} | " + " | ".join(cells) + " |")
        L.append("")
    ft = [(r, f) for r in recs for f in r.get("finetune", [])]
    if ft:
        L += ["## Approximation-aware fine-tuning (accelerator, horizontal+vertical)", "",
              "| model | segments | float | before | after | loss before | loss after | gain (points) +- SE"
              " | selected step | val. before -> after | loss <= 0.5 after |", "|---" * 11 + "|"]
        for r, f in ft:
            gn = f["gain"]
            L.append(f"| {r['model']} | {f['segments']} | {_pct(f['float'])} | {_pct(f['before'])}"
                     f" | {_pct(f['after'])}"
                     f" | {_pts(f['loss_before_points'])} | {_pts(f['loss_after_points'])}"
                     f" | {gn['diff_points']:+.2f} +- {gn['se_points']:.2f} | {f['best_step']}/{f['steps']}"
                     f" | {100 * f['val_before']:.1f}% -> {100 * f['val_after']:.1f}%"
                     f" | {'met' if f['loss_after_points'] <= GOAL_POINTS else 'NOT met'} |")
        L.append("")
    L += ["## What a larger PWL table costs in the PPU", "",
          "| segments | comparators (32 b, 16 cols) | mux inputs (32 b) | table register bits"
          " | VEC rows per PPU record"
          " | Yosys cells, 1 column | of which $alu_32 | $pmux |", "|---|---|---|---|---|---|---|---|"]
    for c in cost:
        y = c.get("yosys") or {}
        pm = ", ".join(f"{k}: {v}" for k, v in y.items() if k.startswith("pmux")) or "-"
        L.append(f"| {c['segments']} | {c['comparators_32b']} | {c['mux_inputs_32b']}"
                 f" | {c['table_register_bits']}"
                 f" | {c['vec_rows_per_record']} | {y.get('cells', '-')} | {y.get('alu_32', '-')} | {pm} |")
    gl = goals(recs)
    missing = [n for n in evalsets.classifiers() if n not in {r["model"] for r in recs}]
    L += ["", "## Goals", ""]
    if missing:
        L += [f"Not measured in this run: {', '.join(missing)} (so the every-classifier goal is open).", ""]
    for g in gl.values():
        L.append(f"* {g['goal']}: **{'met' if g['met'] else 'not met'}**"
                 + "".join(f"; {x['model']} {x.get('loss_points', x.get('loss_after_points')):+.2f}"
                           for x in g["rows"]))
    L += ["", "Timing and memory per model:", "", "| model | wall (s) | peak RSS (MB) |", "|---|---|---|"]
    for r in recs:
        L.append(f"| {r['model']} | {r['wall'].get('total_s', 0):.0f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(L) + "\n"


def plot(out: pathlib.Path, recs: list[dict[str, Any]], family: str) -> pathlib.Path | None:
    """Accuracy vs segments for the family's models (one panel each), one line per method."""
    rs = [r for r in recs if r["family"] == family]
    if not rs:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg(out, rs, family)
    fig, axes = plt.subplots(1, len(rs), figsize=(4.2 * len(rs), 3.6), squeeze=False)
    colours = {"uniform": "tab:red", "horizontal": "tab:blue", "vertical": "tab:green", "paper": "tab:orange"}
    for ax, r in zip(axes[0], rs, strict=True):
        for m, g in LINES:
            c = colours["paper" if g is not None else m]
            for src, style, mk in (("emulated", "--", "o"), ("accelerator", "-", "s")):
                pts = [(p["segments"], 100 * p["accuracy"]) for p in r["sweep"]
                       if p["method"] == m and p["granularity"] == g and p["source"] == src]
                if not pts:
                    continue
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=mk, color=c, ms=4,
                        mfc="none" if src == "emulated" else c, alpha=0.9,
                        label=f"{label(m, g)}{' (emulated)' if src == 'emulated' else ''}")
        ax.axhline(100 * r["float"], color="k", lw=0.8, label="float")
        ax.axhline(100 * r["int8"], color="grey", lw=0.8, ls=":", label="int8 only (emulated)")
        ax.axvline(HW_SEGMENTS, color="grey", lw=0.5, ls="-.")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(SEGMENTS))
        ax.set_xticklabels([str(s) for s in SEGMENTS])
        ax.set_xlabel("PWL segments (16 = PPU table)")
        ax.set_ylabel("top-1 accuracy (%)")
        n_a = next((p["decisions"] for p in r["sweep"] if p["source"] == "accelerator"), 0)
        n_e = next((p["decisions"] for p in r["sweep"] if p["source"] == "emulated"), 0)
        ax.set_title(f"{r['model']} (A: {n_a}, E: {n_e} decisions)", fontsize=8)
        accs = [100 * p["accuracy"] for p in r["sweep"]] + [100 * r["float"]]
        ax.set_ylim(max(0.0, min(accs) - 2), min(100.5, max(accs) + 1.5))
        ax.grid(alpha=0.3)
        if r.get("pwl_tables") == 0:
            ax.text(0.03, 0.05, "ReLU only: no fitted PWL table,\nthe same Program under every policy",
                    transform=ax.transAxes, fontsize=6, color="dimgrey")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"{family}: accuracy vs PWL segments\n(solid: accelerator, dashed: emulated)", fontsize=8)
    fig.tight_layout()
    path = out / f"fidelity_{family}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _svg(out: pathlib.Path, rs: list[dict[str, Any]], family: str) -> pathlib.Path:
    """Hand-written SVG fallback (no matplotlib): the vertical-method lines only."""
    w, h = 360 * len(rs), 260
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">']
    for i, r in enumerate(rs):
        x0 = 360 * i + 40
        accs = [100 * p["accuracy"] for p in r["sweep"]]
        lo, hi = min([*accs, 100 * r["float"]]) - 1, max([*accs, 100 * r["float"]]) + 1
        for src, dash in (("emulated", "4,3"), ("accelerator", "")):
            pts = sorted((p["segments"], 100 * p["accuracy"]) for p in r["sweep"]
                         if p["method"] == "vertical" and p["granularity"] is None and p["source"] == src)
            xy = " ".join(f"{x0 + 60 * (s.bit_length() - 3):.0f},{220 - 200 * (a - lo) / (hi - lo):.0f}"
                          for s, a in pts)
            parts.append(f'<polyline points="{xy}" fill="none" stroke="green" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{x0}" y="15" font-size="11">{r["model"]}</text>')
    parts.append("</svg>")
    path = out / f"fidelity_{family}.svg"
    path.write_text("\n".join(parts))
    return path


def write(out: pathlib.Path, recs: list[dict[str, Any]], cost: list[dict[str, Any]],
          command: str) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    md = out / "fidelity.md"
    md.write_text(markdown(recs, cost, command))
    paths.append(md)
    js = out / "fidelity.json"
    now = dt.datetime.now().isoformat(timespec="seconds")
    js.write_text(json.dumps({"command": command, "generated": now,
                              "points": [list(p) for p in points(SEGMENTS)], "models": recs, "ppu_cost": cost,
                              "goals": goals(recs)}, indent=1))
    paths.append(js)
    for fam in ("resnet", "bert", "gnn"):
        p = plot(out, recs, fam)
        if p is not None:
            paths.append(p)
    return paths
