"""The NMX Program container: instruction stream + initial memory image + manifest.

A Program is what the compiler emits and what both the golden simulator (``golden/sim.py``) and the
RTL testbench consume, so its file format is defensive: every section carries a CRC32, every defect
is reported as a :class:`ProgramFormatError` naming what is wrong and where, and the manifest schema
is validated both when saving (so a compiler bug is caught at its source) and when loading (so a
corrupted or hand-edited file never reaches a simulator).  The format is documented in
``docs/program_format.md``.
"""

from __future__ import annotations

import copy
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from golden import isa
from golden.isa import HwConfig

MAGIC = b"NMXPROG\0"
FORMAT_VERSION = 1
MEM_ALIGN = 64
"""mem_size must be a multiple of this (the widest AXI beat), so a bus beat never straddles the end
of memory and the RTL memory model and the simulator agree on which accesses are out of range."""

ROLES = ("input", "output", "intermediate", "const", "scratch")
DTYPES: dict[str, np.dtype] = {"int8": np.dtype("int8"), "int32": np.dtype("<i4")}

_HEADER = struct.Struct("<8sII")  # magic, version, section count
_SECTION = struct.Struct("<4sQI")  # tag, payload length, crc32
SECTION_TAGS = (b"MANI", b"INSN", b"MEMI")
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects the manifest may use (the compiler's is 6): a deeper one is a
corrupt or hostile file, rejected before it can exhaust the recursion of the readers."""
MAX_MEM_SIZE = 1 << 32
"""Largest memory image: the accelerator's AXI addresses are 32-bit."""


class ProgramFormatError(ValueError):
    """A Program file or manifest is malformed; the message says what and where."""


def _align(n: int, a: int = MEM_ALIGN) -> int:
    return -(-n // a) * a


# --------------------------------------------------------------------------- manifest schema

_TENSOR_REQUIRED = {"name": str, "role": str, "addr": int, "shape": list, "strides": list, "dtype": str}
_TENSOR_DEFAULTS: dict[str, Any] = {"scale": 1.0, "zero_point": 0, "check": False, "layer": None}
_LAYER_REQUIRED = {"name": str, "op": str, "insn_start": int, "insn_end": int}
_LAYER_DEFAULTS: dict[str, Any] = {"outputs": [], "meta": {}}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def normalize_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return a deep copy with optional tensor/layer keys filled with their defaults."""
    m = copy.deepcopy(manifest)
    for key, default in (("inputs", []), ("outputs", []), ("tensors", []), ("layers", [])):
        m.setdefault(key, copy.deepcopy(default))
    for t in m["tensors"] if isinstance(m["tensors"], list) else []:
        if isinstance(t, dict):
            for k, v in _TENSOR_DEFAULTS.items():
                t.setdefault(k, v)
    for ly in m["layers"] if isinstance(m["layers"], list) else []:
        if isinstance(ly, dict):
            for k, v in _LAYER_DEFAULTS.items():
                ly.setdefault(k, copy.deepcopy(v))
    return m


def tensor_extent(t: dict[str, Any]) -> tuple[int, int]:
    """[first, last] byte address a tensor occupies (last < first when the tensor is empty)."""
    itemsize = DTYPES[t["dtype"]].itemsize
    if any(s == 0 for s in t["shape"]):
        return t["addr"], t["addr"] - 1
    span = sum((n - 1) * s for n, s in zip(t["shape"], t["strides"], strict=True))
    return t["addr"], t["addr"] + span + itemsize - 1


def validate_manifest(manifest: dict[str, Any], *, n_insns: int, mem_size: int,
                      hw: HwConfig | None = None) -> None:
    """Raise ProgramFormatError on the first schema violation (the message names the culprit)."""

    def bad(msg: str) -> None:
        raise ProgramFormatError(f"manifest: {msg}")

    if not isinstance(manifest, dict):
        bad(f"top level must be a JSON object, got {type(manifest).__name__}")
    m = manifest
    if not _is_int(m.get("format_version")) or m["format_version"] != FORMAT_VERSION:
        bad(f"format_version must be {FORMAT_VERSION}, got {m.get('format_version')!r}")
    if not isinstance(m.get("name"), str):
        bad("'name' must be a string")
    if not isinstance(m.get("hw"), dict):
        bad("'hw' must be an object (HwConfig.to_dict())")
    try:
        mhw = HwConfig.from_dict(m["hw"])
    except (TypeError, ValueError) as e:
        bad(f"'hw' is not a valid HwConfig: {e}")
    if hw is not None and mhw != hw:
        bad(f"'hw' {m['hw']} differs from the Program's HwConfig {hw.to_dict()}")
    if not _is_int(m.get("mem_size")) or m["mem_size"] != mem_size:
        bad(f"'mem_size' is {m.get('mem_size')!r} but the memory image has {mem_size} bytes")
    if mem_size % MEM_ALIGN or mem_size > MAX_MEM_SIZE:
        bad(f"mem_size {mem_size} must be a multiple of {MEM_ALIGN} and at most 2**32")
    for key in ("inputs", "outputs", "tensors", "layers"):
        if not isinstance(m.get(key), list):
            bad(f"'{key}' must be a list")

    names: dict[str, dict[str, Any]] = {}
    for i, t in enumerate(m["tensors"]):
        where = f"tensors[{i}]"
        if not isinstance(t, dict):
            bad(f"{where} must be an object")
        for k, ty in _TENSOR_REQUIRED.items():
            if k not in t:
                bad(f"{where} lacks required key '{k}'")
            if not (_is_int(t[k]) if ty is int else isinstance(t[k], ty)):
                bad(f"{where}.{k} must be {ty.__name__}, got {t[k]!r}")
        where = f"tensor '{t['name']}'"
        if t["name"] in names:
            bad(f"duplicate tensor name '{t['name']}'")
        if t["role"] not in ROLES:
            bad(f"{where}: unknown role {t['role']!r} (expected one of {', '.join(ROLES)})")
        if t["dtype"] not in DTYPES:
            bad(f"{where}: unknown dtype {t['dtype']!r} (expected one of {', '.join(DTYPES)})")
        if len(t["shape"]) != len(t["strides"]):
            bad(f"{where}: shape {t['shape']} and strides {t['strides']} differ in length")
        if not all(_is_int(n) and n >= 0 for n in t["shape"]):
            bad(f"{where}: shape {t['shape']} must hold non-negative ints")
        if not all(_is_int(s) and s >= 0 for s in t["strides"]):
            bad(f"{where}: strides {t['strides']} must hold non-negative ints (bytes)")
        if not _is_int(t["addr"]) or t["addr"] < 0:
            bad(f"{where}: addr {t['addr']!r} must be a non-negative int")
        scale = t.get("scale", 1.0)
        if not (isinstance(scale, (int, float)) and not isinstance(scale, bool)
                and math.isfinite(scale) and scale > 0):
            bad(f"{where}: scale {scale!r} must be a positive finite number")
        if not _is_int(t.get("zero_point", 0)) or t.get("zero_point", 0) != 0:
            bad(f"{where}: zero_point must be 0 (symmetric quantisation), got {t['zero_point']!r}")
        if not isinstance(t.get("check", False), bool):
            bad(f"{where}: check must be a bool")
        if t.get("layer") is not None and not isinstance(t["layer"], str):
            bad(f"{where}: layer must be a string or null")
        lo, hi = tensor_extent(t)
        if hi >= lo and hi >= mem_size:
            bad(f"{where} spans bytes {lo}..{hi}, outside memory of {mem_size} bytes")
        names[t["name"]] = t

    for key, role in (("inputs", "input"), ("outputs", "output")):
        for j, n in enumerate(m[key]):
            if not isinstance(n, str):
                bad(f"'{key}'[{j}] must be a tensor name (a string), got {n!r}")
            if n not in names:
                bad(f"'{key}' names unknown tensor {n!r}")
            if names[n]["role"] != role:
                bad(f"'{key}' names tensor {n!r} whose role is {names[n]['role']!r}, not {role!r}")

    layer_names: set[str] = set()
    prev_end, prev_name = 0, None
    for i, ly in enumerate(m["layers"]):
        where = f"layers[{i}]"
        if not isinstance(ly, dict):
            bad(f"{where} must be an object")
        for k, ty in _LAYER_REQUIRED.items():
            if k not in ly:
                bad(f"{where} lacks required key '{k}'")
            if not (_is_int(ly[k]) if ty is int else isinstance(ly[k], ty)):
                bad(f"{where}.{k} must be {ty.__name__}, got {ly[k]!r}")
        where = f"layer '{ly['name']}'"
        if ly["name"] in layer_names:
            bad(f"duplicate layer name '{ly['name']}'")
        s, e = ly["insn_start"], ly["insn_end"]
        if not 0 <= s <= e <= n_insns:
            bad(f"{where}: instruction range [{s}, {e}) is outside the stream of {n_insns} instructions")
        if s < prev_end:
            bad(f"{where}: instruction range [{s}, {e}) overlaps or precedes layer '{prev_name}'"
                f" (ends at {prev_end}); layers must be disjoint and in stream order")
        prev_end, prev_name = e, ly["name"]
        outs = ly.get("outputs", [])
        if not isinstance(outs, list) or any(not isinstance(o, str) or o not in names for o in outs):
            bad(f"{where}: outputs {ly.get('outputs')!r} must list known tensor names")
        if not isinstance(ly.get("meta", {}), dict):
            bad(f"{where}: meta must be an object")
        layer_names.add(ly["name"])
    for t in m["tensors"]:
        if t.get("layer") is not None and t["layer"] not in layer_names:
            bad(f"tensor '{t['name']}': layer {t['layer']!r} is not a known layer")


def _json_depth(obj: Any) -> int:
    """Nesting depth of parsed JSON (iterative: a hostile file cannot exhaust the recursion)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_JSON_DEPTH:
                stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def _decompress_memory(payload: bytes, declared: int) -> bytearray:
    """Inflate section MEMI, stopping one byte past the manifest's ``mem_size``: a small file that
    inflates to gigabytes (a corrupt size or a zip bomb) is rejected without allocating them."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(payload, declared + 1)
        if len(out) > declared or d.unconsumed_tail:
            raise ProgramFormatError(f"manifest: 'mem_size' is {declared} but the memory image has more"
                                     " bytes (section MEMI inflates past it; the rest was not inflated)")
        out += d.flush()
    except zlib.error as e:
        raise ProgramFormatError(f"section MEMI does not decompress: {e}") from None
    if not d.eof:
        raise ProgramFormatError("section MEMI does not decompress: the compressed stream is incomplete")
    if len(out) != declared:
        raise ProgramFormatError(f"manifest: 'mem_size' is {declared} but the memory image has {len(out)}"
                                 " bytes")
    return bytearray(out)


# --------------------------------------------------------------------------- Program

@dataclass
class Program:
    """An executable NMX program.  ``len(memory)`` is the architectural ``mem_size``."""

    insns: list[int]
    memory: bytearray
    manifest: dict[str, Any]
    hw: HwConfig = field(default_factory=HwConfig)

    # ---- construction
    @classmethod
    def create(cls, name: str, insns: list[int], memory: bytes | bytearray, hw: HwConfig, *,
               tensors: list[dict[str, Any]] | None = None, layers: list[dict[str, Any]] | None = None,
               inputs: list[str] | None = None, outputs: list[str] | None = None) -> Program:
        """Build a Program with a complete manifest; memory is zero-padded to MEM_ALIGN.

        ``inputs``/``outputs`` default to the tensors with that role, in the order given.
        """
        mem = bytearray(memory)
        mem.extend(bytes(_align(max(len(mem), 1)) - len(mem)))
        tensors = [dict(t) for t in tensors or []]
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "name": name, "hw": hw.to_dict(), "mem_size": len(mem),
            "inputs": inputs if inputs is not None
            else [t["name"] for t in tensors if t.get("role") == "input"],
            "outputs": outputs if outputs is not None
            else [t["name"] for t in tensors if t.get("role") == "output"],
            "tensors": tensors, "layers": list(layers or []),
        }
        p = cls(list(insns), mem, normalize_manifest(manifest), hw)
        p.validate()
        return p

    @property
    def mem_size(self) -> int:
        return len(self.memory)

    def validate(self) -> None:
        """Check the manifest against the instruction stream, memory image and HwConfig."""
        for i, w in enumerate(self.insns):
            if not isinstance(w, int) or not 0 <= w < 1 << isa.INSN_BITS:
                raise ProgramFormatError(f"instruction {i} is not a 128-bit unsigned int: {w!r}")
        validate_manifest(self.manifest, n_insns=len(self.insns), mem_size=len(self.memory), hw=self.hw)

    # ---- tensors
    def tensor(self, name: str) -> dict[str, Any]:
        """The manifest entry of tensor ``name`` (KeyError if absent)."""
        for t in self.manifest["tensors"]:
            if t["name"] == name:
                return t
        raise KeyError(f"no tensor {name!r} in program {self.manifest.get('name')!r}")

    def _view(self, mem: bytes | bytearray | memoryview, name: str) -> np.ndarray:
        t = self.tensor(name)
        dt = DTYPES[t["dtype"]]
        lo, hi = tensor_extent(t)
        if hi >= len(mem):
            raise ValueError(f"tensor {name!r} (bytes {lo}..{hi}) outside memory of {len(mem)} bytes")
        if hi < lo:
            return np.zeros(t["shape"], dtype=dt)
        return np.ndarray(shape=tuple(t["shape"]), dtype=dt, buffer=mem, offset=t["addr"],
                          strides=tuple(t["strides"]))

    def read_tensor(self, mem: bytes | bytearray | memoryview | None, name: str) -> np.ndarray:
        """Copy tensor ``name`` out of ``mem`` (default: the initial image) as int8/int32 array."""
        return np.array(self._view(self.memory if mem is None else mem, name), copy=True)

    def write_tensor(self, mem: bytearray | None, name: str, array: np.ndarray) -> None:
        """Write ``array`` (shape must match, values must fit the dtype) into ``mem`` in place."""
        t = self.tensor(name)
        a = np.asarray(array)
        if tuple(a.shape) != tuple(t["shape"]):
            raise ValueError(f"tensor {name!r}: shape {a.shape} != manifest shape {tuple(t['shape'])}")
        info = np.iinfo(DTYPES[t["dtype"]])
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise ValueError(f"tensor {name!r}: values outside {t['dtype']} range")
        v = self._view(self.memory if mem is None else mem, name)
        v[...] = a

    # ---- serialisation
    def to_bytes(self) -> bytes:
        """Serialise (validates first, so an invalid Program is never written)."""
        self.manifest = normalize_manifest(self.manifest)
        self.manifest["hw"] = self.hw.to_dict()
        self.manifest["mem_size"] = len(self.memory)
        self.manifest["format_version"] = FORMAT_VERSION
        self.validate()
        sections = [
            (b"MANI", json.dumps(self.manifest, indent=1, sort_keys=False).encode("utf-8")),
            (b"INSN", isa.to_bytes(self.insns)),
            (b"MEMI", zlib.compress(bytes(self.memory), 6)),
        ]
        out = [_HEADER.pack(MAGIC, FORMAT_VERSION, len(sections))]
        for tag, payload in sections:
            out.append(_SECTION.pack(tag, len(payload), zlib.crc32(payload)))
            out.append(payload)
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Program:
        """Parse and validate; any defect raises ProgramFormatError."""
        data = bytes(data)

        def take(off: int, n: int, what: str) -> bytes:
            if off + n > len(data):
                raise ProgramFormatError(f"truncated {what} at byte offset {off} "
                                         f"(expected {n} bytes, got {max(0, len(data) - off)})")
            return data[off:off + n]

        magic, version, count = _HEADER.unpack(take(0, _HEADER.size, "file header"))
        if magic != MAGIC:
            raise ProgramFormatError(f"bad magic {magic!r} at byte offset 0 (expected {MAGIC!r}):"
                                     " not an NMX program file")
        if version != FORMAT_VERSION:
            raise ProgramFormatError(f"unsupported format version {version} (this reader supports"
                                     f" {FORMAT_VERSION})")
        off = _HEADER.size
        sections: dict[bytes, bytes] = {}
        for _ in range(count):
            tag, length, crc = _SECTION.unpack(take(off, _SECTION.size, "section header"))
            name = tag.decode("ascii", "replace")
            payload = take(off + _SECTION.size, length, f"section {name} payload")
            if zlib.crc32(payload) != crc:
                raise ProgramFormatError(f"CRC mismatch in section {name} at byte offset {off}"
                                         f" (stored {crc:#010x}, computed {zlib.crc32(payload):#010x})")
            if tag in sections:
                raise ProgramFormatError(f"duplicate section {name} at byte offset {off}")
            if tag not in SECTION_TAGS:  # format version 1 has exactly these; a new one is a new version
                known = ", ".join(t.decode() for t in SECTION_TAGS)
                raise ProgramFormatError(f"unknown section {name!r} at byte offset {off} (version"
                                         f" {FORMAT_VERSION} has {known})")
            sections[tag] = payload
            off += _SECTION.size + length
        if off != len(data):
            raise ProgramFormatError(f"{len(data) - off} trailing bytes after the last section"
                                     f" at byte offset {off}")
        for tag in SECTION_TAGS:
            if tag not in sections:
                raise ProgramFormatError(f"missing section {tag.decode()}")
        manifest: Any = None
        too_deep = False
        try:
            manifest = json.loads(sections[b"MANI"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ProgramFormatError(f"bad JSON in section MANI: {e}") from None
        except RecursionError:  # deeper than the interpreter's stack: far past MAX_JSON_DEPTH
            too_deep = True
        if too_deep or _json_depth(manifest) > MAX_JSON_DEPTH:
            raise ProgramFormatError(f"section MANI: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(manifest, dict):
            raise ProgramFormatError("manifest: top level must be a JSON object, got "
                                     f"{type(manifest).__name__}")
        if len(sections[b"INSN"]) % isa.INSN_BYTES:
            raise ProgramFormatError(f"section INSN has {len(sections[b'INSN'])} bytes, not a multiple"
                                     f" of {isa.INSN_BYTES}")
        insns = isa.from_bytes(sections[b"INSN"])
        declared = manifest.get("mem_size")
        if not _is_int(declared) or not 0 < declared <= MAX_MEM_SIZE:
            raise ProgramFormatError(f"manifest: 'mem_size' must be an int in 1..2**32, got {declared!r}")
        memory = _decompress_memory(sections[b"MEMI"], declared)
        if not isinstance(manifest.get("hw"), dict):
            raise ProgramFormatError("manifest: 'hw' must be an object (HwConfig.to_dict())")
        try:
            hw = HwConfig.from_dict(manifest["hw"])
        except (TypeError, ValueError) as e:
            raise ProgramFormatError(f"manifest: 'hw' is not a valid HwConfig: {e}") from None
        manifest = normalize_manifest(manifest)
        validate_manifest(manifest, n_insns=len(insns), mem_size=len(memory), hw=hw)
        return cls(insns, memory, manifest, hw)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Program:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ProgramFormatError(f"cannot read {path}: {e.strerror or e}") from None
        return cls.from_bytes(data)

    # ---- helpers for tools
    def layer_of(self) -> list[str | None]:
        """Layer name of each instruction index (None outside every layer)."""
        out: list[str | None] = [None] * len(self.insns)
        for ly in self.manifest.get("layers", []):
            for i in range(ly["insn_start"], ly["insn_end"]):
                out[i] = ly["name"]
        return out
