"""Per-layer report: shapes, MACs, instructions, predicted cycles/utilisation and error vs float."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from golden.isa import Counter, Opcode, decode
from golden.program import Program
from golden.sim import quantize, simulate
from golden.timing import estimate


def layer_errors(program: Program, inputs: tuple[Any, ...]) -> dict[str, dict[str, float]]:
    """Golden-simulated checked tensors vs the float intermediates of the same graph nodes."""
    info = getattr(program, "compile_info", None)
    if info is None:
        raise ValueError("layer errors need a Program fresh from compile_model (compile_info)")
    from compiler.frontend import evaluate

    graph = info["graph"]
    env = evaluate(graph, tuple(inputs))
    mem = bytearray(program.memory)
    for name, x in zip(program.manifest["inputs"], inputs, strict=True):
        t = program.tensor(name)
        a = x.detach().to(torch.float64).numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        program.write_tensor(mem, name, quantize(a, float(t["scale"]), t["dtype"]))
    res = simulate(program, mem)
    if not res.ok:
        raise RuntimeError(f"{res.error.name} at {res.error_index}: {res.error_message}")
    out: dict[str, dict[str, float]] = {}
    for t in program.manifest["tensors"]:
        if not (t["check"] or t["role"] == "output"):
            continue
        ref = env.get(t["name"])
        if isinstance(ref, (tuple, list)):
            ref = ref[0]
        if not isinstance(ref, torch.Tensor) or ref.numel() != int(np.prod(t["shape"])):
            continue
        sim = res.tensors[t["name"]].astype(np.float64) * t["scale"]
        r = ref.detach().to(torch.float64).numpy().reshape(sim.shape)
        a, b = sim.ravel(), r.ravel()
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        cos = float(a @ b / (na * nb)) if na > 0 and nb > 0 else float(na == nb)
        rng = float(b.max() - b.min()) or 1.0
        out[t["name"]] = {"cosine": cos, "max_abs_err": float(np.abs(a - b).max()),
                          "max_abs_rel": float(np.abs(a - b).max()) / rng, "layer": t["layer"]}
    return out


def layer_table(program: Program, inputs: tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
    hw = program.hw
    insns = [decode(w) for w in program.insns]
    tm = estimate(insns, hw)
    errs = layer_errors(program, inputs) if inputs is not None else {}
    rows = []
    prev_end = 0
    for ly in program.manifest["layers"]:
        s, e = ly["insn_start"], ly["insn_end"]
        gemm_rows = sum(i.fields["m"] for i in insns[s:e] if i.opcode == Opcode.GEMM)
        end = max([prev_end, *(tm.end[i] for i in range(s, e))]) if e > s else prev_end
        cyc = max(1, end - prev_end)
        prev_end = end
        outs = [program.tensor(o) for o in ly["outputs"]]
        shapes = ",".join("x".join(map(str, t["shape"])) for t in outs if t["role"] != "scratch")
        err = [errs[o] for o in ly["outputs"] if o in errs]
        rows.append({
            "layer": ly["name"], "op": ly["op"], "shape": shapes,
            "macs": int(ly["meta"].get("macs", gemm_rows * hw.rows * hw.cols)),
            "array_macs": gemm_rows * hw.rows * hw.cols, "insns": e - s, "cycles": cyc,
            "util": gemm_rows / cyc,
            "cosine": min((x["cosine"] for x in err), default=float("nan")),
            "max_abs_err": max((x["max_abs_err"] for x in err), default=float("nan")),
        })
    rows.append({"layer": "TOTAL", "op": "", "shape": "", "macs": sum(r["macs"] for r in rows),
                 "array_macs": sum(r["array_macs"] for r in rows), "insns": len(program.insns),
                 "cycles": tm.counters[Counter.CYCLES],
                 "util": tm.counters[Counter.MAC_CYCLES] / max(1, tm.counters[Counter.CYCLES]),
                 "cosine": float("nan"), "max_abs_err": float("nan")})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    hdr = f"{'layer':<28} {'op':<22} {'out shape':<16} {'MACs':>11} {'insns':>7} {'cycles':>10} " \
          f"{'util':>6} {'cosine':>8} {'max|err|':>9}"
    lines = [hdr, "-" * len(hdr)]
    for r in rows:
        lines.append(f"{r['layer'][:28]:<28} {r['op'][:22]:<22} {r['shape'][:16]:<16} {r['macs']:>11,} "
                     f"{r['insns']:>7} {r['cycles']:>10,} {100 * r['util']:>5.1f}% "
                     f"{r['cosine']:>8.4f} {r['max_abs_err']:>9.4f}")
    return "\n".join(lines)


def format_pwl_table(stats: list[dict[str, Any]]) -> str:
    """One row per PWL table the compiler fitted (``program.compile_info["pwl"]``): the error of the
    bit-exact hardware table against the float function on the op's calibration samples (a grid
    over the calibrated range when there are none), in output units and relative to max |f|."""
    hdr = (f"{'layer':<28} {'function':<18} {'range [lo, hi]':<22} {'samples':>7} {'max|err|':>10} "
           f"{'mean|err|':>10} {'mean err':>10} {'max rel':>8}")
    lines = [hdr, "-" * len(hdr)]
    for r in stats:
        rng = f"[{r['lo']:.3g}, {r['hi']:.3g}]"
        lines.append(f"{r['layer'][:28]:<28} {r['fn'][:18]:<18} {rng[:22]:<22} {r['samples']:>7} "
                     f"{r['max_err']:>10.3g} {r['mean_abs_err']:>10.3g} {r['mean_err']:>+10.2g} "
                     f"{r['max_rel']:>8.4f}")
    return "\n".join(lines)
