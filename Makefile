# Portrait: `make demo` runs the platform end to end, `make test` passes the tests.
# Both build the locked environment first (uv.lock); nothing depends on hand installs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := $(CURDIR)/.tools
UV ?= $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help setup datadocs-assets browser demo test test-fast bench bench-scale lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	@echo "uv not found: installing it into $(TOOLS) with pip"
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv

# --compile-bytecode: uv does not write .pyc files by default, and with PYTHONDONTWRITEBYTECODE
# set (as on CI machines) every process compiled its imports again: 12 s to import Great
# Expectations, 4.5 s with bytecode. compileall does the same for the project's own packages.
setup: $(UV) ## Create .venv from uv.lock (idempotent; fast when nothing changed)
	@$(UV) sync --frozen --compile-bytecode --quiet
	@$(BIN)/python -m compileall -q -x '/(\.venv|\.tools|\.portrait|dbt_project)/' portrait expectations ml dags bench >/dev/null
	@$(BIN)/portrait --help >/dev/null
	@$(MAKE) --no-print-directory datadocs-assets

datadocs-assets: ## The CSS/JS the GX Data Docs load, from the npm registry (offline docs; skipped without npm)
	@if command -v npm >/dev/null 2>&1; then \
	  [ deploy/datadocs/node_modules/.package-lock.json -nt deploy/datadocs/package-lock.json ] \
	    || npm ci --prefix deploy/datadocs --legacy-peer-deps --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null \
	    || echo "npm ci failed: the Data Docs will load their CSS and JavaScript from CDNs"; \
	else echo "npm not found: the Data Docs will load their CSS and JavaScript from CDNs"; fi

demo: setup ## Start the warehouse and run the demo end to end
	$(BIN)/portrait demo

browser: ## Debian's chromium for the report's browser test, where apt is available (else the test skips)
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    echo "installing Debian's chromium for the browser test"; \
	    SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will skip"; \
	  else echo "chromium not available (no apt, or no root): the browser test will skip"; fi; }

test: setup browser ## Run the whole test suite (real PostgreSQL, dbt, Airflow, MLflow, Chromium)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup ## Unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: setup ## Benchmarks, printing ratios against baselines measured in the same run
	$(BIN)/python -m bench

bench-scale: setup ## 100k customers x 12 months end to end: wall time and peak memory per stage
	$(BIN)/python -m bench.scale

lint: setup ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Stop the embedded server and remove local state (.portrait) and the environment
	-$(BIN)/portrait db stop 2>/dev/null
	rm -rf .portrait .venv .tools
