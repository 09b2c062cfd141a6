"""NmxEnv: the agents, monitors, scoreboard and coverage collector, wired together.

```
 insn_agent (seqr, driver, monitor) --AcceptedBurst-> coverage
 status_monitor ---------------------RunStatus-----> coverage
 mem_agent.monitor ------------------BusActivity---> coverage
 scoreboard: called by the program virtual sequence at the end of every run
```

The BFM (:class:`tb.bfm.tb_top.NmxTb`) and the :class:`~tb.env.cfg.EnvCfg` come from the ConfigDB
(keys ``BFM`` and ``ENV_CFG``), set by the test.
"""

from __future__ import annotations

from pyuvm import uvm_env

from tb.env.coverage_collector import CoverageCollector
from tb.env.insn_agent import InsnAgent
from tb.env.mem_agent import MemAgent
from tb.env.run_ctx import RunContext
from tb.env.scoreboard import Scoreboard
from tb.env.status_monitor import StatusMonitor


class NmxEnv(uvm_env):
    def build_phase(self) -> None:
        self.insn_agent = InsnAgent("insn_agent", self)
        self.mem_agent = MemAgent("mem_agent", self)
        self.status_monitor = StatusMonitor("status_monitor", self)
        self.scoreboard = Scoreboard("scoreboard", self)
        self.coverage = CoverageCollector("coverage", self)

    def connect_phase(self) -> None:
        self.insn_agent.monitor.ap.connect(self.coverage.insn_export)
        self.status_monitor.ap.connect(self.coverage.status_export)
        self.mem_agent.monitor.ap.connect(self.coverage.bus_export)

    def start_run(self, ctx: RunContext) -> None:
        self.insn_agent.start_run(ctx.program.insns)
        self.coverage.start_run()
