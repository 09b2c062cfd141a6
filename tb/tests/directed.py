"""DirectedTest: one run per directed case of tb/seq_lib/directed.py (per instruction and corner).

Job args: ``only`` (case names), ``seeds`` (timing seeds: each case runs once per seed with knobs
drawn from it), ``slow`` (include SLOW cases), ``knobs``/``feed`` as for RandomTest.  The case
``reset_clears_buffers`` runs last and unscrubbed: it reads rows the Program never wrote after other
cases dirtied the buffers, so it checks the ISA's "all zero after reset".
"""

from __future__ import annotations

from collections.abc import Iterator

import pyuvm

from tb.env.run_ctx import RunContext, rerun_command
from tb.seq_lib.directed import DIRECTED, SLOW, reset_clears_buffers
from tb.seq_lib.program_gen import seed_range
from tb.tests.base import NmxBaseTest
from tb.tests.random_progs import knobs_for


@pyuvm.test()
class DirectedTest(NmxBaseTest):
    def make_runs(self) -> Iterator[RunContext]:
        only = self.args.get("only")
        names = [n for n in DIRECTED if (n in only if only else (self.args.get("slow") or n not in SLOW))]
        spec = self.args.get("knobs", "random")
        feed = self.args.get("feed", "pins")
        cfg = self.env_cfg.cfg_name
        for seed in seed_range(self.args.get("seeds", "1")):
            for n in names:
                yield self.context(
                    f"{n}_s{seed}",
                    DIRECTED[n](self.env_cfg.hw),
                    seed,
                    knobs_for(seed, spec, feed),
                    rerun=rerun_command(test="directed", seed=seed, cfg=cfg, extra=f"--only {n}"),
                )
        if not only or "reset_clears_buffers" in only:
            seed = seed_range(self.args.get("seeds", "1"))[-1]
            yield self.context(
                "reset_clears_buffers",
                reset_clears_buffers(self.env_cfg.hw),
                seed,
                knobs_for(seed, "fast", feed),
                tags={"no_scrub": True},
                rerun=rerun_command(test="directed", seed=seed, cfg=cfg, extra="--only reset_clears_buffers"),
            )
