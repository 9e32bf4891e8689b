# One entry point for every task. `make help` lists them.
# Only Python 3.11 is needed: the first target that runs installs uv (if missing) and
# the workspace; PostgreSQL and Redis are started from wheels when DATABASE_URL /
# REDIS_URL are unset.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
# No uv on PATH: install it from PyPI into the user site and run it as a module.
UV := $(PYTHON) -m uv
UV_BOOTSTRAP := $(PYTHON) -m uv --version >/dev/null 2>&1 || { echo "» installing uv from PyPI"; \
	$(PYTHON) -m pip install --user --quiet uv 2>/dev/null || \
	$(PYTHON) -m pip install --quiet uv 2>/dev/null || \
	$(PYTHON) -m pip install --user --quiet --break-system-packages uv; }
else
UV_BOOTSTRAP := true
endif
RUN := $(UV) run --frozen
ARGS ?=
PRODUCTS ?= 2000

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

.venv/.synced: pyproject.toml uv.lock */pyproject.toml extracted/*/pyproject.toml
	@$(UV_BOOTSTRAP)
	$(UV) sync --frozen
	@touch $@

.PHONY: setup
setup: .venv/.synced ## Install uv (if needed), the workspace into .venv, Chromium for the browser test
	@scripts/ensure-chromium

.PHONY: demo
demo: setup ## Set up, migrate, seed, walk the migration steps, leave the stack running (Ctrl-C stops it)
	$(RUN) strangler up --walk --products $(PRODUCTS)

.PHONY: demo-check
demo-check: setup ## Bring the stack up, probe every component, walk the steps, stop; exit 0 or 1
	$(RUN) strangler demo-check

.PHONY: test
test: setup ## Run the whole test suite against real PostgreSQL and Redis
	$(RUN) pytest $(ARGS)

.PHONY: lint
lint: setup ## ruff, mypy, import-linter and the Django migrations check
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy monolith/shop acl/src outbox/src facade/src strangler/src extracted/catalog/src extracted/orders/src extracted/kit/src client/src contracts/src telemetry/src
	$(RUN) lint-imports
	$(RUN) python monolith/manage.py makemigrations --check --dry-run

.PHONY: format
format: setup ## Apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

.PHONY: bench-monolith
bench-monolith: setup ## Benchmark the monolith's product list/detail under gunicorn (baseline)
	$(RUN) python bench/monolith_bench.py $(ARGS)

.PHONY: bench-catalog
bench-catalog: setup ## Benchmark the catalog service against the monolith (same data, same run)
	$(RUN) python bench/catalog_bench.py $(ARGS)

.PHONY: bench-outbox
bench-outbox: setup ## Benchmark the outbox: relay drain rate, commit-to-applied lag, peak RSS
	$(RUN) python bench/outbox_bench.py $(ARGS)

.PHONY: bench-facade
bench-facade: setup ## Benchmark the facade against nginx and a direct upstream
	$(RUN) python bench/facade_bench.py $(ARGS)

.PHONY: bench-shadow
bench-shadow: setup ## Benchmark the client's latency with 100 % shadow + comparison vs none
	$(RUN) python bench/shadow_bench.py $(ARGS)

.PHONY: bench-checkout
bench-checkout: setup ## Benchmark checkouts/s through the orders saga against the monolith's checkout
	$(RUN) python bench/checkout_bench.py $(ARGS)

.PHONY: contracts
contracts: setup ## Pact: consumer tests (regenerate contracts/pacts), verify monolith + catalog, print the matrix
	$(RUN) strangler contracts verify $(ARGS)

.PHONY: tags
tags: ## Create or move the step-N tags from the Migration-Step commit trailers
	@git log --format='%H%x09%(trailers:key=Migration-Step,valueonly,separator=%x2C)' | \
	while IFS=$$'\t' read -r sha step; do \
		[ -n "$$step" ] || continue; \
		git tag -f "$$step" "$$sha" >/dev/null && echo "$$step -> $${sha:0:12}"; \
	done

.PHONY: clean
clean: ## Remove the virtualenv and the local state (embedded database data)
	rm -rf .venv .state .pytest_cache .mypy_cache .ruff_cache
