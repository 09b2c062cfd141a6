"""Coverage bins of a run's observed behaviour: error status, stall counters, AXI traffic, feeding.

Pure functions over what the monitors published (no simulator), so they are unit-tested with
synthetic transfer logs.  Where the transfer log cannot show a fact directly, the bin is *inferred*
and documented as such in docs/testbench.md:

* ``axi.backpressure/ar_stall|aw_stall|b_delay``: the log has handshake-completion cycles only, so
  these bins count when the channel's stall probability was non-zero and the channel carried
  traffic (with p >= 0.1 per cycle and at least 4 handshakes a stall is near certain);
* ``axi.backpressure/r_gap|w_stall``: a burst that took longer than latency + one beat per cycle;
* ``axi.wstrb``: derived from the STORE rows of the program (a row that does not start and end on
  a bus-beat boundary, or is not contiguous, needs partial strobes).
"""

from __future__ import annotations

import itertools
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from golden.isa import Counter, ErrorCode, HwConfig, Opcode, decode, opcode_bits
from tb.bfm.translog import Batch, Transfer
from tb.cov.bins import STALL_COUNTERS
from tb.cov.probe import Bins, _hit

RESP = {0: "OKAY", 1: "OKAY", 2: "SLVERR", 3: "DECERR"}
_LEN_EDGES = ((1, 1, "len1"), (2, 16, "len2_16"), (17, 255, "len17_255"), (256, 256, "len256"))


def _len_bin(beats: int) -> str:
    return "len1" if beats == 1 else "len2_16" if beats <= 16 else "len17_255" if beats < 256 else "len256"


def _max_overlap(iv: list[tuple[int, int]]) -> int:
    """Most half-open [accept, done) intervals open at once (the list-based reference of
    :class:`BusTally`'s running overlap check)."""
    ev = sorted([(a, 1) for a, _ in iv] + [(b, -1) for _, b in iv], key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


@dataclass
class _Channel:
    """Running facts of one direction (reads or writes) of the bus, folded transfer by transfer."""

    name: str
    n: int = 0
    lens: Tally = field(default_factory=Tally)
    resps: Tally = field(default_factory=Tally)
    multi: bool = False
    """Two transfers were outstanding at once (some half-open [accept, done) intervals overlap)."""
    slack: int | None = None
    """max(done - accept - beats): a burst slower than one beat per cycle after its accept."""
    last_done: int = -1
    open_until: int = -1
    """Latest done cycle of a non-empty interval so far (transfers arrive in done order)."""

    def add(self, ln: np.ndarray, resp: np.ndarray, ta: np.ndarray, td: np.ndarray, where: str) -> None:
        if not ln.size:
            return
        beats = ln + 1
        for lo, hi, label in _LEN_EDGES:
            k = int(np.count_nonzero((beats >= lo) & (beats <= hi)))
            if k:
                self.lens[label] += k
        if ((beats < 1) | (beats > 256)).any():
            raise ValueError(f"{where}: {self.name} burst length outside 1..256 beats")
        if ((resp < 0) | (resp > 3)).any():
            raise ValueError(f"{where}: {self.name} response outside 0..3")
        for code, label in RESP.items():
            k = int(np.count_nonzero(resp == code))
            if k:
                self.resps[label] += k
        if (ta > td).any():
            raise ValueError(f"{where}: a {self.name} transfer is done before it was accepted")
        if td[0] < self.last_done or (np.diff(td) < 0).any():
            raise ValueError(
                f"{where}: {self.name} transfers are not in completion order (done cycles decrease)"
            )
        # sorted by done: transfer i overlaps an earlier j iff accept_i < done_j for a non-empty j
        ends = np.where(ta < td, td, -1)
        before = np.maximum.accumulate(np.concatenate(([self.open_until], ends)))[:-1]
        self.multi = self.multi or bool((ta < before).any())
        self.open_until = max(self.open_until, int(ends.max()))
        self.last_done = int(td[-1])
        s = int((td - ta - beats).max())
        self.slack = s if self.slack is None else max(self.slack, s)
        self.n += int(ln.size)


class BusTally:
    """Everything the AXI bins need from a transfer log, folded batch by batch (no per-transfer state).

    Equal to the list-based rules of :func:`bus_bins` on the same transfers; the fold needs them in
    completion order, which is how the memory model writes its log.
    """

    def __init__(self) -> None:
        self.rd = _Channel("read")
        self.wr = _Channel("write")

    def add_batch(self, b: Batch, where: str = "transfer log") -> None:
        at = f"{where} (line {b.first_line}+)"
        r = b.is_read
        w = ~r
        self.rd.add(b.len[r], b.resp[r], b.t_accept[r], b.t_done[r], at)
        self.wr.add(b.len[w], b.resp[w], b.t_accept[w], b.t_done[w], at)

    def add_transfers(self, transfers: Iterable[Transfer]) -> None:
        ts = sorted(transfers, key=lambda t: t.t_done)
        if ts:
            self.add_batch(Batch(
                np.array([t.kind == "R" for t in ts], dtype=bool),
                *(np.array([getattr(t, c) for t in ts], dtype=np.int64)
                  for c in ("len", "resp", "t_accept", "t_done")),
                first_line=1,
            ), "transfers")

    def bins(self, knobs: Mapping[str, Any], out: Bins | None = None) -> Bins:
        out = out if out is not None else {}
        for point, tally in (("axi.rd_len", self.rd.lens), ("axi.rd_resp", self.rd.resps),
                             ("axi.wr_len", self.wr.lens), ("axi.wr_resp", self.wr.resps)):
            for label, n in tally.items():
                _hit(out, point, label, n)
        if self.rd.n:
            _hit(out, "axi.outstanding", "rd_multi" if self.rd.multi else "rd_1")
        if self.wr.n:
            _hit(out, "axi.outstanding", "wr_multi" if self.wr.multi else "wr_1")
        bp = knobs.get("backpressure", {}) or {}
        lat = int(knobs.get("rd_latency", 0))
        if self.rd.slack is not None and self.rd.slack > lat:
            _hit(out, "axi.backpressure", "r_gap")
        if bp.get("w", 0) > 0 and self.wr.slack is not None and self.wr.slack > 0:
            _hit(out, "axi.backpressure", "w_stall")
        for ch, label, n in (("ar", "ar_stall", self.rd.n), ("aw", "aw_stall", self.wr.n),
                             ("b", "b_delay", self.wr.n)):
            if bp.get(ch, 0) >= 0.1 and n >= 4:
                _hit(out, "axi.backpressure", label)
        return out


def bus_bins(transfers: Iterable[Transfer], knobs: Mapping[str, Any], out: Bins | None = None) -> Bins:
    """The AXI bins of a list of transfers (any order)."""
    tally = BusTally()
    tally.add_transfers(transfers)
    return tally.bins(knobs, out)


def bus_bins_reference(
    transfers: Iterable[Transfer], knobs: Mapping[str, Any], out: Bins | None = None
) -> Bins:
    """The original list-based rules, one Python object per transfer: the reference the fold is
    tested against (tests/test_tb_streaming.py), not used by the env."""
    out = out if out is not None else {}
    transfers = list(transfers)
    reads = [t for t in transfers if t.kind == "R"]
    writes = [t for t in transfers if t.kind == "W"]
    for t in reads:
        _hit(out, "axi.rd_len", _len_bin(t.beats))
        _hit(out, "axi.rd_resp", RESP[t.resp])
    for t in writes:
        _hit(out, "axi.wr_len", _len_bin(t.beats))
        _hit(out, "axi.wr_resp", RESP[t.resp])
    if reads:
        _hit(
            out,
            "axi.outstanding",
            "rd_multi" if _max_overlap([(t.t_accept, t.t_done) for t in reads]) > 1 else "rd_1",
        )
    if writes:
        _hit(
            out,
            "axi.outstanding",
            "wr_multi" if _max_overlap([(t.t_accept, t.t_done) for t in writes]) > 1 else "wr_1",
        )
    bp = knobs.get("backpressure", {}) or {}
    lat = int(knobs.get("rd_latency", 0))
    if any(t.t_done - t.t_accept > lat + t.beats for t in reads):
        _hit(out, "axi.backpressure", "r_gap")
    if bp.get("w", 0) > 0 and any(t.t_done - t.t_accept > t.beats for t in writes):
        _hit(out, "axi.backpressure", "w_stall")
    for ch, label, traffic in (
        ("ar", "ar_stall", reads),
        ("aw", "aw_stall", writes),
        ("b", "b_delay", writes),
    ):
        if bp.get(ch, 0) >= 0.1 and len(traffic) >= 4:
            _hit(out, "axi.backpressure", label)
    return out


def status_bins(error: ErrorCode, counters: Mapping[Counter, int], out: Bins | None = None) -> Bins:
    out = out if out is not None else {}
    _hit(out, "err.code", ErrorCode(error).name)
    for c in STALL_COUNTERS:
        if counters.get(c, 0) > 0:
            _hit(out, "status.stall", c.name)
    return out


class FeedTally:
    """Back-to-back vs gapped acceptance, folded from bursts of consecutive accepts.

    The instruction monitor reports each interval in which ``insn_fire`` stayed high as one burst
    (first cycle, count); within a burst instructions are one cycle apart, between bursts the gap is
    the distance from the previous burst's last accept.  Same bins as :func:`feed_bins` over the
    list of every accept cycle, without the list.
    """

    def __init__(self) -> None:
        self.count = 0
        self.last_cycle: int | None = None
        self.back_to_back = False
        self.gaps = False

    def add_burst(self, cycle: int, count: int) -> None:
        if count <= 0:
            return
        if self.last_cycle is not None:
            d = cycle - self.last_cycle
            self.back_to_back |= d == 1
            self.gaps |= d > 1
        if count > 1:
            self.back_to_back = True
        self.count += count
        self.last_cycle = cycle + count - 1

    def bins(self, out: Bins | None = None) -> Bins:
        out = out if out is not None else {}
        if self.back_to_back:
            _hit(out, "driver.gap", "back_to_back")
        if self.gaps:
            _hit(out, "driver.gap", "gaps")
        return out


def feed_bins(cycles: list[int], out: Bins | None = None) -> Bins:
    """Back-to-back vs gapped acceptance, from the accepted-instruction cycles."""
    out = out if out is not None else {}
    deltas = [b - a for a, b in itertools.pairwise(cycles)]
    if any(d == 1 for d in deltas):
        _hit(out, "driver.gap", "back_to_back")
    if any(d > 1 for d in deltas):
        _hit(out, "driver.gap", "gaps")
    return out


def wstrb_bins(words: Iterable[int], hw: HwConfig, out: Bins | None = None) -> Bins:
    """Full vs partial write strobes implied by the STORE rows (the log carries no strobes)."""
    out = out if out is not None else {}
    bus = hw.axi_data_bits // 8
    out_int32 = False
    full = partial = False
    wanted = (int(Opcode.PPUCFG), int(Opcode.STORE))
    seen: set[tuple[int, bool]] = set()  # a STORE word already judged with this output type adds nothing
    for w in words:
        if opcode_bits(w) not in wanted or (w, out_int32) in seen:  # only these two opcodes matter
            continue
        try:
            ins = decode(w)
        except ValueError:
            continue
        f = ins.fields
        if ins.opcode == Opcode.PPUCFG:
            out_int32 = bool(f["out_int32"])
        elif ins.opcode == Opcode.STORE:
            if len(seen) < 1 << 16:
                seen.add((w, out_int32))
            e = 4 if out_int32 else 1
            nbytes = f["x_size"] * e
            contiguous = f["x_stride"] == e or f["x_size"] == 1
            for y in range(min(f["y_size"], 64)):
                a = f["ext_addr"] + y * f["y_stride"]
                if contiguous and a % bus == 0 and nbytes % bus == 0:
                    full = True
                else:
                    partial = True
                if contiguous and nbytes > 2 * bus:
                    full = True  # the middle beats of a long row are fully strobed
        if full and partial:
            break
    if full:
        _hit(out, "axi.wstrb", "full")
    if partial:
        _hit(out, "axi.wstrb", "partial")
    return out


def tally_to_json(bins: Bins) -> dict[str, dict[str, int]]:
    return {k: dict(v) for k, v in bins.items()}


__all__ = ["BusTally", "FeedTally", "Tally", "bus_bins", "bus_bins_reference", "feed_bins", "status_bins",
           "tally_to_json", "wstrb_bins"]
