"""golden/isa.py: encode/decode round trips, every decode error, range checks at their boundaries,
and the generated artefacts (SV package, docs tables) being in sync with the definitions."""

from __future__ import annotations

import pathlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import isa
from golden.isa import (
    DEP_FIELDS,
    FORMATS,
    INSN_BITS,
    Buffer,
    DecodeError,
    ErrorCode,
    HwConfig,
    Opcode,
    Queue,
    check_ranges,
    decode,
    disassemble,
    encode,
    make,
)

REPO = pathlib.Path(__file__).resolve().parent.parent


@st.composite
def legal_insn(draw: st.DrawFn, op: Opcode) -> dict[str, int]:
    """Random field values that decode: own-queue token bits clear, SYNC queue valid, FINISH bare."""
    vals: dict[str, int] = {}
    for f in FORMATS[op][1:]:
        vals[f.name] = draw(st.integers(0, f.max))
    if op == Opcode.SYNC:
        vals["queue"] = draw(st.integers(0, 2))
    q = make(op, **vals).queue
    if q is None:
        for d in DEP_FIELDS:
            vals[d] = 0
    else:
        own = q.name.lower()
        vals[f"pop_{own}"] = vals[f"push_{own}"] = 0
    return vals


@pytest.mark.parametrize("op", list(Opcode))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip(op: Opcode, data: st.DataObject) -> None:
    vals = data.draw(legal_insn(op))
    word = encode(op, **vals)
    assert 0 <= word < 1 << INSN_BITS
    assert word & 0xF == int(op)
    ins = decode(word)
    assert ins.opcode == op
    assert ins.fields == vals
    assert ins.encode() == word
    assert isa.from_bytes(isa.to_bytes([word])) == [word]
    text = disassemble(word)
    assert text.split()[0] == op.name
    for k, v in vals.items():
        if k not in DEP_FIELDS:
            assert f"{k}={v}" in text


def test_field_layout_packs_lsb_first() -> None:
    w = encode(Opcode.LOAD, buf_sel=3, ext_addr=0xDEADBEEF, push_cmp=1)
    f = {x.name: x for x in FORMATS[Opcode.LOAD]}
    assert (w >> f["ext_addr"].lsb) & 0xFFFFFFFF == 0xDEADBEEF
    assert (w >> f["buf_sel"].lsb) & 3 == 3
    assert (w >> f["push_cmp"].lsb) & 1 == 1
    assert f["push_cmp"].lsb == 8 and f["opcode"].lsb == 0


def test_make_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make(Opcode.GEMM, m=1 << 16)
    with pytest.raises(ValueError, match="no field"):
        make(Opcode.GEMM, x_size=1)


@pytest.mark.parametrize("op", [0, 8, 9, 15])
def test_illegal_opcode(op: int) -> None:
    with pytest.raises(DecodeError) as e:
        decode(op | (1 << 20))
    assert e.value.code == ErrorCode.ILLEGAL_OPCODE


@pytest.mark.parametrize("op", list(Opcode))
def test_reserved_bits(op: Opcode) -> None:
    used = FORMATS[op][-1].msb + 1
    base = encode(op, **({"queue": 0} if op == Opcode.SYNC else {}))
    decode(base)
    for bit in (used, INSN_BITS - 1):
        with pytest.raises(DecodeError, match="reserved") as e:
            decode(base | (1 << bit))
        assert e.value.code == ErrorCode.ILLEGAL_FIELD


@pytest.mark.parametrize("op,own", [(Opcode.LOAD, "ld"), (Opcode.GEMM, "cmp"), (Opcode.STORE, "st"),
                                    (Opcode.PPUCFG, "st")])
@pytest.mark.parametrize("kind", ["pop", "push"])
def test_own_queue_tokens(op: Opcode, own: str, kind: str) -> None:
    with pytest.raises(DecodeError, match="own queue") as e:
        decode(encode(op, **{f"{kind}_{own}": 1}))
    assert e.value.code == ErrorCode.ILLEGAL_FIELD


@pytest.mark.parametrize("q", list(Queue))
def test_sync_own_queue_and_other_queues(q: Queue) -> None:
    own = q.name.lower()
    with pytest.raises(DecodeError):
        decode(encode(Opcode.SYNC, queue=q, **{f"push_{own}": 1}))
    others = [x.name.lower() for x in Queue if x != q]
    ins = decode(encode(Opcode.SYNC, queue=q, **{f"pop_{others[0]}": 1, f"push_{others[1]}": 1}))
    assert ins.queue == q


def test_sync_queue_3() -> None:
    with pytest.raises(DecodeError, match="queue=3") as e:
        decode(encode(Opcode.SYNC, queue=3))
    assert e.value.code == ErrorCode.ILLEGAL_FIELD


@pytest.mark.parametrize("dep", DEP_FIELDS)
def test_finish_with_deps(dep: str) -> None:
    with pytest.raises(DecodeError, match="FINISH") as e:
        decode(encode(Opcode.FINISH, **{dep: 1}))
    assert e.value.code == ErrorCode.ILLEGAL_FIELD
    assert decode(encode(Opcode.FINISH)).queue is None


def test_word_out_of_range() -> None:
    for w in (-1, 1 << INSN_BITS):
        with pytest.raises(DecodeError) as e:
            decode(w)
        assert e.value.code == ErrorCode.ILLEGAL_FIELD


# --------------------------------------------------------------------------- check_ranges

HW = HwConfig(rows=4, cols=8, inp_depth=64, wgt_depth=32, acc_depth=16, vec_depth=16)


def _code(op: Opcode, **f: int) -> ErrorCode:
    try:
        check_ranges(decode(encode(op, **f)), HW)
    except DecodeError as e:
        return ErrorCode(e.code)
    return ErrorCode.NONE


@pytest.mark.parametrize("buf", list(Buffer))
def test_load_ranges(buf: Buffer) -> None:
    d, w = HW.depth(buf), HW.width(buf)
    ok = dict(buf_sel=buf, x_size=w, y_size=1)
    assert _code(Opcode.LOAD, **ok, sram_addr=d - 1) == ErrorCode.NONE
    assert _code(Opcode.LOAD, **ok, sram_addr=d) == ErrorCode.BUF_RANGE
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=w, y_size=d) == ErrorCode.NONE
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=w, y_size=d + 1) == ErrorCode.BUF_RANGE
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=w, y_size=3, sram_addr=d - 3) == ErrorCode.NONE
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=w, y_size=3, sram_addr=d - 2) == ErrorCode.BUF_RANGE
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=w + 1, y_size=1) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=0, y_size=1) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.LOAD, buf_sel=buf, x_size=1, y_size=0) == ErrorCode.ILLEGAL_FIELD


def test_gemm_ranges() -> None:
    assert _code(Opcode.GEMM, m=16) == ErrorCode.NONE  # acc_depth 16
    assert _code(Opcode.GEMM, m=17) == ErrorCode.BUF_RANGE
    assert _code(Opcode.GEMM, m=0) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.GEMM, m=1, acc_addr=15) == ErrorCode.NONE
    assert _code(Opcode.GEMM, m=1, acc_addr=16) == ErrorCode.BUF_RANGE
    assert _code(Opcode.GEMM, m=1, inp_addr=63) == ErrorCode.NONE
    assert _code(Opcode.GEMM, m=1, inp_addr=64) == ErrorCode.BUF_RANGE
    assert _code(Opcode.GEMM, m=1, wgt_addr=32 - HW.rows) == ErrorCode.NONE
    assert _code(Opcode.GEMM, m=1, wgt_addr=32 - HW.rows + 1) == ErrorCode.BUF_RANGE


def test_store_ranges() -> None:
    assert _code(Opcode.STORE, x_size=8, y_size=16) == ErrorCode.NONE
    assert _code(Opcode.STORE, x_size=9, y_size=1) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.STORE, x_size=0, y_size=1) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.STORE, x_size=1, y_size=0) == ErrorCode.ILLEGAL_FIELD
    assert _code(Opcode.STORE, x_size=1, y_size=1, sram_addr=15) == ErrorCode.NONE
    assert _code(Opcode.STORE, x_size=1, y_size=2, sram_addr=15) == ErrorCode.BUF_RANGE


def test_ppucfg_ranges() -> None:
    assert _code(Opcode.PPUCFG, bias_row=999, mult_row=999, pwl_row=999) == ErrorCode.NONE  # disabled
    assert _code(Opcode.PPUCFG, bias_en=1, bias_row=15) == ErrorCode.NONE
    assert _code(Opcode.PPUCFG, bias_en=1, bias_row=16) == ErrorCode.BUF_RANGE
    assert _code(Opcode.PPUCFG, requant_en=1, mult_row=15, shift_row=15) == ErrorCode.NONE
    assert _code(Opcode.PPUCFG, requant_en=1, mult_row=16) == ErrorCode.BUF_RANGE
    assert _code(Opcode.PPUCFG, requant_en=1, shift_row=16) == ErrorCode.BUF_RANGE
    assert HW.pwl_rows == 6
    assert _code(Opcode.PPUCFG, pwl_en=1, pwl_row=10) == ErrorCode.NONE
    assert _code(Opcode.PPUCFG, pwl_en=1, pwl_row=11) == ErrorCode.BUF_RANGE


def test_hwconfig_validation() -> None:
    assert HwConfig.from_dict(HwConfig().to_dict()) == HwConfig()
    with pytest.raises(ValueError, match="unknown"):
        HwConfig.from_dict({"rowz": 4})
    with pytest.raises(ValueError):
        HwConfig(rows=0)
    with pytest.raises(ValueError):
        HwConfig(axi_data_bits=100)
    with pytest.raises(ValueError):
        HwConfig(acc_depth=(1 << 16) + 1)


# --------------------------------------------------------------------------- generated artefacts

def test_sv_package_in_sync() -> None:
    committed = (REPO / "rtl" / "nmx_isa_pkg.sv").read_text()
    assert committed == isa.sv_package(), (
        "rtl/nmx_isa_pkg.sv is stale: run `python -m golden.isa sv` and commit the result")


def test_counter_select_width() -> None:
    """cnt_sel / counter_e grow with the counter set: wide enough for every counter, no wider."""
    n = len(isa.Counter)
    assert 1 << (isa.SV_COUNTER_BITS - 1) < n <= 1 << isa.SV_COUNTER_BITS
    pkg = isa.sv_package()
    assert f"localparam int unsigned COUNTER_BITS = {isa.SV_COUNTER_BITS};" in pkg
    assert f"localparam int unsigned NUM_COUNTERS = {n};" in pkg
    for path in ("rtl/nmx_top.sv", "tb/hdl/nmx_tb_top.sv"):  # no hard-coded select width
        assert re.search(r"input\s+logic\s+\[[^\]]*COUNTER_BITS|input\s+logic\s+\[SB-1:0\]\s+cnt_sel",
                         (REPO / path).read_text()), path


def test_sram_access_counters_match_rtl() -> None:
    """SRAM_ACCESS names every enable of every nmx_sram in nmx_top exactly once, and nmx_top counts
    each counter from the engine signal wired (through the clear-sweep mux) to those enables."""
    top = (REPO / "rtl" / "nmx_top.sv").read_text()
    ports: dict[tuple[str, str], str] = {}
    for inst, conns in re.findall(r"nmx_sram\s+#\([^;]*?\)\s+(u_\w+)\s*\((.*?)\);", top, re.S):
        for port, sig in re.findall(r"\.(re|we)\((\w+)\)", conns):
            ports[(inst, port)] = sig.removesuffix("_m")  # *_m: the engine's enable or the sweep
    assert len(ports) == 12
    named = [ip for v in isa.SRAM_ACCESS.values() for ip in v]
    assert sorted(named) == sorted(ports), "SRAM_ACCESS must name every nmx_sram enable once"
    inc = dict(re.findall(r"inc\[nmx_isa_pkg::CNT_(\w+)\]\s*=\s*CB'\((\w+)\);", top))
    for c, ips in isa.SRAM_ACCESS.items():
        assert c >= isa.Counter.GEMM_ROWS + 1
        assert {ports[ip] for ip in ips} == {inc[c.name]}, c.name


def test_markdown_in_sync() -> None:
    block = isa.generated_block((REPO / "docs" / "isa.md").read_text())
    assert block.strip() == isa.markdown_tables().strip(), (
        "docs/isa.md's GENERATED block is stale: run `python -m golden.isa md --write`")
    assert "#### GEMM (opcode 2)" in block


def test_update_markdown(tmp_path: pathlib.Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(f"head\n{isa.GENERATED_BEGIN}\nSTALE-CONTENT\n{isa.GENERATED_END}\ntail\n")
    assert isa.update_markdown(doc) is True
    text = doc.read_text()
    assert text.startswith("head\n") and text.endswith(f"{isa.GENERATED_END}\ntail\n")
    assert "STALE-CONTENT" not in text and "| `m` |" in text
    assert isa.update_markdown(doc) is False
    doc.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        isa.update_markdown(doc)
