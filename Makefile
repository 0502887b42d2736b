# pulse-sdk (distribution pulse-messaging): every target creates .venv and installs what it needs itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DEMO_STAMP := $(VENV)/.installed-cli
BENCH_STAMP := $(VENV)/.installed-bench
DOCS_STAMP := $(VENV)/.installed-docs
COVERAGE_FLOOR := 95

.PHONY: help demo test lint typecheck imports unit bench bench-smoke clean redis-server check-name chromium docs test-matrix

help:
	@echo "make demo   - run the SDK's main job against an embedded local Pulse server"
	@echo "make test   - lint, type-check, layer contracts, tests with coverage, benchmark smoke"
	@echo "make bench  - the full benchmark suite (writes benchmarks/RESULTS.md)"
	@echo "make docs   - build the documentation site into site/ (mkdocs --strict)"
	@echo "make test-matrix - the test suite (no coverage) on every Python 3.11+ found here"
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

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
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

# Programs the tests run for real: installed with apt when missing and we are root (CI);
# otherwise one line says what to install. $(1): the command, $(2): the Debian package.
define need
	@command -v $(1) >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); } \
	  >/dev/null 2>&1; } || { echo "make: the tests need $(1): install it (e.g. sudo apt-get \
	install $(2)) and run make again" >&2; exit 1; }
endef

# The Redis tests run a real redis-server.
redis-server:
	$(call need,redis-server,redis-server)

# The inbox's browser tests drive the system Chromium through Playwright (no browser download).
chromium:
	@if [ -n "$$PULSE_CHROMIUM" ]; then test -x "$$PULSE_CHROMIUM" || { echo "make: \
	PULSE_CHROMIUM=$$PULSE_CHROMIUM is not an executable" >&2; exit 1; }; else :; fi
	$(if $(PULSE_CHROMIUM),,$(call need,chromium,chromium))

unit: $(STAMP) redis-server chromium
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --include='pulse_async/*' --fail-under=$(COVERAGE_FLOOR)

# The documentation site (mkdocs-material, API reference by mkdocstrings): warnings fail.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

test: lint typecheck imports unit docs

# The suite without coverage on every Python 3.11+ found on this machine (pyenv's, the
# system's, uv's...), one virtualenv each under .venv-matrix/. MATRIX=3.12,3.13 narrows it.
test-matrix: redis-server chromium
	$(PY) tools/test_matrix.py

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# Before a release: `pulse-sdk` on PyPI turned out to be another vendor's library. This asks the
# index whether our name (pyproject's [project] name) is free, or published by us.
check-name: | $(BIN)/python
	$(BIN)/python tools/check_name.py

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache site test-artifacts .venv-*
