"""A run streams instead of accumulating: the folds the env uses equal the list-based rules they
replaced, and their memory does not grow with the length of the run (issue 9).

Simulator-free except the last test, which streams a Program through a ring much smaller than
the Program on the 4x4 build (refilled in chunks while it runs) and checks it is seamless.
"""

from __future__ import annotations

import pathlib
import random
import tracemalloc

import numpy as np
import pytest

from golden.isa import Counter, HwConfig, Opcode, decode
from golden.program import Program
from golden.sim import simulate
from tb.bfm import memfile, translog
from tb.cov.probe import REJECTED, Bins, program_bins, static_bins
from tb.cov.run_bins import BusTally, FeedTally, bus_bins_reference, feed_bins, wstrb_bins
from tb.env.cfg import RunKnobs
from tb.env.mem_monitor import fold_log
from tb.seq_lib.errors import error_cases
from tb.seq_lib.examples import gemm_program
from tb.seq_lib.program_gen import random_program

_REPLAY_POINTS = {"gemm.acc_wrap", "ppu.shift", "ppucfg.combo", "ppu.pwl_segment", "ppu.sat32", "ppu.sat8"}
"""The probe's value bins (golden replay); every other point of program_bins is a static bin."""
KNOBS = [RunKnobs().to_json(), RunKnobs.profile("stress").to_json(),
         RunKnobs(rd_latency=0, backpressure={"w": 0.2, "ar": 0.5}).to_json()]


def _synthetic_log(n: int, seed: int, *, proto_every: int = 0) -> str:
    """A log as the memory model writes it: lines in completion order, overlapping bursts, every
    response and length class, optionally PROTO lines in between."""
    rng = random.Random(seed)
    now = 0
    lines = []
    for i in range(n):
        now += rng.choice([0, 0, 1, 1, 2, 5, 40])
        kind = rng.choice("RRRW")
        ln = rng.choice([0, 0, 3, 15, 16, 200, 255])
        resp = rng.choice([0, 0, 0, 1, 2, 3])
        accept = now - rng.choice([0, 1, ln + 1, ln + 3, ln + 30])
        addr = rng.randrange(1 << 32)
        lines.append(f"{kind} {rng.randrange(16)} {addr:08x} {ln} {resp} {max(0, accept)} {now}")
        if proto_every and i % proto_every == 0:
            lines.append(f"PROTO AR id=1 addr={i:08x} len=0 size=3 burst=2 cycle={now}")
    return "\n".join(lines) + "\n"


def _fold_text(text: str, chunk: int) -> tuple[BusTally, list[translog.Transfer], list[str]]:
    data = text.encode()
    tally = BusTally()
    tail: list[translog.Transfer] = []
    bad: list[str] = []
    pieces = (data[i : i + chunk] for i in range(0, len(data), chunk))
    for b in translog.scan_bytes(pieces):
        tally.add_batch(b)
        tail = (tail + b.tail)[-translog.TAIL :]
        bad += b.violations
    return tally, tail, bad


@pytest.mark.parametrize("chunk", [61, 4096, 1 << 20])
@pytest.mark.parametrize("proto", [0, 97])
def test_log_fold_equals_list_parser(chunk: int, proto: int) -> None:
    text = _synthetic_log(3000, seed=chunk + proto, proto_every=proto)
    ref = translog.parse(text)
    tally, tail, bad = _fold_text(text, chunk)
    assert tail == ref.transfers[-translog.TAIL :]
    assert bad == ref.violations
    for k in KNOBS:
        got = {p: dict(t) for p, t in tally.bins(k).items()}
        want = {p: dict(t) for p, t in bus_bins_reference(ref.transfers, k).items()}
        assert got == want
    assert tally.rd.multi and sum(tally.rd.lens.values()) == len(ref.reads())


def test_overlap_rule_on_edges() -> None:
    """Back-to-back bursts ([a, b) then [b, c)) never overlap; a zero-length one never counts."""
    def bins(ts: list[tuple[int, int]]) -> dict[str, int]:
        tr = [translog.Transfer("R", 0, 0, 0, 0, a, b) for a, b in ts]
        t = BusTally()
        t.add_transfers(tr)
        ref = bus_bins_reference(tr, {})
        assert {p: dict(v) for p, v in t.bins({}).items()} == {p: dict(v) for p, v in ref.items()}
        return dict(ref["axi.outstanding"])

    assert bins([(0, 5), (5, 9), (9, 9), (9, 12)]) == {"rd_1": 1}
    assert bins([(0, 5), (4, 9)]) == {"rd_multi": 1}
    assert bins([(3, 3), (0, 10)]) == {"rd_1": 1}
    assert bins([(0, 10), (2, 3)]) == {"rd_multi": 1}  # given out of order: the list API sorts


def test_malformed_logs_are_named() -> None:
    good = _synthetic_log(50, seed=1)
    lines = good.splitlines()
    for bad_line, what in (("R 1 00000010 3 0 7", "unparseable"), ("Q 1 2 3 4 5 6", "unparseable"),
                           ("R 1 zz 3 0 5 7", "unparseable")):
        text = "\n".join([*lines[:20], bad_line, *lines[20:]]) + "\n"
        with pytest.raises(ValueError, match=rf"{what}.*{bad_line[:5]}") as e:
            _fold_text(text, 1 << 20)
        assert ":21:" in str(e.value)  # the line number
    late = "R 0 00000000 0 0 0 0\n"  # a read done at cycle 0 after later ones
    with pytest.raises(ValueError, match="completion order"):
        _fold_text(good + late, 1 << 20)


def test_log_fold_memory_does_not_grow(tmp_path: pathlib.Path) -> None:
    """Folding 10x more lines (10x more chunks) must not take more memory: one chunk at a time."""
    def peak(n: int) -> int:
        p = tmp_path / f"log{n}.txt"
        p.write_text(_synthetic_log(n, seed=n))
        tracemalloc.start()
        fold_log(p, chunk_bytes=1 << 16)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak(20_000), peak(200_000)
    assert big < 1.2 * small, (small, big)


def test_feed_tally_equals_cycle_list() -> None:
    rng = random.Random(5)
    for _ in range(200):
        bursts, cycles, c = [], [], rng.randrange(5)
        for _ in range(rng.randrange(6)):
            n = rng.choice([1, 1, 2, 5])
            bursts.append((c, n))
            cycles += range(c, c + n)
            c += n + rng.choice([0, 1, 3])  # 0: the next burst starts right after (still one apart)
        t = FeedTally()
        for cyc, n in bursts:
            t.add_burst(cyc, n)
        assert t.count == len(cycles)
        assert {p: dict(v) for p, v in t.bins().items()} == {p: dict(v) for p, v in feed_bins(cycles).items()}


@pytest.mark.parametrize("nbytes", [1, 15, 16, 17, 4096 * 3 + 5])
def test_streamed_hex_images_equal_text_conversions(tmp_path: pathlib.Path, nbytes: int) -> None:
    data = np.random.default_rng(nbytes).integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    p = tmp_path / "m.hex"
    words = memfile.write_image(p, data, 16, chunk_words=7)
    assert p.read_text() == memfile.bytes_to_hex(data, 16)
    assert memfile.read_image(p, 16, words, nbytes, chunk_words=5) == bytearray(data)
    p.write_text("// a comment\n" + p.read_text())  # not Verilator's layout: the checked text parser
    assert memfile.read_image(p, 16, words, nbytes) == bytearray(data)
    with pytest.raises(ValueError, match="words, expected"):
        memfile.read_image(p, 16, words + 1)


def test_streamer_refills_a_program_longer_than_its_ring(tmp_path: pathlib.Path) -> None:
    """Stream a Program through a 64-slot ring refilled 16 at a time: same result and the same
    cycle count as through the whole instruction memory (the refill never starves the streamer);
    a 2-slot ring refilled one instruction at a time (every refill waits for an empty slot) still
    runs correctly.  Without the refill these runs would stop at the ring's end (watchdog)."""
    from tb.run import run_programs

    hw = HwConfig(rows=4, cols=4)
    p = gemm_program(96, 32, 64, hw=hw, out_int32=False)
    assert len(p.insns) > 6 * 64
    res = run_programs([(p, RunKnobs(feed="stream")),
                        (p, RunKnobs(feed="stream", stream_ring=64, stream_chunk=16)),
                        (p, RunKnobs(feed="stream", stream_ring=2, stream_chunk=1))], hw=hw, out=tmp_path)
    whole, ring, _ = res.runs
    for r in res.runs:
        assert r.passed, r.report()
        assert r.accepted == len(p.insns) == r.counters[Counter.INSNS]
        np.testing.assert_array_equal(r.outputs["C"], whole.outputs["C"])
    assert ring.counters[Counter.CYCLES] == whole.counters[Counter.CYCLES]


def _static_reference(program: Program, n: int) -> dict[str, dict[str, int]]:
    """The static bins instruction by instruction, nothing memoised (what program_bins replaced)."""
    out: Bins = {}
    out_int32, prev_cmp = False, None
    for w in program.insns[:n]:
        try:
            ins = decode(w)
        except ValueError:
            continue
        static_bins(ins, program.hw, out, out_int32=out_int32, prev_cmp=prev_cmp)
        if ins.opcode == Opcode.PPUCFG:
            out_int32 = bool(ins.fields["out_int32"])
        if ins.queue is not None and ins.queue.name == "CMP":
            prev_cmp = ins
    return {p: dict(t) for p, t in out.items()}


def _wstrb_reference(program: Program, n: int) -> dict[str, dict[str, int]]:
    """Every STORE row judged, nothing skipped (what wstrb_bins replaced)."""
    bus = program.hw.axi_data_bits // 8
    out_int32, full, partial = False, False, False
    for w in program.insns[:n]:
        try:
            ins = decode(w)
        except ValueError:
            continue
        f = ins.fields
        if ins.opcode == Opcode.PPUCFG:
            out_int32 = bool(f["out_int32"])
        elif ins.opcode == Opcode.STORE:
            e = 4 if out_int32 else 1
            nbytes, contiguous = f["x_size"] * e, f["x_stride"] == e or f["x_size"] == 1
            for y in range(min(f["y_size"], 64)):
                aligned = (f["ext_addr"] + y * f["y_stride"]) % bus == 0 and nbytes % bus == 0
                full |= contiguous and (aligned or nbytes > 2 * bus)
                partial |= not (contiguous and aligned)
    hits = {k: 1 for k, v in (("full", full), ("partial", partial)) if v}
    return {"axi.wstrb": hits} if hits else {}


@pytest.mark.parametrize("hw", [HwConfig(rows=4, cols=4), HwConfig()])
def test_memoised_program_bins_equal_per_instruction_rules(hw: HwConfig) -> None:
    """The probe and the strobe bins evaluate each distinct instruction word once; the counts must
    equal those of evaluating every instruction (repeated words: a compiled-model pattern)."""
    progs = [random_program(s, hw) for s in range(12)]
    progs.append(gemm_program(64, 48, 40, hw=hw, out_int32=False))
    progs += [c.program for c in error_cases(2, hw)[:6]]
    for p in progs:
        g = simulate(p)
        for n in (len(p.insns), len(p.insns) // 2):
            got = {pt: dict(t) for pt, t in program_bins(p, g, accepted=n).items()}
            static = {pt: t for pt, t in got.items() if pt not in _REPLAY_POINTS}
            seen = g.error_index if g.error in REJECTED and 0 <= g.error_index < n else n  # as the probe
            assert static == _static_reference(p, seen)
            assert {pt: dict(t) for pt, t in wstrb_bins(p.insns[:n], p.hw).items()} == _wstrb_reference(p, n)
