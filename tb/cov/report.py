"""Coverage reports: per-run JSON files, summaries with holes, and merging across runs.

A report file is JSON: ``{"meta": {...}, "points": {point: {bin: hits}}, "summary": {...}}``.  Bins
are the plan's (``tb/cov/bins.py``); a merge sums hits bin by bin and recomputes the summary, so the
order of merging never matters and a merged file is itself a valid input to another merge.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from tb.cov.bins import POINTS
from tb.cov.model import Snapshot, empty


def summarise(points: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """Totals, per-point percentages and the list of unhit bins (holes) of the plan."""
    per_point: dict[str, dict[str, Any]] = {}
    holes: list[str] = []
    total = hit = 0
    for p in POINTS:
        got = points.get(p.name, {})
        n_hit = sum(1 for b in p.bins if got.get(b, 0) > 0)
        per_point[p.name] = {
            "bins": len(p.bins),
            "hit": n_hit,
            "percent": round(100.0 * n_hit / len(p.bins), 1),
        }
        holes += [f"{p.name}/{b}" for b in p.bins if got.get(b, 0) == 0]
        total += len(p.bins)
        hit += n_hit
    return {
        "bins": total,
        "hit": hit,
        "percent": round(100.0 * hit / total, 2) if total else 0.0,
        "points": per_point,
        "holes": holes,
    }


def write(
    path: str | pathlib.Path, points: Snapshot, meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write one report file; returns its summary."""
    summary = summarise(points)
    doc = {"meta": dict(meta or {}), "points": points, "summary": summary}
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=1, sort_keys=True))
    return summary


def read(path: str | pathlib.Path) -> dict[str, Any]:
    return json.loads(pathlib.Path(path).read_text())


def merge(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the hits of several report documents (bins unknown to the current plan are kept)."""
    points: Snapshot = empty()
    runs: list[Any] = []
    for d in docs:
        for p, bins in d.get("points", {}).items():
            dst = points.setdefault(p, {})
            for b, n in bins.items():
                dst[b] = dst.get(b, 0) + int(n)
        meta = d.get("meta", {})
        runs.extend(meta.get("runs", [meta]) if meta else [])
    return {"meta": {"runs": runs, "merged": len(runs)}, "points": points, "summary": summarise(points)}


def format_text(summary: Mapping[str, Any], *, holes: int = 40) -> str:
    """A short human-readable table of a summary."""
    lines = [f"functional coverage: {summary['hit']}/{summary['bins']} bins ({summary['percent']}%)"]
    for name, s in summary["points"].items():
        mark = "" if s["hit"] == s["bins"] else "  <-"
        lines.append(f"  {name:<20} {s['hit']:>3}/{s['bins']:<3} {s['percent']:>5}%{mark}")
    if summary["holes"]:
        shown = summary["holes"][:holes]
        more = len(summary["holes"]) - len(shown)
        lines.append("  holes: " + ", ".join(shown) + (f" (+{more} more)" if more > 0 else ""))
    return "\n".join(lines)
