# Portrait: `make demo` runs the platform end to end, `make test` passes the tests.
# Both build the locked environment first (uv.lock); nothing depends on hand installs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS := $(CURDIR)/.tools
UV ?= $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help setup demo test test-fast bench lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	@echo "uv not found: installing it into $(TOOLS) with pip"
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv

setup: $(UV) ## Create .venv from uv.lock (idempotent; fast when nothing changed)
	@$(UV) sync --frozen --quiet
	@$(BIN)/portrait --help >/dev/null

demo: setup ## Start the warehouse and run the demo end to end
	$(BIN)/portrait demo

test: setup ## Run the whole test suite (real PostgreSQL, dbt, Airflow, MLflow)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: setup ## Unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: setup ## Benchmarks, printing ratios against baselines measured in the same run
	$(BIN)/python -m bench

lint: setup ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Stop the embedded server and remove local state (.portrait) and the environment
	-$(BIN)/portrait db stop 2>/dev/null
	rm -rf .portrait .venv .tools
