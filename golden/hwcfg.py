"""The named accelerator configurations, with the one parser and the one formatter of their names.

Every entry point (pytest, ``python -m tb.run --cfg``, regression suites, benchmarks, lint) names a
machine with a string that :func:`parse_hw` turns into a :class:`~golden.isa.HwConfig`:

* a registered name of :data:`CONFIGS` (``"16x16"``, ``"4x4-narrow"``, ...);
* ``"RxC"`` for any other array size with the default buffers and bus (``"12x20"``);
* either of them followed by ``":field=value,..."`` overrides of HwConfig fields
  (``"8x16:acc_depth=256"``, ``"4x4:axi_data_bits=32,token_bits=8"``).

A plain ``"RxC"`` always means ``HwConfig(rows=R, cols=C)`` with every other field at its default, so
one name never means two machines; variants that change buffers, bus or tokens carry a suffix.
:func:`hw_name` is the inverse: the registered name when the configuration is one, else the
shortest ``base:overrides`` spelling, and ``parse_hw(hw_name(hw)) == hw`` for every HwConfig.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from golden.isa import HwConfig


@dataclass(frozen=True)
class NamedConfig:
    """One row of the registry: the machine and why it exists."""

    hw: HwConfig
    purpose: str


_SMALL_BUFFERS = {"inp_depth": 1024, "wgt_depth": 1024, "acc_depth": 512, "vec_depth": 128}

REGISTRY: dict[str, NamedConfig] = {
    "16x16": NamedConfig(HwConfig(), "the default accelerator (docs/isa.md section 1)"),
    "8x16": NamedConfig(HwConfig(rows=8, cols=16), "non-square array, default buffers and bus"),
    "8x8": NamedConfig(HwConfig(rows=8, cols=8), "small square array, default buffers and bus"),
    "4x4": NamedConfig(HwConfig(rows=4, cols=4), "smallest array, default buffers and bus"),
    "8x16-small": NamedConfig(
        HwConfig(rows=8, cols=16, **_SMALL_BUFFERS),
        "non-square array with 1k-row buffers: short post-reset sweep, buffer-capacity corners",
    ),
    "8x8-64b": NamedConfig(
        HwConfig(rows=8, cols=8, axi_data_bits=64, **_SMALL_BUFFERS),
        "64-bit AXI bus: an INP row spans one beat, ACC rows four",
    ),
    "4x4-narrow": NamedConfig(
        HwConfig(rows=4, cols=4, inp_depth=256, wgt_depth=256, acc_depth=128, vec_depth=64,
                 queue_depth=4, token_bits=8, axi_data_bits=32),
        "32-bit bus (multi-beat rows), 8-bit tokens, 4-deep queues, tiny buffers: every narrow corner",
    ),
    "4x20-32b": NamedConfig(
        HwConfig(rows=4, cols=20, axi_data_bits=32, **_SMALL_BUFFERS),
        "32-bit bus, 20 columns: int32 rows of 20 beats (AXI bursts > 16 beats), PWL table ends mid VEC row",
    ),
}
"""Every named machine; ``make test`` and the regression suites use these names."""

CONFIGS: dict[str, HwConfig] = {name: nc.hw for name, nc in REGISTRY.items()}
"""Name -> HwConfig view of :data:`REGISTRY`."""

_FIELDS = tuple(f.name for f in dataclasses.fields(HwConfig))


class ConfigNameError(ValueError):
    """A configuration string that names no machine; the message says what is wrong and what is known."""


def _base(name: str, spec: str) -> HwConfig:
    if name in CONFIGS:
        return CONFIGS[name]
    rows, sep, cols = name.lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit():
        raise ConfigNameError(
            f"configuration {spec!r}: {name!r} is neither a registered name ({', '.join(CONFIGS)})"
            " nor ROWSxCOLS"
        )
    try:
        return HwConfig(rows=int(rows), cols=int(cols))
    except ValueError as e:
        raise ConfigNameError(f"configuration {spec!r}: {e}") from None


def parse_hw(spec: str | HwConfig) -> HwConfig:
    """``"16x16"``, ``"4x4-narrow"``, ``"12x20"``, ``"8x16:acc_depth=256,token_bits=8"`` -> HwConfig."""
    if isinstance(spec, HwConfig):
        return spec
    name, _, extra = spec.strip().partition(":")
    hw = _base(name.strip(), spec)
    overrides: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in extra.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in _FIELDS:
            raise ConfigNameError(
                f"configuration {spec!r}: {item!r} is not FIELD=VALUE with FIELD one of {', '.join(_FIELDS)}"
            )
        try:
            overrides[key] = int(value, 0)
        except ValueError:
            raise ConfigNameError(f"configuration {spec!r}: {key}={value!r} is not an integer") from None
    try:
        return dataclasses.replace(hw, **overrides)
    except ValueError as e:
        raise ConfigNameError(f"configuration {spec!r}: {e}") from None


def _overrides(hw: HwConfig, base: HwConfig) -> list[str]:
    return [f"{k}={getattr(hw, k)}" for k in _FIELDS if getattr(hw, k) != getattr(base, k)]


def hw_name(hw: HwConfig) -> str:
    """The name of ``hw``: registered name, else the shortest ``BASE:field=v,...`` (round-trips)."""
    for name, known in CONFIGS.items():
        if known == hw:
            return name
    size = f"{hw.rows}x{hw.cols}"
    candidates = [(size, HwConfig(rows=hw.rows, cols=hw.cols))]
    candidates += [(n, c) for n, c in CONFIGS.items() if (c.rows, c.cols) == (hw.rows, hw.cols)]
    _, base, extra = min(((len(_overrides(hw, c)), n, _overrides(hw, c)) for n, c in candidates),
                         key=lambda t: t[0])
    return base + (":" + ",".join(extra) if extra else "")


def describe() -> str:
    """A table of the registry for ``--help`` texts and docs."""
    head = f"{'name':<12} {'rows x cols':>11} {'bus':>5} {'tok':>4} {'q':>2}"
    lines = [f"{head}  buffers (inp/wgt/acc/vec)  purpose"]
    for name, nc in REGISTRY.items():
        h = nc.hw
        lines.append(
            f"{name:<12} {f'{h.rows}x{h.cols}':>11} {h.axi_data_bits:>5} {h.token_bits:>4} {h.queue_depth:>2}"
            f"  {f'{h.inp_depth}/{h.wgt_depth}/{h.acc_depth}/{h.vec_depth}':<25}  {nc.purpose}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe())
