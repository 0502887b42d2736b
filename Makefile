# pulse-sdk (distribution pulse-messaging): every target creates .venv and installs what it needs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-cli
BENCH_STAMP := $(VENV)/.installed-bench
COVERAGE_FLOOR := 95

.PHONY: help demo test lint typecheck imports unit bench bench-smoke clean redis-server check-name

help:
	@echo "make demo   - run the SDK's main job against an embedded local Pulse server"
	@echo "make test   - lint, type-check, layer contracts, tests with coverage, benchmark smoke"
	@echo "make bench  - the full benchmark suite (writes benchmarks/RESULTS.md)"
	@echo "make check-name - before a release: is our name on PyPI still free, or ours?"

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/pulse demo

lint: $(STAMP)
	$(BIN)/ruff check pulse_async pulse_sync tests benchmarks examples tools
	$(BIN)/ruff format --check pulse_async pulse_sync

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The Redis tests run a real redis-server (a fresh CI machine has none; we run as root there).
redis-server:
	command -v redis-server >/dev/null || (apt-get update && apt-get install -y redis-server)

unit: $(STAMP) redis-server
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --include='pulse_async/*' --fail-under=$(COVERAGE_FLOOR)

test: lint typecheck imports unit

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# Before a release: `pulse-sdk` on PyPI turned out to be another vendor's library. This asks the
# index whether our name (pyproject's [project] name) is free, or published by us.
check-name: | $(BIN)/python
	$(BIN)/python tools/check_name.py

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache
