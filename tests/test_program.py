"""golden/program.py and the nmx-prog CLI: round trips, every file defect reported as a
ProgramFormatError with a precise message, manifest schema checks, and the CLI's behaviour."""

from __future__ import annotations

import copy
import json
import pathlib
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from golden import isa
from golden.isa import HwConfig
from golden.program import Program, ProgramFormatError, validate_manifest
from golden.program_cli import main as cli_main
from tb.seq_lib.examples import gemm_program, relu_program

REPO = pathlib.Path(__file__).resolve().parent.parent


def pack(sections: list[tuple[bytes, bytes]], *, magic: bytes = b"NMXPROG\0", version: int = 1,
         count: int | None = None) -> bytes:
    """Hand-built file (independent of Program.to_bytes) so the reader is tested against the spec."""
    out = [magic + struct.pack("<II", version, len(sections) if count is None else count)]
    for tag, payload in sections:
        out.append(tag + struct.pack("<QI", len(payload), zlib.crc32(payload)) + payload)
    return b"".join(out)


def good_sections(p: Program) -> list[tuple[bytes, bytes]]:
    return [(b"MANI", json.dumps(p.manifest).encode()), (b"INSN", isa.to_bytes(p.insns)),
            (b"MEMI", zlib.compress(bytes(p.memory)))]


@pytest.fixture
def relu() -> Program:
    return relu_program(HwConfig(rows=4, cols=4))


def fmt_error(data: bytes) -> str:
    with pytest.raises(ProgramFormatError) as e:
        Program.from_bytes(data)
    return str(e.value)


# --------------------------------------------------------------------------- round trip

def test_round_trip(tmp_path: pathlib.Path, relu: Program) -> None:
    path = tmp_path / "r.nmx"
    relu.save(path)
    q = Program.load(path)
    assert q.insns == relu.insns and q.memory == relu.memory and q.hw == relu.hw
    assert q.manifest == relu.manifest
    assert q.to_bytes() == relu.to_bytes() == path.read_bytes()
    assert Program.from_bytes(pack(good_sections(relu))).insns == relu.insns
    assert path.read_bytes()[:8] == b"NMXPROG\0"


def test_round_trip_gemm_and_tensors() -> None:
    p = gemm_program(7, 9, 5, HwConfig(rows=4, cols=4), out_int32=True)
    q = Program.from_bytes(p.to_bytes())
    a = q.read_tensor(None, "A")
    assert a.dtype == np.int8 and a.shape == (7, 9)
    assert np.array_equal(a, np.frombuffer(bytes(p.memory[:63]), dtype=np.int8).reshape(7, 9))
    mem = bytearray(q.memory)
    c = np.arange(35, dtype=np.int32).reshape(7, 5) - 17
    q.write_tensor(mem, "C", c)
    assert np.array_equal(q.read_tensor(mem, "C"), c)
    off = q.tensor("C")["addr"]
    assert int.from_bytes(mem[off:off + 4], "little", signed=True) == -17
    with pytest.raises(ValueError, match="range"):
        q.write_tensor(mem, "A", np.full((7, 9), 200))
    with pytest.raises(ValueError, match="shape"):
        q.write_tensor(mem, "A", np.zeros((9, 7), dtype=np.int8))
    with pytest.raises(KeyError):
        q.tensor("nope")


def test_strided_tensor_view() -> None:
    """A transposed tensor (strides swapped) reads through the byte strides of the manifest."""
    hw = HwConfig(rows=4, cols=4)
    mem = bytearray(np.arange(12, dtype="<i4").tobytes())
    p = Program.create("s", [isa.encode(isa.Opcode.FINISH)], mem, hw, tensors=[
        {"name": "T", "role": "const", "addr": 0, "shape": [4, 3], "strides": [4, 16], "dtype": "int32"}])
    assert p.read_tensor(None, "T").tolist() == np.arange(12).reshape(3, 4).T.tolist()
    assert p.mem_size == 64  # padded to MEM_ALIGN


# --------------------------------------------------------------------------- file defects

def test_truncated_at_several_offsets(relu: Program) -> None:
    data = relu.to_bytes()
    mani_len = struct.unpack_from("<Q", data, 20)[0]
    cases = {
        0: "truncated file header at byte offset 0 (expected 16 bytes, got 0)",
        10: "truncated file header at byte offset 0 (expected 16 bytes, got 10)",
        20: "truncated section header at byte offset 16 (expected 16 bytes, got 4)",
        40: f"truncated section MANI payload at byte offset 32 (expected {mani_len} bytes, got 8)",
        32 + mani_len + 3: f"truncated section header at byte offset {32 + mani_len}",
        len(data) - 1: "truncated section MEMI payload",
    }
    for n, msg in cases.items():
        assert msg in fmt_error(data[:n]), n


def test_crc_mismatch(relu: Program) -> None:
    data = bytearray(relu.to_bytes())
    data[40] ^= 0x20  # inside the MANI payload
    assert "CRC mismatch in section MANI at byte offset 16" in fmt_error(bytes(data))
    data = bytearray(relu.to_bytes())
    data[-3] ^= 0x01  # inside MEMI
    assert "CRC mismatch in section MEMI" in fmt_error(bytes(data))


def test_bad_magic_version_missing_section(relu: Program) -> None:
    secs = good_sections(relu)
    assert "bad magic" in fmt_error(pack(secs, magic=b"NMXPROGX"))
    assert "not an NMX program file" in fmt_error(b"\x7fELF" + bytes(60))
    assert "unsupported format version 2" in fmt_error(pack(secs, version=2))
    assert "missing section INSN" in fmt_error(pack([secs[0], secs[2]]))
    assert "missing section MEMI" in fmt_error(pack(secs[:2]))
    assert "duplicate section MANI" in fmt_error(pack([secs[0], *secs]))
    assert "trailing bytes" in fmt_error(pack(secs) + b"xx")
    assert "truncated section header" in fmt_error(pack(secs, count=4))


def test_bad_payloads(relu: Program) -> None:
    m, i, mem = good_sections(relu)
    assert "bad JSON in section MANI" in fmt_error(pack([(b"MANI", b"{not json"), i, mem]))
    assert "top level must be a JSON object, got list" in fmt_error(pack([(b"MANI", b"[1]"), i, mem]))
    assert "not a multiple of 16" in fmt_error(pack([m, (b"INSN", i[1][:-1]), mem]))
    assert "MEMI does not decompress" in fmt_error(pack([m, i, (b"MEMI", b"raw")]))


def mani_error(relu: Program, edit: object) -> str:
    man = copy.deepcopy(relu.manifest)
    edit(man)  # type: ignore[operator]
    _, i, mem = good_sections(relu)
    return fmt_error(pack([(b"MANI", json.dumps(man).encode()), i, mem]))


def _t(man: dict, name: str) -> dict:
    return next(t for t in man["tensors"] if t["name"] == name)


@pytest.mark.parametrize("edit,msg", [
    (lambda m: _t(m, "Y").update(addr=10_000), "tensor 'Y' spans bytes 10000..10031, outside memory of"),
    (lambda m: _t(m, "Y").update(dtype="float16"), "tensor 'Y': unknown dtype 'float16'"),
    (lambda m: _t(m, "Y").update(role="weights"), "tensor 'Y': unknown role 'weights'"),
    (lambda m: _t(m, "Y").update(strides=[1]), "shape [8, 4] and strides [1] differ in length"),
    (lambda m: _t(m, "Y").pop("addr"), "tensors[3] lacks required key 'addr'"),
    (lambda m: _t(m, "Y").update(zero_point=3), "zero_point must be 0"),
    (lambda m: _t(m, "Y").update(scale=-1.0), "scale -1.0 must be a positive finite number"),
    (lambda m: _t(m, "Y").update(layer="ghost"), "layer 'ghost' is not a known layer"),
    (lambda m: m["tensors"].append(dict(m["tensors"][0])), "duplicate tensor name 'X'"),
    (lambda m: m["layers"][0].update(insn_end=99),
     "layer 'linear_relu': instruction range [0, 99) is outside the stream of 7 instructions"),
    (lambda m: m["layers"].append({"name": "b", "op": "x", "insn_start": 3, "insn_end": 5}),
     "layer 'b': instruction range [3, 5) overlaps"),
    (lambda m: m["layers"][0].update(outputs=["Q"]), "outputs ['Q'] must list known tensor names"),
    (lambda m: m.update(outputs=["X"]), "'outputs' names tensor 'X' whose role is 'input'"),
    (lambda m: m.update(inputs=["nope"]), "'inputs' names unknown tensor 'nope'"),
    (lambda m: m.update(format_version=7), "format_version must be 1"),
    (lambda m: m.update(mem_size=64), "'mem_size' is 64 but the memory image has"),
    (lambda m: m["hw"].update(rows=0), "'hw' is not a valid HwConfig"),
    (lambda m: m["hw"].update(bogus=1), "unknown HwConfig keys"),
    (lambda m: m.pop("name"), "'name' must be a string"),
])
def test_manifest_schema_errors(relu: Program, edit: object, msg: str) -> None:
    assert msg in mani_error(relu, edit)


def test_schema_checked_on_save(relu: Program, tmp_path: pathlib.Path) -> None:
    _t(relu.manifest, "Y")["dtype"] = "int4"
    with pytest.raises(ProgramFormatError, match="unknown dtype 'int4'"):
        relu.save(tmp_path / "x.nmx")
    assert not (tmp_path / "x.nmx").exists()
    with pytest.raises(ProgramFormatError, match="multiple of 64"):
        validate_manifest({**relu.manifest, "mem_size": 100}, n_insns=7, mem_size=100)
    with pytest.raises(ProgramFormatError, match="cannot read"):
        Program.load(tmp_path / "missing.nmx")


# --------------------------------------------------------------------------- CLI

def test_cli_bad_file_exits_2(tmp_path: pathlib.Path, relu: Program) -> None:
    bad = tmp_path / "bad.nmx"
    bad.write_bytes(relu.to_bytes()[:50])
    r = subprocess.run([sys.executable, "-m", "golden.program_cli", "run", str(bad)], capture_output=True,
                       text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "truncated section MANI payload at byte offset 32" in lines[0] and str(bad) in lines[0]
    for cmd in ("dis", "manifest"):
        assert cli_main([cmd, str(tmp_path / "nope.nmx")]) == 2


def test_cli_run_dis_manifest(tmp_path: pathlib.Path, relu: Program,
                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.nmx"
    relu.save(path)
    out_mem = tmp_path / "mem.bin"
    assert cli_main(["run", str(path), "--dump", "Y", "--out-mem", str(out_mem)]) == 0
    out = capsys.readouterr().out
    assert "status: OK (6 instructions executed)" in out
    assert "MAC_CYCLES       8" in out and "INSNS            7" in out
    assert "tensor Y int8 [8, 4]:" in out
    assert "[[11 25 12  0]" in out  # first row of relu(X @ W), see tests/test_sim.py
    final = out_mem.read_bytes()
    y = relu.tensor("Y")
    assert list(np.frombuffer(final[y["addr"]:y["addr"] + 4], dtype=np.int8)) == [11, 25, 12, 0]

    assert cli_main(["dis", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("; ---- layer linear_relu (linear+relu) insns [0, 7)")
    assert out[5].startswith("4  GEMM") and "[pop_ld push_st]" in out[5]
    assert out[-1] == "6  FINISH"

    assert cli_main(["manifest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "relu_pwl" in out and "linear_relu" in out and "output" in out
    assert cli_main(["manifest", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == ["Y"]


def test_cli_run_reports_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    hw = HwConfig(rows=4, cols=4)
    p = Program.create("dl", [isa.encode(isa.Opcode.GEMM, m=1, pop_ld=1), 0x7 << 124 | 0x0], bytes(64), hw)
    path = tmp_path / "dl.nmx"
    p.save(path)
    assert cli_main(["run", str(path)]) == 1
    out = capsys.readouterr().out
    assert "status: ERROR ILLEGAL_OPCODE (1) at instruction 1" in out
    assert cli_main(["dis", str(path)]) == 0
    assert "ILLEGAL_OPCODE" in capsys.readouterr().out
