"""Hex-file images for the testbench backdoor ($readmemh / $writememh), pure Python (no simulator).

The memory model keeps external memory as an array of bus words (``AXI_DATA_BITS`` wide); byte
``a`` lives in word ``a // bus_bytes`` at bits ``[(a % bus_bytes)*8 +: 8]`` (little endian). One
word per line, most significant hex digit first, no address lines.

:func:`write_image` / :func:`read_image` stream an image of any size through the file in chunks of
whole words, with numpy doing the hex conversion (no Python string per line, never the whole text
in memory); :func:`bytes_to_hex` / :func:`hex_to_bytes` are the same conversions on text.
"""

from __future__ import annotations

import pathlib

import numpy as np

INSN_BYTES = 16
CHUNK_WORDS = 1 << 16
"""Words converted at once by the streaming reader and writer (1 MiB of 16-byte words)."""

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_VALUE = np.full(256, 255, dtype=np.uint8)
_VALUE[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10, dtype=np.uint8)
_VALUE[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_VALUE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def words_of(nbytes: int, bus_bytes: int) -> int:
    """Bus words that hold ``nbytes`` bytes."""
    return -(-nbytes // bus_bytes)


def _hex_lines(words: np.ndarray) -> bytes:
    """(k, word_bytes) little-endian words -> k lines of hex digits, most significant first."""
    msb_first = words[:, ::-1]
    k, wb = msb_first.shape
    out = np.empty((k, 2 * wb + 1), dtype=np.uint8)
    out[:, 0:2 * wb:2] = _DIGITS[msb_first >> 4]
    out[:, 1:2 * wb:2] = _DIGITS[msb_first & 15]
    out[:, -1] = 10
    return out.tobytes()


def bytes_to_hex(data: bytes | bytearray | memoryview, word_bytes: int) -> str:
    """The $readmemh text of ``data`` (zero-padded to whole words)."""
    buf = bytes(data)
    pad = (-len(buf)) % word_bytes
    if pad:
        buf += bytes(pad)
    if not buf:
        return ""
    return _hex_lines(np.frombuffer(buf, dtype=np.uint8).reshape(-1, word_bytes)).decode()


def write_image(path: pathlib.Path, data: bytes | bytearray | memoryview, word_bytes: int,
                chunk_words: int = CHUNK_WORDS) -> int:
    """Write the $readmemh file of ``data`` (zero-padded to whole words) chunk by chunk; returns
    the number of words.  Same text as :func:`bytes_to_hex`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    view = memoryview(data).cast("B")
    n = len(view)
    whole = n - n % word_bytes
    with path.open("wb") as fh:
        step = chunk_words * word_bytes
        for lo in range(0, whole, step):
            hi = min(whole, lo + step)
            fh.write(_hex_lines(np.frombuffer(view[lo:hi], dtype=np.uint8).reshape(-1, word_bytes)))
        if whole < n:
            last = bytes(view[whole:]) + bytes(word_bytes - (n - whole))
            fh.write(_hex_lines(np.frombuffer(last, dtype=np.uint8).reshape(1, word_bytes)))
    return words_of(n, word_bytes)


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


def _decode_lines(raw: np.ndarray, word_bytes: int) -> np.ndarray | None:
    """(k, 2*word_bytes+1) bytes of fixed-width hex lines -> (k, word_bytes) little-endian words,
    or None when they are not exactly that (then the general parser reads the file)."""
    if (raw[:, -1] != 10).any():
        return None
    v = _VALUE[raw[:, :-1]]
    if (v == 255).any():
        return None
    return ((v[:, 0::2] << 4) | v[:, 1::2])[:, ::-1]


def read_image(path: pathlib.Path, word_bytes: int, nwords: int, nbytes: int | None = None,
               chunk_words: int = CHUNK_WORDS) -> bytearray:
    """The first ``nbytes`` bytes of a $writememh dump of ``nwords`` words, read chunk by chunk.

    Verilator writes fixed-width lowercase lines; any other layout (comments, short lines, x/z
    digits) is read by :func:`hex_to_bytes` with its checks, so the result never depends on which
    reader ran.
    """
    nbytes = nwords * word_bytes if nbytes is None else nbytes
    line = 2 * word_bytes + 1
    if path.stat().st_size != nwords * line:
        return hex_to_bytes(path.read_text(), word_bytes, nwords)[:nbytes]
    out = bytearray(nbytes)
    with path.open("rb") as fh:
        for w0 in range(0, nwords, chunk_words):
            k = min(chunk_words, nwords - w0)
            raw = np.frombuffer(fh.read(k * line), dtype=np.uint8).reshape(k, line)
            words = _decode_lines(raw, word_bytes)
            if words is None:
                return hex_to_bytes(path.read_text(), word_bytes, nwords)[:nbytes]
            lo = w0 * word_bytes
            if lo >= nbytes:
                break
            flat = words.reshape(-1)
            out[lo:min(nbytes, lo + flat.size)] = flat[: nbytes - lo].tobytes()
    return out


def insns_to_hex(words: list[int]) -> str:
    """The $readmemh text of an instruction stream (one 128-bit word per line)."""
    return "".join(f"{w:032x}\n" for w in words)


def write_insns(path: pathlib.Path, words: list[int], start: int = 0, count: int | None = None) -> int:
    """Write instructions ``words[start:start+count]`` as a $readmemh file, in chunks; returns count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    end = len(words) if count is None else min(len(words), start + count)
    with path.open("w") as fh:
        for lo in range(start, end, CHUNK_WORDS):
            fh.write("".join(f"{w:032x}\n" for w in words[lo:min(end, lo + CHUNK_WORDS)]))
    return max(0, end - start)


def write_text(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
