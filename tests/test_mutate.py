"""Mutation testing (regressions/mutate.py): the operators' textual mutants on a small SV snippet,
deterministic sampling with stable triage keys, the score's treatment of triaged survivors, and one
real mutant of nmx_fifo killed by the cheapest existing test that sees it (the FIFO block test,
tb/blocks/test_fifo.py) through the regression executor.

Fast: the kill runs two FIFO block builds (the unmutated copy and the mutant), cached by content
under build/ so a warm run only simulates (a few seconds each).
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from regressions import mutate
from regressions.suite import Job

SNIPPET = """\
// a + b == c in a comment: never mutated
module m #(parameter int N = 4, localparam int W = N + 1) (input logic clk, input logic en,
  input logic [7:0] a, b, output logic [7:0] y, output logic [3:0] q, output logic z);
  logic [W-1:0] cnt;
  logic unused_x;
  assign y = a + b;
  assign unused_x = ^{a, b};
  always_ff @(posedge clk) begin
    if (en) q <= a[3:0];
    cnt <= (cnt == '0) ? W'(1) : cnt - W'(1);
  end
  always_comb begin
    z = 1'b0;
    for (int i = 0; i < 4; i++) z |= a[i*2 +: 2] != b[1:0] && !en;
  end
endmodule
"""


def _mutants(text: str = SNIPPET) -> dict[tuple[str, str], str]:
    """(operator, mutated line stripped) -> description, for every site of the snippet."""
    out = {}
    for s in mutate.file_sites("m.sv", text):
        new = mutate.apply(text, s)
        changed = [b for a, b in zip(text.splitlines(), new.splitlines(), strict=False) if a != b]
        line = changed[0].strip() if changed else ""
        out[(s.op, line)] = s.what
    return out


def test_operators_give_the_expected_textual_mutants() -> None:
    got = _mutants()
    expected = [
        ("arith", "assign y = a - b;"),
        ("stuck", "assign y = '0;"), ("stuck", "assign y = '1;"),
        ("cond", "if (!(en)) q <= a[3:0];"),
        ("drop", "if (en) ;"),
        ("slice", "if (en) q <= a[2:0];"), ("slice", "if (en) q <= a[3:1];"),
        ("eq", "cnt <= (cnt != '0) ? W'(1) : cnt - W'(1);"),
        ("const", "cnt <= (cnt == '1) ? W'(1) : cnt - W'(1);"),
        ("const", "cnt <= (cnt == '0) ? W'(2) : cnt - W'(1);"),
        ("arith", "cnt <= (cnt == '0) ? W'(1) : cnt + W'(1);"),
        ("cond", "cnt <= !((cnt == '0)) ? W'(1) : cnt - W'(1);"),
        ("const", "z = 1'b1;"),
        ("rel", "for (int i = 0; i <= 4; i++) z |= a[i*2 +: 2] != b[1:0] && !en;"),
        ("const", "for (int i = 1; i < 4; i++) z |= a[i*2 +: 2] != b[1:0] && !en;"),
        ("logic", "for (int i = 0; i < 4; i++) z &= a[i*2 +: 2] != b[1:0] && !en;"),
        ("logic", "for (int i = 0; i < 4; i++) z |= a[i*2 +: 2] != b[1:0] || !en;"),
        ("eq", "for (int i = 0; i < 4; i++) z |= a[i*2 +: 2] == b[1:0] && !en;"),
        ("slice", "for (int i = 0; i < 4; i++) z |= a[(i*2) + 1 +: 2] != b[1:0] && !en;"),
        ("cond", "for (int i = 0; i < 4; i++) z |= a[i*2 +: 2] != b[1:0] && en;"),
        ("drop", "for (int i = 0; i < 4; i++) ;"),
    ]
    for key in expected:
        assert key in got, (key, sorted(got))
    lines = [line for _, line in got]
    # never: the comment, the parameter list, declarations, the lint sink, the non-blocking `<=` itself
    assert not any("//" in ln or "parameter" in ln or "logic [W" in ln or "unused_x" in ln for ln in lines)
    assert not any(ln.startswith("q < a") or ln.startswith("cnt < (") for ln in lines)
    # a lone constant on the right is mutated once (const), not again as a stuck-at of the same value
    assert ("stuck", "z = '1;") not in got and ("stuck", "z = '0;") not in got
    assert {op for op, _ in got} == set(mutate.OPERATORS)


def test_sampling_is_deterministic_and_keys_are_stable(tmp_path: pathlib.Path) -> None:
    pop = mutate.all_mutants(mutate.RTL)
    assert len(pop) > 1000 and len({m.key for m in pop}) == len(pop) and len({m.id for m in pop}) == len(pop)
    a, b = mutate.sample(pop, 25, seed=7), mutate.sample(pop, 25, seed=7)
    assert [m.key for m in a] == [m.key for m in b]
    assert [m.key for m in a] != [m.key for m in mutate.sample(pop, 25, seed=8)]
    assert mutate.sample(list(reversed(pop)), 25, seed=7) == a  # independent of the input order
    # a triage key names the edit, not the line number: an unrelated line added above keeps every key
    keys = {m.key: m.line for m in mutate.make_mutants({"m.sv": SNIPPET}, mutate.file_sites("m.sv", SNIPPET))}
    moved = "// one more comment line\n" + SNIPPET
    again = {m.key: m.line for m in mutate.make_mutants({"m.sv": moved}, mutate.file_sites("m.sv", moved))}
    assert set(again) == set(keys) and all(again[k] == keys[k] + 1 for k in keys)
    # packages are never mutated; --modules narrows to files
    assert not any(m.file.endswith("_pkg.sv") for m in pop)
    assert {m.file for m in mutate.all_mutants(mutate.RTL, ["nmx_fifo"])} == {"nmx_fifo.sv"}


def test_score_excludes_triaged_equivalents(tmp_path: pathlib.Path) -> None:
    pop = mutate.all_mutants(mutate.RTL, ["nmx_fifo"])[:4]
    job = Job(name="j", kind="_test_block", params={}, timeout_s=60)
    (tmp_path / "jobs").mkdir()
    for m, status in zip(pop[:3], ("fail", "pass", "pass"), strict=True):
        (tmp_path / "jobs" / f"{m.id}.j.json").write_text(json.dumps({"status": status, "wall_s": 1.0}))
    lints = {m.id: (True, "") for m in pop[:3]} | {pop[3].id: (False, "%Error: x")}
    tri = {pop[1].key: {"verdict": "equivalent", "reason": "no observer"}}
    res = mutate.summarise(pop, [job], lints, tmp_path, tri, {})
    st = {r["id"]: r["status"] for r in res["mutants"]}
    assert [st[m.id] for m in pop] == ["killed", "survived", "survived", "stillborn"]
    assert res["counts"]["equivalent"] == 1 and res["score"] == 1 / 2 and res["score_raw"] == 1 / 3
    assert res["mutants"][2]["triage"]["verdict"] == "untriaged"
    assert "untriaged" in mutate.report_md({**res, "run_id": "r", "suite": "s", "seed": 1, "population": 4,
                                            "sampled": 4, "jobs": ["j"], "wall_s": 1, "s_per_mutant": 1,
                                            "lint_s": 1})


def test_campaign_builds_name_the_same_environment_as_the_testbench(monkeypatch) -> None:
    """mutate.py names tb/sim_env's variables without importing it: they must be the same names, and
    the C++ optimisation a campaign asks for is part of every build's cache key (no -O2 build reused)."""
    from tb import sim_env

    assert (mutate.RTL_DIR_ENV, mutate.OPT_FAST_ENV) == (sim_env.RTL_DIR_ENV, sim_env.OPT_FAST_ENV)
    monkeypatch.delenv(sim_env.OPT_FAST_ENV, raising=False)
    assert "OPT_FAST=-O2" in sim_env.make_vars()
    monkeypatch.setenv(sim_env.OPT_FAST_ENV, "-O0")
    assert "OPT_FAST=-O0" in sim_env.make_vars()
    monkeypatch.setenv(sim_env.OPT_FAST_ENV, "-O9")
    with pytest.raises(ValueError, match="NMX_OPT_FAST='-O9'"):
        sim_env.make_vars()
    # a child process inherits the parent's MAKEFLAGS: its own setting must replace, not keep, it
    monkeypatch.setenv("MAKEFLAGS", "-j2 -- CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2")
    monkeypatch.setenv(sim_env.OPT_FAST_ENV, "-O0")
    sim_env.setup_verilator()
    assert os.environ["MAKEFLAGS"].split() == ["-j2", "--", "CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O0"]


def test_repo_triage_file_is_valid() -> None:
    tri = mutate.load_triage()
    assert all(t["verdict"] in ("equivalent", "hole") and t["reason"].strip() for t in tri.values())


def test_a_fifo_mutant_is_killed_by_the_fifo_block_test(tmp_path: pathlib.Path) -> None:
    """count + 1 -> count - 1 on a push: the block test's count check fails at the first push."""
    fifo = [m for m in mutate.all_mutants(mutate.RTL, ["nmx_fifo"]) if m.op == "arith"
            and "-        2'b10:   count <= count + CW'(1);" in m.diff]
    assert len(fifo) == 1, [m.diff for m in fifo]
    suites = tmp_path / "suites.yaml"
    suites.write_text("suites:\n  tiny:\n    - {name: block_fifo, kind: _test_block, params: {block: fifo,"
                      " params: {WIDTH: 16, DEPTH: 4}}, timeout_s: 900, tags: [rtl, fifo, 4x4]}\n")
    res = mutate.campaign(suite="tiny", suites_file=suites, mutants=[fifo[0].id], jobs=1,
                          out=tmp_path / "out", keep_builds=True, min_timeout_s=900, log=lambda s: None)
    assert res["baseline"]["block_fifo"]["status"] == "pass"  # the unmutated copy passes the same job
    (row,) = res["mutants"]
    assert row["status"] == "killed" and row["cells"] == {"block_fifo": "killed"}, row
    assert row["reasons"]["block_fifo"].startswith("block fifo: failing")
    assert res["score"] == 1.0 and res["counts"]["killed"] == 1
    run = (tmp_path / "out" / "latest").resolve()
    assert json.loads((run / "results.json").read_text())["score"] == 1.0
    assert "| `" + row["id"] + "` | nmx_fifo.sv:" in (run / "report.md").read_text()


def test_first_kill_skips_a_killed_mutants_other_jobs(tmp_path: pathlib.Path) -> None:
    """--first-kill: two jobs that both kill the FIFO mutant; only the first runs for it (the same
    block build as the test above, so seconds), the score is unchanged and the report says so."""
    fifo = [m for m in mutate.all_mutants(mutate.RTL, ["nmx_fifo"]) if m.op == "arith"
            and "-        2'b10:   count <= count + CW'(1);" in m.diff]
    suites = tmp_path / "suites.yaml"
    entry = ("kind: _test_block, params: {block: fifo, params: {WIDTH: 16, DEPTH: 4}}, timeout_s: 900,"
             " tags: [rtl]")
    suites.write_text(f"suites:\n  two:\n    - {{name: fifo_a, {entry}}}\n    - {{name: fifo_b, {entry}}}\n")
    res = mutate.campaign(suite="two", suites_file=suites, mutants=[fifo[0].id], jobs=1, first_kill=True,
                          out=tmp_path / "out", keep_builds=True, min_timeout_s=900, log=lambda s: None)
    assert {b["status"] for b in res["baseline"].values()} == {"pass"}  # the baseline runs every job
    (row,) = res["mutants"]
    assert row["status"] == "killed" and list(row["cells"].values()) == ["killed"], row
    assert len(list((tmp_path / "out" / "latest" / "jobs").glob(f"{row['id']}.*.json"))) == 1
    assert res["score"] == 1.0 and res["first_kill"] is True
    assert "first-kill campaign" in ((tmp_path / "out" / "latest") / "report.md").read_text()
