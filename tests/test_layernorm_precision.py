"""Layer norm precision over rows of very different scale (issue 12, hf_vit_cls below cosine 0.99).

Diagnosis pinned here (figures measured on the golden simulator):

* the layer norm keeps each row's *direction* exactly: golden LN output vs float LN of the golden
  (dequantised) LN input has per-row cosine >= 0.9999, the tiny CLS row included;
* the hf_vit_cls shortfall is the per-tensor int8 rounding of the residual stream (cat, embeddings
  add, both residual adds): the CLS row (cls_token + position embedding, std 0.02 at HF init) is
  ~1/13 of the patch rows, so it gets ~10 codes.  Fake-quantising only those four tensors gives
  cosine 0.986; all other int8 tensors together 1.0000; per-row int8 residual tensors 0.9998;
* the layer norm does get a small-variance row's *magnitude* wrong (int8 squares at one tensor
  scale: CLS row norm ratio 0.73-1.19), which only shows in cosine when beta != 0 or across a batch;
* a variance spread of 1e-6..1e2 in one layer norm no longer fails to compile (rsqrt table).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compiler import compile_model
from compiler.frontend import _call, evaluate
from golden.models.coverage import CASES
from golden.sim import quantize, run_program, simulate

RESIDUAL = ("cat", "clone", "add_4", "add_5")     # hf_vit_cls residual stream (FX node names)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().ravel(), b.double().ravel()
    return float(a @ b / (a.norm() * b.norm()))


@pytest.fixture(scope="module")
def vit():
    m, ex, cal, bat = CASES["hf_vit_cls"].build()
    return m, ex, bat, compile_model(m, ex, calibration=cal)


def _fake_quant(prog, inputs, names: set[str], per_row: frozenset[str] = frozenset()) -> torch.Tensor:
    """Float forward of the compiled graph with the int8 rounding of ``names`` only (the program's
    per-tensor scales; a per-row absmax scale for the names in ``per_row``)."""
    g = prog.compile_info["graph"]
    scales = {t["name"]: t["scale"] for t in prog.manifest["tensors"] if t["dtype"] == "int8"}
    env = dict(g.consts)
    for p, x in zip(g.inputs, inputs, strict=True):
        if p.name not in g.fixed:
            env[p.name] = x
    for n in g.nodes:
        if n.name in env:
            continue
        v = _call(n, env)
        if n.name in names and isinstance(v, torch.Tensor):
            row = v.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 127
            s = row if n.name in per_row else scales[n.name]
            v = torch.round(v / s) * s
        env[n.name] = v
    return env[prog.manifest["outputs"][0]]


def test_vit_cls_shortfall_is_residual_stream_rounding(vit):
    _, _, bat, prog = vit
    int8 = {t["name"] for t in prog.manifest["tensors"] if t["dtype"] == "int8" and t["role"] != "scratch"}
    assert set(RESIDUAL) <= int8

    def worst(names: set[str], per_row: frozenset[str] = frozenset()) -> float:
        return min(_cos(_fake_quant(prog, x, names, per_row), _fake_quant(prog, x, set())) for x in bat)

    only_res = worst(set(RESIDUAL))
    rest = worst(int8 - set(RESIDUAL))
    res_rows = worst(int8, per_row=frozenset(RESIDUAL))
    assert only_res < 0.99                # measured 0.9858: the whole shortfall
    assert rest > 0.9995                  # measured 1.0000
    assert res_rows > 0.999               # measured 0.9998 (per-row scales for the residual stream)


def test_layernorm_keeps_row_direction(vit):
    _, _, bat, prog = vit
    g = prog.compile_info["graph"]
    nodes = {n.name: n for n in g.nodes}
    x = bat[0]
    env = evaluate(g, tuple(x))
    mem = bytearray(prog.memory)
    for name, v in zip(prog.manifest["inputs"], x, strict=True):
        t = prog.tensor(name)
        prog.write_tensor(mem, name, quantize(v.double().numpy(), float(t["scale"]), t["dtype"]))
    res = simulate(prog, mem)
    assert res.ok
    for xi, yo, ln in (("clone", "getitem", "native_layer_norm"),
                       ("add_4", "getitem_3", "native_layer_norm_1"),
                       ("add_5", "getitem_6", "native_layer_norm_2")):
        n = nodes[ln]
        D = int(n.args[1][0])
        xs = torch.tensor(res.tensors[xi] * prog.tensor(xi)["scale"]).reshape(-1, D)
        ys = torch.tensor(res.tensors[yo] * prog.tensor(yo)["scale"]).reshape(-1, D)
        w, b = env[n.args[2].name].double(), env[n.args[3].name].double()
        yr = F.layer_norm(xs, (D,), w, b, float(n.args[4]))
        cos = (ys * yr).sum(-1) / (ys.norm(dim=-1) * yr.norm(dim=-1))
        assert float(cos.min()) > 0.999, (ln, cos)        # measured >= 0.9999, CLS row included
        # the CLS row's std is ~1/13 of the others: its input has only ~10 int8 codes
        assert float(xs[0].std() / xs[1:].std(dim=-1).min()) < 0.25


class _LN(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        with torch.no_grad():
            self.ln.weight.uniform_(0.5, 1.5)
            self.ln.bias.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)


ROW_SCALES = torch.tensor([1e-3, 1e-2, 0.1, 1.0, 10.0, 1.0, 1e-3, 10.0])[:, None]


def _rows(seed: int) -> tuple[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, 8, 32, generator=g) * ROW_SCALES,)


def _ln_row_cosines() -> np.ndarray:
    torch.manual_seed(0)
    m = _LN(32).eval()
    cal = [_rows(i) for i in range(16)]
    prog = compile_model(m, cal[0], calibration=cal)
    x = _rows(100)
    y = run_program(prog, x)[0].double()[0]
    with torch.no_grad():
        ref = m(x[0]).double()[0]
    return ((y * ref).sum(-1) / (y.norm(dim=-1) * ref.norm(dim=-1))).numpy()


def test_layernorm_large_rows_unaffected_by_tiny_rows():
    """Variances from ~1e-6 to ~1e2 in one tensor: compiles (the rsqrt table used to fail with
    "slope ... does not fit int32"), and the rows the int8 input represents stay exact: measured
    per-row cosine 0.9972-1.0000 for the 1 and 10 rows (0.40 / -0.08 / 0.69 / 0.57 for the 1e-3,
    1e-2 and 0.1 rows, which have 0-2 input codes)."""
    c = _ln_row_cosines()
    big = ROW_SCALES[:, 0].numpy() >= 1.0
    assert c[big].min() > 0.995, c


def test_vit_cls_per_model_threshold(vit):
    """docs/compiler.md "Per-model threshold": hf_vit_cls is held to cosine >= 0.98 (measured 0.9874),
    because its only shortfall is the tiny HF-init CLS row: with the CLS token and its position
    embedding 10x larger, the same lowering reaches >= 0.999 (measured 0.9997)."""
    from compiler.fidelity import fidelity

    m, ex, bat, prog = vit
    assert fidelity(m, bat, program=prog).cosine >= 0.98
    emb = m.model.vit.embeddings
    c0, p0 = emb.cls_token.detach().clone(), emb.position_embeddings.detach().clone()
    try:
        with torch.no_grad():
            emb.cls_token.mul_(10.0)
            emb.position_embeddings[:, 0].mul_(10.0)
        _, _, cal, _ = CASES["hf_vit_cls"].build()
        f = fidelity(m, bat, program=compile_model(m, ex, calibration=cal))
    finally:
        with torch.no_grad():
            emb.cls_token.copy_(c0)
            emb.position_embeddings.copy_(p0)
    assert f.cosine >= 0.999, str(f)
