"""Technology files: the energy coefficients of the power model, each with its unit and source.

A file (YAML, ``tb/power/tech/generic45.yaml`` by default) names its node and lists every
coefficient as ``{value, unit, source}``; a coefficient without a source, with another unit than
the model expects, or missing altogether is an error naming the file and the key, so a user's own
file cannot silently change the meaning of a number.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

import yaml

DEFAULT = pathlib.Path(__file__).resolve().parent / "tech" / "generic45.yaml"

UNITS: dict[str, str] = {
    "vdd": "V", "clock_mhz": "MHz", "e_ge_toggle": "fJ", "e_reg_toggle": "fJ", "e_clk_ff_cycle": "fJ",
    "p_leak_ge": "nW", "p_leak_sram_bit": "pW", "e_mult8": "pJ", "e_add32": "pJ",
    "sram_read_ref": "pJ", "sram_ref_bytes": "B", "sram_ref_width": "bit", "sram_size_exponent": "1",
    "sram_write_ratio": "1", "e_dram_byte": "pJ",
}
"""Every coefficient the model reads and the unit it must be given in."""


class TechError(ValueError):
    pass


@dataclass(frozen=True)
class Tech:
    name: str
    node: str
    path: str
    values: dict[str, float]
    sources: dict[str, str]

    def __getattr__(self, key: str) -> float:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    def sram_access_pj(self, width_bits: int, depth: int, write: bool = False) -> float:
        """Energy of one access of a width x depth macro: per 64-bit word, scaled with the size."""
        size = width_bits * depth / 8
        e = (self.values["sram_read_ref"] * (width_bits / self.values["sram_ref_width"])
             * (size / self.values["sram_ref_bytes"]) ** self.values["sram_size_exponent"])
        return e * (self.values["sram_write_ratio"] if write else 1.0)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "node": self.node, "file": self.path,
                "coefficients": {k: {"value": v, "unit": UNITS[k], "source": self.sources[k]}
                                 for k, v in self.values.items()}}


def load(path: str | pathlib.Path | None = None) -> Tech:
    p = pathlib.Path(path) if path else DEFAULT
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise TechError(f"{p}: not valid YAML: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("coefficients"), dict):
        raise TechError(f"{p}: expected a mapping with 'name', 'node' and 'coefficients'")
    for key in ("name", "node"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise TechError(f"{p}: '{key}' must be a non-empty string (which node the file represents)")
    vals: dict[str, float] = {}
    srcs: dict[str, str] = {}
    coeffs = doc["coefficients"]
    for key, unit in UNITS.items():
        c = coeffs.get(key)
        if not isinstance(c, dict):
            raise TechError(f"{p}: coefficients.{key} is missing (expected value, unit {unit!r}, source)")
        if not isinstance(c.get("value"), int | float) or c["value"] < 0:
            raise TechError(f"{p}: coefficients.{key}.value must be a number >= 0, got {c.get('value')!r}")
        if str(c.get("unit")) != unit:
            raise TechError(f"{p}: coefficients.{key}.unit is {c.get('unit')!r}; the model expects {unit!r}")
        if not isinstance(c.get("source"), str) or len(c["source"].strip()) < 8:
            raise TechError(f"{p}: coefficients.{key} has no source: every coefficient must cite one")
        vals[key], srcs[key] = float(c["value"]), c["source"].strip()
    unknown = sorted(set(coeffs) - set(UNITS))
    if unknown:
        raise TechError(f"{p}: unknown coefficients {unknown} (the model reads {sorted(UNITS)})")
    if vals["clock_mhz"] <= 0:
        raise TechError(f"{p}: coefficients.clock_mhz must be > 0")
    return Tech(name=doc["name"], node=doc["node"], path=str(p), values=vals, sources=srcs)
