"""Regression runner: runs a suite of jobs (regressions/suites.yaml) and writes one result record per job.

Every job's record is written to ``build/regress/<run-id>/<job>.json`` the moment the job ends, so a
crash or timeout later in the suite loses nothing already computed.  At the end a summary
(``summary.json`` and ``summary.md``) lists pass/fail, wall time and the key figures of each job,
and the process exits non-zero if any job failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import sys
import time
import traceback
from typing import Any

import yaml

from regressions import jobs

REPO = pathlib.Path(__file__).resolve().parent.parent
SUITES = pathlib.Path(__file__).resolve().parent / "suites.yaml"


def load_suite(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(SUITES.read_text())
    suites = data.get("suites", {})
    if name not in suites:
        raise SystemExit(f"unknown suite {name!r}; suites in {SUITES.name}: {sorted(suites)}")
    out = suites[name]
    for i, job in enumerate(out):
        for key in ("name", "kind", "params"):
            if key not in job:
                raise SystemExit(f"{SUITES.name}: suite {name} job #{i} lacks '{key}'")
        if job["kind"] not in jobs.KINDS:
            raise SystemExit(f"{SUITES.name}: job {job['name']}: unknown kind {job['kind']!r};"
                             f" known: {sorted(jobs.KINDS)}")
    return out


def run_job(job: dict[str, Any], outdir: pathlib.Path) -> dict[str, Any]:
    """Run one job, never raising: failures become records with the traceback."""
    start = time.time()
    rec: dict[str, Any] = {"name": job["name"], "kind": job["kind"], "params": job["params"]}
    try:
        result = jobs.KINDS[job["kind"]](dict(job["params"]), outdir / job["name"])
        rec.update(result)
        rec.setdefault("passed", False)
    except Exception as exc:  # a job's failure must not stop the suite
        rec["passed"] = False
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    rec["wall_s"] = round(time.time() - start, 2)
    (outdir / f"{job['name']}.json").write_text(json.dumps(rec, indent=2, default=str))
    return rec


def summarise(records: list[dict[str, Any]], outdir: pathlib.Path, suite: str) -> str:
    lines = [f"# Regression `{suite}` — {outdir.name}", "",
             "| job | result | wall s | figures |", "|---|---|---|---|"]
    for r in records:
        figs = ", ".join(f"{k}={v}" for k, v in r.get("figures", {}).items())
        verdict = "PASS" if r["passed"] else f"FAIL ({r.get('error') or r.get('reason', '')})"
        lines.append(f"| {r['name']} | {verdict} | {r['wall_s']} | {figs} |")
    n_pass = sum(r["passed"] for r in records)
    lines += ["", f"**{n_pass}/{len(records)} jobs passed.**"]
    text = "\n".join(lines) + "\n"
    (outdir / "summary.md").write_text(text)
    (outdir / "summary.json").write_text(json.dumps(
        {"suite": suite, "passed": n_pass, "total": len(records), "jobs": records}, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regressions.run", description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="default")
    p.add_argument("--only", action="append", default=[], help="run only jobs with these names")
    p.add_argument("--out", type=pathlib.Path, default=REPO / "build" / "regress")
    a = p.parse_args(argv)
    suite = load_suite(a.suite)
    if a.only:
        suite = [j for j in suite if j["name"] in a.only]
        if not suite:
            raise SystemExit(f"--only {a.only}: no such job in suite {a.suite}")
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{a.suite}"
    outdir = a.out / run_id
    outdir.mkdir(parents=True, exist_ok=True)
    records = []
    for job in suite:
        print(f"[regress] {job['name']} ...", flush=True)
        rec = run_job(job, outdir)
        records.append(rec)
        print(f"[regress] {job['name']}: {'PASS' if rec['passed'] else 'FAIL'} in {rec['wall_s']} s"
              + (f" — {rec.get('error') or rec.get('reason')}" if not rec["passed"] else ""), flush=True)
    print(summarise(records, outdir, a.suite))
    latest = a.out / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(outdir.name)
    print(f"[regress] records in {outdir}")
    return 0 if all(r["passed"] for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
