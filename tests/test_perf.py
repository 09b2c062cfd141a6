"""compiler.perf: per-layer performance figures of two small zoo models (golden timing model only).

The figures are checked against things computed independently of the module: the golden timing
model's counters, the float model's own layer shapes, compiler.report's per-layer cycles and a
hand-computed bound.
"""

from __future__ import annotations

import json
import math
import pathlib

import pytest
import torch

from compiler import compile_model
from compiler.perf import OUTSIDE, bounds, buffer_bytes, decode_program, layer_static, main, profile_report
from compiler.report import layer_table
from golden.hwcfg import parse_hw
from golden.isa import Counter, decode
from golden.models import ZOO
from golden.program import Program
from golden.timing import MEM_PROFILES, TimingParams, estimate

MODELS = ("resnet_tiny", "gcn_karate")


@pytest.fixture(scope="module")
def progs() -> dict[str, Program]:
    out = {}
    for name in MODELS:
        spec = ZOO[name]
        model, example = spec.build()
        out[name] = compile_model(model, example, calibration=spec.calibration(4), name=name)
    return out


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("profile", list(MEM_PROFILES))
def test_layer_sums_equal_golden_counters(progs: dict[str, Program], name: str, profile: str) -> None:
    p = progs[name]
    hw = p.hw
    c = estimate([decode(w) for w in p.insns], hw, TimingParams.profile(profile)).counters
    rep = profile_report(p, decode_program(p), profile)
    rows = rep["rows"]
    assert [r["layer"] for r in rows] == [ly["name"] for ly in p.manifest["layers"]]  # no OUTSIDE row
    assert sum(r["dma_rd"] for r in rows) == c[Counter.DMA_RD_BYTES] > 0
    assert sum(r["dma_wr"] for r in rows) == c[Counter.DMA_WR_BYTES] > 0
    assert sum(r["array_macs"] for r in rows) == c[Counter.MAC_CYCLES] * hw.rows * hw.cols > 0
    t = rep["total"]
    assert t["cycles"] == c[Counter.CYCLES]
    assert t["total_util"] == pytest.approx(c[Counter.MAC_CYCLES] / c[Counter.CYCLES])
    assert t["useful_util"] == pytest.approx(t["useful_macs"] / (hw.rows * hw.cols * c[Counter.CYCLES]))


def test_cycles_match_report_layer_table(progs: dict[str, Program]) -> None:
    """compiler.report times with the default TimingParams, which is the nominal profile."""
    assert TimingParams() == TimingParams.profile("nominal")
    for p in progs.values():
        ref = layer_table(p)
        rows = profile_report(p, decode_program(p), "nominal")["rows"]
        assert [r["cycles"] for r in rows] == [r["cycles"] for r in ref[:-1]]
        assert [r["array_macs"] for r in rows] == [r["array_macs"] for r in ref[:-1]]


def test_useful_macs_resnet_tiny_from_torch_modules(progs: dict[str, Program]) -> None:
    model, example = ZOO["resnet_tiny"].build()
    macs: list[int] = []

    def hook(mod: torch.nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if isinstance(mod, torch.nn.Conv2d):
            assert mod.groups == 1
            kh, kw = mod.kernel_size
            macs.append(out.numel() * mod.in_channels * kh * kw)
        else:
            assert isinstance(mod, torch.nn.Linear)
            macs.append(out.numel() * mod.in_features)

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(*example)
    for h in hooks:
        h.remove()
    p = progs["resnet_tiny"]
    rows = layer_static(p, decode_program(p))
    assert len(macs) == sum(r["products"] for r in rows) == 7  # 6 convolutions + the classifier
    assert sum(r["useful_macs"] for r in rows) == sum(macs) == 135_840


def test_useful_macs_gcn_karate_edges_times_features(progs: dict[str, Program]) -> None:
    """Dense transforms count N*F_in*F_out, aggregations (edges + self loops) x features."""
    from golden.models.gnn import karate

    model, (x, edge_index) = ZOO["gcn_karate"].build()
    n, f_in = x.shape
    edges = edge_index.shape[1] + n  # GCNConv adds one self loop per node
    assert (n, edges) == (34, 190)
    dims = [(c.in_channels, c.out_channels) for c in (model.conv1, model.conv2)]
    assert dims[0][0] == f_in and edge_index.shape == karate().edge_index.shape
    want = sum(n * fi * fo + edges * fo for fi, fo in dims)
    p = progs["gcn_karate"]
    rows = layer_static(p, decode_program(p))
    assert sum(r["useful_macs"] for r in rows) == want == 24_472
    sparse = [r for r in rows if r["sparse"]]
    assert len(sparse) == 2 and all(r["capacity"] == 0 for r in sparse)
    # one int8 value + one int32 index per edge, the features once, the output once (the last
    # layer's logits are int32)
    assert [r["compulsory"] for r in sparse] == [5 * edges + n * 16 + n * 16, 5 * edges + n * 4 + n * 4 * 4]


def test_bound_arithmetic_by_hand() -> None:
    hw = parse_hw("4x4-narrow")  # inp/wgt 256 rows of 4 int8, acc 128 rows of 4 int32
    S = 256 * 4 + 256 * 4 + 128 * 4 * 4
    assert buffer_bytes(hw) == S == 64**2
    small = {"M": 64, "K": 64, "N": 64, "a_bytes": 4096, "w_bytes": 4096, "o_bytes": 4096, "sparse": False}
    big = {"M": 256, "K": 256, "N": 256, "a_bytes": 65536, "w_bytes": 65536, "o_bytes": 65536,
           "sparse": False}
    edge = {"M": 4096, "K": 4096, "N": 64, "a_bytes": 5 * 1000, "w_bytes": 4096 * 64,
            "o_bytes": 4096 * 64, "sparse": True}
    b = bounds([small], hw)  # capacity 2*64^3/64 = 8192 < compulsory 12288
    assert b == {"compulsory": 12288, "compulsory_rd": 8192, "capacity": 8192, "bound": 12288,
                 "rd_bound": 8192}
    b = bounds([big], hw)  # capacity 2*256^3/64 = 524288 > compulsory 196608
    assert (b["compulsory"], b["capacity"], b["bound"], b["rd_bound"]) == (196608, 524288, 524288, 524288)
    b = bounds([edge], hw)  # sparse: the edge-based compulsory traffic only, however large M*K*N
    assert (b["capacity"], b["bound"]) == (0, 5000 + 2 * 4096 * 64)
    b = bounds([small, big, edge], hw)
    assert b["bound"] == 12288 + 524288 + 5000 + 2 * 4096 * 64
    assert bounds([], hw)["bound"] == 0


@pytest.mark.parametrize("name", MODELS)
def test_utilisation_order_and_profiles(progs: dict[str, Program], name: str) -> None:
    p = progs[name]
    insns = decode_program(p)
    static = layer_static(p, insns)
    reps = {pr: profile_report(p, insns, pr, static) for pr in MEM_PROFILES}
    for rep in reps.values():
        for r in [*rep["rows"], rep["total"]]:
            assert 0 <= r["useful_util"] <= r["total_util"] <= 1, (rep["profile"], r["layer"])
            assert (r["traffic_ratio"] is None) == (r["products"] == 0)
            assert r["layer"] != OUTSIDE
    for pr in ("nominal", "dram"):
        assert reps[pr]["total"]["cycles"] >= reps["fast"]["total"]["cycles"]
    assert reps["dram"]["total"]["cycles"] > reps["nominal"]["total"]["cycles"]
    # DMA bytes and bounds do not depend on the profile
    keys = ("dma_rd", "dma_wr", "array_macs", "bound")
    assert {pr: [tuple(r[k] for k in keys) for r in rep["rows"]] for pr, rep in reps.items()} == {
        pr: [tuple(r[k] for k in keys) for r in reps["fast"]["rows"]] for pr in reps}


def test_cli_writes_outputs(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gcn_karate", "--calib", "4", "--profile", "fast", "--profile", "nominal,dram",
                 "--out", str(tmp_path)]) == 0
    for f in ("perf.json", "perf.md", "perf.png", "perf.svg"):
        assert (tmp_path / f).stat().st_size > 0, f
    doc = json.loads((tmp_path / "perf.json").read_text())
    assert [r["profile"] for r in doc["profiles"]] == ["fast", "nominal", "dram"]
    assert doc["summary"]["model"] == "gcn_karate" and doc["summary"]["cfg"] == "16x16"
    assert doc["summary"]["profiles"]["dram"]["rd_latency"] == 100
    tot = doc["profiles"][0]["total"]
    assert tot["useful_macs"] == 24_472 and math.isclose(tot["traffic_ratio"],
                                                         tot["traffic"] / tot["bound"], rel_tol=1e-5)
    md = (tmp_path / "perf.md").read_text()
    assert md.count("| **TOTAL** |") == 3 and "traffic/bound" in md and "RTL" not in md
    out = capsys.readouterr().out
    assert "| **TOTAL** |" in out and str(tmp_path / "perf.png") in out


def test_cli_program_file(progs: dict[str, Program], tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rt.nmxp"
    progs["resnet_tiny"].save(path)
    assert main([str(path), "--no-plot", "--out", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "perf.json").read_text())
    assert doc["summary"]["model"] == "resnet_tiny"
    assert [r["profile"] for r in doc["profiles"]] == ["nominal"]
    assert doc["profiles"][0]["total"]["useful_macs"] == 135_840
    assert not (tmp_path / "o" / "perf.png").exists()
    with pytest.raises(SystemExit, match="not --cfg 8x8"):
        main([str(path), "--cfg", "8x8", "--out", str(tmp_path / "o")])


@pytest.mark.parametrize("argv,msg", [
    (["resnet_tiny", "--profile", "fast,bogus_profile"], "bogus_profile"),
    (["no_such_model"], "no_such_model"),
    (["missing_file.nmxp"], "cannot read missing_file.nmxp"),
    (["resnet_tiny", "--cfg", "7y7"], "7y7"),
])
def test_cli_bad_arguments(tmp_path: pathlib.Path, argv: list[str], msg: str) -> None:
    with pytest.raises(SystemExit, match=msg) as e:
        main([*argv, "--out", str(tmp_path)])
    assert e.value.code not in (0, None)
