"""The one registry of named accelerator configurations (golden/hwcfg.py): parser, formatter, errors."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.hwcfg import CONFIGS, REGISTRY, ConfigNameError, describe, hw_name, parse_hw
from golden.isa import HwConfig


def test_plain_size_is_the_default_machine() -> None:
    """"RxC" never means two machines: it is HwConfig(rows=R, cols=C) with every default."""
    for name in ("16x16", "8x16", "8x8", "4x4"):
        r, c = (int(v) for v in name.split("x"))
        assert parse_hw(name) == HwConfig(rows=r, cols=c) == CONFIGS[name]
    assert parse_hw("12x20") == HwConfig(rows=12, cols=20)


def test_named_corners() -> None:
    narrow = parse_hw("4x4-narrow")
    assert (narrow.axi_data_bits, narrow.token_bits, narrow.queue_depth, narrow.inp_depth) == (32, 8, 4, 256)
    assert parse_hw("8x8-64b").axi_data_bits == 64
    assert parse_hw("8x16-small").inp_depth == 1024
    assert parse_hw("4x4:axi_data_bits=32,token_bits=8") == HwConfig(rows=4, cols=4, axi_data_bits=32,
                                                                     token_bits=8)
    assert parse_hw("4x4-narrow:acc_depth=64").acc_depth == 64


def test_every_registered_name_round_trips() -> None:
    assert len(set(CONFIGS.values())) == len(CONFIGS), "two names for one machine"
    for name, hw in CONFIGS.items():
        assert hw_name(hw) == name and parse_hw(name) == hw
        assert REGISTRY[name].purpose
    assert "4x4-narrow" in describe()


_FIELDS = {f.name: f.default for f in dataclasses.fields(HwConfig)}


@given(rows=st.integers(1, 32), cols=st.integers(1, 32), acc=st.sampled_from([64, 128, 1024, 4096]),
       bus=st.sampled_from([32, 64, 128, 256]), tok=st.integers(4, 16), q=st.integers(1, 16))
def test_any_config_round_trips(rows: int, cols: int, acc: int, bus: int, tok: int, q: int) -> None:
    hw = HwConfig(rows=rows, cols=cols, acc_depth=acc, axi_data_bits=bus, token_bits=tok, queue_depth=q)
    name = hw_name(hw)
    assert parse_hw(name) == hw
    assert name.count(":") <= 1


@pytest.mark.parametrize(("spec", "msg"), [
    ("foo", "neither a registered name"),
    ("4x", "neither a registered name"),
    ("4x4:bogus=1", "FIELD=VALUE"),
    ("4x4:acc_depth", "FIELD=VALUE"),
    ("4x4:acc_depth=lots", "not an integer"),
    ("300x4", "8-bit x_size"),
    ("4x4:axi_data_bits=48", "axi_data_bits"),
])
def test_bad_names_say_what_is_wrong(spec: str, msg: str) -> None:
    with pytest.raises(ConfigNameError, match=msg) as e:
        parse_hw(spec)
    assert repr(spec) in str(e.value)
