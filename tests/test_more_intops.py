"""Ordering comparisons, selects between activations, boolean ops on several runtime masks and float
cumsum (compiler/lower/ops/intops.py, compiler/lower/ops/select.py, compiler/lower/ops/mask.py).

Integer and boolean results must be exact (golden simulator == torch, element for element); float
results are checked against float PyTorch (cosine), selects also against the int8 grid they promise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from compiler import compile_model
from compiler.coverage_matrix import run_case
from compiler.frontend import UnsupportedOpError
from golden.models._util import freeze, seeded
from golden.models.coverage import MHA
from golden.sim import run_program


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().ravel(), b.detach().double().ravel()
    return float(a @ b / (a.norm() * b.norm()))


def _exact(m: nn.Module, calib: list[tuple[torch.Tensor, ...]], tests: list[tuple[torch.Tensor, ...]]):
    """Compile on ``calib``; every output of every test input equals torch's exactly."""
    m = m.eval()
    prog = compile_model(m, calib[0], calibration=calib)
    for x in tests:
        with torch.no_grad():
            ref = m(*x)
        ref = ref if isinstance(ref, tuple) else (ref,)
        out = run_program(prog, x)
        for k, (o, r) in enumerate(zip(out, ref, strict=True)):
            assert torch.equal(o.to(r.dtype), r), (k, x, o, r)
    return prog


def _ids(seed: int, lo: int, hi: int, shape: tuple[int, ...] = (2, 16)) -> tuple[torch.Tensor]:
    return (torch.randint(lo, hi, shape, generator=torch.Generator().manual_seed(seed)),)


# ------------------------------------------------------------------ integer comparisons
class _Order(nn.Module):
    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (ids < -3, ids >= 200, ids.le(127), ids.gt(255), ids.lt(128), ids.ge(256),
                ids.eq(200), ids.ne(384), ids.eq(-5))


def test_ordering_comparisons_of_ids_are_exact() -> None:
    """lt/le/gt/ge/eq/ne of int32 ids with scalars, signed and across the byte boundaries 127/128,
    255/256 (the low byte's sign bit is one GEMM); ``eq(200)`` must not match 456 = 200 + 256 (the
    equality GEMM compares the byte form of the value, not the value)."""
    calib = [_ids(i, -700, 700) for i in range(4)]
    edge = torch.tensor([[-700, -129, -128, -5, -4, -3, -1, 0, 1, 127, 128, 199, 200, 255, 256, 257],
                         [383, 384, 385, 456, 511, 512, 600, 699, 3, 2, 200, 456, -5, -6, 128, 127]])
    _exact(_Order(), calib, [_ids(9, -700, 700), (edge,)])


class _PosCompare(nn.Module):
    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        real = ids.ne(1).int()
        pos = torch.cumsum(real, dim=1) * real
        return pos < 5, pos >= 3, pos.eq(0), (ids + pos.eq(0).int()) > 3


def test_comparisons_of_position_ids_are_exact() -> None:
    """Comparisons of a cumsum-derived integer expression (one GEMM each: the comparison is the
    expression's own PWL) and of an expression against the ids themselves."""
    calib = [_ids(i, 0, 6) for i in range(4)]
    tests = [_ids(20 + i, 0, 6) for i in range(3)] + [(torch.ones(2, 16, dtype=torch.long),)]
    _exact(_PosCompare(), calib, tests)


class _Arith(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (a + 3) < 10, a - 2 * b + 1, torch.where(a > 4, a, 0), a < b, a == b


def test_integer_arithmetic_on_ids_is_exact_and_cheap() -> None:
    """``a + 3``, ``a - 2 b + 1``, ``where(a > 4, a, 0)`` and comparisons of two runtime id tensors;
    the gated select of raw ids (value span 2^16) uses the scaled gate, not ~500 weight pieces."""
    g = torch.Generator().manual_seed(1)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randint(0, 9, (2, 12), generator=g), torch.randint(0, 9, (2, 12), generator=g)
    prog = _exact(_Arith(), [draw() for _ in range(4)], [draw() for _ in range(3)])
    where = next(ly for ly in prog.manifest["layers"] if ly["op"] == "where")
    assert where["insn_end"] - where["insn_start"] < 100, where


# ------------------------------------------------------------------ float comparisons
class _FloatCmp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.lin(x)
        return x > 0.3, h > 0, torch.logical_and(x <= 0.5, x >= -0.5)


def test_float_comparisons_decide_on_the_quantised_value() -> None:
    """``x > t`` of an int8 activation is exact on its grid: a decision differs from float only within
    one quantisation step of the threshold; a comparison that is a GEMM's only user runs in that
    GEMM's PPU on the 14-bit pre-activation (no layer of its own), where only the operands' int8
    rounding can flip it."""
    with seeded(2):
        m = freeze(_FloatCmp())
    g = torch.Generator().manual_seed(0)
    calib = [(torch.randn(4, 16, generator=g),) for _ in range(8)]
    prog = compile_model(m, calib[0], calibration=calib)
    layers = {ly["name"]: ly for ly in prog.manifest["layers"]}
    assert layers["gt"]["insn_end"] > layers["gt"]["insn_start"]                 # x > 0.3: one GEMM
    assert "gt_1" not in layers or layers["gt_1"]["insn_end"] == layers["gt_1"]["insn_start"]
    s_x = float(prog.tensor(prog.manifest["inputs"][0])["scale"])
    flips = 0
    for _ in range(6):
        x = torch.randn(4, 16, generator=g)
        out = run_program(prog, (x,))
        with torch.no_grad():
            ref = m(x)
        bad = out[0].bool() != ref[0]
        assert torch.all((x[bad] - 0.3).abs() <= s_x), x[bad]
        bad = out[2].bool() != ref[2]
        assert torch.all(((x[bad].abs() - 0.5).abs()) <= s_x), x[bad]
        with torch.no_grad():
            h = m.lin(x)
        bad = out[1].bool() != ref[1]
        assert torch.all(h[bad].abs() < 0.02), h[bad]
        flips += int(bad.sum())
    assert flips <= 3, flips            # of 384 decisions


# ------------------------------------------------------------------ selects
class _Select(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.where(m, x, y), x.masked_fill(m, 0.0)


def test_select_between_activations_is_exact_on_the_grid() -> None:
    """``where(m, x, y)`` with a runtime bool mask: every element is the selected operand rounded to
    the output grid (ReLU mask arithmetic, no product error); ``masked_fill(x, m, 0)`` gives exactly
    0 at masked positions."""
    g = torch.Generator().manual_seed(3)

    def draw() -> tuple[torch.Tensor, ...]:
        return torch.randn(2, 8, 16, generator=g), 0.5 * torch.randn(2, 8, 16, generator=g), \
            torch.rand(2, 8, 16, generator=g) > 0.5
    calib = [draw() for _ in range(8)]
    prog = compile_model(_Select(), calib[0], calibration=calib)
    s_x, s_y = (float(prog.tensor(nm)["scale"]) for nm in prog.manifest["inputs"][:2])
    s_w, s_f = (float(prog.tensor(nm)["scale"]) for nm in ("where.sel0", "where_1.sel0"))  # the grids
    for _ in range(4):
        x, y, m = draw()
        sel, filled = run_program(prog, (x, y, m))
        xq, yq = torch.round(x / s_x) * s_x, torch.round(y / s_y) * s_y
        want = torch.where(m, xq, yq).clamp(-127 * s_w, 127 * s_w)
        assert float((sel - want).abs().max()) <= 0.5 * s_w + 1e-6
        assert torch.all(filled[m] == 0.0)
        assert float((filled[~m] - xq[~m].clamp(-127 * s_f, 127 * s_f)).abs().max()) <= 0.5 * s_f + 1e-6
        assert _cos(sel, torch.where(m, x, y)) >= 0.999


# ------------------------------------------------------------------ boolean ops on runtime masks
class _Logical(nn.Module):
    def forward(self, ids: torch.Tensor, am: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = ids > 5
        return (torch.logical_and(a, am.bool()), a | (am == 0), a ^ am.bool(), ~(a & am.bool()),
                torch.logical_or(a, torch.tensor([True, False] * 6)))


def test_logical_ops_of_two_runtime_masks_are_exact() -> None:
    """and/or/xor/not of a mask computed from ids and an attention-mask input (two runtime sources:
    one lookup GEMM), and with a constant pattern (symbolic, no instruction)."""
    g = torch.Generator().manual_seed(4)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randint(0, 10, (2, 12), generator=g), (torch.rand(2, 12, generator=g) > 0.3).long()
    _exact(_Logical(), [draw() for _ in range(4)], [draw() for _ in range(4)])


def test_padding_and_causal_masks_give_zero_weight() -> None:
    """nn.MultiheadAttention with a runtime key_padding_mask and a constant causal attn_mask (the
    merged bias is the runtime mask plus a non-uniform constant penalty): the golden attention
    weights are exactly 0 at every padded or future key and match float elsewhere."""
    with seeded(7):
        model = freeze(MHA(batch_first=True, need_weights=True, causal=True))
    g = torch.Generator().manual_seed(5)

    def draw(pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(1, 8, 32, generator=g), torch.arange(8)[None, :] >= 8 - pad
    prog = compile_model(model, draw(0), calibration=[draw(p) for p in (0, 1, 2, 3, 0, 2, 1, 3)])
    x, kpm = draw(3)
    out, w = run_program(prog, (x, kpm))
    with torch.no_grad():
        ref_out, ref_w = model(x, kpm)
    w = w.reshape(8, 8)
    masked = torch.triu(torch.ones(8, 8, dtype=torch.bool), 1) | kpm.reshape(1, 8)
    assert torch.all(w[masked] == 0.0) and torch.all(w[~masked] > 0.0)
    assert _cos(w, ref_w) >= 0.99 and _cos(out, ref_out) >= 0.99


# ------------------------------------------------------------------ float cumsum
class _Cumsum(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(16, 24)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.lin(x)
        return torch.cumsum(h, dim=1), torch.relu(torch.cumsum(h, dim=-1))


def test_float_cumsum_is_a_triangular_gemm() -> None:
    """cumsum of a float activation along the sequence (40 > 16: several K-blocks) and along the
    features (with a fused ReLU): float fidelity, and the sum itself is exact on the codes (the
    output equals the exact sum of the int8 input rounded once to the output scale)."""
    with seeded(3):
        m = freeze(_Cumsum())
    g = torch.Generator().manual_seed(6)
    calib = [(torch.randn(2, 40, 16, generator=g),) for _ in range(8)]
    prog = compile_model(m, calib[0], calibration=calib)
    cum = next(ly for ly in prog.manifest["layers"] if ly["op"] == "cumsum")
    assert cum["meta"]["macs"] > 0
    for _ in range(3):
        x = torch.randn(2, 40, 16, generator=g)
        a, b = run_program(prog, (x,))
        with torch.no_grad():
            ra, rb = m(x)
        assert _cos(a, ra) >= 0.999 and _cos(b, rb) >= 0.999


# ------------------------------------------------------------------ coverage rows
@pytest.mark.parametrize("name", ["ids_window_encoder", "where_gate_mlp", "where_elu_mlp", "cumsum_mixer",
                                  "mha_kpm_causal", "attn_pad_causal"])
def test_new_coverage_rows_match_float(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run_case(name)
    assert r["compiled"] and r["simulated"], r.get("error")
    assert r["cosine_min"] >= 0.99, (name, r["cosine_min"])


# ------------------------------------------------------------------ still unsupported
class _Big(nn.Module):
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return ids > 5


def test_out_of_range_ids_are_a_clear_error() -> None:
    cal = [_ids(i, 0, 40000) for i in range(3)]
    with pytest.raises(UnsupportedOpError, match=r"aten::gt\.Scalar.*outside \[-32768, 32768\)") as e:
        compile_model(_Big(), cal[0], calibration=cal)
    assert "test_more_intops.py" in str(e.value) and "supported ops:" in str(e.value)


def test_unsupported_select_names_op_and_line() -> None:
    cal = [(torch.randn(2, 8), torch.randn(2, 8)) for _ in range(2)]

    class _IntSelect(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.where(x > 0, x, y) == 0.25
    with pytest.raises(UnsupportedOpError, match=r"aten::eq\.Scalar.*equality of a float") as e:
        compile_model(_IntSelect(), cal[0], calibration=cal)
    assert "test_more_intops.py" in str(e.value) and "aten::where" in str(e.value)


def test_constant_only_comparisons_fold() -> None:
    """Comparisons and selects that depend only on constants are folded at compile time."""
    class _Const(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("pos", torch.arange(8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            keep = (self.pos < 5) & (self.pos >= 1)
            return x * torch.where(keep, 2.0, 0.5)
    prog = compile_model(_Const(), (torch.randn(3, 8),), calibration=[(torch.randn(3, 8),) for _ in range(4)])
    assert {ly["op"] for ly in prog.manifest["layers"]} == {"mul"}
    x = torch.randn(3, 8)
    (out,) = run_program(prog, (x,))
    assert _cos(out, _Const()(x)) >= 0.999
    assert np.isfinite(out.numpy()).all()
