"""Runs regression jobs, each in its own process tree: locally (``--jobs N`` at a time) or on Dask.

Every job runs in a fresh child process (``python -m regressions.executor --child ...``) started in a
new session, watched by :func:`execute_job` in the process that started it: it samples the RSS of the
job's whole process tree (the RTL jobs start Verilator simulators), kills the tree with SIGKILL when
the job exceeds its ``timeout_s`` or the memory guard, and turns whatever happened into a record of
docs/regressions.md ("Job record").  A job that hangs, segfaults or is killed by the kernel therefore
costs one record, never the run.  The child also watches its parent and kills its own tree when the
parent disappears, so killing the runner (even with SIGKILL) leaves no simulator behind.

:class:`LocalExecutor` runs ``workers`` jobs at a time on this machine (one watcher thread per running
job, one child process per job); :class:`DaskExecutor` submits the same :func:`execute_job` to a Dask
``distributed`` cluster (a LocalCluster, or any scheduler address: dask-jobqueue clusters on
SLURM/LSF/PBS hand out exactly such an address).  Both hand every finished record to ``on_done`` in
the runner's process, which writes it at once.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import psutil

from regressions.suite import Job

Record = dict[str, Any]
OnStart = Callable[[Job], None]
OnDone = Callable[[Record], None]
REPO = pathlib.Path(__file__).resolve().parent.parent
MAX_FAILURES = 50
"""At most this many failure dicts per record (docs/regressions.md)."""
_RUNNER_KEYS = ("name", "kind", "params", "tags", "status", "passed", "wall_s", "started", "host",
                "peak_rss_mb", "timeout_s")


class Interrupted(Exception):
    """The run is being stopped (Ctrl-C, SIGTERM): the job's tree was killed; ``record`` is its record
    (status ``error``, ``interrupted: true``), which the runner writes so that the run says which job
    was cut short and ``--resume`` reruns it."""

    def __init__(self, record: Record) -> None:
        super().__init__(record["name"])
        self.record = record


def _jsonable(obj: Any) -> Any:
    """json.dumps default: numpy scalars and arrays, paths, sets; anything else as its str."""
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def write_json_atomic(path: pathlib.Path, data: Any) -> None:
    """Write ``data`` as JSON to a temporary file beside ``path``, then rename it over ``path``: a
    reader (or a resumed run) sees the old file or the whole new one, never half a record."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_jsonable))
    os.replace(tmp, path)


def _tree(root: psutil.Process) -> tuple[int, list[psutil.Process]]:
    """Summed RSS (bytes) and the processes of ``root``'s tree as they are now."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, []
    rss = 0
    for p in procs:
        try:
            rss += p.memory_info().rss
        except psutil.Error:
            pass
    return rss, procs


def kill_tree(pid: int, seen: Iterable[psutil.Process] = ()) -> None:
    """SIGKILL ``pid``, its descendants, its process group (the child is a session leader, so this
    reaches grandchildren that were re-parented when their parent died) and every process of ``seen``
    still alive (psutil refuses to signal a reused pid); wait (at most 5 s) until they are gone."""
    procs = list(seen)
    try:
        root = psutil.Process(pid)
        procs += [root, *root.children(recursive=True)]
    except psutil.Error:
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in procs):
        time.sleep(0.02)


def _alive(p: psutil.Process) -> bool:
    """Running, not a zombie: a killed process whose parent (often init) has not reaped it yet holds
    no memory and runs nothing, so waiting for the reaping would only slow every kill down."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _started() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def make_record(job: Job, result: Record | None, *, status: str | None, reason: str = "", started: str,
                wall_s: float, peak_rss_mb: float, host: str, rerun: str,
                extra: Record | None = None) -> Record:
    """The job record of docs/regressions.md.  ``status`` None: judged from ``result["passed"]``.
    Runner keys (status, wall_s, ...) always come from here, never from what the job returned."""
    body = {k: v for k, v in (result or {}).items() if k not in _RUNNER_KEYS}
    if status is None:
        if not isinstance((result or {}).get("passed"), bool):
            status, reason = "error", f"TypeError: job kind {job.kind} returned no boolean 'passed'"
        else:
            status = "pass" if result and result["passed"] else "fail"
    if status == "pass":
        reason = ""
    else:
        reason = reason or str(body.get("reason") or "") or "failed without a reason"
    failures = list(body.pop("failures", []) or [])[:MAX_FAILURES]
    rec: Record = {"name": job.name, "kind": job.kind, "params": dict(job.params), "tags": list(job.tags)}
    rec.update(body)
    rec.update({"status": status, "passed": status == "pass",
                "reason": reason.splitlines()[0] if reason else "",
                "figures": dict(body.get("figures") or {}), "failures": failures,
                "wall_s": round(wall_s, 2), "started": started, "host": host,
                "peak_rss_mb": round(peak_rss_mb, 1), "timeout_s": job.timeout_s, "rerun": rerun})
    rec.update(extra or {})
    return rec


def _log_tail(path: pathlib.Path, lines: int = 1) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def execute_job(job: Job, run_dir: str | pathlib.Path, *, max_rss_mb: float = 0.0, rerun: str = "",
                stop: threading.Event | None = None) -> Record:
    """Run ``job`` in its own process tree and return its record (never raises, except Interrupted
    once ``stop`` is set: the tree is killed first and the exception carries the job's record).

    The job's files go to ``<run_dir>/<name>/``, its output to ``<run_dir>/logs/<name>.log``.
    """
    run_dir = pathlib.Path(run_dir)
    job_dir = run_dir / job.name
    job_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    log_path = run_dir / "logs" / f"{job.name}.log"
    result_path = job_dir / ".result.json"
    result_path.unlink(missing_ok=True)
    started, t0 = _started(), time.monotonic()
    cmd = [sys.executable, "-m", "regressions.executor", "--child", json.dumps(job.to_json()),
           str(job_dir), str(result_path)]
    status: str | None = None
    reason = ""
    peak, seen = 0, dict[int, psutil.Process]()
    with open(log_path, "ab") as log:
        log.write(f"== {job.name} ({job.kind}) {json.dumps(job.params)} on {socket.gethostname()}"
                  f" at {started}, timeout {job.timeout_s:g} s\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=REPO)
        try:
            root = psutil.Process(proc.pid)
            while True:
                rss, procs = _tree(root)
                seen.update((p.pid, p) for p in procs)
                peak = max(peak, rss)
                elapsed = time.monotonic() - t0
                if stop is not None and stop.is_set():
                    status = "interrupted"
                    reason = (f"Interrupted: the run was stopped after {elapsed:.1f} s of this job;"
                              " its process tree was killed")
                    break
                if elapsed > job.timeout_s:
                    status = "timeout"
                    reason = f"killed after {elapsed:.1f} s: exceeded timeout_s {job.timeout_s:g}"
                    break
                if max_rss_mb and rss > max_rss_mb * 2**20:
                    status = "error"
                    reason = (f"MemoryLimitExceeded: killed at {rss / 2**20:.0f} MB resident (process tree),"
                              f" over the memory guard of {max_rss_mb:.0f} MB (--max-rss-mb)")
                    break
                try:
                    proc.wait(timeout=0.05 if elapsed < 1 else 0.25)
                    break
                except subprocess.TimeoutExpired:
                    pass
        finally:
            kill_tree(proc.pid, seen.values())  # the whole tree on timeout; leftovers of a finished job
            proc.wait()
    wall = time.monotonic() - t0
    if status == "interrupted":
        raise Interrupted(make_record(
            job, None, status="error", reason=reason, started=started, wall_s=wall, peak_rss_mb=peak / 2**20,
            host=socket.gethostname(), rerun=rerun,
            extra={"log": str(log_path.relative_to(run_dir)), "interrupted": True}))
    out: dict[str, Any] = {}
    if status is None:
        try:
            out = json.loads(result_path.read_text())
        except (OSError, ValueError):
            status = "error"
            reason = (f"JobProcessDied: job process exited with code {proc.returncode} and wrote no result"
                      f" (log: {_log_tail(log_path) or 'empty'})")
    peak_mb = max(peak / 2**20, out.get("maxrss_kb", 0) / 1024, out.get("children_maxrss_kb", 0) / 1024)
    extra: Record = {"log": str(log_path.relative_to(run_dir))}
    error = out.get("error")
    if error:
        status, reason = "error", f"{error['type']}: {error['message']}"
        extra["traceback"] = error["traceback"]
    return make_record(job, out.get("result"), status=status, reason=reason, started=started, wall_s=wall,
                       peak_rss_mb=peak_mb, host=socket.gethostname(), rerun=rerun, extra=extra)


def _watch_parent() -> None:
    """In the job's process: kill the whole job tree when the process that started it is gone, so
    killing the runner (or a Dask worker) never leaves simulators running."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child(job_json: str, job_dir: str, result_path: str) -> int:
    """The job's process: run the kind, write its result (or the exception) atomically."""
    _watch_parent()
    out: dict[str, Any] = {"result": None, "error": None}
    try:
        from regressions import jobs

        spec = json.loads(job_json)
        result = jobs.KINDS[spec["kind"]](dict(spec["params"]), pathlib.Path(job_dir))
        if not isinstance(result, dict):
            raise TypeError(f"job kind {spec['kind']} returned {type(result).__name__}, not a record dict")
        out["result"] = result
    except (Exception, SystemExit) as e:  # the record says what the job raised
        out["error"] = {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()}
        traceback.print_exc()
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    write_json_atomic(pathlib.Path(result_path), out)
    return 0


class LocalExecutor:
    """``workers`` jobs at a time on this machine, one child process (tree) per job."""

    name = "local"

    def __init__(self, workers: int = 2, max_rss_mb: float = 0.0) -> None:
        if workers < 1:
            raise ValueError(f"--jobs {workers}: need at least 1")
        self.workers, self.max_rss_mb = workers, max_rss_mb

    def run(self, todo: list[Job], run_dir: pathlib.Path, *, rerun: Callable[[Job], str],
            on_start: OnStart, on_done: OnDone, on_interrupted: OnDone | None = None,
            skip: Callable[[Job], Record | None] | None = None,
            after: Callable[[Record], None] | None = None) -> None:
        """Run ``todo`` in its order; on Ctrl-C/SIGTERM (KeyboardInterrupt) kill every running job's
        tree, hand the records of jobs that ended meanwhile to ``on_done`` and those of the killed jobs
        to ``on_interrupted`` (dropped when None), then re-raise.  ``skip``, asked as each job's turn
        comes: a record returned there is handed to ``on_done`` instead of running the job (mutation
        campaigns: a mutant already killed needs no more jobs); ``after``, called in the worker thread
        with each record before that worker takes its next job, is what ``skip`` can rely on
        (``on_done`` runs later, on the caller's thread)."""
        stop = threading.Event()

        def one(job: Job) -> Record:
            if skip is not None and (rec := skip(job)) is not None:
                return rec
            on_start(job)
            rec = execute_job(job, run_dir, max_rss_mb=self.max_rss_mb, rerun=rerun(job), stop=stop)
            if after is not None:
                after(rec)
            return rec

        pool = cf.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="job")
        futures = [pool.submit(one, j) for j in todo]
        reported: set[cf.Future[Record]] = set()
        try:
            for fut in cf.as_completed(futures):
                on_done(fut.result())
                reported.add(fut)
        except BaseException as e:
            stop.set()  # every watcher kills its job's tree
            pool.shutdown(wait=True, cancel_futures=True)
            if isinstance(e, KeyboardInterrupt):
                for fut in futures:
                    if fut in reported or fut.cancelled():
                        continue
                    exc = fut.exception()
                    if exc is None:  # ended while the run was being stopped: a real record
                        on_done(fut.result())
                    elif isinstance(exc, Interrupted) and on_interrupted is not None:
                        on_interrupted(exc.record)
            raise
        pool.shutdown(wait=True)


def _dask_task(job: Job, run_dir: str, max_rss_mb: float, rerun: str, topic: str) -> Record:
    """On a Dask worker: announce the start (for the runner's progress display), run the job."""
    from distributed import get_worker

    try:
        get_worker().log_event(topic, {"started": job.name})
    except ValueError:  # not inside a worker (never on a real cluster): no start event, same record
        pass
    return execute_job(job, run_dir, max_rss_mb=max_rss_mb, rerun=rerun)


class DaskExecutor:
    """Jobs as Dask ``distributed`` tasks: on a LocalCluster of ``workers`` single-threaded worker
    processes, or on the cluster behind ``scheduler`` (``tcp://host:8786``; dask-jobqueue's
    SLURMCluster/LSFCluster/PBSCluster give one).  The run directory must be on a file system the
    workers share with the runner (the job's files are written there by the worker; the records by
    the runner)."""

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None, max_rss_mb: float = 0.0) -> None:
        self.workers, self.scheduler, self.max_rss_mb = workers, scheduler, max_rss_mb

    def run(self, todo: list[Job], run_dir: pathlib.Path, *, rerun: Callable[[Job], str],
            on_start: OnStart, on_done: OnDone, on_interrupted: OnDone | None = None) -> None:
        """Run ``todo`` on the cluster.  ``on_interrupted`` is never called: a cancelled task returns
        nothing (closing a LocalCluster kills its workers, whose jobs' parent watch kills their trees);
        the runner records the jobs that were running itself."""
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if self.scheduler:
            client = Client(self.scheduler, timeout="60s")
        else:
            cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        topic = f"nmx-regress-{uuid.uuid4().hex[:8]}"
        by_name = {j.name: j for j in todo}
        client.subscribe_topic(topic, lambda event: on_start(by_name[event[1]["started"]]))
        # A window of as many tasks as the cluster has worker threads, refilled as each ends.  All
        # at once, the scheduler placed the queue behind the first long job of one worker and left
        # the other idle (nightly on a two-worker LocalCluster, 2026-12-03: 46 jobs waited behind
        # verify_gcn_sbm while a worker had nothing to do).
        if cluster is not None:
            width = self.workers
        else:
            width = sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
        width = max(1, width)
        pending = list(todo)
        futures: dict[Any, Job] = {}

        def submit() -> Any:
            j = pending.pop(0)
            fut = client.submit(_dask_task, j, str(run_dir), self.max_rss_mb, rerun(j), topic,
                                key=f"{j.name}-{uuid.uuid4().hex[:8]}", pure=False)
            futures[fut] = j
            return fut

        try:
            running = as_completed([submit() for _ in range(min(width, len(pending)))])
            for fut in running:
                job = futures.pop(fut)
                if pending:
                    running.add(submit())
                try:
                    rec = fut.result()
                except Exception as e:  # the worker died or the task could not run: still a record
                    rec = make_record(job, None, status="error", reason=f"dask: {type(e).__name__}: {e}",
                                      started=_started(), wall_s=0.0, peak_rss_mb=0.0, host="?",
                                      rerun=rerun(job), extra={"traceback": traceback.format_exc()})
                on_done(rec)
        except BaseException:
            client.cancel(list(futures))
            raise
        finally:
            client.unsubscribe_topic(topic)
            client.close()
            if cluster is not None:
                cluster.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regressions.executor",
                                description="The process of one job (started by the regression runner).")
    p.add_argument("--child", nargs=3, metavar=("JOB_JSON", "JOB_DIR", "RESULT"), required=True)
    a = p.parse_args(argv)
    return _child(*a.child)


if __name__ == "__main__":
    sys.exit(main())
