"""tb/testplan.yaml names only tests, cases and coverage bins that exist, and claims every bin."""

from __future__ import annotations

from tb.testplan_check import check, pyuvm_tests


def test_testplan_consistent() -> None:
    assert check() == []


def test_checker_catches_missing_items() -> None:
    plan = {
        "features": [
            {
                "id": "x",
                "tests": ["NoSuchTest", "DirectedTest:nope", "pytest:tests/nope.py::f"],
                "bins": ["insn.opcode/NOPE"],
            }
        ]
    }
    problems = check(plan)
    assert any("NoSuchTest" in p for p in problems)
    assert any("nope" in p for p in problems)
    assert any("insn.opcode/NOPE" in p for p in problems)
    assert any("claimed by no feature" in p for p in problems)
    assert {"RandomTest", "DirectedTest", "ErrorTest", "ProgramFileTest"} <= set(pyuvm_tests())
