# Baton developer entry points. Everything runs from the project virtualenv (.venv), which is
# created on first use; `pip install -e '.[dev]'` re-runs only when pyproject.toml changes.
#
#   make demo    offline demo: embedded Temporal + scripted model + worker, one support run
#   make up      the embedded stack in the foreground (Temporal UI on http://127.0.0.1:8233)
#   make test    the whole test suite against real Temporal dev servers (slow tests included)
#   make lint    ruff + mypy --strict
#   make bench   benchmarks (python -m bench)
#   make bench-peers  Baton against peer frameworks (python -m bench.peers; installs the
#                     `peers` extra into the venv first)
#   make clean   remove caches and local state (.baton/); keeps .venv

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.baton-installed
PEERS_STAMP := $(VENV)/.baton-peers-installed

.PHONY: demo up test lint bench bench-peers clean install

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than pyproject.toml once the install succeeded: no reinstall until it changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/baton demo

up: $(STAMP)
	$(BIN)/baton up

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# The peers' libraries live in an optional extra: the product never depends on them.
$(PEERS_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev,peers]'
	touch $(STAMP) $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)
	$(BIN)/python -m bench.peers

clean:
	rm -rf .baton .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
