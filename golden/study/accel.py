"""Accelerator accuracy: the real compiler (PWL policy knob) and the golden ISA simulator.

Why not ``golden.sim.run_program`` for every sample: it also runs the token scheduler and the timing
model, which a 500-sample accuracy measurement does not need.  :class:`FastRunner` decodes a Program
once and executes it on the golden simulator's own :class:`golden.sim.Machine` in program order.  The
compiler emits race-free streams in which every producer precedes its consumers (docs/compiler.md,
"Tiling, scheduling and tokens"), so program order yields the same memory as the golden schedule; the
runner checks that bit for bit against ``run_program`` on the first input of every Program and
refuses to go on otherwise.  The golden simulator is bit-exact with the RTL (tests, regressions), so
these are the accelerator's outputs.

Programs whose bytes are identical (ReLU-only networks: their exact ReLU table does not depend on the
PWL policy) are simulated once: :func:`digest` keys the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compiler import compile_model
from compiler.compile import release_compile_state
from compiler.lower.post import PwlPolicy
from golden import isa
from golden.models import ZOO
from golden.program import Program
from golden.schedule import decode_stream
from golden.sim import Machine, _BadSet, quantize, run_program

CALIBRATION = 32
"""Calibration samples per compile: the regressions' default (regressions/verify.py)."""


def policy(method: str = "vertical", segments: int = 16, granularity: float | None = None) -> PwlPolicy:
    """The compiler's PWL policy for one sweep point (``PwlPolicy()`` is the hardware default)."""
    return PwlPolicy(method, segments, granularity)


def compile_zoo(name: str, pol: PwlPolicy | None = None, model: torch.nn.Module | None = None,
                calibration: int = CALIBRATION) -> Program:
    """Compile zoo model ``name`` (or ``model``, e.g. fine-tuned weights of it) under ``pol``."""
    spec = ZOO[name]
    m, ex = spec.build()
    prog = compile_model(model if model is not None else m, ex, calibration=spec.calibration(calibration),
                         name=name, pwl_policy=pol)
    release_compile_state(prog)
    return prog


def digest(prog: Program) -> str:
    """Content hash of the instruction stream and the memory image (what determines the outputs)."""
    h = hashlib.sha256()
    h.update(isa.to_bytes(prog.insns))
    h.update(bytes(prog.memory))
    io = [(t["name"], t["scale"], t["dtype"]) for t in prog.manifest["tensors"]
          if t["role"] in ("input", "output")]
    h.update(json.dumps(io, default=str).encode())
    return h.hexdigest()[:16]


@dataclass
class FastRunner:
    """A Program decoded once, run like a function on the golden Machine in program order."""

    prog: Program
    checked: bool = False

    def __post_init__(self) -> None:
        self._decoded = decode_stream(self.prog.insns, self.prog.hw)

    def __call__(self, inputs: Sequence[Any]) -> tuple[torch.Tensor, ...]:
        p = self.prog
        mem = bytearray(p.memory)
        for name, x in zip(p.manifest["inputs"], inputs, strict=True):
            t = p.tensor(name)
            a = x.detach().to(torch.float64).numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            p.write_tensor(mem, name, quantize(a, float(t["scale"]), t["dtype"]))
        m = Machine(p.hw, mem, _BadSet(None, p.hw.axi_data_bits // 8))
        for insn in self._decoded:
            m.execute(insn)  # type: ignore[arg-type]
        del m
        outs = []
        for name in p.manifest["outputs"]:
            t = p.tensor(name)
            v = p.read_tensor(mem, name).astype(np.float32) * np.float32(t["scale"])
            outs.append(torch.from_numpy(np.ascontiguousarray(v)))
        res = tuple(outs)
        if not self.checked:
            ref = run_program(p, tuple(inputs))
            if not all(torch.equal(a, b) for a, b in zip(res, ref, strict=True)):
                raise RuntimeError(f"program-order run of {p.manifest['name']} differs from the golden"
                                   " schedule")
            self.checked = True
        return res


class Accelerator:
    """Outputs of compiled Programs over evaluation inputs, cached by Program content.

    ``key`` names the evaluation set; a request for its first k inputs reuses what is cached and
    simulates only the inputs not yet run (the sweep uses prefixes of the accuracy table's set).
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], list[torch.Tensor]] = {}

    def outputs(self, prog: Program, inputs: Sequence[tuple[torch.Tensor, ...]],
                key: int = 0) -> list[torch.Tensor]:
        """First output of ``prog`` for every input tuple."""
        done = self._cache.setdefault((digest(prog), key), [])
        if len(done) < len(inputs):
            run = FastRunner(prog)
            done.extend(run(x)[0] for x in inputs[len(done):])
        return done[:len(inputs)]
