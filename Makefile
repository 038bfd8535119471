# Two commands for a newcomer: `make demo` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_STORE := sqlite:///$(CURDIR)/.lineage/demo.db
# Neo4j's Cypher parser for tests/test_cypher_lint.py, pinned by its package-lock.json.
CYPHER_LINT := tools/cypher-lint
CYPHER_LINT_STAMP := $(CYPHER_LINT)/node_modules/.installed
# playwright-core for tests/test_web.py, driving Debian's chromium (make test-services), pinned likewise.
WEB_TEST := tools/web-test
WEB_TEST_STAMP := $(WEB_TEST)/node_modules/.installed

.PHONY: demo test lint cypher-lint-tools web-test-tools test-services bench bench-http clean

$(BIN)/lineage: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/lineage
	LINEAGE_STORE=$(DEMO_STORE) $(BIN)/lineage demo

test: $(BIN)/lineage lint cypher-lint-tools web-test-tools test-services
	$(BIN)/pytest

# Reinstalled when package-lock.json is newer than the last install. Without npm the Cypher check
# is skipped locally and fails under CI=true (tests/components.py), so it is never silently lost.
cypher-lint-tools: $(CYPHER_LINT_STAMP)

$(CYPHER_LINT_STAMP): $(CYPHER_LINT)/package-lock.json $(CYPHER_LINT)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(CYPHER_LINT) && npm ci --no-audit --no-fund && touch node_modules/.installed; \
	else \
		echo "npm not found: the Cypher check (tests/test_cypher_lint.py) cannot run"; \
	fi

# Reinstalled when package-lock.json changes, as above. playwright-core downloads no browser: the
# tests point it at /usr/bin/chromium. Without npm the web tests skip locally and fail under CI=true.
web-test-tools: $(WEB_TEST_STAMP)

$(WEB_TEST_STAMP): $(WEB_TEST)/package-lock.json $(WEB_TEST)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		cd $(WEB_TEST) && npm ci --no-audit --no-fund && touch node_modules/.installed; \
	else \
		echo "npm not found: the web explorer tests (tests/test_web.py) cannot run"; \
	fi

# podman, docker-registry and htpasswd for the docker and registry collector tests (tests/services.py),
# and chromium for the web explorer tests (tests/test_web.py):
# installed when missing and run as root on Debian/Ubuntu; otherwise those tests skip locally and fail
# under CI=true.
test-services:
	@sh tools/test-services/install.sh

lint: $(BIN)/lineage
	$(BIN)/ruff check .
	$(BIN)/mypy

# The benchmark suite at 10k, 100k and 1M nodes (in process, over HTTP; ~25 min on 2 cores; needs wrk,
# see test-services), then docs/benchmarks.md regenerated from bench/results/suite.json.
bench: $(BIN)/lineage
	$(BIN)/python -m bench.suite
	$(BIN)/python -m bench.docs

# The service over HTTP alone, on the store `python -m bench.run` builds (1M nodes); needs wrk.
bench-http: $(BIN)/lineage
	$(BIN)/python -m bench.http

clean:
	rm -rf $(VENV) .lineage .pytest_cache .mypy_cache .ruff_cache $(CYPHER_LINT)/node_modules $(WEB_TEST)/node_modules .artifacts
