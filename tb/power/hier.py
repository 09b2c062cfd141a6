"""Which RTL module each SAIF instance is, and what kind of signal each traced bit is.

Read from the RTL itself (``rtl/*.sv``, the same files every build reads), so a new module or
register is classified without a table to keep in step:

* instances: ``<module> #(...) u_name (`` in a module's file makes ``u_name`` an instance of
  ``<module>``; generate scopes (``g_*``) keep their parent's module;
* registers: a name on the left of a non-blocking assignment ``<=`` (only ``always_ff`` blocks
  assign that way in this lint-clean RTL);
* memory ports: every bit of an ``nmx_sram`` instance (its enables, addresses and data);
* clock: ``clk``.

Everything else is a datapath/control net.  Module classes (array, buffers, ...) come from the
instance path, the way a power report groups a design (docs/power.md, "Classes").
"""

from __future__ import annotations

import functools
import pathlib
import re
from dataclasses import dataclass

import numpy as np

from tb import sim_env
from tb.power.saif import Saif

SIGNAL_CLASSES = ("reg", "net", "mem", "clock")
SRAM_MODULE = "nmx_sram"
TOP_MODULE = "nmx_top"
DUT_PATH = "nmx_tb_top/u_dut"

MODULE_CLASSES: tuple[tuple[str, str], ...] = (
    ("u_gemm/u_array", "array"),
    ("u_gemm", "gemm_ctrl"),
    ("u_store/u_ppu", "ppu"),
    ("u_load", "dma"),
    ("u_store", "dma"),
    ("", "control"),
)
"""(path prefix below the DUT, class): first match wins; buffers (nmx_sram) are class "buffers"."""
REPORT_CLASSES = ("array", "gemm_ctrl", "buffers", "ppu", "dma", "control", "dram")
"""Classes of the energy breakdown, "dram" being external memory (outside the RTL)."""

_INST_RE = re.compile(r"^\s*(nmx_\w+)\s*(?:#\s*\(.*?\))?\s*(u_\w+)\s*\(", re.M | re.S)
_NBA_RE = re.compile(r"(?:^|;|\bbegin\b|\belse\b|\))\s*(\w+)(?:\s*\[[^\]]*\]|\.\w+)*\s*<=", re.M)
_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class RtlModule:
    name: str
    instances: dict[str, str]
    registers: frozenset[str]


@functools.lru_cache(maxsize=4)
def rtl_modules(rtl: pathlib.Path | None = None) -> dict[str, RtlModule]:
    """Instances and registers of every module of the RTL directory (sim_env.rtl_dir())."""
    d = rtl or sim_env.rtl_dir()
    out: dict[str, RtlModule] = {}
    for f in sorted(d.glob("*.sv")):
        if f.name.endswith("_pkg.sv"):
            continue
        text = _COMMENT_RE.sub("", f.read_text())
        out[f.stem] = RtlModule(
            name=f.stem,
            instances={m.group(2): m.group(1) for m in _INST_RE.finditer(text)},
            registers=frozenset(m.group(1) for m in _NBA_RE.finditer(text)),
        )
    return out


def module_of(path: str, mods: dict[str, RtlModule]) -> str:
    """RTL module of a SAIF instance path below (and including) the DUT, '' above it."""
    if not path.startswith(DUT_PATH):
        return ""
    cur = TOP_MODULE
    for part in path[len(DUT_PATH):].strip("/").split("/"):
        if not part:
            continue
        m = mods.get(cur)
        if part.startswith("u_") and m is not None and part in m.instances:
            cur = m.instances[part]
    return cur


def module_class(path: str, module: str) -> str:
    """Report class of an instance: buffers for every SRAM, else by path (MODULE_CLASSES)."""
    if module == SRAM_MODULE:
        return "buffers"
    rel = path[len(DUT_PATH):].strip("/")
    for prefix, cls in MODULE_CLASSES:
        if rel == prefix or rel.startswith(prefix + "/") or not prefix:
            return cls
    return "control"


def base_name(net: str) -> str:
    """A bit's signal name without its bit/element selects: 'acc[3][7]' -> 'acc'."""
    return re.split(r"[\[(.]", net, maxsplit=1)[0]


@dataclass
class Classified:
    """Every bit of a SAIF in one group = (instance, signal class), plus each instance's module."""

    saif: Saif
    modules: list[str]
    """(instances,) RTL module per instance ('' above the DUT)."""
    classes: list[str]
    """(instances,) report class per instance."""
    groups: np.ndarray
    """(bits,) group index = instance * len(SIGNAL_CLASSES) + class index."""
    bits_per_group: np.ndarray
    sram_ports: dict[str, dict[str, int]]
    """SRAM instance path -> {"re": group, "we": group} of the one-bit enables (their own groups)."""

    @property
    def n_groups(self) -> int:
        return len(self.bits_per_group)


def classify(s: Saif, rtl: pathlib.Path | None = None) -> Classified:
    mods = rtl_modules(rtl)
    nc = len(SIGNAL_CLASSES)
    modules = [module_of(p, mods) for p in s.instances]
    classes = [module_class(p, m) for p, m in zip(s.instances, modules, strict=True)]
    cls_idx = np.empty(s.bits, dtype=np.int64)
    regs = [mods[m].registers if m in mods else frozenset() for m in modules]
    for i, nm in enumerate(s.names):
        j = int(s.inst[i])
        b = base_name(nm)
        if b == "clk":
            c = 3
        elif modules[j] == SRAM_MODULE:
            c = 2
        elif b in regs[j]:
            c = 0
        else:
            c = 1
        cls_idx[i] = c
    groups = s.inst * nc + cls_idx
    n = len(s.instances) * nc
    # each SRAM's one-bit read/write enables get a group of their own (their T1 = access cycles)
    sram_ports: dict[str, dict[str, int]] = {}
    for i, nm in enumerate(s.names):
        j = int(s.inst[i])
        if modules[j] == SRAM_MODULE and nm in ("re", "we"):
            sram_ports.setdefault(s.instances[j], {})[nm] = n
            groups[i] = n
            n += 1
    return Classified(saif=s, modules=modules, classes=classes, groups=groups,
                      bits_per_group=np.bincount(groups, minlength=n), sram_ports=sram_ports)



def main(argv: list[str] | None = None) -> int:
    """``python -m tb.power.hier RUN.saif``: read a SAIF, attribute it, print toggles per class."""
    import argparse
    import time

    from tb.power import saif as saif_mod

    ap = argparse.ArgumentParser(prog="python -m tb.power.hier", description=main.__doc__)
    ap.add_argument("saif", help="a SAIF file of the DUT (e.g. <run>/power/run.saif)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    s = saif_mod.read(a.saif)
    t1 = time.perf_counter()
    cl = classify(s)
    nc = len(SIGNAL_CLASSES)
    per = np.bincount(cl.groups, weights=s.tc, minlength=cl.n_groups)[: len(s.instances) * nc]
    per = per.reshape(len(s.instances), nc)
    by: dict[str, np.ndarray] = {}
    for j, c in enumerate(cl.classes):
        by[c] = by.get(c, np.zeros(nc)) + per[j]
    t2 = time.perf_counter()
    print(f"{a.saif}: {s.bits:,} bits in {len(s.instances)} instances; read {t1 - t0:.2f} s, "
          f"attributed {t2 - t1:.2f} s")
    print(f"  {'class':10s} " + " ".join(f"{c:>14s}" for c in SIGNAL_CLASSES))
    for c in REPORT_CLASSES:
        if c in by:
            print(f"  {c:10s} " + " ".join(f"{int(v):14,d}" for v in by[c]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
