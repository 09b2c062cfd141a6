"""Elementwise product of two activations (compiler/lower/ops/product.py).

Tiny seeded models compiled with compile_model, the golden simulator against float PyTorch on
held-out inputs (fidelity); the bars are the measured figures with some margin.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_model
from compiler.fidelity import fidelity
from compiler.lower.ops.eltwise import lower_mul_const
from compiler.lower.ops.product import lower_mul_act
from compiler.lower.registry import candidates, choose
from golden.sim import run_program

aten = torch.ops.aten


def _data(*shape: int, n: int, seed: int) -> list[tuple[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(*shape, generator=g),) for _ in range(n)]


def _check(make: Callable[[], nn.Module], shape: tuple[int, ...], cos: float, rel: float):
    torch.manual_seed(0)   # before the model is built: its weights must not depend on earlier tests
    m = make().eval()
    cal, test = _data(*shape, n=8, seed=1), _data(*shape, n=6, seed=2)
    prog = compile_model(m, cal[0], calibration=cal)
    f = fidelity(m, test, program=prog)
    assert f.cosine >= cos, str(f)
    assert f.max_abs_rel <= rel, str(f)
    return prog, f


class _Mul(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(16, 32), nn.Linear(16, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * self.b(x)


class _SE(nn.Module):
    """Squeeze-excitation: (N, C, H, W) * (N, C, 1, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(16, 4), nn.Linear(4, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * w[:, :, None, None]


class _SwiGLU(nn.Module):
    """LLaMA-style MLP: w2(silu(w1 x) * w3 x)."""

    def __init__(self) -> None:
        super().__init__()
        self.w1, self.w3, self.w2 = nn.Linear(16, 32), nn.Linear(16, 32), nn.Linear(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class _GLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.o = nn.Linear(16, 64), nn.Linear(32, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.o(F.glu(self.a(x), -1))


def test_product_of_two_activations() -> None:
    # measured: cosine 0.9995, max |err| / range 0.012
    prog, _ = _check(_Mul, (6, 16), 0.998, 0.03)
    layer = next(ly for ly in prog.manifest["layers"] if ly["op"] == "mul")
    assert layer["insn_end"] > layer["insn_start"]
    fns = [s["fn"] for s in prog.compile_info["pwl"]]
    assert fns == ["square(sum)", "square(diff)"]
    assert all(s["max_lsb"] <= 1.5 for s in prog.compile_info["pwl"])


def test_squeeze_excitation_broadcast() -> None:
    _check(_SE, (2, 3, 8, 8), 0.999, 0.03)       # measured: cosine 0.9998, 0.010


def test_swiglu_mlp() -> None:
    prog, _ = _check(_SwiGLU, (6, 16), 0.995, 0.05)   # measured: cosine 0.9983, 0.031
    # silu(a) = a * sigmoid(a) after decomposition: one PWL of a, not a product of squares
    fns = [s["fn"] for s in prog.compile_info["pwl"]]
    assert "(x)*(sigmoid)" in fns and fns.count("square(sum)") == 1


def test_glu() -> None:
    _check(_GLU, (6, 16), 0.999, 0.04)           # measured: cosine 0.9998, 0.016


def test_square_of_one_activation_is_one_pwl() -> None:
    class Sq(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * x
    prog, _ = _check(Sq, (4, 32), 0.999, 0.03)      # measured: cosine 0.9999, 0.015
    assert [s["fn"] for s in prog.compile_info["pwl"]] == ["(x)*(x)"]


def test_unbalanced_scales_against_int8_floor() -> None:
    """x ~ 10 N(0, 1), y ~ 0.01 U(0, 1): summing int8 codes (not real values) keeps the squares
    balanced; the error is within 3x of the exact product of the int8 operands (on the
    calibration inputs, so that no value saturates)."""
    class P(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x * y
    g = torch.Generator().manual_seed(0)
    cal = [(10 * torch.randn(32, 64, generator=g), 0.01 * torch.rand(32, 64, generator=g))
           for _ in range(8)]
    prog = compile_model(P(), cal[0], calibration=cal)
    sc = {t["name"]: t["scale"] for t in prog.manifest["tensors"]}
    sx, sy = (sc[nm] for nm in prog.manifest["inputs"])
    for x, y in cal[:3]:
        out = run_program(prog, (x, y))[0].double().numpy()
        ref = (x * y).double().numpy()
        floor = np.round(x.numpy() / sx) * sx * np.round(y.numpy() / sy) * sy
        err, ferr = np.abs(out - ref).max(), np.abs(floor - ref).max()
        assert err <= 3 * ferr, (err, ferr)
        assert err / (ref.max() - ref.min()) <= 0.012      # measured 0.008


def test_guards_keep_constant_factor_lowering() -> None:
    class Both(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("c", torch.linspace(0.5, 2.0, 8))
            self.a = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (self.a(x) * self.c) * x
    xs = _data(4, 8, n=4, seed=3)
    m = Both().eval()
    prog = compile_model(m, xs[0], calibration=xs)
    lw = prog.compile_info["lowerer"]
    muls = [n for n in lw.g.nodes if n.target == aten.mul.Tensor]
    picked = [choose(lw, n, candidates(n.target)).fn for n in muls]
    assert picked == [lower_mul_const, lower_mul_act]
    assert fidelity(m, xs, program=prog).cosine >= 0.99
