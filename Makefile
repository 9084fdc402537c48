# Two entry points: `make demo` (the main job) and `make test`. Both create/reuse .venv and install torch at its
# pinned version first. Where pip's index would pick the multi-GB CUDA build (plain PyPI on Linux), point it at the
# CPU wheels: `make TORCH_INDEX=https://download.pytorch.org/whl/cpu test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_PIN ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
# Real dataset copies in a `shared/data` folder beside the checkout, when present; else the usual search.
VAEADV_DATA ?= $(wildcard $(CURDIR)/../shared/data)
export VAEADV_DATA

.PHONY: install demo test test-all lint bench report report-cpu mutate clean gpu-data gpu-data-cifar

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[dev,compress]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/vaeadv demo

# The quick loop (unit tests and quick integration, a few minutes) and everything (the end-to-end runs marked
# `slow` too: what CI runs). docs/testing.md lists the slowest tests with their times.
test: install
	$(BIN)/ruff check src tests benchmarks scripts tools
	$(BIN)/python -m pytest -q -m "not slow"

test-all: install
	$(BIN)/ruff check src tests benchmarks scripts tools
	$(BIN)/python -m pytest -q

# The published report (docs/report): the real scale, full-width CIFAR models and 80-epoch VAEs, about 10 hours on
# 2 cores in resumable pieces (run it again after an interruption). Finished runs with exactly the settings it
# needs are copied in instead of trained again: the committed ones in docs/results, and `robust train` runs in
# robust_logs where there is one.
# A fresh clone starts from the published report: its stored results (the run matrix row by row included) are
# reused wherever their settings still match, so only what is missing or stale runs.
REPORT_OUT ?= report_out/real
report: install
	test -d $(REPORT_OUT)/results || { mkdir -p $(REPORT_OUT) && cp -R docs/report/. $(REPORT_OUT)/; }
	$(BIN)/vaeadv report --scale real --out $(REPORT_OUT) --threads 2 --no-progress --reuse docs/results \
	  $(wildcard robust_logs) --publish docs/report

# The quick scale (about an hour on 2 cores): width-16 CIFAR models, short VAE runs.
report-cpu: install
	$(BIN)/vaeadv report --scale cpu --threads 2 --no-progress

# The standing mutation check on the core math (hours on 2 cores, so not in CI: a first run checked
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

# Datasets coded into shards of 9 MiB in the git-ignored .data, for moving them to a remote GPU machine whose
# transfers are limited in size (tools/shards.py; the scripts in scripts/ decode them there): MNIST, then CIFAR-10.
gpu-data: install
	test -n "$(VAEADV_DATA)" || { echo "set VAEADV_DATA to the folder holding mnist/"; exit 1; }
	$(BIN)/python -m tools.shards pack .data/shards $(VAEADV_DATA)/mnist

gpu-data-cifar: install
	test -n "$(VAEADV_DATA)" || { echo "set VAEADV_DATA to the folder holding cifar10/"; exit 1; }
	$(BIN)/python -m tools.shards pack .data/cifar-shards $(VAEADV_DATA)/cifar10
