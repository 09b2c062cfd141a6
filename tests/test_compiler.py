"""Compiler tests: op lowering vs float, a model outside the zoo, small zoo models, error text,
and race/deadlock freedom of the emitted programs (golden simulator + adversarial schedules)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from compiler import UnsupportedOpError, compile_model
from compiler.fidelity import fidelity
from compiler.lower import Lowerer, Post, hat_table
from compiler.verify import run_schedule
from golden import pwl
from golden.isa import ErrorCode, HwConfig
from golden.sim import run_program, simulate


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def _check(model: nn.Module, inputs: list[tuple[torch.Tensor, ...]], min_cos: float = 0.99,
           hw: HwConfig | None = None) -> float:
    model = model.eval()
    prog = compile_model(model, inputs[0], calibration=inputs, hw=hw)
    res = simulate(prog)
    assert res.error == ErrorCode.NONE, res.error_message
    worst = 1.0
    for x in inputs[:3]:
        with torch.no_grad():
            ref = model(*x)
        out = run_program(prog, x)[0]
        worst = min(worst, _cos(out, ref))
    assert worst >= min_cos, worst
    return worst


def _samples(*shape: int, n: int = 6, seed: int = 0) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(*shape, generator=g),) for _ in range(n)]


# ------------------------------------------------------------------ PWL tables
def test_pwl_tables_come_from_golden_pwl() -> None:
    """Compiler tables: exact ReLU and the embedding 'hat' (golden.pwl quantiser), and a composed
    epilogue fitted by golden.pwl (vertical) on calibration samples, with its error recorded."""
    v = np.arange(-300, 300)
    relu = pwl.to_hw_table(pwl.fit("relu"), 1.0, 1.0)
    assert np.array_equal(pwl.hw_eval(relu, v), np.maximum(v, 0))
    big = np.array([-2**31, -2**31 + 1, 2**31 - 1])
    assert np.array_equal(pwl.hw_eval(hat_table(), np.concatenate([v, big])),
                          (np.concatenate([v, big]) == 0).astype(np.int64))
    lw = Lowerer.__new__(Lowerer)        # only fit_pwl's state is needed
    lw.pwl_stats, lw._cur_layer = [], None
    rng = np.random.default_rng(0)
    smp = rng.normal(-0.3, 1.2, 4000).clip(-4, 4)
    gelu = pwl.function("gelu")
    t = lw.fit_pwl("g", Post("pwl", lambda x: 0.5 * gelu(x), -4.0, 4.0, {}, smp, "gelu*0.5"),
                   4 / 2**14, 2 / 127)
    x = np.linspace(-4, 4, 999)
    got = pwl.hw_eval(t, np.round(x / (4 / 2**14))) * (2 / 127)
    assert np.abs(got - 0.5 * gelu(x)).max() < 0.02
    st = lw.pwl_stats[0]
    assert st["samples"] == 4000 and st["max_err"] < 0.02 and abs(st["mean_err"]) < 2 / 127


# ------------------------------------------------------------------ unit lowering vs float
def test_linear_lowering() -> None:
    _check(nn.Sequential(nn.Linear(37, 45)), _samples(11, 37))


def test_linear_large_k_is_chunked() -> None:
    # K = 2500 > INP half / rows: exercises K chunking and accumulation across chunks
    _check(nn.Sequential(nn.Linear(2500, 20), nn.ReLU()), _samples(130, 2500, n=3))


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 1)])
def test_conv_lowering(stride: int, padding: int, dilation: int) -> None:
    m = nn.Sequential(nn.Conv2d(5, 18, 3, stride=stride, padding=padding, dilation=dilation), nn.ReLU())
    _check(m, _samples(2, 5, 11, 9))


class _Softmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x * 2.0, dim=-1)


def test_softmax_lowering() -> None:
    _check(_Softmax(), _samples(3, 7, 24))


def test_layernorm_lowering() -> None:
    m = nn.LayerNorm(40)
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    g = torch.Generator().manual_seed(1)
    xs = [(torch.randn(9, 40, generator=g) * 3 + torch.randn(9, 1, generator=g),) for _ in range(6)]
    _check(m, xs)


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(32, 32), nn.Linear(32, 32), nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.q(x).view(1, 10, 2, 16).transpose(1, 2)
        k = self.k(x).view(1, 10, 2, 16).transpose(1, 2)
        v = self.v(x).view(1, 10, 2, 16).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1)
        return (p @ v).transpose(1, 2).reshape(1, 10, 32)


def test_attention_lowering() -> None:
    _check(_Attention(), _samples(1, 10, 32))


def test_fast_encoder_matches_isa_encode() -> None:
    """The emitter's vectorised-layout encoder equals golden.isa.encode on a whole program."""
    from golden import isa
    xs = _samples(1, 10, 32)
    prog = compile_model(_Attention().eval(), xs[0], calibration=xs)
    em = prog.compile_info["lowerer"].em  # type: ignore[attr-defined]
    ref = [isa.encode(op, **f) for op, f in zip(em.ops, em.fields, strict=True)]
    assert prog.insns[:-1] == ref and prog.insns[-1] == isa.encode(isa.Opcode.FINISH)
    assert any(p["fn"] == "exp" and p["samples"] > 0 for p in prog.compile_info["pwl"])  # type: ignore[attr-defined]


# ------------------------------------------------------------------ a model outside the zoo
class _Mixed(nn.Module):
    """conv + BN + ReLU + max-pool + residual + avg-pool + MLP with GELU + layernorm + tanh head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.bn = nn.BatchNorm2d(12)
        self.conv2 = nn.Conv2d(12, 12, 3, padding=1, bias=False)
        self.fc1 = nn.Linear(12, 48)
        self.ln = nn.LayerNorm(48)
        self.fc2 = nn.Linear(48, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        y = nn.functional.max_pool2d(y, 2)
        y = torch.relu(y + self.conv2(y))
        y = nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        y = self.ln(nn.functional.gelu(self.fc1(y)))
        return self.fc2(torch.tanh(y))


def test_model_outside_zoo() -> None:
    torch.manual_seed(0)
    m = _Mixed().eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.2, 0.2)
        m.bn.running_var.uniform_(0.5, 2.0)
    xs = _samples(2, 3, 12, 12, n=8)
    f = fidelity(m, xs, calibration=xs)
    assert f.cosine >= 0.99, str(f)
    assert f.max_abs_rel <= 0.1, str(f)  # random logits are near-ties: top-1 is not meaningful here


# ------------------------------------------------------------------ errors
class _Unsupported(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(x, dim=-1).values  # NMX has no sort (cumsum is a triangular GEMM)


def test_unsupported_op_error_names_op_and_line() -> None:
    with pytest.raises(UnsupportedOpError) as ei:
        compile_model(_Unsupported(), (torch.randn(2, 8),))
    msg = str(ei.value)
    assert "aten::sort" in msg
    assert "test_compiler.py" in msg and "torch.sort(x, dim=-1).values" in msg
    assert "supported ops:" in msg and "aten::addmm" in msg and "aten::convolution" in msg


# ------------------------------------------------------------------ schedules and manifest
def test_race_free_under_adversarial_schedules() -> None:
    torch.manual_seed(0)
    m = _Mixed().eval()
    xs = _samples(2, 3, 12, 12, n=2)
    prog = compile_model(m, xs[0], calibration=xs)
    ref = simulate(prog)
    assert ref.ok
    outs = [t["name"] for t in prog.manifest["tensors"] if t["check"] or t["role"] == "output"]
    for policy, seed in (("latest", 0), ("random", 1), ("random", 2)):
        mem = run_schedule(prog, policy=policy, seed=seed)
        for nm in outs:
            assert np.array_equal(prog.read_tensor(mem, nm), ref.tensors[nm]), (policy, nm)


def test_manifest_layers_and_checked_tensors() -> None:
    m = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)).eval()
    xs = _samples(5, 16)
    prog = compile_model(m, xs[0], calibration=xs)
    man = prog.manifest
    assert man["inputs"] and man["outputs"]
    layers = {ly["name"]: ly for ly in man["layers"]}
    assert len(layers) == 2
    checked = [t for t in man["tensors"] if t["check"]]
    assert checked and all(t["layer"] in layers for t in checked)
    ends = [ly["insn_end"] for ly in man["layers"]]
    assert ends == sorted(ends) and ends[-1] == len(prog.insns) - 1  # FINISH follows the last layer


def test_small_hw_config() -> None:
    hw = HwConfig(rows=8, cols=8, inp_depth=512, wgt_depth=512, acc_depth=128, vec_depth=64)
    _check(nn.Sequential(nn.Linear(30, 20), nn.GELU(), nn.Linear(20, 9)), _samples(40, 30), hw=hw)


def test_compile_does_not_depend_on_earlier_compiles() -> None:
    """Calibration subsamples restart per compile: the same model gives the same bytes after another."""

    def mlp(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(96, 64), nn.GELU(), nn.Linear(64, 8)).eval()

    torch.manual_seed(5)
    calib = [(torch.randn(48, 96),) for _ in range(2)]
    x = calib[0]
    first = compile_model(mlp(1), x, calibration=calib, name="m").to_bytes()
    compile_model(mlp(2), x, calibration=calib, name="other")
    assert compile_model(mlp(1), x, calibration=calib, name="m").to_bytes() == first
