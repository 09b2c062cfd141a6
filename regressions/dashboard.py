"""The regression dashboard: one self-contained static HTML page per run (``dashboard.html``).

Rendered from the run's summary (regressions/report.py) and the history file (regressions/history.py):
no server, no script, no external URL; the CSS is inline and the trend plots are inline SVG drawn
here, so the page can be mailed, attached to a CI run or opened from a file browser years later.
Sections (ids): ``overview``, ``failures``, ``pass-rates``, ``models``, ``trends``, ``jobs``,
``coverage``, ``code-coverage`` (runs with ``--code-coverage`` only).  docs/regressions.md
("Reading the dashboard") explains each.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from regressions import history

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#4b5563",
    "#65a30d",
    "#9333ea",
)
MEMBERS_SHOWN = 6
"""Members of a failure group listed before the rest fold into a <details>."""

CSS = """
*{box-sizing:border-box}body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
margin:0;background:#f4f5f7;color:#1f2937}header{padding:14px 24px;color:#fff}header.pass{background:#15803d}
header.fail{background:#b91c1c}header h1{margin:0;font-size:20px}header .sub{opacity:.9}
main{padding:8px 24px 24px}section{background:#fff;border:1px solid #e5e7eb;border-radius:6px;
margin:12px 0;padding:10px 14px}h2{font-size:15px;margin:2px 0 8px}h3{font-size:13px;margin:4px 0}
.kpis{display:flex;gap:10px;flex-wrap:wrap}.kpi{border:1px solid #e5e7eb;border-radius:6px;padding:6px 10px;
flex:1 1 0;min-width:110px}.kpi b{display:block;font-size:18px}.kpi span{color:#6b7280;font-size:11px}
table{border-collapse:collapse;width:100%}th,td{padding:3px 6px;border-bottom:1px solid #eef0f2;
text-align:left;vertical-align:top}th{background:#f9fafb;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.grid3{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:14px}.grid2{display:grid;
grid-template-columns:repeat(2,minmax(0,1fr));gap:10px}.bar{background:#fee2e2;height:9px;border-radius:3px;
width:90px;display:inline-block;vertical-align:middle}.bar i{display:block;height:9px;border-radius:3px;
background:#16a34a}.st{display:inline-block;padding:0 6px;border-radius:9px;font-size:11px;font-weight:600;
color:#fff}.st.pass{background:#16a34a}.st.fail{background:#dc2626}.st.timeout{background:#d97706}
.st.error{background:#7c3aed}code{font:12px ui-monospace,"DejaVu Sans Mono",monospace}
code.rerun{display:block;background:#f3f4f6;padding:2px 6px;margin-top:3px;border-radius:4px;user-select:all;
word-break:break-all}td.sigcell{width:58%}td.count{font-size:16px;font-weight:700}
tr.rate td:not(:last-child){white-space:nowrap}
code.sig{font-weight:600;color:#991b1b}.muted{color:#6b7280}.msg{color:#374151}
details summary{cursor:pointer;color:#2563eb}svg.plot{background:#fff;border:1px solid #eef0f2;
border-radius:4px;width:100%;height:auto}svg text{font:11px system-ui,"DejaVu Sans",sans-serif;fill:#374151}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}footer{color:#6b7280;padding:0 24px 16px}
"""


# --------------------------------------------------------------------------- formatting


def fmt(v: Any, kind: str = "") -> str:
    """A cell: ``—`` for a missing value (power of a run without ``--power``), else by ``kind``."""
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if kind == "pct" and isinstance(v, int | float):
        return f"{v:.1f}%"
    if kind == "frac" and isinstance(v, int | float):
        return f"{100 * v:.1f}%"
    if kind == "bytes" and isinstance(v, int | float):
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(v) >= size:
                return f"{v / size:.2f} {unit}"
        return f"{int(v)} B"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(fmt(x) for x in v)
    return str(v)


def _e(v: Any, kind: str = "") -> str:
    return escape(fmt(v, kind))


def _status(st: str) -> str:
    return f'<span class="st {escape(st)}">{escape(st.upper())}</span>'


def _minutes(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


# --------------------------------------------------------------------------- SVG plots


def _nice_step(span: float, n: int = 4) -> float:
    raw = span / max(1, n)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        d0, d1 = math.floor(lo), math.ceil(hi)
        return [float(d) for d in range(d0, d1 + 1)]
    step = _nice_step(hi - lo)
    first = math.floor(lo / step) * step
    out, t = [], first
    while t <= hi + step * 1e-9:
        out.append(round(t, 10))
        t += step
    return out


def _tick_label(t: float, log: bool, unit: str) -> str:
    v = 10**t if log else t
    if abs(v) >= 1e6:
        s = f"{v / 1e6:g}M"
    elif abs(v) >= 1e3:
        s = f"{v / 1e3:g}k"
    else:
        s = f"{v:g}"
    return s + unit


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    unit: str = "",
    log: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    plot_id: str = "",
) -> str:
    """An inline SVG line chart of ``series`` over runs (``labels``); one ``circle.pt`` per value,
    with a tooltip naming the run, so a test can count the points and a reader can hover them."""
    width, height = 640, 230
    legend_w = 150 if len(series) > 1 else 0
    left, right, top, bottom = 56, 12 + legend_w, 26, 34
    pw, ph = width - left - right, height - top - bottom
    n = len(labels)
    vals = [v for s in series.values() for v in s if v is not None and (v > 0 or not log)]
    parts = [
        f'<svg class="plot" id="{escape(plot_id)}" data-points-expected="{n}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="16" style="font-weight:600;font-size:12px">{escape(title)}</text>',
    ]
    if not vals or n == 0:
        parts.append(f'<text x="{left + 10}" y="{top + ph / 2}" class="muted">no data yet</text></svg>')
        return "".join(parts)
    tv = [math.log10(v) for v in vals] if log else vals
    y0 = min(tv) if lo is None else lo
    y1 = max(tv) if hi is None else hi
    if log:
        y0, y1 = math.floor(y0), max(math.ceil(y1), math.floor(y0) + 1)
    elif y1 - y0 < 1e-12:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = (y0, y1 + pad) if lo is not None else (y0 - pad, y1 + pad)
    ticks = _ticks(y0, y1, log)
    if not log:
        y0, y1 = min(y0, ticks[0]), max(y1, ticks[-1])

    def x(i: int) -> float:
        pad = 34  # room for the first and last date labels
        return left + (pw / 2 if n == 1 else pad + i * (pw - 2 * pad) / (n - 1))

    def y(v: float) -> float:
        t = math.log10(v) if log else v
        return top + ph - (t - y0) / (y1 - y0) * ph

    for t in ticks:
        yy = top + ph - (t - y0) / (y1 - y0) * ph
        parts.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{escape(_tick_label(t, log, unit))}'
            "</text>"
        )
    step = max(1, math.ceil(n / 6))
    for i in range(0, n, step):
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(_short_date(labels[i]))}'
            "</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#9ca3af"/>'
        f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#9ca3af"/>'
        f'<line x1="{x(n - 1):.1f}" x2="{x(n - 1):.1f}" y1="{top}" y2="{top + ph}" stroke="#9ca3af"'
        ' stroke-dasharray="3 3"><title>this run</title></line>'
    )
    for k, (name, values) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        segment: list[str] = []
        segments = [segment]
        for i, v in enumerate(values):
            if v is None or (log and v <= 0):
                segment = []
                segments.append(segment)
            else:
                segment.append(f"{x(i):.1f},{y(v):.1f}")
        for seg in segments:
            if len(seg) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(seg)}"/>'
                )
        for i, v in enumerate(values):
            if v is not None and not (log and v <= 0):
                parts.append(
                    f'<circle class="pt" data-series="{escape(name)}" cx="{x(i):.1f}" cy="{y(v):.1f}"'
                    f' r="3" fill="{color}"><title>{escape(labels[i])} — {escape(name)}:'
                    f" {escape(fmt(v))}{escape(unit)}</title></circle>"
                )
        if legend_w:
            ly = top + 4 + k * 15
            parts.append(
                f'<rect x="{width - legend_w + 4}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
                f'<text x="{width - legend_w + 18}" y="{ly + 1}">{escape(name[:22])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _short_date(label: str) -> str:
    """``MM-DD HH:MM`` of an ISO date (the x axis has room for little more)."""
    try:
        return dt.datetime.fromisoformat(label).strftime("%m-%d %H:%M")
    except ValueError:
        return label[-11:]


# --------------------------------------------------------------------------- sections


def _overview(s: Mapping[str, Any]) -> str:
    runs = s["runs"]
    cov = s["coverage"]
    kpis = [
        (f"{s['passed']}/{s['total']}", f"jobs passed ({100 * s['pass_rate']:.1f}%)"),
        (f"{runs['total'] - runs['failed']}/{runs['total']}", "runs (seeds, Programs) passed"),
        (str(s["failed"]), "failed"),
        (str(s["timeout"]), "timed out"),
        (str(s["error"]), "errors (raised)"),
        (str(len(s["failure_groups"])), "failure signatures"),
        (_minutes(s["wall_s"]), "wall time"),
        (fmt(cov["percent"], "pct"), "functional coverage"),
        (fmt(s["peak_rss_mb"]) + (" MB" if s["peak_rss_mb"] is not None else ""), "largest job peak RSS"),
    ]
    cc = s.get("code_coverage") or {}
    if cc.get("totals"):  # runs with --code-coverage
        t = cc["totals"]
        kpis.append((f"{fmt(t['line']['pct'], 'pct')} / {fmt(t['branch']['pct'], 'pct')}",
                     "code coverage line / branch (rtl/)"))
    cards = "".join(f'<div class="kpi"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in kpis)
    return f'<section id="overview"><h2>Overview</h2><div class="kpis">{cards}</div></section>'


def _who(g: Mapping[str, Any]) -> str:
    """The members of a failure group, one line per job: its failing seeds (or runs)."""
    per_job: dict[str, list[str]] = {}
    for m in g["members"]:
        items = per_job.setdefault(m["job"], [])
        if m["seed"] is not None:
            plain = m["run"] == m["job"] or m["run"].endswith(str(m["seed"]))
            items.append(f"{m['seed']}" if plain else f"{m['run']} (seed {m['seed']})")
        elif m["run"] != m["job"]:
            items.append(m["run"])
    lines = []
    for job, items in per_job.items():
        label = "seed" if items and all(i.isdigit() for i in items) else "run"
        shown = ", ".join(items[:MEMBERS_SHOWN]) + (
            f" … +{len(items) - MEMBERS_SHOWN}" if len(items) > MEMBERS_SHOWN else ""
        )
        what = f": {label}{'s' if len(items) > 1 else ''} {shown}" if items else " (whole job)"
        lines.append(f"<div><b>{escape(job)}</b>{escape(what)}</div>")
    unlisted = g["count"] - len(g["members"])
    if unlisted > 0:
        lines.append(
            f'<div class="muted">and {unlisted} more (summary.json lists the first {len(g["members"])})</div>'
        )
    if len(lines) > 4:
        return (
            "".join(lines[:3])
            + f"<details><summary>{len(lines) - 3} more jobs</summary>{''.join(lines[3:])}</details>"
        )
    return "".join(lines)


def _failures(s: Mapping[str, Any]) -> str:
    groups = s["failure_groups"]
    if not groups:
        return '<section id="failures"><h2>Failures by signature</h2><p class="ok">No failures.</p></section>'
    rows = []
    for g in groups:
        rows.append(
            f'<tr class="group" data-signature="{escape(g["signature"])}" data-count="{g["count"]}">'
            f'<td class="sigcell"><code class="sig">{escape(g["signature"])}</code>'
            f'<div class="msg">{escape(g["message"][:300])}</div>'
            f'<code class="rerun" title="rerun of the first member">{escape(g["rerun"])}</code></td>'
            f'<td class="num count">{g["count"]}</td><td>{_who(g)}</td></tr>'
        )
    return (
        '<section id="failures"><h2>Failures by signature</h2><table><thead><tr><th>signature, first message'
        ' and the line that reruns it</th><th class="num">count</th><th>jobs and seeds</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _rate_table(title: str, key: str, rows: list[dict[str, Any]]) -> str:
    body = []
    for r in rows:
        pct = 100 * r["rate"]
        bad = r["total"] - r["pass"]
        detail = ", ".join(f"{r[k]} {k}" for k in ("fail", "timeout", "error") if r[k])
        body.append(
            f'<tr class="rate" data-group="{escape(r["group"])}"><td>{escape(r["group"])}</td>'
            f'<td class="num">{r["pass"]}/{r["total"]}</td><td><span class="bar"><i style="width:'
            f'{pct:.0f}%"></i></span> <span class="{"bad" if bad else "ok"}">{pct:.0f}%</span></td>'
            f'<td class="muted">{escape(detail)}</td></tr>'
        )
    return (
        f'<div><h3>{escape(title)}</h3><table id="rate-{key}"><thead><tr><th>{escape(key)}</th>'
        f'<th class="num">passed</th><th>rate</th><th></th></tr></thead><tbody>{"".join(body)}</tbody>'
        "</table></div>"
    )


def _pass_rates(s: Mapping[str, Any]) -> str:
    pr = s["pass_rates"]
    return (
        '<section id="pass-rates"><h2>Pass rate</h2><div class="grid3">'
        + _rate_table("per suite", "suite", pr["suite"])
        + _rate_table("per family (tags)", "family", pr["family"])
        + _rate_table("per configuration", "cfg", pr["cfg"])
        + "</div></section>"
    )


MODEL_COLS = (
    ("name", "model", ""),
    ("family", "family", ""),
    ("cfg", "cfg", ""),
    ("insns", "insns", ""),
    ("rtl_cycles", "RTL cycles", ""),
    ("golden_cycles", "golden cycles", ""),
    ("cycle_ratio", "cycle ratio", ""),
    ("mac_util", "MAC util", "frac"),
    ("dma_rd_bytes", "DMA read", "bytes"),
    ("dma_wr_bytes", "DMA write", "bytes"),
    ("cosine", "cosine", ""),
    ("max_abs_err", "max abs err", ""),
    ("top1", "top-1", "frac"),
    ("coverage_pct", "coverage", "pct"),
    ("energy_uj", "energy µJ", ""),
    ("power_mw", "power mW", ""),
)


def _models(s: Mapping[str, Any]) -> str:
    if not s["models"]:
        return (
            '<section id="models"><h2>Models</h2><p class="muted">No model runs in this suite.</p></section>'
        )
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if i > 2 else f"<th>{escape(h)}</th>"
        for i, (_, h, _) in enumerate(MODEL_COLS)
    )
    rows = []
    for m in s["models"]:
        cells = []
        for i, (k, _, kind) in enumerate(MODEL_COLS):
            cells.append(
                f'<td class="num">{_e(m.get(k), kind)}</td>' if i > 2 else f"<td>{_e(m.get(k))}</td>"
            )
        rows.append(
            f'<tr class="model" data-job="{escape(m["job"])}"><td>{_status(m["status"])}</td>'
            + "".join(cells)
            + "</tr>"
        )
    return (
        f'<section id="models"><h2>Models</h2><table><thead><tr><th>status</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _trends(s: Mapping[str, Any], hist: history.History) -> str:
    t = history.trends(hist, s["suite"])
    labels = t["dates"]
    charts = [
        line_chart(
            "Pass rate (jobs)",
            labels,
            {"pass rate": t["pass_rate"]},
            unit="%",
            lo=0,
            hi=100,
            plot_id="trend-pass-rate",
        ),
        line_chart("Wall time", labels, {"wall": t["wall_min"]}, unit=" min", lo=0, plot_id="trend-wall"),
        line_chart(
            "Functional coverage (run)",
            labels,
            {"coverage": t["coverage"]},
            unit="%",
            plot_id="trend-coverage",
        ),
        line_chart("RTL cycles per model (log)", labels, t["cycles"], log=True, plot_id="trend-cycles"),
        line_chart("MAC utilisation per model", labels, t["mac_util"], unit="%", lo=0, plot_id="trend-util"),
    ]
    notes = f'<p class="muted">{len(labels)} runs of suite {escape(s["suite"])} from {escape(str(hist.path))}'
    notes += " (newest at the dashed line).</p>"
    notes += "".join(f'<p class="bad">{escape(p)}</p>' for p in hist.problems)
    return f'<section id="trends"><h2>Trends</h2>{notes}<div class="grid2">{"".join(charts)}</div></section>'


def _jobs(s: Mapping[str, Any]) -> str:
    rows = []
    for j in s["jobs"]:
        figs = j.get("figures") or {}
        rows.append(
            f'<tr class="job" data-status="{escape(j["status"])}"><td><a href="jobs/{escape(j["name"])}'
            f'.json">{escape(j["name"])}</a></td><td>{_status(j["status"])}</td>'
            f"<td>{escape(str(j.get('kind') or ''))}</td>"
            f"<td>{escape(', '.join(j.get('tags') or []))}</td>"
            f'<td class="num">{_e(j.get("wall_s"))}</td><td class="num">{_e(j.get("peak_rss_mb"))}</td>'
            f'<td class="msg">{escape(str(j.get("reason") or ""))}</td>'
            f'<td class="muted">{_e(figs)}</td></tr>'
        )
    return (
        '<section id="jobs"><h2>Jobs</h2><table><thead><tr><th>job</th><th>status</th><th>kind</th>'
        '<th>tags</th><th class="num">wall s</th><th class="num">peak MB</th><th>reason</th><th>figures</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _coverage(s: Mapping[str, Any]) -> str:
    c = s["coverage"]
    holes = c.get("holes") or []
    listed = "".join(f"<li><code>{escape(h)}</code></li>" for h in holes[:300])
    more = f"<li>… {len(holes) - 300} more</li>" if len(holes) > 300 else ""
    head = (
        f"<p>{_e(c['percent'], 'pct')} of the plan's bins hit ({_e(c.get('hit'))}/{_e(c.get('total'))});"
        f" {escape(str(c['source']))}.</p>"
    )
    body = f"<details><summary>{len(holes)} holes</summary><ul>{listed}{more}</ul></details>" if holes else ""
    return f'<section id="coverage"><h2>Coverage</h2>{head}{body}</section>'


def _cc_cell(f: Mapping[str, Any]) -> str:
    if not f.get("total"):
        return '<td class="num">—</td>'
    pct = f["pct"]
    cls = "ok" if pct >= 95 else "bad"
    return (f'<td class="num"><span class="bar"><i style="width:{pct:.0f}%"></i></span>'
            f' <span class="{cls}">{pct:.1f}%</span> <span class="muted">{f["hit"]}/{f["total"]}</span></td>')


def _code_coverage(s: Mapping[str, Any]) -> str:
    """Verilator line/branch/toggle coverage of rtl/ per module (runs with ``--code-coverage``)."""
    cc = s.get("code_coverage")
    if not cc:
        return ""
    if "error" in cc:
        return (f'<section id="code-coverage"><h2>Code coverage (rtl/)</h2><p class="bad">Not computed:'
                f" {escape(str(cc['error']))}</p></section>")
    rows = []
    for name, m in sorted(cc["modules"].items()):
        rows.append(f'<tr class="ccmod" data-module="{escape(name)}"><td><code>{escape(name)}</code></td>'
                    + "".join(_cc_cell(m[k]) for k in ("line", "branch", "toggle")) + "</tr>")
    t = cc["totals"]
    rows.append('<tr class="cctotal" data-module="(total)"><td><b>rtl/ total</b></td>'
                + "".join(_cc_cell(t[k]) for k in ("line", "branch", "toggle")) + "</tr>")
    goal = cc["goal"]
    met, cls = ("met", "ok") if goal["met"] else ("not met", "bad")
    head = (
        f'<p>Goal (line and branch &ge; 95% after waivers): <span class="{cls}">{met}</span>; merged from'
        f' {_e(cc["files"])} coverage file(s), {_e(cc["waivers"])} waivers, {_e(cc["holes"])} holes.'
        f' Report: <code>{escape(cc["report"])}</code>, annotated sources:'
        f' <code>{escape(cc["annotated"])}/</code>.</p>'
    )
    notes = ""
    if cc.get("unused_waivers"):
        notes += f'<p class="muted">Waivers matching no point: {escape(", ".join(cc["unused_waivers"]))}</p>'
    if cc.get("waived_but_hit"):
        notes += f'<p class="bad">Waived points hit anyway: {escape(", ".join(cc["waived_but_hit"]))}</p>'
    return (
        f'<section id="code-coverage"><h2>Code coverage (rtl/)</h2>{head}{notes}<table><thead><tr>'
        '<th>module</th><th class="num">line</th><th class="num">branch</th><th class="num">toggle</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def render(summary: Mapping[str, Any], hist: history.History) -> str:
    """The whole page."""
    s = summary
    ok = s["passed"] == s["total"]
    hosts = ", ".join(s["hosts"]) or "unknown host"
    sub = (
        f"run {escape(s['run_id'])} · started {escape(s['date'])} · {escape(hosts)} · "
        f"{s['passed']}/{s['total']} jobs passed"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>NMX regression {escape(s['suite'])} {escape(s['run_id'])}</title><style>{CSS}</style>"
        f'</head><body><header class="{"pass" if ok else "fail"}"><h1>{"PASS" if ok else "FAIL"} — regression'
        f' <code>{escape(s["suite"])}</code></h1><div class="sub">{sub}</div></header><main>'
        + _overview(s)
        + _failures(s)
        + _pass_rates(s)
        + _models(s)
        + _trends(s, hist)
        + _jobs(s)
        + _coverage(s)
        + _code_coverage(s)
        + "</main><footer>Generated by <code>regressions/report.py</code>; regenerate with "
        f"<code>python -m regressions.report {escape(str(s.get('run_dir') or s['run_id']))}</code>. "
        "Records: <code>jobs/*.json</code>; JUnit: <code>junit.xml</code>.</footer></body></html>\n"
    )
