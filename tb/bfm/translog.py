"""The AXI transfer log written by ``tb/hdl/nmx_axi_mem.sv`` (pure Python, no simulator).

One line per completed transaction::

    R <id> <addr hex> <len> <resp> <accept cycle> <done cycle>   # read burst, after its RLAST beat
    W <id> <addr hex> <len> <resp> <accept cycle> <done cycle>   # write burst, after its last W beat
    PROTO <channel> key=value ...                                # an AXI rule violation

``len`` is AxLEN (beats - 1); ``resp`` is the worst response of the burst (0 OKAY, 2 SLVERR,
3 DECERR); cycles count from the last reset.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Transfer:
    kind: str          # "R" or "W"
    id: int
    addr: int
    len: int           # AxLEN
    resp: int
    t_accept: int
    t_done: int

    @property
    def beats(self) -> int:
        return self.len + 1


@dataclass
class TransferLog:
    transfers: list[Transfer]
    violations: list[str]

    def reads(self) -> list[Transfer]:
        return [t for t in self.transfers if t.kind == "R"]

    def writes(self) -> list[Transfer]:
        return [t for t in self.transfers if t.kind == "W"]


def parse(text: str) -> TransferLog:
    out: list[Transfer] = []
    bad: list[str] = []
    for ln in text.splitlines():
        f = ln.split()
        if not f:
            continue
        if f[0] == "PROTO":
            bad.append(ln)
        elif f[0] in ("R", "W") and len(f) == 7:
            out.append(Transfer(f[0], int(f[1]), int(f[2], 16), int(f[3]), int(f[4]), int(f[5]), int(f[6])))
        else:
            raise ValueError(f"unparseable transfer-log line: {ln!r}")
    return TransferLog(out, bad)


def read(path: str | pathlib.Path) -> TransferLog:
    p = pathlib.Path(path)
    return parse(p.read_text()) if p.exists() else TransferLog([], [])
