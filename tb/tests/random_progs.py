"""RandomTest: constrained-random Programs (tb/seq_lib/program_gen.py), one per seed.

Job args: ``seeds`` ("0-99"), ``knobs`` ("random": timing drawn from the seed, or a profile name
of tb/env/cfg.py), ``feed`` ("pins" | "stream"), optional ``gen`` (GenKnobs field overrides),
``source``: "seq_lib" (default: layered Programs with manifests, tb/seq_lib/program_gen.py) or
"progs" (the integration team's instruction-mix generator, tb/progs.py - no manifest tensors, so the
scoreboard's whole-memory diff does the checking).
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
        source = self.args.get("source", "seq_lib")
        extra = " ".join(
            x
            for x in (
                f"--knobs {spec}" if spec != "random" else "",
                f"--source {source}" if source != "seq_lib" else "",
            )
            if x
        )
        for seed in seed_range(self.args.get("seeds", "0")):
            if source == "progs":
                from tb.progs import random_program as progs_random_program

                prog = progs_random_program(seed, self.env_cfg.hw)
            else:
                prog = random_program(seed, self.env_cfg.hw, GenKnobs(**self.args.get("gen", {})))
            yield self.context(
                f"random_s{seed}" if source == "seq_lib" else f"progs_s{seed}",
                prog,
                seed,
                knobs_for(seed, spec, feed),
                rerun=rerun_command(test="random", seed=seed, cfg=self.env_cfg.cfg_name, extra=extra),
            )
