"""tb/formal: the bind expansion, the proofs' file lists, and the proofs themselves.

``test_all_proofs_pass`` runs every proof (what ``make formal`` runs: about a minute on this 2-core
machine, under the two minutes `make test` allows; docs/verification.md "Formal proofs"); the nightly
suite also runs them as the regression job ``formal_proofs`` (kind ``formal``), recorded in its dashboard.
"""

from __future__ import annotations

import pathlib
import re

import yaml

from tb import formal, sim_env

SVA = sim_env.RTL / sim_env.SVA_DIR


def test_every_checker_is_bound() -> None:
    b = formal.binds(SVA)
    for f in SVA.glob("nmx_*_sva.sv"):
        target = f.stem[: -len("_sva")]
        assert target in b and len(b[target]) == 1, f"{f.name}: no single bind into {target}"
        assert b[target][0].startswith(f"{f.stem} "), b[target]
        assert (sim_env.RTL / f"{target}.sv").exists()


def test_expand_binds_inserts_before_endmodule(tmp_path: pathlib.Path) -> None:
    src = sim_env.RTL / "nmx_fifo.sv"
    text = formal.expand_binds(src, formal.binds(SVA)["nmx_fifo"])
    body, _, tail = text.rpartition("endmodule")
    assert "nmx_fifo_sva #(.WIDTH(WIDTH), .DEPTH(DEPTH)) u_fifo_sva (.*);" in body.splitlines()[-1]
    assert tail.strip() == ": nmx_fifo"
    assert src.read_text() != text and src.read_text().count("u_fifo_sva") == 0  # rtl/ untouched


def _sby_files(name: str) -> set[str]:
    text = (formal.HERE / f"{name}.sby").read_text()
    files = text.split("[files]", 1)[1]
    return {
        pathlib.Path(ln.strip()).name for ln in files.splitlines() if ln.strip() and not ln.startswith("#")
    }


def test_proofs_cover_their_checkers() -> None:
    """Every proof reads the checker of every RTL module it reads; the testplan's ``formal`` entries name
    proofs that read the assertion's checker."""
    for name in formal.PROOFS:
        files = _sby_files(name)
        for f in files:
            stem = f[:-3]
            if (sim_env.RTL / f).exists() and not stem.endswith("_pkg") and (SVA / f"{stem}_sva.sv").exists():
                assert f"{stem}_sva.sv" in files, f"{name}.sby reads {f} without its checker"
        script = (formal.HERE / f"{name}.sby").read_text().split("[script]", 1)[1].split("[files]")[0]
        read = set(re.findall(r"(\w+\.sv)", script))
        assert read <= files, f"{name}.sby reads files it does not list: {read - files}"
    plan = yaml.safe_load((sim_env.REPO / "tb" / "testplan.yaml").read_text())
    for a in plan["assertions"]:
        if a.get("formal"):
            assert f"{a['module']}.sv" in _sby_files(a["formal"]), a["name"]


def test_all_proofs_pass(tmp_path: pathlib.Path) -> None:
    """Every proof of tb/formal (what `make formal` runs) passes: k-induction of the FIFO, token-unit,
    dispatcher and burst-splitter assertions (53 s on this machine at a load of about 13)."""
    results = formal.run(out=tmp_path / "formal", quiet=True)
    assert {r.name for r in results} == set(formal.PROOFS)
    bad = [f"{r.name}:{r.task} {r.status}\n{r.log[-3000:]}" for r in results if not r.passed]
    assert not bad, "\n".join(bad)
