"""regressions/verify.py end to end, its model-spec errors, and the broken-RTL proof of issue 9.

The proof: a copy of rtl/ with one inverted bit in the post-processing unit's output (lane 0, bit 0)
must make small Programs fail on the RTL with the grouped failure signature of their first checked
tensor, the printed rerun command (which names the broken copy through NMX_RTL_DIR) must reproduce
the same mismatch, and the same Programs must pass on the repo's rtl/ afterwards (so the build of the
copy was not reused for the real RTL).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest
import torch

from regressions import verify
from tb import sim_env
from tb.env.compare import checked_tensors
from tb.env.verdict import RunVerdict

PPU_LINE = "for (int c = 0; c < COLS; c++) out_data[c*W +: W] = s10_v[c];"
BROKEN_LINE = "for (int c = 0; c < COLS; c++) out_data[c*W +: W] = s10_v[c] ^ {{(W-1){1'b0}}, (c == 0)};"


# --------------------------------------------------------------------------- factories for MODEL specs


def tiny_mlp() -> tuple[torch.nn.Module, tuple[torch.Tensor], list[tuple[torch.Tensor]]]:
    """A module.path:factory with calibration but no batch (fidelity then runs in-sample)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).eval()
    return model, (torch.randn(2, 8),), [(torch.randn(2, 8),) for _ in range(3)]


def returns_a_number() -> int:
    return 3


def raises() -> None:
    raise RuntimeError("weights file missing")


NOT_CALLABLE = 5


# --------------------------------------------------------------------------- end to end


def test_verify_gcn_karate_end_to_end(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = verify.main(["gcn_karate", "--cfg", "16x16", "--seed", "1", "--batch", "16", "--out", str(tmp_path),
                      "--power"])
    out = capsys.readouterr().out
    recs = list(tmp_path.glob("verify_*.json"))
    assert len(recs) == 1, out
    rec = json.loads(recs[0].read_text())
    assert rc == 0 and rec["status"] == "pass" and rec["passed"], out
    assert rec["kind"] == "verify_model" and rec["failures"] == []
    m = rec["model"]
    assert m["name"] == "gcn_karate" and m["family"] == "gnn" and m["cfg"] == "16x16"
    assert m["rtl_cycles"] > 0 and m["golden_cycles"] > 0
    assert m["cycle_ratio"] == pytest.approx(m["rtl_cycles"] / m["golden_cycles"], rel=1e-3)
    assert 0 < m["mac_util"] <= 1 and m["dma_rd_bytes"] > 0 and m["dma_wr_bytes"] > 0
    assert m["mem_profile"] == "fast" and "memory profile 'fast': 2-cycle reads" in out
    assert m["cosine"] >= 0.99 and m["top1"] >= 0.97 and m["max_abs_err"] >= 0
    assert 0 < m["coverage_pct"] <= 100 and rec["coverage"]["hit"] > 0
    # --power: the activity build's report, its headline figures in the record
    pw = rec["verify"]["power"]
    assert m["energy_uj"] > 0 and m["power_mw"] > 0 and "uJ per inference" in out
    assert pw["gops"] > 0 and pw["gops_per_w"] > 0 and set(pw["classes_uj"]) >= {"array", "buffers", "dram"}
    assert pathlib.Path(pw["files"]["saif"]).stat().st_size > 0
    assert pathlib.Path(pw["files"]["markdown"]).exists()
    assert any(c["check"] == "power" and c["ok"] for c in rec["checks"])
    # bit-exact: the scoreboard compared every checked tensor of the manifest
    from golden.program import Program

    prog = Program.load(rec["verify"]["program"])
    assert rec["verify"]["checked_tensors"] == len(checked_tensors(prog)) > 0
    assert {c["check"] for c in rec["checks"]} >= {"rtl", "cosine", "top1", "rtl_cycles", "golden_status"}
    assert all(c["ok"] for c in rec["checks"])
    assert m["insns"] == len(prog.insns)
    assert rec["peak_rss_mb"] > 0 and rec["wall_s"] > 0
    assert "PASS" in out and f"RTL {m['rtl_cycles']:,}" in out
    md = recs[0].with_suffix(".md").read_text()
    assert "PASS" in md and "regressions.verify gcn_karate" in md


# --------------------------------------------------------------------------- bad model specs


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("no_such_model", "not a zoo model"),
        ("no_such_module_xyz:factory", "cannot be imported"),
        ("test_verify:no_such_factory", "has no attribute 'no_such_factory'"),
        ("test_verify:NOT_CALLABLE", "not callable"),
        ("test_verify:returns_a_number", "returned int"),
        ("test_verify:raises", "raised RuntimeError: weights file missing"),
    ],
)
def test_bad_model_spec_is_a_clear_error(spec: str, words: str) -> None:
    with pytest.raises(verify.ModelSpecError, match=re.escape(words)) as e:
        verify.resolve_model(spec, batch=2, calib=2, seed=0)
    assert spec in str(e.value)


def test_cli_bad_spec_and_bad_cfg_exit_2(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main(["no_such_model", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'no_such_model'" in err and "resnet_tiny" in err  # names the spec and the zoo
    assert verify.main(["gcn_karate", "--cfg", "3x", "--out", str(tmp_path)]) == 2
    assert "3x" in capsys.readouterr().err
    assert verify.main(["gcn_karate", "--mem-profile", "slowish", "--out", str(tmp_path)]) == 2
    assert "mem_profile" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown parameter"):
        verify.verify_job({"model": "gcn_karate", "seeds": 3}, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing ran


def test_factory_protocol() -> None:
    mut = verify.resolve_model("test_verify:tiny_mlp", batch=4, calib=2, seed=0)
    assert mut.name == "tiny_mlp" and mut.family == "custom" and mut.task == "embed"
    assert len(mut.calibration) == 3 and mut.batch == mut.calibration and "in-sample" in mut.batch_source


# --------------------------------------------------------------------------- the broken-RTL proof


def _broken_rtl_copy() -> pathlib.Path:
    """A copy of rtl/ with the PPU output's bit 0 of lane 0 inverted, under build/ at a path named by
    its content (a warm `make test` reuses its cached Verilator build; concurrent sessions share it)."""
    src = sim_env.RTL / "nmx_ppu.sv"
    text = src.read_text()
    assert text.count(PPU_LINE) == 1, "nmx_ppu.sv changed: update PPU_LINE of this test"
    broken = text.replace(PPU_LINE, BROKEN_LINE)
    h = hashlib.sha1()
    for p in sorted(q for q in sim_env.RTL.rglob("*") if q.is_file()):   # rtl/sva/ included
        h.update(str(p.relative_to(sim_env.RTL)).encode() + (broken.encode() if p == src else p.read_bytes()))
    dst = sim_env.BUILD / "rtl_variants" / f"ppu_out_bit0_{h.hexdigest()[:10]}"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = pathlib.Path(tempfile.mkdtemp(dir=dst.parent))
        shutil.copytree(sim_env.RTL, tmp, dirs_exist_ok=True)
        (tmp / src.name).write_text(broken)
        try:
            tmp.rename(dst)
        except OSError:  # another session made the same copy first
            shutil.rmtree(tmp)
    return dst


def test_broken_ppu_fails_with_signature_and_rerun_reproduces(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from golden.hwcfg import parse_hw
    from tb.run import ProgramRun, run_programs, suite_record
    from tb.seq_lib.examples import gemm_program, relu_program

    hw = "4x4"
    gemm, relu = gemm_program(8, 8, 8, parse_hw(hw), seed=1), relu_program(parse_hw(hw))
    items = [ProgramRun(gemm, name="gemm"), ProgramRun(gemm, name="gemm"), ProgramRun(relu, name="relu")]
    broken = _broken_rtl_copy()
    monkeypatch.setenv(sim_env.RTL_DIR_ENV, str(broken))
    assert sim_env.rtl_sources()[0].parent == broken
    broken_id = sim_env.sources_id(sim_env.rtl_sources())

    res = run_programs(items, hw=hw, seed=1, out=tmp_path / "broken")
    assert len(res.runs) == 3 and not any(r.passed for r in res.runs), [r.report() for r in res.runs]
    first = {p.manifest["name"]: checked_tensors(p)[0] for p in (gemm, relu)}
    expect = collections.Counter(
        f"tensor:{first[p.manifest['name']]['name']}@{first[p.manifest['name']]['layer']}"
        for p in (gemm, gemm, relu))
    rec = suite_record(res)
    groups = collections.Counter(f["signature"] for f in rec["failures"])
    assert groups == expect and len(groups) == 2, groups
    for r in res.runs:
        m = r.mismatches[0]
        assert m.got ^ m.expected == 1, m.describe()  # exactly the inverted bit
        assert r.rerun.startswith(f"{sim_env.RTL_DIR_ENV}={broken} ")

    # the rerun line, as printed, in a shell without NMX_RTL_DIR: the same failure
    target = res.runs[1]
    env = {k: v for k, v in os.environ.items() if k != sim_env.RTL_DIR_ENV}
    proc = subprocess.run(target.rerun, shell=True, cwd=sim_env.REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    found = re.findall(r"results in (\S+)", proc.stdout)
    assert found, proc.stdout[-2000:]
    again = [RunVerdict.from_json(json.loads(p.read_text()))
             for p in pathlib.Path(found[-1]).glob("*/result.json")]
    assert len(again) == 1
    assert again[0].signature == target.verdict.signature and again[0].seed == target.seed
    assert again[0].mismatches[0] == target.mismatches[0]

    # the repo's RTL (a different build directory) passes the same Programs
    monkeypatch.delenv(sim_env.RTL_DIR_ENV)
    assert sim_env.sources_id(sim_env.rtl_sources()) != broken_id  # part of the build directory name
    good = run_programs(items, hw=hw, seed=1, out=tmp_path / "good")
    assert good.passed, [r.report() for r in good.runs]


def test_rtl_dir_env_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv(sim_env.RTL_DIR_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"NMX_RTL_DIR=.*not a directory"):
        sim_env.rtl_sources()
    monkeypatch.setenv(sim_env.RTL_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"no \*\.sv files"):
        sim_env.rtl_sources()
