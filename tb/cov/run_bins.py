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
from typing import Any

from golden.isa import Counter, ErrorCode, HwConfig, Opcode, decode
from tb.bfm.translog import Transfer
from tb.cov.bins import STALL_COUNTERS
from tb.cov.probe import Bins, _hit

RESP = {0: "OKAY", 1: "OKAY", 2: "SLVERR", 3: "DECERR"}


def _len_bin(beats: int) -> str:
    return "len1" if beats == 1 else "len2_16" if beats <= 16 else "len17_255" if beats < 256 else "len256"


def _max_overlap(iv: list[tuple[int, int]]) -> int:
    ev = sorted([(a, 1) for a, _ in iv] + [(b, -1) for _, b in iv], key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def bus_bins(transfers: Iterable[Transfer], knobs: Mapping[str, Any], out: Bins | None = None) -> Bins:
    out = out if out is not None else {}
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
    for w in words:
        try:
            ins = decode(w)
        except ValueError:
            continue
        f = ins.fields
        if ins.opcode == Opcode.PPUCFG:
            out_int32 = bool(f["out_int32"])
        elif ins.opcode == Opcode.STORE:
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


__all__ = ["Tally", "bus_bins", "feed_bins", "status_bins", "tally_to_json", "wstrb_bins"]
