"""The env's judgement logic without a simulator: scoreboard comparison, counter thresholds,
coverage probes and reports, transfer-log bins, hang diagnosis."""

from __future__ import annotations

import json

import pytest

from golden.isa import Counter, ErrorCode, HwConfig
from golden.sim import simulate
from tb.bfm.translog import Transfer
from tb.cov import report
from tb.cov.bins import POINTS, all_bins
from tb.cov.model import CoverageModel, from_bins
from tb.cov.probe import program_bins
from tb.cov.run_bins import bus_bins, feed_bins, status_bins, wstrb_bins
from tb.env.cfg import RunKnobs, watchdog_for
from tb.env.compare import Mismatch, compare_memories, untracked_diffs
from tb.env.counters import compare_counters
from tb.env.diagnose import describe_hang
from tb.env.run_ctx import rerun_command
from tb.env.verdict import RunVerdict
from tb.seq_lib.examples import gemm_program
from tb.seq_lib.program_gen import random_program


def test_scoreboard_reports_first_divergence() -> None:
    hw = HwConfig(rows=4, cols=4)
    p = random_program(5, hw)  # several layers
    gold = simulate(p)
    checked = [t for t in p.manifest["tensors"] if t["check"]]
    assert len(checked) >= 2
    bad = bytearray(gold.memory)
    first, last = checked[0], checked[-1]
    for t in (last, first):  # corrupt a later tensor too: the first in program order is reported first
        addr = t["addr"] + (t["strides"][0] if t["shape"][0] > 1 else 0)
        bad[addr] ^= 0x5A
    mm = compare_memories(p, gold.memory, bad)
    assert next(m.tensor for m in mm) == first["name"]
    m0 = mm[0]
    assert m0.layer == first["layer"] and m0.insn_range is not None
    assert m0.expected != m0.got and m0.n_wrong >= 1
    assert first["name"] in m0.describe() and "expected" in m0.describe()
    assert compare_memories(p, gold.memory, gold.memory) == []


def test_untracked_write_is_found() -> None:
    hw = HwConfig(rows=4, cols=4)
    p = gemm_program(8, 8, 8, hw=hw)
    gold = simulate(p)
    bad = bytearray(gold.memory)
    bad[-1] ^= 1  # padding byte after every tensor
    assert untracked_diffs(p, gold.memory, bad) == [(len(bad) - 1, gold.memory[-1], bad[-1])]
    assert compare_memories(p, gold.memory, bad) == []


def test_counter_thresholds() -> None:
    g = dict.fromkeys(Counter, 100)
    g[Counter.CYCLES] = 10_000
    r = dict(g)
    rep = compare_counters(r, g, ok_run=True, judge_cycles=True)
    assert not rep.failures and rep.cycle_ratio == 1.0
    r[Counter.CYCLES] = 30_000  # ratio 3: warn only
    rep = compare_counters(r, g, ok_run=True, judge_cycles=True)
    assert not rep.failures and rep.warnings
    r[Counter.CYCLES] = 50_000  # ratio 5: wildly off
    assert compare_counters(r, g, ok_run=True, judge_cycles=True).failures
    assert not compare_counters(r, g, ok_run=True, judge_cycles=False).failures  # back-pressure runs
    r = dict(g)
    r[Counter.DMA_RD_BYTES] = 101
    assert compare_counters(r, g, ok_run=True, judge_cycles=True).failures
    assert not compare_counters(r, g, ok_run=False, judge_cycles=True).failures  # after an error
    assert "CYCLES" in rep.table()


def test_verdict_json_roundtrip() -> None:
    hw = HwConfig(rows=4, cols=4)
    p = gemm_program(4, 4, 4, hw=hw)
    gold = simulate(p)
    bad = bytearray(gold.memory)
    bad[p.tensor("C")["addr"]] ^= 1
    v = RunVerdict(
        "x",
        3,
        False,
        failures=["boom"],
        mismatches=compare_memories(p, gold.memory, bad),
        rerun=rerun_command(program_file="p.nmxp", seed=3, cfg="4x4"),
    )
    v2 = RunVerdict.from_json(json.loads(json.dumps(v.to_json())))
    assert v2 == v
    text = v.report()
    assert "rerun with waves" in text and "--waves" in text and "tensor 'C'" in text


def test_probe_and_coverage_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hw = HwConfig(rows=4, cols=4)
    parts = []
    for s in range(6):
        p = random_program(s, hw)
        parts.append(program_bins(p, simulate(p)))
    model = CoverageModel()
    before = model.snapshot()
    for b in parts:
        model.sample_bins(b)
    after = model.snapshot()
    assert after["insn.opcode"]["GEMM"] > before["insn.opcode"]["GEMM"]
    with pytest.raises(KeyError):
        model.sample("insn.opcode", "NOPE")
    snap = from_bins(parts[0])
    s1 = report.write(tmp_path / "a_coverage.json", snap, {"name": "a"})
    report.write(tmp_path / "b_coverage.json", from_bins(parts[1]), {"name": "b"})
    merged = report.merge(
        [report.read(tmp_path / "a_coverage.json"), report.read(tmp_path / "b_coverage.json")]
    )
    assert merged["summary"]["hit"] >= s1["hit"]
    assert merged["points"]["insn.opcode"]["FINISH"] == 2
    assert merged["meta"]["merged"] == 2
    assert set(report.summarise(snap)["holes"]) <= all_bins()
    from tb.cov.merge import main as merge_main

    assert merge_main([str(tmp_path), "-o", str(tmp_path / "m.json")]) == 0


def test_run_bins() -> None:
    t = [
        Transfer("R", 0, 0x100, 0, 0, 10, 13),
        Transfer("R", 0, 0x200, 15, 2, 11, 80),
        Transfer("W", 0, 0x300, 255, 3, 50, 400),
        Transfer("W", 0, 0x0, 0, 0, 401, 402),
    ]
    k = RunKnobs.profile("stress").to_json()
    b = bus_bins(t, k)
    assert b["axi.rd_len"] == {"len1": 1, "len2_16": 1}
    assert b["axi.wr_len"]["len256"] == 1
    assert b["axi.rd_resp"]["SLVERR"] == 1 and b["axi.wr_resp"]["DECERR"] == 1
    assert b["axi.outstanding"]["rd_multi"] == 1 and b["axi.outstanding"]["wr_1"] == 1
    assert "r_gap" in b["axi.backpressure"]
    s = status_bins(ErrorCode.AXI_READ, {Counter.STALL_LD_MEM: 5})
    assert s["err.code"]["AXI_READ"] == 1 and s["status.stall"]["STALL_LD_MEM"] == 1
    assert feed_bins([1, 2, 5])["driver.gap"] == {"back_to_back": 1, "gaps": 1}
    w = wstrb_bins(gemm_program(5, 4, 7, hw=HwConfig(rows=4, cols=4)).insns, HwConfig(rows=4, cols=4))
    assert "partial" in w["axi.wstrb"]


def test_plan_points_are_unique() -> None:
    names = [p.name for p in POINTS]
    assert len(names) == len(set(names))
    assert all(len(set(p.bins)) == len(p.bins) for p in POINTS)


def test_knobs() -> None:
    k = RunKnobs.randomised(7)
    assert RunKnobs.randomised(7) == k
    assert RunKnobs.from_json(json.loads(json.dumps(k.to_json()))) == k
    assert watchdog_for(1000, RunKnobs.profile("stress")) > watchdog_for(1000, RunKnobs())
    assert RunKnobs(backpressure=0.25).backpressure == dict.fromkeys(("ar", "r", "aw", "w", "b"), 0.25)
    assert RunKnobs(backpressure={"r": 0.5}).backpressure["ar"] == 0.0


@pytest.mark.parametrize(("kw", "msg"), [
    ({"feed": "wires"}, "feed"), ({"backpressure": {"q": 0.1}}, "unknown channels"),
    ({"backpressure": 1.0}, r"\[0, 1\)"), ({"rd_latency": -1}, "latencies"),
])
def test_knobs_reject_bad_values(kw: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        RunKnobs(**kw)
    with pytest.raises(ValueError, match="unknown run knobs"):
        RunKnobs.from_json({"rd_latncy": 3})


def test_hang_description() -> None:
    hw = HwConfig(rows=4, cols=4)
    p = gemm_program(8, 8, 8, hw=hw)
    text = describe_hang(
        p,
        accepted=5,
        pending="#5 LOAD ...",
        insn_ready=0,
        growing={Counter.STALL_CMP_TOKEN: 256, Counter.CYCLES: 256},
        transfers=[Transfer("R", 0, p.tensor("A")["addr"], 0, 0, 1, 5)],
        mem_queues="memory model: 1 read bursts accepted and not finished",
        beat_bytes=16,
    )
    assert "accepted 5/" in text and "CMP engine head waits for a token" in text
    assert "<- #1 LOAD" in text  # instruction 0 is the PPUCFG


def test_failure_signatures_group_runs_that_fail_the_same_way() -> None:
    from tb.env.verdict import normalise

    m = Mismatch("conv1.out", "conv1", (10, 20), (0, 3), 5, 7, 12, 64, 0x1234)
    a = RunVerdict(name="a", seed=1, passed=False, failures=["1 checked tensor(s) differ"], mismatches=[m])
    assert a.signature == "tensor:conv1.out@conv1"
    hang = RunVerdict(name="b", seed=2, passed=False, failures=["watchdog: no done after 900 cycles"])
    assert hang.signature == "watchdog"
    err = RunVerdict(name="c", seed=3, passed=False, error="AXI_READ", golden_error="NONE",
                     failures=["error status: rtl AXI_READ@4, golden NONE@-1"])
    assert err.signature == "error:AXI_READ vs NONE"
    exc = "testbench exception: KeyError: bin {} at {}"
    e1 = RunVerdict(name="d", seed=4, passed=False, failures=[exc.format("0x40", 12)])
    e2 = RunVerdict(name="e", seed=5, passed=False, failures=[exc.format("0x80", 7)])
    assert e1.signature == e2.signature == "exception:KeyError:bin # at #"
    assert RunVerdict(name="f", seed=6, passed=True).signature == ""
    assert normalise("/work/x.bin differs at 0x3f, 12 bytes") == "# differs at #, # bytes"


def test_build_lock_serialises_builders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two processes building one model directory take turns (parallel regression jobs)."""
    import multiprocessing as mp
    import time

    from tb.sim_env import build_lock

    log = tmp_path / "log"

    def builder(tag: str) -> None:
        with build_lock(tmp_path / "model"):
            with open(log, "a") as f:
                f.write(f"{tag}+\n")
            time.sleep(0.3)
            with open(log, "a") as f:
                f.write(f"{tag}-\n")

    ctx = mp.get_context("fork")
    ps = [ctx.Process(target=builder, args=(t,)) for t in "ab"]
    for p in ps:
        p.start()
    for p in ps:
        p.join(10)
    lines = log.read_text().split()
    assert len(lines) == 4 and lines[0][0] == lines[1][0] and lines[2][0] == lines[3][0], lines


def test_every_shift_label_the_probe_can_emit_is_a_plan_bin() -> None:
    """Rounding-shift labels for every stage and every 6-bit shift are bins of ppu.shift.

    A nightly run once failed with ``KeyError: ppu.shift/pwl.clamp``: the probe could emit a label
    (PWL shift word 62 or 63) that the plan did not list."""
    from tb.cov.probe import _shift_label

    bins = all_bins()
    labels = {_shift_label(stage, s) for stage in ("requant", "row", "pwl") for s in range(64)}
    assert len(labels) == 9
    assert {f"ppu.shift/{lab}" for lab in labels} <= bins
