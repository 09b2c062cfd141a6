"""The model-coverage matrix command (compiler/coverage_matrix.py, golden/models/coverage.py).

Runs the real command on two control rows (compile today, fidelity >= 0.99 cosine) and on a row
added here whose model sorts its input (``aten::sort``: no lowering, and none is planned), so the
failing-row path does not depend on which matrix rows the compiler covers on a given day.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch

from compiler import coverage_matrix as cm
from compiler.frontend import UnsupportedOpError
from golden.models import coverage


class _Sorts(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(x, dim=-1).values * 2.0


def _sorting_case() -> coverage.Instance:
    g = torch.Generator().manual_seed(0)
    xs = [(torch.randn(1, 8, generator=g),) for _ in range(coverage.N_CALIB + coverage.N_BATCH)]
    return _Sorts().eval(), xs[0], xs[:coverage.N_CALIB], xs[coverage.N_CALIB:]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, str]]:
    out = tmp_path_factory.mktemp("cov")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(coverage.CASES, "sorts", coverage.Case("sorts", "mlp", "sort of the input", _sorting_case))
        assert cm.main(["--only", "control_cnn", "control_gcn", "sorts", "--out", str(out)]) == 0
    doc = json.loads((out / "matrix.json").read_text())
    yield doc, (out / "matrix.md").read_text()


def test_controls_compile_with_fidelity(matrix: tuple[dict, str]) -> None:
    rows = {r["name"]: r for r in matrix[0]["rows"]}
    for name in ("control_cnn", "control_gcn"):
        r = rows[name]
        assert r["control"] and r["compiled"] and r["simulated"], r
        assert r["insns"] > 0 and r["compile_s"] > 0
        assert r["n_samples"] == coverage.N_BATCH == 8
        assert r["cosine_min"] >= 0.99, r
        assert r["top1"] >= 0.9, r
        assert "error" not in r


def test_failing_row_names_the_op(matrix: tuple[dict, str]) -> None:
    r = next(r for r in matrix[0]["rows"] if r["name"] == "sorts")
    assert r["compiled"] is False and r["stage"] == "compile"
    assert r["error_type"] == "UnsupportedOpError"
    assert r["error_op"] == "aten::sort.default"
    assert r["error"].startswith("NMX cannot lower op aten::sort.default")
    assert "\n" not in r["error"]
    assert any(m.startswith("aten::sort.default") for m in r["missing_ops"]), r["missing_ops"]
    md = matrix[1]
    assert "| sorts | mlp |" in md and "## Failures by root cause" in md
    assert "| control_cnn (control) |" in md


def test_one_line_and_broken_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    e = UnsupportedOpError("NMX cannot lower op aten::foo.default (node 'foo'): why\n"
                           "  at x.py:1\n  supported ops: ...")
    assert cm.one_line(e) == "NMX cannot lower op aten::foo.default (node 'foo'): why"
    assert cm.one_line(ValueError("\nbad\nmore")) == "ValueError: bad"

    def broken() -> coverage.Instance:
        raise RuntimeError("factory failed")
    monkeypatch.setitem(coverage.CASES, "broken", coverage.Case("broken", "x", "d", broken))
    r = cm.run_case("broken")
    assert r["compiled"] is False and r["stage"] == "build"
    assert r["error"] == "RuntimeError: factory failed"


def test_cases_are_seeded_and_tiny() -> None:
    a = coverage.CASES["control_gcn"].build()
    b = coverage.CASES["control_gcn"].build()
    sa, sb = a[0].state_dict(), b[0].state_dict()
    assert sa.keys() == sb.keys() and all((sa[k] == sb[k]).all() for k in sa)
    assert len(a[2]) == coverage.N_CALIB and len(a[3]) == coverage.N_BATCH
    assert not any((x[0] == y[0]).all() for x in a[2] for y in a[3])   # calibration and held-out differ
    assert a[1][0].shape[0] <= 30


def test_docs_table_replaces_only_the_table(matrix: tuple[dict, str], tmp_path) -> None:
    """``--docs``: the table of docs/compiler.md is regenerated in place, the prose around it kept."""
    md = tmp_path / "compiler.md"
    md.write_text(f"intro\n\n{cm.DOCS_HEADER}\n|---|\n| stale row |\n\nafter\n")
    cm.write_docs(matrix[0], md)
    text = md.read_text()
    assert text.startswith(f"intro\n\n{cm.DOCS_HEADER}\n") and text.endswith("|\n\nafter\n")
    assert "stale row" not in text and "| control_cnn (control) | control |" in text
    assert "| sorts | mlp | sort of the input | **no**: NMX cannot lower op aten::sort.default" in text
