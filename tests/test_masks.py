"""Attention masks and boolean ops (compiler/lower/ops/mask.py): masked softmax, the SDPA
fully-masked-row guard, HF attention masks, transformers' metadata assertions, and the clear errors
for integer ops that are still unsupported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from compiler import compile_model
from compiler.fidelity import fidelity
from compiler.frontend import UnsupportedOpError
from golden.models._util import freeze, seeded
from golden.models.coverage import CASES, MHA
from golden.sim import run_program


def _fid(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _example, calib, batch = CASES[name].build()
        return fidelity(model, batch[:4], calibration=calib)


# causal constant mask, bool key_padding_mask input, unmasked SDPA guard, HF int attention_mask
@pytest.mark.parametrize("name", ["mha_causal", "mha_kpm", "tel_bf", "hf_bert_model"])
def test_masked_rows_compile_and_match_float(name: str) -> None:
    f = _fid(name)
    assert f.cosine >= 0.99, (name, f)


def test_padded_keys_get_exactly_zero_weight() -> None:
    """need_weights=True returns the attention weights: with 5 of 8 keys padded, the golden
    weights at padded keys are exactly 0 and the rest match float."""
    with seeded(7):
        model = freeze(MHA(batch_first=True, need_weights=True, causal=False))
    g = torch.Generator().manual_seed(3)

    def draw(pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(1, 8, 32, generator=g)
        return x, torch.arange(8)[None, :] >= 8 - pad
    calib = [draw(p) for p in (0, 1, 2, 3, 5, 0, 2, 4)]
    x, kpm = draw(5)
    prog = compile_model(model, calib[0], calibration=calib)
    out, w = run_program(prog, (x, kpm))
    with torch.no_grad():
        ref_out, ref_w = model(x, kpm)
    w = w.numpy().reshape(8, 8)
    assert np.all(w[:, 3:] == 0.0)
    assert np.all(w[:, :3] > 0.0)
    ref = ref_w.numpy().reshape(8, 8)
    cos = float((w * ref).sum() / np.linalg.norm(w) / np.linalg.norm(ref))
    assert cos >= 0.99
    o, r = out.numpy().ravel(), ref_out.numpy().ravel()
    assert float(o @ r / np.linalg.norm(o) / np.linalg.norm(r)) >= 0.99


class _Select(nn.Module):
    """Selects between activations are lowered (tests/test_more_intops.py); float equality with a
    nonzero value is not."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.where(x == 0.5, x, y)


class _IdsMask(nn.Module):
    """Comparisons of ids are lowered (tests/test_more_intops.py); a reduction over the mask is not."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.lin(x).masked_fill((ids > 5).any(-1, keepdim=True), 0.0)


class _Cumsum(nn.Module):
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(ids, dim=1).float()


def test_float_equality_with_nonzero_is_a_clear_error() -> None:
    x, y = torch.randn(2, 8), torch.randn(2, 8)
    with pytest.raises(UnsupportedOpError, match=r"aten::eq\.Scalar.*equality of a float activation") as e:
        compile_model(_Select(), (x, y))
    assert "test_masks.py" in str(e.value) and "supported ops:" in str(e.value)


def test_reduction_over_an_ids_mask_is_a_clear_error() -> None:
    with seeded(1):
        m = freeze(_IdsMask())
    cal = [(torch.randn(1, 8), torch.randint(0, 10, (1, 8), generator=torch.Generator().manual_seed(i)))
           for i in range(3)]
    with pytest.raises(UnsupportedOpError, match=r"aten::any\.dim.*reduction over a runtime mask") as e:
        compile_model(m, cal[0], calibration=cal)
    assert "test_masks.py" in str(e.value)


def test_cumsum_is_a_clear_error() -> None:
    ids = [(torch.randint(0, 9, (1, 8), generator=torch.Generator().manual_seed(i)),) for i in range(2)]
    with pytest.raises(UnsupportedOpError, match=r"aten::cumsum\.default") as e:
        compile_model(_Cumsum(), ids[0], calibration=ids)
    assert "test_masks.py" in str(e.value) and "supported ops:" in str(e.value)
