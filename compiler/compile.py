"""compile_model: torch.nn.Module -> golden.program.Program."""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Iterable
from typing import Any

import torch

from compiler.frontend import InputError, Range, UnsupportedOpError, calibrate, export
from compiler.lower import Lowerer
from compiler.lower.post import PwlPolicy
from golden.isa import HwConfig
from golden.program import Program


def compile_model(model: torch.nn.Module, example_inputs: tuple[Any, ...] | Any, *,
                  calibration: Iterable[tuple[Any, ...]] | None = None, hw: HwConfig | None = None,
                  name: str | None = None, pwl_policy: PwlPolicy | None = None) -> Program:
    """Compile an eval-mode model to an NMX Program (int8 PTQ calibrated on ``calibration``).

    ``pwl_policy`` (default: vertical, 16 segments, the hardware's) sets how every PWL table is fitted;
    other methods and smaller segment budgets are for the fidelity study (docs/fidelity.md).

    The manifest records every input/output, every materialised intermediate (``check=True``) with
    its float scale, and one layer per lowered graph node with its instruction range.  Compile-time
    statistics are attached as ``program.compile_info`` (not serialised).

    Floating-point example and calibration inputs must be float32 and finite (else ``InputError``,
    naming the sample and input); an export failure (e.g. a wrong input shape) raises
    ``ExportError``.  A model in training mode is compiled in eval mode with a warning, and its
    (and every submodule's) mode is restored afterwards.
    """
    t0 = time.perf_counter()
    hw = hw or HwConfig()
    if not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    samples = list(calibration) if calibration is not None else [example_inputs]
    samples = [tuple(s) if isinstance(s, (tuple, list)) else (s,) for s in samples]
    name = name or type(model).__name__
    _check_inputs("example input", example_inputs)
    if calibration is not None:
        for k, smp in enumerate(samples):
            _check_inputs(f"calibration sample {k}, input", smp)
    if any(m.training for m in model.modules()):
        warnings.warn(f"compile_model: {name} is in training mode; compiling it in eval mode (dropout "
                      f"off, batch norm on running statistics) and restoring its mode afterwards; call "
                      f"model.eval() first to silence this warning", UserWarning, stacklevel=2)
    # Integer inputs that never change across several calibration samples (a GNN's edge_index) are
    # graph structure and are folded; with a single sample they are folded only if the graph cannot
    # be lowered with them as runtime values.
    fixed = _fixed_inputs(example_inputs, samples)
    if fixed and len(samples) >= 2:
        graph, ranges, lw, t_export, t_cal = _lower(model, example_inputs, samples, hw, name, fixed,
                                                    pwl_policy)
    else:
        try:
            graph, ranges, lw, t_export, t_cal = _lower(model, example_inputs, samples, hw, name, None,
                                                        pwl_policy)
        except UnsupportedOpError:
            if not fixed:
                raise
            graph, ranges, lw, t_export, t_cal = _lower(model, example_inputs, samples, hw, name, fixed,
                                                        pwl_policy)
    insns = lw.em.finish()
    outputs = []
    for o in graph.outputs:
        if o is None:
            raise NotImplementedError("non-tensor model outputs")
        outputs.append(_output_tensor(lw, o.name))
    inputs = [p.name for p in graph.inputs]
    layers = [{"name": r.name, "op": r.op, "insn_start": r.start, "insn_end": r.end,
               "outputs": list(r.outputs), "meta": _jsonable(r.meta)} for r in lw.em.layers
              if r.end > r.start or r.outputs]   # lazily folded ops (gathers) emit nothing
    prog = Program.create(name, insns, lw.mem.data, hw, tensors=lw.tensors,
                          layers=layers, inputs=inputs, outputs=outputs)
    t_end = time.perf_counter()
    prog.compile_info = {  # type: ignore[attr-defined]
        "export_s": t_export - t0, "calibrate_s": t_cal - t_export, "lower_s": t_end - t_cal,
        "total_s": t_end - t0, "insns": len(insns), "mem_bytes": len(prog.memory),
        "gemm_rows": lw.em.gemm_rows, "layer_stats": lw.layer_stats, "ranges": ranges,
        "graph": graph, "lowerer": lw, "pwl": lw.pwl_stats,
    }
    return prog


def release_compile_state(program: Program, *, keep_graph: bool = False) -> None:
    """Drop the compiler's working state from ``program.compile_info``: the Lowerer (memory image
    builder, float reference of every node, hazard tables), the calibration ranges with their
    samples and, unless ``keep_graph`` (``report.layer_errors`` needs it), the exported graph.

    That state is most of a large compile's peak (bert_base: about 1 GB); callers that go on to
    simulate or report (the CLI, ``regressions.verify``) release it first.  The figures
    (``insns``, ``pwl``, ``layer_stats``, times) stay.
    """
    info = getattr(program, "compile_info", None)
    if info is None:
        return
    for key in ("lowerer", "ranges", *(() if keep_graph else ("graph",))):
        info.pop(key, None)
    gc.collect()


def _lower(model: torch.nn.Module, example: tuple[Any, ...], samples: list[tuple[Any, ...]], hw: HwConfig,
           name: str, fixed: dict[int, torch.Tensor] | None,
           pwl_policy: PwlPolicy | None = None) -> tuple[Any, Any, Lowerer, float, float]:
    graph = export(model, example, fixed)
    t_export = time.perf_counter()
    ranges, ref = calibrate(graph, samples)
    t_cal = time.perf_counter()
    lw = Lowerer(graph, ranges, hw, name, ref)
    lw.pwl_policy = pwl_policy   # read by lower.post.fit_pwl (None: the hardware default)
    lw.lower()
    return graph, ranges, lw, t_export, t_cal


def _output_tensor(lw: Lowerer, node_name: str) -> str:
    """Manifest name of model output ``node_name`` (adds a view entry if the output is a view)."""
    act = lw.vals[node_name]
    if isinstance(act, (tuple, list)):
        act = act[0]
    for t in lw.tensors:
        if (t["addr"] == act.addr and t["shape"] == list(act.shape)
                and t["strides"] == [s * act.item for s in act.strides]):
            t["role"] = "output"
            return t["name"]
    nm = lw.register(act, "output", True, name=node_name)
    return nm


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
        elif isinstance(v, Range):
            out[k] = [v.lo, v.hi]
        elif isinstance(v, list) and all(isinstance(e, dict) for e in v):
            out[k] = [_jsonable(e) for e in v]   # e.g. the layer's linear products ("gemms")
    return out


def _check_inputs(what: str, xs: tuple[Any, ...]) -> None:
    """Floating-point inputs must be float32 and finite (NaN / inf would give degenerate scales)."""
    for i, x in enumerate(xs):
        if not isinstance(x, torch.Tensor) or not (x.dtype.is_floating_point or x.dtype.is_complex):
            continue
        desc = f"{str(x.dtype).replace('torch.', '')}{list(x.shape)}"
        if x.dtype != torch.float32:
            raise InputError(f"{what} {i} is {desc}: NMX compiles float32 models, pass float32 inputs "
                             f"(x.float())")
        bad = ~torch.isfinite(x)
        if bad.any():
            n_nan = int(torch.isnan(x).sum())
            raise InputError(f"{what} {i} ({desc}) has {n_nan} NaN and {int(bad.sum()) - n_nan} "
                             f"infinite values: example and calibration inputs must be finite")


def _fixed_inputs(example: tuple[Any, ...], samples: list[tuple[Any, ...]]) -> dict[int, torch.Tensor]:
    out = {}
    for i, x in enumerate(example):
        if isinstance(x, torch.Tensor) and not x.dtype.is_floating_point and all(
                isinstance(s[i], torch.Tensor) and s[i].shape == x.shape and torch.equal(s[i], x)
                for s in samples):
            out[i] = x
    return out
