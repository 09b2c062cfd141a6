"""Outputs of a regression run (regressions/report.py, dashboard.py, history.py), on sample records.

The records are generated here (:func:`sample_records`) following docs/regressions.md ("Job
record"): passing and failing jobs, per-run failures of two signatures, a timeout, jobs that raised,
model records with null power, and coverage files.  Everything is pure Python and takes well under
a second per test: no simulator runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from html.parser import HTMLParser
from typing import Any

import pytest

from regressions import history, report
from tb.cov import report as cov_report
from tb.cov.bins import POINTS

SUITE = "nightly"
T0 = dt.datetime(2026, 12, 1, 2, 0, 0, tzinfo=dt.UTC)

# --------------------------------------------------------------------------- sample data


def _coverage_file(path: pathlib.Path, every: int, offset: int) -> dict[str, Any]:
    """A coverage report hitting every ``every``-th bin of the plan from ``offset`` (tb/cov format)."""
    points: dict[str, dict[str, int]] = {}
    i = 0
    for p in POINTS:
        for b in p.bins:
            if i % every == offset:
                points.setdefault(p.name, {})[b] = 1 + i % 3
            i += 1
    s = cov_report.write(path, points, meta={"sample": str(path)})
    return {
        "percent": s["percent"],
        "hit": s["hit"],
        "total": s["bins"],
        "holes": s["holes"],
        "file": str(path),
    }


def _rerun(prog: str, seed: int, cfg: str) -> str:
    return f".venv/bin/python -m tb.run {prog} --seed {seed} --cfg {cfg} --waves"


def _job(
    name: str,
    kind: str,
    status: str,
    *,
    start_s: float,
    wall_s: float,
    cfg: str | None,
    tags: list[str],
    **extra: Any,
) -> dict[str, Any]:
    params: dict[str, Any] = {"cfg": cfg} if cfg else {}
    params.update(extra.pop("params", {}))
    rec = {
        "name": name,
        "kind": kind,
        "params": params,
        "tags": tags,
        "status": status,
        "passed": status == "pass",
        "reason": extra.pop("reason", ""),
        "wall_s": wall_s,
        "started": (T0 + dt.timedelta(seconds=start_s)).isoformat(),
        "host": "ci-runner-1",
        "peak_rss_mb": extra.pop("peak_rss_mb", 310.0),
        "figures": extra.pop("figures", {}),
        "failures": extra.pop("failures", []),
    }
    rec.update(extra)
    return rec


def _model(name: str, family: str, cycles: int, util: float, cosine: float) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "cfg": "16x16",
        "insns": cycles // 40,
        "rtl_cycles": cycles,
        "golden_cycles": int(cycles * 1.1),
        "cycle_ratio": 0.909,
        "mac_util": util,
        "dma_rd_bytes": cycles * 12,
        "dma_wr_bytes": cycles * 3,
        "cosine": cosine,
        "max_abs_err": 0.02,
        "top1": 1.0,
        "coverage_pct": 55.0,
        "energy_uj": None,
        "power_mw": None,
    }


def sample_records(tmp: pathlib.Path, *, scale: float = 1.0) -> list[dict[str, Any]]:
    """One run's records: 10 jobs of every status, 2 models, two coverage files.  ``scale``
    varies the model cycles so successive runs of a history differ."""
    tmp.mkdir(parents=True, exist_ok=True)
    rand = [
        {
            "name": f"random_s{s}",
            "seed": s,
            "signature": sig,
            "message": msg,
            "rerun": _rerun(f"build/tb/random_s{s}.nmxp", s, "16x16"),
            "result_dir": f"build/tb/r/s{s}",
        }
        for s, sig, msg in (
            (17, "tensor:C@gemm3", "C differs at (3, 4): 12 != 13"),
            (42, "tensor:C@gemm3", "C differs at (0, 9): -7 != -8"),
            (63, "error:BUF_RANGE vs NONE", "RTL error BUF_RANGE at 5, golden NONE"),
        )
    ]
    bert_fail = [
        {
            "name": "bert_tiny",
            "seed": 1,
            "signature": "tensor:attn_out@layer1.attn",
            "message": "attn_out differs in 12 elements",
            "rerun": _rerun("build/m/bert_tiny.nmxp", 1, "16x16"),
        }
    ]
    return [
        _job(
            "golden_gemm_ragged",
            "golden_gemm",
            "pass",
            start_s=0,
            wall_s=0.1,
            cfg="8x16",
            tags=["golden"],
            figures={"insns": 40, "pred_cycles": 1513},
        ),
        _job(
            "rtl_random_16x16",
            "rtl_random",
            "fail",
            start_s=1,
            wall_s=410.0,
            cfg="16x16",
            tags=["rtl", "random"],
            reason="3/100 runs failed",
            failures=rand,
            figures={"runs": 100, "passed_runs": 97},
            coverage=_coverage_file(tmp / "cov_random_16x16.json", 2, 0),
        ),
        _job(
            "rtl_random_4x4_narrow",
            "rtl_random",
            "pass",
            start_s=2,
            wall_s=120.0,
            cfg="4x4-narrow",
            tags=["rtl", "random"],
            figures={"runs": 20, "passed_runs": 20},
            coverage=_coverage_file(tmp / "cov_random_4x4.json", 3, 1),
        ),
        _job(
            "rtl_top_suite_16x16",
            "rtl_top_suite",
            "timeout",
            start_s=3,
            wall_s=900.0,
            cfg="16x16",
            tags=["rtl", "top"],
            reason="killed after 900 s",
        ),
        _job(
            "rtl_errors_a",
            "rtl_test",
            "error",
            start_s=5,
            wall_s=3.0,
            cfg="4x4-narrow",
            tags=["rtl", "errors"],
            reason="RuntimeError: simulator exited with code 139, log /work/build/tb/errors_111/sim.log",
            traceback='Traceback (most recent call last):\n  File "tb/run.py", line 300\nRuntimeError: '
            "simulator exited with code 139, log /work/build/tb/errors_111/sim.log\n",
        ),
        _job(
            "rtl_errors_b",
            "rtl_test",
            "error",
            start_s=6,
            wall_s=4.5,
            cfg="8x8-64b",
            tags=["rtl", "errors"],
            reason="RuntimeError: simulator exited with code 134, log /tmp/x/errors_98/sim.log",
            traceback="Traceback (most recent call last):\nRuntimeError: simulator exited with code 134,"
            " log /tmp/x/errors_98/sim.log\n",
        ),
        _job(
            "rtl_errors_c",
            "rtl_test",
            "error",
            start_s=7,
            wall_s=0.5,
            cfg="8x8-64b",
            tags=["rtl", "errors"],
            reason="KeyError: 'cfg'",
            traceback="Traceback (most recent call last):\nKeyError: 'cfg'\n",
        ),
        _job(
            "fidelity_resnet_tiny",
            "model_fidelity",
            "fail",
            start_s=8,
            wall_s=7.0,
            cfg=None,
            tags=["fidelity"],
            reason="cosine 0.9712 < 0.99 or top-1 0.950 < 0.97",
            figures={"cosine_min": 0.9712},
        ),
        _job(
            "rtl_resnet_tiny",
            "rtl_model",
            "pass",
            start_s=9,
            wall_s=40.0,
            cfg="16x16",
            tags=["rtl", "model"],
            params={"model": "resnet_tiny", "seed": 1},
            model=_model("resnet_tiny", "resnet", int(180_000 * scale), 0.61, 0.9994),
        ),
        _job(
            "rtl_bert_tiny",
            "rtl_model",
            "fail",
            start_s=10,
            wall_s=55.0,
            cfg="16x16",
            tags=["rtl", "model"],
            params={"model": "bert_tiny", "seed": 1},
            reason="1/1 runs failed: bert_tiny",
            failures=bert_fail,
            figures={"runs": 1, "passed_runs": 0},
            model=_model("bert_tiny", "bert", int(226_632 * scale), 0.5, 0.9992),
        ),
    ]


def expected_groups(records: list[dict[str, Any]]) -> dict[str, int]:
    """Signature -> count, worked out by the contract's rules directly from the sample."""
    out: Counter[str] = Counter(f["signature"] for r in records for f in r["failures"])
    for r in records:
        if r["status"] == "timeout":
            out[f"timeout:{r['kind']}"] += 1
        elif r["status"] == "error":
            kind, _, msg = r["reason"].partition(": ")
            out[
                "exception:RuntimeError:simulator exited with code #, log #"
                if kind == "RuntimeError"
                else f"exception:{kind}:{msg}"
            ] += 1
        elif r["status"] == "fail" and not r["failures"]:
            out["check:cosine # < #"] += 1
    return dict(out)


def write_run(
    base: pathlib.Path,
    run_id: str,
    records: list[dict[str, Any]],
    suite: str = SUITE,
    hist: pathlib.Path | None = None,
) -> pathlib.Path:
    """A run directory as the runner leaves it: jobs/<name>.json, then finish_run."""
    run_dir = base / run_id
    (run_dir / "jobs").mkdir(parents=True)
    for r in records:
        (run_dir / "jobs" / f"{r['name']}.json").write_text(json.dumps(r))
    report.finish_run(run_dir, suite, records, history_path=hist)
    return run_dir


@pytest.fixture
def sample_run(tmp_path: pathlib.Path) -> tuple[pathlib.Path, list[dict[str, Any]]]:
    """Three earlier runs in the history, then the run under test (4 history lines)."""
    base = tmp_path / "regress"
    for k, scale in enumerate((1.2, 1.1, 1.05)):
        recs = sample_records(tmp_path / f"cov{k}", scale=scale)
        for r in recs:
            r["started"] = (dt.datetime.fromisoformat(r["started"]) - dt.timedelta(days=3 - k)).isoformat()
        if k == 0:
            recs = [r for r in recs if r["name"] != "rtl_bert_tiny"]
        write_run(base, f"2026113{k}-020000-nightly", recs)
    recs = sample_records(tmp_path / "cov_now")
    return write_run(base, "20261201-020000-nightly", recs), recs


# --------------------------------------------------------------------------- HTML


VOID = {"meta", "br", "hr", "img", "input", "link", "circle", "line", "rect", "polyline", "path"}


class PageParser(HTMLParser):
    """Collects what the tests check, and that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.sections: list[str] = []
        self.rows: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.urls: list[str] = []
        self.plots: dict[str, Counter[str]] = {}
        self.expected_points: dict[str, int] = {}
        self._svg: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.urls += [a[k] for k in ("src", "href") if k in a]
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "tr" and a.get("class"):
            self.rows[a["class"]].append(a)
        if tag == "svg" and "plot" in a.get("class", ""):
            self._svg = a["id"]
            self.plots[self._svg] = Counter()
            self.expected_points[self._svg] = int(a["data-points-expected"])
        if tag == "circle" and self._svg and a.get("class") == "pt":
            self.plots[self._svg][a["data-series"]] += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag == "svg":
            self._svg = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(path: pathlib.Path) -> PageParser:
    p = PageParser()
    p.feed(path.read_text())
    p.close()
    assert not p.errors, p.errors[:5]
    assert p.stack == [], f"unclosed: {p.stack}"
    return p


def test_dashboard_structure(sample_run: tuple[pathlib.Path, list[dict[str, Any]]]) -> None:
    run_dir, recs = sample_run
    page = parse_page(run_dir / "dashboard.html")
    assert page.sections == ["overview", "failures", "pass-rates", "models", "trends", "jobs", "coverage"]
    models = [r for r in recs if r.get("model")]
    assert [r["data-job"] for r in page.rows["model"]] == [r["name"] for r in models]
    assert [r["data-status"] for r in page.rows["job"]] == [r["status"] for r in recs]
    groups = {r["data-signature"]: int(r["data-count"]) for r in page.rows["group"]}
    assert len(page.rows["group"]) == len(groups)
    assert groups == expected_groups(recs)
    tags = {t for r in recs for t in r["tags"]}
    assert {r["data-group"] for r in page.rows["rate"]} >= tags | {SUITE, "16x16", "4x4-narrow", "(none)"}
    assert not [u for u in page.urls if "://" in u or u.startswith("//")], page.urls
    html = (run_dir / "dashboard.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert set(page.plots) == {
        "trend-pass-rate",
        "trend-wall",
        "trend-coverage",
        "trend-cycles",
        "trend-util",
    }
    # power columns are null in every sample model record: shown as an em dash, one per model and column
    model_cells = html.split('<section id="models">')[1].split("</section>")[0]
    assert model_cells.count('<td class="num">—</td>') >= 2 * len(models)


def test_failure_groups_carry_members_and_reruns(
    sample_run: tuple[pathlib.Path, list[dict[str, Any]]],
) -> None:
    run_dir, recs = sample_run
    summary = json.loads((run_dir / "summary.json").read_text())
    by_sig = {g["signature"]: g for g in summary["failure_groups"]}
    gemm = by_sig["tensor:C@gemm3"]
    assert [m["seed"] for m in gemm["members"]] == [17, 42]
    assert gemm["rerun"] == next(f["rerun"] for r in recs for f in r["failures"] if f["seed"] == 17)
    timeout = by_sig["timeout:rtl_top_suite"]
    assert timeout["jobs"] == ["rtl_top_suite_16x16"]
    assert timeout["rerun"].endswith("--suite nightly --only rtl_top_suite_16x16")
    md = (run_dir / "summary.md").read_text()
    for sig, g in by_sig.items():
        assert f"| `{sig}` | {g['count']} |" in md
    assert f"{sum(r['status'] == 'pass' for r in recs)}/{len(recs)} jobs passed" in md


def test_job_error_signatures_group_by_normalised_message() -> None:
    def err(name: str, line: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "rtl_test",
            "status": "error",
            "passed": False,
            "reason": line,
            "traceback": f'Traceback (most recent call last):\n  File "x.py", line 3\n{line}\n',
        }

    recs = [
        err("a", "tb.run.SimError: vvp exited 139 after 12.5 s in /work/build/tb/a_1/sim"),
        err("b", "SimError: vvp exited 6 after 0.25 s in /tmp/pytest-7/b/sim"),
        err("c", "ValueError: bad knob 'feed'"),
    ]
    groups = {g["signature"]: g for g in report.failure_groups(recs, "smoke")}
    assert set(groups) == {
        "exception:SimError:vvp exited # after # s in #",
        "exception:ValueError:bad knob 'feed'",
    }
    assert groups["exception:SimError:vvp exited # after # s in #"]["jobs"] == ["a", "b"]
    # a job whose failing run already carries its exception is counted once
    stage = dict(
        err("e", "ValueError: bad knob 'feed'"),
        failures=[
            {
                "name": "m:rtl",
                "seed": 1,
                "signature": "exception:ValueError:bad knob 'feed'",
                "message": "rtl raised",
            }
        ],
    )
    assert [(g["signature"], g["count"]) for g in report.failure_groups([stage], "smoke")] == [
        ("exception:ValueError:bad knob 'feed'", 1)
    ]
    # without a traceback the one-line reason gives the type and message
    bare = {"name": "d", "kind": "k", "status": "error", "reason": "SimError: vvp exited 2 after 1 s in /x/y"}
    assert report.job_signature(bare) == "exception:SimError:vvp exited # after # s in #"


# --------------------------------------------------------------------------- JUnit


def test_junit_structure_and_counts(sample_run: tuple[pathlib.Path, list[dict[str, Any]]]) -> None:
    run_dir, recs = sample_run
    root = ET.parse(run_dir / "junit.xml").getroot()
    assert root.tag == "testsuites" and root.get("name")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [SUITE]
    totals: Counter[str] = Counter()
    for s in suites:
        cases = s.findall("testcase")
        assert set(s.attrib) >= {
            "name",
            "tests",
            "failures",
            "errors",
            "skipped",
            "time",
            "timestamp",
            "hostname",
        }
        dt.datetime.strptime(s.get("timestamp", ""), "%Y-%m-%dT%H:%M:%S")
        assert int(s.get("tests", -1)) == len(cases)
        n_fail = sum(len(c.findall("failure")) for c in cases)
        n_err = sum(len(c.findall("error")) for c in cases)
        assert (int(s.get("failures", -1)), int(s.get("errors", -1)), int(s.get("skipped", -1))) == (
            n_fail,
            n_err,
            sum(len(c.findall("skipped")) for c in cases),
        )
        names = [c.get("name") for c in cases]
        assert len(set(names)) == len(names) and all(names)
        for c in cases:
            assert c.get("classname") and float(c.get("time", -1)) >= 0
            problems = c.findall("failure") + c.findall("error")
            assert len(problems) <= 1
            kids = [k.tag for k in c]
            assert kids[:1] == ["properties"] or "properties" not in kids
        totals.update(tests=len(cases), failures=n_fail, errors=n_err)
    assert (int(root.get("tests", -1)), int(root.get("failures", -1)), int(root.get("errors", -1))) == (
        totals["tests"],
        totals["failures"],
        totals["errors"],
    )
    # one testcase per job and one per failing run inside a job
    n_runs = sum(len(r["failures"]) for r in recs)
    assert totals["tests"] == len(recs) + n_runs
    assert totals["errors"] == sum(r["status"] == "error" for r in recs)
    assert totals["failures"] == sum(r["status"] in ("fail", "timeout") for r in recs) + n_runs
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    f = cases["rtl_random_16x16/random_s42 seed=42"].find("failure")
    assert f is not None
    msg = f.get("message", "")
    assert (
        msg.startswith("tensor:C@gemm3: C differs at (0, 9)")
        and _rerun("build/tb/random_s42.nmxp", 42, "16x16") in msg
    )
    tags = [p.get("value") for p in cases["rtl_random_16x16"].iter("property") if p.get("name") == "tag"]
    assert tags == ["rtl", "random"]
    assert cases["rtl_top_suite_16x16"].find("failure").get("type") == "timeout"  # type: ignore[union-attr]
    assert float(cases["rtl_random_16x16"].get("time", 0)) == 410.0


def test_junit_survives_control_characters(tmp_path: pathlib.Path) -> None:
    rec = {
        "name": "weird",
        "kind": "rtl_test",
        "status": "error",
        "passed": False,
        "reason": "RuntimeError: \x1b[31mred\x1b[0m \x00nul \x07bell",
        "traceback": "Traceback\nRuntimeError: \x1b[31mred\x1b[0m \x00nul \x07bell\n",
    }
    run_dir = tmp_path / "r"
    report.finish_run(run_dir, "smoke", [rec], history_path=tmp_path / "h.jsonl")
    err = ET.parse(run_dir / "junit.xml").getroot().find("testsuite/testcase/error")
    assert err is not None and "red ?nul ?bell" in err.get("message", "")


# --------------------------------------------------------------------------- history


def test_history_appends_one_line_per_run_and_trends(
    sample_run: tuple[pathlib.Path, list[dict[str, Any]]],
) -> None:
    run_dir, recs = sample_run
    hist_file = run_dir.parent / "history.jsonl"
    lines = [json.loads(ln) for ln in hist_file.read_text().splitlines()]
    assert [ln["run_id"] for ln in lines] == sorted(p.name for p in run_dir.parent.iterdir() if p.is_dir())
    assert len(lines) == 4
    last = lines[-1]
    assert last["pass_rate"] == pytest.approx(sum(r["status"] == "pass" for r in recs) / len(recs), abs=1e-4)
    assert last["wall_s"] == pytest.approx(
        max(  # jobs overlap: first start to last end
            dt.datetime.fromisoformat(r["started"]).timestamp() + r["wall_s"] for r in recs
        )
        - min(dt.datetime.fromisoformat(r["started"]).timestamp() for r in recs),
        abs=0.05,
    )
    assert last["models"]["bert_tiny@16x16"]["cycles"] == next(
        r["model"]["rtl_cycles"] for r in recs if r["name"] == "rtl_bert_tiny"
    )
    page = parse_page(run_dir / "dashboard.html")
    assert page.plots["trend-pass-rate"] == {"pass rate": len(lines)}
    assert page.expected_points["trend-pass-rate"] == len(lines)
    assert page.plots["trend-wall"] == {"wall": len(lines)}
    # bert_tiny is missing from the first run of the history
    assert page.plots["trend-cycles"] == {"resnet_tiny@16x16": len(lines), "bert_tiny@16x16": len(lines) - 1}
    assert page.plots["trend-util"] == page.plots["trend-cycles"]

    # regenerating a run (through a `latest` link) replaces its line; the CLI keeps the suite and wall time
    (run_dir.parent / "latest").symlink_to(run_dir.name)
    assert report.main([str(run_dir.parent / "latest")]) == 1  # the sample run has failures
    again = [json.loads(ln) for ln in hist_file.read_text().splitlines()]
    assert [ln["run_id"] for ln in again] == [ln["run_id"] for ln in lines]
    assert json.loads((run_dir / "summary.json").read_text())["run_id"] == run_dir.name
    assert again[-1]["wall_s"] == last["wall_s"] and again[-1]["suite"] == SUITE


def test_history_keeps_unreadable_lines(tmp_path: pathlib.Path) -> None:
    hist = tmp_path / "history.jsonl"
    hist.write_text(
        '{"run_id": "old", "date": "2026-01-01T00:00:00", "suite": "smoke", "pass_rate": 1}\nnot json'
    )
    rec = {"name": "j", "kind": "golden_gemm", "status": "pass", "passed": True, "wall_s": 1.0}
    report.finish_run(tmp_path / "run1", "smoke", [rec], history_path=hist)
    lines = hist.read_text().splitlines()
    assert lines[:2] == [
        '{"run_id": "old", "date": "2026-01-01T00:00:00", "suite": "smoke", "pass_rate": 1}',
        "not json",
    ]
    assert json.loads(lines[2])["run_id"] == "run1"
    h = history.load(hist)
    assert [e["run_id"] for e in h.entries] == ["old", "run1"] and h.problems == [
        f"{hist}:2: not JSON (Expecting value); line kept, not plotted"
    ]
    assert f"{hist}:2" in (tmp_path / "run1" / "dashboard.html").read_text()


# --------------------------------------------------------------------------- coverage, merge, errors


def test_coverage_is_merged_across_jobs(sample_run: tuple[pathlib.Path, list[dict[str, Any]]]) -> None:
    run_dir, recs = sample_run
    hit: set[str] = set()
    for r in recs:
        if r.get("coverage"):
            doc = json.loads(pathlib.Path(r["coverage"]["file"]).read_text())
            hit |= {f"{p}/{b}" for p, bins in doc["points"].items() for b, n in bins.items() if n > 0}
    total = sum(len(p.bins) for p in POINTS)
    s = json.loads((run_dir / "summary.json").read_text())
    assert (s["coverage"]["hit"], s["coverage"]["total"]) == (len(hit), total)
    assert s["coverage"]["hit"] > max(r["coverage"]["hit"] for r in recs if r.get("coverage"))
    assert (run_dir / "coverage_merged.json").is_file()


def test_merge_of_shards_is_the_union(tmp_path: pathlib.Path) -> None:
    recs = sample_records(tmp_path / "cov")
    base = tmp_path / "regress"
    hist = tmp_path / "h.jsonl"
    a = write_run(base, "shard-1-of-2", recs[::2], hist=hist)
    b = write_run(base, "shard-2-of-2", recs[1::2], hist=hist)
    out = base / "merged"
    assert report.main(["merge", str(a), str(b), "-o", str(out), "--history", str(hist)]) == 1
    merged = {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}
    assert merged == {r["name"]: r for r in recs}
    s = json.loads((out / "summary.json").read_text())
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert (s["total"], s["passed"]) == (sa["total"] + sb["total"], sa["passed"] + sb["passed"])
    assert s["wall_s"] == max(sa["wall_s"], sb["wall_s"]) and s["suite"] == SUITE
    junit = [int(ET.parse(d / "junit.xml").getroot().get("tests", -1)) for d in (a, b, out)]
    assert junit[2] == junit[0] + junit[1]
    assert {g["signature"]: g["count"] for g in s["failure_groups"]} == expected_groups(recs)
    # each job's coverage counted once (the shards' merged files, not those and the jobs' files again)
    hits: Counter[str] = Counter()
    for r in recs:
        if r.get("coverage"):
            doc = json.loads(pathlib.Path(r["coverage"]["file"]).read_text())
            hits.update({f"{p}/{b}": n for p, bins in doc["points"].items() for b, n in bins.items()})
    merged_cov = json.loads((out / "coverage_merged.json").read_text())
    assert {f"{p}/{b}": n for p, bins in merged_cov["points"].items() for b, n in bins.items() if n} == dict(
        hits
    )
    assert s["coverage"]["hit"] == merged_cov["summary"]["hit"] == len(hits)
    # the same job in two shards is refused, naming it and both shards
    dup = write_run(base, "shard-dup", [copy.deepcopy(recs[0])], hist=hist)
    named = f"golden_gemm_ragged.*{re.escape(str(a))}.*{re.escape(str(dup))}"
    with pytest.raises(report.RecordError, match=named):
        report.merge([a, dup], base / "merged2")


def test_merge_of_two_suites_keeps_them_apart(tmp_path: pathlib.Path) -> None:
    recs = sample_records(tmp_path / "cov")
    base = tmp_path / "regress"
    hist = tmp_path / "h.jsonl"
    a = write_run(base, "a", recs[:4], suite="smoke", hist=hist)
    b = write_run(base, "b", recs[4:], suite="default", hist=hist)
    s = report.merge([a, b], base / "both", history_path=hist)
    root = ET.parse(base / "both" / "junit.xml").getroot()
    assert [(t.get("name"), int(t.get("tests", -1))) for t in root.findall("testsuite")] == [
        ("smoke", 4 + sum(len(r["failures"]) for r in recs[:4])),
        ("default", len(recs) - 4 + sum(len(r["failures"]) for r in recs[4:])),
    ]
    reruns = {g["signature"]: g["rerun"] for g in s["failure_groups"]}
    assert reruns["timeout:rtl_top_suite"].endswith("--suite smoke --only rtl_top_suite_16x16")
    assert reruns["exception:KeyError:'cfg'"].endswith("--suite default --only rtl_errors_c")
    assert [r["group"] for r in s["pass_rates"]["suite"]] == ["default", "smoke"] and s[
        "suite"
    ] == "smoke+default"


def test_bad_records_are_named(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "jobs").mkdir(parents=True)
    (run_dir / "jobs" / "ok.json").write_text(json.dumps({"name": "ok", "status": "pass", "wall_s": 1}))
    (run_dir / "jobs" / "bad.json").write_text(json.dumps({"name": "bad", "status": "flaky"}))
    assert report.main([str(run_dir), "--suite", "smoke"]) == 2
    err = capsys.readouterr().err
    assert str(run_dir / "jobs" / "bad.json") in err and "'flaky'" in err
    (run_dir / "jobs" / "bad.json").write_text("{")
    assert report.main([str(run_dir), "--suite", "smoke"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    with pytest.raises(report.RecordError, match=r"no summary\.json naming the suite"):
        report.regenerate(tmp_path / "run")


def test_pre_contract_flat_run_regenerates(tmp_path: pathlib.Path) -> None:
    """Runs written by the runner before the contract (flat records, no status) still report."""
    run_dir = tmp_path / "20261202-164937-default"
    run_dir.mkdir()
    (run_dir / "a.json").write_text(
        json.dumps(
            {
                "name": "a",
                "kind": "golden_gemm",
                "params": {"cfg": "8x16"},
                "passed": True,
                "figures": {"insns": 40},
                "wall_s": 0.05,
            }
        )
    )
    (run_dir / "b.json").write_text(
        json.dumps(
            {
                "name": "b",
                "kind": "rtl_model",
                "params": {},
                "passed": False,
                "error": "OSError: disk full at /x/1",
                "traceback": "T\nOSError: disk full at /x/1\n",
                "wall_s": 2.0,
            }
        )
    )
    (run_dir / "summary.json").write_text(
        json.dumps({"suite": "default", "passed": 1, "total": 2, "jobs": []})
    )
    assert report.main([str(run_dir), "--history", str(tmp_path / "h.jsonl")]) == 1
    s = json.loads((run_dir / "summary.json").read_text())
    assert [j["status"] for j in s["jobs"]] == ["pass", "error"]
    assert [g["signature"] for g in s["failure_groups"]] == ["exception:OSError:disk full at #"]
    assert s["wall_s"] == pytest.approx(2.05, abs=0.051)  # no start times: the sum of the jobs
