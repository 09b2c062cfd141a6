"""``python -m regressions.bench_rtl``: RTL benchmarks of the default configuration (16x16, 128-bit AXI).

1. MAC utilisation of a 256x256x256 int8 GEMM from the RTL's own counters (MAC_CYCLES / CYCLES;
   ideal = MACs / (ROWS*COLS) = 65536 cycles), for two Programs:
   * ``gemm_program`` (tb/seq_lib/examples.py): 2 INP/WGT slots, A re-loaded per N-block - the LD->CMP
     token chain (GEMM done -> reload 256 INP rows -> next GEMM) bounds it below 90 %;
   * ``gemm_resident_program`` (tb/seq_lib/examples.py): A loaded once and kept in INP, B tiles
     streamed through 8 WGT slots - the compute-bound schedule a compiler emits when A fits INP.
   Memory model: 2-cycle read/write latency, no back-pressure (plus a 16-cycle-latency,
   20 %-back-pressure run of the resident program). Every run is checked bit-exact against golden.
2. LD-engine DMA throughput (beats per cycle from the memory model's transfer log) for contiguous,
   unaligned, multi-beat and gather LOADs at 2- and 16-cycle read latency.
3. Bare simulation speed: cycles/s with the clock running and Python idle
   (tb/tests/idle_speed.py), and cycles/s while running the GEMMs (built-in streamer).

Every run goes through the one Program runner, :func:`tb.run.run_programs` (full pyuvm env,
scoreboard against golden, coverage off so the figures measure the DUT and the env's checks).

Writes build/bench/rtl_bench.json and the figures into docs/rtl_top.md (between the BENCH markers)
unless --no-docs; exits non-zero if the resident GEMM stays below 90 % utilisation or any run
disagrees with golden.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time

from golden.isa import Counter, HwConfig, Opcode, encode
from golden.program import Program
from tb import sim_env
from tb.env.cfg import RunKnobs
from tb.run import ProgramRun, measure_idle_speed, run_programs
from tb.seq_lib.examples import gemm_program, gemm_resident_program

DOC = sim_env.REPO / "docs" / "rtl_top.md"
BEGIN, END = "<!-- BENCH_RTL:BEGIN -->", "<!-- BENCH_RTL:END -->"
TARGET = 0.90


DMA_LOADS = {
    "INP 4096 rows x 16 B, aligned (1 beat/row)": dict(buf_sel=0, x_size=16, x_stride=1, y_size=4096,
                                                       y_stride=16, ext_addr=0),
    "INP 4096 rows x 16 B, unaligned (2 beats/row)": dict(buf_sel=0, x_size=16, x_stride=1, y_size=4096,
                                                          y_stride=17, ext_addr=3),
    "VEC 512 rows x 64 B (4-beat bursts)": dict(buf_sel=2, x_size=16, x_stride=4, y_size=512, y_stride=64,
                                                ext_addr=0),
    "INP gather x_stride=3 (16 single-beat reads/row)": dict(buf_sel=0, x_size=16, x_stride=3, y_size=256,
                                                             y_stride=64, ext_addr=0),
}


def dma_bench(hw: HwConfig) -> list[dict]:
    mem = bytes(range(256)) * 4096
    runs = []
    for lat in (2, 16):
        for name, f in DMA_LOADS.items():
            p = Program.create("dma", [encode(Opcode.LOAD, **f), encode(Opcode.FINISH)], mem, hw)
            runs.append((name, lat, ProgramRun(p, RunKnobs(rd_latency=lat, feed="stream"))))
    out = []
    res = run_programs([r for *_, r in runs], hw=hw, coverage=False)
    for (name, lat, _), r in zip(runs, res.runs, strict=True):
        t = r.transfers().reads()
        span = t[-1].t_done - t[0].t_accept + 1
        beats = sum(x.beats for x in t)
        out.append({"load": name, "rd_latency": lat, "bursts": len(t), "beats": beats, "cycles": span,
                    "beats_per_cycle": beats / span, "bit_exact": r.passed})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m regressions.bench_rtl", description=__doc__.splitlines()[0])
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/rtl_top.md")
    ap.add_argument("--speed-cycles", type=int, default=300_000)
    a = ap.parse_args(argv)
    hw = HwConfig()
    M = K = N = 256
    progs = {
        "gemm_program (examples, 2 slots)": gemm_program(M, K, N, hw, seed=1, out_int32=True),
        "gemm_resident_program (A resident, 8 WGT slots)": gemm_resident_program(M, K, N, hw, seed=1),
    }
    runs = [(name, p, RunKnobs(rd_latency=2, wr_latency=2, feed="stream")) for name, p in progs.items()]
    resident = progs["gemm_resident_program (A resident, 8 WGT slots)"]
    runs.append(("gemm_resident_program, 16-cycle latency, 20 % back-pressure", resident,
                 RunKnobs(rd_latency=16, wr_latency=16, backpressure=0.2, feed="stream")))
    t0 = time.perf_counter()
    res = run_programs([ProgramRun(p, k, name=f"gemm_{i}") for i, (_, p, k) in enumerate(runs)], hw=hw,
                       seed=1, coverage=False)
    ideal = M * K * N // (hw.rows * hw.cols)
    rows = []
    ok = res.passed
    for (name, _, _), r in zip(runs, res.runs, strict=True):
        c = r.counters
        rows.append({"program": name, "cycles": c[Counter.CYCLES],
                     "golden_est_cycles": r.golden_counters[Counter.CYCLES],
                     "mac_cycles": c[Counter.MAC_CYCLES],
                     "utilisation": r.mac_utilisation,
                     "ideal_over_cycles": ideal / c[Counter.CYCLES], "stall_ld_mem": c[Counter.STALL_LD_MEM],
                     "stall_cmp_token": c[Counter.STALL_CMP_TOKEN], "dma_rd_bytes": c[Counter.DMA_RD_BYTES],
                     "sim_cycles_per_s": r.cycles_per_s,
                     "bit_exact": r.passed, "diffs": r.failures})
    gemm_wall = time.perf_counter() - t0
    dma = dma_bench(hw)
    ok &= all(d["bit_exact"] for d in dma)
    speed = measure_idle_speed(hw, a.speed_cycles)
    res = {"config": hw.to_dict(), "ideal_cycles": ideal, "runs": rows, "dma": dma,
           "idle_cycles_per_s": speed,
           "host": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
           "wall_seconds_gemm_batch": gemm_wall}
    out = sim_env.BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "rtl_bench.json").write_text(json.dumps(res, indent=1))
    text = render(res)
    print(text)
    if not a.no_docs:
        write_docs(text)
    best = max(r["utilisation"] for r in rows)
    if best < TARGET:
        print(f"FAIL: best MAC utilisation {best:.1%} < {TARGET:.0%}")
        ok = False
    return 0 if ok else 1


def render(res: dict) -> str:
    lines = ["Command: `python -m regressions.bench_rtl` (also `make bench`); default HwConfig "
             "(16x16, 128-bit AXI);",
             f"ideal GEMM cycles = 256^3 / 256 = {res['ideal_cycles']}.", "",
             "| program | CYCLES | golden estimate | MAC_CYCLES | MAC utilisation | STALL_LD_MEM "
             "| STALL_CMP_TOKEN | sim cycles/s | bit-exact |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['program']} | {r['cycles']} | {r['golden_est_cycles']} | {r['mac_cycles']} | "
                     f"{r['utilisation']:.1%} | "
                     f"{r['stall_ld_mem']} | {r['stall_cmp_token']} | {r['sim_cycles_per_s']:,.0f} | "
                     f"{'yes' if r['bit_exact'] else 'NO'} |")
    lines += ["", "LD-engine DMA throughput (one LOAD, from the transfer log: first AR accepted to last R "
              "beat):", "", "| LOAD | read latency | bursts | beats | cycles | beats/cycle |",
              "|---|---:|---:|---:|---:|---:|"]
    for d in res["dma"]:
        lines.append(f"| {d['load']} | {d['rd_latency']} | {d['bursts']} | {d['beats']} | {d['cycles']} | "
                     f"{d['beats_per_cycle']:.3f} |")
    lines += ["", f"Bare simulation speed (clock running, reset released, Python idle): "
              f"**{res['idle_cycles_per_s']:,.0f} cycles/s** (Verilator 5.48, "
              "`--no-public-flat-rw --public-depth 1`, "
              f"cocotb 2.1 GPI clock; shared 2-core host)."]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else f"# RTL top\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc:
        doc += f"\n{BEGIN}\n{END}\n"
    pat = re.escape(BEGIN) + r".*?" + re.escape(END)
    doc = re.sub(pat, lambda _: f"{BEGIN}\n{text}\n{END}", doc, flags=re.S)
    DOC.write_text(doc)


if __name__ == "__main__":
    sys.exit(main())
