"""Small zoo models through the compiler and the golden simulator.

Thresholds: the int8 PTQ error budget of these networks is ~1e-3 in cosine (measured 0.999+);
0.99 leaves room for calibration-set changes.  Top-1 agreement >= 97% is the usual acceptance bar
for int8 deployment (at most 3 flips per 100 decisions, flips only happen at near-ties).
"""

from __future__ import annotations

import pytest

from compiler import compile_model
from compiler.fidelity import fidelity
from golden.models import ZOO
from golden.sim import simulate


@pytest.mark.parametrize("name,n", [("resnet_tiny", 24), ("bert_tiny", 12), ("gcn_karate", 4)])
def test_zoo_fidelity(name: str, n: int) -> None:
    spec = ZOO[name]
    model, example = spec.build()
    prog = compile_model(model, example, calibration=spec.calibration(16), name=name)
    res = simulate(prog)
    assert res.ok, res.error_message
    f = fidelity(model, spec.batch(n, 0), program=prog)
    assert f.cosine >= 0.99, str(f)
    assert f.top1 >= 0.97, str(f)
