"""The assertions of rtl/sva/ fire when their rule is broken, and fail the test with their name.

* ``test_every_assertion_fires``: each checker is built as a simulation top by itself and driven by
  tb/blocks/test_sva_fire.py through one directed violation per assertion (a forced signal); the
  scenarios of a checker must name exactly the assertions of its file, each must fire, and the legal
  baseline must fire nothing. The failures land in tb.sim_env.check_results' SimFailure by name.
* ``test_mutant_*``: a deliberately broken copy of rtl/ (NMX_RTL_DIR, tb.sim_env.rtl_dir) run through an
  ordinary block test: the assertion ends the simulation and the SimFailure names it (the block test's
  own checks may fail too: both are in the failure).

Builds are cached under build/sim/ (the mutant copies live in build/sva_mutants/, so their builds are
cached too). docs/verification.md, "Assertions", lists every rule and this file's test for it.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from tb import sim_env
from tb.blocks import run_block
from tb.blocks.test_sva_fire import CHECKERS

MUTANTS = sim_env.BUILD / "sva_mutants"


def assertion_names(checker: str) -> set[str]:
    """Labels of every NMX_ASSERT / NMX_ASSUME rule of rtl/sva/<checker>.sv."""
    text = (sim_env.RTL / sim_env.SVA_DIR / f"{checker}.sv").read_text()
    return set(re.findall(r"`NMX_ASSU?[A-Z]*(?:_LOOP)?\((\w+),", text))


def all_assertions() -> dict[str, str]:
    """Every assertion label -> its checker module."""
    out: dict[str, str] = {}
    for f in sorted((sim_env.RTL / sim_env.SVA_DIR).glob("nmx_*_sva.sv")):
        for n in assertion_names(f.stem):
            assert n not in out, f"assertion {n} in both {out[n]} and {f.stem}"
            out[n] = f.stem
    return out


def test_every_checker_has_scenarios() -> None:
    checkers = {f.stem for f in (sim_env.RTL / sim_env.SVA_DIR).glob("nmx_*_sva.sv")}
    assert checkers == set(CHECKERS)
    for c, (_params, _base, scen) in CHECKERS.items():
        assert set(scen) == assertion_names(c), f"{c}: scenarios vs assertions differ"


@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_every_assertion_fires(checker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    params, _base, scenarios = CHECKERS[checker]
    # outside pytest's runner branch, so the results file reaches check_results (as in tb.run)
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    with pytest.raises(sim_env.SimFailure) as exc:
        sim_env.run_cocotb(
            toplevel=checker,
            test_module="tb.blocks.test_sva_fire",
            parameters=params,
            sources=[*sim_env.rtl_sources([]), *sim_env.sva_sources()],
            build_args=["+define+NMX_SVA_NO_FINISH"],
            extra_env={"NMX_SVA_CHECKER": checker},
        )
    assert "assertion failed: NMX-SVA FAIL" in str(exc.value)
    run_dir = pathlib.Path(str(exc.value).split(": ", 1)[0]).parent  # "<results.xml>: failing tests: ..."
    fired = json.loads((run_dir / "sva_fire.json").read_text())
    assert fired["baseline"] == [], f"{checker}: the legal baseline fired {fired['baseline']}"
    missed = {name: fired.get(name) for name in scenarios if name not in fired.get(name, [])}
    assert not missed, f"{checker}: violations that did not fire their assertion (fired instead): {missed}"


def _mutant(name: str, file: str, old: str, new: str) -> pathlib.Path:
    """A copy of rtl/ (its *.sv) with one edit, in build/sva_mutants/<name>/.

    Files are rewritten only when their content changes, so the path, contents and timestamps stay the
    same from run to run and the mutant's Verilator build stays cached.
    """
    d = MUTANTS / name
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.sv"):
        if not (sim_env.RTL / f.name).exists():
            f.unlink()
    for f in sim_env.RTL.glob("*.sv"):
        text = f.read_text()
        if f.name == file:
            assert text.count(old) == 1, f"{file}: mutation site not found"
            text = text.replace(old, new)
        dst = d / f.name
        if not dst.exists() or dst.read_text() != text:
            dst.write_text(text)
    return d


@pytest.mark.parametrize(
    ("block", "cfg", "file", "old", "new", "assertion"),
    [
        # the FIFO's write pointer wraps one entry late (DEPTH 3: it reaches 3, the write is lost); the
        # assertion fires on the write, before the block test reads the lost entry back
        (
            "fifo",
            {"WIDTH": 16, "DEPTH": 3},
            "nmx_fifo.sv",
            "if (push) wr_ptr <= (wr_ptr == LAST_PTR) ? '0 : wr_ptr + PW'(1);",
            "if (push) wr_ptr <= (wr_ptr == LAST_PTR + PW'(1)) ? '0 : wr_ptr + PW'(1);",
            "a_fifo_ptr_range",
        ),
        # the ST engine raises WLAST on every beat
        (
            "store_engine",
            None,
            "nmx_store_engine.sv",
            "assign w_in.last       = burst_start ? (blen == BLEN_BITS'(1))"
            " : (w2_burst_left == BLEN_BITS'(1));",
            "assign w_in.last       = 1'b1;",
            "a_axi_wlast",
        ),
    ],
    ids=["fifo_wrap", "store_wlast"],
)
def test_mutant_fails_with_assertion_name(
    block: str,
    cfg: dict[str, int] | None,
    file: str,
    old: str,
    new: str,
    assertion: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from golden.isa import HwConfig

    d = _mutant(f"{block}_{assertion}", file, old, new)
    monkeypatch.setenv(sim_env.RTL_DIR_ENV, str(d))
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    hw = HwConfig(cols=4, acc_depth=64, vec_depth=32, axi_data_bits=128)
    with pytest.raises(sim_env.SimFailure) as exc:
        run_block(block, hw, params=cfg)
    assert f"NMX-SVA FAIL {assertion}" in str(exc.value), str(exc.value)
