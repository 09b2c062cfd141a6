# NMX: everything starts from a fresh clone. `make test` and `make regress` build .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-install
TORCH_PIN := torch==2.13.0
# torch's OpenMP threads sleep at barriers instead of spinning: two jobs share the 2 cores (golden/__init__.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: all test regress verify lint synth formal bench fidelity mutate sv-pkg docs-isa clean distclean venv

all: test

venv: $(STAMP)

# torch first and alone: the exact pin resolves to the local CPU wheel; anything looser pulls CUDA.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $@

# The test suite: static checks, ISA/simulator/compiler tests, RTL lint + synth, block and top-level
# RTL tests at small array sizes, and the testbench smoke set.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# The main job: end-to-end verification (see README); writes build/regress/ reports.
# make regress [SUITE=default] [MODEL=name|glob] [SEED=N] [JOBS=2] [SHARD=K/N] [TAG=tag] [ONLY=job|glob]
#              [ARGS='--executor dask ...']   (python -m regressions.run --help for everything)
regress: $(STAMP)
	$(PY) -m regressions.run $(if $(SUITE),--suite '$(SUITE)',) $(if $(MODEL),--model '$(MODEL)',) \
	  $(if $(SEED),--seed $(SEED),) $(if $(JOBS),--jobs $(JOBS),) $(if $(SHARD),--shard $(SHARD),) \
	  $(if $(TAG),--tag '$(TAG)',) $(if $(ONLY),--only '$(ONLY)',) $(ARGS)

# One model end to end (regressions/verify.py): MODEL is a zoo name or module.path:factory.
verify: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make verify MODEL=<zoo name|module.path:factory> [CFG=16x16] [SEED=1]" >&2; exit 2; }
	$(PY) -m regressions.verify '$(MODEL)' $(if $(CFG),--cfg '$(CFG)',) $(if $(SEED),--seed $(SEED),)

lint: $(STAMP)
	$(PY) -m tb.flows.lint

synth: $(STAMP)
	$(PY) -m tb.flows.synth

# SymbiYosys proofs of the assertions of rtl/sva/ (tb/formal, docs/verification.md "Formal proofs")
formal: $(STAMP)
	$(PY) -m tb.formal

bench: $(STAMP)
	$(PY) -m regressions.bench_sim
	$(PY) -m regressions.bench_rtl

# Mutation testing of rtl/ (regressions/mutate.py, docs/verification.md "Mutation testing"): reports in
# build/mutate/latest/. make mutate [SUITE=smoke] [N=30] [SEED=1] [JOBS=1] [MODULES='nmx_fifo ...'] [ARGS=--list]
mutate: $(STAMP)
	$(PY) -m regressions.mutate --suite '$(or $(SUITE),smoke)' --max-mutants $(or $(N),30) --seed $(or $(SEED),1) \
	  --jobs $(or $(JOBS),1) $(if $(MODULES),--modules $(MODULES),) $(ARGS)

# The NeuralMatrix accuracy study (docs/fidelity.md): tables and plots in build/fidelity/.
# make fidelity [ARGS='--quick' | ARGS='--models bert_tiny,resnet20']
fidelity: $(STAMP)
	$(PY) -m golden.study --out build/fidelity $(ARGS)

# Regenerate the artefacts derived from golden/isa.py.
sv-pkg: $(STAMP)
	$(PY) -m golden.isa sv

clean:
	rm -rf build sim_build .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
