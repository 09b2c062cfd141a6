"""Mutation testing of the RTL: how many realistic single-point bugs in rtl/ does a suite notice?

``python -m regressions.mutate [--suite smoke|default] [--max-mutants N] [--seed S] [--jobs J]
[--modules nmx_fifo ...] [--out DIR] [--list]`` (``make mutate``; docs/verification.md, "Mutation
testing").

Why a source-level mutator and not Yosys ``mutate`` (as mcy uses it): Yosys mutates the synthesised
netlist (cells and wires of the RTLIL), so a mutant has to be written back as Verilog by Yosys and run
through Verilator as a netlist.  Our testbench builds ``rtl/*.sv`` with the cocotb runner, binds the
assertion checkers of rtl/sva/ into the RTL modules by name, and reads signals by their source names;
a netlist loses the SystemVerilog packages, the module hierarchy the checkers bind to, and the
signal names.  A source mutant is one edit of one line of ``rtl/``, so its diff is what a designer
would have typed, the triage is done on the source the designer reads, and ``NMX_RTL_DIR`` (tb/sim_env)
runs the unchanged testbench on it.  The cost is a small SystemVerilog parser here (tokens, then
statements of ``always_ff``/``always_comb`` blocks, ``assign`` statements and function bodies), which
is enough because the RTL is written in a small common subset (docs/rtl_top.md, "Synthesis subset").

Operators (:data:`OPERATORS`): ``arith`` (+ <-> -), ``logic`` (& <-> |, && <-> ||), ``eq`` (== <-> !=),
``rel`` (< <-> <=, > <-> >=; loop bounds included), ``const`` (a constant off by one: decimal ±1, a
sized literal's value ±1, '0 <-> '1), ``slice`` (a constant or +/- inside a bit or part select off by
one, or a part-select's base shifted by one bit), ``cond`` (an ``if`` or ``?:`` condition inverted, a
``!``/``~`` removed), ``stuck`` (an assignment's right-hand side forced to '0 or '1: a stuck enable or
data bit) and ``drop`` (a procedural assignment deleted).  Sites are only inside statements: never in
comments, declarations, parameters or packages (``*_pkg.sv``), and never in port connections.

A campaign: the sites of the chosen modules, a uniform random sample of ``--max-mutants`` of them
(deterministic for a ``--seed`` and an RTL text, so the score estimates the whole population's), each
written into its own copy of rtl/ (content-addressed under build/mutate/rtl/, so a rerun reuses the
cached Verilator builds when ``--keep-builds``), linted with Verilator (a mutant that does not compile
is *stillborn*, not counted), then every RTL job of the suite is run against it through the regression
executor (regressions/executor.py: the same process pool, one process tree per job, per-job timeout;
``NMX_RTL_DIR`` set per mutant by the internal job kind ``_mutant``).  A job that fails, errs or times
out (a hang is a detected bug) kills the mutant.  Jobs tagged ``golden`` never read the RTL and are not
run.  First the unmutated copy runs the same jobs (the baseline): a campaign whose baseline fails
stops, because every mutant would be "killed" by the broken baseline.

Results in ``build/mutate/<run>/``: ``results.json`` (kill matrix mutant x job, score, per mutant its
file:line, diff and triage) and ``report.md``.  Survivors are triaged in
``regressions/mutants_triage.yaml`` by their stable ``key``: ``equivalent`` (with the argument why no
test can tell it apart; excluded from the score) or ``hole`` (a verification hole, with the check that
would kill it).  Score = killed / (non-stillborn - equivalent).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from regressions.suite import SUITES, Job, SuiteError, load_suite

REPO = pathlib.Path(__file__).resolve().parent.parent
RTL = REPO / "rtl"
OUT = REPO / "build" / "mutate"
RTL_CACHE = OUT / "rtl"
"""Content-addressed mutant copies of rtl/: ``<base hash>/base`` and ``<base hash>/<mutant id>``."""
SIM_BUILD = REPO / "build" / "sim"
TRIAGE = pathlib.Path(__file__).resolve().parent / "mutants_triage.yaml"
RTL_DIR_ENV = "NMX_RTL_DIR"
"""tb/sim_env.RTL_DIR_ENV (not imported here: listing and sampling need no testbench)."""
OPT_FAST_ENV = "NMX_OPT_FAST"
"""tb/sim_env.OPT_FAST_ENV (the same reason)."""

OPERATORS: dict[str, str] = {
    "arith": "binary + <-> - (also += <-> -=)",
    "logic": "& <-> |, && <-> || (binary or reduction; also &= <-> |=)",
    "eq": "== <-> !=",
    "rel": "< <-> <=, > <-> >= (comparisons and loop bounds)",
    "const": "a constant off by one: decimal n -> n+1, n-1; sized literal value +-1; '0 <-> '1",
    "slice": "inside a bit/part select: a constant or +/- off by one; a +: / -: base shifted by one",
    "cond": "an if or ?: condition inverted (!(c)); a ! or ~ removed",
    "stuck": "an assignment's right-hand side forced to '0 or '1 (stuck enable or data)",
    "drop": "a procedural assignment deleted (the register keeps its value; the comb signal latches)",
}
"""The operator set, documented (docs/verification.md, "Mutation testing")."""

STATUSES = ("killed", "survived", "stillborn", "not_run")


# --------------------------------------------------------------------------------------- tokenizer


@dataclasses.dataclass(frozen=True)
class Tok:
    kind: str   # id | num | lit | op | str
    text: str
    start: int  # character offsets in the file
    end: int


_OPS = sorted("""<<<= >>>= <<< >>> === !== ==? !=? <<= >>= -> :: +: -: ++ -- += -= *= /= %= &= |= ^= << >>
== != <= >= && || ** ~& ~| ~^ ^~ ' + - * / % & | ^ ~ ! < > = ? : ; , . ( ) [ ] { } # @""".split(),
              key=len, reverse=True)
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<str>\"(?:\\.|[^\"\\])*\")"
    r"|(?P<lit>\d+'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ?_]+|'[sS]?[bBoOdDhH][0-9a-fA-FxXzZ?_]+|'[01xXzZ](?![\w']))"
    r"|(?P<num>\d[\d_]*)|(?P<id>[A-Za-z_$][\w$]*|`[A-Za-z_]\w*)"
    r"|(?P<op>" + "|".join(map(re.escape, _OPS)) + ")",
    re.S)


def tokenize(text: str) -> list[Tok]:
    """Significant tokens of SystemVerilog ``text`` (whitespace and comments dropped)."""
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise ValueError(f"cannot tokenize at line {line}: {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append(Tok(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return out


# --------------------------------------------------------------------------------------- sites


@dataclasses.dataclass(frozen=True)
class Site:
    """One mutation: replace ``text[start:end]`` of ``file`` by ``repl``."""

    file: str      # file name in rtl/
    op: str        # a key of OPERATORS
    start: int
    end: int
    repl: str
    what: str      # short description ("+ -> -")
    context: str   # the statement kind: ff | comb | assign | func


_DECL = {"logic", "int", "integer", "bit", "reg", "byte", "shortint", "longint", "automatic", "static",
         "localparam", "parameter", "var", "const", "genvar", "wire", "input", "output", "inout"}
_ASSIGN_OPS = {"=", "<=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "<<<=", ">>>="}
_SWAP = {"+": ("-", "arith"), "-": ("+", "arith"), "+=": ("-=", "arith"), "-=": ("+=", "arith"),
         "&": ("|", "logic"), "|": ("&", "logic"), "&&": ("||", "logic"), "||": ("&&", "logic"),
         "&=": ("|=", "logic"), "|=": ("&=", "logic"),
         "==": ("!=", "eq"), "!=": ("==", "eq"), "===": ("!==", "eq"), "!==": ("===", "eq"),
         "<": ("<=", "rel"), "<=": ("<", "rel"), ">": (">=", "rel"), ">=": (">", "rel")}
_OPEN = {"(": ")", "[": "]", "{": "}"}
_ZERO = {"'0", "1'b0", "'b0", "0"}
_ONE = {"'1", "1'b1"}


def _operand_end(t: Tok | None) -> bool:
    """Whether ``t`` ends an operand (so the next + - & | is binary)."""
    return t is not None and (t.kind in ("num", "lit", "str") or (t.kind == "id" and t.text not in _DECL)
                              or t.text in (")", "]", "}"))


class _Parser:
    """Statements of one module file; collects the mutation sites of each."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text
        self.t = tokenize(text)
        self.sites: list[Site] = []
        self.ctx = ""

    # -- helpers
    def _tx(self, i: int) -> str:
        return self.t[i].text if i < len(self.t) else ""

    def _match(self, i: int) -> int:
        """Index of the bracket closing the one at ``i``."""
        close, depth = _OPEN[self.t[i].text], 0
        for j in range(i, len(self.t)):
            s = self.t[j].text
            if s in _OPEN:
                depth += 1
            elif s in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    if s != close:
                        break
                    return j
        raise ValueError(f"{self.name}: unbalanced {self.t[i].text!r} at line {self._line(self.t[i].start)}")

    def _until(self, i: int, stop: str) -> int:
        """Index of the next ``stop`` token at bracket depth 0 from ``i``."""
        j = i
        while j < len(self.t):
            s = self.t[j].text
            if s in _OPEN:
                j = self._match(j) + 1
                continue
            if s == stop:
                return j
            j += 1
        raise ValueError(f"{self.name}: no {stop!r} after line {self._line(self.t[i].start)}")

    def _line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1

    def _add(self, op: str, start: int, end: int, repl: str, what: str) -> None:
        self.sites.append(Site(self.name, op, start, end, repl, what, self.ctx))

    def _span(self, a: int, b: int) -> str:
        """Source text of tokens a..b-1."""
        return self.text[self.t[a].start:self.t[b - 1].end]

    # -- regions
    def parse(self) -> list[Site]:
        i = 0
        while i < len(self.t):
            s = self._tx(i)
            if s in ("always_ff", "always_comb", "always_latch", "always"):
                self.ctx = "ff" if s == "always_ff" else "comb"
                i += 1
                if self._tx(i) == "@":
                    i += 1
                    i = self._match(i) + 1 if self._tx(i) == "(" else i + 1
                i = self._stmt(i)
            elif s == "assign":
                self.ctx = "assign"
                end = self._until(i + 1, ";")
                self._simple(i + 1, end, procedural=False)
                i = end + 1
            elif s == "function":
                self.ctx = "func"
                i = self._until(i + 1, ";") + 1
                while self._tx(i) != "endfunction":
                    i = self._stmt(i)
                i += 1
            else:
                i += 1
        return self.sites

    def _stmt(self, i: int) -> int:
        """Parse one statement from ``i``; return the index after it."""
        s = self._tx(i)
        if s in ("unique", "unique0", "priority"):
            return self._stmt(i + 1)
        if s == "begin":
            i += 1
            if self._tx(i) == ":":
                i += 2
            while self._tx(i) != "end":
                i = self._stmt(i)
            i += 1
            if self._tx(i) == ":":
                i += 2
            return i
        if s == "if":
            close = self._match(i + 1)
            self._cond(i + 2, close)
            self._expr(i + 2, close)
            i = self._stmt(close + 1)
            if self._tx(i) == "else":
                i = self._stmt(i + 1)
            return i
        if s == "for":
            close = self._match(i + 1)
            semi1 = self._until(i + 2, ";")
            semi2 = self._until(semi1 + 1, ";")
            init = [k for k in range(i + 2, semi1) if self._tx(k) == "="]
            if init:
                self._expr(init[0] + 1, semi1)
            self._expr(semi1 + 1, semi2)
            return self._stmt(close + 1)
        if s in ("case", "casez", "casex"):
            i = self._match(i + 1) + 1
            while self._tx(i) != "endcase":
                if self._tx(i) == "default":
                    i += 1
                    if self._tx(i) == ":":
                        i += 1
                else:
                    i = self._until(i, ":") + 1
                i = self._stmt(i)
            return i + 1
        if s == ";":
            return i + 1
        end = self._until(i, ";")
        if s in _DECL or s == "return":
            if s == "return":
                self._expr(i + 1, end)
            return end + 1
        self._simple(i, end, procedural=True)
        return end + 1

    def _simple(self, a: int, end: int, *, procedural: bool) -> None:
        """An assignment ``lhs op rhs`` in tokens a..end-1 (``end`` is its ``;``)."""
        k = a
        while k < end and self._tx(k) not in _ASSIGN_OPS:
            k = self._match(k) + 1 if self._tx(k) in _OPEN else k + 1
        if k >= end:
            return  # a call or ++: not an assignment
        if self._tx(a).startswith("unused"):
            return  # a lint sink (unused_* = ^{...}): it drives nothing, every mutant would be equivalent
        rhs = self._span(k + 1, end)
        t0, t1 = self.t[k + 1].start, self.t[end - 1].end
        if end - k > 2 or self.t[k + 1].kind not in ("num", "lit"):  # a lone constant: ``const`` covers it
            if rhs.strip() not in _ZERO:
                self._add("stuck", t0, t1, "'0", f"rhs stuck at '0 (was {_short(rhs)})")
            if rhs.strip() not in _ONE:
                self._add("stuck", t0, t1, "'1", f"rhs stuck at '1 (was {_short(rhs)})")
        if procedural:
            self._add("drop", self.t[a].start, self.t[end].end, ";",
                      f"assignment dropped: {_short(self._span(a, end + 1))}")
        op = self._tx(k)
        if op in ("+=", "-=", "&=", "|="):
            new, cat = _SWAP[op]
            self._add(cat, self.t[k].start, self.t[k].end, new, f"{op} -> {new}")
        self._slices(a, k)      # wrong slice of the left-hand side
        self._expr(k + 1, end)

    def _cond(self, a: int, b: int) -> None:
        """An if condition in tokens a..b-1: inverted."""
        if b > a:
            self._add("cond", self.t[a].start, self.t[b - 1].end, f"!({self._span(a, b)})",
                      f"condition inverted: if (!({_short(self._span(a, b))}))")

    def _slices(self, a: int, b: int) -> None:
        """Part-select bases of tokens a..b-1 shifted by one (``[x +: w]`` -> ``[(x) + 1 +: w]``) and
        the constants / +- inside their brackets off by one."""
        depth = 0
        opens: list[int] = []
        for k in range(a, b):
            s = self._tx(k)
            if s == "[":
                opens.append(k)
                depth += 1
            elif s == "]":
                depth -= 1
                if opens:
                    opens.pop()
            elif s in ("+:", "-:") and opens:
                lo = opens[-1] + 1
                base = self._span(lo, k)
                repl = f"({base}) + 1" if k - lo > 1 else f"{base} + 1"
                self._add("slice", self.t[lo].start, self.t[k - 1].end, repl,
                          f"part-select base shifted: [{_short(base)} {s} ...] -> [{repl} {s} ...]")
            if depth > 0:
                self._atom(k, "slice")

    def _expr(self, a: int, b: int) -> None:
        """Operator, constant, slice and condition sites of the expression in tokens a..b-1."""
        depth = 0
        self._slices(a, b)
        for k in range(a, b):
            s = self._tx(k)
            if s == "[":
                depth += 1
            elif s == "]":
                depth -= 1
            if depth == 0 and s != "[":
                self._atom(k, None)
            if s == "?":
                self._ternary(a, k)

    def _atom(self, k: int, cat: str | None) -> None:
        """Sites of the single token ``k``: binary operator swaps, constants, negation removal.
        ``cat`` "slice": inside a select (constants and +/- only, all reported as ``slice``)."""
        t = self.t[k]
        prev = self.t[k - 1] if k > 0 else None
        nxt = self._tx(k + 1)
        if t.kind == "op" and t.text in _SWAP and t.text not in ("+=", "-=", "&=", "|="):
            new, op = _SWAP[t.text]
            binary = _operand_end(prev)
            if op == "arith" and not binary:
                return  # unary minus / plus
            if op in ("eq", "rel") and not binary:
                return
            if t.text == "<=" and self.ctx == "ff" and not self._inside_parens(k):
                return  # the non-blocking assignment itself (handled by _simple)
            if cat == "slice" and op != "arith":
                return
            self._add(cat or op, t.start, t.end, new, f"{t.text} -> {new}")
        elif t.kind == "num" and nxt != "'":
            n = int(t.text.replace("_", ""))
            for v in (n + 1, n - 1):
                if v >= 0:
                    self._add(cat or "const", t.start, t.end, str(v), f"constant {n} -> {v}")
        elif t.kind == "lit" and cat is None:
            for new in _lit_neighbours(t.text):
                self._add("const", t.start, t.end, new, f"constant {t.text} -> {new}")
        elif t.text in ("!", "~") and cat is None and not _operand_end(prev):
            self._add("cond", t.start, t.end, "",
                      f"negation removed: {t.text}{_short(self.text[t.end:t.end + 30])}")

    def _inside_parens(self, k: int) -> bool:
        """Whether token ``k`` is inside ( ) within its statement (a comparison, not the assignment)."""
        depth = 0
        for j in range(k - 1, -1, -1):
            s = self._tx(j)
            if s in (";", "begin", "end", "else"):
                return False
            if s in (")", "]", "}"):
                depth += 1
            elif s in ("(", "[", "{"):
                if depth == 0:
                    return True
                depth -= 1
        return False

    def _ternary(self, a: int, q: int) -> None:
        """The condition of the ``?`` at ``q`` (searching back no further than ``a``): inverted."""
        depth = 0
        j = q - 1
        while j >= a:
            s = self._tx(j)
            if s in (")", "]", "}"):
                depth += 1
            elif s in ("(", "[", "{"):
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and s in (",", "?", ":", "=", "<="):
                break
            j -= 1
        lo = j + 1
        if lo < q:
            c = self._span(lo, q)
            self._add("cond", self.t[lo].start, self.t[q - 1].end, f"!({c})",
                      f"condition inverted: !({_short(c)}) ? ...")


def _short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 3] + "..."


def _lit_neighbours(lit: str) -> list[str]:
    """A literal's value +-1 in its own width and base; '0 <-> '1."""
    if lit in ("'0", "'1"):
        return ["'1" if lit == "'0" else "'0"]
    m = re.fullmatch(r"(\d+)'([sS]?)([bBoOdDhH])([0-9a-fA-F_]+)", lit)
    if not m:
        return []
    width, sgn, base, digits = int(m.group(1)), m.group(2), m.group(3).lower(), m.group(4).replace("_", "")
    radix = {"b": 2, "o": 8, "d": 10, "h": 16}[base]
    v = int(digits, radix)
    out = []
    for n in (v + 1, v - 1):
        if 0 <= n < 2**width:
            body = {"b": f"{n:0{width}b}", "o": f"{n:o}", "d": str(n), "h": f"{n:x}"}[base]
            out.append(f"{width}'{sgn}{m.group(3)}{body}")
    return out


# --------------------------------------------------------------------------------------- mutants


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A site applied to its file: identity, location and diff."""

    id: str        # <module>-L<line>-<op>-<key[:6]>
    key: str       # stable across RTL edits elsewhere in the file (what the triage file names)
    file: str
    line: int
    op: str
    what: str
    context: str
    diff: str
    site: Site

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "file": self.file, "line": self.line, "op": self.op,
                "what": self.what, "context": self.context, "diff": self.diff}


def file_sites(name: str, text: str) -> list[Site]:
    """Every mutation site of one RTL file (``name`` its file name), in file order, no duplicates and
    no edit that leaves the text unchanged."""
    seen: set[tuple[int, int, str]] = set()
    out = []
    for s in _Parser(name, text).parse():
        if (s.start, s.end, s.repl) in seen or text[s.start:s.end] == s.repl:
            continue
        seen.add((s.start, s.end, s.repl))
        out.append(s)
    return sorted(out, key=lambda s: (s.start, s.end, s.op, s.repl))


def apply(text: str, site: Site) -> str:
    return text[:site.start] + site.repl + text[site.end:]


def make_mutants(sources: dict[str, str], sites: Iterable[Site]) -> list[Mutant]:
    """Mutants of ``sites`` (``sources``: file name -> text), with stable keys: a hash of the file,
    operator, the changed line(s) before and after (whitespace collapsed) and the occurrence number
    among identical edits of the file, so a triage entry survives edits of other lines."""
    counts: dict[tuple[str, ...], int] = {}
    out = []
    for s in sites:
        text = sources[s.file]
        lo = text.rfind("\n", 0, s.start) + 1
        hi = text.find("\n", s.end)
        hi = len(text) if hi < 0 else hi
        before = " ".join(text[lo:hi].split())
        after = " ".join((text[lo:s.start] + s.repl + text[s.end:hi]).split())
        ident = (s.file, s.op, before, after)
        n = counts.get(ident, 0)
        counts[ident] = n + 1
        key = hashlib.sha1("\0".join([*ident, str(n)]).encode()).hexdigest()[:12]
        line = text.count("\n", 0, s.start) + 1
        diff = _diff(s.file, text, lo, hi, text[lo:s.start] + s.repl + text[s.end:hi], line)
        stem = s.file.removesuffix(".sv")
        out.append(Mutant(f"{stem}-L{line}-{s.op}-{key[:6]}", key, s.file, line, s.op, s.what, s.context,
                          diff, s))
    return out


def _diff(name: str, text: str, lo: int, hi: int, new: str, line: int) -> str:
    """Unified diff (one line of context) of replacing the whole lines ``text[lo:hi]`` (from ``line``)
    by ``new``; built from the lines around the edit (difflib over the whole file per mutant is slow)."""
    p_lo = text.rfind("\n", 0, max(0, lo - 1)) + 1 if lo > 0 else -1
    prev = [text[p_lo:lo - 1]] if lo > 0 else []
    n_hi = text.find("\n", hi + 1)
    nxt = [text[hi + 1:n_hi if n_hi >= 0 else len(text)]] if hi < len(text) - 1 else []
    old_l, new_l = text[lo:hi].split("\n"), new.split("\n")
    start, ctx = line - len(prev), len(prev) + len(nxt)
    out = [f"--- rtl/{name}\n", f"+++ rtl/{name} (mutant)\n",
           f"@@ -{start},{ctx + len(old_l)} +{start},{ctx + len(new_l)} @@\n"]
    out += [f" {x}\n" for x in prev] + [f"-{x}\n" for x in old_l] + [f"+{x}\n" for x in new_l]
    out += [f" {x}\n" for x in nxt]
    return "".join(out)


def rtl_files(rtl: pathlib.Path, modules: Sequence[str] | None = None) -> dict[str, str]:
    """The mutable RTL files of ``rtl``: every ``*.sv`` but the packages, or only ``modules`` (stems
    or globs); file name -> text."""
    files = sorted(p for p in rtl.glob("*.sv") if not p.name.endswith("_pkg.sv"))
    if modules:
        picked = [p for p in files if any(fnmatch.fnmatchcase(p.stem, m) for m in modules)]
        missing = [m for m in modules if not any(fnmatch.fnmatchcase(p.stem, m) for p in files)]
        if missing:
            raise SuiteError(f"--modules: no rtl/<module>.sv for {missing}; modules: "
                             + ", ".join(p.stem for p in files))
        files = picked
    return {p.name: p.read_text() for p in files}


def all_mutants(rtl: pathlib.Path = RTL, modules: Sequence[str] | None = None) -> list[Mutant]:
    sources = rtl_files(rtl, modules)
    return make_mutants(sources, [s for name in sorted(sources) for s in file_sites(name, sources[name])])


def sample(mutants: Sequence[Mutant], n: int, seed: int) -> list[Mutant]:
    """A uniform random sample of ``n`` mutants, deterministic for ``seed`` and the mutant list
    (uniform, not stratified by operator: the score of the sample estimates the population's)."""
    pool = sorted(mutants, key=lambda m: (m.file, m.site.start, m.key))
    picked = pool if n >= len(pool) else random.Random(seed).sample(pool, n)
    return sorted(picked, key=lambda m: (m.file, m.line, m.key))


# --------------------------------------------------------------------------------------- copies


def _tree_hash(d: pathlib.Path) -> str:
    h = hashlib.sha1()
    for p in sorted(d.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(d)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:10]


def _materialise(dst: pathlib.Path, fill: Callable[[pathlib.Path], None]) -> pathlib.Path:
    """Create ``dst`` atomically (a temporary sibling renamed), unless it already exists."""
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=dst.parent, prefix=".tmp-"))
    fill(tmp)
    try:
        tmp.rename(dst)
    except OSError:  # another campaign made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def snapshot(rtl: pathlib.Path = RTL, cache: pathlib.Path = RTL_CACHE) -> pathlib.Path:
    """A frozen copy of ``rtl`` (with its sva/ checkers and lint waivers) that the campaign mutates,
    so edits of rtl/ during a campaign change neither the mutants nor the baseline."""
    base = cache / _tree_hash(rtl) / "base"
    return _materialise(base, lambda t: shutil.copytree(rtl, t, dirs_exist_ok=True,
                                                        ignore=shutil.ignore_patterns("__pycache__")))


def mutant_dir(base: pathlib.Path, m: Mutant) -> pathlib.Path:
    """The copy of ``base`` with mutant ``m`` applied (beside ``base``, named by the mutant id)."""
    def fill(t: pathlib.Path) -> None:
        shutil.copytree(base, t, dirs_exist_ok=True)
        p = t / m.file
        p.write_text(apply(p.read_text(), m.site))

    return _materialise(base.parent / m.id, fill)


def lint_mutant(rtl: pathlib.Path, params: Sequence[dict[str, int]]) -> tuple[bool, str]:
    """Verilator lint (errors only: warnings are not fatal, as in the simulation build) of ``rtl``
    with nmx_top at each parameter set; (compiles, first error lines)."""
    from tb import sim_env

    files = [str(p) for p in sorted(rtl.glob("*_pkg.sv"), key=lambda p: (p.name != "nmx_isa_pkg.sv", p.name))]
    files += [str(p) for p in sorted(rtl.glob("*.sv")) if not p.name.endswith("_pkg.sv")]
    waivers = rtl / "lint_waivers.vlt"
    for ps in params or [{}]:
        cmd = [sim_env.verilator_bin(), "--lint-only", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", "nmx_top", *([str(waivers)] if waivers.exists() else []), *files,
               *(f"-G{k}={v}" for k, v in ps.items())]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
        out = proc.stdout + proc.stderr
        if proc.returncode != 0 or "%Error" in out:
            errs = [ln for ln in out.splitlines() if ln.startswith("%Error")][:3]
            return False, " | ".join(errs) or out.strip()[-300:]
    return True, ""


def remove_builds(rtl: pathlib.Path, sim_build: pathlib.Path = SIM_BUILD) -> int:
    """Delete the Verilator build directories made from ``rtl`` (a mutant copy: 150 MB per
    configuration at 4x4); found by the source paths their dependency files name.  Returns bytes."""
    needle = (str(rtl.resolve()) + "/").encode()
    freed = 0
    if not sim_build.is_dir():
        return 0
    for d in sim_build.iterdir():
        if not d.is_dir():
            continue
        deps = [d / "Vtop__ver.d", d / "Vtop__verFiles.dat"]
        try:
            hit = any(p.is_file() and needle in p.read_bytes() for p in deps)
        except OSError:
            continue
        if hit:
            freed += sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            shutil.rmtree(d, ignore_errors=True)
            pathlib.Path(f"{d}.lock").unlink(missing_ok=True)
    return freed


# --------------------------------------------------------------------------------------- the job kind


def run_mutant_job(params: dict[str, Any], outdir: pathlib.Path) -> dict[str, Any]:
    """Job kind ``_mutant`` (in the job's own process): one suite job against a copy of rtl/.

    ``params``: ``rtl_dir`` (the mutant copy), ``kind`` and ``params`` of the suite job, ``opt_fast``
    (optional: the builds' C++ optimisation).  Sets ``NMX_RTL_DIR`` (and ``NMX_OPT_FAST``) for this
    process and every simulator it starts, then runs the suite job's kind."""
    from regressions import jobs

    os.environ[RTL_DIR_ENV] = str(params["rtl_dir"])
    if params.get("opt_fast"):
        os.environ[OPT_FAST_ENV] = str(params["opt_fast"])
    return jobs.KINDS[params["kind"]](dict(params["params"]), outdir)


# --------------------------------------------------------------------------------------- triage


def load_triage(path: pathlib.Path = TRIAGE) -> dict[str, dict[str, Any]]:
    """Triaged survivors by key: ``{verdict: equivalent|hole, reason: ...}``; errors name the entry."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    out: dict[str, dict[str, Any]] = {}
    for i, e in enumerate(data.get("survivors") or []):
        where = f"{path.name}: survivors[{i}]"
        if not isinstance(e, dict) or not {"key", "verdict", "reason"} <= set(e):
            raise SuiteError(f"{where}: an entry has key, verdict and reason")
        if e["verdict"] not in ("equivalent", "hole"):
            raise SuiteError(f"{where}: verdict {e['verdict']!r} is not 'equivalent' or 'hole'")
        if not str(e["reason"]).strip():
            raise SuiteError(f"{where}: an empty reason (write down the argument)")
        out[str(e["key"])] = dict(e)
    return out


# --------------------------------------------------------------------------------------- campaign


def suite_jobs(suite: str, suites_file: pathlib.Path = SUITES, only: Sequence[str] = ()) -> list[Job]:
    """The jobs of ``suite`` that read the RTL (not tagged ``golden``), narrowed by ``only`` globs."""
    picked = [j for j in load_suite(suite, suites_file) if "golden" not in j.tags
              and (not only or any(fnmatch.fnmatchcase(j.name, p) for p in only))]
    if not picked:
        raise SuiteError(f"suite {suite!r}: no RTL job to run against the mutants (only {list(only)})")
    return picked


def _lint_params(jobs_: Sequence[Job]) -> list[dict[str, int]]:
    """nmx_top parameters of each configuration the jobs run (the mutant must elaborate at each)."""
    from golden.hwcfg import parse_hw
    from tb.flows import top_params

    out: list[dict[str, int]] = []
    for j in jobs_:
        cfg = j.params.get("cfg")
        if cfg:
            p = top_params(parse_hw(str(cfg)))
            if p not in out:
                out.append(p)
    return out or [{}]


def _cell(rec: dict[str, Any]) -> str:
    """Kill-matrix cell of a job record: killed (fail or error), timeout, survived (pass)."""
    return {"pass": "survived", "timeout": "timeout"}.get(rec["status"], "killed")


def campaign(*, suite: str = "smoke", suites_file: pathlib.Path = SUITES, max_mutants: int = 30,
             seed: int = 1, jobs: int = 1, modules: Sequence[str] | None = None, out: pathlib.Path = OUT,
             triage: pathlib.Path = TRIAGE, only: Sequence[str] = (), mutants: Sequence[str] = (),
             timeout_factor: float = 4.0, min_timeout_s: float = 300.0, baseline: bool = True,
             keep_builds: bool = False, max_rss_mb: float = 0.0, rtl: pathlib.Path = RTL,
             opt_fast: str = "-O0", first_kill: bool = False,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run a mutation campaign; return (and write) its results (module docstring).

    ``mutants``: ids or key prefixes to run instead of a sample.  ``timeout_factor``: a mutant's job
    gets max(min_timeout_s, factor x the baseline's wall time) (capped by the suite's timeout_s), so a
    hang costs minutes, not the suite's hour.  ``opt_fast``: the C++ optimisation of every build of the
    campaign, baseline included ($NMX_OPT_FAST of tb/sim_env, inherited by every job's process): a
    mutant is built once and simulated for seconds, so -O0 (half the build time) is the default.
    ``first_kill``: run the suite's jobs cheapest first (by the baseline's wall time), each job for
    every mutant before the next job, and skip a mutant's remaining jobs once one has killed it (as mcy
    does): the score is the same, survivors still run every job, but the kill matrix shows only the
    first killer (``-`` for the jobs skipped) and a killed mutant costs one job instead of all."""
    from regressions.executor import LocalExecutor, write_json_atomic

    t_start = time.monotonic()
    sjobs = suite_jobs(suite, suites_file, only)
    base = snapshot(rtl)
    population = all_mutants(base, modules)
    if mutants:
        chosen = [m for m in population if any(m.id == x or m.key.startswith(x) for x in mutants)]
        if len(chosen) < len(mutants):
            raise SuiteError(f"--mutant: {len(mutants)} asked, {len(chosen)} found among {len(population)}")
    else:
        chosen = sample(population, max_mutants, seed)
    tri = load_triage(triage)
    run_dir = out / (dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{suite}")
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = run_dir.with_name(f"{run_dir.name.split('~')[0]}~{n}")
    (run_dir / "jobs").mkdir(parents=True)
    log(f"[mutate] {run_dir.name}: {len(chosen)} of {len(population)} mutants (seed {seed}), suite {suite}:"
        f" {', '.join(j.name for j in sjobs)}; base {base}")

    def record(rec: dict[str, Any]) -> None:
        write_json_atomic(run_dir / "jobs" / f"{rec['name']}.json", rec)

    lint_params = _lint_params(sjobs)
    executor = LocalExecutor(jobs, max_rss_mb)
    interrupted = False
    base_recs: dict[str, dict[str, Any]] = {}
    results: dict[str, Any] = {
        "run_id": run_dir.name, "suite": suite, "suites_file": str(suites_file), "seed": seed,
        "opt_fast": opt_fast, "first_kill": first_kill,
        "modules": list(modules or []), "population": len(population), "sampled": len(chosen),
        "jobs": [j.name for j in sjobs], "base_rtl": str(base), "operators": OPERATORS,
        "argv": sys.argv, "started": dt.datetime.now().astimezone().isoformat(timespec="seconds")}

    # 1. stillborn: the mutants that do not compile
    dirs = {m.id: mutant_dir(base, m) for m in chosen}
    t_lint = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        lints = dict(zip(dirs, pool.map(lambda d: lint_mutant(d, lint_params), dirs.values()), strict=True))
    lint_s = time.monotonic() - t_lint
    live = [m for m in chosen if lints[m.id][0]]
    log(f"[mutate] lint: {len(chosen) - len(live)} stillborn of {len(chosen)} ({lint_s:.0f} s)")

    def as_job(j: Job, rtl_dir: pathlib.Path, name: str, timeout: float) -> Job:
        return Job(name=name, kind="_mutant", params={"rtl_dir": str(rtl_dir), "kind": j.kind,
                                                       "params": dict(j.params), "opt_fast": opt_fast},
                   timeout_s=timeout, tags=j.tags, suite=j.suite)

    def rerun(j: Job) -> str:
        p = j.params
        return (f"{RTL_DIR_ENV}={p['rtl_dir']} .venv/bin/python -m regressions.run --suite {suite}"
                f" --only {j.name.rsplit('.', 1)[-1]}")

    try:
        # 2. the baseline: the unmutated copy must pass every job
        if baseline:
            todo = [as_job(j, base, f"baseline.{j.name}", j.timeout_s) for j in sjobs]
            def base_done(r: dict[str, Any]) -> None:
                record(r)
                base_recs[r["name"].split(".", 1)[1]] = r
                log(f"[mutate] {r['name']}: {r['status']} in {r['wall_s']:.0f} s"
                    + (f" - {r['reason'][:160]}" if r.get("reason") else ""))

            executor.run(todo, run_dir, rerun=rerun, on_start=lambda j: log(f"[mutate] start {j.name}"),
                         on_done=base_done)
            bad = [r for r in base_recs.values() if r["status"] != "pass"]
            if bad:
                results["baseline"] = {n: {"status": r["status"], "reason": r["reason"],
                                           "wall_s": r["wall_s"]} for n, r in base_recs.items()}
                raise BaselineFailed("; ".join(f"{r['name']}: {r['status']} ({r['reason']})" for r in bad))
        # 3. every live mutant against every job
        timeouts = {j.name: min(j.timeout_s, max(min_timeout_s, timeout_factor *
                                                 base_recs.get(j.name, {}).get("wall_s", j.timeout_s)))
                    for j in sjobs}
        if first_kill:
            order = sorted(sjobs, key=lambda j: base_recs.get(j.name, {}).get("wall_s", j.timeout_s))
            todo = [as_job(j, dirs[m.id], f"{m.id}.{j.name}", timeouts[j.name]) for j in order for m in live]
        else:
            todo = [as_job(j, dirs[m.id], f"{m.id}.{j.name}", timeouts[j.name]) for m in live for j in sjobs]
        left = {m.id: len(sjobs) for m in live}
        dead: set[str] = set()
        lock = threading.Lock()
        done_n = [0]

        def skip(j: Job) -> dict[str, Any] | None:
            mid = j.name.rsplit(".", 1)[0]
            with lock:
                if not first_kill or mid not in dead:
                    return None
            return {"name": j.name, "status": "skipped", "wall_s": 0.0}

        def killed(r: dict[str, Any]) -> None:  # in the worker thread, before it takes the next job
            if _cell(r) in ("killed", "timeout"):
                with lock:
                    dead.add(r["name"].rsplit(".", 1)[0])

        def done(r: dict[str, Any]) -> None:
            mid = r["name"].rsplit(".", 1)[0]
            if r["status"] != "skipped":
                record(r)
            with lock:
                left[mid] -= 1
                done_n[0] += 1
                last = left[mid] == 0
            if r["status"] != "skipped":
                log(f"[mutate] {r['name']}: {_cell(r)} ({r['status']}, {r['wall_s']:.0f} s)"
                    f" {done_n[0]}/{len(todo)}" + (f" - {r['reason'][:120]}" if r.get("reason") else ""))
            if last and not keep_builds:
                remove_builds(dirs[mid])

        executor.run(todo, run_dir, rerun=rerun, on_start=lambda j: None, on_done=done, skip=skip,
                     after=killed)
    except KeyboardInterrupt:
        interrupted = True
        log("[mutate] interrupted: writing the report of the jobs that finished")
    except BaselineFailed as e:
        results["error"] = f"baseline failed: {e}"
        log(f"[mutate] the unmutated RTL fails the suite, no mutant run: {e}")
    finally:
        if not keep_builds:
            for d in dirs.values():
                remove_builds(d)
            if not interrupted:
                remove_builds(base)
    results.update(summarise(chosen, sjobs, lints, run_dir, tri, base_recs))
    results["interrupted"] = interrupted
    results["wall_s"] = round(time.monotonic() - t_start, 1)
    results["lint_s"] = round(lint_s, 1)
    ran = [m for m in results["mutants"] if m["status"] in ("killed", "survived")]
    results["s_per_mutant"] = round(sum(m["wall_s"] for m in ran) / max(1, len(ran)), 1)
    results["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    write_json_atomic(run_dir / "results.json", results)
    (run_dir / "report.md").write_text(report_md(results))
    latest = out / "latest"
    tmp = out / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, latest)
    log(f"[mutate] score {_pct(results['score'])} ({results['counts']}); report {run_dir / 'report.md'}")
    return results


class BaselineFailed(Exception):
    """The unmutated RTL copy does not pass the suite's jobs."""


def summarise(chosen: Sequence[Mutant], sjobs: Sequence[Job], lints: dict[str, tuple[bool, str]],
              run_dir: pathlib.Path, tri: dict[str, dict[str, Any]],
              base_recs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Kill matrix, per-mutant verdicts, counts and score from the job records in ``run_dir``."""
    rows = []
    for m in chosen:
        cells: dict[str, str] = {}
        reasons: dict[str, str] = {}
        wall = 0.0
        for j in sjobs:
            p = run_dir / "jobs" / f"{m.id}.{j.name}.json"
            if p.exists():
                rec = json.loads(p.read_text())
                cells[j.name] = _cell(rec)
                wall += float(rec.get("wall_s", 0))
                if rec.get("reason"):
                    reasons[j.name] = rec["reason"]
        if not lints.get(m.id, (True, ""))[0]:
            status = "stillborn"
        elif len(cells) < len(sjobs) and not any(c != "survived" for c in cells.values()):
            status = "not_run"
        elif any(c in ("killed", "timeout") for c in cells.values()):
            status = "killed"
        else:
            status = "survived"
        row = {**m.to_json(), "status": status, "cells": cells, "killed_by": [n for n, c in cells.items()
                                                                              if c != "survived"],
               "reasons": reasons, "wall_s": round(wall, 1)}
        if status == "stillborn":
            row["lint_error"] = lints[m.id][1]
        rows.append(row)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    counts["timeout"] = sum(any(c == "timeout" for c in r["cells"].values()) for r in rows)
    per_job = {j.name: sum(r["cells"].get(j.name) in ("killed", "timeout") for r in rows) for j in sjobs}
    per_op: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["status"] in ("killed", "survived"):
            d = per_op.setdefault(r["op"], {"killed": 0, "survived": 0})
            d[r["status"]] += 1
    return apply_triage({"mutants": rows, "counts": counts, "kills_per_job": per_job, "per_operator": per_op,
                         "baseline": {n: {"status": r["status"], "wall_s": r["wall_s"]}
                                      for n, r in base_recs.items()}}, tri)


def apply_triage(res: dict[str, Any], tri: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Set each survivor's triage from ``tri`` (by key) and the score from it: equivalents leave the
    denominator.  Used by a campaign and by ``--report`` (a finished campaign, the triage file edited)."""
    for r in res["mutants"]:
        if r["status"] == "survived":
            t = tri.get(r["key"])
            r["triage"] = ({"verdict": t["verdict"], "reason": " ".join(str(t["reason"]).split())} if t
                           else {"verdict": "untriaged", "reason": ""})
    c = res["counts"]
    c["equivalent"] = sum(r["status"] == "survived" and r["triage"]["verdict"] == "equivalent"
                          for r in res["mutants"])
    denom = c["killed"] + c["survived"] - c["equivalent"]
    raw = c["killed"] + c["survived"]
    res["score"] = c["killed"] / denom if denom else None
    res["score_raw"] = c["killed"] / raw if raw else None
    res["untriaged"] = [r["id"] for r in res["mutants"] if r["status"] == "survived"
                        and r["triage"]["verdict"] == "untriaged"]
    return res


def rereport(run_dir: pathlib.Path, triage: pathlib.Path = TRIAGE) -> dict[str, Any]:
    """Rewrite a finished campaign's results.json and report.md with the current triage file."""
    from regressions.executor import write_json_atomic

    res = apply_triage(json.loads((run_dir / "results.json").read_text()), load_triage(triage))
    write_json_atomic(run_dir / "results.json", res)
    (run_dir / "report.md").write_text(report_md(res))
    return res


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


_CELL = {"killed": "K", "survived": ".", "timeout": "T"}


def report_md(res: dict[str, Any]) -> str:
    """The markdown report: summary, per-operator figures, kill matrix, survivors with diffs."""
    c = res["counts"]
    jobs_ = res["jobs"]
    lines = [f"# Mutation campaign `{res['run_id']}` — suite `{res['suite']}`", "",
             f"Score **{_pct(res['score'])}** = killed {c['killed']} / (killed {c['killed']} + survived"
             f" {c['survived']} - equivalent {c['equivalent']}); without the triage {_pct(res['score_raw'])}."
             f" {res['sampled']} mutants sampled (seed {res['seed']}) of {res['population']} sites;"
             f" stillborn {c['stillborn']}, not run {c['not_run']},"
             f" killed by a timeout (hang) {c['timeout']}."
             f" Wall {res['wall_s']:.0f} s, {res['s_per_mutant']:.0f} s of job time per mutant (lint"
             f" {res['lint_s']:.0f} s in all)." + (" **Interrupted.**" if res.get("interrupted") else ""), ""]
    if res.get("error"):
        lines += [f"**{res['error']}**", ""]
    lines += ["| operator | killed | survived |", "|---|---|---|"]
    for op, d in sorted(res["per_operator"].items()):
        lines.append(f"| {op} | {d['killed']} | {d['survived']} |")
    lines += ["", "Kills per job: " + ", ".join(f"`{k}` {v}" for k, v in res["kills_per_job"].items()), "",
              "## Kill matrix", "", "K killed, T timeout (a hang), . survived; `-` not run"
              + (" (first-kill campaign: a killed mutant's later jobs are skipped, jobs cheapest first)."
                 if res.get("first_kill") else "."), "",
              "| mutant | file:line | op | " + " | ".join(jobs_) + " | status |",
              "|---|---|---|" + "---|" * len(jobs_) + "---|"]
    for m in res["mutants"]:
        cells = " | ".join(_CELL.get(m["cells"].get(j, ""), "-") for j in jobs_)
        st = m["status"] + (f" ({m['triage']['verdict']})" if m["status"] == "survived" else "")
        lines.append(f"| `{m['id']}` | {m['file']}:{m['line']} | {m['op']} | {cells} | {st} |")
    surv = [m for m in res["mutants"] if m["status"] == "survived"]
    lines += ["", f"## Survivors ({len(surv)})", ""]
    for m in surv:
        t = m["triage"]
        lines += [f"### `{m['id']}` — {m['file']}:{m['line']} ({m['op']}: {m['what']})", "",
                  f"key `{m['key']}`; triage **{t['verdict']}**"
                  + (f": {t['reason']}" if t["reason"] else " (add it to regressions/mutants_triage.yaml)"),
                  "", "```diff", m["diff"].rstrip(), "```", ""]
    still = [m for m in res["mutants"] if m["status"] == "stillborn"]
    if still:
        lines += [f"## Stillborn ({len(still)})", ""]
        lines += [f"- `{m['id']}` {m['file']}:{m['line']} {m['what']}: {m.get('lint_error', '')[:160]}"
                  for m in still]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------- nightly kind


def campaign_job(params: dict[str, Any], outdir: pathlib.Path) -> dict[str, Any]:
    """Job kind ``mutation`` (the nightly campaign): params ``suite``, ``max_mutants``, ``seed``,
    ``jobs``, ``modules`` (comma-separated), ``first_kill``, ``min_score`` (passes when the score
    reaches it and the campaign finished).  The campaign's reports go to ``outdir``."""
    mods = [m for m in str(params.get("modules", "")).split(",") if m]
    res = campaign(suite=str(params.get("suite", "smoke")), max_mutants=int(params.get("max_mutants", 30)),
                   seed=int(params.get("seed", 1)), jobs=int(params.get("jobs", 1)), modules=mods or None,
                   out=outdir, first_kill=bool(params.get("first_kill", False)),
                   log=lambda s: print(s, flush=True))
    goal = float(params.get("min_score", 0.8))
    score = res["score"]
    ok = score is not None and score >= goal and not res.get("error") and not res.get("interrupted")
    untriaged = [m["id"] for m in res["mutants"] if m["status"] == "survived"
                 and m["triage"]["verdict"] == "untriaged"]
    return {"passed": bool(ok),
            "reason": "" if ok else (res.get("error") or f"mutation score {_pct(score)} < {_pct(goal)}"
                                     f" ({len(untriaged)} untriaged survivors)"),
            "figures": {"score": round(score, 4) if score is not None else None,
                        **{k: v for k, v in res["counts"].items()}, "s_per_mutant": res["s_per_mutant"]},
            "mutation": {"run_id": res["run_id"], "survivors": [m["id"] for m in res["mutants"]
                                                                if m["status"] == "survived"],
                         "untriaged": untriaged}}


# --------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m regressions.mutate", description=__doc__.split("\n\n")[0],
                                epilog="examples:\n  python -m regressions.mutate --list --max-mutants 10\n"
                                       "  python -m regressions.mutate --suite smoke --max-mutants 30 -j 2\n"
                                       "  python -m regressions.mutate --modules nmx_fifo nmx_token_unit\n"
                                       "  make mutate SUITE=smoke N=30 JOBS=2",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="smoke", help="suite whose RTL jobs judge the mutants (default smoke)")
    p.add_argument("--suites", type=pathlib.Path, default=SUITES, metavar="PATH", help="suites file")
    p.add_argument("--only", action="append", default=[], metavar="JOB", help="only these jobs (globs)")
    p.add_argument("--max-mutants", type=int, default=30, metavar="N", help="sample size (default 30)")
    p.add_argument("--seed", type=int, default=1, help="sampling seed (default 1)")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="J", help="jobs at a time (default 1)")
    p.add_argument("--modules", nargs="+", metavar="MOD", help="only these rtl/ modules (stems or globs)")
    p.add_argument("--mutant", action="append", default=[], metavar="ID",
                   help="run this mutant (id or key prefix) instead of a sample (repeatable)")
    p.add_argument("--out", type=pathlib.Path, default=OUT, metavar="DIR", help="default build/mutate")
    p.add_argument("--triage", type=pathlib.Path, default=TRIAGE, metavar="YAML",
                   help="triaged survivors (default regressions/mutants_triage.yaml)")
    p.add_argument("--timeout-factor", type=float, default=4.0, metavar="F",
                   help="a mutant job's timeout: F x the baseline's wall time, at least --min-timeout")
    p.add_argument("--min-timeout", type=float, default=300.0, metavar="S", help="default 300 s")
    p.add_argument("--no-baseline", action="store_true", help="skip the unmutated run (not recommended)")
    p.add_argument("--keep-builds", action="store_true",
                   help="keep the mutants' Verilator builds (150 MB each at 4x4; a rerun reuses them)")
    p.add_argument("--max-rss-mb", type=float, default=0.0, metavar="MB", help="memory guard per job")
    p.add_argument("--opt-fast", default="-O0", choices=("-O0", "-O1", "-O2", "-O3", "-Os"),
                   help="C++ optimisation of the campaign's Verilator builds (default -O0: builds ~2x faster,"
                        " simulations slower; the suite jobs' own builds use -O2)")
    p.add_argument("--first-kill", action="store_true",
                   help="skip a mutant's remaining jobs once one kills it (cheapest jobs first): the same"
                        " score for a fraction of the time; the kill matrix shows the first killer only")
    p.add_argument("--list", action="store_true", help="print the sampled mutants with their diffs and exit")
    p.add_argument("--report", metavar="RUN", type=pathlib.Path,
                   help="rewrite the report of campaign RUN (a directory under --out, or latest) with the"
                        " current triage file, and exit")
    a = p.parse_args(argv)

    def stop(signum: int, frame: object) -> None:  # SIGTERM (CI cancel, kill) ends like Ctrl-C: a report
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    if a.max_mutants < 1 or a.jobs < 1:
        p.error("--max-mutants and --jobs must be at least 1")
    try:
        if a.report:
            run = a.report if a.report.is_dir() else a.out / a.report
            res = rereport(run.resolve(), a.triage)
            print(f"{run}: score {_pct(res['score'])} ({res['counts']}); untriaged: {res['untriaged']}")
            return 0
        if a.list:
            pop = all_mutants(RTL, a.modules)
            chosen = ([m for m in pop if any(m.id == x or m.key.startswith(x) for x in a.mutant)] if a.mutant
                      else sample(pop, a.max_mutants, a.seed))
            by_op = {op: sum(m.op == op for m in pop) for op in OPERATORS}
            print(f"{len(pop)} sites: " + ", ".join(f"{k} {v}" for k, v in by_op.items()))
            for m in chosen:
                print(f"\n{m.id}  key {m.key}  {m.file}:{m.line}  [{m.op}] {m.what}\n{m.diff.rstrip()}")
            print(f"\n{len(chosen)} mutants (seed {a.seed})")
            return 0
        res = campaign(suite=a.suite, suites_file=a.suites, max_mutants=a.max_mutants, seed=a.seed,
                       jobs=a.jobs, modules=a.modules, out=a.out.resolve(), triage=a.triage, only=a.only,
                       mutants=a.mutant,
                       timeout_factor=a.timeout_factor, min_timeout_s=a.min_timeout,
                       baseline=not a.no_baseline, keep_builds=a.keep_builds, max_rss_mb=a.max_rss_mb,
                       opt_fast=a.opt_fast, first_kill=a.first_kill)
    except (SuiteError, ValueError, OSError) as e:
        print(f"mutate: error: {e}", file=sys.stderr)
        return 2
    if res.get("error"):
        return 1
    return 130 if res.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
