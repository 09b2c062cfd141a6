"""Hex-file images for the testbench backdoor ($readmemh / $writememh), pure Python (no simulator).

The memory model keeps external memory as an array of bus words (``AXI_DATA_BITS`` wide); byte
``a`` lives in word ``a // bus_bytes`` at bits ``[(a % bus_bytes)*8 +: 8]`` (little endian). One
word per line, most significant hex digit first, no address lines.
"""

from __future__ import annotations

import pathlib

import numpy as np

INSN_BYTES = 16


def words_of(nbytes: int, bus_bytes: int) -> int:
    """Bus words that hold ``nbytes`` bytes."""
    return -(-nbytes // bus_bytes)


def bytes_to_hex(data: bytes | bytearray | memoryview, word_bytes: int) -> str:
    """The $readmemh text of ``data`` (zero-padded to whole words)."""
    buf = bytes(data)
    pad = (-len(buf)) % word_bytes
    if pad:
        buf += bytes(pad)
    if not buf:
        return ""
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(-1, word_bytes)[:, ::-1]
    flat = arr.tobytes().hex()
    step = 2 * word_bytes
    return "\n".join(flat[i:i + step] for i in range(0, len(flat), step)) + "\n"


def hex_to_bytes(text: str, word_bytes: int, nwords: int | None = None) -> bytearray:
    """Parse $writememh output (``//`` comments and ``@address`` lines are not expected)."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("//")]
    if any(ln.startswith("@") for ln in lines):
        raise ValueError("address records in a memory dump are not supported")
    if nwords is not None and len(lines) != nwords:
        raise ValueError(f"memory dump has {len(lines)} words, expected {nwords}")
    step = 2 * word_bytes
    joined = "".join(ln.rjust(step, "0") for ln in lines)
    for ch in ("x", "X", "z", "Z"):
        joined = joined.replace(ch, "0")
    raw = np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(-1, word_bytes)[:, ::-1]
    return bytearray(raw.tobytes())


def insns_to_hex(words: list[int]) -> str:
    """The $readmemh text of an instruction stream (one 128-bit word per line)."""
    return "".join(f"{w:032x}\n" for w in words)


def write_text(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
