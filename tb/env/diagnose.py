"""Hang diagnosis: what was pending when the watchdog fired, from observable facts only.

Pin-level facts: how many instructions the dispatcher accepted and which one the driver is still
offering (a blocked ``insn_ready`` means the target FIFO is full); which stall counters keep
growing over a short window (an engine waiting for a token vs for memory); the AXI transactions the
memory model has accepted but not finished (its internal queues, read through the hierarchy when
the simulator exposes them) and the last completed transfers of the log, mapped back to the LOAD /
STORE instruction whose footprint holds their address.
"""

from __future__ import annotations

from golden.isa import Counter, Opcode, decode, disassemble
from golden.program import Program
from tb.bfm.translog import Transfer
from tb.seq_lib.hazards import FootprintModel

_GROWING = {
    Counter.STALL_LD_TOKEN: "LD engine head waits for a token",
    Counter.STALL_CMP_TOKEN: "CMP engine head waits for a token",
    Counter.STALL_ST_TOKEN: "ST engine head waits for a token",
    Counter.STALL_LD_MEM: "LD engine waits for read data",
    Counter.STALL_ST_MEM: "ST engine waits for AW/W/B",
    Counter.STALL_DISPATCH: "dispatcher holds an instruction for a full FIFO",
    Counter.MAC_CYCLES: "the array is still computing",
}


def owner_of(program: Program, addr: int, beat_bytes: int) -> str:
    """The first LOAD/STORE (program order) whose bytes share the bus beat at ``addr``."""
    fm = FootprintModel(program.hw)
    lo, hi = addr, addr + beat_bytes
    for i, w in enumerate(program.insns):
        try:
            ins = decode(w)
        except ValueError:
            continue
        fp = fm.footprint(ins)
        if ins.opcode not in (Opcode.LOAD, Opcode.STORE):
            continue
        for space, idx in fp.reads + fp.writes:
            if space == "MEM" and ((idx >= lo) & (idx < hi)).any():
                return f"#{i} {disassemble(ins)}"
    return "no instruction"


def mem_model_queues(dut: object) -> str:
    """Outstanding work inside the memory model (best effort: needs public internal signals)."""
    try:
        m = dut.u_mem  # type: ignore[attr-defined]
        return (
            f"memory model: {int(m.rq_count.value)} read bursts accepted and not finished, "
            f"{int(m.wq_count.value)} write bursts without all W beats, {int(m.wf_count.value)} "
            f"buffered W beats, {int(m.bq_count.value)} B responses pending"
        )
    except (AttributeError, ValueError, TypeError):
        return "memory model internals not visible"


def describe_hang(
    program: Program,
    *,
    accepted: int,
    pending: str | None,
    insn_ready: int | None,
    growing: dict[Counter, int],
    transfers: list[Transfer],
    mem_queues: str,
    beat_bytes: int,
) -> str:
    n = len(program.insns)
    lines = [f"dispatcher accepted {accepted}/{n} instructions"]
    if accepted < n:
        nxt = program.insns[accepted]
        try:
            text = disassemble(nxt)
        except ValueError:
            text = f"{nxt:#034x}"
        lines.append(
            f"next instruction #{accepted}: {text}"
            + ("" if insn_ready is None else f" (insn_ready={insn_ready})")
        )
    if pending:
        lines.append(f"driver still offering: {pending}")
    busy = [f"{_GROWING[c]} (+{d})" for c, d in growing.items() if c in _GROWING and d > 0]
    lines.append("over the last window: " + ("; ".join(busy) if busy else "no counter moved (stuck)"))
    lines.append(mem_queues)
    for t in transfers[-3:]:
        lines.append(
            f"last transfers: {t.kind} addr={t.addr:#x} beats={t.beats} done@{t.t_done}"
            f" <- {owner_of(program, t.addr, beat_bytes)}"
        )
    return "\n".join(lines)
