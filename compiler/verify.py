"""Schedule-independence check: execute a Program in adversarial token-respecting orders.

The golden simulator runs one legal order (lowest runnable instruction index first).  A program
whose tokens miss a hazard can still pass in that order, so this helper re-executes it picking,
among the runnable FIFO heads, the *highest* index (engines run as far ahead as tokens allow) or a
random one, and the caller compares the resulting memory with the simulator's.
"""

from __future__ import annotations

import random
from collections import deque

from golden.isa import Queue, check_ranges, decode
from golden.program import Program
from golden.sim import Machine

_POP = (("pop_ld", Queue.LD), ("pop_cmp", Queue.CMP), ("pop_st", Queue.ST))
_PUSH = (("push_ld", Queue.LD), ("push_cmp", Queue.CMP), ("push_st", Queue.ST))


def run_schedule(program: Program, memory: bytearray | None = None, *, policy: str = "latest",
                 seed: int = 0) -> bytearray:
    """Execute with the dispatcher filling FIFOs eagerly and a ``policy`` ("latest" | "random")
    choosing among runnable heads; raises RuntimeError on a deadlock."""
    hw = program.hw
    mem = bytearray(program.memory if memory is None else memory)
    m = Machine(hw, mem)
    insns = [decode(w) for w in program.insns]
    for i in insns:
        check_ranges(i, hw)
    fifos: dict[Queue, deque[int]] = {q: deque() for q in Queue}
    rng = random.Random(seed)
    pc, n = 0, len(insns)
    while True:
        while pc < n:
            q = insns[pc].queue
            if q is None:
                pc = n
                break
            if len(fifos[q]) >= hw.queue_depth:
                break
            fifos[q].append(pc)
            pc += 1
        ready = []
        for q, f in fifos.items():
            if f:
                flds = insns[f[0]].fields
                if all(not flds[nm] or m.tokens[(src, q)] > 0 for nm, src in _POP):
                    ready.append(q)
        if not ready:
            if any(fifos.values()):
                raise RuntimeError("deadlock")
            break
        q = max(ready, key=lambda r: fifos[r][0]) if policy == "latest" else rng.choice(ready)
        i = fifos[q].popleft()
        flds = insns[i].fields
        for nm, src in _POP:
            if flds[nm]:
                m.tokens[(src, q)] -= 1
        m.execute(insns[i])
        for nm, dst in _PUSH:
            if flds[nm]:
                m.tokens[(q, dst)] += 1
    del m
    return mem
