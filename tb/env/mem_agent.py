"""External-memory agent: configures the SV AXI slave model and owns its transfer-log monitor.

The memory model (``tb/hdl/nmx_axi_mem.sv``) is configured through :class:`tb.bfm.tb_top.NmxTb`:
latencies, per-channel back-pressure probabilities (its LFSRs are seeded from the run's seed, so
the stall pattern is reproducible), SLVERR windows and ``mem_size`` (DECERR beyond it).  The agent
translates a run's :class:`~tb.env.cfg.RunKnobs` into that configuration and preloads the
Program's memory image through the backdoor.
"""

from __future__ import annotations

import pathlib

from pyuvm import ConfigDB, uvm_agent

from tb.bfm.tb_top import MemConfig
from tb.env.cfg import RunKnobs
from tb.env.mem_monitor import MemMonitor


def mem_config(knobs: RunKnobs, mem_size: int, seed: int) -> MemConfig:
    bp = knobs.backpressure
    return MemConfig(
        mem_size=mem_size,
        rd_latency=knobs.rd_latency,
        wr_latency=knobs.wr_latency,
        bw_bytes=knobs.bw_bytes,
        p_ar=bp.get("ar", 0.0),
        p_r=bp.get("r", 0.0),
        p_aw=bp.get("aw", 0.0),
        p_w=bp.get("w", 0.0),
        p_b=bp.get("b", 0.0),
        seed=seed | 1,
        slverr=[tuple(w) for w in knobs.slverr],
    )


class MemAgent(uvm_agent):
    def build_phase(self) -> None:
        super().build_phase()
        self.bfm = ConfigDB().get(self, "", "BFM")
        self.env_cfg = ConfigDB().get(self, "", "ENV_CFG")
        self.monitor = MemMonitor("monitor", self)
        self.log_path: pathlib.Path | None = None

    def configure(self, knobs: RunKnobs, mem_size: int, seed: int) -> MemConfig:
        """Apply the knobs (takes effect at the next reset, which reseeds the stall LFSRs)."""
        cfg = mem_config(knobs, mem_size, seed)
        self.bfm.configure(cfg)
        self.monitor.start_run(knobs)
        return cfg

    async def preload(self, image: bytes | bytearray) -> None:
        await self.bfm.mem_write_image(image)

    async def open_log(self, path: pathlib.Path) -> None:
        if self.env_cfg.transfer_log:
            self.log_path = path
            await self.bfm.log_open(path)
        else:
            self.log_path = None

    async def close_log(self) -> None:
        """Close (flush) the log and let the monitor parse and publish it."""
        if self.log_path is not None:
            await self.bfm.log_close()
        self.monitor.publish(self.log_path, self.bfm.bus_stats())
