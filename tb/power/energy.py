"""Energy model: a run's toggle activity and the design's own size -> energy per module and window.

Every figure is computed per activity window with the same formula, so a run's total, its
per-module, per-class and per-layer figures are sums of one (windows x owners x components)
array and add up exactly (docs/power.md, "Energy model").

Owners.  The synthesis report (tb/flows/synth.py, cached per configuration) sizes every RTL
instance (``u_*``) by its *own* gate equivalents (GE), flip-flop bits and memory bits.  A SAIF
instance belongs to its nearest ancestor (or itself) that the synthesis report names; generate
scopes (``g_row[0]``) belong to the instance around them.

Components of an owner o in a window of ``n`` cycles lasting ``t = n / f``:

* ``logic``  = (TC_net + TC_reg) x comb_GE(o) / traced_bits(o) x e_ge_toggle.  The traced nets of
  a module are its named signals; its combinational gates (comb_GE = GE - FF_GE x FF bits) are
  assumed to switch at the average rate of those signals;
* ``reg``    = TC_reg x e_reg_toggle (each register bit transition);
* ``clock``  = FF bits x n x e_clk_ff_cycle (no clock gating in the RTL: every flop every cycle);
* ``leak``   = GE x p_leak_ge x t;
* ``sram``   (``nmx_sram`` instances, a memory macro each) = reads x E_rd + writes x E_wr, reads
  and writes being the cycles its one-bit ``re``/``we`` enables were high (their T1 / period),
  E from the technology's size-scaled access energy; its address/data nets are part of that
  access energy, not extra logic;
* ``sram_leak`` = memory bits x p_leak_sram_bit x t;
* ``dram``   (class "dram", outside the RTL) = AXI data bytes of the window x e_dram_byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from golden.hwcfg import HwConfig
from tb import sim_env
from tb.power import hier
from tb.power.hier import SIGNAL_CLASSES, Classified
from tb.power.saif import Activity
from tb.power.tech import Tech

COMPONENTS = ("logic", "reg", "clock", "leak", "sram", "sram_leak", "dram")
DYNAMIC = frozenset({"logic", "reg", "clock", "sram", "dram"})
DRAM_OWNER = "(external memory)"
SYNTH_TOP = "nmx_top"


def synth_report(hw: HwConfig) -> dict[str, Any]:
    """The synthesis report of ``hw``'s RTL (tb/flows/synth.py), cached by parameters and RTL."""
    from tb.flows import synth, top_params

    params = top_params(hw)
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    out = sim_env.BUILD / "synth" / f"power_{key}_{sim_env.sources_id(sim_env.rtl_sources())}"
    rep = out / "report.json"
    if rep.exists():
        return json.loads(rep.read_text())
    return synth.run(params, outdir=out, quiet=True)


@dataclass(frozen=True)
class Owner:
    """One synthesised RTL instance (or external memory): what it is and how big."""

    path: str
    """Synthesis path, e.g. ``nmx_top.u_gemm.u_array.g_row[0].g_col[0].u_pe``."""
    module: str
    cls: str
    ge: float
    ff_bits: int
    mem_bits: int
    sram_width: int = 0
    sram_depth: int = 0


def _saif_to_synth(path: str) -> str:
    rel = path[len(hier.DUT_PATH):].strip("/")
    return SYNTH_TOP + ("." + rel.replace("/", ".") if rel else "")


@dataclass
class EnergyModel:
    """Owners of a design and the map from a classified SAIF's groups to them."""

    owners: list[Owner]
    tech: Tech
    ff_ge: float
    inst_owner: np.ndarray
    """(SAIF instances,) owner index, -1 above the DUT (the testbench is not the design)."""
    traced_bits: np.ndarray
    """(owners,) traced non-clock, non-memory bits per owner."""
    sram_groups: dict[int, tuple[int, int]]
    """owner -> (group of its ``re`` bit, group of its ``we`` bit)."""

    @property
    def dram_owner(self) -> int:
        return len(self.owners) - 1


def build_model(cl: Classified, synth: dict[str, Any], tech: Tech) -> EnergyModel:
    """Owners from the synthesis report, each SAIF instance mapped to its owner."""
    by_path: dict[str, dict[str, Any]] = {}
    for m in synth["modules"]:
        for p in m["instances"]:
            by_path[p] = m
    owners: list[Owner] = []
    index: dict[str, int] = {}
    s = cl.saif
    inst_owner = np.full(len(s.instances), -1, dtype=np.int64)
    for j, sp in enumerate(s.instances):
        if not sp.startswith(hier.DUT_PATH):
            continue
        p = _saif_to_synth(sp)
        while p not in by_path and "." in p:
            p = p.rsplit(".", 1)[0]
        if p not in by_path:
            raise ValueError(f"SAIF instance {sp}: no synthesised instance contains it (synthesis report "
                             f"has {len(by_path)} instances)")
        if p not in index:
            m = by_path[p]
            own = m["own"]
            mems = own.get("memories", [])
            sram = m["module"] == hier.SRAM_MODULE and len(mems) == 1
            w, d = (int(mems[0]["width"]), int(mems[0]["depth"])) if sram else (0, 0)
            index[p] = len(owners)
            owners.append(Owner(path=p, module=m["module"], cls=cl.classes[j], ge=float(own["ge"]),
                                ff_bits=int(own["ff_bits"]),
                                mem_bits=sum(int(x["bits"]) for x in mems),
                                sram_width=w, sram_depth=d))
        inst_owner[j] = index[p]
    owners.append(Owner(path=DRAM_OWNER, module="dram", cls="dram", ge=0.0, ff_bits=0, mem_bits=0))
    nc = len(SIGNAL_CLASSES)
    bits_inst = cl.bits_per_group[: len(s.instances) * nc].reshape(len(s.instances), nc)
    traced = np.zeros(len(owners), dtype=np.float64)
    dut = inst_owner >= 0
    np.add.at(traced, inst_owner[dut], bits_inst[dut, 0] + bits_inst[dut, 1])
    sram_groups: dict[int, tuple[int, int]] = {}
    for sp, ports in cl.sram_ports.items():
        o = int(inst_owner[s.instances.index(sp)])
        if "re" not in ports or "we" not in ports:
            raise ValueError(f"SAIF instance {sp} (nmx_sram) has no re/we enable bits: {sorted(ports)}")
        sram_groups[o] = (ports["re"], ports["we"])
    return EnergyModel(owners=owners, tech=tech, ff_ge=float(synth.get("ff_ge", 4.67)),
                       inst_owner=inst_owner, traced_bits=traced, sram_groups=sram_groups)


def window_energy(model: EnergyModel, cl: Classified, act: Activity) -> np.ndarray:
    """Energy (pJ) as a (windows, owners, components) array for every kept window of a capture."""
    tech = model.tech
    nw = len(act.windows)
    no = len(model.owners)
    ni = len(cl.saif.instances)
    nc = len(SIGNAL_CLASSES)
    e = np.zeros((nw, no, len(COMPONENTS)), dtype=np.float64)
    ci = {c: i for i, c in enumerate(COMPONENTS)}
    tc = act.group_tc[:, : ni * nc].reshape(nw, ni, nc).astype(np.float64)
    dut = model.inst_owner >= 0
    owner = model.inst_owner[dut]
    tc_reg = np.zeros((nw, no))
    tc_net = np.zeros((nw, no))
    np.add.at(tc_reg, (slice(None), owner), tc[:, dut, 0])
    np.add.at(tc_net, (slice(None), owner), tc[:, dut, 1])
    ge = np.array([o.ge for o in model.owners])
    ff = np.array([o.ff_bits for o in model.owners], dtype=np.float64)
    mem = np.array([o.mem_bits for o in model.owners], dtype=np.float64)
    is_sram = np.array([o.module == hier.SRAM_MODULE for o in model.owners])
    comb = np.maximum(ge - model.ff_ge * ff, 0.0)
    per_toggle = np.divide(comb, model.traced_bits, out=np.zeros(no), where=model.traced_bits > 0)
    per_toggle[is_sram] = 0.0  # a macro's pins are part of its access energy
    cycles = np.array([w.cycles for w in act.windows], dtype=np.float64)
    secs = cycles / (tech.clock_mhz * 1e6)
    fj = 1e-3  # fJ -> pJ
    e[:, :, ci["logic"]] = (tc_net + tc_reg) * per_toggle * tech.e_ge_toggle * fj
    e[:, :, ci["reg"]] = np.where(is_sram, 0.0, tc_reg) * tech.e_reg_toggle * fj
    e[:, :, ci["clock"]] = np.outer(cycles, ff) * tech.e_clk_ff_cycle * fj
    e[:, :, ci["leak"]] = np.outer(secs, ge) * tech.p_leak_ge * 1e-9 * 1e12
    e[:, :, ci["sram_leak"]] = np.outer(secs, mem) * tech.p_leak_sram_bit * 1e-12 * 1e12
    period = float(act.period_units)
    for o, (g_re, g_we) in model.sram_groups.items():
        ow = model.owners[o]
        reads = np.rint(act.group_t1[:, g_re] / period)
        writes = np.rint(act.group_t1[:, g_we] / period)
        e[:, o, ci["sram"]] = (reads * tech.sram_access_pj(ow.sram_width, ow.sram_depth)
                               + writes * tech.sram_access_pj(ow.sram_width, ow.sram_depth, write=True))
    bytes_ = np.array([w.rd_bytes + w.wr_bytes for w in act.windows], dtype=np.float64)
    e[:, model.dram_owner, ci["dram"]] = bytes_ * tech.e_dram_byte
    return e


def sram_accesses(model: EnergyModel, act: Activity,
                  rows: list[int] | None = None) -> dict[str, dict[str, int]]:
    """Reads and writes of every SRAM over the windows ``rows`` (default all; from the enables' T1)."""
    period = float(act.period_units)
    t1 = act.group_t1 if rows is None else act.group_t1[rows]
    out = {}
    for o, (g_re, g_we) in sorted(model.sram_groups.items()):
        out[model.owners[o].path] = {"reads": int(np.rint(t1[:, g_re].sum() / period)),
                                     "writes": int(np.rint(t1[:, g_we].sum() / period)),
                                     "width": model.owners[o].sram_width,
                                     "depth": model.owners[o].sram_depth}
    return out
