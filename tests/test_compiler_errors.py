"""Every bad compiler input is answered by a clear exception (API) or one stderr line (CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from compiler import CompileError, ExportError, InputError, UnsupportedOpError, compile_model
from compiler.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _lin() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(16, 8).eval()


# ------------------------------------------------------------------ API
def test_wrong_input_shape(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ExportError) as ei:
        compile_model(_lin(), (torch.randn(1, 7),))
    msg = str(ei.value)
    assert "\n" not in msg
    assert "input 0: float32[1, 7]" in msg and "[16, 8]" in msg   # torch's first line is kept
    assert isinstance(ei.value, CompileError) and isinstance(ei.value.__cause__, Exception)
    assert "fake_tensor" not in capfd.readouterr().err           # torch's error log is muted


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_non_float32_example_rejected(dtype: torch.dtype) -> None:
    with pytest.raises(InputError, match=rf"example input 0 is {str(dtype)[6:]}\[1, 16\].*float32"):
        compile_model(_lin(), (torch.randn(1, 16, dtype=dtype),))


def test_non_float32_calibration_rejected() -> None:
    calib = [(torch.randn(1, 16),), (torch.randn(1, 16, dtype=torch.float64),)]
    with pytest.raises(InputError, match=r"calibration sample 1, input 0 is float64"):
        compile_model(_lin(), (torch.randn(1, 16),), calibration=calib)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_example_rejected(bad: float) -> None:
    x = torch.randn(1, 16)
    x[0, 3] = bad
    with pytest.raises(InputError, match=r"example input 0 \(float32\[1, 16\]\) has .*must be finite") as ei:
        compile_model(_lin(), (x,))
    assert ("1 NaN" if bad != bad else "1 infinite") in str(ei.value)


def test_non_finite_calibration_rejected() -> None:
    class Two(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.relu(a + b)
    calib = [(torch.randn(4), torch.randn(4)) for _ in range(3)]
    calib[2][1][0] = float("nan")
    with pytest.raises(InputError, match=r"calibration sample 2, input 1 \(float32\[4\]\) has 1 NaN"):
        compile_model(Two(), (torch.randn(4), torch.randn(4)), calibration=calib)


def test_training_mode_warns_and_is_restored() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 4))
    m.train()
    m[3].eval()   # a mixed-mode submodule keeps its own mode too
    x = torch.randn(2, 16)
    with pytest.warns(UserWarning, match=r"training mode; compiling it in eval mode"):
        prog = compile_model(m, (x,))
    assert m.training and m[1].training and not m[3].training
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ref = compile_model(m.eval(), (x,))
    assert not any("training mode" in str(r.message) for r in w)   # an eval-mode model: no warning
    assert prog.memory == ref.memory   # compiled in eval mode (dropout off)


def test_unsupported_op_names_module() -> None:
    class Rnn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(8, 8, bidirectional=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch.export's notes on LSTM's _flat_weights
        with pytest.raises(UnsupportedOpError) as ei:
            compile_model(Rnn().eval(), (torch.randn(4, 1, 8),))
    first = str(ei.value).splitlines()[0]
    assert "in nn.LSTM 'rnn'" in first and first.startswith("NMX cannot lower op aten::")


def test_unsupported_op_in_user_module() -> None:
    class Scan(nn.Module):      # a sort: no lowering (cumsum, used here before, is a GEMM now)
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sort(x, dim=-1).values

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scan = Scan()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.scan(x)
    with pytest.raises(UnsupportedOpError) as ei:
        compile_model(Net(), (torch.randn(2, 8),))
    assert "sort" in str(ei.value).splitlines()[0] and "in Scan 'scan'" in str(ei.value).splitlines()[0]


def test_coverage_matrix_parses_module_suffix() -> None:
    from compiler import coverage_matrix as cm
    m = cm._OP_RE.match("NMX cannot lower op aten::flip.default (node 'flip') in nn.LSTM 'rnn': why")
    assert m and m.group(1) == "aten::flip.default" and m.group(2) == "why"


# ------------------------------------------------------------------ CLI
def bad_shape() -> tuple[nn.Module, tuple[torch.Tensor]]:
    return _lin(), (torch.randn(1, 7),)


def nan_input() -> tuple[nn.Module, tuple[torch.Tensor]]:
    return _lin(), (torch.full((1, 16), float("nan")),)


def f64_input() -> tuple[nn.Module, tuple[torch.Tensor]]:
    return _lin(), (torch.randn(1, 16, dtype=torch.float64),)


def scan() -> tuple[nn.Module, tuple[torch.Tensor]]:
    class Scan(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sort(x, dim=-1).values
    return Scan(), (torch.randn(2, 8),)


@pytest.mark.parametrize(("spec", "expect"), [
    ("no_such_pkg.models:make", "cannot import module 'no_such_pkg.models'"),
    ("tests.test_compiler_errors:no_such_factory", "has no factory 'no_such_factory'"),
    ("no_such_zoo_model", "unknown model 'no_such_zoo_model'"),
    ("tests.test_compiler_errors:bad_shape", "failed on the example inputs (input 0: float32[1, 7]"),
    ("tests.test_compiler_errors:nan_input", "example input 0 (float32[1, 16]) has 16 NaN"),
    ("tests.test_compiler_errors:f64_input", "example input 0 is float64[1, 16]"),
    ("tests.test_compiler_errors:scan", "NMX cannot lower op aten::sort.default"),
])
def test_cli_one_line_errors(spec: str, expect: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert main([spec, "--no-sim"]) == 2
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("python -m compiler: error: ") and expect in lines[0]
    assert "Traceback" not in err


def test_cli_subprocess_and_debug() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "compiler", "tests.test_compiler_errors:bad_shape", "--no-sim"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr, r.stderr
    assert "torch.export failed" in r.stderr
    r = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert r.returncode != 0 and "Traceback" in r.stderr and "ExportError" in r.stderr
