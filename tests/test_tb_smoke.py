"""Smoke set of the pyuvm testbench on the RTL at 4x4 (part of `make test`, a few minutes).

Directed cases (every instruction and corner), a handful of random seeds with random timing, one
seed of every error kind, and one Program-file run through the public API.  Each test is one
simulator process on the cached 4x4 build (tb/top.py), through the one runner tb/run.py.
"""

from __future__ import annotations

import pathlib

import pytest

from golden.isa import Counter, HwConfig
from tb.cov.run_bins import bus_bins_reference
from tb.env.cfg import RunKnobs
from tb.env.mem_monitor import fold_log
from tb.run import SuiteResult, run_program, run_test
from tb.seq_lib.examples import gemm_program

HW = HwConfig(rows=4, cols=4)


def _assert_passed(res: SuiteResult) -> None:
    bad = [r for r in res.runs if not r.passed]
    assert not bad, "\n".join(r.report() for r in bad[:5])
    assert res.passed, res.sim_error


@pytest.fixture(scope="module")
def tmp_out(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("tb_smoke")


def test_directed_4x4(tmp_out) -> None:  # type: ignore[no-untyped-def]
    res = run_test("directed", cfg=HW, seeds="1", out=tmp_out / "directed")
    _assert_passed(res)
    names = {r.name for r in res.runs}
    assert {"load_inp_s1", "gemm_modes_s1", "ppu_stages_s1", "sync_chain_s1", "reset_clears_buffers"} <= names


def test_random_4x4(tmp_out) -> None:  # type: ignore[no-untyped-def]
    res = run_test("random", cfg=HW, seeds="0-7", out=tmp_out / "random")
    _assert_passed(res)
    assert len(res.runs) == 8
    assert res.coverage["summary"]["percent"] > 50


def test_errors_4x4(tmp_out) -> None:  # type: ignore[no-untyped-def]
    res = run_test("errors", cfg=HW, seeds="1", out=tmp_out / "errors")
    _assert_passed(res)
    codes = {r.error for r in res.runs}
    assert {
        "ILLEGAL_OPCODE",
        "ILLEGAL_FIELD",
        "BUF_RANGE",
        "AXI_READ",
        "AXI_WRITE",
        "TOKEN_DEADLOCK",
    } <= codes


def test_program_file_api(tmp_out) -> None:  # type: ignore[no-untyped-def]
    p = gemm_program(24, 20, 12, hw=HW, out_int32=False)
    r = run_program(p, hw=HW, seed=3, knobs=RunKnobs.profile("stress"), out=tmp_out / "program")
    assert r.passed, r.report()
    assert r.counters[Counter.MAC_CYCLES] == r.golden_counters[Counter.MAC_CYCLES]
    assert set(r.outputs) == {"C"} and r.outputs["C"].shape == (24, 12)
    assert "--waves" in r.rerun and r.coverage["hit"] > 0
    # the env folds the recorded transfer log in chunks: same AXI bins as the list-based rules
    log = r.transfers()
    assert len(log.transfers) > 20 and not log.violations
    tally, tail, bad, _ = fold_log(pathlib.Path(r.result_dir) / "transfers.log", chunk_bytes=256)
    k = RunKnobs.profile("stress").to_json()
    assert {p: dict(t) for p, t in tally.bins(k).items()} == {
        p: dict(t) for p, t in bus_bins_reference(log.transfers, k).items()}
    assert tail == log.transfers[-len(tail):] and bad == []


def test_watchdog_reports_and_recovers(tmp_out) -> None:  # type: ignore[no-untyped-def]
    """A run killed by the watchdog fails with a diagnosis; the next run in the process is clean."""
    from tb.run import run_programs

    p = gemm_program(40, 24, 20, hw=HW)
    res = run_programs([(p, RunKnobs(watchdog_cycles=60, gap_prob=0.5, gap_max=3)), (p, RunKnobs())], hw=HW,
                       out=tmp_out / "watchdog")
    hung, ok = res.runs
    assert not hung.passed and any("watchdog" in f for f in hung.failures)
    rep = hung.report()
    assert "dispatcher accepted" in rep and "rerun with waves" in rep
    assert ok.passed, ok.report()


def test_insn_monitor_sampling_mode(tmp_out, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past EXACT_INTERVALS accept intervals (4 here) with both feed bins seen, the instruction monitor
    samples the port instead of waking on every interval: the run still passes with the exact count
    (the scoreboard's INSNS cross-check) and both feed bins."""
    monkeypatch.setenv("NMX_INSN_MONITOR_EXACT", "4")
    p = gemm_program(40, 36, 24, hw=HW, out_int32=False)
    r = run_program(p, hw=HW, seed=5, knobs=RunKnobs(gap_prob=0.4, gap_max=3), out=tmp_out / "sampling")
    assert r.passed, r.report()
    assert r.counters[Counter.INSNS] == len(p.insns)
    assert not {"driver.gap/back_to_back", "driver.gap/gaps"} & set(r.coverage["holes"]), r.coverage["holes"]
