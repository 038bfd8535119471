# Two commands for a newcomer: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STORE := sqlite:///$(CURDIR)/.lineage/demo.db

.PHONY: demo test lint bench clean

$(BIN)/lineage: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/lineage
	LINEAGE_STORE=$(DEMO_STORE) $(BIN)/lineage demo

test: $(BIN)/lineage lint
	$(BIN)/pytest

lint: $(BIN)/lineage
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(BIN)/lineage
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .lineage .pytest_cache .mypy_cache .ruff_cache
