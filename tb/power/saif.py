"""SAIF: read (fast), merge activity windows, write (docs/power.md, "SAIF").

SAIF (Switching Activity Interchange Format, IEEE 1801 annex) is what sign-off power tools read
(PrimeTime PX, Joules, Voltus, OpenSTA ``read_saif``): a header (SAIFVERSION, DIRECTION,
TIMESCALE, DURATION), then nested ``(INSTANCE name ... (NET (net (T0 n) (T1 n) (TX n) (TC n)) ...))``
blocks.  T0/T1/TX are the times a bit spent at 0, 1 and X (in TIMESCALE units), TC its number of
transitions.

The reader is line-based: one net per line, the way Verilator (and most simulators) write it,
with one compiled regular expression per net line and numpy arrays for the values, so a
full-model file of ~150k bits reads in well under a second.  Anything it does not understand is a
:class:`SaifError` naming the file, the line and what was expected; a file that ends inside a
block (truncated) or holds no SAIFILE is an error too.

Windows.  A power run writes one SAIF per activity window (tb/power/capture.py).  Verilator starts
every file's bits at 0, so a bit that is 1 when a window opens counts one transition that did not
happen, and its T0 counts from time 0 of the simulation.  The window controller cuts 1 ns after a
falling clock edge, when nothing changes (registers change at rising edges, the testbench writes
inputs at falling edges), so a bit's first value in window k is its last value in window k-1,
which is the parity of window k-1's counted TC.  :func:`merge_windows` subtracts that parity
(the clock's count is rebuilt from the cycles) and rebuilds T0 from the window's true duration.
Likewise a bit that is 1 at the cut is taken as 0 until the new file's first dump, so its T1 lacks
that gap: the merge measures the gap on the DUT's reset input (1 throughout) and adds it back
(checked: each SRAM's enable time equals the RTL's buffer access counter, tests/test_power_rtl.py).
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

_NET_RE = re.compile(rb"\s*\((\S+)((?:\s*\((?:T0|T1|TX|TZ|TB|TC|IG) \d+\))+)\s*\)\s*$")
_KV_RE = re.compile(rb"\((T0|T1|TX|TZ|TB|TC|IG) (\d+)\)")
_HDR_RE = re.compile(rb"\s*\((SAIFVERSION|DIRECTION|DESIGN|DATE|VENDOR|PROGRAM_NAME|VERSION|DIVIDER|"
                     rb"TIMESCALE|DURATION)\s*(.*?)\s*\)\s*$")
_TS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|ms|us|ns|ps|fs)\s*$")
_TS_PS = {"s": 1e12, "ms": 1e9, "us": 1e6, "ns": 1e3, "ps": 1.0, "fs": 1e-3}
_CLOCK_NAMES = frozenset({"clk", "clock", "clk_i"})
_REF_ONE = ("nmx_tb_top/u_dut", "rst_n")
"""A bit that is 1 in every window (reset is released before the capture is armed)."""


class SaifError(ValueError):
    """A SAIF file that is empty, truncated or malformed: names the file, the line and the fault."""

    def __init__(self, path: str | pathlib.Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = str(path), line


@dataclass
class Saif:
    """One SAIF file: header and one row per traced bit, in file order.

    ``inst[i]`` indexes ``instances`` (hierarchical paths joined with "/", the top first);
    ``names[i]`` is the bit's net name as written (escapes removed).  Times are in ``timescale_ps``
    picoseconds per unit.
    """

    path: str
    version: str
    timescale_ps: float
    duration: int
    instances: list[str]
    inst: np.ndarray
    names: list[str]
    t0: np.ndarray
    t1: np.ndarray
    tx: np.ndarray
    tc: np.ndarray
    header: dict[str, str] = field(default_factory=dict)

    @property
    def bits(self) -> int:
        return len(self.names)

    def toggles_by_instance(self) -> dict[str, int]:
        """Total TC per instance (own bits only, not its children's)."""
        sums = np.bincount(self.inst, weights=self.tc, minlength=len(self.instances))
        return {p: int(s) for p, s in zip(self.instances, sums, strict=True)}


def _unescape(name: bytes) -> str:
    return name.decode().replace("\\", "")


def read(path: str | pathlib.Path) -> Saif:
    """Parse one SAIF file; :class:`SaifError` (file:line: what was expected) on any fault."""
    p = pathlib.Path(path)
    data = p.read_bytes()
    if not data.strip():
        raise SaifError(p, 1, "empty file: expected '(SAIFILE'")
    lines = data.split(b"\n")
    header: dict[str, str] = {}
    stack: list[str] = []            # open blocks: "SAIFILE", "INSTANCE", "NET"
    inst_stack: list[str] = []
    instances: list[str] = []
    inst_of: dict[str, int] = {}
    cur_inst = -1
    inst_idx: list[int] = []
    names: list[bytes] = []
    vals: list[bytes] = []
    started = False
    closed = False
    for ln, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith(b"//"):
            continue
        if closed:
            raise SaifError(p, ln, f"text after the end of SAIFILE: {s[:60]!r}")
        if not started:
            if s != b"(SAIFILE":
                raise SaifError(p, ln, f"expected '(SAIFILE', got {s[:60]!r}")
            started = True
            stack.append("SAIFILE")
            continue
        top = stack[-1]
        if top == "NET":
            if s == b")":
                stack.pop()
                continue
            m = _NET_RE.match(raw)
            if m is None:
                raise SaifError(p, ln, "expected a net '(NAME (T0 n) (T1 n) (TX n) (TC n))' or ')' closing "
                                       f"NET, got {s[:80]!r}")
            names.append(m.group(1))
            vals.append(m.group(2))
            inst_idx.append(cur_inst)
            continue
        if s.startswith(b"(INSTANCE"):
            parts = s.split()
            if len(parts) < 2 or parts[-1].startswith(b")"):
                raise SaifError(p, ln, f"expected '(INSTANCE name', got {s[:60]!r}")
            inst_stack.append(_unescape(parts[-1]))
            full = "/".join(inst_stack)
            if full in inst_of:
                raise SaifError(p, ln, f"INSTANCE {full} appears twice")
            inst_of[full] = cur_inst = len(instances)
            instances.append(full)
            stack.append("INSTANCE")
            continue
        if s == b"(NET":
            if top != "INSTANCE":
                raise SaifError(p, ln, "NET outside an INSTANCE")
            stack.append("NET")
            continue
        if s == b")":
            blk = stack.pop()
            if blk == "INSTANCE":
                inst_stack.pop()
                cur_inst = inst_of["/".join(inst_stack)] if inst_stack else -1
            elif blk == "SAIFILE":
                closed = True
            continue
        if top == "SAIFILE":
            m = _HDR_RE.match(raw)
            if m is None:
                raise SaifError(p, ln, f"expected a header entry, '(INSTANCE name' or ')', got {s[:60]!r}")
            header[m.group(1).decode()] = m.group(2).decode().strip('"')
            continue
        raise SaifError(p, ln, f"expected '(INSTANCE name', '(NET' or ')' inside {top}, got {s[:60]!r}")
    if not started:
        raise SaifError(p, len(lines), "no '(SAIFILE' in the file")
    if stack:
        where = "/".join(inst_stack) or "SAIFILE"
        raise SaifError(p, len(lines), f"file ends inside {stack[-1]} ({where}): expected ')' (truncated?)")
    for key in ("TIMESCALE", "DURATION"):
        if key not in header:
            raise SaifError(p, 1, f"header has no {key}")
    ts = _TS_RE.match(header["TIMESCALE"])
    if ts is None:
        raise SaifError(p, 1, f"TIMESCALE {header['TIMESCALE']!r}: expected '<number><s|ms|us|ns|ps|fs>'")
    if not header["DURATION"].isdigit():
        raise SaifError(p, 1, f"DURATION {header['DURATION']!r}: expected a whole number")
    n = len(names)
    cols = {k: np.zeros(n, dtype=np.int64) for k in ("T0", "T1", "TX", "TC")}
    # fast path: Verilator's fixed field order on every line
    fixed = [_KV_RE.findall(v) for v in vals[:1]]
    order = [k.decode() for k, _ in fixed[0]] if fixed else []
    joined = b" ".join(vals)
    nums = re.findall(rb"\((?:T0|T1|TX|TZ|TB|TC|IG) (\d+)\)", joined)
    per = len(order)
    if per and len(nums) == per * n and all(
            [k.decode() for k, _ in _KV_RE.findall(v)] == order for v in (vals[-1], vals[n // 2])):
        arr = np.array(nums, dtype=np.int64).reshape(n, per)
        for j, k in enumerate(order):
            if k in cols:
                cols[k] = arr[:, j].copy()
    else:
        for i, v in enumerate(vals):
            for k, num in _KV_RE.findall(v):
                kk = k.decode()
                if kk in cols:
                    cols[kk][i] = int(num)
    return Saif(path=str(p), version=header.get("SAIFVERSION", ""),
                timescale_ps=float(ts.group(1)) * _TS_PS[ts.group(2)], duration=int(header["DURATION"]),
                instances=instances, inst=np.array(inst_idx, dtype=np.int64),
                names=[_unescape(x) for x in names], t0=cols["T0"], t1=cols["T1"], tx=cols["TX"],
                tc=cols["TC"], header=header)


@dataclass
class Window:
    """One row of ``windows.tsv``."""

    index: int
    start_cycle: int
    end_cycle: int
    insn_lo: int
    insn_hi: int
    end_reason: str
    rd_bytes: int = 0
    """AXI read bytes (DRAM to the accelerator) during the window."""
    wr_bytes: int = 0

    @property
    def cycles(self) -> int:
        return self.end_cycle - self.start_cycle


def read_windows(path: str | pathlib.Path) -> list[Window]:
    """Parse ``windows.tsv`` of a capture (errors name the line)."""
    p = pathlib.Path(path)
    rows = p.read_text().splitlines()
    cols = ["index", "start_cycle", "end_cycle", "insn_lo", "insn_hi", "end_reason", "rd_bytes", "wr_bytes"]
    if not rows or rows[0].split("\t") != cols:
        raise SaifError(p, 1, "expected the header '" + " ".join(cols) + "'")
    out = []
    for ln, r in enumerate(rows[1:], 2):
        f = r.split("\t")
        if len(f) != 8 or not all(x.isdigit() for x in f[:5] + f[6:]):
            raise SaifError(p, ln, f"expected 5 numbers, a reason and 2 numbers, got {r!r}")
        w = Window(*(int(x) for x in f[:5]), f[5], int(f[6]), int(f[7]))
        if w.end_cycle < w.start_cycle or (out and w.start_cycle != out[-1].end_cycle):
            raise SaifError(p, ln, f"window {w.index} [{w.start_cycle}, {w.end_cycle}) does not follow "
                                   f"the previous one")
        out.append(w)
    return out


@dataclass
class Activity:
    """Corrected activity of a capture: whole-run values per bit, per-window sums per group.

    Groups are any partition of the bits (e.g. instance x signal class, tb/power/hier.py); keeping
    sums per group and window instead of every bit of every window keeps a full-model capture of
    hundreds of windows in a few megabytes.
    """

    base: Saif
    """The first window's structure (instances, names); its values are not corrected."""
    windows: list[Window]
    tc: np.ndarray
    """(bits,) true transitions over all kept windows."""
    t1: np.ndarray
    """(bits,) time at 1 over all kept windows (timescale units)."""
    group_tc: np.ndarray
    """(windows, groups) true transitions per window and group."""
    group_t1: np.ndarray
    """(windows, groups) time at 1 per window and group (timescale units)."""
    period_units: int
    """Clock period in timescale units."""

    @property
    def cycles(self) -> int:
        return sum(w.cycles for w in self.windows)


def _values(path: pathlib.Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """TC and T1 of a window file that must have the first window's structure."""
    s = read(path)
    if s.bits != n:
        raise SaifError(path, 1, f"{s.bits} bits, but the first window of the capture has {n}")
    return s.tc, s.t1


def merge_windows(folder: str | pathlib.Path, clock_period_ps: float, *, groups: np.ndarray | None = None,
                  n_groups: int | None = None, drop_first: bool = True, run_only: bool = True) -> Activity:
    """Read every window of a capture folder and correct it (see the module docstring).

    ``groups`` (bits,) assigns each bit to one of ``n_groups`` groups (default: its instance).
    ``drop_first``: the first window is the pre-roll between arming and the first instruction
    (its own initial counts cannot be corrected); it only provides the parity of window 1.
    ``run_only``: the per-bit totals (``tc``, ``t1``: what ``run.saif`` holds) count only windows
    after the first accepted instruction (``insn_lo > 0``); the per-group sums keep every window.
    """
    d = pathlib.Path(folder)
    wins = read_windows(d / "windows.tsv")
    if not wins:
        raise SaifError(d / "windows.tsv", 2, "no windows: the capture never opened one")
    if drop_first and len(wins) < 2:
        raise SaifError(d / "windows.tsv", 2, "only the pre-roll window: no instruction was accepted")
    files = [d / "windows" / f"w{w.index:06d}.saif" for w in wins]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise SaifError(missing[0], 0, f"missing: {len(missing)} of the {len(files)} window files listed in "
                                       "windows.tsv")
    base = read(files[0])
    period = round(clock_period_ps / base.timescale_ps)
    g = base.inst if groups is None else np.asarray(groups, dtype=np.int64)
    ng = len(base.instances) if n_groups is None else int(n_groups)
    if g.shape != (base.bits,):
        raise ValueError(f"groups has shape {g.shape}, the capture has {base.bits} bits")
    clocks = np.array([nm in _CLOCK_NAMES for nm in base.names], dtype=bool)
    ref = next((i for i, nm in enumerate(base.names) if nm == _REF_ONE[1]
                and base.instances[int(base.inst[i])] == _REF_ONE[0]), None)
    keep = wins[1:] if drop_first else wins
    tc_all = np.zeros(base.bits, dtype=np.int64)
    t1_all = np.zeros(base.bits, dtype=np.int64)
    gtc = np.zeros((len(keep), ng))
    gt1 = np.zeros((len(keep), ng))
    prev_tc = base.tc
    for k, (w, f) in enumerate(zip(wins, files, strict=True)):
        raw_tc, raw_t1 = (base.tc, base.t1) if k == 0 else _values(f, base.bits)
        if k == 0 and drop_first:
            continue
        true = raw_tc - (prev_tc & 1) if k else raw_tc.copy()
        if (true < 0).any():
            i = int(np.argmin(true))
            raise SaifError(f, 0, f"bit {base.names[i]} of {base.instances[base.inst[i]]}: corrected TC < 0 "
                                  "(the windows do not follow each other)")
        true[clocks] = 2 * w.cycles
        row = k - 1 if drop_first else k
        gtc[row] = np.bincount(g, weights=true, minlength=ng)
        # a bit that is 1 when the window opens is taken as 0 until the file's first dump: the
        # gap is measured on the reset input, 1 for the whole window (T1 = window length - gap)
        gap = w.cycles * period - int(raw_t1[ref]) if ref is not None and raw_tc[ref] == 1 else period // 2
        t1 = raw_t1 + (prev_tc & 1) * gap if k else raw_t1
        t1 = np.where(clocks, w.cycles * (period // 2), t1)
        gt1[row] = np.bincount(g, weights=t1, minlength=ng)
        if w.insn_lo > 0 or not run_only:
            tc_all += true
            t1_all += t1
        prev_tc = raw_tc
    return Activity(base=base, windows=keep, tc=tc_all, t1=t1_all, group_tc=gtc, group_t1=gt1,
                    period_units=period)


def write(path: str | pathlib.Path, base: Saif, tc: np.ndarray, t1: np.ndarray, duration: int,
          *, design: str = "nmx_top", program: str = "NMX power run (tb/power)") -> pathlib.Path:
    """Write a SAIF 2.0 file with ``base``'s hierarchy and the given per-bit TC/T1 (T0 = rest).

    T0 = duration - T1 - TX (X time is 0 in a two-state simulation).  The result is what a
    sign-off tool reads with ``read_saif -instance <top>/u_dut``.
    """
    p = pathlib.Path(path)
    t0 = np.maximum(duration - t1, 0)
    out: list[str] = [
        "(SAIFILE", '(SAIFVERSION "2.0")', '(DIRECTION "backward")', f'(DESIGN "{design}")',
        f'(PROGRAM_NAME "{program}")', "(DIVIDER / )",
        f"(TIMESCALE {_fmt_ts(base.timescale_ps)})", f"(DURATION {int(duration)})",
    ]
    order = np.argsort(base.inst, kind="stable")
    by_inst: dict[int, list[int]] = {}
    for i in order.tolist():
        by_inst.setdefault(int(base.inst[i]), []).append(i)
    children: dict[str, list[int]] = {}
    for j, ip in enumerate(base.instances):
        parent = ip.rsplit("/", 1)[0] if "/" in ip else ""
        children.setdefault(parent, []).append(j)

    def emit(j: int, depth: int) -> None:
        ind = " " * depth
        out.append(f"{ind}(INSTANCE {_escape(base.instances[j].rsplit('/', 1)[-1])}")
        bits = by_inst.get(j, [])
        if bits:
            out.append(f"{ind} (NET")
            for i in bits:
                out.append(f"{ind}  ({_escape(base.names[i])} (T0 {int(t0[i])}) (T1 {int(t1[i])}) (TX 0) "
                           f"(TC {int(tc[i])}))")
            out.append(f"{ind} )")
        for c in children.get(base.instances[j], []):
            emit(c, depth + 1)
        out.append(f"{ind})")

    for root in children.get("", []):
        emit(root, 1)
    out.append(")")
    p.write_text("\n".join(out) + "\n")
    return p


def _escape(name: str) -> str:
    return re.sub(r"([\[\]()/\\])", r"\\\1", name)


def _fmt_ts(ps: float) -> str:
    for unit, f in (("s", 1e12), ("ms", 1e9), ("us", 1e6), ("ns", 1e3), ("ps", 1.0), ("fs", 1e-3)):
        if ps >= f and float(ps / f).is_integer():
            return f"{int(ps / f)}{unit}"
    return f"{ps * 1000:.0f}fs"


def iter_nets(s: Saif) -> Iterable[tuple[str, str, int, int]]:
    """(instance, net, TC, T1) of every bit: for tests and small dumps."""
    for i, nm in enumerate(s.names):
        yield s.instances[int(s.inst[i])], nm, int(s.tc[i]), int(s.t1[i])
