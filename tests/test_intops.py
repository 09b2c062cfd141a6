"""chunk / split / unbind as views (compiler/lower/ops/gather.py) and integer ops on token ids
(compiler/lower/ops/intops.py): comparisons with a constant, cumsum of a mask, the gated product,
int32 position ids for the GATHER of a position-embedding table (RoBERTa), and the clear errors of
integer ops that stay unsupported."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from compiler import compile_model
from compiler.fidelity import fidelity
from compiler.frontend import UnsupportedOpError
from golden.models._util import freeze, seeded
from golden.models.coverage import CASES
from golden.sim import quantize, run_program, simulate


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().reshape(-1).double(), b.detach().reshape(-1).double()
    return float(F.cosine_similarity(a, b, 0))


def _int32_tensors(prog, inputs) -> dict[str, np.ndarray]:
    """Every checked int32 tensor of the golden run on ``inputs`` (the position ids)."""
    mem = bytearray(prog.memory)
    for name, x in zip(prog.manifest["inputs"], inputs, strict=True):
        t = prog.tensor(name)
        prog.write_tensor(mem, name, quantize(x.double().numpy(), float(t["scale"]), t["dtype"]))
    res = simulate(prog, mem)
    assert res.ok, res.error_message
    return {t["name"]: res.tensors[t["name"]] for t in prog.manifest["tensors"]
            if t["dtype"] == "int32" and t["role"] in ("intermediate", "output") and t["check"]}


# ------------------------------------------------------------------ chunk / split / unbind
class SwiGLUChunk(nn.Module):
    """``a, b = w(x).chunk(2, -1); down(silu(a) * b)``: one fused up projection."""

    def __init__(self, d: int = 32, h: int = 64) -> None:
        super().__init__()
        self.w, self.down = nn.Linear(d, 2 * h), nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w(x).chunk(2, dim=-1)
        return self.down(F.silu(a) * b)


class GLUSplit(nn.Module):
    """GLU-style uneven split_with_sizes (value, gate, extra), torch.split and unbind."""

    def __init__(self, d: int = 32, h: int = 40) -> None:
        super().__init__()
        self.w, self.down = nn.Linear(d, 2 * h + 8), nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, g, extra = self.w(x).split_with_sizes([40, 40, 8], dim=-1)
        y = self.down(a * torch.sigmoid(g)) + extra.sum(-1, keepdim=True)
        p, q = torch.unbind(y, 0)                     # batch of 2
        u, v = torch.split(x, 16, dim=-1)
        return p - q, torch.cat([v, u], dim=-1)


@pytest.mark.parametrize("cls,shape", [(SwiGLUChunk, (1, 8, 32)), (GLUSplit, (2, 8, 32))])
def test_split_views_match_float(cls, shape) -> None:
    with seeded(3):
        m = freeze(cls())
    g = torch.Generator().manual_seed(0)
    calib = [(torch.randn(*shape, generator=g),) for _ in range(8)]
    held = [(torch.randn(*shape, generator=g),) for _ in range(4)]
    prog = compile_model(m, calib[0], calibration=calib)
    assert not any(ly["op"].startswith(("split", "unbind", "chunk")) for ly in prog.manifest["layers"])
    f = fidelity(m, held, program=prog)
    assert f.cosine >= 0.99, str(f)


# ------------------------------------------------------------------ position ids from a mask
class PositionIds(nn.Module):
    """RoBERTa's create_position_ids_from_input_ids (past 2), then a position-embedding lookup."""

    def __init__(self, pad: int = 1, past: int = 2, n_pos: int = 200, d: int = 16) -> None:
        super().__init__()
        self.pad, self.past = pad, past
        self.pos = nn.Embedding(n_pos, d, padding_idx=pad)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = ids.ne(self.pad).int()
        inc = (torch.cumsum(mask, dim=1).type_as(mask) + self.past) * mask
        pos = inc.long() + self.pad
        return self.pos(pos), pos


class MaskPositions(nn.Module):
    """Llama-style ``attention_mask.cumsum(-1) - 1`` with padded positions set to 1."""

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pos = attention_mask.long().cumsum(-1) - 1
        return pos.masked_fill(attention_mask == 0, 1)


def _ids(g: torch.Generator, b: int, t: int, pad: int = 1) -> torch.Tensor:
    ids = torch.randint(3, 300, (b, t), generator=g)
    for r in range(b):                                 # trailing padding and a pad id inside
        n = int(torch.randint(0, t // 2, (1,), generator=g))
        if n:
            ids[r, t - n:] = pad
        ids[r, int(torch.randint(0, t, (1,), generator=g))] = pad
    return ids


@pytest.mark.parametrize("t", [8, 40, 140])           # one K-block; several; gate weight B > 127
def test_cumsum_of_mask_gives_exact_int32_position_ids(t: int) -> None:
    with seeded(5):
        m = freeze(PositionIds())
    g = torch.Generator().manual_seed(t)
    calib = [(_ids(g, 2, t),) for _ in range(4)]
    prog = compile_model(m, calib[0], calibration=calib)
    tests = [_ids(g, 2, t), torch.full((2, t), 1), torch.arange(2 * t).reshape(2, t) % 250 + 3]
    for ids in tests:
        with torch.no_grad():
            ref_emb, ref_pos = m(ids)
        emb, pos = run_program(prog, (ids,))
        assert torch.equal(pos.long(), ref_pos), (ids, pos, ref_pos)
        ints = _int32_tensors(prog, (ids,))
        assert any(np.array_equal(v, ref_pos.numpy()) for v in ints.values())
        assert _cos(emb, ref_emb) >= 0.99 or float(ref_emb.abs().max()) == 0.0


def test_attention_mask_cumsum_masked_fill() -> None:
    m = MaskPositions()
    g = torch.Generator().manual_seed(1)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        am = (torch.rand(2, 12, generator=g) > 0.3).long()
        return torch.randint(0, 50, (2, 12), generator=g), am
    calib = [draw() for _ in range(4)]
    prog = compile_model(m, calib[0], calibration=calib)
    for x in [draw(), draw(), (calib[0][0], torch.zeros(2, 12, dtype=torch.long))]:
        (out,) = run_program(prog, x)
        assert torch.equal(out.long(), m(*x)), (x, out)


# ------------------------------------------------------------------ RoBERTa (coverage row)
def test_hf_roberta_compiles_and_matches_float_with_padding() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, example, calib, batch = CASES["hf_roberta"].build()
        prog = compile_model(model, example, calibration=calib)
        f = fidelity(model, batch, program=prog)
        assert f.cosine >= 0.99, str(f)
        emb = model.model.embeddings
        pad = emb.padding_idx
        ids = torch.tensor([[5, 9, pad, 7, 11, pad, pad, pad]])        # a pad id inside, mask 0 after
        am = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
        with torch.no_grad():
            ref = model(ids, am)
        (out,) = run_program(prog, (ids, am))
    assert _cos(out, ref) >= 0.99
    ref_pos = emb.create_position_ids_from_input_ids(ids, pad).numpy()
    ints = _int32_tensors(prog, (ids, am))
    assert any(np.array_equal(v, ref_pos) for v in ints.values()), (ints, ref_pos)


# ------------------------------------------------------------------ still unsupported
class _Order(nn.Module):
    """Ordering comparisons of ids are lowered (tests/test_more_intops.py), not with broadcasting."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.cumsum((ids[:, :1] < ids).int(), dim=1)


class _IdsCumsum(nn.Module):
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(ids, dim=1)


class _ToFloat(nn.Module):
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(ids.ne(0).int(), dim=1).float() * 0.5


@pytest.mark.parametrize("cls,pattern", [
    (_Order, r"aten::lt\.Tensor.*broadcast integer tensor"),
    (_IdsCumsum, r"aten::cumsum\.default.*not 0/1"),
    (_ToFloat, r"aten::_to_copy\.default.*cast to a float"),
])
def test_unsupported_int_ops_are_clear_errors(cls, pattern: str) -> None:
    cal = [(torch.randint(0, 10, (1, 8), generator=torch.Generator().manual_seed(i)),) for i in range(3)]
    with pytest.raises(UnsupportedOpError, match=pattern) as e:
        compile_model(cls(), cal[0], calibration=cal)
    assert "test_intops.py" in str(e.value) and "supported ops:" in str(e.value)
