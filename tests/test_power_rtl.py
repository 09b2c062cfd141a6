"""Power from the RTL's toggles (tb/power, docs/power.md): small GEMM Programs on the 4x4 RTL.

One power-build simulator process runs every Program of the module fixture (operand patterns,
1x/2x/4x work), each after 5600 idle cycles (the reset-time buffer clear takes 4096 of them), so
the same capture also holds an idle accelerator.  A second process reruns one Program with
layer-only windows (the windowing must not change the figures); a third, a waveform build of the
same run, gives the VCD the SAIF is checked against.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

from golden.hwcfg import parse_hw
from golden.program import Program
from tb.power import capture, saif
from tb.power.energy import COMPONENTS
from tb.run import PowerOpts, ProgramRun, run_programs
from tb.seq_lib.examples import gemm_program

HW = parse_hw("4x4")
IDLE = 5600
PERIOD = 200
M = K = N = 16


def _with_operands(p: Program, name: str, a: np.ndarray, b: np.ndarray) -> Program:
    """The same Program (gemm_program layout: A at 0, B aligned after it) with other operands."""
    mem = bytearray(p.memory)
    mem[0:a.size] = a.astype(np.int8).tobytes()
    b_addr = -(-a.size // 64) * 64
    assert bytes(mem[b_addr:b_addr + b.size]) == bytes(gemm_program(M, K, N, hw=HW, seed=3).memory[
        b_addr:b_addr + b.size]), "gemm_program layout changed: B is no longer 64-byte aligned after A"
    mem[b_addr:b_addr + b.size] = b.astype(np.int8).tobytes()
    man = dict(p.manifest, name=name)
    return Program(insns=list(p.insns), memory=mem, manifest=man, hw=p.hw)


def _programs() -> dict[str, Program]:
    base = gemm_program(M, K, N, hw=HW, seed=3)
    alt = np.where(np.add.outer(np.arange(M), np.arange(K)) % 2 == 0, 127, -128)
    out = {
        "zero": _with_operands(base, "zero", np.zeros((M, K)), np.zeros((K, N))),
        "random": _with_operands(base, "random", np.random.default_rng(1).integers(-128, 128, (M, K)),
                                 np.random.default_rng(2).integers(-128, 128, (K, N))),
        "alternating": _with_operands(base, "alternating", alt, alt.T.copy()),
    }
    for k in (1, 2, 4):
        p = gemm_program(M * k, K, N, hw=HW, seed=3)
        out[f"len{k}"] = Program(insns=list(p.insns), memory=p.memory,
                                 manifest=dict(p.manifest, name=f"len{k}"), hw=p.hw)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    progs = _programs()
    res = run_programs([ProgramRun(p, name=n) for n, p in progs.items()], hw=HW, seed=1,
                       out=tmp_path_factory.mktemp("power"), coverage=False,
                       power=PowerOpts(window=PERIOD, idle_cycles=IDLE, keep_windows=True))
    out = {}
    for r in res.runs:
        assert r.passed, f"{r.name}: {r.failures}"
        assert r.power is not None, f"{r.name}: {r.power_error}"
        out[r.name] = {"power": r.power, "dir": pathlib.Path(r.result_dir), "seed": 1 + len(out)}
    return out


def _dyn(rep: dict, cls: str) -> float:
    v = rep["classes"][cls]
    return v["logic"] + v["reg"]


def test_energy_rises_with_operand_toggle_density(runs: dict[str, dict]) -> None:
    z, r, a = (_dyn(runs[n]["power"], "array") for n in ("zero", "random", "alternating"))
    assert z < 0.5 * r, f"array logic+register energy: zero operands {z:.0f} pJ vs random {r:.0f} pJ"
    assert a > 1.2 * r, f"array logic+register energy: alternating {a:.0f} pJ vs random {r:.0f} pJ"
    tz, tr, ta = (runs[n]["power"]["total_pj"] for n in ("zero", "random", "alternating"))
    assert tz < tr < ta


def test_idle_accelerator_is_clock_tree_and_leakage_only(runs: dict[str, dict]) -> None:
    pre = runs["random"]["power"]["before_first_instruction"]
    assert pre["cycles"] >= IDLE - PERIOD
    # the buffer clear writes every row after reset; the windows after it are the idle accelerator
    # (up to the one in which the first instruction is accepted: insn_hi > 0)
    idle = [w for w in pre["windows"] if w["start"] > 4096 + PERIOD and w["insn_hi"] == 0]
    assert len(idle) >= 3, [w["start"] for w in pre["windows"]]
    rep = runs["random"]["power"]
    for w in idle:
        c = w["components_pj"]
        assert c["logic"] == c["reg"] == c["sram"] == c["dram"] == 0.0, (w["start"], c)
        assert c["clock"] > 0 and c["leak"] > 0
        cycles = w["end"] - w["start"]
        # clock and leakage are per cycle: the same per cycle in every idle window and in the run
        per_cycle = {k: rep["components_pj"][k] / rep["cycles"] for k in ("clock", "leak")}
        assert c["clock"] / cycles == pytest.approx(per_cycle["clock"], rel=1e-9)
        assert c["leak"] / cycles == pytest.approx(per_cycle["leak"], rel=1e-9)


def test_energy_about_linear_in_program_length(runs: dict[str, dict]) -> None:
    e = {k: runs[f"len{k}"]["power"]["total_pj"] for k in (1, 2, 4)}
    assert 1.6 < e[2] / e[1] < 2.4, e
    assert 3.2 < e[4] / e[1] < 4.8, e


def test_modules_classes_layers_add_up_to_the_total(runs: dict[str, dict]) -> None:
    for name, r in runs.items():
        rep = r["power"]
        tot = rep["total_pj"]
        assert sum(v["total_pj"] for v in rep["modules"].values()) == pytest.approx(tot, rel=1e-9), name
        assert sum(v["total_pj"] for v in rep["classes"].values()) == pytest.approx(tot, rel=1e-9), name
        assert sum(v["pj"] for v in rep["layers"].values()) == pytest.approx(tot, rel=1e-9), name
        assert sum(w["pj"] for w in rep["series"]) == pytest.approx(tot, rel=1e-9), name
        assert sum(rep["components_pj"][c] for c in COMPONENTS) == pytest.approx(tot, rel=1e-9), name
        assert rep["checks"]["layers_sum_rel_err"] < 0.01
        assert rep["cycles"] == sum(w["end"] - w["start"] for w in rep["series"])


def test_windowing_does_not_change_the_run_figures(runs: dict[str, dict], tmp_path: pathlib.Path) -> None:
    """The same run (same seed) cut only at layer boundaries: the same energy within 1%."""
    name = "random"
    p = _programs()[name]
    res = run_programs([ProgramRun(p, name=name)], hw=HW, seed=runs[name]["seed"], out=tmp_path,
                       coverage=False, power=PowerOpts(window=0, idle_cycles=IDLE))
    one = res.runs[0].power
    many = runs[name]["power"]
    assert one is not None and res.runs[0].passed
    assert one["cycles"] == many["cycles"]
    assert one["windows"] < many["windows"]
    assert one["total_pj"] == pytest.approx(many["total_pj"], rel=0.01)
    for c in ("array", "buffers", "ppu", "dma", "dram"):
        assert one["classes"][c]["total_pj"] == pytest.approx(many["classes"][c]["total_pj"], rel=0.01), c


def test_run_saif_parses_back_to_the_window_totals(runs: dict[str, dict]) -> None:
    d = runs["random"]["dir"] / capture.POWER_DIR
    s = saif.read(d / "run.saif")
    wins = saif.read_windows(d / "windows.tsv")
    run_cycles = sum(w.cycles for w in wins if w.insn_lo > 0)
    assert s.duration == run_cycles * capture.TB_CLOCK_PS / s.timescale_ps
    act = saif.merge_windows(d, capture.TB_CLOCK_PS)
    assert np.array_equal(s.tc, act.tc)
    assert np.array_equal(s.t1, act.t1)
    assert (s.t0 + s.t1 == s.duration).all()


_VCD_SCOPE = re.compile(r"\$scope \w+ (\S+) \$end")
_VCD_VAR = re.compile(r"\$var \w+ (\d+) (\S+) (\S+)(?: \[[^\]]*\])? \$end")


def _vcd_toggles(path: pathlib.Path, scope_prefix: tuple[str, ...]) -> tuple[dict[str, int], int, int]:
    """Bit transitions per VCD scope below ``scope_prefix``, counted after the first posedge with
    ``insn_fire`` high (plus half a clock: where the power run's first window opens)."""
    scopes: list[str] = []
    ids: dict[str, list[str]] = {}
    width: dict[str, int] = {}
    fire_id = clk_id = None
    lines = iter(path.read_text().splitlines())
    for raw in lines:
        ln = raw.strip()
        if ln.startswith("$scope"):
            scopes.append(_VCD_SCOPE.match(ln).group(1))
        elif ln.startswith("$upscope"):
            scopes.pop()
        elif ln.startswith("$var"):
            m = _VCD_VAR.match(ln)
            w, code, nm = int(m.group(1)), m.group(2), m.group(3)
            if tuple(scopes) == ("nmx_tb_top",) and nm == "insn_fire":
                fire_id = code
            if tuple(scopes) == ("nmx_tb_top",) and nm == "clk":
                clk_id = code
            if tuple(scopes[: len(scope_prefix)]) == scope_prefix and nm != "clk":
                ids.setdefault(code, []).append("/".join(scopes))
                width[code] = w
        elif ln.startswith("$enddefinitions"):
            break
    assert fire_id and clk_id
    cur: dict[str, int] = {}
    per_scope: dict[str, int] = {}
    t = 0
    start = None
    fire = clk = 0
    for ln in lines:
        if not ln:
            continue
        if ln[0] == "#":
            t = int(ln[1:])
            continue
        if ln[0] == "b":
            val, code = ln[1:].split()
            v = int(val.replace("x", "0").replace("z", "0"), 2)
        elif ln[0] in "01xz":
            code, v = ln[1:], int(ln[0] == "1")
        else:
            continue
        if code == fire_id:
            fire = v
        if code == clk_id:
            if v == 1 and clk == 0 and fire and start is None:
                start = t + capture.TB_CLOCK_PS // 2
            clk = v
        if code in ids:
            old = cur.get(code)
            cur[code] = v
            if old is not None and start is not None and t > start:
                n = bin(old ^ v).count("1")
                for sc in ids[code]:
                    per_scope[sc] = per_scope.get(sc, 0) + n
    assert start is not None, "no accepted instruction in the VCD"
    return per_scope, start, t


def test_saif_matches_a_vcd_of_the_same_run(tmp_path: pathlib.Path) -> None:
    """The waveform build of the same Program and seed: per-instance bit transitions of the DUT
    after the first accepted instruction equal the run SAIF's TC sums."""
    name = "random"
    prog = _programs()[name]
    # a power run without the idle prefix, so both runs take the same cycles from reset on
    pw = run_programs([ProgramRun(prog, name=name)], hw=HW, seed=1, out=tmp_path / "saif", coverage=False,
                      power=PowerOpts(window=PERIOD))
    assert pw.runs[0].passed and pw.runs[0].power is not None
    res = run_programs([ProgramRun(prog, name=name)], hw=HW, seed=1, out=tmp_path / "vcd", coverage=False,
                       waves=True)
    r = res.runs[0]
    assert r.passed
    vcds = sorted(pathlib.Path(res.out_dir).rglob("*.vcd"))
    if not vcds:
        pytest.fail(f"the waveform build wrote no VCD under {res.out_dir} (FST build? see tb/sim_env.py)")
    per_scope, _, _ = _vcd_toggles(vcds[0], ("nmx_tb_top", "u_dut"))
    s = saif.read(pathlib.Path(pw.runs[0].result_dir) / capture.POWER_DIR / "run.saif")
    clk = np.array([nm == "clk" for nm in s.names])
    sums = np.bincount(s.inst, weights=np.where(clk, 0, s.tc), minlength=len(s.instances))
    by_path = {p: int(v) for p, v in zip(s.instances, sums, strict=True)}
    for leaf in ("u_gemm/u_array", "u_load", "u_store", "u_inp", "u_acc_gemm"):
        sc = "nmx_tb_top/u_dut/" + leaf
        mine = sum(v for p, v in by_path.items() if p == sc or p.startswith(sc + "/"))
        vcd = sum(v for p, v in per_scope.items() if p == sc or p.startswith(sc + "/"))
        assert mine > 0, sc
        assert mine == vcd, f"{sc}: SAIF TC {mine} vs VCD transitions {vcd}"


def test_sram_enables_in_the_saif_equal_the_buffer_counters(runs: dict[str, dict]) -> None:
    """Every SRAM's enable cycles (its T1 in the run's windows) equal the RTL's buffer counter of it."""
    for name, r in runs.items():
        chk = r["power"]["sram_vs_counters"]
        assert len(chk) == 12, sorted(chk)
        for key, v in chk.items():
            assert v["saif"] == v["counter"], f"{name} {key}: {v}"
        assert r["power"]["cross_check"]["buffers"]["events"] > 0
