"""The history of regression runs: one JSON line per run (``build/regress/history.jsonl``).

Each line keeps what the dashboard's trends need and nothing else (the records stay in their run
directories): run id, suite, date, pass rate, wall time, overall coverage and per model the RTL
cycles, MAC utilisation, cycle ratio and coverage.  Regenerating a run's outputs replaces its line
instead of adding a second one, and a line that cannot be read is reported and kept, never dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_POINTS = 60
"""Runs shown in the trend plots (the newest)."""


@dataclass
class History:
    entries: list[dict[str, Any]]
    """Readable lines, oldest first (by date)."""
    path: pathlib.Path
    problems: list[str] = field(default_factory=list)
    """``file:line: why`` of each line that could not be read (kept in the file)."""


def model_key(m: Mapping[str, Any]) -> str:
    """``name@cfg``: the same model on two configurations is two trend lines."""
    return (
        f"{m.get('name') or m.get('job')}@{m['cfg']}" if m.get("cfg") else str(m.get("name") or m.get("job"))
    )


def entry(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The history line of a run, from its summary (regressions/report.py)."""
    models = {}
    for m in summary["models"]:
        models[model_key(m)] = {
            "cycles": m.get("rtl_cycles"),
            "mac_util": m.get("mac_util"),
            "cycle_ratio": m.get("cycle_ratio"),
            "coverage_pct": m.get("coverage_pct"),
            "status": m.get("status"),
        }
    return {
        "run_id": summary["run_id"],
        "suite": summary["suite"],
        "date": summary["date"],
        "pass_rate": summary["pass_rate"],
        "passed": summary["passed"],
        "total": summary["total"],
        "wall_s": summary["wall_s"],
        "coverage_pct": summary["coverage"]["percent"],
        "runs_total": summary["runs"]["total"],
        "runs_failed": summary["runs"]["failed"],
        "models": models,
    }


def _parse(lines: list[str], path: pathlib.Path) -> tuple[list[dict[str, Any] | None], list[str]]:
    out: list[dict[str, Any] | None] = []
    problems = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            out.append(None)
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            doc, why = None, f"not JSON ({exc.msg})"
        else:
            why = "" if isinstance(doc, dict) and doc.get("run_id") and doc.get("date") else "no run_id/date"
        if why:
            problems.append(f"{path}:{i}: {why}; line kept, not plotted")
            out.append(None)
        else:
            out.append(doc)
    return out, problems


@contextlib.contextmanager
def _locked(path: pathlib.Path) -> Iterator[None]:
    """Serialise writers of one history file (runs finishing together, CI merge jobs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sorted(entries: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    return sorted((e for e in entries if e is not None), key=lambda e: str(e["date"]))


def load(path: pathlib.Path) -> History:
    """Every readable line of the history file (none if it does not exist yet)."""
    if not path.is_file():
        return History([], path)
    parsed, problems = _parse(path.read_text().splitlines(), path)
    return History(_sorted(parsed), path, problems)


def record(path: pathlib.Path, new: dict[str, Any]) -> History:
    """Add ``new`` to the history (replacing the line of the same run id) and return the history."""
    with _locked(path):
        raw = path.read_text() if path.is_file() else ""
        lines = raw.splitlines()
        parsed, problems = _parse(lines, path)
        line = json.dumps(new, sort_keys=True, default=str)
        same = [i for i, e in enumerate(parsed) if e is not None and e.get("run_id") == new["run_id"]]
        if not same:
            with open(path, "a") as fh:
                fh.write(("\n" if raw and not raw.endswith("\n") else "") + line + "\n")
            parsed.append(new)
        else:
            lines[same[0]] = line
            parsed[same[0]] = new
            for i in reversed(same[1:]):
                del lines[i], parsed[i]
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            os.replace(tmp, path)
    for p in problems:
        print(f"regressions.history: {p}", file=sys.stderr)
    return History(_sorted(parsed), path, problems)


def trends(hist: History, suite: str) -> dict[str, Any]:
    """Series of the trend plots for ``suite`` (runs of other suites are not comparable): labels,
    pass rate %, wall minutes, coverage %, and per model cycles and MAC utilisation %."""
    runs = [e for e in hist.entries if e.get("suite") == suite][-MAX_POINTS:]
    model_keys = sorted({k for e in runs for k in (e.get("models") or {})})

    def per_model(key: str, scale: float) -> dict[str, list[float | None]]:
        out = {}
        for mk in model_keys:
            vals = [(e.get("models") or {}).get(mk, {}).get(key) for e in runs]
            out[mk] = [None if v is None else float(v) * scale for v in vals]
        return out

    def col(key: str, scale: float = 1.0) -> list[float | None]:
        return [None if e.get(key) is None else float(e[key]) * scale for e in runs]

    return {
        "run_ids": [str(e["run_id"]) for e in runs],
        "dates": [str(e["date"]) for e in runs],
        "pass_rate": col("pass_rate", 100.0),
        "wall_min": col("wall_s", 1 / 60),
        "coverage": col("coverage_pct"),
        "cycles": per_model("cycles", 1.0),
        "mac_util": per_model("mac_util", 100.0),
    }
