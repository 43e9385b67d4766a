# Two commands for a new user: `make run` and `make test`. Both create .venv if it is missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.creditdesk-installed

# No process of ours calls home.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export BENTOML_DO_NOT_TRACK := true
export GX_ANALYTICS_ENABLED := false
export EVIDENTLY_DISABLE_TELEMETRY := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test lint typecheck bench mutation clean

install: $(STAMP)

# Re-install only when the pins change. constraints.txt pins every transitive package,
# so the resolver never backtracks into old releases.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-warn-script-location -c constraints.txt -e '.[dev]' 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/creditdesk demo

# Lint, types and the rooms' import contracts first (seconds), then the whole suite.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# On demand, not in `make test`: mutation testing of pricing/formulas.py, ledger/domain.py and
# margin/engine.py against their rooms' tests ([tool.mutmut] in pyproject.toml); prints the
# kill rate and the surviving mutants (`mutmut show NAME` shows one).
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 > /dev/null
	$(BIN)/python tools/mutation_report.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache mutants
