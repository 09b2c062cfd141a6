"""SAIF reader and writer, technology files, window attribution (tb/power): no simulator."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from tb.power import report, saif, tech

GOOD = """(SAIFILE
(SAIFVERSION "2.0")
(DIRECTION "backward")
(DESIGN "nmx_tb_top")
(DIVIDER / )
(TIMESCALE 1ps)
(DURATION 100000)
 (INSTANCE nmx_tb_top
  (NET
   (clk (T0 50000) (T1 50000) (TX 0) (TC 20))
  )
  (INSTANCE u_dut
   (NET
    (acc\\[3\\] (T0 60000) (T1 40000) (TX 0) (TC 7))
    (we (T0 90000) (T1 10000) (TX 0) (TC 2))
   )
  )
 )
)
"""


def _write(tmp_path: pathlib.Path, text: str, name: str = "t.saif") -> pathlib.Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_hierarchy_values_and_header(tmp_path: pathlib.Path) -> None:
    s = saif.read(_write(tmp_path, GOOD))
    assert s.instances == ["nmx_tb_top", "nmx_tb_top/u_dut"]
    assert s.names == ["clk", "acc[3]", "we"]
    assert s.tc.tolist() == [20, 7, 2] and s.t1.tolist() == [50000, 40000, 10000]
    assert s.timescale_ps == 1.0 and s.duration == 100000
    assert s.toggles_by_instance() == {"nmx_tb_top": 20, "nmx_tb_top/u_dut": 9}


def test_write_then_read_is_the_same(tmp_path: pathlib.Path) -> None:
    s = saif.read(_write(tmp_path, GOOD))
    out = saif.write(tmp_path / "w.saif", s, s.tc * 3, s.t1, s.duration)
    r = saif.read(out)
    assert r.instances == s.instances and r.names == s.names
    assert np.array_equal(r.tc, s.tc * 3) and np.array_equal(r.t1, s.t1)
    assert np.array_equal(r.t0, s.duration - s.t1)
    assert r.timescale_ps == s.timescale_ps and r.duration == s.duration


@pytest.mark.parametrize(("text", "line", "what"), [
    ("", 1, "empty file"),
    ("\n\n", 1, "empty file"),
    (GOOD.replace("(TC 7))", "(TC 7)"), 14, "expected a net"),
    (GOOD.replace("(INSTANCE u_dut", "(INSTANCE"), 12, "expected '(INSTANCE name'"),
    (GOOD.replace("(TIMESCALE 1ps)", "(TIMESCALE 1 parsec)"), 1, "TIMESCALE"),
    (GOOD.replace("(DURATION 100000)", "(DURATION soon)"), 1, "DURATION"),
    (GOOD.replace("(DURATION 100000)\n", ""), 1, "header has no DURATION"),
    ("(SAIFILE\n" + GOOD.split("\n", 1)[1].rsplit(")", 2)[0], 18, "truncated"),
    ("hello\n", 1, "expected '(SAIFILE'"),
])
def test_malformed_truncated_or_empty_is_an_error_naming_line_and_expectation(
        tmp_path: pathlib.Path, text: str, line: int, what: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(saif.SaifError) as e:
        saif.read(p)
    assert e.value.line == line, str(e.value)
    assert what in str(e.value) and str(p) in str(e.value)


def test_truncated_at_every_line_is_an_error(tmp_path: pathlib.Path) -> None:
    lines = GOOD.splitlines()
    for n in range(1, len(lines) - 1):
        p = _write(tmp_path, "\n".join(lines[:n]) + "\n", f"cut{n}.saif")
        with pytest.raises(saif.SaifError):
            saif.read(p)


def test_window_table_errors(tmp_path: pathlib.Path) -> None:
    (tmp_path / "windows").mkdir()
    (tmp_path / "windows.tsv").write_text("index\tstart_cycle\n")
    with pytest.raises(saif.SaifError, match=r"windows\.tsv"):
        saif.merge_windows(tmp_path, 10_000)


def test_windows_belong_to_the_layer_of_the_last_accepted_instruction() -> None:
    w = [saif.Window(i, 0, 1, lo, lo, "period") for i, lo in enumerate([0, 1, 5, 9, 10, 30])]
    got = report.layer_of_windows(w, [0, 10, 20], ["a", "b", "c"])
    assert got == [report.IDLE_LAYER, "a", "a", "a", "a", "c"]


def test_default_technology_file_cites_every_coefficient() -> None:
    t = tech.load()
    assert set(t.values) == set(tech.UNITS)
    assert all(len(t.sources[k]) > 8 for k in tech.UNITS)
    assert t.e_mult8 == 0.2 and t.e_add32 == 0.1  # Horowitz ISSCC 2014, 45 nm
    # 64-bit read of an 8 KB macro is the reference; a 4x larger macro costs 2x (sqrt scaling)
    assert t.sram_access_pj(64, 1024) == pytest.approx(10.0)
    assert t.sram_access_pj(64, 4096) == pytest.approx(20.0)


def test_technology_file_errors_name_the_key(tmp_path: pathlib.Path) -> None:
    good = tech.DEFAULT.read_text()
    mult = '    unit: pJ\n    source: "Horowitz ISSCC 2014, Table: 8-bit'
    assert mult in good
    p = _write(tmp_path, good.replace(mult, mult.replace("pJ", "nJ", 1)), "t.yaml")
    with pytest.raises(tech.TechError, match=r"e_mult8\.unit"):
        tech.load(p)
    lines = [ln for ln in good.splitlines() if "source:" not in ln or "0.1 pJ" not in ln]
    p = _write(tmp_path, "\n".join(lines) + "\n", "t2.yaml")
    with pytest.raises(tech.TechError, match="e_add32 has no source"):
        tech.load(p)
    p = _write(tmp_path, good.replace("name: generic45", "name: ''"), "t3.yaml")
    with pytest.raises(tech.TechError, match="'name'"):
        tech.load(p)
