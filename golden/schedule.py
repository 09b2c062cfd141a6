"""The one home of the queue/token execution rules: a legal order of dispatch and execution events.

The golden simulator, the timing model, the race checker and the schedule-independence checks all
need the same answer to "in which order may these instructions run?".  The rules (docs/isa.md
section 2; the tables are in :mod:`golden.isa`: ``QUEUE_OF``, ``TOKEN_COUNTERS``, ``pops``,
``pushes``) are written out here once:

* **dispatch**: in program order, each instruction joins the FIFO of its queue (at most ``depth``
  entries; an entry frees when its instruction leaves the FIFO).  FINISH is accepted but not queued
  and stops the dispatcher; an undecodable instruction stops the machine when it is reached.
* **pop**: an engine runs its FIFO in order; the head may start only when every counter it pops is
  > 0, and starting decrements them.  The k-th pop of counter P->Q consumes the k-th push of P->Q.
* **push**: completion increments every counter the instruction pushes; engines complete in FIFO
  order.  A push that would take a counter past ``token_max`` is TOKEN_OVERFLOW at the pusher.
* **SYNC** starts only after every earlier instruction of its engine has completed (:func:`drains`),
  so its push orders everything before it.
* **deadlock**: no head can start, some FIFO is non-empty, and the dispatcher can deliver nothing
  more (it waits on a full FIFO, accepted FINISH or reached the end): TOKEN_DEADLOCK at the
  smallest blocked head.  Counting is monotone, so whether (and where) this happens does not depend
  on the policy.

A *policy* chooses among the heads that may start: ``golden`` (the lowest instruction index: the
order of :func:`golden.sim.simulate` and :func:`golden.timing.estimate`), ``latest`` (the highest:
engines run as far ahead as tokens allow) or ``random`` (seeded).  In the functional model an
instruction starts and completes in one step, so one EXECUTE event stands for both.

Vector clocks (:func:`vector_clocks`, :func:`clock_step`) turn the same rules into the happens-before
partial order that the race checker compares footprints against.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from enum import IntEnum
from typing import NamedTuple

from golden.isa import (
    TOKEN_COUNTERS,
    DecodeError,
    ErrorCode,
    HwConfig,
    Insn,
    Opcode,
    Queue,
    TokenCounter,
    check_ranges,
    counter_name,
    decode,
    token_ops,
)

POLICIES = ("golden", "latest", "random")
"""Ways of choosing among the FIFO heads that may start (module docstring)."""


class Step(IntEnum):
    DISPATCH = 0
    """The dispatcher accepted the instruction (into its FIFO; FINISH: stopped)."""
    EXECUTE = 1
    """The instruction popped its tokens and runs now; its pushes land when the consumer asks for
    the next event (so a consumer that stops on a fault never sees them)."""


class Event(NamedTuple):
    step: Step
    index: int
    queue: Queue | None
    pushers: tuple[int, ...] = ()
    """EXECUTE: for every counter popped (``pops(insn)`` order) the instruction whose push it consumes."""


def decode_stream(words: Sequence[int], hw: HwConfig) -> list[Insn | DecodeError]:
    """Decode and range-check in program order, up to FINISH or the first undecodable word.

    Nothing after either can ever be dispatched, so it is not decoded (an error there is not one).
    """
    out: list[Insn | DecodeError] = []
    for w in words:
        try:
            ins = decode(w)
            check_ranges(ins, hw)
        except DecodeError as e:
            out.append(e)
            break
        out.append(ins)
        if ins.opcode == Opcode.FINISH:
            break
    return out


def drains(insn: Insn) -> bool:
    """Whether ``insn`` waits for every earlier instruction of its engine to complete (SYNC)."""
    return insn.opcode == Opcode.SYNC


class Scheduler:
    """One run of the token rules over a decoded stream; :meth:`events` yields the order.

    ``depth=None`` means unbounded FIFOs (the dispatcher never waits), ``token_max=None`` unbounded
    counters (no overflow check).  After the events are exhausted, ``error``/``error_index``/
    ``error_message`` say why they stopped (ErrorCode.NONE: everything dispatched ran), ``order``
    lists the instructions that completed and ``dispatched`` how many were accepted (FINISH
    included).  A consumer may stop early; the state then describes the point where it stopped.
    """

    def __init__(self, insns: Sequence[Insn | DecodeError], *, depth: int | None,
                 token_max: int | None = None, policy: str = "golden", seed: int = 0) -> None:
        if policy not in POLICIES:
            raise ValueError(f"unknown scheduling policy {policy!r}: one of {', '.join(POLICIES)}")
        self.insns = insns
        self.depth = depth
        self.token_max = token_max
        self.policy = policy
        self.rng = random.Random(seed)
        self.pending: dict[TokenCounter, deque[int]] = {c: deque() for c in TOKEN_COUNTERS}
        """Per counter, the pushers whose tokens have not been popped yet (oldest first)."""
        self.order: list[int] = []
        self.dispatched = 0
        self.error = ErrorCode.NONE
        self.error_index = -1
        self.error_message = ""

    @property
    def tokens(self) -> dict[TokenCounter, int]:
        """Current value of every counter."""
        return {c: len(d) for c, d in self.pending.items()}

    def _fail(self, code: ErrorCode, index: int, message: str) -> None:
        self.error, self.error_index, self.error_message = code, index, message

    def _pick(self, fifos: dict[Queue, deque[int]], pops_of: list[tuple[TokenCounter, ...]]) -> Queue | None:
        """The queue whose head runs next under the policy; None if no head may start."""
        pending = self.pending
        if self.policy == "golden":  # the simulator's and timing model's hot path: no list built
            best_q, best = None, len(self.insns)
            for q, f in fifos.items():
                if f and f[0] < best:
                    for c in pops_of[f[0]]:
                        if not pending[c]:
                            break
                    else:
                        best_q, best = q, f[0]
            return best_q
        ready = [q for q, f in fifos.items() if f and all(pending[c] for c in pops_of[f[0]])]
        if not ready:
            return None
        if self.policy == "latest":
            return max(ready, key=lambda q: fifos[q][0])
        return self.rng.choice(ready)

    def _deadlock(self, fifos: dict[Queue, deque[int]]) -> None:
        heads = sorted(f[0] for f in fifos.values() if f)
        waits = [f"{self.insns[h].opcode.name}@{h}" for h in heads]  # type: ignore[union-attr]
        self._fail(ErrorCode.TOKEN_DEADLOCK, heads[0],
                   f"token deadlock: blocked heads {', '.join(waits)}; counters "
                   + ", ".join(f"{counter_name(c)}={v}" for c, v in self.tokens.items()))

    def _overflow(self, i: int, c: TokenCounter) -> None:
        op = self.insns[i].opcode.name  # type: ignore[union-attr]
        self._fail(ErrorCode.TOKEN_OVERFLOW, i,
                   f"{op} pushes counter {counter_name(c)} past {self.token_max}")

    def events(self) -> Iterator[Event]:
        """Dispatch as far as the FIFOs allow, run one head, repeat - until done or an error."""
        insns, n, depth, tmax = self.insns, len(self.insns), self.depth, self.token_max
        ops = [(None, (), ()) if isinstance(x, DecodeError) else token_ops(x) for x in insns]
        queue_of, pops_of, pushes_of = [o[0] for o in ops], [o[1] for o in ops], [o[2] for o in ops]
        fifos: dict[Queue, deque[int]] = {q: deque() for q in Queue}
        pending = self.pending
        dispatch, execute = Step.DISPATCH, Step.EXECUTE
        pc, stopped = 0, False
        while True:
            while pc < n and not stopped:
                q = queue_of[pc]
                if q is None:
                    ins = insns[pc]
                    if isinstance(ins, DecodeError):
                        self._fail(ins.code, pc, str(ins))
                        return
                    stopped = True  # FINISH: accepted, not queued
                elif depth is not None and len(fifos[q]) >= depth:
                    break
                else:
                    fifos[q].append(pc)
                pc += 1
                self.dispatched = pc
                yield Event(dispatch, pc - 1, q)
            q = self._pick(fifos, pops_of)
            if q is None:
                if any(fifos.values()):
                    self._deadlock(fifos)
                return
            i = fifos[q][0]
            popped = pops_of[i]
            yield Event(execute, i, q, tuple([pending[c].popleft() for c in popped]) if popped else ())
            for c in pushes_of[i]:
                if tmax is not None and len(pending[c]) >= tmax:
                    self._overflow(i, c)
                    return
                pending[c].append(i)
            fifos[q].popleft()
            self.order.append(i)


def schedule_all(insns: Sequence[Insn | DecodeError], *, depth: int | None, token_max: int | None = None,
                 policy: str = "golden", seed: int = 0) -> Scheduler:
    """Run the scheduler to the end (no consumer); the returned Scheduler holds order and error."""
    s = Scheduler(insns, depth=depth, token_max=token_max, policy=policy, seed=seed)
    for _ in s.events():
        pass
    return s


# --------------------------------------------------------------------------- happens-before

VClock = tuple[int, int, int]
"""Per queue (LD, CMP, ST): highest instruction index known to have completed (-1: none)."""
NO_CLOCK: VClock = (-1, -1, -1)


def vmax(*clocks: VClock) -> VClock:
    return tuple(max(c[q] for c in clocks) for q in range(3))  # type: ignore[return-value]


def clock_step(q: Queue, i: int, prev_start: VClock, prev_end: VClock, pusher_ends: Iterable[VClock],
               sync: bool) -> tuple[VClock, VClock]:
    """(start, end) clocks of instruction ``i`` of queue ``q`` from its engine's previous one.

    It starts after the previous one started (FIFO order), after every pusher it pops from completed,
    and - a SYNC - after the previous one completed.  It completes after the previous one completed
    (in-order completion), which is why one index per queue captures the whole partial order.
    """
    st = vmax(prev_start, *pusher_ends, prev_end if sync else NO_CLOCK)
    end = list(vmax(st, prev_end))
    end[q] = i
    return st, tuple(end)  # type: ignore[return-value]


def vector_clocks(insns: Sequence[Insn]) -> tuple[list[VClock], list[VClock]] | None:
    """(start, end) VClock of every instruction (FINISH: NO_CLOCK); None if the tokens deadlock.

    FIFOs are unbounded: this is the order the tokens impose, whatever the FIFO depth.
    """
    n = len(insns)
    start, end = [NO_CLOCK] * n, [NO_CLOCK] * n
    last = dict.fromkeys(Queue, (NO_CLOCK, NO_CLOCK))
    s = Scheduler(insns, depth=None)
    for ev in s.events():
        if ev.step == Step.EXECUTE:
            q, i = ev.queue, ev.index
            assert q is not None
            start[i], end[i] = last[q] = clock_step(q, i, *last[q], (end[j] for j in ev.pushers),
                                                   drains(insns[i]))
    if s.error:
        return None
    return start, end


__all__ = [
    "NO_CLOCK",
    "POLICIES",
    "Event",
    "Scheduler",
    "Step",
    "VClock",
    "clock_step",
    "decode_stream",
    "drains",
    "schedule_all",
    "vector_clocks",
    "vmax",
]


# --------------------------------------------------------------------------- overflow and timing

DISPATCH_SLACK = 2
"""Instructions of a queue that may be neither in its FIFO nor started when a later instruction is
dispatched, beyond the FIFO's depth: the dispatcher's held word and the token unit's stage register
(rtl/nmx_dispatcher.sv, rtl/nmx_token_unit.sv).  A margin: a larger one only flags more Programs."""


def overflow_hazard(insns: Sequence[Insn | DecodeError], hw: HwConfig) -> str | None:
    """Why ``insns`` (a decoded stream, :func:`decode_stream`) may or may not overflow a token
    counter depending on timing, or None (docs/isa.md section 2, "Overflow and timing").

    The dispatcher accepts in program order and a queue holds at most ``queue_depth`` instructions,
    so when the push of instruction k happens, every instruction of the consumer's queue before k but
    its last ``queue_depth + DISPATCH_SLACK`` has started (popped): the counter then holds at most
    pushes(<= k) - those pops (``hi``).  And no consumer instruction dispatched only after the
    ``queue_depth + DISPATCH_SLACK``-th producer instruction past k can have popped before it, which
    bounds the counter from below (``lo``).  A counter whose ``hi`` stays within the maximum never
    overflows; one whose first ``hi`` past the maximum has ``lo`` past it too overflows there under
    every timing (forced: the golden simulator and the RTL report the same push); anything else
    depends on timing: an ill-formed Program.
    """
    from bisect import bisect_left, bisect_right

    cap = (1 << hw.token_bits) - 1
    if len(insns) <= cap:
        return None  # no counter can receive more pushes than it holds
    slack = hw.queue_depth + DISPATCH_SLACK
    members: dict[Queue, list[int]] = {q: [] for q in Queue}
    pushes: dict[TokenCounter, list[int]] = {c: [] for c in TOKEN_COUNTERS}
    popped: dict[TokenCounter, list[int]] = {c: [] for c in TOKEN_COUNTERS}
    for i, ins in enumerate(insns):
        if isinstance(ins, DecodeError):
            break
        q, pops_, pushes_ = token_ops(ins)
        if q is None:
            break  # FINISH: nothing after it is dispatched
        members[q].append(i)
        for c in pops_:
            popped[c].append(i)
        for c in pushes_:
            pushes[c].append(i)
    for c in TOKEN_COUNTERS:
        src, dst = c
        ps, cs = pushes[c], popped[c]
        if len(ps) <= cap:
            continue  # never more pushes than the counter holds
        prod, cons = members[src], members[dst]
        for m, k in enumerate(ps, start=1):
            if m <= cap:
                continue
            before = bisect_left(cons, k)  # consumer instructions before k in program order
            started = cons[before - slack - 1] if before > slack else -1
            hi = m - bisect_right(cs, started)
            if hi <= cap:
                continue
            after = bisect_right(prod, k) + slack  # the first producer one not dispatched yet
            limit = prod[after] if after < len(prod) else len(insns)
            lo = m - bisect_left(cs, limit)
            if lo > cap:
                break  # forced overflow at push k, whatever the timing
            return (f"token counter {counter_name(c)} may overflow depending on timing: instruction {k}"
                    f" is its push number {m}, and the counter may then hold anything from {max(lo, 0)}"
                    f" to {hi} tokens against a maximum of {cap} (docs/isa.md section 2, 'Overflow and"
                    " timing': an ill-formed Program)")
    return None
