"""The AXI transfer log written by ``tb/hdl/nmx_axi_mem.sv`` (pure Python, no simulator).

One line per completed transaction::

    R <id> <addr hex> <len> <resp> <accept cycle> <done cycle>   # read burst, after its RLAST beat
    W <id> <addr hex> <len> <resp> <accept cycle> <done cycle>   # write burst, after its last W beat
    PROTO <channel> key=value ...                                # an AXI rule violation

``len`` is AxLEN (beats - 1); ``resp`` is the worst response of the burst (0 OKAY, 2 SLVERR,
3 DECERR); cycles count from the last reset.  The model writes a line in the cycle the transfer
completes, so the done cycles never decrease down the file.

Two readers: :func:`parse` / :func:`read` build one :class:`Transfer` per line (for tools and small
logs), and :func:`scan` streams a log of any length in chunks of columns (numpy arrays, one
:class:`Batch` per chunk) so a run of a full-size model (tens of millions of transfers) never holds
more than one chunk: the env's memory monitor folds the batches into coverage tallies.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

CHUNK_BYTES = 1 << 22
"""Bytes of log text parsed at once by :func:`scan` (about 100k transfers)."""
TAIL = 8
"""Completed transfers :func:`scan` keeps from the end of the log (hang diagnosis)."""


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


def _transfer(f: list[str]) -> Transfer:
    return Transfer(f[0], int(f[1]), int(f[2], 16), int(f[3]), int(f[4]), int(f[5]), int(f[6]))


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
            out.append(_transfer(f))
        else:
            raise ValueError(f"unparseable transfer-log line: {ln!r}")
    return TransferLog(out, bad)


def read(path: str | pathlib.Path) -> TransferLog:
    p = pathlib.Path(path)
    return parse(p.read_text()) if p.exists() else TransferLog([], [])


# --------------------------------------------------------------------------- streaming reader


@dataclass
class Batch:
    """The R/W lines of one chunk of a log, as columns in file order (PROTO lines apart)."""

    is_read: np.ndarray
    """bool: R (True) or W (False)."""
    len: np.ndarray
    resp: np.ndarray
    t_accept: np.ndarray
    t_done: np.ndarray
    first_line: int
    """1-based line number of the chunk's first line (for error messages)."""
    violations: list[str] = field(default_factory=list)
    """The chunk's PROTO lines, in file order."""
    tail: list[Transfer] = field(default_factory=list)
    """The chunk's last (up to :data:`TAIL`) transfers."""

    def __len__(self) -> int:
        return int(self.is_read.size)


_DEC = np.full(256, -1, dtype=np.int64)
_DEC[48:58] = np.arange(10)
_HEXV = _DEC.copy()
_HEXV[97:103] = np.arange(10, 16)
_HEXV[65:71] = np.arange(10, 16)
_MAX_DIGITS = 18
"""Longest decimal field the vectorised parser takes (fits int64); longer ones go line by line."""


def _field(
    buf: np.ndarray, start: np.ndarray, end: np.ndarray, table: np.ndarray, base: int
) -> np.ndarray | None:
    """Values of the fields buf[start:end] (one per line) in ``base``, or None if one is malformed."""
    n = end - start
    if n.size == 0:
        return np.zeros(0, dtype=np.int64)
    width = int(n.max())
    if int(n.min()) < 1 or width > _MAX_DIGITS:
        return None
    v = np.zeros(n.size, dtype=np.int64)
    ok = True
    for j in range(width):  # Horner, one digit position of every line at a time
        live = n > j
        d = table[buf[np.where(live, start + j, start)]]
        ok = ok and not (live & (d < 0)).any()
        v = np.where(live, v * base + d, v)
    return v if ok else None


def _fast_batch(chunk: bytes, first_line: int) -> Batch | None:
    """Columns of a chunk of well-formed R/W lines (``K f f f f f f`` with single spaces, every line
    ending in a newline), parsed without a Python object per line; None if the chunk is anything
    else (then the exact line parser decides, and reports a malformed line)."""
    if not chunk.endswith(b"\n") or b"PROTO" in chunk:
        return None
    buf = np.frombuffer(chunk, dtype=np.uint8)
    sep = np.flatnonzero((buf == 32) | (buf == 10))
    if sep.size % 7:
        return None
    grid = sep.reshape(-1, 7)
    if (buf[grid[:, 6]] != 10).any() or (buf[grid[:, :6]] != 32).any():
        return None  # a line with more or fewer than 7 fields (or a tab, a blank line...)
    starts = np.concatenate(([0], sep[:-1] + 1)).reshape(-1, 7)
    if (grid[:, 0] - starts[:, 0] != 1).any():
        return None
    kind = buf[starts[:, 0]]
    is_read = kind == ord("R")
    if not (is_read | (kind == ord("W"))).all():
        return None
    cols = []
    for c, table, base in ((1, _DEC, 10), (2, _HEXV, 16), (3, _DEC, 10), (4, _DEC, 10), (5, _DEC, 10),
                           (6, _DEC, 10)):
        v = _field(buf, starts[:, c], grid[:, c], table, base)
        if v is None:
            return None
        cols.append(v)
    lines = chunk.rsplit(b"\n", TAIL + 1)[-TAIL - 1 : -1]
    tail = [_transfer(ln.decode().split()) for ln in lines if ln]
    return Batch(is_read, cols[2], cols[3], cols[4], cols[5], first_line, [], tail)


def _slow_batch(chunk: bytes, first_line: int, where: str) -> Batch:
    """The exact line-by-line rules of :func:`parse`, for chunks the fast path does not accept."""
    rows: list[Transfer] = []
    bad: list[str] = []
    for k, raw in enumerate(chunk.decode(errors="replace").splitlines()):
        f = raw.split()
        if not f:
            continue
        if f[0] == "PROTO":
            bad.append(raw)
        elif f[0] in ("R", "W") and len(f) == 7:
            try:
                rows.append(_transfer(f))
            except ValueError as e:
                raise ValueError(
                    f"{where}:{first_line + k}: unparseable transfer-log line: {raw!r} ({e})"
                ) from e
        else:
            raise ValueError(f"{where}:{first_line + k}: unparseable transfer-log line: {raw!r}")

    def col(name: str) -> np.ndarray:
        return np.array([getattr(t, name) for t in rows], dtype=np.int64)

    return Batch(np.array([t.kind == "R" for t in rows], dtype=bool), col("len"), col("resp"),
                 col("t_accept"), col("t_done"), first_line, bad, rows[-TAIL:])


def scan_bytes(chunks: Iterator[bytes], where: str = "transfer log") -> Iterator[Batch]:
    """Batches of a log given as consecutive byte chunks (split anywhere)."""
    rest = b""
    line = 1
    for data in chunks:
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if not cut:
            rest = data
            continue
        body, rest = data[:cut], data[cut:]
        yield _batch(body, line, where)
        line += body.count(b"\n")
    if rest.strip():
        yield _batch(rest, line, where)


def _batch(chunk: bytes, first_line: int, where: str) -> Batch:
    b = _fast_batch(chunk, first_line)
    return b if b is not None else _slow_batch(chunk, first_line, where)


def scan(path: str | pathlib.Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Batch]:
    """Stream a log file as :class:`Batch` es (nothing when the file does not exist)."""
    p = pathlib.Path(path)
    if not p.exists():
        return

    def chunks() -> Iterator[bytes]:
        with p.open("rb") as fh:
            while data := fh.read(chunk_bytes):
                yield data

    yield from scan_bytes(chunks(), str(p))
