"""Data-reuse lowerings (docs/performance.md) and the analytic model against the RTL.

Every reuse form must compute exactly what the plain form computes (integer sums in another
order: bit-identical outputs) while moving fewer bytes or running fewer array cycles; and the
golden timing model's cycle and traffic predictions must stay pinned to the RTL's counters on
small layers at every memory profile, so a regression in reuse or in the model is caught.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compiler import compile_model
from compiler.codegen import acc_groups
from compiler.lower.ops import conv as conv_mod
from compiler.lower.ops import graph as graph_mod
from golden.isa import Counter, HwConfig, decode
from golden.models import ZOO
from golden.program import Program
from golden.sim import run_program, simulate
from golden.timing import TimingParams, estimate

CYCLE_TOLERANCE = 0.10
"""Golden-estimate / RTL cycle ratio allowed on the small layers below (docs/performance.md)."""


def _samples(*shape: int, n: int = 4, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(*shape, generator=g),) for _ in range(n)]


def _conv_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 16, 3, padding=1)).eval()


def _outputs(prog: Program, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    """Golden-simulated outputs (dequantised) of ``prog`` on ``inputs``."""
    assert simulate(prog).ok
    return [o.numpy() for o in run_program(prog, inputs)]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _counters(prog: Program, profile: str = "nominal") -> dict[Counter, int]:
    return estimate([decode(w) for w in prog.insns], prog.hw, TimingParams.profile(profile)).counters


def test_conv_band_is_bit_identical_and_reads_less(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input bands (and their one-GEMM-per-row variant) give the per-tap implicit GEMM's exact
    outputs; the band reads each input pixel about once instead of once per tap.  (Which form a
    layer gets is the analytic model's choice; here each is forced.)"""
    model, xs = _conv_model(), _samples(1, 32, 12, 12)
    monkeypatch.setattr(conv_mod, "tile_cost", lambda *a: float("inf"))   # band wherever it applies
    band = compile_model(model, xs[0], calibration=xs)
    assert [ly["meta"].get("conv_band") for ly in band.manifest["layers"] if ly["op"] == "convolution"] \
        == [True, True]
    monkeypatch.setattr(conv_mod, "PER_ROW_MIN", 0)
    per_row = compile_model(model, xs[0], calibration=xs)
    monkeypatch.setattr(conv_mod, "_band", lambda *a, **k: None)
    per_tap = compile_model(model, xs[0], calibration=xs)
    for x in xs[:2]:
        ref = _outputs(per_tap, x)
        assert _cos(ref[0], model(*x).detach().numpy()) > 0.99
        for prog in (band, per_row):
            assert all(np.array_equal(g, r) for g, r in zip(_outputs(prog, x), ref, strict=True))
    rd_band, rd_tap = _counters(band)[Counter.DMA_RD_BYTES], _counters(per_tap)[Counter.DMA_RD_BYTES]
    assert rd_band < 0.5 * rd_tap, (rd_band, rd_tap)
    # useful MACs recorded per layer = the float model's conv MACs
    macs = sum(ly["meta"].get("macs", 0) for ly in band.manifest["layers"])
    assert macs == 144 * 32 * 9 * 32 + 144 * 16 * 9 * 32


def _wide_conv_model() -> nn.Module:
    """A 256-channel 3x3 convolution on 12x12: its bordered input (14 x 14 x 256 = 50 KB) fits
    INP (64 KB) but not a half of it."""
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(256, 16, 3, padding=1)).eval()


def test_whole_inp_band_reads_weights_and_input_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """An image that fits INP but not a half gets one band in all of INP: bit-identical to the
    per-tap form, and it reads each weight and each bordered input pixel once (plus the PPU
    record), where the per-tap form refetches the input per tap."""
    model, xs = _wide_conv_model(), _samples(1, 256, 12, 12)
    whole = compile_model(model, xs[0], calibration=xs)
    assert [ly["meta"].get("conv_band") for ly in whole.manifest["layers"] if ly["op"] == "convolution"] \
        == [True]
    monkeypatch.setattr(conv_mod, "_band", lambda *a, **k: None)
    per_tap = compile_model(model, xs[0], calibration=xs)
    for x in xs[:2]:
        ref = _outputs(per_tap, x)
        assert _cos(ref[0], model(*x).detach().numpy()) > 0.99
        assert all(np.array_equal(g, r) for g, r in zip(_outputs(whole, x), ref, strict=True))
    once = 256 * 9 * 16 + 14 * 14 * 256          # int8 weights + the bordered input, each once
    rd = _counters(whole)[Counter.DMA_RD_BYTES]
    assert once <= rd <= once + 4096, (rd, once)
    assert _counters(per_tap)[Counter.DMA_RD_BYTES] > 3 * rd


def test_few_channel_taps_share_k_blocks() -> None:
    """A 3-channel 7x7 stem packs 5 taps into one K-block: 14 K-blocks per output column block,
    not 49, and the result still matches float."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 7, stride=2, padding=3)).eval()
    xs = _samples(1, 3, 32, 32)
    prog = compile_model(model, xs[0], calibration=xs)
    c = _counters(prog)
    assert c[Counter.GEMM_ROWS] == 16 * 16 * 14          # M = 16x16 outputs, 14 K-blocks, 1 N-block
    assert _cos(_outputs(prog, xs[1])[0], model(*xs[1]).detach().numpy()) > 0.999


def test_large_k_linear_streams_input_once_per_n_group() -> None:
    """K too large for INP (2048 x 49 rows): the output-resident order loads each input chunk
    once per group of N-blocks that fits ACC, not once per N-block (here all 16 N-blocks fit the
    whole ACC: one group, the input read once)."""
    torch.manual_seed(1)
    model = nn.Linear(2048, 256).eval()
    xs = _samples(49, 2048)
    prog = compile_model(model, xs[0], calibration=xs)
    c = _counters(prog)
    inp_bytes = 49 * 2048
    g, whole = acc_groups(49, 256 // 16, HwConfig())
    groups = -(-(256 // 16) // g)
    assert (groups, whole) == (1, True)
    w_bytes = 2048 * 256
    assert c[Counter.DMA_RD_BYTES] <= groups * inp_bytes + w_bytes + 64 * 1024, c[Counter.DMA_RD_BYTES]
    assert _cos(_outputs(prog, xs[1])[0], model(*xs[1]).detach().numpy()) > 0.999


def test_gather_aggregation_is_bit_identical_with_fewer_array_cycles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gather-based aggregation (neighbour rows DMA'd into WGT) equals the dense L @ x GEMM bit
    for bit on gcn_karate, with fewer GEMM rows than the dense form's unskipped tiles."""
    spec = ZOO["gcn_karate"]
    model, example = spec.build()
    calib = spec.calibration(4)
    dense = compile_model(model, example, calibration=calib)
    monkeypatch.setattr(graph_mod, "GATHER_DENSITY", 1.0)
    gather = compile_model(model, example, calibration=calib)
    assert any("gather_blocks" in ly["meta"] for ly in gather.manifest["layers"])
    ref, got = _outputs(dense, example), _outputs(gather, example)
    assert _cos(ref[0], model(*example).detach().numpy()) > 0.99
    assert all(np.array_equal(g, r) for g, r in zip(got, ref, strict=True))
    assert _counters(gather)[Counter.GEMM_ROWS] < _counters(dense)[Counter.GEMM_ROWS]


class _Embed(nn.Module):
    """Token embedding + linear: the lookup a Transformer starts with."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.emb = nn.Embedding(300, 48)
        self.lin = nn.Linear(48, 16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lin(self.emb(ids))


def _ids(n: int = 4) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(4)
    return [(torch.randint(0, 300, (2, 12), generator=g),) for _ in range(n)]


def test_gather_embedding_is_bit_identical_to_one_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GATHER lookup gives the one-hot GEMM's exact outputs with a tiny fraction of its array
    rows (tokens x H / COLS instead of tokens x vocabulary / ROWS x H / COLS)."""
    from compiler.lower.ops import embed as embed_mod

    model, xs = _Embed().eval(), _ids()
    gathered = compile_model(model, xs[0], calibration=xs)
    ops = {decode(w).opcode.name for w in gathered.insns}
    assert "GATHER" in ops
    monkeypatch.setattr(embed_mod, "_gather_embedding", embed_mod._onehot_embedding)
    onehot = compile_model(model, xs[0], calibration=xs)
    for x in xs[:2]:
        ref = _outputs(onehot, x)
        assert _cos(ref[0], model(*x).detach().numpy()) > 0.99
        assert all(np.array_equal(g, r) for g, r in zip(_outputs(gathered, x), ref, strict=True))
    assert _counters(gathered)[Counter.GEMM_ROWS] * 10 < _counters(onehot)[Counter.GEMM_ROWS]


@pytest.mark.parametrize("profile", ["fast", "dram"])
def test_timing_model_pinned_to_rtl(profile: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Golden-model cycles within CYCLE_TOLERANCE of the RTL, DMA bytes and array rows exact, on a
    banded conv layer pair, a whole-INP band, a whole-ACC output-resident linear, a GATHER
    embedding and a gathered aggregation (each checked bit-exact by the scoreboard)."""
    from tb.env.cfg import RunKnobs
    from tb.run import ProgramRun, run_programs

    model, xs = _conv_model(), _samples(1, 32, 12, 12)
    progs = {"conv": compile_model(model, xs[0], calibration=xs)}
    wide, wxs = _wide_conv_model(), _samples(1, 256, 12, 12)
    progs["whole_band"] = compile_model(wide, wxs[0], calibration=wxs)
    torch.manual_seed(1)
    lin, lxs = nn.Linear(2048, 256).eval(), _samples(49, 2048)
    progs["whole_acc"] = compile_model(lin, lxs[0], calibration=lxs)   # output resident, whole ACC
    emb, ids = _Embed().eval(), _ids()
    progs["embed"] = compile_model(emb, ids[0], calibration=ids)
    spec = ZOO["gcn_karate"]
    m, ex = spec.build()
    gd = graph_mod.GATHER_DENSITY
    try:
        graph_mod.GATHER_DENSITY = 1.0
        progs["gather"] = compile_model(m, ex, calibration=spec.calibration(4))
    finally:
        graph_mod.GATHER_DENSITY = gd
    knobs = RunKnobs.profile(profile, feed="stream")
    res = run_programs([ProgramRun(p, knobs, name=n) for n, p in progs.items()], hw=HwConfig(), seed=1,
                       coverage=False, out=tmp_path)
    assert res.passed
    for r, p in zip(res.runs, progs.values(), strict=True):
        g = _counters(p, profile)
        rtl = r.counters
        for c in (Counter.DMA_RD_BYTES, Counter.DMA_WR_BYTES, Counter.GEMM_ROWS):
            assert rtl[c] == g[c], (c, rtl[c], g[c])
        ratio = g[Counter.CYCLES] / rtl[Counter.CYCLES]
        assert abs(ratio - 1.0) <= CYCLE_TOLERANCE, (profile, ratio, g[Counter.CYCLES], rtl[Counter.CYCLES])
