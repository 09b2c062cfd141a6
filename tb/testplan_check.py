"""Check tb/testplan.yaml against the code: every planned test and bin must exist.

``python -m tb.testplan_check`` exits non-zero (and ``tests/test_tb_testplan.py`` fails) when:

* a feature names a pyuvm test class that no ``tb/tests/*.py`` module defines with ``@pyuvm.test``;
* a ``Test:case`` names a case its test does not have (DirectedTest: ``DIRECTED``, ErrorTest: ``KINDS``);
* a ``pytest:file::func`` names a missing file or function;
* a bin is not in the coverage plan (``tb/cov/bins.py``), or a coverage-plan bin is claimed by no
  feature (an unplanned bin is coverage nobody is responsible for).

Test classes are found by parsing the test modules (no simulator, no cocotb import side effects).
"""

from __future__ import annotations

import ast
import pathlib
import sys
from typing import Any

import yaml

from tb.cov.bins import BY_NAME, all_bins

TB = pathlib.Path(__file__).resolve().parent
REPO = TB.parent
PLAN = TB / "testplan.yaml"


def pyuvm_tests() -> dict[str, pathlib.Path]:
    """Class name -> module of every ``@pyuvm.test()``-decorated class in tb/tests/."""
    out: dict[str, pathlib.Path] = {}
    for f in sorted((TB / "tests").glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                for d in node.decorator_list:
                    fn = d.func if isinstance(d, ast.Call) else d
                    if (isinstance(fn, ast.Attribute) and fn.attr == "test") or (
                        isinstance(fn, ast.Name) and fn.id == "test"
                    ):
                        out[node.name] = f
    return out


def test_cases() -> dict[str, set[str]]:
    from tb.seq_lib.directed import DIRECTED
    from tb.seq_lib.errors import KINDS

    return {"DirectedTest": set(DIRECTED) | {"reset_clears_buffers"}, "ErrorTest": set(KINDS)}


def _pytest_exists(ref: str) -> bool:
    file, _, func = ref.partition("::")
    p = REPO / file
    if not p.exists():
        return False
    tree = ast.parse(p.read_text())
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == func for n in tree.body)


def expand_bins(ref: str) -> set[str]:
    point, _, b = ref.partition("/")
    if point not in BY_NAME:
        return set()
    if b == "*":
        return {f"{point}/{x}" for x in BY_NAME[point].bins}
    return {ref} if b in BY_NAME[point].bins else set()


def check(plan: dict[str, Any] | None = None) -> list[str]:
    """All problems of the plan (empty list = consistent)."""
    plan = plan if plan is not None else yaml.safe_load(PLAN.read_text())
    problems: list[str] = []
    tests = pyuvm_tests()
    cases = test_cases()
    claimed: set[str] = set()
    ids: set[str] = set()
    for feat in plan.get("features", []):
        fid = feat.get("id", "?")
        if fid in ids:
            problems.append(f"feature {fid}: duplicate id")
        ids.add(fid)
        if not feat.get("tests"):
            problems.append(f"feature {fid}: no tests")
        for t in feat.get("tests", []):
            if t.startswith("pytest:"):
                if not _pytest_exists(t[len("pytest:") :]):
                    problems.append(f"feature {fid}: pytest {t[7:]} does not exist")
                continue
            cls, _, case = t.partition(":")
            if cls not in tests:
                problems.append(f"feature {fid}: test class {cls} is not a @pyuvm.test in tb/tests/")
            elif case and case not in cases.get(cls, set()):
                problems.append(f"feature {fid}: {cls} has no case {case!r}")
        for b in feat.get("bins", []):
            got = expand_bins(b)
            if not got:
                problems.append(f"feature {fid}: coverage bin {b} is not in tb/cov/bins.py")
            claimed |= got
    for b in sorted(all_bins() - claimed):
        problems.append(f"coverage bin {b} is claimed by no feature")
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    plan = yaml.safe_load(PLAN.read_text())
    n_tests = sum(len(f.get("tests", [])) for f in plan["features"])
    print(
        f"testplan: {len(plan['features'])} features, {n_tests} test references, {len(all_bins())} bins: "
        + ("OK" if not problems else f"{len(problems)} problem(s)")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
