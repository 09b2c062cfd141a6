"""Model-coverage matrix: ``python -m compiler.coverage_matrix [--only NAME...] [--out DIR]``.

For every architecture instance of ``golden.models.coverage.CASES`` (one small seeded model each)
the row runner records whether it compiles (if not: the one-line error, i.e. the first line of
``UnsupportedOpError`` = op name + reason, plus the user source line), compile time, instruction
count, MACs, and the fidelity of the golden simulator against float PyTorch over the case's 8
held-out inputs (cosine min / mean, max |err| / range, top-1 agreement over the last output dim),
calibrated on 8 other inputs.  A row that raises records the error and the matrix goes on.

Writes ``DIR/matrix.json`` (rewritten after every row, so a partial run leaves a valid file) and
``DIR/matrix.md`` (table + failures grouped by root cause); ``--docs docs/compiler.md`` also rewrites
the matrix table of the docs.  Rows run in this process, one after
the other, single-threaded by default (``--threads``).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import torch

DEFAULT_OUT = Path("build/coverage_matrix")
_OP_RE = re.compile(r"NMX cannot lower op (\S+) \(node '[^']*'\)(?: in \S+ '[^']*')?(?:: (.*))?$")


def one_line(e: BaseException) -> str:
    """The error as one line: an UnsupportedOpError's first line; else ``Type: first line``."""
    from compiler.frontend import UnsupportedOpError
    text = str(e).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    msg = first if isinstance(e, UnsupportedOpError) else f"{type(e).__name__}: {first}".rstrip(": ")
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _error_fields(e: BaseException, stage: str) -> dict[str, Any]:
    from compiler.frontend import UnsupportedOpError
    line = one_line(e)
    out: dict[str, Any] = {"stage": stage, "error": line, "error_type": type(e).__name__,
                           "error_op": None, "error_reason": None, "error_at": None}
    if isinstance(e, UnsupportedOpError):
        m = _OP_RE.match(line)
        if m:
            from compiler.frontend import supported_op_names
            known = m.group(1).split(".")[0] in supported_op_names()
            out["error_op"] = m.group(1)
            out["error_reason"] = m.group(2) or ("no registered lowering accepts these operands" if known
                                                 else "no lowering registered")
        at = [ln.strip()[3:] for ln in str(e).splitlines() if ln.strip().startswith("at ")]
        out["error_at"] = at[0] if at else None
    else:
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            f = tb[-1]
            out["error_at"] = f"{Path(f.filename).name}:{f.lineno} in {f.name}"
    return out


def _val_str(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        dt = str(v.dtype).replace("torch.", "")
        return f"{dt}{list(v.shape)}"
    return repr(v)


def operands(model: torch.nn.Module, example: tuple[Any, ...], calib: list[tuple[Any, ...]],
             node_name: str) -> dict[str, Any] | None:
    """The operands of graph node ``node_name`` when the compiler rejected it without a reason (a
    lowering is registered for the op but no candidate's guard accepts it): re-export the model and
    describe each argument (``runtime``/``const`` tensor with dtype and shape, or the literal).
    Convolutions also get their ``groups`` / ``transposed`` class (the grouping key)."""
    from compiler.compile import _fixed_inputs
    from compiler.frontend import export
    try:   # graph structure (constant integer inputs) folded as compile_model folds it
        g = export(model, example, _fixed_inputs(example, calib) or None)
    except Exception:  # best effort: the error itself is already recorded
        return None
    node = next((n for n in g.nodes if n.name == node_name), None)
    if node is None:
        return None
    desc = []
    for a in node.args:
        if isinstance(a, torch.fx.Node):
            kind = "const" if a.name in g.const_nodes else "runtime"
            desc.append(f"{kind} {_val_str(a.meta.get('val'))}")
        else:
            desc.append(_val_str(a))
    out: dict[str, Any] = {"args": desc, "key": None}
    if node.target == torch.ops.aten.convolution.default:
        w = node.args[1].meta.get("val") if isinstance(node.args[1], torch.fx.Node) else None
        x = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
        groups, transposed = int(node.args[8]), bool(node.args[6])
        kind = "transposed" if transposed else (
            "depthwise" if x is not None and groups == x.shape[1] and groups > 1 else f"groups={groups}")
        ks = "x".join(str(k) for k in w.shape[2:]) if w is not None else "?"
        out["key"] = f"{kind} convolution"
        out["summary"] = f"{kind} conv {ks}, groups={groups}, stride={list(node.args[3])}"
    else:
        out["summary"] = ", ".join(desc)
    return out


def missing_ops(model: torch.nn.Module, example: tuple[Any, ...],
                calib: list[tuple[Any, ...]]) -> list[str] | None:
    """Every op of the exported graph that has no registered lowering and is not constant-folded
    (the compiler stops at the first; this lists them all, in graph order, with counts), or None
    if the model does not export.  Folding follows ``frontend.export`` (parameters, buffers,
    constants and constant integer inputs = graph structure)."""
    from compiler.compile import _fixed_inputs
    from compiler.frontend import op_name, supported_targets
    try:
        with torch.no_grad():
            ep = torch.export.export(model.eval(), tuple(example)).run_decompositions()
    except Exception:  # best effort
        return None
    fixed = _fixed_inputs(example, calib) if len(calib) >= 2 else {}
    specs = {s.arg.name: s for s in ep.graph_signature.input_specs}
    const: set[str] = set()
    user = 0
    for n in ep.graph.nodes:
        if n.op != "placeholder":
            continue
        if specs[n.name].kind.name == "USER_INPUT":
            if user in fixed:
                const.add(n.name)
            user += 1
        else:
            const.add(n.name)
    supported = supported_targets()
    counts: dict[str, int] = {}
    for n in ep.graph.nodes:
        if n.op != "call_function":
            continue
        if all(a.name in const for a in n.all_input_nodes):
            const.add(n.name)
        elif n.target not in supported:
            nm = op_name(n.target)
            counts[nm] = counts.get(nm, 0) + 1
    return [f"{k} x{v}" if v > 1 else k for k, v in counts.items()]


def root_cause(row: dict[str, Any]) -> str:
    """Grouping key of a failing row: ``op: reason`` for unsupported ops (a convolution's kind when
    the compiler gave no reason), else the error type and message with numbers blanked."""
    if row.get("error_op"):
        ops = row.get("error_operands") or {}
        if ops.get("key"):
            return f"{row['error_op']}: {ops['key']}"
        return f"{row['error_op']}: {row['error_reason']}"
    return re.sub(r"\d+", "#", f"[{row.get('stage')}] {row.get('error')}")


def run_case(name: str) -> dict[str, Any]:
    """Build, compile and simulate one case; never raises (errors are recorded in the row)."""
    from compiler import compile_model
    from compiler.compile import release_compile_state
    from compiler.fidelity import fidelity
    from golden.models.coverage import CASES

    case = CASES[name]
    row: dict[str, Any] = {"name": name, "group": case.group, "description": case.description,
                           "control": case.control, "compiled": False, "simulated": False}
    stage = "build"
    model: Any = None
    example: Any = ()
    calib: list[Any] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, example, calib, held = case.build()
            row["inputs"] = [list(x.shape) for x in example if isinstance(x, torch.Tensor)]
            stage = "compile"
            t = time.perf_counter()
            prog = compile_model(model, example, calibration=calib, name=name)
            row["compile_s"] = round(time.perf_counter() - t, 3)
            row["compiled"] = True
            row["insns"] = len(prog.insns)
            row["layers"] = len(prog.manifest["layers"]) if hasattr(prog, "manifest") else None
            row["macs"] = _macs(prog)
            release_compile_state(prog)
            stage = "simulate"
            t = time.perf_counter()
            f = fidelity(model, held, program=prog)
            row["sim_s"] = round(time.perf_counter() - t, 3)
            row["simulated"] = True
            row.update(cosine_min=round(f.cosine, 6), cosine_mean=round(f.cosine_mean, 6),
                       max_abs_rel=round(f.max_abs_rel, 6), top1=round(f.top1, 4), n_samples=f.n)
    except Exception as e:  # a row records any failure; the matrix goes on
        row.update(_error_fields(e, stage))
        if stage == "compile":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                row["missing_ops"] = missing_ops(model, example, calib)
        if row.get("error_reason") == "no registered lowering accepts these operands":
            node = re.search(r"\(node '([^']*)'\)", row["error"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ops = operands(model, example, calib, node.group(1)) if node else None
            if ops:
                row["error_operands"] = ops
                row["error"] += f": {row['error_reason']} ({ops['summary']})"
    finally:
        gc.collect()
    return row


def _macs(prog: Any) -> int | None:
    try:
        layers = prog.manifest["layers"]
    except (AttributeError, KeyError, TypeError):
        return None
    return int(sum(int((ly.get("meta") or {}).get("macs", 0) or 0) for ly in layers))


def _env() -> dict[str, Any]:
    def ver(mod: str) -> str | None:
        try:
            return str(__import__(mod).__version__)
        except Exception:
            return None
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"git": rev, "python": platform.python_version(), "torch": ver("torch"),
            "transformers": ver("transformers"), "torch_geometric": ver("torch_geometric")}


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: dict[str, Any]) -> str:
    rows = doc["rows"]
    ok = sum(r["compiled"] for r in rows)
    lines = [
        "# NMX model-coverage matrix",
        "",
        f"{ok} of {len(rows)} architectures compile (`python -m compiler.coverage_matrix`, git "
        f"{doc['env'].get('git')}, torch {doc['env'].get('torch')}, transformers "
        f"{doc['env'].get('transformers')}, torch_geometric {doc['env'].get('torch_geometric')}; "
        f"{doc['wall_s']:.0f} s).  Fidelity: golden simulator vs float PyTorch over "
        f"{doc['n_batch']} seeded held-out inputs, calibrated on {doc['n_calib']} others; cosine = min "
        "over samples, top-1 = argmax agreement over the last output dim.",
        "",
        "| row | group | instance | compiles | compile s | insns | cosine min | top-1 | error (op: reason) "
        "| all runtime ops without a lowering |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        comp = "yes" if r["compiled"] else "**no**"
        if r["compiled"] and not r["simulated"]:
            comp = "yes (sim failed)"
        top1 = "-" if r.get("top1") is None else f"{100 * r['top1']:.0f}%"
        err = _md_escape(r.get("error") or "")
        lines.append(f"| {r['name']}{' (control)' if r['control'] else ''} | {r['group']} | "
                     f"{_md_escape(r['description'])} | {comp} | {_fmt(r.get('compile_s'), '.1f')} | "
                     f"{_fmt(r.get('insns'), ',')} | {_fmt(r.get('cosine_min'), '.4f')} | {top1} | {err} | "
                     f"{', '.join(r.get('missing_ops') or [])} |")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("error"):
            groups.setdefault(root_cause(r), []).append(r)
    if groups:
        lines += ["", "## Failures by root cause", "",
                  "| root cause (first failing op) | rows | first source line | "
                  "other ops without a lowering in these rows |", "|---|---|---|---|"]
        for key, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            at = next((r["error_at"] for r in rs if r.get("error_at")), "") or ""
            first = rs[0].get("error_op") or ""
            others = sorted({o.split(" x")[0] for r in rs for o in (r.get("missing_ops") or [])} - {first})
            lines.append(f"| {_md_escape(key)} | {', '.join(r['name'] for r in rs)} | "
                         f"{_md_escape(at)} | {', '.join(others)} |")
    return "\n".join(lines) + "\n"


DOCS_HEADER = "| row | group | instance | compiles | compile s | insns | cosine min | top-1 |"


def docs_table(doc: dict[str, Any]) -> str:
    """The matrix as the table of docs/compiler.md ("Model coverage"): one row per case, no error
    columns (a failing row shows its error in the compiles column)."""
    lines = [DOCS_HEADER, "|---|---|---|---|---|---:|---:|---:|"]
    for r in doc["rows"]:
        comp = "yes" if r["compiled"] else f"**no**: {_md_escape(r.get('error') or '')}"
        if r["compiled"] and not r["simulated"]:
            comp = f"yes (sim failed: {_md_escape(r.get('error') or '')})"
        top1 = "-" if r.get("top1") is None else f"{100 * r['top1']:.0f}%"
        lines.append(f"| {r['name']}{' (control)' if r['control'] else ''} | {r['group']} | "
                     f"{_md_escape(r['description'])} | {comp} | {_fmt(r.get('compile_s'), '.1f')} | "
                     f"{_fmt(r.get('insns'), ',')} | {_fmt(r.get('cosine_min'), '.4f')} | {top1} |")
    return "\n".join(lines) + "\n"


def write_docs(doc: dict[str, Any], path: Path) -> None:
    """Replace the table that starts with DOCS_HEADER in ``path`` (up to the next blank line)."""
    text = path.read_text()
    start = text.index(DOCS_HEADER)
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end + 1
    path.write_text(text[:start] + docs_table(doc) + text[end:])


def main(argv: list[str] | None = None) -> int:
    from golden.models.coverage import CASES

    ap = argparse.ArgumentParser(prog="python -m compiler.coverage_matrix",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help=f"rows to run (default all): {', '.join(CASES)}")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default %(default)s)")
    ap.add_argument("--docs", type=Path, metavar="MD",
                    help="also rewrite the matrix table in this file (docs/compiler.md, 'Model coverage')")
    args = ap.parse_args(argv)
    names = args.only or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown rows {unknown}; known: {', '.join(CASES)}")
    old_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(names, args.out, args.docs)
    finally:
        torch.set_num_threads(old_threads)


def _run(names: list[str], out: Path, docs: Path | None = None) -> int:
    from golden.models.coverage import N_BATCH, N_CALIB

    out.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"env": _env(), "n_calib": N_CALIB, "n_batch": N_BATCH, "wall_s": 0.0, "rows": []}
    t0 = time.perf_counter()
    for name in names:
        row = run_case(name)
        doc["rows"].append(row)
        doc["wall_s"] = round(time.perf_counter() - t0, 2)
        (out / "matrix.json").write_text(json.dumps(doc, indent=1) + "\n")
        status = (f"ok  {row.get('compile_s', 0):6.1f}s {row.get('insns', 0):>8,} insns cos "
                  f"{row.get('cosine_min', float('nan')):.4f}" if row.get("simulated")
                  else f"FAIL {row['error']}")
        print(f"{name:24s} {status}", flush=True)
    (out / "matrix.md").write_text(to_markdown(doc))
    if docs is not None:
        write_docs(doc, docs)
    ok = sum(r["compiled"] for r in doc["rows"])
    print(f"{ok}/{len(doc['rows'])} compile; wrote {out / 'matrix.json'} and {out / 'matrix.md'} "
          f"({doc['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
