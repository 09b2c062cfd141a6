"""Merge per-run coverage reports: ``python -m tb.cov.merge -o merged.json run1.json run2.json ...``.

Directories are searched recursively for ``*coverage*.json``.  Prints the merged summary and holes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from tb.cov import report


def collect(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    out: list[pathlib.Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob("*coverage*.json")))
        else:
            out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tb.cov.merge", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", type=pathlib.Path, help="report files or directories")
    ap.add_argument("-o", "--out", type=pathlib.Path, help="merged report to write")
    a = ap.parse_args(argv)
    files = [f for f in collect(a.inputs) if a.out is None or f.resolve() != a.out.resolve()]
    if not files:
        print("no coverage reports found", file=sys.stderr)
        return 2
    merged = report.merge(report.read(f) for f in files)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(merged, indent=1, sort_keys=True))
    print(f"merged {len(files)} reports")
    print(report.format_text(merged["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
