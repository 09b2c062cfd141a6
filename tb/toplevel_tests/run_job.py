"""cocotb test module: run a batch of Programs on ``nmx_tb_top`` (driven by tb/harness.py).

The job file named by ``$NMX_JOB`` (JSON, written by :func:`tb.harness.run_programs_on_rtl`) lists
Program files and per-run knobs; each run resets the DUT, preloads memory through the backdoor,
feeds the instructions (built-in streamer or pin by pin), waits for ``done`` under a cycle
watchdog and writes ``result_<i>.json`` + ``mem_<i>.bin`` next to the job file.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import cocotb

from golden.isa import HwConfig
from golden.program import Program
from tb.bfm.tb_top import MemConfig, NmxTb


async def run_one(tb: NmxTb, prog: Program, run: dict, outdir: pathlib.Path, i: int) -> dict:
    k = run["knobs"]
    bp = k.get("backpressure", {})
    cfg = MemConfig(mem_size=prog.mem_size, rd_latency=k["rd_latency"], wr_latency=k["wr_latency"],
                    p_ar=bp.get("ar", 0.0), p_r=bp.get("r", 0.0), p_aw=bp.get("aw", 0.0),
                    p_w=bp.get("w", 0.0), p_b=bp.get("b", 0.0), seed=run["seed"],
                    slverr=[tuple(w) for w in k.get("slverr", [])])
    tb.configure(cfg)
    await tb.reset()
    await tb.mem_write_image(prog.memory)
    log_path = outdir / f"transfers_{i}.log"
    if k.get("log"):
        await tb.log_open(log_path)
    insns = prog.insns
    c0 = tb.cycle
    t0 = time.perf_counter()
    if k["feed"] == "stream":
        await tb.imem_load(insns)
        c0 = tb.cycle
        t0 = time.perf_counter()
        tb.stream()
    else:
        cocotb.start_soon(tb.send_all(insns))
    ok = await tb.wait_done(k["watchdog_cycles"])
    wall = time.perf_counter() - t0
    cycles = tb.cycle - c0
    st = tb.status()
    tb.idle()
    counters = await tb.read_counters()
    stats = tb.bus_stats()
    mem = await tb.mem_read_image(prog.mem_size)
    if k.get("log"):
        await tb.log_close()
    (outdir / f"mem_{i}.bin").write_bytes(bytes(mem))
    return {
        "timed_out": not ok, "done": st.done, "error": int(st.error_code) if st.error else 0,
        "error_index": st.error_index if st.error else -1, "busy": st.busy,
        "counters": {c.name: v for c, v in counters.items()}, "cycles": cycles, "wall_time": wall,
        "log": str(log_path) if k.get("log") else None, **stats,
    }


@cocotb.test()
async def run_job(dut) -> None:
    job_path = pathlib.Path(os.environ["NMX_JOB"])
    job = json.loads(job_path.read_text())
    outdir = job_path.parent
    hw = HwConfig.from_dict(job["hw"])
    tb = NmxTb(dut, hw, outdir / "tmp")
    await tb.start()
    for i, run in enumerate(job["runs"]):
        prog = Program.load(run["program"])
        res = await run_one(tb, prog, run, outdir, i)
        (outdir / f"result_{i}.json").write_text(json.dumps(res, indent=1))
        if res["timed_out"]:
            # the DUT is wedged: later runs would start from a reset anyway, keep going
            dut._log.warning("run %d (%s) timed out after %d cycles", i, run["program"], res["cycles"])
