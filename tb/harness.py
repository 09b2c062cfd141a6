"""Minimal top-level harness: run Programs on the RTL (Verilator + cocotb) and compare with golden.

From any Python process (pytest, regressions, a shell)::

    from tb.harness import run_program_on_rtl, RunKnobs
    res = run_program_on_rtl(program, seed=3, knobs=RunKnobs(backpressure=0.2))
    res.memory, res.error, res.error_index, res.counters, res.cycles, res.wall_time

Each call builds (cached per configuration) ``tb/hdl/nmx_tb_top.sv`` around ``rtl/`` and launches
one simulator process that runs every Program of the batch (:func:`run_programs_on_rtl`), resetting
the DUT in between; the cocotb side is ``tb/toplevel_tests/run_job.py``. :func:`check_against_golden`
compares a result with :func:`golden.simulate` (memory bit-identical, error code and index).
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import shutil
import time
from dataclasses import asdict, dataclass, field

from golden.isa import Counter, ErrorCode, HwConfig
from golden.program import Program
from golden.sim import SimResult, simulate
from tb import sim_env
from tb.bfm import translog

HDL = sim_env.REPO / "tb" / "hdl"
TOPLEVEL = "nmx_tb_top"
DEFAULT_MEM_BYTES = 1 << 24
IMEM_DEPTH = 1 << 18
_seq = itertools.count()


RTL_CONFIGS: dict[str, HwConfig] = {
    # small buffers, 32-bit bus (multi-beat rows), 4-deep queues, 8-bit tokens
    "4x4": HwConfig(rows=4, cols=4, inp_depth=256, wgt_depth=256, acc_depth=128, vec_depth=64, queue_depth=4,
                    token_bits=8, axi_data_bits=32),
    # non-square, 128-bit bus
    "8x16": HwConfig(rows=8, cols=16, inp_depth=1024, wgt_depth=1024, acc_depth=512, vec_depth=128),
    # square, 64-bit bus
    "8x8": HwConfig(rows=8, cols=8, inp_depth=1024, wgt_depth=1024, acc_depth=512, vec_depth=128,
                    axi_data_bits=64),
    # the default configuration (docs/isa.md section 1)
    "16x16": HwConfig(),
}
"""Named RTL test configurations; ``make test`` runs DEFAULT_CONFIGS, more via $NMX_RTL_CONFIGS."""
DEFAULT_CONFIGS = ("4x4", "8x16")


def selected_configs() -> list[str]:
    """Configurations named by $NMX_RTL_CONFIGS (comma separated, "all" for every one)."""
    env = os.environ.get("NMX_RTL_CONFIGS", "").strip()
    if not env:
        return list(DEFAULT_CONFIGS)
    names = list(RTL_CONFIGS) if env == "all" else [n.strip() for n in env.split(",") if n.strip()]
    unknown = [n for n in names if n not in RTL_CONFIGS]
    if unknown:
        raise ValueError(f"unknown RTL configs {unknown}; known: {list(RTL_CONFIGS)}")
    return names


@dataclass
class RunKnobs:
    """Per-run knobs of the memory model and the instruction feeder."""

    rd_latency: int = 2
    wr_latency: int = 2
    backpressure: float | dict[str, float] = 0.0
    """Stall probability per cycle: one value for all channels or {"ar","r","aw","w","b"}: p."""
    slverr: list[tuple[int, int]] = field(default_factory=list)
    """Byte ranges [lo, hi) that answer SLVERR (reads per bus beat, writes per strobed byte)."""
    watchdog_cycles: int = 2_000_000
    feed: str = "stream"
    """"stream": built-in instruction streamer; "pins": Python drives insn_valid/insn_data."""
    log: bool = False
    """Write the AXI transfer log (RtlResult.transfers)."""

    def to_json(self) -> dict:
        bp = self.backpressure
        if not isinstance(bp, dict):
            bp = {ch: float(bp) for ch in ("ar", "r", "aw", "w", "b")}
        if self.feed not in ("stream", "pins"):
            raise ValueError(f"feed must be 'stream' or 'pins', not {self.feed!r}")
        return {"rd_latency": self.rd_latency, "wr_latency": self.wr_latency, "backpressure": bp,
                "slverr": [list(w) for w in self.slverr], "watchdog_cycles": self.watchdog_cycles,
                "feed": self.feed, "log": self.log}


@dataclass
class RtlResult:
    """Outcome of one Program on the RTL."""

    memory: bytearray
    error: ErrorCode
    error_index: int
    counters: dict[Counter, int]
    cycles: int                 # clock cycles from the first instruction offered to done
    wall_time: float            # seconds of simulation for those cycles
    timed_out: bool
    proto_errors: int
    rd_bursts: int
    wr_bursts: int
    transfers: translog.TransferLog | None = None

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.error == ErrorCode.NONE

    @property
    def mac_utilisation(self) -> float:
        c = self.counters.get(Counter.CYCLES, 0)
        return self.counters.get(Counter.MAC_CYCLES, 0) / c if c else 0.0


def build_parameters(hw: HwConfig, mem_bytes: int = DEFAULT_MEM_BYTES) -> dict[str, int]:
    """Parameters of nmx_tb_top for ``hw`` (HwConfig field names in upper case)."""
    p = {k.upper(): v for k, v in hw.to_dict().items()}
    p["MEM_BYTES"] = mem_bytes
    p["IMEM_DEPTH"] = IMEM_DEPTH
    return p


FAST_BUILD_ARGS = ("--no-public-flat-rw", "--public-depth", "1")
"""cocotb's runner always passes --public-flat-rw, which makes every signal VPI-writable and the
model about 6x slower (and its build 3x longer); only nmx_tb_top's own signals need to be public."""


def tb_sources() -> list[pathlib.Path]:
    return [*sim_env.rtl_sources(), HDL / "nmx_axi_mem.sv", HDL / "nmx_tb_top.sv"]


def mem_bytes_for(programs: list[Program]) -> int:
    need = max([p.mem_size for p in programs] + [1])
    m = DEFAULT_MEM_BYTES
    while m < need:
        m *= 4
    return m


def run_programs_on_rtl(runs: list[tuple[Program, RunKnobs]], hw: HwConfig | None = None, *, seed: int = 1,
                        waves: bool = False, workdir: pathlib.Path | None = None,
                        keep: bool | None = None) -> list[RtlResult]:
    """Run every (Program, knobs) pair in one simulator process; results in the same order.

    The job directory (Programs, memory dumps, transfer logs, waves) is deleted afterwards unless
    ``keep`` (default: kept when ``waves`` or ``workdir`` is given, or when a run failed to finish).
    """
    if not runs:
        return []
    hw = hw or runs[0][0].hw
    for p, _ in runs:
        if p.hw != hw:
            raise ValueError(f"program {p.manifest.get('name')!r} is for {p.hw}, not {hw}")
    if max(len(p.insns) for p, _ in runs) > IMEM_DEPTH:
        raise ValueError(f"a program exceeds the streamer's {IMEM_DEPTH} instructions")
    params = build_parameters(hw, mem_bytes_for([p for p, _ in runs]))
    name = f"{os.getpid()}_{next(_seq)}_{int(time.time())}"
    jobdir = (workdir or sim_env.BUILD / "rtl_runs" / name).resolve()
    jobdir.mkdir(parents=True, exist_ok=True)
    for f in jobdir.glob("result_*.json"):
        f.unlink()
    job = {"hw": hw.to_dict(), "runs": []}
    for i, (prog, knobs) in enumerate(runs):
        path = jobdir / f"prog_{i}.nmxp"
        prog.save(path)
        job["runs"].append({"program": str(path), "knobs": knobs.to_json(), "seed": seed + i})
    (jobdir / "job.json").write_text(json.dumps(job, indent=1))
    err: Exception | None = None
    try:
        sim_env.run_cocotb(toplevel=TOPLEVEL, test_module="tb.toplevel_tests.run_job", parameters=params,
                           sources=tb_sources(), extra_env={"NMX_JOB": str(jobdir / "job.json")},
                           seed=seed, waves=waves, test_dir=jobdir, build_args=FAST_BUILD_ARGS)
    except sim_env.SimFailure as e:  # results written so far are still reported below
        err = e
    out = []
    for i, (prog, _) in enumerate(runs):
        rp = jobdir / f"result_{i}.json"
        if not rp.exists():
            raise sim_env.SimFailure(f"run {i} ({prog.manifest.get('name')}) produced no result: {err}")
        r = json.loads(rp.read_text())
        out.append(RtlResult(
            memory=bytearray((jobdir / f"mem_{i}.bin").read_bytes()),
            error=ErrorCode(r["error"]), error_index=r["error_index"],
            counters={Counter[k]: v for k, v in r["counters"].items()},
            cycles=r["cycles"], wall_time=r["wall_time"], timed_out=r["timed_out"],
            proto_errors=r["proto_errors"], rd_bursts=r["rd_bursts"], wr_bursts=r["wr_bursts"],
            transfers=translog.read(r["log"]) if r["log"] else None))
    if err is not None:
        raise err
    if keep is None:
        keep = waves or workdir is not None or any(r.timed_out for r in out)
    if not keep:
        shutil.rmtree(jobdir, ignore_errors=True)
    return out


def run_program_on_rtl(program: Program, hw: HwConfig | None = None, seed: int = 1, waves: bool = False,
                       knobs: RunKnobs | None = None, **knob_kw) -> RtlResult:
    """Run one Program; ``knob_kw`` are RunKnobs fields (rd_latency=..., backpressure=..., ...)."""
    k = knobs or RunKnobs(**knob_kw)
    return run_programs_on_rtl([(program, k)], hw, seed=seed, waves=waves)[0]


# --------------------------------------------------------------------------- comparison

EXACT_COUNTERS = (Counter.DMA_RD_BYTES, Counter.DMA_WR_BYTES, Counter.INSNS, Counter.GEMM_ROWS)
"""Counters the golden simulator computes exactly (docs/isa.md section 6)."""


def check_against_golden(program: Program, res: RtlResult, gold: SimResult | None = None,
                         bad_addresses: list[tuple[int, int]] | None = None) -> list[str]:
    """Differences between an RTL run and the golden simulator (empty list = agreement).

    Memory is compared bit for bit when both finished without error; error code and index always;
    the exact counters when both succeeded; the AXI protocol checker must be silent.
    """
    gold = gold or simulate(program, bad_addresses=bad_addresses)
    diffs: list[str] = []
    if res.timed_out:
        diffs.append(f"watchdog expired after {res.cycles} cycles (golden: {gold.error.name})")
        return diffs
    if res.proto_errors:
        diffs.append(f"{res.proto_errors} AXI protocol violations")
    if res.error != gold.error or (gold.error != ErrorCode.NONE and res.error_index != gold.error_index):
        diffs.append(f"error {res.error.name}@{res.error_index} != golden "
                     f"{gold.error.name}@{gold.error_index}"
                     f" ({gold.error_message})")
    if gold.error == ErrorCode.NONE and res.error == ErrorCode.NONE:
        if bytes(res.memory) != bytes(gold.memory):
            diffs.append(first_memory_diff(program, gold.memory, res.memory))
        for c in EXACT_COUNTERS:
            if res.counters[c] != gold.counters[c]:
                diffs.append(f"counter {c.name}: rtl {res.counters[c]} != golden {gold.counters[c]}")
        if res.counters[Counter.MAC_CYCLES] != res.counters[Counter.GEMM_ROWS]:
            diffs.append("MAC_CYCLES != GEMM_ROWS")
    return diffs


def first_memory_diff(program: Program, exp: bytes | bytearray, got: bytes | bytearray) -> str:
    """Describe the first differing byte, naming the manifest tensor that holds it if any."""
    n = min(len(exp), len(got))
    idx = next((i for i in range(n) if exp[i] != got[i]), n)
    ndiff = sum(1 for i in range(n) if exp[i] != got[i]) + abs(len(exp) - len(got))
    where = ""
    for t in program.manifest.get("tensors", []):
        from golden.program import tensor_extent
        lo, hi = tensor_extent(t)
        if lo <= idx <= hi:
            where = f" in tensor {t['name']!r} (+{idx - lo})"
            break
    e = exp[idx] if idx < len(exp) else None
    g = got[idx] if idx < len(got) else None
    return f"memory differs in {ndiff} bytes; first at {idx:#x}{where}: expected {e}, got {g}"


def result_summary(res: RtlResult) -> dict:
    d = asdict(res)
    d.pop("memory")
    d.pop("transfers")
    d["error"] = res.error.name
    d["counters"] = {c.name: v for c, v in res.counters.items()}
    return d
