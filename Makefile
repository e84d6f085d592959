# Two entry points: `make run` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run solve test bench clean

$(BIN)/grader: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The service on the embedded default: SQLite in instance/, the bundled exercises.
run: $(BIN)/grader
	$(BIN)/grader serve

solve: $(BIN)/grader
	$(BIN)/grader solve exercises/

test: $(BIN)/grader
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(BIN)/grader
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/engine_vs_peers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
