"""The regression runner (regressions/run.py, executor.py, suite.py): suites as data, parallel
execution with per-job process trees, timeouts, records written as jobs end, kill + resume, shards,
and the Dask executor agreeing with the local one.

Fast: the runs use the test-only job kinds of regressions/jobs.py (``_test_sleep``, ``_test_fail``,
``_test_raise``) from a suites file written into tmp_path, never the simulator.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from golden.hwcfg import CONFIGS
from regressions import jobs, run
from regressions.suite import SuiteError, load_suites, parse_shard, select, shard, with_seed

REPO = pathlib.Path(__file__).resolve().parent.parent
MEMORY_GUARD_MB = 150

MINI = """
suites:
  mini:
    - {name: a_pass, kind: _test_sleep, params: {s: 0.2, seeds: "3-9"}, tags: [golden, t]}
    - {name: b_fail, kind: _test_fail, params: {seed: 4}, tags: [golden, t]}
    - {name: c_raise, kind: _test_raise, params: {where: /x/y.py, n: 5}, tags: [golden, t]}
    - {name: d_timeout, kind: _test_sleep, params: {s: 30, grandchild: true}, timeout_s: 1.5, tags: [t]}
    - {name: e_memory, kind: _test_sleep, params: {s: 20, alloc_mb: 400}, tags: [t]}
"""


def _write(tmp: pathlib.Path, text: str, name: str = "suites.yaml") -> pathlib.Path:
    p = tmp / name
    p.write_text(text)
    return p


def _records(run_dir: pathlib.Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((run_dir / "jobs").glob("*.json"))}


def _pids_gone(pids: list[int], within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.1)
    return False


def _run_mini(tmp: pathlib.Path, executor: str) -> tuple[int, pathlib.Path]:
    suites = _write(tmp, MINI)
    out = tmp / "regress"
    rc = run.main(["--suites", str(suites), "--suite", "mini", "--out", str(out), "--jobs", "2",
                   "--executor", executor, "--max-rss-mb", str(MEMORY_GUARD_MB), "--progress", "plain"])
    return rc, (out / "latest").resolve()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, pathlib.Path]:
    return _run_mini(tmp_path_factory.mktemp("local"), "local")


# --- execution ----------------------------------------------------------------------------------------


def test_local_statuses_records_and_exit(local_run: tuple[int, pathlib.Path]) -> None:
    rc, run_dir = local_run
    assert rc == 1  # a failure, an error, a timeout and a memory kill: non-zero
    recs = _records(run_dir)
    assert {n: r["status"] for n, r in recs.items()} == {
        "a_pass": "pass", "b_fail": "fail", "c_raise": "error", "d_timeout": "timeout", "e_memory": "error"}
    for r in recs.values():
        assert r["passed"] == (r["status"] == "pass")
        assert r["host"] and r["started"][:4].isdigit() and r["wall_s"] > 0 and r["peak_rss_mb"] > 1
        assert "--only " + r["name"] in r["rerun"]
    a = recs["a_pass"]
    assert a["figures"] == {"seeds": 7, "seed_sum": sum(range(3, 10)), "slept_s": 0.2}
    assert a["reason"] == "" and a["tags"] == ["golden", "t"] and a["wall_s"] >= 0.2
    assert recs["b_fail"]["reason"] == "asked to fail (seed 4)"
    assert recs["b_fail"]["failures"][0]["signature"] == "check:asked to fail"
    c = recs["c_raise"]
    assert c["reason"] == "ValueError: asked to raise at /x/y.py after 5 steps"
    assert "Traceback" in c["traceback"] and "_test_raise" in c["traceback"]
    e = recs["e_memory"]
    assert e["reason"].startswith("MemoryLimitExceeded") and e["peak_rss_mb"] > MEMORY_GUARD_MB
    assert e["wall_s"] < 10  # killed long before its 20 s sleep ended
    meta = json.loads((run_dir / "run.json").read_text())
    assert [j["name"] for j in meta["jobs"]] == sorted(recs)
    assert (run_dir / "summary.md").is_file()
    assert (run_dir / "logs" / "c_raise.log").read_text().count("ValueError") >= 1


def test_timeout_kills_whole_tree(local_run: tuple[int, pathlib.Path]) -> None:
    _, run_dir = local_run
    d = _records(run_dir)["d_timeout"]
    assert d["status"] == "timeout" and "timeout_s 1.5" in d["reason"]
    assert 1.5 <= d["wall_s"] < 3
    pids = json.loads((run_dir / "d_timeout" / "pids.json").read_text())
    assert len(pids) == 2  # the job's process and its `sleep 30` grandchild
    assert _pids_gone(pids, within_s=1.0), f"left alive: {[p for p in pids if psutil.pid_exists(p)]}"


def test_dask_matches_local(local_run: tuple[int, pathlib.Path], tmp_path: pathlib.Path) -> None:
    rc_local, local_dir = local_run
    rc, dask_dir = _run_mini(tmp_path, "dask")
    assert rc == rc_local
    local, dask = _records(local_dir), _records(dask_dir)
    assert sorted(local) == sorted(dask)
    for name in local:
        for key in ("status", "passed", "figures", "failures", "params", "tags"):
            assert dask[name][key] == local[name][key], (name, key)
        # the same reason, up to the sampled figures (the RSS at which the memory guard struck)
        assert re.sub(r"\d+", "#", dask[name]["reason"]) == re.sub(r"\d+", "#", local[name]["reason"]), name
        assert dask[name]["peak_rss_mb"] > 1
    pids = json.loads((dask_dir / "d_timeout" / "pids.json").read_text())
    assert _pids_gone(pids, within_s=1.0)


def test_kill_part_way_then_resume(tmp_path: pathlib.Path) -> None:
    gate = tmp_path / "gate"
    suites = _write(tmp_path, f"""
suites:
  s:
    - {{name: fast1, kind: _test_sleep, params: {{s: 0.1, seed: 1}}}}
    - {{name: slow, kind: _test_sleep, params: {{s: 60, until_file: "{gate}", grandchild: true}}}}
    - {{name: fast2, kind: _test_sleep, params: {{s: 0.1, seed: 2}}}}
""")
    out = tmp_path / "regress"
    proc = subprocess.Popen([sys.executable, "-m", "regressions.run", "--suites", str(suites), "--suite", "s",
                             "--out", str(out), "--jobs", "2", "--max-rss-mb", "0"],
                            cwd=REPO, stdout=(tmp_path / "runner.log").open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "CI": "1"})
    try:
        deadline = time.monotonic() + 20
        run_dirs: list[pathlib.Path] = []
        while time.monotonic() < deadline:
            run_dirs = [d for d in out.glob("*-s") if (d / "jobs" / "fast2.json").exists()
                        and (d / "slow" / "pids.json").exists()]
            if run_dirs:
                break
            time.sleep(0.05)
        assert run_dirs, "the runner did not record the fast jobs in time"
        assert proc.poll() is None  # still running the slow job
        proc.kill()  # SIGKILL: no handler runs, only the jobs' parent watch
        proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = run_dirs[0]
    pids = json.loads((run_dir / "slow" / "pids.json").read_text())
    assert _pids_gone(pids), "the slow job's tree outlived the killed runner"
    kept = {n: (run_dir / "jobs" / f"{n}.json").read_bytes() for n in ("fast1", "fast2")}
    assert set(_records(run_dir)) == {"fast1", "fast2"}

    gate.touch()  # the slow job now ends at once
    assert run.main(["--out", str(out), "--resume", run_dir.name, "--progress", "plain"]) == 0
    recs = _records(run_dir)
    assert {n: r["status"] for n, r in recs.items()} == {"fast1": "pass", "fast2": "pass", "slow": "pass"}
    assert all((run_dir / "jobs" / f"{n}.json").read_bytes() == b for n, b in kept.items())
    meta = json.loads((run_dir / "run.json").read_text())
    assert [s["jobs"] for s in meta["sessions"]] == [1]  # the killed session never got to write its own
    assert (out / "latest").resolve() == run_dir.resolve()


def test_resume_retry_failed_reruns_only_error_and_timeout(tmp_path: pathlib.Path) -> None:
    suites = _write(tmp_path, """
suites:
  s:
    - {name: ok, kind: _test_sleep, params: {s: 0}}
    - {name: bad, kind: _test_fail, params: {seed: 1}}
    - {name: boom, kind: _test_raise, params: {}}
""")
    out = tmp_path / "regress"
    assert run.main(["--suites", str(suites), "--suite", "s", "--out", str(out), "--progress", "plain"]) == 1
    run_dir = (out / "latest").resolve()
    before = {n: r["started"] + str(r["wall_s"]) for n, r in _records(run_dir).items()}
    assert run.main(["--out", str(out), "--resume", run_dir.name, "--progress", "plain"]) == 1
    meta = json.loads((run_dir / "run.json").read_text())
    assert [s["jobs"] for s in meta["sessions"]] == [3, 0]
    retry = ["--out", str(out), "--resume", run_dir.name, "--retry-failed", "--progress", "plain"]
    assert run.main(retry) == 1
    meta = json.loads((run_dir / "run.json").read_text())
    assert [s["jobs"] for s in meta["sessions"]] == [3, 0, 1]
    after = {n: r["started"] + str(r["wall_s"]) for n, r in _records(run_dir).items()}
    assert after["ok"] == before["ok"] and after["bad"] == before["bad"]


# --- suites as data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "needles"), [
    ("suites:\n  s:\n    - {name: j, kind: nope, params: {}}\n",
     ["suite 's'", "job 'j'", "'kind'", "'nope'"]),
    ("suites:\n  s:\n    - {name: j, kind: golden_gemm}\n", ["suite 's'", "job 'j'", "missing key 'params'"]),
    ("suites:\n  s:\n    - {name: j, kind: golden_gemm, params: {}, timeout: 5}\n",
     ["suite 's'", "job 'j'", "'timeout'"]),
    ("suites:\n  s:\n    - {name: j, kind: golden_gemm, params: {cfg: banana}}\n",
     ["suite 's'", "job 'j'", "params.cfg", "'banana'"]),
    ("suites:\n  s:\n    - {name: j, kind: rtl_random, params: {cfg: 4x4, seeds: 'a-b'}}\n",
     ["suite 's'", "job 'j'", "params.seeds"]),
    ("suites:\n  s:\n    - {name: j, kind: golden_gemm, params: {}, timeout_s: -1}\n",
     ["suite 's'", "job 'j'", "'timeout_s'"]),
    ("suites:\n  s:\n    - include: t\n", ["suite 's'", "'include'", "unknown suite 't'"]),
    ("suites:\n  a:\n    - include: b\n  b:\n    - include: a\n", ["include cycle: a -> b -> a"]),
    ("suites:\n  a:\n    - {name: j, kind: golden_gemm, params: {}}\n  b:\n    - include: a\n"
     "    - {name: j, kind: golden_gemm, params: {}}\n",
     ["suite 'b'", "duplicate job name 'j'", "suite 'a'"]),
])
def test_validation_errors_name_the_problem(tmp_path: pathlib.Path, text: str, needles: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SuiteError) as exc:
        load_suites(path)
    for needle in needles:
        assert needle in str(exc.value), (needle, str(exc.value))
    assert run.main(["--suites", str(path), "--suite", "s", "--list"]) == 2
    assert str(exc.value) in capsys.readouterr().err


def test_repo_suites_cover_zoo_and_configs() -> None:
    from golden.models import ZOO

    suites = load_suites()
    assert {"smoke", "default", "resnet", "bert", "gnn", "nightly"} <= set(suites)
    from golden.models import coverage

    cov = "golden.models.coverage:"
    for family in ("resnet", "bert", "gnn"):
        got = {j.params["model"]: j for j in suites[family]}
        assert {m for m in got if not m.startswith(cov)} == {n for n, s in ZOO.items() if s.family == family}
        extra = [m[len(cov):] for m in got if m.startswith(cov)]   # issue 12: one new model per family
        assert extra and all(m in coverage.CASES for m in extra), (family, extra)
        assert all(j.kind == "verify_model" and j.params["cfg"] == "16x16" and j.params["seed"] == 1
                   for j in got.values())
    nightly = suites["nightly"]
    assert {j.params.get("model") for j in nightly if j.kind == "verify_model"} >= set(ZOO)
    for cfg in CONFIGS:
        seeds = [jobs.parse_seeds(j.params["seeds"]) for j in nightly
                 if j.kind == "rtl_random" and j.params["cfg"] == cfg]
        assert all(len(s) <= 100 for s in seeds) and sum(len(s) for s in seeds) >= 200, cfg
        assert len({x for s in seeds for x in s}) == sum(len(s) for s in seeds), cfg  # no seed twice
        assert any(j.kind == "rtl_top_suite" and j.params["cfg"] == cfg for j in nightly), cfg
    assert {j.params["test"] for j in nightly if j.kind == "rtl_test"} == {"directed", "errors"}
    for name, suite in suites.items():
        for j in suite:
            assert not j.kind.startswith("_test"), (name, j.name)
            assert ("rtl" in j.tags) != ("golden" in j.tags), (name, j.name, j.tags)
            assert len([t for t in j.tags if t in CONFIGS]) == 1, (name, j.name, j.tags)
            if "cfg" in j.params:
                assert j.params["cfg"] in j.tags, (name, j.name)


def test_shards_partition_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    nightly = load_suites()["nightly"]
    names = [j.name for j in nightly]
    for n in (1, 2, 3, 4, 7):
        parts = [[j.name for j in shard(nightly, k, n)] for k in range(1, n + 1)]
        flat = [x for p in parts for x in p]
        assert sorted(flat) == sorted(names) and len(flat) == len(set(flat)), n
        assert max(map(len, parts)) - min(map(len, parts)) <= 1, n
        assert all(p == [x for x in names if x in set(p)] for p in parts)  # suite order kept
        assert parts == [[j.name for j in shard(nightly, k, n)] for k in range(1, n + 1)]  # deterministic
    big = {j.name for j in nightly if j.timeout_s >= 3600}
    halves = [{j.name for j in shard(nightly, k, 2)} & big for k in (1, 2)]
    assert abs(len(halves[0]) - len(halves[1])) <= 1  # the long jobs are spread, not bunched
    assert run.main(["--suite", "nightly", "--shard", "2/3", "--list"]) == 0
    listed = [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:-1]]
    assert listed == [j.name for j in shard(nightly, 2, 3)]
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(SuiteError, match="--shard"):
            parse_shard(bad)


def test_selection_and_seed_override() -> None:
    nightly = load_suites()["nightly"]
    by_tag = select(nightly, tags=["rtl", "4x4-narrow"])
    assert by_tag and all("4x4-narrow" in j.tags and "rtl" in j.tags for j in by_tag)
    assert [(j.name, j.params["model"]) for j in select(nightly, models=["bert_*"])] == [
        ("verify_bert_tiny", "bert_tiny"), ("verify_bert_mini", "bert_mini"),
        ("verify_bert_base", "bert_base"), ("power_bert_tiny", "bert_tiny")]
    only = select(nightly, only=["rtl_random_16x16_*"])
    assert [j.params["seeds"] for j in only] == ["0-99", "100-199", "200-299"]
    seeded = {j.kind: with_seed(j, 7).params for j in nightly}
    assert seeded["rtl_random"]["seeds"] == "7" and seeded["rtl_test"]["seeds"] == "7"
    assert seeded["rtl_top_suite"]["seed_base"] == 7 and seeded["verify_model"]["seed"] == 7


def test_rich_progress_on_a_terminal(tmp_path: pathlib.Path) -> None:
    """The live display (forced as on a terminal) runs a suite to the end: its refresh thread and the
    job threads never wait on each other's locks."""
    suites = _write(tmp_path, "suites:\n  s:\n" + "".join(
        f"    - {{name: j{i}, kind: _test_sleep, params: {{s: 0.{i}}}}}\n" for i in range(6)))
    out = tmp_path / "regress"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.run([sys.executable, "-m", "regressions.run", "--suites", str(suites), "--suite", "s",
                           "--out", str(out), "--progress", "rich"], cwd=REPO, capture_output=True, text=True,
                          env={**env, "FORCE_COLOR": "1", "COLUMNS": "100"}, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "j5: PASS" in proc.stdout
    assert {n: r["status"] for n, r in _records((out / "latest").resolve()).items()} == {
        f"j{i}": "pass" for i in range(6)}


def test_sigterm_stops_and_kills_the_running_job(tmp_path: pathlib.Path) -> None:
    suites = _write(tmp_path, "suites:\n  s:\n    - {name: long, kind: _test_sleep, params: {s: 60}}\n")
    out = tmp_path / "regress"
    proc = subprocess.Popen([sys.executable, "-m", "regressions.run", "--suites", str(suites), "--suite", "s",
                             "--out", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "CI": "1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list(out.glob("*-s/long/pids.json")):
        time.sleep(0.05)
    pid_file = next(iter(out.glob("*-s/long/pids.json")))
    proc.send_signal(signal.SIGTERM)
    text = proc.communicate(timeout=10)[0].decode()
    assert proc.returncode == 130, text
    assert "--resume" in text
    assert _pids_gone(json.loads(pid_file.read_text()), within_s=1.0)
    (rec,) = [json.loads(p.read_text()) for p in out.glob("*-s/jobs/*.json")]  # interrupted: resume reruns it
    assert rec["interrupted"] is True and rec["status"] == "error" and "SIGTERM" in rec["reason"]


def test_jobs_start_longest_first() -> None:
    """LPT order: by timeout_s (the size a fresh clone knows), then the last measured wall, then the
    suite's order; the nightly's hour-long jobs (mutation campaign, bert_base) start first."""
    from regressions.suite import Job

    js = [Job(name=n, kind="_test_sleep", params={}, timeout_s=t, tags=[]) for n, t in
          [("a", 900), ("b", 1800), ("c", 1800), ("d", 14400), ("e", 1800)]]
    assert [j.name for j in run.longest_first(js, {})] == ["d", "b", "c", "e", "a"]
    assert [j.name for j in run.longest_first(js, {"e": 50.0, "c": 10.0})] == ["d", "e", "c", "b", "a"]
    nightly = run.longest_first(load_suites()["nightly"], {})
    assert [j.name for j in nightly[:2]] == ["mutation_smoke", "verify_bert_base"]


def test_eta_uses_the_measured_wall_times(monkeypatch) -> None:
    """With earlier walls the ETA is (pending + running remainders) / workers, a never-measured job
    sized by its timeout scaled like the measured ones; without any, elapsed * left / done of timeouts."""
    from regressions.suite import Job

    js = [Job(name=n, kind="_test_sleep", params={}, timeout_s=t, tags=[]) for n, t in
          [("long", 3600), ("a", 600), ("b", 600), ("new", 1200)]]
    clock = [1000.0]
    monkeypatch.setattr(run.time, "monotonic", lambda: clock[0])
    p = run.Progress("s", "r", js, 0, {"long": 1800.0, "a": 60.0, "b": 120.0}, workers=2)
    # scale = (1800 + 60 + 120) / (3600 + 600 + 600) = 0.4125: "new" is expected to take 495 s
    assert p.expect["new"] == pytest.approx(1200 * 1980 / 4800)
    assert p.eta() == pytest.approx((1800 + 60 + 120 + 495) / 2)
    p.start(js[0])
    p.start(js[1])
    clock[0] += 100.0
    assert p.eta() == pytest.approx(1700.0)  # the long job's remainder dominates (120 + 495 + 0 + 1700) / 2
    p.done({"name": "a", "passed": True, "status": "pass", "wall_s": 100.0})
    assert "1/4 done, 1 running" in p.counts()
    fresh = run.Progress("s", "r", js, 0, {}, workers=2)
    assert fresh.eta() is None and not fresh.expect
