"""The power report of one run: SAIF windows in, run SAIF + JSON + markdown + plots out.

:func:`analyse_run` is what ``python -m tb.run PROGRAM --power`` (tb/run.py) calls for every run.
It merges the run's activity windows (tb/power/saif.py), writes the whole-run SAIF a sign-off
tool reads (``run.saif``), prices every window with the energy model (tb/power/energy.py) and
writes, beside the run's result:

* ``power.json``: totals, per class, per module, per layer, the time series, the event-count
  cross-check, throughput (GOPS, GOPS/W) and the technology file with its sources;
* ``power.md``: the same for people;
* ``power_breakdown``, ``power_layers``, ``power_time`` (PNG and SVG).

Per-layer attribution: a window belongs to the layer of the last instruction accepted before it
opened (windows are cut at every layer's first accepted instruction, tb/hdl/nmx_tb_top.sv), so
a layer's energy runs from the acceptance of its first instruction to the acceptance of the
next layer's first one.  Every window belongs to exactly one layer: the layers add up to the run.
"""

from __future__ import annotations

import bisect
import json
import pathlib
import time
from typing import Any

import numpy as np

from golden.hwcfg import HwConfig
from golden.isa import SRAM_ACCESS, Counter
from golden.program import Program
from tb.power import capture, energy, hier, saif
from tb.power import tech as techmod
from tb.power.energy import COMPONENTS, DYNAMIC

IDLE_LAYER = "(idle before the first instruction)"
PLOT_NAMES = ("power_breakdown", "power_layers", "power_time")


def _layers(program: Program | None) -> tuple[list[int], list[str], int]:
    """Start instruction, name of every non-empty layer, and the model's MACs (0: unknown)."""
    if program is None:
        return [], [], 0
    lys = [ly for ly in program.manifest.get("layers", []) if ly["insn_end"] > ly["insn_start"]]
    lys.sort(key=lambda ly: ly["insn_start"])
    macs = sum(int(ly.get("meta", {}).get("macs", 0)) for ly in program.manifest.get("layers", []))
    return [int(ly["insn_start"]) for ly in lys], [str(ly["name"]) for ly in lys], macs


def layer_of_windows(windows: list[saif.Window], starts: list[int], names: list[str]) -> list[str]:
    """Layer of each window: the layer of instruction ``insn_lo - 1`` (the last one accepted)."""
    out = []
    for w in windows:
        if w.insn_lo == 0:
            out.append(IDLE_LAYER)
        elif not starts:
            out.append("(whole program)")
        else:
            k = bisect.bisect_right(starts, w.insn_lo - 1) - 1
            out.append(names[max(k, 0)])
    return out


def _by_name(counters: dict[Any, int] | None) -> dict[str, int]:
    """Counters keyed by name, whether given by :class:`Counter` (RunResult) or by name (JSON)."""
    return {(k.name if isinstance(k, Counter) else str(k)): int(v) for k, v in (counters or {}).items()}


def event_estimate(counters: dict[str, int] | None, hw: HwConfig, t: techmod.Tech,
                   sram: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Accelergy-style estimate per class: events x energy per event, events from the counters.

    array: MAC_CYCLES x ROWS x COLS x (e_mult8 + e_add32); dram: (DMA_RD + DMA_WR bytes) x
    e_dram_byte; buffers: the ISA's buffer counters (INP_RD ... ACC_WR, golden.isa.SRAM_ACCESS) x
    the size-scaled access energy of each macro they count.
    """
    if not counters:
        return {}
    c = _by_name(counters)
    out: dict[str, dict[str, Any]] = {}
    mac = c.get(Counter.MAC_CYCLES.name, 0)
    out["array"] = {"events": mac * hw.rows * hw.cols, "event": "MAC (MAC_CYCLES x ROWS x COLS)",
                    "pj": mac * hw.rows * hw.cols * (t.e_mult8 + t.e_add32)}
    dram = c.get(Counter.DMA_RD_BYTES.name, 0) + c.get(Counter.DMA_WR_BYTES.name, 0)
    out["dram"] = {"events": dram, "event": "byte (DMA_RD_BYTES + DMA_WR_BYTES)", "pj": dram * t.e_dram_byte}
    events = pj = 0.0
    missing = []
    for cnt, ports in SRAM_ACCESS.items():
        n = c.get(cnt.name)
        if n is None:
            missing.append(cnt.name)
            continue
        for inst, port in ports:
            v = sram.get(f"{energy.SYNTH_TOP}.{inst}")
            if v is None:
                raise ValueError(f"counter {cnt.name}: SRAM {inst} is not in the capture ({sorted(sram)})")
            events += n
            pj += n * t.sram_access_pj(v["width"], v["depth"], write=port == "we")
    if not missing:
        out["buffers"] = {"events": int(events), "pj": pj,
                          "event": "SRAM word access (buffer counters, ISA SRAM_ACCESS)"}
    return out


def sram_counter_check(counters: dict[str, int] | None, sram: dict[str, dict[str, int]]) -> dict[str, Any]:
    """The SRAM accesses the SAIF's enables show against the RTL's buffer counters, per counter."""
    if not counters:
        return {}
    c = _by_name(counters)
    out = {}
    for cnt, ports in SRAM_ACCESS.items():
        if cnt.name not in c:
            continue
        for inst, port in ports:
            v = sram.get(f"{energy.SYNTH_TOP}.{inst}", {})
            out[f"{cnt.name}:{inst}.{port}"] = {"counter": c[cnt.name],
                                               "saif": v.get("reads" if port == "re" else "writes")}
    return out


def analyse_run(pdir: str | pathlib.Path, *, program: Program | None, counters: dict[str, int] | None,
                hw: HwConfig, tech: str | pathlib.Path | None = None, keep_windows: bool = False,
                plots: bool = True) -> dict[str, Any]:
    """Merge, price and report the capture in ``pdir``; returns the report (also ``power.json``)."""
    t_start = time.perf_counter()
    d = pathlib.Path(pdir)
    t = techmod.load(tech)
    wins_all = saif.read_windows(d / "windows.tsv")
    if not wins_all:
        raise saif.SaifError(d / "windows.tsv", 2, "no windows: the capture never opened one")
    base = saif.read(d / "windows" / f"w{wins_all[0].index:06d}.saif")
    cl = hier.classify(base)
    act = saif.merge_windows(d, capture.TB_CLOCK_PS, groups=cl.groups, n_groups=cl.n_groups)
    t_read = time.perf_counter() - t_start
    run = [k for k, w in enumerate(act.windows) if w.insn_lo > 0]
    pre = [k for k, w in enumerate(act.windows) if w.insn_lo == 0]
    if not run:
        raise saif.SaifError(d / "windows.tsv", 2, "no window after the first accepted instruction")
    run_cycles = sum(act.windows[k].cycles for k in run)
    saif.write(d / "run.saif", base, act.tc, act.t1, run_cycles * act.period_units,
               program=f"NMX power run: {program.manifest.get('name', '') if program else d.parent.name}")
    model = energy.build_model(cl, energy.synth_report(hw), t)
    e = energy.window_energy(model, cl, act)  # pJ (windows, owners, components)
    sram = energy.sram_accesses(model, act, run)
    rep = _report(e[run], [act.windows[k] for k in run], model, program, counters, hw, t, sram)
    rep["before_first_instruction"] = _pre_summary(e[pre], [act.windows[k] for k in pre], model)
    rep["timing_s"] = {"read_merge": round(t_read, 2), "total": round(time.perf_counter() - t_start, 2)}
    rep["files"] = {"saif": str(d / "run.saif"), "json": str(d / "power.json"),
                    "markdown": str(d / "power.md")}
    if plots:
        rep["files"]["plots"] = plot(rep, d)
    (d / "power.json").write_text(json.dumps(rep, indent=1))
    (d / "power.md").write_text(markdown(rep))
    if not keep_windows:
        for w in wins_all:
            (d / "windows" / f"w{w.index:06d}.saif").unlink(missing_ok=True)
    return rep


def _by_class(e: np.ndarray, model: energy.EnergyModel) -> np.ndarray:
    """(windows, REPORT_CLASSES) energy of each class in each window."""
    cls_index = {c: i for i, c in enumerate(hier.REPORT_CLASSES)}
    owner_cls = np.array([cls_index[o.cls] for o in model.owners])
    out = np.zeros((e.shape[0], len(hier.REPORT_CLASSES)))
    for k in range(len(hier.REPORT_CLASSES)):
        out[:, k] = e[:, owner_cls == k, :].sum(axis=(1, 2))
    return out


def _pre_summary(e: np.ndarray, windows: list[saif.Window], model: energy.EnergyModel) -> dict[str, Any]:
    """Windows before the first accepted instruction: the reset-time buffer clear (one row of every
    buffer per cycle, rtl/nmx_top.sv) and then idle cycles.  Reported apart from the run: they
    happen once per reset, not per inference.  Per window: energy per class and component."""
    ci = {c: i for i, c in enumerate(COMPONENTS)}
    rows = []
    for k, w in enumerate(windows):
        rows.append({"start": w.start_cycle, "end": w.end_cycle, "insn_hi": w.insn_hi,
                     "components_pj": {c: float(e[k, :, i].sum()) for c, i in ci.items()},
                     "classes_pj": dict(zip(hier.REPORT_CLASSES, map(float, _by_class(e[k:k + 1], model)[0]),
                                            strict=True))})
    return {"cycles": sum(w.cycles for w in windows), "pj": float(e.sum()), "windows": rows}


def _report(e: np.ndarray, windows: list[saif.Window], model: energy.EnergyModel, program: Program | None,
            counters: dict[str, int] | None, hw: HwConfig, t: techmod.Tech,
            sram: dict[str, dict[str, int]]) -> dict[str, Any]:
    owners = model.owners
    cycles = sum(w.cycles for w in windows)
    secs = cycles / (t.clock_mhz * 1e6)
    total_pj = float(e.sum())
    comp = {c: float(e[:, :, i].sum()) for i, c in enumerate(COMPONENTS)}
    dyn_pj = sum(v for k, v in comp.items() if k in DYNAMIC)

    def mw(pj: float) -> float:
        return pj / secs * 1e-9 if secs > 0 else 0.0  # pJ/s -> mW

    per_owner = e.sum(axis=0)  # (owners, components)
    classes: dict[str, dict[str, float]] = {}
    modules: dict[str, dict[str, Any]] = {}
    for o, ow in enumerate(owners):
        cl = classes.setdefault(ow.cls, {c: 0.0 for c in COMPONENTS})
        md = modules.setdefault(ow.module, {"class": ow.cls, "instances": 0, "ge": 0.0,
                                            **{c: 0.0 for c in COMPONENTS}})
        md["instances"] += 1
        md["ge"] += ow.ge
        for i, c in enumerate(COMPONENTS):
            cl[c] += float(per_owner[o, i])
            md[c] += float(per_owner[o, i])
    for tab in (*classes.values(), *modules.values()):
        tab["total_pj"] = sum(tab[c] for c in COMPONENTS)
        tab["dynamic_mw"] = mw(sum(tab[c] for c in COMPONENTS if c in DYNAMIC))
        tab["leakage_mw"] = mw(tab["leak"] + tab["sram_leak"])
    starts, names, macs = _layers(program)
    wl = layer_of_windows(windows, starts, names)
    per_window = e.sum(axis=(1, 2))
    layers: dict[str, dict[str, Any]] = {}
    by_cls_w = _by_class(e, model)
    cls_index = {c: i for i, c in enumerate(hier.REPORT_CLASSES)}
    for k, (w, ly) in enumerate(zip(windows, wl, strict=True)):
        r = layers.setdefault(ly, {"pj": 0.0, "cycles": 0, "windows": 0,
                                   **{c: 0.0 for c in hier.REPORT_CLASSES}})
        r["pj"] += float(per_window[k])
        r["cycles"] += w.cycles
        r["windows"] += 1
        for c, i in cls_index.items():
            r[c] += float(by_cls_w[k, i])
    series = [{"start": w.start_cycle, "end": w.end_cycle, "layer": ly, "pj": float(per_window[k]),
               "mw": float(per_window[k]) / (w.cycles / (t.clock_mhz * 1e6)) * 1e-9 if w.cycles else 0.0,
               **{c: float(by_cls_w[k, i]) for c, i in cls_index.items()}}
              for k, (w, ly) in enumerate(zip(windows, wl, strict=True))]
    bounds = [s["start"] for k, s in enumerate(series) if k and s["layer"] != series[k - 1]["layer"]]
    ev = event_estimate(counters, hw, t, sram)
    sram_check = sram_counter_check(counters, sram)
    toggle_cls = {c: classes.get(c, {}).get("total_pj", 0.0) - classes.get(c, {}).get("leak", 0.0)
                  - classes.get(c, {}).get("sram_leak", 0.0) for c in ev}
    cross = {c: {**ev[c], "toggle_pj": toggle_cls[c],
                 "ratio_toggle_over_event": toggle_cls[c] / ev[c]["pj"] if ev[c]["pj"] else None}
             for c in ev}
    array_macs = _by_name(counters).get(Counter.MAC_CYCLES.name, 0) * hw.rows * hw.cols
    useful = macs or array_macs
    gops = 2 * useful / secs / 1e9 if secs else 0.0
    p_w = total_pj * 1e-12 / secs if secs else 0.0
    batch = int((program.manifest.get("batch", 1) if program else 1) or 1)
    layer_sum = sum(r["pj"] for r in layers.values())
    class_sum = sum(v["total_pj"] for v in classes.values())
    return {
        "program": str(program.manifest.get("name", "")) if program else "",
        "hw": hw.to_dict(),
        "tech": t.to_json(),
        "clock_mhz": t.clock_mhz,
        "cycles": cycles,
        "seconds": secs,
        "windows": len(windows),
        "total_pj": total_pj,
        "dynamic_pj": dyn_pj,
        "leakage_pj": comp["leak"] + comp["sram_leak"],
        "components_pj": comp,
        "power_mw": mw(total_pj),
        "dynamic_mw": mw(dyn_pj),
        "leakage_mw": mw(comp["leak"] + comp["sram_leak"]),
        "energy_per_inference_uj": total_pj / batch * 1e-6,
        "batch": batch,
        "macs": {"model": macs, "array": array_macs, "counted_for_gops": "model" if macs else "array"},
        "gops": gops,
        "gops_per_w": gops / p_w if p_w else 0.0,
        "classes": classes,
        "modules": modules,
        "layers": layers,
        "layer_order": list(dict.fromkeys(wl)),
        "series": series,
        "layer_bounds": bounds,
        "sram": sram,
        "cross_check": cross,
        "sram_vs_counters": sram_check,
        "checks": {"layers_sum_rel_err": abs(layer_sum - total_pj) / total_pj if total_pj else 0.0,
                   "classes_sum_rel_err": abs(class_sum - total_pj) / total_pj if total_pj else 0.0},
    }


def _fmt_e(pj: float) -> str:
    for unit, f in (("J", 1e12), ("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= f:
            return f"{pj / f:.3g} {unit}"
    return f"{pj:.3g} pJ"


def summary_table(rep: dict[str, Any]) -> str:
    """A few lines for the terminal: totals and the per-class split."""
    lines = [f"power of {rep['program'] or 'run'}: {rep['cycles']:,} cycles at {rep['clock_mhz']:g} MHz "
             f"({rep['tech']['name']}): {_fmt_e(rep['total_pj'])}, {rep['power_mw']:.1f} mW "
             f"(dynamic {rep['dynamic_mw']:.1f}, leakage {rep['leakage_mw']:.1f}), "
             f"{rep['gops']:.1f} GOPS, {rep['gops_per_w']:.0f} GOPS/W",
             f"  {'class':10s} {'energy':>10s} {'share':>6s} {'dyn mW':>8s} {'leak mW':>8s}"]
    for c in hier.REPORT_CLASSES:
        v = rep["classes"].get(c)
        if v:
            lines.append(f"  {c:10s} {_fmt_e(v['total_pj']):>10s} {v['total_pj'] / rep['total_pj']:6.1%} "
                         f"{v['dynamic_mw']:8.2f} {v['leakage_mw']:8.2f}")
    lines.append(f"  report: {rep['files']['markdown']}")
    return "\n".join(lines)


def markdown(rep: dict[str, Any]) -> str:
    t = rep["tech"]
    out = [f"# Power report: {rep['program'] or 'run'}", "",
           f"Configuration {rep['hw']['rows']}x{rep['hw']['cols']}, technology `{t['name']}` ({t['node']}), "
           f"clock {rep['clock_mhz']:g} MHz; {rep['cycles']:,} cycles = {rep['seconds'] * 1e6:.1f} us; "
           f"{rep['windows']} activity windows. Method: docs/power.md.", "",
           "| figure | value |", "|---|---|",
           f"| energy per inference | {_fmt_e(rep['energy_per_inference_uj'] * 1e6)} "
           f"(batch {rep['batch']}) |",
           f"| average power | {rep['power_mw']:.2f} mW (dynamic {rep['dynamic_mw']:.2f}, leakage "
           f"{rep['leakage_mw']:.2f}) |",
           f"| throughput | {rep['gops']:.2f} GOPS ({rep['macs']['counted_for_gops']} MACs x 2) |",
           f"| efficiency | {rep['gops_per_w']:.1f} GOPS/W |", "",
           "## Per class", "",
           "| class | logic | reg | clock | SRAM | DRAM | leakage | total | share | dynamic mW "
           "| leakage mW |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in hier.REPORT_CLASSES:
        v = rep["classes"].get(c)
        if v:
            out.append(f"| {c} | {_fmt_e(v['logic'])} | {_fmt_e(v['reg'])} | {_fmt_e(v['clock'])} | "
                       f"{_fmt_e(v['sram'])} | {_fmt_e(v['dram'])} | {_fmt_e(v['leak'] + v['sram_leak'])} | "
                       f"{_fmt_e(v['total_pj'])} | {v['total_pj'] / rep['total_pj']:.1%} | "
                       f"{v['dynamic_mw']:.3f} | {v['leakage_mw']:.3f} |")
    out += ["", "## Per module", "", "| module | class | instances | GE | total | dynamic mW | leakage mW |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for name, v in sorted(rep["modules"].items(), key=lambda kv: -kv[1]["total_pj"]):
        out.append(f"| {name} | {v['class']} | {v['instances']} | {v['ge']:,.0f} | {_fmt_e(v['total_pj'])} | "
                   f"{v['dynamic_mw']:.3f} | {v['leakage_mw']:.3f} |")
    out += ["", "## Per layer (acceptance windows, docs/power.md)", "",
            "| layer | cycles | energy | share | array | buffers | ppu | dma | dram |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for ly in rep["layer_order"]:
        v = rep["layers"][ly]
        out.append(f"| {ly} | {v['cycles']:,} | {_fmt_e(v['pj'])} | {v['pj'] / rep['total_pj']:.1%} | "
                   + " | ".join(_fmt_e(v[c]) for c in ("array", "buffers", "ppu", "dma", "dram")) + " |")
    if rep["cross_check"]:
        out += ["", "## Cross-check: event counts x energy per event", "",
                "| class | events | event | event estimate | toggle estimate (dynamic) | toggle / event |",
                "|---|---:|---|---:|---:|---:|"]
        for c, v in rep["cross_check"].items():
            r = v["ratio_toggle_over_event"]
            out.append(f"| {c} | {v['events']:,} | {v['event']} | {_fmt_e(v['pj'])} | "
                       f"{_fmt_e(v['toggle_pj'])} | "
                       f"{'' if r is None else f'{r:.2f}'} |")
    ck = rep["checks"]
    out += ["", f"Sums: layers vs total {ck['layers_sum_rel_err']:.2e}, classes vs total "
                f"{ck['classes_sum_rel_err']:.2e} (relative).", ""]
    if "plots" in rep.get("files", {}):
        out += [f"![{n}]({n}.png)" for n in PLOT_NAMES] + [""]
    return "\n".join(out)


def plot(rep: dict[str, Any], d: pathlib.Path) -> list[str]:
    """The three plots (PNG and SVG): per-class breakdown, per-layer energy, power over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip(hier.REPORT_CLASSES, plt.get_cmap("tab10").colors, strict=False))
    files = []
    title = f"{rep['program'] or 'run'} ({rep['hw']['rows']}x{rep['hw']['cols']}, {rep['tech']['name']})"

    def save(fig: Any, name: str) -> None:
        for ext in ("png", "svg"):
            fig.savefig(d / f"{name}.{ext}", dpi=110, bbox_inches="tight")
            files.append(str(d / f"{name}.{ext}"))
        plt.close(fig)

    # 1. breakdown: one stacked bar per class, by component
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    cls = [c for c in hier.REPORT_CLASSES if c in rep["classes"]]
    parts = (("logic", "logic"), ("reg", "registers"), ("clock", "clock tree"), ("sram", "SRAM access"),
             ("dram", "DRAM"), ("leak", "leakage"), ("sram_leak", "SRAM leakage"))
    left = np.zeros(len(cls))
    for key, label in parts:
        vals = np.array([rep["classes"][c][key] for c in cls]) * 1e-6
        if vals.any():
            ax.barh(cls, vals, left=left, label=label)
            left += vals
    ax.invert_yaxis()
    ax.set_xlabel("energy (uJ)")
    ax.set_title(f"Energy by class: {title}\ntotal {_fmt_e(rep['total_pj'])}, {rep['power_mw']:.1f} mW")
    ax.legend(fontsize=8, loc="lower right")
    save(fig, "power_breakdown")

    # 2. per layer: stacked by class
    lys = rep["layer_order"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.22 * len(lys) + 2), 4.0))
    bottom = np.zeros(len(lys))
    for c in cls:
        vals = np.array([rep["layers"][ly][c] for ly in lys]) * 1e-6
        ax.bar(range(len(lys)), vals, bottom=bottom, label=c, color=colours.get(c))
        bottom += vals
    ax.set_xticks(range(len(lys)))
    ax.set_xticklabels([ly[:24] for ly in lys], rotation=90, fontsize=6 if len(lys) > 30 else 8)
    ax.set_ylabel("energy (uJ)")
    ax.set_title(f"Energy per layer: {title}")
    ax.legend(fontsize=8)
    save(fig, "power_layers")

    # 3. power over time, stacked by class, layer boundaries marked
    s = rep["series"]
    fig, ax = plt.subplots(figsize=(9.0, 3.8))
    us = 1.0 / rep["clock_mhz"]
    x = np.array([w["start"] for w in s] + [s[-1]["end"]]) * us if s else np.zeros(1)
    dur = np.array([(w["end"] - w["start"]) * us * 1e-6 for w in s])
    base = np.zeros(len(s))
    for c in cls:
        p = np.array([w[c] for w in s]) * 1e-12 / np.maximum(dur, 1e-18) * 1e3  # mW
        ax.stairs(base + p, x, baseline=base, fill=True, label=c, color=colours.get(c))
        base = base + p
    for b in rep["layer_bounds"]:
        ax.axvline(b * us, color="k", lw=0.4, alpha=0.4)
    ax.set_xlabel("time (us)")
    ax.set_ylabel("power (mW)")
    ax.set_title(f"Power over time (layer boundaries: grey lines): {title}")
    ax.legend(fontsize=8, ncol=4, loc="upper right")
    save(fig, "power_time")
    return files
