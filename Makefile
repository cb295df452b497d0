# Two entry points for a newcomer on a fresh machine (see README):
#   make lab   - set everything up, then start JupyterLab on notebooks/
#   make test  - set everything up, then run every test (lint, formatting, types, vitest,
#                pytest incl. browser)
# and a quicker tier for the edit-test loop:
#   make test-fast - the same without the browser tests (-m "not e2e")
# The checks they run, also callable alone:
#   make lint         - ruff check
#   make format-check - ruff format --check
#   make typecheck-py - mypy over kan_widget/ (config in pyproject.toml [tool.mypy])
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup lab test test-fast test-py test-py-fast test-js lint format-check typecheck-py \
	build bench chromium clean

setup: $(STAMP) node_modules/.installed kan_widget/static/widget.js

# torch is installed first and pinned: an unpinned torch would pull a CUDA build of several GB.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

kan_widget/static/widget.js: node_modules/.installed $(wildcard js/*.ts js/*.css js/build.mjs)
	npm run build

build: node_modules/.installed
	npm run build

# Debian's chromium for the real-browser tests (never `playwright install`: it downloads a browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; fi

lab: setup
	$(BIN)/jupyter lab notebooks/ --ServerApp.ip=127.0.0.1 $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

lint: setup
	$(BIN)/ruff check kan_widget tests bench

format-check: setup
	$(BIN)/ruff format --check kan_widget tests bench

typecheck-py: setup
	$(BIN)/python -m mypy kan_widget

test-js: setup
	npm run typecheck
	PYTHONPATH=. $(BIN)/python js/fixtures/gen_spec.py --check
	npm test

test-py: setup chromium
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# No browser (no chromium needed): everything but tests/e2e.
test-py-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e" $(PYTEST_ARGS)

test: lint format-check typecheck-py test-js test-py

test-fast: lint format-check typecheck-py test-js test-py-fast

bench: setup
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf $(VENV) node_modules kan_widget/static
