"""Regression runner: runs a suite of regressions/suites.yaml, in parallel, one record per job.

Jobs run locally, --jobs N at a time, each in its own process tree with its own timeout (the whole
tree is killed and the job recorded as `timeout`), or on a Dask cluster (--executor dask). Each job's
record is written to build/regress/<run-id>/jobs/<name>.json the moment the job ends, so a crash, a
kill or a timeout loses nothing already finished; --resume RUN_ID runs only what is missing. At the
end the run's reports are written (summary.md, and JUnit/dashboard/history where regressions/report.py
provides them), build/regress/latest points at the run, and the exit status is 1 if any job did not
pass (2: bad usage or suites file, 130: interrupted).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import importlib.util
import inspect
import json
import os
import pathlib
import shlex
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import psutil

from regressions.executor import DaskExecutor, LocalExecutor, make_record, write_json_atomic
from regressions.suite import (
    SUITES,
    Job,
    SuiteError,
    load_suite,
    load_suites,
    parse_shard,
    select,
    shard,
    with_seed,
)

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "regress"
CODE_COVERAGE_ENV = "NMX_CODE_COVERAGE"
"""tb/sim_env.CODE_COVERAGE_ENV (not imported: the runner does not load the testbench)."""
RUN_FILE = "run.json"
Record = dict[str, Any]

EPILOG = """\
selection (applied in this order; every option narrows):
  --only NAME     job names (repeatable, fnmatch globs: --only 'rtl_random_*')
  --tag TAG       jobs carrying every given tag (repeatable: --tag rtl --tag 16x16)
  --model NAME    jobs whose params.model matches (repeatable, globs)
  --shard K/N     shard K of N (1-based): deterministic, the union of the N shards is the selection
  --seed N        then set each job's seed (params.seed, .seeds or .seed_base, per kind) to N

examples:
  python -m regressions.run --list-suites
  python -m regressions.run --suite nightly --shard 2/4 --list
  python -m regressions.run --suite nightly --model resnet50 --jobs 1
  python -m regressions.run --suite default --executor dask --jobs 2
  python -m regressions.run --suite nightly --executor dask --scheduler tcp://head:8786
  python -m regressions.run --resume latest --retry-failed
  python -m regressions.run --suite default --code-coverage   # + code_coverage/ (docs/verification.md)
  make regress SUITE=resnet MODEL=resnet20 SEED=3 JOBS=2 SHARD=1/2

outputs: build/regress/<run-id>/run.json (what was selected), jobs/<name>.json (one record per job,
docs/regressions.md), <name>/ (the job's files), logs/<name>.log (its output), summary.md; latest ->
the newest run. Progress: a live rich display on a terminal, plain lines when CI is set or stdout is
not a terminal (--progress forces one)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m regressions.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    g = p.add_argument_group("suite")
    g.add_argument("--suite", default="default", help="suite name in the suites file (default: default)")
    g.add_argument("--suites", type=pathlib.Path, default=SUITES, metavar="PATH",
                   help="suites file (default: regressions/suites.yaml)")
    g.add_argument("--list", action="store_true", help="print the selected jobs and exit")
    g.add_argument("--list-suites", action="store_true",
                   help="print every suite with its job count and total timeout, and exit")
    s = p.add_argument_group("selection")
    s.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="job name or glob (repeatable)")
    s.add_argument("--tag", action="append", default=[], metavar="TAG", help="required tag (repeatable)")
    s.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="params.model name or glob (repeatable)")
    s.add_argument("--seed", type=int, metavar="N", help="override every selected job's seed(s) with N")
    s.add_argument("--shard", metavar="K/N", help="run shard K of N (1-based) of the selection")
    e = p.add_argument_group("execution")
    e.add_argument("--jobs", "-j", type=int, default=2, metavar="N",
                   help="jobs at a time (local) or LocalCluster workers (dask); default 2")
    e.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local: process tree per job on this machine (default); dask: distributed tasks")
    e.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --executor dask: an existing scheduler (tcp://host:8786) instead of a"
                        " LocalCluster")
    e.add_argument("--max-rss-mb", type=float, metavar="MB",
                   help="memory guard: kill a job whose process tree exceeds MB resident (status error);"
                        " default 85%% of this machine's RAM divided by --jobs; 0 disables")
    e.add_argument("--in-order", action="store_true",
                   help="start the jobs in the suite's order (default: longest first, docs/regressions.md)")
    e.add_argument("--timeout-scale", type=float, default=1.0, metavar="F",
                   help="multiply every job's timeout_s by F (slow or shared machines); default 1")
    e.add_argument("--resume", metavar="RUN_ID",
                   help="continue run RUN_ID (a name under --out, or 'latest'): run only its jobs without a"
                        " record; selection options are taken from the run and may not be given")
    e.add_argument("--retry-failed", action="store_true",
                   help="with --resume: also rerun the jobs recorded as error or timeout")
    e.add_argument("--out", type=pathlib.Path, default=OUT, metavar="DIR",
                   help="root of the run directories (default: build/regress)")
    e.add_argument("--code-coverage", action="store_true",
                   help="RTL jobs use the Verilator code-coverage build (line/block, toggle; sets"
                        f" ${CODE_COVERAGE_ENV}=1 for the jobs): each leaves coverage.dat in its directory;"
                        " the run's reports add the merged per-module figures (code_coverage/, written by"
                        " regressions/code_coverage.py)")
    e.add_argument("--progress", choices=("auto", "rich", "plain"), default="auto",
                   help="auto: rich on a terminal, plain lines when CI is set or stdout is not a terminal")
    return p


# --- selection ----------------------------------------------------------------------------------------


def _selected(a: argparse.Namespace) -> list[Job]:
    suite = load_suite(a.suite, a.suites)
    picked = select(suite, only=a.only, tags=a.tag, models=a.model)
    if not picked:
        raise SuiteError(f"suite {a.suite!r}: no job matches --only {a.only} --tag {a.tag} --model {a.model}")
    if a.shard:
        k, n = parse_shard(a.shard)
        picked = shard(picked, k, n)
    if a.seed is not None:
        picked = [with_seed(j, a.seed) for j in picked]
    if a.timeout_scale != 1.0:
        if a.timeout_scale <= 0:
            raise SuiteError(f"--timeout-scale {a.timeout_scale}: must be positive")
        picked = [dataclasses.replace(j, timeout_s=j.timeout_s * a.timeout_scale) for j in picked]
    return picked


def _rerun_cmd(job: Job, suite: str, suites_file: pathlib.Path, seed: int | None) -> str:
    cmd = [".venv/bin/python", "-m", "regressions.run", "--suite", suite, "--only", job.name]
    if suites_file.resolve() != SUITES:
        cmd += ["--suites", str(suites_file)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    return shlex.join(cmd)


def _last_walls(out: pathlib.Path, runs: int = 30) -> dict[str, float]:
    """Wall time of each job name in the newest passing record of the last ``runs`` runs."""
    walls: dict[str, float] = {}
    dirs = sorted((d for d in out.glob("*/jobs") if d.is_dir()), key=lambda d: d.parent.name)[-runs:]
    for d in dirs:  # oldest first: newer runs overwrite
        for f in d.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                rec = json.loads(f.read_text())
                if rec.get("status") == "pass":
                    walls[rec["name"]] = float(rec["wall_s"])
    return walls


def longest_first(jobs: list[Job], walls: dict[str, float]) -> list[Job]:
    """The order jobs start in: longest first (the LPT rule), so no hour-long job starts last.

    A job's size is its ``timeout_s`` (every suite entry sizes its hang guard to the job: a fresh clone
    or a CI shard has nothing else), then its last passing wall time on this machine
    (``build/regress/*/jobs``), then the suite's order.  With N workers the wall time is then at most
    about max(longest job, sum / N + longest job); in suite order an hour-long job listed last would
    add its whole hour to the end.
    """
    order = {j.name: i for i, j in enumerate(jobs)}
    return sorted(jobs, key=lambda j: (-j.timeout_s, -walls.get(j.name, 0.0), order[j.name]))


def _list_jobs(picked: list[Job], out: pathlib.Path) -> None:
    walls = _last_walls(out)
    print(f"{'job':<34} {'kind':<14} {'timeout':>8} {'last s':>7}  tags / params")
    for j in picked:
        last = f"{walls[j.name]:.0f}" if j.name in walls else "-"
        print(f"{j.name:<34} {j.kind:<14} {j.timeout_s:>8.0f} {last:>7}  [{', '.join(j.tags)}] "
              + json.dumps(j.params, separators=(",", ":")))
    print(f"{len(picked)} jobs")


def _list_suites(path: pathlib.Path, out: pathlib.Path) -> None:
    walls = _last_walls(out)
    print(f"{'suite':<10} {'jobs':>5} {'timeouts h':>10} {'measured':>9} {'serial s':>9}")
    for name, js in load_suites(path).items():
        known = [walls[j.name] for j in js if j.name in walls]
        print(f"{name:<10} {len(js):>5} {sum(j.timeout_s for j in js) / 3600:>10.1f}"
              f" {f'{len(known)}/{len(js)}':>9} {sum(known):>9.0f}")
    print("(serial s: sum of the last passing wall time of the measured jobs, from earlier runs in "
          f"{out})")


# --- run directory ------------------------------------------------------------------------------------


def _new_run_dir(out: pathlib.Path, suite: str, shard_spec: str | None) -> pathlib.Path:
    base = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{suite}"
    if shard_spec:
        k, n = parse_shard(shard_spec)
        base += f"-shard{k}of{n}"
    out.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        run_dir = out / (base if i == 1 else f"{base}-{i}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"{out}: cannot create a run directory named {base}-N")


def _record_path(run_dir: pathlib.Path, name: str) -> pathlib.Path:
    return run_dir / "jobs" / f"{name}.json"


def _read_record(run_dir: pathlib.Path, name: str) -> Record | None:
    try:
        return json.loads(_record_path(run_dir, name).read_text())
    except (OSError, ValueError):
        return None


def _link_latest(out: pathlib.Path, run_dir: pathlib.Path) -> None:
    """Point ``out/latest`` at ``run_dir`` (a relative link, replaced atomically)."""
    tmp = out / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, out / "latest")


# --- reports ------------------------------------------------------------------------------------------


def _write_summary(run_dir: pathlib.Path, suite: str, records: list[Record]) -> None:
    """summary.md and summary.json; used only while regressions/report.py (finish_run) does not exist."""
    lines = [f"# Regression `{suite}` — {run_dir.name}", "",
             "| job | status | wall s | peak MB | figures |", "|---|---|---|---|---|"]
    for r in records:
        figs = ", ".join(f"{k}={v}" for k, v in r.get("figures", {}).items())
        verdict = "PASS" if r["passed"] else f"{r['status'].upper()} ({r.get('reason', '')})"
        lines.append(f"| {r['name']} | {verdict} | {r['wall_s']} | {r.get('peak_rss_mb', '')} | {figs} |")
    n_pass = sum(r["passed"] for r in records)
    lines += ["", f"**{n_pass}/{len(records)} jobs passed.**"]
    (run_dir / "summary.md").write_text("\n".join(lines) + "\n")
    write_json_atomic(run_dir / "summary.json",
                      {"suite": suite, "passed": n_pass, "total": len(records), "jobs": records})


def _finish(run_dir: pathlib.Path, suite: str, records: list[Record], wall_s: float) -> bool:
    """Write the run's reports; False if the report module failed (the records are safe either way).
    ``wall_s``: the run's wall time over all its sessions (passed on when finish_run takes it)."""
    if importlib.util.find_spec("regressions.report") is None:
        _write_summary(run_dir, suite, records)
        return True
    try:
        from regressions.report import finish_run

        if "wall_s" in inspect.signature(finish_run).parameters:
            finish_run(run_dir, suite, records, wall_s=wall_s)
        else:
            finish_run(run_dir, suite, records)
        return True
    except Exception:
        traceback.print_exc()
        print("[regress] regressions.report.finish_run failed; wrote the plain summary.md instead",
              flush=True)
        _write_summary(run_dir, suite, records)
        return False


# --- progress display ---------------------------------------------------------------------------------


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _outcome(rec: Record) -> str:
    line = (f"{rec['name']}: {rec['status'].upper()} in {rec['wall_s']:.1f} s,"
            f" {rec.get('peak_rss_mb', 0):.0f} MB")
    return line + (f" — {rec['reason']}" if rec.get("reason") else "")


class Progress:
    """Jobs done/running/failed, elapsed and ETA of a run.  Thread-safe (Dask start events arrive on
    the client's thread): ``lock`` guards the counts only and is never held while printing, because
    rich's refresh thread holds the console's lock while it asks for the panel (lock order).

    The ETA: with ``walls`` (each job's last passing wall time on this machine, ``_last_walls``) a job
    is expected to take that long, and one never measured its timeout_s scaled by the measured jobs'
    wall / timeout; the ETA is then the longer of the longest running job's remainder and (what the
    pending and running jobs still need) / ``workers``.  With nothing measured (a fresh clone) it
    weighs each job by its timeout_s, the one size figure every job has: elapsed * left / done."""

    def __init__(self, suite: str, run_id: str, todo: list[Job], already: int,
                 walls: dict[str, float] | None = None, workers: int = 1) -> None:
        self.lock = threading.Lock()
        self.suite, self.run_id, self.already = suite, run_id, already
        self.total = len(todo)
        self.timeout = {j.name: j.timeout_s for j in todo}
        self.total_w = sum(self.timeout.values()) or 1.0
        self.done_w = 0.0
        known = {j.name: walls[j.name] for j in todo if walls and j.name in walls}
        scale = (sum(known.values()) / sum(self.timeout[n] for n in known)) if known else 1.0
        self.expect = {j.name: known.get(j.name, j.timeout_s * scale) for j in todo} if known else {}
        self.pending = set(self.expect)
        self.workers = max(1, workers)
        self.running: dict[str, float] = {}
        self.n_done = self.n_failed = 0
        self.t0 = time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def emit(self, line: str) -> None:
        print(f"[regress] {line}", flush=True)

    def note(self, line: str) -> None:
        self.emit(line)

    def eta(self) -> float | None:
        if self.expect:
            now = time.monotonic()
            run_left = [max(0.0, self.expect[n] - (now - t)) for n, t in self.running.items()
                        if n in self.expect]
            work = sum(self.expect[n] for n in self.pending if n not in self.running) + sum(run_left)
            return max(max(run_left, default=0.0), work / self.workers)
        if self.done_w <= 0:
            return None
        return (time.monotonic() - self.t0) * (self.total_w - self.done_w) / self.done_w

    def counts(self) -> str:
        return (f"{self.n_done}/{self.total} done, {len(self.running)} running, {self.n_failed} failed,"
                f" elapsed {_hms(time.monotonic() - self.t0)}, ETA {_hms(self.eta())}")

    def start(self, job: Job) -> None:
        with self.lock:
            self.running[job.name] = time.monotonic()
        self.started(job)

    def started(self, job: Job) -> None:
        self.emit(f"start {job.name} ({job.kind}, timeout {job.timeout_s:g} s)")

    def done(self, rec: Record) -> None:
        with self.lock:
            self.running.pop(rec["name"], None)
            self.pending.discard(rec["name"])
            self.n_done += 1
            self.n_failed += not rec["passed"]
            self.done_w += self.timeout.get(rec["name"], 0.0)
            line = f"{_outcome(rec)} | {self.counts()}"
        self.emit(line)


class RichProgress(Progress):
    """A live panel (counts, ETA, the running jobs with their age); finished jobs scroll above it."""

    def __enter__(self) -> RichProgress:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(self, console=self.console, refresh_per_second=2, transient=True)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def emit(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)

    def started(self, job: Job) -> None:
        return None

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            now, title = time.monotonic(), f"{self.suite} — {self.run_id}: {self.counts()}"
            running = sorted(self.running.items(), key=lambda kv: kv[1])
        t = Table(show_edge=False, expand=False)
        t.add_column("running")
        t.add_column("for", justify="right")
        t.add_column("timeout", justify="right")
        for name, since in running:
            t.add_row(name, _hms(now - since), _hms(self.timeout.get(name)))
        return Group(Text(title, style="bold"), t)


def _progress(mode: str, suite: str, run_id: str, todo: list[Job], already: int,
              walls: dict[str, float] | None = None, workers: int = 1) -> Progress:
    if mode == "auto":
        mode = "plain" if os.environ.get("CI") or not sys.stdout.isatty() else "rich"
    cls = RichProgress if mode == "rich" else Progress
    return cls(suite, run_id, todo, already, walls, workers)


# --- main ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[dict[str, str]]:
    """SIGTERM (CI cancel, kill) stops the run like Ctrl-C: running jobs are killed and recorded as
    interrupted, finished records kept.  Yields ``{"signal": NAME}`` once one arrived.  A second
    signal while the run is being stopped is ignored, so that the cleanup (killing the jobs' trees,
    writing their records and the reports) is not itself cut short."""
    stopped: dict[str, str] = {}

    def handler(signum: int, frame: object) -> None:
        if stopped:
            print(f"[regress] {signal.Signals(signum).name} again: already stopping (killing the running"
                  " jobs, writing the records and reports)", flush=True)
            return
        stopped["signal"] = signal.Signals(signum).name
        raise KeyboardInterrupt(stopped["signal"])

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopped
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def _record_still_running(show: Progress, todo: list[Job], run_dir: pathlib.Path,
                          record: Callable[[Record], None], rerun: Callable[[Job], str]) -> None:
    """After an interrupt: a record for every job that had started and got none from the executor
    (a Dask task is cancelled, not reported), so no job of the run vanishes without a trace."""
    by_name = {j.name: j for j in todo}
    with show.lock:
        running = dict(show.running)
    now = time.monotonic()
    for name, since in running.items():
        if name not in by_name or _read_record(run_dir, name) is not None:
            continue
        started = dt.datetime.now().astimezone() - dt.timedelta(seconds=now - since)
        record(make_record(by_name[name], None, status="error", wall_s=now - since, peak_rss_mb=0.0,
                           reason=f"Interrupted: the run was stopped after {now - since:.1f} s of this job",
                           started=started.isoformat(timespec="seconds"), host=socket.gethostname(),
                           rerun=rerun(by_name[name]), extra={"interrupted": True}))


def _default_max_rss(jobs: int) -> float:
    return psutil.virtual_memory().total / 2**20 * 0.85 / max(1, jobs)


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    out: pathlib.Path = a.out.resolve()
    if a.jobs < 1:
        p.error(f"--jobs {a.jobs}: need at least 1")
    if a.scheduler and a.executor != "dask":
        p.error("--scheduler needs --executor dask")
    if a.retry_failed and not a.resume:
        p.error("--retry-failed needs --resume RUN_ID")
    try:
        if a.list_suites:
            _list_suites(a.suites, out)
            return 0
        if a.resume:
            given = [o for o, v in (("--only", a.only), ("--tag", a.tag), ("--model", a.model),
                                    ("--seed", a.seed is not None), ("--shard", a.shard),
                                    ("--list", a.list)) if v]
            if given:
                p.error(f"--resume takes the selection from the run; do not give {', '.join(given)}")
            run_dir = (out / a.resume).resolve()
            if not (run_dir / RUN_FILE).is_file():
                raise SuiteError(f"--resume {a.resume}: no run {RUN_FILE} in {run_dir}")
            meta = json.loads((run_dir / RUN_FILE).read_text())
            picked = [Job.from_json(j) for j in meta["jobs"]]
            suite_name = meta["suite"]
        else:
            picked = _selected(a)
            suite_name = a.suite
            if a.list:
                _list_jobs(picked, out)
                return 0
            run_dir = _new_run_dir(out, a.suite, a.shard)
            meta = {"run_id": run_dir.name, "suite": a.suite, "suites_file": str(a.suites.resolve()),
                    "seed": a.seed, "shard": a.shard, "argv": sys.argv if argv is None else argv,
                    "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "host": socket.gethostname(), "jobs": [j.to_json() for j in picked]}
            if a.code_coverage:
                meta["code_coverage"] = True
            write_json_atomic(run_dir / RUN_FILE, meta)
    except (SuiteError, OSError, ValueError, KeyError) as e:
        print(f"regress: error: {e}", file=sys.stderr)
        return 2
    (run_dir / "jobs").mkdir(exist_ok=True)
    if a.code_coverage or meta.get("code_coverage"):
        # inherited by every job's process tree (local children, LocalCluster workers); a resumed run
        # keeps the build kind it started with
        os.environ[CODE_COVERAGE_ENV] = "1"
        meta["code_coverage"] = True
    todo = []
    for j in picked:
        rec = _read_record(run_dir, j.name)
        if (rec is None or rec.get("interrupted")  # cut short by Ctrl-C/SIGTERM: it has no verdict
                or (a.retry_failed and rec.get("status") in ("error", "timeout"))):
            todo.append(j)
    walls = _last_walls(out)
    if not a.in_order:
        todo = longest_first(todo, walls)
    suites_file = pathlib.Path(meta["suites_file"])
    max_rss = _default_max_rss(a.jobs) if a.max_rss_mb is None else a.max_rss_mb
    executor = (DaskExecutor(a.jobs, a.scheduler, max_rss) if a.executor == "dask"
                else LocalExecutor(a.jobs, max_rss))
    show = _progress(a.progress, suite_name, run_dir.name, todo, len(picked) - len(todo), walls, a.jobs)
    if a.resume:
        show.note(f"resuming {run_dir.name}: {len(picked) - len(todo)} of {len(picked)} jobs recorded,"
                  f" {len(todo)} to run")

    def done(rec: Record) -> None:
        write_json_atomic(_record_path(run_dir, rec["name"]), rec)
        show.done(rec)

    t0 = time.monotonic()
    session = {"started": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "jobs": len(todo),
               "executor": executor.name, "workers": a.jobs}
    interrupted, broken = False, ""
    cut: list[Record] = []

    def cut_short(rec: Record) -> None:
        """A job killed because the run was stopped: recorded (so the run says so), rerun by --resume."""
        why = stopped.get("signal", "SIGINT")
        rec["reason"] = rec["reason"].replace("the run was stopped", f"the run was stopped by {why}", 1)
        cut.append(rec)
        done(rec)

    with _sigterm_as_interrupt() as stopped, show:
        guard = f"memory guard {max_rss:.0f} MB per job" if max_rss else "no memory guard"
        show.note(f"run {run_dir.name}: {len(todo)} jobs, executor {executor.name}, {a.jobs} at a time,"
                  f" {guard}")
        try:
            executor.run(todo, run_dir, on_start=show.start, on_done=done, on_interrupted=cut_short,
                         rerun=lambda j: _rerun_cmd(j, suite_name, suites_file, meta.get("seed")))
        except KeyboardInterrupt:
            interrupted = True
            _record_still_running(show, todo, run_dir, cut_short,
                                  lambda j: _rerun_cmd(j, suite_name, suites_file, meta.get("seed")))
        except Exception as e:  # the executor itself (e.g. no scheduler at --scheduler): records kept
            traceback.print_exc()
            broken = f"{type(e).__name__}: {e}"
    session.update(wall_s=round(time.monotonic() - t0, 1), interrupted=interrupted or bool(broken))
    meta.setdefault("sessions", []).append(session)
    write_json_atomic(run_dir / RUN_FILE, meta)
    records = [r for r in (_read_record(run_dir, j.name) for j in picked) if r is not None]
    if broken:
        print(f"[regress] executor {executor.name} failed ({broken}): {len(records)}/{len(picked)} records"
              f" kept in {run_dir}; continue with --resume {run_dir.name}", flush=True)
        return 1
    if interrupted:
        why = stopped.get("signal", "SIGINT")
        resume = shlex.join([".venv/bin/python", "-m", "regressions.run", "--resume", run_dir.name]
                            + (["--out", str(a.out)] if out != OUT else []))
        if records:
            _finish(run_dir, suite_name, records, sum(s["wall_s"] for s in meta["sessions"]))
        else:
            _write_summary(run_dir, suite_name, records)
        names = ", ".join(r["name"] for r in cut) or "none was running"
        after = f"{why} after {time.monotonic() - t0:.0f} s"
        with (run_dir / "summary.md").open("a") as f:
            f.write(f"\n**Interrupted** by {after}: jobs cut short (recorded as `error`, `interrupted:"
                    f" true`): {names}; {len(picked) - len(records)} jobs have no record. Continue with"
                    f" `{resume}`.\n")
        _link_latest(out, run_dir)
        print(f"[regress] interrupted by {after}: {len(records)}/{len(picked)} records kept in {run_dir}"
              f" (cut short: {names}); summary.md and {out / 'latest'} written; continue with: {resume}",
              flush=True)
        for r in cut:
            print(f"[regress]   rerun {r['name']} alone: {r['rerun']}", flush=True)
        return 130
    reports_ok = _finish(run_dir, suite_name, records, sum(s["wall_s"] for s in meta["sessions"]))
    _link_latest(out, run_dir)
    summary = run_dir / "summary.md"
    if summary.exists():
        print(summary.read_text(), end="")
    bad = [r["name"] for r in records if not r["passed"]]
    print(f"[regress] {len(records) - len(bad)}/{len(picked)} jobs passed in {time.monotonic() - t0:.0f} s;"
          f" records in {run_dir}" + (f"; not passed: {', '.join(bad)}" if bad else ""), flush=True)
    return 0 if not bad and len(records) == len(picked) and reports_ok else 1


if __name__ == "__main__":
    sys.exit(main())
