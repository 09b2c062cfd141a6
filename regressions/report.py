"""Outputs of a regression run: summary.md/json, JUnit XML, the HTML dashboard and the history line.

The runner calls :func:`finish_run` once every job record is written (docs/regressions.md, "Job
record" and "Outputs"); everything here is computed from the records alone, so the same outputs can
be regenerated later from a run directory, or from the records of several CI shards merged into one::

    python -m regressions.report RUN_DIR [--history PATH] [--suite NAME]
    python -m regressions.report merge RUN_DIR [RUN_DIR ...] -o OUT_DIR [--history PATH]

Failures are grouped by signature: a record's ``failures[].signature`` (one per failing run), and,
for a job that raised, timed out or failed without per-run failures, a job-level signature built
with the same normalisation as the testbench's (:mod:`tb.env.verdict`), so that the same fault seen
on different seeds, paths or sizes lands in one group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import re
import shlex
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from regressions import code_coverage, dashboard, history
from tb.cov import report as cov_report
from tb.env.verdict import exception_signature, normalise

Record = dict[str, Any]
STATUSES = ("pass", "fail", "timeout", "error")
OUTPUTS = ("summary.md", "summary.json", "junit.xml", "dashboard.html")
"""The files :func:`finish_run` writes into a run directory (plus ``coverage_merged.json``)."""
FAILURE_TYPES = {"tensor": "tensor-mismatch", "error": "error-code-mismatch"}
"""JUnit ``type`` of a failing run by the first word of its signature (others: the word itself)."""
EXIT_STATUS = "Exit status: 0 every job passed, 1 some job did not, 2 bad input (named on stderr)."
MAX_MEMBERS = 200
"""Members listed per failure group in summary.json (the count is always exact)."""


class RecordError(ValueError):
    """A job record that does not follow docs/regressions.md ("Job record")."""


# --------------------------------------------------------------------------- records


def status_of(rec: Mapping[str, Any]) -> str:
    """The record's status; records of the pre-contract runner (no ``status``) get one from
    ``passed`` and ``error``/``traceback`` so that their runs can still be regenerated."""
    st = rec.get("status")
    if st is None:
        if rec.get("passed"):
            return "pass"
        return "error" if ("traceback" in rec or "error" in rec) else "fail"
    if st not in STATUSES:
        raise RecordError(f"job {rec.get('name')!r}: status {st!r} is not one of {STATUSES}")
    return str(st)


def check_record(rec: Any, where: str) -> Record:
    """The record if it has what every output needs, else a :class:`RecordError` naming ``where``."""
    if not isinstance(rec, dict):
        raise RecordError(f"{where}: a job record must be a JSON object, got {type(rec).__name__}")
    if not isinstance(rec.get("name"), str) or not rec["name"]:
        raise RecordError(f"{where}: job record lacks a 'name'")
    if "status" not in rec and "passed" not in rec:
        raise RecordError(f"{where}: job {rec['name']!r} has neither 'status' nor 'passed'")
    try:
        status_of(rec)
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None
    for key, typ in (("failures", list), ("figures", dict), ("params", dict), ("tags", list)):
        if key in rec and rec[key] is not None and not isinstance(rec[key], typ):
            raise RecordError(f"{where}: job {rec['name']!r}: '{key}' must be a {typ.__name__}")
    for key in ("model", "coverage"):
        if rec.get(key) is not None and not isinstance(rec[key], dict):
            raise RecordError(f"{where}: job {rec['name']!r}: '{key}' must be an object")
    return rec


def record_files(run_dir: pathlib.Path) -> list[pathlib.Path]:
    """The job records of a run: ``jobs/*.json``, or for runs of the pre-contract runner the JSON
    files at the top of the run directory (all but the summary)."""
    jobs_dir = run_dir / "jobs"
    if jobs_dir.is_dir():
        return sorted(jobs_dir.glob("*.json"))
    skip = {"summary.json", "coverage_merged.json"}
    return sorted(p for p in run_dir.glob("*.json") if p.name not in skip)


def load_records(run_dir: pathlib.Path) -> list[Record]:
    """Every job record of ``run_dir``, checked; a clear error names the file that is wrong."""
    if not run_dir.is_dir():
        raise RecordError(f"{run_dir}: no such run directory")
    files = record_files(run_dir)
    if not files:
        raise RecordError(f"{run_dir}: no job records (expected {run_dir / 'jobs'}/<name>.json)")
    out = []
    for f in files:
        try:
            rec = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise RecordError(f"{f}: not valid JSON ({exc})") from exc
        out.append(check_record(rec, str(f)))
    return out


# --------------------------------------------------------------------------- signatures

_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")


def _exception_of(rec: Mapping[str, Any]) -> tuple[str, str]:
    """(type, message) of a job that raised: the traceback's last line, else ``reason``/``error``."""
    tb_lines = [ln for ln in str(rec.get("traceback") or "").splitlines() if ln.strip()]
    candidates = [tb_lines[-1].strip()] if tb_lines else []
    candidates += [str(rec.get(k) or "") for k in ("reason", "error")]
    for line in candidates:
        m = _EXC_LINE.match(line.strip())
        if m and (m.group(2) is not None or line.strip().endswith(("Error", "Exception"))):
            return m.group(1).rsplit(".", 1)[-1], m.group(2) or ""
    return "Exception", next((c for c in candidates if c), "no message")


def job_signature(rec: Mapping[str, Any]) -> str | None:
    """The signature of the job itself, or None when its failing runs (``failures``) say it all."""
    st = status_of(rec)
    if st == "timeout":
        return f"timeout:{rec.get('kind', 'job')}"
    if st == "error":
        return exception_signature(*_exception_of(rec))
    if st == "fail" and not rec.get("failures"):
        return "check:" + normalise(str(rec.get("reason") or "failed without a reason"), words=4)
    return None


def failure_signature(f: Mapping[str, Any]) -> str:
    """A failing run's signature: its own, or (records that lack one) the first words of its message."""
    return str(f.get("signature") or "check:" + normalise(str(f.get("message") or "no message"), words=4))


def job_rerun(suite: str, rec: Mapping[str, Any]) -> str:
    """The one line that reruns a whole job (the record's own ``rerun`` when it has one)."""
    if rec.get("rerun"):
        return str(rec["rerun"])
    return " ".join(
        [
            ".venv/bin/python",
            "-m",
            "regressions.run",
            "--suite",
            shlex.quote(suite),
            "--only",
            shlex.quote(str(rec["name"])),
        ]
    )


def failure_groups(records: Iterable[Record], suite: str) -> list[dict[str, Any]]:
    """Failures grouped by signature, largest group first: count, jobs, members and a rerun line."""
    return _groups((suite, r) for r in records)


def _groups(pairs: Iterable[tuple[str, Record]]) -> list[dict[str, Any]]:
    """:func:`failure_groups` of (suite, record) pairs: a merged run may hold several suites."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for suite, rec in pairs:
        st = status_of(rec)
        for f in rec.get("failures") or []:
            groups[failure_signature(f)].append(
                {
                    "job": rec["name"],
                    "run": f.get("name", rec["name"]),
                    "seed": f.get("seed"),
                    "status": "fail",
                    "message": str(f.get("message") or ""),
                    "rerun": str(f.get("rerun") or job_rerun(suite, rec)),
                }
            )
        sig = job_signature(rec)
        # a job that raised may already carry its exception as a failing run (regressions/verify.py)
        if sig is not None and sig not in {failure_signature(f) for f in rec.get("failures") or []}:
            groups[sig].append(
                {
                    "job": rec["name"],
                    "run": rec["name"],
                    "seed": (rec.get("params") or {}).get("seed"),
                    "status": st,
                    "message": str(rec.get("reason") or ""),
                    "rerun": job_rerun(suite, rec),
                }
            )
    out = []
    for sig, members in groups.items():
        out.append(
            {
                "signature": sig,
                "count": len(members),
                "jobs": sorted({m["job"] for m in members}),
                "rerun": members[0]["rerun"],
                "message": members[0]["message"],
                "members": members[:MAX_MEMBERS],
            }
        )
    return sorted(out, key=lambda g: (-g["count"], g["signature"]))


# --------------------------------------------------------------------------- aggregates


def _cfg_of(rec: Mapping[str, Any]) -> str:
    cfg = (rec.get("params") or {}).get("cfg") or (rec.get("model") or {}).get("cfg")
    return str(cfg) if cfg else "(none)"


def pass_table(records: Iterable[tuple[str, Record]]) -> list[dict[str, Any]]:
    """Rows (group, total, pass, fail, timeout, error, rate) for (group key, record) pairs."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for key, rec in records:
        rows[key][status_of(rec)] += 1
    out = []
    for key in sorted(rows):
        c = rows[key]
        total = sum(c.values())
        out.append(
            {
                "group": key,
                "total": total,
                **{s: c[s] for s in STATUSES},
                "rate": round(c["pass"] / total, 4) if total else 0.0,
            }
        )
    return out


def _parse_started(rec: Mapping[str, Any]) -> dt.datetime | None:
    v = rec.get("started")
    if v in (None, ""):
        return None
    if isinstance(v, int | float):
        return dt.datetime.fromtimestamp(float(v), dt.UTC)
    try:
        t = dt.datetime.fromisoformat(str(v))
    except ValueError as exc:
        raise RecordError(
            f"job {rec.get('name')!r}: 'started' {v!r} is neither epoch seconds nor ISO 8601"
        ) from exc
    return t if t.tzinfo else t.astimezone()


def _run_id_time(run_id: str) -> dt.datetime | None:
    """The start time in a run id of the runner (``YYYYmmdd-HHMMSS-<suite>``), if it has one."""
    try:
        return dt.datetime.strptime(run_id[:15], "%Y%m%d-%H%M%S").astimezone()
    except ValueError:
        return None


def run_times(records: list[Record], run_id: str = "") -> tuple[str, float]:
    """(date of the run's first job start, wall time from first start to last end): jobs run in
    parallel, so the sum of the jobs' wall times would overstate the run.  Without start times the
    sum is the best that can be said, and the date is the run id's (else now)."""
    spans = []
    for r in records:
        t0 = _parse_started(r)
        if t0 is not None:
            spans.append((t0, t0 + dt.timedelta(seconds=float(r.get("wall_s") or 0.0))))
    if spans and len(spans) == len(records):
        start = min(s for s, _ in spans)
        return start.isoformat(timespec="seconds"), round(
            (max(e for _, e in spans) - start).total_seconds(), 1
        )
    first = min(s for s, _ in spans) if spans else _run_id_time(run_id) or dt.datetime.now().astimezone()
    date = first.isoformat(timespec="seconds")
    return date, round(sum(float(r.get("wall_s") or 0.0) for r in records), 1)


def _coverage_candidates(path: str, roots: list[pathlib.Path]) -> list[pathlib.Path]:
    p = pathlib.Path(path)
    return (
        [p]
        + [root / p for root in roots if not p.is_absolute()]
        + [root / "jobs" / p.parent.name / p.name for root in roots]
    )


def coverage_files(records: list[Record], roots: list[pathlib.Path]) -> tuple[list[pathlib.Path], int]:
    """(the coverage files of the records that can be found, how many cannot): a record's
    ``coverage.file`` as written, else relative to one of ``roots`` (run directories)."""
    files, missing = [], 0
    for r in records:
        cov = r.get("coverage") or {}
        if not cov.get("file"):
            continue
        found = next((c for c in _coverage_candidates(str(cov["file"]), roots) if c.is_file()), None)
        if found is None:
            missing += 1
        else:
            files.append(found)
    return files, missing


def overall_coverage(
    records: list[Record], sources: tuple[list[pathlib.Path], int]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(coverage summary of the run, merged coverage document or None): the coverage files
    ``sources`` (found, number missing) merged bin by bin (tb/cov/report.py); when none can be
    found (records moved without their job folders) the best single job's figure, said so in
    ``source``."""
    files, missing = sources
    unique = list(dict.fromkeys(f.resolve() for f in files))
    if unique:
        merged = cov_report.merge(cov_report.read(f) for f in unique)
        s = merged["summary"]
        src = (
            f"merged from {len(unique)} coverage file"
            + ("s" if len(unique) > 1 else "")
            + (f" ({missing} not found)" if missing else "")
        )
        return (
            {
                "percent": s["percent"],
                "hit": s["hit"],
                "total": s["bins"],
                "holes": s["holes"],
                "source": src,
            },
            merged,
        )
    best = max(
        (
            r["coverage"]
            for r in records
            if isinstance(r.get("coverage"), dict) and r["coverage"].get("percent") is not None
        ),
        key=lambda c: float(c["percent"]),
        default=None,
    )
    if best is None:
        return {
            "percent": None,
            "hit": None,
            "total": None,
            "holes": [],
            "source": "no coverage in the records",
        }, None
    return (
        {
            "percent": best["percent"],
            "hit": best.get("hit"),
            "total": best.get("total"),
            "holes": list(best.get("holes") or []),
            "source": "best single job (coverage files not found, so not merged)",
        },
        None,
    )


def _runs(rec: Mapping[str, Any]) -> tuple[int, int]:
    """(runs, failed runs) of a job: its ``figures.runs``/``passed_runs`` (seeds, Programs), else
    the job counts as one run."""
    figs = rec.get("figures") or {}
    failed_here = len(rec.get("failures") or [])
    if isinstance(figs.get("runs"), int):
        total = figs["runs"]
        if isinstance(figs.get("passed_runs"), int):
            return total, max(failed_here, total - figs["passed_runs"])
        return total, failed_here if status_of(rec) == "fail" else (0 if status_of(rec) == "pass" else total)
    return 1, 0 if status_of(rec) == "pass" else 1


def _compact(rec: Record) -> dict[str, Any]:
    keys = ("name", "kind", "params", "tags", "reason", "wall_s", "started", "host", "peak_rss_mb", "figures")
    return {k: rec.get(k) for k in keys} | {"status": status_of(rec)}


def build_summary(
    run_id: str,
    suites: Mapping[str, list[Record]],
    *,
    wall_s: float | None = None,
    coverage: tuple[list[pathlib.Path], int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The summary document (summary.json, and all the dashboard shows) and the merged coverage
    (``coverage``: the files to merge and the number not found; default: the records' files)."""
    records = [r for recs in suites.values() for r in recs]
    suite_name = "+".join(suites)
    if not records:
        raise RecordError(f"run {run_id}: no job records to report")
    names = Counter(r["name"] for r in records)
    if dup := sorted(n for n, k in names.items() if k > 1):
        raise RecordError(f"run {run_id}: job names recorded more than once: {dup}")
    date, span = run_times(records, run_id)
    status = Counter(status_of(r) for r in records)
    runs = [_runs(r) for r in records]
    cov, merged = overall_coverage(records, coverage if coverage is not None else coverage_files(records, []))
    models = [{"job": r["name"], "status": status_of(r), **r["model"]} for r in records if r.get("model")]
    summary = {
        "run_id": run_id,
        "suite": suite_name,
        "suites": list(suites),
        "date": date,
        "wall_s": round(float(wall_s), 1) if wall_s is not None else span,
        "hosts": sorted({str(r["host"]) for r in records if r.get("host")}),
        "total": len(records),
        "passed": status["pass"],
        "failed": status["fail"],
        "timeout": status["timeout"],
        "error": status["error"],
        "pass_rate": round(status["pass"] / len(records), 4),
        "runs": {"total": sum(t for t, _ in runs), "failed": sum(f for _, f in runs)},
        "peak_rss_mb": max(
            (float(r["peak_rss_mb"]) for r in records if r.get("peak_rss_mb") is not None), default=None
        ),
        "coverage": cov,
        "pass_rates": {
            "suite": pass_table((s, r) for s, recs in suites.items() for r in recs),
            "family": pass_table((t, r) for r in records for t in (r.get("tags") or ["(untagged)"])),
            "cfg": pass_table((_cfg_of(r), r) for r in records),
        },
        "failure_groups": _groups((s, r) for s, recs in suites.items() for r in recs),
        "models": models,
        "jobs": [_compact(r) for r in records],
    }
    return summary, merged


# --------------------------------------------------------------------------- summary.md


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


MODEL_COLUMNS = (
    ("name", "model"),
    ("cfg", "cfg"),
    ("status", "status"),
    ("rtl_cycles", "RTL cycles"),
    ("cycle_ratio", "cycle ratio"),
    ("mac_util", "MAC util"),
    ("dma_rd_bytes", "DMA rd B"),
    ("dma_wr_bytes", "DMA wr B"),
    ("cosine", "cosine"),
    ("top1", "top-1"),
    ("coverage_pct", "coverage %"),
    ("energy_uj", "energy µJ"),
    ("power_mw", "power mW"),
)


def summary_markdown(s: Mapping[str, Any]) -> str:
    """summary.md: verdict, job table, failures by signature with rerun lines, model table."""
    verdict = "PASS" if s["passed"] == s["total"] else "FAIL"
    cov = s["coverage"]["percent"]
    lines = [
        f"# Regression `{s['suite']}` — {s['run_id']} — {verdict}",
        "",
        f"{s['passed']}/{s['total']} jobs passed ({s['failed']} failed, {s['timeout']} timed out,"
        f" {s['error']} errors); {s['runs']['total'] - s['runs']['failed']}/{s['runs']['total']} runs"
        f" passed; wall {s['wall_s']} s; coverage {'—' if cov is None else f'{cov}%'}; started {s['date']}.",
        "",
        "| job | status | wall s | peak RSS MB | figures |",
        "|---|---|---|---|---|",
    ]
    for j in s["jobs"]:
        st = j["status"].upper() + (f" ({_md(j['reason'])})" if j["status"] != "pass" and j["reason"] else "")
        lines.append(
            f"| {j['name']} | {st} | {_fmt(j['wall_s'])} | {_fmt(j['peak_rss_mb'])} |"
            f" {_md(_fmt(j['figures'] or {}))} |"
        )
    if s["failure_groups"]:
        lines += [
            "",
            "## Failures by signature",
            "",
            "| signature | count | jobs / seeds | rerun |",
            "|---|---|---|---|",
        ]
        for g in s["failure_groups"]:
            who = ", ".join(
                f"{m['run']}" + (f"@{m['seed']}" if m["seed"] is not None else "") for m in g["members"][:8]
            ) + (" …" if g["count"] > 8 else "")
            lines.append(f"| `{_md(g['signature'])}` | {g['count']} | {_md(who)} | `{_md(g['rerun'])}` |")
    if s["models"]:
        lines += [
            "",
            "## Models",
            "",
            "| " + " | ".join(h for _, h in MODEL_COLUMNS) + " |",
            "|" + "---|" * len(MODEL_COLUMNS),
        ]
        for m in s["models"]:
            lines.append("| " + " | ".join(_md(_fmt(m.get(k))) for k, _ in MODEL_COLUMNS) + " |")
    text = "\n".join(lines) + "\n"
    if s.get("code_coverage"):  # runs with --code-coverage (regressions/code_coverage.py)
        text += code_coverage.summary_markdown(s["code_coverage"])
    return text


# --------------------------------------------------------------------------- junit.xml

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_XML_BAD = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: Any, limit: int | None = None) -> str:
    """Text XML 1.0 can carry (terminal colour codes and control characters would make the file
    unreadable to every CI), cut to ``limit`` characters."""
    t = _XML_BAD.sub("?", _ANSI.sub("", str(text)))
    return t if limit is None or len(t) <= limit else t[: limit - 1] + "…"


def _props(parent: ET.Element, items: Iterable[tuple[str, Any]]) -> None:
    items = [(k, v) for k, v in items if v is not None and v != ""]
    if items:
        props = ET.SubElement(parent, "properties")
        for k, v in items:
            ET.SubElement(props, "property", name=_xml_text(k), value=_xml_text(v, 500))


def _case(suite_el: ET.Element, name: str, classname: str, time_s: float) -> ET.Element:
    return ET.SubElement(
        suite_el,
        "testcase",
        name=_xml_text(name),
        classname=_xml_text(classname),
        time=f"{max(0.0, time_s):.3f}",
    )


def _problem(case: ET.Element, tag: str, kind: str, sig: str, message: str, rerun: str, body: str) -> None:
    el = ET.SubElement(
        case, tag, type=_xml_text(kind), message=_xml_text(f"{sig}: {message} | rerun: {rerun}", 1000)
    )
    el.text = _xml_text(f"signature: {sig}\nmessage: {message}\nrerun: {rerun}\n{body}".rstrip() + "\n")


def junit_xml(summary: Mapping[str, Any], suites: Mapping[str, list[Record]]) -> bytes:
    """JUnit XML: a testsuite per suite; a testcase per job and one per failing run inside a job
    (``failures[]``: the records keep only failing runs).  Job failures are ``<failure>``, timeouts
    ``<failure type="timeout">``, jobs that raised ``<error>``; every message carries the
    signature, the message and the rerun line."""
    root = ET.Element("testsuites", name=_xml_text(f"nmx-regress {summary['run_id']}"))
    timestamp = summary["date"][:19]
    totals = Counter[str]()
    for suite, recs in suites.items():
        se = ET.SubElement(root, "testsuite", name=_xml_text(suite))
        _props(
            se,
            [
                ("run_id", summary["run_id"]),
                ("date", summary["date"]),
                ("coverage_pct", summary["coverage"]["percent"]),
            ],
        )
        n = Counter[str]()
        for rec in recs:
            st = status_of(rec)
            name, kind = str(rec["name"]), str(rec.get("kind", "job"))
            case = _case(se, name, f"regress.{suite}.{kind}", float(rec.get("wall_s") or 0.0))
            params = rec.get("params") or {}
            _props(
                case,
                [("tag", t) for t in rec.get("tags") or []]
                + [
                    ("kind", kind),
                    ("cfg", params.get("cfg")),
                    ("host", rec.get("host")),
                    ("peak_rss_mb", rec.get("peak_rss_mb")),
                ]
                + [
                    (f"param.{k}", json.dumps(v) if not isinstance(v, str) else v)
                    for k, v in params.items()
                    if k != "cfg"
                ],
            )
            n["tests"] += 1
            sig = job_signature(rec)
            if st != "pass":
                fails = rec.get("failures") or []
                sig = sig or f"{len(fails)} failing run{'s' if len(fails) != 1 else ''}: " + ", ".join(
                    sorted({failure_signature(f) for f in fails})
                )
                tag = "error" if st == "error" else "failure"
                n["errors" if st == "error" else "failures"] += 1
                _problem(
                    case,
                    tag,
                    st if st != "fail" else "fail",
                    sig,
                    str(rec.get("reason") or st),
                    job_rerun(suite, rec),
                    str(rec.get("traceback") or ""),
                )
            if rec.get("figures"):
                ET.SubElement(case, "system-out").text = _xml_text(_fmt(rec["figures"]))
            seen: Counter[str] = Counter()
            for f in rec.get("failures") or []:
                run = str(f.get("name", name))
                seed = f.get("seed")
                label = f"{name}/{run}" + (f" seed={seed}" if seed is not None else "")
                seen[label] += 1
                if seen[label] > 1:
                    label += f" #{seen[label]}"
                rc = _case(se, label, f"regress.{suite}.{name}", float(f.get("wall_s") or 0.0))
                _props(rc, [("tag", t) for t in rec.get("tags") or []] + [("seed", seed), ("job", name)])
                fsig = failure_signature(f)
                _problem(
                    rc,
                    "failure",
                    FAILURE_TYPES.get(fsig.split(":", 1)[0], fsig.split(":", 1)[0]),
                    fsig,
                    str(f.get("message") or ""),
                    str(f.get("rerun") or job_rerun(suite, rec)),
                    f"result: {f['result_dir']}" if f.get("result_dir") else "",
                )
                n["tests"] += 1
                n["failures"] += 1
        se.set("tests", str(n["tests"]))
        se.set("failures", str(n["failures"]))
        se.set("errors", str(n["errors"]))
        se.set("skipped", "0")
        se.set("time", f"{sum(float(r.get('wall_s') or 0.0) for r in recs):.3f}")
        se.set("timestamp", timestamp)
        se.set("hostname", _xml_text(",".join(summary["hosts"]) or "localhost"))
        totals.update(n)
    for k in ("tests", "failures", "errors"):
        root.set(k, str(totals[k]))
    root.set("skipped", "0")
    root.set("time", f"{float(summary['wall_s']):.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


# --------------------------------------------------------------------------- writing


def write_atomic(path: pathlib.Path, data: str | bytes) -> None:
    """Write via a temporary file and rename, so a kill mid-write never leaves half an output."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(
    run_dir: pathlib.Path,
    suites: Mapping[str, list[Record]],
    *,
    history_path: pathlib.Path | None = None,
    wall_s: float | None = None,
    coverage: tuple[list[pathlib.Path], int] | None = None,
    code_coverage_roots: list[pathlib.Path] | None = None,
) -> dict[str, Any]:
    """Every output of a run (records grouped by suite) and its history line; returns the summary.
    Code coverage (``coverage.dat`` of runs with ``--code-coverage`` under ``code_coverage_roots``,
    default the run directory) is merged into ``code_coverage/`` and summarised."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir = run_dir.resolve()  # build/regress/latest -> the run id it points at
    summary, merged = build_summary(
        run_dir.name,
        suites,
        wall_s=wall_s,
        coverage=coverage or coverage_files([r for recs in suites.values() for r in recs], [run_dir]),
    )
    summary["run_dir"] = str(run_dir)
    cc = code_coverage.for_run(run_dir, code_coverage_roots)
    if cc is not None:
        summary["code_coverage"] = cc
    if merged is not None:
        write_atomic(run_dir / "coverage_merged.json", json.dumps(merged, indent=1, sort_keys=True))
        summary["coverage"]["file"] = "coverage_merged.json"
    write_atomic(run_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    write_atomic(run_dir / "summary.md", summary_markdown(summary))
    write_atomic(run_dir / "junit.xml", junit_xml(summary, suites))
    hist_path = history_path or run_dir.parent / "history.jsonl"
    hist = history.record(hist_path, history.entry(summary))
    write_atomic(run_dir / "dashboard.html", dashboard.render(summary, hist))
    return summary


def finish_run(
    run_dir: pathlib.Path,
    suite: str,
    records: list[dict],
    *,
    history_path: pathlib.Path | None = None,
    wall_s: float | None = None,
) -> None:
    """Write summary.md, summary.json, junit.xml and dashboard.html into ``run_dir`` and add the
    run's line to the history file (default ``<run_dir>/../history.jsonl``, i.e.
    ``build/regress/history.jsonl``).  ``wall_s``: the run's real wall time when the runner knows
    it (else first job start to last job end)."""
    checked = [check_record(r, f"{run_dir} record #{i}") for i, r in enumerate(records)]
    write_outputs(pathlib.Path(run_dir), {suite: checked}, history_path=history_path, wall_s=wall_s)


def _previous_summary(run_dir: pathlib.Path) -> dict[str, Any]:
    p = run_dir / "summary.json"
    if not p.is_file():
        return {}
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise RecordError(f"{p}: not valid JSON ({exc})") from exc
    return doc if isinstance(doc, dict) else {}


def regenerate(
    run_dir: pathlib.Path, *, suite: str | None = None, history_path: pathlib.Path | None = None
) -> dict[str, Any]:
    """Rewrite the outputs of an existing run from its records (suite and wall time from its
    previous summary.json unless given); the history line of the run is replaced, not repeated."""
    if not run_dir.is_dir():
        raise RecordError(f"{run_dir}: no such run directory")
    prev = _previous_summary(run_dir)
    suite = suite or prev.get("suite")
    if not suite:
        raise RecordError(f"{run_dir}: no summary.json naming the suite; pass --suite")
    return write_outputs(
        run_dir, {suite: load_records(run_dir)}, history_path=history_path, wall_s=prev.get("wall_s")
    )


def merge(
    shards: list[pathlib.Path],
    out_dir: pathlib.Path,
    *,
    suite: str | None = None,
    history_path: pathlib.Path | None = None,
) -> dict[str, Any]:
    """Merge the records of several shard runs into ``out_dir/jobs/`` and write one set of outputs.

    A job found in two shards is an error (shards split a suite without overlap).  The merged wall
    time is the longest shard's (shards run side by side); coverage merges the shards' merged files.
    """
    if not shards:
        raise RecordError("merge: no shard run directories given")
    by_suite: dict[str, list[Record]] = {}
    where: dict[str, pathlib.Path] = {}
    walls: list[float] = []
    cov_files: list[pathlib.Path] = []
    cov_missing = 0
    for shard in shards:
        if shard.resolve() == out_dir.resolve():
            raise RecordError(f"merge: output {out_dir} is also an input")
        recs = load_records(shard)
        prev = _previous_summary(shard)
        name = suite or prev.get("suite")
        if not name:
            raise RecordError(f"{shard}: no summary.json naming the suite; pass --suite")
        for r in recs:
            if r["name"] in where:
                raise RecordError(f"merge: job {r['name']!r} is in both {where[r['name']]} and {shard}")
            where[r["name"]] = shard
        by_suite.setdefault(name, []).extend(recs)
        if prev.get("wall_s") is not None:
            walls.append(float(prev["wall_s"]))
        if (shard / "coverage_merged.json").is_file():  # the shard's own merge of its records' files
            cov_files.append(shard / "coverage_merged.json")
        else:
            found, missing = coverage_files(recs, [shard])
            cov_files += found
            cov_missing += missing
    jobs_dir = out_dir / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    for recs in by_suite.values():
        for r in recs:
            write_atomic(jobs_dir / f"{r['name']}.json", json.dumps(r, indent=2, default=str))
    return write_outputs(
        out_dir,
        by_suite,
        history_path=history_path,
        wall_s=max(walls) if len(walls) == len(shards) else None,
        coverage=(cov_files, cov_missing),
        code_coverage_roots=list(shards),
    )


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    doc = (__doc__ or "").splitlines()[0]
    try:
        if args[:1] == ["merge"]:
            p = argparse.ArgumentParser(
                prog="python -m regressions.report merge",
                description="Merge the records of shard runs into one run directory.",
                epilog=EXIT_STATUS,
            )
            p.add_argument("shards", nargs="+", type=pathlib.Path, help="run directories of the shards")
            p.add_argument("-o", "--out", type=pathlib.Path, required=True, help="merged run directory")
            p.add_argument("--suite", help="suite name (default: from the shards' summary.json)")
            p.add_argument("--history", type=pathlib.Path, help="history file (default OUT/../history.jsonl)")
            a = p.parse_args(args[1:])
            s = merge(a.shards, a.out, suite=a.suite, history_path=a.history)
            out = a.out
        else:
            p = argparse.ArgumentParser(
                prog="python -m regressions.report",
                description=doc,
                epilog="Merging shards: python -m regressions.report merge --help.  " + EXIT_STATUS,
            )
            p.add_argument("run_dir", type=pathlib.Path, help="build/regress/<run-id>")
            p.add_argument("--suite", help="suite name (default: from the run's summary.json)")
            p.add_argument(
                "--history", type=pathlib.Path, help="history file (default RUN_DIR/../history.jsonl)"
            )
            a = p.parse_args(args)
            s = regenerate(a.run_dir, suite=a.suite, history_path=a.history)
            out = a.run_dir
    except RecordError as exc:
        print(f"regressions.report: {exc}", file=sys.stderr)
        return 2
    print(
        f"{s['suite']} {s['run_id']}: {s['passed']}/{s['total']} jobs passed,"
        f" {len(s['failure_groups'])} failure signatures; wrote " + ", ".join(str(out / f) for f in OUTPUTS)
    )
    return 0 if s["passed"] == s["total"] else 1


if __name__ == "__main__":
    sys.exit(main())
