"""ErrorTest: error-injection runs (tb/seq_lib/errors.py), each expecting its documented code.

Job args: ``seeds`` (each seed injects every kind into a different random Program), ``only``
(kinds), ``slow`` (include the 2**token_bits-instruction overflow case).  The scoreboard checks code
and index against the golden simulator (same SLVERR windows) and that the golden agrees with the
code the case intends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyuvm

from tb.env.run_ctx import RunContext, rerun_command
from tb.seq_lib.errors import error_cases
from tb.seq_lib.program_gen import seed_range
from tb.tests.base import NmxBaseTest
from tb.tests.random_progs import knobs_for


@pyuvm.test()
class ErrorTest(NmxBaseTest):
    def make_runs(self) -> Iterator[RunContext]:
        spec = self.args.get("knobs", "random")
        cfg = self.env_cfg.cfg_name
        for seed in seed_range(self.args.get("seeds", "1")):
            for case in error_cases(
                seed, self.env_cfg.hw, self.args.get("only"), slow=bool(self.args.get("slow"))
            ):
                k = knobs_for(seed, spec, case.feed)
                k.slverr = list(case.slverr)
                kind = case.name.rsplit("_s", 1)[0]
                yield self.context(
                    case.name,
                    case.program,
                    seed,
                    k,
                    expect_error=case.expect.name,
                    expect_index=case.index,
                    alternatives=case.alternatives,
                    tags=dict(case.tags, kind=kind),
                    rerun=rerun_command(test="errors", seed=seed, cfg=cfg, extra=f"--only {kind}"),
                )
