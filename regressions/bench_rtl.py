"""``python -m regressions.bench_rtl``: RTL benchmarks of the default configuration (16x16, 128-bit AXI).

1. MAC utilisation of a 256x256x256 int8 GEMM from the RTL's own counters (MAC_CYCLES / CYCLES;
   ideal = MACs / (ROWS*COLS) = 65536 cycles), for two Programs:
   * ``gemm_program`` (golden/examples.py): 2 INP/WGT slots, A re-loaded per N-block - the LD->CMP
     token chain (GEMM done -> reload 256 INP rows -> next GEMM) bounds it below 90 %;
   * ``gemm_resident_program`` (tb/progs.py): A loaded once and kept in INP, B tiles streamed through
     8 WGT slots - the compute-bound schedule a compiler emits when A fits INP.
   Memory model: 2-cycle read/write latency, no back-pressure (plus a 16-cycle-latency,
   20 %-back-pressure run of the resident program). Every run is checked bit-exact against golden.
2. LD-engine DMA throughput (beats per cycle from the memory model's transfer log) for contiguous,
   unaligned, multi-beat and gather LOADs at 2- and 16-cycle read latency.
3. Bare simulation speed: cycles/s with the clock running and Python idle
   (tb/toplevel_tests/speed_probe.py), and cycles/s while running the GEMMs (built-in streamer).

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

from golden.examples import gemm_program
from golden.isa import Counter, HwConfig, Opcode, encode
from golden.program import Program
from golden.sim import simulate
from tb import sim_env
from tb.harness import FAST_BUILD_ARGS, RunKnobs, build_parameters, check_against_golden, run_programs_on_rtl
from tb.progs import gemm_resident_program

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
            runs.append((name, lat, p, RunKnobs(rd_latency=lat, log=True)))
    out = []
    results = run_programs_on_rtl([(p, k) for *_, p, k in runs], hw)
    for (name, lat, p, _), r in zip(runs, results, strict=True):
        t = r.transfers.reads()
        span = t[-1].t_done - t[0].t_accept + 1
        beats = sum(x.beats for x in t)
        out.append({"load": name, "rd_latency": lat, "bursts": len(t), "beats": beats, "cycles": span,
                    "beats_per_cycle": beats / span, "bit_exact": not check_against_golden(p, r)})
    return out


def idle_speed(hw: HwConfig, cycles: int) -> float:
    out = sim_env.BUILD / "bench" / "speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    sim_env.run_cocotb(toplevel="nmx_tb_top", test_module="tb.toplevel_tests.speed_probe",
                       parameters=build_parameters(hw), sources=_sources(), build_args=FAST_BUILD_ARGS,
                       extra_env={"NMX_SPEED_OUT": str(out), "NMX_SPEED_CYCLES": str(cycles)},
                       test_dir=out.parent)
    d = json.loads(out.read_text())
    return d["cycles"] / d["seconds"]


def _sources():
    from tb.harness import tb_sources

    return tb_sources()


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
    runs = [(name, p, RunKnobs(rd_latency=2, wr_latency=2)) for name, p in progs.items()]
    resident = progs["gemm_resident_program (A resident, 8 WGT slots)"]
    runs.append(("gemm_resident_program, 16-cycle latency, 20 % back-pressure", resident,
                 RunKnobs(rd_latency=16, wr_latency=16, backpressure=0.2)))
    t0 = time.perf_counter()
    results = run_programs_on_rtl([(p, k) for _, p, k in runs], hw, seed=1)
    ideal = M * K * N // (hw.rows * hw.cols)
    rows = []
    ok = True
    for (name, p, _), r in zip(runs, results, strict=True):
        gold = simulate(p)
        diffs = check_against_golden(p, r, gold)
        ok &= not diffs
        c = r.counters
        rows.append({"program": name, "cycles": c[Counter.CYCLES],
                     "golden_est_cycles": gold.counters[Counter.CYCLES], "mac_cycles": c[Counter.MAC_CYCLES],
                     "utilisation": c[Counter.MAC_CYCLES] / c[Counter.CYCLES],
                     "ideal_over_cycles": ideal / c[Counter.CYCLES], "stall_ld_mem": c[Counter.STALL_LD_MEM],
                     "stall_cmp_token": c[Counter.STALL_CMP_TOKEN], "dma_rd_bytes": c[Counter.DMA_RD_BYTES],
                     "sim_cycles_per_s": r.cycles / r.wall_time if r.wall_time else 0.0,
                     "bit_exact": not diffs, "diffs": diffs})
    gemm_wall = time.perf_counter() - t0
    dma = dma_bench(hw)
    ok &= all(d["bit_exact"] for d in dma)
    speed = idle_speed(hw, a.speed_cycles)
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
