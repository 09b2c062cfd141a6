"""RandomTest: constrained-random Programs (tb/seq_lib/program_gen.py), one per seed.

Job args: ``seeds`` ("0-99"), ``knobs`` ("random": timing drawn from the seed, or a profile name
of tb/env/cfg.py), ``feed`` ("pins" | "stream"), optional ``gen`` (GenKnobs field overrides).
tb/seq_lib/program_gen.py is the project's only random Program generator (also used by the
top-level RTL suite, tb/top_suite.py).
Every seed reproduces the same Program *and* the same timing (memory stalls, instruction gaps).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyuvm

from tb.env.cfg import RunKnobs
from tb.env.run_ctx import RunContext, rerun_command
from tb.seq_lib.program_gen import GenKnobs, random_program, seed_range
from tb.tests.base import NmxBaseTest


def knobs_for(seed: int, spec: str, feed: str = "pins") -> RunKnobs:
    k = RunKnobs.randomised(seed) if spec == "random" else RunKnobs.profile(spec)
    k.feed = feed
    if feed == "stream":
        k.gap_prob, k.gap_max = 0.0, 0
    return k


@pyuvm.test()
class RandomTest(NmxBaseTest):
    def make_runs(self) -> Iterator[RunContext]:
        spec = self.args.get("knobs", "random")
        feed = self.args.get("feed", "pins")
        extra = f"--knobs {spec}" if spec != "random" else ""
        for seed in seed_range(self.args.get("seeds", "0")):
            prog = random_program(seed, self.env_cfg.hw, GenKnobs(**self.args.get("gen", {})))
            yield self.context(
                f"random_s{seed}",
                prog,
                seed,
                knobs_for(seed, spec, feed),
                rerun=rerun_command(test="random", seed=seed, cfg=self.env_cfg.cfg_name, extra=extra),
            )
