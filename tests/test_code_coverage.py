"""Code coverage of rtl/ (regressions/code_coverage.py, docs/verification.md "Code coverage").

A real code-coverage build (tb/sim_env.run_cocotb(code_coverage=True)) of the smallest block,
nmx_fifo, runs two different cocotb tests (tb/cov/code_coverage_probe.py); the figures parsed from
their coverage.dat files are real per-module percentages, the merge of the two runs covers at least
the union of what each covered, waivers remove exactly the points they name, and the regression
report carries the code-coverage section.  One small build (cached in build/sim/), two short runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shutil
from html.parser import HTMLParser

import pytest

from regressions import code_coverage as cc
from regressions import report
from tb import sim_env

PARAMS = {"WIDTH": 8, "DEPTH": 4}
CASES = ("fill_only", "fill_and_drain")


@pytest.fixture(scope="module")
def fifo_dats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    base = tmp_path_factory.mktemp("code_cov")
    out = {}
    for case in CASES:
        d = base / case
        d.mkdir()
        sim_env.run_cocotb(toplevel="nmx_fifo", test_module="tb.cov.code_coverage_probe", parameters=PARAMS,
                           sources=sim_env.rtl_sources(["nmx_fifo"]), testcase=case, test_dir=d,
                           code_coverage=True)
        out[case] = d / "coverage.dat"
    return out


def _hit(pts: cc.Points) -> set[tuple[str, str, int, int, str]]:
    return {(u.file, u.kind, u.line, u.column, u.comment) for u in cc.units(pts) if u.count > 0}


def test_coverage_build_gives_real_per_module_figures(fifo_dats: dict[str, pathlib.Path]) -> None:
    for case, dat in fifo_dats.items():
        assert dat.is_file(), f"{case}: the coverage build left no coverage.dat"
        pts = cc.read_dat(dat)
        assert len(pts) > 50, f"{case}: only {len(pts)} points"
        doc = cc.analyse(pts, [])
        assert set(doc["modules"]) == {"nmx_fifo"}, doc["modules"].keys()
        m = doc["modules"]["nmx_fifo"]
        for kind in ("line", "branch", "block", "toggle"):
            f = m[kind]
            assert f["total"] > 0 and 0 < f["pct"] <= 100, (case, kind, f)
            assert f["hit"] == round(f["pct"] * f["total"] / 100), (case, kind, f)
    # fill_only never pops: some pop-side branch stays uncovered
    only = cc.analyse(cc.read_dat(fifo_dats["fill_only"]), [])["modules"]["nmx_fifo"]
    assert only["branch"]["pct"] < 100


def test_merge_covers_the_union(fifo_dats: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    a, b = (cc.read_dat(fifo_dats[c]) for c in CASES)
    merged = cc.merge_dats(fifo_dats[c] for c in CASES)
    assert _hit(merged) >= _hit(a) | _hit(b)
    assert _hit(merged) > _hit(a) and _hit(merged) >= _hit(b)
    for key in set(a.counts) | set(b.counts):
        assert merged.counts[key] == a.counts.get(key, 0) + b.counts.get(key, 0)
    fig = {n: cc.analyse(p, [])["totals"]["branch"]["hit"] for n, p in (("a", a), ("b", b), ("m", merged))}
    assert fig["m"] >= max(fig["a"], fig["b"]) and fig["m"] > fig["a"], fig
    # the merged file is in Verilator's format and reads back to the same points
    cc.write_dat(merged, tmp_path / "coverage.dat")
    assert (tmp_path / "coverage.dat").read_text().startswith(cc.HEADER)
    again = cc.read_dat(tmp_path / "coverage.dat")
    assert again.counts == merged.counts


def test_waivers_remove_exactly_the_points_they_name(fifo_dats: dict[str, pathlib.Path],
                                                     tmp_path: pathlib.Path) -> None:
    pts = cc.merge_dats(fifo_dats.values())
    base = cc.analyse(pts, [])["modules"]["nmx_fifo"]
    wf = tmp_path / "w.yaml"
    wf.write_text(
        "waivers:\n"
        "  - {id: hold, category: unreachable, type: branch, file: rtl/nmx_fifo.sv, source: 'default:',"
        "     reason: the hold arm of the count case}\n"
        "  - {id: mem-bits, category: constant, type: toggle, signal: mem, reason: storage contents}\n"
        "  - {id: nothing, category: other, file: rtl/nope.sv, reason: matches no point}\n"
    )
    ws = cc.load_waivers(wf)
    doc = cc.analyse(pts, ws)
    m = doc["modules"]["nmx_fifo"]
    by = {w["id"]: w for w in doc["waivers"]}
    assert by["hold"]["matched"] >= 1 and by["mem-bits"]["matched"] > 0
    assert m["branch"]["waived"] == by["hold"]["matched"]
    assert m["branch"]["total"] == base["branch"]["total"] - by["hold"]["matched"]
    assert m["toggle"]["waived"] == by["mem-bits"]["matched"]
    assert m["toggle"]["total"] == base["toggle"]["total"] - by["mem-bits"]["matched"]
    assert doc["unused_waivers"] == ["nothing"]
    assert "hold" in doc["waived_but_hit"]  # the default arm runs every idle cycle: the waiver is wrong
    for bad, msg in (("- {id: x, file: rtl/*}", "no reason"),
                     ("- {id: x, reason: r, colour: red}", "unknown"),
                     ("- {id: x, reason: r, source: '('}", "not a regex")):
        wf.write_text(f"waivers:\n  {bad}\n")
        with pytest.raises(ValueError, match=msg):
            cc.load_waivers(wf)


def test_the_waiver_file_loads_and_every_waiver_has_a_reason() -> None:
    ws = cc.load_waivers()
    assert ws and all(len(w.reason) > 20 for w in ws)
    cats = ("testbench-only", "unreachable", "design-limit", "constant", "other")
    assert all(w.category in cats for w in ws)


def test_env_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sim_env.CODE_COVERAGE_ENV, "1")
    assert sim_env.code_coverage_default()
    monkeypatch.setenv(sim_env.CODE_COVERAGE_ENV, "0")
    assert not sim_env.code_coverage_default()


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.modules: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id") or "")
        if tag == "tr" and a.get("class") == "ccmod":
            self.modules.append(a.get("data-module") or "")


def test_regression_report_has_the_code_coverage_section(fifo_dats: dict[str, pathlib.Path],
                                                         tmp_path: pathlib.Path) -> None:
    run = tmp_path / "regress" / "20261204-000000-default"
    (run / "jobs").mkdir(parents=True)
    for case, dat in fifo_dats.items():  # as the runner leaves them: <run>/<job>/coverage.dat
        (run / case).mkdir()
        shutil.copy(dat, run / case / "coverage.dat")
    started = dt.datetime(2026, 12, 4, tzinfo=dt.UTC).isoformat()
    recs = [{"name": c, "kind": "rtl_test", "params": {"cfg": "4x4"}, "tags": ["rtl"], "status": "pass",
             "passed": True, "reason": "", "wall_s": 1.0, "started": started, "host": "h", "peak_rss_mb": 1.0,
             "figures": {}, "failures": []} for c in CASES]
    for r in recs:
        (run / "jobs" / f"{r['name']}.json").write_text(json.dumps(r))
    report.finish_run(run, "default", recs)
    summary = json.loads((run / "summary.json").read_text())
    c = summary["code_coverage"]
    assert c["files"] == 2 and 0 < c["modules"]["nmx_fifo"]["line"]["pct"] <= 100
    assert "## Code coverage (rtl/)" in (run / "summary.md").read_text()
    page = _Sections()
    page.feed((run / "dashboard.html").read_text())
    assert page.sections[-2:] == ["coverage", "code-coverage"]
    assert page.modules == ["nmx_fifo"]
    assert (run / "code_coverage" / "coverage.dat").is_file()
    ann = (run / "code_coverage" / "annotated" / "nmx_fifo.sv").read_text()
    assert "module nmx_fifo" in ann
    assert any(line[:1] in " %" and line[1:7].isdigit() for line in ann.splitlines())
    # regenerating merges the jobs' files again, never the merged one on top of them
    again = report.regenerate(run)
    assert again["code_coverage"]["files"] == 2
    assert again["code_coverage"]["totals"] == c["totals"]


def test_tb_run_and_the_runner_thread_the_option(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: pathlib.Path) -> None:
    from regressions import run
    from tb import run as tb_run

    seen: list[object] = []

    def fake_cocotb(**kw: object) -> None:  # no simulation: only what tb/run.py asks for
        seen.append(kw.get("code_coverage"))
        raise sim_env.SimFailure("not simulated in this test")

    monkeypatch.setattr(sim_env, "run_cocotb", fake_cocotb)
    monkeypatch.setenv(sim_env.CODE_COVERAGE_ENV, "")
    tb_run.run_test("random", cfg="4x4", seeds="0", out=tmp_path / "a", code_coverage=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "coverage.dat").write_text(cc.HEADER)  # an earlier invocation's file is kept
    monkeypatch.setenv(sim_env.CODE_COVERAGE_ENV, "1")
    tb_run.run_test("random", cfg="4x4", seeds="0", out=tmp_path / "b")
    assert (tmp_path / "b" / "coverage.1.dat").is_file()
    monkeypatch.setenv(sim_env.CODE_COVERAGE_ENV, "0")
    tb_run.run_test("random", cfg="4x4", seeds="0", out=tmp_path / "c")
    assert seen == [True, True, False]
    # the runner: --code-coverage sets the variable for its jobs and keeps it in run.json (for --resume)
    suites = tmp_path / "suites.yaml"
    suites.write_text("suites:\n  s:\n    - {name: ok, kind: _test_sleep, params: {s: 0}}\n")
    out = tmp_path / "regress"
    assert run.main(["--suites", str(suites), "--suite", "s", "--out", str(out), "--code-coverage",
                     "--progress", "plain"]) == 0
    assert os.environ[sim_env.CODE_COVERAGE_ENV] == "1"
    assert json.loads(((out / "latest").resolve() / "run.json").read_text())["code_coverage"] is True
