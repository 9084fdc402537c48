# Two entry points: `make demo` (the main job) and `make test`. Both create/reuse .venv and install torch
# from the CPU pin first, so pip never pulls the multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH_PIN ?= torch==2.13.0
BIN := $(VENV)/bin
# Real dataset copies beside the checkout, when present (this project's machines); else the usual search.
VAEADV_DATA ?= $(wildcard $(CURDIR)/../shared/data)
export VAEADV_DATA

.PHONY: install demo test lint bench report mutate clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[dev,compress]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/vaeadv demo

test: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

# The committed cpu-scale report (about an hour on 2 cores; resumable: run it again after an interruption).
report: install
	$(BIN)/vaeadv report --scale cpu --threads 2 --no-progress --publish docs/report

# The standing mutation check on the core math (issue 17; hours on 2 cores, so not in CI: a first run checked
# 1,314 of the 2,417 mutants in 83 minutes, the cheapest first; see docs/testing.md): mutmut plants
# single-line bugs in the modules that pyproject.toml's [tool.mutmut] lists and runs the tests that reach each one;
# the score per module, with the triaged equivalent mutants left out, must be at least 90%. Resumable: mutmut
# keeps each mutant's verdict in mutants/ and re-checks only what changed.
mutate: install
	$(BIN)/python -m pip install -q -e '.[dev,compress,mutate]'
	OMP_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_score.py

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache mutants
