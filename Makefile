# demalign — `make run` runs the default job offline; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup run test bench lint format clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first (a local wheel here) so nothing pulls a multi-GB CUDA build; GPU users install their own.
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install demalign with dev extras

run: $(STAMP) ## Run the default job offline on the bundled sample
	$(VENV)/bin/demalign $(ARGS)

test: $(STAMP) ## Run the test suite (one worker per core, at most 4: each holds a torch)
	$(PY) -m pytest -q -n auto --maxprocesses 4 $(ARGS)

bench: $(STAMP) ## Run the benchmarks (prints ratios against reference libraries)
	$(PY) -m tests.bench $(ARGS)

lint: $(STAMP) ## ruff check + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format + autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## Remove run outputs (keeps outputs/README.md)
	find outputs -mindepth 1 -not -name README.md -not -name .gitkeep -delete
