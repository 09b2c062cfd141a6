"""Check tb/testplan.yaml against the code: every planned test and bin must exist.

``python -m tb.testplan_check`` exits non-zero (and ``tests/test_tb_testplan.py`` fails) when:

* a feature names a pyuvm test class that no ``tb/tests/*.py`` module defines with ``@pyuvm.test``;
* a ``Test:case`` names a case its test does not have (DirectedTest: ``DIRECTED``, ErrorTest: ``KINDS``);
* a ``pytest:file::func`` names a missing file or function;
* a bin is not in the coverage plan (``tb/cov/bins.py``), or a coverage-plan bin is claimed by no
  feature (an unplanned bin is coverage nobody is responsible for).
* the ``assertions`` list and the checkers of ``rtl/sva/`` differ: every ``NMX_ASSERT``/``NMX_ASSUME``
  rule must be listed once, with its checker module and kind, a test that makes it fire (``fires``) that
  exists, and - if given - a formal proof ``tb/formal/<formal>.sby`` that exists.

Test classes are found by parsing the test modules (no simulator, no cocotb import side effects).
"""

from __future__ import annotations

import ast
import pathlib
import re
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


SVA = REPO / "rtl" / "sva"
_SVA_RULE = re.compile(r"`NMX_(ASSERT|ASSUME)(?:_LOOP)?\((\w+),")


def sva_rules() -> dict[str, tuple[str, str]]:
    """Assertion label -> (checker module, "assert" | "assume") of every rule in rtl/sva/nmx_*_sva.sv."""
    out: dict[str, tuple[str, str]] = {}
    for f in sorted(SVA.glob("nmx_*_sva.sv")):
        for kind, name in _SVA_RULE.findall(f.read_text()):
            out[name] = (f.stem, kind.lower())
    return out


def check_assertions(plan: dict[str, Any]) -> list[str]:
    """Problems of the plan's ``assertions`` list against rtl/sva/ (empty list = consistent)."""
    problems: list[str] = []
    rules = sva_rules()
    listed: set[str] = set()
    for a in plan.get("assertions", []):
        name = a.get("name", "?")
        if name in listed:
            problems.append(f"assertion {name}: listed twice")
        listed.add(name)
        if name not in rules:
            problems.append(f"assertion {name}: no such rule in rtl/sva/")
            continue
        module, kind = rules[name]
        if a.get("module") != module:
            problems.append(f"assertion {name}: module {a.get('module')} but it is in {module}.sv")
        if a.get("kind", "assert") != kind:
            got = a.get("kind", "assert")
            problems.append(f"assertion {name}: kind {got} but it is an NMX_{kind.upper()}")
        if not a.get("rule"):
            problems.append(f"assertion {name}: no rule text")
        if not a.get("fires"):
            problems.append(f"assertion {name}: no test that makes it fire")
        for t in a.get("fires", []):
            if not (t.startswith("pytest:") and _pytest_exists(t[len("pytest:"):])):
                problems.append(f"assertion {name}: test {t} does not exist")
        if a.get("formal") and not (TB / "formal" / f"{a['formal']}.sby").exists():
            problems.append(f"assertion {name}: no proof tb/formal/{a['formal']}.sby")
    for name in sorted(set(rules) - listed):
        problems.append(f"assertion {name} ({rules[name][0]}) is not in the testplan")
    return problems


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
    problems += check_assertions(plan)
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    plan = yaml.safe_load(PLAN.read_text())
    n_tests = sum(len(f.get("tests", [])) for f in plan["features"])
    print(
        f"testplan: {len(plan['features'])} features, {n_tests} test references, {len(all_bins())} bins, "
        f"{len(plan.get('assertions', []))} assertions: "
        + ("OK" if not problems else f"{len(problems)} problem(s)")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
