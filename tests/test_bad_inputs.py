"""Every bad input is answered (issue 13, "Every bad input answered"): a one-line message that names
what is wrong and where, a non-zero exit, no traceback, nothing already computed lost.

Covers the testbench knobs (checked against the SV memory model's port widths, so golden and RTL
never apply a value differently), the Program reader and its CLI, ``python -m tb.run``'s options,
Programs without FINISH or with more instructions than the RTL numbers, the verdict line of an
expected error, and the regression runner (suite files, job names, Ctrl-C / SIGTERM).  The compiler's
bad inputs are in tests/test_compiler_errors.py.

Fast and simulator-free: every case is refused before a Verilator build, the runner cases use the
test-only job kinds of regressions/jobs.py.
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from golden import isa
from golden.hwcfg import ConfigNameError, parse_hw
from golden.isa import HwConfig, Opcode
from golden.program import MAX_JSON_DEPTH, Program, ProgramFormatError
from golden.program_cli import main as prog_main
from golden.sim import missing_finish
from regressions import run as regress
from regressions.suite import Job, SuiteError, load_suites
from tb import run as tb_run
from tb.env import cfg as knobs_mod
from tb.env.cfg import RunKnobs
from tb.env.verdict import RunVerdict
from tb.seq_lib.errors import KINDS as ERROR_KINDS
from tb.seq_lib.examples import relu_program

REPO = pathlib.Path(__file__).resolve().parent.parent
HDL = REPO / "tb" / "hdl"
HW = HwConfig(rows=4, cols=4)


def _one_line(text: str) -> str:
    """The message must be one line and no traceback."""
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def _pack(sections: list[tuple[bytes, bytes]]) -> bytes:
    out = [b"NMXPROG\0" + struct.pack("<II", 1, len(sections))]
    for tag, payload in sections:
        out.append(tag + struct.pack("<QI", len(payload), zlib.crc32(payload)) + payload)
    return b"".join(out)


@pytest.fixture(scope="module")
def relu() -> Program:
    return relu_program(HW)


def _sections(p: Program, manifest: Any = None, mani_bytes: bytes | None = None,
              memi: bytes | None = None) -> list[tuple[bytes, bytes]]:
    mani = mani_bytes if mani_bytes is not None else json.dumps(p.manifest if manifest is None
                                                                else manifest).encode()
    return [(b"MANI", mani), (b"INSN", isa.to_bytes(p.insns)),
            (b"MEMI", memi if memi is not None else zlib.compress(bytes(p.memory)))]


def _reader_error(data: bytes) -> str:
    with pytest.raises(ProgramFormatError) as e:
        Program.from_bytes(data)
    return str(e.value)


def _run_cli(tmp: pathlib.Path, data: bytes, *argv: str) -> tuple[int, str]:
    """``python -m golden.program_cli ARGV FILE`` in this process: (status, stderr's one line)."""
    path = tmp / "bad.nmxp"
    path.write_bytes(data)
    return prog_main([*argv, str(path)]), str(path)


# --------------------------------------------------------------------------- testbench knobs


def _sv_width(text: str, port: str) -> int:
    m = re.search(rf"input\s+logic\s+\[(\d+):0\]\s+[\w,\s]*\b{port}\b", text)
    assert m, port
    return int(m.group(1)) + 1


def test_knob_limits_are_the_memory_models_ports() -> None:
    """The knobs' limits are read off the SV here, so a changed port width fails this test instead of
    letting golden and RTL disagree about a truncated value."""
    mem = (HDL / "nmx_axi_mem.sv").read_text()
    top = (HDL / "nmx_tb_top.sv").read_text()
    for port in ("rd_latency", "wr_latency"):
        assert knobs_mod.MAX_LATENCY == (1 << _sv_width(mem, port)) - 1
    assert knobs_mod.MAX_BW_BYTES == (1 << _sv_width(mem, "bw_bytes")) - 1
    for sv in (mem, top):
        num_win = re.search(r"parameter int unsigned NUM_WIN\s*=\s*(\d+)", sv)
        assert num_win and int(num_win.group(1)) == knobs_mod.SLVERR_WINDOWS
        for port in ("err_lo", "err_hi"):
            assert re.search(rf"\[NUM_WIN\*32-1:0\]\s+{port}", sv)
    assert knobs_mod.MAX_WINDOW_END == (1 << 32) - 1
    assert re.search(r"\[PB\*8-1:0\]\s+pb_gaps", top) and knobs_mod.MAX_GAP == 255
    assert int(re.search(r"localparam int unsigned INDEX_BITS = (\d+);",
                         (REPO / "rtl" / "nmx_cfg_pkg.sv").read_text()).group(1)) == 32
    assert tb_run.MAX_INSNS == 1 << 32 and isa.MAX_TOKEN_BITS == 32


@pytest.mark.parametrize(("kw", "needle"), [
    ({"rd_latency": -1}, "rd_latency must be an integer 0..65535"),
    ({"rd_latency": 65536}, "rd_latency must be an integer 0..65535"),
    ({"wr_latency": 70000}, "wr_latency must be an integer 0..65535"),
    ({"rd_latency": "3"}, "rd_latency must be an integer"),
    ({"wr_latency": True}, "wr_latency must be an integer"),
    ({"bw_bytes": 256}, "bw_bytes must be an integer 0..255"),
    ({"backpressure": 1.0}, "backpressure['ar'] must be a stall probability in [0, 1)"),
    ({"backpressure": {"r": 1.5}}, "backpressure['r'] must be a stall probability"),
    ({"backpressure": {"w": -0.1}}, "backpressure['w']"),
    ({"backpressure": "0.2"}, "stall probability"),
    ({"slverr": [(-64, 0)]}, "slverr[0] = [-64, 0) must satisfy 0 <= lo < hi"),
    ({"slverr": [(0, 64), (100, 1 << 32)]}, "slverr[1] = [100, 4294967296)"),
    ({"slverr": [(8, 8)]}, "not empty"),
    ({"slverr": [(0, 1)] * 5}, "at most 4 [lo, hi) windows"),
    ({"slverr": [(0,)]}, "slverr[0] must be a pair of integers"),
    ({"slverr": [(0.5, 9)]}, "slverr[0] must be a pair of integers"),
    ({"gap_prob": 2}, "gap_prob must be a probability in [0, 1]"),
    ({"gap_max": 256}, "gap_max must be an integer 0..255"),
    ({"watchdog_cycles": 0}, "watchdog_cycles must be an integer >= 1"),
    ({"stream_ring": 1 << 19}, "stream_ring must be a power of two in 2..262144"),
    ({"stream_ring": 12}, "stream_ring must be a power of two"),
    ({"stream_chunk": 0}, "stream_chunk must be an integer >= 1"),
])
def test_knobs_out_of_range_are_rejected(kw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError) as e:
        RunKnobs(**kw)
    assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError):  # the JSON route (--knobs, job params, the simulator process)
        RunKnobs.from_json({k: [list(w) for w in v] if k == "slverr" else v for k, v in kw.items()})


def test_knobs_at_the_limits_are_accepted() -> None:
    k = RunKnobs(rd_latency=65535, wr_latency=0, bw_bytes=255, backpressure=0.99, gap_prob=1.0, gap_max=255,
                 slverr=[(0, 1), (64, 128), (1 << 20, 1 << 21), ((1 << 32) - 2, (1 << 32) - 1)],
                 stream_ring=1 << 18, stream_chunk=1, watchdog_cycles=1)
    assert RunKnobs.from_json(json.loads(json.dumps(k.to_json()))) == k
    for name in ("fast", "nominal", "stress", "dram"):
        RunKnobs.profile(name)
    for seed in range(40):
        RunKnobs.randomised(seed)


# --------------------------------------------------------------------------- Program reader


def test_unknown_section_is_rejected(relu: Program) -> None:
    msg = _reader_error(_pack([*_sections(relu), (b"XTRA", b"hello")]))
    assert "unknown section 'XTRA' at byte offset" in msg and "MANI, INSN, MEMI" in msg
    assert "top level must be a JSON object, got NoneType" in _reader_error(
        _pack(_sections(relu, mani_bytes=b"null")))


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda m: m.update(inputs=[5]), "'inputs'[0] must be a tensor name (a string), got 5"),
    (lambda m: m.update(outputs=[None]), "'outputs'[0] must be a tensor name (a string), got None"),
    (lambda m: m.update(name=3), "'name' must be a string"),
    (lambda m: m["tensors"][0].update(name=7), "tensors[0].name must be str, got 7"),
    (lambda m: m["tensors"][0].update(layer=3), "layer must be a string or null"),
    (lambda m: m["layers"][0].update(name=["x"]), "layers[0].name must be str"),
    (lambda m: m["layers"][0].update(outputs=[1]), "outputs [1] must list known tensor names"),
])
def test_non_string_names_are_rejected(relu: Program, edit: Any, needle: str) -> None:
    m = copy.deepcopy(relu.manifest)
    edit(m)
    assert needle in _reader_error(_pack(_sections(relu, m)))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 200_000])
def test_deeply_nested_json_is_rejected(relu: Program, depth: int) -> None:
    """Below the interpreter's recursion limit (in a layer's free ``meta``) and far above it."""
    if depth < 1000:
        m = copy.deepcopy(relu.manifest)
        m["layers"][0]["meta"] = json.loads("[" * (depth - 3) + "]" * (depth - 3))
        mani = json.dumps(m).encode()
    else:
        mani = b"[" * depth + b"]" * depth
    t0 = time.perf_counter()
    assert f"section MANI: JSON nested deeper than {MAX_JSON_DEPTH} levels" in _reader_error(
        _pack(_sections(relu, mani_bytes=mani)))
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda m: m["hw"].update(rows=True), "HwConfig.rows must be a positive int, got True"),
    (lambda m: m["hw"].update(queue_depth=False), "HwConfig.queue_depth must be a positive int, got False"),
    (lambda m: m.update(format_version=True), "format_version must be 1, got True"),
    (lambda m: m.update(mem_size=True), "'mem_size' must be an int in 1..2**32, got True"),
    (lambda m: m["tensors"][0].update(zero_point=False), "zero_point must be 0"),
    (lambda m: m["tensors"][0].update(addr=True), "tensors[0].addr must be int, got True"),
    (lambda m: m["tensors"][0].update(shape=[True, 4]), "shape [True, 4] must hold non-negative ints"),
    (lambda m: m["layers"][0].update(insn_end=True), "layers[0].insn_end must be int, got True"),
    (lambda m: m["tensors"][0].update(scale=True), "scale True must be a positive finite number"),
])
def test_booleans_where_integers_belong(relu: Program, edit: Any, needle: str) -> None:
    m = copy.deepcopy(relu.manifest)
    edit(m)
    assert needle in _reader_error(_pack(_sections(relu, m)))


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("queue_depth", 10**9, "queue_depth 1000000000 exceeds 65536, the deepest instruction FIFO the RTL"),
    ("queue_depth", (1 << 16) + 1, "queue_depth 65537 exceeds 65536"),
    ("token_bits", 33, "token_bits 33 exceeds 32, the RTL's instruction-index width"),
    ("token_bits", 200, "token_bits 200 exceeds 32"),
    ("acc_depth", 1 << 17, "acc_depth exceeds the 16-bit buffer address fields"),
    ("rows", 256, "8-bit x_size field"),
])
def test_hardware_the_rtl_cannot_build(relu: Program, field: str, value: int, needle: str) -> None:
    m = copy.deepcopy(relu.manifest)
    m["hw"][field] = value
    msg = _reader_error(_pack(_sections(relu, m)))
    assert msg.startswith("manifest: 'hw' is not a valid HwConfig") and needle in msg
    with pytest.raises(ConfigNameError, match=re.escape(needle)):  # --cfg, suites' params.cfg
        parse_hw(f"4x4:{field}={value}")
    assert HwConfig(queue_depth=1 << 16, token_bits=32) is not None  # the limits themselves build


def test_memory_size_checked_before_inflating(relu: Program) -> None:
    """A small MEMI that inflates far past the manifest's mem_size is refused without inflating it."""
    comp = zlib.compressobj(9)
    bomb = comp.compress(bytes(64 << 20)) + comp.flush()  # 64 MiB of zeros in ~64 KB
    data = _pack(_sections(relu, memi=bomb))
    assert len(data) < 200_000
    t0 = time.perf_counter()
    msg = _reader_error(data)
    assert time.perf_counter() - t0 < 0.5
    assert f"'mem_size' is {relu.mem_size} but the memory image has more bytes" in msg
    short = zlib.compress(bytes(relu.memory))[:-6]
    assert "does not decompress" in _reader_error(_pack(_sections(relu, memi=short)))
    m = copy.deepcopy(relu.manifest)
    m["mem_size"] = (1 << 32) + 64
    assert "'mem_size' must be an int in 1..2**32" in _reader_error(_pack(_sections(relu, m)))


def test_program_cli_errors_are_one_line(tmp_path: pathlib.Path, relu: Program,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    rc, path = _run_cli(tmp_path, _pack([*_sections(relu), (b"XTRA", b"")]), "manifest")
    assert rc == 2
    assert _one_line(capsys.readouterr().err).startswith(f"nmx-prog: {path}: unknown section 'XTRA'")
    good = tmp_path / "relu.nmxp"
    relu.save(good)
    with pytest.raises(SystemExit) as e:
        prog_main(["run", str(good), "--max-insns", "-1"])
    assert e.value.code == 2
    assert "argument --max-insns: -1 is negative" in capsys.readouterr().err
    assert prog_main(["run", str(good), "--max-insns", "0"]) == 0


# --------------------------------------------------------------------------- no FINISH, too long


def _no_finish(p: Program) -> Program:
    layers = [dict(ly, insn_end=min(ly["insn_end"], len(p.insns) - 1)) for ly in p.manifest["layers"]]
    assert isa.opcode_bits(p.insns[-1]) == Opcode.FINISH
    return Program.create("nofin", p.insns[:-1], bytes(p.memory), p.hw, tensors=p.manifest["tensors"],
                          layers=layers)


def test_program_without_finish_golden_cli(tmp_path: pathlib.Path, relu: Program,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nofin.nmxp"
    _no_finish(relu).save(path)
    assert prog_main(["run", str(path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"nmx-prog: {path}: no FINISH instruction: all 6 instructions execute")
    assert "never raises done" in line
    assert prog_main(["run", str(path), "--max-insns", "3"]) == 0  # a cut stream's end acts like FINISH
    # a deadlock on a full FIFO needs no FINISH: the error ends the run, the CLI reports it as usual
    full = ERROR_KINDS["full_fifo"](0, HW)
    assert not any(isa.opcode_bits(w) == Opcode.FINISH for w in full.program.insns)
    assert missing_finish(full.program) is None
    full.program.save(path)
    capsys.readouterr()
    assert prog_main(["run", str(path)]) == 1
    assert "status: ERROR TOKEN_DEADLOCK" in capsys.readouterr().out


def test_program_without_finish_testbench(tmp_path: pathlib.Path, relu: Program) -> None:
    """Refused by the API and the CLI before any build: the out directory is never created."""
    p = _no_finish(relu)
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=r"run 0 \(nofin\): no FINISH instruction"):
        tb_run.run_programs([(p, None)], out=out)
    assert not out.exists()
    path = tmp_path / "nofin.nmxp"
    p.save(path)
    proc = _tb_run(str(path), "--out", str(out))
    assert proc.returncode == 2
    assert _one_line(proc.stderr) == (f"python -m tb.run: error: {path}: " + missing_finish(p))
    assert not out.exists()


def test_more_instructions_than_the_rtl_numbers(relu: Program) -> None:
    class Huge(list):  # a stream longer than 2**32 words, without allocating it
        def __len__(self) -> int:
            return (1 << 32) + 1

    fake = SimpleNamespace(insns=Huge(relu.insns), manifest=relu.manifest, hw=relu.hw)
    with pytest.raises(ValueError, match=r"run 0 \(relu\): 4294967297 instructions, more than the 4294967296"
                                         r" the RTL's 32-bit instruction index"):
        tb_run._check_runnable(fake, "run 0 (relu)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"stream_ring must be a power of two in 2\.\.262144"):
        RunKnobs(feed="stream", stream_ring=1 << 19)


# --------------------------------------------------------------------------- python -m tb.run


def _tb_run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tb.run", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_tb_run_corrupt_file_is_the_program_cli_line(tmp_path: pathlib.Path, relu: Program,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trunc.nmxp"
    path.write_bytes(relu.to_bytes()[:100])
    assert prog_main(["run", str(path)]) == 2
    golden_line = _one_line(capsys.readouterr().err)
    assert tb_run.main([str(path)]) == 2
    tb_line = _one_line(capsys.readouterr().err)
    assert golden_line.startswith(f"nmx-prog: {path}: truncated section MANI payload at byte offset 32")
    assert tb_line == "python -m tb.run: error: " + golden_line.removeprefix("nmx-prog: ")


@pytest.mark.parametrize(("argv", "needle"), [
    (["P", "--cfg", "banana"], "configuration 'banana': 'banana' is neither a registered name"),
    (["P", "--cfg", "4x4:queue_depth=1000000000"], "queue_depth 1000000000 exceeds 65536"),
    (["P", "--cfg", "8x8"], "relu.nmxp: compiled for 4x4, not --cfg 8x8"),
    (["P", "--knobs", "{bad"], "--knobs '{bad': not valid JSON"),
    (["P", "--knobs", '{"rd_latency": -1}'], "--knobs '{\"rd_latency\": -1}': RunKnobs.rd_latency must be an"
                                             " integer 0..65535"),
    (["P", "--knobs", '{"slverr": [[-64, 0]]}'], "RunKnobs.slverr[0] = [-64, 0) must satisfy 0 <= lo"),
    (["P", "--knobs", '{"rd_latncy": 3}'], "unknown run knobs ['rd_latncy']"),
    (["P", "--knobs", "slow"], "--knobs 'slow': not JSON, 'random' or a profile"),
    (["P", "--only", "load_inp"], "--only load_inp: selects cases of --test directed or errors, not of Pro"),
    (["--test", "random", "--seeds", "a-b"], "--seeds 'a-b': 'a-b' is neither a seed >= 0 nor a range"),
    (["--test", "random", "--seeds", "5-3"], "--seeds '5-3': '5-3' is neither"),
    (["--test", "random", "--seeds", "-1"], "--seeds '-1'"),
    (["--test", "random", "--seeds", "1,,2"], "--seeds '1,,2': '' is neither"),
    (["--test", "random", "--only", "x"], "--only x: selects cases of --test directed or errors, not of"
                                          " --test random"),
    (["--test", "directed", "--only", "load_inp", "--only", "nope"], "--only nope: no such directed case;"
                                                                      " known: load_inp,"),
    (["--test", "errors", "--only", "zzz"], "--only zzz: no such errors case; known: opcode_zero,"),
    (["--test", "errors", "--knobs", '{"backpressure": 1}'], "RunKnobs.backpressure['ar'] must be a stall"),
])
def test_tb_run_bad_options(tmp_path: pathlib.Path, relu: Program, capsys: pytest.CaptureFixture[str],
                            argv: list[str], needle: str) -> None:
    """Each is refused in ``main`` before anything is built (the out directory stays absent)."""
    path = tmp_path / "relu.nmxp"
    relu.save(path)
    out = tmp_path / "out"
    rc = tb_run.main([str(path) if a == "P" else a for a in argv] + ["--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and line.startswith("python -m tb.run: error: ") and needle in line, line
    assert not out.exists()


def test_tb_run_cli_exit_status_and_no_traceback(tmp_path: pathlib.Path) -> None:
    """The same through the real command line (one subprocess for the whole family)."""
    proc = _tb_run("--test", "random", "--seeds", "9-1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--seeds '9-1'" in _one_line(proc.stderr)


def test_verdict_line_of_an_expected_error_names_the_index(capsys: pytest.CaptureFixture[str]) -> None:
    v = RunVerdict(name="range_load", seed=3, passed=True, error="BUF_RANGE", error_index=3,
                   golden_error="BUF_RANGE", golden_error_index=3, cycle_ratio=1.0, cycles=120)
    assert v.ending == "BUF_RANGE at instruction 3"
    assert RunVerdict(name="ok", seed=1, passed=True).ending == "NONE"
    r = tb_run.RunResult(verdict=v, outputs={}, coverage={}, result_dir="/nonexistent")
    tb_run._print(tb_run.SuiteResult("program", [r], {}, "/nonexistent", 1.0))
    out = capsys.readouterr().out
    assert "[PASS] range_load seed=3 cycles=120 golden-ratio=1.00 err=BUF_RANGE at instruction 3" in out


# --------------------------------------------------------------------------- regression runner


def _suites(tmp: pathlib.Path, text: str) -> pathlib.Path:
    p = tmp / "suites.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(("text", "needles"), [
    ("suites:\n  s:\n    - {name: a, kind: _test_sleep, params: {s: 0}}\n"
     "    - {name: a, kind: _test_sleep, params: {s: 0}}\n",
     ["suite 's': duplicate job name 'a' (defined twice in suite 's')"]),
    ("suites:\n  s:\n    - {name: a, kind: _test_sleep, params: {s: 0}}\n  t:\n    - include: s\n"
     "    - {name: a, kind: _test_sleep, params: {s: 1}}\n",
     ["suite 't': duplicate job name 'a' (from suite 's' and suite 't')"]),
    ("suites:\n  s:\n    - {name: '../../x', kind: _test_sleep, params: {s: 0}}\n",
     ["job '../../x'", "key 'name' must be", "inside the run directory"]),
    ("suites:\n  s:\n    - {name: '..', kind: _test_sleep, params: {s: 0}}\n",
     ["job '..'", "does not start with ."]),
    ("suites:\n  s:\n    - {name: .hidden, kind: _test_sleep, params: {s: 0}}\n", ["job '.hidden'"]),
    ("suites:\n  s:\n    - {name: a, kind: _test_sleep, params: {s: 0}\n    - {name: b}\n",
     ["suites.yaml, line 4, column 5: malformed YAML: expected ',' or '}', but got '-'",
      "(while parsing a flow mapping at line 3)"]),
    ("suites:\n  s:\n\t- {name: a}\n",
     ["suites.yaml, line 3, column 1: malformed YAML: found character '\\t'"]),
    ("suites:\n  s:\n    - {name: a, kind: _test_sleep, params: {s: 0}}\n"
     "  s:\n    - {name: b, kind: _test_sleep, params: {s: 0}}\n",
     ["suites.yaml, line 4, column 3: malformed YAML: key 's' given twice (first at line 2)"]),
    ("suites:\n  s:\n    - name: a\n      kind: _test_sleep\n      params: {s: 0, s: 1}\n",
     ["line 5", "key 's' given twice"]),
])
def test_bad_suite_files(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], text: str,
                         needles: list[str]) -> None:
    path = _suites(tmp_path, text)
    with pytest.raises(SuiteError) as e:
        load_suites(path)
    for needle in needles:
        assert needle in str(e.value), (needle, str(e.value))
    assert regress.main(["--suites", str(path), "--suite", "s", "--list", "--out", str(tmp_path / "o")]) == 2
    assert _one_line(capsys.readouterr().err) == f"regress: error: {e.value}"


def test_resume_refuses_an_escaping_name_in_run_json(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SuiteError, match=r"job '\.\./x': key 'name' must be"):
        Job.from_json({"name": "../x", "kind": "_test_sleep", "params": {}, "timeout_s": 5})


def test_another_suites_file_and_empty_selection(tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _suites(tmp_path, "suites:\n  mine:\n    - {name: j, kind: _test_sleep, params: {s: 0}}\n")
    out = str(tmp_path / "o")
    assert regress.main(["--suites", str(path), "--suite", "mine", "--list", "--out", out]) == 0
    assert "j " in capsys.readouterr().out
    assert regress.main(["--suites", str(path), "--suite", "mine", "--only", "nope", "--list"]) == 2
    assert "no job matches --only ['nope']" in _one_line(capsys.readouterr().err)


def _pids_gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_killing_a_regression_keeps_everything(tmp_path: pathlib.Path, sig: signal.Signals) -> None:
    """Ctrl-C (SIGINT) or SIGTERM while a job runs: its whole tree dies, it is recorded as interrupted,
    the finished job keeps its record, summary and ``latest`` are written, the rerun commands are
    printed, the exit is 130, and ``--resume`` reruns exactly the interrupted job."""
    gate = tmp_path / "gate"
    path = _suites(tmp_path, f"""
suites:
  s:
    - {{name: quick, kind: _test_sleep, params: {{s: 0}}}}
    - {{name: slow, kind: _test_sleep, params: {{s: 60, until_file: "{gate}", grandchild: true}}}}
""")
    out = tmp_path / "regress"
    proc = subprocess.Popen([sys.executable, "-m", "regressions.run", "--suites", str(path), "--suite", "s",
                             "--out", str(out), "--jobs", "2", "--max-rss-mb", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "CI": "1"})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (list(out.glob("*-s/slow/pids.json"))
                                                   and list(out.glob("*-s/jobs/quick.json"))):
            time.sleep(0.05)
        pid_file = next(iter(out.glob("*-s/slow/pids.json")))
        time.sleep(0.2)  # the pid file is written before the grandchild's pid is in it
        proc.send_signal(sig)
        text = proc.communicate(timeout=20)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = pid_file.parent.parent
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert _pids_gone(json.loads(pid_file.read_text()), within_s=2.0), "the interrupted job's tree lives on"
    recs = {p.stem: json.loads(p.read_text()) for p in (run_dir / "jobs").glob("*.json")}
    assert recs["quick"]["status"] == "pass"
    slow = recs["slow"]
    assert slow["status"] == "error" and slow["interrupted"] is True
    assert slow["reason"].startswith(f"Interrupted: the run was stopped by {sig.name} after")
    assert "process tree was killed" in slow["reason"]
    assert (out / "latest").resolve() == run_dir.resolve()
    summary = (run_dir / "summary.md").read_text()
    assert "**Interrupted** by" in summary and "slow" in summary and f"--resume {run_dir.name}" in summary
    assert f"continue with: .venv/bin/python -m regressions.run --resume {run_dir.name} --out {out}" in text
    assert f"rerun slow alone: {slow['rerun']}" in text and "--only slow" in slow["rerun"]

    gate.touch()  # the slow job now ends at once
    kept = (run_dir / "jobs" / "quick.json").read_bytes()
    assert regress.main(["--out", str(out), "--resume", run_dir.name, "--progress", "plain"]) == 0
    recs = {p.stem: json.loads(p.read_text()) for p in (run_dir / "jobs").glob("*.json")}
    assert recs["slow"]["status"] == "pass" and "interrupted" not in recs["slow"]
    assert (run_dir / "jobs" / "quick.json").read_bytes() == kept
    meta = json.loads((run_dir / "run.json").read_text())
    assert [s["interrupted"] for s in meta["sessions"]] == [True, False]
    assert [s["jobs"] for s in meta["sessions"]] == [2, 1]
