"""Configuration objects of the environment: per-run knobs and the env-wide config.

These are the testbench's only knobs.  ``RunKnobs`` says *how* one Program is run (feed mode,
instruction gaps, memory latency/back-pressure/error windows, watchdog); ``EnvCfg`` says what the
environment does around every run of one simulator process (coverage, transfer log, waveform
build, where results go, how to rerun).  Named accelerator configurations live in
``golden/hwcfg.py``.  Both are plain dataclasses serialisable to JSON, because
they cross the process boundary: ``tb/run.py`` (parent) writes them, the cocotb test (simulator
process) reads them.  Every random choice is drawn from the run's seed, so a failing run is
reproduced exactly by its seed.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import random
from dataclasses import dataclass, field
from typing import Any

from golden.isa import Counter, HwConfig
from golden.timing import MEM_PROFILES, TimingParams
from tb.top import IMEM_DEPTH

CHANNELS = ("ar", "r", "aw", "w", "b")
FEEDS = ("pins", "stream")

# Limits of the knobs: the ports of the SV memory model and testbench top they are driven onto
# (tb/hdl/nmx_axi_mem.sv, nmx_tb_top.sv; tests/test_bad_inputs.py reads the widths from the SV).  A
# value outside them would be truncated by the port while the golden model used it whole, so the
# two would disagree and the report would blame the RTL; they are rejected when the knobs are made.
MAX_LATENCY = (1 << 16) - 1
"""rd_latency / wr_latency: 16-bit ports."""
MAX_BW_BYTES = (1 << 8) - 1
"""bw_bytes: an 8-bit port."""
SLVERR_WINDOWS = 4
"""SLVERR windows the memory model holds (parameter NUM_WIN of nmx_tb_top / nmx_axi_mem)."""
MAX_WINDOW_END = (1 << 32) - 1
"""Window bounds: 32-bit err_lo / err_hi ports (the bus's byte addresses)."""
MAX_GAP = (1 << 8) - 1
"""gap_max: 8 idle-cycle bits per word of the block feed (pb_gaps)."""

# Named memory-model settings, shared with the golden timing model (golden/timing.py holds the
# table); "random" (see :meth:`RunKnobs.randomised`) draws one per seed.


@dataclass
class RunKnobs:
    """How one Program is run on the RTL (all JSON-serialisable)."""

    rd_latency: int = 2
    wr_latency: int = 2
    bw_bytes: int = 0
    """Memory bandwidth per direction in bytes per cycle (0: one bus beat per cycle)."""
    backpressure: dict[str, float] | float = field(default_factory=lambda: dict.fromkeys(CHANNELS, 0.0))
    """Stall probability per cycle and channel ({"ar","r","aw","w","b"}: p), or one p for all."""
    slverr: list[tuple[int, int]] = field(default_factory=list)
    """SLVERR windows [lo, hi) of the memory model; the golden simulator gets the same set."""
    feed: str = "pins"
    """"pins": the pyuvm instruction driver (random gaps, per-instruction items); "stream": the
    testbench top's built-in streamer (fastest, no gaps)."""
    gap_prob: float = 0.0
    """Probability of idle cycles before an instruction (pins feed)."""
    gap_max: int = 0
    watchdog_cycles: int | None = None
    """None: derived from the golden cycle estimate (:func:`watchdog_for`)."""
    stream_ring: int | None = None
    """Stream feed: instruction slots of the streamer's ring (a power of two; None: all of
    ``tb.top.IMEM_DEPTH``).  A Program longer than the ring is refilled in chunks while it runs."""
    stream_chunk: int | None = None
    """Stream feed: instructions per refill (None: half the ring)."""
    warm_reset_at: float = 0.0
    """Before the judged run, start the same Program and reset the accelerator when this fraction of
    the golden cycle estimate has passed, in the middle of its work (a warm reset while busy, as a
    host aborting a job would); the judged run then starts from that reset, so any state a reset
    forgets shows up (0: no warm reset)."""

    def __post_init__(self) -> None:
        """Reject every knob the memory model or the feed cannot apply as given (see the limits
        above): up front, with the knob's name, instead of a wrapped port value or a watchdog."""
        bp = self.backpressure
        if not isinstance(bp, dict):  # one probability for every channel
            bp = dict.fromkeys(CHANNELS, bp)
        unknown = set(bp) - set(CHANNELS)
        if unknown:
            raise ValueError(f"RunKnobs.backpressure: unknown channels {sorted(unknown)}; known: {CHANNELS}")
        for ch, p in bp.items():
            if not _is_num(p) or not 0.0 <= p < 1.0:
                raise ValueError(f"RunKnobs.backpressure[{ch!r}] must be a stall probability in [0, 1),"
                                 f" not {p!r} (1 would stall the channel for ever)")
        self.backpressure = {ch: float(bp.get(ch, 0.0)) for ch in CHANNELS}
        if self.feed not in FEEDS:
            raise ValueError(f"RunKnobs.feed must be one of {FEEDS}, not {self.feed!r}")
        _check_int("bw_bytes", self.bw_bytes, 0, MAX_BW_BYTES, "0: one beat per cycle; an 8-bit port")
        for name in ("rd_latency", "wr_latency"):
            _check_int(name, getattr(self, name), 0, MAX_LATENCY,
                       "cycles; the memory model's latencies are 16-bit ports")
        if not isinstance(self.slverr, list | tuple) or len(self.slverr) > SLVERR_WINDOWS:
            raise ValueError(f"RunKnobs.slverr must be a list of at most {SLVERR_WINDOWS} [lo, hi) windows"
                             f" (the memory model holds {SLVERR_WINDOWS}), not {self.slverr!r}")
        wins = []
        for i, w in enumerate(self.slverr):
            if not isinstance(w, list | tuple) or len(w) != 2 or not all(_is_int(v) for v in w):
                raise ValueError(f"RunKnobs.slverr[{i}] must be a pair of integers [lo, hi), not {w!r}")
            lo, hi = int(w[0]), int(w[1])
            if not 0 <= lo < hi <= MAX_WINDOW_END:
                raise ValueError(f"RunKnobs.slverr[{i}] = [{lo}, {hi}) must satisfy 0 <= lo < hi <="
                                 f" {MAX_WINDOW_END:#x} (byte addresses of the 32-bit bus; not empty)")
            wins.append((lo, hi))
        self.slverr = wins
        if not _is_num(self.gap_prob) or not 0.0 <= self.gap_prob <= 1.0:
            raise ValueError(f"RunKnobs.gap_prob must be a probability in [0, 1], not {self.gap_prob!r}")
        _check_int("gap_max", self.gap_max, 0, MAX_GAP, "idle cycles; 8 bits per word of the block feed")
        if self.watchdog_cycles is not None:
            _check_int("watchdog_cycles", self.watchdog_cycles, 1, None, "cycles, or null for the default")
        r = self.stream_ring
        if r is not None and (not _is_int(r) or r < 2 or r & (r - 1) or r > IMEM_DEPTH):
            raise ValueError(f"RunKnobs.stream_ring must be a power of two in 2..{IMEM_DEPTH} (the streamer's"
                             f" instruction slots, tb/top.py IMEM_DEPTH), not {r!r}")
        if self.stream_chunk is not None:
            _check_int("stream_chunk", self.stream_chunk, 1, None, "instructions per refill")
        if not _is_num(self.warm_reset_at) or not 0.0 <= self.warm_reset_at < 1.0:
            raise ValueError(f"RunKnobs.warm_reset_at must be a fraction of the run in [0, 1) (0: no warm"
                             f" reset), not {self.warm_reset_at!r}")

    @property
    def stalls(self) -> bool:
        return any(v > 0 for v in self.bp.values())

    @property
    def bp(self) -> dict[str, float]:
        """Back-pressure per channel (normalised in __post_init__)."""
        assert isinstance(self.backpressure, dict)
        return self.backpressure

    @classmethod
    def profile(cls, name: str, **kw: Any) -> RunKnobs:
        if name not in MEM_PROFILES:
            raise ValueError(f"unknown memory profile {name!r} (known: {', '.join(MEM_PROFILES)})")
        p = dict(MEM_PROFILES[name])
        bp = float(p.pop("backpressure"))
        return cls(backpressure=dict.fromkeys(CHANNELS, bp), **{k: int(v) for k, v in p.items()}, **kw)

    def timing_params(self) -> TimingParams:
        """The golden timing model's view of these knobs (latencies >= 1, bandwidth)."""
        return TimingParams(rd_latency=max(1, self.rd_latency), wr_latency=max(1, self.wr_latency),
                            bw_bytes=self.bw_bytes)

    @classmethod
    def randomised(cls, seed: int, **kw: Any) -> RunKnobs:
        """Timing knobs drawn from ``seed``: latencies, per-channel back-pressure, gaps."""
        r = random.Random(f"knobs-{seed}")
        kind = r.choice(["fast", "nominal", "stress", "mixed", "mixed"])
        if kind == "mixed":
            bp = {ch: r.choice([0.0, 0.0, 0.1, 0.3, 0.6]) for ch in CHANNELS}
            k = cls(rd_latency=r.choice([1, 2, 8, 30]), wr_latency=r.choice([1, 2, 8, 30]), backpressure=bp)
        else:
            k = cls.profile(kind)
        k.gap_prob = r.choice([0.0, 0.0, 0.1, 0.5])
        k.gap_max = r.choice([1, 3, 10]) if k.gap_prob else 0
        # drawn last, so the knobs above stay what they were for every seed
        k.warm_reset_at = r.choice([0.0, 0.0, 0.3, 0.5, 0.7, 0.9])
        for key, v in kw.items():
            setattr(k, key, v)
        return k

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["slverr"] = [list(w) for w in self.slverr]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunKnobs:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown run knobs {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_int(name: str, v: Any, lo: int, hi: int | None, what: str) -> None:
    """``RunKnobs.<name>`` must be an int in lo..hi (hi None: no upper limit)."""
    if not _is_int(v) or v < lo or (hi is not None and v > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"RunKnobs.{name} must be an integer {bound} ({what}), not {v!r}")


def watchdog_for(golden_cycles: int, knobs: RunKnobs, hw: HwConfig | None = None,
                 n_insns: int = 0) -> int:
    """Watchdog (cycles) of a run: generous multiple of the golden estimate, stretched by stalls.

    A hang must become a failure quickly, but a slow-but-correct run must never be killed: the
    analytic model is within 2x on nominal memory, back-pressure p slows every beat by 1/(1-p), the
    gaps between instructions add up to gap_max per instruction, and after reset the RTL spends one
    cycle per row of its deepest buffer zeroing the buffers before it accepts an instruction.
    """
    p = max(knobs.bp.values(), default=0.0)
    slow = 1.0 / max(1e-3, (1.0 - p)) ** 2
    lat = max(knobs.rd_latency, knobs.wr_latency, 20) / 20.0
    if knobs.bw_bytes:
        slow *= max(1.0, (hw.axi_data_bits // 8 if hw else 16) / knobs.bw_bytes)
    sweep = max(hw.inp_depth, hw.wgt_depth, hw.acc_depth, hw.vec_depth) if hw else 1 << 16
    gaps = n_insns * knobs.gap_max * knobs.gap_prob
    return int(20_000 + sweep + gaps + 8 * golden_cycles * slow * lat)


@dataclass
class EnvCfg:
    """Env-wide settings (one per simulator process)."""

    hw: HwConfig = field(default_factory=HwConfig)
    out_dir: str = "build/tb/run"
    coverage: bool = True
    transfer_log: bool = True
    compare_untracked: bool = True
    """Also diff memory bytes outside the checked tensors (wrong-address writes)."""
    scrub: bool = False
    """Zero the buffer rows a Program reads before writing them (RTL buffers are not reset; see
    tb/seq_lib/scrub.py).  Runs tagged ``no_scrub`` are never scrubbed."""
    cfg_name: str = ""
    """e.g. "16x16" or "4x4-narrow" (golden.hwcfg.hw_name) for rerun commands."""
    waves: bool = False
    """The simulator process runs a waveform-tracing build (FST, or VCD without lz4.h)."""
    power: bool = False
    """The simulator process runs an activity (SAIF) build: every run captures per-window toggle
    activity into ``<run>/power/`` (tb/power/capture.py); exclusive with ``waves``."""
    power_window: int = 0
    """Cycles per activity window of the power time series (0: chosen from the run's length)."""
    power_idle: int = 0
    """Idle cycles between arming the capture and feeding the first instruction (the idle-power
    measurement: these cycles fall in windows with no instruction, tb/power/report.py)."""

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hw"] = self.hw.to_dict()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EnvCfg:
        d = dict(d)
        d["hw"] = HwConfig.from_dict(d["hw"])
        return cls(**d)


def load_json(path: str | pathlib.Path) -> dict[str, Any]:
    return json.loads(pathlib.Path(path).read_text())


COUNTER_NAMES = [c.name for c in Counter]
